import XCTest
import ScriptCore
import ScriptProtocol
import ScriptService
import ScriptTransport
import ScriptWire
@testable import ScriptCoordinator

/// Where the coordinator sends jobs, and that it and its workers keep each other posted.
final class DispatchTests: XCTestCase {
    private func jobs(_ c: InMemoryCluster, _ id: [UInt8], _ kind: ClusterMetrics.JobKind? = nil) -> Int {
        (c.jobsByWorker[id] ?? []).filter { kind == nil || $0.kind == kind }.count
    }

    private func kept(_ c: InMemoryCluster, _ id: String) -> [Int]? {
        if case .result(let r)? = c.reply(id) { return r.indices }
        XCTFail("\(id): \(String(describing: c.reply(id)))")
        return nil
    }

    func testAJobGoesToTheWorkerWithTheMostFreeCredit() throws {
        let c = InMemoryCluster()
        c.addWorker([1], credit: 4)
        c.addWorker([2], credit: 2)
        let req = request(seed: 31, n: 80, shards: 2)
        c.submit(PruneSubmission(id: "a", request: req, budget: .count(8)).encoded())
        XCTAssertEqual(kept(c, "a"), try inProcess(req, 8).kept)
        XCTAssertEqual(jobs(c, [1], .shard), 2, "4 then 3 free against 2")
        XCTAssertEqual(jobs(c, [2], .shard), 0)
    }

    /// A worker four times slower than the other gets one of a request's five tiles, not two:
    /// the third waits for the fast worker, which will be free before the slow one would finish
    /// it (the fourth goes to the slow one, the fifth waits again). Workers of one pace share
    /// them by credit, as before; the answer is the same either way.
    func testASlowWorkerIsLeftWhatFasterWorkersWouldNotFinishSooner() throws {
        for (slow, placed) in [(40.0, [2, 1]), (10.0, [2, 2])] {
            let c = try pacedCluster([[1]: 10, [2]: slow])
            c.holdTasks = true
            let req = request(seed: 70, n: 200, shards: 5)
            c.submit(PruneSubmission(id: "x", request: req, budget: .count(10)).encoded())
            XCTAssertEqual([c.workers[[1]]!.heldJobs, c.workers[[2]]!.heldJobs], placed, "slow worker at \(slow) ms")
            XCTAssertEqual(c.coordinator.queuedJobs, 5 - placed.reduce(0, +))
            c.releaseTasks()
            XCTAssertEqual(kept(c, "x"), try inProcess(req, 10).kept)
        }
    }

    /// A fast worker that drains (credit 0) takes no more jobs, so none waits for it: what it
    /// would have taken goes to the slow worker.
    func testNoJobWaitsForADrainingWorker() throws {
        let c = try pacedCluster([[1]: 10, [2]: 40])
        c.holdTasks = true
        let req = request(seed: 71, n: 200, shards: 5)
        c.submit(PruneSubmission(id: "d", request: req, budget: .count(10)).encoded())
        XCTAssertEqual([c.workers[[1]]!.heldJobs, c.workers[[2]]!.heldJobs], [2, 1])
        c.drain([1])
        c.pump()
        XCTAssertEqual(c.workers[[2]]!.heldJobs, 2, "the slow worker's free credit is used")
        XCTAssertEqual(c.coordinator.queuedJobs, 1)
    }

    /// Between workers with the same free credit, the one assigned least recently: one request
    /// after another, jobs take turns instead of piling on one worker.
    func testWorkersWithEqualCreditTakeTurns() throws {
        let c = InMemoryCluster()
        c.addWorker([1], credit: 1)
        c.addWorker([2], credit: 1)
        for i in 0..<4 {
            c.submit(PruneSubmission(id: "t\(i)", request: request(seed: 40 + UInt64(i), n: 40, shards: 1), budget: .count(6)).encoded())
            XCTAssertNotNil(kept(c, "t\(i)"))
        }
        XCTAssertEqual(jobs(c, [1]), 4)
        XCTAssertEqual(jobs(c, [2]), 4)
    }

    /// A client sends a direct request's bytes to a worker's data socket: a worker without one
    /// gets none of its shards, however much credit it has (it may still reduce).
    func testDirectShardsGoOnlyToWorkersThatTakeData() throws {
        let c = InMemoryCluster()
        c.addWorker([1], credit: 4, takesData: false)
        c.addWorker([2], credit: 1)
        let req = request(seed: 32, n: 90, shards: 3)
        c.submit(PruneSubmission(id: "d", request: req, budget: .count(9), transfer: .direct).encoded())
        XCTAssertEqual(kept(c, "d"), try inProcess(req, 9).kept)
        XCTAssertEqual(jobs(c, [1], .shard), 0)
        XCTAssertEqual(jobs(c, [2], .shard), 3)
    }

