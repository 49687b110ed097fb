import Foundation
import Synchronization
import XCTest
@testable import ScriptTransport

/// The greeting probe against real libzmq sockets and against listeners that are not ZeroMQ, and
/// the monitor that uses it to tell a mechanism mismatch its own handshake did not see.
final class ZMTPGreetingProbeTests: XCTestCase {
    var ctx: ZMQContext!
    var sockets: [ZMQSocket] = []

    override func setUp() { ctx = ZMQContext() }

    override func tearDown() {
        sockets.forEach { $0.close() }
        ctx.close()
    }

    func socket(_ type: SocketType) throws -> ZMQSocket {
        let s = try ZMQSocket(context: ctx, type: type)
        try s.setLinger(milliseconds: 0)
        sockets.append(s)
        return s
    }

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
        for odd in ["", "tcp://", "tcp://127.0.0.1", "udp://127.0.0.1:1", "ipc://", "tcp://no.such.host.invalid:5555"] {
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
    /// speaks NULL reports the mismatch at that first failure.
    func testAHandshakeClosedEarlyIsToldAMismatchWhenThePeerSpeaksAnotherMechanism() throws {
        for (speaks, expected) in [(ZMQMonitor.Mechanism.null, ZMQMonitor.Event.mechanismMismatch), (.curve, .handshakeFailed),
                                   (nil, .handshakeFailed)] {
            let peer = try FakePeer { n in n == 0 ? .reset : .bytes(FakePeer.greeting("CURVE")) }
            defer { peer.stop() }
            let dealer = try socket(.dealer)
            if speaks == .curve {
                try dealer.apply(CurveClientSettings(keyPair: try CurveKeyPair.generate(), serverKey: try CurveKeyPair.generate().publicKey))
            }
            let monitor = try ZMQMonitor(dealer, context: ctx, speaks: speaks)
            defer { monitor.close() }
            try dealer.connect(peer.endpoint)
            let end = Date().addingTimeInterval(5)
            var failure: ZMQMonitor.Event?
            while failure == nil, Date() < end {
                failure = monitor.drain().first { $0 == .mechanismMismatch || $0 == .handshakeFailed }
                if failure == nil { Thread.sleep(forTimeInterval: 0.01) }
            }
            XCTAssertEqual(failure, expected, "speaking \(String(describing: speaks))")
        }
    }
}

/// A TCP listener on loopback that answers its `n`th connection (from 0) as `answer(n)` says.
final class FakePeer: Sendable {
    /// What a connection gets.
    enum Reply {
        /// These bytes, and the connection stays open.
        case bytes([UInt8])
        /// Nothing: closed with a reset once the peer's first bytes (a ZMTP signature) arrived.
        case reset
        /// Nothing, and the connection stays open.
        case silence
    }

    let endpoint: String
    private let fd: Int32
    private let stopped = Atomic<Bool>(false)
    private let done = DispatchSemaphore(value: 0)

    init(answer: @escaping @Sendable (Int) -> Reply) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        fd = listener
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        var size = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &a) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, size) == 0 && listen(listener, 16) == 0 && getsockname(listener, $0, &size) == 0
            }
        }
        guard ok else { throw ZMQError(code: errno, operation: "fake peer: bind") }
        endpoint = "tcp://127.0.0.1:\(UInt16(bigEndian: a.sin_port))"
        Thread.detachNewThread { self.serve(answer) }
    }

    private func serve(_ answer: (Int) -> Reply) {
        var open: [Int32] = []
        var n = 0
        while !stopped.load(ordering: .acquiring) {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 20) > 0 else { continue }
            let c = accept(fd, nil, nil)
            guard c >= 0 else { continue }
            switch answer(n) {
            case .bytes(let bytes):
                _ = bytes.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                open.append(c)
            case .reset:
                var p = pollfd(fd: c, events: Int16(POLLIN), revents: 0)
                var signature = [UInt8](repeating: 0, count: 10)
                if poll(&p, 1, 2000) > 0 { _ = recv(c, &signature, 10, Int32(MSG_WAITALL)) }
                var reset = linger(l_onoff: 1, l_linger: 0)
                setsockopt(c, SOL_SOCKET, SO_LINGER, &reset, socklen_t(MemoryLayout<linger>.size))
                close(c)
            case .silence:
                open.append(c)
            }
            n += 1
        }
        open.forEach { close($0) }
        done.signal()
    }

    /// Stops listening and closes every connection (once).
    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        done.wait()
        close(fd)
    }

    /// A ZMTP 3.0 greeting naming `mechanism`.
    static func greeting(_ mechanism: String) -> [UInt8] {
        var g = [UInt8](repeating: 0, count: 64)
        g[0] = 0xFF
        g[9] = 0x7F
        g[10] = 3
        for (i, c) in mechanism.utf8.enumerated() { g[12 + i] = c }
        return g
    }
}
