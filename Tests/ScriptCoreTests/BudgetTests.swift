import XCTest
@testable import ScriptCore

final class BudgetTests: XCTestCase {
    /// A ratio keeps `floor(r N + 1/2)` tokens, at least one; a count is kept as given.
    func testRatiosRoundHalfUpAndKeepAtLeastOne() throws {
        XCTAssertEqual(try Budget.ratio(0.1).resolve(tokens: 576), 58)   // 57.6
        XCTAssertEqual(try Budget.ratio(0.25).resolve(tokens: 6), 2)     // 1.5
        XCTAssertEqual(try Budget.ratio(0.2).resolve(tokens: 6), 1)      // 1.2
        XCTAssertEqual(try Budget.ratio(0.01).resolve(tokens: 20), 1)    // 0.2
        XCTAssertEqual(try Budget.ratio(1).resolve(tokens: 7), 7)
        XCTAssertEqual(try Budget.count(900).resolve(tokens: 576), 900)
    }

    func testParsingTellsCountsFromRatios() throws {
        XCTAssertEqual(try Budget(parsing: "64"), .count(64))
        XCTAssertEqual(try Budget(parsing: "0.1"), .ratio(0.1))
        XCTAssertEqual(try Budget(parsing: "1e-1"), .ratio(0.1))
        XCTAssertThrowsError(try Budget(parsing: "ten"))
    }
}
