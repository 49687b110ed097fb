import ScriptTransport
import ScriptWire

/// `weights`: a shard's DPP weights and relevance (coordinator to worker), once every shard of
/// the request has sent its scores.
public struct WeightsMessage: BackendMessage {
    public static let type = "weights"
    public static let fields: Set<String> = ["v", "type", "job", "weights", "relevance"]

    public var job: Int
    public var weights: [Float]
    public var relevance: [Float]?

    public init(job: Int, weights: [Float], relevance: [Float]?) {
        self.job = job; self.weights = weights; self.relevance = relevance
    }

    public func frames() -> [Frame] {
        var f: [(String, MessagePackValue)] = [("job", .int(Int64(job))), ("weights", TensorCodec.descriptor(shape: [weights.count], frame: 1))]
        var tensors = [TensorCodec.frame(weights)]
        if let relevance {
            tensors.append(TensorCodec.frame(relevance))
            f.append(("relevance", TensorCodec.descriptor(shape: [relevance.count], frame: 2)))
        }
        return Self.message(f, tensors)
    }

    public static func parse(_ e: Envelope, frames: [Frame], limits: RequestLimits) throws -> WeightsMessage {
        try e.only(fields)
        let (shape, weights) = try TensorCodec.decode(e, field: "weights", frames: frames, rank: 1, maxElements: limits.maxTokens)
        let relevance = e.has("relevance") ? try TensorCodec.vector(e, field: "relevance", frames: frames, count: shape[0]) : nil
        return WeightsMessage(job: try e.int("job"), weights: weights, relevance: relevance)
    }
}
