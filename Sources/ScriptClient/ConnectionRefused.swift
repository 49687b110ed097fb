/// A coordinator refused this client at the CurveZMQ handshake: its public key is not on the
/// coordinator's allow-list (ZeroMQ reports it; no reply would ever come).
public struct ConnectionRefused: Error, Sendable, Equatable, CustomStringConvertible {
    /// The coordinator's endpoint.
    public let endpoint: String

    public init(endpoint: String) { self.endpoint = endpoint }

    public var description: String {
        "\(endpoint) refused this client at the CURVE handshake: its public key is not on the coordinator's allow-list (--curve-clients)"
    }
}
