import Dispatch
import FlyingSocks
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A GET to a probe or metrics URL (`http://HOST:PORT/PATH`), as a container healthcheck or a
/// test asks one: no TLS, no redirects.
public enum HTTPProbe {
    /// A response: status code and body text.
    public struct Response: Sendable, Equatable {
        public let status: Int
        public let body: String
    }

    /// GETs `url`, waiting at most `timeout`, resolving its host's name included.
    public static func get(_ url: String, timeout: Duration = .seconds(5)) throws(HTTPProbeError) -> Response {
        try get(url, timeout: timeout, resolve: resolve)
    }

    /// As `get(_:timeout:)`, with the host's name resolved by `resolve` (tests give one that hangs).
    static func get(_ url: String, timeout: Duration,
                    resolve: @escaping @Sendable (String, UInt16, String) throws(HTTPProbeError) -> any SocketAddress)
        throws(HTTPProbeError) -> Response {
        let (host, port, path) = try parse(url)
        let result = Mutex<Result<Response, HTTPProbeError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let task = Task {
            let r: Result<Response, HTTPProbeError>
            do throws(HTTPProbeError) {
                r = try await .success(fetch(path, from: resolve(host, port, url), host: "\(host):\(port)", url: url))
            } catch {
                r = .failure(error)
            }
            result.withLock { $0 = r }
            done.signal()
        }
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) * 1e-18
        guard done.wait(timeout: .now() + seconds) == .success else {
            task.cancel()
            throw .unreachable(url, reason: "no answer within \(Int(seconds * 1000)) ms")
        }
        return try result.withLock { $0! }.get()
    }

    /// The most bytes of an answer read (a metrics page is tens of kilobytes).
    static let limit = 64 << 20

    /// The response to a GET of `path` from `address` (`host` its Host header).
    private static func fetch(_ path: String, from address: any SocketAddress, host: String,
                              url: String) async throws(HTTPProbeError) -> Response {
        var bytes: [UInt8] = []
        do {
            let socket = try await AsyncSocket.connected(to: address)
            defer { try? socket.close() }
            try await socket.write(Data("GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n".utf8))
            while bytes.count <= limit, answer(bytes)?.complete != true {
                do { bytes += try await socket.read(atMost: 65_536) } catch SocketError.disconnected { break }
            }
        } catch {
            throw .unreachable(url, reason: Self.reason(error))
        }
        guard let answer = answer(bytes) else { throw .unreachable(url, reason: "not an HTTP answer (\(bytes.count) bytes)") }
        return answer.response
    }

    /// Status and body of the answer in `bytes`, and whether its body is whole (its
    /// Content-Length read; without one, it ends with the connection); nil before a whole
    /// HTTP/1.x status line and head.
    private static func answer(_ bytes: [UInt8]) -> (response: Response, complete: Bool)? {
        guard let end = HTTPRequestHead.end(in: bytes) else { return nil }
        let head = String(decoding: bytes[..<end], as: UTF8.self).split(separator: "\n").map { $0.hasSuffix("\r") ? $0.dropLast() : $0 }
        guard let status = head.first?.split(separator: " "), status.count >= 2, status[0].hasPrefix("HTTP/1."),
              let code = Int(status[1]) else { return nil }
        let length = head.dropFirst().first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) }
        let body = bytes[end...].prefix(length ?? Int.max)
        return (Response(status: code, body: String(decoding: body, as: UTF8.self)), length.map { body.count >= $0 } ?? false)
    }

    /// Throws `badURL` unless `url` is one `get` takes (checked before any connection).
    public static func check(_ url: String) throws(HTTPProbeError) { _ = try parse(url) }

    static func parse(_ url: String) throws(HTTPProbeError) -> (host: String, port: UInt16, path: String) {
        guard url.hasPrefix("http://") else { throw .badURL(url) }
        let rest = url.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        var host = String(authority), port: UInt16 = 80
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw .badURL(url) }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = UInt16(after.dropFirst()) else { throw .badURL(url) }
                port = p
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            guard let p = UInt16(authority[authority.index(after: colon)...]) else { throw .badURL(url) }
            port = p
        }
        guard !host.isEmpty else { throw .badURL(url) }
        return (host, port, path.isEmpty ? "/" : String(path))
    }

    /// The first address `host` resolves to (a name or a numeric address).
    @Sendable static func resolve(_ host: String, _ port: UInt16, url: String) throws(HTTPProbeError) -> any SocketAddress {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw .unreachable(url, reason: "cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        let raw = UnsafeRawPointer(first.pointee.ai_addr!)
        switch first.pointee.ai_family {
        case AF_INET: return raw.loadUnaligned(as: sockaddr_in.self)
        case AF_INET6: return raw.loadUnaligned(as: sockaddr_in6.self)
        default: throw .unreachable(url, reason: "\(host) resolves to neither IPv4 nor IPv6")
        }
    }

    private static func reason(_ error: any Error) -> String {
        if let s = error as? SocketError, case .failed(_, _, let message) = s { return message }
        if let s = error as? SocketError, case .disconnected = s { return "connection refused or closed (is a metrics port served there?)" }
        return "\(error)"
    }
}
