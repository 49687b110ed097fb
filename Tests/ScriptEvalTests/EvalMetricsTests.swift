import Synchronization
import XCTest
import ScriptCore
@testable import ScriptEval

final class EvalMetricsTests: XCTestCase {
    /// Tokens 0..5: target = {1, 2}; objects: 1,2 -> object 0, 4 -> object 7, rest background.
    /// Features: token i is the unit vector e_(i mod 3) in 3-D.
    let target = [false, true, true, false, false, false]
    let objects: [Int32] = [-1, 0, 0, -1, 7, -1]
    let x = Matrix(rows: 6, cols: 3, values: [1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1])

    func testHandWorkedCase() {
        // Keep 1 and 3: target half kept; objects {0, 7}: only 0 seen; coverage: tokens 0,3 -> 1
        // (e0), 1,4 -> 1 (e1), 2,5 -> 0 (e2 is orthogonal to both): 4/6.
        let m = EvalMetrics.measure(kept: [1, 3], target: target, objects: objects, features: x, pool: .serial)
        XCTAssertTrue(m.hit)
        XCTAssertEqual(m.targetShare, 0.5)
        XCTAssertEqual(m.objectsCovered, 0.5)
        XCTAssertEqual(m.coverage, 4.0 / 6.0, accuracy: 1e-6)
    }

    func testMissingTheTarget() {
        let m = EvalMetrics.measure(kept: [0, 4, 5], target: target, objects: objects, features: x, pool: .serial)
        XCTAssertFalse(m.hit)
        XCTAssertEqual(m.targetShare, 0)
        XCTAssertEqual(m.objectsCovered, 0.5)
        XCTAssertEqual(m.coverage, 1, accuracy: 1e-6)
    }

    func testEvaluatorAveragesOverRequests() throws {
        let c = EvalCase(name: "c", kind: "t", request: PruneRequest(features: x), shards: [0..<3, 3..<6], target: target, objects: objects)
        let rows = try Evaluator(methods: [EvalMethod(.uniform)], pool: .serial).evaluate([c, c], budgets: [.count(2)])
        XCTAssertEqual(rows.count, 1)
        // uniform keeps 0 and 5: no target, no object, coverage: e0 x2, e2 x2 -> 4/6
        XCTAssertEqual(rows[0].hitRate, 0)
        XCTAssertEqual(rows[0].objectsCovered, 0)
        XCTAssertEqual(rows[0].coverage, 4.0 / 6.0, accuracy: 1e-6)
        XCTAssertEqual(rows[0].requests, 2)
    }

    /// A request's time is the median of its repeats (not the first, the last or the mean), and
    /// a row's time the mean of its requests'.
    func testTimeIsTheMedianOfRepeatsAveragedOverRequests() throws {
        let c = EvalCase(name: "c", kind: "t", request: PruneRequest(features: x), shards: [0..<3, 3..<6], target: target, objects: objects)
        let clock = Mutex([40.0, 20, 10, 5, 9, 7])  // request 1: median 20; request 2: median 7
        var evaluator = Evaluator(methods: [EvalMethod(.uniform)], pool: .serial, repeats: 3)
        evaluator.milliseconds = { _ in clock.withLock { $0.removeFirst() } }
        let rows = try evaluator.evaluate([c, c], budgets: [.count(2)])
        XCTAssertEqual(rows.map(\.milliseconds), [13.5])
        XCTAssertTrue(clock.withLock { $0.isEmpty }, "every repeat is timed")
    }

    func testChartShowsEveryKindAndBothScriptVariants() {
        let rows = [EvalRow(kind: "image", method: "script", budget: "64", requests: 1, hitRate: 1, targetShare: 0.5, objectsCovered: 1, coverage: 0.8, milliseconds: 1),
                    EvalRow(kind: "image", method: "script-sharded", budget: "64", requests: 1, hitRate: 1, targetShare: 0.4, objectsCovered: 1, coverage: 0.9, milliseconds: 1)]
        let svg = GapChart.svg(rows)
        XCTAssertTrue(svg.hasPrefix("<svg"))
        XCTAssertTrue(svg.contains(">image<"))
        XCTAssertEqual(svg.components(separatedBy: "<polyline").count - 1, 6, "3 metrics x 2 variants")
        XCTAssertTrue(svg.contains("stroke-dasharray"))
    }

    func testHitNeedsEveryTargetObjectThatShows() {
        // Objects 0 and 7 are both asked about; keeping token 1 (object 0) alone is no hit.
        let both = target.indices.map { objects[$0] >= 0 }
        let one = EvalMetrics.measure(kept: [1], target: both, objects: objects, targetObjects: [0, 7], features: x, pool: .serial)
        XCTAssertFalse(one.hit)
        XCTAssertEqual(one.targetShare, 1.0 / 3.0, accuracy: 1e-9)
        XCTAssertTrue(EvalMetrics.measure(kept: [1, 4], target: both, objects: objects, targetObjects: [0, 7], features: x, pool: .serial).hit)
        // An asked-about object that shows in no token does not count against a hit.
        XCTAssertTrue(EvalMetrics.measure(kept: [2], target: target, objects: objects, targetObjects: [0, 9], features: x, pool: .serial).hit)
    }

    func testMethodNamesAndAblationVariants() {
        XCTAssertEqual(EvalMethod(.scriptPlus, sharded: true, without: [.floor, .unitGraph]).description, "script+-sharded-unit-graph-floor")
        XCTAssertEqual(EvalMethod.named("script+-sharded-discount"), EvalMethod(.scriptPlus, sharded: true, without: [.discount]))
        XCTAssertEqual(EvalMethod.named("cdpruner"), EvalMethod(.cdpruner))
        XCTAssertNil(EvalMethod.named("script+-magic"))
        let off = EvalMethod(.scriptPlus, without: Set(PlusIdea.allCases)).options(PruneOptions())
        XCTAssertEqual([off.unitGraph ? 1 : 0, off.discount, off.floorRelevance == 0 ? 0 : 1], [0, 0, 0])
        XCTAssertEqual(EvalMethod.ablation.count, 2 * (PlusIdea.allCases.count + 1))
    }

    func testTargetsTableMarksEachBound() {
        func row(_ m: String, share: Double, ms: Double, cov: Double = 0.9) -> EvalRow {
            EvalRow(kind: "k", method: m, budget: "8", requests: 1, hitRate: 1, targetShare: share, objectsCovered: 1, coverage: cov, milliseconds: ms)
        }
        let rows = [row("script", share: 0.5, ms: 10), row("script-sharded", share: 0.5, ms: 5), row("cdpruner", share: 0.9, ms: 30),
                    row("script+", share: 0.95, ms: 11), row("script+-sharded", share: 0.9, ms: 7, cov: 0.8)]
        let table = EvalReport.targets(rows)
        XCTAssertTrue(table.contains("| k | 8 | script+ | 0.95 (0.9) yes | 1.0 yes | 0.37 yes | 1.1 yes | 0.9 (0.9) yes |  |"), table)
        // Sharded: 7 ms is more than 1.2x Script's 5, coverage below 99% of 0.9, share 0.947 of mono.
        XCTAssertTrue(table.contains("| k | 8 | script+-sharded | 0.9 (0.9) yes | 1.0 yes | 0.23 yes | 1.4 **no** | 0.8 (0.9) **no** | 0.947 **no** |"), table)
        let svg = TradeoffChart.svg(rows)
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 5 + 5, "5 points, 5 legend entries")
    }
}
