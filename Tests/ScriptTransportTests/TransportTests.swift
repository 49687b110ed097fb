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

    func testLentFramesArriveIntactAfterTheSenderDropsOrChangesThem() throws {
        let (r, d) = try pair()
        defer { r.close(); d.close() }
        var expected: [[UInt8]] = []
        for i in 0..<4 {
            // Large enough to be lent to ZeroMQ rather than copied.
            var frame = (0..<(ZMQSocket.lendThreshold + 4099 * i)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) }
            expected.append(frame)
            try d.send([[], frame])
            frame[0] ^= 0xFF  // the sender's copy changes; the message must not
        }
        for want in expected {
            guard let msg = try r.receive(timeoutMilliseconds: 5000) else { return XCTFail("nothing received") }
            XCTAssertEqual(msg.last, want)
        }
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
