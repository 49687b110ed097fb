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
///
/// It records the worker's metrics of `ClusterMetrics` (free unless the process bootstrapped a
/// metrics backend), and with `config.curve` speaks CurveZMQ on every socket: as a client to its
/// coordinators, as a server to the clients on its data socket (only `config.curveClients` get in).
public final class Worker {
    public let config: WorkerConfiguration
    private let logger: Logger
    private let context: ZMQContext
    private var links: [ZMQSocket?]
    /// Each link socket's monitor: a coordinator that refuses this worker at the handshake.
    private var linkMonitors: [ZMQMonitor?]
    /// Links whose socket, made at start, the state machine has not opened yet.
    private var unopened: Set<Int>
    private let data: ZMQSocket?
    private let dataWatch: ConnectionWatch?
    /// The data socket's CURVE authenticator (nil without CURVE).
    private let zap: ZAPHandler?
    private let compute = DispatchQueue(label: "script.worker.compute")
    /// The reading lane: shards read and scored beside the compute thread, on one thread.
    private let reading = DispatchQueue(label: "script.worker.reading")
    private let completions: CompletionQueue<(Int, WorkerState.Outcome, TaskCost)>
    private let pool: ComputePool
    /// For a reduce's last steps: up to `WorkerConfiguration.wideThreads` of the CPUs the
    /// process may run on (its affinity and cgroup quota), at least `threads`. Idle helpers spin
    /// only briefly: their cores belong to other workers.
    private let widePool: ComputePool
    private let state: WorkerState
    /// What probes read: live while the loop turns, ready while registered with a coordinator.
    public let health: HealthState

    /// Binds the data socket and checks the coordinators' endpoints; throws `StartupError`
    /// with one clear line when it cannot.
    public init(config: WorkerConfiguration, logger: Logger, health: HealthState = HealthState()) throws {
        self.config = config
        self.logger = logger
        self.health = health
        try Self.checkCurve(config)
        let context = ZMQContext(ioThreads: max(1, config.ioThreads))
        self.context = context
        pool = ComputePool(width: config.threads)
        widePool = ComputePool(width: max(config.threads, min(ThreadCount.detected, WorkerConfiguration.wideThreads)),
                               idleSpin: .microseconds(50))
        completions = try CompletionQueue(context: context, name: "worker-\(getpid())-\(UInt64.random(in: 0...UInt64.max))")
        var advertised: String? = nil
        if let bind = config.dataBind {
            let opened = try Self.openData(bind, config: config, context: context, logger: logger)
            (data, zap, advertised) = (opened.socket, opened.zap, opened.advertised)
            dataWatch = try ConnectionWatch(opened.socket, socket: .data, peers: "client", context: context, logger: logger)
        } else {
            data = nil
            dataWatch = nil
            zap = nil
        }
        // Each link's first socket is made here: a bad coordinator endpoint is a startup error,
        // not a silent retry loop.
        let opened = try config.endpoints.map { endpoint in
            do { return try Self.link(context: context, config: config, endpoint: endpoint) } catch let e as ZMQError {
                throw StartupError("cannot connect to coordinator \(endpoint): \(e.reason)")
            }
        }
        (links, linkMonitors) = (opened.map(\.socket), opened.map(\.monitor))
        unopened = Set(links.indices)
        // The BLAS is loaded now (a library that is missing or computes wrong products ends the
        // process with one line before it registers), and its kernels told to coordinators.
        var told = config
        told.blas = config.blas ?? BLAS.kernel
        told.bf16 = config.bf16 ?? Self.bfloat16Kernel(logger: logger)
        state = WorkerState(config: told, dataEndpoint: advertised, now: ContinuousClock().now)
        if let curve = config.curve {
            logger.info("CURVE: worker key \(curve.keyPair.publicKey), coordinator key \(curve.serverKey)\(zap == nil ? "" : ", \(config.curveClients!.count) client keys allowed on the data socket")")
        }
    }

    deinit { zap?.stop() }

    /// The bfloat16 products' library and kernel where this process can compute them (oneDNN
    /// loaded and checked now, so the first request in bf16 runs at warm speed), or nil, saying why.
    private static func bfloat16Kernel(logger: Logger) -> String? {
        if let reason = BFloat16Products.unavailableReason {
            logger.debug("no bfloat16 products: \(reason)")
            return nil
        }
        logger.info("bfloat16 products: \(BFloat16Products.description)")
        return BFloat16Products.description
    }

    /// The data socket bound at `bind` (with CURVE, its allow-list of client keys), and the
    /// endpoint told to clients.
    private static func openData(_ bind: String, config: WorkerConfiguration, context: ZMQContext,
                                 logger: Logger) throws -> (socket: ZMQSocket, zap: ZAPHandler?, advertised: String) {
        let s = try ZMQSocket(context: context, type: .router)
        try s.setLinger(milliseconds: 0)
        try s.closeDeadConnections(heartbeatMs: config.heartbeatMs)
        try s.setMaxMessageSize(Int64(config.limits.maxTokens) * Int64(config.limits.maxWidth) * 4)
        var zap: ZAPHandler? = nil
        if let curve = config.curve, let clients = config.curveClients {
            let domain = CurveServerConfiguration.clientDomain
            zap = try ZAPHandler(context: context, allowed: [domain: clients]) { logger.warning("\($0)") }
            try s.apply(CurveServerSettings(keyPair: curve.keyPair, domain: domain))
        }
        do { try s.bind(bind) } catch let e as ZMQError {
            zap?.stop()
            throw StartupError("cannot listen for client data on \(bind): \(e.reason)")
        }
        return (s, zap, try config.dataAdvertise ?? reachable(try s.lastEndpoint()))
    }

