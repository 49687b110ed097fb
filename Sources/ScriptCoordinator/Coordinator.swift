#if canImport(Glibc)
import Glibc
#endif
import Logging
import ScriptCore
import ScriptProtocol
import ScriptService
import ScriptTransport

/// The coordinator process: a ROUTER for clients, a ROUTER for workers, and one event loop that
/// runs `CoordinatorState`. It does no arithmetic worth a thread: workers do it all.
///
/// It records the metrics of `ClusterMetrics` (they cost nothing unless the process bootstrapped
/// a metrics backend), writes one access line a request, and with `config.curve` speaks
/// CurveZMQ on both sockets, letting in only the allowed keys.
public final class Coordinator {
    public let config: CoordinatorConfiguration
    private let logger: Logger
    private let context: ZMQContext
    private let frontend: ZMQSocket
    private let backend: ZMQSocket
    private let state: CoordinatorState
    /// What probes read: live while the loop turns, ready while bound with a worker.
    public let health: HealthState
    /// The workers registered, published each second for the operations port's `/workers`.
    public let roster = WorkerRoster()
    /// Called with every finished request, after its metrics and access line.
    private let onFinished: @Sendable (AccessRecord) -> Void
    /// The CURVE authenticator (nil without CURVE).
    private let zap: ZAPHandler?
    /// Connection events of the client and the worker socket.
    private let clientWatch: ConnectionWatch
    private let workerWatch: ConnectionWatch
    /// At most one warning a minute about replies dropped for clients that do not read them.
    private var notReading = WarningThrottle(interval: .seconds(60))
    /// Endpoints actually bound (ports resolved when the configuration asked for `*`).
    public let frontendEndpoint: String
    public let backendEndpoint: String

    /// Binds both sockets; throws `StartupError` naming the endpoint when one cannot be bound.
    public init(config: CoordinatorConfiguration, logger: Logger, health: HealthState = HealthState(),
                onFinished: @escaping @Sendable (AccessRecord) -> Void = { _ in }) throws {
        self.config = config
        self.logger = logger
        self.health = health
        self.onFinished = onFinished
        let context = ZMQContext(ioThreads: config.ioThreads)
        self.context = context
        // The authenticator answers for the sockets' handshakes: it starts before they bind.
        zap = try config.curve.map { curve in
            try curve.startAuthenticator(context: context) { refusal in logger.warning("\(refusal)") }
        }
        do {
            frontend = try ZMQSocket(context: context, type: .router)
            backend = try ZMQSocket(context: context, type: .router)
            for s in [frontend, backend] {
                try s.setRouterMandatory(true)
                try s.setLinger(milliseconds: 0)
                // The loop must never block on one slow peer.
                try s.setSendTimeout(milliseconds: 200)
                try s.setMaxMessageSize(Int64(config.maxMessageBytes))
                try s.closeDeadConnections(heartbeatMs: config.heartbeatMs)
            }
            if let curve = config.curve {
                try frontend.apply(curve.frontend)
                try backend.apply(curve.backend)
            }
            frontendEndpoint = try Self.bind(frontend, config.frontend, role: "client")
            backendEndpoint = try Self.bind(backend, config.backend, role: "worker")
            clientWatch = try ConnectionWatch(frontend, socket: .frontend, peers: "client", context: context, logger: logger)
            workerWatch = try ConnectionWatch(backend, socket: .backend, peers: "worker", context: context, logger: logger)
        } catch {
            zap?.stop()
            throw error
        }
        state = CoordinatorState(config: config, now: ContinuousClock.now)
        if let curve = config.curve {
            logger.info("CURVE on both sockets: server key \(curve.keyPair.publicKey), \(curve.clients.count) client keys and \(curve.workers.count) worker keys allowed")
        }
    }

    deinit { zap?.stop() }

    private static func bind(_ socket: ZMQSocket, _ endpoint: String, role: String) throws -> String {
        do {
            try socket.bind(endpoint)
            return try socket.lastEndpoint()
        } catch let e as ZMQError {
            throw StartupError("cannot listen for \(role)s on \(endpoint): \(e.reason)")
        }
    }

    /// Serves until `trap` is raised and in-flight requests are done (or the drain times out).
    public func run(trap: SignalTrap) throws {
        var poller = ZMQPoller()
        poller.add(frontend)
        poller.add(backend)
        poller.add(clientWatch.monitor.socket)
        poller.add(workerWatch.monitor.socket)
        let clock = ContinuousClock()
        var lastTick = clock.now, lastRoster = clock.now - .seconds(1)
        var gaps = LoopGap(now: lastTick, cpu: CPUTime.thread(), threshold: state.heartbeat)
        recordGauges()
        while true {
            let now = clock.now
            health.beat(now: now)
            if trap.isRaised && !state.draining { carry(state.beginDrain(now: now)) }
            if state.isDrained { break }
            updateReadiness()
            let ready = try poller.poll(timeoutMilliseconds: 50)
            if let gap = gaps.turn(at: clock.now, cpu: CPUTime.thread()) { carry(state.resumed(after: gap, now: clock.now)) }
            if ready.contains(0) {
                receive(frontend, from: .client) { self.state.clientMessage(route: $0, frames: $1, now: clock.now) }
            }
            if ready.contains(1) {
                receive(backend, from: .worker) { self.state.workerMessage(identity: $0, frames: $1, now: clock.now) }
            }
            if ready.contains(2) { clientWatch.drain() }
            if ready.contains(3) { workerWatch.drain() }
            if clock.now - lastTick >= .milliseconds(50) {
                lastTick = clock.now
                carry(state.tick(now: lastTick))
                recordGauges()
            }
            if clock.now - lastRoster >= .seconds(1) {
                lastRoster = clock.now
                roster.publish(state.roster(now: lastRoster))
            }
        }
        carry(state.farewells())
        health.setReady(false, reason: "stopped")
        logger.info("coordinator stopped: served \(state.served), failed \(state.failed)")
        clientWatch.close()
        workerWatch.close()
        frontend.close()
        backend.close()
        zap?.stop()
    }

