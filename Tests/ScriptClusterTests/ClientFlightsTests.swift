@testable import ScriptClient
import ScriptProtocol
import XCTest

/// The client's bookkeeping of requests in flight, on a clock the test moves (no sockets).
final class ClientFlightsTests: XCTestCase {
    private let t0 = ContinuousClock.now
    private func at(_ ms: Int) -> ContinuousClock.Instant { t0 + .milliseconds(ms) }
    private func flights(endpoints: Int = 2) -> ClientFlights {
        ClientFlights(endpoints: endpoints, pingIntervalMs: 100, liveness: 3, attempts: 3, backoffMs: 50)
    }

    func testASilentCoordinatorIsPingedThenDownAndItsRequestsMove() {
        var f = flights()
        XCTAssertEqual(f.choose(), 0)
        f.sent("a", to: 0, now: at(0))
        XCTAssertEqual(f.tick(now: at(50)), [])
        XCTAssertEqual(f.tick(now: at(100)), [.ping(0)])
        XCTAssertEqual(f.tick(now: at(200)), [.ping(0)])
        XCTAssertEqual(f.tick(now: at(300)), [.ping(0)])
        // Silent for more than 3 pings: down, its connection replaced, and the request goes to
        // endpoint 1.
        f.connected(0)
        XCTAssertEqual(f.tick(now: at(301)), [.reconnect(0), .resend(id: "a", to: 1)])
        XCTAssertFalse(f.isConnected(0), "the fresh connection is not up until its handshake")
        XCTAssertEqual([f.choose(), f.choose(), f.choose()], [1, 1, 1], "new requests pass the silent one by")
        // It is still pinged, and answering brings it back.
        XCTAssertTrue(f.tick(now: at(401)).contains(.ping(0)))
        XCTAssertEqual(f.heard(0, now: at(410)), [])
        XCTAssertEqual([f.choose(), f.choose()], [0, 1])
    }

    /// The client did not look for 50 pings (its process stopped, its caller held it): no pings
    /// went out and nothing was read, so the pause is not its coordinator's silence; it pings at
    /// once, and silence after the pause is counted as before.
    func testAPauseOfTheClientIsNotItsCoordinatorsSilence() {
        var f = flights()
        f.sent("a", to: 0, now: at(0))
        XCTAssertEqual(f.tick(now: at(100)), [.ping(0)])
        XCTAssertEqual(f.heard(0, now: at(101)), [])
        f.resumed(after: .milliseconds(5000), now: at(5150))
        XCTAssertEqual(f.tick(now: at(5150)), [.ping(0)], "not down: pinged")
        XCTAssertEqual(f.heard(0, now: at(5151)), [], "no ping counted missed over the pause")
        XCTAssertEqual(f.tick(now: at(5250)), [.ping(0)])
        XCTAssertEqual(f.tick(now: at(5350)), [.ping(0)])
        XCTAssertEqual(f.tick(now: at(5450)), [.ping(0)])
        XCTAssertEqual(f.tick(now: at(5452)), [.reconnect(0), .resend(id: "a", to: 1)], "silent for 3 pings since")
    }

    /// A request after the client sat idle (nothing waited on its coordinator, so nothing was
    /// heard): its coordinator's silence is counted from the send, not from its last answer.
    func testARequestAfterAnIdleSpellIsNotTakenForASilence() {
        var f = flights()
        f.sent("a", to: 0, now: at(0))
        XCTAssertEqual(f.heard(0, now: at(10)), [])
        f.forget("a")
        f.sent("b", to: 0, now: at(5000))
        XCTAssertEqual(f.tick(now: at(5001)), [])
        XCTAssertEqual(f.tick(now: at(5100)), [.ping(0)])
        XCTAssertEqual(f.heard(0, now: at(5101)), [])
        XCTAssertFalse(f.isSpent("b"))
        XCTAssertEqual(f.tries("b"), 1)
    }

    func testNewRequestsGoToConnectedCoordinatorsFirst() {
        var f = flights(endpoints: 3)
        XCTAssertEqual([f.choose(), f.choose(), f.choose()], [0, 1, 2], "none connected yet: each in turn")
        f.connected(2)
        XCTAssertEqual([f.choose(), f.choose()], [2, 2], "the one connected, not the first in the list")
        f.connected(0)
        XCTAssertEqual([f.choose(), f.choose(), f.choose()], [0, 2, 0])
        XCTAssertEqual(f.dropped(0, now: at(0)), [])
        XCTAssertEqual([f.choose(), f.choose()], [2, 2])
    }

