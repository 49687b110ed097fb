import XCTest
import ScriptCore
import ScriptProtocol
import ScriptService
import ScriptTransport
import ScriptWire
@testable import ScriptCoordinator
@testable import ScriptWorker

/// The coordinator's logic against real worker logic, in memory (`InMemoryCluster`): what it
/// answers, where jobs go, what happens when workers die, and every refusal.
final class CoordinatorStateTests: XCTestCase {
    private func result(_ c: InMemoryCluster, _ id: String, line: UInt = #line) -> ClusterResult? {
        switch c.reply(id) {
        case .result(let r)?: return r
        case let other: XCTFail("\(id): \(String(describing: other)); logs: \(c.logs.suffix(5))", line: line); return nil
        }
    }

    private func errorCode(_ c: InMemoryCluster, _ id: String) -> ErrorCode? {
        if case .error(_, let e)? = c.reply(id) { return e.code }
        return nil
    }

    func testEveryTransferDtypeAndReturnModeMatchesInProcess() throws {
        for transfer in Transfer.allCases {
            for (dtype, mode) in [(TensorCodec.WireDType.f32, ReturnMode.indices), (.f16, .features), (.bf16, .merged)] {
                let c = InMemoryCluster()
                c.addWorker([10]); c.addWorker([11])
                let req = request(seed: 1)
                let id = "\(transfer)-\(dtype)-\(mode)"
                c.submit(PruneSubmission(id: id, request: req, budget: .count(12), returnMode: mode, dtype: dtype, transfer: transfer).encoded())
                let want = try inProcess(req, 12, dtype: dtype)
                guard let r = result(c, id) else { continue }
                XCTAssertEqual(r.indices, want.kept, id)
                XCTAssertEqual(Set(r.workers).count, 2, "\(id): spread over both workers")
                switch mode {
                case .indices: XCTAssertNil(r.features)
                case .features: XCTAssertEqual(r.featureMatrix, want.features.gatherRows(want.kept), id)
                case .merged:
                    XCTAssertEqual(r.featureMatrix, TokenMerger.merge(features: want.features, kept: want.kept, shards: req.shards!, pool: .serial), id)
                }
                XCTAssertEqual(c.coordinator.requestsInFlight, 0)
                XCTAssertEqual(c.finished.last?.outcome, "ok")
                // Every byte a worker held for the request is released.
                for w in c.workers.values { XCTAssertEqual(w.heldBytes, 0, "\(id): bytes left on a worker") }
            }
        }
    }

    /// A worker's message on the frontend and a client's on the backend are each answered with
    /// an error in the shape the sender reads, saying which port is which; neither is a request.
    func testTheOtherRolesMessagesAreAnsweredWithWhereToGo() throws {
        let c = InMemoryCluster()
        let ready = ReadyMessage(worker: "w", credit: 2, dataEndpoint: nil, dataKey: nil, threads: 1).frames()
        let onFrontend = c.coordinator.clientMessage(route: [1], frames: ready, now: ContinuousClock().now)
        guard case .toClient(let route, let frames)? = onFrontend.first(where: { if case .toClient = $0 { return true }; return false }),
              case .error(_, let e) = try ClusterReply.parse(frames) else { return XCTFail("\(onFrontend)") }
        XCTAssertEqual(route, [1])
        XCTAssertEqual(e.message, "this is a coordinator's frontend, where clients connect: workers connect to its backend (--backend)")

        let prune = [Frame([])] + PruneSubmission(id: "astray", request: request(seed: 1), budget: .count(4)).encoded().frames()
        let onBackend = c.coordinator.workerMessage(identity: [2], frames: prune, now: ContinuousClock().now)
        guard case .toWorker(let identity, let reply)? = onBackend.first(where: { if case .toWorker = $0 { return true }; return false }),
              reply.first?.isEmpty == true, case .error(let id, let b) = try ClusterReply.parse(Array(reply.dropFirst())) else {
            return XCTFail("\(onBackend)")
        }
        XCTAssertEqual(identity, [2])
        XCTAssertEqual(id, "astray")
        XCTAssertEqual(b.code, .badRequest)
        XCTAssertTrue(b.message.contains("clients connect to its frontend"), b.message)
        // A worker of another release: refused in a message of this version.
        let newer = [Frame(Envelope.encode(ProtocolVersion.header(ReadyMessage.type, version: ProtocolVersion.backend + 1)))]
        let refused = c.coordinator.workerMessage(identity: [3], frames: newer, now: ContinuousClock().now)
        guard case .toWorker([3], let refusal)? = refused.first(where: { if case .toWorker = $0 { return true }; return false }) else {
            return XCTFail("\(refused)")
        }
        XCTAssertEqual(BackendEnvelope.version(refusal), ProtocolVersion.backend)
        XCTAssertEqual(c.coordinator.workerCount, 0)
        XCTAssertTrue(c.finished.isEmpty, "neither is a request")
    }

    /// A worker restarted while the coordinator still counts its old connection (a container
    /// after a crash: its name and data endpoint, a new process) takes that connection's place at
    /// once, the jobs it held moved and its departure counted as a restart; it was refused as
    /// "registered here already, by another connection" until the old one had been quiet for two
    /// beats. The same process by a second connection is still refused so. Two live processes of
    /// one name and address (a fixed name and a Service's address given to every pod): the later
    /// replaces the earlier once, and the earlier, speaking again, is refused saying so, where
    /// they would replace each other for ever.
    func testARestartedWorkerTakesItsOldConnectionsPlaceAtOnce() throws {
        let c = InMemoryCluster()
        let old = w10HoldingShards(c)
        c.kill([10])
        let ready = { (incarnation: Int) in self.readyOfW10(c, incarnation: incarnation) }
        let twice = c.coordinator.workerMessage(identity: [12], frames: ready(old.incarnation), now: c.now)
        XCTAssertTrue(twice.contains { if case .log(_, let m) = $0 { return m.contains("it is registered here already, by another connection") }; return false }, "\(twice)")
        let again = c.coordinator.workerMessage(identity: [11], frames: ready(old.incarnation == 1 ? 2 : 1), now: c.now)
        let moved = again.compactMap { a -> Int? in if case .workerLeft(.restarted, let n) = a { return n }; return nil }
        XCTAssertEqual(moved.count, 1, "\(again)")
        XCTAssertGreaterThan(moved.first ?? 0, 0)
        XCTAssertTrue(again.contains { if case .log(_, let m) = $0 { return m == "worker w10 restarted (a new process advertising its data endpoint mem://10); \(moved.first ?? 0) jobs moved" }; return false }, "\(again)")
        XCTAssertTrue(again.contains { if case .toWorker([11], let f) = $0 { return (try? BackendEnvelope.open(f).type) == "shard" }; return false },
                      "the new process gets the jobs: \(again)")
        XCTAssertEqual(c.coordinator.workerCount, 1)
        let back = c.coordinator.workerMessage(identity: [10], frames: ready(old.incarnation), now: c.now)
        guard case .toWorker([10], let refusal)? = back.first(where: { if case .toWorker = $0 { return true }; return false }),
              let (e, type) = try? BackendEnvelope.open(refusal) else { return XCTFail("\(back)") }
        XCTAssertEqual(type, "refused")
        XCTAssertEqual(try e.string("message"), "another process of worker w10 with its data endpoint mem://10 took its place, and this one is alive: two processes run as one worker; give each worker a name and address of its own (--name, --data-advertise)")
        XCTAssertFalse(back.contains { if case .workerLeft = $0 { return true }; return false }, "\(back)")
        XCTAssertEqual(c.coordinator.workerCount, 1)
    }

    /// A worker whose connection was reset connects again, under a new identity, before the
    /// coordinator misses the old connection (libzmq connects again at once, and the worker's
    /// next message, from the new one, is answered `disconnect`): the same process and link
    /// (`ready`'s incarnation and link) take the old connection's place at once, its jobs moved
    /// and counted as no death. It was refused as "registered here already, by another
    /// connection" until the coordinator missed the old one (a real backend connection reset, one
    /// time in six). Another link of the process (its --connect names this coordinator twice)
    /// is still refused so.
    func testTheSameLinkConnectedAgainTakesItsOldConnectionsPlaceAtOnce() throws {
        let c = InMemoryCluster()
        let w = w10HoldingShards(c)
        let held = try XCTUnwrap(c.coordinator.workers[[10]]?.jobs.count)
        XCTAssertGreaterThan(held, 0)
        let ready = { (link: Int) in self.readyOfW10(c, incarnation: w.incarnation, link: link) }
        let twice = c.coordinator.workerMessage(identity: [12], frames: ready(1), now: c.now)
        XCTAssertTrue(twice.contains { if case .log(_, let m) = $0 { return m.contains("it is registered here already, by another connection") }; return false }, "\(twice)")
        let again = c.coordinator.workerMessage(identity: [11], frames: ready(0), now: c.now)
        XCTAssertTrue(again.contains { if case .log(_, let m) = $0 { return m == "worker w10 connected again (its connection was reset, or made afresh); \(held) jobs moved" }; return false }, "\(again)")
        XCTAssertTrue(again.contains { if case .workerLeft(.disconnected, held) = $0 { return true }; return false }, "\(again)")
        XCTAssertTrue(again.contains { if case .toWorker([11], let f) = $0 { return (try? BackendEnvelope.open(f).type) == "shard" }; return false },
                      "the new connection gets the jobs: \(again)")
        XCTAssertEqual(c.coordinator.workerCount, 1)
        XCTAssertEqual(c.coordinator.jobs.values.map(\.requeues).max(), 0, "no death")
    }

