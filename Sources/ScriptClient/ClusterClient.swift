import ScriptProtocol
import ScriptService
import ScriptTransport
#if canImport(Glibc)
import Glibc
#endif

/// A client of one or more coordinators: sends requests, waits for their replies by id, and
/// sends shard bytes to workers when a coordinator places them (direct transfers).
///
/// A worker's data socket that makes no connection within `dataConnectTimeout` of a placement,
/// or whose connection attempts fail for `dataFailureGrace` (refused, a name that does not
/// resolve, a peer that is not a worker), counts as unreachable (`unreachableData`): the request
/// goes again naming it in `avoid`, so that its shards move to workers this client can reach,
/// and so do later requests.
///
/// With `Options.curve` every socket speaks CurveZMQ: to the coordinators (whose public key the
/// settings name) and to the workers' data sockets (whose keys come with the placements).
///
/// Requests survive a coordinator that dies or stops answering: while one waits the client
/// pings its coordinator (`status`), and when no answer comes for `liveness` pings it sends the
/// request again, with the same id, to the next endpoint (or the same one, restarted), within
/// `attempts` tries. `busy` and `shutting_down` are retried after a back-off, and a request
/// goes again when its coordinator's connection drops (a restart, however quick, loses what it
/// held). `prune` waits for one request; `send` and `receive` keep many in flight; both are
/// the same bookkeeping (`ClientFlights`).
public final class ClusterClient {
    /// How hard the client tries.
    public struct Options: Sendable {
        /// Tries of one request (the same id), across endpoints.
        public var attempts = 5
        /// Pings of the coordinator while a request waits.
        public var pingIntervalMs = 1000
        /// Pings unanswered before the coordinator counts as gone.
        public var liveness = 3
        /// First wait between tries (doubling).
        public var backoffMs = 100
        /// Largest frame the coordinator takes; nil: asked from the coordinator before the
        /// first request.
        public var maxMessageBytes: Int?
        /// CurveZMQ: this client's key pair and the coordinators' public key (nil: none).
        public var curve: CurveClientSettings?
        /// Told a line for the user while requests wait, once until it changes: a coordinator
        /// that answers its pings with no worker registered (its requests wait for one until
        /// their deadline, which looked like a hang). Nil: nothing is said.
        public var notice: (@Sendable (String) -> Void)?
        public init() {}
    }

    /// Where a reply came from.
    public struct Received: Sendable {
        public let endpoint: Int
        public let reply: ClusterReply
    }

    public let endpoints: [String]
    public let options: Options
    private let context = ZMQContext()
    private var coordinators: [ZMQSocket]
    /// Connection events of each coordinator socket: a refused key ends a wait at once.
    private var monitors: [ZMQMonitor]
    /// Sockets to workers' data endpoints, by endpoint and CURVE key, with their CURVE settings.
    private var dataSockets: [String: (socket: ZMQSocket, curve: CurveClientSettings?)] = [:]
    /// Connection events of the data sockets, by endpoint: a refused key ends a wait.
    private var dataMonitors: [String: ZMQMonitor] = [:]
    /// Shards placed on data sockets that have not connected yet, and how long each may wait.
    private var dataWaits = DataConnectWaits(connectTimeout: ClusterClient.dataConnectTimeout, failureGrace: ClusterClient.dataFailureGrace)
    /// Where each shard of the requests in flight was last placed (by request id and shard): a
    /// data connection that drops sends those requests again.
    private var placedOn: [String: [Int: String]] = [:]
    /// How long a shard may wait for its worker's data socket to connect before the client
    /// counts that address unreachable: a connection takes no longer under load, unlike a
    /// transfer. (A stopped worker makes no handshake either: the coordinator moves its shards
    /// first, within its liveness of 3 heartbeats.)
    public static let dataConnectTimeout = Duration.seconds(10)
    /// As `dataConnectTimeout`, for a data socket whose connection attempts fail (libzmq tries
    /// again every 100 ms or so): long enough for a listener that is only starting, far shorter
    /// than waiting for silence.
    public static let dataFailureGrace = Duration.seconds(1)
    /// Data sockets this client could not connect to, named in each direct request's `avoid` so
    /// that the coordinator places its shards elsewhere, until a connection to one is made (its
    /// socket keeps trying, with nothing queued).
    public private(set) var unreachableData: Set<String> = []

