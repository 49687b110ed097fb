import Foundation
import Logging
import XCTest
import ScriptCore
import ScriptProtocol
import ScriptService
import ScriptTransport
import ScriptWire
@testable import ScriptWorker

/// The worker's logic driven directly: the test plays the coordinator and the compute thread,
/// and passes time by hand.
final class WorkerStateTests: XCTestCase {
    var now = ContinuousClock().now

    private func worker(heartbeatMs: Int = 1000, endpoints: [String] = ["tcp://c:1"], maxUnclaimedBytes: Int? = nil,
                        memoryLimit: MemoryLimit? = nil, dataBind: String = "tcp://127.0.0.1:*") -> WorkerState {
        var c = WorkerConfiguration()
        c.memoryLimit = memoryLimit
        c.dataBind = dataBind
        c.endpoints = endpoints
        c.name = "w"
        c.heartbeatMs = heartbeatMs
        if let maxUnclaimedBytes { c.maxUnclaimedBytes = maxUnclaimedBytes }
        return WorkerState(config: c, dataEndpoint: "tcp://w:2", now: now, random: { 0.5 })
    }

    private func types(_ actions: [WorkerState.Action]) -> [String] {
        actions.compactMap {
            switch $0 {
            case .open: return "open"
            case .close: return "close"
            case .send(_, let frames): return (try? BackendEnvelope.open(frames).type) ?? "?"
            case .run: return "run"
            case .exit: return "exit"
            case .answer: return "answer"
            case .log, .jobFinished, .readShared: return nil
            }
        }
    }

    private func logs(_ actions: [WorkerState.Action], _ level: Logger.Level) -> [String] {
        actions.compactMap { if case .log(let l, let m) = $0, l == level { return m }; return nil }
    }

    /// Passes `ms` in 50 ms ticks, returning every action.
    private func pass(_ w: WorkerState, ms: Int) -> [WorkerState.Action] {
        var out: [WorkerState.Action] = []
        for _ in 0..<(ms / 50) { now += .milliseconds(50); out += w.tick(now: now) }
        return out
    }

    private func heartbeat() -> [Frame] { BackendEnvelope.bare("heartbeat") }

    /// A worker whose coordinator has answered: registered, taking jobs.
    private func connectedWorker(memoryLimit: MemoryLimit? = nil, dataBind: String = "tcp://127.0.0.1:*") -> WorkerState {
        let w = worker(memoryLimit: memoryLimit, dataBind: dataBind)
        _ = w.start(now: now)
        _ = w.linkMessage(0, frames: heartbeat(), now: now)
        return w
    }

    func testStartOpensEveryLinkAndRegistersOnTheFirstAnswer() {
        let w = worker(endpoints: ["tcp://a:1", "tcp://b:1"])
        XCTAssertEqual(types(w.start(now: now)), ["open", "ready", "open", "ready"])
        XCTAssertFalse(w.isRegistered)
        let answer = w.linkMessage(1, frames: heartbeat(), now: now)
        XCTAssertTrue(w.isRegistered)
        XCTAssertEqual(logs(answer, .info), ["registered with coordinator tcp://b:1"])
        // While connecting, ready is sent again every beat.
        XCTAssertEqual(types(pass(w, ms: 1000)).filter { $0 == "ready" }.count, 1)
    }

    /// A coordinator that never answers is retried with a fresh socket after 1 s, 2 s, 4 s ...
    /// up to 32 s (here with a jitter of an eighth), and the outage is logged once.
    func testBackoffDoublesToItsCeilingWithJitterAndLogsOnce() {
        let w = worker()
        _ = w.start(now: now)
        var delays: [Double] = []
        var warnings: [String] = []
        var lastOpen = now
        var closedAt: ContinuousClock.Instant?
        for _ in 0..<3600 {  // 180 s
            now += .milliseconds(50)
            let actions = w.tick(now: now)
            warnings += logs(actions, .warning)
            for t in types(actions) {
                if t == "close" { closedAt = now; XCTAssertGreaterThan(now - lastOpen, .milliseconds(3000)) }
                if t == "open", let c = closedAt { delays.append((now - c).milliseconds); lastOpen = now }
            }
        }
        // Opened on the first 50 ms tick at or after each delay.
        XCTAssertEqual(delays.prefix(7).map { Int($0.rounded()) }, [1125, 2250, 4500, 9000, 18000, 36000, 36000].map { ($0 + 49) / 50 * 50 })
        XCTAssertEqual(warnings.count, 1, "one warning per outage: \(warnings)")
        XCTAssertTrue(warnings[0].contains("not answering"), warnings[0])
        // An answer ends the outage and resets the back-off.
        _ = w.linkMessage(0, frames: heartbeat(), now: now)
        XCTAssertTrue(w.isRegistered)
        XCTAssertEqual(w.links[0].backoffMs, 1000)
    }

