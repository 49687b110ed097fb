import ScriptCore
import ScriptFormats
import ScriptTransport
import ScriptWire

/// Tensors on the wire: a descriptor `{dtype, shape, frame}` in the envelope and the raw
/// little-endian bytes in their own frame, checked against shape x dtype before any element is read.
public enum TensorCodec {
    /// Element types accepted on the wire.
    public enum WireDType: String, Sendable {
        case f32, f16, bf16
        public var size: Int { self == .f32 ? 4 : 2 }
        public var fileType: DType {
            switch self {
            case .f32: return .f32
            case .f16: return .f16
            case .bf16: return .bf16
            }
        }
    }

    /// Decodes the tensor described by `field` of `envelope` from `frames` (frame 0 is the envelope).
    /// - Parameters:
    ///   - rank: the dimensions the tensor must have.
    ///   - maxElements: a bound checked before any allocation.
    public static func decode(_ envelope: Envelope, field: String, frames: [Frame], rank: Int,
                              maxElements: Int) throws -> (shape: [Int], values: [Float]) {
        let t = try encoded(envelope, field: field, frames: frames, rank: rank, maxElements: maxElements)
        return (t.shape, floats(t.bytes, dtype: t.dtype, count: t.shape.reduce(1, *)))
    }

    /// How a message may name a tensor's bytes in a client's shared memory instead of sending
    /// them (`shared: [pid, fd, offset, pid namespace]`): read in place (`Frame.mapping`) by a worker whose
    /// data socket is a Unix socket; nil where only frames are taken.
    public typealias SharedBytes = @Sendable (SharedReference, _ count: Int) throws -> Frame

    /// As `decode`, with every check, but the elements left as they came.
    public static func encoded(_ envelope: Envelope, field: String, frames: [Frame], rank: Int,
                               maxElements: Int, shared: SharedBytes? = nil) throws -> (shape: [Int], dtype: WireDType, bytes: Frame) {
        let d = try envelope.map(field)
        try d.only(["dtype", "shape", "frame", "shared"], context: field)
        let dtypeName = try d.string("dtype")
        guard let dtype = WireDType(rawValue: dtypeName) else {
            throw ProtocolError(.badTensor, "\(field).dtype '\(dtypeName)' is not f32, f16 or bf16")
        }
        let shape = try d.intArray("shape")
        guard shape.count == rank else {
            throw ProtocolError(.badTensor, "\(field).shape \(shape) must have \(rank) dimensions")
        }
        var elements = 1
        for s in shape {
            guard s >= 0 else { throw ProtocolError(.badTensor, "\(field).shape \(shape) has a negative dimension") }
            let (p, overflow) = elements.multipliedReportingOverflow(by: s)
            guard !overflow, p <= maxElements else {
                throw ProtocolError(.tooLarge, "\(field).shape \(shape) exceeds \(maxElements) elements")
            }
            elements = p
        }
        if d.has("shared") {
            return (shape, dtype, try sharedBytes(d, field: field, count: elements * dtype.size, shared: shared))
        }
        let frame = try d.int("frame")
        guard frame >= 1, frame < frames.count else {
            throw ProtocolError(.badTensor, "\(field).frame \(frame) is missing: the message has \(frames.count - 1) tensor frames")
        }
        let bytes = frames[frame]
        guard bytes.count == elements * dtype.size else {
            throw ProtocolError(.badTensor, "\(field): frame \(frame) holds \(bytes.count) bytes, shape \(shape) of \(dtype.rawValue) needs \(elements * dtype.size)")
        }
        return (shape, dtype, bytes)
    }

    /// Little-endian element bytes to Float32.
    public static func floats(_ bytes: Frame, dtype: WireDType, count: Int) -> [Float] {
        bytes.withUnsafeBytes { ElementDecoder.decode($0, dtype: dtype.fileType, count: count) }
    }

