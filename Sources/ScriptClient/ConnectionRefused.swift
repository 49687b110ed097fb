/// A coordinator, or a worker's data socket, refused this client at the CurveZMQ handshake: its
/// public key is not on that server's allow-list (ZeroMQ reports it; no reply would ever come).
public struct ConnectionRefused: Error, Sendable, Equatable, CustomStringConvertible {
    /// Who refused.
    public enum Server: String, Sendable {
        case coordinator
        /// A worker's data socket (direct transfers).
        case worker
    }

    /// The refusing socket's endpoint.
    public let endpoint: String
    public let server: Server

    public init(endpoint: String, by server: Server) {
        self.endpoint = endpoint
        self.server = server
    }

    public var description: String {
        "the \(server.rawValue) at \(endpoint) refused this client at the CURVE handshake: its public key is not on the \(server.rawValue)'s allow-list (--curve-clients)"
    }
}
