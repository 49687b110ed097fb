import ArgumentParser
import Foundation
import Logging
import ScriptService
import ScriptWorker

/// `worker`: compute shards for a coordinator.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "worker", abstract: "Run a worker: graph pruning and local proposals for the shards a coordinator sends.")

    @Option(help: "The coordinator's worker endpoint.") var connect = "tcp://127.0.0.1:5556"
    @Option(help: "Name in logs and replies (default: worker- and the process id).") var name: String?
    @Option(help: "Shards held at once.") var credit = 2
    @Option(help: "Compute threads (one worker a core by default).") var threads = 1
    @Option(name: .customLong("heartbeat-ms"), help: "Milliseconds between heartbeats to an idle coordinator.") var heartbeatMs = 1000
    @Option(help: "Missed heartbeats before the coordinator counts as gone.") var liveness = 3
    @OptionGroup var logging: LoggingOptions

    func run() throws {
        var c = WorkerConfiguration()
        c.endpoint = connect
        if let name { c.name = name }
        c.credit = credit; c.threads = threads; c.heartbeatMs = heartbeatMs; c.liveness = liveness
        let logger = try logging.logger(c.name)
        let trap = SignalTrap()
        try Worker(config: c, logger: logger).run(trap: trap)
    }
}
