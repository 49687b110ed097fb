import XCTest
@testable import ScriptCore

final class QueryRelevanceTests: XCTestCase {
    let e = Matrix(rows: 3, cols: 2, values: [1, 0, 0, 1, 0.6, 0.8])

    func testNoQueryGivesUnitWeights() {
        XCTAssertEqual(QueryRelevance.weights(embeddings: e, query: nil, options: PruneOptions()), [1, 1, 1])
        XCTAssertEqual(QueryRelevance.weights(embeddings: e, query: Matrix(zeros: 0, cols: 2), options: PruneOptions()), [1, 1, 1])
    }

    func testMinMaxNormalisationAndWeights() {
        // One query token (1,0): cosines 1, 0, 0.6 -> r = 1, 0, 0.6 -> w = exp(0.5 r) at theta 0.5.
        let q = Matrix(rows: 1, cols: 2, values: [1, 0])
        let r = QueryRelevance.relevance(embeddings: e, query: q, options: PruneOptions())!
        XCTAssertEqual(r[0], 1, accuracy: 1e-6); XCTAssertEqual(r[1], 0, accuracy: 1e-6); XCTAssertEqual(r[2], 0.6, accuracy: 1e-6)
        let w = QueryRelevance.weights(embeddings: e, query: q, options: PruneOptions())
        XCTAssertEqual(w[2], expf(0.3), accuracy: 1e-5)
        var neg = PruneOptions(); neg.relevanceSign = -1
        let rn = QueryRelevance.relevance(embeddings: e, query: q, options: neg)!
        XCTAssertEqual(rn[0], 0, accuracy: 1e-6); XCTAssertEqual(rn[1], 1, accuracy: 1e-6)
    }

    func testEqualRelevanceBecomesAllOnes() {
        let same = Matrix(rows: 3, cols: 2, values: [1, 0, 1, 0, 1, 0])
        let q = Matrix(rows: 1, cols: 2, values: [0, 1])
        XCTAssertEqual(QueryRelevance.relevance(embeddings: same, query: q, options: PruneOptions()), [1, 1, 1])
    }

    func testOnlyTheMostImageRelatedQueryTokensCount() {
        // Four query tokens: (1,0) and (0.6,0.8) relate to the image, two others point away.
        // With q = 0.5, floor(0.5 * 4) = 2 tokens are kept: the two related ones.
        let q = Matrix(rows: 4, cols: 2, values: [-1, 0, 1, 0, 0.6, 0.8, 0, -1])
        let r = QueryRelevance.relevance(embeddings: e, query: q, options: PruneOptions())!
        // raw r = mean of cos to (1,0) and (0.6,0.8): token0 0.8, token1 0.4, token2 0.8 -> [1, 0, 1]
        XCTAssertEqual(r[0], 1, accuracy: 1e-5); XCTAssertEqual(r[1], 0, accuracy: 1e-5); XCTAssertEqual(r[2], 1, accuracy: 1e-5)
    }
}