    /// Every worker's connection reset at once (the coordinator's host blinked): the first send
    /// that fails drops its worker and moves its jobs, and the next worker they go to is gone
    /// too, its send failing at once, and so on down the pool. A job whose own send failed (or
    /// that was given to the worker in the same turn as the message that failed) never reached
    /// its worker, so it cannot have killed it: such moves count no death (with five workers one
    /// request's shard was counted dead four times in one such cascade, and failed as a shard
    /// that kills its workers).
    func testAJobWhoseSendFailedCountsNoDeath() throws {
        let c = beatingCluster(coordinatorMs: 100)
        for id: UInt8 in 1...6 { c.addWorker([id], credit: 1) }
        c.holdTasks = true
        let req = request(seed: 17, n: 40, shards: 1)
        c.submit(PruneSubmission(id: "cascade", request: req, budget: .count(9)).encoded())
        for id: UInt8 in 1...6 { c.resetLink([id], coordinatorFirst: false) }
        c.advance(ms: 100)
        XCTAssertNil(c.reply("cascade"), "\(String(describing: c.reply("cascade")))")
        let moves = c.logs.filter { $0.hasSuffix(" is unreachable: its connection closed; 1 jobs moved") }
        XCTAssertGreaterThanOrEqual(moves.count, 4, "the shard went down the pool: \(c.logs)")
        c.releaseTasks()
        c.advance(ms: 1_000)
        XCTAssertEqual(result(c, "cascade")?.indices, try inProcess(req, 9).kept)
    }

    /// Worker w10, holding shards of a three-shard request (`r`) whose tasks wait.
    private func w10HoldingShards(_ c: InMemoryCluster) -> WorkerState {
        let w = c.addWorker([10])
        c.holdTasks = true
        c.submit(PruneSubmission(id: "r", request: request(seed: 5, n: 150, shards: 3), budget: .count(15)).encoded())
        return w
    }

    /// A `ready` naming worker w10 and its data endpoint, as a process of `incarnation` sends it
    /// on `link`.
    private func readyOfW10(_ c: InMemoryCluster, incarnation: Int, link: Int? = nil) -> [Frame] {
        ReadyMessage(worker: "w10", credit: 2, dataEndpoint: c.endpoint(of: [10]), threads: 1, incarnation: incarnation, link: link).frames()
    }

    /// The replaced processes remembered are the latest ones, as many as the capacity.
    func testReplacedProcessesKeepTheLatest() {
        var r = ReplacedProcesses(capacity: 3)
        for i in 1...4 { r.insert(i) }
        r.insert(4)
        XCTAssertEqual((1...4).map(r.contains), [false, true, true, true])
        r.insert(5)
        XCTAssertEqual((1...5).map(r.contains), [false, false, true, true, true])
    }

    /// Two live workers advertising one data endpoint (a Service's address given to every pod):
    /// the second is refused saying why, and not counted. An earlier connection of a worker at
    /// that address that has gone quiet for two beats is replaced at once, not waited out.
    func testAWorkerAdvertisingALiveWorkersDataEndpointIsRefused() throws {
        let c = InMemoryCluster()
        let start = c.now
        let ready = { (name: String) in ReadyMessage(worker: name, credit: 2, dataEndpoint: "tcp://svc:5557", dataKey: nil, threads: 1).frames() }
        _ = c.coordinator.workerMessage(identity: [1], frames: ready("a"), now: start)
        let second = c.coordinator.workerMessage(identity: [2], frames: ready("b"), now: start + .milliseconds(1500))
        guard case .toWorker([2], let refusal)? = second.first(where: { if case .toWorker = $0 { return true }; return false }),
              let (e, type) = try? BackendEnvelope.open(refusal) else { return XCTFail("\(second)") }
        XCTAssertEqual(type, "refused")
        XCTAssertTrue(try e.string("message").contains("its data endpoint tcp://svc:5557 is also advertised by worker a, which is alive"))
        XCTAssertEqual(c.coordinator.workerCount, 1)
        // Quiet for more than two beats: a later connection at that address takes its place.
        let later = c.coordinator.workerMessage(identity: [3], frames: ready("a"), now: start + .milliseconds(2100))
        XCTAssertEqual(c.coordinator.workerCount, 1)
        XCTAssertTrue(later.contains { if case .log(_, let m) = $0 { return m.hasPrefix("worker a replaced by a new connection advertising its data endpoint tcp://svc:5557") }; return false },
                      "\(later)")
        XCTAssertTrue(later.contains { if case .toWorker([3], let f) = $0 { return (try? BackendEnvelope.open(f).type) == "heartbeat" }; return false })
        // The same worker by a second connection (two addresses of one coordinator) is told so.
        let twice = c.coordinator.workerMessage(identity: [6], frames: ready("a"), now: start + .milliseconds(2150))
        XCTAssertTrue(twice.contains { if case .log(_, let m) = $0 { return m.contains("it is registered here already, by another connection") }; return false }, "\(twice)")
        XCTAssertEqual(c.coordinator.workerCount, 1)
        // Without a data endpoint, nothing to compare.
        let bare = ReadyMessage(worker: "c", credit: 2, dataEndpoint: nil, dataKey: nil, threads: 1).frames()
        _ = c.coordinator.workerMessage(identity: [4], frames: bare, now: start + .milliseconds(2200))
        _ = c.coordinator.workerMessage(identity: [5], frames: bare, now: start + .milliseconds(2200))
        XCTAssertEqual(c.coordinator.workerCount, 3)
    }

    /// A worker of a later release, whose `ready` has a field this coordinator does not know, is
    /// registered all the same (a rolling update may start the workers before the coordinator);
    /// it was refused ("unknown field") until the coordinator was upgraded too.
    func testAReadyWithAFieldOfALaterReleaseRegisters() throws {
        let c = InMemoryCluster()
        var fields = try Envelope.decode(ReadyMessage(worker: "later", credit: 2, dataEndpoint: nil, threads: 1).frames()[0].bytes).fields
            .map { ($0.key, $0.value) }.sorted { $0.0 < $1.0 }
        fields.append(("gpu", .string("H200")))
        let actions = c.coordinator.workerMessage(identity: [9], frames: [Frame(Envelope.encode(fields))], now: c.now)
        XCTAssertEqual(c.coordinator.workerCount, 1, "\(actions)")
    }

    /// What a worker reports of itself reaches logs and clients: a name, data endpoint or BLAS
    /// with a control character, or a name over 128 bytes, is refused, and the worker told why
    /// (it was registered, and its name could break the coordinator's log lines).
    func testAWorkerReportingTextThatWouldBreakLogLinesIsRefusedAndTold() throws {
        let c = InMemoryCluster()
        let cases: [(ReadyMessage, String)] = [
            (ReadyMessage(worker: "w\n2026-01-01 forged", credit: 2, dataEndpoint: nil, threads: 1), "field 'worker' \"w\\n2026-01-01 forged\" must hold no control characters"),
            (ReadyMessage(worker: String(repeating: "w", count: 129), credit: 2, dataEndpoint: nil, threads: 1), "must be 1 to 128 bytes, not 129"),
            (ReadyMessage(worker: "", credit: 2, dataEndpoint: nil, threads: 1), "field 'worker' \"\" must be 1 to 128 bytes, not 0"),
            (ReadyMessage(worker: "w", credit: 2, dataEndpoint: "tcp://a:1\u{1B}[31m", threads: 1), "field 'data'"),
            (ReadyMessage(worker: "w", credit: 2, dataEndpoint: nil, threads: 1, blas: "OpenBLAS\r"), "field 'blas'"),
            (ReadyMessage(worker: "w", credit: 2, dataEndpoint: nil, threads: 1, beatMs: 0), "beat_ms 0 must be in 1...3600000"),
            (ReadyMessage(worker: "w", credit: 2, dataEndpoint: nil, threads: 1, memoryBytes: 0), "memory_bytes 0 must be at least 1"),
        ]
        for (i, (ready, problem)) in cases.enumerated() {
            let actions = c.coordinator.workerMessage(identity: [UInt8(i + 1)], frames: ready.frames(), now: c.now)
            guard case .toWorker(_, let refusal)? = actions.first(where: { if case .toWorker = $0 { return true }; return false }),
                  let (e, type) = try? BackendEnvelope.open(refusal) else { return XCTFail("\(actions)") }
            XCTAssertEqual(type, "refused")
            let message = try e.string("message")
            XCTAssertTrue(message.contains(problem), message)
        }
        XCTAssertEqual(c.coordinator.workerCount, 0)
    }

    /// Workers `a`, `b`, ... registering one after another with `kernels` (as `ready` puts them
    /// in their messages): the warnings each registration logged.
    private func warnings(registering kernels: [String?], _ ready: (String, String?) -> ReadyMessage) -> (InMemoryCluster, [[String]]) {
        let c = InMemoryCluster()
        let logged = kernels.enumerated().map { i, kernel in
            let name = String(UnicodeScalar(UInt8(97 + i)))
            return c.coordinator.workerMessage(identity: [UInt8(i + 1)], frames: ready(name, kernel).frames(), now: c.now)
                .compactMap { if case .log(.warning, let m) = $0 { return m } else { return nil } }
        }
        return (c, logged)
    }

    /// Workers whose BLAS runs other kernels compute other last bits, so a request's kept tokens
    /// could depend on which worker took each shard: the coordinator warns when one registers
    /// beside another, naming both; not for the same kernels, nor a worker that does not say.
    func testWorkersWithOtherBLASKernelsAreWarnedOf() throws {
        let haswell = "OpenBLAS 0.3.21, kernel Haswell"
        let (c, logged) = warnings(registering: [haswell, haswell, nil, "OpenBLAS 0.3.21, kernel SkylakeX"]) {
            ReadyMessage(worker: $0, credit: 2, dataEndpoint: nil, threads: 1, blas: $1)
        }
        XCTAssertEqual(logged.dropLast(), [[], [], []])
        let other = logged.last!
        XCTAssertEqual(other.count, 1)
        XCTAssertTrue(other.first?.hasPrefix("worker d computes with OpenBLAS 0.3.21, kernel SkylakeX, worker ") == true, "\(other)")
        XCTAssertTrue(other.first?.contains("with \(haswell): their products differ in the last bits") == true, "\(other)")
        XCTAssertEqual(c.coordinator.workerCount, 4, "warned of, not refused")
    }

