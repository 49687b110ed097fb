#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization

/// Host names resolved within a bound. getaddrinfo runs on a thread of its own and is waited for
/// until a deadline, then given up: the lookups here run on a client's or worker's loop, which
/// a resolver that hangs (its name server gone: 5 s a try by default) would otherwise hold,
/// SIGTERM included, for the resolver's own timeouts.
enum HostLookup {
    /// Resolves a host and port to socket addresses (tests give one that hangs).
    typealias Resolver = @Sendable (_ host: String, _ port: String) -> [SocketAddress]

    /// What `resolve(host, port)` answers by `deadline` (milliseconds of `monotonicMs`), or
    /// nothing when it has not answered by then.
    static func addresses(_ host: String, _ port: String, deadline: Int, resolve: @escaping Resolver) -> [SocketAddress] {
        let box = Answer()
        // A queue of its own, not the global pool: that pool has a thread a core, which lookups
        // that hang would take one by one, starving every later lookup (and anything else there).
        DispatchQueue(label: "script-cluster.host-lookup").async { box.set(resolve(host, port)) }
        guard box.done.wait(timeout: .now() + .milliseconds(max(0, deadline - monotonicMs()))) == .success else { return [] }
        return box.addresses.withLock { $0 }
    }

    /// Each address `host` resolves to (getaddrinfo), with `port`.
    static let system: Resolver = { host, port in
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, port, &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(first) }
        var out: [SocketAddress] = []
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let n = node {
            if let a = n.pointee.ai_addr {
                out.append(SocketAddress(family: n.pointee.ai_family,
                                         bytes: Array(UnsafeRawBufferPointer(start: a, count: Int(n.pointee.ai_addrlen)))))
            }
            node = n.pointee.ai_next
        }
        return out
    }

    static func monotonicMs() -> Int {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return t.tv_sec * 1000 + t.tv_nsec / 1_000_000
    }

    /// Where a lookup left on its thread puts its answer (read once it is signalled).
    private final class Answer: Sendable {
        let addresses = Mutex<[SocketAddress]>([])
        let done = DispatchSemaphore(value: 0)

        func set(_ found: [SocketAddress]) {
            addresses.withLock { $0 = found }
            done.signal()
        }
    }
}
