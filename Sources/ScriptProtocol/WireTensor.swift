import ScriptTransport
import ScriptCore
import ScriptFormats
import ScriptWire

/// A matrix as it came over the wire: little-endian element bytes in the sender's dtype.
///
/// The coordinator forwards slices of it to workers as they are and decodes only the rows it
/// needs itself (the proposals, the kept tokens), so a request's features are never converted
/// whole on the coordinator's critical path. Decoding is exact, so every process sees the
/// same Float32 values.
public struct WireTensor: Sendable {
    public let dtype: TensorCodec.WireDType
    public let rows: Int
    public let cols: Int
    /// `rows * cols` elements, row-major: the frame they came in.
    public let bytes: Frame

    /// - Precondition: `bytes` holds exactly `rows * cols` elements of `dtype`.
    public init(dtype: TensorCodec.WireDType, rows: Int, cols: Int, bytes: Frame) {
        precondition(bytes.count == rows * cols * dtype.size, "\(bytes.count) bytes for \(rows) x \(cols) \(dtype.rawValue)")
        self.dtype = dtype
        self.rows = rows
        self.cols = cols
        self.bytes = bytes
    }

    private var rowBytes: Int { cols * dtype.size }

    /// Every row, decoded.
    public func matrix() -> Matrix {
        Matrix(rows: rows, cols: cols, values: TensorCodec.floats(bytes, dtype: dtype, count: rows * cols))
    }

    /// Every row, decoded, with the rows' inverse norms (`Matrix.rowInverseNorms`), taken while
    /// each band of rows is still in cache (one pass over the values instead of two); `kept`
    /// says whether the matrix holds the values, their bfloat16 rounding too, or it alone.
    public func matrixWithInverseNorms(pool: ComputePool, keeping kept: FilledValues = .float32) -> (matrix: Matrix, inverseNorms: [Float]) {
        let bytes = bytes, rowBytes = rowBytes, type = dtype.fileType, cols = cols
        return Matrix.filled(rows: rows, cols: cols, pool: pool, keeping: kept) { band, dst in
            bytes.withUnsafeBytes { raw in
                let src = UnsafeRawBufferPointer(rebasing: raw[(band.lowerBound * rowBytes)..<(band.upperBound * rowBytes)])
                ElementDecoder.decode(src, dtype: type, count: band.count * cols,
                                      into: UnsafeMutableBufferPointer(start: dst, count: band.count * cols))
            }
        }
    }

    /// The bytes of a band of rows, still encoded (a slice: no copy).
    public func bytes(ofRows range: Range<Int>) -> Frame {
        bytes.slice((range.lowerBound * rowBytes)..<(range.upperBound * rowBytes))
    }

    /// A band of rows, still encoded (a slice: no copy).
    public func band(_ range: Range<Int>) -> WireTensor {
        WireTensor(dtype: dtype, rows: range.count, cols: cols, bytes: bytes(ofRows: range))
    }

    /// The rows at `indices`, in that order, still encoded (one copy of those rows).
    public func gather(_ indices: [Int]) -> WireTensor {
        let size = rowBytes
        let frame = Frame(count: indices.count * size) { dst in
            bytes.withUnsafeBytes { src in
                for (r, i) in indices.enumerated() {
                    UnsafeMutableRawBufferPointer(rebasing: dst[(r * size)..<((r + 1) * size)])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: src[(i * size)..<((i + 1) * size)]))
                }
            }
        }
        return WireTensor(dtype: dtype, rows: indices.count, cols: cols, bytes: frame)
    }

    /// The descriptor of this tensor as frame `frame` of a message.
    public func descriptor(frame: Int) -> MessagePackValue {
        TensorCodec.descriptor(dtype: dtype, shape: [rows, cols], frame: frame)
    }

    /// The descriptor of this tensor naming its bytes in this process's shared memory, where
    /// they lie there (`Frame.shared`); nil where they do not.
    public var sharedDescriptor: MessagePackValue? {
        bytes.sharedReference.map { TensorCodec.descriptor(dtype: dtype, shape: [rows, cols], shared: $0) }
    }

    /// This tensor with its bytes copied into shared memory (`Frame.shared`), for workers on
    /// this host to read in place.
    public func inSharedMemory() throws -> WireTensor {
        guard bytes.sharedReference == nil, bytes.count > 0 else { return self }
        let frame = try bytes.withUnsafeBytes { try Frame.shared(copying: $0) }
        return WireTensor(dtype: dtype, rows: rows, cols: cols, bytes: frame)
    }

    /// The matrix `field` of `envelope`, checked against its frame (or its shared memory, where
    /// `shared` reads that), left encoded.
    public static func read(_ envelope: Envelope, field: String, frames: [Frame], maxElements: Int,
                            shared: TensorCodec.SharedBytes? = nil) throws -> WireTensor {
        let (shape, dtype, bytes) = try TensorCodec.encoded(envelope, field: field, frames: frames, rank: 2, maxElements: maxElements,
                                                            shared: shared)
        return WireTensor(dtype: dtype, rows: shape[0], cols: shape[1], bytes: bytes)
    }

    /// Float32 values as a tensor (little-endian f32).
    public init(rows: Int, cols: Int, floats: [Float]) {
        self.init(dtype: .f32, rows: rows, cols: cols, bytes: TensorCodec.frame(floats))
    }
}
