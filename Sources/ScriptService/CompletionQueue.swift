import ScriptTransport

/// Hands results from compute threads to an event loop and wakes its poll: results go into a
/// locked list, and an empty message on an inproc PAIR socket makes the loop's poll return.
/// The lock covers the sending socket too (a ZeroMQ socket is one thread's at a time: two lanes
/// posting at once crashed libzmq), and only a post into an empty list sends: until the loop
/// drains, the message already sent wakes it for every item behind it.
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

    /// From any thread.
    public func post(_ item: T) {
        lock.lock()
        defer { lock.unlock() }
        items.append(item)
        // Never waits: were the pipe full, a wake-up would be on its way already.
        if items.count == 1 { _ = try? sender.send([[]], dontWait: true) }
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
