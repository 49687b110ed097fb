/// The global half of sharded Script (ALGORITHM.md section 4, step 3): the greedy over the
/// union of every shard's proposal.
///
/// Within-shard cosines come from the proposals (the values the shards' own greedies used);
/// cosines between two proposals are computed in blocks whose shapes depend on the proposals
/// only, so the kept set is the same wherever and in whatever order this runs.
public enum GlobalSelection {
    /// One shard's proposal with the raw features of its tokens (rows in the order of
    /// `proposal.indices`).
    public struct Group: Sendable {
        public var proposal: ShardProposal
        public var rows: Matrix
        public init(proposal: ShardProposal, rows: Matrix) {
            self.proposal = proposal
            self.rows = rows
        }
    }

    /// Kept token indices, ascending. `weights` holds the weight of every candidate, in the
    /// order of `groups` (sorted by offset) and of their indices.
    public static func select(_ groups: [Group], candidateWeights weights: [Float], budget k: Int, pool: ComputePool) -> [Int] {
        let sorted = groups.indices.sorted { groups[$0].proposal.offset < groups[$1].proposal.offset }
        precondition(sorted == Array(groups.indices), "groups must be in shard order")
        var candidateGroups: [CandidateGroup] = []
        var known: [GroupPair: [Float]] = [:]
        var candidates: [Int] = []
        for (g, group) in groups.enumerated() {
            let p = group.proposal
            candidateGroups.append(CandidateGroup(members: Array(candidates.count..<(candidates.count + p.indices.count)),
                                                  features: group.rows, inverseNorms: group.rows.rowInverseNorms()))
            candidates.append(contentsOf: p.indices)
            known[GroupPair(g, g)] = p.cosines
        }
        precondition(weights.count == candidates.count, "\(weights.count) weights for \(candidates.count) candidates")
        let cosines = CandidateCosines(groups: candidateGroups, known: known, pool: pool)
        let selection = GreedyMAP.select(count: k, weights: weights, cosines: cosines, keepRows: false, pool: pool)
        return selection.picks.map { candidates[$0] }.sorted()
    }
}
