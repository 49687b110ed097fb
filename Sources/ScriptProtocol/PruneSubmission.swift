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

/// A `prune` request as a client builds and sends it.
public struct PruneSubmission: Sendable {
    public var id: String
    public var request: PruneRequest
    public var budget: Budget
    public var options: PruneOptions
    public var returnMode: ReturnMode
    /// Milliseconds the client will wait; nil: the coordinator's default.
    public var deadlineMs: Int?

    public init(id: String, request: PruneRequest, budget: Budget, options: PruneOptions = .defaults,
                returnMode: ReturnMode = .indices, deadlineMs: Int? = nil) {
        self.id = id
        self.request = request
        self.budget = budget
        self.options = options
        self.returnMode = returnMode
        self.deadlineMs = deadlineMs
    }

    public static let fields: Set<String> = ["v", "type", "id", "features", "embeddings", "query", "budget", "shards", "options", "return", "deadline_ms"]

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