    /// CURVE settings that cannot work together.
    private static func checkCurve(_ config: WorkerConfiguration) throws {
        if config.curveClients != nil && config.curve == nil {
            throw StartupError("an allow-list of client keys (--curve-clients) needs the worker's CURVE keys (--curve-secret, --curve-server-key)")
        }
        if config.curveClients != nil && config.dataBind == nil {
            throw StartupError("an allow-list of client keys (--curve-clients) is for the data socket, which --data-bind none turns off")
        }
        if config.curve != nil && config.dataBind != nil && config.curveClients == nil {
            throw StartupError("with CURVE, the data socket needs the client keys it lets in (--curve-clients), or no data socket (--data-bind none)")
        }
    }

    /// An endpoint bound on every interface names this host instead, so clients elsewhere can use it.
    private static func reachable(_ bound: String) -> String {
        guard bound.contains("://0.0.0.0:") || bound.contains("://[::]:") else { return bound }
        let host = HostName.current
        let port = bound.split(separator: ":").last.map(String.init) ?? "0"
        return "tcp://\(host):\(port)"
    }

    /// The endpoint clients send shard bytes to, when the worker takes them.
    public var dataEndpoint: String? { state.dataEndpoint }

    /// Serves until `trap` is raised; then finishes the job in hand and says goodbye.
    public func run(trap: SignalTrap) throws {
        // BLAS loaded and checked, helpers started, their buffers mapped: the first shard after
        // registering runs at warm speed (tens of ms, before the first connection attempt).
        PoolWarmUp.start(pool).wait()
        let clock = ContinuousClock()
        carry(state.start(now: clock.now))
        var lastTick = clock.now
        var gaps = LoopGap(now: lastTick, cpu: CPUTime.thread(), threshold: state.beat)
        recordGauges()
        loop: while true {
            let now = clock.now
            health.beat(now: now)
            updateReadiness()
            if trap.isRaised && !state.draining { if carry(state.beginDrain(now: now)) { break loop } }
            var poller = ZMQPoller()
            let open = links.indices.filter { links[$0] != nil }
            for i in open { poller.add(links[i]!) }
            // After the links: the completions, the data socket and its monitor, the links' monitors.
            poller.add(completions.receiver)
            if let data, let dataWatch {
                poller.add(data)
                poller.add(dataWatch.monitor.socket)
            }
            for i in open { poller.add(linkMonitors[i]!.socket) }
            let ready = try poller.poll(timeoutMilliseconds: 50)
            if let gap = gaps.turn(at: clock.now, cpu: CPUTime.thread()), carry(state.resumed(after: gap, now: clock.now)) { break loop }
            if take(ready, open: open, now: clock) { break loop }
            if clock.now - lastTick >= .milliseconds(50) {
                lastTick = clock.now
                if carry(state.tick(now: lastTick)) { break loop }
                recordGauges()
            }
        }
        health.setReady(false, reason: "stopped")
        ClusterMetrics.workerRegistered(false)
        closeSockets()
    }

    /// Takes what the poll found ready: the links' messages (`open` in poll order), then the
    /// finished tasks, the data socket's messages and its monitor's events, and the links'
    /// monitors' events. True: stop.
    private func take(_ ready: Set<Int>, open: [Int], now clock: ContinuousClock) -> Bool {
        for (slot, i) in open.enumerated() where ready.contains(slot) {
            while let socket = links[i], let frames = try? socket.receiveFrames(timeoutMilliseconds: 0) {
                ClusterMetrics.received(bytes: frames.reduce(0) { $0 + $1.count }, from: .coordinator)
                if carry(state.linkMessage(i, frames: frames, now: clock.now)) { return true }
            }
        }
        if ready.contains(open.count) {
            for (number, outcome, cost) in completions.drain() {
                if carry(state.taskFinished(number, outcome, cost: cost, now: clock.now)) { return true }
            }
        }
        if let data, ready.contains(open.count + 1) {
            while let frames = try? data.receiveFrames(timeoutMilliseconds: 0) {
                // [identity, empty, envelope, ...]
                guard frames.count >= 3, frames[1].isEmpty else { continue }
                ClusterMetrics.received(bytes: frames.dropFirst(2).reduce(0) { $0 + $1.count }, from: .client)
                if carry(state.dataMessage(route: frames[0].bytes, frames: Array(frames.dropFirst(2)), now: clock.now)) { return true }
            }
        }
        if ready.contains(open.count + 2) { dataWatch?.drain() }
        let monitors = open.count + (data == nil ? 1 : 3)
        for (slot, i) in open.enumerated() where ready.contains(monitors + slot) {
            guard let events = linkMonitors[i]?.drain(), !events.isEmpty else { continue }
            if carry(state.linkEvents(i, events, now: clock.now)) { return true }
        }
        return false
    }