    /// A refused key or mechanism closes the link at once, says which end to change (loudly once
    /// a refusal, then quietly), and stays the readiness reason until a coordinator registers
    /// the worker. Handshakes that fail without saying why are left to libzmq to try again
    /// and are named only when the coordinator never answers.
    func testRefusalsAtTheHandshakeCloseTheLinkAndSayWhy() {
        let w = worker()
        _ = w.start(now: now)
        XCTAssertEqual(w.unregisteredReason, "not registered with a coordinator")
        XCTAssertEqual(types(w.linkEvents(0, [.connectRetried, .handshakeFailed, .disconnected], now: now)), [])
        let mismatch = w.linkEvents(0, [.mechanismMismatch], now: now)
        XCTAssertEqual(types(mismatch), ["close"])
        XCTAssertEqual(logs(mismatch, .warning), ["coordinator tcp://c:1 speaks CURVE and this worker does not: give the worker its key pair and the coordinator's public key (--curve-secret, --curve-server-key); reconnecting in 1.13 s"])
        XCTAssertTrue(w.unregisteredReason.hasPrefix("not registered: coordinator tcp://c:1 speaks CURVE and this worker does not"), w.unregisteredReason)
        XCTAssertEqual(types(w.linkEvents(0, [.mechanismMismatch], now: now)), [], "a closed link's late events change nothing")
        // The same refusal on the next socket is logged at debug; another kind at warning.
        XCTAssertEqual(types(pass(w, ms: 1150)).filter { $0 == "open" }, ["open"])
        XCTAssertEqual(logs(w.linkEvents(0, [.mechanismMismatch], now: now), .warning), [])
        _ = pass(w, ms: 2300)
        XCTAssertEqual(logs(w.linkEvents(0, [.authenticationFailed], now: now), .warning).count, 1)
        XCTAssertTrue(w.unregisteredReason.contains("refused this worker at the CURVE handshake"), w.unregisteredReason)
        // Handshakes that only failed: named when the coordinator has not answered in 3 beats.
        _ = pass(w, ms: 4550)
        XCTAssertEqual(types(w.linkEvents(0, [.handshakeFailed], now: now)), [])
        let silent = pass(w, ms: 3100)
        XCTAssertEqual(types(silent), ["ready", "ready", "ready", "close"])
        XCTAssertTrue(logs(silent, .warning).first?.contains("failed the ZeroMQ handshake: what listens there is not a coordinator's backend") == true, "\(logs(silent, .warning))")
        // Registered: the reason goes.
        _ = pass(w, ms: 10_000)
        _ = w.linkMessage(0, frames: heartbeat(), now: now)
        XCTAssertTrue(w.isRegistered)
        XCTAssertEqual(w.unregisteredReason, "not registered with a coordinator")
    }

    /// A link without an answer in 3 beats says what its socket saw: attempts that failed
    /// (nothing listens, or the name does not resolve), a ZeroMQ peer that never answered, no
    /// connection at all, or a connection and no handshake; each socket counts afresh, and the
    /// probe says the same.
    func testALinkWithoutAnAnswerSaysWhatItsSocketSaw() {
        let w = worker()
        _ = w.start(now: now)
        _ = w.linkEvents(0, [.connectRetried, .connectRetried], now: now)
        let refused = logs(pass(w, ms: 3100), .warning)
        XCTAssertEqual(refused, ["coordinator tcp://c:1 unreachable: 2 connection attempts failed (nothing listens there, or its name does not resolve from here); reconnecting in 1.13 s"])
        XCTAssertEqual(w.unregisteredReason, "not registered: coordinator tcp://c:1 unreachable: 2 connection attempts failed (nothing listens there, or its name does not resolve from here)")
        _ = pass(w, ms: 1150)
        _ = w.linkEvents(0, [.handshakeSucceeded], now: now)
        var quiet = pass(w, ms: 3100)
        XCTAssertEqual(logs(quiet, .debug).last?.hasPrefix("coordinator tcp://c:1 not answering; reconnecting in"), true, "\(logs(quiet, .debug))")
        _ = pass(w, ms: 2300)
        quiet = pass(w, ms: 3100)
        XCTAssertEqual(logs(quiet, .debug).last?.hasPrefix("coordinator tcp://c:1 not answering: no connection made (packets dropped on the way: a firewall, or a host that is down)"), true,
                       "\(logs(quiet, .debug))")
        // A connection made, no handshake: something there takes connections and never speaks ZeroMQ.
        _ = pass(w, ms: 5000)
        _ = w.linkEvents(0, [.connected], now: now)
        quiet = pass(w, ms: 3100)
        XCTAssertEqual(logs(quiet, .debug).last?.hasPrefix("coordinator tcp://c:1 not answering: connected, but what listens there never finished a ZeroMQ handshake (not a coordinator's backend, a coordinator that is stopped, or a proxy with nothing behind it)"), true,
                       "\(logs(quiet, .debug))")
    }

    /// A coordinator's frontend answers a worker's `ready` with a client's error reply, and a
    /// coordinator of another release in its own version: neither is a registration, and the
    /// worker says what it reached.
    func testAFrontendsOrAnotherReleasesAnswerIsNoRegistration() {
        let w = worker()
        _ = w.start(now: now)
        let reply = [Frame([])] + ClusterReply.error(id: "", ProtocolError(.badMessage, "expected an empty delimiter frame, then the envelope")).frames()
        let actions = w.linkMessage(0, frames: reply, now: now)
        XCTAssertFalse(w.isRegistered)
        XCTAssertEqual(types(actions), ["close"])
        XCTAssertTrue(logs(actions, .warning).first?.contains("coordinator tcp://c:1 answers as a coordinator's frontend, where clients connect: workers connect to its backend (--backend)") == true, "\(actions)")
        // A coordinator of another release: its version says so.
        _ = pass(w, ms: 1200)
        let newer = [Frame(Envelope.encode(ProtocolVersion.header("heartbeat", version: ProtocolVersion.backend + 1)))]
        let other = w.linkMessage(0, frames: newer, now: now)
        XCTAssertEqual(types(other), ["close"])
        XCTAssertEqual(logs(other, .warning), ["coordinator tcp://c:1 speaks backend protocol version 3, this worker 2: run one release of script-cluster on both; reconnecting in 2.25 s"])
        // A coordinator of this release that refuses this worker says why.
        _ = pass(w, ms: 2300)
        let told = w.linkMessage(0, frames: BackendEnvelope.refusal("its data endpoint is taken"), now: now)
        XCTAssertEqual(types(told), ["close"])
        XCTAssertTrue(logs(told, .warning).first?.hasPrefix("coordinator tcp://c:1 refused this worker: its data endpoint is taken; reconnecting in") == true, "\(told)")
        XCTAssertEqual(w.unregisteredReason, "not registered: coordinator tcp://c:1 refused this worker: its data endpoint is taken")
        // Anything else unreadable is not a sign of a coordinator either.
        _ = pass(w, ms: 4600)
        XCTAssertEqual(logs(w.linkMessage(0, frames: [Frame([0xc1])], now: now), .warning).count, 1)
        XCTAssertFalse(w.isRegistered)
    }

