import XCTest
import ScriptCore
import ScriptFormats
import ScriptTransport
import ScriptWire
@testable import ScriptProtocol

/// Every message survives its own encoding, and what a peer must not trust is refused with a
/// typed error naming the field.
final class MessageTests: XCTestCase {
    let limits = RequestLimits()

    private func matrix(_ rows: Int, _ cols: Int, seed: Int = 1) -> Matrix {
        Matrix(rows: rows, cols: cols, values: (0..<(rows * cols)).map { Float(($0 * 7 + seed * 13) % 23) / 4 - 2.5 })
    }

    private func roundTrip<M: BackendMessage>(_ m: M) throws -> M {
        let frames = m.frames()
        let (e, type) = try BackendEnvelope.open(frames)
        XCTAssertEqual(type, M.type)
        return try M.parse(e, frames: frames, limits: limits)
    }

    private func shardTask(data: Bool, weights: Bool = true) -> ShardTask {
        let f = TensorCodec.encode(matrix(6, 4), dtype: .f16)
        let e = TensorCodec.encode(matrix(6, 3, seed: 2), dtype: .f16)
        return ShardTask(job: 42, ticket: Ticket.random(), request: "r", offset: 12, rows: 6, cols: 4, dtype: .f16, embeddingCols: 3,
                         total: 30, budget: 5, options: PruneOptions(), deadlineMs: 900,
                         query: TensorCodec.encode(matrix(2, 3, seed: 3), dtype: .f16),
                         weights: weights ? [1, 2, 3, 4, 5, 6] : nil, relevance: weights ? [0, 0.2, 0.4, 0.6, 0.8, 1] : nil,
                         data: data ? ShardData(features: f, embeddings: e) : nil)
    }

