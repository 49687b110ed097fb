/// A worker's data socket this client could not connect to within `ClusterClient.dataConnectTimeout`
/// of a placement that named it (`dataFailureGrace` where its connection attempts failed), when
/// the request already named that address in `avoid` (the coordinator placed a shard there all
/// the same). A connection, unlike a transfer, takes no
/// longer under load, so this is an address the client cannot reach (usually a worker's
/// `--data-advertise`).
public struct DataSocketUnreachable: Error, Sendable, Equatable, CustomStringConvertible {
    /// The data socket's endpoint, as the placement named it.
    public let endpoint: String
    public let seconds: Double

    public init(endpoint: String, seconds: Double) {
        self.endpoint = endpoint
        self.seconds = seconds
    }

    public var description: String {
        "could not connect to the worker's data socket at \(endpoint) within \(seconds.formatted()) s: is that address (the worker's --data-advertise) reachable from this client? (or send inline)"
    }
}
