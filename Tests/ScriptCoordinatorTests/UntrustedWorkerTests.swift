import XCTest
import ScriptCore
import ScriptProtocol
import ScriptTransport
@testable import ScriptCoordinator

/// A worker's answers are checked before they count: one that is buggy or hostile fails its
/// request with an internal error naming it, never a wrong answer, and a worker cannot answer a
/// job it does not hold.
final class UntrustedWorkerTests: XCTestCase {
    private func cluster() -> InMemoryCluster {
        let c = InMemoryCluster()
        c.addWorker([1])
        c.addWorker([2])
        return c
    }

    /// `frames` rewritten by `change` when they are an `M`; other messages as they are.
    private func rewrite<M: BackendMessage>(_ frames: [Frame], as _: M.Type, _ change: (inout M) -> Void) -> [Frame] {
        guard let (e, type) = try? BackendEnvelope.open(frames), type == M.type,
              var m = try? M.parse(e, frames: frames, limits: RequestLimits()) else { return frames }
        change(&m)
        return m.frames()
    }

    private func failure(_ c: InMemoryCluster, _ id: String) -> ProtocolError? {
        if case .error(_, let e)? = c.reply(id) { return e }
        return nil
    }

    func testAnInvalidSelectionFailsItsRequest() throws {
        let req = request(seed: 21)
        let changes: [(String, (inout [Int], Set<Int>) -> Void)] = [
            ("one token short", { i, _ in i.removeLast() }),
            ("out of order", { i, _ in i.swapAt(0, 1) }),
            ("a token no shard proposed", { i, proposed in
                i.removeLast()
                i = (i + [(0..<120).first { !proposed.contains($0) }!]).sorted()
            }),
        ]
        for (what, change) in changes {
            let c = cluster()
            var proposed = Set<Int>()
            c.tamper = { id, frames in
                if let (e, type) = try? BackendEnvelope.open(frames), type == ProposalMessage.type,
                   let m = try? ProposalMessage.parse(e, frames: frames, limits: RequestLimits()) { proposed.formUnion(m.indices) }
                return [(id, self.rewrite(frames, as: ReducedMessage.self) { change(&$0.indices, proposed) })]
            }
            c.submit(PruneSubmission(id: "r", request: req, budget: .count(12)).encoded())
            let error = failure(c, "r")
            XCTAssertEqual(error?.code, .internal, what)
            XCTAssertTrue(error?.message.contains("returned an invalid selection") == true, "\(what): \(String(describing: error))")
        }
    }

    func testMergedRowsOrScoresOfTheWrongShapeFailTheirRequest() throws {
        let req = request(seed: 22)
        var c = cluster()
        c.tamper = { id, frames in
            [(id, self.rewrite(frames, as: MergedMessage.self) { m in
                m.features = WireTensor(rows: m.features.rows + 1, cols: m.features.cols, floats: [Float](repeating: 0, count: (m.features.rows + 1) * m.features.cols))
            })]
        }
        c.submit(PruneSubmission(id: "m", request: req, budget: .count(12), returnMode: .merged).encoded())
        XCTAssertEqual(failure(c, "m")?.code, .internal)
        XCTAssertTrue(failure(c, "m")?.message.contains("merged rows for") == true, "\(String(describing: failure(c, "m")))")

        c = cluster()
        c.tamper = { id, frames in
            [(id, self.rewrite(frames, as: ScoresMessage.self) { m in
                m.rows -= 1
                m.scores.removeLast(m.queryTokens)
            })]
        }
        c.submit(PruneSubmission(id: "s", request: req, budget: .count(12)).encoded())
        XCTAssertEqual(failure(c, "s")?.code, .internal)
        XCTAssertTrue(failure(c, "s")?.message.contains("sent scores of shape") == true, "\(String(describing: failure(c, "s")))")
    }

    /// A proposal in the name of a job another worker holds is ignored: the answer is the
    /// holder's, equal to in-process.
    func testOnlyTheHolderOfAJobCanAnswerIt() throws {
        let req = request(seed: 23)
        let c = cluster()
        var forged = 0
        c.tamper = { id, frames in
            guard let (e, type) = try? BackendEnvelope.open(frames), type == ProposalMessage.type,
                  let m = try? ProposalMessage.parse(e, frames: frames, limits: RequestLimits()) else { return [(id, frames)] }
            // The other worker claims the job first, proposing the shard's first tokens instead.
            let p = m.indices.count
            let first = Array(m.offset..<(m.offset + p))
            var identity = [Float](repeating: 0, count: p * p)
            for i in 0..<p { identity[i * p + i] = 1 }
            let fake = ProposalMessage(job: m.job, offset: m.offset, indices: first, survivors: m.survivors,
                                       cosines: WireTensor(rows: p, cols: p, floats: identity), rows: m.rows, computeMs: 0)
            forged += 1
            return [(id == [1] ? [2] : [1], fake.frames()), (id, frames)]
        }
        c.submit(PruneSubmission(id: "h", request: req, budget: .count(12)).encoded())
        XCTAssertEqual(forged, 3)
        guard case .result(let r)? = c.reply("h") else { return XCTFail("\(String(describing: c.reply("h")))") }
        XCTAssertEqual(r.indices, try inProcess(req, 12).kept)
    }
}
