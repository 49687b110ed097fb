import Foundation
import ScriptClient
import ScriptProtocol
import ScriptTransport

/// Coordinators and workers started as child processes of this one (`up`, the benchmarks):
/// started, waited for until every worker is registered with every coordinator, stopped.
public final class LocalCluster {
    /// What to start.
    public struct Plan: Sendable {
        public var coordinators = 1
        public var workers = 1
        /// Client endpoints of the coordinators: one each, or one used by all (a wildcard port
        /// `tcp://127.0.0.1:*` picks a free port for each). Workers take direct transfers where
        /// these clients can reach them (`LocalEndpoints.dataBind`), unless `workerArguments`
        /// give `--data-bind`.
        public var frontends = ["tcp://127.0.0.1:*"]
        /// Worker endpoints of the coordinators, as `frontends`; empty: a private socket each
        /// (`LocalEndpoints`), which only workers on this machine reach.
        public var backends: [String] = []
        public var coordinatorArguments: [String] = []
        public var workerArguments: [String] = []
        /// CPUs to pin processes to (`taskset -c`), one list per process; empty: not pinned.
        public var coordinatorCPUs: [String] = []
        public var workerCPUs: [String] = []
        /// Copy the children's standard output to ours.
        public var echo = false
        /// The first metrics port: coordinator `c` serves on `metricsPort + c`, worker `w` on
        /// `metricsPort + coordinators + w` (nil: no metrics ports).
        public var metricsPort: Int?
        /// CurveZMQ for this process's own client (waiting for workers), when the coordinators
        /// speak it (their `coordinatorArguments` say so).
        public var clientCurve: CurveClientSettings?
        public init() {}
    }

    /// A process of the plan that did not start, and why.
    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    public private(set) var coordinators: [ChildProcess] = []
    public private(set) var workers: [ChildProcess] = []
    public private(set) var frontends: [String] = []
    public private(set) var backends: [String] = []
    private let executable: String
    private let plan: Plan

    /// Starts the coordinators (and waits for their endpoints), then the workers.
    public init(executable: String = CommandLine.executablePath, plan: Plan) throws {
        self.executable = executable
        self.plan = plan
        do {
            for c in 0..<plan.coordinators {
                let backend = plan.backends.isEmpty ? LocalEndpoints.private("backend-\(c + 1)") : Self.pick(plan.backends, c)
                let args = ["coordinator", "--frontend", Self.pick(plan.frontends, c), "--backend", backend]
                    + metricsArguments(c) + plan.coordinatorArguments
                let child = try launch(args, cpus: plan.coordinatorCPUs.isEmpty ? nil : Self.pick(plan.coordinatorCPUs, c), capture: true)
                coordinators.append(child)
                guard let fe = child.waitForLine(prefix: "frontend ", timeout: 15), let be = child.waitForLine(prefix: "backend ", timeout: 5) else {
                    throw StartError(description: "coordinator \(c + 1) " + (child.isRunning ? "printed no endpoints within 20 s" : child.ending))
                }
                frontends.append(fe)
                backends.append(be)
            }
            for w in 0..<plan.workers { try addWorker(index: w) }
        } catch {
            stop()
            throw error
        }
    }

    /// `--metrics-port` for the `i`th process (coordinators first), when the plan asks for ports.
    private func metricsArguments(_ i: Int) -> [String] {
        plan.metricsPort.map { ["--metrics-port", "\($0 + i)"] } ?? []
    }

    /// The metrics URL of every process, coordinators first (empty without metrics ports).
    public var metricsURLs: (coordinators: [String], workers: [String]) {
        guard let base = plan.metricsPort else { return ([], []) }
        let url = { (i: Int) in "http://127.0.0.1:\(base + i)/metrics" }
        return (coordinators.indices.map(url), workers.indices.map { url(plan.coordinators + $0) })
    }

    private static func pick(_ list: [String], _ i: Int) -> String { list.count == 1 ? list[0] : list[i % list.count] }

    private func launch(_ arguments: [String], cpus: String?, capture: Bool) throws -> ChildProcess {
        if let cpus { return try ChildProcess("/usr/bin/taskset", ["-c", cpus, executable] + arguments, captureOutput: capture, echo: plan.echo) }
        return try ChildProcess(executable, arguments, captureOutput: capture, echo: plan.echo)
    }

    /// Starts one more worker (connected to every coordinator).
    public func addWorker(index: Int? = nil) throws {
        let w = index ?? workers.count
        let data = plan.workerArguments.contains("--data-bind") ? []
            : ["--data-bind", LocalEndpoints.dataBind(forFrontends: plan.frontends, worker: w + 1)]
        let args = ["worker", "--connect", backends.joined(separator: ","), "--name", "worker-\(w + 1)"]
            + data + metricsArguments(plan.coordinators + w) + plan.workerArguments
        workers.append(try launch(args, cpus: plan.workerCPUs.isEmpty ? nil : Self.pick(plan.workerCPUs, w), capture: true))
    }

    /// Waits until every coordinator has `count` workers registered; `progress` hears how many
    /// the coordinator waited for has so far.
    public func waitForWorkers(_ count: Int? = nil, timeout: Double = 30, progress: (Int) -> Void = { _ in }) throws {
        let want = count ?? workers.count
        var options = ClusterClient.Options()
        options.curve = plan.clientCurve
        let client = try ClusterClient(endpoints: frontends, options: options)
        defer { client.close() }
        let end = ContinuousClock.now + .seconds(timeout)
        for c in frontends.indices {
            while true {
                let have = (try? client.status(endpoint: c, timeoutMs: 1000))?.workers ?? 0
                progress(have)
                guard have < want else { break }
                if let dead = (coordinators + workers).first(where: { !$0.isRunning }) {
                    throw StartError(description: "\(dead.arguments.first ?? "a child") \(dead.ending)")
                }
                guard ContinuousClock.now < end else { throw StartError(description: "\(want) workers did not register within \(Int(timeout)) s") }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
    }

    /// Every child's process id, by role.
    public var pids: (coordinators: [Int32], workers: [Int32]) { (coordinators.map(\.pid), workers.map(\.pid)) }

    /// The first child that exited, if any.
    public var exited: ChildProcess? { (coordinators + workers).first { !$0.isRunning } }

    /// SIGTERM to the coordinators, then the workers; SIGKILL to whoever is still there.
    public func stop() {
        ChildProcess.stop([coordinators, workers])
    }
}
