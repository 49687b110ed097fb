/// One pruning request: the tokens, optionally their query-space embeddings and the query, and
/// how the tokens split into shards (nil: one shard, monolithic).
public struct PruneRequest: Sendable {
    public var features: Matrix
    public var embeddings: Matrix?
    public var query: Matrix?
    public var shards: [Range<Int>]?
    /// Tokens per unit (video frame, AnyRes tile), when the layout has units of one size; used
    /// by Script+ only.
    public var unitTokens: Int?

    public init(features: Matrix, embeddings: Matrix? = nil, query: Matrix? = nil, shards: [Range<Int>]? = nil,
                unitTokens: Int? = nil) {
        self.features = features
        self.embeddings = embeddings
        self.query = query
        self.shards = shards
        self.unitTokens = unitTokens
    }

    public var tokenCount: Int { features.rows }

    /// The shards, or the whole request as one.
    public var effectiveShards: [Range<Int>] { shards ?? [0..<features.rows] }

    /// Throws the first problem found: emptiness, shapes, NaN/Inf, a shard layout that does not
    /// tile the tokens exactly.
    public func validate() throws {
        try validate(featureInverseNorms: nil)
    }

    /// As `validate()`; given the features' (or embeddings') inverse norms (NaN where a row is
    /// not finite), their values are checked through them instead of a second pass over them.
    public func validate(featureInverseNorms inv: [Float]?, embeddingInverseNorms embeddingInv: [Float]? = nil) throws {
        guard features.rows > 0, features.cols > 0 else { throw PruneError.emptyInput(what: "features") }
        try features.checkUsable("features", inverseNorms: inv)
        try Self.validate(tokens: features.rows, width: features.cols, embeddings: embeddings, query: query, shards: shards,
                          embeddingInverseNorms: embeddingInv)
        if let t = unitTokens, t < 1 { throw PruneError.invalidOption(name: "unit-tokens", value: "\(t)", expected: "a count >= 1") }
    }

    /// Everything `validate()` checks but the feature values, for callers that hold the
    /// features in another form (a coordinator keeps them as they came over the wire).
    /// - Parameter embeddingInverseNorms: the embeddings' inverse row norms, when the caller has
    ///   them (NaN where a row is not finite): a row is searched only when one is NaN.
    public static func validate(tokens n: Int, width: Int, embeddings: Matrix?, query: Matrix?, shards: [Range<Int>]?,
                                embeddingInverseNorms inv: [Float]? = nil) throws {
        guard n > 0, width > 0 else { throw PruneError.emptyInput(what: "features") }
        let queryWidth: Int
        if let e = embeddings {
            guard e.rows == n else { throw PruneError.rowCountMismatch(what: "embeddings", expected: n, actual: e.rows) }
            guard e.cols > 0 else { throw PruneError.emptyInput(what: "embeddings") }
            try e.checkUsable("embeddings", inverseNorms: inv)
            queryWidth = e.cols
        } else {
            queryWidth = width
        }
        if let q = query, q.rows > 0 {
            guard q.cols == queryWidth else { throw PruneError.widthMismatch(what: "query", expected: queryWidth, actual: q.cols) }
            try q.checkUsable("query")
        }
        if let shards { try validate(shards: shards, tokens: n) }
    }

    /// Shards must be non-empty, in order, and cover `0..<tokens` with no gap or overlap.
    public static func validate(shards: [Range<Int>], tokens n: Int) throws {
        guard !shards.isEmpty else { throw PruneError.emptyInput(what: "shards") }
        var next = 0
        for (i, s) in shards.enumerated() {
            guard !s.isEmpty else { throw PruneError.emptyShard(index: i, range: s) }
            guard s.upperBound <= n else { throw PruneError.shardPastEnd(s, tokens: n) }
            if s.lowerBound < next { throw PruneError.shardsOverlap(shards[max(0, i - 1)], s) }
            if s.lowerBound > next { throw PruneError.shardsLeaveGap(from: next, to: s.lowerBound) }
            next = s.upperBound
        }
        if next < n { throw PruneError.shardsLeaveGap(from: next, to: n) }
    }
}
