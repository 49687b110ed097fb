#if canImport(Glibc)
import Glibc
#endif

/// Names one placement of a shard's bytes on a worker: the worker files the bytes it gets
/// (from the coordinator, or straight from the client) under the ticket, and finds them there
/// when a job names it. Sixteen random bytes, so a peer cannot guess another request's ticket.
public struct Ticket: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// A fresh random ticket.
    public static func random() -> Ticket {
        var g = SystemRandomNumberGenerator()
        return Ticket(bytes: (0..<16).map { _ in UInt8.random(in: 0...255, using: &g) })
    }

    public var description: String { bytes.prefix(4).map { String($0, radix: 16) }.joined() }
}

extension Envelope {
    /// A ticket field: binary of 16 bytes.
    public func ticket(_ key: String) throws -> Ticket {
        guard case .binary(let b)? = self[key] else {
            throw ProtocolError(.badRequest, "field '\(key)' must be binary (a 16-byte ticket)")
        }
        guard b.count == 16 else { throw ProtocolError(.badRequest, "field '\(key)' holds \(b.count) bytes, a ticket has 16") }
        return Ticket(bytes: b)
    }
}
