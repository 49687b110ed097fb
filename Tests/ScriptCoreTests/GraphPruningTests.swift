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

    /// An odd shard (one side a token longer) with weak edges of every size, against the
    /// formula written plainly in Double: strong edges counted and summed, every edge averaged
    /// over the token's own side count, rows and columns alike.
    func testRedundancyMatchesThePlainFormulaOnAnOddShard() {
        var inputs = TestInputs(seed: 11)
        let x = inputs.clustered(23, 12, centres: 3, spread: 0.8)
        var o = PruneOptions()
        o.kmin = 6
        let rho = GraphPruning.redundancy(x, options: o)
        func cosine(_ i: Int, _ j: Int) -> Double {
            var dot = 0.0, ni = 0.0, nj = 0.0
            for c in 0..<x.cols {
                let a = Double(x.values[i * x.cols + c]), b = Double(x.values[j * x.cols + c])
                dot += a * b; ni += a * a; nj += b * b
            }
            return dot / (ni.squareRoot() * nj.squareRoot())
        }
        var weak = 0
        for t in 0..<x.rows {
            let others = stride(from: t % 2 == 0 ? 1 : 0, to: x.rows, by: 2).map { cosine(t, $0) }
            let strong = others.filter { $0 >= Double(o.tau) }
            weak += others.count - strong.count
            let mu = strong.isEmpty ? 0 : strong.reduce(0, +) / Double(strong.count)
            var r = Double(strong.count) * exp(Double(o.gamma) * (mu - Double(o.tau)))
            if strong.count < o.kmin { r = 0.5 * r + 0.5 * others.reduce(0, +) / Double(others.count) }
            XCTAssertEqual(Double(rho[t]), r, accuracy: 1e-4 * max(1, r), "token \(t)")
        }
        XCTAssertGreaterThan(weak, 20, "the inputs must hold weak edges")
    }

    func testParallelAndSerialGiveIdenticalRedundancy() {
        var inputs = TestInputs(seed: 7)
        let x = inputs.matrix(301, 40)
        let a = GraphPruning.redundancy(x, options: PruneOptions(), pool: .serial)
        let b = GraphPruning.redundancy(x, options: PruneOptions(), pool: ComputePool(width: 4))
        XCTAssertEqual(a, b)
    }
}
