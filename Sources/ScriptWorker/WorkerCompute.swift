import ScriptCore
import ScriptProtocol
import ScriptService

/// The arithmetic of a worker's jobs, as pure functions of their messages: what runs on the
/// worker's compute thread. Everything a worker must not trust is checked here, and refused
/// with the protocol's error code and the offending value (rows given in the request's order).
public enum WorkerCompute {
    /// A shard read and checked: its features decoded, with their inverse row norms.
    public struct PreparedShard: Sendable {
        public var features: Matrix
        public var inverseNorms: [Float]
    }

    /// Decodes and checks a shard; with a query and no weights yet, also its scores.
    public static func prepare(_ task: ShardTask, data: ShardData, pool: ComputePool) throws -> (PreparedShard, scores: [Float]?) {
        try task.check(data)
        let features = data.features.matrix()
        let inverseNorms = features.rowInverseNorms(pool: pool)
        if inverseNorms.contains(where: \.isNaN), let bad = features.firstNonFinite() {
            throw nonFinite("features", bad, cols: features.cols, offset: task.offset)
        }
        var scores: [Float]? = nil
        if let q = task.query, task.weights == nil {
            let query = q.matrix()
            if let bad = query.firstNonFinite() { throw nonFinite("query", bad, cols: query.cols, offset: 0) }
            var embeddings = features
            if let e = data.embeddings {
                embeddings = e.matrix()
                if let bad = embeddings.firstNonFinite() { throw nonFinite("embeddings", bad, cols: embeddings.cols, offset: task.offset) }
            }
            scores = QueryRelevance.scores(embeddings: embeddings, query: query, pool: pool)
        }
        return (PreparedShard(features: features, inverseNorms: inverseNorms), scores)
    }

    /// Graph pruning and the local proposal of a prepared shard, with its rows in the shard's dtype.
    public static func propose(_ task: ShardTask, _ shard: PreparedShard, data: ShardData, weights: [Float],
                               pool: ComputePool) throws -> ProposalMessage {
        let clock = ContinuousClock()
        let start = clock.now
        let job = ShardJob(features: shard.features, weights: weights, offset: task.offset, totalTokens: task.total,
                           budget: task.budget, options: task.options)
        do { try job.validate(featureInverseNorms: shard.inverseNorms) } catch let e as PruneError { throw ProtocolError(e) }
        let proposal = ScriptPruning.propose(job, inverseNorms: shard.inverseNorms, pool: pool)
        let rows = data.features.gather(proposal.indices.map { $0 - task.offset })
        return ProposalMessage(job: task.job, proposal, rows: rows, computeMs: (clock.now - start).milliseconds)
    }

    /// The global selection over every proposal of a request.
    public static func reduce(_ task: ReduceTask, pool: ComputePool) throws -> ReducedMessage {
        let clock = ContinuousClock()
        let start = clock.now
        var groups: [GlobalSelection.Group] = []
        var last = -1
        for g in task.groups {
            let p = ShardProposal(offset: g.offset, indices: g.indices, cosines: g.cosines.matrix().values, survivors: g.survivors)
            guard let first = p.indices.first, first > last, g.offset > last else {
                throw ProtocolError(.badRequest, "reduce groups overlap or are out of order at offset \(g.offset)")
            }
            do { try p.validate(for: g.offset..<(p.indices.last! + 1)) } catch let e as PruneError { throw ProtocolError(e) }
            let rows = g.rows.matrix()
            if let bad = rows.firstNonFinite() { throw nonFinite("proposal rows", bad, cols: rows.cols, offset: 0) }
            last = p.indices.last!
            groups.append(GlobalSelection.Group(proposal: p, rows: rows))
        }
        if let bad = task.weights.firstIndex(where: { !$0.isFinite || $0 <= 0 }) {
            throw ProtocolError(.nonFinite, "candidate weight \(bad) is \(task.weights[bad])")
        }
        let kept = GlobalSelection.select(groups, candidateWeights: task.weights, budget: task.budget, pool: pool)
        var features: WireTensor? = nil
        if task.returnRows, let cols = groups.first?.rows.cols {
            var position: [Int: (Int, Int)] = [:]
            for (g, group) in groups.enumerated() { for (s, i) in group.proposal.indices.enumerated() { position[i] = (g, s) } }
            let values = kept.flatMap { i -> [Float] in let (g, s) = position[i]!; return groups[g].rows.row(s) }
            features = WireTensor(rows: kept.count, cols: cols, floats: values)
        }
        return ReducedMessage(job: task.job, indices: kept, features: features, computeMs: (clock.now - start).milliseconds)
    }

    /// One shard's kept rows with its pruned tokens averaged in.
    public static func merge(_ task: MergeTask, data: ShardData, pool: ComputePool) throws -> MergedMessage {
        let features = data.features.matrix()
        if let bad = features.firstNonFinite() { throw nonFinite("features", bad, cols: features.cols, offset: 0) }
        let merged = TokenMerger.mergeShard(features: features, kept: task.kept, pool: pool)
        return MergedMessage(job: task.job, features: WireTensor(rows: merged.rows, cols: merged.cols, floats: merged.values))
    }

    /// Runs one task of a worker (on its compute thread); errors become the outcome.
    public static func run(_ work: WorkerState.Work, pool: ComputePool) -> WorkerState.Outcome {
        do {
            switch work {
            case .prepare(let t, let d):
                let (shard, scores) = try WorkerCompute.prepare(t, data: d, pool: pool)
                if let w = t.weights { return .proposed(try WorkerCompute.propose(t, shard, data: d, weights: w, pool: pool)) }
                return .prepared(shard, scores: scores)
            case .propose(let t, let shard, let d, let w):
                return .proposed(try WorkerCompute.propose(t, shard, data: d, weights: w, pool: pool))
            case .reduce(let t):
                return .reduced(try WorkerCompute.reduce(t, pool: pool))
            case .merge(let t, let d):
                return .merged(try WorkerCompute.merge(t, data: d, pool: pool))
            }
        } catch let e as ProtocolError {
            return .failed(e)
        } catch let e as PruneError {
            return .failed(ProtocolError(e))
        } catch {
            return .failed(ProtocolError(.internal, "\(error)"))
        }
    }

    private static func nonFinite(_ what: String, _ flat: Int, cols: Int, offset: Int) -> ProtocolError {
        ProtocolError(.nonFinite, "\(what) holds a NaN or infinite value at row \(offset + flat / cols), column \(flat % cols)")
    }
}
