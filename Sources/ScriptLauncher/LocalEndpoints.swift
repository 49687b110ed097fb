#if canImport(Glibc)
import Glibc
#endif

/// Endpoints for a cluster started on this machine. Sockets that only its own processes use are
/// Unix sockets in Linux's abstract namespace (`ipc://@name`: no file to clean up, no port to
/// collide on, gone with the process that bound it), which move a request's bytes with less CPU
/// than TCP over loopback (Cluster/SCALING.md).
public enum LocalEndpoints {
    /// This launcher's part of the names: its process id and a random tag (processes in two
    /// containers that share a network namespace can have the same id).
    public static let instance = "\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"

    /// A socket private to this launcher: `ipc://@script-cluster-<instance>-<role>`.
    public static func `private`(_ role: String, instance: String = instance) -> String {
        "ipc://@script-cluster-\(instance)-\(role)"
    }

    /// Where a worker takes shard bytes that clients send direct, given the endpoints those
    /// clients reach the coordinators at: a private socket when every frontend is this machine's
    /// alone (loopback or ipc), otherwise TCP with any free port on the frontends' interface
    /// (every interface when they differ).
    public static func dataBind(forFrontends frontends: [String], worker: Int, instance: String = instance) -> String {
        let hosts = Set(frontends.compactMap(tcpHost).filter { !isLoopback($0) })
        if hosts.isEmpty { return `private`("data-\(worker)", instance: instance) }
        return "tcp://\(hosts.count == 1 ? hosts.first! : "0.0.0.0"):*"
    }

    /// The host (or interface) of a `tcp://host:port` endpoint; nil for other transports.
    static func tcpHost(_ endpoint: String) -> String? {
        guard endpoint.hasPrefix("tcp://"), let colon = endpoint.lastIndex(of: ":"), colon > endpoint.index(endpoint.startIndex, offsetBy: 5) else {
            return nil
        }
        return String(endpoint[endpoint.index(endpoint.startIndex, offsetBy: 6)..<colon])
    }

    private static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "lo" || host == "[::1]" || host.hasPrefix("127.")
    }
}
