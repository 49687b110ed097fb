import ArgumentParser
import Foundation
import ScriptClient
import ScriptCore
import ScriptLauncher
import ScriptProtocol
import ScriptService

/// `up`: the embedded default, coordinators and workers as child processes on this machine.
struct UpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "up",
        abstract: "Start a local cluster: coordinators and workers as child processes; stop them all on Ctrl-C or SIGTERM.")

    @Option(parsing: .unconditional, help: "Workers to start (default: one per CPU this process may use, after its affinity and cgroup quota, or $SCRIPT_CLUSTER_THREADS).") var workers: Int?
    @Option(parsing: .unconditional, help: "Coordinators sharing the workers (each worker registers with all).") var coordinators = 1
    @Option(help: "Client endpoints, comma-separated: one per coordinator, or tcp://HOST:* for a free port each. Default: tcp://127.0.0.1:5555, and the ports after it for more coordinators.")
    var frontend: String?
    @Option(help: "Worker endpoints, comma-separated: one per coordinator, or tcp://HOST:* for a free port each (default: a private Unix socket each, ipc://@script-cluster-PID-TAG-backend-N, which only workers on this machine reach; tcp://0.0.0.0:5556 lets others join).")
    var backend: String?
    @Option(help: "After start, submit the sample request in this directory (as written by `sample`) and print the result.")
    var submit: String?
    @Option(help: "Budget for --submit: a count (320) or a ratio of the tokens (0.1).") var budget = "0.1"
    @Flag(help: "With --submit: stop the cluster once the answer is printed.") var once = false
    @Option(name: .customLong("metrics-port"), parsing: .unconditional,
            help: "Give every process an HTTP port for /metrics, /livez and /readyz: the coordinators this one and the next, then the workers.")
    var metricsPort: Int?
    @Option(name: .customLong("curve-dir"),
            help: "CurveZMQ on every socket, with the key pairs in this directory (written where missing): coordinator.key, and clients/ and workers/, the allow-lists, each with a local pair that this cluster's own clients and workers use.")
    var curveDir: String?
    @OptionGroup var logging: LoggingOptions
    @OptionGroup var progress: ProgressOptions

    func validate() throws {
        try FlagValue.count(workers, "--workers", to: FlagValue.maxThreads)
        try FlagValue.count(coordinators, "--coordinators", to: 64)
        let frontends = try frontend.map { try FlagValue.endpoints($0, "--frontend", binds: true, onePer: coordinators) } ?? defaultFrontends
        if let backend { try FlagValue.refuseShared(frontend: frontends, backend: try FlagValue.endpoints(backend, "--backend", binds: true, onePer: coordinators), backend) }
        _ = try FlagValue.budget(budget)
        if once && submit == nil { throw InputError("--once", nil, "goes with --submit (stop once the sample's answer is printed)").validation }
        if let p = metricsPort, !(1...65_535).contains(p) {
            throw InputError("--metrics-port", "\(p)", "must be a port, 1 to 65535 (the processes take it and the ports after it)").validation
        }
    }

    func run() throws {
        let trap = SignalTrap()
        // The sample read before anything starts: a bad directory is said at once, not after the cluster is up.
        let sample = submit.map { SampleDirectory(path: $0, flag: "--submit") }
        let demoRequest = try sample.map { try $0.request() }
        let keys = try curveDir.map { try LocalCurveKeys(directory: $0).ensure() }
        let plan = try makePlan(keys: keys)
        let cluster: LocalCluster
        do { cluster = try LocalCluster(plan: plan) } catch { throw StartupError("\(error)") }
        defer { cluster.stop() }
        announce(cluster, plan: plan, keys: keys)
        let waiting = progress.line("up: waiting for workers", total: plan.workers, unit: .items("workers"))
        do { try cluster.waitForWorkers { waiting.update(done: $0) } } catch { waiting.finish(); throw StartupError("\(error)") }
        waiting.finish()
        say("all \(plan.workers) workers ready")
        if let sample, let demoRequest {
            var options = ClusterClient.Options()
            options.curve = plan.clientCurve
            let client = try ClusterClient(endpoints: cluster.frontends, options: options)
            defer { client.close() }
            try Self.demo(client: client, sample: sample, request: demoRequest, budget: try Budget(parsing: budget))
            if once { return }
        }
        while !trap.isRaised {
            if let dead = cluster.exited {
                throw StartupError("child process \(dead.pid) (\(dead.arguments.first ?? "")) \(dead.ending)")
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        say("stopping the cluster")
    }

    /// The processes to start, from the flags (and the CURVE keys, when asked for).
    private func makePlan(keys: LocalCurveKeys?) throws -> LocalCluster.Plan {
        var plan = LocalCluster.Plan()
        plan.coordinators = max(1, coordinators)
        plan.workers = max(1, try ThreadCount.resolve(flag: workers))
        plan.frontends = frontend?.split(separator: ",").map(String.init) ?? defaultFrontends
        plan.backends = backend?.split(separator: ",").map(String.init) ?? []
        plan.coordinatorArguments = logging.arguments + memoryShare(of: plan, command: "coordinator")
        plan.workerArguments = logging.arguments + memoryShare(of: plan, command: "worker")
        plan.echo = true
        plan.metricsPort = metricsPort
        if let keys {
            plan.coordinatorArguments += keys.coordinatorArguments
            plan.workerArguments += keys.workerArguments
            plan.clientCurve = try keys.clientSettings()
        }
        return plan
    }

    /// `--memory-limit` for each child: an equal share of what this process may use (its
    /// cgroup's limit, or the machine's memory), which they all share, unless the command's
    /// variable (`SCRIPT_CLUSTER_WORKER_MEMORY_LIMIT`) sets it. Each read the whole of it
    /// before, so that workers could be placed, and a coordinator take in, several times what
    /// the cgroup holds, and the kernel would end the cluster part-way.
    private func memoryShare(of plan: LocalCluster.Plan, command: String) -> [String] {
        guard ProcessInfo.processInfo.environment[EnvironmentArguments.variable(command: command, option: "memory-limit")] == nil,
              let limit = MemoryLimit.detected else { return [] }
        return ["--memory-limit", "\(limit.bytes / (plan.workers + plan.coordinators))"]
    }

    /// One port each from 5555, on loopback (`up --coordinators 2` bound 5555 twice).
    private var defaultFrontends: [String] { (0..<max(1, coordinators)).map { "tcp://127.0.0.1:\(5555 + $0)" } }

    /// Where the cluster listens, how to submit to it, and its metrics URLs.
    private func announce(_ cluster: LocalCluster, plan: LocalCluster.Plan, keys: LocalCurveKeys?) {
        let fe = cluster.frontends.joined(separator: ",")
        let pids = cluster.pids.coordinators.map(String.init).joined(separator: ",")
        say("cluster up: frontend \(fe), backend \(cluster.backends.joined(separator: ",")), \(plan.workers) workers, \(plan.coordinators) coordinator\(plan.coordinators == 1 ? "" : "s") (pids \(pids))")
        let curveFlags = keys.map { " " + $0.clientArguments.joined(separator: " ") } ?? ""
        say("submit with: script-cluster submit --connect \(fe)\(curveFlags) --features F.npy [--embeddings E.npy] [--query Q.npy] --budget K [--layout layout.json]")
        let urls = cluster.metricsURLs
        if !urls.coordinators.isEmpty {
            say("metrics: \((urls.coordinators + urls.workers).joined(separator: " ")) (and /livez, /readyz on each port; /workers on a coordinator's)")
        }
    }

    /// Submits a sample directory and prints what came back.
    static func demo(client: ClusterClient, sample: SampleDirectory, request req: PruneRequest, budget: Budget) throws {
        let s = PruneSubmission(id: UUID().uuidString, request: req, budget: budget)
        let clock = ContinuousClock()
        let start = clock.now
        let reply = try client.prune(s)
        let elapsed = clock.now - start
        switch reply {
        case .result(let r):
            say("pruned \(r.tokenCount) tokens to \(r.indices.count) across \(r.shardCount) shards on \(r.workers.joined(separator: ", ")) in \(Units.duration(elapsed))")
            if let target = try sample.target() {
                let kept = Set(r.indices)
                say("ground truth: \(target.filter { kept.contains($0) }.count) of the \(target.count) tokens showing the asked-about object kept")
            }
            say("first kept indices: \(r.indices.prefix(24).map(String.init).joined(separator: " "))\(r.indices.count > 24 ? " ..." : "")")
        case .error(_, let e):
            throw e
        case .status, .placement:
            break
        }
    }
}
