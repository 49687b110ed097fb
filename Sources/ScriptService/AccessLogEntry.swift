import Logging

/// What one answered request leaves in the coordinator's log and metrics: its id, tokens in and
/// kept, shards, workers, time from arrival to reply, and outcome.
///
/// The coordinator builds one per reply and hands it to `Logger.access(_:)` (one line) and
/// `ClusterMetrics.requestFinished(_:)` (counters and the latency histogram).
public struct AccessLogEntry: Sendable, Equatable {
    public var id: String
    public var tokensIn: Int
    /// Tokens kept (0 when the request failed).
    public var tokensKept: Int
    public var shards: Int
    /// Distinct workers that served its shards.
    public var workers: Int
    /// From the request's arrival to its reply.
    public var duration: Duration
    public var outcome: RequestOutcome
    /// The error reply's wire code; nil for a result.
    public var code: String?

    public init(id: String, tokensIn: Int, tokensKept: Int, shards: Int, workers: Int, duration: Duration,
                outcome: RequestOutcome, code: String? = nil) {
        self.id = id
        self.tokensIn = tokensIn
        self.tokensKept = tokensKept
        self.shards = shards
        self.workers = workers
        self.duration = duration
        self.outcome = outcome
        self.code = code
    }

    /// A request answered with a result.
    public static func served(id: String, tokensIn: Int, tokensKept: Int, shards: Int, workers: Int, duration: Duration) -> Self {
        Self(id: id, tokensIn: tokensIn, tokensKept: tokensKept, shards: shards, workers: workers, duration: duration, outcome: .ok)
    }

    /// A request answered with an error of wire code `code`.
    public static func failed(id: String, code: String, tokensIn: Int, shards: Int, workers: Int, duration: Duration) -> Self {
        Self(id: id, tokensIn: tokensIn, tokensKept: 0, shards: shards, workers: workers, duration: duration,
             outcome: RequestOutcome(errorCode: code), code: code)
    }

    /// The line a person reads: `request 7f3a ok: 2880 -> 320 tokens, 5 shards on 2 workers, 51.6 ms`.
    public var textLine: String {
        let what = code.map { "\(outcome.rawValue) (\(PrintableText.escaped($0)))" } ?? outcome.rawValue
        let tokens = outcome == .ok ? "\(tokensIn) -> \(tokensKept) tokens" : "\(tokensIn) tokens"
        let plural = { (n: Int, word: String) in "\(n) \(word)\(n == 1 ? "" : "s")" }
        return "request \(PrintableText.escaped(id)) \(what): \(tokens), \(plural(shards, "shard")) on \(plural(workers, "worker")), "
            + Units.duration(duration)
    }

    /// The fields as JSON log metadata: numbers stay numbers, `ms` rounded to the microsecond.
    public var metadata: Logger.Metadata {
        var m: Logger.Metadata = [
            "id": .string(id),
            "tokens_in": .stringConvertible(tokensIn),
            "tokens_kept": .stringConvertible(tokensKept),
            "shards": .stringConvertible(shards),
            "workers": .stringConvertible(workers),
            "ms": .stringConvertible(Units.rounded(duration.milliseconds, to: 0.001)),
            "outcome": .string(outcome.rawValue),
        ]
        if let code { m["code"] = .string(code) }
        return m
    }
}

extension Logger {
    /// Writes the access line of a request at `info`: as text in text logs, as fields in JSON logs
    /// (its source is the caller's module).
    public func access(_ entry: AccessLogEntry, file: String = #fileID, function: String = #function, line: UInt = #line) {
        switch LogSetup.format {
        case .text: info("\(entry.textLine)", file: file, function: function, line: line)
        case .json: info("request", metadata: entry.metadata, file: file, function: function, line: line)
        }
    }
}
