import ScriptCore
import ScriptProtocol
import ScriptService

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
    /// Bytes of requests in flight before new ones get `busy`.
    public var maxInFlightBytes = 8 << 30
    /// Deadline of a request that names none.
    public var defaultDeadlineMs = 30_000
    /// Largest message accepted on the frontend (ZMQ_MAXMSGSIZE).
    public var maxMessageBytes = 1 << 30
    /// Results kept for answering retried ids.
    public var resultCache = 1024
    /// Threads of the coordinator's own compute (weights, global selection, merge): it sits on
    /// every request's critical path, so by default it uses all cores.
    public var computeThreads = ComputePool.machine.width
    public var limits = RequestLimits()

    public init() {}
}
