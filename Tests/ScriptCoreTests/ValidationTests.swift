import XCTest
@testable import ScriptCore

final class ValidationTests: XCTestCase {
    let pruner = Pruner(pool: .serial)
    let x = Matrix(rows: 6, cols: 3, values: (0..<18).map { Float($0 % 5) + 1 })

    private func expect(_ error: PruneError, _ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { XCTAssertEqual($0 as? PruneError, error, file: file, line: line) }
    }

    func testBudgets() {
        expect(.budgetNotPositive(0)) { _ = try pruner.prune(PruneRequest(features: x), budget: .count(0)) }
        expect(.budgetNotPositive(-3)) { _ = try pruner.prune(PruneRequest(features: x), budget: .count(-3)) }
        expect(.budgetRatioOutOfRange(1.5)) { _ = try pruner.prune(PruneRequest(features: x), budget: .ratio(1.5)) }
        expect(.budgetRatioOutOfRange(0)) { _ = try pruner.prune(PruneRequest(features: x), budget: .ratio(0)) }
        XCTAssertEqual(try Budget(parsing: "0.5").resolve(tokens: 6), 3)
        XCTAssertEqual(try Budget(parsing: "2").resolve(tokens: 6), 2)
        XCTAssertThrowsError(try Budget(parsing: "ten"))
    }

    func testShapesAndValues() {
        expect(.emptyInput(what: "features")) { _ = try pruner.prune(PruneRequest(features: Matrix(zeros: 0, cols: 3)), budget: .count(1)) }
        var bad = x; bad.values[7] = .nan
        expect(.nonFinite(what: "features", row: 2, column: 1)) { _ = try pruner.prune(PruneRequest(features: bad), budget: .count(1)) }
        bad = x; bad.values[17] = .infinity
        expect(.nonFinite(what: "features", row: 5, column: 2)) { _ = try pruner.prune(PruneRequest(features: bad), budget: .count(1)) }
        // Embeddings are checked through the inverse norms relevance uses: the first bad value
        // is still named, with or without a query, even when huge finite values share its row.
        var e = Matrix(rows: 6, cols: 2, values: (0..<12).map { Float($0) + 1 })
        e.values[9] = .nan
        expect(.nonFinite(what: "embeddings", row: 4, column: 1)) {
            _ = try pruner.prune(PruneRequest(features: x, embeddings: e, query: Matrix(rows: 1, cols: 2, values: [1, 0])), budget: .count(1))
        }
        e.values[9] = 1; e.values[10] = 3e38; e.values[11] = -.infinity
        expect(.nonFinite(what: "embeddings", row: 5, column: 1)) { _ = try pruner.prune(PruneRequest(features: x, embeddings: e), budget: .count(1)) }
        expect(.rowCountMismatch(what: "embeddings", expected: 6, actual: 5)) {
            _ = try pruner.prune(PruneRequest(features: x, embeddings: Matrix(zeros: 5, cols: 2)), budget: .count(1))
        }
        expect(.widthMismatch(what: "query", expected: 3, actual: 4)) {
            _ = try pruner.prune(PruneRequest(features: x, query: Matrix(zeros: 1, cols: 4)), budget: .count(1))
        }
        expect(.widthMismatch(what: "query", expected: 2, actual: 3)) {
            _ = try pruner.prune(PruneRequest(features: x, embeddings: Matrix(zeros: 6, cols: 2), query: Matrix(zeros: 2, cols: 3)), budget: .count(1))
        }
    }

    /// Finite values whose squares sum past Float's range give infinite cosines: refused in
    /// every tensor, naming the row; a row just inside the range goes through.
    func testRowsTooLargeForFloatArithmeticAreRefused() throws {
        var big = x
        big.values[9] = 2e19  // row 3: 4e38
        expect(.overflow(what: "features", row: 3)) { _ = try pruner.prune(PruneRequest(features: big), budget: .count(2)) }
        var e = Matrix(rows: 6, cols: 2, values: (0..<12).map { Float($0) + 1 })
        e.values[4] = -3e19
        expect(.overflow(what: "embeddings", row: 2)) {
            _ = try pruner.prune(PruneRequest(features: x, embeddings: e, query: Matrix(rows: 1, cols: 2, values: [1, 0])), budget: .count(2))
        }
        expect(.overflow(what: "query", row: 1)) {
            _ = try pruner.prune(PruneRequest(features: x, query: Matrix(rows: 2, cols: 3, values: [1, 0, 0, 0, 1e20, 0])), budget: .count(2))
        }
        var fits = x
        fits.values[9] = 1e19  // row 3: 1e38
        XCTAssertEqual(try pruner.prune(PruneRequest(features: fits), budget: .count(2)).indices.count, 2)
    }

    func testShardLayouts() {
        func run(_ s: [Range<Int>]) throws { _ = try pruner.prune(PruneRequest(features: x, shards: s), budget: .count(2)) }
        expect(.shardsOverlap(0..<4, 3..<6)) { try run([0..<4, 3..<6]) }
        expect(.shardsLeaveGap(from: 3, to: 4)) { try run([0..<3, 4..<6]) }
        expect(.shardsLeaveGap(from: 4, to: 6)) { try run([0..<4]) }
        expect(.shardsLeaveGap(from: 5, to: 6)) { try run([0..<5]) }
        expect(.shardsLeaveGap(from: 0, to: 1)) { try run([1..<6]) }
        expect(.shardPastEnd(3..<7, tokens: 6)) { try run([0..<3, 3..<7]) }
        expect(.emptyShard(index: 1, range: 3..<3)) { try run([0..<3, 3..<3, 3..<6]) }
        XCTAssertNoThrow(try run([0..<3, 3..<6]))
    }

    func testOptions() {
        var o = PruneOptions(); o.theta = 1
        expect(.invalidOption(name: "theta", value: "1.0", expected: "a number in [0, 1)")) { _ = try pruner.prune(PruneRequest(features: x), budget: .count(2), options: o) }
        o = PruneOptions(); o.tau = .nan
        XCTAssertThrowsError(try pruner.prune(PruneRequest(features: x), budget: .count(2), options: o))
        o = PruneOptions(); o.alpha = 0.5
        XCTAssertThrowsError(try pruner.prune(PruneRequest(features: x), budget: .count(2), options: o))
    }
}
