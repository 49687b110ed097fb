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
        // The global step does not care in which order shards answered, nor how many threads
        // run it: it takes the proposals in shard order, as a reducing worker does.
        let w = QueryRelevance.weights(embeddings: req.embeddings!, query: req.query, shards: req.shards, options: PruneOptions())
        for pool in [ComputePool.serial, ComputePool(width: 3)] {
            let shuffled = ScriptPruning.selectGlobal(proposals: base.proposals.reversed(), features: req.features,
                                                      weights: w, budget: 60, pool: pool)
            XCTAssertEqual(shuffled, base.indices)
            let groups = base.proposals.map { GlobalSelection.Group(proposal: $0, rows: req.features.gatherRows($0.indices), weights: $0.indices.map { w[$0] }) }
            XCTAssertEqual(GlobalSelection.select(groups, budget: 60, pool: pool), base.indices)
            // Taken in one at a time, in any arrival order, with the cross cosines computed on
            // arrival (as a reducing worker does while other shards still run): the same tokens.
            for order in [[2, 0, 3, 1], [3, 2, 1, 0], [1, 3, 0, 2]] {
                var s = GlobalSelection(candidateBound: GlobalSelection.candidateBound(shards: req.shards!, tokens: 600, budget: 60, options: PruneOptions()))
                for i in order { s.add(groups[i], pool: pool) }
                s.add(groups[order[0]], pool: pool)
                XCTAssertEqual(s.offsets, base.proposals.map(\.offset))
                XCTAssertEqual(s.select(budget: 60, pool: pool), base.indices, "arrival order \(order)")
            }
            // Their cosines computed a block at a time as they come, or some left to the
            // selection: the same tokens.
            for order in [[2, 0, 3, 1], [1, 3, 0, 2]] {
                var s = GlobalSelection(candidateBound: GlobalSelection.candidateBound(shards: req.shards!, tokens: 600, budget: 60, options: PruneOptions()))
                for i in order {
                    s.add([groups[i]], computing: 1, pool: pool)
                    if i == order[1] { while s.pendingBlocks > 0 { s.add([], computing: 1, pool: pool) } }
                }
                XCTAssertEqual(s.pendingBlocks, 3, "the last two proposals' blocks, less one")
                XCTAssertEqual(s.select(budget: 60, pool: pool), base.indices, "one block a step, arrival order \(order)")
            }
            // Taken in by batches (all cross blocks of a batch in one parallel loop), repeats ignored.
            for batches in [[[2, 0], [3, 1, 2]], [[3, 1, 0, 2]], [[1], [0, 3], [2]]] {
                var s = GlobalSelection(candidateBound: GlobalSelection.candidateBound(shards: req.shards!, tokens: 600, budget: 60, options: PruneOptions()))
                for b in batches { s.add(b.map { groups[$0] }, pool: pool) }
                XCTAssertEqual(s.offsets, base.proposals.map(\.offset))
                XCTAssertEqual(s.select(budget: 60, pool: pool), base.indices, "batches \(batches)")
            }
        }
        // Relevance from the shards' scores, put together, is the relevance of the request.
        let scores = req.shards!.flatMap { QueryRelevance.scores(embeddings: req.embeddings!.rows($0), query: req.query!) }
        XCTAssertEqual(QueryRelevance.weights(relevance: QueryRelevance.relevance(scores: scores, tokens: 600, queryTokens: req.query!.rows,
                                                                                   options: PruneOptions()), tokens: 600, options: PruneOptions()), w)
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
