#if canImport(Glibc)
import Glibc
#endif

/// Reads the security mechanism a ZeroMQ peer announces in its greeting (ZMTP 3, RFC 23:
/// `NULL`, `PLAIN`, `CURVE`), over a plain connection that sends only the greeting's signature
/// and version, never a mechanism of its own, so the peer has nothing to refuse and answers the
/// same way every time.
///
/// Why: against CURVE at one end only, libzmq reports the mechanism mismatch only at the end that
/// reads the other's greeting before its own write fails; the other end often sees a connection
/// closed during the handshake and nothing more (`EPIPE`; most attempts between processes here),
/// and tries again with a growing interval: a refusal took 0.8-20 s to tell.
public enum ZMTPGreetingProbe {
    /// The signature (0xFF, 8 bytes of padding, 0x7F) and major version 3: enough for a ZMTP 3
    /// peer to send the rest of its greeting.
    static let opening: [UInt8] = [0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3]

    /// The mechanism `endpoint` (`tcp://host:port` or `ipc://path`) announces, or nil when it
    /// cannot be read within `timeoutMs` (nothing listens, the peer is not a ZMTP 3 peer, or
    /// closes first).
    public static func mechanism(of endpoint: String, timeoutMs: Int = 500) -> String? {
        mechanism(of: endpoint, timeoutMs: timeoutMs, resolve: HostLookup.system)
    }

    /// As `mechanism(of:timeoutMs:)`, with the host names of `tcp://` endpoints resolved by
    /// `resolve(host, port)` (tests give one that hangs).
    static func mechanism(of endpoint: String, timeoutMs: Int, resolve: @escaping HostLookup.Resolver) -> String? {
        let deadline = HostLookup.monotonicMs() + timeoutMs
        for address in addresses(endpoint, deadline: deadline, resolve: resolve) {
            if let greeting = greeting(from: address, deadline: deadline) { return mechanism(in: greeting) }
            if HostLookup.monotonicMs() >= deadline { break }
        }
        return nil
    }

    /// The mechanism named in a greeting's first 32 bytes, or nil when they are not a ZMTP 3
    /// greeting.
    static func mechanism(in greeting: [UInt8]) -> String? {
        guard greeting.count >= 32, greeting[0] == 0xFF, greeting[9] & 1 == 1, greeting[10] >= 3 else { return nil }
        let name = greeting[12..<32].prefix { $0 != 0 }
        guard !name.isEmpty, name.allSatisfy({ (0x41...0x5A).contains($0) || (0x30...0x39).contains($0) }) else { return nil }
        return String(decoding: name, as: UTF8.self)
    }

    /// The first 32 bytes the peer at `address` sends after our opening, or nil.
    private static func greeting(from address: SocketAddress, deadline: Int) -> [UInt8]? {
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let rc = address.bytes.withUnsafeBytes { connect(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count)) }
        guard rc == 0 || errno == EINPROGRESS, wait(fd, for: Int16(POLLOUT), deadline: deadline), socketError(fd) == 0 else { return nil }
        guard opening.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == opening.count else { return nil }
        var got: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64)
        while got.count < 32, wait(fd, for: Int16(POLLIN), deadline: deadline) {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { got += chunk[0..<n] } else if n == 0 || (errno != EAGAIN && errno != EINTR) { return nil }
        }
        return got.count >= 32 ? got : nil
    }

    private static func wait(_ fd: Int32, for events: Int16, deadline: Int) -> Bool {
        var p = pollfd(fd: fd, events: events, revents: 0)
        while true {
            let left = deadline - HostLookup.monotonicMs()
            guard left > 0 else { return false }
            let rc = poll(&p, 1, Int32(left))
            if rc > 0 { return p.revents & (events | Int16(POLLHUP) | Int16(POLLERR)) != 0 }
            if rc == 0 || errno != EINTR { return false }
        }
    }

    private static func socketError(_ fd: Int32) -> Int32 {
        var value: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &size) == 0 ? value : -1
    }

    /// The addresses of `tcp://host:port` (each that `host` resolves to by `deadline`) or
    /// `ipc://path`.
    static func addresses(_ endpoint: String, deadline: Int, resolve: @escaping HostLookup.Resolver) -> [SocketAddress] {
        if endpoint.hasPrefix("ipc://") { return unixAddress(String(endpoint.dropFirst(6))).map { [$0] } ?? [] }
        guard let tcp = TCPEndpoint(endpoint) else { return [] }
        return HostLookup.addresses(tcp.host, tcp.port, deadline: deadline, resolve: resolve)
    }

    private static func unixAddress(_ path: String) -> SocketAddress? {
        var a = sockaddr_un()
        a.sun_family = sa_family_t(AF_UNIX)
        let name = Array(path.utf8)
        guard !name.isEmpty, name.count < MemoryLayout.size(ofValue: a.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &a.sun_path) { p in
            for (i, c) in name.enumerated() { p[i] = c }
            if name[0] == UInt8(ascii: "@") { p[0] = 0 }  // abstract namespace, as libzmq writes it
        }
        let size = MemoryLayout<sa_family_t>.size + name.count + (name[0] == UInt8(ascii: "@") ? 0 : 1)
        let bytes = withUnsafeBytes(of: &a) { Array($0.prefix(size)) }
        return SocketAddress(family: AF_UNIX, bytes: bytes)
    }
}
