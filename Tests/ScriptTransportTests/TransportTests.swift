import Foundation
import XCTest
@testable import ScriptTransport

/// The ZeroMQ wrapper against real libzmq, on inproc and loopback TCP.
final class TransportTests: XCTestCase {
    let ctx = ZMQContext()
    override func tearDown() { ctx.close() }

    private func pair(_ endpoint: String = "tcp://127.0.0.1:*") throws -> (router: ZMQSocket, dealer: ZMQSocket) {
        let r = try ZMQSocket(context: ctx, type: .router)
        try r.setLinger(milliseconds: 0)
        try r.setRouterMandatory(true)
        try r.bind(endpoint)
        let d = try ZMQSocket(context: ctx, type: .dealer)
        try d.setLinger(milliseconds: 0)
        try d.setRoutingID(Array("client-1".utf8))
        try d.connect(try r.lastEndpoint())
        return (r, d)
    }

    func testRouterDealerRoundTripWithEmptyFrameAndLargeFrame() throws {
        let (r, d) = try pair()
        defer { r.close(); d.close() }
        XCTAssertTrue(try r.lastEndpoint().hasPrefix("tcp://127.0.0.1:"))
        let big = [UInt8](repeating: 0xAB, count: 50 << 20)
        try d.send([[], Array("hello".utf8), big])
        guard let msg = try r.receive(timeoutMilliseconds: 5000) else { return XCTFail("nothing received") }
        XCTAssertEqual(msg.count, 4)
        XCTAssertEqual(msg[0], Array("client-1".utf8))
        XCTAssertEqual(msg[1], [])
        XCTAssertEqual(msg[3].count, big.count)
        try r.send([msg[0], [], Array("back".utf8)])
        XCTAssertEqual(try d.receive(timeoutMilliseconds: 5000)?.last, Array("back".utf8))
    }

    /// A large frame is lent to ZeroMQ, not copied: its bytes must stay alive until the I/O
    /// thread has written them, even when the sender lets go of the frame at once and the freed
    /// memory is reused (a loan that did not hold its owner would send garbage, or crash).
    func testLentFramesArriveIntactAfterTheSenderLetsGo() throws {
        let (r, d) = try pair()
        defer { r.close(); d.close() }
        let size = 4 << 20
        for i in 0..<6 {
            try autoreleasepoolIfNeeded {
                let frame = Frame(count: size) { raw in for k in stride(from: 0, to: size, by: 4096) { raw[k] = UInt8(truncatingIfNeeded: i &+ k / 4096) } }
                try d.send([Frame([]), frame])
            }
            // Reuse the memory the frame had.
            let junk = [UInt8](repeating: 0xEE, count: size)
            XCTAssertEqual(junk.count, size)
        }
        for i in 0..<6 {
            guard let msg = try r.receiveFrames(timeoutMilliseconds: 5000) else { return XCTFail("nothing received") }
            let ok = msg.last!.withUnsafeBytes { raw in stride(from: 0, to: size, by: 4096).allSatisfy { raw[$0] == UInt8(truncatingIfNeeded: i &+ $0 / 4096) } }
            XCTAssertTrue(ok, "frame \(i) arrived changed")
        }
    }

    private func autoreleasepoolIfNeeded(_ body: () throws -> Void) rethrows { try body() }

    /// Connections closed and handshakes refused are seen, though no message arrives; a peer
    /// asking for another security mechanism is told apart.
    func testTheMonitorSeesClosedConnectionsAndForeignPeers() throws {
        let r = try ZMQSocket(context: ctx, type: .router)
        defer { r.close() }
        try r.setLinger(milliseconds: 0)
        try r.bind("tcp://127.0.0.1:*")
        let monitor = try ZMQMonitor(r, context: ctx)
        defer { monitor.close() }
        let d = try ZMQSocket(context: ctx, type: .dealer)
        try d.setLinger(milliseconds: 0)
        try d.connect(try r.lastEndpoint())
        try d.send([[1]])
        XCTAssertNotNil(try r.receive(timeoutMilliseconds: 3000))
        d.close()
        // A peer that greets like ZeroMQ 3 but asks for a security mechanism nobody speaks.
        let port = Int32(try r.lastEndpoint().split(separator: ":").last!)!
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        let garbage: [UInt8] = [0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 0] + Array("MAGIC".utf8) + [UInt8](repeating: 0, count: 15)
            + [0] + [UInt8](repeating: 0, count: 31)
        _ = garbage.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var events: [ZMQMonitor.Event] = []
        let end = Date().addingTimeInterval(5)
        while Date() < end && !(events.contains(.disconnected) && events.contains(.mechanismMismatch)) {
            events += monitor.drain()
            Thread.sleep(forTimeInterval: 0.02)
        }
        close(fd)
        XCTAssertTrue(events.contains(.accepted), "\(events)")
        XCTAssertTrue(events.contains(.disconnected), "\(events)")
        // The mechanism it asks for is not this socket's: told apart from other handshake failures.
        XCTAssertTrue(events.contains(.mechanismMismatch), "\(events)")
    }