    /// A request meant for a coordinator, sent to the data socket, is answered to its sender
    /// with an error saying where requests go; nothing else on the data socket is answered.
    func testARequestOnTheDataSocketIsToldWhereToGo() throws {
        let w = connectedWorker()
        let prune = PruneSubmission(id: "astray", request: PruneRequest(features: Matrix(rows: 4, cols: 2, values: [1, 0, 0, 1, 1, 1, 0, 2])), budget: .count(2)).encoded().frames()
        let actions = w.dataMessage(route: [7], frames: prune, now: now)
        guard case .answer(let route, let frames)? = actions.first(where: { if case .answer = $0 { return true }; return false }),
              case .error(let id, let e) = try ClusterReply.parse(frames) else { return XCTFail("\(actions)") }
        XCTAssertEqual(route, [7])
        XCTAssertEqual(id, "astray")
        XCTAssertEqual(e.code, .badRequest)
        XCTAssertTrue(e.message.contains("requests go to a coordinator's frontend"), e.message)
        XCTAssertEqual(w.refused, 0)
        XCTAssertFalse(types(w.dataMessage(route: [7], frames: BackendEnvelope.bare("heartbeat"), now: now)).contains("answer"))
    }

    func testASilentCoordinatorIsLeftAndItsJobsForgotten() throws {
        let w = worker(heartbeatMs: 100)
        _ = w.start(now: now)
        _ = w.linkMessage(0, frames: heartbeat(), now: now)
        let actions = w.linkMessage(0, frames: shard(job: 1, inline: true), now: now)
        guard case .run(let task)? = actions.first(where: { if case .run = $0 { return true }; return false }) else {
            return XCTFail("the shard did not start: \(types(actions))")
        }
        XCTAssertEqual(w.heldJobs, 1)
        XCTAssertEqual(types(pass(w, ms: 350)).filter { $0 != "heartbeat" }, ["close"])
        XCTAssertFalse(w.isRegistered)
        XCTAssertEqual(w.heldBytes, 0, "its bytes go with it")
        // The task finishes after the link was lost: its answer goes nowhere.
        let late = w.taskFinished(task.number, WorkerCompute.run(task.work, pool: .serial), now: now)
        XCTAssertFalse(types(late).contains("scores") || types(late).contains("proposal"))
        XCTAssertEqual(w.heldJobs, 0)
    }

    /// A worker whose own process did not run for longer than its coordinator's liveness (a
    /// SIGSTOP, a frozen container), told so by its loop before the coordinator's queued beats
    /// are read: it says that it was paused, and keeps its link, where it said its coordinator
    /// was silent and left it. One whose coordinator stays silent after that still leaves it.
    func testAPausedWorkerDoesNotBlameItsCoordinator() throws {
        for resumed in [true, false] {
            let w = worker(heartbeatMs: 100)
            _ = w.start(now: now)
            _ = w.linkMessage(0, frames: heartbeat(), now: now)
            now += .milliseconds(400)
            let told = resumed ? w.resumed(after: LoopGap.Gap(wall: .milliseconds(400), cpu: .milliseconds(3)), now: now) : []
            let ticked = w.tick(now: now)
            XCTAssertEqual(types(ticked).contains("close"), !resumed, "resumed: \(resumed)")
            guard resumed else { continue }
            XCTAssertEqual(logs(told, .warning), ["this process did not run for 400 ms (stopped, frozen or starved of CPU): the coordinators' silence is counted from now"])
            XCTAssertTrue(w.isRegistered)
            XCTAssertEqual(types(pass(w, ms: 350)).filter { $0 != "heartbeat" }, ["close"], "silent since the pause")
            // Said once a minute; the silence is counted from each gap all the same.
            XCTAssertTrue(w.resumed(after: LoopGap.Gap(wall: .milliseconds(200), cpu: .zero), now: now).isEmpty)
        }
    }

    /// A coordinator that does not know this worker (it gave it up after a pause, and moved
    /// its jobs elsewhere under new tickets, or it restarted) says `disconnect`: the worker
    /// registers again and forgets those jobs, and their bytes, where it kept them until the
    /// jobs' deadlines (those of a job done too, kept for its merge); bytes still on their way
    /// for them are dropped too.
    func testDisconnectMeansRegisterAgainWithoutTheForgottenJobsBytes() throws {
        let w = connectedWorker()
        try proposeShard(w, job: 3)
        XCTAssertEqual(w.heldJobs, 0)
        XCTAssertGreaterThan(w.heldBytes, 0, "a shard's bytes stay for its merge")
        let waiting = Ticket.random(), held = Ticket.random()
        _ = w.linkMessage(0, frames: shard(job: 1, inline: false, ticket: waiting), now: now)
        _ = w.linkMessage(0, frames: shard(job: 2, inline: true, ticket: held), now: now)
        XCTAssertEqual(w.heldJobs, 2)
        XCTAssertEqual(types(w.linkMessage(0, frames: BackendEnvelope.bare("disconnect"), now: now)), ["ready"])
        XCTAssertEqual(w.heldJobs, 1, "the coordinator forgot its jobs, so does the worker (the one running ends unanswered)")
        XCTAssertEqual(w.heldBytes, 0, "no job names those tickets again")
        _ = w.dataMessage(frames: DataMessage(ticket: waiting, data: shardData()).frames(), now: now)
        XCTAssertEqual(w.heldBytes, 0, "late bytes for a forgotten job")
    }

    func testBytesThatOvertakeTheirJobWaitForIt() {
        let w = connectedWorker()
        let ticket = Ticket.random()
        let data = DataMessage(ticket: ticket, data: shardData())
        XCTAssertTrue(types(w.dataMessage(frames: data.frames(), now: now)).isEmpty)
        XCTAssertEqual(w.heldBytes, data.data.byteCount)
        XCTAssertEqual(types(w.linkMessage(0, frames: shard(job: 3, inline: false, ticket: ticket), now: now)), ["run"])
        // Bytes of the wrong shape for their job are refused with the job's error.
        let t2 = Ticket.random()
        _ = w.linkMessage(0, frames: shard(job: 4, inline: false, ticket: t2, rows: 5), now: now)
        let refused = w.dataMessage(frames: DataMessage(ticket: t2, data: shardData()).frames(), now: now)
        XCTAssertEqual(types(refused), ["shard_error"])
        // A release drops them.
        _ = w.linkMessage(0, frames: ReleaseMessage(tickets: [ticket]).frames(), now: now)
        XCTAssertEqual(w.heldBytes, 0)
        // Bytes that arrive after their ticket's release (the request was given up while they
        // were on the way) are dropped, for a minute; a ticket is not remembered longer.
        let late = DataMessage(ticket: ticket, data: shardData())
        _ = w.dataMessage(frames: late.frames(), now: now)
        XCTAssertEqual(w.heldBytes, 0, "no job will ever claim them")
        now += .seconds(61)
        _ = w.linkMessage(0, frames: heartbeat(), now: now)  // its coordinator still there
        _ = w.tick(now: now)
        _ = w.dataMessage(frames: late.frames(), now: now)
        XCTAssertEqual(w.heldBytes, late.data.byteCount)
    }

