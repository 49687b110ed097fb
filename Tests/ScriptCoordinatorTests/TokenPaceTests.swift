import XCTest
@testable import ScriptCoordinator

/// A pace per token: the median of the last samples, so that one request that waited on a dead
/// worker does not make every waiting request look too late to start, nor one slow job a worker slow.
final class TokenPaceTests: XCTestCase {
    func testTheMedianOfTheLastRequestsPerTokenAndNoneBeforeAny() {
        var s = TokenPace(window: 3)
        XCTAssertNil(s.perToken)
        s.add(seconds: 0.1, tokens: 1000)
        XCTAssertEqual(s.perToken! * 2000 * 1000, 200, accuracy: 1e-6)
        // One request that waited 3 s on a dead worker's jobs moves nothing.
        s.add(seconds: 0.11, tokens: 1000)
        s.add(seconds: 3, tokens: 1000)
        XCTAssertEqual(s.perToken! * 1000 * 1000, 110, accuracy: 1e-6)
        // Only the last `window` count: two of 50 ms beside the 3 s one make it 50 ms.
        for _ in 0..<2 { s.add(seconds: 0.05, tokens: 1000) }
        XCTAssertEqual(s.perToken! * 1000 * 1000, 50, accuracy: 1e-6)
        s.add(seconds: 0.01, tokens: 0)
        XCTAssertEqual(s.perToken! * 1000 * 1000, 50, accuracy: 1e-6, "a request of no tokens says nothing")
        // What a faulty worker might report is no time at all.
        for bad in [-1.0, .nan, .infinity] { s.add(seconds: bad, tokens: 1000) }
        XCTAssertEqual(s.perToken! * 1000 * 1000, 50, accuracy: 1e-6)
        var zero = TokenPace()
        zero.add(seconds: 0, tokens: 10)
        XCTAssertEqual(zero.perToken, 1e-9, "never zero: times are divided by it")
        var huge = TokenPace()
        huge.add(seconds: 1e300, tokens: 1)
        XCTAssertEqual(huge.perToken, 1, "at most a second a token: times are multiplied by it")
    }
}
