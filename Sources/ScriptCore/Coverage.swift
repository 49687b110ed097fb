/// How well a kept set represents every token: the mean over all tokens of the best cosine to a
/// kept token (a kept token scores its own 1). Used by evaluation, not by pruning.
public enum Coverage {
    public static func mean(features x: Matrix, kept: [Int], pool: ComputePool) -> Double {
        guard x.rows > 0, !kept.isEmpty else { return 0 }
        let inv = x.rowInverseNorms(pool: pool)
        let k = x.gatherRows(kept)
        let invK = kept.map { inv[$0] }
        let d = x.cols
        let bands = chunks(of: x.rows, size: 512)
        var best = [Float](repeating: 0, count: x.rows)
        let n = kept.count
        best.withUnsafeMutableBufferPointer { bp in
            let out = DisjointBuffer(bp)
            pool.forEach(bands.count) { b in
                let band = bands[b]
                let dst = out.write(band)
                var c = [Float](repeating: 0, count: band.count * n)
                c.withUnsafeMutableBufferPointer { cp in
                    x.values.withUnsafeBufferPointer { xp in
                        k.values.withUnsafeBufferPointer { kp in
                            BLAS.gemmABt(m: band.count, n: n, k: d, a: xp.baseAddress! + band.lowerBound * d, lda: d,
                                         b: kp.baseAddress!, ldb: d, c: cp.baseAddress!, ldc: n)
                        }
                    }
                    VectorMath.scale(cp.baseAddress!, rows: band.count, cols: n, ldc: n,
                                     rowInverse: Array(inv[band]), colInverse: invK)
                }
                for r in 0..<band.count {
                    var m = -Float.infinity
                    for j in 0..<n where c[r * n + j] > m { m = c[r * n + j] }
                    dst[r] = m
                }
            }
        }
        var sum = 0.0
        for v in best { sum += Double(v) }
        return sum / Double(x.rows)
    }
}
