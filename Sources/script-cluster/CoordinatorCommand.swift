import ArgumentParser
import Foundation
import Logging
import ScriptClient
import ScriptCoordinator
import ScriptLauncher
import ScriptProtocol
import ScriptService
import ScriptWorker
import ScriptCore

/// `coordinator`: serve clients, shard their requests to workers.
struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "coordinator", abstract: "Run the coordinator: a ROUTER for clients, a ROUTER for workers.")

    @Option(help: "Client endpoint (ZeroMQ; tcp://HOST:* picks a free port).") var frontend = "tcp://127.0.0.1:5555"
    @Option(help: "Worker endpoint.") var backend = "tcp://127.0.0.1:5556"
    @Option(name: .customLong("heartbeat-ms"), help: "Milliseconds between heartbeats to idle workers.") var heartbeatMs = 1000
    @Option(help: "Missed heartbeats before a worker counts as dead.") var liveness = 3
    @Option(help: "Requests in flight before new ones get 'busy'.") var queue = 64
    @Option(name: .customLong("deadline-ms"), help: "Deadline of requests that name none.") var deadlineMs = 30_000
    @Option(name: .customLong("max-message-bytes"),
            help: "Largest client message; a larger one disconnects its sender. Memory needed grows to about --queue times this.")
    var maxMessageBytes = 1 << 30
    @Option(name: .customLong("max-tokens"), help: "Most tokens a request may have (more: 'too_large').") var maxTokens = 1_000_000
    @Option(name: .customLong("max-width"), help: "Widest features or embeddings a request may have.") var maxWidth = 65_536
    @Option(name: .customLong("max-shards"), help: "Most shards a request may be split into.") var maxShards = 4096
    @Option(help: "Threads for the coordinator's own compute (default: the cores this machine has).") var threads: Int?
    @OptionGroup var logging: LoggingOptions

    func run() throws {
        var c = CoordinatorConfiguration()
        c.frontend = frontend; c.backend = backend; c.heartbeatMs = heartbeatMs; c.liveness = liveness
        c.maxRequests = queue; c.defaultDeadlineMs = deadlineMs; c.maxMessageBytes = maxMessageBytes
        c.limits.maxTokens = maxTokens; c.limits.maxWidth = maxWidth; c.limits.maxShards = maxShards
        c.computeThreads = threads ?? ComputePool.machine.width
        let logger = try logging.logger("coordinator")
        let trap = SignalTrap()
        let coordinator = try Coordinator(config: c, logger: logger)
        // Machine-readable lines for `up` and tests.
        say("frontend \(coordinator.frontendEndpoint)")
        say("backend \(coordinator.backendEndpoint)")
        try coordinator.run(trap: trap)
    }
}
