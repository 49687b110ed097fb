import ScriptProtocol

/// Why a coordinator's endpoint refused this worker: at the ZeroMQ handshake, as the link
/// socket's monitor reports it, or by answering as a coordinator's frontend or in another
/// protocol version. The worker says which, closes the link, and tries a fresh socket
/// after its back-off (the coordinator may come back with other keys), instead of letting libzmq
/// try again ten times a second or never.
public enum LinkRefusal: Sendable, Equatable {
    /// This worker's CURVE public key is not on the coordinator's allow-list.
    case key
    /// The coordinator speaks CURVE and this worker does not.
    case curveRequired
    /// This worker speaks CURVE and the coordinator does not.
    case curveUnspoken
    /// The handshake itself failed: with CURVE, the coordinator's public key given to this
    /// worker is not its key (it cannot read the worker's hello); without, what listens there
    /// does not speak ZeroMQ's protocol.
    case handshake(curve: Bool)
    /// What answers there is a coordinator's frontend, where clients connect.
    case frontend
    /// The coordinator speaks another version of the backend protocol (another release).
    case version(Int)
    /// The coordinator refused this worker and said why (`refused`).
    case told(String)

    /// What the refusal means and what to change, after "coordinator ENDPOINT ".
    func explanation(workerKey: String?) -> String {
        switch self {
        case .key:
            return "refused this worker at the CURVE handshake: its public key \(workerKey ?? "") is not on the coordinator's allow-list (--curve-workers)"
        case .curveRequired:
            return "speaks CURVE and this worker does not: give the worker its key pair and the coordinator's public key (--curve-secret, --curve-server-key)"
        case .curveUnspoken:
            return "does not speak CURVE and this worker does: leave out the worker's CURVE keys, or give the coordinator its own (--curve-secret)"
        case .handshake(curve: true):
            return "failed the CURVE handshake: the coordinator key given to this worker (--curve-server-key) is not that coordinator's, or what listens there is not a coordinator"
        case .handshake(curve: false):
            return "failed the ZeroMQ handshake: what listens there is not a coordinator's backend"
        case .frontend:
            return "answers as a coordinator's frontend, where clients connect: workers connect to its backend (--backend)"
        case .told(let why):
            return "refused this worker: \(why)"
        case .version(let theirs):
            return "speaks backend protocol version \(theirs), this worker \(ProtocolVersion.backend): run one release of script-cluster on both"
        }
    }
}
