import ScriptTransport
import ScriptWire

/// `release`: bytes filed under these tickets are no longer needed (coordinator to worker): the
/// request they belong to is answered, failed, or its jobs moved elsewhere.
public struct ReleaseMessage: BackendMessage {
    public static let type = "release"
    public static let fields: Set<String> = ["v", "type", "tickets"]

    public var tickets: [Ticket]

    public init(tickets: [Ticket]) { self.tickets = tickets }

    public func frames() -> [Frame] {
        Self.message([("tickets", .array(tickets.map { .binary($0.bytes) }))])
    }

    public static func parse(_ e: Envelope, frames: [Frame], limits: RequestLimits) throws -> ReleaseMessage {
        try e.only(fields)
        let tickets = try e.array("tickets").enumerated().map { i, v -> Ticket in
            guard case .binary(let b) = v, b.count == 16 else { throw ProtocolError(.badRequest, "tickets[\(i)] is not a 16-byte ticket") }
            return Ticket(bytes: b)
        }
        return ReleaseMessage(tickets: tickets)
    }
}
