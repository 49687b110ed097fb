import Dispatch
import XCTest
@testable import ScriptCore

final class ScriptPruningTests: XCTestCase {
    private func request(seed: UInt64, n: Int = 240, d: Int = 96, dq: Int = 48, m: Int = 6) -> (PruneRequest, TestInputs) {
        var inputs = TestInputs(seed: seed)
        let x = inputs.clustered(n, d, centres: 12, spread: 0.6)
        let e = inputs.clustered(n, dq, centres: 12, spread: 0.6)
        let q = inputs.matrix(m, dq)
        return (PruneRequest(features: x, embeddings: e, query: q), inputs)
    }

    private let pruner = Pruner(pool: ComputePool(width: 2))

    func testBudgetAtLeastNKeepsEverything() throws {
        let (req, _) = request(seed: 1, n: 50)
        for method in PruneMethod.allCases {
            var o = PruneOptions(); o.method = method
            XCTAssertEqual(try pruner.prune(req, budget: .count(50), options: o).indices, Array(0..<50), "\(method)")
            XCTAssertEqual(try pruner.prune(req, budget: .count(500), options: o).indices, Array(0..<50), "\(method)")
            XCTAssertEqual(try pruner.prune(req, budget: .ratio(1.0), options: o).indices, Array(0..<50), "\(method)")
        }
    }

    func testEveryMethodReturnsExactlyKSortedUniqueIndicesInRange() throws {
        for seed in 1...4 as ClosedRange<UInt64> {
            var (req, _) = request(seed: seed)
            for shards in [nil, [0..<60, 60..<150, 150..<240]] as [[Range<Int>]?] {
                req.shards = shards
                for method in PruneMethod.allCases {
                    var o = PruneOptions(); o.method = method; o.seed = seed
                    for k in [1, 7, 30, 100] {
                        let kept = try pruner.prune(req, budget: .count(k), options: o).indices
                        XCTAssertEqual(kept.count, k, "\(method) k=\(k)")
                        XCTAssertEqual(kept, Array(Set(kept)).sorted(), "\(method) k=\(k)")
                        XCTAssertTrue(kept.allSatisfy { (0..<240).contains($0) })
                    }
                }
            }
        }
    }

    func testSingleShardShardedEqualsMonolithic() throws {
        for seed in 1...6 as ClosedRange<UInt64> {
            var (req, _) = request(seed: seed)
            for k in [5, 24, 80] {
                req.shards = nil
                let mono = try pruner.prune(req, budget: .count(k)).indices
                req.shards = [0..<240]
                let sharded = try pruner.prune(req, budget: .count(k)).indices
                XCTAssertEqual(mono, sharded, "seed \(seed) k \(k)")
            }
        }
    }

