import CVector
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

    /// Orthogonal tokens of equal weight have equal residuals at every step: the lower goes first.
    func testEqualResidualsPickTheLowerCandidate() {
        let x = Matrix(rows: 3, cols: 3, values: [0, 2, 0, 3, 0, 0, 0, 0, 1])
        XCTAssertEqual(greedy(x, weights: [1, 1, 1], k: 3), [0, 1, 2])
        XCTAssertEqual(greedy(x, weights: [1, 1, 1], k: 1), [0])
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

    /// The slot-and-panel greedy (picked candidates' slots handed to the last unpicked one)
    /// against the algorithm written plainly, with the same arithmetic in the same order: the
    /// same picks, over enough candidates and picks for several panels and slot moves.
    func testSlotGreedyMatchesThePlainAlgorithm() {
        var inputs = TestInputs(seed: 5)
        let x = inputs.clustered(300, 160, centres: 12, spread: 0.9)
        let w = (0..<300).map { Float(1 + ($0 * 37 % 11)) / 8 }
        let group = CandidateGroup(members: Array(0..<300), features: x, inverseNorms: x.rowInverseNorms())
        let cos = CandidateCosines(groups: [group], known: [:], pool: .serial)
        let picks = GreedyMAP.select(count: 120, weights: w, cosines: cos, keepRows: false, pool: .serial).picks
        XCTAssertEqual(picks, plainGreedy(cos, weights: w, k: 120))
    }

    private func plainGreedy(_ cos: CandidateCosines, weights w: [Float], k: Int) -> [Int] {
        let n = cos.count
        var d = (0..<n).map { (w[$0] * w[$0]) * cos.diagonal[$0] }
        var v = [[Float]](repeating: [], count: n)
        var picked = [Bool](repeating: false, count: n), picks: [Int] = []
        var row = [Float](repeating: 0, count: n)
        while picks.count < k {
            var j = -1
            for i in 0..<n where !picked[i] && (j < 0 || d[i] > d[j]) { j = i }
            XCTAssertGreaterThanOrEqual(d[j], GreedyMAP.residualFloor, "residuals exhausted: the inputs must keep them")
            picks.append(j)
            picked[j] = true
            row.withUnsafeMutableBufferPointer { cos.row(j, into: $0.baseAddress!, likely: { [] }) }
            let root = d[j].squareRoot()
            for i in 0..<n where !picked[i] {
                var sum: Float = 0
                for s in 0..<v[j].count { sum = sum + v[j][s] * v[i][s] }
                let e = ((w[j] * w[i]) * row[i] - sum) / root
                v[i].append(e)
                d[i] = d[i] - e * e
            }
        }
        return picks
    }

    /// The vector version of a pick's update (whichever this CPU runs) gives the portable C
    /// version's bits: the same result on every CPU.
    func testVectorUpdateEqualsPortableBits() {
        var rng = SplitMix64(seed: 9)
        let lanes = GreedyMAP.lanes, panels = 3, capacity = 40, pick = 37
        let random = { (count: Int) in (0..<count).map { _ in Float(rng.next() >> 40) / Float(1 << 24) - 0.5 } }
        let coefficients = random(panels * capacity * lanes), residuals = random(panels * lanes).map { $0 + 2 }
        let own = random(pick), kernel = random(panels * lanes), weights = random(panels * lanes).map { $0 + 1 }
        var c1 = coefficients, r1 = residuals, c2 = coefficients, r2 = residuals
        script_greedy_update(&c1, capacity, &r1, own, kernel, weights, pick, 1.25, 0.75, 0, panels)
        script_greedy_update_portable(&c2, capacity, &r2, own, kernel, weights, pick, 1.25, 0.75, 0, panels)
        XCTAssertTrue(c1.map(\.bitPattern) == c2.map(\.bitPattern), "coefficients differ (\(String(cString: script_vector_isa())))")
        XCTAssertTrue(r1.map(\.bitPattern) == r2.map(\.bitPattern), "residuals differ (\(String(cString: script_vector_isa())))")
        XCTAssertNotEqual(c1, coefficients)
    }
}
