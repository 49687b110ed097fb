import Foundation
import Synchronization
import XCTest
@testable import ScriptTransport

/// ZMTP heartbeats (`closeDeadConnections`) against peers that completed their handshake and
/// then went quiet, as one whose host died does: its connection is closed, and a connecting
/// socket makes a fresh one; without them, neither happens.
final class DeadConnectionTests: XCTestCase {
    let ctx = ZMQContext()
    override func tearDown() { ctx.close() }

    /// Connections a DEALER makes, within `seconds`, to a peer that answers each handshake and
    /// then nothing.
    private func connectionsToAQuietPeer(heartbeat: Bool, seconds: Double) throws -> Int {
        let made = Atomic<Int>(0)
        let peer = try FakePeer { _ in
            made.add(1, ordering: .relaxed)
            return .bytes(FakePeer.handshake(as: "ROUTER"))
        }
        defer { peer.stop() }
        let d = try ZMQSocket(context: ctx, type: .dealer)
        defer { d.close() }
        try d.setLinger(milliseconds: 0)
        try d.setReconnectInterval(milliseconds: 50)
        if heartbeat { try d.closeDeadConnections(heartbeatMs: 20) }
        try d.connect(peer.endpoint)
        Thread.sleep(forTimeInterval: seconds)
        return made.load(ordering: .relaxed)
    }

    func testAConnectingSocketLeavesAQuietPeerForAFreshConnection() throws {
        XCTAssertGreaterThanOrEqual(try connectionsToAQuietPeer(heartbeat: true, seconds: 1.5), 2)
        XCTAssertEqual(try connectionsToAQuietPeer(heartbeat: false, seconds: 1.5), 1, "without heartbeats it stays on the first")
    }

    /// Whether a bound ROUTER closes, within `seconds`, a connection whose peer did its
    /// handshake and then went quiet (it reads, so its receive window stays open).
    private func routerCloses(heartbeat: Bool, seconds: Double) throws -> Bool {
        let r = try ZMQSocket(context: ctx, type: .router)
        defer { r.close() }
        try r.setLinger(milliseconds: 0)
        if heartbeat { try r.closeDeadConnections(heartbeatMs: 20) }
        try r.bind("tcp://127.0.0.1:*")
        let port = try XCTUnwrap(UInt16(try r.lastEndpoint().split(separator: ":").last ?? ""))
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        a.sin_port = port.bigEndian
        let connected = withUnsafePointer(to: &a) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        XCTAssertEqual(connected, 0)
        let hello = FakePeer.handshake(as: "DEALER")
        XCTAssertEqual(hello.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }, hello.count)
        let end = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < end {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 50) > 0 else { continue }
            if recv(fd, &buffer, buffer.count, 0) <= 0 { return true }
        }
        return false
    }

    func testABoundSocketClosesTheConnectionOfAQuietPeer() throws {
        XCTAssertTrue(try routerCloses(heartbeat: true, seconds: 2))
        XCTAssertFalse(try routerCloses(heartbeat: false, seconds: 1), "without heartbeats it keeps it")
    }
}
