import XCTest
@testable import ScriptCore

/// Script+: its ideas each change what they should and nothing else, its shards are functions of
/// per-shard inputs (so the cluster computes what the process does), and with every idea off it
/// is Script.
final class ScriptPlusTests: XCTestCase {
    private func request(seed: UInt64, n: Int = 240, d: Int = 64) -> PruneRequest {
        var inputs = TestInputs(seed: seed)
        let x = inputs.clustered(n, d, centres: 10, spread: 0.5)
        let e = inputs.clustered(n, 32, centres: 10, spread: 0.5)
        return PruneRequest(features: x, embeddings: e, query: inputs.matrix(5, 32), unitTokens: 30)
    }

    private func options(_ method: PruneMethod = .scriptPlus) -> PruneOptions {
        var o = PruneOptions()
        o.method = method
        return o
    }

    private let pruner = Pruner(pool: ComputePool(width: 2))
    private let shards = [0..<60, 60..<120, 120..<180, 180..<240]

    func testWithEveryIdeaOffItIsScript() throws {
        var plain = options()
        plain.unitGraph = false; plain.discount = 0; plain.floorRelevance = 0
        for seed: UInt64 in 1...4 {
            var req = request(seed: seed)
            for s in [nil, shards] as [[Range<Int>]?] {
                req.shards = s
                for k in [5, 24, 70] {
                    let plus = try pruner.prune(req, budget: .count(k), options: plain)
                    let script = try pruner.prune(req, budget: .count(k), options: options(.script))
                    XCTAssertEqual(plus.indices, script.indices, "seed \(seed) k \(k) sharded \(s != nil)")
                    XCTAssertEqual(plus.proposals, script.proposals)
                }
            }
        }
        // Each idea alone changes the kept set on some input (none is a no-op).
        for idea in 0..<3 {
            var o = plain
            switch idea {
            case 0: o.unitGraph = true
            case 1: o.discount = 4
            default: o.floorRelevance = 0.3
            }
            var changed = false
            for seed: UInt64 in 1...4 where !changed {
                var req = request(seed: seed)
                req.shards = shards
                for k in [12, 40] where !changed {
                    changed = try pruner.prune(req, budget: .count(k), options: o).indices
                        != pruner.prune(req, budget: .count(k), options: plain).indices
                }
            }
            XCTAssertTrue(changed, "idea \(idea) changes nothing")
        }
    }

    func testSingleShardShardedEqualsMonolithic() throws {
        for seed: UInt64 in 1...5 {
            var req = request(seed: seed)
            for k in [5, 24, 80] {
                req.shards = nil
                let mono = try pruner.prune(req, budget: .count(k), options: options()).indices
                req.shards = [0..<240]
                XCTAssertEqual(try pruner.prune(req, budget: .count(k), options: options()).indices, mono, "seed \(seed) k \(k)")
            }
        }
    }

    /// A greedy that picks few of many survivors computes only the rows of its picks
    /// (`picksFew`): a choice made from the shard and the budget, not from the picks, so single-shard
    /// sharded, which picks more, still keeps what monolithic keeps.
    func testFewPicksOfManySurvivorsStillEqualMonolithic() throws {
        for seed: UInt64 in 1...3 {
            var inputs = TestInputs(seed: 20 + seed)
            let n = 2400
            var req = PruneRequest(features: inputs.clustered(n, 32, centres: 60, spread: 0.9),
                                   embeddings: inputs.clustered(n, 16, centres: 60, spread: 0.9),
                                   query: inputs.matrix(4, 16), unitTokens: 100)
            for k in [40, 130] {
                XCTAssertTrue(ScriptPlus.picksFew(of: n / 2, budgetShare: k))
                req.shards = nil
                let mono = try pruner.prune(req, budget: .count(k), options: options()).indices
                req.shards = [0..<n]
                XCTAssertEqual(try pruner.prune(req, budget: .count(k), options: options()).indices, mono, "seed \(seed) k \(k)")
                XCTAssertEqual(mono.count, k)
            }
        }
    }

