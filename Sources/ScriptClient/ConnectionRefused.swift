/// A coordinator, or a worker's data socket, refused this client at the handshake: its CURVE
/// public key is not on that server's allow-list, or one of them speaks CURVE and the other does
/// not (ZeroMQ reports it; no reply would ever come).
public struct ConnectionRefused: Error, Sendable, Equatable, CustomStringConvertible {
    /// Who refused.
    public enum Server: String, Sendable {
        case coordinator
        /// A worker's data socket (direct transfers).
        case worker
    }

    /// Why the handshake failed.
    public enum Reason: String, Sendable {
        /// This client's key is not on the server's allow-list.
        case key
        /// The server speaks CURVE and this client does not.
        case curveRequired
        /// This client speaks CURVE and the server does not.
        case curveUnspoken
        /// Both speak CURVE and the server closed the connection during the handshake: its key
        /// pair is not the one whose public key this client was given.
        case serverKey
    }

    /// The refusing socket's endpoint.
    public let endpoint: String
    public let server: Server
    public let reason: Reason

    public init(endpoint: String, by server: Server, reason: Reason = .key) {
        self.endpoint = endpoint
        self.server = server
        self.reason = reason
    }

    public var description: String {
        let who = "the \(server.rawValue) at \(endpoint)"
        switch reason {
        case .key:
            return "\(who) refused this client at the CURVE handshake: its public key is not on the \(server.rawValue)'s allow-list (--curve-clients)"
        case .curveRequired:
            return "\(who) speaks CURVE and this client does not: give the client its key pair and the server's public key (--curve-secret, --curve-server-key)"
        case .curveUnspoken:
            return "this client speaks CURVE and \(who) does not: leave out the client's CURVE keys, or give the \(server.rawValue) its own (--curve-secret)"
        case .serverKey:
            return "\(who) closed the connection during the CURVE handshake: its key pair is not the one whose public key this client was given (--curve-server-key; were its keys made again?)"
        }
    }
}
