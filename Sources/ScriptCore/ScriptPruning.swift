/// Script: graph-structured pruning, then query-conditioned greedy DPP selection, monolithic
/// or split into shards the GreeDi way (ALGORITHM.md sections 3 and 4).
///
/// The sharded form is split into the two halves the cluster runs on different processes:
/// `propose` (a worker, per shard) and `selectGlobal` (the coordinator).
public enum ScriptPruning {
    /// Monolithic Script over all tokens: kept indices, ascending.
    public static func monolithic(features: Matrix, inverseNorms: [Float]? = nil, weights: [Float], budget k: Int,
                                  options: PruneOptions, pool: ComputePool) -> [Int] {
        let keep = GraphPruning.keepCount(shardSize: features.rows, budgetShare: k, ratio: options.gspRatio)
        let (survivors, selection) = shardSelection(features, inverseNorms: inverseNorms, weights: weights, keep: keep, picks: k,
                                                    keepRows: false, options: options, pool: pool)
        return selection.picks.map { survivors[$0] }.sorted()
    }

    /// Graph pruning and the local greedy proposal for one shard (a worker's whole job).
    /// - Parameter inverseNorms: the features' inverse row norms, when the caller has them.
    public static func propose(_ job: ShardJob, inverseNorms: [Float]? = nil, pool: ComputePool) -> ShardProposal {
        let g = graph(job.features, inverseNorms: inverseNorms ?? job.features.rowInverseNorms(pool: pool), keep: keepCount(job),
                      options: job.options, pool: pool)
        return propose(job, graph: g, pool: pool)
    }

    /// A proposal from the greedy of the shard starting at global index `offset`: picks
    /// ascending, with the cosine block among them.
    static func proposal(offset: Int, survivors: [Int], selection: GreedyMAP.Selection) -> ShardProposal {
        let n = survivors.count
        // Reorder picks ascending, with the cosine block among them in the same order.
        let order = selection.picks.indices.sorted { selection.picks[$0] < selection.picks[$1] }
        let p = order.count
        var block = [Float](repeating: 0, count: p * p)
        for (r, pr) in order.enumerated() {
            let rowBase = pr * n
            for (c, pc) in order.enumerated() {
                block[r * p + c] = selection.rows[rowBase + selection.picks[pc]]
            }
            // The diagonal the greedy started from, wherever it came from.
            block[r * p + r] = selection.diagonal[selection.picks[pr]]
        }
        return ShardProposal(offset: offset,
                             indices: order.map { offset + survivors[selection.picks[$0]] },
                             cosines: block, survivors: n)
    }

    /// The coordinator's greedy over the union of all proposals: kept indices, ascending.
    /// - Parameter features: raw features of the whole request (only proposed rows are read).
    public static func selectGlobal(proposals: [ShardProposal], features: Matrix, weights: [Float],
                                    budget k: Int, pool: ComputePool) -> [Int] {
        // The proposals' rows gathered side by side (megabytes each, in video).
        let groups = pool.map(proposals.count) { g in
            GlobalSelection.Group(proposal: proposals[g], rows: features.gatherRows(proposals[g].indices),
                                  weights: proposals[g].indices.map { weights[$0] })
        }
        return GlobalSelection.select(groups, budget: k, pool: pool)
    }

    /// As above, for a caller that holds the features in another form.
    /// - Parameter rows: the raw features of the given tokens, in that order.
    public static func selectGlobal(proposals: [ShardProposal], rows gather: ([Int]) -> Matrix, weights: [Float],
                                    budget k: Int, pool: ComputePool) -> [Int] {
        let groups = proposals.map { GlobalSelection.Group(proposal: $0, rows: gather($0.indices), weights: $0.indices.map { weights[$0] }) }
        return GlobalSelection.select(groups, budget: k, pool: pool)
    }

    /// Sharded Script in one process: `propose` on every shard, then `selectGlobal`. Each shard
    /// is read where it lies in `features` (no copy), with the same products a worker holding
    /// it as a `ShardJob` runs.
    /// - Parameter inverseNorms: the features' inverse row norms, when the caller has them.
    public static func sharded(features: Matrix, inverseNorms: [Float]? = nil, weights: [Float], shards: [Range<Int>], budget k: Int,
                               options: PruneOptions, pool: ComputePool) -> (kept: [Int], proposals: [ShardProposal]) {
        let n = features.rows
        let inv = inverseNorms ?? features.rowInverseNorms(pool: pool)
        let ps = pool.map(shards.count) { s in
            let r = shards[s]
            let share = ShardJob.budgetShare(shardSize: r.count, totalTokens: n, budget: k)
            let keep = GraphPruning.keepCount(shardSize: r.count, budgetShare: share, ratio: options.gspRatio)
            let g = graph(features, rows: r, inverseNorms: Array(inv[r]), keep: keep, options: options, pool: pool)
            let limit = ShardJob.proposalLimit(shardSize: r.count, totalTokens: n, budget: k, alpha: options.alpha)
            let selection = g.select(weights: Array(weights[r]), picks: limit, keepRows: true, pool: pool)
            return proposal(offset: r.lowerBound, survivors: g.survivors, selection: selection)
        }
        return (selectGlobal(proposals: ps, features: features, weights: weights, budget: k, pool: pool), ps)
    }

