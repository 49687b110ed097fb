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
        let bf16 = task.options.similarity == .bf16
        if bf16 { try BFloat16Products.requireReady() }
        // Decoded, normed and (in bf16) rounded in one pass.
        let (features, inverseNorms) = data.features.matrixWithInverseNorms(pool: pool, keeping: kept(task))
        // A value that is not finite is searched for in the float32 values, decoded again if need be.
        let searched = !features.hasFloat32 && inverseNorms.contains(where: \.isNaN) ? data.features.matrix() : features
        try usable(searched, "features", inverseNorms: inverseNorms, offset: task.offset)
        var scores: [Float]? = nil
        if let q = task.query, task.weights == nil {
            let query = q.matrix()
            try usable(query, "query", inverseNorms: nil, offset: 0)
            var (embeddings, norms) = (features, inverseNorms)
            if let e = data.embeddings {
                (embeddings, norms) = e.matrixWithInverseNorms(pool: pool)
                try usable(embeddings, "embeddings", inverseNorms: norms, offset: task.offset)
            }
            scores = QueryRelevance.scores(embeddings: embeddings, inverseNorms: norms, query: query,
                                           shards: [0..<embeddings.rows], pool: pool)
        }
        return (PreparedShard(features: features, inverseNorms: inverseNorms), scores)
    }

    /// What a shard's features are decoded to: in bf16 their rounding alone where nothing reads
    /// the float32 values.
    static func kept(_ task: ShardTask) -> FilledValues {
        FilledValues.shard(rows: task.rows, options: task.options, float32Read: scoredByFeatures(task))
    }

    /// Whether the shard's relevance is taken from its features' float32 values: with a query,
    /// no weights yet and no separate embeddings.
    static func scoredByFeatures(_ task: ShardTask) -> Bool {
        task.query != nil && task.weights == nil && task.embeddingCols == 0
    }

    /// A shard's graph stage, built before its weights are known: Script's graph with its
    /// survivors, or Script+'s unit graph (whose survivors depend on the relevance).
    public enum Graph: Sendable {
        case script(ShardGraph)
        case scriptPlus(UnitGraph)
    }

    /// Graph pruning of a prepared shard (it needs no weights).
    public static func graph(_ task: ShardTask, _ shard: PreparedShard, pool: ComputePool) throws -> Graph {
        let job = try self.job(task, shard, weights: [Float](repeating: 1, count: task.rows), relevance: nil)
        if task.options.method == .scriptPlus {
            return .scriptPlus(ScriptPlus.graph(job, inverseNorms: shard.inverseNorms, pool: pool))
        }
        return .script(ScriptPruning.graph(shard.features, inverseNorms: shard.inverseNorms, keep: ScriptPruning.keepCount(job),
                                           options: task.options, pool: pool))
    }

    /// The local proposal of a shard whose graph is built, with its rows in the shard's dtype.
    public static func propose(_ task: ShardTask, _ shard: PreparedShard, graph: Graph, data: ShardData, weights: [Float],
                               relevance: [Float]?, pool: ComputePool) throws -> ProposalMessage {
        let clock = ContinuousClock()
        let start = clock.now
        let job = try self.job(task, shard, weights: weights, relevance: relevance)
        let proposal: ShardProposal
        switch graph {
        case .script(let g): proposal = ScriptPruning.propose(job, graph: g, pool: pool)
        case .scriptPlus(let g): proposal = ScriptPlus.propose(job, graph: g, inverseNorms: shard.inverseNorms, pool: pool)
        }
        let rows = data.features.gather(proposal.indices.map { $0 - task.offset })
        return ProposalMessage(job: task.job, proposal, rows: rows, computeMs: (clock.now - start).milliseconds)
    }

    /// The shard's job, checked (relevance and unit size matter to Script+ only).
    private static func job(_ task: ShardTask, _ shard: PreparedShard, weights: [Float], relevance: [Float]?) throws -> ShardJob {
        let plus = task.options.method == .scriptPlus
        let job = ShardJob(features: shard.features, weights: weights, offset: task.offset, totalTokens: task.total,
                           budget: task.budget, options: task.options, relevance: plus ? relevance : nil,
                           unitTokens: plus ? task.unitTokens : nil)
        do { try job.validate(featureInverseNorms: shard.inverseNorms) } catch let e as PruneError { throw ProtocolError(e) }
        return job
    }

    /// Takes proposals into a request's global selection, checking what a worker must not
    /// trust, and computes the cosines between proposals not yet known: all of them, or `early`
    /// (more proposals to come) a short step of them: a block a thread, or one proposal's share
    /// of those left when many small proposals wait (so the steps stay few).
    public static func absorb(_ selection: GlobalSelection, _ groups: [ReduceTask.Group], early: Bool = false,
                              similarity: SimilarityPrecision = .f32, pool: ComputePool) throws -> GlobalSelection {
        var s = selection
        var batch: [GlobalSelection.Group] = []
        for g in groups {
            let m = g.proposal
            let p = ShardProposal(offset: m.offset, indices: m.indices, cosines: m.cosines.matrix().values, survivors: m.survivors)
            guard let first = p.indices.first, let last = p.indices.last, first >= m.offset else {
                throw ProtocolError(.badRequest, "reduce group at offset \(m.offset) is empty or starts before its offset")
            }
            do { try p.validate(for: m.offset..<(last + 1)) } catch let e as PruneError { throw ProtocolError(e) }
            for other in s.groups + batch {
                let o = other.proposal
                guard last < o.offset || first > o.indices.last! || o.offset == m.offset else {
                    throw ProtocolError(.badRequest, "reduce groups at offsets \(m.offset) and \(o.offset) overlap")
                }
            }
            var rows = m.rows.matrix()
            if let bad = rows.firstNonFinite() { throw nonFinite("proposal rows", bad, cols: rows.cols, offset: 0) }
            rows = try rounded(rows, similarity, pool: pool)
            if let bad = g.weights.firstIndex(where: { !$0.isFinite || $0 <= 0 }) {
                throw ProtocolError(.nonFinite, "weight \(bad) of the group at offset \(m.offset) is \(g.weights[bad])")
            }
            batch.append(GlobalSelection.Group(proposal: p, rows: rows, weights: g.weights))
        }
        // Whichever blocks, in one parallel loop: the same values as one at a time.
        s.add(batch, computing: 0, pool: pool)
        s.add([], computing: early ? max(pool.width, s.pendingBlocks / max(1, s.groups.count)) : nil, pool: pool)
        return s
    }

    /// The kept tokens of a request once every proposal is in (with their rows, when asked).
    public static func select(_ selection: GlobalSelection, _ task: ReduceTask, pool: ComputePool) -> ReducedMessage {
        let clock = ContinuousClock()
        let start = clock.now
        let kept = selection.select(budget: task.budget, pool: pool)
        var features: WireTensor? = nil
        if task.returnRows, let cols = selection.groups.first?.rows.cols {
            var position: [Int: (Int, Int)] = [:]
            for (g, group) in selection.groups.enumerated() { for (s, i) in group.proposal.indices.enumerated() { position[i] = (g, s) } }
            let values = kept.flatMap { i -> [Float] in let (g, s) = position[i]!; return selection.groups[g].rows.row(s) }
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
                let (shard, scores) = try prepare(t, data: d, pool: pool)
                guard let w = t.weights else { return .prepared(shard, scores: scores) }
                // Weights known already (a shard moved, or no query): the whole job at once.
                let g = try graph(t, shard, pool: pool)
                return .proposed(try propose(t, shard, graph: g, data: d, weights: w, relevance: t.relevance, pool: pool))
            case .graph(let t, let shard):
                return .graphed(try graph(t, shard, pool: pool))
            case .propose(let t, let shard, let g, let d, let w, let r):
                return .proposed(try propose(t, shard, graph: g, data: d, weights: w, relevance: r, pool: pool))
            case .absorb(let s, let groups, let all, let similarity):
                return .absorbed(try absorb(s, groups, early: !all, similarity: similarity, pool: pool))
            case .select(let s, let t):
                return .reduced(select(s, t, pool: pool))
            case .merge(let t, let d):
                return .merged(try merge(t, data: d, pool: pool))
            }
        } catch let e as ProtocolError {
            return .failed(e)
        } catch let e as PruneError {
            return .failed(ProtocolError(e))
        } catch {
            return .failed(ProtocolError(.internal, "\(error)"))
        }
    }

    /// `m` with its bfloat16 rounding where the request's cosines are in bf16 (the same bits as
    /// in-process: the rounding is of each value alone), or refused where this worker cannot.
    private static func rounded(_ m: Matrix, _ similarity: SimilarityPrecision, pool: ComputePool) throws -> Matrix {
        guard similarity == .bf16 else { return m }
        try BFloat16Products.requireReady()
        return m.withBFloat16(pool: pool)
    }

    /// `checkUsable`'s refusal as the protocol's error (rows counted from the shard's start).
    private static func usable(_ m: Matrix, _ what: String, inverseNorms: [Float]?, offset: Int) throws {
        do { try m.checkUsable(what, inverseNorms: inverseNorms, rowOffset: offset) } catch { throw ProtocolError(error) }
    }

    private static func nonFinite(_ what: String, _ flat: Int, cols: Int, offset: Int) -> ProtocolError {
        ProtocolError(.nonFinite, "\(what) holds a NaN or infinite value at row \(offset + flat / cols), column \(flat % cols)")
    }
}
