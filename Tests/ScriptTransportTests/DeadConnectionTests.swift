import Foundation
import Synchronization
import XCTest
@testable import ScriptTransport

/// ZMTP heartbeats (`closeDeadConnections`) against a peer that completes each handshake and
/// then goes quiet, as one whose host died does: a connecting socket closes that connection and
/// makes a fresh one; without them it stays on the first. (Bound sockets closing such a
/// connection: `ClusterProcessTests.testConnectionsOfPeersThatWentQuietAreClosed`.)
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
}
