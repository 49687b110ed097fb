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
        let best = UncheckedBox(UnsafeMutableBufferPointer<Float>.allocate(capacity: x.rows))
        defer { best.value.deallocate() }
        x.values.withUnsafeBufferPointer { xp in
            k.values.withUnsafeBufferPointer { kp in
                pool.forEach(bands.count) { b in
                    let band = bands[b]
                    var c = [Float](repeating: 0, count: band.count * kept.count)
                    c.withUnsafeMutableBufferPointer { cp in
                        BLAS.gemmABt(m: band.count, n: kept.count, k: d, a: xp.baseAddress! + band.lowerBound * d, lda: d,
                                     b: kp.baseAddress!, ldb: d, c: cp.baseAddress!, ldc: kept.count)
                        let rowInv = Array(inv[band])
                        VectorMath.scale(cp.baseAddress!, rows: band.count, cols: kept.count, ldc: kept.count,
                                         rowInverse: rowInv, colInverse: invK)
                    }
                    for r in 0..<band.count {
                        var m = -Float.infinity
                        for j in 0..<kept.count where c[r * kept.count + j] > m { m = c[r * kept.count + j] }
                        best.value[band.lowerBound + r] = m
                    }
                }
            }
        }
        var sum = 0.0
        for i in 0..<x.rows { sum += Double(best.value[i]) }
        return sum / Double(x.rows)
    }
}
