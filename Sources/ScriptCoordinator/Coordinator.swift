import Dispatch
import Foundation
import Logging
import ScriptCore
import ScriptProtocol
import ScriptService
import ScriptTransport

/// The coordinator process: a ROUTER for clients, a ROUTER for workers, one event loop that
/// runs `CoordinatorState`, and a compute queue for the steps that take CPU (validation and
/// weights, global selection), so the loop keeps serving heartbeats while they run.
public final class Coordinator {
    public let config: CoordinatorConfiguration
    private let logger: Logger
    private let context: ZMQContext
    private let frontend: ZMQSocket
    private let backend: ZMQSocket
    private let state: CoordinatorState
    private let compute = DispatchQueue(label: "script.coordinator.compute")
    /// Early work on requests whose shards are still running, on otherwise idle CPU (while `run`).
    private var idle: IdleThread?
    private let completions: CompletionQueue<Completion>
    private let pool: ComputePool
    /// Endpoints actually bound (ports resolved when the configuration asked for `*`).
    public let frontendEndpoint: String
    public let backendEndpoint: String

    enum Completion {
        case prepared(Int, Result<PreparedRequest, ProtocolError>)
        case finished(Int, ClusterReply)
    }

    public init(config: CoordinatorConfiguration, logger: Logger) throws {
        self.config = config
        self.logger = logger
        context = ZMQContext()
        frontend = try ZMQSocket(context: context, type: .router)
        backend = try ZMQSocket(context: context, type: .router)
        for s in [frontend, backend] {
            try s.setRouterMandatory(true)
            try s.setLinger(milliseconds: 1000)
            // The loop must never block on one slow peer.
            try s.setSendTimeout(milliseconds: 200)
        }
        try frontend.setMaxMessageSize(Int64(config.maxMessageBytes))
        try backend.setMaxMessageSize(Int64(config.maxMessageBytes))
        try frontend.bind(config.frontend)
        try backend.bind(config.backend)
        frontendEndpoint = try frontend.lastEndpoint()
        backendEndpoint = try backend.lastEndpoint()
        completions = try CompletionQueue(context: context, name: "coordinator-\(UUID().uuidString)")
        state = CoordinatorState(config: config)
        // The coordinator shares the machine with its workers: its idle threads spin only briefly.
        pool = ComputePool(width: config.computeThreads, idleSpin: .milliseconds(1))
    }

    /// Serves until `trap` is raised and in-flight requests are done.
    public func run(trap: SignalTrap) throws {
        let idle = IdleThread(name: "script.coordinator.idle")
        self.idle = idle
        defer { idle.stop(); self.idle = nil }
        let clock = ContinuousClock()
        var lastTick = clock.now
        var poller = ZMQPoller()
        poller.add(frontend)
        poller.add(backend)
        poller.add(completions.receiver)
        var farewellSent = false
        while true {
            if trap.isRaised && !state.draining { carry(state.beginDrain()) }
            if state.isDrained {
                if !farewellSent { carry(state.farewells()); farewellSent = true }
                break
            }
            let ready = try poller.poll(timeoutMilliseconds: 100)
            let now = clock.now
            if ready.contains(0) {
                while let msg = try frontend.receiveFrames(timeoutMilliseconds: 0) {
                    guard msg.count >= 1 else { continue }
                    carry(state.clientMessage(route: msg[0].bytes, frames: Array(msg.dropFirst()), now: now))
                }
            }
            if ready.contains(1) {
                while let msg = try backend.receiveFrames(timeoutMilliseconds: 0) {
                    guard msg.count >= 1 else { continue }
                    carry(state.workerMessage(identity: msg[0].bytes, frames: Array(msg.dropFirst()), now: now))
                }
            }
            if ready.contains(2) {
                for c in completions.drain() {
                    switch c {
                    case .prepared(let key, let r): carry(state.prepared(key: key, r, now: clock.now))
                    case .finished(let key, let reply): carry(state.finished(key: key, reply))
                    }
                }
            }
            if now - lastTick >= .milliseconds(100) {
                lastTick = now
                carry(state.tick(now: now))
            }
        }
        logger.info("coordinator drained: served \(state.served), failed \(state.failed)")
        completions.close()
        frontend.close()
        backend.close()
        context.close()
    }

    /// Carries out the state machine's actions.
    private func carry(_ actions: [CoordinatorState.Action]) {
        for a in actions {
            switch a {
            case .toClient(let route, let frames):
                do { try frontend.send([route, []] + frames) } catch {
                    logger.warning("reply to client \(hex(route)) not delivered: \(error)")
                }
            case .toWorker(let identity, let frames):
                do { try backend.send([Frame(identity)] + frames) } catch {
                    logger.warning("send to worker \(hex(identity)) failed: \(error)")
                    carry(state.unreachable(worker: identity, now: ContinuousClock().now))
                }
            case .prepare(let key, let envelope, let frames):
                let limits = config.limits, pool = self.pool, done = completions
                compute.async {
                    let result: Result<PreparedRequest, ProtocolError>
                    do {
                        let submission = try ReceivedSubmission.parse(envelope, frames: frames, limits: limits)
                        result = .success(try PreparedRequest.make(submission, pool: pool))
                    } catch let e as ProtocolError {
                        result = .failure(e)
                    } catch {
                        result = .failure(ProtocolError(.internal, "\(error)"))
                    }
                    done.post(.prepared(key, result))
                }
            case .absorb(let request, let proposal):
                // Only on idle CPU: workers on this machine still compute the other shards.
                // What is not absorbed when the finish comes, the finish absorbs. The job holds
                // the selection weakly: on a busy machine it may run long after the request is
                // gone, and must not keep the request's tensors alive till then.
                request.postponeAbsorb(proposal)
                idle?.async { [weak selection = request.selection] in selection?.addPostponed(pool: .serial) }
            case .finish(let key, let request, let proposals, let workers, let shardsMs, let receivedMs):
                let pool = self.pool, done = completions
                compute.async {
                    done.post(.finished(key, request.finish(proposals: proposals, workers: workers, shardsMs: shardsMs,
                                                             receivedMs: receivedMs, pool: pool)))
                }
            case .log(let level, let message):
                switch level {
                case .debug: logger.debug("\(message)")
                case .info: logger.info("\(message)")
                case .warning: logger.warning("\(message)")
                case .error: logger.error("\(message)")
                }
            }
        }
    }
}
