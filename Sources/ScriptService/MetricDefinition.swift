/// One metric a process exports: its Prometheus name, type, label names and help text.
///
/// The catalogue (`ClusterMetrics.all`) is the single place these are written down; the metrics
/// backend (ScriptOps) reads help texts and histogram buckets from it, and a test checks that
/// every entry is documented in Docs/DEPLOY.md.
public struct MetricDefinition: Sendable, Hashable {
    /// How the value behaves.
    public enum Kind: Sendable, Hashable {
        /// Only goes up (resets when the process restarts); `rate()` it.
        case counter
        /// Goes up and down; read as is.
        case gauge
        /// Durations counted into buckets (upper bounds, ascending), exported in seconds.
        case histogram(buckets: [Duration])

        /// The Prometheus `# TYPE` word.
        public var typeName: String {
            switch self {
            case .counter: return "counter"
            case .gauge: return "gauge"
            case .histogram: return "histogram"
            }
        }
    }

    /// Which process exports it.
    public enum Exporter: String, Sendable, Hashable {
        case coordinator, worker, both
    }

    public let name: String
    public let kind: Kind
    public let labels: [String]
    public let help: String
    public let exporter: Exporter

    public init(_ name: String, _ kind: Kind, labels: [String] = [], exporter: Exporter, help: String) {
        self.name = name
        self.kind = kind
        self.labels = labels
        self.help = help
        self.exporter = exporter
    }
}
