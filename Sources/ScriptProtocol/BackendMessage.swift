import ScriptTransport
import ScriptWire

/// A coordinator-worker message (protocol version 2): built into frames by one side, parsed
/// (every field checked) by the other.
public protocol BackendMessage: Sendable {
    /// The message's `type`.
    static var type: String { get }
    /// Every key the envelope may hold.
    static var fields: Set<String> { get }
    /// The message: envelope first, then tensor frames.
    func frames() -> [Frame]
    /// Reads a message of this type; `e` has been decoded from `frames[0]` and its version checked.
    static func parse(_ e: Envelope, frames: [Frame], limits: RequestLimits) throws -> Self
}

extension BackendMessage {
    /// The envelope's first fields.
    static func header() -> [(String, MessagePackValue)] { ProtocolVersion.header(type, version: ProtocolVersion.backend) }

    /// Envelope and frames from fields and tensor frames.
    static func message(_ fields: [(String, MessagePackValue)], _ tensors: [Frame] = []) -> [Frame] {
        [Frame(Envelope.encode(header() + fields))] + tensors
    }
}

/// The first frame of a backend message: version checked, type read.
public enum BackendEnvelope {
    public static func open(_ frames: [Frame]) throws -> (envelope: Envelope, type: String) {
        guard let first = frames.first else { throw ProtocolError(.badMessage, "empty message") }
        let e = try Envelope.decode(first)
        return (e, try ProtocolVersion.check(e, version: ProtocolVersion.backend))
    }

    /// The `v` of a message that failed the version check (nil when it has none).
    public static func version(_ frames: [Frame]) -> Int? {
        guard let first = frames.first, let e = try? Envelope.decode(first) else { return nil }
        return try? e.int("v")
    }

    /// What a coordinator answers a worker of another protocol version: `refused`, in this
    /// version, with a message; the worker cannot read it as a message of its own, but its `v`
    /// tells it what the coordinator speaks.
    public static func refusal(_ message: String) -> [Frame] {
        [Frame(Envelope.encode(ProtocolVersion.header("refused", version: ProtocolVersion.backend) + [("message", .string(message))]))]
    }

    /// A message with no fields but its type (`heartbeat`, `disconnect`).
    public static func bare(_ type: String) -> [Frame] {
        [Frame(Envelope.encode(ProtocolVersion.header(type, version: ProtocolVersion.backend)))]
    }
}

extension Envelope {
    func int64(_ v: Int) -> MessagePackValue { .int(Int64(v)) }
}

extension MessagePackValue {
    static func ints(_ values: [Int]) -> MessagePackValue { .array(values.map { .int(Int64($0)) }) }
}