    /// A worker behind a Unix socket reads shard bytes a client names in its shared memory, in
    /// place; bytes it cannot read there fail the job waiting for them at once, or the job that
    /// comes for them later, with the reason (where a bad message only waited out its deadline).
    /// A worker behind TCP refuses such a message: its clients may be on other hosts.
    func testSharedBytesAreReadInPlaceOrFailTheirJobSayingWhy() throws {
        let w = connectedWorker(dataBind: "ipc://@worker-state-test")
        let inShared = ShardData(features: try shardData().features.inSharedMemory(), embeddings: nil)
        let good = Ticket.random()
        _ = w.linkMessage(0, frames: shard(job: 1, inline: false, ticket: good), now: now)
        XCTAssertEqual(types(w.dataMessage(frames: DataMessage(ticket: good, data: inShared).frames(sharing: true), now: now)), ["run"])
        XCTAssertEqual(w.heldBytes, 0, "mapped in place: the client's pages, not the worker's")
        // A plain file takes no seals: it could shrink under the mapping.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("worker-shared-\(getpid())").path
        let file = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        defer { close(file); unlink(path) }
        let bytes = shardData().features.bytes.bytes
        XCTAssertEqual(write(file, bytes, bytes.count), bytes.count)
        let envelope = { (t: Ticket) -> [Frame] in
            let d = TensorCodec.descriptor(dtype: .f32, shape: [6, 4], shared: SharedReference(pid: getpid(), fd: file, offset: 0, namespace: SharedMemoryScope.current!.pidNamespace))
            return [Frame(Envelope.encode(ProtocolVersion.header("data") + [("ticket", .binary(t.bytes)), ("features", d)]))]
        }
        let waiting = Ticket.random()
        _ = w.linkMessage(0, frames: shard(job: 2, inline: false, ticket: waiting), now: now)
        let failed = w.dataMessage(frames: envelope(waiting), now: now)
        XCTAssertEqual(types(failed), ["shard_error"])
        let m = try shardError(in: failed)
        XCTAssertEqual(m.error.code, .unreadableSharedMemory, "the coordinator has the client send the bytes")
        XCTAssertTrue(m.error.message.contains("the client's shared memory could not be read: cannot read the shared memory of process \(getpid()), descriptor \(file), at byte 0: it is not sealed against shrinking"), m.error.message)
        let ahead = Ticket.random()
        XCTAssertEqual(types(w.dataMessage(frames: envelope(ahead), now: now)), [])
        XCTAssertEqual(types(w.linkMessage(0, frames: shard(job: 3, inline: false, ticket: ahead), now: now)), ["shard_error"], "fails on arrival")
        // Behind TCP: refused and logged, as any message it cannot take.
        let remote = connectedWorker()
        let refused = remote.dataMessage(frames: DataMessage(ticket: good, data: inShared).frames(sharing: true), now: now)
        XCTAssertTrue(logs(refused, .warning).first?.contains("read only by a worker whose data socket is a Unix socket") == true, "\(logs(refused, .warning))")
    }

    /// Bytes a worker cannot take (a bad tensor, shared memory named to a worker behind TCP) fail
    /// the job waiting for them at once, saying why, instead of leaving it to its deadline;
    /// a bad copy after good bytes fails nothing.
    func testBadBytesFailTheJobWaitingForThemAtOnce() throws {
        let w = connectedWorker()
        let short = Ticket.random()
        _ = w.linkMessage(0, frames: shard(job: 1, inline: false, ticket: short), now: now)
        let failed = w.dataMessage(frames: truncated(short), now: now)
        XCTAssertEqual(types(failed), ["shard_error"])
        XCTAssertEqual(try shardError(in: failed).error.code, .badTensor)
        let named = Ticket.random()
        _ = w.linkMessage(0, frames: shard(job: 2, inline: false, ticket: named), now: now)
        let inShared = ShardData(features: try shardData().features.inSharedMemory(), embeddings: nil)
        let refused = w.dataMessage(frames: DataMessage(ticket: named, data: inShared).frames(sharing: true), now: now)
        XCTAssertEqual(types(refused), ["shard_error"])
        XCTAssertEqual(try shardError(in: refused).error.code, .badRequest)
        let good = Ticket.random()
        XCTAssertEqual(types(w.dataMessage(frames: DataMessage(ticket: good, data: shardData()).frames(), now: now)), [])
        XCTAssertEqual(w.heldBytes, 6 * 4 * 4, "sent bytes are the worker's")
        XCTAssertEqual(types(w.dataMessage(frames: truncated(good), now: now)), [])
        XCTAssertEqual(types(w.linkMessage(0, frames: shard(job: 3, inline: false, ticket: good), now: now)), ["run"], "the good bytes serve it")
    }

    /// A data message for `ticket` whose features' frame is 4 bytes short.
    private func truncated(_ ticket: Ticket) -> [Frame] {
        var frames = DataMessage(ticket: ticket, data: shardData()).frames()
        frames[1] = Frame(Array(frames[1].bytes.dropLast(4)))
        return frames
    }

    /// The tasks among `actions`.
    private func runs(_ actions: [WorkerState.Action]) -> [WorkerState.WorkerTask] {
        actions.compactMap { if case .run(let task) = $0 { return task }; return nil }
    }

