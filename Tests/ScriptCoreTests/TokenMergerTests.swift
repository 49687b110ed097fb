import XCTest
@testable import ScriptCore

final class TokenMergerTests: XCTestCase {
    /// Two shards. Shard [0, 4) keeps 0 and 2: token 1 is nearest 0, token 3 is as near to 0 as
    /// to 2 and joins the lower (0); shard [4, 6) keeps 5, and 4 joins it. Each kept row is the
    /// mean of its own features and those that joined it.
    func testPrunedTokensJoinTheirNearestKeptTokenOfTheirShard() {
        let x = Matrix(rows: 6, cols: 2, values: [
            2, 0,    // 0, kept
            1, 0.1,  // 1 -> 0
            0, 4,    // 2, kept
            3, 3,    // 3: cosine 1/sqrt(2) with both 0 and 2 -> 0
            0, 1,    // 4 -> 5 (its shard's only kept token, though 2 is nearer)
            1, 1,    // 5, kept
        ])
        let out = TokenMerger.merge(features: x, kept: [0, 2, 5], shards: [0..<4, 4..<6], pool: .serial)
        XCTAssertEqual(out.rows, 3)
        let expected: [Float] = [(2 + 1 + 3) / 3, (0 + 0.1 + 3) / 3, 0, 4, 0.5, 1]
        for (a, b) in zip(out.values, expected) { XCTAssertEqual(a, b, accuracy: 1e-6) }
    }

    func testAShardWithNothingKeptMergesNothing() {
        let x = Matrix(rows: 4, cols: 1, values: [1, 2, 3, 4])
        let out = TokenMerger.merge(features: x, kept: [3], shards: [0..<2, 2..<4], pool: .serial)
        XCTAssertEqual(out.values, [3.5])
    }
}
