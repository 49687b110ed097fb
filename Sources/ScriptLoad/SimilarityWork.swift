import ScriptCore

/// The similarity arithmetic of a run: what it cannot avoid (the BLAS bound) and what the core
/// computes, both in flops (2 a multiply-add over the feature width).
///
/// The bound counts every cosine the algorithm needs once, as if the picks were known in
/// advance: each shard's bipartite GSP products; within a shard, the same-side pairs of its
/// survivors that hold a pick (cross-side pairs come from GSP); in the global greedy, the pairs
/// of candidates from different proposals that hold a pick (pairs within one proposal come
/// with it); less the pairs of the last pick of each greedy (it updates nothing). A pair needed
/// twice (both its tokens picked) counts once. The core computes more: all same-side pairs of
/// the survivors (the upper triangle of each side) and all pairs across proposals.
public enum SimilarityWork {
    /// Flops: what any run must compute, and what the core computes.
    public struct Count: Sendable {
        /// Flops of the cosines any run must compute.
        public var needed = 0.0
        /// Flops of the products the core runs.
        public var computed = 0.0
    }

    public static func count(of r: PruneResult, request: PruneRequest, options: PruneOptions, pool: ComputePool) -> Count {
        let d = 2 * Double(request.features.cols)
        let n = request.tokenCount, k = r.budget
        let kept = Set(r.indices)
        var c = Count()
        if r.sharded {
            for (p, s) in zip(r.proposals, request.effectiveShards) {
                let share = ShardJob.budgetShare(shardSize: s.count, totalTokens: n, budget: k)
                shard(request.features.rows(s), offset: s.lowerBound, keep: share, picks: Set(p.indices), options: options, pool: pool,
                      d: d, into: &c)
            }
            let sizes = r.proposals.map { Double($0.indices.count) }
            let picks = r.proposals.map { p in Double(p.indices.filter(kept.contains).count) }
            let all = pairs(sizes.reduce(0, +)) - sizes.map(pairs).reduce(0, +)
            let unpicked = zip(sizes, picks).map { $0 - $1 }
            let neither = pairs(unpicked.reduce(0, +)) - unpicked.map(pairs).reduce(0, +)
            // The last pick's pairs with candidates never picked in other proposals.
            let last = unpicked.reduce(0, +) - (unpicked.max() ?? 0)
            c.needed += (all - neither - last) * d
            c.computed += all * d
        } else {
            shard(request.features, offset: 0, keep: k, picks: kept, options: options, pool: pool, d: d, into: &c)
        }
        return c
    }

    /// One shard's GSP and greedy; `picks` global indices of its picked tokens.
    private static func shard(_ x: Matrix, offset: Int, keep share: Int, picks: Set<Int>, options: PruneOptions,
                              pool: ComputePool, d: Double, into c: inout Count) {
        let m = x.rows
        let gsp = Double((m + 1) / 2) * Double(m / 2) * d
        c.needed += gsp
        c.computed += gsp
        let keep = GraphPruning.keepCount(shardSize: m, budgetShare: share, ratio: options.gspRatio)
        let survivors = ScriptPruning.graph(x, inverseNorms: x.rowInverseNorms(pool: pool), keep: keep, options: options, pool: pool).survivors
        var sides = [0.0, 0.0], picked = [0.0, 0.0]
        for s in survivors {
            sides[s % 2] += 1
            if picks.contains(offset + s) { picked[s % 2] += 1 }
        }
        let unpicked = zip(sides, picked).map { $0 - $1 }
        c.needed += (zip(sides, unpicked).map { pairs($0) - pairs($1) }.reduce(0, +) - (unpicked.min() ?? 0)) * d
        c.computed += sides.map { $0 * ($0 + 1) / 2 }.reduce(0, +) * d
    }

    private static func pairs(_ n: Double) -> Double { n * (n - 1) / 2 }
}