    func testShardsAreReadBesideTheComputeThread() {
        let w = connectedWorker()
        // The first shard is read on the reading lane; once read, its graph pruning goes to the
        // compute thread.
        let read = runs(w.linkMessage(0, frames: shard(job: 1, inline: true), now: now))
        XCTAssertEqual(read.map(\.lane), [.reading])
        let afterRead = w.taskFinished(read[0].number, WorkerCompute.run(read[0].work, pool: .serial), now: now)
        XCTAssertEqual(types(afterRead).filter { $0 != "run" }, ["scores"])
        let graph = runs(afterRead)
        XCTAssertEqual(graph.map(\.lane), [.compute])
        guard case .graph? = graph.first?.work else { return XCTFail("not the graph stage: \(String(describing: graph.first?.lane))") }
        // A shard arriving while the graph runs is read at once, not after it: its scores (which
        // its whole request waits for) do not queue behind a graph pruning.
        let second = runs(w.linkMessage(0, frames: shard(job: 2, inline: true), now: now))
        XCTAssertEqual(second.map(\.lane), [.reading])
        guard case .prepare? = second.first?.work else { return XCTFail("not a reading") }
        XCTAssertEqual(types(w.taskFinished(second[0].number, WorkerCompute.run(second[0].work, pool: .serial), now: now)), ["scores"],
                       "scored while the graph still runs; nothing else starts (the compute thread is busy)")
    }

    /// Taking in proposals while others still run is ordinary work on the worker's threads; once
    /// every proposal is in, the request waits on the reduce alone, and its last steps (the
    /// remaining cosines, the selection) may use every CPU the worker may run on.
    func testOnlyAReducesLastStepsRunWide() throws {
        let w = connectedWorker()
        let rows = TensorCodec.encode(Matrix(rows: 2, cols: 4, values: [1, 0, 0, 0, 0, 1, 0, 0]), dtype: .f32)
        func group(_ offset: Int) -> ReduceTask.Group {
            let p = ShardProposal(offset: offset, indices: [offset, offset + 1], cosines: [1, 0, 0, 1], survivors: 2)
            return .init(proposal: ProposalMessage(job: 1, p, rows: rows, computeMs: 0), weights: [1, 1])
        }
        func reduce(final: Bool, _ offsets: [Int]) -> [Frame] {
            ReduceTask(job: 9, request: "r", budget: 3, returnRows: false, final: final, candidateBound: 6,
                       groups: offsets.map(group)).frames()
        }
        let early = runs(w.linkMessage(0, frames: reduce(final: false, [0]), now: now))
        XCTAssertEqual(early.map(\.wide), [false])
        _ = w.taskFinished(early[0].number, WorkerCompute.run(early[0].work, pool: .serial), now: now)
        let last = runs(w.linkMessage(0, frames: reduce(final: true, [2, 4]), now: now))
        XCTAssertEqual(last.map(\.wide), [true])
        guard case .absorb? = last.first?.work else { return XCTFail("not the last proposals' cosines") }
        let select = runs(w.taskFinished(last[0].number, WorkerCompute.run(last[0].work, pool: .serial), now: now))
        XCTAssertEqual(select.map(\.wide), [true])
        guard case .select? = select.first?.work else { return XCTFail("not the selection") }
        // A shard's steps never run wide.
        let read = runs(w.linkMessage(0, frames: shard(job: 1, inline: true), now: now))
        XCTAssertEqual(read.map(\.wide), [false])
    }

    /// While proposals are still to come, the reducer computes their cosines a block a thread
    /// each step (so the last proposal waits for one block's time at most); the last one's step
    /// computes the rest, wide, before the selection. The selection is the same either way.
    /// A proposal of two tokens at `offset`, as a reduce receives it.
    private func group(_ offset: Int) -> ReduceTask.Group {
        let x = Matrix(rows: 2, cols: 4, values: (0..<8).map { Float(($0 * 7 + offset * 3) % 5) + 1 })
        let p = ShardProposal(offset: offset, indices: [offset, offset + 1], cosines: [1, 0.5, 0.5, 1], survivors: 2)
        return .init(proposal: ProposalMessage(job: 1, p, rows: TensorCodec.encode(x, dtype: .f32), computeMs: 0), weights: [1, 2])
    }

    /// Reduce job 9 with the proposals at `offsets`.
    private func reduce(final: Bool, _ offsets: [Int]) -> [Frame] {
        ReduceTask(job: 9, request: "r", budget: 4, returnRows: false, final: final, candidateBound: 8,
                   groups: offsets.map(group)).frames()
    }

    func testEarlyProposalsCosinesAreComputedInShortSteps() throws {
        let w = connectedWorker()
        /// Runs `tasks` (one at most) and returns what follows, with the blocks still to compute.
        func step(_ tasks: [WorkerState.WorkerTask]) -> (next: [WorkerState.WorkerTask], pending: Int) {
            guard let t = tasks.first else { return ([], -1) }
            let outcome = WorkerCompute.run(t.work, pool: .serial)
            guard case .absorbed(let s) = outcome else { return (runs(w.taskFinished(t.number, outcome, now: now)), -1) }
            return (runs(w.taskFinished(t.number, outcome, now: now)), s.pendingBlocks)
        }
        var (next, pending) = step(runs(w.linkMessage(0, frames: reduce(final: false, [0, 2, 4]), now: now)))
        XCTAssertEqual(pending, 2, "3 proposals in, 1 of their 3 blocks computed")
        XCTAssertEqual(next.count, 1, "the next block follows")
        (next, pending) = step(next)
        XCTAssertEqual(pending, 1)
        (next, pending) = step(next)
        XCTAssertEqual(pending, 0)
        XCTAssertTrue(next.isEmpty, "nothing left to do until more proposals come")
        let last = runs(w.linkMessage(0, frames: reduce(final: true, [6]), now: now))
        guard case .absorb(_, _, let all, _)? = last.first?.work else { return XCTFail("not the last proposal's cosines") }
        XCTAssertTrue(all)
        XCTAssertEqual(last.map(\.wide), [true])
        (next, pending) = step(last)
        XCTAssertEqual(pending, 0)
        guard let select = next.first, case .select(let selection, _) = select.work else { return XCTFail("not the selection") }
        var atOnce = GlobalSelection(candidateBound: 8)
        atOnce.add([0, 2, 4, 6].map { g in
            GlobalSelection.Group(proposal: ShardProposal(offset: g, indices: [g, g + 1], cosines: [1, 0.5, 0.5, 1], survivors: 2),
                                  rows: group(g).proposal.rows.matrix(), weights: [1, 2])
        }, pool: .serial)
        XCTAssertEqual(selection.select(budget: 4, pool: .serial), atOnce.select(budget: 4, pool: .serial))
        // A worker of 2 threads computes 2 blocks a step.
        let wide = WorkerCompute.run(.absorb(GlobalSelection(candidateBound: 8), [0, 2, 4].map(group), all: false, similarity: .f32), pool: ComputePool(width: 2))
        guard case .absorbed(let two) = wide else { return XCTFail("not absorbed: \(wide)") }
        XCTAssertEqual(two.pendingBlocks, 1)
        // Many small proposals: steps of one proposal's share of the blocks left, not 2,016 steps.
        let many = (0..<64).map { g -> ReduceTask.Group in
            let p = ShardProposal(offset: g, indices: [g], cosines: [1], survivors: 1)
            let x = Matrix(rows: 1, cols: 4, values: [1, Float(g % 7), 2, Float(g % 3)])
            return .init(proposal: ProposalMessage(job: 1, p, rows: TensorCodec.encode(x, dtype: .f32), computeMs: 0), weights: [1])
        }
        var s = try WorkerCompute.absorb(GlobalSelection(candidateBound: 64), many, early: true, pool: .serial)
        var steps = 1
        while s.pendingBlocks > 0 { s = try WorkerCompute.absorb(s, [], early: true, pool: .serial); steps += 1 }
        XCTAssertLessThan(steps, 400)
    }

