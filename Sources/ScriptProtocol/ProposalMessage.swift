import ScriptCore
import ScriptTransport
import ScriptWire

/// `proposal`: a shard's answer (worker to coordinator): the tokens it proposes for the global
/// selection, the cosines among them its greedy used, and their rows in the shard's dtype (the
/// global selection needs them; the coordinator forwards them to the reducing worker as they are).
public struct ProposalMessage: BackendMessage {
    public static let type = "proposal"
    public static let fields: Set<String> = ["v", "type", "job", "offset", "indices", "survivors", "cosines", "rows", "compute_ms"]

    public var job: Int
    public var offset: Int
    /// Proposed tokens, global indices, ascending.
    public var indices: [Int]
    public var survivors: Int
    /// `p x p` f32 cosines in the order of `indices`, still encoded.
    public var cosines: WireTensor
    /// `p x D` feature rows in the order of `indices`, in the shard's dtype.
    public var rows: WireTensor
    public var computeMs: Double

    public init(job: Int, offset: Int, indices: [Int], survivors: Int, cosines: WireTensor, rows: WireTensor, computeMs: Double) {
        self.job = job; self.offset = offset; self.indices = indices; self.survivors = survivors
        self.cosines = cosines; self.rows = rows; self.computeMs = computeMs
    }

    /// The message for `proposal`, whose rows are `rows`.
    public init(job: Int, _ proposal: ShardProposal, rows: WireTensor, computeMs: Double) {
        let p = proposal.indices.count
        self.init(job: job, offset: proposal.offset, indices: proposal.indices, survivors: proposal.survivors,
                  cosines: WireTensor(rows: p, cols: p, floats: proposal.cosines), rows: rows, computeMs: computeMs)
    }

    public func frames() -> [Frame] {
        Self.message([("job", .int(Int64(job))), ("offset", .int(Int64(offset))), ("indices", .ints(indices)),
                      ("survivors", .int(Int64(survivors))), ("cosines", cosines.descriptor(frame: 1)),
                      ("rows", rows.descriptor(frame: 2)), ("compute_ms", .float(computeMs))],
                     [cosines.bytes, rows.bytes])
    }

    /// Reads and checks the shapes (the values are checked by whoever decodes them).
    public static func parse(_ e: Envelope, frames: [Frame], limits: RequestLimits) throws -> ProposalMessage {
        try e.only(fields)
        let indices = try e.intArray("indices")
        let p = indices.count
        let cosines = try WireTensor.read(e, field: "cosines", frames: frames, maxElements: p * p)
        let rows = try WireTensor.read(e, field: "rows", frames: frames, maxElements: p * limits.maxWidth)
        guard cosines.dtype == .f32, cosines.rows == p, cosines.cols == p else {
            throw ProtocolError(.badShape, "proposal cosines are \(cosines.rows) x \(cosines.cols) \(cosines.dtype.rawValue) for \(p) tokens")
        }
        guard rows.rows == p else { throw ProtocolError(.badShape, "proposal rows: \(rows.rows) for \(p) tokens") }
        return ProposalMessage(job: try e.int("job"), offset: try e.int("offset"), indices: indices, survivors: try e.int("survivors"),
                               cosines: cosines, rows: rows, computeMs: e.has("compute_ms") ? try e.double("compute_ms") : 0)
    }

    /// The proposal, its cosines decoded and checked against the shard `range`.
    public func proposal(for range: Range<Int>) throws -> ShardProposal {
        let p = ShardProposal(offset: offset, indices: indices, cosines: cosines.matrix().values, survivors: survivors)
        do { try p.validate(for: range) } catch let error as PruneError { throw ProtocolError(error) }
        return p
    }
}
