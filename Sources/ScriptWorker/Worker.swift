import Dispatch
import Logging
import ScriptCore
import ScriptProtocol
import ScriptService
import ScriptTransport
#if canImport(Glibc)
import Glibc
#endif

/// The worker process: a DEALER to each coordinator's backend (a fresh one each time a
/// coordinator has to be reached again), a ROUTER where clients send shard bytes directly, and
/// one compute thread. `WorkerState` decides; this shell moves bytes and runs the arithmetic.
public final class Worker {
    public let config: WorkerConfiguration
    private let logger: Logger
    private let context: ZMQContext
    private var links: [ZMQSocket?]
    private let data: ZMQSocket?
    private let compute = DispatchQueue(label: "script.worker.compute")
    private let completions: CompletionQueue<(Int, WorkerState.Outcome)>
    private let pool: ComputePool
    private let state: WorkerState
    /// What probes read: live while the loop turns, ready while registered with a coordinator.
    public let health: HealthState

    /// Binds the data socket and checks the coordinators' endpoints; throws `StartupError`
    /// with one clear line when it cannot.
    public init(config: WorkerConfiguration, logger: Logger, health: HealthState = HealthState()) throws {
        self.config = config
        self.logger = logger
        self.health = health
        context = ZMQContext(ioThreads: max(1, config.ioThreads))
        pool = ComputePool(width: config.threads)
        completions = try CompletionQueue(context: context, name: "worker-\(getpid())-\(UInt64.random(in: 0...UInt64.max))")
        var advertised: String? = nil
        if let bind = config.dataBind {
            let s = try ZMQSocket(context: context, type: .router)
            try s.setLinger(milliseconds: 0)
            try s.setMaxMessageSize(Int64(config.limits.maxTokens) * Int64(config.limits.maxWidth) * 4)
            do { try s.bind(bind) } catch let e as ZMQError {
                throw StartupError("cannot listen for client data on \(bind): \(e.reason)")
            }
            advertised = try config.dataAdvertise ?? Self.reachable(try s.lastEndpoint())
            data = s
        } else {
            data = nil
        }
        links = Array(repeating: nil, count: config.endpoints.count)
        state = WorkerState(config: config, dataEndpoint: advertised, now: ContinuousClock().now)
        // A bad coordinator endpoint is a startup error, not a silent retry loop.
        for endpoint in config.endpoints {
            let probe = try ZMQSocket(context: context, type: .dealer)
            try probe.setLinger(milliseconds: 0)
            do { try probe.connect(endpoint) } catch let e as ZMQError {
                throw StartupError("cannot connect to coordinator \(endpoint): \(e.reason)")
            }
            probe.close()
        }
    }

    /// An endpoint bound on every interface names this host instead, so clients elsewhere can use it.
    private static func reachable(_ bound: String) -> String {
        guard bound.contains("://0.0.0.0:") || bound.contains("://[::]:") else { return bound }
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count)
        let host = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let port = bound.split(separator: ":").last.map(String.init) ?? "0"
        return "tcp://\(host):\(port)"
    }

    /// The endpoint clients send shard bytes to, when the worker takes them.
    public var dataEndpoint: String? { state.dataEndpoint }

    /// Serves until `trap` is raised; then finishes the job in hand and says goodbye.
    public func run(trap: SignalTrap) throws {
        let clock = ContinuousClock()
        carry(state.start(now: clock.now))
        var lastTick = clock.now
        loop: while true {
            let now = clock.now
            health.beat(now: now)
            health.setReady(state.isRegistered && !state.draining, reason: state.draining ? "draining" : state.isRegistered ? "registered" : "not registered with a coordinator")
            if trap.isRaised && !state.draining { if carry(state.beginDrain(now: now)) { break loop } }
            var poller = ZMQPoller()
            let open = links.indices.filter { links[$0] != nil }
            for i in open { poller.add(links[i]!) }
            if let data { poller.add(data) }
            poller.add(completions.receiver)
            let ready = try poller.poll(timeoutMilliseconds: 50)
            for (slot, i) in open.enumerated() where ready.contains(slot) {
                while let socket = links[i], let frames = try? socket.receiveFrames(timeoutMilliseconds: 0) {
                    if carry(state.linkMessage(i, frames: frames, now: clock.now)) { break loop }
                }
            }
            if let data, ready.contains(open.count) {
                while let frames = try? data.receiveFrames(timeoutMilliseconds: 0) {
                    // [identity, empty, envelope, ...]
                    guard frames.count >= 3, frames[1].isEmpty else { continue }
                    if carry(state.dataMessage(frames: Array(frames.dropFirst(2)), now: clock.now)) { break loop }
                }
            }
            if ready.contains(open.count + (data == nil ? 0 : 1)) {
                for (number, outcome) in completions.drain() {
                    if carry(state.taskFinished(number, outcome, now: clock.now)) { break loop }
                }
            }
            if clock.now - lastTick >= .milliseconds(50) {
                lastTick = clock.now
                if carry(state.tick(now: lastTick)) { break loop }
            }
        }
        health.setReady(false, reason: "stopped")
        for i in links.indices { links[i]?.close(); links[i] = nil }
        data?.close()
        completions.close()
    }

    /// Carries out actions; true when the worker is to stop.
    @discardableResult
    private func carry(_ actions: [WorkerState.Action]) -> Bool {
        var stop = false
        for a in actions {
            switch a {
            case .open(let i):
                links[i]?.close()
                links[i] = openLink(config.endpoints[i])
            case .close(let i):
                links[i]?.close()
                links[i] = nil
            case .send(let i, let frames):
                guard let socket = links[i] else { continue }
                do {
                    if try !socket.send(frames, dontWait: true) { logger.debug("message to \(config.endpoints[i]) dropped: not connected") }
                } catch {
                    logger.debug("send to \(config.endpoints[i]) failed: \(error)")
                }
            case .run(let task):
                let pool = self.pool, done = completions
                compute.async { done.post((task.number, WorkerCompute.run(task.work, pool: pool))) }
            case .log(let level, let message):
                logger.log(level: level, "\(message)")
            case .exit:
                stop = true
            }
        }
        return stop
    }

    /// A fresh DEALER for a coordinator; nil (retried after the back-off) if libzmq refuses.
    private func openLink(_ endpoint: String) -> ZMQSocket? {
        do {
            let s = try ZMQSocket(context: context, type: .dealer)
            try s.setLinger(milliseconds: 0)
            // Nothing queues for a connection not yet made: sends then fail and are retried.
            try s.setImmediate(true)
            try s.setMaxMessageSize(Int64(config.limits.maxTokens) * Int64(config.limits.maxWidth) * 4)
            try s.connect(endpoint)
            return s
        } catch {
            logger.warning("cannot open a socket to \(endpoint): \(error)")
            return nil
        }
    }
}