    /// One line for the user when `unreachableData` is not empty: requests were served, later
    /// and by fewer workers.
    public var unreachableDataNote: String? {
        guard !unreachableData.isEmpty else { return nil }
        let list = unreachableData.sorted().joined(separator: ", ")
        return "could not connect to the data socket at \(list) (\(Self.connectFailure)): the shards went to other workers; is that address (a worker's --data-advertise) reachable from this client?"
    }
    /// The longest wait between two attempts to connect a socket, as in the Python client: a
    /// data socket counted unreachable keeps trying for as long as the client lives, and at
    /// libzmq's constant 100 ms every client would ask its DNS for an unresolvable worker name ten
    /// times a second (each failed attempt doubles the wait, up to this).
    public static let reconnectIntervalMaxMs = 2000

    /// What a data socket counted unreachable met, in words.
    static let connectFailure = "connection refused, a name that does not resolve, not a worker's socket, or no answer within \(dataConnectTimeout.components.seconds) s"

    /// Requests sent and not yet answered (kept to answer placements and to retry).
    private var pending: [String: EncodedSubmission] = [:]
    /// When each request sent with a deadline is due (its first try's send plus `deadline_ms`).
    private var dueBy: [String: ContinuousClock.Instant] = [:]
    private var limits: [Int: Int] = [:]
    private var nextPing = 0
    /// The requests in flight through `send`, and the liveness of their coordinators.
    private var flights: ClientFlights
    /// When `receive` last looked at the sockets (`look`).
    private var lastLook: ContinuousClock.Instant?
    /// Pings sent for those, and when (their answers are not returned; a coordinator down for
    /// good is pinged for as long as the client lives, so unanswered ones are let go).
    private var keepAlivePings: [String: ContinuousClock.Instant] = [:]
    /// What each coordinator's socket monitor reported.
    private var links: [Link]
    /// Coordinator sockets replaced so far (`reconnect`): a poller made before one is stale.
    private var reconnects = 0
    /// Coordinators whose last ping answer said they had no worker (`Options.notice` told so).
    private var workerless: Set<Int> = []
    /// Workers on this host (behind Unix sockets) sent bytes of this client's shared memory,
    /// since they cannot read it in place: told to `Options.notice` once each.
    private var unsharedWith: Set<String> = []

    /// One coordinator connection, as its socket monitor reported it: whether it was ever up
    /// (whether it is now, `flights` keeps), and how many attempts to connect failed (for an
    /// error that says why nothing answered).
    private struct Link {
        var everUp = false
        /// A connection was made (its handshake may not have finished).
        var everConnected = false
        var failedConnects = 0

        /// Why it never came up, for an error (nil once it was up).
        var trouble: String? {
            if everUp { return nil }
            if everConnected {
                return "its port takes connections, but no ZeroMQ handshake finished: not a coordinator's frontend, a coordinator that is stopped, or a proxy with nothing behind it"
            }
            return "\(failedConnects) failed attempts: is a coordinator listening there, and does its name resolve from here?"
        }
    }
    private let clock = ContinuousClock()

    public init(endpoints: [String], options: Options = Options()) throws {
        guard !endpoints.isEmpty else { throw ProtocolError(.badRequest, "no coordinator endpoint given") }
        self.endpoints = endpoints
        self.options = options
        coordinators = []
        monitors = []
        links = Array(repeating: Link(), count: endpoints.count)
        flights = ClientFlights(endpoints: endpoints.count, pingIntervalMs: options.pingIntervalMs, liveness: options.liveness,
                                attempts: options.attempts, backoffMs: options.backoffMs)
        for e in endpoints {
            let (s, monitor) = try Self.dealer(context, e, curve: options.curve, pingIntervalMs: options.pingIntervalMs)
            coordinators.append(s)
            monitors.append(monitor)
        }
    }

    public convenience init(endpoint: String, options: Options = Options()) throws {
        try self.init(endpoints: [endpoint], options: options)
    }

