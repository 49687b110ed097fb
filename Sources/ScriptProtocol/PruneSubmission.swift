import ScriptTransport
import ScriptCore
import ScriptWire

/// A `prune` request as a client builds it.
public struct PruneSubmission: Sendable {
    public var id: String
    public var request: PruneRequest
    public var budget: Budget
    public var options: PruneOptions
    public var returnMode: ReturnMode
    /// Milliseconds the client will wait; nil: the coordinator's default.
    public var deadlineMs: Int?
    /// The dtype tensors travel in (f16 and bf16 halve the bytes; values are rounded to it).
    public var dtype: TensorCodec.WireDType
    public var transfer: Transfer

    public init(id: String, request: PruneRequest, budget: Budget, options: PruneOptions = .defaults,
                returnMode: ReturnMode = .indices, deadlineMs: Int? = nil, dtype: TensorCodec.WireDType = .f32,
                transfer: Transfer = .inline) {
        self.id = id
        self.request = request
        self.budget = budget
        self.options = options
        self.returnMode = returnMode
        self.deadlineMs = deadlineMs
        self.dtype = dtype
        self.transfer = transfer
    }

    public static let fields: Set<String> = ["v", "type", "id", "features", "embeddings", "query", "budget", "shards", "options",
                                             "return", "deadline_ms", "transfer", "unit_tokens", "avoid"]

    /// The tensors encoded once in the wire dtype, ready to be sent (and sent again on a retry).
    public func encoded() -> EncodedSubmission {
        EncodedSubmission(self)
    }

    /// The `prune` message's frames (envelope, then tensor frames), as `encoded().frames()`.
    /// - Parameter halfPrecision: send tensors as f16 (overrides `dtype`).
    public func frames(halfPrecision: Bool = false) -> [[UInt8]] {
        var s = self
        if halfPrecision { s.dtype = .f16 }
        return s.encoded().frames().map(\.bytes)
    }
}

/// A submission with its tensors encoded: the `prune` message, and for direct transfers each
/// shard's `data` message.
public struct EncodedSubmission: Sendable {
    public private(set) var id: String
    public let transfer: Transfer
    public private(set) var features: WireTensor
    public private(set) var embeddings: WireTensor?
    public let query: WireTensor?
    /// The layout as sent (nil: one shard).
    public let shards: [Range<Int>]?
    /// Workers' data endpoints the client cannot reach, sent as `avoid` (direct transfers).
    public private(set) var avoid: Set<String> = []
    /// `deadline_ms` as sent: how long the cluster may take (nil: the coordinator's default).
    public private(set) var deadlineMs: Int?
    private let envelopeFields: [(String, MessagePackValue)]

    /// The same request under another id (the tensors are shared, not copied).
    public func renamed(_ newID: String) -> EncodedSubmission {
        var e = self
        e.id = newID
        return e
    }

    /// The same request naming `endpoints` in `avoid`, so that the coordinator places none of its
    /// shards on the workers behind them (direct transfers only: an inline request is returned as is).
    public func avoiding(_ endpoints: Set<String>) -> EncodedSubmission {
        guard transfer == .direct else { return self }
        var e = self
        e.avoid = endpoints
        return e
    }

    /// The same request with its features and embeddings copied into shared memory
    /// (`WireTensor.inSharedMemory`): sent direct, they are read in place by the workers on this
    /// host behind Unix sockets (`ipc://`) that can read this process's memory (its PID
    /// namespace and user: `Placement.readsSharedMemory`), and sent as bytes to the others.
    public func inSharedMemory() throws -> EncodedSubmission {
        var e = self
        e.features = try features.inSharedMemory()
        e.embeddings = try embeddings?.inSharedMemory()
        return e
    }

    /// The same request due within `ms` (a try sent again carries the time its caller has left).
    public func due(withinMs ms: Int) -> EncodedSubmission {
        var e = self
        e.deadlineMs = ms
        return e
    }

    init(_ s: PruneSubmission) {
        id = s.id
        deadlineMs = s.deadlineMs
        transfer = s.transfer
        features = TensorCodec.encode(s.request.features, dtype: s.dtype)
        embeddings = s.request.embeddings.map { TensorCodec.encode($0, dtype: s.dtype) }
        query = s.request.query.map { TensorCodec.encode($0, dtype: s.dtype) }
        shards = s.request.shards
        var f: [(String, MessagePackValue)] = []
        switch s.budget {
        case .count(let k): f.append(("budget", .int(Int64(k))))
        case .ratio(let r): f.append(("budget", .float(r)))
        }
        if let shards = s.request.shards {
            f.append(("shards", .array(shards.map { .array([.int(Int64($0.lowerBound)), .int(Int64($0.upperBound))]) })))
        }
        f.append(("options", OptionsCodec.encode(s.options)))
        if let u = s.request.unitTokens { f.append(("unit_tokens", .int(Int64(u)))) }
        f.append(("return", .string(s.returnMode.rawValue)))
        if s.transfer == .direct { f.append(("transfer", .string("direct"))) }
        envelopeFields = f
    }

    /// The `prune` message: envelope, then the tensors (direct: only the query's; features and
    /// embeddings are described, and go to the workers).
    public func frames() -> [Frame] {
        var fields = ProtocolVersion.header("prune", id: id)
        var tensors: [Frame] = []
        func add(_ name: String, _ t: WireTensor, inline: Bool) {
            if inline {
                tensors.append(t.bytes)
                fields.append((name, t.descriptor(frame: tensors.count)))
            } else {
                fields.append((name, Envelope.mapValue([("dtype", .string(t.dtype.rawValue)),
                                                        ("shape", .array([.int(Int64(t.rows)), .int(Int64(t.cols))]))])))
            }
        }
        add("features", features, inline: transfer == .inline)
        if let embeddings { add("embeddings", embeddings, inline: transfer == .inline) }
        if let query { add("query", query, inline: true) }
        if !avoid.isEmpty { fields.append(("avoid", .array(avoid.sorted().map { .string($0) }))) }
        if let deadlineMs { fields.append(("deadline_ms", .int(Int64(deadlineMs)))) }
        return [Frame(Envelope.encode(fields + envelopeFields))] + tensors
    }

    /// The bytes of shard `index` (of the layout sent), for a direct transfer under `ticket`.
    public func data(shard index: Int, ticket: Ticket) -> DataMessage? {
        let layout = shards ?? [0..<features.rows]
        guard layout.indices.contains(index) else { return nil }
        let r = layout[index]
        return DataMessage(ticket: ticket, data: ShardData(features: features.band(r), embeddings: embeddings?.band(r)))
    }

    /// Bytes of the `prune` message, and of its largest frame.
    public var messageBytes: (total: Int, largestFrame: Int) {
        let frames = self.frames()
        return (frames.reduce(0) { $0 + $1.count }, frames.map(\.count).max() ?? 0)
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
