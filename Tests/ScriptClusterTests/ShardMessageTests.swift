import XCTest
import ScriptCore
import ScriptTransport
@testable import ScriptProtocol
@testable import ScriptCoordinator
@testable import ScriptWorker
@testable import ScriptClient

/// A worker's side of the `shard` message: what it must not trust is refused with a typed error.
final class ShardMessageTests: XCTestCase {
    private func job(_ values: [Float], rows: Int, cols: Int) -> ShardJob {
        ShardJob(features: Matrix(rows: rows, cols: cols, values: values), weights: [Float](repeating: 1, count: rows),
                 offset: 10, totalTokens: 100, budget: 8, options: PruneOptions())
    }

    private func parse(_ j: ShardJob) throws -> (job: Int, shard: ShardJob, inverseNorms: [Float]) {
        let frames = ShardMessage.frames(job: 7, j).map(Frame.init)
        return try ShardMessage.parse(try Envelope.decode(frames[0]), frames: frames, limits: RequestLimits())
    }

    func testValidShardComesBackWithItsNorms() throws {
        let values = (0..<(12 * 5)).map { Float($0 % 7) - 3 }
        let (id, shard, inv) = try parse(job(values, rows: 12, cols: 5))
        XCTAssertEqual(id, 7)
        XCTAssertEqual(shard.features.values, values)
        XCTAssertEqual(inv, shard.features.rowInverseNorms())
    }

    func testNonFiniteFeaturesAreRefusedWithTheirPlace() {
        for bad in [Float.nan, .infinity, -.infinity] {
            var values = (0..<(12 * 5)).map { Float($0 % 7) - 3 }
            values[3 * 5 + 4] = bad
            XCTAssertThrowsError(try parse(job(values, rows: 12, cols: 5))) { error in
                guard let e = error as? ProtocolError else { return XCTFail("\(error)") }
                XCTAssertEqual(e.code, .nonFinite)
                XCTAssertTrue(e.message.contains("row 3, column 4"), e.message)
            }
        }
    }
}
