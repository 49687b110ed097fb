import ScriptTransport
import ScriptCore
import ScriptWire

/// What the coordinator answers a client.
public enum ClusterReply: Sendable {
    case result(ClusterResult)
    case error(id: String, ProtocolError)
    case status(ClusterStatus)

    public var id: String {
        switch self {
        case .result(let r): return r.id
        case .error(let id, _): return id
        case .status(let s): return s.id
        }
    }

    /// Frames after the delimiter: envelope and tensor frames.
    public func frames() -> [[UInt8]] {
        switch self {
        case .result(let r):
            var f = ProtocolVersion.header("result", id: r.id)
            f += [("indices", .array(r.indices.map { .int(Int64($0)) })), ("budget", .int(Int64(r.budget))), ("n", .int(Int64(r.tokenCount))),
                  ("shards", .int(Int64(r.shardCount))), ("workers", .array(r.workers.map { .string($0) })),
                  ("timings_ms", Envelope.mapValue(r.timings.map { ($0.0, .float($0.1)) }))]
            var frames: [[UInt8]] = []
            if let kept = r.features {
                f.append(("features", TensorCodec.descriptor(shape: [kept.rows, kept.cols], frame: 1)))
                frames.append(TensorCodec.bytes(kept.values))
            }
            return [Envelope.encode(f)] + frames
        case .error(let id, let e):
            var f = ProtocolVersion.header("error", id: id)
            f += [("code", .string(e.code.rawValue)), ("message", .string(e.message))]
            return [Envelope.encode(f)]
        case .status(let s):
            var f = ProtocolVersion.header("status", id: s.id)
            f += [("workers", .int(Int64(s.workers))), ("queued_shards", .int(Int64(s.queuedShards))),
                  ("requests_in_flight", .int(Int64(s.requestsInFlight))), ("served", .int(Int64(s.served))), ("failed", .int(Int64(s.failed)))]
            return [Envelope.encode(f)]
        }
    }

    /// Parses a reply (frames after the delimiter).
    public static func parse(_ frames: [[UInt8]]) throws -> ClusterReply {
        guard let first = frames.first else { throw ProtocolError(.badMessage, "empty reply") }
        let e = try Envelope.decode(first)
        let type = try ProtocolVersion.check(e)
        let id = try e.string("id")
        switch type {
        case "result":
            var features: Matrix? = nil
            if e.has("features") {
                let (s, v) = try TensorCodec.decode(e, field: "features", frames: frames.map(Frame.init), rank: 2, maxElements: Int(Int32.max))
                features = Matrix(rows: s[0], cols: s[1], values: v)
            }
            let timings = try e.map("timings_ms").fields.map { key, v -> (String, Double) in
                guard case .float(let d) = v else { return (key, Double(v.intValue ?? 0)) }
                return (key, d)
            }
            let workers = try e.array("workers").map { v -> String in
                guard case .string(let s) = v else { throw ProtocolError(.badRequest, "workers must be strings") }
                return s
            }
            return .result(ClusterResult(id: id, indices: try e.intArray("indices"), budget: try e.int("budget"), tokenCount: try e.int("n"),
                                         shardCount: try e.int("shards"), workers: workers, timings: timings.sorted { $0.0 < $1.0 }, features: features))
        case "error":
            let name = try e.string("code")
            return .error(id: id, ProtocolError(ErrorCode(rawValue: name) ?? .internal, try e.string("message")))
        case "status":
            return .status(ClusterStatus(id: id, workers: try e.int("workers"), queuedShards: try e.int("queued_shards"),
                                         requestsInFlight: try e.int("requests_in_flight"), served: try e.int("served"), failed: try e.int("failed")))
        default:
            throw ProtocolError(.unknownType, "unknown reply type '\(type)'")
        }
    }
}

/// A successful prune, as the client sees it.
public struct ClusterResult: Sendable {
    public var id: String
    public var indices: [Int]
    public var budget: Int
    public var tokenCount: Int
    public var shardCount: Int
    public var workers: [String]
    public var timings: [(String, Double)]
    public var features: Matrix?

    public init(id: String, indices: [Int], budget: Int, tokenCount: Int, shardCount: Int, workers: [String],
                timings: [(String, Double)], features: Matrix?) {
        self.id = id
        self.indices = indices
        self.budget = budget
        self.tokenCount = tokenCount
        self.shardCount = shardCount
        self.workers = workers
        self.timings = timings
        self.features = features
    }
}

/// Counters of a running coordinator.
public struct ClusterStatus: Sendable {
    public var id: String
    public var workers: Int
    public var queuedShards: Int
    public var requestsInFlight: Int
    public var served: Int
    public var failed: Int

    public init(id: String, workers: Int, queuedShards: Int, requestsInFlight: Int, served: Int, failed: Int) {
        self.id = id
        self.workers = workers
        self.queuedShards = queuedShards
        self.requestsInFlight = requestsInFlight
        self.served = served
        self.failed = failed
    }
}
