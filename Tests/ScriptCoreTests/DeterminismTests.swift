import XCTest
@testable import ScriptCore

/// Results are the same bits whatever the number of threads: the work is cut into tiles fixed
/// by the problem, BLAS runs single-threaded inside each tile, and per-candidate greedy updates
/// do not depend on how candidates are banded.
final class DeterminismTests: XCTestCase {
    private let widths = [1, 2, 3, 5, 16]

    /// Shards large enough for several GSP tiles a side (300 x 300 graphs: 4 x 4 tiles of 96).
    func testShardedScriptBitsDoNotDependOnThreadCount() throws {
        var inputs = TestInputs(seed: 41)
        let x = inputs.clustered(1200, 64, centres: 20, spread: 0.7)
        let q = inputs.matrix(4, 64)
        let req = PruneRequest(features: x, embeddings: x, query: q, shards: [0..<600, 600..<1200])
        let base = try Pruner(pool: .serial).prune(req, budget: .count(120))
        for w in widths.dropFirst() {
            let r = try Pruner(pool: ComputePool(width: w)).prune(req, budget: .count(120))
            XCTAssertEqual(r.indices, base.indices, "width \(w)")
            XCTAssertTrue(r.proposals == base.proposals, "width \(w): proposals and their cosine bits differ")
        }
    }

    /// The bipartite similarities themselves, bit for bit, and the greedy with parallel updates
    /// (CDPruner over 1200 candidates: picks past the 286th update in bands on the pool).
    func testGraphSimilarityAndGreedyBitsDoNotDependOnThreadCount() throws {
        var inputs = TestInputs(seed: 42)
        let x = inputs.clustered(1200, 48, centres: 30, spread: 0.8)
        let inv = x.rowInverseNorms()
        let base = GraphPruning.similarityAndRedundancy(x, inverseNorms: inv, options: PruneOptions(), pool: .serial)
        var o = PruneOptions(); o.method = .cdpruner
        let mono = try Pruner(pool: .serial).prune(PruneRequest(features: x), budget: .count(300), options: o).indices
        for w in widths.dropFirst() {
            let pool = ComputePool(width: w)
            let r = GraphPruning.similarityAndRedundancy(x, inverseNorms: x.rowInverseNorms(pool: pool), options: PruneOptions(), pool: pool)
            XCTAssertTrue(r.s.map(\.bitPattern) == base.s.map(\.bitPattern), "width \(w): similarity bits differ")
            XCTAssertTrue(r.rho.map(\.bitPattern) == base.rho.map(\.bitPattern), "width \(w): redundancy bits differ")
            let picked = try Pruner(pool: pool).prune(PruneRequest(features: x), budget: .count(300), options: o).indices
            XCTAssertEqual(picked, mono, "width \(w)")
        }
    }

    /// Candidates past the dense limit: the greedy's rows are computed on demand, each batch's
    /// products in bands spread over the pool; the rows it used are the same bits at every width.
    func testRowsComputedOnDemandDoNotDependOnThreadCount() {
        var inputs = TestInputs(seed: 43)
        let n = CandidateCosines.denseLimit + 300
        let x = inputs.clustered(n, 40, centres: 50, spread: 0.8)
        let all = CandidateGroup(members: Array(0..<n), features: x, inverseNorms: x.rowInverseNorms())
        let w = (0..<n).map { 1 + Float($0 % 7) / 7 }
        func select(_ pool: ComputePool) -> GreedyMAP.Selection {
            GreedyMAP.select(count: 48, weights: w, cosines: CandidateCosines(groups: [all], known: [:], pool: pool),
                             keepRows: true, pool: pool)
        }
        let base = select(.serial)
        for width in widths.dropFirst() {
            let r = select(ComputePool(width: width))
            XCTAssertEqual(r.picks, base.picks, "width \(width)")
            XCTAssertTrue(r.rows.map(\.bitPattern) == base.rows.map(\.bitPattern), "width \(width): row bits differ")
        }
    }
}