    func testBackendMessagesRoundTrip() throws {
        XCTAssertEqual(try roundTrip(ReadyMessage(worker: "w", credit: 3, dataEndpoint: "tcp://h:1", threads: 2)),
                       ReadyMessage(worker: "w", credit: 3, dataEndpoint: "tcp://h:1", threads: 2))
        XCTAssertEqual(try roundTrip(ReadyMessage(worker: "w", credit: 3, dataEndpoint: nil, threads: 1, memoryBytes: 64 << 30)).memoryBytes, 64 << 30)
        XCTAssertEqual(try roundTrip(ReadyMessage(worker: "w", credit: 3, dataEndpoint: nil, threads: 1, incarnation: 7, link: 2)).link, 2)
        XCTAssertEqual(try roundTrip(ReadyMessage(worker: "w", credit: 3, dataEndpoint: nil, threads: 1, blas: "OpenBLAS 0.3.21, kernel Haswell")).blas,
                       "OpenBLAS 0.3.21, kernel Haswell")
        for data in [true, false] {
            let t = shardTask(data: data), back = try roundTrip(t)
            XCTAssertEqual(back.ticket, t.ticket)
            XCTAssertEqual([back.job, back.offset, back.rows, back.cols, back.embeddingCols, back.total, back.budget, back.deadlineMs],
                           [42, 12, 6, 4, 3, 30, 5, 900])
            XCTAssertEqual(back.weights, t.weights)
            XCTAssertEqual(back.relevance, t.relevance)
            XCTAssertEqual(back.query?.matrix(), t.query?.matrix())
            XCTAssertEqual(back.data?.features.bytes, t.data?.features.bytes)
            XCTAssertEqual(back.data?.embeddings?.bytes, t.data?.embeddings?.bytes)
        }
        let s = try roundTrip(ScoresMessage(job: 1, scores: [1, 2, 3, 4, 5, 6], rows: 3, queryTokens: 2))
        XCTAssertEqual([s.rows, s.queryTokens], [3, 2])
        XCTAssertEqual(s.scores, [1, 2, 3, 4, 5, 6])
        let w = try roundTrip(WeightsMessage(job: 2, weights: [1.5, 2], relevance: nil))
        XCTAssertEqual(w.weights, [1.5, 2])
        XCTAssertNil(w.relevance)
        let p = ShardProposal(offset: 10, indices: [10, 13], cosines: [1, 0.5, 0.5, 1], survivors: 3)
        let rows = TensorCodec.encode(matrix(2, 4), dtype: .bf16)
        let pm = try roundTrip(ProposalMessage(job: 3, p, rows: rows, computeMs: 1.5))
        XCTAssertEqual(try pm.proposal(for: 10..<14), p)
        XCTAssertEqual(pm.rows.bytes, rows.bytes)
        let reduce = ReduceTask(job: 4, request: "r", budget: 2, returnRows: true, final: false, candidateBound: 99,
                                groups: [.init(proposal: pm, weights: [1, 2]), .init(proposal: pm, weights: [3, 4])])
        let rb = try roundTrip(reduce)
        XCTAssertEqual(rb.groups.map(\.proposal.indices), [[10, 13], [10, 13]])
        XCTAssertEqual(rb.groups.map(\.weights), [[1, 2], [3, 4]])
        XCTAssertEqual([rb.candidateBound, rb.final ? 1 : 0], [99, 0])
        XCTAssertEqual(rb.groups[1].proposal.rows.bytes, rows.bytes)
        let red = try roundTrip(ReducedMessage(job: 5, indices: [10, 13], features: WireTensor(rows: 2, cols: 2, floats: [1, 2, 3, 4]), computeMs: 1))
        XCTAssertEqual(red.indices, [10, 13])
        XCTAssertEqual(red.features?.matrix().values, [1, 2, 3, 4])
        let merge = try roundTrip(MergeTask(job: 6, ticket: Ticket.random(), request: "r", rows: 6, cols: 4, dtype: .f16, kept: [0, 5],
                                            deadlineMs: 10, data: shardTask(data: true).data))
        XCTAssertEqual(merge.kept, [0, 5])
        XCTAssertEqual(try roundTrip(MergedMessage(job: 7, features: WireTensor(rows: 1, cols: 2, floats: [3, 4]))).features.matrix().values, [3, 4])
        let err = try roundTrip(ShardErrorMessage(job: 8, error: ProtocolError(.nonFinite, "row 3")))
        XCTAssertEqual(err.error, ProtocolError(.nonFinite, "row 3"))
        let tickets = [Ticket.random(), Ticket.random()]
        XCTAssertEqual(try roundTrip(ReleaseMessage(tickets: tickets)).tickets, tickets)
    }

    /// The precision of a request's cosines travels with its options, to each shard's worker and
    /// to its reduce, and a worker says which bfloat16 kernel it has; f32 is the absence of the
    /// key (a request in f32 reads as it did before there was one).
    func testSimilarityTravelsWithTheOptionsTheReduceAndTheReady() throws {
        var bf16 = PruneOptions()
        bf16.similarity = .bf16
        let m = try Envelope(OptionsCodec.encode(bf16), context: "options")
        XCTAssertEqual(try OptionsCodec.decode(m).similarity, .bf16)
        let f32 = try Envelope(OptionsCodec.encode(PruneOptions()), context: "options")
        XCTAssertFalse(f32.has("similarity"))
        XCTAssertEqual(try OptionsCodec.decode(f32).similarity, .f32)
        var t = shardTask(data: false)
        t.options = bf16
        XCTAssertEqual(try roundTrip(t).options.similarity, .bf16)
        let pm = ProposalMessage(job: 1, ShardProposal(offset: 0, indices: [0, 1], cosines: [1, 0, 0, 1], survivors: 2),
                                 rows: TensorCodec.encode(matrix(2, 3), dtype: .f32), computeMs: 0)
        let group = ReduceTask.Group(proposal: pm, weights: [1, 1])
        for precision in SimilarityPrecision.allCases {
            let r = ReduceTask(job: 4, request: "r", budget: 1, returnRows: false, final: true, candidateBound: 2, groups: [group],
                               similarity: precision)
            XCTAssertEqual(try roundTrip(r).similarity, precision)
            XCTAssertEqual(try BackendEnvelope.open(r.frames()).0.has("similarity"), precision == .bf16)
        }
        let kernel = "oneDNN 2.6.3 (libdnnl.so.2), kernel brg:avx512_core_bf16"
        XCTAssertEqual(try roundTrip(ReadyMessage(worker: "w", credit: 1, dataEndpoint: nil, threads: 1, bf16: kernel)).bf16, kernel)
        XCTAssertNil(try roundTrip(ReadyMessage(worker: "w", credit: 1, dataEndpoint: nil, threads: 1)).bf16)
    }

