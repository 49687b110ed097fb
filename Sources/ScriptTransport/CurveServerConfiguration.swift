/// A coordinator's CurveZMQ setup: its key pair, and the public keys of the clients (frontend)
/// and of the workers (backend) it lets in. A client key does not open the backend, so a client
/// cannot pose as a worker.
public struct CurveServerConfiguration: Sendable, Hashable {
    /// ZAP domains of the two sockets.
    public static let clientDomain = "clients", workerDomain = "workers"

    public var keyPair: CurveKeyPair
    public var clients: Set<CurveKey>
    public var workers: Set<CurveKey>

    public init(keyPair: CurveKeyPair, clients: Set<CurveKey>, workers: Set<CurveKey>) {
        self.keyPair = keyPair
        self.clients = clients
        self.workers = workers
    }

    /// From key files: the coordinator's `.key_secret` file and two allow-lists (a directory of
    /// `.key` files, or a file of keys).
    public static func load(secretFile: String, clients: String, workers: String) throws(CurveKeyError) -> CurveServerConfiguration {
        CurveServerConfiguration(keyPair: try CurveKeyFile.readKeyPair(secretFile),
                                 clients: try CurveKeyFile.readAllowList(clients),
                                 workers: try CurveKeyFile.readAllowList(workers))
    }

    /// For the client-facing socket.
    public var frontend: CurveServerSettings { CurveServerSettings(keyPair: keyPair, domain: Self.clientDomain) }
    /// For the worker-facing socket.
    public var backend: CurveServerSettings { CurveServerSettings(keyPair: keyPair, domain: Self.workerDomain) }

    /// Starts the authenticator of `context` with both allow-lists; start it before binding the
    /// sockets, stop it before closing the context.
    public func startAuthenticator(context: ZMQContext, onRefusal: @escaping @Sendable (ZAPHandler.Refusal) -> Void) throws -> ZAPHandler {
        try ZAPHandler(context: context, allowed: [Self.clientDomain: clients, Self.workerDomain: workers], onRefusal: onRefusal)
    }
}
