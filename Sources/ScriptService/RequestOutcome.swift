/// How a request ended, as metrics and access lines group it: whose fault, and what to do.
public enum RequestOutcome: String, Sendable, CaseIterable {
    /// Answered with a result.
    case ok
    /// Refused for its input (bad_*, non_finite, too_large, ...): the client must change it.
    case rejected
    /// Refused for load (busy, shutting_down): the client may retry, the operator may scale.
    case overloaded
    /// Failed on the cluster's side (timeout, internal, or a code this table does not know).
    case failed
    /// Given up by its client (`cancel`) before it was answered.
    case cancelled

    /// The outcome of an error reply with this wire code (Cluster/PROTOCOL.md).
    public init(errorCode code: String) {
        if code == Self.cancelled.rawValue {
            self = .cancelled
        } else if Self.clientCodes.contains(code) {
            self = .rejected
        } else if Self.loadCodes.contains(code) {
            self = .overloaded
        } else {
            self = .failed
        }
    }

    /// Error codes that blame the request.
    public static let clientCodes: Set<String> = [
        "bad_message", "unsupported_version", "unknown_type", "bad_request", "bad_tensor", "bad_shape",
        "non_finite", "bad_budget", "bad_shards", "bad_option", "too_large",
    ]
    /// Error codes that say the cluster is full or leaving.
    public static let loadCodes: Set<String> = ["busy", "shutting_down"]
}
