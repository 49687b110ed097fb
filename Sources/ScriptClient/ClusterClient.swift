import Foundation
import ScriptProtocol
import ScriptService
import ScriptTransport

/// A client of a running coordinator: sends requests, waits for their replies by id.
public final class ClusterClient {
    private let context = ZMQContext()
    private let socket: ZMQSocket

    public init(endpoint: String) throws {
        socket = try ZMQSocket(context: context, type: .dealer)
        try socket.setLinger(milliseconds: 0)
        try socket.setSendTimeout(milliseconds: 5000)
        try socket.connect(endpoint)
    }

    /// Sends `frames` (envelope first) and waits for the reply with `id`.
    public func call(_ frames: [[UInt8]], id: String, timeoutMs: Int) throws -> ClusterReply {
        try socket.send([[]] + frames)
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(timeoutMs)
        while clock.now < deadline {
            let left = max(1, Int(ms(deadline - clock.now)))
            guard let msg = try socket.receive(timeoutMilliseconds: left) else { break }
            guard msg.count >= 2, msg[0].isEmpty else { continue }
            let reply = try ClusterReply.parse(Array(msg.dropFirst()))
            if reply.id == id { return reply }
        }
        throw ProtocolError(.timeout, "no reply to '\(id)' within \(timeoutMs) ms")
    }

    public func prune(_ s: PruneSubmission, halfPrecision: Bool = false, timeoutMs: Int? = nil) throws -> ClusterReply {
        try call(s.frames(halfPrecision: halfPrecision), id: s.id, timeoutMs: timeoutMs ?? (s.deadlineMs ?? 30_000) + 5_000)
    }

    public func status(timeoutMs: Int = 5000) throws -> ClusterStatus? {
        let id = "status-\(UUID().uuidString)"
        let reply = try call([Envelope.encode(ProtocolVersion.header("status", id: id))], id: id, timeoutMs: timeoutMs)
        if case .status(let s) = reply { return s }
        return nil
    }

    /// Sends frames as given (delimiter included), for callers that keep many requests in flight.
    public func sendRaw(_ frames: [[UInt8]]) throws { try socket.send(frames) }

    /// The next reply, or nil when none comes in time.
    public func receiveReply(timeoutMs: Int) throws -> ClusterReply? {
        guard let msg = try socket.receive(timeoutMilliseconds: timeoutMs), msg.count >= 2, msg[0].isEmpty else { return nil }
        return try ClusterReply.parse(Array(msg.dropFirst()))
    }

    public func close() {
        socket.close()
        context.close()
    }
}
