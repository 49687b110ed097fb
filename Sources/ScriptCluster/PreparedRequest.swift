import ScriptCore

/// A request after the coordinator's first compute step: validated, weighed, cut into shards.
public struct PreparedRequest: Sendable {
    public var submission: PruneSubmission
    /// The resolved budget.
    public var budget: Int
    /// Weight of every token (relevance to the query over the whole request).
    public var weights: [Float]
    public var shards: [Range<Int>]
    /// Per shard: its payload (features and weights frames) and descriptor fields, built once
    /// and resent as is when a shard is requeued.
    public var payloads: [ShardPayload]
    /// Milliseconds the step took.
    public var prepareMs: Double

    /// Validates `submission` and computes weights and shard payloads.
    public static func make(_ submission: PruneSubmission, pool: ComputePool) throws -> PreparedRequest {
        let clock = ContinuousClock()
        let start = clock.now
        var s = submission
        if s.request.shards == nil { s.request.shards = [0..<s.request.tokenCount] }
        let k: Int
        do {
            try s.request.validate()
            k = try s.budget.resolve(tokens: s.request.tokenCount)
        } catch let e as PruneError { throw ProtocolError(e) }
        let shards = s.request.shards!
        let weights = QueryRelevance.weights(embeddings: s.request.embeddings ?? s.request.features, query: s.request.query,
                                             options: s.options, pool: pool)
        var payloads: [ShardPayload] = []
        if k < s.request.tokenCount {
            payloads = shards.map { r in
                ShardPayload(job: ShardJob(features: s.request.features.rows(r), weights: Array(weights[r]), offset: r.lowerBound,
                                           totalTokens: s.request.tokenCount, budget: k, options: s.options))
            }
        }
        let d = (clock.now - start).components
        return PreparedRequest(submission: s, budget: k, weights: weights, shards: shards, payloads: payloads,
                               prepareMs: Double(d.seconds) * 1e3 + Double(d.attoseconds) * 1e-15)
    }

    /// The reply once every shard has proposed (or at once when the budget keeps everything).
    public func finish(proposals: [ShardProposal], workers: [String], shardsMs: Double, receivedMs: Double, pool: ComputePool) -> ClusterReply {
        let clock = ContinuousClock()
        let start = clock.now
        let req = submission.request
        let kept: [Int]
        if budget >= req.tokenCount {
            kept = Array(0..<req.tokenCount)
        } else {
            kept = ScriptPruning.selectGlobal(proposals: proposals, features: req.features, weights: weights, budget: budget, pool: pool)
        }
        var features: Matrix? = nil
        switch submission.returnMode {
        case .indices: break
        case .features: features = req.features.gatherRows(kept)
        case .merged: features = TokenMerger.merge(features: req.features, kept: kept, shards: shards, pool: pool)
        }
        let d = (clock.now - start).components
        let globalMs = Double(d.seconds) * 1e3 + Double(d.attoseconds) * 1e-15
        return .result(ClusterResult(id: submission.id, indices: kept, budget: budget, tokenCount: req.tokenCount,
                                     shardCount: shards.count, workers: workers,
                                     timings: [("prepare", prepareMs), ("shards", shardsMs), ("global", globalMs), ("total", receivedMs + globalMs)],
                                     features: features))
    }
}

/// One shard ready to send: its tensor frames are encoded once.
public struct ShardPayload: Sendable {
    public let job: ShardJob
    public let tensorFrames: [[UInt8]]

    init(job: ShardJob) {
        self.job = job
        self.tensorFrames = Array(ShardMessage.frames(job: 0, job).dropFirst())
    }

    /// The message for job number `id`.
    func frames(id: Int) -> [[UInt8]] {
        [ShardMessage.envelope(job: id, job)] + tensorFrames
    }
}
