import ArgumentParser
import Foundation
import Logging
import ScriptCluster
import ScriptCore

/// `coordinator`: serve clients, shard their requests to workers.
struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "coordinator", abstract: "Run the coordinator: a ROUTER for clients, a ROUTER for workers.")

    @Option(help: "Client endpoint (ZeroMQ; tcp://HOST:* picks a free port).") var frontend = "tcp://127.0.0.1:5555"
    @Option(help: "Worker endpoint.") var backend = "tcp://127.0.0.1:5556"
    @Option(name: .customLong("heartbeat-ms")) var heartbeatMs = 1000
    @Option(help: "Missed heartbeats before a worker counts as dead.") var liveness = 3
    @Option(help: "Requests in flight before new ones get 'busy'.") var queue = 64
    @Option(name: .customLong("deadline-ms"), help: "Deadline of requests that name none.") var deadlineMs = 30_000
    @Option(name: .customLong("max-message-bytes")) var maxMessageBytes = 1 << 30
    @Option(name: .customLong("max-tokens")) var maxTokens = 1_000_000
    @Option(name: .customLong("max-width")) var maxWidth = 65_536
    @Option(name: .customLong("max-shards")) var maxShards = 4096
    @Option(help: "Threads for the coordinator's own compute (default: all cores).") var threads = ComputePool.machine.width
    @Option(name: .customLong("log-level")) var logLevel = "info"

    func run() throws {
        var c = CoordinatorConfiguration()
        c.frontend = frontend; c.backend = backend; c.heartbeatMs = heartbeatMs; c.liveness = liveness
        c.maxRequests = queue; c.defaultDeadlineMs = deadlineMs; c.maxMessageBytes = maxMessageBytes
        c.limits.maxTokens = maxTokens; c.limits.maxWidth = maxWidth; c.limits.maxShards = maxShards
        c.computeThreads = threads
        let logger = LogSetup.make("coordinator", level: logLevel)
        let trap = SignalTrap()
        let coordinator = try Coordinator(config: c, logger: logger)
        // Machine-readable lines for `up` and tests.
        say("frontend \(coordinator.frontendEndpoint)")
        say("backend \(coordinator.backendEndpoint)")
        try coordinator.run(trap: trap)
    }
}

/// `worker`: compute shards for a coordinator.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "worker", abstract: "Run a worker: graph pruning and local proposals for the shards a coordinator sends.")

    @Option(help: "The coordinator's worker endpoint.") var connect = "tcp://127.0.0.1:5556"
    @Option(help: "Name in logs and replies.") var name: String?
    @Option(help: "Shards held at once.") var credit = 2
    @Option(help: "Compute threads (one worker a core by default).") var threads = 1
    @Option(name: .customLong("heartbeat-ms")) var heartbeatMs = 1000
    @Option(help: "Missed heartbeats before the coordinator counts as gone.") var liveness = 3
    @Option(name: .customLong("log-level")) var logLevel = "info"

    func run() throws {
        var c = WorkerConfiguration()
        c.endpoint = connect
        if let name { c.name = name }
        c.credit = credit; c.threads = threads; c.heartbeatMs = heartbeatMs; c.liveness = liveness
        let logger = LogSetup.make(c.name, level: logLevel)
        let trap = SignalTrap()
        try Worker(config: c, logger: logger).run(trap: trap)
    }
}

enum LogSetup {
    static func make(_ label: String, level: String) -> Logger {
        var l = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        l.logLevel = Logger.Level(rawValue: level) ?? .info
        return l
    }
}
