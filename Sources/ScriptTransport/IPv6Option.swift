#if canImport(Glibc)
import Glibc
#endif

/// Whether a socket binds or connects a `tcp://` endpoint with libzmq's IPv6 option
/// (`ZMQ_IPV6`). Without it libzmq takes IPv4 only: an IPv6 address reads as an interface name
/// ("No such device") and a name with only IPv6 addresses (a service of an IPv6 Kubernetes
/// cluster) does not resolve. With it, a name with both is connected at its first address,
/// often the IPv6 one (`localhost` is `::1` first on many hosts), where the peer may listen on
/// IPv4 only. So the option is on for an IPv6 address, and for a name to connect to that has
/// IPv6 addresses and no IPv4 one; everything else (IPv4 addresses, `*`, names with IPv4
/// addresses, names that do not resolve yet, `ipc://`) stays as before, IPv4.
enum IPv6Option {
    /// Whether `endpoint` needs the option, a name looked up within `timeoutMs` (not answered
    /// by then: no).
    static func wanted(for endpoint: String, connecting: Bool, timeoutMs: Int = 500) -> Bool {
        wanted(for: endpoint, connecting: connecting, timeoutMs: timeoutMs, resolve: HostLookup.system)
    }

    static func wanted(for endpoint: String, connecting: Bool, timeoutMs: Int, resolve: @escaping HostLookup.Resolver) -> Bool {
        guard let tcp = TCPEndpoint(endpoint) else { return false }
        if tcp.namesIPv6Address { return true }
        guard connecting, tcp.host != "*", !isIPv4Address(tcp.host) else { return false }
        let found = HostLookup.addresses(tcp.host, tcp.port, deadline: HostLookup.monotonicMs() + timeoutMs, resolve: resolve)
        return found.contains { $0.family == AF_INET6 } && !found.contains { $0.family == AF_INET }
    }

    private static func isIPv4Address(_ host: String) -> Bool {
        var a = in_addr()
        return inet_pton(AF_INET, host, &a) == 1
    }
}
