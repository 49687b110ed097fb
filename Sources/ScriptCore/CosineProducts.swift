/// The dot products behind the core's cosines, between rows of feature matrices: float32
/// through BLAS, or bfloat16 through oneDNN where both matrices carry their bfloat16 rounding
/// (`Matrix.withBFloat16`, `SimilarityPrecision.bf16`).
enum CosineProducts {
    /// Rows of one operand: `count` rows of `matrix` from `first`, every `step`-th.
    struct Rows {
        let matrix: Matrix
        let first: Int
        let step: Int
        let count: Int

        init(_ matrix: Matrix, first: Int, step: Int = 1, count: Int) {
            precondition(count == 0 || (first >= 0 && first + (count - 1) * step < matrix.rows), "rows \(first)+\(step)x\(count) of \(matrix.rows)")
            self.matrix = matrix
            self.first = first
            self.step = step
            self.count = count
        }

        init(_ matrix: Matrix, _ range: Range<Int>) { self.init(matrix, first: range.lowerBound, count: range.count) }
    }

    /// `C[a.count x b.count]`: the dot product of each row of `a` with each row of `b`; rows of
    /// `c` are `ldc` apart.
    static func products(_ a: Rows, _ b: Rows, into c: UnsafeMutablePointer<Float>, ldc: Int) {
        let d = a.matrix.cols
        precondition(b.matrix.cols == d, "widths \(d) and \(b.matrix.cols)")
        guard a.count > 0, b.count > 0 else { return }
        if let ha = a.matrix.bfloat16, let hb = b.matrix.bfloat16 {
            let ld = a.matrix.bfloat16Stride
            ha.withUnsafeBufferPointer { ap in
                hb.withUnsafeBufferPointer { bp in
                    let a0 = ap.baseAddress! + a.first * ld, b0 = bp.baseAddress! + b.first * ld
                    if b.count % bfloat16Columns == 0 {
                        BFloat16Products.gemmABt(m: a.count, n: b.count, k: d, a: a0, lda: a.step * ld, b: b0, ldb: b.step * ld, c: c, ldc: ldc)
                    } else {
                        paddedBFloat16(m: a.count, n: b.count, k: d, a: a0, lda: a.step * ld, b: b0, ldb: b.step * ld, ld: ld, c: c, ldc: ldc)
                    }
                }
            }
            return
        }
        precondition(a.matrix.hasFloat32 && b.matrix.hasFloat32, "float32 products of rows gathered for bfloat16 alone")
        a.matrix.values.withUnsafeBufferPointer { ap in
            b.matrix.values.withUnsafeBufferPointer { bp in
                BLAS.gemmABt(m: a.count, n: b.count, k: d, a: ap.baseAddress! + a.first * d, lda: a.step * d,
                             b: bp.baseAddress! + b.first * d, ldb: b.step * d, c: c, ldc: ldc)
            }
        }
    }

    /// Columns a bfloat16 product wants a multiple of: oneDNN's kernels (2.6, AVX512-BF16) run a
    /// remainder of other widths at about half their rate (96 x 51 took longer than 96 x 64),
    /// while a remainder of rows costs nothing more.
    static let bfloat16Columns = 16

    /// A bfloat16 product whose `n` is not a multiple of `bfloat16Columns`: its columns up to the
    /// last multiple in one product, then the remainder's rows of `B` copied with zero rows after
    /// them, a product of that width, and the remainder's columns kept (a column's values do not
    /// depend on the others'). A shard's groups' last tiles (96 x 51: 0.34 ms; now 0.19 + 0.09)
    /// and the bands between groups (64 x 147: 0.47 ms; now 0.36 + 0.06) run faster.
    private static func paddedBFloat16(m: Int, n: Int, k: Int, a: UnsafePointer<UInt16>, lda: Int, b: UnsafePointer<UInt16>, ldb: Int,
                                       ld: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let whole = n / bfloat16Columns * bfloat16Columns, rest = n - whole, wide = bfloat16Columns
        if whole > 0 {
            BFloat16Products.gemmABt(m: m, n: whole, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc)
        }
        let rows = [UInt16](unsafeUninitializedCapacity: wide * ld) { dst, initialized in
            for j in 0..<rest { (dst.baseAddress! + j * ld).initialize(from: b + (whole + j) * ldb, count: ld) }
            (dst.baseAddress! + rest * ld).initialize(repeating: 0, count: (wide - rest) * ld)
            initialized = wide * ld
        }
        var out = [Float](unsafeUninitializedCapacity: m * wide) { _, initialized in initialized = m * wide }
        rows.withUnsafeBufferPointer { bp in
            out.withUnsafeMutableBufferPointer { op in
                BFloat16Products.gemmABt(m: m, n: wide, k: k, a: a, lda: lda, b: bp.baseAddress!, ldb: ld, c: op.baseAddress!, ldc: wide)
                for i in 0..<m { (c + i * ldc + whole).update(from: op.baseAddress! + i * wide, count: rest) }
            }
        }
    }

    /// The upper triangle (with the diagonal) of the rows' products with themselves; below it
    /// `c` is left as it was in float32 (a symmetric product) and written in bfloat16 (the
    /// whole square, at the same cost there).
    static func selfProducts(_ a: Rows, into c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard a.matrix.bfloat16 == nil else { return products(a, a, into: c, ldc: ldc) }
        let d = a.matrix.cols
        precondition(a.matrix.hasFloat32, "float32 products of rows gathered for bfloat16 alone")
        a.matrix.values.withUnsafeBufferPointer { ap in
            BLAS.syrkUpper(n: a.count, k: d, a: ap.baseAddress! + a.first * d, lda: a.step * d, c: c, ldc: ldc)
        }
    }
}
