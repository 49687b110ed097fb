import ScriptTransport
import ScriptWire

/// `cancel`: a client gives a request up (client to coordinator, no reply). The coordinator stops
/// answering that client for the request, and when no client waits for it any more ends it at
/// once: its jobs dropped and its workers told to let go of its bytes, not at its deadline.
public struct CancelMessage: Sendable, Equatable {
    public static let type = "cancel"
    public static let fields: Set<String> = ["v", "type", "id"]

    /// The id of the request given up.
    public var id: String

    public init(id: String) { self.id = id }

    /// The frames after the delimiter.
    public func frames() -> [Frame] {
        [Frame(Envelope.encode(ProtocolVersion.header(Self.type, id: id)))]
    }

    public static func parse(_ e: Envelope) throws -> CancelMessage {
        try e.only(fields)
        return CancelMessage(id: try e.string("id"))
    }
}
