import XCTest
@testable import ScriptCoordinator

/// The start-to-answer estimate: per token, the median of the last requests, so that one that
/// waited on a dead worker does not make every waiting request look too late to start.
final class StartToAnswerTests: XCTestCase {
    func testTheMedianOfTheLastRequestsPerTokenAndNoneBeforeAny() {
        var s = StartToAnswer(window: 3)
        XCTAssertNil(s.perToken)
        s.add(.milliseconds(100), tokens: 1000)
        XCTAssertEqual(s.perToken! * 2000 * 1000, 200, accuracy: 1e-6)
        // One request that waited 3 s on a dead worker's jobs moves nothing.
        s.add(.milliseconds(110), tokens: 1000)
        s.add(.seconds(3), tokens: 1000)
        XCTAssertEqual(s.perToken! * 1000 * 1000, 110, accuracy: 1e-6)
        // Only the last `window` count: two of 50 ms beside the 3 s one make it 50 ms.
        for _ in 0..<2 { s.add(.milliseconds(50), tokens: 1000) }
        XCTAssertEqual(s.perToken! * 1000 * 1000, 50, accuracy: 1e-6)
        s.add(.milliseconds(10), tokens: 0)
        XCTAssertEqual(s.perToken! * 1000 * 1000, 50, accuracy: 1e-6, "a request of no tokens says nothing")
    }
}
