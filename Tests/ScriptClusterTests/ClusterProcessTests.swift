import Foundation
import XCTest
import ScriptCore
import ScriptLoad
import ScriptSynth
import ScriptTransport
import ScriptWire
import ScriptTestSupport
@testable import ScriptProtocol
@testable import ScriptCoordinator
@testable import ScriptWorker
@testable import ScriptClient

/// Real coordinator and worker processes over ZeroMQ on loopback.
final class ClusterProcessTests: XCTestCase {
    /// A directory holding `sample --kind image` files (written by the CLI), removed after the test.
    private func imageSample(_ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(getpid())").path
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertEqual(try ClusterProcess(["sample", "--kind", "image", "--out", dir]).wait(timeout: 60), 0)
        return dir
    }

    private func sample(_ kind: SampleKind, seed: UInt64 = 1) -> PruneRequest { Requests.sample(kind, seed: seed) }

    private func inProcess(_ r: PruneRequest, _ k: Int) throws -> [Int] { try Requests.inProcess(r, k) }

    private func result(_ reply: ClusterReply, file: StaticString = #filePath, line: UInt = #line) -> ClusterResult? {
        switch reply {
        case .result(let r): return r
        case .error(_, let e): XCTFail("error reply: \(e)", file: file, line: line)
        case .status, .placement: XCTFail("not a result", file: file, line: line)
        }
        return nil
    }

    /// `up` with 1, 2 and 3 workers returns what in-process sharded Script and Script+ return.
    func testUpMatchesInProcessPruneWithOneTwoAndThreeWorkers() throws {
        let requests: [(String, PruneRequest, Int)] = [("image", sample(.image), 16), ("anyres", sample(.anyres), 40), ("video", sample(.video), 60)]
        let expected = try requests.map { try inProcess($0.1, $0.2) }
        var plus = PruneOptions()
        plus.method = .scriptPlus
        let expectedPlus = try requests.map { try Requests.inProcess($0.1, $0.2, options: plus) }
        XCTAssertNotEqual(expectedPlus, expected, "Script+ keeps other tokens than Script on these samples")
        for n in 1...3 {
            let up = try ClusterProcess(["up", "--workers", "\(n)", "--frontend", "tcp://127.0.0.1:*", "--backend", "tcp://127.0.0.1:*"])
            guard up.line("all \(n) workers ready", timeout: 30) != nil, let fe = up.line("cluster up: frontend ")?.split(separator: ",").first else {
                return XCTFail("up did not start: \(up.output)")
            }
            let client = try ClusterClient(endpoint: String(fe))
            for ((name, req, k), want) in zip(requests, expected) {
                guard let r = result(try client.prune(PruneSubmission(id: "\(name)-\(n)", request: req, budget: .count(k)))) else { continue }
                XCTAssertEqual(r.indices, want, "\(name) with \(n) workers")
                XCTAssertLessThanOrEqual(Set(r.workers).count, n)
            }
            for ((name, req, k), want) in zip(requests, expectedPlus) {
                let sub = PruneSubmission(id: "\(name)-plus-\(n)", request: req, budget: .count(k), options: plus)
                XCTAssertEqual(result(try client.prune(sub))?.indices, want, "script+ \(name) with \(n) workers")
            }
            client.close()
            up.signal(SIGTERM)
            XCTAssertEqual(up.wait(), 0, "up exits cleanly on SIGTERM")
        }
    }

    /// A worker of `up` killed: `up` stops the rest and exits non-zero with one line that names
    /// the child and how it ended.
    func testUpExitsWithOneLineWhenAChildDies() throws {
        let up = try ClusterProcess(["up", "--workers", "2", "--frontend", "tcp://127.0.0.1:*", "--backend", "tcp://127.0.0.1:*"])
        guard up.line("all 2 workers ready", timeout: 30) != nil else { return XCTFail("up did not start: \(up.output)") }
        let children = Self.children(of: up.pid, role: "worker")
        XCTAssertEqual(children.count, 2)
        guard let victim = children.first else { return }
        kill(victim, SIGKILL)
        let (status, seconds) = up.waitTimed(timeout: 15)
        XCTAssertNotEqual(status, 0)
        XCTAssertLessThan(seconds, 15)
        let lines = up.log.split(separator: "\n").filter { $0.hasPrefix("Error:") }
        XCTAssertEqual(lines, ["Error: child process \(victim) (worker) was killed by signal 9 (Killed)"])
        XCTAssertTrue(Self.children(of: up.pid, role: "worker").isEmpty, "the other worker is stopped too")
    }

    /// `up`'s processes share its memory (its cgroup's limit, or the machine's): each child is
    /// given an equal share with `--memory-limit`, where each took the whole before; a role whose
    /// variable sets its limit keeps that.
    func testUpGivesEachChildAnEqualShareOfItsMemory() throws {
        for variable in [false, true] {
            let up = try ClusterProcess(["up", "--workers", "2", "--frontend", "tcp://127.0.0.1:*", "--backend", "tcp://127.0.0.1:*"],
                                        prefix: variable ? ["/usr/bin/env", "SCRIPT_CLUSTER_WORKER_MEMORY_LIMIT=123456789"] : [])
            defer { up.signal(SIGTERM); XCTAssertEqual(up.wait(), 0) }
            guard up.line("all 2 workers ready", timeout: 30) != nil else { return XCTFail("up did not start: \(up.output)") }
            let share = try XCTUnwrap(MemoryLimit.detected).bytes / 3
            for role in ["coordinator", "worker"] {
                let children = Self.children(of: up.pid, role: role)
                XCTAssertEqual(children.count, role == "worker" ? 2 : 1)
                for pid in children {
                    let args = (FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data()).split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
                    let given = args.firstIndex(of: "--memory-limit").flatMap { args.indices.contains($0 + 1) ? Int(args[$0 + 1]) : nil }
                    XCTAssertEqual(given, variable && role == "worker" ? nil : share, "\(args)")
                }
            }
            if variable {
                XCTAssertEqual(up.log.components(separatedBy: "memory limit 123 MB (--memory-limit)").count, 3, up.log)
            }
        }
    }

