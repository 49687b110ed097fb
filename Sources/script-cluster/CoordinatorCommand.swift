import ArgumentParser
import Foundation
import Logging
import ScriptCoordinator
import ScriptCore
import ScriptService
import ScriptTransport

/// `coordinator`: serve clients, shard their requests to workers.
struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "coordinator", abstract: "Run the coordinator: a ROUTER for clients, a ROUTER for workers.")

    @Option(help: "Client endpoint (ZeroMQ; tcp://HOST:* picks a free port).") var frontend = "tcp://127.0.0.1:5555"
    @Option(help: "Worker endpoint.") var backend = "tcp://127.0.0.1:5556"
    @Option(name: .customLong("heartbeat-ms"), parsing: .unconditional, help: "Heartbeat interval with workers, in ms.") var heartbeatMs = 1000
    @Option(parsing: .unconditional, help: "Missed heartbeats before a worker counts as dead.") var liveness = 3
    @Option(parsing: .unconditional, help: "Requests in flight before new ones get 'busy'.") var queue = 64
    @Option(name: .customLong("deadline-ms"), parsing: .unconditional, help: "Deadline of requests that name none, in ms.") var deadlineMs = 30_000
    @Option(name: .customLong("max-message-bytes"), parsing: .unconditional,
            help: "Largest frame accepted from a client or worker, in bytes; the coordinator may hold about --queue of them at once.")
    var maxMessageBytes = 1 << 30
    @Option(name: .customLong("max-tokens"), parsing: .unconditional, help: "Most tokens in one request.") var maxTokens = 1_000_000
    @Option(name: .customLong("max-width"), parsing: .unconditional, help: "Widest feature or embedding row accepted.") var maxWidth = 65_536
    @Option(name: .customLong("max-shards"), parsing: .unconditional, help: "Most shards in one request.") var maxShards = 4096
    @Option(name: .customLong("drain-ms"), parsing: .unconditional, help: "Longest wait, after SIGTERM, for requests in flight before they are answered 'shutting_down', in ms.")
    var drainMs = 1500
    @Option(name: .customLong("io-threads"), parsing: .unconditional, help: "ZeroMQ I/O threads (inline transfers move every tensor byte through them).") var ioThreads = 1
    @Option(name: .customLong("memory-limit"), parsing: .unconditional, help: FlagValue.memoryLimitHelp) var memoryLimit: Int?
    @Option(name: .customLong("curve-secret"),
            help: "CurveZMQ on both sockets: the coordinator's key pair (a .key_secret file written by keygen); with --curve-clients and --curve-workers.")
    var curveSecret: String?
    @Option(name: .customLong("curve-clients"),
            help: "With --curve-secret: the client keys the frontend lets in (a directory of .key files, or a file of keys, one a line).")
    var curveClients: String?
    @Option(name: .customLong("curve-workers"),
            help: "With --curve-secret: the worker keys the backend lets in (a directory of .key files, or a file of keys, one a line).")
    var curveWorkers: String?
    @OptionGroup var metrics: MetricsOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        try FlagValue.counts([(heartbeatMs, "--heartbeat-ms"), (liveness, "--liveness"), (queue, "--queue"), (deadlineMs, "--deadline-ms"),
                              (maxMessageBytes, "--max-message-bytes"), (maxTokens, "--max-tokens"), (maxWidth, "--max-width"),
                              (maxShards, "--max-shards"), (ioThreads, "--io-threads")])
        try FlagValue.count(drainMs, "--drain-ms", from: 0)
        try FlagValue.count(memoryLimit, "--memory-limit")
        try FlagValue.endpoint(frontend, "--frontend", binds: true)
        try FlagValue.endpoint(backend, "--backend", binds: true)
        try FlagValue.refuseShared(frontend: [frontend], backend: [backend], backend)
        let given = [("--curve-secret", curveSecret), ("--curve-clients", curveClients), ("--curve-workers", curveWorkers)]
        let missing = given.filter { $0.1 == nil }.map(\.0)
        if !missing.isEmpty && missing.count < given.count {
            let present = given.filter { $0.1 != nil }.map(\.0)
            throw InputError(present.joined(separator: " and "), nil,
                             "needs \(missing.joined(separator: " and ")) too (CURVE takes all three, or none)").validation
        }
    }

    /// The CURVE setup from the key files, when asked for.
    private func curve() throws(CurveKeyError) -> CurveServerConfiguration? {
        guard let curveSecret, let curveClients, let curveWorkers else { return nil }
        return try CurveServerConfiguration.load(secretFile: curveSecret, clients: curveClients, workers: curveWorkers)
    }

    func run() throws {
        var c = CoordinatorConfiguration()
        c.frontend = frontend; c.backend = backend; c.heartbeatMs = heartbeatMs; c.liveness = liveness
        c.maxRequests = queue; c.defaultDeadlineMs = deadlineMs; c.maxMessageBytes = maxMessageBytes
        c.limits.maxTokens = maxTokens; c.limits.maxWidth = maxWidth; c.limits.maxShards = maxShards
        c.ioThreads = ioThreads
        c.drainTimeoutMs = drainMs
        c.curve = try curve()
        let logger = try logging.logger("coordinator")
        if let limit = MemoryLimit.chosen(bytes: memoryLimit), let note = c.fit(limit) { logger.notice("\(note)") }
        let exporter = metrics.exporter(role: "coordinator")
        let trap = SignalTrap()
        let coordinator = try Coordinator(config: c, logger: logger)
        let ops = try metrics.start(health: coordinator.health, exporter: exporter, roster: coordinator.roster, logger: logger)
        defer { ops?.stop() }
        // Machine-readable lines for `up` and tests.
        say("frontend \(coordinator.frontendEndpoint)")
        say("backend \(coordinator.backendEndpoint)")
        try coordinator.run(trap: trap)
    }
}
