import XCTest
import ScriptCore
import ScriptProtocol
import ScriptTransport
import ScriptWire
import ScriptTestSupport
@testable import ScriptCoordinator

/// Valid messages damaged at random (fields given other types and sizes, removed or added, bytes
/// flipped, frames cut, dropped or repeated): the coordinator answers every client message with a
/// result or a typed error, a worker's data socket takes damaged bytes without crashing, and
/// both still serve a valid request afterwards. The damage is the same on every run (a seed).
final class HostileInputFuzzTests: XCTestCase {
    func testDamagedClientMessagesAreAnsweredAndServingGoesOn() throws {
        let c = twoWorkers()
        let req = request(seed: 9, n: 60, shards: 3)
        var damage = Damage(seed: 77)
        var outcomes: [String: Int] = [:]
        for i in 0..<1200 {
            let valid = PruneSubmission(id: "f\(i)", request: req, budget: .count(6)).frames()
            var frames = damage.damage([[]] + valid)
            if damage.below(3) == 0 { frames = damage.damage(frames) }
            let before = c.replies.count
            c.send(frames)
            c.advance(ms: 50)
            XCTAssertGreaterThan(c.replies.count, before, "message \(i) went unanswered")
            outcomes[Self.outcome(c.replies.last), default: 0] += 1
        }
        XCTAssertGreaterThan(outcomes.count, 8, "the damage reaches many checks: \(outcomes)")
        XCTAssertNil(outcomes["internal"], "a client's damage is the client's error: \(outcomes)")
        try assertStillServes(c, req)
    }

    func testDamagedDirectBytesNeverCrashAWorker() throws {
        let c = twoWorkers()
        let req = request(seed: 10, n: 60, shards: 3)
        var damage = Damage(seed: 78)
        c.damageData = { damage.damage([[]] + $0.map(\.bytes)).dropFirst().map(Frame.init) }
        let outcomes = outcomesOf300(c, req, transfer: .direct)
        XCTAssertGreaterThan(outcomes.count, 2, "\(outcomes)")
        c.damageData = { $0 }
        try assertStillServes(c, req)
    }

    /// A buggy or hostile worker: one in eight of the workers' messages is damaged. Every request
    /// still ends (a result, or a typed error by its deadline) and the coordinator lives on.
    func testDamagedWorkerMessagesNeverCrashTheCoordinator() throws {
        let c = twoWorkers()
        let req = request(seed: 11, n: 60, shards: 3)
        var damage = Damage(seed: 79)
        c.tamper = { id, frames in [(id, damage.below(8) == 0 ? damage.damage([[]] + frames.map(\.bytes)).dropFirst().map(Frame.init) : frames)] }
        XCTAssertGreaterThan(outcomesOf300(c, req)["result"] ?? 0, 0)
        c.tamper = { [($0, $1)] }
        c.advance(ms: 5_000)  // workers the damage made leave come back
        try assertStillServes(c, req)
    }

    /// The other way: one in eight of the coordinator's messages to workers is damaged (a
    /// coordinator of another build, a bug). No worker crashes; every request ends.
    func testDamagedCoordinatorMessagesNeverCrashAWorker() throws {
        let c = twoWorkers()
        let req = request(seed: 12, n: 60, shards: 3)
        var damage = Damage(seed: 80)
        c.damageToWorker = { damage.below(8) == 0 ? damage.damage([[]] + $0.map(\.bytes)).dropFirst().map(Frame.init) : $0 }
        XCTAssertGreaterThan(outcomesOf300(c, req)["result"] ?? 0, 0)
        c.damageToWorker = { $0 }
        c.advance(ms: 5_000)
        try assertStillServes(c, req)
    }

    private func twoWorkers() -> InMemoryCluster {
        let c = InMemoryCluster()
        c.addWorker([1])
        c.addWorker([2])
        return c
    }

    /// 300 requests one after another (indices and merged alternately, 400 ms deadlines), each
    /// given 500 ms: how they ended. Every one must have ended.
    private func outcomesOf300(_ c: InMemoryCluster, _ req: PruneRequest, transfer: Transfer = .inline,
                               line: UInt = #line) -> [String: Int] {
        var outcomes: [String: Int] = [:]
        for i in 0..<300 {
            c.submit(PruneSubmission(id: "q\(i)", request: req, budget: .count(6), returnMode: i % 2 == 0 ? .indices : .merged,
                                     deadlineMs: 400, transfer: transfer).encoded())
            c.advance(ms: 500)
            outcomes[Self.outcome(c.reply("q\(i)")), default: 0] += 1
        }
        XCTAssertNil(outcomes["none"], "every request ended by its deadline: \(outcomes)", line: line)
        return outcomes
    }

    private func assertStillServes(_ c: InMemoryCluster, _ req: PruneRequest, line: UInt = #line) throws {
        c.submit(PruneSubmission(id: "after", request: req, budget: .count(6)).encoded())
        guard case .result(let r)? = c.reply("after") else { return XCTFail("\(String(describing: c.reply("after")))", line: line) }
        XCTAssertEqual(r.indices, try inProcess(req, 6).kept, line: line)
        XCTAssertEqual(c.coordinator.workerCount, 2, line: line)
    }

    private static func outcome(_ reply: ClusterReply?) -> String {
        switch reply {
        case .result?: return "result"
        case .error(_, let e)?: return e.code.rawValue
        case .status?: return "status"
        case .placement?: return "placement"
        case nil: return "none"
        }
    }
}
