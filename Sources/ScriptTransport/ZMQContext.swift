import CZeroMQ

/// A libzmq context: owns the I/O threads of every socket made from it.
public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    private var closed = false

    public init(ioThreads: Int = 1) {
        handle = zmq_ctx_new()
        zmq_ctx_set(handle, ZMQ_IO_THREADS, Int32(ioThreads))
    }

    /// Terminates the context; sockets must be closed first (their linger bounds the wait).
    public func close() {
        guard !closed else { return }
        closed = true
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }

    deinit { close() }
}

#if canImport(Glibc)
import Glibc
#endif
