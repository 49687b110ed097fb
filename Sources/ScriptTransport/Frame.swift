import CZeroMQ
#if canImport(Glibc)
import Glibc
#endif

/// The bytes of one message frame, shared instead of copied.
///
/// Requests carry tensor frames of megabytes, and a coordinator forwards them (and slices of
/// them) between clients and workers: a received frame keeps ZeroMQ's own buffer, a frame built
/// here owns a buffer of its own, a slice keeps its parent's buffer, and a large frame sent is
/// lent to ZeroMQ until its I/O thread has written it. The bytes never change once the frame
/// exists, so a frame can be read from any thread.
public struct Frame: Sendable {
    /// Keeps `base` valid; immutable once the frame is made.
    let owner: FrameStorage?
    /// Offset of the frame's first byte in `owner`'s bytes.
    let offset: Int
    public let count: Int

    /// A frame holding a copy of `bytes`.
    public init(_ bytes: [UInt8]) {
        self.init(count: bytes.count) { dst in bytes.withUnsafeBytes { dst.copyMemory(from: $0) } }
    }

    /// A frame of `count` bytes written once by `initialize` (which must write all of them).
    public init(count: Int, initializingWith initialize: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        if count == 0 {
            self.init(owner: nil, offset: 0, count: 0)
            return
        }
        let storage = FrameStorage(allocating: count)
        try initialize(storage.mutableBytes)
        self.init(owner: storage, offset: 0, count: count)
    }

    init(owner: FrameStorage?, offset: Int, count: Int) {
        self.owner = owner
        self.offset = offset
        self.count = count
    }

    public var isEmpty: Bool { count == 0 }

    /// A copy of the bytes.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Calls `body` with the bytes, valid for the call only.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        guard let owner, count > 0 else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return try withExtendedLifetime(owner) {
            try body(UnsafeRawBufferPointer(start: owner.base + offset, count: count))
        }
    }

    /// The bytes in `range`, sharing this frame's buffer.
    public func slice(_ range: Range<Int>) -> Frame {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "slice \(range) of a \(count)-byte frame")
        return Frame(owner: range.isEmpty ? nil : owner, offset: offset + range.lowerBound, count: range.count)
    }
}

extension Frame: Equatable {
    public static func == (a: Frame, b: Frame) -> Bool {
        a.count == b.count && a.withUnsafeBytes { x in b.withUnsafeBytes { y in x.elementsEqual(y) } }
    }
}

/// Memory a frame's bytes live in, at a fixed address for the storage's lifetime: a buffer
/// allocated here, or a received ZeroMQ message (closed when the storage goes). Frames only
/// read it, and nothing writes it once a frame over it exists, so it is shared without a lock;
/// addresses are kept as integers, which are `Sendable` by type.
final class FrameStorage: Sendable {
    private enum Kind: Sendable {
        case owned(bytes: Int)
        case message(address: UInt)
        /// This process's shared memory (`Frame.shared`).
        case region(SharedRegion)
        /// Another process's shared memory mapped here from `base` (`Frame.mapping`).
        case mapped(base: UInt, length: Int)
    }

    private let address: UInt
    private let kind: Kind

    /// A new buffer of `count` bytes (uninitialised: `mutableBytes` fills it before any frame
    /// over it exists).
    init(allocating count: Int) {
        address = UInt(bitPattern: UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 16))
        kind = .owned(bytes: count)
    }

    /// Takes over `received`, an initialised message holding at least one byte.
    init(taking received: UnsafeMutablePointer<zmq_msg_t>) {
        address = UInt(bitPattern: zmq_msg_data(received))
        kind = .message(address: UInt(bitPattern: received))
    }

    /// Takes over `region`, its bytes the storage's.
    init(region: SharedRegion) {
        address = UInt(bitPattern: region.base)
        kind = .region(region)
    }

    /// Takes over a read-only mapping of `length` bytes at `mapped`, whose bytes start at `at`.
    init(mapped: UnsafeMutableRawPointer, length: Int, at: Int) {
        address = UInt(bitPattern: mapped) + UInt(at)
        kind = .mapped(base: UInt(bitPattern: mapped), length: length)
    }

    var base: UnsafeRawPointer { UnsafeRawPointer(bitPattern: address)! }

    /// Whether the bytes are another process's, mapped here.
    var isMapping: Bool {
        guard case .mapped = kind else { return false }
        return true
    }

    /// The memfd of this process's shared memory the bytes lie in (nil for other storage).
    var sharedDescriptor: Int32? {
        guard case .region(let r) = kind else { return nil }
        return r.fd
    }

    /// The buffer of storage made by `init(allocating:)`, to fill it.
    var mutableBytes: UnsafeMutableRawBufferPointer {
        guard case .owned(let count) = kind else { preconditionFailure("received, shared or mapped bytes are read-only") }
        return UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(bitPattern: address), count: count)
    }

    deinit {
        switch kind {
        case .owned: UnsafeMutableRawPointer(bitPattern: address)!.deallocate()
        case .message(let m):
            let message = UnsafeMutablePointer<zmq_msg_t>(bitPattern: m)!
            zmq_msg_close(message)
            message.deallocate()
        case .region: break
        case .mapped(let base, let length): munmap(UnsafeMutableRawPointer(bitPattern: base), length)
        }
    }
}