    /// A request in similarity bf16 goes only to workers that said they compute bfloat16
    /// products, its shards and its reduce alike, however much credit the others have; its
    /// answer is in-process pruning's in bf16 (which is not f32's here), and a request in f32
    /// still goes to every worker.
    func testABFloat16RequestGoesOnlyToWorkersWithBFloat16Products() throws {
        if let reason = BFloat16Products.unavailableReason { throw XCTSkip("no bfloat16 products here: \(reason)") }
        let c = InMemoryCluster()
        c.addWorker([1], credit: 8)
        c.addWorker([2], credit: 1, bf16: BFloat16Products.description)
        var bf16 = PruneOptions()
        bf16.similarity = .bf16
        var req = request(seed: 77, n: 240, shards: 4, width: 64)
        // Tokens alike but for differences near bfloat16's step: its rounding decides near ties.
        req.features = Matrix(rows: 240, cols: 64, values: req.features.values.enumerated().map { i, v in 0.75 + Float(i % 64) / 256 + v / 64 })
        c.submit(PruneSubmission(id: "b", request: req, budget: .count(40), options: bf16).encoded())
        let expected = try inProcess(req, 40, options: bf16).kept
        XCTAssertEqual(kept(c, "b"), expected)
        XCTAssertNotEqual(expected, try inProcess(req, 40).kept, "bf16 keeps other tokens than f32 on this request")
        XCTAssertEqual([jobs(c, [1], .shard), jobs(c, [1], .reduce)], [0, 0])
        XCTAssertEqual([jobs(c, [2], .shard), jobs(c, [2], .reduce)], [4, 1])
        c.submit(PruneSubmission(id: "f", request: req, budget: .count(40)).encoded())
        XCTAssertEqual(kept(c, "f"), try inProcess(req, 40).kept)
        XCTAssertGreaterThan(jobs(c, [1], .shard), 0)
    }

    /// A request in similarity bf16 where no worker computes bfloat16 products fails with
    /// `bad_option`, saying how to send it, where it would wait out its deadline: at once, once
    /// the coordinator has heard from every worker (a liveness after its start: until then, the
    /// first worker to register may not be the only one); with no worker at all it waits. After a
    /// worker with them left, one may come back: a request waits, as it does for a worker that
    /// joins with them (and serves it).
    func testABFloat16RequestWithNoWorkerForItFailsOnceNoneMayJoin() throws {
        let c = InMemoryCluster()
        var bf16 = PruneOptions()
        bf16.similarity = .bf16
        c.submit(PruneSubmission(id: "early", request: request(seed: 4), budget: .count(8), options: bf16).encoded())
        XCTAssertNil(c.reply("early"), "no worker yet: it waits")
        c.addWorker([1])
        XCTAssertNil(c.reply("early"), "the coordinator may not have heard from every worker yet")
        c.advance(ms: 3050)
        guard case .error(_, let early)? = c.reply("early") else { return XCTFail("the waiting request fails once every worker could have registered") }
        XCTAssertEqual(early.code, .badOption)
        XCTAssertTrue(early.message.hasPrefix("options.similarity 'bf16' asks for bfloat16 products, and the only worker does not compute them"), early.message)
        c.addWorker([2])
        c.submit(PruneSubmission(id: "two", request: request(seed: 5), budget: .count(8), options: bf16).encoded())
        guard case .error(_, let e)? = c.reply("two") else { return XCTFail("\(String(describing: c.reply("two")))") }
        XCTAssertTrue(e.message.contains("none of the 2 workers computes them"), e.message)
        XCTAssertTrue(e.message.hasSuffix("send the request in f32"), e.message)
        XCTAssertEqual(jobs(c, [1]) + jobs(c, [2]), 0)
        guard BFloat16Products.unavailableReason == nil else { return }
        c.addWorker([3], bf16: BFloat16Products.description)
        c.submit(PruneSubmission(id: "three", request: request(seed: 5), budget: .count(8), options: bf16).encoded())
        XCTAssertEqual(kept(c, "three"), try inProcess(request(seed: 5), 8, options: bf16).kept)
        c.kill([3])
        c.advance(ms: 3500)
        XCTAssertEqual(c.coordinator.workerCount, 2, "given up")
        c.submit(PruneSubmission(id: "four", request: request(seed: 6), budget: .count(8), options: bf16, deadlineMs: 60_000).encoded())
        c.advance(ms: 1000)
        XCTAssertNil(c.reply("four"), "a worker with bfloat16 products left lately: it may be back")
        c.addWorker([3], bf16: BFloat16Products.description)
        XCTAssertEqual(kept(c, "four"), try inProcess(request(seed: 6), 8, options: bf16).kept)
    }

