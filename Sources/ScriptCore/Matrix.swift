import CPlatform

/// A dense row-major matrix of Float32 values: the one tensor type of the pruning core.
///
/// Tokens are rows. Storage is a single contiguous array so rows can be handed to BLAS and to
/// the core's own vector loops without copies.
public struct Matrix: Sendable, Equatable {
    public let rows: Int
    public let cols: Int
    public var values: [Float] { didSet { bfloat16 = nil } }
    /// The values rounded to bfloat16 (`withBFloat16`) when the products of cosines run in it
    /// (`SimilarityPrecision.bf16`), rows `bfloat16Stride` apart; rows that are gathered or cut
    /// keep theirs.
    public internal(set) var bfloat16: [UInt16]?

    /// Elements from one row of `bfloat16` to the next: the width rounded up to a cache line (32
    /// elements), and a line more. oneDNN's bfloat16 kernels read a tile's rows in place: 4096
    /// wide, unpadded, they were 8 KB apart (16 KB for a graph's every other row), all in the
    /// same few cache sets. On Zen 4 (the bench's AnyRes), padding took the graph's 144 x 72
    /// tiles from 115 to 141 GFLOP/s a core, a group's 96 x 96 tiles from 140 to 193, the 64 x
    /// 128 bands between groups from 175 to 192; the line costs 0.8% more memory at 4096 wide.
    public var bfloat16Stride: Int { Self.bfloat16Stride(cols) }

    static func bfloat16Stride(_ cols: Int) -> Int { (cols + 31) / 32 * 32 + 32 }

    /// Equal shapes and values (the bfloat16 rounding follows from them).
    public static func == (l: Matrix, r: Matrix) -> Bool {
        l.rows == r.rows && l.cols == r.cols && l.values == r.values
    }

    /// Wraps `values` (row-major, `rows * cols` of them).
    public init(rows: Int, cols: Int, values: [Float]) {
        precondition(rows >= 0 && cols >= 0 && values.count == rows * cols,
                     "Matrix \(rows)x\(cols) needs \(rows * cols) values, got \(values.count)")
        self.rows = rows
        self.cols = cols
        self.values = values
        self.bfloat16 = nil
    }

    /// The same values, with their bfloat16 rounding computed (in bands of rows over `pool`)
    /// unless it is there.
    public func withBFloat16(pool: ComputePool) -> Matrix {
        guard bfloat16 == nil else { return self }
        var out = self
        let c = cols, source = values
        out.bfloat16 = Self.bfloat16Rows(rows, cols: c, pool: pool) { band, half in
            source.withUnsafeBufferPointer { src in
                Self.roundRows(src.baseAddress! + band.lowerBound * c, cols: c, count: band.count, into: half)
            }
        }
        return out
    }

    /// `rows` rows of bfloat16, `bfloat16Stride(cols)` apart (in huge pages where they hold
    /// whole ones), that `each(band, first)` writes: bands of at most 256 rows shared out over
    /// `pool`, `first` the band's first row.
    static func bfloat16Rows(_ rows: Int, cols: Int, pool: ComputePool,
                             _ each: @escaping @Sendable (Range<Int>, UnsafeMutablePointer<UInt16>) -> Void) -> [UInt16] {
        let ld = bfloat16Stride(cols)
        return [UInt16](unsafeUninitializedCapacity: rows * ld) { dst, initialized in
            _ = script_advise_huge_pages(dst.baseAddress, UInt(rows * ld * MemoryLayout<UInt16>.stride))
            let parts = DisjointBuffer(dst.baseAddress!, rows: rows, columns: ld)
            let bands = chunks(of: rows, size: 256)
            pool.forEach(bands.count) { b in each(bands[b], parts.write(rows: bands[b], columns: 0..<ld)) }
            initialized = rows * ld
        }
    }

    /// Rounds `count` consecutive rows `cols` wide from `src` into rows `bfloat16Stride(cols)`
    /// apart from `dst`, zeroing each row's padding.
    static func roundRows(_ src: UnsafePointer<Float>, cols c: Int, count: Int, into dst: UnsafeMutablePointer<UInt16>) {
        let ld = bfloat16Stride(c)
        for i in 0..<count {
            BFloat16Products.round(src + i * c, dst + i * ld, count: c)
            (dst + i * ld + c).initialize(repeating: 0, count: ld - c)
        }
    }

    /// A matrix of zeros.
    public init(zeros rows: Int, cols: Int) {
        self.init(rows: rows, cols: cols, values: [Float](repeating: 0, count: rows * cols))
    }

    /// One row as an array (a copy).
    public func row(_ i: Int) -> [Float] {
        Array(values[(i * cols)..<((i + 1) * cols)])
    }

    /// The rows at `indices`, in that order (with their bfloat16 rounding, when there is one).
    public func gatherRows(_ indices: [Int]) -> Matrix {
        guard hasFloat32 else { return gatherBFloat16Rows(indices) }
        for i in indices { precondition(i >= 0 && i < rows, "row \(i) of \(rows)") }
        var gathered = Matrix(rows: indices.count, cols: cols, values: Self.gather(values, indices, cols))
        gathered.bfloat16 = bfloat16.map { Self.gather($0, indices, bfloat16Stride) }
        return gathered
    }

