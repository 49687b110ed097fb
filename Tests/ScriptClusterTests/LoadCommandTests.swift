import Foundation
import Synchronization
import XCTest
import ScriptClient
import ScriptCore
import ScriptOps
import ScriptProtocol
import ScriptService
import ScriptTransport
@testable import ScriptLoad

/// `script-cluster load` against a real coordinator and worker, and its answer check.
final class LoadCommandTests: XCTestCase {
    /// The load generator reports throughput and latency, and every answer matched in-process
    /// pruning of the same values.
    func testLoadAgainstARealClusterChecksEveryAnswer() throws {
        let cluster = try TestCluster(workers: 1, wildcard: true)
        defer { cluster.stop() }
        let json = FileManager.default.temporaryDirectory.appendingPathComponent("load-\(getpid()).json")
        defer { try? FileManager.default.removeItem(at: json) }
        for transfer in [[], ["--direct"]] {
            let load = try ClusterProcess(["load", "--connect", cluster.frontend, "--kind", "image", "--requests", "6",
                                           "--concurrency", "2", "--json", json.path] + transfer)
            XCTAssertEqual(load.wait(timeout: 60), 0, "\(transfer): \(load.output) \(load.log)")
            let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any])
            XCTAssertEqual(report["answered"] as? Int, 6, "\(transfer)")
            XCTAssertEqual(report["wrong"] as? Int, 0, "\(transfer)")
            XCTAssertGreaterThan(report["throughput"] as? Double ?? 0, 0)
        }
        // Open loop: the rate, not the replies, sets how many are sent (10 a second for 2 s).
        let paced = try ClusterProcess(["load", "--connect", cluster.frontend, "--kind", "image", "--rate", "10",
                                        "--duration", "2", "--json", json.path])
        XCTAssertEqual(paced.wait(timeout: 60), 0, "\(paced.output) \(paced.log)")
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any])
        let sent = try XCTUnwrap(report["sent"] as? Int)
        XCTAssertTrue((15...21).contains(sent), "sent \(sent) at 10 a second for 2 s (fewer when a slow loop's last turn comes before the last sends are due)")
        XCTAssertEqual(report["answered"] as? Int, sent)
        // Nothing answered within the timeout: the run fails, saying so (not "is a coordinator there?").
        let hasty = try ClusterProcess(["load", "--connect", cluster.frontend, "--kind", "image", "--requests", "3",
                                        "--timeout-ms", "1"])
        XCTAssertNotEqual(hasty.wait(timeout: 60), 0)
        XCTAssertTrue(hasty.log.contains("no request was answered: all 3 timed out (--timeout-ms 1)"), hasty.log)
    }

    /// `load --direct --shared-memory` and `submit`'s: a worker behind a Unix socket reads the
    /// tensors in the client's shared memory in place (its metric counts them), one behind TCP is
    /// sent them, and every answer is in-process pruning's. Without --direct the flag is refused.
    func testSharedMemoryIsReadInPlaceByAWorkerOnAUnixSocket() throws {
        let cluster = try TestCluster(workers: 0, wildcard: true)
        defer { cluster.stop() }
        let local = try cluster.addWorker(extra: ["--data-bind", "ipc://@load-shared-\(getpid())", "--metrics-port", "0"])
        let remote = try cluster.addWorker(extra: ["--data-bind", "tcp://127.0.0.1:*", "--metrics-port", "0"])
        try cluster.waitForWorkers(2)
        let (_, report) = try sharedLoad(cluster, requests: 2, concurrency: 1)
        XCTAssertEqual(report["answered"] as? Int, 2)
        XCTAssertEqual(report["wrong"] as? Int, 0)
        let read = try [local, remote].map { try metric($0, "script_cluster_worker_shared_bytes_total ") }
        XCTAssertGreaterThan(read[0], 0, "the worker behind a Unix socket read shared memory")
        XCTAssertEqual(read[1], 0, "the one behind TCP was sent the bytes")
        // `submit --direct --shared-memory`: what `prune` writes, the bytes read in place (by the
        // worker behind the Unix socket alone, so that none of its shards goes to the other).
        remote.signal(SIGTERM)
        XCTAssertEqual(remote.wait(timeout: 30), 0, remote.log)
        try cluster.waitForWorkers(1)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("submit-shared-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertEqual(try ClusterProcess(["sample", "--kind", "image", "--out", dir]).wait(timeout: 60), 0)
        let args = ["--features", dir + "/features.npy", "--embeddings", dir + "/embeddings.npy", "--query", dir + "/query.npy",
                    "--budget", "16", "--tiles", "4"]
        let submit = try ClusterProcess(["submit", "--connect", cluster.frontend, "--direct", "--shared-memory"] + args)
        let alone = try ClusterProcess(["prune"] + args)
        XCTAssertEqual(submit.wait(timeout: 60), 0, submit.log)
        XCTAssertEqual(alone.wait(timeout: 60), 0, alone.log)
        let indices = { (p: ClusterProcess) in (try? JSONSerialization.jsonObject(with: Data(p.output.utf8)) as? [String: Any])?["indices"] as? [Int] }
        XCTAssertEqual(indices(submit), indices(alone))
        XCTAssertNotNil(indices(alone), alone.output)
        XCTAssertGreaterThan(try metric(local, "script_cluster_worker_shared_bytes_total "), read[0], "submit's bytes read in place")
        for command in ["load", "submit"] {
            let inline = try ClusterProcess([command, "--connect", cluster.frontend, "--shared-memory"]
                                            + (command == "load" ? ["--kind", "image"] : ["--features", dir + "/features.npy", "--budget", "16"]))
            XCTAssertEqual(inline.wait(timeout: 30), 2)
            XCTAssertTrue(inline.log.contains("--shared-memory goes with --direct"), inline.log)
        }
    }

    /// A worker behind a Unix socket in another PID namespace (as a container of its own is)
    /// cannot read this host's clients' shared memory (their PIDs name other processes there): it
    /// says so in its `ready`, and `load --shared-memory` sends it the bytes. Every request is
    /// answered as in-process; it failed with `bad_tensor` before.
    func testAWorkerInAnotherPIDNamespaceIsSentTheBytes() throws {
        // Its parent is outside its namespace (getppid() reads 0), so it is not told to stop with
        // the test process's; `timeout` stops it if the test dies before it does.
        let prefix = ["/usr/bin/env", "-u", SignalTrap.parentVariable, "timeout", "300",
                      "unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]
        let probe = try ClusterProcess(["--version"], prefix: prefix)
        guard probe.wait(timeout: 10) == 0 else { throw XCTSkip("no PID namespace can be made here (unshare needs root): \(probe.log)") }
        let (cluster, apart, local) = try besideOneStartedUnder(prefix)
        defer { cluster.stop() }
        let (load, report) = try sharedLoad(cluster, requests: 4, concurrency: 2)
        XCTAssertEqual(report["answered"] as? Int, 4, "\(report)")
        XCTAssertEqual(load.log.components(separatedBy: "cannot read this client's shared memory (it runs in PID namespace").count, 2,
                       "said once: \(load.log)")
        XCTAssertEqual(report["wrong"] as? Int, 0)
        XCTAssertGreaterThan(try metric(apart, "script_cluster_worker_tokens_total{kind=\"shard\"}"), 0, "it pruned shards")
        XCTAssertEqual(try metric(apart, "script_cluster_worker_shared_bytes_total "), 0, "it was sent their bytes")
        XCTAssertGreaterThan(try metric(local, "script_cluster_worker_shared_bytes_total "), 0, "the one beside the client read them in place")
        // The coordinator's /workers says whose memory each reads.
        let url = try XCTUnwrap(cluster.coordinator.line("metrics "), cluster.coordinator.output)
        let listed = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(HTTPProbe.get(url + "/workers").body.utf8)) as? [String: Any])
        let scopes = try XCTUnwrap(listed["workers"] as? [[String: Any]]).map { ($0["shared_memory"] as? [String: Int])?["pid_namespace"] }
        let here = try XCTUnwrap(SharedMemoryScope.current).pidNamespace
        XCTAssertEqual(scopes.count, 2)
        XCTAssertEqual(scopes.filter { $0 == here }.count, 1, "\(scopes) against \(here)")
        XCTAssertTrue(scopes.allSatisfy { $0 != nil }, "\(scopes)")
    }

    /// A worker of the client's namespace and user that the kernel does not let open the
    /// client's descriptors all the same (here: root without CAP_SYS_PTRACE, against a client
    /// with it; elsewhere a security module) sends its shards back: the coordinator has the
    /// client send it the bytes, and every request is answered as in-process, where each it
    /// took failed with `bad_tensor` before.
    func testAWorkerTheKernelDeniesTheClientsMemoryIsSentTheBytes() throws {
        let prefix = ["/usr/bin/setpriv", "--bounding-set", "-sys_ptrace"]
        guard geteuid() == 0 else { throw XCTSkip("the kernel lets a process of the same user without capabilities read another's descriptors: needs root") }
        let probe = try ClusterProcess(["--version"], prefix: prefix)
        guard probe.wait(timeout: 10) == 0 else { throw XCTSkip("setpriv cannot drop a capability here: \(probe.log)") }
        let (cluster, denied, local) = try besideOneStartedUnder(prefix)
        defer { cluster.stop() }
        let (load, report) = try sharedLoad(cluster, requests: 4, concurrency: 2)
        XCTAssertEqual(report["answered"] as? Int, 4, "\(report)")
        XCTAssertEqual(report["wrong"] as? Int, 0)
        XCTAssertEqual(load.log.components(separatedBy: "cannot read this client's shared memory (its placement names no memory it reads").count, 2,
                       "said once: \(load.log)")
        XCTAssertGreaterThan(try metric(denied, "script_cluster_worker_tokens_total{kind=\"shard\"}"), 0, "it pruned shards")
        XCTAssertEqual(try metric(denied, "script_cluster_worker_shared_bytes_total "), 0, "it was sent their bytes")
        XCTAssertGreaterThan(try metric(local, "script_cluster_worker_shared_bytes_total "), 0, "the other read them in place")
        XCTAssertGreaterThan(try metric(cluster.coordinator, "script_cluster_jobs_requeued_total{reason=\"unreadable_shared_memory\"}"), 0)
    }

    /// A cluster (metrics on) with two workers behind Unix sockets, both registered: one started
    /// under `prefix` (`apart`), one as the test's own processes are (`local`).
    private func besideOneStartedUnder(_ prefix: [String]) throws -> (TestCluster, apart: ClusterProcess, local: ClusterProcess) {
        let cluster = try TestCluster(workers: 0, extra: ["--metrics-port", "0"], wildcard: true)
        do {
            let apart = try cluster.addWorker(prefix: prefix, extra: ["--data-bind", "ipc://@load-apart-\(getpid())", "--metrics-port", "0"])
            let local = try cluster.addWorker(extra: ["--data-bind", "ipc://@load-here-\(getpid())", "--metrics-port", "0"])
            try cluster.waitForWorkers(2)
            return (cluster, apart, local)
        } catch {
            cluster.stop()
            throw error
        }
    }

    /// `load --direct --shared-memory` of AnyRes requests against `cluster`, ended with status 0:
    /// the process and its JSON report.
    private func sharedLoad(_ cluster: TestCluster, requests: Int, concurrency: Int) throws -> (ClusterProcess, [String: Any]) {
        let json = FileManager.default.temporaryDirectory.appendingPathComponent("load-shared-\(getpid()).json")
        defer { try? FileManager.default.removeItem(at: json) }
        let load = try ClusterProcess(["load", "--connect", cluster.frontend, "--kind", "anyres", "--requests", "\(requests)",
                                       "--concurrency", "\(concurrency)", "--direct", "--shared-memory", "--json", json.path])
        XCTAssertEqual(load.wait(timeout: 120), 0, "\(load.output) \(load.log)")
        return (load, try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any]))
    }

    /// The value of the line of worker `w`'s metrics that starts with `prefix` (0 where none does).
    private func metric(_ w: ClusterProcess, _ prefix: String) throws -> Double {
        let url = try XCTUnwrap(w.line("metrics "), w.output)
        let line = try HTTPProbe.get(url + "/metrics").body.split(separator: "\n").first { $0.hasPrefix(prefix) }
        return line.flatMap { Double($0.split(separator: " ").last!) } ?? 0
    }

    /// No coordinator at the address (nothing listens, or something that takes TCP connections
    /// and never speaks ZeroMQ): `load` ends with status 3 after its 10 s wait for a connection,
    /// saying which, where it waited out a warm-up and a run of timeouts (two minutes of silence
    /// with the defaults) before it said "all timed out"; likewise its wait for workers.
    func testLoadWithNoCoordinatorEndsSayingWhy() throws {
        let silent = SilentListener()
        defer { silent.stop() }
        let cases = [("tcp://127.0.0.1:\(freePort())", "failed attempts: is a coordinator listening there"),
                     ("tcp://127.0.0.1:\(silent.port)", "its port takes connections, but no ZeroMQ handshake finished")]
        // The three at once (each waits 10 s), each timed from their start.
        let started = Date()
        let loads = try cases.map { try ClusterProcess(["load", "--connect", $0.0, "--kind", "image", "--duration", "2"]) }
        // Waiting for workers first: the same after 10 s, not "did not reach 1 workers" after a minute.
        let waiting = try ClusterProcess(["load", "--connect", cases[0].0, "--kind", "image", "--wait-workers", "1"])
        for ((endpoint, why), load) in zip(cases, loads) {
            let status = load.wait(timeout: 40)
            XCTAssertEqual(status, 3, load.log)
            XCTAssertLessThan(Date().timeIntervalSince(started), 20, "ended after its connection wait, not after timeouts")
            XCTAssertTrue(load.log.contains("no coordinator connection within 10 s; never connected to \(endpoint) ("), load.log)
            XCTAssertTrue(load.log.contains(why), load.log)
        }
        XCTAssertEqual(waiting.wait(timeout: 40), 3, waiting.log)
        XCTAssertLessThan(Date().timeIntervalSince(started), 20, "ended after 10 s without a connection, not after the minute")
        XCTAssertTrue(waiting.log.contains("\(cases[0].0): never connected (") && waiting.log.contains(cases[0].1), waiting.log)
    }

    /// A coordinator without workers: `load` says so at once, before its requests wait out their
    /// timeouts (the warm-up's, then the run's).
    func testLoadSaysAtOnceThatACoordinatorHasNoWorker() throws {
        let cluster = try TestCluster(workers: 0)
        defer { cluster.stop() }
        let load = try ClusterProcess(["load", "--connect", cluster.frontend, "--kind", "image", "--requests", "1", "--timeout-ms", "3000"])
        XCTAssertTrue(load.waitForLog("warning: \(cluster.frontend) has no worker: its requests wait for one until they time out (--timeout-ms 3000)",
                                      timeout: 4), load.log)
        XCTAssertEqual(load.wait(timeout: 30), 3, load.log)
    }

    /// An answer that differs from the expected indices is counted and said, not just timed.
    func testAWrongAnswerIsCountedAndSaid() {
        var report = LoadReport()
        func result(_ indices: [Int]) -> ClusterReply {
            .result(ClusterResult(id: "x", indices: indices, budget: 2, tokenCount: 9, shardCount: 1, workers: ["w"],
                                  timings: [], features: nil))
        }
        report.record(result([1, 4]), latencyMs: 3, expected: [1, 4])
        report.record(result([1, 5]), latencyMs: 3, expected: [1, 4])
        report.record(result([1, 5]), latencyMs: 3, expected: nil)
        XCTAssertEqual(report.answered, 3)
        XCTAssertEqual(report.wrong, 1)
        XCTAssertTrue(report.text.contains("WRONG: 1 of 3 answers differ"), report.text)
        XCTAssertEqual(report.dictionary["wrong"] as? Int, 1)
    }

    /// Runs merged (the cluster benchmark's blocks between in-process runs) add up, and each
    /// role's CPU a request is weighted by the requests each run answered.
    func testMergedRunsAddUpAndWeighCPUByRequests() {
        var a = LoadReport(), b = LoadReport()
        a.sent = 4; a.answered = 4; a.latencies = [10, 11, 12, 13]; a.seconds = 0.5; a.cpuPerRequestMs = ["worker": 100]
        a.errors = ["busy": 1]
        b.sent = 2; b.answered = 1; b.wrong = 1; b.latencies = [40]; b.seconds = 0.25; b.timeouts = 1
        b.cpuPerRequestMs = ["worker": 50, "coordinator": 10]; b.errors = ["busy": 2]
        a.merge(b)
        XCTAssertEqual(a.sent, 6)
        XCTAssertEqual(a.answered, 5)
        XCTAssertEqual(a.wrong, 1)
        XCTAssertEqual(a.timeouts, 1)
        XCTAssertEqual(a.errors, ["busy": 3])
        XCTAssertEqual(a.latencies, [10, 11, 12, 13, 40])
        XCTAssertEqual(a.seconds, 0.75)
        XCTAssertEqual(a.cpuPerRequestMs["worker"]!, 90, accuracy: 1e-9)
        XCTAssertEqual(a.cpuPerRequestMs["coordinator"]!, 2, accuracy: 1e-9)
        XCTAssertEqual(a.percentile(50), 12)
        // Nearest rank: p20 of 5 is the first, p90 and p99 the last.
        XCTAssertEqual([a.percentile(20), a.percentile(90), a.percentile(99)], [10, 40, 40])
        // Answered requests a second, and the coordinator's part of the CPU every role spent.
        XCTAssertEqual(a.throughput, 5 / 0.75, accuracy: 1e-9)
        XCTAssertEqual(a.coordinatorShare, 2.0 / 92.0, accuracy: 1e-12)
    }

    /// A bare ROUTER socket on a free loopback port: a coordinator that takes every message and
    /// answers none (the test reads what arrives).
    private func silentCoordinator() throws -> ZMQSocket {
        let silent = try ZMQSocket(context: ZMQContext(ioThreads: 1), type: .router)
        try silent.setLinger(milliseconds: 0)
        try silent.bind("tcp://127.0.0.1:*")
        return silent
    }

    /// Against a coordinator that takes requests and never answers: the generator keeps exactly
    /// `--concurrency` in flight, counts each as timed out after `timeoutMs` (and cancels it at
    /// the coordinator), sends the next ones, and stops when all are sent and timed out (it would
    /// wait forever if only a late reply could end a request).
    func testASilentCoordinatorGetsExactlyTheConcurrencyAndEveryRequestTimesOut() throws {
        let silent = try silentCoordinator()
        defer { silent.close() }
        let endpoint = try silent.lastEndpoint()
        let request = PruneRequest(features: Matrix(rows: 8, cols: 4, values: (0..<32).map { Float($0 % 7) + 1 }))
        let template = PruneSubmission(id: "silent", request: request, budget: .count(3)).encoded()
        let outcome = Mutex<Result<LoadReport, any Error>?>(nil)
        Thread.detachNewThread {
            let result = Result { () throws -> LoadReport in
                var options = ClusterClient.Options()
                options.maxMessageBytes = 1 << 20
                let client = try ClusterClient(endpoint: endpoint, options: options)
                defer { client.close() }
                var settings = LoadGenerator.Settings()
                settings.pace = .concurrency(3)
                settings.requests = 6
                settings.warmup = 0
                settings.timeoutMs = 700
                settings.roles = [:]
                return try LoadGenerator(client: client, template: template, expected: nil).run(settings)
            }
            outcome.withLock { $0 = result }
        }
        // Request ids as they arrive (a retry repeats an id), and when; and the ids given up.
        let clock = ContinuousClock(), start = clock.now
        var arrivals: [(id: String, ms: Double)] = [], cancelled: Set<String> = []
        while (outcome.withLock({ $0 == nil }) || cancelled.count < 6) && clock.now - start < .seconds(15) {
            guard let frames = try silent.receiveFrames(timeoutMilliseconds: 50), frames.count >= 3,
                  let header = try? Envelope.decode(frames[2]), let id = try? header.string("id") else { continue }
            switch try? header.string("type") {
            case "prune": arrivals.append((id, (clock.now - start).milliseconds))
            case "cancel": cancelled.insert(id)
            default: break
            }
        }
        let report = try XCTUnwrap(outcome.withLock { $0 }, "the generator did not stop within 15 s: \(arrivals)").get()
        var firstSeen: [String: Double] = [:]
        for a in arrivals where firstSeen[a.id] == nil { firstSeen[a.id] = a.ms }
        let early = firstSeen.values.filter { $0 < 500 }.count
        XCTAssertEqual(early, 3, "requests that arrived before the first could time out: \(arrivals)")
        XCTAssertEqual(firstSeen.count, 6, "\(arrivals)")
        XCTAssertEqual(cancelled, Set(firstSeen.keys), "each request timed out is given up at the coordinator")
        XCTAssertEqual(report.sent, 6)
        XCTAssertEqual(report.timeouts, 6)
        XCTAssertEqual(report.answered, 0)
    }

    /// A client whose request gets no answer in time gives it up at the coordinator (`cancel`),
    /// so that the cluster stops working on it.
    func testAClientThatGivesUpCancelsAtTheCoordinator() throws {
        let silent = try silentCoordinator()
        defer { silent.close() }
        var options = ClusterClient.Options()
        options.maxMessageBytes = 1 << 20
        let client = try ClusterClient(endpoint: try silent.lastEndpoint(), options: options)
        defer { client.close() }
        let request = PruneRequest(features: Matrix(rows: 8, cols: 4, values: (0..<32).map { Float($0 % 5) + 1 }))
        XCTAssertThrowsError(try client.prune(PruneSubmission(id: "impatient", request: request, budget: .count(3)), timeoutMs: 300))
        var types: [String] = []
        while let frames = try silent.receiveFrames(timeoutMilliseconds: 500) {
            guard frames.count >= 3, let header = try? Envelope.decode(frames[2]), (try? header.string("id")) == "impatient" else { continue }
            types.append((try? header.string("type")) ?? "?")
        }
        XCTAssertEqual(types, ["prune", "cancel"])
    }
}
