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
                    BFloat16Products.gemmABt(m: a.count, n: b.count, k: d, a: ap.baseAddress! + a.first * ld, lda: a.step * ld,
                                             b: bp.baseAddress! + b.first * ld, ldb: b.step * ld, c: c, ldc: ldc)
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