    /// The same for bfloat16 kernels (AMX and AVX512-BF16 sum in other orders): a warning naming
    /// both, not for the same kernel, nor for a worker that has none.
    func testWorkersWithOtherBFloat16KernelsAreWarnedOf() throws {
        let avx512 = "oneDNN 2.6.3 (libdnnl.so.2), kernel brg:avx512_core_bf16", amx = "oneDNN 2.6.3 (libdnnl.so.2), kernel brg:avx512_core_amx"
        let (_, logged) = warnings(registering: [avx512, avx512, nil, amx]) {
            ReadyMessage(worker: $0, credit: 2, dataEndpoint: nil, threads: 1, bf16: $1)
        }
        XCTAssertEqual(logged.dropLast(), [[], [], []])
        let other = logged.last!
        XCTAssertEqual(other.count, 1)
        XCTAssertTrue(other.first?.hasPrefix("worker d computes bfloat16 products with \(amx), worker ") == true, "\(other)")
        XCTAssertTrue(other.first?.contains("with \(avx512): their products differ in the last bits") == true, "\(other)")
    }

    func testEveryJobIsReportedForTheMetricsOnBothSides() throws {
        let c = InMemoryCluster()
        c.addWorker([10]); c.addWorker([11])
        let req = request(seed: 8)
        c.submit(PruneSubmission(id: "m", request: req, budget: .count(12), returnMode: .merged).encoded())
        let r = try XCTUnwrap(result(c, "m"))
        let merges = req.shards!.filter { s in r.indices.contains { s.contains($0) } }.count
        // The coordinator: each job's round trip, by kind.
        XCTAssertEqual(c.answered.filter { $0.kind == .shard }.count, 3)
        XCTAssertEqual(c.answered.filter { $0.kind == .reduce }.count, 1)
        XCTAssertEqual(c.answered.filter { $0.kind == .merge }.count, merges)
        // The workers: every job answered, with its tokens (a reduce: the candidates it took in).
        XCTAssertTrue(c.workerJobs.allSatisfy { $0.code == nil })
        XCTAssertEqual(c.workerJobs.filter { $0.kind == .shard }.map(\.tokens).reduce(0, +), 120)
        XCTAssertEqual(c.workerJobs.filter { $0.kind == .merge }.count, merges)
        let reduce = try XCTUnwrap(c.workerJobs.first { $0.kind == .reduce })
        XCTAssertGreaterThanOrEqual(reduce.tokens, 12)
        XCTAssertLessThan(reduce.tokens, 120)
        // The access line and request metrics' view of the request.
        let entry = try XCTUnwrap(c.finished.last?.logEntry)
        XCTAssertEqual(entry.outcome, .ok)
        XCTAssertEqual([entry.tokensIn, entry.tokensKept, entry.shards, entry.workers], [120, 12, 3, 2])
    }

    /// Script+ shards like Script (its unit graph before the weights, its proposal after), and
    /// keeps exactly what it keeps in-process, not what Script keeps.
    func testScriptPlusMatchesInProcessAndDiffersFromScript() throws {
        var plus = PruneOptions()
        plus.method = .scriptPlus
        for (transfer, query) in [(Transfer.inline, true), (.direct, true), (.inline, false)] {
            let c = InMemoryCluster()
            c.addWorker([10]); c.addWorker([11])
            var req = request(seed: 21, n: 240, shards: 4, query: query)
            req.unitTokens = 12
            let id = "plus-\(transfer)-\(query)"
            c.submit(PruneSubmission(id: id, request: req, budget: .count(30), options: plus, transfer: transfer).encoded())
            let want = try inProcess(req, 30, options: plus)
            XCTAssertEqual(result(c, id)?.indices, want.kept, id)
            if query { XCTAssertNotEqual(want.kept, try inProcess(req, 30).kept, "\(id): Script+ is not Script here") }
        }
    }

    func testWithoutAQueryAndWhenTheBudgetKeepsEverything() throws {
        let c = InMemoryCluster()
        c.addWorker([10])
        let req = request(seed: 2, query: false)
        c.submit(PruneSubmission(id: "nq", request: req, budget: .count(9)).encoded())
        XCTAssertEqual(result(c, "nq")?.indices, try inProcess(req, 9).kept)
        for transfer in Transfer.allCases {
            c.submit(PruneSubmission(id: "all-\(transfer)", request: req, budget: .count(500), returnMode: .features, transfer: transfer).encoded())
            XCTAssertEqual(result(c, "all-\(transfer)")?.indices, Array(0..<120))
            XCTAssertEqual(result(c, "all-\(transfer)")?.featureMatrix, req.features)
        }
    }

    /// A shard waiting for its request's weights takes no credit: one worker holding one job at
    /// a time still gets every shard of a request, so their scores (and so the weights) arrive.
    func testShardsWaitingForWeightsDoNotBlockTheirSiblings() throws {
        let c = InMemoryCluster()
        c.addWorker([10], credit: 1)
        let req = request(seed: 3, n: 200, shards: 5)
        c.submit(PruneSubmission(id: "one", request: req, budget: .count(20)).encoded())
        XCTAssertEqual(result(c, "one")?.indices, try inProcess(req, 20).kept)
    }

    /// A coordinator whose own process did not run for longer than its workers' liveness, told
    /// so by its loop before their queued beats are read: it says that it was paused and keeps
    /// them, where it gave every one of them up at once. A worker silent after that still goes.
    func testAPausedCoordinatorKeepsItsWorkers() throws {
        for resumed in [true, false] {
            let c = beatingCluster(coordinatorMs: 100)
            c.addWorker([10])
            c.addWorker([11])
            let later = c.now + .milliseconds(500)
            let told = resumed ? c.coordinator.resumed(after: LoopGap.Gap(wall: .milliseconds(500), cpu: .zero), now: later) : []
            let ticked = c.coordinator.tick(now: later)
            XCTAssertEqual(c.coordinator.workerCount, resumed ? 2 : 0, "resumed: \(resumed): \(ticked)")
            guard resumed else { continue }
            XCTAssertEqual(told.count, 1)
            guard case .log(.warning, let line)? = told.first else { return XCTFail("\(told)") }
            XCTAssertEqual(line, "this process did not run for 500 ms (stopped, frozen or starved of CPU): the workers' silence is counted from now")
            // Work that held the loop is said to be that (once a minute: the next gap is not said).
            XCTAssertEqual(c.coordinator.resumed(after: LoopGap.Gap(wall: .milliseconds(200), cpu: .milliseconds(190)), now: later).count, 0)
            _ = c.coordinator.tick(now: later + .milliseconds(350))
            XCTAssertEqual(c.coordinator.workerCount, 0, "silent since the pause")
        }
    }

    /// One worker of credit 1, and one request of 120 tokens ("first") answered `afterMs` after
    /// it started: what requests of that size take from start to answer, for shedding.
    private func clusterWithOneRequestAnswered(afterMs: Int) -> InMemoryCluster {
        let c = InMemoryCluster()
        c.addWorker([10], credit: 1)
        c.holdTasks = true
        c.submit(PruneSubmission(id: "first", request: request(seed: 7), budget: .count(5)).encoded())
        c.advance(ms: afterMs)
        c.releaseTasks()
        XCTAssertNotNil(result(c, "first"))
        return c
    }

    /// Requests' times are kept by kind (method and precision): a Script+ request is not ended
    /// on what Script requests took, its kind's time not known yet; a Script one with as little
    /// time left is.
    func testARequestIsEndedOnlyOnTheTimesOfItsOwnKind() throws {
        let c = clusterWithOneRequestAnswered(afterMs: 180)
        c.holdTasks = true
        var plus = PruneOptions()
        plus.method = .scriptPlus
        c.submit(PruneSubmission(id: "held", request: request(seed: 8), budget: .count(5), deadlineMs: 2000).encoded())
        c.submit(PruneSubmission(id: "other", request: request(seed: 9), budget: .count(6), options: plus, deadlineMs: 1000).encoded())
        c.submit(PruneSubmission(id: "same", request: request(seed: 10), budget: .count(6), deadlineMs: 1000).encoded())
        c.advance(ms: 700)
        XCTAssertNil(c.reply("other"), "no Script+ request answered yet: it waits")
        guard case .error(_, let e)? = c.reply("same") else { return XCTFail("\(String(describing: c.reply("same")))") }
        XCTAssertEqual(e.code, .timeout)
        XCTAssertNil(c.coordinator.startToAnswer[WorkKind(plus)])
    }

    /// A coordinator paused while a request was in flight: the pause is not its workers' time, so
    /// what requests take from start to answer (which sheds waiting requests) leaves it out. It
    /// was counted: one 5 s pause made every request of that size "take" 2.6 s, and a request
    /// waiting after it was ended at once as "overloaded".
    func testAPausedCoordinatorDoesNotCountItsPauseAsItsWorkersTime() throws {
        let c = clusterWithOneRequestAnswered(afterMs: 180)
        c.holdTasks = true
        c.submit(PruneSubmission(id: "paused", request: request(seed: 8), budget: .count(5)).encoded())
        c.advance(ms: 50)
        c.now = c.now + .seconds(5)
        _ = c.coordinator.resumed(after: LoopGap.Gap(wall: .seconds(5), cpu: .zero), now: c.now)
        c.releaseTasks()
        XCTAssertNotNil(result(c, "paused"))
        let perToken = try XCTUnwrap(c.coordinator.startToAnswer[WorkKind(PruneOptions())]?.perToken)
        XCTAssertEqual(perToken * 120, 0.115, accuracy: 0.001, "the median of 180 and 50 ms")
        c.holdTasks = true
        c.submit(PruneSubmission(id: "held", request: request(seed: 9), budget: .count(5), deadlineMs: 2000).encoded())
        c.submit(PruneSubmission(id: "waits", request: request(seed: 10), budget: .count(6), deadlineMs: 1000).encoded())
        c.advance(ms: 600)
        XCTAssertNil(c.reply("waits"), "400 ms left, more than twice 115 ms: it waits")
    }