    /// On the compute thread a shard's graph pruning (its request waits on it) goes before an
    /// early reduce's cosine steps (work that only fills idle time), though the reduce came first.
    func testGraphPruningGoesBeforeAnEarlyReducesSteps() {
        let w = connectedWorker()
        let absorb = runs(w.linkMessage(0, frames: reduce(final: false, [0, 2, 4]), now: now))
        XCTAssertEqual(absorb.map(\.lane), [.compute])
        let read = runs(w.linkMessage(0, frames: shard(job: 1, inline: true), now: now))
        XCTAssertEqual(read.map(\.lane), [.reading])
        XCTAssertTrue(runs(w.taskFinished(read[0].number, WorkerCompute.run(read[0].work, pool: .serial), now: now)).isEmpty,
                      "the compute thread is busy")
        let next = runs(w.taskFinished(absorb[0].number, WorkerCompute.run(absorb[0].work, pool: .serial), now: now))
        guard case .graph? = next.first?.work else { return XCTFail("the reduce's next step ran before the graph") }
    }

    /// A request that ends (answered, failed, or given up by its client) releases its tickets:
    /// its jobs this worker holds go at once, whatever step they wait at (not at their deadline,
    /// holding their decoded rows and computing for nobody); one running ends with that step.
    func testAReleasedRequestsJobsGoAtOnce() {
        let w = connectedWorker()
        let ticket = Ticket.random(), other = Ticket.random()
        let read = runs(w.linkMessage(0, frames: shard(job: 1, inline: true, ticket: ticket), now: now))
        XCTAssertEqual(read.map(\.lane), [.reading])
        let graph = runs(w.taskFinished(read[0].number, WorkerCompute.run(read[0].work, pool: .serial), now: now))
        XCTAssertEqual(graph.count, 1)
        XCTAssertTrue(runs(w.taskFinished(graph[0].number, WorkerCompute.run(graph[0].work, pool: .serial), now: now)).isEmpty,
                      "graph done, job 1 waits for its weights")
        let reading = runs(w.linkMessage(0, frames: shard(job: 2, inline: true, ticket: other), now: now))
        XCTAssertEqual(reading.count, 1, "job 2 reads")
        XCTAssertEqual(w.heldJobs, 2)
        _ = w.linkMessage(0, frames: ReleaseMessage(tickets: [ticket, other]).frames(), now: now)
        XCTAssertEqual(w.heldJobs, 1, "the job waiting for weights went; the one reading finishes")
        // The reading step ends: nothing is sent and nothing more runs for it.
        XCTAssertEqual(types(w.taskFinished(reading[0].number, WorkerCompute.run(reading[0].work, pool: .serial), now: now)), [])
        XCTAssertEqual(w.heldJobs, 0)
        XCTAssertFalse(types(w.linkMessage(0, frames: WeightsMessage(job: 1, weights: [Float](repeating: 1, count: 6), relevance: nil).frames(),
                                           now: now)).contains("run"), "nothing runs for a released job")
    }

    /// A reduce has no ticket: it is released by its job number, with the proposals it holds.
    func testAReleasedReduceGoesByItsNumber() {
        let w = connectedWorker()
        var tasks = runs(w.linkMessage(0, frames: reduce(final: false, [0, 2]), now: now))
        while let t = tasks.first { tasks = runs(w.taskFinished(t.number, WorkerCompute.run(t.work, pool: .serial), now: now)) }
        XCTAssertEqual(w.heldJobs, 1, "the reduce waits for its last proposal")
        _ = w.linkMessage(0, frames: ReleaseMessage(tickets: [], jobs: [8]).frames(), now: now)
        XCTAssertEqual(w.heldJobs, 1, "another job's number")
        _ = w.linkMessage(0, frames: ReleaseMessage(tickets: [], jobs: [9]).frames(), now: now)
        XCTAssertEqual(w.heldJobs, 0)
        XCTAssertTrue(runs(w.linkMessage(0, frames: reduce(final: true, [4]), now: now)).isEmpty, "nothing runs for it any more")
    }

    /// A proposal's `compute_ms` is the wall time of all its job's steps (reading, graph,
    /// proposal), which the coordinator paces the worker by; not only the last step's.
    func testAProposalTellsTheWholeJobsComputeTime() throws {
        let w = connectedWorker()
        let (steps, proposal) = try proposeShard(w, job: 1)
        XCTAssertEqual(steps, 3, "read, graph, proposal")
        XCTAssertEqual(proposal?.computeMs ?? -1, 60, accuracy: 1e-9, "10 + 20 + 30 ms")
    }

