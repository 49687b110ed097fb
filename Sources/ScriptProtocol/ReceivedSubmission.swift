import ScriptCore
import ScriptTransport
import ScriptWire

/// A `prune` request as the coordinator received it: every field and shape checked against the
/// limits, nothing decoded. The values (NaN, infinities) are checked by the workers, shard by
/// shard, as they read them anyway.
public struct ReceivedSubmission: Sendable {
    /// A tensor's dtype and shape, and its bytes when they came inline.
    public struct Tensor: Sendable {
        public var dtype: TensorCodec.WireDType
        public var rows: Int
        public var cols: Int
        public var inline: WireTensor?
    }

    public var id: String
    public var transfer: Transfer
    public var features: Tensor
    public var embeddings: Tensor?
    public var query: WireTensor?
    /// The layout (one shard when the request gives none).
    public var shards: [Range<Int>]
    /// The resolved budget k (may exceed the token count: keep everything).
    public var budget: Int
    public var options: PruneOptions
    public var returnMode: ReturnMode
    /// Milliseconds the client will wait; nil: the coordinator's default.
    public var deadlineMs: Int?
    /// Tokens per unit (frame, tile) of the layout, for Script+; nil when it has none.
    public var unitTokens: Int?
    /// Workers' data endpoints the client cannot reach (direct transfers): its shards go elsewhere.
    public var avoid: Set<String> = []

    public var tokenCount: Int { features.rows }

    /// The bytes of shard `index`, when they came inline.
    public func data(shard index: Int) -> ShardData? {
        guard let f = features.inline else { return nil }
        let r = shards[index]
        return ShardData(features: f.band(r), embeddings: embeddings?.inline?.band(r))
    }

    /// The methods the cluster runs (both shard the same way; the others run in-process).
    public static let methods: [PruneMethod] = [.script, .scriptPlus]

    /// Parses a `prune` message and checks its fields and shapes against `limits`.
    public static func parse(_ e: Envelope, frames: [Frame], limits: RequestLimits) throws -> ReceivedSubmission {
        try e.only(PruneSubmission.fields)
        let id = try e.string("id")
        let transfer = try readTransfer(e)
        let features = try tensor(e, "features", frames: frames, transfer: transfer, limits: limits)
        let n = features.rows
        guard n >= 1, features.cols >= 1 else { throw ProtocolError(.badShape, "features is empty (\(n) x \(features.cols))") }
        var embeddings: Tensor? = nil
        if e.has("embeddings") {
            let em = try tensor(e, "embeddings", frames: frames, transfer: transfer, limits: limits)
            guard em.rows == n else { throw ProtocolError(.badShape, "embeddings has \(em.rows) rows, expected \(n)") }
            guard em.cols >= 1 else { throw ProtocolError(.badShape, "embeddings is empty") }
            embeddings = em
        }
        var query: WireTensor? = nil
        if e.has("query") {
            let q = try WireTensor.read(e, field: "query", frames: frames, maxElements: limits.maxQueryTokens * limits.maxWidth)
            let width = embeddings?.cols ?? features.cols
            guard q.rows == 0 || q.cols == width else { throw ProtocolError(.badShape, "query has width \(q.cols), expected \(width)") }
            if q.rows > 0 { query = q }
        }
        let budget = try readBudget(e, tokens: n)
        let shards = try readShards(e, tokens: n, limits: limits)
        let options = e.has("options") ? try OptionsCodec.decode(try e.map("options")) : PruneOptions()
        guard Self.methods.contains(options.method) else {
            throw ProtocolError(.badOption, "the cluster runs methods \(Self.methods.map(\.rawValue)); '\(options.method.rawValue)' runs in-process (script-cluster prune)")
        }
        var unitTokens: Int? = nil
        if e.has("unit_tokens") {
            let u = try e.int("unit_tokens")
            guard u >= 1, u <= n else { throw ProtocolError(.badOption, "unit_tokens \(u) must be in 1...\(n)") }
            unitTokens = u
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
            guard d >= 1, d <= limits.maxDeadlineMs else { throw ProtocolError(.badRequest, "deadline_ms \(d) must be in 1...\(limits.maxDeadlineMs)") }
            deadline = d
        }
        return ReceivedSubmission(id: id, transfer: transfer, features: features, embeddings: embeddings, query: query,
                                  shards: shards, budget: budget, options: options, returnMode: mode, deadlineMs: deadline,
                                  unitTokens: unitTokens, avoid: try readAvoid(e, transfer: transfer))
    }

    /// Most data endpoints one `avoid` names (a client outside a large pool may reach none of
    /// its workers' data sockets, and learns them one by one), and the longest of them.
    public static let maxAvoid = 4096
    public static let maxAvoidBytes = 256

