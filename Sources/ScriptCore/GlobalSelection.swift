/// The global half of sharded Script (ALGORITHM.md section 4, step 3): the greedy over the
/// union of every shard's proposal.
///
/// Proposals can be taken in one at a time, as shards finish: the cosines between a new
/// proposal and those already in are computed then, so little is left when the last arrives.
/// Within-shard cosines come from the proposals (the values the shards' own greedies used);
/// cosines between two proposals are computed in blocks whose shapes depend on the two
/// proposals only (the one with the lower offset gives the rows), so the kept set is the same
/// whatever the arrival order, wherever this runs.
public struct GlobalSelection: Sendable {
    /// One shard's proposal with the raw features of its tokens (rows in the order of
    /// `proposal.indices`) and their weights.
    public struct Group: Sendable {
        public var proposal: ShardProposal
        public var rows: Matrix
        public var weights: [Float]
        public init(proposal: ShardProposal, rows: Matrix, weights: [Float]) {
            precondition(rows.rows == proposal.indices.count && weights.count == proposal.indices.count)
            self.proposal = proposal
            self.rows = rows
            self.weights = weights
        }
    }

    /// Proposals taken in, by ascending offset, with their rows' inverse norms.
    public private(set) var groups: [Group] = []
    private var inverseNorms: [[Float]] = []
    /// Cosines between two proposals, keyed by their offsets (lower first).
    private var cross: [GroupPair: [Float]] = [:]
    /// Pairs of proposals (their offsets, lower first) whose cosines are still to compute up
    /// front, in the order they were taken in.
    private var pending: [GroupPair] = []
    /// Whether cross blocks are computed as proposals come (only when all candidates fit the
    /// dense limit; beyond it the greedy computes the rows it needs).
    private let eager: Bool

    /// - Parameter candidateBound: most candidates the proposals can hold in all.
    public init(candidateBound: Int) {
        eager = candidateBound <= CandidateCosines.denseLimit
    }

    /// Most candidates the proposals of `shards` can hold: each proposes at most
    /// `ceil(alpha * k * n_s / N)` tokens.
    public static func candidateBound(shards: [Range<Int>], tokens n: Int, budget k: Int, options: PruneOptions) -> Int {
        shards.reduce(0) { $0 + ShardJob.proposalLimit(shardSize: $1.count, totalTokens: n, budget: k, alpha: options.alpha) }
    }

    /// Offsets of the proposals taken in.
    public var offsets: [Int] { groups.map(\.proposal.offset) }

    /// Takes a proposal in (a second one for the same offset is ignored), computing its cosines
    /// with the proposals already in.
    public mutating func add(_ group: Group, pool: ComputePool) {
        add([group], pool: pool)
    }

    /// Takes proposals in (any for an offset already in, or repeated, are ignored), then computes
    /// the cosines between proposals not yet known, at most `limit` blocks of them (nil: all),
    /// all in one parallel loop: the same blocks, to the bit, as any other order or batching
    /// (`select` computes whatever is left).
    public mutating func add(_ new: [Group], computing limit: Int? = nil, pool: ComputePool) {
        let norms = pool.map(new.count) { new[$0].rows.rowInverseNorms() }
        for (group, inv) in zip(new, norms) {
            let offset = group.proposal.offset
            guard !offsets.contains(offset) else { continue }
            if eager { pending += offsets.map { GroupPair(min($0, offset), max($0, offset)) } }
            let at = groups.firstIndex { $0.proposal.offset > offset } ?? groups.count
            groups.insert(group, at: at)
            inverseNorms.insert(inv, at: at)
        }
        let count = min(limit ?? .max, pending.count)
        guard count > 0 else { return }
        let position = Dictionary(uniqueKeysWithValues: groups.indices.map { (groups[$0].proposal.offset, $0) })
        let pairs = pending.prefix(count).map { GroupPair(position[$0.g]!, position[$0.h]!) }
        pending.removeFirst(count)
        let all = candidateGroups()
        var blocks = [[[Float]?]](repeating: [[Float]?](repeating: nil, count: all.count), count: all.count)
        CandidateCosines.computeBlocks(pairs, groups: all, into: &blocks, pool: pool)
        for p in pairs { cross[GroupPair(groups[p.g].proposal.offset, groups[p.h].proposal.offset)] = blocks[p.g][p.h]! }
    }

    /// Blocks of cosines between proposals taken in that are computed up front and not yet known.
    public var pendingBlocks: Int { pending.count }

    private func candidateGroups() -> [CandidateGroup] {
        var start = 0
        return groups.indices.map { g in
            let n = groups[g].proposal.indices.count
            defer { start += n }
            return CandidateGroup(members: Array(start..<(start + n)), features: groups[g].rows, inverseNorms: inverseNorms[g])
        }
    }

    /// The greedy over the union of the proposals taken in: kept indices, ascending.
    public func select(budget k: Int, pool: ComputePool) -> [Int] {
        var known: [GroupPair: [Float]] = [:]
        for (g, group) in groups.enumerated() {
            known[GroupPair(g, g)] = group.proposal.cosines
            for h in 0..<g {
                if let block = cross[GroupPair(groups[h].proposal.offset, group.proposal.offset)] { known[GroupPair(h, g)] = block }
            }
        }
        let cosines = CandidateCosines(groups: candidateGroups(), known: known, pool: pool)
        let candidates = groups.flatMap(\.proposal.indices)
        let selection = GreedyMAP.select(count: k, weights: groups.flatMap(\.weights), cosines: cosines, keepRows: false, pool: pool)
        return selection.picks.map { candidates[$0] }.sorted()
    }

    /// All proposals at once: kept indices, ascending.
    public static func select(_ groups: [Group], budget k: Int, pool: ComputePool) -> [Int] {
        var s = GlobalSelection(candidateBound: groups.reduce(0) { $0 + $1.proposal.indices.count })
        s.add(groups, pool: pool)
        return s.select(budget: k, pool: pool)
    }
}
