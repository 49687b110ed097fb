import ScriptProtocol

/// What a client does about the requests it has in flight (`send` and `receive`) and the
/// liveness of the coordinators they wait on, without sockets: it is told what was sent, what
/// came back and when a connection dropped, and answers with what to send (requests again,
/// pings). `ClusterClient` carries that out; tests drive it with their own clock.
///
/// While any request waits on a coordinator, that coordinator is pinged every interval. One
/// silent for `liveness` pings is down: its requests go to the next endpoint that is not (the
/// same one, when there is no other) and new requests pass it by until it answers a ping again;
/// its connection is replaced first (one to a host that died is never closed, so ZeroMQ would
/// never connect again, while its address may lead to another coordinator by now).
/// One that answers after missing two pings or more, or whose connection dropped, gets its
/// requests again (what it held may be lost; one still in hand is just answered twice). A request
/// told `busy` or `shutting_down` goes again after the back-off, and a coordinator shutting
/// down or draining is down meanwhile. Each request has `attempts` tries; one that needs another
/// after its last is spent, and waits for its caller's timeout (`prune` gives up on it at once).
struct ClientFlights {
    /// Something to do: send, or replace a connection.
    enum Action: Equatable {
        case resend(id: String, to: Int)
        case ping(Int)
        case reconnect(Int)
    }

    typealias Instant = ContinuousClock.Instant

    private struct Flight {
        var endpoint: Int
        var tries: Int
        /// It needed another try after its last.
        var spent = false
    }

    private struct Liveness {
        var heard: Instant
        var pinged: Instant
        var missed = 0
    }

    private let endpoints: Int
    private let ping: Duration
    private let liveness: Int
    private let attempts: Int
    private let backoffMs: Int
    private var flights: [String: Flight] = [:]
    private var lives: [Int: Liveness] = [:]
    private var down: Set<Int> = []
    /// Endpoints whose connection is up (its handshake done).
    private var connected: Set<Int> = []
    private var retries: [String: Instant] = [:]
    private var rotation = 0

    init(endpoints: Int, pingIntervalMs: Int, liveness: Int, attempts: Int, backoffMs: Int) {
        self.endpoints = endpoints
        ping = .milliseconds(pingIntervalMs)
        self.liveness = liveness
        self.attempts = attempts
        self.backoffMs = backoffMs
    }

    /// Requests waiting for a reply.
    var isEmpty: Bool { flights.isEmpty }

    /// The endpoint for a new request: the next in turn that is connected and not down; else the
    /// next that is not down (a request to one never connected waits for its liveness to run out
    /// before it moves); any, when all are down.
    mutating func choose() -> Int {
        let order = (0..<endpoints).map { (rotation + $0) % endpoints }
        let i = order.first { connected.contains($0) && !down.contains($0) } ?? order.first { !down.contains($0) } ?? rotation % endpoints
        rotation = i + 1
        return i
    }

    /// Endpoint `i`'s connection is up (its handshake completed).
    mutating func connected(_ i: Int) { connected.insert(i) }

    /// Whether endpoint `i`'s connection is up.
    func isConnected(_ i: Int) -> Bool { connected.contains(i) }

    /// Whether any endpoint's connection is up.
    var anyConnected: Bool { !connected.isEmpty }

    /// Request `id` went to endpoint `i` (its first try). Its silence is counted from now when
    /// nothing waited on it (it had nothing to answer since its last reply).
    mutating func sent(_ id: String, to i: Int, now: Instant) {
        if lives[i] == nil || !flights.values.contains(where: { $0.endpoint == i }) { lives[i] = Liveness(heard: now, pinged: now) }
        flights[id] = Flight(endpoint: i, tries: 1)
    }

    /// This client did not look for `gap` (its process stopped, or its caller held it): nothing
    /// was read and no pings went out, so the coordinators' silence over it is not theirs, and is
    /// counted from now on (the silence before it still counts). Each is pinged at the next tick.
    mutating func resumed(after gap: Duration, now: Instant) {
        for (i, life) in lives { lives[i]?.heard = min(now, life.heard + gap) }
    }

    /// The endpoint request `id` was last sent to (nil: not in flight).
    func endpoint(of id: String) -> Int? { flights[id]?.endpoint }

