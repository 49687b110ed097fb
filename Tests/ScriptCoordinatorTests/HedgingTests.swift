import XCTest
import ScriptCore
import ScriptProtocol
import ScriptService
import ScriptTransport
@testable import ScriptCoordinator
import ScriptWorker

/// Shard jobs a stalled or slow worker holds are copied to an idle worker; the first of the two
/// to propose stays, the other is let go, and the answer is the in-process one either way.
final class HedgingTests: XCTestCase {
    private func kept(_ c: InMemoryCluster, _ id: String) -> [Int]? {
        if case .result(let r)? = c.reply(id) { return r.indices }
        XCTFail("\(id): \(String(describing: c.reply(id)))")
        return nil
    }

    /// Two workers of one pace (10 ms a shard of 40 tokens), one of them stalled with a shard of
    /// a two-shard request: nothing is copied while the shard is within its time (the idle
    /// worker would not finish it sooner), and once it is more than two shards' time past due, it is
    /// copied to the idle worker, whose copy answers; the stalled worker lets its job go.
    func testAStalledWorkersShardIsCopiedOnceOverdue() throws {
        for query in [true, false] {
            let c = try pacedCluster([[1]: 10, [2]: 10])
            c.stalled = [[2]]
            let req = request(seed: 80, n: 80, shards: 2, query: query)
            c.submit(PruneSubmission(id: "s", request: req, budget: .count(9)).encoded())
            XCTAssertEqual(c.workers[[2]]!.heldJobs, 1, "query \(query)")
            c.advance(ms: 10)
            XCTAssertNil(c.reply("s"), "within its time: not copied")
            XCTAssertEqual(c.hedges, [])
            c.advance(ms: 50)
            XCTAssertEqual(kept(c, "s"), try inProcess(req, 9).kept, "query \(query)")
            XCTAssertEqual(c.hedges, [.sent, .won], "query \(query)")
            let finished = c.jobsByWorker[[2]]!.count
            c.releaseTasks()
            XCTAssertEqual(c.jobsByWorker[[2]]!.count, finished, "the stalled worker let its job go after the step it was in")
            XCTAssertEqual(c.workers[[2]]!.heldJobs, 0)
            XCTAssertEqual(c.replies.filter { $0.id == "s" }.count, 1)
            XCTAssertEqual(c.coordinator.requestsInFlight, 0)
        }
    }

    /// An idle worker too small for a stalled worker's shard (it said its memory limit) takes
    /// no copy of it: it would refuse it, and fail the request. One that holds it does.
    func testAStragglersShardIsNotCopiedToAWorkerTooSmallForIt() throws {
        // Shards of 80 tokens of width 24 hold 14080 bytes at the least; the warm-up's 40, 5440.
        let c = try pacedCluster([[1]: 10, [2]: 10, [3]: 10], memory: [[3]: 10_000])
        let shards = { c.jobsByWorker[[3], default: []].filter { $0.kind == .shard }.count }
        let before = shards()
        c.stalled = [[2]]
        let req = request(seed: 84, n: 160, shards: 2)
        c.submit(PruneSubmission(id: "h", request: req, budget: .count(9)).encoded())
        c.advance(ms: 200)
        XCTAssertEqual(kept(c, "h"), try inProcess(req, 9).kept)
        XCTAssertEqual(c.hedges, [.sent, .won])
        XCTAssertEqual(shards(), before, "the small worker took a shard")
    }

    /// An idle worker without bfloat16 products takes no copy of a stalled worker's shard of a
    /// request in similarity bf16; one that has them does, and the answer is in-process bf16's.
    func testAStragglersBFloat16ShardIsCopiedOnlyToAWorkerWithBFloat16Products() throws {
        if let reason = BFloat16Products.unavailableReason { throw XCTSkip("no bfloat16 products here: \(reason)") }
        let kernel = BFloat16Products.description
        let c = try pacedCluster([[1]: 10, [2]: 10, [3]: 10], bf16: [[1]: kernel, [2]: kernel])
        let shards = { c.jobsByWorker[[3], default: []].filter { $0.kind == .shard }.count }
        let before = shards()
        c.stalled = [[2]]
        var bf16 = PruneOptions()
        bf16.similarity = .bf16
        let req = request(seed: 86, n: 160, shards: 2)
        c.submit(PruneSubmission(id: "b", request: req, budget: .count(9), options: bf16).encoded())
        c.advance(ms: 200)
        XCTAssertEqual(kept(c, "b"), try inProcess(req, 9, options: bf16).kept)
        XCTAssertEqual(c.hedges, [.sent, .won])
        XCTAssertEqual(shards(), before, "the worker without bfloat16 products took a shard")
    }