    /// A shard's proposal depends on the shard's own inputs only: computed alone, in the
    /// worker's two steps (graph without weights, then the proposal), with any pool, it is the
    /// in-process one; the global selection over them, fed in any order, keeps the same tokens.
    func testShardsAreFunctionsOfTheirOwnInputs() throws {
        var req = request(seed: 9, n: 600, d: 96)
        req.unitTokens = 50
        req.shards = [0..<150, 150..<300, 300..<450, 450..<600]
        let base = try Pruner(pool: .serial).prune(req, budget: .count(60), options: options())
        let wide = try Pruner(pool: ComputePool(width: 8)).prune(req, budget: .count(60), options: options())
        XCTAssertEqual(base.indices, wide.indices)
        XCTAssertEqual(base.proposals, wide.proposals)
        let r = QueryRelevance.relevance(embeddings: req.embeddings!, query: req.query, shards: req.shards, options: options())!
        let w = QueryRelevance.weights(relevance: r, tokens: 600, options: options())
        var groups: [GlobalSelection.Group] = []
        for (s, range) in req.shards!.enumerated() {
            let job = ScriptPlus.job(shard: range, features: req.features, weights: w, relevance: r, unitTokens: 50, budget: 60,
                                     options: options())
            XCTAssertNoThrow(try job.validate())
            let inv = job.features.rowInverseNorms()
            let graph = ScriptPlus.graph(job, inverseNorms: inv, pool: .serial)
            let p = ScriptPlus.propose(job, graph: graph, inverseNorms: inv, pool: ComputePool(width: 3))
            XCTAssertEqual(p, base.proposals[s], "shard \(s)")
            XCTAssertEqual(p.indices.count, min(ScriptPlus.proposalLimit(job), p.survivors))
            groups.append(GlobalSelection.Group(proposal: p, rows: req.features.gatherRows(p.indices), weights: p.indices.map { w[$0] }))
        }
        let bound = ScriptPlus.candidateBound(shards: req.shards!, tokens: 600, budget: 60, relevance: r, options: options())
        XCTAssertGreaterThanOrEqual(bound, groups.reduce(0) { $0 + $1.proposal.indices.count })
        for order in [[3, 1, 0, 2], [0, 1, 2, 3]] {
            var selection = GlobalSelection(candidateBound: bound)
            for g in order { selection.add(groups[g], pool: .serial) }
            XCTAssertEqual(selection.select(budget: 60, pool: .serial), base.indices, "order \(order)")
        }
    }

    func testDiscountKeepsWhatTheQueryAsksAboutThroughGraphPruning() {
        // 40 tokens: 36 unrelated background tokens and 4 near-copies of the target, which are
        // therefore the most redundant: graph pruning alone drops them, the discount keeps them.
        var inputs = TestInputs(seed: 4)
        let tg = inputs.matrix(1, 32)
        var values: [Float] = []
        let isTarget = (0..<40).map { $0 % 10 == 3 }
        for t in isTarget {
            let row = t ? tg.values.map { $0 + 0.05 * inputs.normal() } : (0..<32).map { _ in inputs.normal() }
            values += row
        }
        let x = Matrix(rows: 40, cols: 32, values: values)
        let relevance = isTarget.map { $0 ? Float(1) : 0.1 }
        let g = UnitGraph.build(x, inverseNorms: x.rowInverseNorms(), unitTokens: nil, options: options(), pool: .serial)
        let targets = (0..<40).filter { isTarget[$0] }
        XCTAssertTrue(Set(ScriptPlus.leastRedundant(g.redundancy, keep: 20)).isDisjoint(with: targets))
        let rho = ScriptPlus.discounted(g.redundancy, relevance: relevance, power: 4)
        XCTAssertEqual(ScriptPlus.leastRedundant(rho, keep: 4), targets, "the four most relevant survive a keep of 4")
        XCTAssertEqual(rho.min(), 0)
        XCTAssertEqual(ScriptPlus.discounted(g.redundancy, relevance: nil, power: 4), g.redundancy)
        XCTAssertEqual(ScriptPlus.discounted(g.redundancy, relevance: relevance, power: 0), g.redundancy)
    }

