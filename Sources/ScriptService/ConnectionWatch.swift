import Logging
import ScriptTransport
#if canImport(Glibc)
import Glibc
#endif

/// The connections of one listening socket, as its ZeroMQ monitor reports them: counted in
/// `script_cluster_connections_total`, and refusals at the handshake and connections it could
/// not accept logged as warnings, each at most once a `reportInterval` with how many there were
/// since the last line (a port scanner must not flood the log). A connection closed before its
/// handshake (a TCP health check's) is counted apart and logged at debug level: nothing is wrong.
///
/// A CURVE key that is not allowed is logged by the ZAP handler, which knows the key and the
/// address; this logs it at debug level only. Drain `monitor.socket` from the owner's loop.
public final class ConnectionWatch {
    public let monitor: ZMQMonitor
    public let socket: ClusterMetrics.Socket
    /// Who connects (`client`, `worker`), for log lines.
    private let peers: String
    private let logger: Logger
    private var refusals: WarningThrottle
    private var unaccepted: WarningThrottle

    /// Starts monitoring `target`, which must outlive the watch.
    public init(_ target: ZMQSocket, socket: ClusterMetrics.Socket, peers: String, context: ZMQContext, logger: Logger,
                reportInterval: Duration = .seconds(60)) throws {
        monitor = try ZMQMonitor(target, context: context)
        self.socket = socket
        self.peers = peers
        self.logger = logger
        refusals = WarningThrottle(interval: reportInterval)
        unaccepted = WarningThrottle(interval: reportInterval)
    }

    /// Takes the events that have arrived.
    public func drain(now: ContinuousClock.Instant = ContinuousClock().now) {
        for e in monitor.drain() {
            switch e {
            case .accepted:
                ClusterMetrics.connection(.accepted, on: socket)
            case .disconnected:
                ClusterMetrics.connection(.closed, on: socket)
                logger.debug("a \(peers) connection on the \(socket.rawValue) socket closed (by the \(peers), or dropped for a frame over the size limit)")
            case .closedBeforeHandshake:
                ClusterMetrics.connection(.closedBeforeHandshake, on: socket)
                logger.debug("a connection on the \(socket.rawValue) socket closed before a ZeroMQ handshake (a TCP health check, a port scan, an HTTP request, a \(peers) that gave up waiting)")
            case .authenticationFailed:
                ClusterMetrics.connection(.refused, on: socket)
                logger.debug("a \(peers) connection on the \(socket.rawValue) socket was refused: its CURVE key is not allowed")
            case .handshakeFailed, .mechanismMismatch, .serverKeyMismatch:
                ClusterMetrics.connection(.refused, on: socket)
                refusedAtHandshake(now: now)
            case .acceptFailed(let code):
                ClusterMetrics.connection(.acceptFailed, on: socket)
                notAccepted(code, now: now)
            case .connectRetried, .connected, .handshakeSucceeded:
                break  // a bound socket's peers connect to it (counted as accepted), not it to them
            }
        }
    }

    private func refusedAtHandshake(now: ContinuousClock.Instant) {
        guard let times = refusals.due(now) else { return }
        logger.warning("refused a \(peers) connection on the \(socket.rawValue) socket at the handshake: not a ZeroMQ peer, a peer without CURVE where it is required (or with it where it is not), or the wrong server key\(times)")
    }

    private func notAccepted(_ code: Int32, now: ContinuousClock.Instant) {
        guard let times = unaccepted.due(now) else { return }
        var why = String(cString: strerror(code))
        if code == EMFILE || code == ENFILE {
            let limit = OpenFileLimit.current.map { " (this process may open \($0))" } ?? ""
            why += "\(limit): raise the open-file limit (ulimit -n, or the container's nofile), or connect fewer \(peers)s"
        }
        logger.warning("cannot accept \(peers) connections on the \(socket.rawValue) socket: \(why); they wait unanswered, and libzmq retries on a whole core\(times)")
    }

    public func close() { monitor.close() }
}
