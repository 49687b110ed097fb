import Foundation
import Synchronization
import XCTest
@testable import ScriptTransport

/// The greeting probe against real libzmq sockets and against listeners that are not ZeroMQ, and
/// the monitor that uses it to tell a mechanism mismatch its own handshake did not see.
final class ZMTPGreetingProbeTests: SocketTestCase {
    func testEachMechanismIsReadOverTCPAndIPCAndTheProbeIsNeverRefused() throws {
        let curve = try socket(.router)
        try curve.apply(CurveServerSettings(keyPair: try CurveKeyPair.generate(), domain: "clients"))
        try curve.bind("tcp://127.0.0.1:*")
        let plain = try socket(.router)
        let path = NSTemporaryDirectory() + "probe-\(getpid()).ipc"
        defer { unlink(path) }
        try plain.bind("ipc://" + path)
        // Again and again: the probe sends no mechanism, so the peer never closes on it first.
        for _ in 0..<20 {
            XCTAssertEqual(ZMTPGreetingProbe.mechanism(of: try curve.lastEndpoint()), "CURVE")
            XCTAssertEqual(ZMTPGreetingProbe.mechanism(of: "ipc://" + path), "NULL")
        }
        let port = try curve.lastEndpoint().split(separator: ":").last!
        XCTAssertEqual(ZMTPGreetingProbe.mechanism(of: "tcp://localhost:\(port)"), "CURVE", "a name resolves")
    }

