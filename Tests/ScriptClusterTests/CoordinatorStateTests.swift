import XCTest
import ScriptTransport
import ScriptCore
import ScriptWire
@testable import ScriptProtocol
@testable import ScriptCoordinator
@testable import ScriptWorker
@testable import ScriptClient

/// The coordinator's logic driven directly, with the test playing the workers and the compute
/// queue: no sockets, no threads, time passed by hand.
final class CoordinatorStateTests: XCTestCase {
    var clock = ContinuousClock().now
    let client: [UInt8] = [1, 2, 3]

    private func request(seed: UInt64, n: Int = 120, shards: Int = 3) -> PruneRequest {
        var rng = SplitMix64(seed: seed)
        let x = Matrix(rows: n, cols: 24, values: (0..<(n * 24)).map { _ in Float(rng.next() >> 40) / Float(1 << 24) - 0.5 })
        let q = Matrix(rows: 3, cols: 24, values: (0..<72).map { _ in Float(rng.next() >> 40) / Float(1 << 24) - 0.5 })
        let s = n / shards
        return PruneRequest(features: x, query: q, shards: (0..<shards).map { ($0 * s)..<($0 == shards - 1 ? n : ($0 + 1) * s) })
    }

    private func ready(_ state: CoordinatorState, _ id: [UInt8], credit: Int = 2) -> [CoordinatorState.Action] {
        state.workerMessage(identity: id, frames: [Envelope.encode(ProtocolVersion.header("ready") + [("worker", .string("w\(id[0])")), ("credit", .int(Int64(credit)))])], now: clock)
    }

    /// Runs compute actions the way the shell would, returning the remaining actions.
    private func runCompute(_ state: CoordinatorState, _ actions: [CoordinatorState.Action]) -> [CoordinatorState.Action] {
        var out: [CoordinatorState.Action] = []
        for a in actions {
            switch a {
            case .prepare(let key, let envelope, let frames):
                let r: Result<PreparedRequest, ProtocolError>
                do { r = .success(try PreparedRequest.make(try ReceivedSubmission.parse(envelope, frames: frames, limits: RequestLimits()), pool: .serial)) }
                catch let e as ProtocolError { r = .failure(e) } catch { r = .failure(ProtocolError(.internal, "\(error)")) }
                out += runCompute(state, state.prepared(key: key, r, now: clock))
            case .absorb(let p, let proposal):
                p.absorb(proposal, pool: .serial)
            case .finish(let key, let p, let proposals, let workers, let s, let rms):
                out += state.finished(key: key, p.finish(proposals: proposals, workers: workers, shardsMs: s, receivedMs: rms, pool: .serial))
            default:
                out.append(a)
            }
        }
        return out
    }

    private func shards(_ actions: [CoordinatorState.Action]) -> [(worker: [UInt8], frames: [[UInt8]])] {
        actions.compactMap {
            guard case .toWorker(let id, let slices) = $0 else { return nil }
            let f = slices.map(\.bytes)
            return (try? Envelope.decode(f[0]).string("type")) == "shard" ? (id, f) : nil
        }
    }

    private func replies(_ actions: [CoordinatorState.Action]) -> [ClusterReply] {
        actions.compactMap { if case .toClient(_, let f) = $0 { return try? ClusterReply.parse(f) } else { return nil } }
    }

    /// A worker's answer to a shard message, computed as a real worker would.
    private func answer(_ frames: [[UInt8]]) throws -> [[UInt8]] {
        let e = try Envelope.decode(frames[0])
        let (job, shard, inverseNorms) = try ShardMessage.parse(e, frames: frames.map(Frame.init), limits: RequestLimits())
        return ProposalMessage.frames(job: job, ScriptPruning.propose(shard, inverseNorms: inverseNorms, pool: .serial), computeMs: 1)
    }