    /// A child of `up` that cannot serve (its metrics port taken): `up` exits 3 with one line
    /// that names the child and gives the child's own reason, for a coordinator and for a worker.
    func testUpSaysInOneLineWhyAChildCouldNotServe() throws {
        let (fd, port) = try Self.listeningSocket()
        defer { close(fd) }
        for (base, child) in [(port, "coordinator 1"), (port - 1, "worker")] {
            let up = try ClusterProcess(["up", "--workers", "1", "--frontend", "tcp://127.0.0.1:*", "--backend", "tcp://127.0.0.1:*",
                                         "--metrics-port", "\(base)"])
            let (status, seconds) = up.waitTimed(timeout: 30)
            XCTAssertEqual(status, 3, up.log)
            XCTAssertLessThan(seconds, 30)
            let lines = up.log.split(separator: "\n").filter { $0.hasPrefix("Error:") }
            XCTAssertEqual(lines, ["Error: \(child) exited with status 3: cannot serve metrics on 0.0.0.0:\(port): the port is in use"])
        }
    }

    /// A TCP socket listening on every interface at a free port whose neighbour below is free
    /// too, both under the kernel's ephemeral range (32768 and up), where no other process's
    /// wildcard bind or outgoing connection is given them: a kernel-chosen port once had its
    /// neighbour taken so, and the coordinator that the test meant to serve could not.
    private static func listeningSocket() throws -> (Int32, Int) {
        for _ in 0..<50 {
            let port = Int.random(in: 20_000..<32_000)
            guard let below = bound(port: port - 1, listening: false) else { continue }
            close(below)
            if let fd = bound(port: port, listening: true) { return (fd, port) }
        }
        throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "no free TCP port to listen on"])
    }

    /// A TCP socket bound to `port` on every interface (and listening), or nil where it is taken.
    private static func bound(port: Int, listening: Bool) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        let ok = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        if ok && (!listening || listen(fd, 1) == 0) { return fd }
        close(fd)
        return nil
    }

    /// The `script-cluster ROLE` processes whose parent is `parent`.
    private static func children(of parent: Int32, role: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")"),
                  let cmd = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            let args = cmd.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return fields.count > 1 && Int32(fields[1]) == parent && args.count > 1 && args[1] == role
        }.sorted()
    }

    /// `up --coordinators 2` as the README gives it, without `--frontend`: the coordinators
    /// listen on 5555 and 5556 (both bound 5555, and `up` exited 3 after a second).
    func testUpWithTwoCoordinatorsAndTheDefaultFrontend() throws {
        let up = try ClusterProcess(["up", "--coordinators", "2", "--workers", "1"])
        defer { up.signal(SIGTERM); XCTAssertEqual(up.wait(), 0) }
        XCTAssertNotNil(up.line("all 1 workers ready", timeout: 30), up.output)
        XCTAssertNotNil(up.line("cluster up: frontend tcp://127.0.0.1:5555,tcp://127.0.0.1:5556, "), up.output)
    }

    /// Two coordinators share two workers (each worker registers with both); requests spread
    /// over both coordinators, inline and direct, get what in-process Script keeps. Backends and
    /// the workers' data sockets are `up`'s defaults for clients on this machine: private Unix
    /// sockets.
    func testTwoCoordinatorsShareOnePoolOfWorkers() throws {
        let requests: [(PruneRequest, Int)] = [(sample(.anyres, seed: 21), 40), (sample(.video, seed: 22), 60), (sample(.image, seed: 23), 16)]
        let expected = try requests.map { try inProcess($0.0, $0.1) }
        let up = try ClusterProcess(["up", "--coordinators", "2", "--workers", "2", "--frontend", "tcp://127.0.0.1:*"])
        defer { up.signal(SIGTERM); XCTAssertEqual(up.wait(), 0) }
        guard up.line("all 2 workers ready", timeout: 30) != nil, let banner = up.line("cluster up: frontend "),
              let fe = banner.split(separator: " ").first else { return XCTFail("up did not start: \(up.output)") }
        XCTAssertNotNil(banner.range(of: "backend ipc://@script-cluster-\(up.pid)-[0-9a-f]+-backend-1,ipc://@script-cluster-\(up.pid)-[0-9a-f]+-backend-2,",
                                     options: .regularExpression), banner)
        XCTAssertEqual(up.output.split(separator: "\n").filter { $0.hasPrefix("data ipc://@script-cluster-\(up.pid)-") }.count, 2, "\(up.output)")
        let endpoints = fe.split(separator: ",").map(String.init)
        XCTAssertEqual(endpoints.count, 2)
        let client = try ClusterClient(endpoints: endpoints)
        defer { client.close() }
        for c in endpoints.indices { XCTAssertEqual(try client.status(endpoint: c)?.workers, 2, "coordinator \(c)") }
        var served = Set<String>()
        for round in 0..<2 {
            for (i, (req, k)) in requests.enumerated() {
                for transfer in Transfer.allCases {
                    guard let r = result(try client.prune(PruneSubmission(id: "two-\(round)-\(i)-\(transfer)", request: req, budget: .count(k),
                                                                          transfer: transfer))) else { continue }
                    XCTAssertEqual(r.indices, expected[i], "request \(i), \(transfer)")
                    served.formUnion(r.workers)
                }
            }
        }
        XCTAssertEqual(served.count, 2, "both workers served")
        let counts = try endpoints.indices.map { try client.status(endpoint: $0)?.served ?? 0 }
        XCTAssertTrue(counts.allSatisfy { $0 > 0 }, "both coordinators served: \(counts)")
    }

    /// A cluster on IPv6 loopback (`tcp://[::1]`, which libzmq takes only with its IPv6 option):
    /// the worker registers, and requests inline and direct (the worker's data socket on `[::1]`
    /// too) get what in-process Script keeps.
    func testAClusterOnIPv6ServesInlineAndDirect() throws {
        let cluster = try TestCluster(workers: 1, wildcard: true, host: "[::1]")
        defer { cluster.stop() }
        XCTAssertTrue(cluster.frontend.hasPrefix("tcp://[::1]:"), cluster.frontend)
        XCTAssertTrue(cluster.workers[0].output.contains("data tcp://[::1]:"), cluster.workers[0].output)
        let client = try cluster.client()
        defer { client.close() }
        let req = sample(.anyres, seed: 31)
        let want = try inProcess(req, 40)
        for transfer in Transfer.allCases {
            let r = result(try client.prune(PruneSubmission(id: "v6-\(transfer)", request: req, budget: .count(40), transfer: transfer)))
            XCTAssertEqual(r?.indices, want, "\(transfer)")
        }
    }

    /// A worker that advertises a data endpoint this client cannot reach (a closed port: every
    /// connection attempt is refused), and no other: a direct request fails within seconds
    /// (`shard_failed`, naming the address; at the earliest 3 s after the coordinator started,
    /// when its workers have had their liveness to join it), not after the connect timeout nor
    /// at its deadline, and leaves nothing in flight; the client's next one fails at once (it names the
    /// address in `avoid`).
    func testADataSocketTheClientCannotReachFailsInSeconds() throws {
        let cluster = try TestCluster(workers: 1, workerExtra: ["--data-advertise", "tcp://127.0.0.1:1"])
        defer { cluster.stop() }
        let client = try cluster.client()
        defer { client.close() }
        func unservable(_ id: String, within seconds: Range<Double>) throws {
            let start = Date()
            let far = PruneSubmission(id: id, request: sample(.image, seed: 30), budget: .count(16), deadlineMs: 30_000, transfer: .direct)
            guard case .error(_, let e) = try client.prune(far) else { return XCTFail("\(id) was answered") }
            XCTAssertEqual(e.code, .shardFailed, "\(e)")
            XCTAssertTrue(e.message.contains("cannot reach the data socket of any worker (tcp://127.0.0.1:1)"), e.message)
            let took = Date().timeIntervalSince(start)
            XCTAssertTrue(seconds.contains(took), "\(id) failed after \(took) s")
        }
        try unservable("far", within: 1..<4)
        XCTAssertEqual(client.unreachableData, ["tcp://127.0.0.1:1"])
        try unservable("far-again", within: 0..<2)
        try waitUntilNothingInFlight(client)
        // `submit`, a process that exits right after: one line, status 3.
        let dir = try imageSample("far")
        let submit = try ClusterProcess(["submit", "--connect", cluster.frontend, "--features", dir + "/features.npy", "--budget", "16",
                                         "--direct"])
        XCTAssertEqual(submit.wait(timeout: 60), 3, submit.log)
        XCTAssertTrue(submit.log.contains("shard_failed: the client cannot reach the data socket of any worker (tcp://127.0.0.1:1)"), submit.log)
        try waitUntilNothingInFlight(client)
    }

    /// Coordinator lists whose first is not there (a name that does not resolve, a port nobody
    /// listens on): `submit` goes to the one that connects, at once. It went to the first and
    /// waited for its liveness to run out (over 5 s for every `submit`).
    func testSubmitGoesToTheCoordinatorThatIsThere() throws {
        let cluster = try TestCluster(workers: 1)
        defer { cluster.stop() }
        let dir = try imageSample("there")
        for absent in ["tcp://no-such-host.invalid:5555", "tcp://127.0.0.1:1"] {
            let start = ContinuousClock.now
            let submit = try ClusterProcess(["submit", "--connect", absent + "," + cluster.frontend, "--features", dir + "/features.npy",
                                             "--budget", "16"])
            XCTAssertEqual(submit.wait(timeout: 60), 0, submit.log)
            XCTAssertLessThan(ContinuousClock.now - start, .milliseconds(3500), "\(absent) first: \(submit.log)")
        }
    }

    /// A `submit` that did not run for longer than its liveness (stopped, frozen with its
    /// container) while its coordinator held the request: it heard nothing because it did not
    /// listen, so it does not give the coordinator up, and its one try is answered. It replaced the
    /// connection and spent the try before, and failed.
    func testAPausedSubmitDoesNotGiveItsCoordinatorUp() throws {
        let cluster = try TestCluster(workers: 1, heartbeatMs: 3000)
        defer { cluster.stop() }
        let dir = try imageSample("paused")
        let worker = cluster.workers[0]
        worker.signal(SIGSTOP)  // the coordinator holds the request meanwhile
        defer { worker.signal(SIGCONT) }
        let submit = try ClusterProcess(["submit", "--connect", cluster.frontend, "--features", dir + "/features.npy",
                                         "--budget", "16", "--attempts", "1"])
        Thread.sleep(forTimeInterval: 1.5)
        submit.signal(SIGSTOP)
        Thread.sleep(forTimeInterval: 5)  // its liveness is 3 pings of 1 s
        submit.signal(SIGCONT)
        Thread.sleep(forTimeInterval: 0.5)
        worker.signal(SIGCONT)
        XCTAssertEqual(submit.wait(timeout: 30), 0, submit.log)
        XCTAssertTrue(submit.output.contains("\"indices\""), submit.output)
    }

    /// A client idle for longer than its liveness, then asked again: its coordinator had nothing
    /// to answer meanwhile, so its silence is counted from the new request. It was counted from
    /// the last answer: the connection replaced and the request sent twice, or, with one try,
    /// given up at once.
    func testARequestAfterAnIdleSpellIsSentOnce() throws {
        let cluster = try TestCluster(workers: 1)
        defer { cluster.stop() }
        let client = try cluster.client(attempts: 1)
        defer { client.close() }
        let req = sample(.image, seed: 35)
        let want = try inProcess(req, 16)
        for i in 0..<2 {
            if i > 0 { Thread.sleep(forTimeInterval: 1.5) }  // liveness: 3 pings of 250 ms
            let r = result(try client.prune(PruneSubmission(id: "idle-\(i)", request: req, budget: .count(16), deadlineMs: 10_000)))
            XCTAssertEqual(r?.indices, want, "request \(i)")
        }
    }

    /// A coordinator with no worker holds a request until one comes or its deadline passes:
    /// `submit` says so within a second or two (its ping's answer), once, rather than being
    /// silent until the deadline; then a worker comes and the request is answered.
    func testSubmitToACoordinatorWithoutWorkersSaysSoWhileItWaits() throws {
        let cluster = try TestCluster(workers: 0)
        defer { cluster.stop() }
        let dir = try imageSample("workerless")
        let submit = try ClusterProcess(["submit", "--connect", cluster.frontend, "--features", dir + "/features.npy",
                                         "--budget", "16", "--deadline-ms", "20000"])
        let warning = "warning: \(cluster.frontend) has no worker: its requests wait for one until their deadline"
        XCTAssertTrue(submit.waitForLog(warning, timeout: 5), submit.log)
        Thread.sleep(forTimeInterval: 2.5)  // pinged again, with still no worker
        try cluster.addWorker()
        XCTAssertEqual(submit.wait(timeout: 30), 0, submit.log)
        XCTAssertTrue(submit.output.contains("\"indices\""), submit.output)
        XCTAssertEqual(submit.log.components(separatedBy: warning).count, 2, "said once: \(submit.log)")
    }

    /// Requests in similarity bf16 across real processes. A worker whose oneDNN is held to AVX2
    /// has no bfloat16 products: alone, it leaves `submit --similarity bf16` refused at once (exit
    /// 2, naming the way out). Beside a worker that has them, every job of such a request goes to
    /// that one, and the answer is in-process pruning's in bf16 (Script and Script+, inline and
    /// direct, f16 on the wire), which is not f32's on every sample.
    func testBFloat16RequestsGoOnlyToWorkersWithBFloat16Products() throws {
        if let reason = BFloat16Products.unavailableReason { throw XCTSkip("no bfloat16 products here: \(reason)") }
        let cluster = try TestCluster(workers: 0)
        defer { cluster.stop() }
        try cluster.addWorker(prefix: ["/usr/bin/env", "ONEDNN_MAX_CPU_ISA=AVX2"])
        try cluster.waitForWorkers(1)
        let dir = try imageSample("bf16")
        let refused = try ClusterProcess(["submit", "--connect", cluster.frontend, "--features", dir + "/features.npy", "--budget", "16",
                                          "--similarity", "bf16"])
        XCTAssertEqual(refused.wait(timeout: 30), 2, refused.log)
        XCTAssertTrue(refused.log.contains("options.similarity 'bf16' asks for bfloat16 products, and the only worker does not compute them"), refused.log)
        try cluster.addWorker()
        try cluster.waitForWorkers(2)
        let client = try cluster.client()
        defer { client.close() }
        let registered = cluster.coordinator.log.split(separator: "\n").filter { $0.contains(" registered (") }
        XCTAssertEqual(registered.map { $0.contains(", bfloat16 products)") }, [false, true], "\(registered)")
        var differs = false
        for method in [PruneMethod.script, .scriptPlus] {
            var options = PruneOptions()
            options.method = method
            options.similarity = .bf16
            for (name, req, k) in [("anyres", sample(.anyres), 40), ("video", sample(.video), 60)] {
                var rounded = req
                rounded.features = TensorCodec.encode(req.features, dtype: .f16).matrix()
                rounded.embeddings = req.embeddings.map { TensorCodec.encode($0, dtype: .f16).matrix() }
                rounded.query = req.query.map { TensorCodec.encode($0, dtype: .f16).matrix() }
                let want = try Requests.inProcess(rounded, k, options: options)
                var f32 = options
                f32.similarity = .f32
                differs = try differs || want != Requests.inProcess(rounded, k, options: f32)
                for transfer in Transfer.allCases {
                    let sub = PruneSubmission(id: "\(name)-\(method.rawValue)-\(transfer.rawValue)", request: req, budget: .count(k), options: options,
                                              dtype: .f16, transfer: transfer)
                    guard let r = result(try client.prune(sub)) else { continue }
                    XCTAssertEqual(r.indices, want, sub.id)
                    XCTAssertEqual(Set(r.workers), ["w2"], sub.id)
                }
            }
        }
        XCTAssertTrue(differs, "bf16 keeps other tokens than f32 on some sample")
    }

    /// With no coordinator there at all, `submit` ends at its request's deadline: nothing can be
    /// on its way back when no connection was ever up (it waited the deadline and 5 s more).
    func testSubmitWithNoCoordinatorEndsAtItsDeadline() throws {
        let dir = try imageSample("nobody")
        let start = ContinuousClock.now
        let submit = try ClusterProcess(["submit", "--connect", "tcp://127.0.0.1:1", "--features", dir + "/features.npy",
                                         "--budget", "16", "--deadline-ms", "1500"])
        XCTAssertEqual(submit.wait(timeout: 60), 3, submit.log)
        XCTAssertTrue(submit.log.contains("never connected to tcp://127.0.0.1:1 ("), submit.log)
        XCTAssertLessThan(ContinuousClock.now - start, .milliseconds(3500), submit.log)
    }

    /// A worker whose data socket the client cannot reach (refused), beside one it can: the
    /// shards of a direct request placed there move to the other within a second or two (the
    /// client sends the request again naming the address in `avoid`), the answer is right, and
    /// the client's next requests go to the reachable worker from the start.
    func testShardsMoveOffADataSocketTheClientCannotReach() throws {
        let cluster = try TestCluster(workers: 1)
        defer { cluster.stop() }
        try cluster.addWorker(extra: ["--data-advertise", "tcp://127.0.0.1:1"])
        try cluster.waitForWorkers(2)
        let client = try cluster.client()
        defer { client.close() }
        let req = sample(.anyres, seed: 32)
        let want = try inProcess(req, 48)
        var start = Date()
        let moved = result(try client.prune(PruneSubmission(id: "moved", request: req, budget: .count(48), deadlineMs: 30_000, transfer: .direct)))
        XCTAssertEqual(moved?.indices, want)
        XCTAssertEqual(moved?.workers, ["w1"])
        let took = Date().timeIntervalSince(start)
        XCTAssertTrue((1..<4).contains(took), "answered after \(took) s: were no shards placed on the unreachable worker?")
        XCTAssertEqual(client.unreachableData, ["tcp://127.0.0.1:1"])
        start = Date()
        for i in 0..<3 {
            let r = result(try client.prune(PruneSubmission(id: "avoided-\(i)", request: req, budget: .count(48), transfer: .direct)))
            XCTAssertEqual(r?.indices, want, "avoided-\(i)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
        try waitUntilNothingInFlight(client)
        // `submit` is answered, and says on standard error why it took longer.
        let dir = try imageSample("moved")
        let submit = try ClusterProcess(["submit", "--connect", cluster.frontend, "--features", dir + "/features.npy", "--budget", "16",
                                         "--tiles", "4", "--direct"])
        XCTAssertEqual(submit.wait(timeout: 60), 0, submit.log)
        XCTAssertTrue(submit.output.contains("\"indices\""), submit.output)
        XCTAssertTrue(submit.log.contains("warning: could not connect to the data socket at tcp://127.0.0.1:1 (connection refused, "), submit.log)
        XCTAssertTrue(submit.log.contains("): the shards went to other workers"), submit.log)
    }

    /// A data endpoint where something accepts TCP connections but never speaks ZeroMQ (another
    /// service, a proxy whose backend is gone): a connection is not a handshake, so the shards
    /// placed there move once the connect timeout passes, instead of waiting for the deadline.
    func testADataSocketThatAcceptsButNeverAnswersIsLeftAfterTheTimeout() throws {
        let silent = SilentListener()
        defer { silent.stop() }
        let cluster = try TestCluster(workers: 1)
        defer { cluster.stop() }
        try cluster.addWorker(extra: ["--data-advertise", "tcp://127.0.0.1:\(silent.port)"])
        try cluster.waitForWorkers(2)
        let client = try cluster.client()
        defer { client.close() }
        let req = sample(.anyres, seed: 34)
        let start = Date()
        let moved = result(try client.prune(PruneSubmission(id: "silent", request: req, budget: .count(48), deadlineMs: 30_000, transfer: .direct)))
        XCTAssertEqual(moved?.indices, try inProcess(req, 48))
        XCTAssertEqual(moved?.workers, ["w1"])
        let took = Date().timeIntervalSince(start)
        XCTAssertTrue((10..<14).contains(took), "answered after \(took) s: were no shards placed on the silent address?")
        XCTAssertEqual(client.unreachableData, ["tcp://127.0.0.1:\(silent.port)"])
    }

    /// An address counted unreachable stays so only until a connection to it is made: the
    /// client's socket keeps trying, and once something answers there (here a TCP forwarder to
    /// the worker's real data port, started late) the client's requests go to that worker again.
    func testAnUnreachableDataSocketThatConnectsLaterIsUsedAgain() throws {
        let cluster = try TestCluster(workers: 1)
        defer { cluster.stop() }
        let (advertised, bound) = try cluster.addWorkerAdvertisingAnotherPort(workers: 2)
        let client = try cluster.client()
        defer { client.close() }
        let req = sample(.anyres, seed: 33)
        let want = try inProcess(req, 48)
        let first = result(try client.prune(PruneSubmission(id: "late-0", request: req, budget: .count(48), transfer: .direct)))
        XCTAssertEqual(first?.indices, want)
        XCTAssertEqual(client.unreachableData, ["tcp://127.0.0.1:\(advertised)"])
        let forwarder = try TCPForwarder(from: advertised, to: bound)
        defer { forwarder.stop() }
        // Requests until that worker serves one (libzmq tries again every 100-200 ms, and a
        // request here takes a few milliseconds), for 10 s at most.
        var served = Set<String>()
        let end = Date().addingTimeInterval(10)
        var i = 0
        while !served.contains("w2") && Date() < end {
            i += 1
            let r = result(try client.prune(PruneSubmission(id: "late-\(i)", request: req, budget: .count(48), deadlineMs: 30_000, transfer: .direct)))
            XCTAssertEqual(r?.indices, want, "late-\(i)")
            served.formUnion(r?.workers ?? [])
        }
        XCTAssertEqual(client.unreachableData, [])
        XCTAssertTrue(served.contains("w2"), "the worker behind the late address served again: \(served)")
    }

    /// A data connection cut silently with a request's bytes in it (a balancer dropping its
    /// flow): once the heartbeats close it, the request goes again, the coordinator places its
    /// shards again, and their bytes go on the next connection; answered, not timed out.
    func testDirectBytesLostWithADroppedDataConnectionAreSentAgain() throws {
        let cluster = try TestCluster(workers: 0)
        defer { cluster.stop() }
        let (advertised, bound) = try cluster.addWorkerAdvertisingAnotherPort(workers: 1)
        let forwarder = try TCPForwarder(from: advertised, to: bound)
        defer { forwarder.stop() }
        let client = try cluster.client()
        defer { client.close() }
        let req = sample(.anyres, seed: 34)
        let want = try inProcess(req, 48)
        XCTAssertEqual(result(try client.prune(PruneSubmission(id: "cut-0", request: req, budget: .count(48), transfer: .direct)))?.indices, want)
        forwarder.strand()
        let start = Date()
        let r = result(try client.prune(PruneSubmission(id: "cut-1", request: req, budget: .count(48), deadlineMs: 30_000, transfer: .direct),
                                        timeoutMs: 30_000))
        XCTAssertEqual(r?.indices, want)
        XCTAssertLessThan(Date().timeIntervalSince(start), 15, "sent again when the connection dropped, not at the deadline")
    }

    private func waitUntilNothingInFlight(_ client: ClusterClient, line: UInt = #line) throws {
        let end = Date().addingTimeInterval(3)
        while try client.status()?.requestsInFlight != 0 {
            guard Date() < end else { return XCTFail("a request given up is still in flight", line: line) }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// The connect timeout is for a connection never made: a data socket connected once serves
    /// direct requests long after it.
    func testAConnectedDataSocketIsNotTimedOut() throws {
        let cluster = try TestCluster(workers: 1)
        defer { cluster.stop() }
        let client = try cluster.client()
        defer { client.close() }
        let req = sample(.image, seed: 31)
        let want = try inProcess(req, 16)
        for id in ["near-1", "near-2"] {
            if id == "near-2" { Thread.sleep(until: Date().addingTimeInterval(Double(ClusterClient.dataConnectTimeout.components.seconds) + 0.5)) }
            XCTAssertEqual(result(try client.prune(PruneSubmission(id: id, request: req, budget: .count(16), transfer: .direct)))?.indices, want, id)
        }
    }

    /// A worker killed with SIGKILL mid-stream: every request still gets its full, correct answer;
    /// the coordinator says once that it left, and why (a send that failed, or its silence), and
    /// sends it nothing more; a restarted worker joins.
    func testWorkerKilledMidStreamLosesNothing() throws {
        let cluster = try TestCluster(workers: 2)
        defer { cluster.stop() }
        let reqs = (0..<12).map { i -> PruneRequest in sample(i % 2 == 0 ? .anyres : .video, seed: UInt64(10 + i)) }
        let expected = try reqs.map { try inProcess($0, 48) }
        let ctx = ZMQContext()
        let dealer = try ZMQSocket(context: ctx, type: .dealer)
        try dealer.connect(cluster.frontend)
        defer { dealer.close(); ctx.close() }
        var answers: [String: [Int]] = [:]
        for (i, r) in reqs.enumerated() {
            try dealer.send([[]] + PruneSubmission(id: "k\(i)", request: r, budget: .count(48)).frames())
            if i == 3 { cluster.workers[0].signal(SIGKILL) }
        }
        let end = Date().addingTimeInterval(60)
        while answers.count < reqs.count && Date() < end {
            guard let msg = try dealer.receive(timeoutMilliseconds: 1000) else { continue }
            let reply = try ClusterReply.parse(Array(msg.dropFirst()))
            guard let r = result(reply) else { continue }
            answers[r.id] = r.indices
        }
        XCTAssertEqual(answers.count, reqs.count, "every request answered")
        for (i, want) in expected.enumerated() { XCTAssertEqual(answers["k\(i)"], want, "request \(i)") }
        let log = cluster.coordinator.log
        let left = log.split(separator: "\n").filter { $0.contains("worker w1 is unreachable: its connection closed") || $0.contains("worker w1 went silent") }
        XCTAssertEqual(left.count, 1, log)
        XCTAssertFalse(log.contains("failed: send"), log)
        try cluster.addWorker()
        try cluster.waitForWorkers(2)
        let client = try ClusterClient(endpoint: cluster.frontend)
        defer { client.close() }
        XCTAssertEqual(result(try client.prune(PruneSubmission(id: "after", request: reqs[0], budget: .count(48))))?.indices, expected[0])
    }

    /// Hostile bytes get typed errors where a reply is possible, and the coordinator keeps serving.
    func testHostileInputThenAValidRequestSucceeds() throws {
        let cluster = try TestCluster(workers: 1, extra: ["--max-message-bytes", "\(8 << 20)"])
        defer { cluster.stop() }
        let ctx = ZMQContext()
        defer { ctx.close() }
        let req = sample(.image)
        let valid = PruneSubmission(id: "ok", request: req, budget: .count(10)).frames()
        func errorCode(_ frames: [[UInt8]]) throws -> String? {
            let s = try ZMQSocket(context: ctx, type: .dealer)
            defer { s.close() }
            try s.connect(cluster.frontend)
            try s.send(frames)
            guard let msg = try s.receive(timeoutMilliseconds: 5000), msg.count >= 2 else { return nil }
            let e = try Envelope.decode(msg[1])
            return try e.string("type") == "error" ? try e.string("code") : "ok"
        }
        var env = try Envelope.decode(valid[0]).fields
        func with(_ key: String, _ v: MessagePackValue?) -> [[UInt8]] {
            var f = env; f[key] = v
            return [[], Envelope.encode(f.map { ($0.key, $0.value) })] + Array(valid.dropFirst())
        }
        XCTAssertEqual(try errorCode([[], [0xDE, 0xAD, 0xBE, 0xEF]]), "bad_message")
        XCTAssertEqual(try errorCode([[], Array(valid[0].prefix(valid[0].count / 2))]), "bad_message")
        XCTAssertEqual(try errorCode([valid[0]]), "bad_message", "no delimiter")
        XCTAssertEqual(try errorCode(with("type", .string("launch"))), "unknown_type")
        XCTAssertEqual(try errorCode(with("v", .int(99))), "unsupported_version")
        XCTAssertEqual(try errorCode(with("budget", .string("lots"))), "bad_request")
        XCTAssertEqual(try errorCode(with("budget", .int(-4))), "bad_budget")
        XCTAssertEqual(try errorCode(with("mystery", .bool(true))), "bad_request")
        XCTAssertEqual(try errorCode(with("features", TensorCodec.descriptor(shape: [req.features.rows + 1, req.features.cols], frame: 1))), "bad_tensor")
        XCTAssertEqual(try errorCode(with("features", TensorCodec.descriptor(shape: [Int(Int32.max), Int(Int32.max)], frame: 1))), "too_large")
        var nan = valid
        nan[1].replaceSubrange(0..<4, with: [0, 0, 0x80, 0x7F])   // +inf
        XCTAssertEqual(try errorCode([[]] + nan), "non_finite")
        XCTAssertEqual(try errorCode(with("shards", .array([.array([.int(0), .int(5)]), .array([.int(7), .int(Int64(req.features.rows))])]))), "bad_shards")
        // A message over the size limit disconnects its sender: no reply is possible.
        XCTAssertNil(try errorCode([[], valid[0], [UInt8](repeating: 0, count: 9 << 20)]))
        env["id"] = .string("still-alive")
        let client = try ClusterClient(endpoint: cluster.frontend)
        defer { client.close() }
        XCTAssertEqual(result(try client.prune(PruneSubmission(id: "fine", request: req, budget: .count(10))))?.indices, try inProcess(req, 10))
    }

    /// The same over real sockets: 200 valid messages damaged at random (seeded) each get one
    /// reply from a real coordinator, and a valid request is served afterwards.
    func testRandomlyDamagedMessagesEachGetAReply() throws {
        let cluster = try TestCluster(workers: 1)
        defer { cluster.stop() }
        let ctx = ZMQContext()
        defer { ctx.close() }
        let s = try ZMQSocket(context: ctx, type: .dealer)
        defer { s.close() }
        try s.connect(cluster.frontend)
        let req = sample(.image)
        var damage = Damage(seed: 81)
        var codes: [String: Int] = [:]
        for i in 0..<200 {
            let valid = PruneSubmission(id: "z\(i)", request: req, budget: .count(10)).frames()
            try s.send(damage.damage([[]] + valid))
            guard let msg = try s.receive(timeoutMilliseconds: 10_000), msg.count >= 2 else {
                return XCTFail("message \(i) got no reply; coordinator: \(cluster.coordinator.log.suffix(2000))")
            }
            let e = try Envelope.decode(msg[1])
            codes[try e.string("type") == "error" ? try e.string("code") : try e.string("type"), default: 0] += 1
        }
        XCTAssertGreaterThan(codes.count, 4, "\(codes)")
        XCTAssertNil(codes["internal"], "\(codes)")
        let client = try ClusterClient(endpoint: cluster.frontend)
        defer { client.close() }
        XCTAssertEqual(result(try client.prune(PruneSubmission(id: "fine", request: req, budget: .count(10))))?.indices, try inProcess(req, 10))
    }

    func testNoWorkersTimesOutAtTheDeadlineAndAFullQueueIsBusy() throws {
        let cluster = try TestCluster(workers: 0, extra: ["--queue", "1"])
        defer { cluster.stop() }
        var once = ClusterClient.Options()
        once.attempts = 1
        let client = try ClusterClient(endpoint: cluster.frontend, options: once)
        defer { client.close() }
        let req = sample(.image)
        let start = Date()
        let ctx = ZMQContext()
        let waiting = try ZMQSocket(context: ctx, type: .dealer)
        try waiting.connect(cluster.frontend)
        defer { waiting.close(); ctx.close() }
        try waiting.send([[]] + PruneSubmission(id: "slow", request: req, budget: .count(5), deadlineMs: 800).frames())
        Thread.sleep(forTimeInterval: 0.2)
        guard case .error(_, let busy) = try client.prune(PruneSubmission(id: "second", request: req, budget: .count(5))) else { return XCTFail() }
        XCTAssertEqual(busy.code, .busy)
        XCTAssertLessThan(Date().timeIntervalSince(start), 0.7, "busy comes at once")
        guard let msg = try waiting.receive(timeoutMilliseconds: 5000) else { return XCTFail("no timeout reply") }
        guard case .error(let id, let e) = try ClusterReply.parse(Array(msg.dropFirst())) else { return XCTFail() }
        XCTAssertEqual(id, "slow")
        XCTAssertEqual(e.code, .timeout)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 0.75)
    }

    /// Overloaded (24 AnyRes requests at once, each due within 1.5 s, on one worker that answers
    /// about a dozen a second): every request is answered by its deadline, some with the
    /// in-process result, and the ones the worker cannot start in time are ended early with
    /// `timeout`, saying the cluster is overloaded, instead of waiting in order for their turn.
    func testAnOverloadedClusterEndsWhatItCannotAnswerInTime() throws {
        let cluster = try TestCluster(workers: 1)
        defer { cluster.stop() }
        let client = try cluster.client()
        defer { client.close() }
        let s = SampleGenerator.make(.defaults(for: .anyres, seed: 1))
        let req = PruneRequest(features: Matrix(rows: s.n, cols: s.featureDim, values: s.features),
                               embeddings: Matrix(rows: s.n, cols: s.embeddingDim, values: s.embeddings),
                               query: Matrix(rows: s.spec.queryTokens, cols: s.embeddingDim, values: s.query), shards: s.shards)
        let submission = { (id: String, deadline: Int?) in
            PruneSubmission(id: id, request: req, budget: .count(320), deadlineMs: deadline, dtype: .f16, transfer: .direct)
        }
        let want = try LoadGenerator.expectedIndices(submission("want", nil))
        // A few one at a time: the coordinator learns what such a request takes (and so does
        // the test, from the coordinator's timings: the deadline is 8 of them, at least 1.5 s,
        // so that a slow machine answers some in time as a fast one does).
        var one = 0.0
        for i in 0..<3 {
            let r = result(try client.prune(submission("warm\(i)", nil)))
            XCTAssertEqual(r?.indices, want)
            one = max(one, (r?.timings.first { $0.0 == "total" }?.1 ?? 0) / 1000)
        }
        let deadline = max(1.5, 8 * one)
        // Encoded once (as a farm's client holds its tensors), so that all go at once.
        let burst = submission("burst", Int(deadline * 1000)).encoded()
        let start = Date()
        var ids = Set<String>()
        for i in 0..<24 {
            try client.send(burst.renamed("burst\(i)"), to: 0)
            ids.insert("burst\(i)")
        }
        var answered = 0
        var ended: [String] = []
        while !ids.isEmpty && Date().timeIntervalSince(start) < deadline + 8 {
            guard let got = try client.receive(timeoutMs: 200), ids.remove(got.reply.id) != nil else { continue }
            switch got.reply {
            case .result(let r):
                XCTAssertEqual(r.indices, want)
                answered += 1
            case .error(_, let e):
                XCTAssertEqual(e.code, .timeout, e.message)
                ended.append(e.message)
            default: XCTFail("\(got.reply)")
            }
        }
        let seconds = Date().timeIntervalSince(start)
        XCTAssertTrue(ids.isEmpty, "unanswered: \(ids.sorted())")
        XCTAssertGreaterThanOrEqual(answered, 3)
        let overloaded = ended.filter { $0.contains("the cluster is overloaded") }
        XCTAssertGreaterThanOrEqual(overloaded.count, 5, "\(ended.prefix(2))")
        XCTAssertLessThan(seconds, deadline + 1.5, "no reply later than its deadline and a little")
        print("overload | one at a time \(String(format: "%.3f", one)) s, deadline \(String(format: "%.2f", deadline)) s: answered \(answered), ended early \(overloaded.count), at the deadline \(ended.count - overloaded.count), \(String(format: "%.2f", seconds)) s")
    }

    /// SIGTERM while a request waits: no new requests, the one in flight is still answered
    /// (within the drain time), then exit 0.
    /// A peer whose host died leaves a connection nothing closes: the coordinator's sockets and
    /// a worker's data socket close it once their ZMTP pings (every 10 heartbeats) go unanswered
    /// for 30 heartbeats, rather than hold its descriptor and queued messages for good.
    func testConnectionsOfPeersThatWentQuietAreClosed() throws {
        let cluster = try TestCluster(workers: 1, heartbeatMs: 100)
        defer { cluster.stop() }
        let data = try XCTUnwrap(cluster.workers[0].line("data ")?.split(separator: " ").last.map(String.init))
        let endpoints = [cluster.frontend, cluster.backend, data]
        let peers = try endpoints.map { quietZMQPeer(port: try XCTUnwrap(Int($0.split(separator: ":").last ?? ""))) }
        defer { peers.filter { $0 >= 0 }.forEach { close($0) } }
        for (endpoint, fd) in zip(endpoints, peers) {
            XCTAssertGreaterThanOrEqual(fd, 0, endpoint)
            XCTAssertTrue(closedByPeer(fd, within: 6), "\(endpoint) kept the connection of a peer that went quiet")
        }
    }

    func testSigtermDrainsInFlightWorkThenExitsZero() throws {
        let cluster = try TestCluster(workers: 0, extra: ["--drain-ms", "20000"])
        let req = Requests.sample(.anyres)
        let client = try cluster.client(attempts: 1)
        defer { client.close() }
        try client.send(PruneSubmission(id: "drain", request: req, budget: .count(40)).encoded(), to: 0)
        let end = Date().addingTimeInterval(10)
        while (try client.status(timeoutMs: 500))?.requestsInFlight != 1 && Date() < end { Thread.sleep(forTimeInterval: 0.02) }
        cluster.coordinator.signal(SIGTERM)
        Thread.sleep(forTimeInterval: 0.1)
        let late = try cluster.client(attempts: 1)
        defer { late.close() }
        guard case .error(_, let refused) = try late.prune(PruneSubmission(id: "late", request: req, budget: .count(40))) else { return XCTFail() }
        XCTAssertEqual(refused.code, .shuttingDown)
        XCTAssertTrue(cluster.coordinator.isRunning, "still draining")
        try cluster.addWorker()
        var answer: ClusterReply?
        let until = Date().addingTimeInterval(20)
        while answer == nil && Date() < until { if let r = try client.receive(timeoutMs: 100), r.reply.id == "drain" { answer = r.reply } }
        XCTAssertEqual(result(answer ?? .error(id: "", ProtocolError(.timeout, "none")))?.indices, try Requests.inProcess(req, 40))
        XCTAssertEqual(cluster.coordinator.wait(), 0)
        cluster.workers[0].signal(SIGTERM)
        XCTAssertEqual(cluster.workers[0].wait(), 0)
    }
}
