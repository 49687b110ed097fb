import Foundation
import XCTest
import ScriptClient
import ScriptCore
import ScriptOps
import ScriptProtocol
import ScriptTransport

/// Real coordinator and worker processes as an operator sees them: their HTTP ports (metrics and
/// probes, scraped over real HTTP), their access lines, and CurveZMQ between them.
final class OpsProcessTests: XCTestCase {
    /// One series' value in Prometheus text (`name{labels}` as the exporter writes it).
    private func value(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    private func scrape(_ base: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let r = try HTTPProbe.get(base + "/metrics")
        XCTAssertEqual(r.status, 200, file: file, line: line)
        return r.body
    }

    /// Whether `base + path` answers `status` within `timeout` seconds.
    private func answers(_ base: String, _ path: String, _ status: Int, timeout: Double = 10) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if (try? HTTPProbe.get(base + path, timeout: .seconds(1)))?.status == status { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }

    /// The workers `base`'s /workers lists once `count` are listed (published each second), or
    /// what it last listed after `timeout` seconds.
    private func roster(_ base: String, count: Int, timeout: Double = 5) throws -> [[String: Any]] {
        let end = Date().addingTimeInterval(timeout)
        var listed: [[String: Any]] = []
        repeat {
            let r = try HTTPProbe.get(base + "/workers")
            XCTAssertEqual(r.status, 200, r.body)
            let doc = try JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any]
            listed = doc?["workers"] as? [[String: Any]] ?? []
            if listed.count == count { break }
            Thread.sleep(forTimeInterval: 0.1)
        } while Date() < end
        return listed
    }

    /// Whether `series` on `base`'s /metrics reads `want` (or more, `atLeast`) within `timeout`
    /// seconds (gauges are recorded on the loop's next tick, connection events when it drains
    /// its monitors).
    private func reads(_ base: String, _ series: String, _ want: Double, atLeast: Bool = false, timeout: Double = 5) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if let text = try? HTTPProbe.get(base + "/metrics").body, let v = value(text, series), v == want || (atLeast && v > want) {
                return true
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }

    private func metricsURL(_ p: ClusterProcess) throws -> String {
        guard let url = p.line("metrics ") else { throw HarnessError("no metrics port: \(p.output) \(p.log)") }
        return url
    }