    func testUnroutableSendIsAnError() throws {
        let (r, d) = try pair()
        defer { r.close(); d.close() }
        XCTAssertThrowsError(try r.send([Array("nobody".utf8), [1]])) { XCTAssertTrue(($0 as? ZMQError)?.isUnroutable ?? false) }
    }

    func testReceiveTimesOutWithNil() throws {
        let (r, d) = try pair()
        defer { r.close(); d.close() }
        let start = Date()
        XCTAssertNil(try r.receive(timeoutMilliseconds: 100))
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 0.09)
    }

    func testOversizedMessageDisconnectsOnlyItsSender() throws {
        let r = try ZMQSocket(context: ctx, type: .router)
        defer { r.close() }
        try r.setLinger(milliseconds: 0)
        try r.setMaxMessageSize(1024)
        try r.bind("tcp://127.0.0.1:*")
        let ep = try r.lastEndpoint()
        let bad = try ZMQSocket(context: ctx, type: .dealer), good = try ZMQSocket(context: ctx, type: .dealer)
        defer { bad.close(); good.close() }
        for s in [bad, good] { try s.setLinger(milliseconds: 0); try s.connect(ep) }
        try bad.send([[UInt8](repeating: 1, count: 4096)])
        try good.send([[2]])
        let msg = try r.receive(timeoutMilliseconds: 3000)
        XCTAssertEqual(msg?.last, [2])
        XCTAssertNil(try r.receive(timeoutMilliseconds: 200), "the oversized message never arrives")
    }

    func testPollerReportsReadiness() throws {
        let (r, d) = try pair()
        defer { r.close(); d.close() }
        var p = ZMQPoller()
        p.add(r)
        p.add(d)
        XCTAssertEqual(try p.poll(timeoutMilliseconds: 50), [])
        try d.send([[1]])
        XCTAssertEqual(try p.poll(timeoutMilliseconds: 2000), [0])
    }

    func testCurveAuthenticatesTheServer() throws {
        let server = try CurveKeys.generate(), client = try CurveKeys.generate(), stranger = try CurveKeys.generate()
        XCTAssertEqual(server.publicKey.count, 40)
        let r = try ZMQSocket(context: ctx, type: .router)
        defer { r.close() }
        try r.setLinger(milliseconds: 0)
        try r.setCurveServer(secretKey: server.secretKey)
        try r.bind("tcp://127.0.0.1:*")
        let ep = try r.lastEndpoint()
        let ok = try ZMQSocket(context: ctx, type: .dealer), wrong = try ZMQSocket(context: ctx, type: .dealer)
        defer { ok.close(); wrong.close() }
        try ok.setLinger(milliseconds: 0); try wrong.setLinger(milliseconds: 0)
        try ok.setCurveClient(publicKey: client.publicKey, secretKey: client.secretKey, serverKey: server.publicKey)
        try wrong.setCurveClient(publicKey: client.publicKey, secretKey: client.secretKey, serverKey: stranger.publicKey)
        try wrong.connect(ep)
        try ok.connect(ep)
        _ = try wrong.send([Array("intruder".utf8)], dontWait: true)
        try ok.send([Array("friend".utf8)])
        let got = try r.receive(timeoutMilliseconds: 3000)
        XCTAssertEqual(got?.last, Array("friend".utf8))
        XCTAssertNil(try r.receive(timeoutMilliseconds: 300))
    }
}
