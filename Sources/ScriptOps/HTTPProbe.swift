import Dispatch
import FlyingFox
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

    /// The response to a GET of `path` from `address` (`host` its Host header).
    private static func fetch(_ path: String, from address: any SocketAddress, host: String,
                              url: String) async throws(HTTPProbeError) -> Response {
        var client = HTTPClient()
        do {
            let request = HTTPRequest(method: .GET, version: .http11, path: path, query: [],
                                      headers: [.host: host], body: Data())
            let response = try await client.sendHTTPRequest(request, to: address)
            let body = try await response.bodyData
            return Response(status: response.statusCode.code, body: String(decoding: body, as: UTF8.self))
        } catch {
            throw .unreachable(url, reason: Self.reason(error))
        }
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
