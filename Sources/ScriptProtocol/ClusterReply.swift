import ScriptCore
import ScriptTransport
import ScriptWire

/// What the coordinator answers a client.
public enum ClusterReply: Sendable {
    case result(ClusterResult)
    case error(id: String, ProtocolError)
    case status(ClusterStatus)
    /// Where to send a shard's bytes (direct transfers).
    case placement(Placement)

    public var id: String {
        switch self {
        case .result(let r): return r.id
        case .error(let id, _): return id
        case .status(let s): return s.id
        case .placement(let p): return p.id
        }
    }

    /// Frames after the delimiter: envelope and tensor frames.
    public func frames() -> [Frame] {
        switch self {
        case .result(let r):
            var f = ProtocolVersion.header("result", id: r.id)
            f += [("indices", .ints(r.indices)), ("budget", .int(Int64(r.budget))), ("n", .int(Int64(r.tokenCount))),
                  ("shards", .int(Int64(r.shardCount))), ("workers", .array(r.workers.map { .string($0) })),
                  ("timings_ms", Envelope.mapValue(r.timings.map { ($0.0, .float($0.1)) }))]
            if let kept = r.features { f.append(("features", kept.descriptor(frame: 1))) }
            return [Frame(Envelope.encode(f))] + (r.features.map { [$0.bytes] } ?? [])
        case .error(let id, let e):
            var f = ProtocolVersion.header("error", id: id)
            f += [("code", .string(e.code.rawValue)), ("message", .string(e.message))]
            return [Frame(Envelope.encode(f))]
        case .status(let s):
            var f = ProtocolVersion.header("status", id: s.id)
            f += [("workers", .int(Int64(s.workers))), ("queued_shards", .int(Int64(s.queuedShards))),
                  ("requests_in_flight", .int(Int64(s.requestsInFlight))), ("served", .int(Int64(s.served))),
                  ("failed", .int(Int64(s.failed))), ("max_message_bytes", .int(Int64(s.maxMessageBytes))),
                  ("draining", .bool(s.draining))]
            return [Frame(Envelope.encode(f))]
        case .placement(let p):
            var f = ProtocolVersion.header("placement", id: p.id)
            f += [("shard", .int(Int64(p.shard))), ("endpoint", .string(p.endpoint)), ("ticket", .binary(p.ticket.bytes))]
            if let key = p.serverKey { f.append(("server_key", .string(key.z85))) }
            if let scope = p.sharedMemory { f.append(("shared_memory", scope.value)) }
            return [Frame(Envelope.encode(f))]
        }
    }

    /// Parses a reply (frames after the delimiter).
    public static func parse(_ frames: [Frame]) throws -> ClusterReply {
        guard let first = frames.first else { throw ProtocolError(.badMessage, "empty reply") }
        let e = try Envelope.decode(first)
        let type = try ProtocolVersion.check(e)
        let id = try e.string("id")
        switch type {
        case "result":
            let features = e.has("features") ? try WireTensor.read(e, field: "features", frames: frames, maxElements: Int(Int32.max)) : nil
            let timings = try e.map("timings_ms").fields.map { key, v -> (String, Double) in
                if case .float(let d) = v { return (key, d) }
                guard let i = v.intValue else {
                    throw ProtocolError(.badMessage, "result field 'timings_ms' holds a value that is not a number (\(key))")
                }
                return (key, Double(i))
            }
            let workers = try e.array("workers").map { v -> String in
                guard case .string(let s) = v else { throw ProtocolError(.badRequest, "workers must be strings") }
                return s
            }
            let indices = try e.intArray("indices"), n = try e.int("n")
            guard indices.allSatisfy({ 0 <= $0 && $0 < n }), zip(indices, indices.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw ProtocolError(.badMessage, "result field 'indices' is not ascending token indices below n = \(n)")
            }
            return .result(ClusterResult(id: id, indices: indices, budget: try e.int("budget"), tokenCount: n,
                                         shardCount: try e.int("shards"), workers: workers, timings: timings.sorted { $0.0 < $1.0 },
                                         features: features))
        case "error":
            let name = try e.string("code")
            return .error(id: id, ProtocolError(ErrorCode(rawValue: name) ?? .internal, try e.string("message")))
        case "status":
            return .status(ClusterStatus(id: id, workers: try e.int("workers"), queuedShards: try e.int("queued_shards"),
                                         requestsInFlight: try e.int("requests_in_flight"), served: try e.int("served"),
                                         failed: try e.int("failed"),
                                         maxMessageBytes: e.has("max_message_bytes") ? try e.int("max_message_bytes") : Int(Int32.max),
                                         draining: e.has("draining") ? try e.bool("draining") : false))
        case "placement":
            return .placement(Placement(id: id, shard: try e.int("shard"), endpoint: try e.string("endpoint"), ticket: try e.ticket("ticket"),
                                        serverKey: e.has("server_key") ? try e.curveKey("server_key") : nil,
                                        sharedMemory: e.has("shared_memory") ? try SharedMemoryScope(e, "shared_memory") : nil))
        default:
            throw ProtocolError(.unknownType, "unknown reply type '\(type)'")
        }
    }