    func testResultDoesNotDependOnPoolWidthOrProposalOrder() throws {
        var (req, _) = request(seed: 9, n: 600, d: 128)
        req.shards = [0..<150, 150..<300, 300..<450, 450..<600]
        let base = try Pruner(pool: .serial).prune(req, budget: .count(60))
        let wide = try Pruner(pool: ComputePool(width: 8)).prune(req, budget: .count(60))
        XCTAssertEqual(base.indices, wide.indices)
        XCTAssertEqual(base.proposals, wide.proposals)
        // The global step does not care in which order shards answered.
        let w = QueryRelevance.weights(embeddings: req.embeddings!, query: req.query, options: PruneOptions())
        let shuffled = ScriptPruning.selectGlobal(proposals: base.proposals.reversed(), features: req.features,
                                                  weights: w, budget: 60, pool: .serial)
        XCTAssertEqual(shuffled, base.indices)
        // Fed one proposal at a time, in any arrival order, with the cross cosines computed on
        // arrival (as a coordinator does), the global step keeps the same tokens.
        for order in [[2, 0, 3, 1], [3, 2, 1, 0]] {
            let bound = GlobalSelection.candidateBound(shards: req.shards!, tokens: 600, budget: 60, options: PruneOptions())
            let selection = GlobalSelection(weights: w, budget: 60, candidateBound: bound)
            for s in order {
                selection.add(base.proposals[s], rows: req.features.gatherRows(base.proposals[s].indices), pool: ComputePool(width: 2))
            }
            selection.add(base.proposals[order[0]], rows: req.features.gatherRows(base.proposals[order[0]].indices), pool: .serial)
            XCTAssertEqual(selection.select(pool: .serial), base.indices, "arrival order \(order)")
        }
        // Proposals postponed, then taken in by whoever has time; the rest by the finish.
        do {
            let bound = GlobalSelection.candidateBound(shards: req.shards!, tokens: 600, budget: 60, options: PruneOptions())
            let selection = GlobalSelection(weights: w, budget: 60, candidateBound: bound)
            let x = req.features, proposals = base.proposals
            for s in [2, 0] { selection.postpone(proposals[s]) { x.gatherRows(proposals[s].indices) } }
            selection.addPostponed(pool: .serial)
            XCTAssertEqual(selection.offsets, [proposals[2].offset, proposals[0].offset])
            selection.postpone(proposals[3]) { x.gatherRows(proposals[3].indices) }
            for p in proposals where !selection.offsets.contains(p.offset) { selection.add(p, rows: x.gatherRows(p.indices), pool: .serial) }
            XCTAssertEqual(selection.select(pool: .serial), base.indices)
        }
        // Proposals taken in on another thread while the selection runs (as a coordinator's
        // idle thread may still be busy when the last shard lands, and the finish then takes in
        // what is missing itself): the same tokens.
        let x = req.features, proposals = base.proposals, shards = req.shards!
        for _ in 0..<6 {
            let bound = GlobalSelection.candidateBound(shards: shards, tokens: 600, budget: 60, options: PruneOptions())
            let selection = GlobalSelection(weights: w, budget: 60, candidateBound: bound)
            let group = DispatchGroup()
            DispatchQueue.global().async(group: group) {
                for s in [1, 3] { selection.add(proposals[s], rows: x.gatherRows(proposals[s].indices), pool: .serial) }
            }
            for s in [0, 2] { selection.add(proposals[s], rows: x.gatherRows(proposals[s].indices), pool: .serial) }
            let taken = selection.offsets
            for p in proposals where !taken.contains(p.offset) { selection.add(p, rows: x.gatherRows(p.indices), pool: .serial) }
            XCTAssertEqual(selection.select(pool: ComputePool(width: 2)), base.indices)
            // After the selection, nothing more is taken in.
            let before = selection.offsets
            selection.postpone(proposals[0]) { x.gatherRows(proposals[0].indices) }
            selection.addPostponed(pool: .serial)
            XCTAssertEqual(selection.offsets, before)
            group.wait()
            XCTAssertEqual(selection.offsets.count, 4)
        }
        // Each shard alone, as a worker would run it, gives the same proposal.
        for (s, r) in req.shards!.enumerated() {
            let job = ShardJob(features: req.features.rows(r), weights: Array(w[r]), offset: r.lowerBound,
                               totalTokens: 600, budget: 60, options: PruneOptions())
            XCTAssertEqual(ScriptPruning.propose(job, pool: .serial), base.proposals[s])
        }
    }

    func testProposalsRespectShareAndAlpha() throws {
        var (req, _) = request(seed: 5)
        req.shards = [0..<60, 60..<150, 150..<240]
        let r = try pruner.prune(req, budget: .count(24))
        for (p, s) in zip(r.proposals, req.shards!) {
            let kappa = Int((2.0 * 24 * Double(s.count) / 240).rounded(.up))
            XCTAssertEqual(p.indices.count, min(kappa, p.survivors))
            XCTAssertEqual(p.survivors, GraphPruning.keepCount(shardSize: s.count, budgetShare: (24 * s.count + 239) / 240, ratio: 0.5))
            XCTAssertNoThrow(try p.validate(for: s))
        }
    }

    func testQueryPullsSelectionTowardRelevantTokens() throws {
        // 100 tokens in 10 orthogonal-ish groups; the query matches group 3 only.
        var inputs = TestInputs(seed: 21)
        let centres = inputs.matrix(10, 64)
        var v = [Float]()
        for i in 0..<100 { for j in 0..<64 { v.append(centres.values[(i % 10) * 64 + j] + 0.3 * inputs.normal()) } }
        let x = Matrix(rows: 100, cols: 64, values: v)
        let q = Matrix(rows: 1, cols: 64, values: centres.row(3))
        var o = PruneOptions(); o.theta = 0.9; o.method = .cdpruner
        let kept = try pruner.prune(PruneRequest(features: x, query: q), budget: .count(10), options: o).indices
        XCTAssertGreaterThanOrEqual(kept.filter { $0 % 10 == 3 }.count, 2)
        o.theta = 0
        let plain = try pruner.prune(PruneRequest(features: x, query: q), budget: .count(10), options: o).indices
        XCTAssertEqual(Set(plain.map { $0 % 10 }).count, 10, "pure diversity covers every group")
    }
}