    func testADeadWorkersJobsMoveToAnotherWithTheSameAnswer() throws {
        var config = CoordinatorConfiguration()
        config.heartbeatMs = 100
        var wc = WorkerConfiguration()
        wc.heartbeatMs = 100
        for transfer in Transfer.allCases { for inReduce in [false, true] {
            let c = InMemoryCluster(config: config, workerConfig: wc)
            c.addWorker([10], credit: 4)
            var killed = false
            // Worker 10 dies as it starts its second proposal, or its reduce (counted among the
            // jobs its departure moved like the rest).
            var proposals = 0
            c.killOnTask = { id, work in
                guard id == [10] else { return false }
                switch work {
                case .propose where !inReduce: proposals += 1; if proposals == 2 { killed = true; return true }
                case .absorb where inReduce: killed = true; return true
                default: break
                }
                return false
            }
            let req = request(seed: 4, n: 150, shards: 5)
            c.submit(PruneSubmission(id: "d", request: req, budget: .count(15), transfer: transfer).encoded())
            XCTAssertTrue(killed)
            XCTAssertNil(c.reply("d"))
            c.addWorker([11], credit: 4)
            // Silent past a beat and a half: its unanswered shards are copied, its reduce moved,
            // and worker 11 answers before worker 10 is given up.
            c.advance(ms: 250)
            XCTAssertEqual(result(c, "d")?.indices, try inProcess(req, 15).kept, "\(transfer)")
            XCTAssertTrue(c.logs.contains { $0.hasPrefix("worker w10 silent for ") && $0.hasSuffix(" copied to other workers") } || inReduce,
                          "\(c.logs)")
            XCTAssertEqual(c.departures.map(\.reason), [], "\(transfer)")
            c.advance(ms: 350)
            // The departure and its requeued jobs, for the metrics: none (the copies went on).
            XCTAssertEqual(c.departures.map(\.reason), [.silent], "\(transfer)")
            XCTAssertEqual(c.departures.first?.requeued, c.coordinator.requeues, "\(transfer)")
            XCTAssertTrue(c.logs.contains { $0.hasPrefix("worker w10 went silent") && $0.contains("; \(c.coordinator.requeues) jobs moved") }, "\(c.logs)")
        } }
    }

    /// A shard whose worker's connection is reset four times in a row, each time before the
    /// worker it left registers again: four losses, one past `maxRequeues`, none a death. The
    /// last is held a liveness; the workers speak again within it (the same processes), the
    /// losses are taken back, and the request is answered. It failed `shard_failed` at once.
    func testAShardLosingItsWorkersToResetsIsHeldForTheirReturn() throws {
        let c = beatingCluster(coordinatorMs: 100)
        for id in 1...4 { c.addWorker([UInt8(id)], credit: 1) }
        c.holdTasks = true
        let req = request(seed: 38, n: 40, shards: 1)
        c.submit(PruneSubmission(id: "reset", request: req, budget: .count(9)).encoded())
        for _ in 0..<4 {
            guard let holder = c.coordinator.workers.first(where: { !$0.value.jobs.isEmpty })?.key else {
                return XCTFail("no worker holds the shard: \(c.logs.suffix(4))")
            }
            c.resetLink(Array(holder.prefix(1)))
        }
        XCTAssertNil(c.reply("reset"), "held, not failed: \(c.logs.suffix(4))")
        XCTAssertTrue(c.logs.contains { $0.contains("shard(0) held for a liveness") }, "\(c.logs.suffix(6))")
        c.releaseTasks()
        c.advance(ms: 1_000)
        XCTAssertEqual(result(c, "reset")?.indices, try inProcess(req, 9).kept, "\(c.logs.suffix(8))")
    }

    func testAShardThatKillsEveryWorkerFailsItsRequestAfterTheRequeues() throws {
        let c = beatingCluster(coordinatorMs: 100, maxRequeues: 2)
        // The shard at offset 40 kills whoever computes it.
        var deaths = 0
        c.killOnTask = { _, work in
            guard case .prepare(let t, _) = work, t.offset == 40 else { return false }
            deaths += 1
            return true
        }
        let req = request(seed: 5)
        c.submit(PruneSubmission(id: "poison", request: req, budget: .count(10)).encoded())
        for i in 0..<6 where c.reply("poison") == nil {
            c.addWorker([UInt8(20 + i)])
            c.advance(ms: 500)
        }
        XCTAssertEqual(errorCode(c, "poison"), .shardFailed)
        XCTAssertEqual(deaths, 3, "the first try and two requeues")
        // The last death was held a liveness (300 ms) for its process to speak again; none did.
        XCTAssertTrue(c.logs.contains { $0.contains(") held for a liveness") }, "\(c.logs)")
        // Another request is served by the next worker.
        c.killOnTask = { _, _ in false }
        c.addWorker([30])
        c.submit(PruneSubmission(id: "fine", request: request(seed: 6), budget: .count(10)).encoded())
        XCTAssertEqual(result(c, "fine")?.indices, try inProcess(request(seed: 6), 10).kept)
    }

    /// A shard parked (scored, waiting for its request's weights) on a worker that drains and
    /// leaves moves to another: a rolling update. Drains are no deaths, so however many in a
    /// row, the request does not fail as a shard that kills its workers (it did with
    /// `died 1 times (last: w2, left)` under a limit of none, now said `died once`).
    func testAShardMovedByWorkersThatDrainIsNotFailedAsDeadly() throws {
        var config = CoordinatorConfiguration()
        config.maxRequeues = 0
        let c = InMemoryCluster(config: config)
        for id: UInt8 in 1...2 { c.addWorker([id], credit: 1) }
        // Shard 0's reading waits, so the request's weights wait; shard 1 is read and parks.
        c.stallWork = { _, work in
            if case .prepare(let t, _) = work { return t.offset == 0 }
            return false
        }
        let req = request(seed: 12, n: 80, shards: 2)
        c.submit(PruneSubmission(id: "rolling", request: req, budget: .count(10)).encoded())
        for next: UInt8 in 3...6 {
            let r = try XCTUnwrap(c.coordinator.requests.values.first)
            let parked = try XCTUnwrap(c.coordinator.jobs[r.shardJobs[1]])
            XCTAssertTrue(parked.scored, "shard 1 was read and waits for the weights")
            c.addWorker([next], credit: 1)
            c.drain(try XCTUnwrap(parked.holder))
            XCTAssertNil(c.reply("rolling"), "\(String(describing: c.reply("rolling")))")
        }
        c.releaseTasks()
        XCTAssertEqual(result(c, "rolling")?.indices, try inProcess(req, 10).kept)
    }

    /// A shard on a worker stopped past its liveness is copied when it is suspect and moves when
    /// it is given up, counted a death; the same process speaks (registers) again when it runs
    /// (it was stopped, not killed), and the death is taken back, as it is for one only suspect,
    /// and for one whose connection was reset (the coordinator's send failed: it cannot tell a
    /// reset from a kill until the process is back). So stops and resets one after another, each
    /// worker back before the next, do not fail the request as a shard that kills its workers; a
    /// worker that does not come back still counts.
    func testASilenceIsNoDeathOnceTheSameProcessIsBack() throws {
        let c = beatingCluster(coordinatorMs: 100, maxRequeues: 1)
        c.addWorker([1], credit: 1)
        c.addWorker([2], credit: 1)
        // Both requests' tasks wait, so w2 (holding "busy") has no room for a copy of w1's shard.
        c.holdTasks = true
        let req = request(seed: 13, n: 40, shards: 1), other = request(seed: 14, n: 40, shards: 1)
        c.submit(PruneSubmission(id: "stops", request: req, budget: .count(10)).encoded())
        c.submit(PruneSubmission(id: "busy", request: other, budget: .count(10)).encoded())
        XCTAssertEqual(c.coordinator.workers[[1]]?.jobs.count, 1)
        for round in 0..<4 {
            // Stopped past its liveness, or its connection reset (twice, once while stopped).
            if round != 1 { c.pause([1]) }
            if round != 0 { c.resetLink([1]) }
            if round != 1 { c.advance(ms: 500) }
            XCTAssertEqual(c.coordinator.workerCount, 1, "given up")
            c.resume([1])
            c.advance(ms: 100)
            XCTAssertEqual(c.coordinator.workers.values.first { $0.name == "w1" }?.jobs.count, 1, "back, and given its shard again")
            XCTAssertEqual(c.logs.last { $0.contains("speaks again") }, "worker w1 speaks again, the same process: losing it no longer counts as a death against 1 job")
        }
        // Stopped for less than its liveness: suspect, its shard copied (a move), then heard again.
        let registrations = c.logs.filter { $0.hasPrefix("worker w1 registered") }.count
        c.pause([1])
        c.advance(ms: 200)
        XCTAssertTrue(c.logs.last!.hasPrefix("worker w1 silent for 200 ms: 1 of its shard jobs copied"), c.logs.last!)
        c.resume([1])
        c.advance(ms: 100)
        XCTAssertEqual(c.logs.filter { $0.hasPrefix("worker w1 registered") }.count, registrations, "never given up")
        XCTAssertEqual(c.logs.filter { $0.contains("speaks again") }.count, 5, "\(c.logs.suffix(4))")
        XCTAssertNil(c.reply("stops"))
        // Workers killed (silent, never back): their deaths count, past the limit of one.
        for next: UInt8 in 3...8 where c.reply("stops") == nil {
            for id in c.workers.keys where id != [2] { c.kill(id) }
            c.addWorker([next], credit: 1)
            c.advance(ms: 500)
        }
        guard case .error(_, let e)? = c.reply("stops") else { return XCTFail("\(String(describing: c.reply("stops")))") }
        XCTAssertTrue(e.message.contains("died 2 times"), e.message)
        c.releaseTasks()
        XCTAssertEqual(result(c, "busy")?.indices, try inProcess(other, 10).kept)
    }

