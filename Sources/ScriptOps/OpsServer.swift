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
/// FlyingFox stops serving when an `accept` fails (the process at its open-file limit while a
/// probe connects); this listens again on the same port each second until it can, so a
/// passing shortage of files does not leave the process without probes for good. A connection
/// that sends nothing for `idle` (15 s) is closed (`IdleClosingPool`).
public final class OpsServer: Sendable {
    /// The port it listens on (the one the system chose when asked for 0).
    public let port: Int
    public let host: String
    private let slot: ServerSlot
    private let task: Task<Void, Never>

    /// Starts listening on `host:port` (port 0: any free one) and returns once it does.
    public static func start(host: String = "0.0.0.0", port: Int, health: HealthState, exporter: PrometheusExporter?,
                             roster: WorkerRoster? = nil, idle: Duration = .seconds(15), logger: Logger) throws(OpsServerError) -> OpsServer {
        guard (0...65_535).contains(port) else {
            throw .cannotListen(host: host, port: port, reason: "a port is 0 to 65535")
        }
        _ = try address(host, port: UInt16(port))
        let routes = OpsRoutes(health: health, exporter: exporter, roster: roster)
        let make = { @Sendable (port: Int) in
            let log = FlyingFoxLogger(logger: logger)
            let pool = IdleClosingPool(inner: HTTPServer.defaultPool(logger: log), idle: idle)
            return HTTPServer(config: .init(address: try! address(host, port: UInt16(port)), pool: pool, logger: log), handler: routes)
        }
        let slot = ServerSlot()
        let first = FirstListen()
        let task = Task {
            var down = false  // stopped serving, and said so
            while true {
                let server = make(first.port ?? port)
                guard slot.publish(server) else { return }
                let recovering = down
                let listening = Task { () -> Bool in
                    do { try await server.waitUntilListening(timeout: 10) } catch {
                        if !Task.isCancelled { first.settle(.failure(.cannotListen(host: host, port: port, reason: Self.reason(error)))) }
                        return false
                    }
                    first.settle(.success(Self.port(of: await server.listeningAddress) ?? port))
                    if recovering { logger.info("the metrics port \(host):\(first.port ?? port) serves again") }
                    return true
                }
                var reason = "stopped"
                do { try await server.run() } catch { reason = Self.reason(error) }
                listening.cancel()
                let listened = await listening.value
                guard first.port != nil else { return first.settle(.failure(.cannotListen(host: host, port: port, reason: reason))) }
                if slot.isStopping { return }
                if listened || !down {
                    logger.error("the metrics port \(host):\(first.port ?? port) stopped serving: \(reason); listening again each second until it can")
                    down = true
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
        switch first.wait() {
        case .success(let bound):
            return OpsServer(slot: slot, task: task, host: host, port: bound)
        case .failure(let e):
            task.cancel()
            throw e
        }
    }

    private init(slot: ServerSlot, task: Task<Void, Never>, host: String, port: Int) {
        self.slot = slot
        self.task = task
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
        let server = slot.stop()
        task.cancel()
        guard let server else { return }
        let done = DispatchSemaphore(value: 0)
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

/// The server listening now, and whether `stop` was called: checked and set under one lock,
/// so no new server starts after `stop`.
private final class ServerSlot: Sendable {
    private let state = Mutex<(server: HTTPServer?, stopping: Bool)>((nil, false))

    var isStopping: Bool { state.withLock { $0.stopping } }

    /// Makes `server` the one `stop` stops; false once stopping (then it must not run).
    func publish(_ server: HTTPServer) -> Bool {
        state.withLock { s in
            s.server = server
            return !s.stopping
        }
    }

    /// Marks the slot stopping; the server to stop.
    func stop() -> HTTPServer? {
        state.withLock { s in
            s.stopping = true
            return s.server
        }
    }
}

/// The outcome of the first listen: the port bound, or why none was; `start` waits for it.
private final class FirstListen: Sendable {
    private let outcome = Mutex<Result<Int, OpsServerError>?>(nil)
    private let settled = DispatchSemaphore(value: 0)

    /// The port bound by the first listen, once it has.
    var port: Int? { outcome.withLock { try? $0?.get() } }

    /// Records the first outcome; later ones are ignored.
    func settle(_ r: Result<Int, OpsServerError>) {
        let first = outcome.withLock { o -> Bool in
            guard o == nil else { return false }
            o = r
            return true
        }
        if first { settled.signal() }
    }

    func wait() -> Result<Int, OpsServerError> {
        settled.wait()
        return outcome.withLock { $0! }
    }
}