    func testUnitGraphPairsConsecutiveUnitsAndMatchesHandWorkedRedundancy() {
        // Units of 2: (0,1) face (2,3); the last unit (4) alone. x2 = x3 = x0, x1 orthogonal.
        let x = Matrix(rows: 5, cols: 2, values: [1, 0, 0, 1, 1, 0, 1, 0, 0.6, 0.8])
        let g = UnitGraph.build(x, inverseNorms: x.rowInverseNorms(), unitTokens: 2, options: PruneOptions(), pool: .serial)
        XCTAssertEqual(g.pieces.map(\.a), [[0, 1], [4]])
        XCTAssertEqual(g.pieces.map(\.b), [[2, 3], []])
        XCTAssertEqual(g.pieces[0].similarity, [1, 1, 0, 0])
        // kmin 4: token 0 has 2 strong edges of mean 1: 0.5 * 2 e^0.8 + 0.5 * 1; token 1 none.
        XCTAssertEqual(g.redundancy[0], 0.5 * 2 * expf(0.8) + 0.5, accuracy: 1e-5)
        XCTAssertEqual(g.redundancy[1], 0, accuracy: 1e-6)
        XCTAssertEqual(g.redundancy[2], g.redundancy[3])
        // One unit, no units, or the option off: Script's graph.
        var off = PruneOptions(); off.unitGraph = false
        for (t, o) in [(5, PruneOptions()), (nil, PruneOptions()), (2, off)] as [(Int?, PruneOptions)] {
            let s = UnitGraph.build(x, inverseNorms: x.rowInverseNorms(), unitTokens: t, options: o, pool: .serial)
            XCTAssertEqual(s.redundancy, GraphPruning.redundancy(x, options: o))
            XCTAssertEqual(s.pieces.map(\.a), [[0, 2, 4]])
        }
    }

    func testFloorAddsAProposalForEveryHighlyRelevantToken() throws {
        var req = request(seed: 3)
        req.shards = shards
        let r = QueryRelevance.relevance(embeddings: req.embeddings!, query: req.query, shards: shards, options: options())!
        let result = try pruner.prune(req, budget: .count(20), options: options())
        var added = 0
        for (p, s) in zip(result.proposals, shards) {
            // Script's 10, plus the highly relevant tokens beyond the shard's share of 5, at most 10 more.
            let beyond = r[s].filter { $0 >= 0.6 }.count - 5
            XCTAssertEqual(p.indices.count, min(p.survivors, 10 + min(max(0, beyond), 10)))
            added += max(0, beyond)
        }
        XCTAssertGreaterThan(added, 0, "the input exercises the floor")
        // One shard: Script's proposal (2k) already exceeds k, the floor adds nothing.
        var one = req
        one.shards = [0..<240]
        XCTAssertEqual(try pruner.prune(one, budget: .count(20), options: options()).proposals[0].indices.count, 40)
        var none = options(); none.floorRelevance = 0
        for p in try pruner.prune(req, budget: .count(20), options: none).proposals {
            XCTAssertEqual(p.indices.count, min(p.survivors, ShardJob.proposalLimit(shardSize: 60, totalTokens: 240, budget: 20, alpha: 2)))
        }
        // Without a query there is no relevance: no discount, no floor, weights all 1.
        req.query = nil
        XCTAssertEqual(try pruner.prune(req, budget: .count(20), options: options()).indices.count, 20)
    }

    func testBadShardInputsAreRefusedWithTheOffendingValue() {
        let x = Matrix(rows: 4, cols: 2, values: [1, 0, 0, 1, 1, 1, 0, 2])
        var job = ShardJob(features: x, weights: [1, 1, 1, 1], offset: 0, totalTokens: 4, budget: 2, options: options(),
                           relevance: [0, 0.5, 1, 0.2], unitTokens: 2)
        XCTAssertNoThrow(try job.validate())
        job.relevance = [0, 0.5, 1]
        XCTAssertThrowsError(try job.validate()) { XCTAssertEqual($0 as? PruneError, .rowCountMismatch(what: "shard relevance", expected: 4, actual: 3)) }
        job.relevance = [0, 0.5, 1.5, .nan]
        XCTAssertThrowsError(try job.validate()) { XCTAssertTrue("\($0)".contains("relevance[2]")) }
        job.relevance = nil
        job.unitTokens = 0
        XCTAssertThrowsError(try job.validate()) { XCTAssertTrue("\($0)".contains("unit-tokens")) }
        var o = options(); o.discount = -1
        XCTAssertThrowsError(try o.validate()) { XCTAssertTrue("\($0)".contains("discount")) }
        o = options(); o.floorRelevance = 2
        XCTAssertThrowsError(try o.validate()) { XCTAssertTrue("\($0)".contains("floor")) }
        XCTAssertThrowsError(try Pruner(pool: .serial).prune(PruneRequest(features: x, unitTokens: 0), budget: .count(2), options: options()))
    }
}
