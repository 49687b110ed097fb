import Logging
import ScriptTransport
#if canImport(Glibc)
import Glibc
#endif

/// The connections of one listening socket, as its ZeroMQ monitor reports them: counted (here
/// and in `script_cluster_connections_total`), and refusals at the handshake and connections it
/// could not accept logged as warnings, each at most once a `reportInterval` with how many there
/// were since the last line (a port scanner must not flood the log).
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
    /// Connections accepted, closed (by the peer, or dropped for a frame over the size limit),
    /// refused at the handshake (closed before one, not a ZeroMQ peer, the wrong mechanism, a key
    /// not allowed), and not accepted (the open-file limit).
    public private(set) var counts = (accepted: 0, closed: 0, refused: 0, unaccepted: 0)

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
                counts.accepted += 1
                ClusterMetrics.connection(.accepted, on: socket)
            case .disconnected:
                counts.closed += 1
                ClusterMetrics.connection(.closed, on: socket)
                logger.debug("a \(peers) connection on the \(socket.rawValue) socket closed (by the \(peers), or dropped for a frame over the size limit)")
            case .authenticationFailed:
                counts.refused += 1
                ClusterMetrics.connection(.refused, on: socket)
                logger.debug("a \(peers) connection on the \(socket.rawValue) socket was refused: its CURVE key is not allowed")
            case .handshakeFailed, .mechanismMismatch, .serverKeyMismatch:
                counts.refused += 1
                ClusterMetrics.connection(.refused, on: socket)
                refusedAtHandshake(now: now)
            case .acceptFailed(let code):
                counts.unaccepted += 1
                ClusterMetrics.connection(.acceptFailed, on: socket)
                notAccepted(code, now: now)
            case .connectRetried, .connected, .handshakeSucceeded:
                break  // a bound socket's peers connect to it (counted as accepted), not it to them
            }
        }
    }

    private func refusedAtHandshake(now: ContinuousClock.Instant) {
        guard let times = refusals.due(now) else { return }
        logger.warning("refused a \(peers) connection on the \(socket.rawValue) socket at the handshake: closed before a handshake (a TCP health check, a port scan, a \(peers) that gave up waiting), not a ZeroMQ peer, a peer without CURVE where it is required (or with it where it is not), or the wrong server key\(times)")
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
