import ScriptCore
import ScriptTransport
import ScriptWire

/// `reduce`: the global selection of a request (coordinator to worker): the greedy over the
/// union of every shard's proposal, under the request's budget. The proposals come as they
/// arrive: the first message names the job and carries the proposals in so far, later ones (the
/// same job) carry more, and the one marked `final` completes them; the worker takes each in as
/// it comes and selects after the last.
public struct ReduceTask: BackendMessage {
    public static let type = "reduce"
    public static let fields: Set<String> = ["v", "type", "job", "request", "budget", "return_rows", "final", "candidate_bound", "groups",
                                               "similarity"]
    static let groupFields: Set<String> = ["offset", "indices", "survivors", "cosines", "rows", "weights"]

    /// A proposal as the reduce gets it: the shard's message (cosines and rows still encoded)
    /// and the weights of its tokens.
    public struct Group: Sendable {
        public var proposal: ProposalMessage
        public var weights: [Float]
        public init(proposal: ProposalMessage, weights: [Float]) {
            self.proposal = proposal
            self.weights = weights
        }
    }

    public var job: Int
    public var request: String
    public var budget: Int
    /// Whether the kept rows come back too (return mode `features`).
    public var returnRows: Bool
    /// The last message of the job: every proposal is in.
    public var final: Bool
    /// Most candidates the proposals can hold in all.
    public var candidateBound: Int
    public var groups: [Group]
    /// The precision of the cosines between proposals (the request's `options.similarity`; sent
    /// only when it is bf16).
    public var similarity: SimilarityPrecision

    public init(job: Int, request: String, budget: Int, returnRows: Bool, final: Bool, candidateBound: Int, groups: [Group],
                similarity: SimilarityPrecision = .f32) {
        self.job = job; self.request = request; self.budget = budget; self.returnRows = returnRows
        self.final = final; self.candidateBound = candidateBound; self.groups = groups; self.similarity = similarity
    }

    public func frames() -> [Frame] {
        var tensors: [Frame] = []
        let groupValues = groups.map { group -> MessagePackValue in
            let g = group.proposal
            tensors += [g.cosines.bytes, g.rows.bytes, TensorCodec.frame(group.weights)]
            return Envelope.mapValue([
                ("offset", .int(Int64(g.offset))), ("indices", .ints(g.indices)), ("survivors", .int(Int64(g.survivors))),
                ("cosines", g.cosines.descriptor(frame: tensors.count - 2)), ("rows", g.rows.descriptor(frame: tensors.count - 1)),
                ("weights", TensorCodec.descriptor(shape: [group.weights.count], frame: tensors.count)),
            ])
        }
        let precision: [(String, MessagePackValue)] = similarity == .f32 ? [] : [("similarity", .string(similarity.rawValue))]
        return Self.message([("job", .int(Int64(job))), ("request", .string(request)), ("budget", .int(Int64(budget))),
                             ("return_rows", .bool(returnRows)), ("final", .bool(final)),
                             ("candidate_bound", .int(Int64(candidateBound))), ("groups", .array(groupValues))] + precision, tensors)
    }

    public static func parse(_ e: Envelope, frames: [Frame], limits: RequestLimits) throws -> ReduceTask {
        try e.only(fields)
        let values = try e.array("groups")
        guard values.count <= limits.maxShards else { throw ProtocolError(.tooLarge, "\(values.count) groups") }
        let groups = try values.enumerated().map { i, v -> Group in
            let g = try Envelope(v, context: "groups[\(i)]")
            try g.only(groupFields)
            let indices = try g.intArray("indices")
            let p = indices.count
            let cosines = try WireTensor.read(g, field: "cosines", frames: frames, maxElements: p * p)
            let rows = try WireTensor.read(g, field: "rows", frames: frames, maxElements: p * limits.maxWidth)
            guard cosines.dtype == .f32, cosines.rows == p, cosines.cols == p, rows.rows == p else {
                throw ProtocolError(.badShape, "groups[\(i)]: cosines \(cosines.rows) x \(cosines.cols), rows \(rows.rows), for \(p) tokens")
            }
            let proposal = ProposalMessage(job: 0, offset: try g.int("offset"), indices: indices, survivors: try g.int("survivors"),
                                           cosines: cosines, rows: rows, computeMs: 0)
            return Group(proposal: proposal, weights: try TensorCodec.vector(g, field: "weights", frames: frames, count: p))
        }
        let budget = try e.int("budget")
        guard budget >= 1 else { throw ProtocolError(.badBudget, "budget \(budget)") }
        return ReduceTask(job: try e.int("job"), request: try e.string("request"), budget: budget,
                          returnRows: try e.bool("return_rows"), final: try e.bool("final"),
                          candidateBound: max(0, try e.int("candidate_bound")), groups: groups,
                          similarity: e.has("similarity") ? try OptionsCodec.similarity(e) : .f32)
    }
}