    /// Sends shard job `job` (inline) and runs its steps, the n-th taking 10n ms, the weights
    /// sent once its scores are; returns the steps and the proposal.
    @discardableResult
    private func proposeShard(_ w: WorkerState, job: Int) throws -> (steps: Int, proposal: ProposalMessage?) {
        var tasks = runs(w.linkMessage(0, frames: shard(job: job, inline: true), now: now))
        var step = 0
        var proposal: ProposalMessage?
        while let t = tasks.first {
            step += 1
            let actions = w.taskFinished(t.number, WorkerCompute.run(t.work, pool: .serial),
                                         cost: TaskCost(wall: .milliseconds(10 * step), cpu: .zero), now: now)
            if types(actions).contains("scores") {
                _ = w.linkMessage(0, frames: WeightsMessage(job: job, weights: [Float](repeating: 1, count: 6), relevance: nil).frames(), now: now)
            }
            for case .send(_, let frames) in actions {
                if let (e, type) = try? BackendEnvelope.open(frames), type == ProposalMessage.type {
                    proposal = try ProposalMessage.parse(e, frames: frames, limits: RequestLimits())
                }
            }
            tasks = runs(actions) + runs(w.tick(now: now))
        }
        return (step, proposal)
    }

    /// Weights of the wrong length for their shard fail the job with a typed error.
    func testWeightsOfTheWrongLengthFailTheirJob() throws {
        let w = connectedWorker()
        _ = w.linkMessage(0, frames: shard(job: 1, inline: true), now: now)
        let actions = w.linkMessage(0, frames: WeightsMessage(job: 1, weights: [1, 1, 1, 1, 1], relevance: nil).frames(), now: now)
        XCTAssertEqual(types(actions), ["shard_error"])
        let m = try shardError(in: actions)
        XCTAssertEqual(m.error.code, .badShape)
        XCTAssertTrue(m.error.message.contains("5 weights for 6 tokens"), m.error.message)
    }

    /// The `shard_error` the worker sent among `actions`.
    private func shardError(in actions: [WorkerState.Action]) throws -> ShardErrorMessage {
        guard case .send(_, let frames)? = actions.first(where: { if case .send = $0 { return true }; return false }) else {
            throw ProtocolError(.internal, "nothing sent: \(actions)")
        }
        let (e, _) = try BackendEnvelope.open(frames)
        return try ShardErrorMessage.parse(e, frames: frames, limits: RequestLimits())
    }

    /// A shard whose features and graph alone need more than the worker's memory limit is
    /// refused `too_large` at once, saying so (it would have killed this worker, and each worker
    /// given it after); one that fits is taken.
    func testAShardThatCannotFitInTheWorkersMemoryIsRefused() throws {
        let need = ShardMemory.leastBytes(tokens: 6, width: 4, options: PruneOptions(), unitTokens: nil)
        let small = connectedWorker(memoryLimit: MemoryLimit(bytes: need - 1, source: "its cgroup"))
        let actions = small.linkMessage(0, frames: shard(job: 1, inline: true), now: now)
        XCTAssertEqual(types(actions), ["shard_error"])
        let m = try shardError(in: actions)
        XCTAssertEqual(m.error.code, .tooLarge)
        XCTAssertEqual(m.error.message, "a shard of 6 tokens of width 4 needs \(need) B at the least (its features and graph), more than this worker's memory limit of \(need - 1) B (its cgroup): split it into smaller shards")
        let enough = connectedWorker(memoryLimit: MemoryLimit(bytes: need, source: "its cgroup"))
        XCTAssertFalse(types(enough.linkMessage(0, frames: shard(job: 1, inline: true), now: now)).contains("shard_error"))
    }

    /// A bf16 Script shard that nothing reads in float32 (no query to score it by its features)
    /// is decoded to its rounding alone, and counted so: it is taken under a limit its float32
    /// values would pass; scored by its features, it keeps both and is refused.
    func testABFloat16ShardIsCountedAsWhatItIsDecodedTo() throws {
        var half = PruneOptions()
        half.similarity = .bf16
        let both = ShardMemory.leastBytes(tokens: 6, width: 4, options: half, unitTokens: nil)
        let rounded = ShardMemory.leastBytes(tokens: 6, width: 4, options: half, unitTokens: nil, float32Read: false)
        XCTAssertEqual(both - rounded, 4 * 6 * 4, "the float32 values")
        let w = connectedWorker(memoryLimit: MemoryLimit(bytes: both - 1, source: "its cgroup"))
        XCTAssertFalse(types(w.linkMessage(0, frames: shard(job: 1, inline: true, options: half, withQuery: false), now: now)).contains("shard_error"))
        let scored = connectedWorker(memoryLimit: MemoryLimit(bytes: both - 1, source: "its cgroup"))
        let actions = scored.linkMessage(0, frames: shard(job: 1, inline: true, options: half), now: now)
        XCTAssertEqual(try shardError(in: actions).error.code, .tooLarge)
    }

    /// A shard that fits alone but not beside the shards the worker works on (sent by another
    /// coordinator, which cannot see them) is refused `busy`, for its coordinator to send
    /// elsewhere; a shard parked for its weights does not count (it waits on shards like it).
    func testAShardWithoutRoomBesideTheOthersIsSentBack() throws {
        let one = ShardMemory.parts(tokens: 6, width: 4, options: PruneOptions(), unitTokens: nil)
        let w = connectedWorker(memoryLimit: MemoryLimit(bytes: 2 * one.features + one.graph - 1, source: "its cgroup"))
        let first = runs(w.linkMessage(0, frames: shard(job: 1, inline: true), now: now))
        let actions = w.linkMessage(0, frames: shard(job: 2, inline: true), now: now)
        XCTAssertEqual(types(actions), ["shard_error"])
        let m = try shardError(in: actions)
        XCTAssertEqual(m.error.code, .busy)
        XCTAssertEqual(m.error.message, "no room for a shard of 6 tokens of width 4 beside the 1 this worker works on: \(2 * one.features + one.graph) B at the least, more than its memory limit of \(2 * one.features + one.graph - 1) B (its cgroup)")
        guard first.count == 1 else { return XCTFail("\(first.count) tasks") }
        XCTAssertEqual(types(w.taskFinished(first[0].number, WorkerCompute.run(first[0].work, pool: .serial), now: now)), ["scores", "run"], "scored, and its graph started")
        XCTAssertFalse(types(w.linkMessage(0, frames: shard(job: 3, inline: true), now: now)).contains("shard_error"), "the first is parked")
    }

