import XCTest
import ScriptService

/// Gaps between an event loop's turns: told past the threshold only, and told apart by the loop
/// thread's CPU time over them (a process that did not run, or work that held its loop).
final class LoopGapTests: XCTestCase {
    func testGapsPastTheThresholdAreToldAndWhatTheyWere() {
        let t0 = ContinuousClock().now
        var g = LoopGap(now: t0, cpu: .seconds(10), threshold: .milliseconds(250))
        XCTAssertNil(g.turn(at: t0 + .milliseconds(60), cpu: .seconds(10) + .milliseconds(5)))
        XCTAssertNil(g.turn(at: t0 + .milliseconds(310), cpu: .seconds(10) + .milliseconds(6)), "250 ms since the last turn: not past it")
        let paused = g.turn(at: t0 + .milliseconds(4310), cpu: .seconds(10) + .milliseconds(7))
        XCTAssertEqual(paused, LoopGap.Gap(wall: .seconds(4), cpu: .milliseconds(1)))
        XCTAssertEqual(paused?.busy, false)
        XCTAssertEqual(paused?.said, "this process did not run for 4.00 s (stopped, frozen or starved of CPU)")
        let held = g.turn(at: t0 + .milliseconds(4910), cpu: .seconds(10) + .milliseconds(507))
        XCTAssertEqual(held?.busy, true)
        XCTAssertEqual(held?.said, "work held this process's loop for 600 ms")
    }
}
