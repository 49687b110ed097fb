import ScriptTransport
import ScriptCore
import ScriptWire

/// `shard`: one shard of a request, coordinator to worker.
public enum ShardMessage {
    static let fields: Set<String> = ["v", "type", "job", "offset", "total", "budget", "options", "features", "weights"]

    public static func frames(job: Int, _ s: ShardJob) -> [[UInt8]] {
        [envelope(job: job, offset: s.offset, rows: s.features.rows, cols: s.features.cols, total: s.totalTokens,
                  budget: s.budget, options: s.options, dtype: .f32),
         TensorCodec.bytes(s.features.values), TensorCodec.bytes(s.weights)]
    }

    public static func envelope(job: Int, offset: Int, rows: Int, cols: Int, total: Int, budget: Int, options: PruneOptions,
                         dtype: TensorCodec.WireDType) -> [UInt8] {
        var f = ProtocolVersion.header("shard")
        f += [("job", .int(Int64(job))), ("offset", .int(Int64(offset))), ("total", .int(Int64(total))),
              ("budget", .int(Int64(budget))), ("options", OptionsCodec.encode(options)),
              ("features", TensorCodec.descriptor(dtype: dtype, shape: [rows, cols], frame: 1)),
              ("weights", TensorCodec.descriptor(shape: [rows], frame: 2))]
        return Envelope.encode(f)
    }

    /// The job number, the shard, and its features' inverse row norms (the validation pass
    /// computes them; the proposal reuses them).
    public static func parse(_ e: Envelope, frames: [Frame], limits: RequestLimits) throws
        -> (job: Int, shard: ShardJob, inverseNorms: [Float]) {
        try e.only(fields)
        let job = try e.int("job")
        let (fs, fv) = try TensorCodec.decode(e, field: "features", frames: frames, rank: 2, maxElements: limits.maxTokens * limits.maxWidth)
        let (ws, wv) = try TensorCodec.decode(e, field: "weights", frames: frames, rank: 1, maxElements: limits.maxTokens)
        guard ws[0] == fs[0] else { throw ProtocolError(.badShape, "weights has \(ws[0]) values for \(fs[0]) tokens") }
        let shard = ShardJob(features: Matrix(rows: fs[0], cols: fs[1], values: fv), weights: wv,
                             offset: try e.int("offset"), totalTokens: try e.int("total"), budget: try e.int("budget"),
                             options: try OptionsCodec.decode(try e.map("options")))
        let inverseNorms = shard.features.rowInverseNorms()
        do { try shard.validate(featureInverseNorms: inverseNorms) } catch let err as PruneError { throw ProtocolError(err) }
        return (job, shard, inverseNorms)
    }
}

/// `proposal`: a shard's answer, worker to coordinator.
public enum ProposalMessage {
    static let fields: Set<String> = ["v", "type", "job", "offset", "indices", "survivors", "cosines", "compute_ms"]

    public static func frames(job: Int, _ p: ShardProposal, computeMs: Double) -> [[UInt8]] {
        var f = ProtocolVersion.header("proposal")
        f += [("job", .int(Int64(job))), ("offset", .int(Int64(p.offset))), ("indices", .array(p.indices.map { .int(Int64($0)) })),
              ("survivors", .int(Int64(p.survivors))),
              ("cosines", TensorCodec.descriptor(shape: [p.indices.count, p.indices.count], frame: 1)),
              ("compute_ms", .float(computeMs))]
        return [Envelope.encode(f), TensorCodec.bytes(p.cosines)]
    }

    public static func parse(_ e: Envelope, frames: [Frame]) throws -> (job: Int, proposal: ShardProposal, computeMs: Double) {
        try e.only(fields)
        let indices = try e.intArray("indices")
        let (_, cos) = try TensorCodec.decode(e, field: "cosines", frames: frames, rank: 2, maxElements: indices.count * indices.count)
        let p = ShardProposal(offset: try e.int("offset"), indices: indices, cosines: cos, survivors: try e.int("survivors"))
        return (try e.int("job"), p, e.has("compute_ms") ? try e.double("compute_ms") : 0)
    }
}
