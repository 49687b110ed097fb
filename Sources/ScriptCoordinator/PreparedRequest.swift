import ScriptTransport
import ScriptCore
import ScriptProtocol
import ScriptService

/// A request after the coordinator's first compute step: validated, weighed, cut into shards.
public struct PreparedRequest: Sendable {
    public var submission: ReceivedSubmission
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
    /// The global greedy, fed proposals as they arrive (nil when the budget keeps everything).
    public var selection: GlobalSelection?

    /// Validates `submission` and computes weights and shard payloads.
    public static func make(_ submission: ReceivedSubmission, pool: ComputePool) throws -> PreparedRequest {
        let clock = ContinuousClock()
        let start = clock.now
        var s = submission
        let n = s.features.rows
        if s.shards == nil { s.shards = [0..<n] }
        let k: Int
        do {
            try s.validate(pool: pool)
            k = try s.budget.resolve(tokens: n)
        } catch let e as PruneError { throw ProtocolError(e) }
        let shards = s.shards!
        let weights = QueryRelevance.weights(embeddings: s.embeddings ?? s.features.matrix(), query: s.query,
                                             shards: shards, options: s.options, pool: pool)
        var payloads: [ShardPayload] = []
        if k < n {
            // Shards go out in the client's dtype: decoding is exact, so workers see the same values.
            payloads = shards.map { r in
                ShardPayload(offset: r.lowerBound, rows: r.count, cols: s.features.cols, totalTokens: n, budget: k,
                             options: s.options, features: (s.features.dtype, s.features.bytes(ofRows: r)), weights: Array(weights[r]))
            }
        }
        let selection = k < n
            ? GlobalSelection(weights: weights, budget: k,
                              candidateBound: GlobalSelection.candidateBound(shards: shards, tokens: n, budget: k, options: s.options))
            : nil
        let d = (clock.now - start).components
        return PreparedRequest(submission: s, budget: k, weights: weights, shards: shards, payloads: payloads,
                               prepareMs: Double(d.seconds) * 1e3 + Double(d.attoseconds) * 1e-15, selection: selection)
    }

    /// Takes a shard's proposal into the global selection now.
    public func absorb(_ proposal: ShardProposal, pool: ComputePool) {
        selection?.add(proposal, rows: submission.features.rows(proposal.indices), pool: pool)
    }

    /// Hands a shard's proposal to the global selection to take in when a thread has time
    /// (`GlobalSelection.addPostponed`); the request's finish takes in whatever is still waiting.
    public func postponeAbsorb(_ proposal: ShardProposal) {
        let features = submission.features
        selection?.postpone(proposal) { features.rows(proposal.indices) }
    }

    /// The reply once every shard has proposed (or at once when the budget keeps everything).
    public func finish(proposals: [ShardProposal], workers: [String], shardsMs: Double, receivedMs: Double, pool: ComputePool) -> ClusterReply {
        let clock = ContinuousClock()
        let start = clock.now
        let x = submission.features
        let kept: [Int]
        if let selection {
            selection.beginFinish()
            let absorbed = selection.offsets
            for p in proposals where !absorbed.contains(p.offset) { absorb(p, pool: pool) }
            kept = selection.select(pool: pool)
        } else {
            kept = Array(0..<x.rows)
        }
        var features: Matrix? = nil
        switch submission.returnMode {
        case .indices: break
        case .features: features = x.rows(kept)
        case .merged: features = TokenMerger.merge(features: x.matrix(), kept: kept, shards: shards, pool: pool)
        }
        let d = (clock.now - start).components
        let globalMs = Double(d.seconds) * 1e3 + Double(d.attoseconds) * 1e-15
        return .result(ClusterResult(id: submission.id, indices: kept, budget: budget, tokenCount: x.rows,
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
    /// The features (a slice of the request's own frame) and the weights.
    let tensorFrames: [Frame]

    init(offset: Int, rows: Int, cols: Int, totalTokens: Int, budget: Int, options: PruneOptions,
         features: (TensorCodec.WireDType, Frame), weights: [Float]) {
        self.offset = offset
        self.rows = rows
        self.cols = cols
        self.totalTokens = totalTokens
        self.budget = budget
        self.options = options
        featuresDType = features.0
        tensorFrames = [features.1, Frame(TensorCodec.bytes(weights))]
    }

    /// The message for job number `id`.
    func frames(id: Int) -> [Frame] {
        [Frame(ShardMessage.envelope(job: id, offset: offset, rows: rows, cols: cols, total: totalTokens, budget: budget,
                                     options: options, dtype: featuresDType))] + tensorFrames
    }
}
