/// The authors' merge step: every pruned token is averaged into the kept token of its own shard
/// it is most similar to, so the language model still sees a trace of what was dropped.
public enum TokenMerger {
    /// Kept features (rows in the order of `kept`), each the mean of itself and the pruned tokens
    /// that joined it. Tokens of a shard with no kept token merge nowhere.
    public static func merge(features: Matrix, kept: [Int], shards: [Range<Int>], pool: ComputePool) -> Matrix {
        let d = features.cols
        let xn = features.rowNormalized(pool: pool)
        var sums = features.gatherRows(kept)
        var counts = [Float](repeating: 1, count: kept.count)
        let keptSet = Set(kept)
        let slotOf = Dictionary(uniqueKeysWithValues: kept.enumerated().map { ($1, $0) })
        for shard in shards {
            let keptHere = kept.filter { shard.contains($0) }
            let pruned = shard.filter { !keptSet.contains($0) }
            guard !keptHere.isEmpty, !pruned.isEmpty else { continue }
            let a = xn.gatherRows(pruned), b = xn.gatherRows(keptHere)
            var cos = [Float](repeating: 0, count: pruned.count * keptHere.count)
            a.values.withUnsafeBufferPointer { ap in
                b.values.withUnsafeBufferPointer { bp in
                    cos.withUnsafeMutableBufferPointer { cp in
                        BLAS.gemmABt(m: pruned.count, n: keptHere.count, k: d, a: ap.baseAddress!, lda: d,
                                     b: bp.baseAddress!, ldb: d, c: cp.baseAddress!, ldc: keptHere.count)
                    }
                }
            }
            let m = keptHere.count
            features.values.withUnsafeBufferPointer { fp in
                sums.values.withUnsafeMutableBufferPointer { sp in
                    for (r, t) in pruned.enumerated() {
                        var best = 0
                        for c in 1..<m where cos[r * m + c] > cos[r * m + best] { best = c }
                        let slot = slotOf[keptHere[best]]!
                        counts[slot] += 1
                        let dst = sp.baseAddress! + slot * d, src = fp.baseAddress! + t * d
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
