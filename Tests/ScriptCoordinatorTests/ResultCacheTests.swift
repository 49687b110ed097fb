import XCTest
import ScriptTransport
@testable import ScriptCoordinator

/// The answers kept for retried ids: bounded by count and bytes, oldest out first, an answer
/// that could never fit left out without pushing the others out, a replaced answer counted once.
final class ResultCacheTests: XCTestCase {
    private func frames(_ bytes: Int) -> [Frame] { [Frame([UInt8](repeating: 1, count: bytes - 1)), Frame([0])] }
    private let asked = RequestFingerprint(value: 0)

    func testTheOldestGoFirstByCountAndByBytes() {
        var cache = ResultCache(maxEntries: 2, maxBytes: 100)
        cache.insert(frames(10), answering: asked, for: "a")
        cache.insert(frames(10), answering: asked, for: "b")
        cache.insert(frames(10), answering: asked, for: "c")
        XCTAssertNil(cache["a"])
        XCTAssertEqual(cache["b"]?.frames.count, 2)
        XCTAssertEqual(cache.bytes, 20)
        cache.insert(frames(85), answering: asked, for: "d")
        XCTAssertNil(cache["b"], "95 bytes with b: over the bound")
        XCTAssertNotNil(cache["c"])
        XCTAssertEqual(cache.bytes, 95)
    }

    func testAnAnswerLargerThanTheBoundIsLeftOutAndEvictsNothing() {
        var cache = ResultCache(maxEntries: 8, maxBytes: 100)
        cache.insert(frames(40), answering: asked, for: "a")
        cache.insert(frames(40), answering: asked, for: "b")
        cache.insert(frames(101), answering: asked, for: "huge")
        XCTAssertNil(cache["huge"])
        XCTAssertEqual(cache.count, 2)
        XCTAssertEqual(cache.bytes, 80)
        cache.insert(frames(100), answering: asked, for: "exact")
        XCTAssertNotNil(cache["exact"], "an answer the size of the bound fits, alone")
        XCTAssertEqual(cache.count, 1)
    }

    func testAReplacedAnswerIsCountedOnce() {
        var cache = ResultCache(maxEntries: 8, maxBytes: 100)
        cache.insert(frames(30), answering: asked, for: "a")
        cache.insert(frames(50), answering: asked, for: "a")
        XCTAssertEqual(cache.count, 1)
        XCTAssertEqual(cache.bytes, 50)
        cache.insert(frames(50), answering: asked, for: "b")
        XCTAssertNotNil(cache["a"], "100 bytes in all: both fit")
        XCTAssertEqual(cache.bytes, 100)
    }

    func testNoCacheAtZeroEntries() {
        var cache = ResultCache(maxEntries: 0, maxBytes: 100)
        cache.insert(frames(10), answering: asked, for: "a")
        XCTAssertEqual(cache.count, 0)
        XCTAssertEqual(cache.bytes, 0)
    }
}