    /// A DEALER connected to `endpoint`, and its monitor, attached before the connection starts
    /// (so that no event of it is missed). Failed attempts back off from 100 ms to
    /// `reconnectIntervalMaxMs`.
    private static func dealer(_ context: ZMQContext, _ endpoint: String, curve: CurveClientSettings?,
                               pingIntervalMs: Int) throws -> (ZMQSocket, ZMQMonitor) {
        let s = try ZMQSocket(context: context, type: .dealer)
        try s.setLinger(milliseconds: 0)
        try s.closeDeadConnections(heartbeatMs: pingIntervalMs)
        try s.setSendTimeout(milliseconds: 5000)
        try s.setReconnectIntervalMax(milliseconds: reconnectIntervalMaxMs)
        if let curve { try s.apply(curve) }
        let monitor = try ZMQMonitor(s, context: context, speaks: curve == nil ? .null : .curve)
        do { try s.connect(endpoint) } catch let e as ZMQError { throw ProtocolError(.badRequest, "cannot connect to \(endpoint): \(e.reason)") }
        return (s, monitor)
    }

    public func close() {
        for m in monitors { m.close() }
        monitors = []
        // What is queued (the `cancel` of a request given up just before) gets 0.2 s to leave.
        for s in coordinators {
            try? s.setLinger(milliseconds: 200)
            s.close()
        }
        for m in dataMonitors.values { m.close() }
        dataMonitors = [:]
        for s in dataSockets.values { s.socket.close() }
        dataSockets = [:]
    }

    deinit { close() }

    // MARK: one request

    /// Prunes one request; the coordinator's `result` or `error` reply. Throws `ProtocolError`
    /// with `timeout` when no coordinator answers in time, `too_large` when the request exceeds
    /// what the coordinator takes, `SharedMemoryError` when `sharedMemory` (a direct request's
    /// tensors in a sealed memfd, read in place by the workers that can: `inSharedMemory`) finds
    /// none to be had.
    public func prune(_ s: PruneSubmission, timeoutMs: Int? = nil, sharedMemory: Bool = false) throws -> ClusterReply {
        let deadlineMs = s.deadlineMs ?? 30_000
        let e = sharedMemory ? try s.encoded().inSharedMemory() : s.encoded()
        return try call(e, timeoutMs: timeoutMs ?? deadlineMs + 5_000, reachWithinMs: deadlineMs)
    }

    /// Sends a request and waits for its reply: a request in flight like those of `send`
    /// (`ClientFlights`: pinged, sent again, moved), given up when it needs a try after its
    /// last, or at the timeout; or after `reachWithinMs` (the request's deadline) when no
    /// coordinator's connection was ever up, since then no answer can be on its way.
    public func call(_ e: EncodedSubmission, timeoutMs: Int, reachWithinMs: Int? = nil) throws -> ClusterReply {
        let start = clock.now
        let deadline = start + .milliseconds(timeoutMs)
        let reachBy = reachWithinMs.map { min(deadline, start + .milliseconds($0)) } ?? deadline
        var end: ContinuousClock.Instant { links.contains(where: \.everUp) ? deadline : reachBy }
        // Up to a ping interval for a connection (past it, the tries' liveness takes over, so that
        // a client with no coordinator at all gives up after its tries, not at the timeout).
        try awaitConnection(until: min(end, start + .milliseconds(options.pingIntervalMs)))
        let endpoint = chooseEndpoint()
        try checkSize(e, endpoint: endpoint, until: end)
        try send(e, to: endpoint)
        // Not answered (a timeout, a refused key): the coordinators stop working on it.
        defer { cancel(e.id) }
        while !flights.isSpent(e.id) {
            let until = end
            guard clock.now < until else { break }
            let wait = min(options.pingIntervalMs, Int((until - clock.now).milliseconds))
            if let r = try receive(timeoutMs: max(1, wait)), r.reply.id == e.id { return r.reply }
        }
        let tries = flights.tries(e.id) ?? 1
        throw ProtocolError(.timeout, "no answer to '\(e.id)' from \(endpoints.joined(separator: ", ")) after \(tries) tr\(tries == 1 ? "y" : "ies") in \(Units.duration(clock.now - start))" + unreachable())
    }

