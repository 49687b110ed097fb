/// The parts of a `tcp://[SOURCE;]HOST:PORT` endpoint as libzmq reads them: HOST (brackets
/// taken off an IPv6 address), PORT, and the optional source address of a connection.
struct TCPEndpoint: Sendable, Equatable {
    let source: String?
    let host: String
    let port: String

    /// Nil for what is not a `tcp://` endpoint with a host and a port.
    init?(_ endpoint: String) {
        guard endpoint.hasPrefix("tcp://") else { return nil }
        let address = endpoint.dropFirst("tcp://".count)
        guard let colon = address.lastIndex(of: ":") else { return nil }
        var host = String(address[..<colon])
        var source: String? = nil
        if let semicolon = host.lastIndex(of: ";") {
            source = Self.unbracketed(String(host[..<semicolon]))
            host = String(host[host.index(after: semicolon)...])
        }
        guard !host.isEmpty else { return nil }
        (self.source, self.host, self.port) = (source, Self.unbracketed(host), String(address[address.index(after: colon)...]))
    }

    /// Whether HOST or the source is an IPv6 address (`[::1]`, `fd00::5`), which libzmq takes
    /// only on a socket with its IPv6 option.
    var namesIPv6Address: Bool { host.contains(":") || source?.contains(":") == true }

    private static func unbracketed(_ text: String) -> String {
        text.hasPrefix("[") && text.hasSuffix("]") ? String(text.dropFirst().dropLast()) : text
    }
}