    /// GSP keeping `keep` tokens, then the greedy's first `picks` picks over the survivors.
    static func shardSelection(_ x: Matrix, inverseNorms: [Float]? = nil, weights: [Float], keep: Int, picks: Int, keepRows: Bool,
                               options: PruneOptions, pool: ComputePool) -> ([Int], GreedyMAP.Selection) {
        let g = graph(x, inverseNorms: inverseNorms ?? x.rowInverseNorms(pool: pool), keep: keep, options: options, pool: pool)
        return (g.survivors, g.select(weights: weights, picks: picks, keepRows: keepRows, pool: pool))
    }

    /// Whether Script's stages of a shard of `rows` tokens (`graph`, `propose`) read nothing of
    /// its features but their norms and their bfloat16 rounding: in bf16, with every cosine among
    /// its survivors computed up front. A worker then decodes a shard to its rounding alone.
    public static func readsOnlyBFloat16(shardRows rows: Int, options: PruneOptions) -> Bool {
        options.method == .script && options.similarity == .bf16 && rows <= CandidateCosines.denseLimit
    }

    /// Graph pruning of one shard and the cosines among its survivors: everything its greedy
    /// needs but the weights (a worker computes it while the request's weights are worked out).
    public static func graph(_ x: Matrix, inverseNorms inv: [Float], keep: Int, options: PruneOptions, pool: ComputePool) -> ShardGraph {
        graph(x, rows: 0..<x.rows, inverseNorms: inv, keep: keep, options: options, pool: pool)
    }

    /// As above, for the shard at rows `shard` of `x` (`inv` by position in the shard).
    static func graph(_ x: Matrix, rows shard: Range<Int>, inverseNorms inv: [Float], keep: Int, options: PruneOptions,
                      pool: ComputePool) -> ShardGraph {
        let gsp = GraphPruning.prune(x, rows: shard, inverseNorms: inv, keep: keep, options: options, pool: pool)
        let survivors = gsp.survivors
        // Survivors split by side of the bipartite graph; cross-side cosines come from S.
        var sideA: [Int] = [], sideB: [Int] = []
        for (c, pos) in survivors.enumerated() { if pos % 2 == 0 { sideA.append(c) } else { sideB.append(c) } }
        let nb = gsp.bCount
        var cross = [Float](repeating: 0, count: sideA.count * sideB.count)
        for (r, ca) in sideA.enumerated() {
            let a = survivors[ca] / 2
            for (c, cb) in sideB.enumerated() { cross[r * sideB.count + c] = gsp.similarity[a * nb + survivors[cb] / 2] }
        }
        // The two sides' rows are gathered side by side (megabytes each, at image size). In
        // bfloat16, with every cosine among them computed here (up front), only their rounding.
        let sides = [sideA, sideB], first = shard.lowerBound
        let roundedOnly = x.bfloat16 != nil && survivors.count <= CandidateCosines.denseLimit
        let groups = pool.map(2) { s -> CandidateGroup in
            let positions = sides[s].map { survivors[$0] }, rows = positions.map { first + $0 }
            return CandidateGroup(members: sides[s], features: roundedOnly ? x.gatherBFloat16Rows(rows) : x.gatherRows(rows),
                                  inverseNorms: positions.map { inv[$0] })
        }
        let cosines = CandidateCosines(groups: groups, known: [GroupPair(0, 1): cross], pool: pool)
        return ShardGraph(survivors: survivors, groups: groups, blocks: cosines.knownBlocks)
    }

    /// The local proposal of a shard whose graph is built (`graph(_:inverseNorms:keep:options:pool:)`
    /// with `job.budgetShare`): the same as `propose(job)`.
    public static func propose(_ job: ShardJob, graph g: ShardGraph, pool: ComputePool) -> ShardProposal {
        let selection = g.select(weights: job.weights, picks: job.proposalLimit, keepRows: true, pool: pool)
        return proposal(offset: job.offset, survivors: g.survivors, selection: selection)
    }

    /// How many tokens graph pruning keeps of the job's shard.
    public static func keepCount(_ job: ShardJob) -> Int {
        GraphPruning.keepCount(shardSize: job.features.rows, budgetShare: job.budgetShare, ratio: job.options.gspRatio)
    }
}

/// A shard after graph pruning: its survivors and the cosines among them (those of the
/// bipartite graph, and each side's with itself when they are few enough to compute up front).
public struct ShardGraph: Sendable {
    /// Local positions kept, ascending.
    public let survivors: [Int]
    let groups: [CandidateGroup]
    let blocks: [GroupPair: [Float]]
    /// Candidates at most for which the greedy computes missing cosines up front.
    var upFrontLimit = CandidateCosines.denseLimit

    /// The greedy's first `picks` picks over the survivors (`weights` of the shard's tokens).
    func select(weights: [Float], picks: Int, keepRows: Bool, pool: ComputePool) -> GreedyMAP.Selection {
        let cosines = CandidateCosines(groups: groups, known: blocks, upFrontLimit: upFrontLimit, pool: pool)
        let w = survivors.map { weights[$0] }
        return GreedyMAP.select(count: picks, weights: w, cosines: cosines, keepRows: keepRows, pool: pool)
    }
}
