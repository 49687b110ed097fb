import ArgumentParser
import Foundation
import Logging
import ScriptCore
import ScriptProtocol
import ScriptService
import ScriptTransport
import ScriptWorker

/// `worker`: compute shards for one or more coordinators.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "worker", abstract: "Run a worker: graph pruning, proposals and global selections for the coordinators it connects to.")

    @Option(help: "The coordinators' worker endpoints, comma-separated (several coordinators can share workers).")
    var connect = "tcp://127.0.0.1:5556"
    @Option(help: "Name in logs and replies (default: HOSTNAME-PID, unique in containers too, whose process is PID 1).") var name: String?
    @Option(parsing: .unconditional, help: "Jobs taken at once that wait for their first step.") var credit = 2
    @Option(parsing: .unconditional, help: "Compute threads (one worker a core by default); a reduce's last steps, which its request waits on alone, may use up to 4 where this process may run on more CPUs.") var threads = 1
    @Option(name: .customLong("data-bind"), help: "Where clients send shard bytes directly (ZeroMQ endpoint to bind; 'none': inline transfers only).")
    var dataBind = "tcp://127.0.0.1:*"
    @Option(name: .customLong("data-advertise"), help: "The data endpoint told to clients (default: the bound one; a wildcard address is replaced by this host's name).")
    var dataAdvertise: String?
    @Option(name: .customLong("io-threads"), parsing: .unconditional, help: "ZeroMQ I/O threads.") var ioThreads = 1
    @Option(name: .customLong("memory-limit"), parsing: .unconditional, help: FlagValue.memoryLimitHelp) var memoryLimit: Int?
    @Option(name: .customLong("heartbeat-ms"), parsing: .unconditional, help: "Heartbeat interval with coordinators, in ms.") var heartbeatMs = 1000
    @Option(parsing: .unconditional, help: "Missed heartbeats before a coordinator counts as gone.") var liveness = 3
    @Option(name: .customLong("reconnect-min-ms"), parsing: .unconditional, help: "First back-off before reaching a coordinator again, in ms (doubling).") var reconnectMinMs = 1000
    @Option(name: .customLong("reconnect-max-ms"), parsing: .unconditional, help: "Longest back-off, in ms.") var reconnectMaxMs = 32_000
    @OptionGroup var curve: CurveClientOptions
    @Option(name: .customLong("curve-clients"),
            help: "With --curve-secret: the client keys the data socket lets in (a directory of .key files, or a file of keys, one a line); needed unless --data-bind none.")
    var curveClients: String?
    @OptionGroup var metrics: MetricsOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        try FlagValue.counts([(credit, "--credit"), (ioThreads, "--io-threads"), (heartbeatMs, "--heartbeat-ms"), (liveness, "--liveness"),
                              (reconnectMinMs, "--reconnect-min-ms"), (reconnectMaxMs, "--reconnect-max-ms")])
        try FlagValue.count(threads, "--threads", to: FlagValue.maxThreads)
        try FlagValue.count(memoryLimit, "--memory-limit")
        try FlagValue.endpoints(connect, "--connect", binds: false)
        if dataBind != "none" { try FlagValue.endpoint(dataBind, "--data-bind", binds: true) }
        if let dataAdvertise { try FlagValue.advertised(dataAdvertise, "--data-advertise") }
        if let name, let problem = ReadyMessage.problem(with: name, upTo: ReadyMessage.maxNameBytes) {
            throw InputError("--name", name, problem).validation
        }
        if curveClients != nil && curve.secret == nil {
            throw InputError("--curve-clients", nil, "needs the worker's own keys too (--curve-secret, --curve-server-key)").validation
        }
        if curve.secret != nil && curveClients == nil && dataBind != "none" {
            throw InputError("--curve-clients", nil, "is needed with CURVE: the client keys the data socket lets in (or --data-bind none: inline transfers only)").validation
        }
    }

    func run() throws {
        var c = WorkerConfiguration()
        c.endpoints = connect.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !c.endpoints.isEmpty else { throw ValidationError("--connect needs at least one coordinator endpoint") }
        c.name = name ?? "\(HostName.current)-\(getpid())"
        c.credit = credit; c.threads = threads; c.heartbeatMs = heartbeatMs; c.liveness = liveness
        c.reconnectMinMs = reconnectMinMs; c.reconnectMaxMs = max(reconnectMinMs, reconnectMaxMs)
        c.dataBind = dataBind == "none" ? nil : dataBind
        c.dataAdvertise = dataAdvertise
        c.ioThreads = ioThreads
        c.curve = try curve.settings()
        c.curveClients = try curveClients.map { path throws(CurveKeyError) in try CurveKeyFile.readAllowList(path) }
        let logger = try logging.logger(c.name)
        if let limit = MemoryLimit.chosen(bytes: memoryLimit), let note = c.fit(limit) { logger.notice("\(note)") }
        let exporter = metrics.exporter(role: "worker")
        let trap = SignalTrap()
        let worker = try Worker(config: c, logger: logger)
        let ops = try metrics.start(health: worker.health, exporter: exporter, logger: logger)
        defer { ops?.stop() }
        if let data = worker.dataEndpoint { say("data \(data)") }
        try worker.run(trap: trap)
    }
}
