import ScriptTransport
import ScriptWire

/// `reduced`: the kept tokens of a request (worker to coordinator), with their rows (f32) when
/// the reduce asked for them.
public struct ReducedMessage: BackendMessage {
    public static let type = "reduced"
    public static let fields: Set<String> = ["v", "type", "job", "indices", "features", "compute_ms"]

    public var job: Int
    /// Kept token indices, ascending.
    public var indices: [Int]
    public var features: WireTensor?
    public var computeMs: Double

    public init(job: Int, indices: [Int], features: WireTensor?, computeMs: Double) {
        self.job = job; self.indices = indices; self.features = features; self.computeMs = computeMs
    }

    public func frames() -> [Frame] {
        var f: [(String, MessagePackValue)] = [("job", .int(Int64(job))), ("indices", .ints(indices)), ("compute_ms", .float(computeMs))]
        if let features { f.append(("features", features.descriptor(frame: 1))) }
        return Self.message(f, features.map { [$0.bytes] } ?? [])
    }

    public static func parse(_ e: Envelope, frames: [Frame], limits: RequestLimits) throws -> ReducedMessage {
        try e.only(fields)
        let indices = try e.intArray("indices")
        let features = e.has("features")
            ? try WireTensor.read(e, field: "features", frames: frames, maxElements: indices.count * limits.maxWidth) : nil
        if let features, features.rows != indices.count {
            throw ProtocolError(.badShape, "reduced features: \(features.rows) rows for \(indices.count) tokens")
        }
        return ReducedMessage(job: try e.int("job"), indices: indices, features: features,
                              computeMs: e.has("compute_ms") ? try e.double("compute_ms") : 0)
    }
}
