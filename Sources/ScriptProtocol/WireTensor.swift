import ScriptTransport
import ScriptCore
import ScriptFormats

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

    /// The rows at `indices`, in that order, decoded.
    public func rows(_ indices: [Int]) -> Matrix {
        var out = [Float](repeating: 0, count: indices.count * cols)
        let c = cols, size = rowBytes, type = dtype.fileType
        bytes.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer { dst in
                for (r, i) in indices.enumerated() {
                    ElementDecoder.decode(UnsafeRawBufferPointer(rebasing: raw[(i * size)..<((i + 1) * size)]), dtype: type, count: c,
                                          into: UnsafeMutableBufferPointer(rebasing: dst[(r * c)..<((r + 1) * c)]))
                }
            }
        }
        return Matrix(rows: indices.count, cols: cols, values: out)
    }

    /// The bytes of a band of rows, still encoded (a slice: no copy).
    public func bytes(ofRows range: Range<Int>) -> Frame {
        bytes.slice((range.lowerBound * rowBytes)..<(range.upperBound * rowBytes))
    }

    /// Index of the first NaN or infinite element, found from the bits (an all-ones exponent)
    /// without decoding; chunks of the scan run on `pool`.
    public func firstNonFinite(pool: ComputePool = .serial) -> Int? {
        let size = dtype.size, dtype = self.dtype
        let parts = chunks(of: rows * cols, size: 1 << 20)
        return bytes.withUnsafeBytes { raw in
            pool.map(parts.count) { c -> Int? in
                let part = parts[c]
                let r = UnsafeRawBufferPointer(rebasing: raw[(part.lowerBound * size)..<(part.upperBound * size)])
                let hit: Int?
                switch dtype {
                case .f32: hit = Self.firstAllOnes(r, elementSize: 4, mask: 0x7F80_0000)
                case .f16: hit = Self.firstAllOnes(r, elementSize: 2, mask: 0x7C00)
                case .bf16: hit = Self.firstAllOnes(r, elementSize: 2, mask: 0x7F80)
                }
                return hit.map { $0 + part.lowerBound }
            }.lazy.compactMap { $0 }.first
        }
    }

    /// First element whose bits hold all of `mask` (a contiguous run of bits below the
    /// element's sign bit). `(v & mask) + lowest bit of mask` reaches the sign bit exactly then,
    /// and never carries past it, so the test runs on 64-bit words holding several elements,
    /// OR-ed over a block; a block that hits is searched element by element. Loads are
    /// unaligned: frames can start at any byte of ZeroMQ's buffers.
    private static func firstAllOnes(_ raw: UnsafeRawBufferPointer, elementSize size: Int, mask: UInt64) -> Int? {
        let n = raw.count / size
        let lanes = 8 / size
        var wideMask: UInt64 = 0, wideStep: UInt64 = 0, wideSign: UInt64 = 0
        for lane in 0..<lanes {
            let shift = UInt64(lane * size * 8)
            wideMask |= mask << shift
            wideStep |= (mask & (~mask &+ 1)) << shift
            wideSign |= (1 << UInt64(size * 8 - 1)) << shift
        }
        let element = { (i: Int) -> UInt64 in
            size == 2 ? UInt64(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                      : UInt64(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
        }
        let words = n / lanes
        let block = 1024
        var w = 0
        while w < words {
            let end = min(words, w + block)
            var acc: UInt64 = 0
            for k in w..<end { acc |= (UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * k, as: UInt64.self)) & wideMask) &+ wideStep }
            if acc & wideSign != 0 {
                return (w * lanes..<end * lanes).first { element($0) & mask == mask }
            }
            w = end
        }
        return (words * lanes..<n).first { element($0) & mask == mask }
    }
}