    /// Rows `indices` for products in bfloat16 alone: their rounding, without their float32
    /// values (`values` is empty, `hasFloat32` false: only `CosineProducts` reads such rows, and
    /// it refuses them in float32). Survivors whose every cosine is computed up front need no
    /// more: the bench's AnyRes copies 24 MB less a request.
    func gatherBFloat16Rows(_ indices: [Int]) -> Matrix {
        guard let half = bfloat16 else { preconditionFailure("bfloat16 rows of a matrix without them") }
        for i in indices { precondition(i >= 0 && i < rows, "row \(i) of \(rows)") }
        var gathered = Matrix(rows: indices.count, cols: cols, roundedOnly: ())
        gathered.bfloat16 = Self.gather(half, indices, bfloat16Stride)
        return gathered
    }

    /// Whether the float32 values are here: false for rows gathered for bfloat16 products alone.
    public var hasFloat32: Bool { values.count == rows * cols }

    /// A matrix of `rows x cols` without float32 values, whose bfloat16 rows come next.
    init(rows: Int, cols: Int, roundedOnly: ()) {
        self.rows = rows
        self.cols = cols
        self.values = []
        self.bfloat16 = nil
    }

    /// Rows `indices` of the row-major `source` (rows `c` wide). Every element is written once,
    /// by its row's copy: no zeros first (megabytes a call), in huge pages where it holds whole
    /// ones (a fault each, not 512).
    private static func gather<T>(_ source: [T], _ indices: [Int], _ c: Int) -> [T] {
        [T](unsafeUninitializedCapacity: indices.count * c) { dst, initialized in
            _ = script_advise_huge_pages(dst.baseAddress, UInt(indices.count * c * MemoryLayout<T>.stride))
            source.withUnsafeBufferPointer { src in
                for (r, i) in indices.enumerated() { (dst.baseAddress! + r * c).initialize(from: src.baseAddress! + i * c, count: c) }
            }
            initialized = indices.count * c
        }
    }

    /// A contiguous band of rows.
    public func rows(_ range: Range<Int>) -> Matrix {
        let span = (range.lowerBound * cols)..<(range.upperBound * cols)
        var band = Matrix(rows: range.count, cols: cols, values: Array(values[span]))
        let ld = bfloat16Stride
        band.bfloat16 = bfloat16.map { Array($0[(range.lowerBound * ld)..<(range.upperBound * ld)]) }
        return band
    }

    /// Checks that the arithmetic can use every value: none NaN or infinite, and no row whose
    /// squares sum past Float's range (its dot products, cosines included, would be infinite).
    /// Both are read from the rows' inverse norms (`rowInverseNorms`; computed here when not
    /// given, one pass): the values are searched only when a norm is NaN, and an overflowing row
    /// is one whose norm is positive but below `1 / sqrt(Float.greatestFiniteMagnitude)`
    /// (`rowInverseNorms` computes such rows in Double).
    /// - Parameter rowOffset: added to the row an error names.
    public func checkUsable(_ what: String, inverseNorms: [Float]? = nil, rowOffset: Int = 0) throws(PruneError) {
        let inv = inverseNorms ?? rowInverseNorms()
        if let bad = firstNonFinite(inverseNorms: inv) {
            throw .nonFinite(what: what, row: rowOffset + bad / cols, column: bad % cols)
        }
        let smallest = 1 / Float.greatestFiniteMagnitude.squareRoot()
        if let row = inv.firstIndex(where: { $0 > 0 && $0 < smallest }) {
            throw .overflow(what: what, row: rowOffset + row)
        }
    }

    /// As `firstNonFinite()`, given the rows' inverse norms (`rowInverseNorms`, NaN for a row
    /// holding NaN or infinity): the values are searched only when some norm is NaN.
    public func firstNonFinite(inverseNorms: [Float]?) -> Int? {
        guard inverseNorms?.contains(where: \.isNaN) ?? true else { return nil }
        return firstNonFinite()
    }

    /// Index of the first NaN or infinite value, if any.
    public func firstNonFinite() -> Int? {
        values.withUnsafeBufferPointer { p -> Int? in
            // x * 0 is 0 for finite x and NaN for NaN and infinities: one vector pass first.
            let n = p.count
            var acc = SIMD16<Float>(repeating: 0)
            var i = 0
            while i + 16 <= n {
                acc += UnsafeRawPointer(p.baseAddress! + i).loadUnaligned(as: SIMD16<Float>.self) * 0
                i += 16
            }
            var tail: Float = 0
            while i < n { tail += p[i] * 0; i += 1 }
            guard acc.sum() + tail != 0 || (acc.sum() + tail).isNaN else { return nil }
            return p.firstIndex { !$0.isFinite }
        }
    }
}