    /// Float32 values as a frame of little-endian bytes.
    public static func frame(_ values: [Float]) -> Frame {
        Frame(count: values.count * 4) { dst in
            #if _endian(little)
            values.withUnsafeBytes { dst.copyMemory(from: $0) }
            #else
            for (i, v) in values.enumerated() { dst.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
            #endif
        }
    }

    /// The f32 vector `field` of `envelope` (rank 1), decoded.
    public static func vector(_ envelope: Envelope, field: String, frames: [Frame], count: Int) throws -> [Float] {
        let (shape, values) = try decode(envelope, field: field, frames: frames, rank: 1, maxElements: Int(Int32.max))
        guard shape[0] == count else { throw ProtocolError(.badShape, "\(field) has \(shape[0]) values, expected \(count)") }
        return values
    }

    /// Float32 values as little-endian bytes.
    public static func bytes(_ values: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: values.count * 4)
        #if _endian(little)
        out.withUnsafeMutableBytes { dst in values.withUnsafeBytes { dst.copyMemory(from: $0) } }
        #else
        out.withUnsafeMutableBytes { raw in
            for (i, v) in values.enumerated() { raw.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
        }
        #endif
        return out
    }

    /// A matrix encoded in `dtype` (f16 and bf16 rounded to nearest, ties to even).
    public static func encode(_ m: Matrix, dtype: WireDType) -> WireTensor {
        let values = m.values
        let frame: Frame
        switch dtype {
        case .f32: frame = Self.frame(values)
        case .f16:
            frame = Frame(count: values.count * 2) { raw in values.withUnsafeBufferPointer { HalfPrecision.encode($0, into: raw) } }
        case .bf16:
            frame = Frame(count: values.count * 2) { raw in values.withUnsafeBufferPointer { HalfPrecision.encodeBFloat16($0, into: raw) } }
        }
        return WireTensor(dtype: dtype, rows: m.rows, cols: m.cols, bytes: frame)
    }

    /// Float32 values as IEEE half little-endian bytes (for clients that send f16).
    public static func halfBytes(_ values: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: values.count * 2)
        out.withUnsafeMutableBytes { raw in values.withUnsafeBufferPointer { HalfPrecision.encode($0, into: raw) } }
        return out
    }

    /// The bytes a descriptor names in shared memory, mapped by `shared`.
    private static func sharedBytes(_ d: Envelope, field: String, count: Int, shared: SharedBytes?) throws -> Frame {
        guard let shared else {
            throw ProtocolError(.badRequest, "\(field).shared: bytes in shared memory are read only by a worker whose data socket is a Unix socket (ipc://); send them as a frame")
        }
        guard !d.has("frame") else { throw ProtocolError(.badTensor, "\(field) names both a frame and shared memory") }
        let at = try d.intArray("shared")
        guard at.count == 4, let pid = Int32(exactly: at[0]), let fd = Int32(exactly: at[1]) else {
            throw ProtocolError(.badTensor, "\(field).shared \(at) is not [process, descriptor, offset, PID namespace]")
        }
        // What `shared` throws (`SharedMemoryError`) goes up as it is: the reader decides what it ends.
        return try shared(SharedReference(pid: pid, fd: fd, offset: at[2], namespace: at[3]), count)
    }

    /// The descriptor of a tensor whose bytes lie in shared memory at `reference`.
    public static func descriptor(dtype: WireDType, shape: [Int], shared reference: SharedReference) -> MessagePackValue {
        Envelope.mapValue([("dtype", .string(dtype.rawValue)), ("shape", .array(shape.map { .int(Int64($0)) })),
                           ("shared", .array([Int(reference.pid), Int(reference.fd), reference.offset, reference.namespace].map { .int(Int64($0)) }))])
    }

    /// A descriptor for `frame`.
    public static func descriptor(dtype: WireDType = .f32, shape: [Int], frame: Int) -> MessagePackValue {
        Envelope.mapValue([("dtype", .string(dtype.rawValue)), ("shape", .array(shape.map { .int(Int64($0)) })), ("frame", .int(Int64(frame)))])
    }
}
