import XCTest
@testable import ScriptCore

final class BaselineMethodsTests: XCTestCase {
    func testUniformSpacing() {
        XCTAssertEqual(BaselineMethods.uniform(tokens: 10, budget: 4), [0, 3, 6, 9])
        XCTAssertEqual(BaselineMethods.uniform(tokens: 10, budget: 3), [0, 5, 9])   // 4.5 rounds up
        XCTAssertEqual(BaselineMethods.uniform(tokens: 5, budget: 2), [0, 4])
        XCTAssertEqual(BaselineMethods.uniform(tokens: 5, budget: 1), [0])
    }

    func testRandomIsSeededAndReproducible() {
        let a = BaselineMethods.random(tokens: 100, budget: 10, seed: 42)
        XCTAssertEqual(a, BaselineMethods.random(tokens: 100, budget: 10, seed: 42))
        XCTAssertNotEqual(a, BaselineMethods.random(tokens: 100, budget: 10, seed: 43))
        XCTAssertEqual(a.count, 10)
    }

    func testSplitMix64KnownStream() {
        // Reference values of SplitMix64 seeded with 0.
        var g = SplitMix64(seed: 0)
        XCTAssertEqual(g.next(), 0xE220_A839_7B1D_CDAF)
        XCTAssertEqual(g.next(), 0x6E78_9E6A_A1B9_65F4)
    }

    /// x0=(1,0), x1=(1,0), x2=(0,1): sums of cosines 2, 2, 1 -> first pick 2; then tokens 0 and 1
    /// tie at cosine 0 to the kept set -> 0.
    func testDivPruneHandCase() {
        let x = Matrix(rows: 3, cols: 2, values: [1, 0, 1, 0, 0, 1])
        XCTAssertEqual(BaselineMethods.divprune(features: x, budget: 2, pool: .serial), [0, 2])
    }

    /// Two orthogonal tokens score alike for the first pick (each's cosine sum is 1): the lower.
    func testDivPruneFirstPickTieGoesToTheLowerToken() {
        let x = Matrix(rows: 2, cols: 2, values: [0, 5, 2, 0])
        XCTAssertEqual(BaselineMethods.divprune(features: x, budget: 1, pool: .serial), [0])
    }

    func testGSPMethodKeepsExactlyK() {
        let x = Matrix(rows: 4, cols: 2, values: [1, 0, 1, 0, 0, 1, 0.6, 0.8])
        XCTAssertEqual(BaselineMethods.gsp(features: x, budget: 2, options: PruneOptions(), pool: .serial), [1, 2])
    }
}