    /// Waits until a coordinator's connection is up (or `deadline`), so that the first request
    /// goes to one that is there: sent to the first in the list, one that is not there kept it
    /// until its liveness ran out (5 s with the default pings, for each `submit`). Replies that
    /// arrive meanwhile belong to no request waited on, and are dropped.
    /// Returns whether one is up.
    @discardableResult
    public func awaitConnection(until deadline: ContinuousClock.Instant) throws -> Bool {
        while !flights.anyConnected, clock.now < deadline {
            _ = try receive(timeoutMs: max(1, min(10, Int((deadline - clock.now).milliseconds))))
        }
        return flights.anyConnected
    }

    /// For an error: the coordinators this client never connected to, and why.
    private func unreachable() -> String {
        unreachableNote.map { "; " + $0 } ?? ""
    }

    /// The coordinators this client never connected to, and why (nil when none): for an error
    /// that says why nothing answered.
    public var unreachableNote: String? {
        let never = endpoints.indices.filter { !links[$0].everUp }
        guard !never.isEmpty else { return nil }
        return "never connected to " + never.map { "\(endpoints[$0]) (\(links[$0].trouble!))" }.joined(separator: ", ")
    }

    /// Why coordinator `endpoint` may not have answered, when this client knows: it never
    /// connected, and attempts to failed, or a connection was made and no handshake finished.
    /// Nil when a connection was up, or nothing was seen yet.
    public func connectionTrouble(_ endpoint: Int) -> String? {
        let link = links[endpoint]
        guard let trouble = link.trouble, link.everConnected || link.failedConnects > 0 else { return nil }
        return "never connected (\(trouble))"
    }

    /// The coordinator's status, or nil when it does not answer in time.
    public func status(endpoint: Int = 0, timeoutMs: Int = 5000) throws -> ClusterStatus? {
        let id = try sendPing(to: endpoint)
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(timeoutMs)
        while clock.now < deadline {
            guard let r = try receive(timeoutMs: max(1, Int((deadline - clock.now).milliseconds))) else { continue }
            guard r.reply.id == id else { continue }
            if case .status(let s) = r.reply { return s }
            // Not a coordinator's frontend (its backend, for one): no status will come.
            if case .error(_, let e) = r.reply { throw e }
        }
        return nil
    }

    @discardableResult
    private func sendPing(to endpoint: Int) throws -> String {
        nextPing += 1
        let id = "ping-\(getpid())-\(nextPing)"
        _ = try coordinators[endpoint].send([Frame([]), Frame(Envelope.encode(ProtocolVersion.header("status", id: id)))], dontWait: true)
        return id
    }

    /// Refuses, before sending, a request whose frames exceed what the coordinator takes.
    private func checkSize(_ e: EncodedSubmission, endpoint: Int, until deadline: ContinuousClock.Instant) throws {
        guard e.transfer == .inline else { return }
        if limits[endpoint] == nil {
            let wait = min(2000, max(1, Int((deadline - clock.now).milliseconds)))
            limits[endpoint] = try options.maxMessageBytes ?? status(endpoint: endpoint, timeoutMs: wait)?.maxMessageBytes
        }
        guard let limit = limits[endpoint] else { return }
        let size = e.messageBytes
        guard size.largestFrame <= limit && size.total <= limit else {
            throw ProtocolError(.tooLarge, "the request is \(Units.bytes(size.total)) (largest frame \(Units.bytes(size.largestFrame))); \(endpoints[endpoint]) takes at most \(Units.bytes(limit))")
        }
    }

    // MARK: many requests

    /// Sends a request without waiting (its reply comes from `receive`).
    public func send(_ e: EncodedSubmission, to endpoint: Int) throws {
        if let ms = e.deadlineMs { dueBy[e.id] = clock.now + .milliseconds(ms) }
        try transmit(e, to: endpoint)
        flights.sent(e.id, to: endpoint, now: clock.now)
    }

    private func transmit(_ e: EncodedSubmission, to endpoint: Int) throws {
        var e = unreachableData.isSubset(of: e.avoid) ? e : e.avoiding(e.avoid.union(unreachableData))
        // Each try is due when the first was: a coordinator that sheds a late try, or one that
        // takes it over, knows how long its client still waits.
        if let end = dueBy[e.id] { e = e.due(withinMs: max(1, Int((end - clock.now).milliseconds.rounded(.up)))) }
        pending[e.id] = e
        try coordinators[endpoint].send([Frame([])] + e.frames())
    }

