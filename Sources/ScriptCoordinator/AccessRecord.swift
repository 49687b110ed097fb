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
    /// Ended while it waited for a worker, with too little time left to be answered: counted as
    /// overloaded (a reason to scale), whatever its code.
    public var shed = false

    /// The access line and the request metrics' view of it.
    public var logEntry: AccessLogEntry {
        let duration = Duration.nanoseconds(Int64((milliseconds * 1e6).rounded()))
        guard outcome == "ok" else {
            var entry = AccessLogEntry.failed(id: id, code: outcome, tokensIn: tokens, shards: shards, workers: workers.count, duration: duration)
            if shed { entry.outcome = .overloaded }
            return entry
        }
        return .served(id: id, tokensIn: tokens, tokensKept: kept, shards: shards, workers: workers.count, duration: duration)
    }
}
