import CoreMetrics

/// The metrics a coordinator and its workers export, and the typed functions that record them.
///
/// Every metric is defined once here (`all`: Prometheus name, type, labels, help text; listed in
/// Docs/DEPLOY.md). The functions below record through swift-metrics' API, so they cost nothing
/// until a process bootstraps a backend (ScriptOps does, with swift-prometheus, when it is given
/// `--metrics-port`). They may be called from any thread.
public enum ClusterMetrics {
    // MARK: label values

    /// What a worker computed.
    public enum JobKind: String, Sendable, CaseIterable {
        /// Graph pruning and a local proposal for one shard.
        case shard
        /// A reduction of proposals (the global selection's work moved to a worker).
        case reduce
        /// Merging pruned tokens into kept ones.
        case merge
    }

    /// The other end of a socket, for byte counts.
    public enum Peer: String, Sendable, CaseIterable {
        case client, coordinator, worker
    }

    /// Why a job went back to the queue.
    public enum RequeueReason: String, Sendable, CaseIterable {
        /// Its worker went silent or left while holding it.
        case workerLost = "worker_lost"
        /// A client could not reach its worker's data socket (a direct transfer's bytes).
        case dataUnreachable = "data_unreachable"
        /// Its worker had no room for it beside the shards it worked on (`busy`).
        case noRoom = "no_room"
        /// A reduce its worker had not answered long after its last proposal (moved to an idle
        /// worker).
        case lateReduce = "late_reduce"
        /// Its worker could not read its bytes in the client's shared memory (the client sends
        /// them instead).
        case unreadableSharedMemory = "unreadable_shared_memory"
    }

    /// What became of a copy of a straggling shard job (sent to an idle worker while the first
    /// one's worker had not scored it in time).
    public enum HedgeOutcome: String, Sendable, CaseIterable {
        /// A copy was sent.
        case sent
        /// The copy answered first; the first one was let go.
        case won
        /// The first one answered first; the copy was let go.
        case lost
    }

    /// A listening socket, for connection counts.
    public enum Socket: String, Sendable, CaseIterable {
        /// The coordinator's, for clients.
        case frontend
        /// The coordinator's, for workers.
        case backend
        /// A worker's, for clients' direct transfers.
        case data
    }

    /// What happened to a connection of a listening socket.
    public enum ConnectionEvent: String, Sendable, CaseIterable {
        /// A peer connected.
        case accepted
        /// The peer closed it, or it was dropped (a frame over the size limit).
        case closed
        /// Closed by the peer before a ZeroMQ handshake: a TCP health check, a port scan, an
        /// HTTP request, a client that gave up waiting.
        case closedBeforeHandshake = "closed_before_handshake"
        /// Refused at the handshake: not a ZeroMQ peer, the wrong security mechanism or server
        /// key, or a CURVE key not on the allow-list.
        case refused
        /// Not accepted: the system refused this process another file (its open-file limit).
        case acceptFailed = "accept_failed"
    }

    /// Why a reply to a client was not sent.
    public enum DroppedReason: String, Sendable, CaseIterable {
        /// The client is gone (its connection closed: it gave up or stopped).
        case clientGone = "client_gone"
        /// The client does not read its replies: as many wait unread as libzmq queues for one
        /// peer (its high-water mark), and the coordinator does not wait for room.
        case clientNotReading = "client_not_reading"
    }

    /// Why the coordinator stopped counting a worker.
    public enum DepartureReason: String, Sendable, CaseIterable {
        /// Missed its heartbeats.
        case silent
        /// Said `disconnect` (drained or stopped), or could not be sent to (its connection is gone).
        case disconnected
        /// A new process of it registered (its name and data endpoint, another incarnation):
        /// restarted, as a container is after a crash, before its old connection was missed.
        case restarted
    }

    // MARK: the catalogue

