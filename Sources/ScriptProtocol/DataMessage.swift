import ScriptTransport
import ScriptWire

/// `data`: a shard's bytes sent by a client straight to the worker a `placement` named
/// (direct transfer), filed there under the placement's ticket. Framed like client messages:
/// `[empty, envelope, tensor frames...]`.
public struct DataMessage: Sendable {
    public static let fields: Set<String> = ["v", "type", "ticket", "features", "embeddings"]

    public var ticket: Ticket
    public var data: ShardData

    public init(ticket: Ticket, data: ShardData) {
        self.ticket = ticket
        self.data = data
    }

    /// The frames after the delimiter.
    public func frames() -> [Frame] {
        let (tensorFields, tensorFrames) = data.fields(firstFrame: 1)
        let header = ProtocolVersion.header("data") + [("ticket", .binary(ticket.bytes))] + tensorFields
        return [Frame(Envelope.encode(header))] + tensorFrames
    }

    /// Parses a `data` message (frames after the delimiter).
    public static func parse(_ e: Envelope, frames: [Frame], limits: RequestLimits) throws -> DataMessage {
        try e.only(fields)
        let ticket = try e.ticket("ticket")
        guard let data = try ShardData.read(e, frames: frames, limits: limits) else {
            throw ProtocolError(.badRequest, "missing field 'features'")
        }
        return DataMessage(ticket: ticket, data: data)
    }
}
