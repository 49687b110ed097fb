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
            let d = s.request.features.cols
            payloads = shards.map { r in
                let features: (TensorCodec.WireDType, [UInt8])
                if let wire = s.wireFeatures, wire.dtype != .bf16 {
                    let size = wire.dtype.size * d
                    features = (wire.dtype, Array(wire.bytes[(r.lowerBound * size)..<(r.upperBound * size)]))
                } else {
                    features = (.f32, s.request.features.values.withUnsafeBytes { Array($0[(r.lowerBound * 4 * d)..<(r.upperBound * 4 * d)]) })
                }
                return ShardPayload(offset: r.lowerBound, rows: r.count, cols: d, totalTokens: s.request.tokenCount, budget: k,
                                    options: s.options, features: features, weights: Array(weights[r]))
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

/// One shard ready to send: its tensor frames are built once (and resent as they are when the
/// shard is requeued).
public struct ShardPayload: Sendable {
    let offset: Int
    let rows: Int
    let cols: Int
    let totalTokens: Int
    let budget: Int
    let options: PruneOptions
    let featuresDType: TensorCodec.WireDType
    let tensorFrames: [[UInt8]]

    init(offset: Int, rows: Int, cols: Int, totalTokens: Int, budget: Int, options: PruneOptions,
         features: (TensorCodec.WireDType, [UInt8]), weights: [Float]) {
        self.offset = offset
        self.rows = rows
        self.cols = cols
        self.totalTokens = totalTokens
        self.budget = budget
        self.options = options
        featuresDType = features.0
        tensorFrames = [features.1, TensorCodec.bytes(weights)]
    }

    /// The message for job number `id`.
    func frames(id: Int) -> [[UInt8]] {
        [ShardMessage.envelope(job: id, offset: offset, rows: rows, cols: cols, total: totalTokens, budget: budget,
                               options: options, dtype: featuresDType)] + tensorFrames
    }
}
