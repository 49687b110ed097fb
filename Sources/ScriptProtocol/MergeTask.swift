import ScriptTransport
import ScriptWire

/// `merge`: the kept rows of one shard with its pruned tokens averaged in (return mode
/// `merged`), computed by a worker holding the shard's bytes (coordinator to worker). The bytes
/// are those filed under `ticket`, or come inline / from the client like a shard's.
public struct MergeTask: BackendMessage {
    public static let type = "merge"
    public static let fields: Set<String> = ["v", "type", "job", "ticket", "request", "rows", "cols", "dtype", "kept",
                                             "deadline_ms", "features", "embeddings"]

    public var job: Int
    public var ticket: Ticket
    public var request: String
    public var rows: Int
    public var cols: Int
    public var dtype: TensorCodec.WireDType
    /// Kept tokens of the shard, local positions, ascending.
    public var kept: [Int]
    public var deadlineMs: Int
    public var data: ShardData?

    public init(job: Int, ticket: Ticket, request: String, rows: Int, cols: Int, dtype: TensorCodec.WireDType, kept: [Int],
                deadlineMs: Int, data: ShardData?) {
        self.job = job; self.ticket = ticket; self.request = request; self.rows = rows; self.cols = cols; self.dtype = dtype
        self.kept = kept; self.deadlineMs = deadlineMs; self.data = data
    }

    public func frames() -> [Frame] {
        var f: [(String, MessagePackValue)] = [
            ("job", .int(Int64(job))), ("ticket", .binary(ticket.bytes)), ("request", .string(request)),
            ("rows", .int(Int64(rows))), ("cols", .int(Int64(cols))), ("dtype", .string(dtype.rawValue)),
            ("kept", .ints(kept)), ("deadline_ms", .int(Int64(deadlineMs))),
        ]
        var tensors: [Frame] = []
        if let data {
            let (fields, frames) = data.fields(firstFrame: 1)
            f += fields
            tensors = frames
        }
        return Self.message(f, tensors)
    }

    public static func parse(_ e: Envelope, frames: [Frame], limits: RequestLimits) throws -> MergeTask {
        try e.only(fields)
        let rows = try e.int("rows"), cols = try e.int("cols")
        let dtypeName = try e.string("dtype")
        guard let dtype = TensorCodec.WireDType(rawValue: dtypeName) else { throw ProtocolError(.badTensor, "dtype '\(dtypeName)'") }
        let kept = try e.intArray("kept")
        var last = -1
        for k in kept {
            guard k > last, k < rows else { throw ProtocolError(.badRequest, "kept \(kept.prefix(8))... must ascend within 0..<\(rows)") }
            last = k
        }
        let task = MergeTask(job: try e.int("job"), ticket: try e.ticket("ticket"), request: try e.string("request"),
                             rows: rows, cols: cols, dtype: dtype, kept: kept, deadlineMs: max(0, try e.int("deadline_ms")),
                             data: try ShardData.read(e, frames: frames, limits: limits))
        if let d = task.data, d.features.rows != rows || d.features.cols != cols || d.features.dtype != dtype {
            throw ProtocolError(.badShape, "merge data is \(d.features.rows) x \(d.features.cols), expected \(rows) x \(cols)")
        }
        return task
    }
}
