/// What a pruning run returns.
public struct PruneResult: Sendable, Equatable {
    /// Kept token indices, ascending (the model sees tokens in their original order).
    public var indices: [Int]
    /// The resolved budget k.
    public var budget: Int
    /// Tokens in the request.
    public var tokenCount: Int
    public var method: PruneMethod
    /// Whether Script or Script+ ran sharded.
    public var sharded: Bool
    public var timings: StageTimings
    /// Shard proposals (sharded Script and Script+ only).
    public var proposals: [ShardProposal]
}

/// The in-process pipeline: validate, weigh by the query, run the chosen method.
/// The cluster runs the same stages on other processes and must return the same indices.
public struct Pruner: Sendable {
    public let pool: ComputePool

    public init(pool: ComputePool = .machine) { self.pool = pool }

    public func prune(_ request: PruneRequest, budget: Budget, options: PruneOptions = .defaults) throws -> PruneResult {
        var timings = StageTimings()
        let clock = ContinuousClock()
        let start = clock.now
        var request = request
        // The methods whose cosines between features run through `CosineProducts` round the
        // features to bfloat16 in the pass that takes their norms.
        let rounds = options.similarity == .bf16 && [.script, .scriptPlus, .cdpruner, .gsp].contains(options.method)
            && BFloat16Products.unavailableReason == nil
        let norms = try timings.measure(rounds ? "validate+bfloat16" : "validate") { try validate(&request, options: options, rounding: rounds) }
        if options.similarity == .bf16 { try BFloat16Products.requireReady() }
        let n = request.tokenCount
        let k = try budget.resolve(tokens: n)
        var result = PruneResult(indices: [], budget: k, tokenCount: n, method: options.method,
                                 sharded: [.script, .scriptPlus].contains(options.method) && request.shards != nil,
                                 timings: timings, proposals: [])
        if k >= n {
            result.indices = Array(0..<n)
        } else {
            switch options.method {
            case .script, .cdpruner:
                (result.indices, result.proposals) = script(request, norms: norms, budget: k, options: options, timings: &timings)
            case .scriptPlus:
                (result.indices, result.proposals) = scriptPlus(request, norms: norms, budget: k, options: options, timings: &timings)
            case .divprune:
                result.indices = timings.measure("select") { BaselineMethods.divprune(features: request.features, budget: k, pool: pool) }
            case .gsp:
                result.indices = timings.measure("select") { BaselineMethods.gsp(features: request.features, budget: k, options: options, pool: pool) }
            case .random:
                result.indices = BaselineMethods.random(tokens: n, budget: k, seed: options.seed)
            case .uniform:
                result.indices = BaselineMethods.uniform(tokens: n, budget: k)
            }
        }
        timings.record("total", clock.now - start)
        result.timings = timings
        return result
    }

    /// Inverse row norms of the features and of the embeddings (the features' when there are
    /// none), which serve twice: NaN marks a row to search for the value that is not finite, and
    /// the cosines use them (the embeddings' in relevance).
    /// - Parameter rounding: also round the features to bfloat16 (`withBFloat16`), in the same pass.
    private func validate(_ request: inout PruneRequest, options: PruneOptions, rounding: Bool) throws -> (features: [Float], embeddings: [Float]) {
        try options.validate()
        guard request.features.rows > 0, request.features.cols > 0 else { throw PruneError.emptyInput(what: "features") }
        let inv: [Float]
        if rounding {
            (request.features, inv) = request.features.withBFloat16AndInverseNorms(pool: pool)
        } else {
            inv = request.features.rowInverseNorms(pool: pool)
        }
        let embeddingInv = request.embeddings.flatMap { $0.rows == request.features.rows ? $0.rowInverseNorms(pool: pool) : nil }
        try request.validate(featureInverseNorms: inv, embeddingInverseNorms: embeddingInv)
        return (inv, embeddingInv ?? inv)
    }

    /// Script (monolithic or sharded) and CDPruner: relevance weights, then the method.
    private func script(_ request: PruneRequest, norms: (features: [Float], embeddings: [Float]), budget k: Int, options: PruneOptions,
                        timings: inout StageTimings) -> ([Int], [ShardProposal]) {
        let weights = timings.measure("relevance") {
            // Sharded Script scores each shard by itself, as its worker does in a cluster.
            QueryRelevance.weights(embeddings: request.embeddings ?? request.features, inverseNorms: norms.embeddings,
                                   query: request.query, shards: options.method == .script ? request.shards : nil, options: options, pool: pool)
        }
        if options.method == .cdpruner {
            return (timings.measure("select") { BaselineMethods.cdpruner(features: request.features, weights: weights, budget: k, pool: pool) }, [])
        }
        if let shards = request.shards {
            return timings.measure("shards+global") {
                ScriptPruning.sharded(features: request.features, inverseNorms: norms.features, weights: weights, shards: shards,
                                      budget: k, options: options, pool: pool)
            }
        }
        return (timings.measure("gsp+select") {
            ScriptPruning.monolithic(features: request.features, inverseNorms: norms.features, weights: weights, budget: k, options: options, pool: pool)
        }, [])
    }

    /// Script+ (monolithic or sharded): relevance, weights from it, then the method.
    private func scriptPlus(_ request: PruneRequest, norms: (features: [Float], embeddings: [Float]), budget k: Int, options: PruneOptions,
                            timings: inout StageTimings) -> ([Int], [ShardProposal]) {
        let n = request.tokenCount
        let (weights, relevance) = timings.measure("relevance") { () -> ([Float], [Float]?) in
            let r = QueryRelevance.relevance(embeddings: request.embeddings ?? request.features, inverseNorms: norms.embeddings,
                                             query: request.query, shards: request.shards, options: options, pool: pool)
            return (QueryRelevance.weights(relevance: r, tokens: n, options: options), r)
        }
        if let shards = request.shards {
            return timings.measure("shards+global") {
                ScriptPlus.sharded(features: request.features, weights: weights, relevance: relevance, unitTokens: request.unitTokens,
                                   shards: shards, budget: k, options: options, pool: pool)
            }
        }
        return (timings.measure("gsp+select") {
            ScriptPlus.monolithic(features: request.features, inverseNorms: norms.features, weights: weights, relevance: relevance,
                                  unitTokens: request.unitTokens, budget: k, options: options, pool: pool)
        }, [])
    }
}
