import ScriptTransport
import ScriptWire

/// `scores`: a shard's cosines to every query token (worker to coordinator), from which the
/// coordinator computes the request's relevance and weights.
public struct ScoresMessage: BackendMessage {
    public static let type = "scores"
    public static let fields: Set<String> = ["v", "type", "job", "scores"]

    public var job: Int
    /// `rows x queryTokens`, row-major.
    public var scores: [Float]
    public var rows: Int
    public var queryTokens: Int

    public init(job: Int, scores: [Float], rows: Int, queryTokens: Int) {
        precondition(scores.count == rows * queryTokens)
        self.job = job; self.scores = scores; self.rows = rows; self.queryTokens = queryTokens
    }

    public func frames() -> [Frame] {
        Self.message([("job", .int(Int64(job))), ("scores", TensorCodec.descriptor(shape: [rows, queryTokens], frame: 1))],
                     [TensorCodec.frame(scores)])
    }

    public static func parse(_ e: Envelope, frames: [Frame], limits: RequestLimits) throws -> ScoresMessage {
        try e.only(fields)
        let (shape, values) = try TensorCodec.decode(e, field: "scores", frames: frames, rank: 2,
                                                     maxElements: limits.maxTokens * limits.maxQueryTokens)
        return ScoresMessage(job: try e.int("job"), scores: values, rows: shape[0], queryTokens: shape[1])
    }
}
