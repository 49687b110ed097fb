@testable import ScriptClient
import XCTest

/// The client's waits for workers' data sockets to connect, on a clock the test moves (no sockets).
final class DataConnectWaitsTests: XCTestCase {
    private let t0 = ContinuousClock.now
    private func at(_ ms: Int) -> ContinuousClock.Instant { t0 + .milliseconds(ms) }
    private func waits() -> DataConnectWaits { DataConnectWaits(connectTimeout: .seconds(10), failureGrace: .seconds(1)) }
    private func late(_ w: inout DataConnectWaits, _ ms: Int, inFlight: Set<String> = ["a", "b"]) -> [String: Set<String>] {
        Dictionary(uniqueKeysWithValues: w.late(now: at(ms), inFlight: inFlight.contains).map { ($0.id, $0.endpoints) })
    }

    func testAShardWaitsItsSocketsTimeoutThenIsLateOnce() {
        var w = waits()
        w.placed("a", shard: 0, on: "tcp://w1:1", now: at(0))
        w.placed("a", shard: 1, on: "tcp://w2:1", now: at(500))
        XCTAssertEqual(w.nextDue(), at(10_000))
        XCTAssertEqual(late(&w, 9_999), [:])
        XCTAssertEqual(late(&w, 10_000), ["a": ["tcp://w1:1"]])
        XCTAssertEqual(late(&w, 10_400), [:], "a late shard is given up once")
        XCTAssertEqual(w.nextDue(), at(10_500))
        XCTAssertEqual(late(&w, 10_500), ["a": ["tcp://w2:1"]])
        XCTAssertNil(w.nextDue())
    }

    func testASocketWhoseAttemptsFailIsGivenOnlyItsGrace() {
        var w = waits()
        w.placed("a", shard: 0, on: "tcp://w1:1", now: at(0))
        w.attemptFailed("tcp://w1:1")
        XCTAssertEqual(w.nextDue(), at(1_000))
        XCTAssertEqual(late(&w, 1_000), ["a": ["tcp://w1:1"]])
    }

    func testAConnectedSocketHoldsNoShardAndFailuresAfterDoNotShortenItsWait() {
        var w = waits()
        w.placed("a", shard: 0, on: "tcp://w1:1", now: at(0))
        w.handshake("tcp://w1:1")
        XCTAssertNil(w.nextDue(), "the shard waited for a socket now connected")
        w.attemptFailed("tcp://w1:1")  // reconnecting after it was up
        w.placed("b", shard: 0, on: "tcp://w1:1", now: at(100))
        XCTAssertNil(w.nextDue(), "placed on a connected socket, nothing waits")
        XCTAssertEqual(w.patience("tcp://w1:1"), .seconds(10))
    }

    func testAShardPlacedAgainWaitsForItsNewSocketOnly() {
        var w = waits()
        w.placed("a", shard: 0, on: "tcp://w1:1", now: at(0))
        w.handshake("tcp://w2:1")
        w.placed("a", shard: 0, on: "tcp://w2:1", now: at(3_000))
        XCTAssertNil(w.nextDue())
        XCTAssertEqual(late(&w, 20_000), [:])
    }

    func testARequestNoLongerInFlightIsForgotten() {
        var w = waits()
        w.placed("a", shard: 0, on: "tcp://w1:1", now: at(0))
        w.placed("b", shard: 0, on: "tcp://w1:1", now: at(0))
        XCTAssertEqual(late(&w, 10_000, inFlight: ["b"]), ["b": ["tcp://w1:1"]])
        XCTAssertNil(w.nextDue())
    }

    /// The client stopped for 9 s two seconds after a placement: its socket could not connect
    /// while it did not run, so on resuming the shard has 8 s left (10 s less the 2 s before the
    /// pause), not none: it was given up at once and its request sent again avoiding a worker
    /// that connects a moment later.
    func testAPauseOfTheClientIsNotADataSocketsTimeToConnect() {
        var w = waits()
        w.placed("a", shard: 0, on: "tcp://w1:1", now: at(0))
        w.resumed(after: .seconds(9), now: at(11_000))
        XCTAssertEqual(late(&w, 11_000), [:])
        XCTAssertEqual(w.nextDue(), at(19_000))
        XCTAssertEqual(late(&w, 19_000), ["a": ["tcp://w1:1"]])
    }

    func testAPauseLongerThanTheWaitDoesNotPutTheShardInTheFuture() {
        var w = waits()
        w.placed("a", shard: 0, on: "tcp://w1:1", now: at(1_000))
        w.resumed(after: .seconds(5), now: at(3_000))  // a gap reaching back before the placement
        XCTAssertEqual(w.nextDue(), at(13_000), "its wait starts again now, at most")
    }
}
