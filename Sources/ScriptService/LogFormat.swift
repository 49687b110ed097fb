/// How a process writes its log lines: `text` for people, `json` (one object a line) for log
/// collectors (Loki, Elasticsearch, Cloud Logging).
public enum LogFormat: String, Sendable, CaseIterable {
    case text, json

    /// The format called `name`; an unknown name is an error naming the accepted ones.
    public init(named name: String) throws(LogSetupError) {
        guard let f = LogFormat(rawValue: name.lowercased()) else {
            throw LogSetupError(setting: "log format", value: name, accepted: Self.allCases.map(\.rawValue))
        }
        self = f
    }
}
