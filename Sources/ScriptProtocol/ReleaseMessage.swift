import ScriptTransport
import ScriptWire

/// `release` (coordinator to worker): a request is over (answered, failed or cancelled). The bytes
/// filed under its `tickets` are dropped, and so are its `jobs` (by number; and those under its
/// tickets) that the worker holds and has not started.
public struct ReleaseMessage: BackendMessage {
    public static let type = "release"
    public static let fields: Set<String> = ["v", "type", "tickets", "jobs"]

    public var tickets: [Ticket]
    /// The request's jobs this worker holds (a reduce has no ticket).
    public var jobs: [Int]

    public init(tickets: [Ticket], jobs: [Int] = []) {
        self.tickets = tickets
        self.jobs = jobs
    }

    public func frames() -> [Frame] {
        Self.message([("tickets", .array(tickets.map { .binary($0.bytes) })), ("jobs", .ints(jobs))])
    }

    public static func parse(_ e: Envelope, frames: [Frame], limits: RequestLimits) throws -> ReleaseMessage {
        try e.only(fields)
        let tickets = try e.array("tickets").enumerated().map { i, v -> Ticket in
            guard case .binary(let b) = v, b.count == 16 else { throw ProtocolError(.badRequest, "tickets[\(i)] is not a 16-byte ticket") }
            return Ticket(bytes: b)
        }
        return ReleaseMessage(tickets: tickets, jobs: e.has("jobs") ? try e.intArray("jobs") : [])
    }
}
