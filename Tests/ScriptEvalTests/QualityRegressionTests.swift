import XCTest
import ScriptCore
import ScriptSynth
@testable import ScriptEval

/// Script's hit rate and target share on a fixed set of seeded requests must not fall below the
/// values measured when this check was written (small shapes, 8 requests per kind; the floors
/// sit 0.002 below the measured means, which the report rounds to 3 digits).
final class QualityRegressionTests: XCTestCase {
    /// kind -> per budget: (hit rate, target share) floors for monolithic and sharded Script.
    let floors: [SampleKind: [(mono: (Double, Double), sharded: (Double, Double))]] = [
        .image: [((1.0, 0.458), (1.0, 0.458)), ((1.0, 0.771), (1.0, 0.771)), ((1.0, 0.771), (1.0, 0.771))],
        .anyres: [((1.0, 0.377), (1.0, 0.347)), ((1.0, 0.635), (1.0, 0.669)), ((1.0, 0.743), (1.0, 0.774))],
        .video: [((1.0, 0.269), (1.0, 0.121)), ((1.0, 0.527), (1.0, 0.477)), ((1.0, 0.599), (1.0, 0.613))],
    ]

    func testScriptKeepsTheAskedAboutObjectAtLeastAsWellAsBefore() throws {
        let evaluator = Evaluator(methods: [EvalMethod(.script), EvalMethod(.script, sharded: true)], pool: .machine)
        for kind in SampleKind.allCases {
            let cases = SyntheticSuite.cases(kind, count: 8, seed: 1, scale: .small)
            let budgets = SyntheticSuite.budgets(kind, tokens: cases[0].request.tokenCount)
            let rows = try evaluator.evaluate(cases, budgets: budgets)
            for (b, floor) in zip(budgets, floors[kind]!) {
                let mono = rows.first { $0.method == "script" && $0.budget == b.description }!
                let sharded = rows.first { $0.method == "script-sharded" && $0.budget == b.description }!
                XCTAssertGreaterThanOrEqual(mono.hitRate, floor.mono.0 - 0.002, "\(kind) \(b) monolithic hit rate")
                XCTAssertGreaterThanOrEqual(mono.targetShare, floor.mono.1 - 0.002, "\(kind) \(b) monolithic target share")
                XCTAssertGreaterThanOrEqual(sharded.hitRate, floor.sharded.0 - 0.002, "\(kind) \(b) sharded hit rate")
                XCTAssertGreaterThanOrEqual(sharded.targetShare, floor.sharded.1 - 0.002, "\(kind) \(b) sharded target share")
            }
        }
    }
}