    /// A worker that proposed a shard, then stopped past its liveness, is given up; on waking it
    /// is told `disconnect`, forgets its jobs and their bytes, and registers again under the same
    /// identity (its connection never closed). The shard's merge goes anywhere with the bytes
    /// sent again, not to it: pinned there, it waited for bytes the worker had let go, and the
    /// request for its deadline (the fault simulation found it).
    func testAMergeIsNotPinnedToAWorkerGivenUpSinceItsShard() throws {
        for transfer in Transfer.allCases {
            let c = beatingCluster(coordinatorMs: 100)
            c.addWorker([1], credit: 1)
            c.addWorker([2], credit: 1)
            // Shard 0 is read last, so the request waits on it while shard 1 is proposed (no
            // query: no weights to wait for).
            c.stallWork = { _, work in
                if case .prepare(let t, _) = work { return t.offset == 0 }
                return false
            }
            let req = request(seed: 44, n: 80, shards: 2, query: false)
            c.submit(PruneSubmission(id: "m", request: req, budget: .count(9), returnMode: .merged, transfer: transfer).encoded())
            let r = try XCTUnwrap(c.coordinator.requests.values.first)
            let proposer = try XCTUnwrap(c.coordinator.jobs[r.shardJobs[1]]?.holder)
            XCTAssertNotNil(r.proposals[1], "\(transfer)")
            c.pause(proposer)
            c.advance(ms: 500)
            XCTAssertEqual(c.departures.map(\.reason), [.silent], "\(transfer)")
            c.resume(proposer)
            c.advance(ms: 200)
            XCTAssertNotNil(c.coordinator.workers[proposer], "registered again: \(transfer)")
            c.releaseTasks()
            c.advance(ms: 200)
            XCTAssertEqual(result(c, "m")?.indices, try inProcess(req, 9).kept, "\(transfer)")
            XCTAssertEqual(result(c, "m")?.features?.rows, 9, "\(transfer)")
        }
    }

    func testADirectClientThatNeverSendsItsBytesTimesOut() throws {
        let c = InMemoryCluster()
        c.addWorker([10])
        c.clientSendsData = false
        c.submit(PruneSubmission(id: "silent", request: request(seed: 7), budget: .count(5), deadlineMs: 300, transfer: .direct).encoded())
        c.advance(ms: 250)
        XCTAssertNil(c.reply("silent"))
        c.advance(ms: 100)
        XCTAssertEqual(errorCode(c, "silent"), .timeout)
        XCTAssertEqual(c.coordinator.requestsInFlight, 0)
        // The error says where the bytes were to go (a worker's --data-advertise the client may not reach).
        guard case .error(_, let e)? = c.reply("silent") else { return XCTFail("no error reply") }
        XCTAssertTrue(e.message.hasSuffix("the bytes of 2 shards sent direct never reached their workers: can the client reach mem://10 (a worker's --data-advertise)?"), e.message)
    }

    /// A request its client gives up (`cancel`) ends at once, unanswered: its jobs waiting for
    /// bytes that will never come free their worker for the next request, long before its
    /// deadline. Only a client that waits for it can give it up.
    func testACancelledRequestEndsAtOnceAndFreesItsWorker() throws {
        let c = InMemoryCluster()
        c.addWorker([10], credit: 2)
        c.clientSendsData = false
        c.submit(PruneSubmission(id: "abandoned", request: request(seed: 8), budget: .count(5), transfer: .direct).encoded())
        c.submit(PruneSubmission(id: "next", request: request(seed: 9), budget: .count(6)).encoded())
        c.advance(ms: 500)
        XCTAssertNil(c.reply("next"), "the worker's credit is held by shards waiting for bytes")
        let cancel = [Frame([])] + CancelMessage(id: "abandoned").frames()
        XCTAssertTrue(c.coordinator.clientMessage(route: [9, 9], frames: cancel, now: c.now).isEmpty, "not this client's request")
        XCTAssertTrue(c.coordinator.clientMessage(route: c.route, frames: [Frame([])] + CancelMessage(id: "unknown").frames(), now: c.now).isEmpty)
        XCTAssertEqual(c.coordinator.requestsInFlight, 2)
        c.send(cancel.map(\.bytes))
        XCTAssertEqual(c.coordinator.requestsInFlight, 1)
        XCTAssertEqual(c.finished.last?.outcome, "cancelled")
        c.advance(ms: 300)
        XCTAssertEqual(result(c, "next")?.indices, try inProcess(request(seed: 9), 6).kept)
        XCTAssertFalse(c.replies.contains { r in
            if case .placement = r { return false }
            return r.id == "abandoned"
        }, "a cancelled request is not answered")
        XCTAssertEqual(c.workers[[10]]!.heldJobs, 0, "the worker let go of the cancelled request's jobs")
        // Without a query (every weight known up front) one shard proposes while the other waits
        // for bytes that never come, and the reduce (which has no ticket) waits for it: cancelled,
        // the worker lets both go.
        var sent = 0
        c.clientSendsData = true
        c.damageData = { frames in sent += 1; return sent == 1 ? frames : [Frame([0xC1])] }
        c.submit(PruneSubmission(id: "half", request: request(seed: 10, shards: 2, query: false), budget: .count(5), transfer: .direct).encoded())
        c.advance(ms: 300)
        XCTAssertEqual(c.workers[[10]]!.heldJobs, 2, "a shard waiting for its bytes, and the reduce for its proposal")
        c.send(([Frame([])] + CancelMessage(id: "half").frames()).map(\.bytes))
        XCTAssertEqual(c.workers[[10]]!.heldJobs, 0)
        // A cancel with a field the message does not have is refused, naming it.
        c.send([[], Envelope.encode(ProtocolVersion.header("cancel", id: "next") + [("why", .string("bored"))])])
        XCTAssertEqual(errorCode(c, "next"), .badRequest)
    }

    /// Overload: a request waiting for a worker ends with `timeout` once it has less time left
    /// than twice what requests of its size have taken from start to answer, saying why, and
    /// never reaches a worker (served in order, an overloaded queue starts only requests about
    /// to expire); one already started is not ended early, and one that finds a worker free
    /// starts whatever its deadline.
    func testARequestWithTooLittleTimeLeftToBeAnsweredEndsWhileItWaits() throws {
        let c = clusterWithOneRequestAnswered(afterMs: 180)
        c.holdTasks = true
        c.submit(PruneSubmission(id: "held", request: request(seed: 8), budget: .count(5), deadlineMs: 2000).encoded())
        c.submit(PruneSubmission(id: "late", request: request(seed: 9), budget: .count(6), deadlineMs: 1000).encoded())
        c.advance(ms: 600)
        XCTAssertNil(c.reply("late"), "400 ms left, more than twice 180 ms: it waits (past half its deadline)")
        c.advance(ms: 100)
        guard case .error(_, let e)? = c.reply("late") else { return XCTFail("\(String(describing: c.reply("late")))") }
        XCTAssertEqual(e.code, .timeout)
        XCTAssertEqual(e.message, "not started in time: 350 ms of its 1.00 s deadline left, where requests of its size take about 180 ms from start to answer: the cluster is overloaded (1 request in progress on 1 worker); ended now rather than answered late: add workers, or send fewer requests")
        XCTAssertEqual(c.finished.last?.outcome, "timeout")
        XCTAssertEqual(c.finished.last?.logEntry.outcome, .overloaded, "a reason to scale, in the metrics")
        XCTAssertEqual(c.coordinator.requestsInFlight, 1)
        XCTAssertEqual(c.coordinator.queuedJobs, 2, "the other shards of the one started; none of the one ended")
        c.advance(ms: 1250)
        XCTAssertNil(c.reply("held"), "started: it is not ended early, and runs to its deadline")
        c.advance(ms: 100)
        XCTAssertEqual(errorCode(c, "held"), .timeout)
        // A worker free: a request starts, however short its deadline.
        c.releaseTasks()
        c.submit(PruneSubmission(id: "short", request: request(seed: 9), budget: .count(6), deadlineMs: 100).encoded())
        XCTAssertEqual(result(c, "short")?.indices, try inProcess(request(seed: 9), 6).kept)
    }

