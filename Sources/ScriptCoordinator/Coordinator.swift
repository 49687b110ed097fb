import Logging
import ScriptCore
import ScriptProtocol
import ScriptService
import ScriptTransport

/// The coordinator process: a ROUTER for clients, a ROUTER for workers, and one event loop that
/// runs `CoordinatorState`. It does no arithmetic worth a thread: workers do it all.
public final class Coordinator {
    public let config: CoordinatorConfiguration
    private let logger: Logger
    private let context: ZMQContext
    private let frontend: ZMQSocket
    private let backend: ZMQSocket
    private let state: CoordinatorState
    /// What probes read: live while the loop turns, ready while bound with a worker.
    public let health: HealthState
    /// Called with every finished request (access log, metrics).
    private let onFinished: @Sendable (AccessRecord) -> Void
    /// Connection events of the client socket.
    private let monitor: ZMQMonitor
    /// Client connections accepted, closed (by the client, or dropped for a frame over the size
    /// limit), and refused at the handshake (not a ZeroMQ peer, or a key not allowed).
    public private(set) var connections = (accepted: 0, closed: 0, refused: 0)
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
        context = ZMQContext(ioThreads: config.ioThreads)
        frontend = try ZMQSocket(context: context, type: .router)
        backend = try ZMQSocket(context: context, type: .router)
        for s in [frontend, backend] {
            try s.setRouterMandatory(true)
            try s.setLinger(milliseconds: 0)
            // The loop must never block on one slow peer.
            try s.setSendTimeout(milliseconds: 200)
            try s.setMaxMessageSize(Int64(config.maxMessageBytes))
        }
        frontendEndpoint = try Self.bind(frontend, config.frontend, role: "client")
        backendEndpoint = try Self.bind(backend, config.backend, role: "worker")
        state = CoordinatorState(config: config)
        monitor = try ZMQMonitor(frontend, context: context)
    }

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
        poller.add(monitor.socket)
        let clock = ContinuousClock()
        var lastTick = clock.now
        while true {
            let now = clock.now
            health.beat(now: now)
            if trap.isRaised && !state.draining { carry(state.beginDrain(now: now)) }
            if state.isDrained { break }
            updateReadiness()
            let ready = try poller.poll(timeoutMilliseconds: 50)
            if ready.contains(0) { receive(frontend) { self.state.clientMessage(route: $0, frames: $1, now: clock.now) } }
            if ready.contains(1) { receive(backend) { self.state.workerMessage(identity: $0, frames: $1, now: clock.now) } }
            if ready.contains(2) { count(monitor.drain()) }
            if clock.now - lastTick >= .milliseconds(50) {
                lastTick = clock.now
                carry(state.tick(now: lastTick))
            }
        }
        carry(state.farewells())
        health.setReady(false, reason: "stopped")
        logger.info("coordinator stopped: served \(state.served), failed \(state.failed)")
        monitor.close()
        frontend.close()
        backend.close()
    }

    private func count(_ events: [ZMQMonitor.Event]) {
        for e in events {
            switch e {
            case .accepted: connections.accepted += 1
            case .disconnected:
                connections.closed += 1
                logger.debug("a client connection closed (by the client, or dropped for a frame over \(Units.bytes(config.maxMessageBytes)))")
            case .handshakeFailed, .authenticationFailed:
                connections.refused += 1
                logger.warning("a client connection was refused at the handshake (\(e == .authenticationFailed ? "its key is not allowed" : "not a ZeroMQ peer, or a protocol error"))")
            }
        }
    }

    /// Takes every message waiting on `socket` (a bounded batch, so neither side starves).
    private func receive(_ socket: ZMQSocket, _ handle: ([UInt8], [Frame]) -> [CoordinatorState.Action]) {
        for _ in 0..<256 {
            let message: [Frame]?
            do { message = try socket.receiveFrames(timeoutMilliseconds: 0) } catch {
                logger.warning("receive failed: \(error)")
                return
            }
            guard let message else { return }
            guard message.count >= 1 else { continue }
            carry(handle(message[0].bytes, Array(message.dropFirst())))
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

    /// Carries out the state machine's actions.
    private func carry(_ actions: [CoordinatorState.Action]) {
        for a in actions {
            switch a {
            case .toClient(let route, let frames):
                do { try frontend.send([Frame(route), Frame([])] + frames) } catch {
                    logger.info("reply to client \(hex(route)) not delivered: \(error)")
                }
            case .toWorker(let identity, let frames):
                do { try backend.send([Frame(identity)] + frames) } catch {
                    logger.warning("send to worker \(hex(identity)) failed: \(error)")
                    carry(state.unreachable(worker: identity, now: ContinuousClock().now))
                }
            case .finished(let record):
                onFinished(record)
            case .log(let level, let message):
                logger.log(level: level, "\(message)")
            }
        }
    }
}