    /// The `avoid` field: data endpoints (1 to `maxAvoidBytes` bytes each, at most `maxAvoid`), for
    /// a direct transfer only. Also read from a retry of a request in flight.
    public static func readAvoid(_ e: Envelope, transfer: Transfer) throws -> Set<String> {
        guard e.has("avoid") else { return [] }
        guard transfer == .direct else { throw ProtocolError(.badRequest, "field 'avoid' names workers' data endpoints, for transfer 'direct' only") }
        let values = try e.array("avoid")
        guard values.count <= maxAvoid else { throw ProtocolError(.badRequest, "field 'avoid' names \(values.count) endpoints, at most \(maxAvoid)") }
        return Set(try values.enumerated().map { i, v -> String in
            guard case .string(let s) = v, (1...maxAvoidBytes).contains(s.utf8.count) else {
                throw ProtocolError(.badRequest, "avoid[\(i)] must be a string of 1 to \(maxAvoidBytes) bytes (a worker's data endpoint)")
            }
            return s
        })
    }

    private static func readTransfer(_ e: Envelope) throws -> Transfer {
        guard e.has("transfer") else { return .inline }
        let name = try e.string("transfer")
        guard let t = Transfer(rawValue: name) else { throw ProtocolError(.badRequest, "field 'transfer' must be inline or direct, got '\(name)'") }
        return t
    }

    /// A matrix field: inline (with its frame) or, for direct transfers, described only.
    private static func tensor(_ e: Envelope, _ field: String, frames: [Frame], transfer: Transfer, limits: RequestLimits) throws -> Tensor {
        let maxElements = limits.maxTokens * limits.maxWidth
        let t: Tensor
        if transfer == .inline {
            let w = try WireTensor.read(e, field: field, frames: frames, maxElements: maxElements)
            t = Tensor(dtype: w.dtype, rows: w.rows, cols: w.cols, inline: w)
        } else {
            let d = try e.map(field)
            try d.only(["dtype", "shape"], context: field)
            let name = try d.string("dtype")
            guard let dtype = TensorCodec.WireDType(rawValue: name) else { throw ProtocolError(.badTensor, "\(field).dtype '\(name)' is not f32, f16 or bf16") }
            let shape = try d.intArray("shape")
            guard shape.count == 2, shape.allSatisfy({ $0 >= 0 }) else { throw ProtocolError(.badTensor, "\(field).shape \(shape) must be [rows, cols]") }
            guard shape[0].multipliedReportingOverflow(by: shape[1]).partialValue <= maxElements,
                  !shape[0].multipliedReportingOverflow(by: shape[1]).overflow else {
                throw ProtocolError(.tooLarge, "\(field).shape \(shape) exceeds \(maxElements) elements")
            }
            t = Tensor(dtype: dtype, rows: shape[0], cols: shape[1], inline: nil)
        }
        guard t.rows <= limits.maxTokens else { throw ProtocolError(.tooLarge, "\(field) has \(t.rows) tokens, the limit is \(limits.maxTokens)") }
        guard t.cols <= limits.maxWidth else { throw ProtocolError(.tooLarge, "\(field) has width \(t.cols), the limit is \(limits.maxWidth)") }
        return t
    }

    private static func readBudget(_ e: Envelope, tokens n: Int) throws -> Int {
        let budget: Budget
        switch e["budget"] {
        case .int(let k)?: budget = .count(Int(k))
        case .uint(let k)?: budget = .count(Int(clamping: k))
        case .float(let r)?: budget = .ratio(r)
        case nil, .nil?: throw ProtocolError(.badRequest, "missing field 'budget'")
        case let other?: throw ProtocolError(.badRequest, "field 'budget' must be an integer or a float, got \(other.typeName)")
        }
        do { return try budget.resolve(tokens: n) } catch let error as PruneError { throw ProtocolError(error) }
    }

    private static func readShards(_ e: Envelope, tokens n: Int, limits: RequestLimits) throws -> [Range<Int>] {
        guard e.has("shards") else { return [0..<n] }
        let raw = try e.array("shards")
        guard raw.count <= limits.maxShards else { throw ProtocolError(.tooLarge, "\(raw.count) shards, the limit is \(limits.maxShards)") }
        let shards = try raw.enumerated().map { i, v -> Range<Int> in
            guard case .array(let ends) = v, ends.count == 2, let a = ends[0].intValue, let b = ends[1].intValue, a >= 0, b >= a else {
                throw ProtocolError(.badShards, "shards[\(i)] must be [start, end] with 0 <= start <= end")
            }
            return a..<b
        }
        do { try PruneRequest.validate(shards: shards, tokens: n) } catch let error as PruneError { throw ProtocolError(error) }
        return shards
    }
}