    /// Takes every message waiting on `socket` (a bounded batch, so neither side starves).
    private func receive(_ socket: ZMQSocket, from peer: ClusterMetrics.Peer,
                         _ handle: ([UInt8], [Frame]) -> [CoordinatorState.Action]) {
        for _ in 0..<256 {
            let message: [Frame]?
            do { message = try socket.receiveFrames(timeoutMilliseconds: 0) } catch {
                logger.warning("receive failed: \(error)")
                return
            }
            guard let message else { return }
            guard message.count >= 1 else { continue }
            let body = message.dropFirst()
            ClusterMetrics.received(bytes: body.reduce(0) { $0 + $1.count }, from: peer)
            carry(handle(message[0].bytes, Array(body)))
        }
    }

    private func updateReadiness() {
        let workers = state.workerCount
        if state.draining {
            health.setReady(false, reason: "draining")
        } else if workers == 0 {
            health.setReady(false, reason: "no workers registered")
        } else {
            health.setReady(true, reason: "\(workers) worker\(workers == 1 ? "" : "s")")
        }
    }

    /// The gauges: jobs waiting for credit, requests in flight, workers alive.
    private func recordGauges() {
        ClusterMetrics.queueDepth(state.queuedJobs)
        ClusterMetrics.requestsInFlight(state.requestsInFlight)
        ClusterMetrics.workersAlive(state.workerCount)
        ClusterMetrics.workersSilent(state.silentWorkerCount(now: ContinuousClock.now))
    }

    /// Sends a reply without waiting for room: a client with a full queue of unread replies (it
    /// stopped reading) loses it, as does one that is gone, so that no client holds up the loop
    /// that serves all (such a send waited 200 ms before, for every reply and every other peer).
    /// A client that reads again gets its answer when it sends the request again (the result
    /// cache).
    private func deliver(_ frames: [Frame], to route: [UInt8]) {
        do {
            if try frontend.send([Frame(route), Frame([])] + frames, dontWait: true) {
                ClusterMetrics.sent(bytes: frames.reduce(0) { $0 + $1.count }, to: .client)
                return
            }
            ClusterMetrics.replyDropped(.clientNotReading)
            if let times = notReading.due(ContinuousClock().now) {
                logger.warning("a reply to client \(hex(route)) was dropped: it does not read its replies (as many wait for it as libzmq queues for one peer)\(times)")
            }
        } catch let e as ZMQError where e.code == EHOSTUNREACH {
            ClusterMetrics.replyDropped(.clientGone)
            logger.debug("reply to client \(hex(route)) not delivered: it is gone")
        } catch {
            logger.info("reply to client \(hex(route)) not delivered: \(error)")
        }
    }

    /// Carries out the state machine's actions. A worker found gone at a send is dropped with one
    /// line that says what the send met; later sends to it (already in `actions`) fail quietly.
    private func carry(_ actions: [CoordinatorState.Action]) {
        for a in actions {
            switch a {
            case .toClient(let route, let frames):
                deliver(frames, to: route)
            case .toWorker(let identity, let frames):
                do {
                    try backend.send([Frame(identity)] + frames)
                    ClusterMetrics.sent(bytes: frames.reduce(0) { $0 + $1.count }, to: .worker)
                } catch {
                    if state.workers[identity] == nil { logger.debug("send to unregistered peer \(hex(identity)) failed: \(error)") }
                    // Unroutable: libzmq has no connection of that identity (it closed: the
                    // process left, or the connection was reset; a worker alive connects again).
                    let why = (error as? ZMQError)?.isUnroutable == true ? "its connection closed (the process exited, or the connection was reset)" : "\(error)"
                    carry(state.unreachable(worker: identity, error: why, unsent: frames, now: ContinuousClock().now))
                }
            case .finished(let record):
                let entry = record.logEntry
                ClusterMetrics.requestFinished(entry)
                logger.access(entry)
                onFinished(record)
            case .jobAnswered(let kind, let roundTrip):
                ClusterMetrics.jobAnswered(kind, roundTrip: roundTrip)
            case .workerLeft(let reason, let requeued):
                ClusterMetrics.workerDeparted(reason)
                ClusterMetrics.jobsRequeued(requeued, reason: .workerLost)
            case .jobsMoved(let reason, let count):
                ClusterMetrics.jobsRequeued(count, reason: reason)
            case .hedged(let outcome):
                ClusterMetrics.hedge(outcome)
            case .log(let level, let message):
                logger.log(level: level, "\(message)")
            }
        }
    }
}
