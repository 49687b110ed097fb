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
        ]
        for (text, error) in cases {
            XCTAssertThrowsError(try head(text), text) { XCTAssertEqual($0 as? HTTPHeadError, error, text) }
        }
        XCTAssertEqual(HTTPHeadError.tooLarge(limit: 8192).status, 431)
    }

    func testAnAnswerOnTheWire() {
        let a = HTTPAnswer.text(503, "not ready: starting\n")
        XCTAssertEqual(String(decoding: a.encoded(head: false, closing: true), as: UTF8.self),
                       "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 20\r\nConnection: close\r\n\r\nnot ready: starting\n")
        XCTAssertEqual(String(decoding: a.encoded(head: true, closing: false), as: UTF8.self),
                       "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 20\r\n\r\n")
    }
}