    /// A direct request where every worker was started without a data socket fails at once,
    /// saying so, where it waited out its deadline for `timeout (0 of N shards proposed)`; with
    /// no worker at all it waits for one, as any request does, and fails when the first to join
    /// takes none.
    func testADirectRequestWithNoWorkerTakingDirectTransfersFailsAtOnce() throws {
        let c = InMemoryCluster()
        c.submit(PruneSubmission(id: "early", request: request(seed: 4), budget: .count(8), transfer: .direct).encoded())
        XCTAssertNil(c.reply("early"), "no worker yet: it waits")
        _ = c.addWorker([1], takesData: false)
        _ = c.addWorker([2], takesData: false)
        c.submit(PruneSubmission(id: "direct", request: request(seed: 5), budget: .count(8), transfer: .direct).encoded())
        guard case .error(_, let e)? = c.reply("direct") else { return XCTFail("\(String(describing: c.reply("direct")))") }
        XCTAssertEqual(e.code, .shardFailed)
        XCTAssertTrue(e.message.hasPrefix("none of the 2 workers takes direct transfers (each was started with --data-bind none)"), e.message)
        guard case .error(_, let early)? = c.reply("early") else { return XCTFail("the waiting request fails when such workers join") }
        XCTAssertTrue(early.message.hasPrefix("the only worker takes no direct transfers (it was started with --data-bind none): send inline"), early.message)
        c.submit(PruneSubmission(id: "inline", request: request(seed: 5), budget: .count(8)).encoded())
        guard case .result? = c.reply("inline") else { return XCTFail("inline is served") }
    }

    /// A client that cannot reach a worker's data socket sends the request again (the same id)
    /// naming it in `avoid`: the shards waiting there move to another worker, the one that held
    /// them lets them go, and the answer is the in-process one. A new request naming it goes
    /// elsewhere from the start; one whose client can reach no worker fails once the coordinator
    /// has had its liveness to hear from every worker.
    func testShardsMoveOffADataSocketTheClientCannotReach() throws {
        let c = InMemoryCluster()
        c.addWorker([1], credit: 2)
        c.addWorker([2], credit: 2)
        c.unreachable = [[2]]
        let far = c.endpoint(of: [2]), near = c.endpoint(of: [1])
        let req = request(seed: 34, n: 120, shards: 4)
        let e = PruneSubmission(id: "far", request: req, budget: .count(9), transfer: .direct).encoded()
        c.submit(e)
        XCTAssertNil(c.reply("far"))
        XCTAssertEqual(c.workers[[2]]!.heldJobs, 2, "two shards wait for bytes that do not come")
        c.submit(e.avoiding([far]))
        XCTAssertEqual(kept(c, "far"), try inProcess(req, 9).kept)
        XCTAssertEqual(c.workers[[2]]!.heldJobs, 0, "the worker let go of the shards that moved")
        XCTAssertEqual(jobs(c, [2], .shard), 0)
        XCTAssertTrue(c.logs.contains("request far: its client cannot reach \(far); 2 jobs moved"), "\(c.logs)")
        XCTAssertEqual(c.moves.map(\.reason), [.dataUnreachable])
        XCTAssertEqual(c.moves.map(\.count), [2])

        let next = request(seed: 35, n: 90, shards: 3)
        c.submit(PruneSubmission(id: "next", request: next, budget: .count(7), transfer: .direct).encoded().avoiding([far]))
        XCTAssertEqual(kept(c, "next"), try inProcess(next, 7).kept)
        XCTAssertEqual(jobs(c, [2], .shard), 0)

        c.submit(PruneSubmission(id: "none", request: next, budget: .count(7), transfer: .direct).encoded().avoiding([far, near]))
        XCTAssertNil(c.reply("none"), "in its first liveness (3 s) the coordinator may not have heard from every worker")
        c.advance(ms: 3_000)
        guard case .error(_, let err)? = c.reply("none") else { return XCTFail("\(String(describing: c.reply("none")))") }
        XCTAssertEqual(err.code, .shardFailed)
        XCTAssertTrue(err.message.hasPrefix("the client cannot reach the data socket of any worker (\(near), \(far)):"), err.message)
        XCTAssertEqual(c.coordinator.requestsInFlight, 0)
    }