    func testShardsGoToWorkersAndTheAnswerMatchesInProcess() throws {
        let state = CoordinatorState(config: CoordinatorConfiguration())
        _ = ready(state, [10]); _ = ready(state, [11])
        let req = request(seed: 1)
        let sub = PruneSubmission(id: "r1", request: req, budget: .count(12))
        var actions = runCompute(state, state.clientMessage(route: client, frames: [[]] + sub.frames(), now: clock))
        var sent = shards(actions)
        XCTAssertEqual(sent.count, 3, "three shards, credit 2 each")
        XCTAssertEqual(Set(sent.map(\.worker)).count, 2, "spread over both workers")
        actions = []
        for s in sent { actions += runCompute(state, state.workerMessage(identity: s.worker, frames: try answer(s.frames), now: clock)) }
        sent = shards(actions)
        XCTAssertTrue(sent.isEmpty)
        guard case .result(let r)? = replies(actions).first else { return XCTFail("no result: \(actions)") }
        XCTAssertEqual(r.indices, try Pruner(pool: .serial).prune(req, budget: .count(12)).indices)
        XCTAssertEqual(state.requestsInFlight, 0)
        // A retry of the same id is answered from the cache.
        let again = replies(state.clientMessage(route: [9], frames: [[]] + sub.frames(), now: clock))
        guard case .result(let r2)? = again.first else { return XCTFail() }
        XCTAssertEqual(r2.indices, r.indices)
    }

    func testDeadWorkersShardsAreRequeuedToAnother() throws {
        var config = CoordinatorConfiguration()
        config.heartbeatMs = 100
        let state = CoordinatorState(config: config)
        _ = ready(state, [10], credit: 3)
        let req = request(seed: 2)
        let sub = PruneSubmission(id: "r2", request: req, budget: .count(10))
        let first = shards(runCompute(state, state.clientMessage(route: client, frames: [[]] + sub.frames(), now: clock)))
        XCTAssertEqual(first.count, 3)
        // Worker 10 answers one shard, then goes silent; worker 11 arrives.
        _ = runCompute(state, state.workerMessage(identity: [10], frames: try answer(first[0].frames), now: clock))
        _ = ready(state, [11], credit: 3)
        clock += .milliseconds(350)
        _ = state.workerMessage(identity: [11], frames: [Envelope.encode(ProtocolVersion.header("heartbeat"))], now: clock)
        let requeued = shards(state.tick(now: clock))
        XCTAssertEqual(requeued.count, 2)
        XCTAssertTrue(requeued.allSatisfy { $0.worker == [11] })
        var actions: [CoordinatorState.Action] = []
        for s in requeued { actions += runCompute(state, state.workerMessage(identity: [11], frames: try answer(s.frames), now: clock)) }
        guard case .result(let r)? = replies(actions).first else { return XCTFail("no result") }
        XCTAssertEqual(r.indices, try Pruner(pool: .serial).prune(req, budget: .count(10)).indices)
        // The dead worker's late answer is ignored.
        XCTAssertTrue(replies(state.workerMessage(identity: [10], frames: try answer(first[1].frames), now: clock)).isEmpty)
    }

    func testNoWorkerMeansTimeoutAtTheDeadline() throws {
        let state = CoordinatorState(config: CoordinatorConfiguration())
        let sub = PruneSubmission(id: "r3", request: request(seed: 3), budget: .count(5), deadlineMs: 500)
        XCTAssertTrue(shards(runCompute(state, state.clientMessage(route: client, frames: [[]] + sub.frames(), now: clock))).isEmpty)
        XCTAssertTrue(replies(state.tick(now: clock + .milliseconds(400))).isEmpty)
        guard case .error(let id, let e)? = replies(state.tick(now: clock + .milliseconds(501))).first else { return XCTFail() }
        XCTAssertEqual(id, "r3")
        XCTAssertEqual(e.code, .timeout)
    }

    func testBusyBeyondTheQueue() throws {
        var config = CoordinatorConfiguration()
        config.maxRequests = 2
        let state = CoordinatorState(config: config)
        for i in 0..<2 {
            _ = runCompute(state, state.clientMessage(route: client, frames: [[]] + PruneSubmission(id: "q\(i)", request: request(seed: 4), budget: .count(5)).frames(), now: clock))
        }
        let r = replies(state.clientMessage(route: client, frames: [[]] + PruneSubmission(id: "q2", request: request(seed: 4), budget: .count(5)).frames(), now: clock))
        guard case .error(_, let e)? = r.first else { return XCTFail() }
        XCTAssertEqual(e.code, .busy)
    }

