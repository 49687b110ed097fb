import Synchronization
import XCTest
@testable import ScriptCore

/// The span profile's arithmetic on loops whose chunks take known times on a clock the test
/// moves (no timing of real work).
final class SpanProfileTests: XCTestCase {
    /// A clock that stands still until a chunk advances it.
    private final class FakeClock: Sendable {
        private let t = Atomic<Int64>(0)
        func advance(_ ns: Int64) { t.add(ns, ordering: .relaxed) }
        var read: @Sendable () -> Int64 { { [self] in t.load(ordering: .relaxed) } }
    }

    func testFlatLoop() {
        let clock = FakeClock()
        let profile = SpanProfile(threadCounts: [1, 2, 4], clock: clock.read)
        let pool = ComputePool.profiling(profile)
        let costs: [Int64] = [30, 10, 10, 10]
        profile.measure {
            clock.advance(5)  // serial before the loop
            pool.forEach(costs.count) { clock.advance(costs[$0]) }
        }
        let r = profile.report!
        XCTAssertEqual(r.workNanoseconds, 65)
        XCTAssertEqual(r.spanNanoseconds, 35)
        XCTAssertEqual(r.loops, 1)
        // 1 thread: everything; 2: max(30, 60/2); 4: the longest chunk.
        XCTAssertEqual(r.estimates.map(\.nanoseconds), [65, 35, 35])
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: r.critical.map { ($0.site, $0.nanoseconds) })[SpanProfile.serialSite], 5)
        XCTAssertEqual(r.critical.first?.nanoseconds, 30)
    }

    func testNestedLoopsShareTheThreads() {
        let clock = FakeClock()
        let profile = SpanProfile(threadCounts: [2, 8], clock: clock.read)
        let pool = ComputePool.profiling(profile)
        // Two shards, each a loop of 4 chunks of 10 after 2 of its own.
        profile.measure {
            pool.forEach(2) { _ in
                clock.advance(2)
                pool.forEach(4) { _ in clock.advance(10) }
            }
        }
        let r = profile.report!
        XCTAssertEqual(r.workNanoseconds, 84)
        XCTAssertEqual(r.spanNanoseconds, 12)
        XCTAssertEqual(r.loops, 3)
        // 2 threads: one a shard, 2 + 40 each; 8 threads: 4 a shard, 2 + 10.
        XCTAssertEqual(r.estimates.map(\.nanoseconds), [42, 12])
        XCTAssertEqual(r.work.count, 2)
    }

    func testLoopsOutsideMeasureRunUnrecorded() {
        let profile = SpanProfile()
        let pool = ComputePool.profiling(profile)
        let seen = Atomic<Int>(0)
        pool.forEach(3) { _ in seen.add(1, ordering: .relaxed) }
        XCTAssertEqual(seen.load(ordering: .relaxed), 3)
        XCTAssertNil(profile.report)
        XCTAssertFalse(pool.isSerial)
        XCTAssertTrue(ComputePool.serial.isSerial)
    }

    /// A profiled run keeps the chunks of any other pool: the same kept set.
    func testProfiledPruneKeepsTheSameTokens() throws {
        var rng = SplitMix64(seed: 3)
        let n = 96, d = 32
        let x = Matrix(rows: n, cols: d, values: (0..<(n * d)).map { _ in Float(rng.next() % 1000) / 1000 - 0.5 })
        let req = PruneRequest(features: x, shards: [0..<48, 48..<96])
        let plain = try Pruner(pool: ComputePool(width: 2)).prune(req, budget: .count(12))
        let profile = SpanProfile()
        let profiled = try profile.measure { try Pruner(pool: .profiling(profile)).prune(req, budget: .count(12)) }
        XCTAssertEqual(plain.indices, profiled.indices)
        let r = try XCTUnwrap(profile.report)
        XCTAssertGreaterThan(r.loops, 0)
        XCTAssertLessThanOrEqual(r.spanNanoseconds, r.workNanoseconds)
    }

    /// A run that throws leaves the profile ready for the next one.
    func testAThrowingRunLeavesTheProfileUsable() throws {
        struct Refused: Error {}
        let clock = FakeClock()
        let profile = SpanProfile(threadCounts: [2], clock: clock.read)
        let pool = ComputePool.profiling(profile)
        XCTAssertThrowsError(try profile.measure { () throws -> Int in
            pool.forEach(2) { _ in clock.advance(1) }
            throw Refused()
        })
        profile.measure { pool.forEach(2) { _ in clock.advance(3) } }
        XCTAssertEqual(profile.report?.workNanoseconds, 6)
        XCTAssertEqual(profile.report?.spanNanoseconds, 3)
    }
}
