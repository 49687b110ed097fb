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

    /// The frames after the delimiter; with `sharing` (a worker that reads this process's shared
    /// memory: `Placement.readsSharedMemory`), tensors whose bytes lie in shared memory are named
    /// there, not sent.
    public func frames(sharing: Bool = false) -> [Frame] {
        let (tensorFields, tensorFrames) = data.fields(firstFrame: 1, sharing: sharing)
        let header = ProtocolVersion.header("data") + [("ticket", .binary(ticket.bytes))] + tensorFields
        return [Frame(Envelope.encode(header))] + tensorFrames
    }

    /// Parses a `data` message (frames after the delimiter); `shared` reads tensors named in a
    /// client's shared memory (nil: refused).
    public static func parse(_ e: Envelope, frames: [Frame], limits: RequestLimits,
                             shared: TensorCodec.SharedBytes? = nil) throws -> DataMessage {
        try e.only(fields)
        let ticket = try e.ticket("ticket")
        guard let data = try ShardData.read(e, frames: frames, limits: limits, shared: shared) else {
            throw ProtocolError(.badRequest, "missing field 'features'")
        }
        return DataMessage(ticket: ticket, data: data)
    }
}
