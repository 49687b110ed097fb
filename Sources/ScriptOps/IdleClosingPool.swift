import FlyingSocks
#if canImport(Glibc)
import Glibc
#endif

/// The operations port's socket pool: FlyingSocks' own, except that a connection that sends
/// nothing for `idle` is closed (its wait for bytes ends in `ConnectionIdle`, `OpsConnection`
/// drops the connection and logs it at debug). FlyingSocks has no read timeout: a peer that opened a
/// connection and never finished its request (or a scraper's kept-alive connection it no longer
/// uses) held a file and a task for the life of the process. The listening socket's own wait
/// (for the next connection) is never timed.
struct IdleClosingPool<Inner: AsyncSocketPool>: AsyncSocketPool {
    let inner: Inner
    let idle: Duration

    func prepare() async throws { try await inner.prepare() }

    func run() async throws { try await inner.run() }

    func suspendSocket(_ socket: Socket, untilReadyFor events: Socket.Events) async throws {
        guard !Self.isListening(socket) else { return try await inner.suspendSocket(socket, untilReadyFor: events) }
        let (inner, idle) = (inner, idle)
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await inner.suspendSocket(socket, untilReadyFor: events)
                return true
            }
            group.addTask {
                try await Task.sleep(for: idle)
                return false
            }
            defer { group.cancelAll() }
            guard try await group.next() == true else { throw ConnectionIdle(idle: idle) }
        }
    }

    /// Whether `socket` listens for connections (rather than carries one).
    private static func isListening(_ socket: Socket) -> Bool {
        var listening: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(socket.file.rawValue, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) == 0 && listening != 0
    }
}

/// A connection to the operations port sent nothing for `idle`, and was closed.
struct ConnectionIdle: Error, CustomStringConvertible {
    let idle: Duration

    var description: String { "sent nothing for \(idle), closed" }
}