    func testDrainingRefusesNewWorkAndFinishesOld() throws {
        let state = CoordinatorState(config: CoordinatorConfiguration())
        _ = ready(state, [10], credit: 4)
        let sent = shards(runCompute(state, state.clientMessage(route: client, frames: [[]] + PruneSubmission(id: "d1", request: request(seed: 5), budget: .count(6)).frames(), now: clock)))
        _ = state.beginDrain()
        guard case .error(_, let e)? = replies(state.clientMessage(route: client, frames: [[]] + PruneSubmission(id: "d2", request: request(seed: 5), budget: .count(6)).frames(), now: clock)).first else { return XCTFail() }
        XCTAssertEqual(e.code, .shuttingDown)
        XCTAssertFalse(state.isDrained)
        var actions: [CoordinatorState.Action] = []
        for s in sent { actions += runCompute(state, state.workerMessage(identity: [10], frames: try answer(s.frames), now: clock)) }
        XCTAssertEqual(replies(actions).count, 1)
        XCTAssertTrue(state.isDrained)
    }

    func testHostileClientMessagesGetTypedErrors() throws {
        let state = CoordinatorState(config: CoordinatorConfiguration())
        let valid = PruneSubmission(id: "h", request: request(seed: 6), budget: .count(5)).frames()
        func code(_ frames: [[UInt8]]) -> ErrorCode? {
            let r = replies(runCompute(state, state.clientMessage(route: client, frames: frames, now: clock)))
            if case .error(_, let e)? = r.first { return e.code }
            return nil
        }
        func envelope(_ edit: (inout [(String, MessagePackValue)]) -> Void) -> [[UInt8]] {
            var e = try! Envelope.decode(valid[0]).fields.map { ($0.key, $0.value) }.sorted { $0.0 < $1.0 }
            edit(&e)
            return [[]] + [Envelope.encode(e)] + Array(valid.dropFirst())
        }
        XCTAssertEqual(code([[0x93, 0x01]]), .badMessage, "no delimiter")
        XCTAssertEqual(code([[], [0xC1]]), .badMessage, "reserved byte")
        XCTAssertEqual(code([[], Array(valid[0].prefix(7))]), .badMessage, "truncated envelope")
        XCTAssertEqual(code([[], MessagePack.encode(.array([.int(1)]))]), .badMessage, "not a map")
        XCTAssertEqual(code(envelope { $0 = $0.map { $0.0 == "v" ? ("v", .int(2)) : $0 } }), .unsupportedVersion)
        XCTAssertEqual(code(envelope { $0 = $0.map { $0.0 == "type" ? ("type", .string("explode")) : $0 } }), .unknownType)
        XCTAssertEqual(code(envelope { $0.append(("colour", .string("red"))) }), .badRequest, "unknown field")
        XCTAssertEqual(code(envelope { $0 = $0.map { $0.0 == "budget" ? ("budget", .int(0)) : $0 } }), .badBudget)
        XCTAssertEqual(code(envelope { $0 = $0.map { $0.0 == "budget" ? ("budget", .float(1.5)) : $0 } }), .badBudget)
        XCTAssertEqual(code(envelope { $0 = $0.map { $0.0 == "budget" ? ("budget", .string("many")) : $0 } }), .badRequest)
        XCTAssertEqual(code(envelope { $0 = $0.map { $0.0 == "shards" ? ("shards", .array([.array([.int(0), .int(50)]), .array([.int(40), .int(120)])])) : $0 } }), .badShards)
        XCTAssertEqual(code(envelope { $0 = $0.map { $0.0 == "features" ? ("features", TensorCodec.descriptor(shape: [121, 24], frame: 1)) : $0 } }), .badTensor, "shape disagrees with bytes")
        XCTAssertEqual(code(envelope { $0 = $0.map { $0.0 == "features" ? ("features", TensorCodec.descriptor(shape: [1 << 40, 1 << 30], frame: 1)) : $0 } }), .tooLarge)
        XCTAssertEqual(code(envelope { $0 = $0.map { $0.0 == "features" ? ("features", TensorCodec.descriptor(shape: [120, 24], frame: 9)) : $0 } }), .badTensor, "missing frame")
        var nan = valid
        nan[1].replaceSubrange(40..<44, with: [0, 0, 0xC0, 0x7F])
        XCTAssertEqual(code([[]] + nan), .nonFinite)
        XCTAssertEqual(code(envelope { $0 = $0.map { $0.0 == "options" ? ("options", Envelope.mapValue([("theta", .float(1))])) : $0 } }), .badOption)
        XCTAssertEqual(code(envelope { $0 = $0.map { $0.0 == "query" ? ("query", TensorCodec.descriptor(shape: [288, 10], frame: 1)) : $0 } }), .badShape, "query width differs from the features' width")
        // And a valid request still goes through afterwards.
        XCTAssertNil(code([[]] + valid))
        XCTAssertEqual(state.requestsInFlight, 1)
    }
}
