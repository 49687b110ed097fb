import XCTest
@testable import ScriptOps

/// The operations port's request heads, parsed without sockets.
final class HTTPRequestHeadTests: XCTestCase {
    func head(_ text: String) throws -> HTTPRequestHead {
        let bytes = Array(text.utf8)
        let end = try XCTUnwrap(HTTPRequestHead.end(in: bytes), text)
        return try HTTPRequestHead.parse(bytes[..<end])
    }

    func testAHeadEndsAtItsBlankLine() {
        XCTAssertNil(HTTPRequestHead.end(in: Array("GET / HTTP/1.1\r\nHost: x\r\n".utf8)))
        XCTAssertNil(HTTPRequestHead.end(in: []))
        XCTAssertEqual(HTTPRequestHead.end(in: Array("GET / HTTP/1.1\r\n\r\nGET".utf8)), 18)
        XCTAssertEqual(HTTPRequestHead.end(in: Array("GET / HTTP/1.1\n\nX".utf8)), 16, "a lone LF ends a line too")
    }

    func testMethodPathAndKeepAlive() throws {
        XCTAssertEqual(try head("GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"), HTTPRequestHead(method: "GET", path: "/metrics", keepAlive: true))
        XCTAssertEqual(try head("HEAD /livez HTTP/1.1\r\nConnection: Close\r\n\r\n").keepAlive, false)
        XCTAssertEqual(try head("GET /livez HTTP/1.0\r\n\r\n").keepAlive, false)
        XCTAssertEqual(try head("GET /livez HTTP/1.0\r\nconnection: keep-alive\r\n\r\n").keepAlive, true)
        XCTAssertEqual(try head("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").path, "/")
    }

    func testWhatItDoesNotServeIsATypedError() {
        let cases: [(String, HTTPHeadError)] = [
            ("hello\r\n\r\n", .malformed(line: "hello")),
            ("GET  / HTTP/1.1\r\n\r\n", .malformed(line: "GET  / HTTP/1.1")),
            ("GET http://a/ HTTP/1.1\r\n\r\n", .malformed(line: "GET http://a/ HTTP/1.1")),
            ("GET / HTTP/2\r\n\r\n", .version("HTTP/2")),
            ("GET / HTTP/1.1\r\nbad header\r\n\r\n", .malformed(line: "bad header")),
            ("GET / HTTP/1.1\r\nX y: 1\r\n\r\n", .malformed(line: "X y: 1")),
            ("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", .malformed(line: "Content-Length: -1")),
            ("PUT / HTTP/1.1\r\nContent-Length: 3\r\n\r\n", .body(header: "Content-Length: 3")),
            ("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", .body(header: "Transfer-Encoding: chunked")),
            ("GET /a\rb HTTP/1.1\r\n\r\n", .malformed(line: "GET /a\rb HTTP/1.1")),
            ("GET /\u{0} HTTP/1.1\r\n\r\n", .malformed(line: "GET /\u{0} HTTP/1.1")),
            ("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", .malformed(line: "X: a\rb")),
        ]
        for (text, error) in cases {
            XCTAssertThrowsError(try head(text), text) { XCTAssertEqual($0 as? HTTPHeadError, error, text) }
        }
        XCTAssertEqual(HTTPHeadError.tooLarge(limit: 8192).status, 431)
        XCTAssertEqual("\(HTTPHeadError.malformed(line: "a\u{1B}[2Jb"))", #"not an HTTP/1.1 request: "a\u{1B}[2Jb""#, "escaped for the log")
        XCTAssertEqual(try head("GET / HTTP/1.1\r\nX:\ta\r\n\r\n").path, "/", "a tab before a value")
    }

    /// Heads mangled at random (bytes changed, dropped, repeated; line ends, colons, spaces,
    /// NULs and bytes that are not UTF-8 put in) parse or are refused with a typed error; what
    /// parses names a method and a path with no space or line end in them.
    func testMangledHeadsParseOrAreRefused() {
        var rng = SplitMix(seed: 13)
        let seeds = ["GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                     "HEAD /livez?x=1 HTTP/1.0\r\nContent-Length: 0\r\n\r\n"].map { Array($0.utf8) }
        let inserts: [UInt8] = [13, 10, 58, 32, 9, 0, 0xFF, 0xC3, 47, 63]
        var parsed = 0, refused = 0
        for i in 0..<20_000 {
            var bytes = seeds[i % seeds.count]
            for _ in 0...(rng.next() % 4) {
                let at = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 4 {
                case 0: bytes[at] = inserts[Int(rng.next() % UInt64(inserts.count))]
                case 1: bytes.insert(inserts[Int(rng.next() % UInt64(inserts.count))], at: at)
                case 2: if bytes.count > 1 { bytes.remove(at: at) }
                default: bytes[at] = UInt8(truncatingIfNeeded: rng.next())
                }
            }
            guard let end = HTTPRequestHead.end(in: bytes) else { continue }
            do {
                let head = try HTTPRequestHead.parse(bytes[..<end])
                XCTAssertFalse((head.method + head.path).contains { $0 == " " || $0 == "\r" || $0 == "\n" }, "\(bytes)")
                parsed += 1
            } catch {
                refused += 1
            }
        }
        XCTAssertGreaterThan(parsed, 1000)
        XCTAssertGreaterThan(refused, 1000)
    }

    func testAnAnswerOnTheWire() {
        let a = HTTPAnswer.text(503, "not ready: starting\n")
        XCTAssertEqual(String(decoding: a.encoded(head: false, closing: true), as: UTF8.self),
                       "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 20\r\nConnection: close\r\n\r\nnot ready: starting\n")
        XCTAssertEqual(String(decoding: a.encoded(head: true, closing: false), as: UTF8.self),
                       "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 20\r\n\r\n")
    }
}

/// A small deterministic generator (SplitMix64) for the mangled heads.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
