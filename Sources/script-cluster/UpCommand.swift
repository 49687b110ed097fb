import ArgumentParser
import Foundation
import ScriptClient
import ScriptCoordinator
import ScriptLauncher
import ScriptProtocol
import ScriptService
import ScriptWorker
import ScriptCore

/// `up`: the embedded default, a coordinator and n workers as child processes on this machine.
struct UpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "up", 
        abstract: "Start a local cluster: a coordinator and N workers as child processes; stop them all on Ctrl-C or SIGTERM.")

    @Option(help: "Workers to start (default: one per core of this machine).") var workers: Int?
    @Option(help: "Client endpoint (tcp://127.0.0.1:* picks a free port).") var frontend = "tcp://127.0.0.1:5555"
    @Option(help: "Worker endpoint.") var backend = "tcp://127.0.0.1:5556"
    @Option(help: "After start, submit the sample request in this directory (as written by `sample`) and print the result.")
    var submit: String?
    @Option(help: "Budget for --submit.") var budget = "0.1"
    @Flag(help: "With --submit: stop the cluster once the answer is printed.") var once = false
    @OptionGroup var logging: LoggingOptions

    func run() throws {
        let workers = self.workers ?? ProcessInfo.processInfo.activeProcessorCount
        let trap = SignalTrap()
        let exe = CommandLine.executablePath
        let coordinator = try ChildProcess(exe, ["coordinator", "--frontend", frontend, "--backend", backend] + logging.arguments, captureOutput: true)
        var children = [coordinator]
        defer { ChildProcess.stopAll(children) }
        guard let fe = coordinator.waitForLine(prefix: "frontend ", timeout: 15),
              let be = coordinator.waitForLine(prefix: "backend ", timeout: 5) else {
            throw ValidationError("the coordinator did not start (is the port in use? try --frontend tcp://127.0.0.1:*)")
        }
        for i in 1...max(1, workers) {
            children.append(try ChildProcess(exe, ["worker", "--connect", be, "--name", "worker-\(i)"] + logging.arguments, captureOutput: false))
        }
        say("cluster up: frontend \(fe), backend \(be), \(workers) workers (coordinator pid \(coordinator.pid))")
        say("submit with: script-cluster submit --connect \(fe) --features F.npy [--embeddings E.npy] [--query Q.npy] --budget K [--layout layout.json]")
        let client = try ClusterClient(endpoint: fe)
        defer { client.close() }
        // Wait until every worker has said it is ready.
        let clock = ContinuousClock()
        let start = clock.now
        while (try? client.status(timeoutMs: 1000))?.workers ?? 0 < workers {
            if clock.now - start > .seconds(20) { throw ValidationError("workers did not connect within 20 s") }
            Thread.sleep(forTimeInterval: 0.05)
        }
        say("all \(workers) workers ready")
        if let dir = submit {
            try Self.demo(client: client, directory: dir, budget: budget)
            if once { return }
        }
        while !trap.isRaised {
            if let dead = children.first(where: { !$0.isRunning }) {
                throw ValidationError("child process \(dead.pid) (\(dead.arguments.first ?? "")) exited with status \(dead.status)")
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        say("stopping the cluster")
    }

    /// Submits a sample directory and prints what came back.
    static func demo(client: ClusterClient, directory dir: String, budget: String) throws {
        let p = { (name: String) in (dir as NSString).appendingPathComponent(name) }
        let x = try TensorFiles.loadMatrix(p("features.npy"), name: nil, role: "features")
        let e = FileManager.default.fileExists(atPath: p("embeddings.npy")) ? try TensorFiles.loadMatrix(p("embeddings.npy"), name: nil, role: "embeddings") : nil
        let q = FileManager.default.fileExists(atPath: p("query.npy")) ? try TensorFiles.loadMatrix(p("query.npy"), name: nil, role: "query") : nil
        let layout = FileManager.default.fileExists(atPath: p("layout.json")) ? try LayoutFile.read(p("layout.json")) : nil
        let req = PruneRequest(features: x, embeddings: e, query: q, shards: layout?.shards)
        let s = PruneSubmission(id: UUID().uuidString, request: req, budget: try Budget(parsing: budget))
        let clock = ContinuousClock()
        let start = clock.now
        let reply = try client.prune(s)
        let elapsed = clock.now - start
        switch reply {
        case .result(let r):
            say("pruned \(r.tokenCount) tokens to \(r.indices.count) across \(r.shardCount) shards on \(r.workers.joined(separator: ", ")) in \(elapsed)")
            if FileManager.default.fileExists(atPath: p("target_mask.npy")) {
                let mask = try TensorFiles.loadMatrix(p("target_mask.npy"), name: nil, role: "query").values
                let target = mask.enumerated().filter { $0.element > 0 }.map(\.offset)
                let kept = Set(r.indices)
                say("ground truth: \(target.filter { kept.contains($0) }.count) of the \(target.count) tokens showing the asked-about object kept")
            }
            say("first kept indices: \(r.indices.prefix(24).map(String.init).joined(separator: " "))\(r.indices.count > 24 ? " ..." : "")")
        case .error(_, let e):
            throw ValidationError("the cluster answered \(e.code.rawValue): \(e.message)")
        case .status:
            break
        }
    }
}