    func testBackAfterASilenceOrADroppedConnectionSendsAgain() {
        var f = flights(endpoints: 1)
        f.sent("a", to: 0, now: at(0))
        f.sent("b", to: 0, now: at(0))
        XCTAssertEqual(f.tick(now: at(100)), [.ping(0)])
        XCTAssertEqual(f.tick(now: at(200)), [.ping(0)])
        XCTAssertEqual(f.heard(0, now: at(210)), [], "one ping missed: nothing lost")
        XCTAssertEqual(f.tick(now: at(310)), [.ping(0)])
        XCTAssertEqual(f.tick(now: at(410)), [.ping(0)])
        XCTAssertEqual(f.tick(now: at(510)), [.ping(0)])
        XCTAssertEqual(f.heard(0, now: at(515)), [.resend(id: "a", to: 0), .resend(id: "b", to: 0)], "two pings missed")
        XCTAssertEqual(f.heard(0, now: at(520)), [], "answering on time changes nothing")
        f.forget("b")
        XCTAssertEqual(f.dropped(0, now: at(530)), [.resend(id: "a", to: 0)])
        XCTAssertFalse(f.isSpent("a"))
        XCTAssertEqual(f.tries("a"), 3)
        XCTAssertEqual(f.dropped(0, now: at(540)), [], "three tries, then the caller's timeout")
        XCTAssertTrue(f.isSpent("a"), "it needed a fourth")
    }

    func testBusyGoesAgainAfterTheBackOffAndShuttingDownMarksTheCoordinatorDown() {
        var f = flights()
        XCTAssertEqual(f.choose(), 0)
        f.sent("a", to: 0, now: at(0))
        XCTAssertTrue(f.retryLater("a", .busy, from: 0, now: at(10)))
        XCTAssertEqual(f.untilDue(now: at(10)), .milliseconds(50))
        XCTAssertEqual(f.tick(now: at(59)), [])
        XCTAssertEqual(f.tick(now: at(60)), [.resend(id: "a", to: 1)])
        XCTAssertTrue(f.retryLater("a", .shuttingDown, from: 1, now: at(70)))
        XCTAssertEqual(f.tick(now: at(169)), [])
        XCTAssertEqual(f.tick(now: at(170)), [.resend(id: "a", to: 0)], "100 ms later, to the one not shutting down")
        XCTAssertEqual([f.choose(), f.choose()], [0, 0], "new requests pass the one shutting down by")
        XCTAssertFalse(f.retryLater("a", .busy, from: 0, now: at(180)), "its tries are used up")
        XCTAssertFalse(f.retryLater("a", .badRequest, from: 0, now: at(180)))
        f.forget("a")
        XCTAssertTrue(f.isEmpty)
        XCTAssertNil(f.untilDue(now: at(200)))
    }

    /// Only busy and shutting down are retried, whatever tries are left; while a retry waits,
    /// the requests still in flight are pinged at the ping interval; a forgotten request leaves
    /// nothing due.
    func testOnlyBusyAndShuttingDownWaitForARetryAndPingsGoOnMeanwhile() {
        var f = ClientFlights(endpoints: 1, pingIntervalMs: 100, liveness: 3, attempts: 5, backoffMs: 1500)
        f.sent("a", to: 0, now: at(0))
        f.sent("b", to: 0, now: at(0))
        for code in ErrorCode.allCases where code != .busy && code != .shuttingDown {
            XCTAssertFalse(f.retryLater("a", code, from: 0, now: at(1)), "\(code)")
        }
        XCTAssertTrue(f.retryLater("a", .busy, from: 0, now: at(1)))
        XCTAssertEqual(f.untilDue(now: at(1)), .milliseconds(100), "b is waited on: the next ping, not the retry in 1.5 s")
        f.forget("b")
        f.forget("a")
        XCTAssertNil(f.untilDue(now: at(2)), "nothing in flight, no retry due")
    }

    /// The back-off doubles from its start to 2 s and stays there.
    func testTheBackOffDoublesToTwoSeconds() {
        var f = ClientFlights(endpoints: 1, pingIntervalMs: 10_000, liveness: 3, attempts: 10, backoffMs: 100)
        f.sent("a", to: 0, now: at(0))
        var now = 0
        var waits: [Duration] = []
        for _ in 0..<7 {
            XCTAssertTrue(f.retryLater("a", .busy, from: 0, now: at(now)))
            guard let wait = f.untilDue(now: at(now)) else { return XCTFail("nothing due") }
            waits.append(wait)
            now += Int(wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000)
            XCTAssertEqual(f.tick(now: at(now)), [.resend(id: "a", to: 0)])
        }
        XCTAssertEqual(waits, [100, 200, 400, 800, 1600, 2000, 2000].map { .milliseconds($0) })
    }
}
