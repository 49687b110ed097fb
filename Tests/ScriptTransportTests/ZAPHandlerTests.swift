import Foundation
import Synchronization
import XCTest
@testable import ScriptTransport

/// CurveZMQ with authentication on raw sockets: real libzmq, loopback TCP.
final class ZAPHandlerTests: SocketTestCase {
    var handlers: [ZAPHandler] = []

    override func tearDown() {
        handlers.forEach { $0.stop() }
        super.tearDown()
    }

    /// A ROUTER guarded by `settings`; returns its endpoint.
    func server(_ settings: CurveServerSettings) throws -> (ZMQSocket, String) {
        let r = try socket(.router)
        try r.apply(settings)
        try r.bind("tcp://127.0.0.1:*")
        return (r, try r.lastEndpoint())
    }

    func client(_ settings: CurveClientSettings?, to endpoint: String, saying word: String) throws -> ZMQSocket {
        let d = try socket(.dealer)
        if let settings { try d.apply(settings) }
        try d.setReconnectInterval(milliseconds: 50)
        try d.connect(endpoint)
        _ = try d.send([Array(word.utf8)], dontWait: true)
        return d
    }

    /// Every message `r` gets within `ms`: its last frame as text.
    func heard(_ r: ZMQSocket, within ms: Int) throws -> [String] {
        var words: [String] = []
        let end = ContinuousClock().now + .milliseconds(ms)
        while ContinuousClock().now < end, let m = try r.receive(timeoutMilliseconds: 50) {
            words.append(String(decoding: m.last!, as: UTF8.self))
        }
        return words
    }

    func testOnlyAllowedKeysGetInAndEachRefusalIsReported() throws {
        let server = try CurveKeyPair.generate(), friend = try CurveKeyPair.generate()
        let stranger = try CurveKeyPair.generate(), worker = try CurveKeyPair.generate()
        let config = CurveServerConfiguration(keyPair: server, clients: [friend.publicKey], workers: [worker.publicKey])
        let refusals = Mutex<[ZAPHandler.Refusal]>([])
        handlers.append(try config.startAuthenticator(context: ctx) { r in refusals.withLock { $0.append(r) } })
        let (r, endpoint) = try self.server(config.frontend)

        let ok = try client(CurveClientSettings(keyPair: friend, serverKey: server.publicKey), to: endpoint, saying: "friend")
        _ = try client(CurveClientSettings(keyPair: stranger, serverKey: server.publicKey), to: endpoint, saying: "stranger")
        // A worker's key does not open the client socket.
        _ = try client(CurveClientSettings(keyPair: worker, serverKey: server.publicKey), to: endpoint, saying: "worker")
        // Nor does a client without CURVE, or one that trusts another server key.
        _ = try client(nil, to: endpoint, saying: "plain")
        _ = try client(CurveClientSettings(keyPair: friend, serverKey: stranger.publicKey), to: endpoint, saying: "fooled")

        XCTAssertEqual(try heard(r, within: 1500), ["friend"])
        XCTAssertEqual(try ok.securityMechanism(), "curve")
        let got = refusals.withLock { $0 }
        // Each refused key reported once.
        XCTAssertEqual(Set(got.compactMap(\.key)), [stranger.publicKey, worker.publicKey])
        XCTAssertEqual(got.count, 2)
        XCTAssertTrue(got.allSatisfy { $0.domain == CurveServerConfiguration.clientDomain && $0.address == "127.0.0.1" && $0.count == 1 })
        XCTAssertTrue(got.first?.description.hasPrefix("refused key ") == true)
    }

    func testTheWorkerSocketTakesWorkerKeysOnly() throws {
        let server = try CurveKeyPair.generate(), client = try CurveKeyPair.generate(), worker = try CurveKeyPair.generate()
        let config = CurveServerConfiguration(keyPair: server, clients: [client.publicKey], workers: [worker.publicKey])
        handlers.append(try config.startAuthenticator(context: ctx) { _ in })
        let (r, endpoint) = try self.server(config.backend)
        _ = try self.client(CurveClientSettings(keyPair: client, serverKey: server.publicKey), to: endpoint, saying: "client")
        _ = try self.client(CurveClientSettings(keyPair: worker, serverKey: server.publicKey), to: endpoint, saying: "worker")
        XCTAssertEqual(try heard(r, within: 1000), ["worker"])
    }

    func testRepeatedRefusalsAreCountedBetweenReports() throws {
        let server = try CurveKeyPair.generate(), stranger = try CurveKeyPair.generate()
        let refusals = Mutex<[ZAPHandler.Refusal]>([])
        handlers.append(try ZAPHandler(context: ctx, allowed: ["clients": []], reportInterval: .milliseconds(500)) { r in
            refusals.withLock { $0.append(r) }
        })
        let (_, endpoint) = try self.server(CurveServerSettings(keyPair: server, domain: "clients"))
        let knock = { try self.client(CurveClientSettings(keyPair: stranger, serverKey: server.publicKey), to: endpoint, saying: "again") }
        _ = try knock()
        Thread.sleep(forTimeInterval: 0.2)
        XCTAssertEqual(refusals.withLock { $0.map(\.count) }, [1], "the first refusal is reported at once")
        // Three more within the interval: counted, not reported.
        for _ in 0..<3 { _ = try knock() }
        Thread.sleep(forTimeInterval: 0.2)
        XCTAssertEqual(refusals.withLock { $0.count }, 1)
        // The next one after the interval reports all four.
        Thread.sleep(forTimeInterval: 0.4)
        _ = try knock()
        Thread.sleep(forTimeInterval: 0.2)
        XCTAssertEqual(refusals.withLock { $0.map(\.count) }, [1, 4])
    }

    func testOneAuthenticatorAContext() throws {
        handlers.append(try ZAPHandler(context: ctx, allowed: [:]) { _ in })
        XCTAssertThrowsError(try ZAPHandler(context: ctx, allowed: [:]) { _ in }) {
            XCTAssertEqual(($0 as? ZMQError)?.code, EADDRINUSE, "\($0)")
        }
    }

    func testKeysAreValidatedAndEncodeBothWays() throws {
        let pair = try CurveKeyPair.generate()
        XCTAssertEqual(pair.publicKey.z85.count, 40)
        XCTAssertThrowsError(try CurveKey(z85: "short", source: "--curve-server-key")) {
            XCTAssertEqual("\($0)", "--curve-server-key: 'short' is not a CURVE key (40 characters of Z85)")
        }
        var bytes = [UInt8](repeating: 0, count: 32)
        bytes[0] = 7
        let k = try XCTUnwrap(CurveKey(bytes: bytes))
        XCTAssertEqual(try CurveKey(z85: "  \(k.z85)\n", source: "test"), k)
        XCTAssertNil(CurveKey(bytes: [1, 2, 3]))
        // Exactly 40 characters, every one of them Z85: a longer text that is itself valid Z85
        // would decode past the 32 bytes of a key, and a character outside the alphabet is no key.
        let longer = k.z85 + String(k.z85.prefix(5))
        XCTAssertThrowsError(try CurveKey(z85: longer, source: "test")) {
            XCTAssertEqual($0 as? CurveKeyError, .badKey(longer, source: "test"))
        }
        for odd in ["~", "\"", ",", ";", "_"] {
            let text = String(k.z85.dropLast()) + odd
            XCTAssertThrowsError(try CurveKey(z85: text, source: "test"), "'\(odd)' is not Z85") {
                XCTAssertEqual($0 as? CurveKeyError, .badKey(text, source: "test"))
            }
        }
    }
}
