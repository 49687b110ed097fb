import XCTest
import ScriptCore
import ScriptProtocol
@testable import ScriptWorker

/// What a worker decodes a shard to. In bf16, Script whose relevance comes from separate
/// embeddings (or is not asked of it) reads nothing but the rounding and the norms: the shard is
/// decoded to them alone, the same rounding and norms as the whole decoding gives, and the same
/// proposal. Script+, or a relevance taken from the features, keeps the float32 values; a value
/// that is not finite is named by its row and column either way.
final class WorkerComputeTests: XCTestCase {
    private let rows = 40, cols = 24

    private func values(_ count: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in Float(rng.next() >> 40) / Float(1 << 24) - 0.5 }
    }

    private func task(_ options: PruneOptions, embeddings: Bool) -> ShardTask {
        let query = TensorCodec.encode(Matrix(rows: 2, cols: embeddings ? 8 : cols, values: values(2 * (embeddings ? 8 : cols), seed: 5)), dtype: .f32)
        return ShardTask(job: 1, ticket: Ticket.random(), request: "r", offset: 0, rows: rows, cols: cols, dtype: .f16,
                         embeddingCols: embeddings ? 8 : 0, total: rows, budget: 8, options: options, deadlineMs: 5000,
                         query: query, weights: nil, relevance: nil, data: nil)
    }

    private func data(_ x: Matrix, embeddings: Bool) -> ShardData {
        ShardData(features: TensorCodec.encode(x, dtype: .f16),
                  embeddings: embeddings ? TensorCodec.encode(Matrix(rows: rows, cols: 8, values: values(rows * 8, seed: 4)), dtype: .f16) : nil)
    }

    func testABFloat16ShardIsDecodedToItsRoundingWhereNothingReadsItsFloat32() throws {
        if let reason = BFloat16Products.unavailableReason { throw XCTSkip("no bfloat16 products here: \(reason)") }
        var bf16 = PruneOptions()
        bf16.similarity = .bf16
        let x = Matrix(rows: rows, cols: cols, values: values(rows * cols, seed: 3))
        let t = task(bf16, embeddings: true), d = data(x, embeddings: true)
        let (p, scores) = try WorkerCompute.prepare(t, data: d, pool: .serial)
        XCTAssertFalse(p.features.hasFloat32)
        XCTAssertNotNil(scores)
        let whole = d.features.matrix().withBFloat16(pool: .serial)
        XCTAssertEqual(p.features.bfloat16, whole.bfloat16)
        XCTAssertEqual(p.inverseNorms.map(\.bitPattern), whole.rowInverseNorms().map(\.bitPattern))

        let weights = (0..<rows).map { 1 + Float($0 % 3) / 4 }
        func proposal(_ shard: WorkerCompute.PreparedShard) throws -> [Int] {
            let g = try WorkerCompute.graph(t, shard, pool: .serial)
            return try WorkerCompute.propose(t, shard, graph: g, data: d, weights: weights, relevance: nil, pool: .serial).indices
        }
        XCTAssertEqual(try proposal(p), try proposal(WorkerCompute.PreparedShard(features: whole, inverseNorms: p.inverseNorms)))

        var plus = bf16
        plus.method = .scriptPlus
        XCTAssertTrue(try WorkerCompute.prepare(task(plus, embeddings: true), data: d, pool: .serial).0.features.hasFloat32)
        let own = try WorkerCompute.prepare(task(bf16, embeddings: false), data: data(x, embeddings: false), pool: .serial).0
        XCTAssertTrue(own.features.hasFloat32, "the relevance reads the features themselves")
        XCTAssertEqual(own.features.bfloat16, whole.bfloat16)

        var bad = x
        bad.values[5 * cols + 7] = .nan
        XCTAssertThrowsError(try WorkerCompute.prepare(t, data: data(bad, embeddings: true), pool: .serial)) { error in
            XCTAssertEqual((error as? ProtocolError)?.code, .nonFinite, "\(error)")
            XCTAssertTrue("\(error)".contains("row 5, column 7"), "\(error)")
        }
    }
}