    /// The endpoint for a new request: the next in turn that answers (any, when none does).
    public func chooseEndpoint() -> Int { flights.choose() }

    /// Forgets a request sent with `send` (its reply, if any, is then ignored).
    public func forget(_ id: String) {
        pending[id] = nil
        dueBy[id] = nil
        placedOn[id] = nil
        flights.forget(id)
    }

    /// Gives up a request sent with `send` and not answered yet: every coordinator is told
    /// (`cancel`), so that the cluster stops working on it, and its reply, if any, is ignored.
    public func cancel(_ id: String) {
        guard pending[id] != nil else { return }
        let frames = [Frame([])] + CancelMessage(id: id).frames()
        for c in coordinators { _ = try? c.send(frames, dontWait: true) }
        forget(id)
    }

    /// Sends what the requests in flight need sent.
    private func carry(_ actions: [ClientFlights.Action]) throws {
        for a in actions {
            switch a {
            case .resend(let id, let j): if let e = pending[id] { try transmit(e, to: j) }
            case .reconnect(let i): try reconnect(i)
            case .ping(let i):
                let now = clock.now, old = Duration.milliseconds(options.pingIntervalMs) * (options.liveness + 1)
                keepAlivePings = keepAlivePings.filter { now - $0.value < old }
                keepAlivePings[try sendPing(to: i)] = now
            }
        }
    }

    /// The next reply for a request in flight or a ping (placements are carried out here, not
    /// returned), or nil when none comes within the timeout. Throws `ConnectionRefused` when a
    /// coordinator, or a worker's data socket, refuses this client's CURVE key, or a coordinator
    /// speaks CURVE where this client does not or the other way round (a worker's
    /// refusal is seen at the next wake-up: a reply or ping answer, within a ping interval), and
    /// `DataSocketUnreachable` when a worker's data socket the request avoids does not connect in
    /// time (one it does not avoid yet sends the request again, avoiding it).
    public func receive(timeoutMs: Int) throws -> Received? {
        let deadline = clock.now + .milliseconds(timeoutMs)
        var poller = ZMQPoller(), polled = -1
        while true {
            look(now: clock.now)
            try carry(flights.tick(now: clock.now))
            if polled != reconnects {  // `carry` replaced a coordinator's socket
                poller = ZMQPoller()
                for s in coordinators { poller.add(s) }
                for m in monitors { poller.add(m.socket) }
                polled = reconnects
            }
            var left = max(0, Int((deadline - clock.now).milliseconds))
            if let due = flights.untilDue(now: clock.now) { left = min(left, Int(due.milliseconds.rounded(.up))) }
            if let due = dataWaits.nextDue() {
                left = min(left, max(0, Int((due - clock.now).milliseconds.rounded(.up))))
            }
            let ready = try poller.poll(timeoutMilliseconds: left)
            try watchConnections(ready.filter { $0 >= coordinators.count }.map { $0 - coordinators.count })
            for i in ready.sorted() where i < coordinators.count {
                guard let msg = try coordinators[i].receiveFrames(timeoutMilliseconds: 0), msg.count >= 2, msg[0].isEmpty else { continue }
                if let r = try take(ClusterReply.parse(Array(msg.dropFirst())), from: i) { return r }
            }
            if clock.now >= deadline { return nil }
        }
    }

    /// A turn of `receive` at `now`: one later than two ping intervals after the last (within
    /// `receive` they come a ping interval apart at most) means this process did not run or its
    /// caller held it, and nobody is blamed for that time: no coordinator for its silence
    /// (`ClientFlights.resumed`), no data socket for not connecting meanwhile.
    private func look(now: ContinuousClock.Instant) {
        defer { lastLook = now }
        guard let last = lastLook, now - last > .milliseconds(2 * options.pingIntervalMs) else { return }
        let gap = now - last
        flights.resumed(after: gap, now: now)
        dataWaits.resumed(after: gap, now: now)
    }

