import Dispatch
import FlyingFox
import FlyingSocks
import Foundation
import Logging
import ScriptService
import Synchronization

/// The operations port of a coordinator or worker: `/metrics`, `/livez` and `/readyz` over
/// HTTP/1.1 (FlyingFox), served from Swift's concurrency threads, apart from the process's own
/// loop, so a probe answers even while the loop computes, and reads only `HealthState`.
public final class OpsServer: Sendable {
    /// The port it listens on (the one the system chose when asked for 0).
    public let port: Int
    public let host: String
    private let server: HTTPServer
    private let task: Task<Void, Never>
    private let stopping: StopFlag

    /// Starts listening on `host:port` (port 0: any free one) and returns once it does.
    public static func start(host: String = "0.0.0.0", port: Int, health: HealthState, exporter: PrometheusExporter?,
                             logger: Logger) throws(OpsServerError) -> OpsServer {
        guard (0...65_535).contains(port) else {
            throw .cannotListen(host: host, port: port, reason: "a port is 0 to 65535")
        }
        let server = HTTPServer(config: .init(address: try address(host, port: UInt16(port)), logger: FlyingFoxLogger(logger: logger)),
                                handler: OpsRoutes(health: health, exporter: exporter))
        let stopping = StopFlag()
        let outcome = Mutex<Result<Int, OpsServerError>?>(nil)
        let settled = DispatchSemaphore(value: 0)
        let settle = { @Sendable (r: Result<Int, OpsServerError>) in
            let first = outcome.withLock { o -> Bool in
                guard o == nil else { return false }
                o = r
                return true
            }
            if first { settled.signal() }
        }
        let task = Task {
            do { try await server.run() } catch {
                settle(.failure(.cannotListen(host: host, port: port, reason: Self.reason(error))))
                if outcome.withLock({ (try? $0?.get()) != nil }) && !stopping.isSet {
                    logger.error("the metrics port \(host):\(port) stopped serving: \(Self.reason(error))")
                }
            }
        }
        Task {
            do {
                try await server.waitUntilListening(timeout: 10)
                settle(.success(Self.port(of: await server.listeningAddress) ?? port))
            } catch {
                settle(.failure(.cannotListen(host: host, port: port, reason: Self.reason(error))))
            }
        }
        settled.wait()
        switch outcome.withLock({ $0! }) {
        case .success(let bound):
            return OpsServer(server: server, task: task, stopping: stopping, host: host, port: bound)
        case .failure(let e):
            task.cancel()
            throw e
        }
    }

    private init(server: HTTPServer, task: Task<Void, Never>, stopping: StopFlag, host: String, port: Int) {
        self.server = server
        self.task = task
        self.stopping = stopping
        self.host = host
        self.port = port
    }

    /// `http://HOST:PORT` as a client on this machine reaches it.
    public var url: String {
        let h = host == "0.0.0.0" ? "127.0.0.1" : host == "::" ? "[::1]" : host.contains(":") ? "[\(host)]" : host
        return "http://\(h):\(port)"
    }

    /// Stops listening and closes its connections; returns once it has.
    public func stop() {
        stopping.set()
        let done = DispatchSemaphore(value: 0)
        let server = server
        Task {
            await server.stop(timeout: 0)
            done.signal()
        }
        done.wait()
    }

    private static func address(_ host: String, port: UInt16) throws(OpsServerError) -> any SocketAddress {
        do {
            return host.contains(":") ? try sockaddr_in6.inet6(ip6: host, port: port) : try sockaddr_in.inet(ip4: host, port: port)
        } catch {
            throw .badAddress(host)
        }
    }

    private static func port(of address: Socket.Address?) -> Int? {
        switch address {
        case .ip4(_, let port)?, .ip6(_, let port)?: return Int(port)
        default: return nil
        }
    }

    private static func reason(_ error: any Error) -> String {
        if let s = error as? SocketError, case .failed(_, let errno, let message) = s {
            return errno == EADDRINUSE ? "the port is in use" : message
        }
        return "\(error)"
    }
}

/// Set once the server is being stopped on purpose.
private final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}
