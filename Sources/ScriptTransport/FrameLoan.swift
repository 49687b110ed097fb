import CZeroMQ

/// Lends a large frame's bytes to a ZeroMQ message instead of copying them: the message
/// keeps the array alive until ZeroMQ's I/O thread has written it and calls back.
///
/// Requests carry tensor frames of megabytes, and a coordinator resends slices of them to
/// workers; copying each into a fresh message cost a memory pass per frame on the event loop.
final class FrameLoan {
    /// The lent bytes. Never mutated, so the storage they share with the array they came from,
    /// and the pointer ZeroMQ holds into it, stay put for the loan's life.
    private let bytes: ArraySlice<UInt8>

    private init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

    /// Initialises `msg` over `frame`'s storage (`frame` must not be empty).
    static func lend(_ frame: ArraySlice<UInt8>, to msg: inout zmq_msg_t) throws {
        let loan = FrameLoan(frame)
        let data = loan.bytes.withUnsafeBufferPointer { UnsafeMutableRawPointer(mutating: $0.baseAddress!) }
        let hint = Unmanaged.passRetained(loan).toOpaque()
        guard zmq_msg_init_data(&msg, data, frame.count, { _, hint in
            Unmanaged<FrameLoan>.fromOpaque(hint!).release()
        }, hint) == 0 else {
            Unmanaged<FrameLoan>.fromOpaque(hint).release()
            throw ZMQError.last("zmq_msg_init_data")
        }
    }
}