    static let requestBuckets: [Duration] = [5, 10, 25, 50, 75, 100, 150, 250, 500, 1000, 2500, 5000, 10_000, 30_000]
        .map { .milliseconds($0) }
    static let jobBuckets: [Duration] = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000]
        .map { .microseconds(Int64($0 * 1000)) }

    public static let requests = MetricDefinition(
        "script_cluster_requests_total", .counter, labels: ["outcome", "code"], exporter: .coordinator,
        help: "Requests answered, by outcome (ok, rejected, overloaded, failed, cancelled) and error code (none for a result).")
    public static let requestDuration = MetricDefinition(
        "script_cluster_request_duration_seconds", .histogram(buckets: requestBuckets), labels: ["outcome"], exporter: .coordinator,
        help: "Time from a request's arrival at the coordinator to its reply.")
    public static let tokensIn = MetricDefinition(
        "script_cluster_tokens_in_total", .counter, exporter: .coordinator,
        help: "Visual tokens in requests answered with a result.")
    public static let tokensKept = MetricDefinition(
        "script_cluster_tokens_kept_total", .counter, exporter: .coordinator,
        help: "Visual tokens kept in requests answered with a result.")
    public static let jobDuration = MetricDefinition(
        "script_cluster_job_duration_seconds", .histogram(buckets: jobBuckets), labels: ["kind"], exporter: .coordinator,
        help: "Time from sending a job to a worker to its answer, as the coordinator sees it.")
    public static let queueDepth = MetricDefinition(
        "script_cluster_queue_depth", .gauge, exporter: .coordinator,
        help: "Jobs waiting for a worker's credit (the metric to scale workers on).")
    public static let requestsInFlight = MetricDefinition(
        "script_cluster_requests_in_flight", .gauge, exporter: .coordinator,
        help: "Requests accepted and not yet answered.")
    public static let workers = MetricDefinition(
        "script_cluster_workers", .gauge, exporter: .coordinator,
        help: "Workers alive (registered and heard from within their liveness).")
    public static let workersSilent = MetricDefinition(
        "script_cluster_workers_silent", .gauge, exporter: .coordinator,
        help: "Workers silent for more than a heartbeat and a half, not yet given up: suspect (stopped, frozen, cut off); their shard jobs are copied to others.")
    public static let workerDepartures = MetricDefinition(
        "script_cluster_worker_departures_total", .counter, labels: ["reason"], exporter: .coordinator,
        help: "Workers the coordinator stopped counting, by reason (silent, disconnected, restarted).")
    public static let jobsRequeued = MetricDefinition(
        "script_cluster_jobs_requeued_total", .counter, labels: ["reason"], exporter: .coordinator,
        help: "Jobs sent back to the queue, by reason (worker_lost, data_unreachable).")
    public static let hedges = MetricDefinition(
        "script_cluster_shard_hedges_total", .counter, labels: ["outcome"], exporter: .coordinator,
        help: "Copies of shard jobs (a straggler's, sent to an idle worker; a silent worker's, queued for the next), by outcome (sent; won: the copy answered first; lost: the first one did).")
    public static let bytesReceived = MetricDefinition(
        "script_cluster_bytes_received_total", .counter, labels: ["peer"], exporter: .both,
        help: "Message bytes received, by the peer they came from (client, coordinator, worker).")
    public static let bytesSent = MetricDefinition(
        "script_cluster_bytes_sent_total", .counter, labels: ["peer"], exporter: .both,
        help: "Message bytes sent, by the peer they went to (client, coordinator, worker).")
    public static let connections = MetricDefinition(
        "script_cluster_connections_total", .counter, labels: ["socket", "event"], exporter: .both,
        help: "Connections of a listening socket (frontend, backend, data), by event (accepted, closed, closed_before_handshake: a TCP health check's, refused, accept_failed: tries the open-file limit refused, many a second while it lasts).")
    public static let repliesDropped = MetricDefinition(
        "script_cluster_replies_dropped_total", .counter, labels: ["reason"], exporter: .coordinator,
        help: "Replies to clients not sent, by reason (client_gone, client_not_reading: its unread replies fill libzmq's queue for it).")
    public static let workerJobs = MetricDefinition(
        "script_cluster_worker_jobs_total", .counter, labels: ["kind", "outcome", "code"], exporter: .worker,
        help: "Jobs a worker finished, by kind (shard, reduce, merge), outcome (ok, error) and error code (none when ok).")
    public static let workerJobDuration = MetricDefinition(
        "script_cluster_worker_job_duration_seconds", .histogram(buckets: jobBuckets), labels: ["kind"], exporter: .worker,
        help: "Wall time a worker spent computing a job, from decoding to its answer.")
    public static let workerCPU = MetricDefinition(
        "script_cluster_worker_cpu_seconds_total", .counter, labels: ["kind"], exporter: .worker,
        help: "CPU time a worker's threads spent computing jobs, by kind.")
    public static let workerTokens = MetricDefinition(
        "script_cluster_worker_tokens_total", .counter, labels: ["kind"], exporter: .worker,
        help: "Tokens in the jobs a worker computed, by kind.")
    public static let workerJobsHeld = MetricDefinition(
        "script_cluster_worker_jobs_held", .gauge, exporter: .worker,
        help: "Jobs a worker holds now (computing or waiting for its threads), at most its credit.")
    public static let workerBytesHeld = MetricDefinition(
        "script_cluster_worker_bytes_held", .gauge, exporter: .worker,
        help: "Shard bytes a worker holds now: those its jobs read (a shard's, kept for its merge until its request ends) and those a client sent ahead of their job; not those it maps in place from a client's shared memory (their pages are the client's, charged to its memory limit).")
    public static let workerSharedBytes = MetricDefinition(
        "script_cluster_worker_shared_bytes_total", .counter, exporter: .worker,
        help: "Shard bytes a worker read in place from clients' shared memory (direct transfers from clients on its host, to a data socket that is a Unix socket), not received.")
    public static let workerRegistered = MetricDefinition(
        "script_cluster_worker_registered", .gauge, exporter: .worker,
        help: "1 while the worker is registered with a coordinator, 0 otherwise.")
    public static let workerReconnects = MetricDefinition(
        "script_cluster_worker_reconnects_total", .counter, exporter: .worker,
        help: "Times a worker gave up on its connection to the coordinator and connected again.")
    public static let buildInfo = MetricDefinition(
        "script_cluster_build_info", .gauge, labels: ["version", "role"], exporter: .both,
        help: "Always 1; its labels name the version and the process's role.")
    public static let processCPU = MetricDefinition(
        "process_cpu_seconds_total", .counter, exporter: .both,
        help: "User and system CPU time of the whole process.")
    public static let processMemory = MetricDefinition(
        "process_resident_memory_bytes", .gauge, exporter: .both,
        help: "Resident memory of the process.")
    public static let processStart = MetricDefinition(
        "process_start_time_seconds", .gauge, exporter: .both,
        help: "When the process started, in seconds since the Unix epoch.")

    /// Every metric, in the order Docs/DEPLOY.md lists them.
    public static let all: [MetricDefinition] = [
        requests, requestDuration, tokensIn, tokensKept, jobDuration, queueDepth, requestsInFlight, workers, workersSilent,
        workerDepartures, jobsRequeued, hedges, bytesReceived, bytesSent, connections, repliesDropped,
        workerJobs, workerJobDuration, workerCPU, workerTokens, workerJobsHeld, workerBytesHeld, workerSharedBytes, workerRegistered, workerReconnects,
        buildInfo, processCPU, processMemory, processStart,
    ]

    private static let byName = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    /// The definition of the metric called `name`, if it is one of ours.
    public static func definition(named name: String) -> MetricDefinition? { byName[name] }

    // MARK: coordinator

    /// A request was answered: counts it by outcome and code, its latency, and (for a result) its
    /// tokens in and kept. Pair with `Logger.access(_:)` on the same entry.
    public static func requestFinished(_ e: AccessLogEntry) {
        Counter(label: requests.name, dimensions: [("outcome", e.outcome.rawValue), ("code", e.code ?? "none")]).increment()
        CoreMetrics.Timer(label: requestDuration.name, dimensions: [("outcome", e.outcome.rawValue)]).recordNanoseconds(nanoseconds(e.duration))
        guard e.outcome == .ok else { return }
        Counter(label: tokensIn.name).increment(by: e.tokensIn)
        Counter(label: tokensKept.name).increment(by: e.tokensKept)
    }

    /// A worker answered a job `roundTrip` after the coordinator sent it.
    public static func jobAnswered(_ kind: JobKind, roundTrip: Duration) {
        CoreMetrics.Timer(label: jobDuration.name, dimensions: [("kind", kind.rawValue)]).recordNanoseconds(nanoseconds(roundTrip))
    }

    /// Jobs waiting for credit now.
    public static func queueDepth(_ jobs: Int) { Gauge(label: queueDepth.name).record(jobs) }

    /// Requests accepted and not yet answered, now.
    public static func requestsInFlight(_ n: Int) { Gauge(label: requestsInFlight.name).record(n) }

    /// Workers alive now.
    public static func workersAlive(_ n: Int) { Gauge(label: workers.name).record(n) }

    /// Workers suspect now (silent past a beat and a half).
    public static func workersSilent(_ n: Int) { Gauge(label: workersSilent.name).record(n) }

    /// The coordinator stopped counting a worker.
    public static func workerDeparted(_ reason: DepartureReason) {
        Counter(label: workerDepartures.name, dimensions: [("reason", reason.rawValue)]).increment()
    }

    /// `count` jobs went back to the queue.
    public static func jobsRequeued(_ count: Int, reason: RequeueReason) {
        guard count > 0 else { return }
        Counter(label: jobsRequeued.name, dimensions: [("reason", reason.rawValue)]).increment(by: count)
    }

    /// A copy of a straggling shard job was sent, or one of the two let go.
    public static func hedge(_ outcome: HedgeOutcome) {
        Counter(label: hedges.name, dimensions: [("outcome", outcome.rawValue)]).increment()
    }

    // MARK: both roles

    /// A message of `bytes` (all frames) came from `peer`.
    public static func received(bytes: Int, from peer: Peer) {
        Counter(label: bytesReceived.name, dimensions: [("peer", peer.rawValue)]).increment(by: bytes)
    }

    /// A message of `bytes` (all frames) went to `peer`.
    public static func sent(bytes: Int, to peer: Peer) {
        Counter(label: bytesSent.name, dimensions: [("peer", peer.rawValue)]).increment(by: bytes)
    }

    /// A reply to a client was not sent, for `reason`.
    public static func replyDropped(_ reason: DroppedReason) {
        Counter(label: repliesDropped.name, dimensions: [("reason", reason.rawValue)]).increment()
    }

    /// A connection of `socket` was accepted, closed or refused.
    public static func connection(_ event: ConnectionEvent, on socket: Socket) {
        Counter(label: connections.name, dimensions: [("socket", socket.rawValue), ("event", event.rawValue)]).increment()
    }

    // MARK: worker

    /// A worker finished a job of `tokens` tokens: `code` is nil for an answer, the wire code of
    /// its error otherwise; `wall` from decoding to answer; `cpu` its threads' CPU time.
    public static func workerJobFinished(_ kind: JobKind, code: String? = nil, tokens: Int, wall: Duration, cpu: Duration) {
        let outcome = code == nil ? "ok" : "error"
        Counter(label: workerJobs.name, dimensions: [("kind", kind.rawValue), ("outcome", outcome), ("code", code ?? "none")]).increment()
        CoreMetrics.Timer(label: workerJobDuration.name, dimensions: [("kind", kind.rawValue)]).recordNanoseconds(nanoseconds(wall))
        FloatingPointCounter(label: workerCPU.name, dimensions: [("kind", kind.rawValue)]).increment(by: seconds(cpu))
        Counter(label: workerTokens.name, dimensions: [("kind", kind.rawValue)]).increment(by: tokens)
    }

    /// Jobs this worker holds now.
    public static func workerJobsHeld(_ n: Int) { Gauge(label: workerJobsHeld.name).record(n) }

    /// Shard bytes this worker holds now.
    public static func workerBytesHeld(_ bytes: Int) { Gauge(label: workerBytesHeld.name).record(bytes) }

    /// A worker read `bytes` of a client's shared memory in place.
    public static func workerSharedBytes(_ bytes: Int) { Counter(label: workerSharedBytes.name).increment(by: bytes) }

    /// Whether this worker is registered with a coordinator now.
    public static func workerRegistered(_ registered: Bool) { Gauge(label: workerRegistered.name).record(registered ? 1 : 0) }

    /// This worker connected again after losing its coordinator.
    public static func workerReconnected() { Counter(label: workerReconnects.name).increment() }

    // MARK: units

    static func nanoseconds(_ d: Duration) -> Int64 {
        let c = d.components
        return c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000
    }

    static func seconds(_ d: Duration) -> Double {
        let c = d.components
        return Double(c.seconds) + Double(c.attoseconds) * 1e-18
    }
}