    /// Connection events: a refused CURVE key (coordinators `polled`, or any worker's data
    /// socket) ends the wait; a dropped coordinator connection sends its requests again. Only one
    /// that was up: a connection closed before its handshake (a proxy that accepts while nothing
    /// is behind it, such as docker's userland proxy during a restart) delivered nothing, and
    /// sending again at each of its attempts would spend a request's tries in a second.
    private func watchConnections(_ polled: [Int]) throws {
        for c in polled.sorted() {
            let events = monitors[c].drain()
            if events.contains(.authenticationFailed) { throw ConnectionRefused(endpoint: endpoints[c], by: .coordinator) }
            if events.contains(.mechanismMismatch) {
                throw ConnectionRefused(endpoint: endpoints[c], by: .coordinator, reason: options.curve == nil ? .curveRequired : .curveUnspoken)
            }
            if events.contains(.serverKeyMismatch) { throw ConnectionRefused(endpoint: endpoints[c], by: .coordinator, reason: .serverKey) }
            for event in events {
                switch event {
                case .handshakeSucceeded:
                    links[c].everUp = true
                    flights.connected(c)
                case .connectRetried: links[c].failedConnects += 1
                case .connected: links[c].everConnected = true
                case .disconnected where flights.isConnected(c):
                    try carry(flights.dropped(c, now: clock.now))
                default: break
                }
            }
        }
        for (endpoint, m) in dataMonitors {
            let events = m.drain()
            if events.contains(.authenticationFailed) { throw ConnectionRefused(endpoint: endpoint, by: .worker) }
            if events.contains(.disconnected), dataWaits.connected.contains(endpoint) { try sendAgain(placedOn: endpoint) }
            if events.contains(.handshakeSucceeded) {
                dataWaits.handshake(endpoint)
                unreachableData.remove(endpoint)
            } else if events.contains(.connectRetried) {
                dataWaits.attemptFailed(endpoint)
            }
        }
        try checkWaitingShards()
    }

    /// Shards of requests in flight still placed on a data socket that has made no connection
    /// within its patience (`DataConnectWaits`): that address counts as unreachable, and each such request is
    /// sent again (the same id, to the same coordinator) naming it in `avoid`, so that its shards
    /// move. Throws `DataSocketUnreachable` when the coordinator placed a shard on an address the
    /// request already named.
    private func checkWaitingShards() throws {
        for (id, late) in dataWaits.late(now: clock.now, inFlight: { pending[$0] != nil }) {
            guard let e = pending[id], let coordinator = flights.endpoint(of: id) else { continue }
            if let named = late.sorted().first(where: e.avoid.contains) {
                throw DataSocketUnreachable(endpoint: named, seconds: Double(dataWaits.patience(named).components.seconds))
            }
            for endpoint in late.subtracting(unreachableData) { try forgetQueued(endpoint) }
            unreachableData.formUnion(late)
            try transmit(e, to: coordinator)
        }
    }

    /// The connection of the data socket at `endpoint` dropped (a worker gone, a balancer or the
    /// heartbeats that cut it): what it held may be lost, so each request with shards placed
    /// there goes again, and the coordinator places again those still waiting for their bytes.
    private func sendAgain(placedOn endpoint: String) throws {
        for (id, shards) in placedOn.sorted(by: { $0.key < $1.key }) where shards.values.contains(endpoint) {
            guard let e = pending[id], let coordinator = flights.endpoint(of: id) else { continue }
            try transmit(e, to: coordinator)
        }
    }

    /// Counts the data socket at `endpoint` unreachable: a fresh socket in its place, with none
    /// of the bytes queued for it, keeps trying to connect.
    private func forgetQueued(_ endpoint: String) throws {
        dataMonitors.removeValue(forKey: endpoint)?.close()
        for key in dataSockets.keys where key.hasPrefix(endpoint + " ") {
            guard let old = dataSockets.removeValue(forKey: key) else { continue }
            old.socket.close()
            try openData(key, endpoint: endpoint, curve: old.curve)
        }
    }

    /// A fresh connection to coordinator `i` in place of one gone silent (`ClientFlights`): what
    /// was queued on the old one goes with it, and its requests are sent again.
    private func reconnect(_ i: Int) throws {
        reconnects += 1
        monitors[i].close()
        coordinators[i].close()
        (coordinators[i], monitors[i]) = try Self.dealer(context, endpoints[i], curve: options.curve, pingIntervalMs: options.pingIntervalMs)
    }

