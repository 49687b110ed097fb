import ScriptCore
import ScriptTransport
import ScriptWire

/// `shard`: compute one shard of a request (coordinator to worker). The worker first sends the
/// shard's relevance scores (when the request has a query), then, once it has the shard's
/// weights (here, or later in `WeightsMessage`), its proposal. The shard's bytes come inline
/// (`data`) or straight from the client under `ticket`.
public struct ShardTask: BackendMessage {
    public static let type = "shard"
    public static let fields: Set<String> = [
        "v", "type", "job", "ticket", "request", "offset", "rows", "cols", "dtype", "embedding_cols", "total", "budget",
        "options", "deadline_ms", "query", "weights", "relevance", "features", "embeddings", "unit_tokens",
    ]

    public var job: Int
    public var ticket: Ticket
    /// The request's id (for logs).
    public var request: String
    /// Global index of the shard's first token, its token count, width and dtype.
    public var offset: Int
    public var rows: Int
    public var cols: Int
    public var dtype: TensorCodec.WireDType
    /// Width of the shard's embeddings; 0 when the request has none (the features serve).
    public var embeddingCols: Int
    /// Tokens in the request (N) and its budget (k).
    public var total: Int
    public var budget: Int
    public var options: PruneOptions
    /// Time left before the request's deadline.
    public var deadlineMs: Int
    /// The query's token embeddings (small; nil without a query).
    public var query: WireTensor?
    /// The shard's weights and relevance, when already known (a requeued shard, or no query).
    public var weights: [Float]?
    public var relevance: [Float]?
    /// The shard's bytes, when sent inline.
    public var data: ShardData?
    /// Tokens per unit (frame, tile) of the request, for Script+; nil when it has none.
    public var unitTokens: Int?

    public init(job: Int, ticket: Ticket, request: String, offset: Int, rows: Int, cols: Int, dtype: TensorCodec.WireDType,
                embeddingCols: Int, total: Int, budget: Int, options: PruneOptions, deadlineMs: Int, query: WireTensor?,
                weights: [Float]?, relevance: [Float]?, data: ShardData?, unitTokens: Int? = nil) {
        self.job = job; self.ticket = ticket; self.request = request; self.offset = offset; self.rows = rows; self.cols = cols
        self.dtype = dtype; self.embeddingCols = embeddingCols; self.total = total; self.budget = budget; self.options = options
        self.deadlineMs = deadlineMs; self.query = query; self.weights = weights; self.relevance = relevance; self.data = data
        self.unitTokens = unitTokens
    }

    public func frames() -> [Frame] {
        var f: [(String, MessagePackValue)] = [
            ("job", .int(Int64(job))), ("ticket", .binary(ticket.bytes)), ("request", .string(request)),
            ("offset", .int(Int64(offset))), ("rows", .int(Int64(rows))), ("cols", .int(Int64(cols))),
            ("dtype", .string(dtype.rawValue)), ("embedding_cols", .int(Int64(embeddingCols))),
            ("total", .int(Int64(total))), ("budget", .int(Int64(budget))), ("options", OptionsCodec.encode(options)),
            ("deadline_ms", .int(Int64(deadlineMs))),
        ]
        if let unitTokens { f.append(("unit_tokens", .int(Int64(unitTokens)))) }
        var tensors: [Frame] = []
        func add(_ name: String, _ t: WireTensor) {
            tensors.append(t.bytes)
            f.append((name, t.descriptor(frame: tensors.count)))
        }
        func add(_ name: String, _ v: [Float]) {
            tensors.append(TensorCodec.frame(v))
            f.append((name, TensorCodec.descriptor(shape: [v.count], frame: tensors.count)))
        }
        if let query { add("query", query) }
        if let weights { add("weights", weights) }
        if let relevance { add("relevance", relevance) }
        if let data {
            let (fields, frames) = data.fields(firstFrame: tensors.count + 1)
            f += fields
            tensors += frames
        }
        return Self.message(f, tensors)
    }

    public static func parse(_ e: Envelope, frames: [Frame], limits: RequestLimits) throws -> ShardTask {
        try e.only(fields)
        let rows = try e.int("rows"), cols = try e.int("cols"), total = try e.int("total"), offset = try e.int("offset")
        guard rows >= 1, cols >= 1, rows <= limits.maxTokens, cols <= limits.maxWidth, offset >= 0, total >= offset + rows else {
            throw ProtocolError(.badShape, "shard \(offset)..<\(offset + rows) of width \(cols) in \(total) tokens")
        }
        let dtypeName = try e.string("dtype")
        guard let dtype = TensorCodec.WireDType(rawValue: dtypeName) else { throw ProtocolError(.badTensor, "dtype '\(dtypeName)'") }
        let query = e.has("query")
            ? try WireTensor.read(e, field: "query", frames: frames, maxElements: limits.maxQueryTokens * limits.maxWidth) : nil
        let weights = e.has("weights") ? try TensorCodec.vector(e, field: "weights", frames: frames, count: rows) : nil
        let relevance = e.has("relevance") ? try TensorCodec.vector(e, field: "relevance", frames: frames, count: rows) : nil
        let task = ShardTask(job: try e.int("job"), ticket: try e.ticket("ticket"), request: try e.string("request"),
                             offset: offset, rows: rows, cols: cols, dtype: dtype, embeddingCols: max(0, try e.int("embedding_cols")),
                             total: total, budget: try e.int("budget"), options: try OptionsCodec.decode(try e.map("options")),
                             deadlineMs: max(0, try e.int("deadline_ms")), query: query, weights: weights, relevance: relevance,
                             data: try ShardData.read(e, frames: frames, limits: limits),
                             unitTokens: e.has("unit_tokens") ? try e.int("unit_tokens") : nil)
        if let data = task.data { try task.check(data) }
        return task
    }

    /// Checks that `data` is this shard's: its shape, dtype and embeddings.
    public func check(_ data: ShardData) throws {
        let f = data.features
        guard f.rows == rows, f.cols == cols, f.dtype == dtype else {
            throw ProtocolError(.badShape, "shard data is \(f.rows) x \(f.cols) \(f.dtype.rawValue), expected \(rows) x \(cols) \(dtype.rawValue)")
        }
        guard (data.embeddings?.cols ?? 0) == embeddingCols, (data.embeddings?.rows ?? rows) == rows else {
            throw ProtocolError(.badShape, "shard embeddings are \(data.embeddings.map { "\($0.rows) x \($0.cols)" } ?? "absent"), expected width \(embeddingCols)")
        }
    }
}
