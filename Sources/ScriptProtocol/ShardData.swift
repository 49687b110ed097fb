import ScriptTransport
import ScriptWire

/// A shard's own bytes as a worker holds them: its rows of the request's features (and of the
/// embeddings, when the request has them) in the client's dtype. They come inline with a job
/// (the coordinator forwards slices of the client's frames) or straight from the client
/// (`DataMessage`), filed under a ticket.
public struct ShardData: Sendable {
    public var features: WireTensor
    public var embeddings: WireTensor?

    public init(features: WireTensor, embeddings: WireTensor?) {
        self.features = features
        self.embeddings = embeddings
    }

    public var byteCount: Int { features.bytes.count + (embeddings?.bytes.count ?? 0) }
    /// Of `byteCount`, the bytes mapped in place from a client's shared memory (`Frame.mapping`).
    public var mappedByteCount: Int {
        [features, embeddings].compactMap { $0?.bytes }.filter(\.isMapping).reduce(0) { $0 + $1.count }
    }

    /// Descriptor fields (`features`, `embeddings`) and their frames, numbered from `firstFrame`;
    /// with `sharing`, a tensor whose bytes lie in shared memory is named there instead, with no frame.
    public func fields(firstFrame: Int, sharing: Bool = false) -> (fields: [(String, MessagePackValue)], frames: [Frame]) {
        var f: [(String, MessagePackValue)] = []
        var frames: [Frame] = []
        for (name, t) in [("features", features), ("embeddings", embeddings)] {
            guard let t else { continue }
            if sharing, let d = t.sharedDescriptor {
                f.append((name, d))
            } else {
                f.append((name, t.descriptor(frame: firstFrame + frames.count)))
                frames.append(t.bytes)
            }
        }
        return (f, frames)
    }

    /// Reads the fields written by `fields`; nil when the envelope carries no features.
    public static func read(_ e: Envelope, frames: [Frame], limits: RequestLimits,
                            shared: TensorCodec.SharedBytes? = nil) throws -> ShardData? {
        guard e.has("features") else { return nil }
        let maxElements = limits.maxTokens * limits.maxWidth
        let features = try WireTensor.read(e, field: "features", frames: frames, maxElements: maxElements, shared: shared)
        var embeddings: WireTensor? = nil
        if e.has("embeddings") {
            let em = try WireTensor.read(e, field: "embeddings", frames: frames, maxElements: maxElements, shared: shared)
            guard em.rows == features.rows else {
                throw ProtocolError(.badShape, "embeddings has \(em.rows) rows for \(features.rows) tokens")
            }
            embeddings = em
        }
        return ShardData(features: features, embeddings: embeddings)
    }
}
