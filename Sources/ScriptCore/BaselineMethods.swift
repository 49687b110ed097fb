/// The methods Script is compared with, under the same interface (ALGORITHM.md section 5).
public enum BaselineMethods {
    /// CDPruner: the query-conditioned greedy DPP over all tokens.
    public static func cdpruner(features: Matrix, weights: [Float], budget k: Int, pool: ComputePool) -> [Int] {
        let all = CandidateGroup(members: Array(0..<features.rows), features: features,
                                 inverseNorms: features.rowInverseNorms(pool: pool))
        let cosines = CandidateCosines(groups: [all], known: [:], pool: pool)
        return GreedyMAP.select(count: k, weights: weights, cosines: cosines, keepRows: false, pool: pool).picks.sorted()
    }

    /// DivPrune: greedy max-min diversity, starting from the token least similar to all others.
    public static func divprune(features: Matrix, budget k: Int, pool: ComputePool) -> [Int] {
        let xn = features.rowNormalized(pool: pool)
        let n = xn.rows, d = xn.cols
        var total = [Float](repeating: 0, count: d)
        var score = [Float](repeating: 0, count: n)
        var nearest = [Float](repeating: -.infinity, count: n)
        var picked = [Bool](repeating: false, count: n)
        var row = [Float](repeating: 0, count: n)
        var kept: [Int] = []
        xn.values.withUnsafeBufferPointer { xp in
            let x = xp.baseAddress!
            for i in 0..<n { for c in 0..<d { total[c] += x[i * d + c] } }
            total.withUnsafeBufferPointer { tp in
                score.withUnsafeMutableBufferPointer { sp in
                    BLAS.gemv(m: n, k: d, a: x, lda: d, x: tp.baseAddress!, y: sp.baseAddress!)
                }
            }
            var j = 0
            for i in 1..<max(1, n) where score[i] < score[j] { j = i }
            while kept.count < min(k, n) {
                kept.append(j)
                picked[j] = true
                row.withUnsafeMutableBufferPointer { rp in
                    BLAS.gemv(m: n, k: d, a: x, lda: d, x: x + j * d, y: rp.baseAddress!)
                }
                var next = -1
                var best = Float.infinity
                for i in 0..<n where !picked[i] {
                    if row[i] > nearest[i] { nearest[i] = row[i] }
                    if nearest[i] < best { best = nearest[i]; next = i }
                }
                if next < 0 { break }
                j = next
            }
        }
        return kept.sorted()
    }

    /// GSP alone, keeping the k least redundant tokens.
    public static func gsp(features: Matrix, budget k: Int, options: PruneOptions, pool: ComputePool) -> [Int] {
        GraphPruning.prune(features, inverseNorms: features.rowInverseNorms(pool: pool), keep: min(k, features.rows),
                           options: options, pool: pool).survivors
    }

    /// A seeded random subset: the k tokens with the smallest SplitMix64 draws.
    public static func random(tokens n: Int, budget k: Int, seed: UInt64) -> [Int] {
        var rng = SplitMix64(seed: seed)
        let keys = (0..<n).map { _ in rng.next() }
        return (0..<n).sorted { keys[$0] != keys[$1] ? keys[$0] < keys[$1] : $0 < $1 }.prefix(k).sorted()
    }

    /// Evenly spaced tokens, `round(i (N - 1) / (k - 1))`.
    public static func uniform(tokens n: Int, budget k: Int) -> [Int] {
        guard k > 1 else { return [0] }
        return (0..<min(k, n)).map { i in (2 * i * (n - 1) + (k - 1)) / (2 * (k - 1)) }
    }
}
