import XCTest
import ScriptCore
import ScriptSynth
@testable import ScriptEval

/// Script's and Script+'s hit rate and target share on a fixed set of seeded requests must not
/// fall below the values measured when these checks were written (small shapes, 8 requests per
/// kind; the floors sit 0.002 below the measured means, which the report rounds to 3 digits).
final class QualityRegressionTests: XCTestCase {
    typealias Floors = [SampleKind: [(mono: (Double, Double), sharded: (Double, Double))]]

    /// kind -> per budget: (hit rate, target share) floors for monolithic and sharded Script.
    let scriptFloors: Floors = [
        .image: [((1.0, 0.458), (1.0, 0.458)), ((1.0, 0.771), (1.0, 0.771)), ((1.0, 0.771), (1.0, 0.771))],
        .anyres: [((1.0, 0.377), (1.0, 0.347)), ((1.0, 0.635), (1.0, 0.669)), ((1.0, 0.743), (1.0, 0.774))],
        .video: [((1.0, 0.269), (1.0, 0.121)), ((1.0, 0.527), (1.0, 0.477)), ((1.0, 0.599), (1.0, 0.613))],
    ]

    /// The same for Script+.
    let plusFloors: Floors = [
        .image: [((1.0, 0.479), (1.0, 0.479)), ((1.0, 0.896), (1.0, 0.896)), ((1.0, 1.0), (1.0, 1.0))],
        .anyres: [((1.0, 0.420), (1.0, 0.400)), ((1.0, 0.808), (1.0, 0.763)), ((1.0, 1.0), (1.0, 1.0))],
        .video: [((1.0, 0.329), (1.0, 0.328)), ((1.0, 0.662), (1.0, 0.591)), ((1.0, 0.868), (1.0, 0.844))],
    ]

    func testScriptKeepsTheAskedAboutObjectAtLeastAsWellAsBefore() throws {
        try check(.script, scriptFloors)
    }

    func testScriptPlusKeepsTheAskedAboutObjectAtLeastAsWellAsBefore() throws {
        try check(.scriptPlus, plusFloors)
    }

    private func check(_ method: PruneMethod, _ floors: Floors) throws {
        let mono = EvalMethod(method), sharded = EvalMethod(method, sharded: true)
        let evaluator = Evaluator(methods: [mono, sharded], pool: .machine)
        for kind in SampleKind.allCases {
            let cases = SyntheticSuite.cases(kind, count: 8, seed: 1, scale: .small)
            let budgets = SyntheticSuite.budgets(kind, tokens: cases[0].request.tokenCount)
            let rows = try evaluator.evaluate(cases, budgets: budgets)
            for (b, floor) in zip(budgets, floors[kind]!) {
                let m = rows.first { $0.method == mono.description && $0.budget == b.description }!
                let s = rows.first { $0.method == sharded.description && $0.budget == b.description }!
                XCTAssertGreaterThanOrEqual(m.hitRate, floor.mono.0 - 0.002, "\(method) \(kind) \(b) monolithic hit rate")
                XCTAssertGreaterThanOrEqual(m.targetShare, floor.mono.1 - 0.002, "\(method) \(kind) \(b) monolithic target share")
                XCTAssertGreaterThanOrEqual(s.hitRate, floor.sharded.0 - 0.002, "\(method) \(kind) \(b) sharded hit rate")
                XCTAssertGreaterThanOrEqual(s.targetShare, floor.sharded.1 - 0.002, "\(method) \(kind) \(b) sharded target share")
            }
        }
    }
}
