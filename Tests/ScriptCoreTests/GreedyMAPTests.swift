import XCTest
@testable import ScriptCore

final class GreedyMAPTests: XCTestCase {
    private func greedy(_ x: Matrix, weights: [Float], k: Int) -> [Int] {
        let group = CandidateGroup(members: Array(0..<x.rows), features: x, inverseNorms: x.rowInverseNorms())
        let cos = CandidateCosines(groups: [group], known: [:], pool: .serial)
        return GreedyMAP.select(count: k, weights: weights, cosines: cos, keepRows: false, pool: .serial).picks
    }

    /// x0=(1,0,0), x1=(0.9,0.43589,0), x2=(0,0,1), w=(1, 1.1, 1.05):
    /// d = w^2 -> pick 1; then e0 = 1*1.1*0.9/1.1 = 0.9, d0 = 1 - 0.81 = 0.19; e2 = 0, d2 = 1.1025
    /// -> pick 2; then pick 0.
    func testPicksFollowHandComputedResiduals() {
        let x = Matrix(rows: 3, cols: 3, values: [1, 0, 0, 0.9, 0.43589, 0, 0, 0, 1])
        XCTAssertEqual(greedy(x, weights: [1, 1.1, 1.05], k: 3), [1, 2, 0])
        XCTAssertEqual(greedy(x, weights: [1, 1.1, 1.05], k: 1), [1])
    }

    func testExhaustedResidualsFillByWeight() {
        // Three copies of one direction: after the first pick every residual is 0.
        let x = Matrix(rows: 3, cols: 2, values: [1, 0, 1, 0, 1, 0])
        XCTAssertEqual(greedy(x, weights: [1, 3, 2], k: 3), [1, 2, 0])
    }

    func testZeroVectorsAreFilledByWeightThenIndex() {
        let x = Matrix(zeros: 4, cols: 3)
        XCTAssertEqual(greedy(x, weights: [1, 2, 2, 1], k: 3), [1, 2, 0])
    }

    func testBudgetAboveCandidatesPicksAll() {
        var inputs = TestInputs(seed: 3)
        let x = inputs.matrix(5, 16)
        XCTAssertEqual(greedy(x, weights: [1, 1, 1, 1, 1], k: 9).sorted(), [0, 1, 2, 3, 4])
    }
}