    /// A worker's shared-memory scope goes with its `ready` and, from the coordinator, with each
    /// placement on it; a scope that is not two numbers not below 0 is refused.
    func testTheSharedMemoryScopeTravelsWithTheReadyAndThePlacement() throws {
        let here = try XCTUnwrap(SharedMemoryScope.current)
        // Another namespace than this process's (4026531836 alone could be this host's first).
        let scope = SharedMemoryScope(pidNamespace: here.pidNamespace + 1, uid: 1000)
        XCTAssertEqual(try roundTrip(ReadyMessage(worker: "w", credit: 1, dataEndpoint: "ipc://@w", threads: 1, sharedMemory: scope)).sharedMemory, scope)
        XCTAssertNil(try roundTrip(ReadyMessage(worker: "w", credit: 1, dataEndpoint: nil, threads: 1)).sharedMemory)
        let p = Placement(id: "r", shard: 2, endpoint: "ipc://@w", ticket: Ticket.random(), sharedMemory: scope)
        guard case .placement(let back) = try ClusterReply.parse(ClusterReply.placement(p).frames()) else { return XCTFail("not a placement") }
        XCTAssertEqual(back, p)
        XCTAssertFalse(back.readsSharedMemory, "another namespace than this process's")
        XCTAssertTrue(Placement(id: "r", shard: 0, endpoint: "ipc://@w", ticket: p.ticket, sharedMemory: here).readsSharedMemory)
        XCTAssertFalse(Placement(id: "r", shard: 0, endpoint: "ipc://@w", ticket: p.ticket).readsSharedMemory, "a worker that does not say")
        for bad: MessagePackValue in [.array([.int(1)]), .array([.int(1), .int(-1)]), .string("pid:[1]")] {
            var f = try Envelope.decode(ReadyMessage(worker: "w", credit: 1, dataEndpoint: nil, threads: 1).frames()[0]).fields
            f["shared_memory"] = bad
            let frames = [Frame(Envelope.encode(f.map { ($0.key, $0.value) }.sorted { $0.0 < $1.0 }))]
            XCTAssertThrowsError(try ReadyMessage.parse(BackendEnvelope.open(frames).0, frames: frames, limits: limits)) {
                XCTAssertEqual(($0 as? ProtocolError)?.code, .badRequest, "\($0)")
            }
        }
    }