    /// Overload: for a second after a waiting request was shed, the waiting request with the
    /// most time left starts first (the newest, where deadlines are alike; the oldest wait until
    /// they are shed; one due much later is not passed over), after the jobs of the one started;
    /// without shedding, requests start in the order they came, however long they waited.
    func testAfterASheddingTheWaitingRequestWithTheMostTimeLeftStartsFirst() throws {
        for (shedding, oldDeadlineMs, first) in [(false, 5000, "old"), (true, 5000, "new"), (true, 60_000, "old")] {
            let c = clusterWithOneRequestAnswered(afterMs: 180)
            c.holdTasks = true
            c.submit(PruneSubmission(id: "held", request: request(seed: 8), budget: .count(5), deadlineMs: 5000).encoded())
            // Shed at 150 ms, with less than twice 180 ms left.
            c.submit(PruneSubmission(id: "short", request: request(seed: 11), budget: .count(6), deadlineMs: shedding ? 500 : 5000).encoded())
            c.submit(PruneSubmission(id: "old", request: request(seed: 9), budget: .count(6), deadlineMs: oldDeadlineMs).encoded())
            c.advance(ms: 400)
            XCTAssertEqual(errorCode(c, "short"), shedding ? .timeout : nil)
            c.submit(PruneSubmission(id: "new", request: request(seed: 10), budget: .count(6), deadlineMs: 5000).encoded())
            while c.reply("old") == nil && c.reply("new") == nil { c.releaseTasks(of: [10]) }
            XCTAssertNotNil(c.reply("held"), "started first, finished first")
            XCTAssertNotNil(c.reply(first), "shedding: \(shedding), old due in \(oldDeadlineMs) ms")
            XCTAssertNil(c.reply(first == "old" ? "new" : "old"))
            c.releaseTasks()
            XCTAssertEqual(result(c, "old")?.indices, try inProcess(request(seed: 9), 6).kept)
            XCTAssertEqual(result(c, "new")?.indices, try inProcess(request(seed: 10), 6).kept)
        }
    }

    func testNoWorkerMeansTimeoutAtTheDeadline() throws {
        let c = InMemoryCluster()
        c.submit(PruneSubmission(id: "r3", request: request(seed: 3), budget: .count(5), deadlineMs: 500).encoded())
        c.advance(ms: 400)
        XCTAssertNil(c.reply("r3"))
        c.advance(ms: 150)
        XCTAssertEqual(errorCode(c, "r3"), .timeout)
    }

    func testBusyBeyondTheQueueAndRetriesAreAnsweredOnce() throws {
        var config = CoordinatorConfiguration()
        config.maxRequests = 2
        let c = InMemoryCluster(config: config)
        for i in 0..<2 { c.submit(PruneSubmission(id: "q\(i)", request: request(seed: 4), budget: .count(5)).encoded()) }
        c.submit(PruneSubmission(id: "q2", request: request(seed: 4), budget: .count(5)).encoded())
        XCTAssertEqual(errorCode(c, "q2"), .busy)
        // A retry of an id in flight joins it; the answer comes once per route, and from the
        // cache afterwards.
        c.submit(PruneSubmission(id: "q0", request: request(seed: 4), budget: .count(5)).encoded())
        c.addWorker([10])
        let answers = c.replies.filter { $0.id == "q0" }
        XCTAssertEqual(answers.count, 1)
        c.submit(PruneSubmission(id: "q0", request: request(seed: 4), budget: .count(5)).encoded())
        XCTAssertEqual(c.replies.filter { $0.id == "q0" }.count, 2)
        XCTAssertEqual(result(c, "q0")?.indices, try inProcess(request(seed: 4), 5).kept)
    }

    /// A request id names one request: sent again for another (other bytes, another budget), in
    /// flight or answered, it is refused with `bad_request` naming the id, where it was answered
    /// with the first request's answer; a try of the same request (with the time it has left as
    /// its deadline) still joins it, or is answered from the results.
    func testAnIDReusedForAnotherRequestIsRefused() throws {
        let c = InMemoryCluster()
        let first = PruneSubmission(id: "frame-1", request: request(seed: 4), budget: .count(5))
        let want = try inProcess(request(seed: 4), 5).kept
        c.submit(first.encoded())
        c.submit(PruneSubmission(id: "frame-1", request: request(seed: 5), budget: .count(5)).encoded())
        XCTAssertEqual(errorCode(c, "frame-1"), .badRequest, "other bytes, while the first is in flight")
        guard case .error(_, let e)? = c.reply("frame-1") else { return XCTFail() }
        XCTAssertTrue(e.message.contains("request id 'frame-1' names another request"), e.message)
        c.submit(PruneSubmission(id: "frame-1", request: request(seed: 4), budget: .count(5), deadlineMs: 9000).encoded())
        c.addWorker([10])
        XCTAssertEqual(result(c, "frame-1")?.indices, want)
        XCTAssertEqual(c.replies.filter { if case .result = $0 { return true } else { return false } }.count, 1,
                       "the try joined the first: one answer, one route")
        for other in [PruneSubmission(id: "frame-1", request: request(seed: 4), budget: .count(6)),
                      PruneSubmission(id: "frame-1", request: request(seed: 5), budget: .count(5)),
                      PruneSubmission(id: "frame-1", request: request(seed: 4), budget: .count(5), dtype: .f16)] {
            c.submit(other.encoded())
            XCTAssertEqual(errorCode(c, "frame-1"), .badRequest, "answered: \(other.budget), \(other.dtype)")
        }
        c.submit(PruneSubmission(id: "frame-1", request: request(seed: 4), budget: .count(5), deadlineMs: 500).encoded())
        XCTAssertEqual(result(c, "frame-1")?.indices, want, "the same request again: from the results")
    }

    /// The bytes in flight are bounded too: a second request that would take them past the
    /// bound is busy, and fits again once the first is answered.
    func testBusyBeyondTheBytesInFlight() throws {
        let first = PruneSubmission(id: "b0", request: request(seed: 4), budget: .count(5)).encoded()
        let size = first.frames().reduce(0) { $0 + $1.count }
        var config = CoordinatorConfiguration()
        config.maxInFlightBytes = size + size / 2
        let c = InMemoryCluster(config: config)
        c.submit(first)
        c.submit(PruneSubmission(id: "b1", request: request(seed: 4), budget: .count(5)).encoded())
        XCTAssertEqual(errorCode(c, "b1"), .busy)
        c.addWorker([10])
        XCTAssertNotNil(result(c, "b0"))
        c.submit(PruneSubmission(id: "b2", request: request(seed: 4), budget: .count(5)).encoded())
        XCTAssertEqual(result(c, "b2")?.indices, try inProcess(request(seed: 4), 5).kept)
    }

    /// A request larger than all the coordinator holds at once is `too_large` (it would have been
    /// `busy` at every try, until its deadline); a coordinator fitted to a memory limit holds half
    /// of it, in frames no larger, and an eighth for results.
    func testARequestLargerThanTheCoordinatorHoldsIsTooLarge() throws {
        let big = PruneSubmission(id: "big", request: request(seed: 4), budget: .count(5)).encoded()
        let size = big.frames().reduce(0) { $0 + $1.count }
        var fitted = CoordinatorConfiguration()
        XCTAssertNil(fitted.fit(MemoryLimit(bytes: 64 << 30, source: "its cgroup")), "the defaults fit 64 GiB")
        XCTAssertNotNil(fitted.fit(MemoryLimit(bytes: 2 * (size - 1), source: "its cgroup")))
        XCTAssertEqual([fitted.maxInFlightBytes, fitted.maxMessageBytes, fitted.resultCacheBytes], [size - 1, size - 1, (size - 1) / 4])
        var config = CoordinatorConfiguration()
        config.maxInFlightBytes = size - 1  // each frame fits, all of them do not
        let c = InMemoryCluster(config: config)
        c.addWorker([10])
        c.submit(big)
        XCTAssertEqual(errorCode(c, "big"), .tooLarge)
    }

    func testShardsGoOnlyToWorkersWhoseMemoryHoldsThemAndNoneIsTooLargeAtOnce() throws {
        // Shards of 40 tokens of width 24 hold 4 x (40 x 24 + 20 x 20) = 5440 bytes at the least.
        let req = request(seed: 7, shards: 3)
        let c = InMemoryCluster()
        c.addWorker([10], memory: 5439)
        c.addWorker([20], memory: 5440)
        c.submit(PruneSubmission(id: "fits", request: req, budget: .count(9)).encoded())
        XCTAssertEqual(result(c, "fits")?.indices, try inProcess(req, 9).kept)
        XCTAssertEqual(c.jobsByWorker[[10], default: []].filter { $0.kind == .shard }.count, 0, "the small worker took no shard")
        XCTAssertEqual(c.jobsByWorker[[20], default: []].filter { $0.kind == .shard }.count, 3)

        // Workers too small, all of them: too_large at once, saying what it needs; one that does
        // not say its limit may take it.
        for (late, sayer) in [(false, true), (true, true), (false, false)] {
            let d = InMemoryCluster()
            if !late { d.addWorker([10], memory: 4000) }
            if !sayer { d.addWorker([30]) }
            d.submit(PruneSubmission(id: "big", request: req, budget: .count(9)).encoded())
            if late { d.addWorker([10], memory: 4000) }
            if sayer {
                guard case .error(_, let e)? = d.reply("big") else { return XCTFail("late \(late): \(String(describing: d.reply("big")))") }
                XCTAssertEqual(e.code, .tooLarge)
                XCTAssertTrue(e.message.contains("shard 0 (40 tokens of width 24) needs 5.44 kB at the least"), e.message)
                XCTAssertTrue(e.message.contains("the only worker's memory limit: 4.00 kB"), e.message)
            } else {
                XCTAssertEqual(result(d, "big")?.indices, try inProcess(req, 9).kept)
                XCTAssertEqual(d.jobsByWorker[[10], default: []].filter { $0.kind == .shard }.count, 0)
            }
        }
    }

