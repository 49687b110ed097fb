import ScriptService

/// One served (or refused) request, as the access log and the metrics see it.
public struct AccessRecord: Sendable, Equatable {
    public var id: String
    public var tokens: Int
    public var kept: Int
    public var shards: Int
    public var workers: [String]
    public var milliseconds: Double
    /// `ok`, or the error code.
    public var outcome: String
    public var transfer: String

    /// The access line and the request metrics' view of it.
    public var logEntry: AccessLogEntry {
        let duration = Duration.nanoseconds(Int64((milliseconds * 1e6).rounded()))
        guard outcome == "ok" else {
            return .failed(id: id, code: outcome, tokensIn: tokens, shards: shards, workers: workers.count, duration: duration)
        }
        return .served(id: id, tokensIn: tokens, tokensKept: kept, shards: shards, workers: workers.count, duration: duration)
    }
}
