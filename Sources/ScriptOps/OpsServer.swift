import Dispatch
import FlyingSocks
import Foundation
import Logging
import ScriptService
import Synchronization

/// The operations port of a coordinator or worker: `/metrics`, `/livez` and `/readyz` over
/// HTTP/1.1 on FlyingSocks' non-blocking sockets, served from Swift's concurrency threads, apart
/// from the process's own loop, so a probe answers even while the loop computes, and reads only
/// `HealthState`. An `accept` that fails (the process at its open-file limit while a probe
/// connects) is said once and tried again each second; the port keeps listening meanwhile (new
/// connections wait in its backlog). A
/// connection that sends nothing for `idle` (15 s) is closed (`IdleClosingPool`).
public final class OpsServer: Sendable {
    /// The port it listens on (the one the system chose when asked for 0).
    public let port: Int
    public let host: String
    private let listening: Socket
    private let task: Task<Void, Never>

    /// Starts listening on `host:port` (port 0: any free one) and returns once it does.
    public static func start(host: String = "0.0.0.0", port: Int, health: HealthState, exporter: PrometheusExporter?,
                             roster: WorkerRoster? = nil, idle: Duration = .seconds(15), logger: Logger) throws(OpsServerError) -> OpsServer {
        guard (0...65_535).contains(port) else {
            throw .cannotListen(host: host, port: port, reason: "a port is 0 to 65535")
        }
        let address = try address(host, port: UInt16(port))
        let listening: Socket
        do {
            listening = try Socket(domain: Int32(type(of: address).family), type: .stream)
            try listening.setValue(true, for: .localAddressReuse)
            try listening.bind(to: address)
            try listening.listen()
            try listening.setFlags(.nonBlocking)
        } catch {
            throw .cannotListen(host: host, port: port, reason: reason(error))
        }
        let bound = Self.port(of: try? listening.sockname()) ?? port
        let routes = OpsRoutes(health: health, exporter: exporter, roster: roster)
        let task = Task { await serve(listening, idle: idle, routes: routes, name: "\(host):\(bound)", logger: logger) }
        return OpsServer(listening: listening, task: task, host: host, port: bound)
    }

    private init(listening: Socket, task: Task<Void, Never>, host: String, port: Int) {
        self.listening = listening
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
        task.cancel()
        let done = DispatchSemaphore(value: 0)
        let task = task
        Task {
            await task.value
            done.signal()
        }
        done.wait()
        try? listening.close()
    }

    /// Accepts connections and serves each in its own task, until cancelled. An `accept` that
    /// fails is said once and the connections are let go; a plain `accept` is then tried each
    /// second on a thread of its own, and serving goes on from the first connection it takes.
    /// One socket pool serves throughout: opening one needs two files, and FlyingSocks' keeps
    /// the first where the second cannot be had.
    private static func serve(_ listening: Socket, idle: Duration, routes: OpsRoutes, name: String, logger: Logger) async {
        let pool = IdleClosingPool(inner: SocketPool<Poll>.make(), idle: idle)
        let server: AsyncSocket
        do {
            try await pool.prepare()
            server = try AsyncSocket(socket: listening, pool: pool)
        } catch {
            return logger.error("the metrics port \(name) cannot serve: \(reason(error))")
        }
        await withDiscardingTaskGroup { group in
            group.addTask { try? await pool.run() }
            defer { group.cancelAll() }
            var first: AsyncSocket?  // the connection that ended a shortage, served first
            while let failure = await serveUntilAcceptFails(server, first: first, routes: routes, logger: logger) {
                logger.error("the metrics port \(name) cannot accept connections: \(failure); trying again each second")
                guard let taken = await acceptAfterShortage(listening) else { return }
                logger.info("the metrics port \(name) serves again")
                first = try? AsyncSocket(socket: taken, pool: pool)
            }
        }
    }

    /// A connection taken by a plain `accept` tried each second on a thread of its own; nil
    /// once cancelled. No work of libdispatch's may wait meanwhile: its pool monitor, which
    /// opens /proc/TID/stat a second while work waits for its threads, crashes a process that
    /// cannot open a file ("registered worker exited prematurely"), and a Swift timer's
    /// wake-ups, a second apart, met its ticks in 6 of 38 rounds of `Scripts/file-limit-soak.sh`.
    private static func acceptAfterShortage(_ listening: Socket) async -> Socket? {
        let waiter = ShortageWaiter()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                waiter.start(continuation, listening: listening)
            }
        } onCancel: {
            waiter.finish()
        }
    }

    /// Serves `first` and what `server` accepts until an `accept` fails: why; nil once cancelled.
    private static func serveUntilAcceptFails(_ server: AsyncSocket, first: AsyncSocket?, routes: OpsRoutes,
                                              logger: Logger) async -> String? {
        await withDiscardingTaskGroup(returning: String?.self) { group in
            defer { group.cancelAll() }
            if let first { group.addTask { await OpsConnection(socket: first, routes: routes, logger: logger).serve() } }
            while true {
                do {
                    let connection = try await server.accept()
                    group.addTask { await OpsConnection(socket: connection, routes: routes, logger: logger).serve() }
                } catch {
                    return Task.isCancelled ? nil : reason(error)
                }
            }
        }
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

/// The thread that tries `accept` each second through a shortage of files, and the one
/// continuation it resumes: with the connection taken, or nil where the wait was cancelled.
/// Each `accept` is tried under the lock that ends the wait, so none is tried once `stop` may
/// close the listening socket.
private final class ShortageWaiter: Sendable {
    private let state = Mutex<(waiting: CheckedContinuation<Socket?, Never>?, finished: Bool)>((nil, false))

    private enum Step {
        case sleep, stop
        case took(CheckedContinuation<Socket?, Never>, Socket)
    }

    func start(_ c: CheckedContinuation<Socket?, Never>, listening: Socket) {
        let cancelled = state.withLock { s -> Bool in
            guard !s.finished else { return true }
            s.waiting = c
            return false
        }
        guard !cancelled else { return c.resume(returning: nil) }
        Thread.detachNewThread { [self] in
            while true {
                sleep(1)
                switch step(listening) {
                case .sleep: continue
                case .stop: return
                case .took(let c, let socket): return c.resume(returning: socket)
                }
            }
        }
    }

    private func step(_ listening: Socket) -> Step {
        state.withLock { s in
            guard !s.finished, let waiting = s.waiting else { return .stop }
            guard let taken = try? listening.accept() else { return .sleep }
            s.finished = true
            s.waiting = nil
            return .took(waiting, Socket(file: taken.file))
        }
    }

    /// Ends the wait, resuming it with nil unless the thread took a connection first.
    func finish() {
        let waiting = state.withLock { s -> CheckedContinuation<Socket?, Never>? in
            s.finished = true
            defer { s.waiting = nil }
            return s.waiting
        }
        waiting?.resume(returning: nil)
    }
}
