import XCTest
import ScriptCore
import ScriptTestSupport

final class MatrixTests: XCTestCase {
    /// Gathered rows (megabytes, written once) are asked for in huge pages: a fault each, not
    /// 512 (a one-shot `prune` of an image took 6034 faults, 3959 with this and the decoded
    /// features so asked).
    func testGatheredRowsOfMegabytesAreAskedForInHugePages() throws {
        try XCTSkipUnless(MemoryMaps.hasHugePages, "this kernel has no transparent huge pages")
        let x = Matrix(rows: 600, cols: 4096, values: (0..<(600 * 4096)).map { Float($0 % 97) })
        let g = x.gatherRows(Array((0..<600).reversed()))
        XCTAssertEqual(g.row(0), x.row(599))
        XCTAssertEqual(g.row(599), x.row(0))
        try g.values.withUnsafeBytes { bytes in
            let inside = try XCTUnwrap(MemoryMaps.hugePageInside(bytes), "9.4 MB holds a whole huge page")
            XCTAssertEqual(MemoryMaps.flags(at: inside)?.contains("hg"), true, "\(String(describing: MemoryMaps.flags(at: inside)))")
        }
    }
}