    func testHostileBackendFieldsAreRefusedByName() throws {
        func refused<M: BackendMessage>(_ type: M.Type, _ frames: [Frame], _ code: ErrorCode, _ word: String,
                                        line: UInt = #line) {
            XCTAssertThrowsError(try { let (e, _) = try BackendEnvelope.open(frames); _ = try M.parse(e, frames: frames, limits: limits) }(),
                                 line: line) { error in
                guard let p = error as? ProtocolError else { return XCTFail("\(error)", line: line) }
                XCTAssertEqual(p.code, code, p.message, line: line)
                XCTAssertTrue(p.message.contains(word), "'\(p.message)' should name \(word)", line: line)
            }
        }
        func edit(_ frames: [Frame], _ change: (inout [String: MessagePackValue]) -> Void) -> [Frame] {
            var f = try! Envelope.decode(frames[0]).fields
            change(&f)
            return [Frame(Envelope.encode(f.map { ($0.key, $0.value) }.sorted { $0.0 < $1.0 }))] + frames.dropFirst()
        }
        let task = shardTask(data: true).frames()
        refused(ShardTask.self, edit(task) { $0["ticket"] = .binary([1, 2, 3]) }, .badRequest, "ticket")
        refused(ShardTask.self, edit(task) { $0["rows"] = .int(7) }, .badShape, "expected 7")
        refused(ShardTask.self, edit(task) { $0["embedding_cols"] = .int(0) }, .badShape, "embeddings")
        refused(ShardTask.self, edit(task) { $0["offset"] = .int(28) }, .badShape, "shard")
        refused(ShardTask.self, edit(task) { $0["surprise"] = .bool(true) }, .badRequest, "surprise")
        refused(ShardTask.self, Array(task.prefix(3)), .badTensor, "frame")
        refused(ShardTask.self, edit(task) { $0["options"] = Envelope.mapValue([("theta", .float(2))]) }, .badOption, "theta")
        refused(ShardTask.self, edit(task) { $0["options"] = Envelope.mapValue([("similarity", .string("fp8"))]) }, .badOption,
                "options.similarity 'fp8' is not one of [\"f32\", \"bf16\"]")
        refused(ShardTask.self, edit(task) { $0["options"] = Envelope.mapValue([("similarity", .int(16))]) }, .badRequest, "similarity")
        refused(WeightsMessage.self, edit(WeightsMessage(job: 1, weights: [1, 2], relevance: [0, 1]).frames()) { $0["relevance"] = TensorCodec.descriptor(shape: [3], frame: 2) },
                .badTensor, "relevance")
        let pm = ProposalMessage(job: 1, ShardProposal(offset: 0, indices: [0, 1], cosines: [1, 0, 0, 1], survivors: 2),
                                 rows: TensorCodec.encode(matrix(2, 3), dtype: .f32), computeMs: 0)
        refused(ProposalMessage.self, edit(pm.frames()) { $0["indices"] = .array([.int(0)]) }, .tooLarge, "cosines")
        refused(MergeTask.self, edit(MergeTask(job: 1, ticket: Ticket.random(), request: "r", rows: 4, cols: 2, dtype: .f32, kept: [1, 3],
                                               deadlineMs: 5, data: nil).frames()) { $0["kept"] = .array([.int(3), .int(1)]) }, .badRequest, "kept")
        refused(ReadyMessage.self, edit(ReadyMessage(worker: "w", credit: 1, dataEndpoint: nil, threads: 1).frames()) { $0["credit"] = .int(-1) },
                .badRequest, "credit")
        refused(ReadyMessage.self, edit(ReadyMessage(worker: "w", credit: 1, dataEndpoint: nil, threads: 1).frames()) { $0["blas"] = .string(String(repeating: "x", count: 513)) },
                .badRequest, "must be 1 to 512 bytes, not 513")
        refused(ReadyMessage.self, edit(ReadyMessage(worker: "w", credit: 1, dataEndpoint: nil, threads: 1).frames()) { $0["link"] = .int(4096) },
                .badRequest, "link 4096 must be in 0...4095")
        refused(ReadyMessage.self, edit(ReadyMessage(worker: "w", credit: 1, dataEndpoint: nil, threads: 1).frames()) { $0["worker"] = .string("a\u{7F}") },
                .badRequest, "field 'worker' \"a\\u{7F}\" must hold no control characters")
        // An unsigned integer over 2^63 - 1 says so (it read "must be an integer, got an integer").
        refused(ReadyMessage.self, edit(ReadyMessage(worker: "w", credit: 1, dataEndpoint: nil, threads: 1).frames()) { $0["credit"] = .uint(1 << 63) },
                .badRequest, "field 'credit' must be an integer, got 9223372036854775808, more than 2^63 - 1")
        // A client's version on the backend is refused before anything is read.
        XCTAssertThrowsError(try BackendEnvelope.open([Frame(Envelope.encode(ProtocolVersion.header("ready")))])) {
            XCTAssertEqual(($0 as? ProtocolError)?.code, .unsupportedVersion)
        }
    }

