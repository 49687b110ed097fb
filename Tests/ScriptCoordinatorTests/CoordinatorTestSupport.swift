import XCTest
import ScriptCore
import ScriptProtocol

/// Requests and in-process answers the coordinator's tests compare the cluster with.
extension XCTestCase {
    func request(seed: UInt64, n: Int = 120, shards: Int = 3, query: Bool = true, width: Int = 24) -> PruneRequest {
        var rng = SplitMix64(seed: seed)
        let x = Matrix(rows: n, cols: width, values: (0..<(n * width)).map { _ in Float(rng.next() >> 40) / Float(1 << 24) - 0.5 })
        let e = Matrix(rows: n, cols: 16, values: (0..<(n * 16)).map { _ in Float(rng.next() >> 40) / Float(1 << 24) - 0.5 })
        let q = Matrix(rows: 5, cols: 16, values: (0..<80).map { _ in Float(rng.next() >> 40) / Float(1 << 24) - 0.5 })
        let s = n / shards
        return PruneRequest(features: x, embeddings: query ? e : nil, query: query ? q : nil,
                            shards: (0..<shards).map { ($0 * s)..<($0 == shards - 1 ? n : ($0 + 1) * s) })
    }

    /// What in-process Script keeps of the request as the cluster sees it (tensors rounded to `dtype`).
    func inProcess(_ r: PruneRequest, _ k: Int, dtype: TensorCodec.WireDType = .f32,
                   options: PruneOptions = .defaults) throws -> (kept: [Int], features: Matrix) {
        var rounded = r
        rounded.features = TensorCodec.encode(r.features, dtype: dtype).matrix()
        rounded.embeddings = r.embeddings.map { TensorCodec.encode($0, dtype: dtype).matrix() }
        rounded.query = r.query.map { TensorCodec.encode($0, dtype: dtype).matrix() }
        return (try Pruner(pool: .serial).prune(rounded, budget: .count(k), options: options).indices, rounded.features)
    }
}
