import CZeroMQ
import Synchronization

/// A libzmq context: owns the I/O threads of every socket made from it. libzmq's contexts are
/// thread-safe; the one thing this class adds, whether it was closed, is behind a lock.
public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    private let closed = Mutex(false)

    public init(ioThreads: Int = 1) {
        handle = zmq_ctx_new()
        zmq_ctx_set(handle, ZMQ_IO_THREADS, Int32(ioThreads))
    }

    /// Terminates the context; sockets must be closed first (their linger bounds the wait).
    public func close() {
        let first = closed.withLock { wasClosed in
            defer { wasClosed = true }
            return !wasClosed
        }
        guard first else { return }
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }

    deinit { close() }
}

#if canImport(Glibc)
import Glibc
#endif
