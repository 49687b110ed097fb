/// The operations port could not be opened.
public enum OpsServerError: Error, Equatable, CustomStringConvertible, Sendable {
    /// `host` is not an IPv4 or IPv6 address.
    case badAddress(String)
    /// Listening on `host:port` failed (in use, not permitted, no such interface).
    case cannotListen(host: String, port: Int, reason: String)

    public var description: String {
        switch self {
        case .badAddress(let host):
            return "metrics address '\(host)' is not an IP address (0.0.0.0 for all IPv4 interfaces, :: for IPv6, 127.0.0.1 for this host only)"
        case .cannotListen(let host, let port, let reason):
            return "cannot serve metrics on \(host):\(port): \(reason)"
        }
    }
}
