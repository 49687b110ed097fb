import ScriptCore
import ScriptWire

/// What a client may ask for back.
public enum ReturnMode: String, Sendable, CaseIterable {
    case indices, features, merged
}

/// Bounds the coordinator enforces before it allocates anything for a request.
public struct RequestLimits: Sendable {
    public var maxTokens = 1_000_000
    public var maxWidth = 65_536
    public var maxShards = 4096
    public var maxQueryTokens = 4096
    public var maxDeadlineMs = 3_600_000
    public init() {}
}

/// A `prune` request: what a client sends and what the coordinator checked it to be.
public struct PruneSubmission: Sendable {
    public var id: String
    public var request: PruneRequest
    public var budget: Budget
    public var options: PruneOptions
    public var returnMode: ReturnMode
    /// Milliseconds the client will wait; nil: the coordinator's default.
    public var deadlineMs: Int?
    /// The features as they came over the wire, so shards are forwarded in the client's dtype
    /// without re-encoding (f16 to f32 is exact, so workers decode the very same values).
    public var wireFeatures: (dtype: TensorCodec.WireDType, bytes: [UInt8])?

    public init(id: String, request: PruneRequest, budget: Budget, options: PruneOptions = .defaults,
                returnMode: ReturnMode = .indices, deadlineMs: Int? = nil) {
        self.id = id
        self.request = request
        self.budget = budget
        self.options = options
        self.returnMode = returnMode
        self.deadlineMs = deadlineMs
    }

    static let fields: Set<String> = ["v", "type", "id", "features", "embeddings", "query", "budget", "shards", "options", "return", "deadline_ms"]

    /// The message frames: envelope, then features, embeddings and query frames.
    /// - Parameter halfPrecision: send tensors as f16 (half the bytes; values rounded to f16).
    public func frames(halfPrecision: Bool = false) -> [[UInt8]] {
        let dtype: TensorCodec.WireDType = halfPrecision ? .f16 : .f32
        let encode = { (m: Matrix) in halfPrecision ? TensorCodec.halfBytes(m.values) : TensorCodec.bytes(m.values) }
        var fields = ProtocolVersion.header("prune", id: id)
        var tensors: [[UInt8]] = []
        fields.append(("features", TensorCodec.descriptor(dtype: dtype, shape: [request.features.rows, request.features.cols], frame: 1)))
        tensors.append(encode(request.features))
        if let e = request.embeddings {
            tensors.append(encode(e))
            fields.append(("embeddings", TensorCodec.descriptor(dtype: dtype, shape: [e.rows, e.cols], frame: tensors.count)))
        }
        if let q = request.query {
            tensors.append(encode(q))
            fields.append(("query", TensorCodec.descriptor(dtype: dtype, shape: [q.rows, q.cols], frame: tensors.count)))
        }
        switch budget {
        case .count(let k): fields.append(("budget", .int(Int64(k))))
        case .ratio(let r): fields.append(("budget", .float(r)))
        }
        if let s = request.shards {
            fields.append(("shards", .array(s.map { .array([.int(Int64($0.lowerBound)), .int(Int64($0.upperBound))]) })))
        }
        fields.append(("options", OptionsCodec.encode(options)))
        fields.append(("return", .string(returnMode.rawValue)))
        if let deadlineMs { fields.append(("deadline_ms", .int(Int64(deadlineMs)))) }
        return [Envelope.encode(fields)] + tensors
    }

    /// Parses and validates a `prune` message (everything but the core's own validation of values).
    public static func parse(_ e: Envelope, frames: [[UInt8]], limits: RequestLimits) throws -> PruneSubmission {
        try e.only(fields)
        let id = try e.string("id")
        let maxElements = limits.maxTokens * limits.maxWidth
        let (fs, fv) = try TensorCodec.decode(e, field: "features", frames: frames, rank: 2, maxElements: maxElements)
        guard fs[0] <= limits.maxTokens else { throw ProtocolError(.tooLarge, "features has \(fs[0]) tokens, the limit is \(limits.maxTokens)") }
        guard fs[1] <= limits.maxWidth else { throw ProtocolError(.tooLarge, "features has width \(fs[1]), the limit is \(limits.maxWidth)") }
        var request = PruneRequest(features: Matrix(rows: fs[0], cols: fs[1], values: fv))
        if e.has("embeddings") {
            let (s, v) = try TensorCodec.decode(e, field: "embeddings", frames: frames, rank: 2, maxElements: maxElements)
            guard s[1] <= limits.maxWidth else { throw ProtocolError(.tooLarge, "embeddings has width \(s[1]), the limit is \(limits.maxWidth)") }
            request.embeddings = Matrix(rows: s[0], cols: s[1], values: v)
        }
        if e.has("query") {
            let (s, v) = try TensorCodec.decode(e, field: "query", frames: frames, rank: 2, maxElements: limits.maxQueryTokens * limits.maxWidth)
            request.query = Matrix(rows: s[0], cols: s[1], values: v)
        }
        let budget: Budget
        switch e["budget"] {
        case .int(let k)?: budget = .count(Int(k))
        case .uint(let k)?: budget = .count(Int(clamping: k))
        case .float(let r)?: budget = .ratio(r)
        case nil, .nil?: throw ProtocolError(.badRequest, "missing field 'budget'")
        case let other?: throw ProtocolError(.badRequest, "field 'budget' must be an integer or a float, got \(other.typeName)")
        }
        if e.has("shards") {
            let raw = try e.array("shards")
            guard raw.count <= limits.maxShards else { throw ProtocolError(.tooLarge, "\(raw.count) shards, the limit is \(limits.maxShards)") }
            request.shards = try raw.enumerated().map { i, v in
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
        var submission = PruneSubmission(id: id, request: request, budget: budget, options: options, returnMode: mode, deadlineMs: deadline)
        if let d = try? e.map("features"), let name = try? d.string("dtype"), let dtype = TensorCodec.WireDType(rawValue: name),
           let frame = try? d.int("frame") {
            submission.wireFeatures = (dtype, frames[frame])
        }
        return submission
    }
}

extension MessagePackValue {
    var intValue: Int? {
        switch self {
        case .int(let i): return Int(i)
        case .uint(let u) where u <= UInt64(Int.max): return Int(u)
        default: return nil
        }
    }
}
