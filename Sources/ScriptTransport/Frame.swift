import CZeroMQ

/// The bytes of one message frame, shared instead of copied.
///
/// Requests carry tensor frames of megabytes, and a coordinator forwards slices of them to its
/// workers: a received frame keeps ZeroMQ's own buffer, a frame made from an array keeps the
/// array, a slice keeps its parent's buffer, and a large frame sent is lent to ZeroMQ until its
/// I/O thread has written it. The bytes are never mutated.
public struct Frame: @unchecked Sendable {
    /// Keeps `base` valid.
    let owner: AnyObject?
    let base: UnsafeRawPointer?
    public let count: Int

    /// A frame over `bytes` (the array is kept, not copied).
    public init(_ bytes: [UInt8]) {
        let storage = ArrayStorage(bytes)
        owner = storage
        base = storage.base
        count = bytes.count
    }

    init(owner: AnyObject?, base: UnsafeRawPointer?, count: Int) {
        self.owner = owner
        self.base = base
        self.count = count
    }

    public var isEmpty: Bool { count == 0 }

    /// A copy of the bytes.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Calls `body` with the bytes, valid for the call.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(owner) { try body(UnsafeRawBufferPointer(start: count > 0 ? base : nil, count: count)) }
    }

    /// The bytes in `range`, sharing this frame's buffer.
    public func slice(_ range: Range<Int>) -> Frame {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "slice \(range) of a \(count)-byte frame")
        return Frame(owner: owner, base: base.map { $0 + range.lowerBound }, count: range.count)
    }
}

extension Frame: Equatable {
    public static func == (a: Frame, b: Frame) -> Bool {
        a.count == b.count && a.withUnsafeBytes { x in b.withUnsafeBytes { y in x.elementsEqual(y) } }
    }
}

/// An array whose storage a frame points into.
private final class ArrayStorage {
    let array: [UInt8]
    let base: UnsafeRawPointer?
    init(_ array: [UInt8]) {
        self.array = array
        // A native array's storage stays put while the array lives unmodified, as here.
        base = self.array.withUnsafeBytes { $0.baseAddress }
    }
}

/// A received ZeroMQ message, closed when the last frame over it goes.
final class MessageStorage {
    /// At a fixed address: a message is never moved (small ones hold their bytes inline).
    let message: UnsafeMutablePointer<zmq_msg_t>
    init() {
        message = .allocate(capacity: 1)
        message.initialize(to: zmq_msg_t())
        zmq_msg_init(message)
    }
    deinit {
        zmq_msg_close(message)
        message.deallocate()
    }
}
