import Foundation
import Synchronization
import XCTest
@testable import ScriptService

/// The progress line's text and when it writes: directly, with the terminal's writes captured.
final class ProgressLineTests: XCTestCase {
    /// What a progress line wrote, in order.
    final class Screen: Sendable {
        private let writes = Mutex<[String]>([])
        var all: [String] { writes.withLock { $0 } }
        var text: String { all.joined() }
        func write(_ s: String) { writes.withLock { $0.append(s) } }
    }

    func line(_ screen: Screen, total: Int? = nil, unit: ProgressLine.Unit = .items("runs"), enabled: Bool = true,
              columns: Int = 200) -> ProgressLine {
        ProgressLine("eval video", total: total, unit: unit, enabled: enabled, delay: .zero, ticks: false,
                     columns: { columns }, write: { screen.write($0) })
    }

    func testFiguresSayHowFarTheRateAndTheTimeLeft() {
        XCTAssertEqual(ProgressLine.figures(done: 12, total: 48, unit: .items("runs"), elapsedMs: 4000),
                       ["12/48 runs (25%)", "3.00 runs/s", "12.0 s left"])
        // Without a total: the count, the rate and the time taken.
        XCTAssertEqual(ProgressLine.figures(done: 30, total: nil, unit: .items("requests"), elapsedMs: 2000),
                       ["30 requests", "15.0 requests/s", "2.00 s"])
        XCTAssertEqual(ProgressLine.figures(done: 12_000_000, total: 30_000_000, unit: .bytes, elapsedMs: 1000),
                       ["12.0 MB/30.0 MB (40%)", "12.0 MB/s", "1.50 s left"])
        // No count: the time taken only, once it is worth saying.
        XCTAssertEqual(ProgressLine.figures(done: 0, total: nil, unit: .none, elapsedMs: 2500), ["2.50 s"])
        XCTAssertEqual(ProgressLine.figures(done: 0, total: nil, unit: .none, elapsedMs: 100), [])
        // No rate before half a second, or before anything is done.
        XCTAssertEqual(ProgressLine.figures(done: 3, total: 10, unit: .items("runs"), elapsedMs: 200), ["3/10 runs (30%)"])
        XCTAssertEqual(ProgressLine.figures(done: 0, total: 10, unit: .items("runs"), elapsedMs: 900), ["0/10 runs (0%)", "900 ms"])
    }

    func testDrawsWithCarriageReturnAndEraseAndFitsTheTerminal() {
        let screen = Screen()
        let p = line(screen, total: 4, columns: 20)
        p.advance()
        XCTAssertEqual(screen.all.count, 1)
        let drawn = screen.all[0]
        XCTAssertTrue(drawn.hasPrefix("\r") && drawn.hasSuffix("\u{1B}[K"), drawn)
        // Cut to the terminal's width less one column, so it never wraps.
        XCTAssertEqual(drawn.dropFirst().dropLast(3).count, 19, drawn)
        XCTAssertTrue(drawn.contains("…"), drawn)
        p.finish()
        XCTAssertEqual(screen.all.last, "\r\u{1B}[K")
        p.advance()
        XCTAssertEqual(screen.all.count, 2, "nothing after finish")
    }

    func testRedrawsAtMostTenTimesASecond() {
        let screen = Screen()
        let p = line(screen, total: 1000)
        for _ in 0..<1000 { p.advance() }
        XCTAssertLessThanOrEqual(screen.all.count, 3, "1000 quick updates are not 1000 draws")
        XCTAssertGreaterThanOrEqual(screen.all.count, 1)
    }

    func testDisabledWritesNothing() {
        let screen = Screen()
        let p = line(screen, total: 4, enabled: false)
        p.stage("other", total: 3, unit: .items("runs"))
        p.advance(by: 3)
        p.detail("x")
        p.hide()
        p.finish()
        XCTAssertEqual(screen.all, [])
        XCTAssertFalse(p.isEnabled)
        XCTAssertEqual(p.line, "other: 3/3 runs (100%), x")
    }

    func testHideErasesUntilTheNextUpdate() {
        let screen = Screen()
        let p = line(screen, total: 4)
        p.advance()
        p.hide()
        XCTAssertEqual(screen.all, [screen.all[0], "\r\u{1B}[K"])
        p.hide()
        XCTAssertEqual(screen.all.count, 2, "hiding a hidden line writes nothing")
        Thread.sleep(forTimeInterval: 0.11)
        p.advance()
        XCTAssertEqual(screen.all.count, 3)
        XCTAssertTrue(screen.all[2].contains("2/4 runs (50%)"), screen.all[2])
    }

    func testStageStartsTheCountAgain() {
        let screen = Screen()
        let p = line(screen, total: 4)
        p.advance(by: 4)
        p.stage("eval anyres", total: 21, unit: .items("runs"))
        p.detail("2 errors")
        XCTAssertEqual(p.line, "eval anyres: 0/21 runs (0%), 2 errors")
    }

    func testAFreshLineWaitsForItsDelay() {
        let screen = Screen()
        let p = ProgressLine("slow", total: 2, unit: .items("runs"), enabled: true, delay: .seconds(60), ticks: false,
                             columns: { 80 }, write: { screen.write($0) })
        p.advance()
        p.advance()
        p.finish()
        XCTAssertEqual(screen.all, [], "work shorter than the delay shows nothing")
    }

    func testUnitsRoundJSONNumbersToShortDecimals() {
        XCTAssertEqual(Units.rounded(0.40429800000000005, to: 0.001), 0.404)
        XCTAssertEqual("\(Units.rounded(273.05935, to: 0.001))", "273.059")
        XCTAssertEqual("\(Units.rounded(1.0000004, to: 0.000001))", "1.0")
        XCTAssertEqual(Units.rounded(7.3, to: 0.5), 7.5)
        XCTAssertEqual(Units.duration(milliseconds: 273.05935), "273 ms")
        XCTAssertEqual(Units.duration(milliseconds: 3064.3539220000002), "3.06 s")
        XCTAssertEqual(Units.bytes(30_000_000), "30.0 MB")
        XCTAssertEqual(Units.bytes(1_234_567), "1.23 MB")
        XCTAssertEqual(Units.duration(milliseconds: 2000), "2.00 s")
        XCTAssertEqual(Units.significant(-0.5), "-0.500")
        XCTAssertEqual(Units.significant(1234), "1234")
        XCTAssertEqual(Units.rate(17.7), "17.7 req/s")
        // Each unit and each number of decimals from its boundary on.
        XCTAssertEqual(Units.significant(100), "100")
        XCTAssertEqual(Units.bytes(999), "999 B")
        XCTAssertEqual(Units.bytes(1000), "1.00 kB")
        XCTAssertEqual(Units.duration(milliseconds: 90_000), "90.0 s")
        XCTAssertEqual(Units.duration(milliseconds: 120_000), "2.00 min")
        XCTAssertEqual(Units.duration(milliseconds: 0.85), "850 µs")
    }
}
