import ScriptTransport

/// Hands results from compute threads to an event loop and wakes its poll: results go into a
/// locked list, and an empty message on an inproc PAIR socket makes the loop's poll return.
public final class CompletionQueue<T>: @unchecked Sendable {
    private var items: [T] = []
    private let lock = NSLock()
    private let sender: ZMQSocket
    public let receiver: ZMQSocket

    public init(context: ZMQContext, name: String) throws {
        receiver = try ZMQSocket(context: context, type: .pair)
        try receiver.bind("inproc://\(name)")
        sender = try ZMQSocket(context: context, type: .pair)
        try sender.connect("inproc://\(name)")
    }

    /// From a compute thread (one at a time: callers run on one serial queue).
    public func post(_ item: T) {
        lock.lock()
        items.append(item)
        lock.unlock()
        try? sender.send([[]])
    }

    /// From the loop thread, after `receiver` polled readable.
    public func drain() -> [T] {
        while (try? receiver.receive(timeoutMilliseconds: 0)) != nil {}
        lock.lock()
        defer { lock.unlock() }
        let out = items
        items = []
        return out
    }

    public func close() {
        sender.close()
        receiver.close()
    }
}

import Foundation
