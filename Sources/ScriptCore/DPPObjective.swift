/// The objective the greedy maximises, for comparing kept sets: the log determinant of a kept
/// set's kernel `L = diag(w) S diag(w)` (`S` the float32 cosines of its features, `w` the
/// relevance weights), factorised in double precision.
public enum DPPObjective {
    /// `log det L` over the rows `kept` of `features`; `-infinity` when `L` is singular there.
    public static func logDet(features: Matrix, weights: [Float], kept: [Int], pool: ComputePool) -> Double {
        let k = kept.count
        guard k > 0 else { return 0 }
        // float32 products whatever the request ran in: the same yardstick for every kept set.
        let rows = Matrix(rows: k, cols: features.cols, values: features.gatherRows(kept).values)
        let inv = rows.rowInverseNorms(pool: pool)
        var s = [Float](repeating: 0, count: k * k)
        let bands = chunks(of: k, size: 64)
        s.withUnsafeMutableBufferPointer { sp in
            let out = DisjointBuffer(sp.baseAddress!, rows: k, columns: k)
            pool.forEach(bands.count) { b in
                let band = bands[b]
                CosineProducts.products(.init(rows, band), .init(rows, 0..<k), into: out.write(rows: band, columns: 0..<k), ldc: k)
            }
        }
        var l = [Double](repeating: 0, count: k * k)
        for i in 0..<k {
            for j in 0..<k {
                let cosine = Double((s[i * k + j] * inv[i]) * inv[j])
                l[i * k + j] = Double(weights[kept[i]]) * cosine * Double(weights[kept[j]])
            }
        }
        return choleskyLogDet(&l, k)
    }

    /// `log det` of the symmetric `n x n` matrix `a` (overwritten by its Cholesky factor, row by
    /// row in the lower triangle), or `-infinity` when it is not positive definite.
    static func choleskyLogDet(_ a: inout [Double], _ n: Int) -> Double {
        a.withUnsafeMutableBufferPointer { p in
            var sum = 0.0
            for i in 0..<n {
                let ri = p.baseAddress! + i * n
                for j in 0..<i {
                    let rj = p.baseAddress! + j * n
                    var v = ri[j]
                    for t in 0..<j { v -= ri[t] * rj[t] }
                    ri[j] = v / rj[j]
                }
                var d = ri[i]
                for t in 0..<i { d -= ri[t] * ri[t] }
                guard d > 0 else { return -Double.infinity }
                ri[i] = d.squareRoot()
                sum += Math.log(d)
            }
            return sum
        }
    }
}
