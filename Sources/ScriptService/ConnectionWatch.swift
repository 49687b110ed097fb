import Logging
import ScriptTransport

/// The connections of one listening socket, as its ZeroMQ monitor reports them: counted (here
/// and in `script_cluster_connections_total`), and refusals at the handshake logged as warnings,
/// at most once a `reportInterval` with how many there were since the last line (a port scanner
/// must not flood the log).
///
/// A CURVE key that is not allowed is logged by the ZAP handler, which knows the key and the
/// address; this logs it at debug level only. Drain `monitor.socket` from the owner's loop.
public final class ConnectionWatch {
    public let monitor: ZMQMonitor
    public let socket: ClusterMetrics.Socket
    /// Who connects (`client`, `worker`), for log lines.
    private let peers: String
    private let logger: Logger
    private let reportInterval: Duration
    private var lastReport: ContinuousClock.Instant?
    private var unreported = 0
    /// Connections accepted, closed (by the peer, or dropped for a frame over the size limit),
    /// and refused at the handshake (not a ZeroMQ peer, the wrong mechanism, a key not allowed).
    public private(set) var counts = (accepted: 0, closed: 0, refused: 0)

    /// Starts monitoring `target`, which must outlive the watch.
    public init(_ target: ZMQSocket, socket: ClusterMetrics.Socket, peers: String, context: ZMQContext, logger: Logger,
                reportInterval: Duration = .seconds(60)) throws {
        monitor = try ZMQMonitor(target, context: context)
        self.socket = socket
        self.peers = peers
        self.logger = logger
        self.reportInterval = reportInterval
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
            case .handshakeFailed, .mechanismMismatch:
                counts.refused += 1
                ClusterMetrics.connection(.refused, on: socket)
                refusedAtHandshake(now: now)
            case .connectRetried, .handshakeSucceeded:
                break  // a bound socket's peers connect to it (counted as accepted), not it to them
            }
        }
    }

    private func refusedAtHandshake(now: ContinuousClock.Instant) {
        unreported += 1
        if let last = lastReport, now - last < reportInterval { return }
        let times = unreported > 1 ? " (\(unreported) times since the last report)" : ""
        logger.warning("refused a \(peers) connection on the \(socket.rawValue) socket at the handshake: not a ZeroMQ peer, a peer without CURVE where it is required (or with it where it is not), or the wrong server key\(times)")
        lastReport = now
        unreported = 0
    }

    public func close() { monitor.close() }
}
