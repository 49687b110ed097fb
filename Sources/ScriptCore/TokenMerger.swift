/// The authors' merge step: every pruned token is averaged into the kept token of its own shard
/// it is most similar to, so the language model still sees a trace of what was dropped.
public enum TokenMerger {
    /// Kept features (rows in the order of `kept`), each the mean of itself and the pruned tokens
    /// that joined it. Tokens of a shard with no kept token merge nowhere.
    public static func merge(features: Matrix, kept: [Int], shards: [Range<Int>], pool: ComputePool) -> Matrix {
        var rows: [Float] = []
        rows.reserveCapacity(kept.count * features.cols)
        var start = 0
        for shard in shards {
            var end = start
            while end < kept.count && shard.contains(kept[end]) { end += 1 }
            let local = kept[start..<end].map { $0 - shard.lowerBound }
            rows += mergeShard(features: features.rows(shard), kept: local, pool: pool).values
            start = end
        }
        precondition(start == kept.count, "kept indices must be ascending and inside the shards")
        return Matrix(rows: kept.count, cols: features.cols, values: rows)
    }

    /// One shard's part of `merge`: `features` are the shard's rows, `kept` its kept tokens
    /// (local positions, ascending). A worker holding the shard computes exactly this.
    public static func mergeShard(features: Matrix, kept: [Int], pool: ComputePool) -> Matrix {
        let d = features.cols
        var sums = features.gatherRows(kept)
        guard !kept.isEmpty else { return sums }
        let keptSet = Set(kept)
        let pruned = (0..<features.rows).filter { !keptSet.contains($0) }
        var counts = [Float](repeating: 1, count: kept.count)
        if !pruned.isEmpty {
            let xn = features.rowNormalized(pool: pool)
            let a = xn.gatherRows(pruned), b = xn.gatherRows(kept)
            let m = kept.count
            var cos = [Float](repeating: 0, count: pruned.count * m)
            a.values.withUnsafeBufferPointer { ap in
                b.values.withUnsafeBufferPointer { bp in
                    cos.withUnsafeMutableBufferPointer { cp in
                        BLAS.gemmABt(m: pruned.count, n: m, k: d, a: ap.baseAddress!, lda: d,
                                     b: bp.baseAddress!, ldb: d, c: cp.baseAddress!, ldc: m)
                    }
                }
            }
            features.values.withUnsafeBufferPointer { fp in
                sums.values.withUnsafeMutableBufferPointer { sp in
                    for (r, t) in pruned.enumerated() {
                        var best = 0
                        for c in 1..<m where cos[r * m + c] > cos[r * m + best] { best = c }
                        counts[best] += 1
                        let dst = sp.baseAddress! + best * d, src = fp.baseAddress! + t * d
                        for c in 0..<d { dst[c] += src[c] }
                    }
                }
            }
        }
        for slot in 0..<kept.count {
            let inv = counts[slot]
            for c in 0..<d { sums.values[slot * d + c] /= inv }
        }
        return sums
    }
}
