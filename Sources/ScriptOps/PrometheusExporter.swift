import CoreMetrics
import Prometheus
import ScriptService
import Synchronization

/// The process's metrics backend: swift-metrics bootstrapped with a swift-prometheus registry,
/// plus the process metrics (CPU, memory, start time) and build info, rendered in Prometheus'
/// text format on each scrape.
public final class PrometheusExporter: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let lastCPU = Mutex<Duration>(.zero)

    private static let installed = Mutex<PrometheusExporter?>(nil)

    private init(role: String) {
        registry = PrometheusCollectorRegistry()
        registry.makeGauge(descriptor: Self.descriptor(ClusterMetrics.buildInfo),
                           labels: [("version", BuildInfo.version), ("role", role)]).set(1.0)
        if let start = ProcessStats.startTime() {
            registry.makeGauge(descriptor: Self.descriptor(ClusterMetrics.processStart)).set(start)
        }
    }

    /// Bootstraps swift-metrics for this process (once: swift-metrics allows one backend a
    /// process; later calls return the first exporter, whatever their role).
    public static func bootstrap(role: String) -> PrometheusExporter {
        installed.withLock { current in
            if let current { return current }
            let exporter = PrometheusExporter(role: role)
            MetricsSystem.bootstrap(CatalogueMetricsFactory(registry: exporter.registry))
            current = exporter
            return exporter
        }
    }

    /// Everything in Prometheus' text exposition format (version 0.0.4).
    public func render() -> [UInt8] {
        refreshProcessMetrics()
        return registry.emitToBuffer()
    }

    /// The content type of `render`'s bytes.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    private func refreshProcessMetrics() {
        let cpu = CPUTime.process()
        let delta = lastCPU.withLock { last in
            defer { last = max(last, cpu) }
            return cpu - last
        }
        let counter = registry.makeCounter(descriptor: Self.descriptor(ClusterMetrics.processCPU))
        if delta > .zero { counter.increment(by: Self.seconds(delta)) }
        registry.makeGauge(descriptor: Self.descriptor(ClusterMetrics.processMemory)).set(ProcessStats.residentBytes())
    }

    static func descriptor(_ d: MetricDefinition) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: d.name, unitName: "", helpText: d.help)
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}
