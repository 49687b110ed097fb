import ScriptTransport
import ScriptWire

/// `ready`: a worker registers (or changes its credit; 0 while it drains).
public struct ReadyMessage: BackendMessage, Equatable {
    public static let type = "ready"
    public static let fields: Set<String> = ["v", "type", "worker", "credit", "data", "data_key", "threads", "blas"]

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

    public init(worker: String, credit: Int, dataEndpoint: String?, dataKey: CurveKey? = nil, threads: Int, blas: String? = nil) {
        self.worker = worker
        self.credit = credit
        self.dataEndpoint = dataEndpoint
        self.dataKey = dataKey
        self.threads = threads
        self.blas = blas
    }

    public func frames() -> [Frame] {
        var f: [(String, MessagePackValue)] = [("worker", .string(worker)), ("credit", .int(Int64(credit))), ("threads", .int(Int64(threads)))]
        if let dataEndpoint { f.append(("data", .string(dataEndpoint))) }
        if let dataKey { f.append(("data_key", .string(dataKey.z85))) }
        if let blas { f.append(("blas", .string(blas))) }
        return Self.message(f)
    }

    public static func parse(_ e: Envelope, frames: [Frame], limits: RequestLimits) throws -> ReadyMessage {
        try e.only(fields)
        let credit = try e.int("credit")
        guard (0...1024).contains(credit) else { throw ProtocolError(.badRequest, "credit \(credit) must be in 0...1024") }
        return ReadyMessage(worker: try e.string("worker"), credit: credit,
                            dataEndpoint: e.has("data") ? try e.string("data") : nil,
                            dataKey: e.has("data_key") ? try e.curveKey("data_key") : nil,
                            threads: e.has("threads") ? max(1, try e.int("threads")) : 1,
                            blas: e.has("blas") ? try blas(e) : nil)
    }

    private static func blas(_ e: Envelope) throws -> String {
        let text = try e.string("blas")
        guard text.utf8.count <= 512 else { throw ProtocolError(.badRequest, "field 'blas' is \(text.utf8.count) bytes; at most 512") }
        return text
    }
}
