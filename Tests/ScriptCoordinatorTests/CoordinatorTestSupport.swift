import XCTest
import ScriptCore
import ScriptProtocol
import ScriptService
import ScriptWire
@testable import ScriptCoordinator
import ScriptWorker

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

    /// A cluster in memory whose coordinator beats every `coordinatorMs` and whose workers every
    /// `workerMs` (the same, unless given), `coordinators` of them sharing the workers, each
    /// failing a job moved more than `maxRequeues` times (its default, unless given).
    func beatingCluster(coordinatorMs: Int, workerMs: Int? = nil, coordinators: Int = 1, maxRequeues: Int? = nil,
                        workerConfig: WorkerConfiguration = WorkerConfiguration()) -> InMemoryCluster {
        var config = CoordinatorConfiguration()
        config.heartbeatMs = coordinatorMs
        if let maxRequeues { config.maxRequeues = maxRequeues }
        var wc = workerConfig
        wc.heartbeatMs = workerMs ?? coordinatorMs
        return InMemoryCluster(config: config, workerConfig: wc, coordinators: coordinators)
    }

    /// Workers reporting shard compute times of `paces` (ms for a shard of 40 tokens), holding
    /// at most `memory` bytes where given, and saying they have the bfloat16 kernel `bf16` where given.
    func pacedCluster(_ paces: [[UInt8]: Double], memory: [[UInt8]: Int] = [:], bf16: [[UInt8]: String] = [:],
                      workerConfig: WorkerConfiguration = WorkerConfiguration()) throws -> InMemoryCluster {
        let c = InMemoryCluster(workerConfig: workerConfig)
        for id in paces.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) { c.addWorker(id, credit: 2, memory: memory[id], bf16: bf16[id]) }
        c.tamper = { id, frames in
            guard let (e, type) = try? BackendEnvelope.open(frames), type == ProposalMessage.type,
                  var m = try? ProposalMessage.parse(e, frames: frames, limits: RequestLimits()) else { return [(id, frames)] }
            m.computeMs = paces[id]!
            return [(id, m.frames())]
        }
        // Each worker proposes a shard of 40 tokens, and so has a pace (one shard each: none
        // waits behind another, so none is copied).
        for i in 0..<2 {
            let req = request(seed: 60 + UInt64(i), n: 40 * paces.count, shards: paces.count)
            c.submit(PruneSubmission(id: "warm\(i)", request: req, budget: .count(8)).encoded())
        }
        for id in paces.keys { XCTAssertGreaterThan(c.jobsByWorker[id, default: []].filter { $0.kind == .shard }.count, 0) }
        return c
    }
}
