import ScriptTransport
import ScriptWire

/// `merged`: one shard's kept rows with its pruned tokens averaged in (worker to coordinator).
public struct MergedMessage: BackendMessage {
    public static let type = "merged"
    public static let fields: Set<String> = ["v", "type", "job", "features"]

    public var job: Int
    /// `kept x D`, f32.
    public var features: WireTensor

    public init(job: Int, features: WireTensor) {
        self.job = job; self.features = features
    }

    public func frames() -> [Frame] {
        Self.message([("job", .int(Int64(job))), ("features", features.descriptor(frame: 1))], [features.bytes])
    }

    public static func parse(_ e: Envelope, frames: [Frame], limits: RequestLimits) throws -> MergedMessage {
        try e.only(fields)
        return MergedMessage(job: try e.int("job"),
                             features: try WireTensor.read(e, field: "features", frames: frames, maxElements: limits.maxTokens * limits.maxWidth))
    }
}
