/// Script+ (Docs/ALGORITHM.md, "Script+"): Script whose graph stage cannot discard what the
/// query needs. Per shard: a graph over consecutive units when the layout has them
/// (`UnitGraph`), redundancy discounted by relevance before the least redundant survive, then
/// Script's greedy, proposing a token more for every highly relevant token of the shard;
/// sharded, Script's global selection over the proposals.
///
/// A shard's work is a function of the shard alone (its features, weights, relevance, unit
/// size, offset, the request's N and k, and the options), so a worker computes exactly what the
/// in-process pipeline does. It splits in two: `graph` needs neither weights nor relevance,
/// `propose` needs both.
public enum ScriptPlus {
    /// Monolithic Script+ over all tokens: kept indices, ascending. The same as the first `k`
    /// picks of one shard `[0, N)`.
    public static func monolithic(features: Matrix, inverseNorms: [Float]? = nil, weights: [Float], relevance: [Float]?,
                                  unitTokens: Int?, budget k: Int, options: PruneOptions, pool: ComputePool) -> [Int] {
        let job = ShardJob(features: features, weights: weights, offset: 0, totalTokens: features.rows, budget: k,
                           options: options, relevance: relevance, unitTokens: unitTokens)
        let inv = inverseNorms ?? features.rowInverseNorms(pool: pool)
        let (survivors, selection) = select(job, graph: graph(job, inverseNorms: inv, pool: pool), inverseNorms: inv,
                                            picks: k, keepRows: false, pool: pool)
        return selection.picks.map { survivors[$0] }.sorted()
    }

    /// Sharded Script+ in one process: `propose` on every shard, then Script's global selection.
    public static func sharded(features: Matrix, weights: [Float], relevance: [Float]?, unitTokens: Int?, shards: [Range<Int>],
                               budget k: Int, options: PruneOptions, pool: ComputePool) -> (kept: [Int], proposals: [ShardProposal]) {
        let ps = pool.map(shards.count) { s in
            propose(job(shard: shards[s], features: features, weights: weights, relevance: relevance, unitTokens: unitTokens,
                        budget: k, options: options), pool: pool)
        }
        return (ScriptPruning.selectGlobal(proposals: ps, features: features, weights: weights, budget: k, pool: pool), ps)
    }

    /// The job of one shard of a request, as a worker receives it.
    public static func job(shard r: Range<Int>, features: Matrix, weights: [Float], relevance: [Float]?, unitTokens: Int?,
                           budget k: Int, options: PruneOptions) -> ShardJob {
        ShardJob(features: features.rows(r), weights: Array(weights[r]), offset: r.lowerBound, totalTokens: features.rows,
                 budget: k, options: options, relevance: relevance.map { Array($0[r]) }, unitTokens: unitTokens)
    }

    /// A shard's whole job: graph, survivors, the local greedy's proposal.
    public static func propose(_ job: ShardJob, inverseNorms: [Float]? = nil, pool: ComputePool) -> ShardProposal {
        let inv = inverseNorms ?? job.features.rowInverseNorms(pool: pool)
        return propose(job, graph: graph(job, inverseNorms: inv, pool: pool), inverseNorms: inv, pool: pool)
    }

    /// The half of a shard's job that needs neither weights nor relevance: its graph.
    public static func graph(_ job: ShardJob, inverseNorms: [Float], pool: ComputePool) -> UnitGraph {
        UnitGraph.build(job.features, inverseNorms: inverseNorms, unitTokens: job.unitTokens, options: job.options, pool: pool)
    }

    /// The other half, once weights and relevance are known: the shard's proposal.
    public static func propose(_ job: ShardJob, graph g: UnitGraph, inverseNorms: [Float], pool: ComputePool) -> ShardProposal {
        let (survivors, selection) = select(job, graph: g, inverseNorms: inverseNorms, picks: proposalLimit(job), keepRows: true,
                                            pool: pool)
        return ScriptPruning.proposal(offset: job.offset, survivors: survivors, selection: selection)
    }

    /// Tokens a shard proposes at most: Script's `ceil(alpha * k * n_s / N)`, plus one for every
    /// token of the shard whose relevance reaches `floorRelevance` beyond the shard's share of
    /// the budget (the proposal floor), never beyond `k` for that.
    public static func proposalLimit(_ job: ShardJob) -> Int {
        proposalLimit(shardSize: job.features.rows, totalTokens: job.totalTokens, budget: job.budget,
                      highlyRelevant: floorCount(relevance: job.relevance, options: job.options), options: job.options)
    }

    /// `kappa + min(max(0, F - k_s), max(0, k - kappa))`: `kappa` Script's proposal, `F` the
    /// shard's highly relevant tokens, `k_s` its share of the budget.
    static func proposalLimit(shardSize n: Int, totalTokens: Int, budget k: Int, highlyRelevant f: Int, options: PruneOptions) -> Int {
        let kappa = ShardJob.proposalLimit(shardSize: n, totalTokens: totalTokens, budget: k, alpha: options.alpha)
        let share = (k * n + totalTokens - 1) / totalTokens
        return kappa + min(max(0, f - share), max(0, k - kappa))
    }