    private func closeSockets() {
        for i in links.indices { closeLink(i) }
        dataWatch?.close()
        data?.close()
        completions.close()
        zap?.stop()
    }

    private func updateReadiness() {
        let registered = state.isRegistered && !state.draining
        health.setReady(registered, reason: state.draining ? "draining" : registered ? "registered" : state.unregisteredReason)
    }

    /// The gauges: jobs and bytes held, and whether some coordinator has this worker registered.
    private func recordGauges() {
        ClusterMetrics.workerJobsHeld(state.heldJobs)
        ClusterMetrics.workerBytesHeld(state.heldBytes)
        ClusterMetrics.workerRegistered(state.isRegistered)
    }

    /// Carries out actions; true when the worker is to stop.
    @discardableResult
    private func carry(_ actions: [WorkerState.Action]) -> Bool {
        var stop = false
        for a in actions {
            switch a {
            case .open(let i):
                if unopened.remove(i) != nil, links[i] != nil { continue }
                closeLink(i)
                (links[i], linkMonitors[i]) = openLink(config.endpoints[i])
            case .close(let i):
                // Only a link given up on is closed (a fresh socket follows the back-off).
                closeLink(i)
                ClusterMetrics.workerReconnected()
            case .send(let i, let frames):
                guard let socket = links[i] else { continue }
                do {
                    if try socket.send(frames, dontWait: true) {
                        ClusterMetrics.sent(bytes: frames.reduce(0) { $0 + $1.count }, to: .coordinator)
                    } else {
                        logger.debug("message to \(config.endpoints[i]) dropped: not connected")
                    }
                } catch {
                    logger.debug("send to \(config.endpoints[i]) failed: \(error)")
                }
            case .answer(let route, let frames):
                _ = try? data?.send([Frame(route), Frame([])] + frames, dontWait: true)
            case .run(let task):
                start(task)
            case .jobFinished(let r):
                ClusterMetrics.workerJobFinished(r.kind, code: r.code, tokens: r.tokens, wall: r.wall, cpu: r.cpu)
            case .readShared(let bytes):
                ClusterMetrics.workerSharedBytes(bytes)
            case .log(let level, let message):
                logger.log(level: level, "\(message)")
            case .exit:
                stop = true
            }
        }
        return stop
    }

    /// Starts a task on its lane's queue; its outcome and cost come back through `completions`.
    private func start(_ task: WorkerState.WorkerTask) {
        let done = completions
        // The reading lane runs on its own thread alone, a reduce's last steps on every CPU
        // this process may use (the same values on any number of threads).
        let pool = task.lane == .reading ? ComputePool.serial : task.wide ? widePool : self.pool
        // One thread computes alone: its own CPU time is the job's; several share the
        // process's helper threads, whose time only the process's clock sees.
        let cpu: @Sendable () -> Duration = pool.width == 1 ? CPUTime.thread : CPUTime.process
        (task.lane == .reading ? reading : compute).async {
            let clock = ContinuousClock()
            let start = clock.now, cpuStart = cpu()
            let outcome = WorkerCompute.run(task.work, pool: pool)
            done.post((task.number, outcome, TaskCost(wall: clock.now - start, cpu: cpu() - cpuStart)))
        }
    }

    /// A fresh DEALER for a coordinator and its monitor; nil (retried after the back-off) if
    /// libzmq refuses.
    private func openLink(_ endpoint: String) -> (ZMQSocket?, ZMQMonitor?) {
        do { return try Self.link(context: context, config: config, endpoint: endpoint) } catch {
            logger.warning("cannot open a socket to \(endpoint): \(error)")
            return (nil, nil)
        }
    }

    private func closeLink(_ i: Int) {
        links[i]?.close()
        linkMonitors[i]?.close()
        (links[i], linkMonitors[i]) = (nil, nil)
    }

    /// A DEALER connected to `endpoint`, monitored from before its first attempt.
    private static func link(context: ZMQContext, config: WorkerConfiguration, endpoint: String) throws -> (socket: ZMQSocket, monitor: ZMQMonitor) {
        let s = try ZMQSocket(context: context, type: .dealer)
        var monitor: ZMQMonitor? = nil
        do {
            try s.setLinger(milliseconds: 0)
            // Nothing queues for a connection not yet made: sends then fail and are retried.
            try s.setImmediate(true)
            try s.setMaxMessageSize(Int64(config.limits.maxTokens) * Int64(config.limits.maxWidth) * 4)
            if let curve = config.curve { try s.apply(curve) }
            monitor = try ZMQMonitor(s, context: context, speaks: config.curve == nil ? .null : .curve)
            try s.connect(endpoint)
            return (s, monitor!)
        } catch {
            s.close()
            monitor?.close()
            throw error
        }
    }
}