    /// Tries request `id` has had (nil: not in flight).
    func tries(_ id: String) -> Int? { flights[id]?.tries }

    /// Whether request `id` needed another try after its last (its coordinator went silent,
    /// came back after a silence or dropped its connection): nothing more is sent for it.
    func isSpent(_ id: String) -> Bool { flights[id]?.spent ?? false }

    /// Request `id` is answered, or its caller gave up on it.
    mutating func forget(_ id: String) {
        flights[id] = nil
        retries[id] = nil
    }

    /// Something came from endpoint `i`.
    mutating func heard(_ i: Int, now: Instant) -> [Action] {
        down.remove(i)
        guard var life = lives[i] else { return [] }
        let back = life.missed >= 2
        life.heard = now
        life.missed = 0
        lives[i] = life
        return back ? resend(from: i, to: i, now: now) : []
    }

    /// Endpoint `i`'s connection dropped.
    mutating func dropped(_ i: Int, now: Instant) -> [Action] {
        connected.remove(i)
        return resend(from: i, to: i, now: now)
    }

    /// Endpoint `i` said it is draining (its `status`).
    mutating func draining(_ i: Int) { down.insert(i) }

    /// A reply that says try again (`busy`, `shutting_down`) to a request in flight within its
    /// tries: true when it is to go again after the back-off (the caller does not see it).
    mutating func retryLater(_ id: String, _ code: ErrorCode, from i: Int, now: Instant) -> Bool {
        guard code == .busy || code == .shuttingDown, let f = flights[id], f.tries < attempts else { return false }
        if code == .shuttingDown { down.insert(i) }
        retries[id] = now + .milliseconds(min(backoffMs << min(f.tries - 1, 16), 2000))
        return true
    }

    /// What is due at `now`: pings, requests of a coordinator gone silent, retries whose
    /// back-off is over.
    mutating func tick(now: Instant) -> [Action] {
        var actions = keepAlive(now: now)
        for (id, at) in retries where at <= now {
            retries[id] = nil
            guard let f = flights[id] else { continue }
            let j = choose()
            flights[id] = Flight(endpoint: j, tries: f.tries + 1)
            actions.append(.resend(id: id, to: j))
        }
        return actions
    }

    /// How long until `tick` has something to do (nil: nothing waits).
    func untilDue(now: Instant) -> Duration? {
        let nextRetry = retries.values.min().map { max(.zero, $0 - now) }
        guard !flights.isEmpty else { return nextRetry }
        return min(nextRetry ?? ping, ping)
    }

    private mutating func keepAlive(now: Instant) -> [Action] {
        let waitedOn = Set(flights.values.map(\.endpoint))
        let watched = waitedOn.union(down)
        for i in lives.keys where !watched.contains(i) { lives[i] = nil }
        var actions: [Action] = []
        for i in watched.sorted() {
            var life = lives[i] ?? Liveness(heard: now, pinged: now)
            if now - life.pinged >= ping {
                if life.pinged > life.heard { life.missed += 1 }
                life.pinged = now
                actions.append(.ping(i))
            }
            lives[i] = life
            if waitedOn.contains(i) && now - life.heard > ping * liveness {
                down.insert(i)
                connected.remove(i)
                lives[i] = Liveness(heard: now, pinged: now)
                actions.append(.reconnect(i))
                let next = (1...endpoints).map { (i + $0) % endpoints }.first { !down.contains($0) } ?? i
                actions += resend(from: i, to: next, now: now)
            }
        }
        return actions
    }

    /// The requests waiting on endpoint `i`, sent to `j` instead, each within its tries.
    private mutating func resend(from i: Int, to j: Int, now: Instant) -> [Action] {
        var actions: [Action] = []
        for (id, f) in flights.sorted(by: { $0.key < $1.key }) where f.endpoint == i {
            guard f.tries < attempts else {
                flights[id]?.spent = true
                continue
            }
            flights[id] = Flight(endpoint: j, tries: f.tries + 1)
            actions.append(.resend(id: id, to: j))
        }
        if lives[j] == nil { lives[j] = Liveness(heard: now, pinged: now) }
        return actions
    }
}
