import ScriptTransport
import ScriptWire

/// `ready`: a worker registers (or changes its credit; 0 while it drains).
public struct ReadyMessage: BackendMessage, Equatable {
    public static let type = "ready"
    public static let fields: Set<String> = ["v", "type", "worker", "credit", "data", "data_key", "threads", "blas", "incarnation", "link", "beat_ms", "memory_bytes",
                                               "bf16", "shared_memory"]

    /// A name for logs and replies.
    public var worker: String
    /// Jobs waiting for their first step the worker takes at once.
    public var credit: Int
    /// Where clients send shard bytes directly (`DataMessage`); nil: inline transfers only.
    public var dataEndpoint: String?
    /// The data socket's CurveZMQ public key, when it speaks CURVE (told to clients with their
    /// placements, so they can reach it encrypted).
    public var dataKey: CurveKey?
    /// Compute threads.
    public var threads: Int
    /// Its BLAS library's build and kernels (`BLAS.kernel`): workers that say the same compute
    /// the same bits. Nil from a worker that does not say.
    public var blas: String?
    /// A number the worker process drew when it started: a `ready` with a registered worker's
    /// name and data endpoint and another incarnation is that worker restarted. Nil from a
    /// worker that does not say.
    public var incarnation: Int?
    /// Which of the worker's coordinator endpoints (its place in `--connect`) this connection
    /// serves: a `ready` with a registered worker's name, data endpoint, incarnation and link
    /// from another connection is that link connected again (its connection was reset, or made
    /// afresh), where another link is this coordinator named twice. Nil from a worker that does
    /// not say.
    public var link: Int?
    /// Milliseconds between its heartbeats when it sends nothing else: the coordinator judges its
    /// silence by the slower of this and its own interval. Nil from a worker that does not say.
    public var beatMs: Int?
    /// Bytes the worker may hold (its `MemoryLimit`): the coordinator gives it no shard it would
    /// refuse as too large for them. Nil from a worker that does not say.
    public var memoryBytes: Int?
    /// Its bfloat16 products' library and kernel (`BFloat16Products.description`), when it can
    /// compute them: only such workers are sent the jobs of a request in `similarity` bf16, and
    /// those that say the same compute the same bits. Nil from a worker that cannot, or does not say.
    public var bf16: String?
    /// Whose shared memory it reads in place (`SharedMemoryScope`), where its data socket is a
    /// Unix socket: told to clients with their placements, so that only those it can read name
    /// their tensors there. Nil: it reads none (or does not say), and is sent the bytes.
    public var sharedMemory: SharedMemoryScope?

    public init(worker: String, credit: Int, dataEndpoint: String?, dataKey: CurveKey? = nil, threads: Int, blas: String? = nil,
                incarnation: Int? = nil, link: Int? = nil, beatMs: Int? = nil, memoryBytes: Int? = nil,
                bf16: String? = nil, sharedMemory: SharedMemoryScope? = nil) {
        self.worker = worker
        self.credit = credit
        self.dataEndpoint = dataEndpoint
        self.dataKey = dataKey
        self.threads = threads
        self.blas = blas
        self.incarnation = incarnation
        self.link = link
        self.beatMs = beatMs
        self.memoryBytes = memoryBytes
        self.bf16 = bf16
        self.sharedMemory = sharedMemory
    }

    public func frames() -> [Frame] {
        var f: [(String, MessagePackValue)] = [("worker", .string(worker)), ("credit", .int(Int64(credit))), ("threads", .int(Int64(threads)))]
        if let dataEndpoint { f.append(("data", .string(dataEndpoint))) }
        if let dataKey { f.append(("data_key", .string(dataKey.z85))) }
        if let blas { f.append(("blas", .string(blas))) }
        if let incarnation { f.append(("incarnation", .int(Int64(incarnation)))) }
        if let link { f.append(("link", .int(Int64(link)))) }
        if let beatMs { f.append(("beat_ms", .int(Int64(beatMs)))) }
        if let memoryBytes { f.append(("memory_bytes", .int(Int64(memoryBytes)))) }
        if let bf16 { f.append(("bf16", .string(bf16))) }
        if let sharedMemory { f.append(("shared_memory", sharedMemory.value)) }
        return Self.message(f)
    }

    /// Fields a later release adds are ignored (only this message's: it says what a worker is,
    /// and refusing it would keep a worker upgraded before its coordinator out until that one
    /// is upgraded too, as a rolling update does); those it has are checked.
    public static func parse(_ e: Envelope, frames: [Frame], limits: RequestLimits) throws -> ReadyMessage {
        let credit = try e.int("credit")
        guard (0...1024).contains(credit) else { throw ProtocolError(.badRequest, "credit \(credit) must be in 0...1024") }
        let beatMs = e.has("beat_ms") ? try e.int("beat_ms") : nil
        if let beatMs, !(1...3_600_000).contains(beatMs) { throw ProtocolError(.badRequest, "beat_ms \(beatMs) must be in 1...3600000") }
        let link = e.has("link") ? try e.int("link") : nil
        if let link, !(0...4095).contains(link) { throw ProtocolError(.badRequest, "link \(link) must be in 0...4095") }
        let memoryBytes = e.has("memory_bytes") ? try e.int("memory_bytes") : nil
        if let memoryBytes, memoryBytes < 1 { throw ProtocolError(.badRequest, "memory_bytes \(memoryBytes) must be at least 1") }
        return ReadyMessage(worker: try text(e, "worker", upTo: maxNameBytes), credit: credit,
                            dataEndpoint: e.has("data") ? try text(e, "data", upTo: 1024) : nil,
                            dataKey: e.has("data_key") ? try e.curveKey("data_key") : nil,
                            threads: e.has("threads") ? max(1, try e.int("threads")) : 1,
                            blas: e.has("blas") ? try text(e, "blas", upTo: 512) : nil,
                            incarnation: e.has("incarnation") ? try e.int("incarnation") : nil, link: link, beatMs: beatMs,
                            memoryBytes: memoryBytes, bf16: e.has("bf16") ? try text(e, "bf16", upTo: 512) : nil,
                            sharedMemory: e.has("shared_memory") ? try SharedMemoryScope(e, "shared_memory") : nil)
    }

    /// The longest worker name, in bytes.
    public static let maxNameBytes = 128

    /// What is wrong with `text` as a field a worker reports (its name, its data endpoint, its
    /// BLAS and bfloat16 kernels), which reach logs and clients: nil when it is 1 to `limit` bytes with no control
    /// character.
    public static func problem(with text: String, upTo limit: Int) -> String? {
        if text.isEmpty || text.utf8.count > limit { return "must be 1 to \(limit) bytes, not \(text.utf8.count)" }
        if text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) { return "must hold no control characters" }
        return nil
    }

    private static func text(_ e: Envelope, _ key: String, upTo limit: Int) throws -> String {
        let text = try e.string(key)
        if let problem = problem(with: text, upTo: limit) {
            throw ProtocolError(.badRequest, "field '\(key)' \(String(text.prefix(80)).debugDescription)\(text.count > 80 ? "..." : "") \(problem)")
        }
        return text
    }
}