    /// A worker with credit for two shards is sent a second only where its memory holds both:
    /// their features and the larger graph block. It was sent two that each fit alone, and a
    /// limit that held one killed it for memory.
    func testAWorkerIsSentOnlyTheShardsItsMemoryHoldsAtOnce() throws {
        // Shards of 40 tokens of width 24: features 3840 bytes each, graph block 1600.
        let req = request(seed: 7, shards: 3)
        for (memory, atOnce) in [(9279, 1), (9280, 2), (13_120, 3)] {
            let c = InMemoryCluster()
            c.addWorker([10], credit: 3, memory: memory)
            c.holdTasks = true
            c.submit(PruneSubmission(id: "m", request: req, budget: .count(9)).encoded())
            XCTAssertEqual(c.coordinator.roster(now: c.now).first?.jobs, atOnce, "limit \(memory)")
            XCTAssertEqual(c.coordinator.roster(now: c.now).first?.bytesHeld, atOnce * 3840 + 1600, "limit \(memory)")
            c.releaseTasks()
            XCTAssertEqual(result(c, "m")?.indices, try inProcess(req, 9).kept, "limit \(memory)")
        }
        // Shards parked (scored, waiting for their request's weights) count against a later
        // request's shards, not their own request's: counted for their own, a request whose
        // worker holds one shard at a time would wait forever on itself.
        let a = request(seed: 7, n: 121, shards: 3)  // 40, 40 and 41 tokens; 41 x 24 x 4 + 21 x 20 x 4 = 5616 bytes
        let c = InMemoryCluster()
        c.addWorker([10], credit: 3, memory: 12_000)
        c.stallWork = { _, work in
            if case .prepare(let t, _) = work { return t.rows == 41 }
            return false
        }
        c.submit(PruneSubmission(id: "a", request: a, budget: .count(9)).encoded())
        c.submit(PruneSubmission(id: "b", request: req, budget: .count(9)).encoded())
        XCTAssertEqual(c.coordinator.roster(now: c.now).first?.jobs, 1, "a's last shard, being read")
        XCTAssertEqual(c.coordinator.queuedJobs, 3, "b's shards wait for a's: 3840 bytes of features beside a's 11,616 and a block of 1680")
        c.releaseTasks(of: [10])
        XCTAssertEqual(result(c, "a")?.indices, try inProcess(a, 9).kept)
        XCTAssertEqual(result(c, "b")?.indices, try inProcess(req, 9).kept)
    }

    /// A worker with no room for a shard beside the ones it works on (for another coordinator,
    /// which this one does not see) sends it back (`busy`): the shard goes to another worker, or
    /// to that one a second later, and the request is answered, where `busy` failed it.
    func testAShardAWorkerHasNoRoomForGoesElsewhereOrWaits() throws {
        for another in [false, true] {
            let req = request(seed: 7, n: 40, shards: 1)
            let c = InMemoryCluster()
            c.addWorker([10], credit: 1, memory: 1 << 20)
            var refused: Int?, sentAgain = false
            c.tamper = { id, frames in
                guard id == [10], let (e, type) = try? BackendEnvelope.open(frames), let job = try? e.int("job") else { return [(id, frames)] }
                if refused == nil, type == ScoresMessage.type {
                    refused = job
                    return [(id, ShardErrorMessage(job: job, error: ProtocolError(.busy, "no room")).frames())]
                }
                return job == refused && !sentAgain ? [] : [(id, frames)]  // what it computed of the job it sent back
            }
            c.damageToWorker = { frames in
                if let (e, type) = try? BackendEnvelope.open(frames), type == ShardTask.type, (try? e.int("job")) == refused { sentAgain = true }
                return frames
            }
            c.submit(PruneSubmission(id: "n", request: req, budget: .count(9)).encoded())
            XCTAssertNotNil(refused)
            XCTAssertTrue(c.logs.contains("request n: shard 0 sent back by w10 (no room); it goes to another worker, or there later"), "\(c.logs.suffix(3))")
            XCTAssertEqual(c.moves.map(\.reason), [.noRoom])
            if another {
                c.addWorker([20], memory: 1 << 20)
                XCTAssertEqual(c.jobsByWorker[[20], default: []].filter { $0.kind == .shard }.count, 1, "w20 took it at once")
            } else {
                c.advance(ms: 900)
                XCTAssertEqual(c.coordinator.queuedJobs, 1, "w10 gets no shard for a second")
                c.advance(ms: 200)
                XCTAssertTrue(sentAgain)
            }
            XCTAssertEqual(result(c, "n")?.indices, try inProcess(req, 9).kept, "another worker: \(another)")
        }
    }

    /// A worker on the client's host whose placement named its scope, but that could not read the
    /// client's shared memory all the same (the kernel refused it), sends the shard back
    /// (`unreadable_shared_memory`): it goes again under a new ticket, its placement naming no
    /// scope, so the client sends the bytes, and so do that client's later placements there.
    /// A refusal of a shard whose placement named no scope fails its request (the client named
    /// memory it was not asked to). Both shards of one request refused: both go again. A merge's
    /// bytes, sent again to the worker a merge moved to, likewise.
    func testAShardWhoseSharedMemoryAWorkerCouldNotReadIsSentAsBytes() throws {
        var config = WorkerConfiguration()
        config.dataBind = "ipc://@in-memory"
        let c = InMemoryCluster(workerConfig: config)
        c.addWorker([10], credit: 2)
        // The client names its bytes in a file that is no sealed memfd: the worker cannot read it.
        let here = try XCTUnwrap(SharedMemoryScope.current)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("coordinator-shared-\(getpid())").path
        let file = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        defer { close(file); unlink(path) }
        var refuse = 2
        c.damageData = { frames in
            guard refuse > 0, let e = try? Envelope.decode(frames[0]), let t = try? e.ticket("ticket") else { return frames }
            refuse -= 1
            let named = TensorCodec.descriptor(dtype: .f32, shape: [40, 24], shared: SharedReference(pid: getpid(), fd: file, offset: 0, namespace: here.pidNamespace))
            return [Frame(Envelope.encode(ProtocolVersion.header("data") + [("ticket", .binary(t.bytes)), ("features", named)]))]
        }
        let req = request(seed: 7, n: 80, shards: 2)
        c.submit(PruneSubmission(id: "s", request: req, budget: .count(9), transfer: .direct).encoded())
        XCTAssertEqual(result(c, "s")?.indices, try inProcess(req, 9).kept)
        XCTAssertEqual(c.placements.map(\.sharedMemory), [here, here, nil, nil], "the scope, then the bytes")
        XCTAssertEqual(c.moves.map(\.reason), [.unreadableSharedMemory, .unreadableSharedMemory])
        XCTAssertTrue(c.logs.contains { $0.hasPrefix("request s: w10 could not read shard 0 in its client's shared memory (the client's shared memory could not be read: cannot read the shared memory of process") }, "\(c.logs)")
        c.submit(PruneSubmission(id: "t", request: req, budget: .count(9), transfer: .direct).encoded())
        XCTAssertEqual(result(c, "t")?.indices, try inProcess(req, 9).kept)
        XCTAssertEqual(c.placements.suffix(2).map(\.sharedMemory), [nil, nil], "that client sends that worker the bytes from then on")
        refuse = 1
        c.submit(PruneSubmission(id: "u", request: req, budget: .count(9), transfer: .direct).encoded())
        XCTAssertEqual(errorCode(c, "u"), .unreadableSharedMemory, "memory named where none was asked for")
        XCTAssertEqual(c.moves.count, 2)
        // A merge's bytes (its shard's, sent again where the merge runs on another worker: the
        // shard's was given up) refused likewise: sent as bytes.
        let m = beatingCluster(coordinatorMs: 100, workerConfig: config)
        m.addWorker([1], credit: 1)
        m.addWorker([2], credit: 1)
        m.stallWork = { _, work in
            if case .prepare(let t, _) = work { return t.offset == 0 }
            return false
        }
        var refuseMerge = false
        m.damageData = { frames in
            guard refuseMerge, let e = try? Envelope.decode(frames[0]), let t = try? e.ticket("ticket") else { return frames }
            refuseMerge = false
            let named = TensorCodec.descriptor(dtype: .f32, shape: [40, 24], shared: SharedReference(pid: getpid(), fd: file, offset: 0, namespace: here.pidNamespace))
            return [Frame(Envelope.encode(ProtocolVersion.header("data") + [("ticket", .binary(t.bytes)), ("features", named)]))]
        }
        let merged = request(seed: 44, n: 80, shards: 2, query: false)
        m.submit(PruneSubmission(id: "m", request: merged, budget: .count(9), returnMode: .merged, transfer: .direct).encoded())
        let r = try XCTUnwrap(m.coordinator.requests.values.first)
        let proposer = try XCTUnwrap(m.coordinator.jobs[r.shardJobs[1]]?.holder)
        m.pause(proposer)
        m.advance(ms: 500)
        m.resume(proposer)
        m.advance(ms: 200)
        refuseMerge = true
        m.releaseTasks()
        m.advance(ms: 200)
        XCTAssertEqual(m.moves.map(\.reason).filter { $0 == .unreadableSharedMemory }.count, 1, "\(m.logs.suffix(5))")
        XCTAssertFalse(refuseMerge, "a merge's bytes were sent")
        XCTAssertEqual(result(m, "m")?.indices, try inProcess(merged, 9).kept)
        XCTAssertEqual(result(m, "m")?.features?.rows, 9)
    }

    /// The roster `/workers` serves: each worker as it said it is, by name, and silent once it
    /// missed its beats.
    func testTheRosterListsWorkersAsTheyRegisteredAndWhetherTheyAreSilent() throws {
        let c = InMemoryCluster()
        c.addWorker([20], credit: 3, memory: 1 << 30)
        c.addWorker([10], takesData: false, bf16: "oneDNN 2.6.3 (libdnnl.so.2), kernel brg:avx512_core_bf16")
        let listed = c.coordinator.roster(now: c.now)
        XCTAssertEqual(listed.map(\.bf16), ["oneDNN 2.6.3 (libdnnl.so.2), kernel brg:avx512_core_bf16", nil])
        XCTAssertEqual(listed.map(\.name), ["w10", "w20"])
        XCTAssertEqual(listed.map(\.credit), [2, 3])
        XCTAssertEqual(listed.map(\.memoryBytes), [nil, 1 << 30])
        XCTAssertEqual(listed.map(\.data), [nil, c.endpoint(of: [20])])
        XCTAssertEqual(listed.map(\.silent), [false, false])
        XCTAssertEqual(c.coordinator.roster(now: c.now + .seconds(2)).map(\.silent), [true, true], "a beat and a half without a word")
    }