    /// A direct shard scored on a worker whose connection was then reset moves, and lands on a
    /// worker whose data socket the client cannot reach; the client's `avoid` moves it on
    /// again. It kept its first worker's "scored" mark (as if its bytes had reached the second),
    /// so the `avoid` left it there waiting for bytes that never came, and a retry sent it no
    /// placement (the fault simulation found it when the copy that could have saved it died).
    func testAShardMovedAfterItWasScoredWaitsForItsBytesAgain() throws {
        let c = InMemoryCluster()
        c.addWorker([1], credit: 2)
        c.stallProposals(of: [1])
        let req = request(seed: 36, n: 40, shards: 1)
        let e = PruneSubmission(id: "moved", request: req, budget: .count(9), transfer: .direct).encoded()
        c.submit(e)
        XCTAssertTrue(c.logs.contains { $0.hasPrefix("request moved: shard 0 scored by w1") }, "\(c.logs)")
        c.addWorker([2], credit: 2)
        c.unreachable = [[2]]
        c.resetLink([1])
        XCTAssertEqual(c.workers[[2]]!.heldJobs, 1, "moved where the client cannot send it")
        c.submit(e.avoiding([c.endpoint(of: [2])]))
        XCTAssertTrue(c.logs.contains("request moved: its client cannot reach \(c.endpoint(of: [2])); 1 jobs moved"), "\(c.logs)")
        XCTAssertEqual(c.workers[[2]]!.heldJobs, 0)
        c.releaseTasks()
        c.advance(ms: 200)
        XCTAssertEqual(kept(c, "moved"), try inProcess(req, 9).kept)
    }

    /// A worker whose connection was reset more times than a byte counts is still served: the
    /// simulation names each new connection by its count (a long exploration resets one link
    /// hundreds of times).
    func testALinkResetHundredsOfTimesStillCarriesJobs() throws {
        let c = beatingCluster(coordinatorMs: 100)
        c.addWorker([1], credit: 1)
        for _ in 0..<300 {
            c.resetLink([1])
            c.advance(ms: 150)
        }
        XCTAssertEqual(c.logs.filter { $0.hasPrefix("worker w1 registered") }.count, 301)
        let req = request(seed: 37, n: 40, shards: 1)
        c.submit(PruneSubmission(id: "after", request: req, budget: .count(9)).encoded())
        XCTAssertEqual(kept(c, "after"), try inProcess(req, 9).kept, "\(c.logs.suffix(6))")
    }

    /// The workers a client reaches were given up a moment ago (stopped, or restarting) and only
    /// one it cannot reach is left: its request waits for them, as one does with no worker at
    /// all, and is answered when one is back. A minute after the last of them left, a client
    /// that reaches none of the workers there fails at once again; a moment after the
    /// coordinator restarted, it waits (the workers may not all have joined it yet).
    func testARequestWaitsForAWorkerItReachesThatLeftLately() throws {
        let c = InMemoryCluster()
        c.addWorker([1], credit: 2)
        c.addWorker([2], credit: 2)
        c.unreachable = [[2]]
        let far = c.endpoint(of: [2])
        c.kill([1])
        c.advance(ms: 3_500)
        XCTAssertEqual(c.coordinator.workerCount, 1, "the stopped worker was given up")
        let req = request(seed: 36, n: 90, shards: 3)
        c.submit(PruneSubmission(id: "back", request: req, budget: .count(7), transfer: .direct).encoded().avoiding([far]))
        c.advance(ms: 2_000)
        XCTAssertNil(c.reply("back"), "it waits for the worker it reaches")
        c.submit(PruneSubmission(id: "short", request: req, budget: .count(7), deadlineMs: 1_000, transfer: .direct).encoded().avoiding([far]))
        c.advance(ms: 1_100)
        guard case .error(_, let late)? = c.reply("short") else { return XCTFail("\(String(describing: c.reply("short")))") }
        XCTAssertEqual(late.code, .timeout)
        XCTAssertTrue(late.message.hasSuffix("1 workers); the client reaches the data socket of none of them (\(far))"), late.message)
        c.addWorker([1], credit: 2)
        XCTAssertEqual(kept(c, "back"), try inProcess(req, 7).kept)
        XCTAssertEqual(jobs(c, [2], .shard), 0)

        c.kill([1])
        c.advance(ms: 63_500)
        c.submit(PruneSubmission(id: "gone", request: req, budget: .count(7), transfer: .direct).encoded().avoiding([far]))
        guard case .error(_, let e)? = c.reply("gone") else { return XCTFail("\(String(describing: c.reply("gone")))") }
        XCTAssertEqual(e.code, .shardFailed)
        XCTAssertTrue(e.message.hasPrefix("the client cannot reach the data socket of any worker (\(far)):"), e.message)

        // A coordinator started a moment ago may not have heard from every worker yet.
        c.restartCoordinator()
        c.advance(ms: 500)
        XCTAssertEqual(c.coordinator.workerCount, 1)
        c.submit(PruneSubmission(id: "early", request: req, budget: .count(7), transfer: .direct).encoded().avoiding([far]))
        XCTAssertNil(c.reply("early"))
        c.addWorker([1], credit: 2)
        XCTAssertEqual(kept(c, "early"), try inProcess(req, 7).kept)
    }

