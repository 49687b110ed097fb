import ScriptTransport
import ScriptCore
import ScriptWire

/// A `prune` request as the coordinator received it: every field checked, the small tensors
/// decoded, the features kept as they came (see `WireTensor`).
public struct ReceivedSubmission: Sendable {
    public var id: String
    public var features: WireTensor
    public var embeddings: Matrix?
    public var query: Matrix?
    public var shards: [Range<Int>]?
    public var budget: Budget
    public var options: PruneOptions
    public var returnMode: ReturnMode
    /// Milliseconds the client will wait; nil: the coordinator's default.
    public var deadlineMs: Int?

    /// Parses a `prune` message and checks its fields and shapes against `limits` (the values
    /// are checked when the request is prepared).
    public static func parse(_ e: Envelope, frames: [Frame], limits: RequestLimits) throws -> ReceivedSubmission {
        try e.only(PruneSubmission.fields)
        let id = try e.string("id")
        let maxElements = limits.maxTokens * limits.maxWidth
        let (fs, dtype, bytes) = try TensorCodec.encoded(e, field: "features", frames: frames, rank: 2, maxElements: maxElements)
        guard fs[0] <= limits.maxTokens else { throw ProtocolError(.tooLarge, "features has \(fs[0]) tokens, the limit is \(limits.maxTokens)") }
        guard fs[1] <= limits.maxWidth else { throw ProtocolError(.tooLarge, "features has width \(fs[1]), the limit is \(limits.maxWidth)") }
        var embeddings: Matrix? = nil, query: Matrix? = nil
        if e.has("embeddings") {
            let (s, v) = try TensorCodec.decode(e, field: "embeddings", frames: frames, rank: 2, maxElements: maxElements)
            guard s[1] <= limits.maxWidth else { throw ProtocolError(.tooLarge, "embeddings has width \(s[1]), the limit is \(limits.maxWidth)") }
            embeddings = Matrix(rows: s[0], cols: s[1], values: v)
        }
        if e.has("query") {
            let (s, v) = try TensorCodec.decode(e, field: "query", frames: frames, rank: 2, maxElements: limits.maxQueryTokens * limits.maxWidth)
            query = Matrix(rows: s[0], cols: s[1], values: v)
        }
        let budget: Budget
        switch e["budget"] {
        case .int(let k)?: budget = .count(Int(k))
        case .uint(let k)?: budget = .count(Int(clamping: k))
        case .float(let r)?: budget = .ratio(r)
        case nil, .nil?: throw ProtocolError(.badRequest, "missing field 'budget'")
        case let other?: throw ProtocolError(.badRequest, "field 'budget' must be an integer or a float, got \(other.typeName)")
        }
        var shards: [Range<Int>]? = nil
        if e.has("shards") {
            let raw = try e.array("shards")
            guard raw.count <= limits.maxShards else { throw ProtocolError(.tooLarge, "\(raw.count) shards, the limit is \(limits.maxShards)") }
            shards = try raw.enumerated().map { i, v in
                guard case .array(let ends) = v, ends.count == 2, let a = ends[0].intValue, let b = ends[1].intValue, a >= 0, b >= a else {
                    throw ProtocolError(.badShards, "shards[\(i)] must be [start, end] with 0 <= start <= end")
                }
                return a..<b
            }
        }
        let options = e.has("options") ? try OptionsCodec.decode(try e.map("options")) : PruneOptions()
        guard options.method == .script else {
            throw ProtocolError(.badOption, "the cluster runs method 'script'; '\(options.method.rawValue)' runs in-process (script-cluster prune)")
        }
        var mode = ReturnMode.indices
        if e.has("return") {
            let name = try e.string("return")
            guard let m = ReturnMode(rawValue: name) else { throw ProtocolError(.badRequest, "field 'return' must be indices, features or merged, got '\(name)'") }
            mode = m
        }
        var deadline: Int? = nil
        if e.has("deadline_ms") {
            let d = try e.int("deadline_ms")
            guard d >= 1, d <= limits.maxDeadlineMs else {
                throw ProtocolError(.badRequest, "deadline_ms \(d) must be in 1...\(limits.maxDeadlineMs)")
            }
            deadline = d
        }
        return ReceivedSubmission(id: id, features: WireTensor(dtype: dtype, rows: fs[0], cols: fs[1], bytes: bytes),
                                  embeddings: embeddings, query: query, shards: shards, budget: budget, options: options,
                                  returnMode: mode, deadlineMs: deadline)
    }

    /// Throws the first problem with the values: what `PruneRequest.validate()` checks, with
    /// the features checked in their wire form.
    public func validate(pool: ComputePool = .serial) throws {
        let n = features.rows, d = features.cols
        if let bad = features.firstNonFinite(pool: pool) {
            throw PruneError.nonFinite(what: "features", row: bad / d, column: bad % d)
        }
        try PruneRequest.validate(tokens: n, width: d, embeddings: embeddings, query: query, shards: shards)
    }
}
