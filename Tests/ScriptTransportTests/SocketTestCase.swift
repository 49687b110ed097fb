import XCTest
@testable import ScriptTransport

/// Tests on raw libzmq sockets: a context each test, and the sockets it made closed after it.
class SocketTestCase: XCTestCase {
    var ctx: ZMQContext!
    var sockets: [ZMQSocket] = []

    override func setUp() { ctx = ZMQContext() }

    override func tearDown() {
        sockets.forEach { $0.close() }
        sockets = []
        ctx.close()
    }

    /// A socket of `type` that lingers for nothing, closed after the test.
    func socket(_ type: SocketType) throws -> ZMQSocket {
        let s = try ZMQSocket(context: ctx, type: type)
        try s.setLinger(milliseconds: 0)
        sockets.append(s)
        return s
    }
}
