import ScriptCore
import ScriptTransport
import ScriptWire

/// `reduce`: the global selection of a request (coordinator to worker): the greedy over the
/// union of every shard's proposal, under the request's budget.
public struct ReduceTask: BackendMessage {
    public static let type = "reduce"
    public static let fields: Set<String> = ["v", "type", "job", "request", "budget", "return_rows", "groups", "weights"]
    static let groupFields: Set<String> = ["offset", "indices", "survivors", "cosines", "rows"]

    public var job: Int
    public var request: String
    public var budget: Int
    /// Whether the kept rows come back too (return mode `features`).
    public var returnRows: Bool
    /// The proposals, in shard order (cosines and rows still encoded, as the shards sent them).
    public var groups: [ProposalMessage]
    /// The weight of every proposed token, in the order of `groups`.
    public var weights: [Float]

    public init(job: Int, request: String, budget: Int, returnRows: Bool, groups: [ProposalMessage], weights: [Float]) {
        self.job = job; self.request = request; self.budget = budget; self.returnRows = returnRows
        self.groups = groups; self.weights = weights
    }

    public func frames() -> [Frame] {
        var tensors: [Frame] = []
        let groupValues = groups.map { g -> MessagePackValue in
            tensors += [g.cosines.bytes, g.rows.bytes]
            return Envelope.mapValue([
                ("offset", .int(Int64(g.offset))), ("indices", .ints(g.indices)), ("survivors", .int(Int64(g.survivors))),
                ("cosines", g.cosines.descriptor(frame: tensors.count - 1)), ("rows", g.rows.descriptor(frame: tensors.count)),
            ])
        }
        tensors.append(TensorCodec.frame(weights))
        return Self.message([("job", .int(Int64(job))), ("request", .string(request)), ("budget", .int(Int64(budget))),
                             ("return_rows", .bool(returnRows)), ("groups", .array(groupValues)),
                             ("weights", TensorCodec.descriptor(shape: [weights.count], frame: tensors.count))], tensors)
    }

    public static func parse(_ e: Envelope, frames: [Frame], limits: RequestLimits) throws -> ReduceTask {
        try e.only(fields)
        let values = try e.array("groups")
        guard values.count <= limits.maxShards else { throw ProtocolError(.tooLarge, "\(values.count) groups") }
        let groups = try values.enumerated().map { i, v -> ProposalMessage in
            let g = try Envelope(v, context: "groups[\(i)]")
            try g.only(groupFields)
            let indices = try g.intArray("indices")
            let p = indices.count
            let cosines = try WireTensor.read(g, field: "cosines", frames: frames, maxElements: p * p)
            let rows = try WireTensor.read(g, field: "rows", frames: frames, maxElements: p * limits.maxWidth)
            guard cosines.dtype == .f32, cosines.rows == p, cosines.cols == p, rows.rows == p else {
                throw ProtocolError(.badShape, "groups[\(i)]: cosines \(cosines.rows) x \(cosines.cols), rows \(rows.rows), for \(p) tokens")
            }
            return ProposalMessage(job: 0, offset: try g.int("offset"), indices: indices, survivors: try g.int("survivors"),
                                   cosines: cosines, rows: rows, computeMs: 0)
        }
        let count = groups.reduce(0) { $0 + $1.indices.count }
        let budget = try e.int("budget")
        guard budget >= 1 else { throw ProtocolError(.badBudget, "budget \(budget)") }
        return ReduceTask(job: try e.int("job"), request: try e.string("request"), budget: budget,
                          returnRows: try e.bool("return_rows"), groups: groups,
                          weights: try TensorCodec.vector(e, field: "weights", frames: frames, count: count))
    }
}
