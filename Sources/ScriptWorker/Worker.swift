import Dispatch
import Foundation
import Logging
import ScriptCore
import ScriptProtocol
import ScriptService
import ScriptTransport

/// Everything a worker is told at start.
public struct WorkerConfiguration: Sendable {
    /// The coordinator's backend.
    public var endpoint = "tcp://127.0.0.1:5556"
    /// A name for logs and replies.
    public var name = "worker-\(getpid())"
    /// Shards held at once (one computing, the next arriving).
    public var credit = 2
    public var heartbeatMs = 1000
    public var liveness = 3
    public var reconnectMinMs = 1000
    public var reconnectMaxMs = 32_000
    /// Threads of the worker's compute (default one: one worker a core).
    public var threads = 1
    public var limits = RequestLimits()
    /// Longest a draining worker waits for its shards before it leaves anyway.
    public var drainTimeoutMs = 30_000
    public init() {}
}

/// The worker process: a DEALER to the coordinator's backend; graph pruning and the local
/// proposal of each shard it gets, computed off the loop so heartbeats keep flowing.
/// Stateless: any worker can take any shard, and a shard computed twice gives the same answer.
public final class Worker {
    public let config: WorkerConfiguration
    private let logger: Logger
    private let context = ZMQContext()
    private var socket: ZMQSocket?
    private let compute = DispatchQueue(label: "script.worker.compute")
    private let completions: CompletionQueue<[[UInt8]]>
    private let pool: ComputePool
    private var inFlight = 0

    public init(config: WorkerConfiguration, logger: Logger) throws {
        self.config = config
        self.logger = logger
        completions = try CompletionQueue(context: context, name: "worker-\(UUID().uuidString)")
        pool = ComputePool(width: config.threads)
    }

    private func connect() throws -> ZMQSocket {
        let s = try ZMQSocket(context: context, type: .dealer)
        try s.setLinger(milliseconds: 1000)
        try s.setImmediate(true)
        // Never block on a coordinator that is gone: a send that cannot be queued fails.
        try s.setSendTimeout(milliseconds: 1000)
        try s.setMaxMessageSize(Int64(1) << 34)
        try s.connect(config.endpoint)
        try s.send([Envelope.encode(ProtocolVersion.header("ready") + [("worker", .string(config.name)), ("credit", .int(Int64(config.credit)))])])
        return s
    }

    /// Serves until `trap` is raised, then finishes held shards and says goodbye.
    public func run(trap: SignalTrap) throws {
        let clock = ContinuousClock()
        let beat = Duration.milliseconds(config.heartbeatMs)
        var s = try connect()
        socket = s
        var lastHeard = clock.now, lastSent = clock.now
        var backoff = config.reconnectMinMs
        var draining = false
        var drainStarted = clock.now
        logger.info("worker \(config.name) connected to \(config.endpoint), credit \(config.credit)")
        while true {
            if trap.isRaised && !draining {
                draining = true
                drainStarted = clock.now
                logger.info("draining: \(inFlight) shards held")
                try? s.send([Envelope.encode(ProtocolVersion.header("ready") + [("worker", .string(config.name)), ("credit", .int(0))])])
                lastSent = clock.now
            }
            if draining && (inFlight == 0 || clock.now - drainStarted > .milliseconds(config.drainTimeoutMs)) {
                try? s.send([Envelope.encode(ProtocolVersion.header("disconnect"))])
                break
            }
            var poller = ZMQPoller()
            poller.add(s)
            poller.add(completions.receiver)
            let ready = try poller.poll(timeoutMilliseconds: min(100, config.heartbeatMs))
            let now = clock.now
            if ready.contains(0) {
                while let msg = try s.receiveFrames(timeoutMilliseconds: 0) {
                    lastHeard = now
                    backoff = config.reconnectMinMs
                    handle(msg, socket: s, draining: draining)
                }
            }
            if ready.contains(1) {
                for frames in completions.drain() {
                    inFlight -= 1
                    do { try s.send(frames) } catch { logger.warning("proposal not sent: \(error)") }
                    lastSent = clock.now
                }
            }
            if clock.now - lastSent >= beat {
                try? s.send([Envelope.encode(ProtocolVersion.header("heartbeat"))])
                lastSent = clock.now
            }
            if clock.now - lastHeard > beat * config.liveness && !draining {
                logger.warning("coordinator silent for \(Int(ms(clock.now - lastHeard))) ms; reconnecting in \(backoff) ms")
                s.close()
                Thread.sleep(forTimeInterval: Double(backoff) / 1000)
                backoff = min(backoff * 2, config.reconnectMaxMs)
                s = try connect()
                socket = s
                lastHeard = clock.now
                lastSent = clock.now
            }
        }
        logger.info("worker \(config.name) leaving")
        s.close()
        completions.close()
        context.close()
    }

    private func handle(_ msg: [Frame], socket s: ZMQSocket, draining: Bool) {
        guard let first = msg.first, let e = try? Envelope.decode(first), let type = try? ProtocolVersion.check(e) else {
            logger.warning("unreadable message from the coordinator ignored")
            return
        }
        switch type {
        case "heartbeat":
            break
        case "disconnect":
            // The coordinator does not know us (it restarted, or declared us dead): register again.
            if !draining {
                try? s.send([Envelope.encode(ProtocolVersion.header("ready") + [("worker", .string(config.name)), ("credit", .int(Int64(config.credit)))])])
            }
        case "shard":
            let job = (try? e.int("job")) ?? -1
            let limits = config.limits, pool = self.pool, done = completions, name = config.name
            inFlight += 1
            compute.async {
                let clock = ContinuousClock()
                let start = clock.now
                do {
                    let (job, shard, inverseNorms) = try ShardMessage.parse(e, frames: msg, limits: limits)
                    let proposal = ScriptPruning.propose(shard, inverseNorms: inverseNorms, pool: pool)
                    done.post(ProposalMessage.frames(job: job, proposal, computeMs: ms(clock.now - start)))
                } catch {
                    let pe = error as? ProtocolError ?? ProtocolError(.internal, "\(error)")
                    done.post([Envelope.encode(ProtocolVersion.header("shard_error") + [
                        ("job", .int(Int64(job))), ("code", .string(pe.code.rawValue)), ("message", .string("\(name): \(pe.message)")),
                    ])])
                }
            }
        default:
            logger.warning("unknown message type '\(type)' from the coordinator ignored")
        }
    }
}
