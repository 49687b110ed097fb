import ScriptCore
import ScriptProtocol
import ScriptService
import ScriptTransport

/// Everything a coordinator is told at start.
public struct CoordinatorConfiguration: Sendable {
    /// Where clients connect (ROUTER).
    public var frontend = "tcp://127.0.0.1:5555"
    /// Where workers connect (ROUTER).
    public var backend = "tcp://127.0.0.1:5556"
    /// Heartbeat interval (Paranoid Pirate: 1 s).
    public var heartbeatMs = 1000
    /// Missed heartbeats before a worker is dead (Paranoid Pirate: 3).
    public var liveness = 3
    /// Requests in flight before new ones get `busy`.
    public var maxRequests = 64
    /// Bytes of requests in flight (held by the coordinator for inline transfers) before new
    /// ones get `busy`.
    public var maxInFlightBytes = 8 << 30
    /// Deadline of a request that names none.
    public var defaultDeadlineMs = 30_000
    /// Largest frame accepted on either socket (ZMQ_MAXMSGSIZE); clients check it first.
    public var maxMessageBytes = 1 << 30
    /// Results kept for answering retried ids: at most this many, and at most `resultCacheBytes`.
    public var resultCache = 1024
    public var resultCacheBytes = 256 << 20
    /// Times a job is moved to another worker after its worker died before the request fails
    /// (`shard_failed`): a shard that kills every worker it reaches must not kill them all. The
    /// death one past it is held a liveness first, in case the process speaks again.
    public var maxRequeues = 3
    /// Longest a draining coordinator waits for requests in flight before it answers them
    /// `shutting_down` (clients retry elsewhere with the same id) and exits.
    public var drainTimeoutMs = 1500
    /// ZeroMQ I/O threads (inline transfers move every tensor byte through them).
    public var ioThreads = 1
    public var limits = RequestLimits()
    /// CurveZMQ on both sockets: the coordinator's key pair and the client and worker keys it
    /// lets in (nil: no encryption, anyone who reaches the ports gets in).
    public var curve: CurveServerConfiguration?

    public init() {}

    /// Holds what the coordinator takes in at once within `limit` (its container's, or the
    /// machine's memory): half of it for the bytes of requests in flight, frames no larger than
    /// that, and an eighth at most for the results kept. Returns a line saying what it holds
    /// when that is less than the settings said, nil when they fit already.
    public mutating func fit(_ limit: MemoryLimit) -> String? {
        let held = limit.bytes / 2
        guard maxInFlightBytes > held || maxMessageBytes > held || resultCacheBytes > limit.bytes / 8 else { return nil }
        maxInFlightBytes = min(maxInFlightBytes, held)
        maxMessageBytes = min(maxMessageBytes, held)
        resultCacheBytes = min(resultCacheBytes, limit.bytes / 8)
        return "memory limit \(Units.bytes(limit.bytes)) (\(limit.source)): holding at most \(Units.bytes(maxInFlightBytes)) of requests "
            + "at once (more are answered busy), frames of at most \(Units.bytes(maxMessageBytes)) and \(Units.bytes(resultCacheBytes)) of results"
    }
}
