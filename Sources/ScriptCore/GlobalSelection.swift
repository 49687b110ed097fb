import Synchronization

/// The coordinator's half of sharded Script (ALGORITHM.md section 4, step 3), fed one proposal
/// at a time as shards finish.
///
/// The global greedy needs the cosines between every two proposals. They are computed as each
/// proposal arrives, against those already in, so the work overlaps the slowest shards and
/// little is left when the last one lands. Every block is computed by the same routine with
/// the same shapes whatever the arrival order, so the kept set is exactly what `selectGlobal`
/// over the same proposals returns.
public final class GlobalSelection: Sendable {
    private struct Entry {
        let proposal: ShardProposal
        let group: CandidateGroup
    }

    private struct State {
        /// Set by `select`: proposals that come later are of no use.
        var closed = false
        /// Set by `beginFinish`: early work yields to the finish.
        var finishing = false
        var entries: [Int: Entry] = [:]
        /// Proposals handed in for later (`postpone`), with how to fetch their rows.
        var postponed: [(proposal: ShardProposal, rows: @Sendable () -> Matrix)] = []
        /// Cosines between two proposals, keyed by their offsets, lower offset's rows first.
        var cross: [GroupPair: [Float]] = [:]
    }

    private let weights: [Float]
    private let budget: Int
    /// Cross blocks are computed on arrival only when all candidates fit the dense limit.
    private let eager: Bool
    private let state = Mutex(State())

    /// - Parameters:
    ///   - weights: the weight of every token of the request.
    ///   - budget: tokens to keep.
    ///   - candidateBound: most candidates the proposals can hold in all (from the layout).
    public init(weights: [Float], budget: Int, candidateBound: Int) {
        self.weights = weights
        self.budget = budget
        eager = candidateBound <= CandidateCosines.denseLimit
    }

    /// Most candidates the proposals of `shards` can hold: each proposes at most
    /// `ceil(alpha * k * n_s / N)` tokens.
    public static func candidateBound(shards: [Range<Int>], tokens n: Int, budget k: Int, options: PruneOptions) -> Int {
        shards.reduce(0) { $0 + ShardJob.proposalLimit(shardSize: $1.count, totalTokens: n, budget: k, alpha: options.alpha) }
    }

    /// Takes a shard's proposal and the raw features of its tokens (in the order of
    /// `proposal.indices`); a second proposal for the same shard, or any after `select`, is
    /// ignored. Safe to call while another thread adds or selects.
    public func add(_ proposal: ShardProposal, rows: Matrix, pool: ComputePool) {
        insert(proposal, rows: rows, pool: pool, early: false)
    }

    /// Keeps a proposal to be taken in later by `addPostponed`, whenever some thread has time;
    /// `select` drops what is still waiting (with whatever `rows` holds on to).
    public func postpone(_ proposal: ShardProposal, rows: @escaping @Sendable () -> Matrix) {
        state.withLock { s in if !s.closed { s.postponed.append((proposal, rows)) } }
    }

    /// Takes in the proposals handed to `postpone` so far, oldest first, a block at a time:
    /// once `beginFinish` is called it stops after the block in hand, leaving the rest to the
    /// finish, which has all cores.
    public func addPostponed(pool: ComputePool) {
        while let next = state.withLock({ s in s.finishing || s.postponed.isEmpty ? nil : s.postponed.removeFirst() }) {
            insert(next.proposal, rows: next.rows(), pool: pool, early: true)
        }
    }

    /// The finish is starting: early work (`addPostponed`) stops after the block in hand.
    public func beginFinish() {
        state.withLock { $0.finishing = true }
    }

    private func insert(_ proposal: ShardProposal, rows: Matrix, pool: ComputePool, early: Bool) {
        let group = CandidateGroup(members: Array(0..<proposal.indices.count), features: rows, inverseNorms: rows.rowInverseNorms())
        let others: [Entry]? = state.withLock { s in
            guard !s.closed, s.entries[proposal.offset] == nil else { return nil }
            s.entries[proposal.offset] = Entry(proposal: proposal, group: group)
            return s.entries.values.filter { $0.proposal.offset != proposal.offset }
        }
        guard let others, eager, !others.isEmpty else { return }
        // One product per other proposal, the lower offset's rows first: all on the pool at
        // once, or (early) one at a time, each kept as soon as it is done.
        let all = (others.map { ($0.proposal.offset, $0.group) } + [(proposal.offset, group)]).sorted { $0.0 < $1.0 }
        let mine = all.firstIndex { $0.0 == proposal.offset }!
        let pairs = all.indices.filter { $0 != mine }.map { GroupPair(min($0, mine), max($0, mine)) }
        for batch in early ? pairs.map { [$0] } : [pairs] {
            if early && state.withLock({ $0.finishing || $0.closed }) { return }
            var blocks = [[[Float]?]](repeating: [[Float]?](repeating: nil, count: all.count), count: all.count)
            CandidateCosines.computeBlocks(batch, groups: all.map(\.1), into: &blocks, pool: pool)
            state.withLock { s in
                for pair in batch { s.cross[GroupPair(all[pair.g].0, all[pair.h].0)] = blocks[pair.g][pair.h]! }
            }
        }
    }

    /// Offsets of the shards whose proposals are in.
    public var offsets: Set<Int> { state.withLock { Set($0.entries.keys) } }

    /// The greedy over the union of the proposals: kept indices, ascending.
    public func select(pool: ComputePool) -> [Int] {
        // Blocks still being computed by a concurrent `add` are computed again below, identically.
        let (entries, cross) = state.withLock { s in
            s.closed = true
            s.postponed = []
            return (s.entries.values.sorted { $0.proposal.offset < $1.proposal.offset }, s.cross)
        }
        var groups: [CandidateGroup] = []
        var known: [GroupPair: [Float]] = [:]
        var candidates: [Int] = []
        for (g, e) in entries.enumerated() {
            let p = e.proposal
            groups.append(CandidateGroup(members: Array(candidates.count..<(candidates.count + p.indices.count)),
                                         features: e.group.features, inverseNorms: e.group.inverseNorms))
            candidates.append(contentsOf: p.indices)
            known[GroupPair(g, g)] = p.cosines
            for h in 0..<g {
                if let block = cross[GroupPair(entries[h].proposal.offset, p.offset)] { known[GroupPair(h, g)] = block }
            }
        }
        let cosines = CandidateCosines(groups: groups, known: known, pool: pool)
        let w = candidates.map { weights[$0] }
        let selection = GreedyMAP.select(count: budget, weights: w, cosines: cosines, keepRows: false, pool: pool)
        return selection.picks.map { candidates[$0] }.sorted()
    }
}