    /// A copy its worker cannot compute (one too small for the shard without saying so, of an
    /// earlier release) is let go: the stalled first goes on and answers, where the copy's error
    /// failed the request; the shard is not copied again (to that worker, on and on).
    func testACopyThatFailsOnItsWorkerIsLetGoAndTheFirstAnswers() throws {
        let c = try pacedCluster([[1]: 10, [2]: 10])
        c.stalled = [[2]]
        let req = request(seed: 85, n: 80, shards: 2)
        c.submit(PruneSubmission(id: "f", request: req, budget: .count(9)).encoded())
        c.advance(ms: 10)
        XCTAssertEqual(c.hedges, [])
        let paced = c.tamper
        // Worker 1 proposed its own shard's scores already; the next it sends are the copy's.
        var refused = 0, copy: Int?
        c.tamper = { id, frames in
            guard id == [1], let (e, type) = try? BackendEnvelope.open(frames), type == ScoresMessage.type || type == ProposalMessage.type,
                  let job = try? e.int("job"), job == copy ?? job else { return paced(id, frames) }
            copy = job
            refused += 1
            return [(id, ShardErrorMessage(job: job, error: ProtocolError(.tooLarge, "not in this worker's memory")).frames())]
        }
        c.advance(ms: 200)
        XCTAssertEqual(c.hedges, [.sent])
        XCTAssertEqual(refused, 1, "copied once")
        XCTAssertNil(c.reply("f"), "failed by its copy")
        XCTAssertTrue(c.logs.contains { $0.contains(/request f: a copy of shard [01] failed on w1 \(too_large: not in this worker's memory\); its other copy goes on/) }, "\(c.logs.suffix(3))")
        c.releaseTasks()
        XCTAssertEqual(kept(c, "f"), try inProcess(req, 9).kept, "\(c.logs.suffix(6))")
        XCTAssertEqual(c.coordinator.requestsInFlight, 0)
    }

    /// The coordinator paused (stopped, frozen) while a shard was within its time: the shard is
    /// not late by the pause (its proposal may be waiting unread), so it is not copied at the first
    /// tick after it, and is once overdue by time that ran. It was copied at once, and its worker
    /// made a straggler when the copy won.
    func testAShardIsNotLateByTheCoordinatorsOwnPause() throws {
        let c = try pacedCluster([[1]: 10, [2]: 10])
        c.stalled = [[2]]
        let req = request(seed: 83, n: 80, shards: 2)
        c.submit(PruneSubmission(id: "p", request: req, budget: .count(9)).encoded())
        c.advance(ms: 10)
        c.now = c.now + .seconds(2)  // within the workers' liveness of the coordinator
        _ = c.coordinator.resumed(after: LoopGap.Gap(wall: .seconds(2), cpu: .zero), now: c.now)
        c.advance(ms: 10)
        XCTAssertEqual(c.hedges, [], "copied for the coordinator's pause")
        c.advance(ms: 50)
        XCTAssertEqual(c.hedges, [.sent, .won])
        XCTAssertEqual(kept(c, "p"), try inProcess(req, 9).kept)
    }

    /// A worker that stops (silent: no heartbeats, no answers) with a shard of a request: past a
    /// beat and a half its shard is copied to the front of the queue, where the next worker with
    /// credit takes it, idle or not (no pace is known here, so no straggler's copy could be
    /// made), and the request is answered before the worker is given up; new requests pass it by
    /// meanwhile. It waited for the worker's liveness (3 beats) before.
    func testASilentWorkersShardIsCopiedBeforeItIsGivenUp() throws {
        for transfer in Transfer.allCases {
            let c = beatingCluster(coordinatorMs: 100)
            c.addWorker([1], credit: 1)
            c.addWorker([2], credit: 1)
            c.kill([1])
            let req = request(seed: 84, n: 80, shards: 2)
            c.submit(PruneSubmission(id: "a", request: req, budget: .count(9), transfer: transfer).encoded())
            XCTAssertEqual(c.coordinator.workers[[1]]?.jobs.count, 1, "\(transfer)")
            c.advance(ms: 150)
            XCTAssertNil(c.reply("a"), "within a beat and a half: not copied")
            XCTAssertEqual(c.coordinator.silentWorkerCount(now: c.now), 0)
            c.advance(ms: 50)
            XCTAssertEqual(c.coordinator.silentWorkerCount(now: c.now), 1)
            XCTAssertEqual(kept(c, "a"), try inProcess(req, 9).kept, "\(transfer)")
            XCTAssertEqual(c.hedges, [.sent, .won], "\(transfer)")
            XCTAssertEqual(c.coordinator.workers[[1]]?.jobs.count, 0, "its job let go")
            XCTAssertTrue(c.logs.contains { $0.hasPrefix("worker w1 silent for ") && $0.hasSuffix(": 1 of its shard jobs copied to other workers") }, "\(c.logs)")
            let next = request(seed: 85, n: 80, shards: 2)
            c.submit(PruneSubmission(id: "b", request: next, budget: .count(9), transfer: transfer).encoded())
            XCTAssertEqual(kept(c, "b"), try inProcess(next, 9).kept, "a suspect gets no new job while another takes it")
            XCTAssertEqual(c.coordinator.workers[[1]]?.jobs.count, 0, "\(transfer)")
            XCTAssertEqual(c.departures.map(\.reason), [])
            c.advance(ms: 200)
            XCTAssertEqual(c.departures.map(\.reason), [.silent])
            XCTAssertEqual(c.departures.map(\.requeued), [0])
        }
    }

    /// The only worker goes silent: its shard's copy waits in the queue for another worker (never
    /// the same one again), and a worker that joins takes it.
    func testASilentWorkersCopyNeverGoesBackToIt() throws {
        let c = beatingCluster(coordinatorMs: 100)
        c.addWorker([1], credit: 2)
        c.kill([1])
        let req = request(seed: 86, n: 40, shards: 1)
        c.submit(PruneSubmission(id: "alone", request: req, budget: .count(9)).encoded())
        c.advance(ms: 200)
        XCTAssertEqual(c.hedges, [.sent])
        XCTAssertEqual(c.coordinator.workers[[1]]?.jobs.count, 1, "the copy went back to the silent worker")
        XCTAssertEqual(c.coordinator.queuedJobs, 1)
        c.addWorker([2], credit: 2)
        XCTAssertEqual(kept(c, "alone"), try inProcess(req, 9).kept)
    }

    /// A worker that beats more slowly than its coordinator (its own `--heartbeat-ms`, said in
    /// `ready`) is quiet that long between beats: its silence is judged by its own beat, so the
    /// shard it holds is not copied between two of its beats, nor is it given up; silent past a
    /// beat and a half of its own, it is. It was suspect after a beat and a half of the
    /// coordinator's, and given up after three.
    func testAWorkerThatBeatsMoreSlowlyIsJudgedByItsOwnBeat() throws {
        let c = beatingCluster(coordinatorMs: 100, workerMs: 400)
        c.addWorker([1], credit: 1)
        c.addWorker([2], credit: 1)
        c.stalled = [[1]]
        let req = request(seed: 87, n: 80, shards: 2)
        c.submit(PruneSubmission(id: "s", request: req, budget: .count(9)).encoded())
        c.advance(ms: 550)
        XCTAssertEqual(c.hedges, [])
        XCTAssertEqual(c.departures.map(\.reason), [])
        c.kill([1])
        c.advance(ms: 700)
        XCTAssertEqual(c.hedges.first, .sent)
        XCTAssertEqual(kept(c, "s"), try inProcess(req, 9).kept)
    }

    /// A worker four times slower than the other, stalled with the one tile of five it was
    /// given (no query: no barrier): the fast worker, idle once it has done the other four, would
    /// finish that tile before the slow one is due to, so it is copied at once, no time passing.
    func testASlowWorkersShardIsCopiedWhenAnIdleWorkerWouldFinishItSooner() throws {
        let c = try pacedCluster([[1]: 10, [2]: 40])
        c.stalled = [[2]]
        let req = request(seed: 81, n: 200, shards: 5, query: false)
        c.submit(PruneSubmission(id: "slow", request: req, budget: .count(10)).encoded())
        XCTAssertEqual(kept(c, "slow"), try inProcess(req, 10).kept)
        XCTAssertEqual(c.hedges, [.sent, .won])
    }

    /// The first worker proposes before the copy does: the copy is let go (`lost`), and the
    /// answer is the same. (Without a query, the idle worker has proposed its own shard by the
    /// time it takes the copy, so nothing of its own waits behind it.)
    func testWhenTheFirstWorkerAnswersFirstTheCopyIsLetGo() throws {
        let c = try pacedCluster([[1]: 10, [2]: 10])
        c.stalled = [[2]]
        let req = request(seed: 82, n: 80, shards: 2, query: false)
        c.submit(PruneSubmission(id: "f", request: req, budget: .count(9)).encoded())
        c.stalled.insert([1])
        c.advance(ms: 60)
        XCTAssertEqual(c.hedges, [.sent])
        XCTAssertEqual(c.workers[[1]]!.heldJobs, 2, "the copy, and the reduce waiting for proposals")
        c.releaseTasks(of: [2])
        XCTAssertEqual(c.hedges, [.sent, .lost])
        c.releaseTasks()
        XCTAssertEqual(c.workers[[1]]!.heldJobs, 0, "the copy went")
        XCTAssertEqual(kept(c, "f"), try inProcess(req, 9).kept)
        XCTAssertEqual(c.replies.filter { $0.id == "f" }.count, 1)
        // Having proposed, the worker whose job was copied takes jobs again.
        let before = c.jobsByWorker[[2]]!.count
        c.submit(PruneSubmission(id: "next", request: request(seed: 87, n: 80, shards: 2), budget: .count(9)).encoded())
        XCTAssertEqual(c.jobsByWorker[[2]]!.filter { $0.kind == .shard }.count, c.jobsByWorker[[2]]!.prefix(before).filter { $0.kind == .shard }.count + 1)
    }

    /// Three workers, two stalled: once the first one's shard is copied to the idle worker and
    /// proposed there, the stalled worker it was taken from is idle too, but straggles: the
    /// second copy goes to the worker that answered, not to it, and the request is answered.
    func testAWorkerWhoseJobWasCopiedTakesNoCopies() throws {
        let c = try pacedCluster([[1]: 10, [2]: 10, [3]: 10])
        let req = request(seed: 88, n: 120, shards: 3, query: false)
        c.holdTasks = true
        c.submit(PruneSubmission(id: "t", request: req, budget: .count(9)).encoded())
        XCTAssertEqual(c.workers.values.map(\.heldJobs), [1, 1, 1])
        let fast = c.workers.keys.sorted { $0.lexicographicallyPrecedes($1) }.first { c.workers[$0]!.heldJobs == 1 }!
        c.stalled = Set(c.workers.keys).subtracting([fast])
        c.holdTasks = false
        c.releaseTasks(of: fast)
        c.advance(ms: 60)
        XCTAssertEqual(kept(c, "t"), try inProcess(req, 9).kept)
        XCTAssertEqual(c.hedges, [.sent, .won, .sent, .won])
        c.releaseTasks()
    }

    /// A shard is timed from when it can go on: one whose weights came late (another worker's
    /// shard was slow to score) is not overdue for the time it waited for them.
    func testAShardIsTimedFromItsWeights() throws {
        let c = try pacedCluster([[1]: 10, [2]: 10])
        c.holdTasks = true
        let req = request(seed: 89, n: 80, shards: 2)
        c.submit(PruneSubmission(id: "w", request: req, budget: .count(9)).encoded())
        c.holdTasks = false
        c.stalled = [[1]]
        c.stallProposals(of: [2])
        c.releaseTasks(of: [2])
        c.advance(ms: 15)
        XCTAssertEqual(c.hedges, [], "the first shard is within its time")
        c.releaseTasks(of: [1])
        c.advance(ms: 19)
        XCTAssertEqual(c.hedges, [], "the second, 34 ms after it was sent, is within its time from its weights (15 ms)")
        c.advance(ms: 6)
        XCTAssertEqual(c.hedges, [.sent, .won])
        XCTAssertEqual(kept(c, "w"), try inProcess(req, 9).kept)
        c.releaseTasks()
    }

    /// A worker four times slower than the other holds one of five tiles, not scored: the fast
    /// worker holds the other four, scored, and graph-prunes them while the weights wait for the
    /// slow tile's scores. It is not idle until they are due: no copy at once, one once the
    /// slow tile is overdue.
    func testAWorkerPruningShardsThatWaitForWeightsTakesNoCopy() throws {
        let c = try pacedCluster([[1]: 10, [2]: 40])
        c.stalled = [[2]]
        let req = request(seed: 92, n: 200, shards: 5)
        c.submit(PruneSubmission(id: "g", request: req, budget: .count(10)).encoded())
        XCTAssertEqual(c.workers[[1]]!.heldJobs, 4)
        XCTAssertEqual(c.hedges, [], "the fast worker is still graph-pruning its four tiles")
        c.advance(ms: 70)
        XCTAssertEqual(c.hedges, [.sent, .won])
        XCTAssertEqual(kept(c, "g"), try inProcess(req, 10).kept)
        c.releaseTasks()
    }

    /// A slow worker's tile whose weights are known has done its reading and graph pruning: a
    /// fast idle worker would not finish it sooner from the start, so it is copied only once
    /// overdue, not at once. The copy wins, and the request's reduce, which the slow worker
    /// took (behind its stalled tile), moves to the other worker.
    func testAShardPartlyDoneIsCopiedOnlyOnceOverdue() throws {
        let c = try pacedCluster([[1]: 10, [2]: 40])
        c.stallProposals(of: [2])
        let req = request(seed: 93, n: 200, shards: 5)
        c.submit(PruneSubmission(id: "p", request: req, budget: .count(10)).encoded())
        XCTAssertEqual(c.coordinator.workers[[2]]!.jobs.filter { c.coordinator.jobs[$0]?.kind != .reduce }.count, 1)
        XCTAssertEqual(c.hedges, [])
        c.advance(ms: 70)
        XCTAssertEqual(c.hedges, [.sent, .won])
        XCTAssertEqual(kept(c, "p"), try inProcess(req, 10).kept)
        c.releaseTasks()
    }

    /// The coordinator counts a worker's jobs lost to copies in a row: after the second, it is
    /// left out for 2 s, not 1.
    func testTheSecondJobInARowLostToACopyLeavesItsWorkerOutLonger() throws {
        let c = try pacedCluster([[1]: 10, [2]: 10])
        c.stalled = [[2]]
        for (i, seed) in [94, 95].enumerated() {
            let req = request(seed: UInt64(seed), n: 80, shards: 2)
            c.submit(PruneSubmission(id: "l\(i)", request: req, budget: .count(9)).encoded())
            XCTAssertEqual(c.coordinator.workers[[2]]!.jobs.count, 1, "request \(i): one shard on the stalled worker")
            c.advance(ms: 60)
            XCTAssertEqual(kept(c, "l\(i)"), try inProcess(req, 9).kept)
            c.advance(ms: 1_450)
        }
        XCTAssertEqual(c.hedges, [.sent, .won, .sent, .won])
        c.submit(PruneSubmission(id: "out", request: request(seed: 96, n: 80, shards: 2), budget: .count(9)).encoded())
        XCTAssertEqual(c.coordinator.workers[[2]]!.jobs.count, 0, "1.5 s after its second loss in a row, it is still left out")
        c.releaseTasks()
    }

    /// A direct request's copy on a worker whose data socket the client then says it cannot
    /// reach (`avoid`) is let go; the first job goes on.
    func testACopyOnADataSocketTheClientCannotReachIsLetGo() throws {
        let c = try pacedCluster([[1]: 10, [2]: 10])
        c.stallProposals(of: [2])
        let req = request(seed: 90, n: 80, shards: 2)
        let e = PruneSubmission(id: "far", request: req, budget: .count(9), transfer: .direct).encoded()
        c.submit(e)
        c.unreachable = [[1]]
        c.advance(ms: 60)
        XCTAssertEqual(c.hedges, [.sent])
        let held = c.workers[[1]]!.heldJobs
        c.submit(e.avoiding([c.endpoint(of: [1])]))
        XCTAssertEqual(c.workers[[1]]!.heldJobs, held - 1, "the copy waiting for its bytes went")
        c.releaseTasks()
        XCTAssertEqual(kept(c, "far"), try inProcess(req, 9).kept)
    }

    /// A request given up while a copy runs: both workers let their jobs go.
    func testACancelledRequestsCopyIsLetGo() throws {
        let c = try pacedCluster([[1]: 10, [2]: 10])
        c.stalled = [[2]]
        c.submit(PruneSubmission(id: "c", request: request(seed: 91, n: 80, shards: 2, query: false), budget: .count(9)).encoded())
        c.stalled.insert([1])
        c.advance(ms: 60)
        XCTAssertEqual(c.hedges, [.sent])
        let finished = c.jobsByWorker.mapValues(\.count)
        c.send(([Frame([])] + CancelMessage(id: "c").frames()).map(\.bytes))
        c.releaseTasks()
        XCTAssertEqual(c.jobsByWorker.mapValues(\.count), finished, "nothing computed past the steps running")
        XCTAssertEqual(c.workers.values.map(\.heldJobs), [0, 0])
    }

    /// The stalled worker dies while its copy runs: the copy goes on alone, nothing is sent
    /// again. The copy's worker dies instead: silent past a beat and a half, its own shard is
    /// copied as well (a suspect's), so when it is given up the first job and that copy go on,
    /// and nothing is sent again either.
    func testACopyAndItsFirstJobOutliveEachOthersWorker() throws {
        for (dying, hedges, carried) in [([UInt8]([2]), [ClusterMetrics.HedgeOutcome.sent], "1 carried on by its copy"), ([1], [.sent, .sent], "2 carried on by their copies")] {
            let c = try pacedCluster([[1]: 10, [2]: 10])
            c.stalled = [[2]]
            let req = request(seed: 83, n: 80, shards: 2)
            c.submit(PruneSubmission(id: "d", request: req, budget: .count(9)).encoded())
            c.stalled.insert([1])
            c.advance(ms: 60)
            XCTAssertEqual(c.hedges, [.sent])
            c.kill(dying)
            c.advance(ms: 5_000)
            XCTAssertEqual(c.departures.map(\.requeued), [0], "\(dying) died")
            XCTAssertEqual(c.coordinator.requeues, 0)
            XCTAssertTrue(c.logs.contains { $0.hasPrefix("worker w\(dying[0]) went silent") && $0.hasSuffix("; 0 jobs moved, \(carried) elsewhere") }, "\(c.logs)")
            c.releaseTasks()
            XCTAssertEqual(kept(c, "d"), try inProcess(req, 9).kept, "\(dying) died")
            XCTAssertEqual(c.hedges, hedges, "\(dying) died")
        }
    }

    /// A direct request: the copy's bytes go from the client to the idle worker's data socket.
    func testADirectShardsCopyHasItsBytesSentToItsWorker() throws {
        let c = try pacedCluster([[1]: 10, [2]: 10])
        c.stallProposals(of: [2])
        let req = request(seed: 84, n: 80, shards: 2)
        c.submit(PruneSubmission(id: "direct", request: req, budget: .count(9), transfer: .direct).encoded())
        c.advance(ms: 60)
        XCTAssertEqual(kept(c, "direct"), try inProcess(req, 9).kept)
        XCTAssertEqual(c.hedges, [.sent, .won])
    }

    /// A direct shard's copy whose worker could not read the client's shared memory (its
    /// placement named that worker's scope) is let go as any failed copy is: the first job
    /// answers, and that client's placements on that worker name no scope from then on. (It had
    /// been sent back as a refused shard is after the copy was let go, which failed the request.)
    func testACopyWhoseWorkerCannotReadTheClientsMemoryIsLetGo() throws {
        var config = WorkerConfiguration()
        config.dataBind = "ipc://@in-memory"
        let c = try pacedCluster([[1]: 10, [2]: 10], workerConfig: config)
        c.stallProposals(of: [2])
        let req = request(seed: 84, n: 80, shards: 2)
        c.submit(PruneSubmission(id: "copy", request: req, budget: .count(9), transfer: .direct).encoded())
        c.advance(ms: 10)
        // Worker 1 proposed its own shard already; the next it sends is the copy's.
        let paced = c.tamper
        var refused = 0
        c.tamper = { id, frames in
            guard id == [1], refused == 0, let (e, type) = try? BackendEnvelope.open(frames),
                  type == ScoresMessage.type || type == ProposalMessage.type, let job = try? e.int("job") else { return paced(id, frames) }
            refused += 1
            return [(id, ShardErrorMessage(job: job, error: ProtocolError(.unreadableSharedMemory, "Permission denied")).frames())]
        }
        c.advance(ms: 60)
        XCTAssertEqual(c.hedges, [.sent])
        XCTAssertEqual(refused, 1)
        XCTAssertTrue(c.logs.contains { $0.contains(/request copy: a copy of shard [01] failed on w1 \(unreadable_shared_memory: Permission denied\); its other copy goes on/) }, "\(c.logs.suffix(3))")
        c.releaseTasks()
        XCTAssertEqual(kept(c, "copy"), try inProcess(req, 9).kept, "\(c.logs.suffix(6))")
        c.submit(PruneSubmission(id: "next", request: req, budget: .count(9), transfer: .direct).encoded())
        c.advance(ms: 60)
        XCTAssertEqual(kept(c, "next"), try inProcess(req, 9).kept)
        let here = try XCTUnwrap(SharedMemoryScope.current)
        let next = c.placements.filter { $0.id == "next" }
        XCTAssertEqual(next.count, 2)
        XCTAssertTrue(next.contains { $0.endpoint == c.endpoint(of: [1]) }, "\(next)")
        for p in next { XCTAssertEqual(p.sharedMemory, p.endpoint == c.endpoint(of: [1]) ? nil : here, p.endpoint) }
    }

    /// A direct request's copy whose bytes were lost with the client's connection to its worker:
    /// the client sends the request again, and the copy's placement is sent again with the
    /// others' (only the first jobs' were, so the copy waited for bytes that never came, and its
    /// request for its deadline once the first job's worker was given up: the fault simulation
    /// found it when clients began to lose bytes).
    func testADirectCopysPlacementIsSentAgainWhenItsBytesWereLost() throws {
        let c = try pacedCluster([[1]: 10, [2]: 10])
        c.stallProposals(of: [2])
        let req = request(seed: 84, n: 80, shards: 2)
        c.submit(PruneSubmission(id: "lost", request: req, budget: .count(9), transfer: .direct).encoded())
        var placed = 0
        c.dataLost = {
            placed += 1
            return placed == 1
        }
        c.advance(ms: 60)
        XCTAssertEqual(c.hedges, [.sent])
        XCTAssertEqual(c.dataLosses, 1, "the copy's bytes")
        c.kill([2])
        c.advance(ms: 5_000)
        XCTAssertEqual(kept(c, "lost"), try inProcess(req, 9).kept)
        XCTAssertEqual(placed, 2)
    }

    /// A direct shard not yet scored is not copied, however late: its bytes may not have reached
    /// its worker, and the client, which moves such shards itself (`avoid`), would not learn of
    /// a data socket it cannot reach if a copy answered first.
    func testADirectShardNotScoredIsNotCopied() throws {
        let c = try pacedCluster([[1]: 10, [2]: 10])
        c.stalled = [[2]]
        let req = request(seed: 97, n: 80, shards: 2)
        c.submit(PruneSubmission(id: "unread", request: req, budget: .count(9), transfer: .direct).encoded())
        c.advance(ms: 500)
        XCTAssertEqual(c.hedges, [])
        XCTAssertNil(c.reply("unread"))
        c.releaseTasks()
        XCTAssertEqual(kept(c, "unread"), try inProcess(req, 9).kept)
    }

    /// With no worker idle nothing is copied, however long the jobs take.
    func testABusyClusterCopiesNothing() throws {
        let c = try pacedCluster([[1]: 10, [2]: 10])
        c.holdTasks = true
        let reqs = (0..<3).map { request(seed: 85 + UInt64($0), n: 160, shards: 4) }
        for (i, r) in reqs.enumerated() { c.submit(PruneSubmission(id: "b\(i)", request: r, budget: .count(8)).encoded()) }
        c.advance(ms: 500)
        XCTAssertEqual(c.hedges, [])
        c.releaseTasks()
        for (i, r) in reqs.enumerated() { XCTAssertEqual(kept(c, "b\(i)"), try inProcess(r, 8).kept) }
    }

    /// A worker whose job lost to its copy takes no jobs beside one that does not straggle for
    /// A reduce moved off a worker silent for a moment (past a beat and a half, within its
    /// liveness) goes back to it when no other worker takes it: under a number of its own, so
    /// that the worker, which let the old one go and still holds it, takes it for a new job, not
    /// more of the one it let go. Under the old number the worker dropped it, and took the next
    /// proposal for the whole reduce: a selection from one shard of two, or none (seen in a
    /// process test as an invalid selection, and in CI as a request that ran out its deadline).
    func testAReduceMovedOffASilentWorkerAndBackSelectsFromEveryShard() throws {
        let c = beatingCluster(coordinatorMs: 100)
        c.addWorker([1], credit: 2)
        c.stallWork = { _, work in
            if case .propose(let t, _, _, _, _, _) = work { return t.offset > 0 }
            return false
        }
        let req = request(seed: 87, n: 80, shards: 2)
        c.submit(PruneSubmission(id: "r", request: req, budget: .count(9)).encoded())
        XCTAssertEqual(c.jobsByWorker[[1], default: []].filter { $0.kind == .shard }.count, 1, "shard 0 proposed, shard 1 waits")
        var silent = true
        c.tamper = { id, frames in
            silent && (try? BackendEnvelope.open(frames).type) == "heartbeat" ? [] : [(id, frames)]
        }
        c.advance(ms: 200)
        XCTAssertEqual(c.coordinator.silentWorkerCount(now: c.now), 1)
        XCTAssertEqual(c.coordinator.workers[[1]]?.jobs.count, 2, "its shard, and the reduce it was sent again")
        silent = false
        c.advance(ms: 100)
        c.releaseTasks()
        XCTAssertEqual(kept(c, "r"), try inProcess(req, 9).kept)
        XCTAssertEqual(c.coordinator.requestsInFlight, 0)
    }

    /// A worker that stalls holding a request's reduce, every proposal in (it still beats, so it
    /// is not suspect), has the reduce moved to an idle worker once it is four times what
    /// reduces took lately past its last proposal, and at least 20 ms: the request is answered as
    /// in-process, the move counted, and the stalled worker's answer, when it comes, let go. The
    /// request waited for the stalled worker before (or for its silence, where it stopped).
    func testALateReduceMovesToAnIdleWorker() throws {
        let c = try pacedCluster([[1]: 10, [2]: 10])
        var staller: [UInt8]?
        c.stallWork = { id, work in
            guard case .select = work else { return false }
            if staller == nil { staller = id }
            return id == staller
        }
        let req = request(seed: 88, n: 80, shards: 2)
        c.submit(PruneSubmission(id: "late", request: req, budget: .count(9)).encoded())
        XCTAssertNotNil(staller, "the reduce's selection waits on its worker")
        c.advance(ms: 15)
        XCTAssertNil(c.reply("late"), "within 20 ms: not moved")
        c.advance(ms: 50)
        XCTAssertEqual(kept(c, "late"), try inProcess(req, 9).kept)
        XCTAssertEqual(c.moves.filter { $0.reason == .lateReduce }.map(\.count), [1])
        XCTAssertTrue(c.logs.contains { $0.hasPrefix("request late: reduce moved to ") }, "\(c.logs)")
        c.releaseTasks()
        XCTAssertEqual(c.replies.filter { $0.id == "late" }.count, 1)
        XCTAssertEqual(c.coordinator.requestsInFlight, 0)
        XCTAssertEqual(c.workers[staller!]!.heldJobs, 0, "the stalled worker let its reduce go")
    }

    /// 1 s, then 2, 4, up to 32 s for each further loss in a row within a minute of the one
    /// before; after a minute without one, 1 s again. One that beats its copy is no straggler.
    func testAWorkerLosingToCopiesInARowIsLeftOutLonger() {
        let t0 = ContinuousClock().now
        var w = WorkerEntry(identity: [1], name: "w", credit: 2, lastHeard: t0, lastSent: t0)
        XCTAssertFalse(w.straggles(now: t0))
        var at = t0
        for (loss, seconds) in [1, 2, 4, 8, 16, 32, 32].enumerated() {
            at = t0 + .seconds(50 * loss)
            w.stragglingSince = at
            w.lostToCopy(now: at)
            XCTAssertTrue(w.straggles(now: at + .milliseconds(seconds * 1000 - 1)), "loss \(loss + 1)")
            XCTAssertFalse(w.straggles(now: at + .seconds(seconds)), "loss \(loss + 1)")
        }
        at = at + .seconds(61)
        w.stragglingSince = at
        w.lostToCopy(now: at)
        XCTAssertTrue(w.straggles(now: at + .milliseconds(999)))
        XCTAssertFalse(w.straggles(now: at + .seconds(1)), "a minute later, 1 s again")
    }
}