    /// A job whose bytes never come is forgotten a few seconds after its deadline.
    func testAJobThatNeverGetsItsBytesIsForgottenAfterItsDeadline() {
        let w = connectedWorker()
        _ = w.linkMessage(0, frames: shard(job: 1, inline: false), now: now)
        XCTAssertEqual(w.heldJobs, 1)
        for _ in 0..<11 {
            _ = pass(w, ms: 1000)
            _ = w.linkMessage(0, frames: heartbeat(), now: now)
        }
        XCTAssertEqual(w.heldJobs, 0, "5 s deadline, forgotten 5 s after it")
    }

    func testDrainFinishesTheJobInHandThenLeaves() {
        let w = connectedWorker()
        let first = runs(w.linkMessage(0, frames: shard(job: 1, inline: true), now: now))
        let second = runs(w.linkMessage(0, frames: shard(job: 2, inline: true), now: now))
        guard first.count == 1, second.count == 1 else { return XCTFail("\(first.count) and \(second.count) tasks") }
        let drain = w.beginDrain(now: now)
        XCTAssertEqual(types(drain), ["ready"], "credit 0, and wait for the running jobs")
        XCTAssertEqual(types(w.taskFinished(first[0].number, WorkerCompute.run(first[0].work, pool: .serial), now: now)), ["scores"])
        XCTAssertEqual(types(w.taskFinished(second[0].number, WorkerCompute.run(second[0].work, pool: .serial), now: now)), ["scores", "disconnect", "exit"])
        // An idle worker leaves at once; a stuck one when the drain times out.
        let idle = worker()
        _ = idle.start(now: now)
        XCTAssertEqual(types(idle.beginDrain(now: now)), ["exit"], "not registered: nothing to say")
        let stuck = worker()
        _ = stuck.start(now: now)
        _ = stuck.linkMessage(0, frames: heartbeat(), now: now)
        _ = stuck.linkMessage(0, frames: shard(job: 1, inline: true), now: now)
        _ = stuck.beginDrain(now: now)
        XCTAssertFalse(types(pass(stuck, ms: 1400)).contains("exit"))
        XCTAssertTrue(types(pass(stuck, ms: 200)).contains("exit"))
    }

    func testUnclaimedBytesAreBounded() {
        var c = WorkerConfiguration()
        c.maxUnclaimedBytes = 3 * shardData().byteCount
        let w = WorkerState(config: c, dataEndpoint: nil, now: now)
        for _ in 0..<10 {
            now += .milliseconds(1)
            _ = w.dataMessage(frames: DataMessage(ticket: Ticket.random(), data: shardData()).frames(), now: now)
        }
        XCTAssertEqual(w.heldBytes, 3 * shardData().byteCount)
        XCTAssertEqual(types(w.dataMessage(frames: [Frame([0xC1])], now: now)), [], "garbage is refused and logged")
        XCTAssertEqual(w.refused, 1)
    }

    /// Past the bound the oldest unclaimed bytes go (the newest are the likeliest to be claimed
    /// soon), and bytes no job claims go after 30 s.
    func testTheOldestUnclaimedBytesGoFirstAndAllExpire() {
        let w = worker(maxUnclaimedBytes: 2 * shardData().byteCount)
        _ = w.start(now: now)
        _ = w.linkMessage(0, frames: heartbeat(), now: now)
        let tickets = (0..<3).map { _ in Ticket.random() }
        for t in tickets {
            now += .milliseconds(1)
            _ = w.dataMessage(frames: DataMessage(ticket: t, data: shardData()).frames(), now: now)
        }
        XCTAssertEqual(types(w.linkMessage(0, frames: shard(job: 1, inline: false, ticket: tickets[2]), now: now)), ["run"])
        XCTAssertEqual(types(w.linkMessage(0, frames: shard(job: 2, inline: false, ticket: tickets[0]), now: now)), [],
                       "the oldest bytes went: the job waits for them")
        now += .seconds(31)
        _ = w.tick(now: now)
        XCTAssertEqual(types(w.linkMessage(0, frames: shard(job: 3, inline: false, ticket: tickets[1]), now: now)), [],
                       "unclaimed for 30 s: gone")
    }

    /// A draining worker tells its coordinators it takes nothing more (credit 0).
    func testDrainAnnouncesCreditZero() throws {
        let w = connectedWorker()
        _ = w.linkMessage(0, frames: shard(job: 1, inline: true), now: now)
        let ready = w.beginDrain(now: now).compactMap { action -> ReadyMessage? in
            guard case .send(_, let frames) = action, let (e, type) = try? BackendEnvelope.open(frames), type == ReadyMessage.type else { return nil }
            return try? ReadyMessage.parse(e, frames: frames, limits: RequestLimits())
        }
        XCTAssertEqual(ready.map(\.credit), [0])
    }

    // MARK: helpers

    private func shardData(rows: Int = 6) -> ShardData {
        let m = Matrix(rows: rows, cols: 4, values: (0..<(rows * 4)).map { Float($0 % 5) - 2 })
        return ShardData(features: TensorCodec.encode(m, dtype: .f32), embeddings: nil)
    }

    private func shard(job: Int, inline: Bool, ticket: Ticket = Ticket.random(), rows: Int = 6,
                       options: PruneOptions = PruneOptions(), withQuery: Bool = true) -> [Frame] {
        let query = TensorCodec.encode(Matrix(rows: 2, cols: 4, values: [1, 0, 0, 0, 0, 1, 0, 0]), dtype: .f32)
        return ShardTask(job: job, ticket: ticket, request: "r", offset: 0, rows: rows, cols: 4, dtype: .f32, embeddingCols: 0,
                         total: 12, budget: 3, options: options, deadlineMs: 5000, query: withQuery ? query : nil, weights: nil, relevance: nil,
                         data: inline ? shardData(rows: rows) : nil).frames()
    }
}
