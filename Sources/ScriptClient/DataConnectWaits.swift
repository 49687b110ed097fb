/// Shards placed on workers' data sockets that have not connected yet, and how long each may
/// wait for its socket: the client's bookkeeping of direct transfers' connections, on a clock its
/// caller gives (no sockets, so it is tested alone).
///
/// A socket counts as connected once its ZeroMQ handshake completed (a TCP connection alone may
/// be anything listening there). A shard placed on one not connected waits `connectTimeout`, or
/// `failureGrace` once that socket's attempts fail; one placed again elsewhere (its worker died)
/// waits for its new socket only.
struct DataConnectWaits {
    typealias Instant = ContinuousClock.Instant

    let connectTimeout: Duration
    let failureGrace: Duration
    private(set) var connected: Set<String> = []
    private var failing: Set<String> = []
    /// By request id and shard: the endpoint, and since when the shard waits for it.
    private var waiting: [String: [Int: (endpoint: String, since: Instant)]] = [:]

    init(connectTimeout: Duration, failureGrace: Duration) {
        self.connectTimeout = connectTimeout
        self.failureGrace = failureGrace
    }

    /// Shard `shard` of request `id` was placed on the data socket at `endpoint` at `now`.
    mutating func placed(_ id: String, shard: Int, on endpoint: String, now: Instant) {
        waiting[id, default: [:]][shard] = connected.contains(endpoint) ? nil : (endpoint, now)
    }

    /// The socket at `endpoint` completed its handshake: nothing waits for it any more.
    mutating func handshake(_ endpoint: String) {
        connected.insert(endpoint)
        failing.remove(endpoint)
        waiting = waiting.mapValues { $0.filter { $0.value.endpoint != endpoint } }.filter { !$0.value.isEmpty }
    }

    /// An attempt of the socket at `endpoint` to connect failed: unless it ever connected, its
    /// shards wait only `failureGrace` now.
    mutating func attemptFailed(_ endpoint: String) {
        if !connected.contains(endpoint) { failing.insert(endpoint) }
    }

    /// How long a shard placed on the socket at `endpoint` waits for it.
    func patience(_ endpoint: String) -> Duration {
        failing.contains(endpoint) ? failureGrace : connectTimeout
    }

    /// This client did not run for `gap` (its process stopped, or its caller held it): its
    /// sockets could not connect meanwhile, so that time is not theirs (the wait before it still
    /// counts).
    mutating func resumed(after gap: Duration, now: Instant) {
        waiting = waiting.mapValues { $0.mapValues { (endpoint: $0.endpoint, since: min(now, $0.since + gap)) } }
    }

    /// When the next shard runs out of patience (nil: none waits).
    func nextDue() -> Instant? {
        waiting.values.flatMap { $0.values.map { $0.since + patience($0.endpoint) } }.min()
    }

    /// The requests with shards that ran out of patience at `now`, by id (sorted), with the
    /// endpoints they waited for; those shards wait no more. Requests `inFlight` says are gone
    /// are forgotten.
    mutating func late(now: Instant, inFlight: (String) -> Bool) -> [(id: String, endpoints: Set<String>)] {
        waiting = waiting.filter { inFlight($0.key) }
        var found: [(id: String, endpoints: Set<String>)] = []
        for id in waiting.keys.sorted() {
            guard let shards = waiting[id] else { continue }
            let late = Set(shards.values.filter { now - $0.since >= patience($0.endpoint) }.map(\.endpoint))
            guard !late.isEmpty else { continue }
            waiting[id] = shards.filter { !late.contains($0.value.endpoint) }
            found.append((id, late))
        }
        return found
    }
}
