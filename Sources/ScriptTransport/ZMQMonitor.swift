import CZeroMQ
#if canImport(Glibc)
import Glibc
#endif

/// What happens to the connections of one socket (accepted, closed, refused at the handshake),
/// as libzmq reports it on an inproc socket: a peer dropped for a frame over the size limit, a
/// port scanner, a CURVE key mismatch each leave a trace here even though no message arrives.
public final class ZMQMonitor {
    /// One connection event.
    public enum Event: Equatable, Sendable {
        case accepted
        /// The peer closed the connection, or it was dropped (a frame over the size limit).
        case disconnected
        /// The peer is not a ZeroMQ peer, or spoke the protocol wrong.
        case handshakeFailed
        /// The peer closed the connection (reset or ended it) before the ZeroMQ handshake was
        /// done: to a socket that binds, a TCP health check, a port scan, an HTTP request, a
        /// client that gave up waiting. Told where the monitor was given no mechanism (a socket
        /// that binds); one that knows its mechanism probes the peer instead (see `speaks`).
        case closedBeforeHandshake
        /// The peer's CURVE key was refused.
        case authenticationFailed
        /// The peer speaks another security mechanism: CURVE where this socket does not, or the
        /// other way round (libzmq does not try again).
        case mechanismMismatch
        /// The peer speaks CURVE, as this socket does, and closed the connection during the
        /// handshake `curveFailuresToTell` times in a row: it cannot read this socket's hello,
        /// sealed for the server key this socket was given, so its key pair is another (made
        /// again?). libzmq tries again, in vain. (Once could be a race: a connection closed
        /// before its greeting.)
        case serverKeyMismatch
        /// The ZeroMQ handshake on a connection completed (with CURVE: the keys were accepted):
        /// a peer that speaks this protocol is there.
        case handshakeSucceeded
        /// A connection could not be accepted: the system's `errno` (`EMFILE`: the process's
        /// open-file limit). libzmq's listener tries again at once.
        case acceptFailed(Int32)
        /// A connection was made (a socket that connects): its ZeroMQ handshake comes next. One
        /// that never gets `handshakeSucceeded` reached something that does not speak ZeroMQ, or
        /// a proxy with nothing behind it.
        case connected
        /// A connection attempt failed (the name did not resolve, nothing listens, no route, or
        /// the peer closed it before a handshake); libzmq tries again after its reconnect interval.
        case connectRetried
    }

    /// The security mechanism a socket speaks, as ZMTP names it.
    public enum Mechanism: String, Sendable {
        case null = "NULL"
        case curve = "CURVE"
    }

    /// Readable when events wait (add it to a poller).
    public let socket: ZMQSocket
    /// What the monitored socket speaks, for a socket that connects: a handshake that fails
    /// without detail is then checked with a `ZMTPGreetingProbe` of its peer, and reported as
    /// `mechanismMismatch` when the peer speaks another mechanism, `serverKeyMismatch` when both
    /// speak CURVE and it happened `curveFailuresToTell` times in a row. The probe runs in
    /// `drain`, on such failures only, and takes at most 0.5 s (a peer that accepts and never
    /// greets).
    private let speaks: Mechanism?
    /// Handshakes a CURVE peer closed without detail since the last that succeeded.
    private var curveFailures = 0
    /// Failures in a row that tell `serverKeyMismatch`.
    public static let curveFailuresToTell = 3

    /// Starts monitoring `target` (which must outlive the monitor); `speaks`: see above.
    public init(_ target: ZMQSocket, context: ZMQContext, speaks: Mechanism? = nil) throws {
        self.speaks = speaks
        let address = "inproc://monitor-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let events = ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
            | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_CONNECT_RETRIED
            | ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_ACCEPT_FAILED | ZMQ_EVENT_CONNECTED
        guard zmq_socket_monitor(target.handle, address, events) == 0 else { throw ZMQError.last("zmq_socket_monitor") }
        socket = try ZMQSocket(context: context, type: .pair)
        try socket.setLinger(milliseconds: 0)
        try socket.connect(address)
    }

    /// The events that have arrived, oldest first.
    public func drain() -> [Event] {
        var out: [Event] = []
        var peer: String?? = nil  // the peer's mechanism, probed once a drain however many failures queued
        while let frames = try? socket.receiveFrames(timeoutMilliseconds: 0) {
            guard let first = frames.first, first.count >= 2 else { continue }
            let code = first.withUnsafeBytes { UInt16(littleEndian: $0.loadUnaligned(as: UInt16.self)) }
            let value = first.count >= 6 ? first.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 2, as: UInt32.self)) } : 0
            switch Int32(code) {
            case ZMQ_EVENT_ACCEPTED: out.append(.accepted)
            case ZMQ_EVENT_ACCEPT_FAILED: out.append(.acceptFailed(Int32(bitPattern: value)))
            case ZMQ_EVENT_DISCONNECTED: out.append(.disconnected)
            case ZMQ_EVENT_CONNECT_RETRIED: out.append(.connectRetried)
            case ZMQ_EVENT_CONNECTED: out.append(.connected)
            case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
                curveFailures = 0
                out.append(.handshakeSucceeded)
            case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: out.append(.authenticationFailed)
            case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL where value == UInt32(ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH):
                out.append(.mechanismMismatch)
            case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL where speaks == nil && (value == UInt32(ECONNRESET) || value == UInt32(EPIPE)):
                out.append(.closedBeforeHandshake)
            case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
                if peer == nil { peer = .some(peerMechanism(frames)) }
                out.append(handshakeFailure(theirs: peer!))
            case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL: out.append(.handshakeFailed)
            default: break
            }
        }
        return out
    }

    /// The mechanism the peer at the event's endpoint (its second frame) announces, when this
    /// socket's is known and the peer's can be read.
    private func peerMechanism(_ event: [Frame]) -> String? {
        guard speaks != nil, event.count > 1 else { return nil }
        return ZMTPGreetingProbe.mechanism(of: String(decoding: event[1].bytes, as: UTF8.self))
    }

    /// What a handshake that failed without detail means, from the mechanism the peer
    /// announces: another than this socket's, or CURVE as this socket's, repeatedly
    /// (`handshakeFailed` when either is not known, or neither speaks CURVE).
    private func handshakeFailure(theirs: String?) -> Event {
        guard let speaks, let theirs else { return .handshakeFailed }
        if theirs != speaks.rawValue { return .mechanismMismatch }
        guard speaks == .curve else { return .handshakeFailed }
        curveFailures += 1
        return curveFailures >= Self.curveFailuresToTell ? .serverKeyMismatch : .handshakeFailed
    }

    public func close() { socket.close() }
}
