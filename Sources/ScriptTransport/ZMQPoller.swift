import CZeroMQ
#if canImport(Glibc)
import Glibc
#endif

/// Waits until any of several sockets has a message to read.
public struct ZMQPoller {
    private var sockets: [ZMQSocket] = []

    public init() {}

    /// Adds a socket; its index in `poll`'s answer is the order of addition.
    public mutating func add(_ socket: ZMQSocket) { sockets.append(socket) }

    /// Indices of the sockets readable within the timeout (negative: wait forever).
    public func poll(timeoutMilliseconds timeout: Int) throws -> Set<Int> {
        var items = sockets.map { zmq_pollitem_t(socket: $0.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0) }
        while true {
            let rc = zmq_poll(&items, Int32(items.count), timeout)
            if rc >= 0 { break }
            if zmq_errno() != EINTR { throw ZMQError.last("zmq_poll") }
        }
        return Set(items.indices.filter { items[$0].revents & Int16(ZMQ_POLLIN) != 0 })
    }
}
