import XCTest
@testable import ScriptCore

final class GraphPruningTests: XCTestCase {
    /// x0=(1,0) x1=(1,0) x2=(0,1) x3=(0.6,0.8): A={0,2}, B={1,3},
    /// S = [[1, 0.6], [0, 0.8]] (rows: tokens 0 and 2; columns: tokens 1 and 3).
    let handCase = Matrix(rows: 4, cols: 2, values: [1, 0, 1, 0, 0, 1, 0.6, 0.8])

    func testRedundancyWithoutBlendMatchesHandComputation() {
        var o = PruneOptions()
        o.kmin = 0
        let rho = GraphPruning.redundancy(handCase, options: o)
        // d * exp(gamma * (mu - tau)), tau = 0.2
        let expected: [Float] = [2 * expf(0.6), expf(0.8), expf(0.6), 2 * expf(0.5)]
        for (a, b) in zip(rho, expected) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }

    func testLowDegreeTokensBlendWithTheirMeanSimilarity() {
        let rho = GraphPruning.redundancy(handCase, options: PruneOptions()) // kmin = 4
        let expected: [Float] = [
            0.5 * 2 * expf(0.6) + 0.5 * 0.8,  // edges 1, 0.6
            0.5 * expf(0.8) + 0.5 * 0.5,      // edges 1, 0
            0.5 * expf(0.6) + 0.5 * 0.4,      // edges 0, 0.8
            0.5 * 2 * expf(0.5) + 0.5 * 0.7,  // edges 0.6, 0.8
        ]
        for (a, b) in zip(rho, expected) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }

    func testKeepsTheLeastRedundantInAscendingOrder() {
        let out = GraphPruning.prune(handCase, inverseNorms: handCase.rowInverseNorms(), keep: 2, options: PruneOptions(), pool: .serial)
        XCTAssertEqual(out.survivors, [1, 2])
    }

    func testTiesBreakToTheLowerPosition() {
        // Four identical tokens: identical redundancy.
        let x = Matrix(rows: 4, cols: 2, values: [1, 0, 1, 0, 1, 0, 1, 0])
        let out = GraphPruning.prune(x, inverseNorms: x.rowInverseNorms(), keep: 2, options: PruneOptions(), pool: .serial)
        XCTAssertEqual(out.survivors, [0, 1])
    }

    func testSingleTokenShardHasZeroRedundancy() {
        let x = Matrix(rows: 1, cols: 3, values: [1, 2, 3])
        XCTAssertEqual(GraphPruning.redundancy(x, options: PruneOptions()), [0])
    }

    func testKeepCountFollowsBudgetShareAndRatio() {
        XCTAssertEqual(GraphPruning.keepCount(shardSize: 576, budgetShare: 64, ratio: 0.5), 288)
        XCTAssertEqual(GraphPruning.keepCount(shardSize: 576, budgetShare: 400, ratio: 0.5), 400)
        XCTAssertEqual(GraphPruning.keepCount(shardSize: 5, budgetShare: 1, ratio: 0.5), 3)
        XCTAssertEqual(GraphPruning.keepCount(shardSize: 5, budgetShare: 9, ratio: 0.5), 5)
    }

    func testParallelAndSerialGiveIdenticalRedundancy() {
        var inputs = TestInputs(seed: 7)
        let x = inputs.matrix(301, 40)
        let a = GraphPruning.redundancy(x, options: PruneOptions(), pool: .serial)
        let b = GraphPruning.redundancy(x, options: PruneOptions(), pool: ComputePool(width: 4))
        XCTAssertEqual(a, b)
    }
}