    /// Parses a reply given as arrays (tests, tools).
    public static func parse(_ frames: [[UInt8]]) throws -> ClusterReply { try parse(frames.map(Frame.init)) }
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
    /// The kept rows (f32), with return mode `features` or `merged`.
    public var features: WireTensor?

    public init(id: String, indices: [Int], budget: Int, tokenCount: Int, shardCount: Int, workers: [String],
                timings: [(String, Double)], features: WireTensor?) {
        self.id = id
        self.indices = indices
        self.budget = budget
        self.tokenCount = tokenCount
        self.shardCount = shardCount
        self.workers = workers
        self.timings = timings
        self.features = features
    }

    /// The kept rows, decoded.
    public var featureMatrix: Matrix? { features?.matrix() }
}

/// Counters of a running coordinator.
public struct ClusterStatus: Sendable {
    public var id: String
    public var workers: Int
    public var queuedShards: Int
    public var requestsInFlight: Int
    public var served: Int
    public var failed: Int
    /// The largest message (frame) the coordinator accepts: clients check before sending.
    public var maxMessageBytes: Int
    public var draining: Bool

    public init(id: String, workers: Int, queuedShards: Int, requestsInFlight: Int, served: Int, failed: Int,
                maxMessageBytes: Int, draining: Bool) {
        self.id = id
        self.workers = workers
        self.queuedShards = queuedShards
        self.requestsInFlight = requestsInFlight
        self.served = served
        self.failed = failed
        self.maxMessageBytes = maxMessageBytes
        self.draining = draining
    }
}

/// Where a client sends one shard's bytes in a direct transfer.
public struct Placement: Sendable, Equatable {
    public var id: String
    /// The shard's index in the request's layout.
    public var shard: Int
    /// The worker's data endpoint.
    public var endpoint: String
    public var ticket: Ticket
    /// The worker's data socket's CurveZMQ public key, when it speaks CURVE.
    public var serverKey: CurveKey?
    /// Whose shared memory the worker reads in place (`ReadyMessage.sharedMemory`): a client
    /// names its tensors there only where the worker `reads(from:)` it, and sends the bytes
    /// elsewhere.
    public var sharedMemory: SharedMemoryScope?

    public init(id: String, shard: Int, endpoint: String, ticket: Ticket, serverKey: CurveKey? = nil,
                sharedMemory: SharedMemoryScope? = nil) {
        self.id = id
        self.shard = shard
        self.endpoint = endpoint
        self.ticket = ticket
        self.serverKey = serverKey
        self.sharedMemory = sharedMemory
    }

    /// Whether this client names its tensors in shared memory to the placed worker.
    public var readsSharedMemory: Bool {
        guard let worker = sharedMemory, let here = SharedMemoryScope.current else { return false }
        return worker.reads(from: here)
    }
}