    func testDrainingRefusesNewWorkFinishesOldThenGivesUpAtTheTimeout() throws {
        var config = CoordinatorConfiguration()
        config.drainTimeoutMs = 400
        let c = InMemoryCluster(config: config)
        c.submit(PruneSubmission(id: "d1", request: request(seed: 5), budget: .count(6)).encoded())
        _ = c.coordinator.beginDrain(now: c.now)
        c.submit(PruneSubmission(id: "d2", request: request(seed: 5), budget: .count(6)).encoded())
        XCTAssertEqual(errorCode(c, "d2"), .shuttingDown)
        XCTAssertFalse(c.coordinator.isDrained)
        c.addWorker([10])
        XCTAssertNotNil(result(c, "d1"))
        XCTAssertTrue(c.coordinator.isDrained)
        // A request with no worker is answered shutting_down when the drain times out.
        let d = InMemoryCluster(config: config)
        d.submit(PruneSubmission(id: "stuck", request: request(seed: 5), budget: .count(6)).encoded())
        _ = d.coordinator.beginDrain(now: d.now)
        d.advance(ms: 350)
        XCTAssertNil(d.reply("stuck"))
        d.advance(ms: 100)
        XCTAssertEqual(errorCode(d, "stuck"), .shuttingDown)
        XCTAssertTrue(d.coordinator.isDrained)
    }

    func testTheResultCacheIsBoundedByBytes() throws {
        var config = CoordinatorConfiguration()
        config.resultCacheBytes = 30_000
        let c = InMemoryCluster(config: config)
        c.addWorker([10])
        let req = request(seed: 8, width: 400)
        for i in 0..<4 { c.submit(PruneSubmission(id: "f\(i)", request: req, budget: .count(10), returnMode: .features).encoded()) }
        // Each answer holds 10 x 400 floats (16 kB): only the newest fits.
        let cache = c.coordinator.cacheStatistics
        XCTAssertEqual(cache.entries, 1)
        XCTAssertLessThanOrEqual(cache.bytes, 30_000)
    }

    func testHostileClientMessagesGetTypedErrors() throws {
        let c = InMemoryCluster()
        c.addWorker([10])
        let valid = PruneSubmission(id: "h", request: request(seed: 6), budget: .count(5)).frames()
        var n = 0
        func code(_ frames: [[UInt8]]) -> ErrorCode? {
            n += 1
            let before = c.replies.count
            c.send(frames)
            c.advance(ms: 50)
            guard c.replies.count > before, case .error(_, let e) = c.replies.last! else { return nil }
            return e.code
        }
        func envelope(_ edit: (inout [(String, MessagePackValue)]) -> Void) -> [[UInt8]] {
            var e = try! Envelope.decode(valid[0]).fields.map { ($0.key, $0.value) }.sorted { $0.0 < $1.0 }
            e = e.map { $0.0 == "id" ? ("id", .string("h\(n)")) : $0 }
            edit(&e)
            return [[]] + [Envelope.encode(e)] + Array(valid.dropFirst())
        }
        XCTAssertEqual(code([[0x93, 0x01]]), .badMessage, "no delimiter")
        XCTAssertEqual(code([[], [0xC1]]), .badMessage, "reserved byte")
        XCTAssertEqual(code([[], Array(valid[0].prefix(7))]), .badMessage, "truncated envelope")
        XCTAssertEqual(code([[], MessagePack.encode(.array([.int(1)]))]), .badMessage, "not a map")
        XCTAssertEqual(code(envelope { $0 = $0.map { $0.0 == "v" ? ("v", .int(2)) : $0 } }), .unsupportedVersion)
        XCTAssertEqual(code(envelope { $0 = $0.map { $0.0 == "type" ? ("type", .string("explode")) : $0 } }), .unknownType)
        XCTAssertEqual(code(envelope { $0.append(("colour", .string("red"))) }), .badRequest, "unknown field")
        XCTAssertEqual(code(envelope { $0 = $0.map { $0.0 == "budget" ? ("budget", .int(0)) : $0 } }), .badBudget)
        XCTAssertEqual(code(envelope { $0 = $0.map { $0.0 == "budget" ? ("budget", .float(1.5)) : $0 } }), .badBudget)
        XCTAssertEqual(code(envelope { $0 = $0.map { $0.0 == "budget" ? ("budget", .string("many")) : $0 } }), .badRequest)
        XCTAssertEqual(code(envelope { $0.append(("transfer", .string("teleport"))) }), .badRequest)
        XCTAssertEqual(code(envelope { $0 = $0.map { $0.0 == "shards" ? ("shards", .array([.array([.int(0), .int(50)]), .array([.int(40), .int(120)])])) : $0 } }), .badShards)
        XCTAssertEqual(code(envelope { $0 = $0.map { $0.0 == "features" ? ("features", TensorCodec.descriptor(shape: [121, 24], frame: 1)) : $0 } }), .badTensor, "shape disagrees with bytes")
        XCTAssertEqual(code(envelope { $0 = $0.map { $0.0 == "features" ? ("features", TensorCodec.descriptor(shape: [119, 24], frame: 1)) : $0 } }), .badTensor, "more bytes than the shape")
        XCTAssertEqual(code(envelope { $0 = $0.map { $0.0 == "features" ? ("features", TensorCodec.descriptor(shape: [1 << 40, 1 << 30], frame: 1)) : $0 } }), .tooLarge)
        XCTAssertEqual(code(envelope { $0 = $0.map { $0.0 == "features" ? ("features", TensorCodec.descriptor(shape: [120, 24], frame: 9)) : $0 } }), .badTensor, "missing frame")
        XCTAssertEqual(code(envelope { $0 = $0.map { $0.0 == "options" ? ("options", Envelope.mapValue([("theta", .float(1))])) : $0 } }), .badOption)
        XCTAssertEqual(code(envelope { $0 = $0.map { $0.0 == "options" ? ("options", Envelope.mapValue([("method", .string("divprune"))])) : $0 } }), .badOption, "an in-process method")
        XCTAssertEqual(code(envelope { $0 = $0.map { $0.0 == "options" ? ("options", Envelope.mapValue([("discount", .int(-1))])) : $0 } }), .badOption)
        XCTAssertEqual(code(envelope { $0.append(("unit_tokens", .int(0))) }), .badOption)
        XCTAssertEqual(code(envelope { $0.append(("unit_tokens", .string("frame"))) }), .badRequest)
        XCTAssertEqual(code(envelope { $0 = $0.map { $0.0 == "query" ? ("query", TensorCodec.descriptor(shape: [10, 8], frame: 3)) : $0 } }), .badShape, "query width differs from the embeddings'")
        // Values are checked by the worker holding them: the error still reaches the request.
        var nan = envelope { _ in }
        nan[2].replaceSubrange(40..<44, with: [0, 0, 0xC0, 0x7F])
        XCTAssertEqual(code(nan), .nonFinite)
        XCTAssertTrue(c.logs.contains { $0.contains("row 0, column 10") }, "the error names the place")
        // In the embeddings too (found through their norms, which the scores need anyway).
        var nanEmbedding = envelope { _ in }
        nanEmbedding[3].replaceSubrange(148..<152, with: [0, 0, 0xC0, 0x7F])
        XCTAssertEqual(code(nanEmbedding), .nonFinite)
        XCTAssertTrue(c.logs.contains { $0.contains("embeddings") && $0.contains("row 2, column 5") }, "the error names the place")
        // The worker's metrics count the shard it refused, with its code.
        XCTAssertEqual(c.workerJobs.filter { $0.code == "non_finite" }.map(\.kind), [.shard, .shard])
        XCTAssertEqual(c.finished.last?.logEntry.outcome, .rejected)
        XCTAssertEqual(c.finished.last?.logEntry.code, "non_finite")
        // And a valid request still goes through afterwards.
        XCTAssertNil(code(envelope { _ in }))
        XCTAssertEqual(c.coordinator.requestsInFlight, 0)
    }

    /// Tokens, width and shards up to the limits go through; one more of any is too large (each
    /// limit alone: the other left at its default, so the bound on elements does not decide).
    func testLimitsAdmitTheirOwnValueAndNotOneMore() throws {
        let d = RequestLimits()
        let cases: [(Int, Int, Int, ErrorCode?)] = [(120, 24, 3, nil), (119, d.maxWidth, d.maxShards, .tooLarge),
                                                    (d.maxTokens, 23, d.maxShards, .tooLarge), (d.maxTokens, d.maxWidth, 2, .tooLarge)]
        for (tokens, width, shards, expected) in cases {
            var config = CoordinatorConfiguration()
            config.limits.maxTokens = tokens
            config.limits.maxWidth = width
            config.limits.maxShards = shards
            let c = InMemoryCluster(config: config)
            c.addWorker([10])
            c.submit(PruneSubmission(id: "l", request: request(seed: 6), budget: .count(5)).encoded())
            if let expected {
                XCTAssertEqual(errorCode(c, "l"), expected, "limits \(tokens) x \(width), \(shards) shards")
            } else {
                XCTAssertEqual(result(c, "l")?.indices, try inProcess(request(seed: 6), 5).kept)
            }
        }
    }

    func testOversizeMessagesAreAnsweredTooLarge() throws {
        var config = CoordinatorConfiguration()
        config.maxMessageBytes = 4000
        let c = InMemoryCluster(config: config)
        c.submit(PruneSubmission(id: "big", request: request(seed: 9, width: 40), budget: .count(5)).encoded())
        XCTAssertEqual(errorCode(c, "big"), .tooLarge)
        if case .error(_, let e)? = c.reply("big") { XCTAssertTrue(e.message.contains("4.00 kB"), e.message) }
    }
}
