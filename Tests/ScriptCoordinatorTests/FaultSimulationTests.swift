import XCTest
import ScriptCore
import ScriptProtocol
import ScriptWire
@testable import ScriptCoordinator
import ScriptWorker

/// Seeded schedules of faults over a stream of requests, in memory (the real state machines, no
/// sockets, time by hand): workers stopped for a while (what reaches them waits, as under
/// SIGSTOP; past their liveness they are given up and come back), slowed (their tasks wait),
/// killed and replaced. Every request must be answered once, as in-process pruning answers it.
/// The process tests meet such interleavings by chance on a loaded machine (a reduce sent back
/// to the worker it was moved off was found that way); here each seed meets them every run.
final class FaultSimulationTests: XCTestCase {
    func testEveryRequestIsAnsweredAsInProcessUnderSeededFaults() throws {
        var totals = Totals()
        for seed in 1...16 { totals.add(try simulate(seed: UInt64(seed))) }
        print("fault simulation: \(totals)")
        // The schedules do what they are for: workers silent long enough for copies of their
        // shards, given up and back, straggling shards copied (and copies winning, so reduces
        // move off their workers), late reduces moved.
        XCTAssertGreaterThan(totals.silences, 0)
        XCTAssertGreaterThan(totals.departures, 0)
        XCTAssertGreaterThan(totals.copiesWon, 0)
        XCTAssertGreaterThan(totals.lateReduces, 0)
    }

    private struct Totals: CustomStringConvertible {
        var requests = 0, silences = 0, departures = 0, copies = 0, copiesWon = 0, lateReduces = 0
        mutating func add(_ t: Totals) {
            requests += t.requests; silences += t.silences; departures += t.departures; copies += t.copies; copiesWon += t.copiesWon
            lateReduces += t.lateReduces
        }
        var description: String {
            "\(requests) requests, \(silences) workers' shards copied for their silence, \(departures) workers given up, "
                + "\(copies) shards copied, \(copiesWon) of the copies first, \(lateReduces) late reduces moved"
        }
    }

    private struct Expected {
        let kept: [Int]
        let merged: Bool
    }

    /// 10 s of a cluster under one seed's faults, then quiet until every request is answered.
    private func simulate(seed: UInt64) throws -> Totals {
        var rng = SplitMix64(seed: seed)
        func roll(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        let c = beatingCluster(coordinatorMs: 100)
        // Every worker reports one pace, so copies are decided by the schedule, not by this
        // machine's timings.
        c.tamper = { id, frames in
            guard let (e, type) = try? BackendEnvelope.open(frames), type == ProposalMessage.type,
                  var m = try? ProposalMessage.parse(e, frames: frames, limits: RequestLimits()) else { return [(id, frames)] }
            m.computeMs = 10
            return [(id, m.frames())]
        }
        var next: UInt8 = 1
        func addWorker() {
            c.addWorker([next], credit: 1)
            next += 1
        }
        for _ in 0..<3 { addWorker() }
        var expected: [String: Expected] = [:]
        var resumeAt: [[UInt8]: Int] = [:], unstallAt: [[UInt8]: Int] = [:]
        let ticks = 200
        for tick in 0..<ticks {
            for burst in 0..<roll(3) { expected.merge(try submit(to: c, seed: seed, tick: tick, burst: burst, roll: roll)) { $1 } }
            let live = c.workers.keys.filter { !c.dead.contains($0) }.sorted { $0.lexicographicallyPrecedes($1) }
            let victim = live[roll(live.count)]
            switch roll(30) {
            case 0 where c.paused[victim] == nil:
                c.pause(victim)
                resumeAt[victim] = tick + 1 + roll(12)
            case 1:
                c.stalled.insert(victim)
                unstallAt[victim] = tick + 1 + roll(8)
            case 2 where live.count > 2:
                c.kill(victim)
                addWorker()
            default: break
            }
            for id in due(&resumeAt, tick) { c.resume(id) }
            for id in due(&unstallAt, tick) { c.releaseTasks(of: id) }
            c.advance(ms: 50)
        }
        for id in c.paused.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) { c.resume(id) }
        c.releaseTasks()
        c.advance(ms: 3_000)
        try check(c, expected, seed: seed)
        return Totals(requests: expected.count, silences: c.logs.filter { $0.hasSuffix("of its shard jobs copied to other workers") }.count,
                      departures: c.departures.count, copies: c.hedges.filter { $0 == .sent }.count,
                      copiesWon: c.hedges.filter { $0 == .won }.count, lateReduces: c.moves.filter { $0.reason == .lateReduce }.count)
    }

    /// The workers due by `tick`, in order, taken out of `schedule`.
    private func due(_ schedule: inout [[UInt8]: Int], _ tick: Int) -> [[UInt8]] {
        let ids = schedule.filter { $0.value <= tick }.keys.sorted { $0.lexicographicallyPrecedes($1) }
        for id in ids { schedule[id] = nil }
        return ids
    }

    /// One request of random shape: 40 to 160 tokens in 1 to 4 shards, with a query or not,
    /// inline or direct, its kept indices or their merged rows.
    private func submit(to c: InMemoryCluster, seed: UInt64, tick: Int, burst: Int, roll: (Int) -> Int) throws -> [String: Expected] {
        let id = "s\(seed)-\(tick)-\(burst)"
        let req = request(seed: seed * 10_000 + UInt64(tick * 10 + burst), n: 40 + 4 * roll(31), shards: 1 + roll(4), query: roll(4) != 0)
        let k = 6 + roll(10)
        let merged = roll(3) == 0
        c.submit(PruneSubmission(id: id, request: req, budget: .count(k), returnMode: merged ? .merged : .indices,
                                 transfer: roll(2) == 0 ? .inline : .direct).encoded())
        return [id: Expected(kept: try inProcess(req, k).kept, merged: merged)]
    }

    private func check(_ c: InMemoryCluster, _ expected: [String: Expected], seed: UInt64) throws {
        XCTAssertEqual(c.coordinator.requestsInFlight, 0, "seed \(seed): requests never answered")
        for (id, want) in expected.sorted(by: { $0.key < $1.key }) {
            let replies = c.replies.filter { $0.id == id }
            XCTAssertEqual(replies.count, 1, "seed \(seed), \(id): \(replies.count) replies")
            guard case .result(let r)? = replies.first else {
                XCTFail("seed \(seed), \(id): \(String(describing: replies.first))")
                continue
            }
            XCTAssertEqual(r.indices, want.kept, "seed \(seed), \(id)")
            if want.merged { XCTAssertEqual(r.features?.rows, want.kept.count, "seed \(seed), \(id)") }
        }
    }
}
