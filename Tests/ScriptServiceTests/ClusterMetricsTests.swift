import Foundation
import XCTest
@testable import ScriptService

/// The metric catalogue: valid, conventional names, and every metric documented.
final class ClusterMetricsTests: XCTestCase {
    func testNamesFollowPrometheusConventions() {
        XCTAssertEqual(Set(ClusterMetrics.all.map(\.name)).count, ClusterMetrics.all.count, "names are unique")
        for m in ClusterMetrics.all {
            XCTAssertNotNil(m.name.range(of: "^[a-z_][a-z0-9_]*$", options: .regularExpression), m.name)
            XCTAssertFalse(m.help.isEmpty, m.name)
            for l in m.labels { XCTAssertNotNil(l.range(of: "^[a-z][a-z0-9_]*$", options: .regularExpression), "\(m.name) \(l)") }
            switch m.kind {
            case .counter: XCTAssertTrue(m.name.hasSuffix("_total"), m.name)
            case .histogram(let b):
                XCTAssertTrue(m.name.hasSuffix("_seconds"), m.name)
                XCTAssertEqual(b, b.sorted(), m.name)
            case .gauge: XCTAssertFalse(m.name.hasSuffix("_total"), m.name)
            }
            XCTAssertEqual(ClusterMetrics.definition(named: m.name), m)
        }
    }

    func testEveryMetricIsDocumented() throws {
        let doc = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Docs/DEPLOY.md")
        let text = try String(contentsOf: doc, encoding: .utf8)
        for m in ClusterMetrics.all {
            XCTAssertTrue(text.contains("`\(m.name)`"), "\(m.name) is not in Docs/DEPLOY.md")
            for l in m.labels { XCTAssertTrue(text.contains(l), "label \(l) of \(m.name)") }
        }
    }

    func testDurationsConvertExactly() {
        XCTAssertEqual(ClusterMetrics.nanoseconds(.milliseconds(51) + .nanoseconds(7)), 51_000_007)
        XCTAssertEqual(ClusterMetrics.seconds(.milliseconds(1500)), 1.5)
    }
}
