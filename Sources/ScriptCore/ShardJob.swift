/// One shard of a request, as a worker receives it: everything its graph pruning and local
/// proposal need, and nothing else, so any worker can take any shard.
public struct ShardJob: Sendable, Equatable {
    /// Raw features of the shard's tokens (`n_s x D`).
    public var features: Matrix
    /// DPP weight of each of the shard's tokens (computed over the whole request).
    public var weights: [Float]
    /// Global index of the shard's first token.
    public var offset: Int
    /// Tokens in the whole request (N).
    public var totalTokens: Int
    /// The request's budget k.
    public var budget: Int
    public var options: PruneOptions
    /// Script+: relevance in [0, 1] of each of the shard's tokens (computed over the whole
    /// request, as the weights are); nil without a query.
    public var relevance: [Float]?
    /// Script+: tokens per unit (frame, tile) of the request, units starting at the shard's
    /// first token; nil when the layout has no units.
    public var unitTokens: Int?

    public init(features: Matrix, weights: [Float], offset: Int, totalTokens: Int, budget: Int, options: PruneOptions,
                relevance: [Float]? = nil, unitTokens: Int? = nil) {
        self.features = features
        self.weights = weights
        self.offset = offset
        self.totalTokens = totalTokens
        self.budget = budget
        self.options = options
        self.relevance = relevance
        self.unitTokens = unitTokens
    }

    /// The shard's share of the budget, `ceil(k * n_s / N)`.
    public var budgetShare: Int { Self.budgetShare(shardSize: features.rows, totalTokens: totalTokens, budget: budget) }

    /// `ceil(k * n_s / N)`.
    public static func budgetShare(shardSize: Int, totalTokens: Int, budget: Int) -> Int {
        (budget * shardSize + totalTokens - 1) / totalTokens
    }

    /// How many tokens the shard proposes at most, `ceil(alpha * k * n_s / N)`.
    public var proposalLimit: Int {
        Self.proposalLimit(shardSize: features.rows, totalTokens: totalTokens, budget: budget, alpha: options.alpha)
    }

    /// `ceil(alpha * k * n_s / N)`.
    public static func proposalLimit(shardSize: Int, totalTokens: Int, budget: Int, alpha: Double) -> Int {
        Int((alpha * Double(budget) * Double(shardSize) / Double(totalTokens)).rounded(.up))
    }

    /// Checks shapes and values a worker must not trust.
    public func validate() throws {
        try validate(featureInverseNorms: nil)
    }

    /// As `validate()`; given the features' inverse norms (NaN where a row is not finite), the
    /// features are checked through them instead of a second pass over every value.
    public func validate(featureInverseNorms inv: [Float]?) throws {
        guard features.rows > 0, features.cols > 0 else { throw PruneError.emptyInput(what: "shard features") }
        guard weights.count == features.rows else {
            throw PruneError.rowCountMismatch(what: "shard weights", expected: features.rows, actual: weights.count)
        }
        guard offset >= 0, totalTokens >= offset + features.rows else {
            throw PruneError.shardPastEnd(offset..<(offset + features.rows), tokens: totalTokens)
        }
        guard budget >= 1 else { throw PruneError.budgetNotPositive(budget) }
        try features.checkUsable("shard features", inverseNorms: inv)
        if let bad = weights.firstIndex(where: { !$0.isFinite || $0 <= 0 }) {
            throw PruneError.nonFinite(what: "shard weights", row: bad, column: 0)
        }
        if let r = relevance {
            guard r.count == features.rows else {
                throw PruneError.rowCountMismatch(what: "shard relevance", expected: features.rows, actual: r.count)
            }
            if let bad = r.firstIndex(where: { !($0 >= 0 && $0 <= 1) }) {
                throw PruneError.invalidOption(name: "relevance[\(bad)]", value: "\(r[bad])", expected: "a number in [0, 1]")
            }
        }
        if let t = unitTokens, t < 1 {
            throw PruneError.invalidOption(name: "unit-tokens", value: "\(t)", expected: "a count >= 1")
        }
        try options.validate()
    }
}

/// A shard's answer: the tokens it proposes for the global selection, and the cosines among
/// them that its own greedy used, so the global greedy reuses them exactly.
public struct ShardProposal: Sendable, Equatable {
    /// Global index of the shard's first token.
    public var offset: Int
    /// Proposed tokens, global indices, ascending.
    public var indices: [Int]
    /// Row-major `indices.count` squared cosines, rows and columns in the order of `indices`.
    public var cosines: [Float]
    /// Tokens that survived graph pruning.
    public var survivors: Int

    public init(offset: Int, indices: [Int], cosines: [Float], survivors: Int) {
        self.offset = offset
        self.indices = indices
        self.cosines = cosines
        self.survivors = survivors
    }

    /// Checks what a coordinator must not trust in a worker's answer for `shard`.
    public func validate(for shard: Range<Int>) throws {
        guard !indices.isEmpty else { throw PruneError.emptyInput(what: "proposal") }
        guard cosines.count == indices.count * indices.count else {
            throw PruneError.rowCountMismatch(what: "proposal cosines", expected: indices.count * indices.count, actual: cosines.count)
        }
        var last = Int.min
        for i in indices {
            guard shard.contains(i), i > last else {
                throw PruneError.shardPastEnd(i..<(i + 1), tokens: shard.upperBound)
            }
            last = i
        }
        if let bad = cosines.firstIndex(where: { !$0.isFinite }) {
            throw PruneError.nonFinite(what: "proposal cosines", row: bad / indices.count, column: bad % indices.count)
        }
    }
}
