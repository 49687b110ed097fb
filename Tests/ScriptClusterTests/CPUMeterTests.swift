import Foundation
import ScriptLoad
import XCTest

final class CPUMeterTests: XCTestCase {
    /// Processes that exit, start, or give their PID to another count from their first reading
    /// to their last, never below zero.
    func testProcessesThatComeAndGoCountFromFirstToLastReading() {
        // Readings by step: pid 1 exits after step 1; pid 3 starts at step 2; pid 1 comes back
        // as another process (another start) at step 3.
        let table: [[Int32: ProcessCPU.Reading]] = [
            [1: .init(startTicks: 10, milliseconds: 100), 2: .init(startTicks: 20, milliseconds: 0)],
            [1: .init(startTicks: 10, milliseconds: 150), 2: .init(startTicks: 20, milliseconds: 30)],
            [2: .init(startTicks: 20, milliseconds: 80), 3: .init(startTicks: 30, milliseconds: 500)],
            [1: .init(startTicks: 40, milliseconds: 1000), 2: .init(startTicks: 20, milliseconds: 80), 3: .init(startTicks: 30, milliseconds: 520)],
            [1: .init(startTicks: 40, milliseconds: 1010), 2: .init(startTicks: 20, milliseconds: 80), 3: .init(startTicks: 30, milliseconds: 520)],
        ]
        var step = 0
        var meter = CPUMeter(roles: ["worker"], find: { _ in [1, 2, 3] }, read: { table[step][$0] })
        for i in table.indices {
            step = i
            meter.sample()
        }
        XCTAssertEqual(meter.milliseconds("worker"), 50 + 80 + 20 + 10)
        XCTAssertEqual(meter.processes("worker").seen, 4)
        XCTAssertEqual(meter.processes("worker").exited, 1)
        XCTAssertEqual(meter.milliseconds("coordinator"), 0)
    }

    /// A real process killed during the run keeps the CPU it was read to have spent.
    func testAKilledProcessKeepsItsLastReading() throws {
        let busy = Process()
        busy.executableURL = URL(fileURLWithPath: "/bin/sh")
        busy.arguments = ["-c", "while :; do :; done"]
        try busy.run()
        let pid = busy.processIdentifier
        var meter = CPUMeter(roles: ["worker"], find: { _ in [pid] })
        meter.sample()
        Thread.sleep(forTimeInterval: 0.5)
        meter.sample()
        busy.terminate()
        busy.waitUntilExit()
        meter.sample()
        XCTAssertGreaterThan(meter.milliseconds("worker"), 20, "a shell spinning for half a second")
        XCTAssertEqual(meter.processes("worker").seen, 1)
        XCTAssertEqual(meter.processes("worker").exited, 1)
    }
}