    /// /readyz flips with the worker, /metrics counts a request inline and one direct (requests,
    /// tokens, latencies, bytes, the worker's jobs and CPU), the gauges follow the pool, and the
    /// coordinator writes one JSON access line a request.
    func testMetricsAndProbesMoveWithRequestsAndWorkers() throws {
        // Heartbeats of a second: on busy shared cores a starved loop must not pass for a lost worker.
        let cluster = try TestCluster(workers: 0, heartbeatMs: 1000, extra: ["--metrics-port", "0", "--log-format", "json"],
                                      workerExtra: ["--metrics-port", "0"])
        defer { cluster.stop() }
        let coordinator = try metricsURL(cluster.coordinator)
        XCTAssertEqual(try HTTPProbe.get(coordinator + "/livez").status, 200)
        let unready = try HTTPProbe.get(coordinator + "/readyz")
        XCTAssertEqual(unready.status, 503, "no worker yet: \(unready.body)")

        let w = try cluster.addWorker()
        let worker = try metricsURL(w)
        XCTAssertTrue(answers(worker, "/readyz", 200), "the worker is ready once registered")
        XCTAssertTrue(answers(coordinator, "/readyz", 200), "the coordinator is ready with a worker")
        try cluster.waitForWorkers(1)
        // The coordinator's /workers lists it, as it registered (a worker's port has no list).
        let listed = try roster(coordinator, count: 1)
        XCTAssertEqual(listed.count, 1, "\(listed)")
        XCTAssertEqual(listed.first?["name"] as? String, "w1")
        XCTAssertEqual(listed.first?["threads"] as? Int, 1)
        XCTAssertEqual(listed.first?["silent"] as? Bool, false)
        XCTAssertGreaterThan(listed.first?["memory_bytes"] as? Int ?? 0, 0)
        XCTAssertEqual(listed.first?["bytes_held"] as? Int, 0, "idle")
        XCTAssertEqual(try HTTPProbe.get(worker + "/workers").status, 404)

        let before = try scrape(coordinator), workerBefore = try scrape(worker)
        let req = Requests.sample(.image, seed: 31)
        let want = try Requests.inProcess(req, 16)
        let client = try cluster.client()
        defer { client.close() }
        for transfer in Transfer.allCases {
            let reply = try client.prune(PruneSubmission(id: "ops-\(transfer)", request: req, budget: .count(16), transfer: transfer))
            guard case .result(let r) = reply else { return XCTFail("\(transfer): \(reply)") }
            XCTAssertEqual(r.indices, want)
        }
        // The coordinator counts a request just after it sends the reply: a scrape may come between.
        let served = #"script_cluster_requests_total{outcome="ok",code="none"}"#
        XCTAssertTrue(reads(coordinator, served, (value(before, served) ?? 0) + 2))
        let after = try scrape(coordinator), workerAfter = try scrape(worker)
        let delta = { (text: (String, String), series: String) in (self.value(text.1, series) ?? .nan) - (self.value(text.0, series) ?? 0) }
        let c = (before, after), wk = (workerBefore, workerAfter)
        let tokens = Double(req.features.rows)
        XCTAssertEqual(delta(c, #"script_cluster_requests_total{outcome="ok",code="none"}"#), 2)
        XCTAssertEqual(delta(c, #"script_cluster_request_duration_seconds_count{outcome="ok"}"#), 2)
        XCTAssertEqual(delta(c, "script_cluster_tokens_in_total"), 2 * tokens)
        XCTAssertEqual(delta(c, "script_cluster_tokens_kept_total"), 32)
        XCTAssertGreaterThanOrEqual(delta(c, #"script_cluster_job_duration_seconds_count{kind="shard"}"#), Double(req.shards!.count * 2))
        XCTAssertEqual(delta(c, #"script_cluster_job_duration_seconds_count{kind="reduce"}"#), 2)
        // Inline, the tensor bytes come through the coordinator; direct, they go to the worker.
        XCTAssertGreaterThan(delta(c, #"script_cluster_bytes_received_total{peer="client"}"#), tokens * Double(req.features.cols) * 2)
        XCTAssertGreaterThan(delta(c, #"script_cluster_bytes_sent_total{peer="worker"}"#), tokens * Double(req.features.cols) * 2)
        XCTAssertGreaterThan(delta(wk, #"script_cluster_bytes_received_total{peer="client"}"#), tokens * Double(req.features.cols) * 2)
        // Gauges are recorded on the loops' ticks (every 50 ms): what a scrape sees then.
        XCTAssertTrue(reads(coordinator, "script_cluster_workers", 1))
        XCTAssertTrue(reads(coordinator, "script_cluster_requests_in_flight", 0))
        XCTAssertTrue(reads(coordinator, "script_cluster_queue_depth", 0))
        XCTAssertGreaterThanOrEqual(delta(c, #"script_cluster_connections_total{socket="frontend",event="accepted"}"#), 1)
        XCTAssertEqual(delta(wk, #"script_cluster_worker_jobs_total{kind="shard",outcome="ok",code="none"}"#), Double(req.shards!.count * 2))
        XCTAssertEqual(delta(wk, #"script_cluster_worker_tokens_total{kind="shard"}"#), 2 * tokens)
        XCTAssertGreaterThan(delta(wk, #"script_cluster_worker_cpu_seconds_total{kind="shard"}"#), 0)
        XCTAssertTrue(reads(worker, "script_cluster_worker_registered", 1))
        XCTAssertTrue(reads(worker, "script_cluster_worker_bytes_held", 0), "let go as each request ended")

        // One access line a request, its fields as JSON.
        for transfer in Transfer.allCases {
            XCTAssertTrue(cluster.coordinator.waitForLog("\"id\":\"ops-\(transfer)\"", timeout: 5), cluster.coordinator.log)
            let line = cluster.coordinator.log.split(separator: "\n").first { $0.contains("\"id\":\"ops-\(transfer)\"") } ?? ""
            let fields = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
            XCTAssertEqual(fields["msg"] as? String, "request")
            XCTAssertEqual(fields["outcome"] as? String, "ok")
            XCTAssertEqual(fields["tokens_in"] as? Int, req.features.rows)
            XCTAssertEqual(fields["tokens_kept"] as? Int, 16)
            XCTAssertEqual(fields["shards"] as? Int, req.shards!.count)
            XCTAssertEqual(fields["workers"] as? Int, 1)
            XCTAssertGreaterThan(fields["ms"] as? Double ?? 0, 0)
        }

        // The worker goes: the coordinator is not ready, and counts the departure.
        w.signal(SIGTERM)
        XCTAssertEqual(w.wait(), 0)
        XCTAssertTrue(answers(coordinator, "/readyz", 503), "not ready without a worker")
        XCTAssertTrue(reads(coordinator, "script_cluster_workers", 0))
        XCTAssertTrue(reads(coordinator, #"script_cluster_worker_departures_total{reason="disconnected"}"#, 1))
        XCTAssertEqual(try roster(coordinator, count: 0).count, 0, "the worker left the list")
        // And one comes back.
        let again = try metricsURL(try cluster.addWorker())
        XCTAssertTrue(answers(again, "/readyz", 200))
        XCTAssertTrue(answers(coordinator, "/readyz", 200), "ready again with the new worker")
    }

    /// Key files for a CURVE cluster: the coordinator's pair, allow-lists of clients (two
    /// pairs) and workers (one), and a stranger's pair on neither list.
    private struct Keys {
        let dir: String
        var path: (String) -> String { { (self.dir as NSString).appendingPathComponent($0) } }

        init() throws {
            dir = NSTemporaryDirectory() + "curve-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            let fm = FileManager.default
            try fm.createDirectory(atPath: dir + "/clients", withIntermediateDirectories: true)
            try fm.createDirectory(atPath: dir + "/workers", withIntermediateDirectories: true)
            for base in ["coordinator", "clients/alice", "clients/bob", "workers/w", "stranger"] {
                _ = try CurveKeyFile.write(try CurveKeyPair.generate(), base: dir + "/" + base)
            }
        }

        var coordinator: [String] {
            ["--curve-secret", path("coordinator.key_secret"), "--curve-clients", path("clients"), "--curve-workers", path("workers")]
        }

        /// A worker's flags: its pair, and the clients its data socket lets in.
        func worker(_ secret: String, clients: String = "clients") -> [String] {
            ["--curve-secret", path(secret), "--curve-server-key", path("coordinator.key"), "--curve-clients", path(clients)]
        }

        func client(_ secret: String) throws -> CurveClientSettings {
            try CurveClientSettings.load(secretFile: path(secret), serverKeyFile: path("coordinator.key"))
        }

        func publicKey(_ name: String) throws -> String { try CurveKeyFile.readPublicKey(path(name + ".key")).z85 }
    }

    /// A coordinator whose key pair is not the one the client or worker was given (its keys made
    /// again, the old public key still handed out): the client is refused at once saying so, and
    /// the worker logs it at its first failed handshake (each said "never connected: is a
    /// coordinator listening there?" or waited out its silence).
    func testAnotherCoordinatorKeyIsRefusedAtOnceSayingSo() throws {
        let keys = try Keys()
        defer { try? FileManager.default.removeItem(atPath: keys.dir) }
        let cluster = try TestCluster(workers: 0, heartbeatMs: 1000, extra: keys.coordinator,
                                      clientCurve: try keys.client("clients/alice.key_secret"))
        defer { cluster.stop() }
        var options = ClusterClient.Options()
        options.curve = try CurveClientSettings.load(secretFile: keys.path("clients/alice.key_secret"), serverKeyFile: keys.path("stranger.key"))
        let client = try ClusterClient(endpoint: cluster.frontend, options: options)
        defer { client.close() }
        let start = Date()
        XCTAssertThrowsError(try client.prune(PruneSubmission(id: "rekeyed", request: Requests.sample(.image, seed: 3), budget: .count(8)))) { error in
            XCTAssertEqual(error as? ConnectionRefused, ConnectionRefused(endpoint: cluster.frontend, by: .coordinator, reason: .serverKey), "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 3, "refused at the first failed handshake")
        let worker = try ClusterProcess(["worker", "--connect", cluster.backend, "--name", "rekeyed", "--data-bind", "none",
                                         "--curve-secret", keys.path("workers/w.key_secret"), "--curve-server-key", keys.path("stranger.key")])
        defer { worker.signal(SIGTERM); worker.wait() }
        XCTAssertTrue(worker.waitForLog("coordinator \(cluster.backend) failed the CURVE handshake: the coordinator key given to this worker", timeout: 3), worker.log)
    }

    /// CURVE on one side only: a client without keys against a coordinator that requires them,
    /// and a client with keys against one without, are refused at once saying what to change, not
    /// left to time out with a hint about the address (libzmq does not even try again).
    func testCurveOnOneSideOnlyIsRefusedAtOnceSayingWhichSide() throws {
        let keys = try Keys()
        defer { try? FileManager.default.removeItem(atPath: keys.dir) }
        let alice = try keys.client("clients/alice.key_secret")
        let secure = try TestCluster(workers: 0, heartbeatMs: 1000, extra: keys.coordinator, clientCurve: alice)
        defer { secure.stop() }
        let plain = try TestCluster(workers: 0, heartbeatMs: 1000)
        defer { plain.stop() }
        var withKeys = ClusterClient.Options()
        withKeys.curve = alice
        let req = Requests.sample(.image, seed: 3)
        for (endpoint, options, reason) in [(secure.frontend, ClusterClient.Options(), ConnectionRefused.Reason.curveRequired),
                                            (plain.frontend, withKeys, .curveUnspoken)] {
            let client = try ClusterClient(endpoint: endpoint, options: options)
            defer { client.close() }
            let start = Date()
            XCTAssertThrowsError(try client.prune(PruneSubmission(id: "one-sided", request: req, budget: .count(8)))) { error in
                XCTAssertEqual(error as? ConnectionRefused, ConnectionRefused(endpoint: endpoint, by: .coordinator, reason: reason), "\(error)")
            }
            // Within 0.4-0.6 s (12 runs). libzmq tells the mismatch only to the end that reads the
            // other's greeting first; this end often sees a connection closed during the handshake,
            // and tried again with a growing interval until it was told (0.8-20 s in 16 runs, a
            // CI run failed at 14 s): the monitor now reads the coordinator's greeting itself.
            XCTAssertLessThan(Date().timeIntervalSince(start), 3, "refused at the first failed handshake")
        }
        // Workers the same way round: each says which end speaks CURVE, in its log and to its
        // readiness probe, where it said only "not answering" before.
        let bare = try ClusterProcess(["worker", "--connect", secure.backend, "--name", "bare", "--data-bind", "none", "--metrics-port", "0"])
        defer { bare.signal(SIGTERM); bare.wait() }
        let keyed = try ClusterProcess(["worker", "--connect", plain.backend, "--name", "keyed"] + keys.worker("workers/w.key_secret"))
        defer { keyed.signal(SIGTERM); keyed.wait() }
        XCTAssertTrue(bare.waitForLog("coordinator \(secure.backend) speaks CURVE and this worker does not", timeout: 5), bare.log)
        XCTAssertTrue(keyed.waitForLog("coordinator \(plain.backend) does not speak CURVE and this worker does", timeout: 5), keyed.log)
        let ready = try HTTPProbe.get(try metricsURL(bare) + "/readyz")
        XCTAssertEqual(ready.status, 503)
        XCTAssertTrue(ready.body.contains("not registered: coordinator \(secure.backend) speaks CURVE"), ready.body)
    }

    /// The clients' and the workers' ports mixed up: a worker given the frontend, a client
    /// given the backend or a worker's data socket. Each is told at once what it reached (the
    /// client as an error, the worker in its log and probe), where the client waited out its
    /// tries for a timeout and the worker took the frontend's refusals for a coordinator's answer
    /// and called itself registered.
    func testWorkersAndClientsGivenTheOtherPortAreToldSo() throws {
        let cluster = try TestCluster(workers: 0, heartbeatMs: 1000)
        defer { cluster.stop() }
        let lost = try ClusterProcess(["worker", "--connect", cluster.frontend, "--name", "lost", "--metrics-port", "0"])
        defer { lost.signal(SIGTERM); lost.wait() }
        XCTAssertTrue(lost.waitForLog("coordinator \(cluster.frontend) answers as a coordinator's frontend, where clients connect: workers connect to its backend", timeout: 5), lost.log)
        XCTAssertFalse(lost.log.contains("registered with"), lost.log)
        let ready = try HTTPProbe.get(try metricsURL(lost) + "/readyz")
        XCTAssertEqual(ready.status, 503)
        XCTAssertTrue(ready.body.contains("answers as a coordinator's frontend"), ready.body)
        XCTAssertTrue(cluster.coordinator.waitForLog("a worker's 'ready' message reached the frontend", timeout: 5), cluster.coordinator.log)

        // The backend, and a worker's data socket (its `data` line; the worker above binds one).
        let dataSocket = try XCTUnwrap(lost.line("data "), lost.output)
        for (endpoint, told) in [(cluster.backend, "this is a coordinator's backend, where workers connect: clients connect to its frontend"),
                                 (dataSocket, "this is a worker's data socket, where clients send shard bytes: requests go to a coordinator's frontend")] {
            try expectTold(told, by: endpoint)
        }
        XCTAssertEqual(try cluster.client().status()?.failed, 0, "neither counts as a failed request")
    }

    /// Two workers advertising one data address (a Service's, given to every pod): the second
    /// is refused saying why, in its log and probe, and not counted; once the first dies, the
    /// second gets in on its next try.
    func testASecondWorkerAdvertisingTheSameDataAddressIsRefusedSayingWhy() throws {
        let cluster = try TestCluster(workers: 0, heartbeatMs: 500)
        defer { cluster.stop() }
        // Unnamed: HOSTNAME-PID by default, as unique in containers (whose process is PID 1).
        let first = try ClusterProcess(["worker", "--connect", cluster.backend, "--heartbeat-ms", "500"])
        defer { first.signal(SIGTERM); first.wait() }
        try cluster.waitForWorkers(1)
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count)
        let firstName = "\(String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))-\(first.process.processIdentifier)"
        let address = try XCTUnwrap(first.line("data "), first.output)
        let second = try ClusterProcess(["worker", "--connect", cluster.backend, "--name", "second", "--heartbeat-ms", "500",
                                         "--data-advertise", address, "--metrics-port", "0"])
        defer { second.signal(SIGTERM); second.wait() }
        XCTAssertTrue(second.waitForLog("coordinator \(cluster.backend) refused this worker: its data endpoint \(address) is also advertised by worker \(firstName), which is alive", timeout: 5),
                      second.log)
        XCTAssertTrue(cluster.coordinator.waitForLog("worker second refused: its data endpoint \(address)", timeout: 5), cluster.coordinator.log)
        let ready = try HTTPProbe.get(try metricsURL(second) + "/readyz")
        XCTAssertEqual(ready.status, 503)
        XCTAssertTrue(ready.body.contains("is also advertised by worker \(firstName)"), ready.body)
        XCTAssertEqual(try cluster.client().status()?.workers, 1)

        first.signal(SIGKILL)
        first.wait()
        XCTAssertTrue(second.waitForLog("registered with coordinator \(cluster.backend)", timeout: 15), second.log)
        XCTAssertEqual(try cluster.client().status()?.workers, 1)
    }

    /// A worker killed and started again at once with its name and data address (a container
    /// restarted after a crash) is let in at its first try, its old connection counted as a
    /// restart, where it was refused as "registered here already" (with advice that did not
    /// apply) until that connection was missed, and registered seconds later.
    func testARestartedWorkerIsLetInAtOnce() throws {
        // Beats 5 s apart: the coordinator sends the dead connection nothing (and so does not
        // find it gone) before the new process says `ready`.
        let cluster = try TestCluster(workers: 0, heartbeatMs: 5000, extra: ["--metrics-port", "0"])
        defer { cluster.stop() }
        let args = ["worker", "--connect", cluster.backend, "--name", "crashy", "--data-bind", "ipc://@script-cluster-test-\(getpid())-crashy"]
        let first = try ClusterProcess(args)
        try cluster.waitForWorkers(1)
        first.signal(SIGKILL)
        first.wait()
        let second = try ClusterProcess(args)
        defer { second.signal(SIGTERM); second.wait() }
        XCTAssertTrue(second.waitForLog("registered with coordinator \(cluster.backend)", timeout: 5), second.log)
        XCTAssertFalse(second.log.contains("refused"), second.log)
        guard !cluster.coordinator.log.contains("worker crashy is unreachable") else { return }  // it was sent something after all
        XCTAssertTrue(cluster.coordinator.log.contains("worker crashy restarted (a new process advertising its data endpoint ipc://@script-cluster-test-"),
                      cluster.coordinator.log)
        XCTAssertTrue(reads(try metricsURL(cluster.coordinator), #"script_cluster_worker_departures_total{reason="restarted"}"#, 1))
        let req = Requests.sample(.anyres, seed: 4)
        guard case .result(let r) = try cluster.client().prune(PruneSubmission(id: "after", request: req, budget: .count(40), transfer: .direct)) else {
            return XCTFail("no result")
        }
        XCTAssertEqual(r.indices, try Requests.inProcess(req, 40))
    }

    /// Two live workers given one name and one data address (a fixed `--name`, a Service's
    /// address): the later replaces the earlier once, taken for its restart, and the earlier,
    /// speaking again, is refused saying that two processes run as one worker, where they would
    /// replace each other for ever.
    func testTwoLiveProcessesOfOneWorkerDoNotReplaceEachOther() throws {
        let cluster = try TestCluster(workers: 0, heartbeatMs: 250, extra: ["--metrics-port", "0"])
        defer { cluster.stop() }
        let args = ["worker", "--connect", cluster.backend, "--name", "twin", "--heartbeat-ms", "250",
                    "--data-bind", "tcp://127.0.0.1:*", "--data-advertise", "tcp://127.0.0.1:1"]
        let first = try ClusterProcess(args)
        defer { first.signal(SIGTERM); first.wait() }
        try cluster.waitForWorkers(1)
        let second = try ClusterProcess(args)
        defer { second.signal(SIGTERM); second.wait() }
        XCTAssertTrue(first.waitForLog("refused this worker: another process of worker twin with its data endpoint tcp://127.0.0.1:1 took its place, and this one is alive: two processes run as one worker", timeout: 5),
                      first.log)
        Thread.sleep(forTimeInterval: 1.5)
        let metrics = try metricsURL(cluster.coordinator)
        XCTAssertTrue(reads(metrics, #"script_cluster_worker_departures_total{reason="restarted"}"#, 1), (try? scrape(metrics)) ?? "")
        XCTAssertEqual(try cluster.client().status()?.workers, 1)
        XCTAssertFalse(second.log.contains("refused"), second.log)
    }

    /// A coordinator and a worker of other releases (another backend protocol version, played
    /// here by a socket of the test's) refuse each other in a message whose version says why,
    /// and each logs the two versions, where the worker said only "not answering".
    func testOtherReleasesRefuseEachOtherSayingWhichVersions() throws {
        let cluster = try TestCluster(workers: 0, heartbeatMs: 1000)
        defer { cluster.stop() }
        let ctx = ZMQContext()
        defer { ctx.close() }
        let newer = ProtocolVersion.backend + 1
        let stranger = try ZMQSocket(context: ctx, type: .dealer)
        defer { stranger.close() }
        try stranger.connect(cluster.backend)
        try stranger.send([Frame(Envelope.encode(ProtocolVersion.header("ready", version: newer) + [("worker", .string("next"))]))])
        let answer = try XCTUnwrap(try stranger.receiveFrames(timeoutMilliseconds: 5000), "the coordinator answers")
        XCTAssertEqual(BackendEnvelope.version(answer), ProtocolVersion.backend)
        XCTAssertTrue(cluster.coordinator.waitForLog("speaks backend protocol version \(newer), this coordinator \(ProtocolVersion.backend): refused", timeout: 5),
                      cluster.coordinator.log)
        XCTAssertEqual(try cluster.client().status()?.workers, 0)

        let fake = try ZMQSocket(context: ctx, type: .router)
        defer { fake.close() }
        try fake.bind("tcp://127.0.0.1:*")
        let worker = try ClusterProcess(["worker", "--connect", try fake.lastEndpoint(), "--name", "older", "--data-bind", "none"])
        defer { worker.signal(SIGTERM); worker.wait() }
        let ready = try XCTUnwrap(try fake.receiveFrames(timeoutMilliseconds: 5000), "the worker says ready")
        try fake.send([ready[0], Frame(Envelope.encode(ProtocolVersion.header("heartbeat", version: newer)))])
        XCTAssertTrue(worker.waitForLog("speaks backend protocol version \(newer), this worker \(ProtocolVersion.backend): run one release", timeout: 5), worker.log)
        XCTAssertFalse(worker.log.contains("registered with"), worker.log)
    }

    /// `status` and `prune` at `endpoint` fail at once with a `bad_request` saying `told`.
    private func expectTold(_ told: String, by endpoint: String) throws {
        let client = try ClusterClient(endpoint: endpoint)
        defer { client.close() }
        let calls: [(String, () throws -> Void)] = [
            ("status", { _ = try client.status() }),
            ("prune", { _ = try client.prune(PruneSubmission(id: "astray", request: Requests.sample(.image, seed: 3), budget: .count(8))) }),
        ]
        for (call, run) in calls {
            let start = Date()
            XCTAssertThrowsError(try run()) { error in
                let e = error as? ProtocolError
                XCTAssertEqual(e?.code, .badRequest, "\(endpoint) \(call): \(error)")
                XCTAssertTrue(e?.message.contains(told) == true, "\(error)")
            }
            XCTAssertLessThan(Date().timeIntervalSince(start), 2, "\(endpoint) \(call): told at once, not timed out")
        }
    }

    /// With CURVE on every socket, an allowed client gets its answers (inline, and direct to the
    /// worker's data socket); a client or worker whose key is on no list is refused at once (an
    /// error, not a wait), logged with its key, and counted; a client the coordinator lets in but
    /// the worker's data socket does not gets its inline answers and a refusal for direct ones.
    /// The open-file limit: raised at start from its soft value to its hard one (a coordinator
    /// started with a soft limit of 64 may open as many files as its hard limit allows); one that
    /// reaches its hard limit says it cannot accept connections, why and what to raise (it said
    /// nothing while libzmq's listener spun on a core and clients waited), counts them, and
    /// answers again once they close (saying that those closed before a handshake); its metrics
    /// port, which stopped serving for good when a probe came while no file was left, says it
    /// cannot accept and serves again.
    func testTheOpenFileLimitIsRaisedAndReachingItIsSaid() throws {
        var own = rlimit()
        XCTAssertEqual(getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &own), 0)
        let hard = own.rlim_max == rlim_t.max ? "unlimited" : String(own.rlim_max)
        let endpoints = ["--frontend", "tcp://127.0.0.1:*", "--backend", "tcp://127.0.0.1:*"]
        let raised = try ClusterProcess(["coordinator"] + endpoints, prefix: ["/usr/bin/prlimit", "--nofile=64:\(hard)"])
        XCTAssertNotNil(raised.line("frontend "), raised.log)
        let limits = try String(contentsOfFile: "/proc/\(raised.process.processIdentifier)/limits", encoding: .utf8)
        let openFiles = try XCTUnwrap(limits.split(separator: "\n").first { $0.hasPrefix("Max open files") })
        XCTAssertEqual(openFiles.split(separator: " ").dropFirst(3).prefix(2), [Substring(hard), Substring(hard)], String(openFiles))
        raised.signal(SIGTERM)
        XCTAssertEqual(raised.wait(), 0)

        let tight = try ClusterProcess(["coordinator", "--metrics-port", "0"] + endpoints, prefix: ["/usr/bin/prlimit", "--nofile=48"])
        let frontend = try XCTUnwrap(tight.line("frontend "), tight.log)
        let metrics = try metricsURL(tight)
        let port = try XCTUnwrap(Int(frontend.split(separator: ":").last ?? ""))
        let held = (0..<48).map { _ in connectedLoopbackSocket(port: port) }
        XCTAssertTrue(tight.waitForLog("cannot accept client connections on the frontend socket: Too many open files (this process may open 48): raise the open-file limit (ulimit -n, or the container's nofile)"), tight.log)
        let metricsPort = try XCTUnwrap(Int(metrics.split(separator: ":").last ?? ""))
        let probe = connectedLoopbackSocket(port: metricsPort)
        XCTAssertTrue(tight.waitForLog("the metrics port 0.0.0.0:\(metricsPort) cannot accept connections: Too many open files; trying again each second"), tight.log)
        for fd in held + [probe] where fd >= 0 { close(fd) }
        // Connections closed without a word (as a TCP health check's) are counted as that.
        XCTAssertTrue(reads(metrics, #"script_cluster_connections_total{socket="frontend",event="closed_before_handshake"}"#, 1, atLeast: true),
                      (try? HTTPProbe.get(metrics + "/metrics").body) ?? "no scrape: \(tight.log)")
        XCTAssertTrue(reads(metrics, #"script_cluster_connections_total{socket="frontend",event="accept_failed"}"#, 1, atLeast: true),
                      (try? HTTPProbe.get(metrics + "/metrics").body) ?? "no scrape: \(tight.log)")
        XCTAssertTrue(tight.waitForLog("the metrics port 0.0.0.0:\(metricsPort) serves again"), tight.log)
        let client = try ClusterClient(endpoint: frontend)
        XCTAssertEqual(try client.status()?.workers, 0, "the coordinator answers once the connections are gone")
        tight.signal(SIGTERM)
        XCTAssertEqual(tight.wait(), 0)
    }

    /// A TCP health check (connect, close) on the frontend, the backend or a worker's data socket
    /// is counted as a connection closed before its handshake, with no warning, however often it
    /// comes: it was counted `refused` and said once a minute among the refusals. Bytes that are
    /// not ZeroMQ's are still refused and said.
    func testTCPHealthChecksAreNotRefusals() throws {
        let cluster = try TestCluster(workers: 1, extra: ["--metrics-port", "0"], workerExtra: ["--metrics-port", "0"])
        defer { cluster.stop() }
        let coordinator = try metricsURL(cluster.coordinator), worker = try metricsURL(cluster.workers[0])
        let data = try XCTUnwrap(cluster.coordinator.log.firstMatch(of: /worker w1 registered \(.*data (tcp:\/\/[^ ,)]+)/)?.1, cluster.coordinator.log)
        let sockets = [("frontend", cluster.frontend, coordinator), ("backend", cluster.backend, coordinator), ("data", String(data), worker)]
        for (name, endpoint, metrics) in sockets {
            let port = try XCTUnwrap(Int(endpoint.split(separator: ":").last ?? ""), endpoint)
            for _ in 0..<3 { close(connectedLoopbackSocket(port: port)) }
            XCTAssertTrue(reads(metrics, #"script_cluster_connections_total{socket="\#(name)",event="closed_before_handshake"}"#, 3), name)
            XCTAssertNil(value(try scrape(metrics), #"script_cluster_connections_total{socket="\#(name)",event="refused"}"#), name)
        }
        XCTAssertFalse(cluster.coordinator.log.contains("refused a"), cluster.coordinator.log)
        XCTAssertFalse(cluster.workers[0].log.contains("refused a"), cluster.workers[0].log)
        // A greeting no ZeroMQ peer sends (ZMTP 3.0, a mechanism named XXXX) is refused, and said.
        let port = try XCTUnwrap(Int(cluster.frontend.split(separator: ":").last ?? ""))
        let fd = connectedLoopbackSocket(port: port)
        let greeting: [UInt8] = [0xff] + [UInt8](repeating: 0, count: 8) + [0x7f, 3, 0] + Array("XXXX".utf8) + [UInt8](repeating: 0, count: 48)
        XCTAssertEqual(greeting.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }, greeting.count)
        XCTAssertTrue(reads(coordinator, #"script_cluster_connections_total{socket="frontend",event="refused"}"#, 1), (try? scrape(coordinator)) ?? "")
        close(fd)
        XCTAssertTrue(cluster.coordinator.waitForLog("refused a client connection on the frontend socket at the handshake: not a ZeroMQ peer", timeout: 5), cluster.coordinator.log)
    }

    /// A worker whose BLAS runs other kernels than the others' (forced here with
    /// OPENBLAS_CORETYPE) computes other last bits: the coordinator warns when it registers,
    /// naming both kernels, and still counts it.
    func testAWorkerWithOtherBLASKernelsIsWarnedOf() throws {
        #if arch(x86_64)
        let forced = BLAS.kernel.contains("Prescott") ? "Core2" : "Prescott"
        let cluster = try TestCluster(workers: 1, heartbeatMs: 1000)
        defer { cluster.stop() }
        try cluster.addWorker(prefix: ["/usr/bin/env", "OPENBLAS_CORETYPE=\(forced)"])
        try cluster.waitForWorkers(2)
        XCTAssertTrue(cluster.coordinator.waitForLog("worker w2 computes with", timeout: 5), cluster.coordinator.log)
        XCTAssertTrue(cluster.coordinator.log.contains("kernel \(forced), worker w1 with "), cluster.coordinator.log)
        #endif
    }

    /// A worker stopped (SIGSTOP) while three AnyRes requests are sent one after another, within
    /// its liveness (6 s): the shards it held are copied to the other worker and each request is
    /// answered within half of that, the coordinator counts the copies and never gives the worker
    /// up (it counts it silent meanwhile), and the stopped worker, continued, serves again. Without the copies the first request
    /// waited until the stopped worker was given up (6 s). The bounds are fractions of the
    /// liveness, not of a request's time, so a loaded machine does not fail them.
    func testAStoppedWorkersShardsAreCopiedToAnIdleWorker() throws {
        let cluster = try TestCluster(workers: 2, heartbeatMs: 2000, extra: ["--metrics-port", "0"])
        defer { cluster.stop() }
        let client = try cluster.client()
        defer { client.close() }
        let req = Requests.sample(.anyres, seed: 3)
        let want = try Requests.inProcess(req, 40)
        func prune(_ id: String) throws -> Double {
            let start = Date()
            let reply = try client.prune(PruneSubmission(id: id, request: req, budget: .count(40)))
            guard case .result(let r) = reply else { XCTFail("\(id): \(reply)"); return 0 }
            XCTAssertEqual(r.indices, want, id)
            return Date().timeIntervalSince(start)
        }
        for i in 0..<4 { _ = try prune("paced-\(i)") }
        cluster.workers[1].signal(SIGSTOP)
        let stopped = Date()
        let slowest = try (0..<3).map { try prune("stalled-\($0)") }.max()!
        let during = Date().timeIntervalSince(stopped)
        let metrics = try scrape(try metricsURL(cluster.coordinator))
        // Silent past a beat and a half (3 s), it is counted suspect until it speaks again.
        XCTAssertTrue(reads(try metricsURL(cluster.coordinator), "script_cluster_workers_silent", 1, timeout: 5 - Date().timeIntervalSince(stopped)),
                      "not counted silent")
        cluster.workers[1].signal(SIGCONT)
        XCTAssertTrue(reads(try metricsURL(cluster.coordinator), "script_cluster_workers_silent", 0), "still counted silent")
        XCTAssertLessThan(slowest, 3, "answered by the copies, not when the worker was given up")
        XCTAssertLessThan(during, 6, "all three while the worker was stopped")
        XCTAssertEqual(value(metrics, #"script_cluster_worker_departures_total{reason="silent"}"#) ?? 0, 0, "never given up: \(metrics)")
        XCTAssertGreaterThanOrEqual(value(metrics, #"script_cluster_shard_hedges_total{outcome="won"}"#) ?? 0, 1, metrics)
        try cluster.waitForWorkers(2)
        for i in 0..<3 { _ = try prune("after-\(i)") }
    }

    /// A worker whose coordinator is killed while it holds a request's shard bytes lets go of
    /// them once the new coordinator answers its beat with `disconnect`, where it kept them to
    /// the request's deadline (a minute here); `script_cluster_worker_bytes_held` shows both.
    /// The request waits: the other worker, stopped, holds a tile it has not read (a direct
    /// tile is not copied before it is read), so the scraped worker's tiles wait, read, for
    /// their weights; beats of 5 s keep the stopped one from being given up meanwhile.
    func testAWorkerLetsGoOfItsBytesWhenItsCoordinatorIsKilled() throws {
        let cluster = try TestCluster(workers: 0, heartbeatMs: 5000, workerExtra: ["--metrics-port", "0"])
        defer { cluster.stop() }
        let worker = try metricsURL(try cluster.addWorker())
        let stopped = try cluster.addWorker()
        try cluster.waitForWorkers(2)
        XCTAssertTrue(reads(worker, "script_cluster_worker_bytes_held", 0), "idle")
        stopped.signal(SIGSTOP)
        defer { stopped.signal(SIGCONT) }  // where an assertion ended the test early
        let submission = PruneSubmission(id: "held", request: Requests.sample(.anyres, seed: 6), budget: .count(40), deadlineMs: 60_000,
                                         transfer: .direct)
        let frontend = cluster.frontend
        let ended = DispatchSemaphore(value: 0)
        Thread {
            defer { ended.signal() }
            guard let client = try? ClusterClient(endpoint: frontend) else { return }
            _ = try? client.prune(submission, timeoutMs: 20_000)
            client.close()
        }.start()
        XCTAssertTrue(reads(worker, "script_cluster_worker_bytes_held", 0, atLeast: true, timeout: 10), "the worker holds its tiles")
        Thread.sleep(forTimeInterval: 0.5)
        XCTAssertTrue(reads(worker, "script_cluster_worker_bytes_held", 0, atLeast: true), "the request waits")
        cluster.coordinator.signal(SIGKILL)
        XCTAssertEqual(cluster.coordinator.wait(timeout: 5), -SIGKILL)
        try cluster.restartCoordinator()
        XCTAssertTrue(reads(worker, "script_cluster_worker_bytes_held", 0, timeout: 15), "the bytes of jobs no coordinator knows are kept")
        // The client sends the request again to the new coordinator, answered once both run.
        stopped.signal(SIGCONT)
        XCTAssertEqual(ended.wait(timeout: .now() + 30), .success)
    }

    /// A client that sends and never reads: once its unread replies fill libzmq's queue for it,
    /// the coordinator drops what does not fit (counted, said once) where it waited 200 ms for
    /// room at every reply, and every other client and worker waited behind it (a status took
    /// 300 ms, or never came).
    func testAClientThatStopsReadingHoldsUpNoOne() throws {
        let cluster = try TestCluster(workers: 0, heartbeatMs: 1000, extra: ["--metrics-port", "0"])
        defer { cluster.stop() }
        let ctx = ZMQContext()
        let deaf = try ZMQSocket(context: ctx, type: .dealer)
        defer { deaf.close(); ctx.close() }
        try deaf.setLinger(milliseconds: 0)
        try deaf.setReceiveHighWaterMark(1)
        try deaf.connect(cluster.frontend)
        let client = try cluster.client()
        defer { client.close() }
        let ping = [Frame([]), Frame(Envelope.encode(ProtocolVersion.header("status", id: "deaf")))]
        var slowest = 0.0
        for _ in 0..<8 {
            // Without waiting: a coordinator stuck on its replies must fail the test, not hang it.
            var sent = 0
            let end = Date().addingTimeInterval(5)
            while sent < 25_000, Date() < end { if try deaf.send(ping, dontWait: true) { sent += 1 } }
            let start = Date()
            XCTAssertNotNil(try client.status(timeoutMs: 2000), "a status while the deaf client's replies pile up")
            slowest = max(slowest, Date().timeIntervalSince(start))
        }
        XCTAssertLessThan(slowest, 1, "no status waits behind the deaf client's replies")
        let metrics = try scrape(try metricsURL(cluster.coordinator))
        XCTAssertGreaterThan(value(metrics, #"script_cluster_replies_dropped_total{reason="client_not_reading"}"#) ?? 0, 0, metrics)
        let said = cluster.coordinator.log.components(separatedBy: "does not read its replies").count - 1
        XCTAssertEqual(said, 1, "said once a minute: \(cluster.coordinator.log.suffix(2000))")
        // A client gone before its answer (no worker here: the answer is its deadline's
        // `timeout`) is counted apart, and is no reason for a warning.
        let gone = try ZMQSocket(context: ctx, type: .dealer)
        try gone.setLinger(milliseconds: 0)
        try gone.connect(cluster.frontend)
        try gone.send([[]] + PruneSubmission(id: "gone", request: Requests.sample(.image, seed: 3), budget: .count(8), deadlineMs: 1500).frames())
        let coordinator = try metricsURL(cluster.coordinator)
        XCTAssertTrue(reads(coordinator, "script_cluster_requests_in_flight", 1), "the request has arrived")
        gone.close()
        XCTAssertTrue(reads(coordinator, #"script_cluster_replies_dropped_total{reason="client_gone"}"#, 1), "no client_gone counted")
        XCTAssertEqual(cluster.coordinator.log.components(separatedBy: "does not read its replies").count - 1, 1)
    }

    func testCurveLetsInAllowedKeysAndRefusesOthers() throws {
        let keys = try Keys()
        defer { try? FileManager.default.removeItem(atPath: keys.dir) }
        let cluster = try TestCluster(workers: 1, heartbeatMs: 1000, extra: keys.coordinator + ["--metrics-port", "0"],
                                      workerExtra: keys.worker("workers/w.key_secret", clients: "clients/alice.key") + ["--metrics-port", "0"], clientCurve: try keys.client("clients/alice.key_secret"))
        defer { cluster.stop() }
        let coordinator = try metricsURL(cluster.coordinator)
        let req = Requests.sample(.anyres, seed: 32)
        let want = try Requests.inProcess(req, 24)
        let alice = try cluster.client()
        defer { alice.close() }
        for transfer in Transfer.allCases {
            let reply = try alice.prune(PruneSubmission(id: "curve-\(transfer)", request: req, budget: .count(24), transfer: transfer))
            guard case .result(let r) = reply else { return XCTFail("\(transfer): \(reply)") }
            XCTAssertEqual(r.indices, want, "\(transfer)")
        }
        // The access line, in text (this coordinator's log format).
        XCTAssertTrue(cluster.coordinator.waitForLog("request curve-direct ok: \(req.features.rows) -> 24 tokens, \(req.shards!.count) shards on 1 worker, ",
                                                     timeout: 5), cluster.coordinator.log)

        var options = ClusterClient.Options()
        options.curve = try keys.client("stranger.key_secret")
        let stranger = try ClusterClient(endpoint: cluster.frontend, options: options)
        defer { stranger.close() }
        let start = Date()
        XCTAssertThrowsError(try stranger.prune(PruneSubmission(id: "stranger", request: req, budget: .count(24)))) { error in
            XCTAssertEqual(error as? ConnectionRefused, ConnectionRefused(endpoint: cluster.frontend, by: .coordinator), "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5, "refused at once, not after the timeout")
        let strangerKey = try keys.publicKey("stranger")
        XCTAssertTrue(cluster.coordinator.waitForLog(strangerKey, timeout: 5), "the coordinator logs the refused key: \(cluster.coordinator.log)")
        XCTAssertTrue(reads(coordinator, #"script_cluster_connections_total{socket="frontend",event="refused"}"#, 1, atLeast: true))

        // A worker with the stranger's key is not let in either.
        let intruder = try ClusterProcess(["worker", "--connect", cluster.backend, "--name", "intruder"] + keys.worker("stranger.key_secret"))
        defer { intruder.signal(SIGTERM); intruder.wait() }
        XCTAssertTrue(cluster.coordinator.waitForLog(strangerKey, count: 2, timeout: 5), cluster.coordinator.log)
        XCTAssertTrue(intruder.waitForLog("refused this worker at the CURVE handshake: its public key \(strangerKey) is not on the coordinator's allow-list", timeout: 5), intruder.log)
        // An allowed worker given another server's key: the coordinator cannot read its hello.
        let misled = try ClusterProcess(["worker", "--connect", cluster.backend, "--name", "misled", "--data-bind", "none",
                                         "--curve-secret", keys.path("workers/w.key_secret"), "--curve-server-key", keys.path("stranger.key")])
        defer { misled.signal(SIGTERM); misled.wait() }
        XCTAssertTrue(misled.waitForLog("failed the CURVE handshake: the coordinator key given to this worker (--curve-server-key) is not that coordinator's", timeout: 10), misled.log)
        XCTAssertEqual(try alice.status()?.workers, 1)
        XCTAssertTrue(reads(coordinator, #"script_cluster_connections_total{socket="backend",event="refused"}"#, 1, atLeast: true))

        // Bob is on the coordinator's list, not on the worker's.
        let worker = try metricsURL(cluster.workers[0])
        options.curve = try keys.client("clients/bob.key_secret")
        let bob = try ClusterClient(endpoint: cluster.frontend, options: options)
        defer { bob.close() }
        guard case .result(let inline) = try bob.prune(PruneSubmission(id: "bob-inline", request: req, budget: .count(24))) else {
            return XCTFail("bob's inline request")
        }
        XCTAssertEqual(inline.indices, want)
        let direct = Date()
        XCTAssertThrowsError(try bob.prune(PruneSubmission(id: "bob-direct", request: req, budget: .count(24), transfer: .direct))) { error in
            XCTAssertEqual((error as? ConnectionRefused)?.server, .worker, "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(direct), 5, "refused at once, not after the deadline")
        let bobKey = try keys.publicKey("clients/bob")
        XCTAssertTrue(cluster.workers[0].waitForLog(bobKey, timeout: 5), "the worker logs the refused key: \(cluster.workers[0].log)")
        XCTAssertTrue(reads(worker, #"script_cluster_connections_total{socket="data",event="refused"}"#, 1, atLeast: true))
    }

    /// A coordinator and a worker in a cgroup with a memory limit (a container's) hold what they
    /// take in at once within it, and say so: the coordinator half of it for requests and frames
    /// no larger (which it tells its clients, who refuse larger ones before sending them), the
    /// worker a quarter for shard bytes that came before their jobs. A real cgroup (v1 or v2) the
    /// test makes: it skips where it may not make one.
    func testProcessesHoldWhatTheyTakeInWithinTheirMemoryLimit() throws {
        let group = try MemoryCgroup(limit: 500_000_000)
        defer { group.remove() }
        let limit = try XCTUnwrap(group.limit)
        let (fe, be) = ("tcp://127.0.0.1:\(freePort())", "tcp://127.0.0.1:\(freePort())")
        let coordinator = try ClusterProcess(["coordinator", "--frontend", fe, "--backend", be], prefix: group.prefix)
        defer { coordinator.signal(SIGTERM); coordinator.wait() }
        XCTAssertNotNil(coordinator.line("frontend "), coordinator.log)
        XCTAssertTrue(coordinator.waitForLog("memory limit 500 MB (its cgroup): holding at most 250 MB of requests at once (more are answered busy), frames of at most 250 MB and 62.5 MB of results", timeout: 5), coordinator.log)
        let client = try ClusterClient(endpoint: fe)
        defer { client.close() }
        XCTAssertEqual(try client.status()?.maxMessageBytes, limit / 2)
        let worker = try ClusterProcess(["worker", "--connect", be, "--name", "held"], prefix: group.prefix)
        defer { worker.signal(SIGTERM); worker.wait() }
        XCTAssertTrue(worker.waitForLog("memory limit 500 MB (its cgroup): holding at most 125 MB of shard bytes that came before their jobs", timeout: 5), worker.log)
        // The fault tests' poison shard: its 13,000 x 13,000 graph (676 MB) would have killed the
        // worker (and each after it); the worker said its limit, so the coordinator refuses it at
        // once, and the worker serves on.
        XCTAssertTrue(coordinator.waitForLog("worker held registered (credit", timeout: 10), coordinator.log)
        XCTAssertTrue(coordinator.log.contains(", memory limit 500 MB"), coordinator.log)
        let n = 26_000, d = 8
        var rng = SplitMix64(seed: 7)
        let poison = PruneRequest(features: Matrix(rows: n, cols: d, values: (0..<(n * d)).map { _ in Float(rng.next() >> 40) / Float(1 << 24) - 0.5 }))
        guard case .error(_, let e) = try client.prune(PruneSubmission(id: "poison", request: poison, budget: .count(10), deadlineMs: 20_000)) else {
            return XCTFail("the poison request was answered")
        }
        XCTAssertEqual(e.code, .tooLarge, e.message)
        XCTAssertTrue(e.message.contains("shard 0 (26000 tokens of width 8) needs 677 MB at the least (its features and graph), more than any worker may hold (the only worker's memory limit: 500 MB)"), e.message)
        XCTAssertTrue(worker.isRunning)
        XCTAssertEqual(try client.status()?.workers, 1)
        // A worker with room for it (outside the cgroup) joins: the shard goes to it, not to the
        // small one.
        let roomy = try ClusterProcess(["worker", "--connect", be, "--name", "roomy", "--data-bind", "none"])
        defer { roomy.signal(SIGTERM); roomy.wait() }
        XCTAssertTrue(coordinator.waitForLog("worker roomy registered", timeout: 10), coordinator.log)
        guard case .result(let served) = try client.prune(PruneSubmission(id: "poison-roomy", request: poison, budget: .count(10), deadlineMs: 20_000)) else {
            return XCTFail("the roomy worker did not answer: \(coordinator.log)")
        }
        XCTAssertEqual(served.workers, ["roomy"])
        XCTAssertEqual(served.indices.count, 10)
        XCTAssertTrue(worker.isRunning)
        let free = try ClusterProcess(["coordinator", "--frontend", "tcp://127.0.0.1:*", "--backend", "tcp://127.0.0.1:*"])
        defer { free.signal(SIGTERM); free.wait() }
        XCTAssertNotNil(free.line("backend "), free.log)
        XCTAssertFalse(free.log.contains("memory limit"), "outside the cgroup: \(free.log)")
    }
}

/// A memory cgroup the test makes (v2 at the root of the unified hierarchy, else v1's memory
/// controller), with `limit` bytes; throws `XCTSkip` where this process may not make one.
private struct MemoryCgroup {
    let path: String
    let limitFile: String

    init(limit: Int) throws {
        let name = "script-cluster-test-\(getpid())"
        for (base, file) in [("/sys/fs/cgroup", "memory.max"), ("/sys/fs/cgroup/memory", "memory.limit_in_bytes")] {
            guard FileManager.default.fileExists(atPath: base + "/" + (file == "memory.max" ? "cgroup.controllers" : file)) else { continue }
            let dir = base + "/" + name
            guard mkdir(dir, 0o755) == 0 || errno == EEXIST else { continue }
            if (try? "\(limit)\n".write(toFile: dir + "/" + file, atomically: false, encoding: .utf8)) != nil {
                (path, limitFile) = (dir, dir + "/" + file)
                return
            }
            rmdir(dir)
        }
        throw XCTSkip("no memory cgroup may be made here (run the tests as root to include this case)")
    }

    /// The limit the kernel set (rounded to pages).
    var limit: Int? { (try? String(contentsOfFile: limitFile, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } }

    /// Runs a command inside the cgroup.
    var prefix: [String] { ["/bin/sh", "-c", "echo $$ > \(path)/cgroup.procs && exec \"$@\"", "sh"] }

    /// Removes it once its processes are gone (they are moved out by ending).
    func remove() {
        for _ in 0..<50 where rmdir(path) != 0 { Thread.sleep(forTimeInterval: 0.1) }
    }
}