    /// `avoid` is for direct transfers, names at most 4,096 endpoints (a client outside a large
    /// pool may reach none of its workers) of 1 to 256 bytes, and says
    /// so when it is wrong.
    func testAvoidIsChecked() throws {
        let c = InMemoryCluster()
        c.addWorker([1])
        func refused(_ id: String, _ avoid: MessagePackValue, transfer: Transfer = .direct) -> String? {
            let e = PruneSubmission(id: id, request: request(seed: 36, n: 40, shards: 1), budget: .count(4), transfer: transfer).encoded()
            var frames = e.frames()
            let fields = try! Envelope.decode(frames[0]).fields
            frames[0] = Frame(Envelope.encode(fields.map { ($0.key, $0.value) } + [("avoid", avoid)]))
            c.send([[]] + frames.map(\.bytes))
            guard case .error(_, let err)? = c.reply(id), err.code == .badRequest else { return nil }
            return err.message
        }
        XCTAssertEqual(refused("inline", .array([.string("tcp://h:1")]), transfer: .inline), "field 'avoid' names workers' data endpoints, for transfer 'direct' only")
        XCTAssertEqual(refused("many", .array(Array(repeating: .string("tcp://h:1"), count: 4097))), "field 'avoid' names 4097 endpoints, at most 4096")
        XCTAssertEqual(refused("empty", .array([.string("")])), "avoid[0] must be a string of 1 to 256 bytes (a worker's data endpoint)")
        XCTAssertEqual(refused("number", .array([.string("tcp://h:1"), .int(5)])), "avoid[1] must be a string of 1 to 256 bytes (a worker's data endpoint)")
        XCTAssertNotNil(refused("string", .string("tcp://h:1")))
        XCTAssertNil(refused("fine", .array([.string("tcp://h:1")])), "a valid avoid naming no worker is served")
    }

    /// A merge waits for the worker that holds its shard's bytes; when that worker drains
    /// instead (a rolling update), the merge goes to another with the bytes sent again.
    func testAMergeWaitingForAWorkerThatDrainsMovesWithItsBytes() throws {
        let c = InMemoryCluster()
        c.addWorker([1], credit: 1)
        c.addWorker([2], credit: 1)
        var drained: [UInt8]?
        c.killOnTask = { id, work in
            if case .select = work, drained == nil {
                drained = id
                c.drain(id)  // while its selection runs: credit 0 now, gone once it is done
            }
            return false
        }
        let req = request(seed: 33, n: 80, shards: 2)
        c.submit(PruneSubmission(id: "m", request: req, budget: .count(8), returnMode: .merged).encoded())
        let reducer = try XCTUnwrap(drained)
        let other: [UInt8] = reducer == [1] ? [2] : [1]
        guard case .result(let r)? = c.reply("m") else { return XCTFail("\(String(describing: c.reply("m")))") }
        XCTAssertEqual(r.indices, try inProcess(req, 8).kept)
        XCTAssertEqual(r.features?.rows, 8)
        XCTAssertEqual(jobs(c, reducer, .merge), 0)
        XCTAssertEqual(jobs(c, other, .merge), 2, "its own shard's merge and the drained worker's")
    }

    /// An idle coordinator and its idle workers each send a heartbeat every interval.
    func testHeartbeatsFlowBothWaysEveryInterval() {
        let c = InMemoryCluster()
        c.addWorker([1])
        c.addWorker([2])
        c.heartbeatsToWorker = [:]
        c.heartbeatsFromWorker = [:]
        c.advance(ms: 4_000)
        for id: [UInt8] in [[1], [2]] {
            XCTAssertEqual(c.heartbeatsToWorker[id], 4, "coordinator to \(id)")
            XCTAssertEqual(c.heartbeatsFromWorker[id], 4, "\(id) to coordinator")
        }
        XCTAssertEqual(c.coordinator.workerCount, 2, "nobody went silent")
    }
}
