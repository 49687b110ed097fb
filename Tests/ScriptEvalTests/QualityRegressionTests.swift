import XCTest
import ScriptCore
import ScriptSynth
@testable import ScriptEval

/// Script's hit rate and target share on a fixed set of seeded requests must not fall below the
/// values measured when this check was written (small shapes, 4 requests per kind).
final class QualityRegressionTests: XCTestCase {
    /// kind -> per budget: (hit rate, target share) floors for monolithic and sharded Script.
    let floors: [SampleKind: [(mono: (Double, Double), sharded: (Double, Double))]] = [
        .image: [((1.0, 0.5), (1.0, 0.5)), ((1.0, 0.75), (1.0, 0.75)), ((1.0, 0.875), (1.0, 0.875))],
        .anyres: [((1.0, 0.325), (1.0, 0.3)), ((1.0, 0.525), (1.0, 0.475)), ((1.0, 0.825), (1.0, 0.9))],
        .video: [((1.0, 0.625), (1.0, 0.625)), ((1.0, 1.0), (1.0, 0.75)), ((1.0, 1.0), (1.0, 1.0))],
    ]

    func testScriptKeepsTheAskedAboutObjectAtLeastAsWellAsBefore() throws {
        let evaluator = Evaluator(methods: [EvalMethod(.script), EvalMethod(.script, sharded: true)], pool: .machine)
        for kind in SampleKind.allCases {
            let cases = SyntheticSuite.cases(kind, count: 4, seed: 1, scale: .small)
            let budgets = SyntheticSuite.budgets(kind, tokens: cases[0].request.tokenCount)
            let rows = try evaluator.evaluate(cases, budgets: budgets)
            for (b, floor) in zip(budgets, floors[kind]!) {
                let mono = rows.first { $0.method == "script" && $0.budget == b.description }!
                let sharded = rows.first { $0.method == "script-sharded" && $0.budget == b.description }!
                XCTAssertGreaterThanOrEqual(mono.hitRate, floor.mono.0, "\(kind) \(b) monolithic hit rate")
                XCTAssertGreaterThanOrEqual(mono.targetShare, floor.mono.1 - 1e-9, "\(kind) \(b) monolithic target share")
                XCTAssertGreaterThanOrEqual(sharded.hitRate, floor.sharded.0, "\(kind) \(b) sharded hit rate")
                XCTAssertGreaterThanOrEqual(sharded.targetShare, floor.sharded.1 - 1e-9, "\(kind) \(b) sharded target share")
            }
        }
    }
}