    /// A message from coordinator `i`: the reply for the caller, or nil when the client took
    /// care of it (a placement, an answer to its own ping, a request to send again later).
    private func take(_ reply: ClusterReply, from i: Int) throws -> Received? {
        try carry(flights.heard(i, now: clock.now))
        if case .placement(let p) = reply {
            try place(p)
            return nil
        }
        if keepAlivePings.removeValue(forKey: reply.id) != nil {
            if case .status(let st) = reply {
                if st.draining { flights.draining(i) }
                noteWorkers(st.workers, of: i)
            }
            return nil
        }
        if case .error(let id, let e) = reply, flights.retryLater(id, e.code, from: i, now: clock.now) { return nil }
        if case .result = reply { forget(reply.id) }
        if case .error = reply { forget(reply.id) }
        return Received(endpoint: i, reply: reply)
    }

    /// Tells `Options.notice` when coordinator `i` says it has no worker (once, until it has one).
    private func noteWorkers(_ workers: Int, of i: Int) {
        guard workers == 0 else { workerless.remove(i); return }
        guard workerless.insert(i).inserted, let notice = options.notice else { return }
        notice("\(endpoints[i]) has no worker: its requests wait for one until their deadline")
    }

    /// Sends a placed shard's bytes to its worker: over CURVE when the worker speaks it (and
    /// never in the clear when this client does).
    private func place(_ p: Placement) throws {
        guard let e = pending[p.id], let data = e.data(shard: p.shard, ticket: p.ticket) else { return }
        let curve = try dataCurve(p)
        let key = p.endpoint + " " + (curve?.serverKey.z85 ?? "")
        if dataSockets[key] == nil { try openData(key, endpoint: p.endpoint, curve: curve) }
        dataWaits.placed(p.id, shard: p.shard, on: p.endpoint, now: clock.now)
        placedOn[p.id, default: [:]][p.shard] = p.endpoint
        // A worker on this host that can read this process's shared memory reads the bytes in place.
        let sharing = p.readsSharedMemory
        if !sharing, data.data.features.bytes.sharedReference != nil { noteUnshared(p) }
        try dataSockets[key]!.socket.send([Frame([])] + data.frames(sharing: sharing))
    }

    /// Tells `Options.notice` once when a worker on this host (behind a Unix socket) cannot read
    /// this client's shared memory, so is sent the bytes: why, in its words and this process's.
    private func noteUnshared(_ p: Placement) {
        guard p.endpoint.hasPrefix("ipc://"), unsharedWith.insert(p.endpoint).inserted, let notice = options.notice else { return }
        let here = SharedMemoryScope.current.map { "this client runs in \($0)" } ?? "this client cannot read its own PID namespace"
        let why = p.sharedMemory.map { "it runs in \($0); \(here)" } ?? "its placement names no memory it reads: it could not read this client's, or it is of an earlier release"
        notice("the worker at \(p.endpoint) cannot read this client's shared memory (\(why)): it is sent the bytes")
    }

    /// A socket to a worker's data endpoint, and its monitor.
    private func openData(_ key: String, endpoint: String, curve: CurveClientSettings?) throws {
        let (s, monitor) = try Self.dealer(context, endpoint, curve: curve, pingIntervalMs: options.pingIntervalMs)
        dataSockets[key] = (s, curve)
        dataMonitors[endpoint] = monitor
    }

    /// The CURVE settings for a placement's worker, or nil when neither end speaks CURVE.
    private func dataCurve(_ p: Placement) throws -> CurveClientSettings? {
        switch (options.curve, p.serverKey) {
        case (nil, nil): return nil
        case (let mine?, let theirs?): return CurveClientSettings(keyPair: mine.keyPair, serverKey: theirs)
        case (nil, _?):
            throw ProtocolError(.badRequest, "the worker at \(p.endpoint) takes shard bytes over CURVE only: give this client its keys (--curve-secret, --curve-server-key)")
        case (_?, nil):
            throw ProtocolError(.badRequest, "the worker at \(p.endpoint) takes shard bytes unencrypted; this client speaks CURVE and does not send them in the clear (give the worker --curve-clients, or send inline)")
        }
    }
}