    /// An envelope with a key twice is refused (a peer could otherwise smuggle a second value
    /// past a check of the first), as is a key that is not a string, at the top and nested; a
    /// field sent as nil (Python's None) reads as absent.
    func testEnvelopesRefuseRepeatedAndNonStringKeysAndReadNilAsAbsent() throws {
        func error(_ value: MessagePackValue, nested: Bool = false) -> ProtocolError? {
            do {
                let e = try Envelope.decode(MessagePack.encode(value))
                if nested { _ = try e.map("options") }
                return nil
            } catch { return error as? ProtocolError }
        }
        let twice = error(.map([(.string("v"), .int(1)), (.string("type"), .string("prune")), (.string("v"), .int(2))]))
        XCTAssertEqual(twice?.code, .badRequest)
        XCTAssertEqual(twice?.message, "field 'v' appears twice")
        let numbered = error(.map([(.string("v"), .int(1)), (.int(7), .string("x"))]))
        XCTAssertEqual(numbered, ProtocolError(.badMessage, "envelope has a key that is not a string"))
        let inner = error(.map([(.string("options"), .map([(.int(1), .float(0.5))]))]), nested: true)
        XCTAssertEqual(inner, ProtocolError(.badRequest, "options has a key that is not a string"))
        let innerTwice = error(.map([(.string("options"), .map([(.string("theta"), .float(0.5)), (.string("theta"), .float(0.9))]))]), nested: true)
        XCTAssertEqual(innerTwice, ProtocolError(.badRequest, "field 'options.theta' appears twice"))

        let e = try Envelope.decode(Envelope.encode([("budget", .nil), ("v", .int(1))]))
        XCTAssertFalse(e.has("budget"), "nil is absent")
        XCTAssertTrue(e.has("v"))
        XCTAssertFalse(e.has("shards"))
        XCTAssertThrowsError(try e.int("budget")) { XCTAssertEqual($0 as? ProtocolError, ProtocolError(.badRequest, "missing field 'budget'")) }
    }

    /// A result's indices must be ascending token indices below its `n` (a reply from a buggy or
    /// hostile coordinator is an error, not a selection).
    func testResultIndicesAreCheckedAgainstTheirTokenCount() throws {
        func reply(_ indices: [Int], n: Int) -> [Frame] {
            ClusterReply.result(ClusterResult(id: "r", indices: indices, budget: indices.count, tokenCount: n, shardCount: 1,
                                              workers: ["w"], timings: [], features: nil)).frames()
        }
        guard case .result(let r) = try ClusterReply.parse(reply([0, 3, 9], n: 10)) else { return XCTFail() }
        XCTAssertEqual(r.indices, [0, 3, 9])
        for (indices, n) in [([0, 10], 10), ([-1, 2], 10), ([3, 3], 10), ([4, 2], 10)] {
            XCTAssertThrowsError(try ClusterReply.parse(reply(indices, n: n)), "\(indices)") {
                XCTAssertEqual(($0 as? ProtocolError)?.code, .badMessage)
            }
        }
    }

    /// A result's timings are numbers: an integer reads as one, anything else is an error naming
    /// the field (as the Python client has it), not a timing of 0.
    func testResultTimingsMustBeNumbers() throws {
        func reply(_ timing: MessagePackValue) -> [Frame] {
            var f = ProtocolVersion.header("result", id: "r")
            f += [("indices", .ints([1])), ("budget", .int(1)), ("n", .int(4)), ("shards", .int(1)),
                  ("workers", .array([.string("w")])), ("timings_ms", Envelope.mapValue([("total", timing)]))]
            return [Frame(Envelope.encode(f))]
        }
        guard case .result(let r) = try ClusterReply.parse(reply(.int(7))) else { return XCTFail() }
        XCTAssertEqual(r.timings.map(\.1), [7])
        for bad: MessagePackValue in [.string("7"), .bool(true), .nil, .array([])] {
            XCTAssertThrowsError(try ClusterReply.parse(reply(bad)), "\(bad)") {
                XCTAssertEqual($0 as? ProtocolError, ProtocolError(.badMessage, "result field 'timings_ms' holds a value that is not a number (total)"))
            }
        }
    }