    /// A name server gone makes getaddrinfo wait for its own timeouts (5 s a try by default);
    /// the probe, on a client's or worker's loop, waits no longer than its bound.
    func testAResolverThatHangsCostsTheProbeItsBoundOnly() throws {
        let curve = try socket(.router)
        try curve.apply(CurveServerSettings(keyPair: try CurveKeyPair.generate(), domain: "clients"))
        try curve.bind("tcp://127.0.0.1:*")
        let port = try curve.lastEndpoint().split(separator: ":").last!
        let named = "tcp://coordinator.example:\(port)"
        XCTAssertEqual(ZMTPGreetingProbe.mechanism(of: named, timeoutMs: 500) { _, port in
            HostLookup.system("127.0.0.1", port)
        }, "CURVE", "the name is resolved by the resolver given")
        let start = ContinuousClock.now
        XCTAssertNil(ZMTPGreetingProbe.mechanism(of: named, timeoutMs: 200) { _, port in
            sleep(3)
            return HostLookup.system("127.0.0.1", port)
        })
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(1), "bounded by its timeout, not the resolver's")
    }

    func testWhatIsNotAZMTPPeerReadsAsNothing() throws {
        let http = try FakePeer { _ in .bytes(Array("HTTP/1.1 400 Bad Request\r\n\r\n".utf8) + [UInt8](repeating: 32, count: 40)) }
        defer { http.stop() }
        XCTAssertNil(ZMTPGreetingProbe.mechanism(of: http.endpoint))
        let silent = try FakePeer { _ in .silence }
        defer { silent.stop() }
        let start = Date()
        XCTAssertNil(ZMTPGreetingProbe.mechanism(of: silent.endpoint, timeoutMs: 200))
        XCTAssertLessThan(Date().timeIntervalSince(start), 2, "bounded by its timeout")
        let closed = silent.endpoint
        silent.stop()
        XCTAssertNil(ZMTPGreetingProbe.mechanism(of: closed), "nothing listens")
        for odd in ["", "tcp://", "tcp://127.0.0.1", "udp://127.0.0.1:1", "ipc://", "tcp://no.such.host.invalid:5555",
                    "tcp://a..b:5555", "tcp://127.0.0.1:99999", "ipc:///no/such/dir/socket"] {
            XCTAssertNil(ZMTPGreetingProbe.mechanism(of: odd), odd)
        }
        var greeting = FakePeer.greeting("CURVE")
        XCTAssertEqual(ZMTPGreetingProbe.mechanism(in: greeting), "CURVE")
        greeting[10] = 2
        XCTAssertNil(ZMTPGreetingProbe.mechanism(in: greeting), "ZMTP 2 has no mechanism")
        XCTAssertNil(ZMTPGreetingProbe.mechanism(in: FakePeer.greeting("cur ve")))
        XCTAssertNil(ZMTPGreetingProbe.mechanism(in: Array(FakePeer.greeting("CURVE").prefix(31))))
    }

    /// The race libzmq loses between processes, made certain: the peer closes the first
    /// connection before its greeting can be read (so libzmq reports a handshake that failed
    /// without detail), then greets every later one with CURVE. A monitor that knows its socket
    /// speaks NULL reports the mismatch at that first failure; one told no mechanism (as a socket
    /// that binds is) reports a connection closed before its handshake.
    func testAHandshakeClosedEarlyIsToldAMismatchWhenThePeerSpeaksAnotherMechanism() throws {
        for (speaks, expected) in [(ZMQMonitor.Mechanism.null, ZMQMonitor.Event.mechanismMismatch), (.curve, .handshakeFailed),
                                   (nil, .closedBeforeHandshake)] {
            let peer = try FakePeer { n in n == 0 ? .reset : .bytes(FakePeer.greeting("CURVE")) }
            defer { peer.stop() }
            let monitor = try monitoredDealer(speaking: speaks, to: peer.endpoint)
            defer { monitor.close() }
            let end = Date().addingTimeInterval(5)
            var failure: ZMQMonitor.Event?
            while failure == nil, Date() < end {
                failure = monitor.drain().first { [.mechanismMismatch, .handshakeFailed, .closedBeforeHandshake].contains($0) }
                if failure == nil { Thread.sleep(forTimeInterval: 0.01) }
            }
            XCTAssertEqual(failure, expected, "speaking \(String(describing: speaks))")
        }
    }

    /// A CURVE peer that greets and then closes every connection at the hello (as a coordinator
    /// whose key pair is not the one this socket was given): told `serverKeyMismatch` at the
    /// third such failure in a row (once could be a race); a NULL socket against a NULL peer
    /// doing the same is only ever told `handshakeFailed`.
    func testACurvePeerClosingEveryHandshakeIsToldAServerKeyMismatchAtTheThird() throws {
        for speaks in [ZMQMonitor.Mechanism.curve, .null] {
            let peer = try FakePeer { _ in .bytesThenReset(FakePeer.greeting(speaks.rawValue)) }
            defer { peer.stop() }
            let monitor = try monitoredDealer(speaking: speaks, to: peer.endpoint)
            defer { monitor.close() }
            let end = Date().addingTimeInterval(speaks == .curve ? 5 : 1.5)
            var failures: [ZMQMonitor.Event] = []
            while failures.count < ZMQMonitor.curveFailuresToTell || speaks == .null, Date() < end {
                failures += monitor.drain().filter { $0 == .serverKeyMismatch || $0 == .handshakeFailed }
                Thread.sleep(forTimeInterval: 0.01)
            }
            if speaks == .curve {
                XCTAssertEqual(failures.prefix(3), [.handshakeFailed, .handshakeFailed, .serverKeyMismatch])
            } else {
                XCTAssertFalse(failures.isEmpty)
                XCTAssertFalse(failures.contains(.serverKeyMismatch), "\(failures)")
            }
        }
    }

    /// The monitor of a DEALER connected to `endpoint`, speaking CURVE (to a random server key)
    /// where `speaks` says so.
    private func monitoredDealer(speaking speaks: ZMQMonitor.Mechanism?, to endpoint: String) throws -> ZMQMonitor {
        let dealer = try socket(.dealer)
        if speaks == .curve {
            try dealer.apply(CurveClientSettings(keyPair: try CurveKeyPair.generate(), serverKey: try CurveKeyPair.generate().publicKey))
        }
        let monitor = try ZMQMonitor(dealer, context: ctx, speaks: speaks)
        try dealer.connect(endpoint)
        return monitor
    }
}