    /// Most candidates the proposals of `shards` can hold in all (a shard proposes at most its
    /// survivors), for `GlobalSelection(candidateBound:)`.
    public static func candidateBound(shards: [Range<Int>], tokens n: Int, budget k: Int, relevance: [Float]?,
                                      options: PruneOptions) -> Int {
        shards.reduce(0) { total, s in
            let share = (k * s.count + n - 1) / n
            let keep = GraphPruning.keepCount(shardSize: s.count, budgetShare: share, ratio: options.gspRatio)
            let limit = proposalLimit(shardSize: s.count, totalTokens: n, budget: k,
                                      highlyRelevant: floorCount(relevance: relevance.map { Array($0[s]) }, options: options),
                                      options: options)
            return total + min(keep, limit)
        }
    }

    /// Tokens of relevance at least `floorRelevance` (none when the floor is off or there is no query).
    static func floorCount(relevance r: [Float]?, options: PruneOptions) -> Int {
        guard let r, options.floorRelevance > 0 else { return 0 }
        let floor = Float(options.floorRelevance)
        return r.reduce(0) { $0 + ($1 >= floor ? 1 : 0) }
    }

    /// Survivors of the shard and the greedy's first `picks` picks over them.
    static func select(_ job: ShardJob, graph g: UnitGraph, inverseNorms inv: [Float], picks: Int, keepRows: Bool,
                       pool: ComputePool) -> ([Int], GreedyMAP.Selection) {
        let rho = discounted(g.redundancy, relevance: job.relevance, power: job.options.discount)
        let kept = leastRedundant(rho, keep: ScriptPruning.keepCount(job))
        let shard = candidates(g, survivors: kept, budgetShare: job.budgetShare, features: job.features, inverseNorms: inv)
        return (kept, shard.select(weights: job.weights, picks: picks, keepRows: keepRows, pool: pool))
    }

    /// Redundancy discounted by relevance: `(rho_i - min rho) * (1 - r_i)^power`, the power taken
    /// by repeated multiplication in Float32. Without relevance, or with power 0, unchanged.
    static func discounted(_ rho: [Float], relevance r: [Float]?, power: Int) -> [Float] {
        guard let r, power > 0, let low = rho.min() else { return rho }
        return rho.indices.map { i in
            let u = 1 - r[i]
            var f: Float = 1
            for _ in 0..<power { f *= u }
            return (rho[i] - low) * f
        }
    }

    /// The `keep` positions of lowest redundancy (ties: lower position), ascending.
    static func leastRedundant(_ rho: [Float], keep: Int) -> [Int] {
        (0..<rho.count).sorted { rho[$0] != rho[$1] ? rho[$0] < rho[$1] : $0 < $1 }.prefix(keep).sorted()
    }

    /// Survivors from which on-demand rows pay: below this, all their cosines cost little.
    static let onDemandSurvivors = 1024
    /// Survivors per token of the budget share past which the greedy computes only the rows it
    /// needs: at small budgets it computes about three rows a pick, in products of 32 rows,
    /// where up front costs half a row a survivor in tiles near sgemm's peak (`eval`, medium
    /// scale, 2 threads: video at 2% and 5%, 25 and 10 survivors a token, 2.1x and 1.6x faster
    /// on demand; AnyRes at 160, 9 a token, level; at 320 and images, 4.5, faster up front).
    static let onDemandRatio = 9

    /// Whether the greedy over `survivors` candidates picks so few of them that computing the
    /// rows of its picks beats computing all their cosines. A function of the shard and the budget
    /// only (the same for monolithic Script+ and its single shard).
    static func picksFew(of survivors: Int, budgetShare: Int) -> Bool {
        survivors >= onDemandSurvivors && survivors > onDemandRatio * budgetShare
    }

    /// The survivors as the greedy's candidates: per piece of the graph, its two sides' survivors
    /// as two groups whose cosines with each other are the piece's edges, the other cosines
    /// computed up front. Survivors too many for that, or many times the shard's share of the
    /// budget (the greedy picks few of them), form one group whose rows the greedy computes as it
    /// picks, one product a batch (small groups would cost a product each).
    static func candidates(_ g: UnitGraph, survivors: [Int], budgetShare: Int, features x: Matrix,
                           inverseNorms inv: [Float]) -> ShardGraph {
        if survivors.count > CandidateCosines.denseLimit || picksFew(of: survivors.count, budgetShare: budgetShare) {
            let all = CandidateGroup(members: Array(survivors.indices), features: x.gatherRows(survivors),
                                     inverseNorms: survivors.map { inv[$0] })
            return ShardGraph(survivors: survivors, groups: [all], blocks: [:], upFrontLimit: 0)
        }
        var slot = [Int](repeating: -1, count: x.rows)
        for (c, p) in survivors.enumerated() { slot[p] = c }
        var groups: [CandidateGroup] = []
        var known: [GroupPair: [Float]] = [:]
        for piece in g.pieces {
            let ra = piece.a.indices.filter { slot[piece.a[$0]] >= 0 }
            let rb = piece.b.indices.filter { slot[piece.b[$0]] >= 0 }
            let nb = piece.b.count
            var cross = [Float](repeating: 0, count: ra.count * rb.count)
            for (r, i) in ra.enumerated() {
                for (c, j) in rb.enumerated() { cross[r * rb.count + c] = piece.similarity[i * nb + j] }
            }
            known[GroupPair(groups.count, groups.count + 1)] = cross
            for side in [ra.map { piece.a[$0] }, rb.map { piece.b[$0] }] {
                groups.append(CandidateGroup(members: side.map { slot[$0] }, features: x.gatherRows(side),
                                             inverseNorms: side.map { inv[$0] }))
            }
        }
        return ShardGraph(survivors: survivors, groups: groups, blocks: known)
    }
}