    func testSubmissionsParseAsTheyWereBuiltInlineAndDirect() throws {
        let req = PruneRequest(features: matrix(10, 4), embeddings: matrix(10, 3, seed: 5), query: matrix(2, 3, seed: 6),
                               shards: [0..<4, 4..<10])
        for transfer in Transfer.allCases {
            for dtype in [TensorCodec.WireDType.f32, .f16, .bf16] {
                let enc = PruneSubmission(id: "s", request: req, budget: .ratio(0.5), returnMode: .merged, deadlineMs: 700,
                                          dtype: dtype, transfer: transfer).encoded()
                let frames = enc.frames()
                let sub = try ReceivedSubmission.parse(try Envelope.decode(frames[0]), frames: frames, limits: limits)
                XCTAssertEqual(sub.transfer, transfer)
                XCTAssertEqual(sub.shards, [0..<4, 4..<10])
                XCTAssertEqual(sub.budget, 5)
                XCTAssertEqual(sub.returnMode, .merged)
                XCTAssertEqual(sub.deadlineMs, 700)
                XCTAssertEqual([sub.features.rows, sub.features.cols, sub.embeddings?.cols ?? 0], [10, 4, 3])
                XCTAssertEqual(sub.features.dtype, dtype)
                XCTAssertEqual(sub.query?.matrix(), enc.query?.matrix())
                XCTAssertEqual(transfer == .inline, sub.features.inline != nil, "bytes inline only for inline transfers")
                // A direct transfer's shard bytes are the same slice an inline one forwards.
                let data = enc.data(shard: 1, ticket: Ticket.random())!
                XCTAssertEqual(data.data.features.matrix(), enc.features.matrix().rows(4..<10))
                if let inline = sub.data(shard: 1) { XCTAssertEqual(inline.features.bytes, data.data.features.bytes) }
                XCTAssertNil(enc.data(shard: 2, ticket: Ticket.random()))
            }
        }
    }

    func testRenamedSubmissionsShareTheirTensorBytes() throws {
        let enc = PruneSubmission(id: "a", request: PruneRequest(features: matrix(8, 70_000 / 8)), budget: .count(3)).encoded()
        let b = enc.renamed("b")
        XCTAssertEqual(try Envelope.decode(b.frames()[0]).string("id"), "b")
        XCTAssertEqual(b.frames()[1], enc.frames()[1])
        XCTAssertEqual(b.messageBytes.largestFrame, 8 * (70_000 / 8) * 4)
    }

    func testBFloat16RoundsToNearestEven() {
        XCTAssertEqual(HalfPrecision.bfloat16Bits(from: 1.0), 0x3F80)
        XCTAssertEqual(HalfPrecision.bfloat16Bits(from: Float(bitPattern: 0x3F80_8000)), 0x3F80, "tie to even (down)")
        XCTAssertEqual(HalfPrecision.bfloat16Bits(from: Float(bitPattern: 0x3F81_8000)), 0x3F82, "tie to even (up)")
        XCTAssertEqual(HalfPrecision.bfloat16Bits(from: Float(bitPattern: 0x3F80_8001)), 0x3F81)
        XCTAssertEqual(HalfPrecision.bfloat16Bits(from: .infinity), 0x7F80)
        XCTAssertTrue(Float(bitPattern: UInt32(HalfPrecision.bfloat16Bits(from: .nan)) << 16).isNaN)
        // A NaN whose payload sits only in the low 16 bits stays NaN (cut short, it would read as infinity).
        for bits: UInt32 in [0x7F80_0001, 0xFF80_4000] {
            XCTAssertTrue(HalfPrecision.float(fromBFloat16Bits: HalfPrecision.bfloat16Bits(from: Float(bitPattern: bits))).isNaN)
        }
    }
}
