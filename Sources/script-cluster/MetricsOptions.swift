import ArgumentParser
import Logging
import ScriptOps
import ScriptService

/// `--metrics-port` and `--metrics-address`: the HTTP port of a coordinator or worker serving
/// `/metrics` (Prometheus text), `/livez` and `/readyz`, and a coordinator's `/workers`.
struct MetricsOptions: ParsableArguments {
    @Option(name: .customLong("metrics-port"), parsing: .unconditional,
            help: "Serve /metrics (Prometheus), /livez and /readyz (and a coordinator /workers, JSON) over HTTP on this port (0: any free one; default: no HTTP port).")
    var port: Int?

    @Option(name: .customLong("metrics-address"),
            help: "Address of the metrics port: 0.0.0.0 (every IPv4 interface), 127.0.0.1 (this host only) or :: (IPv6).")
    var address = "0.0.0.0"

    func validate() throws {
        if let port, !(0...65_535).contains(port) { throw InputError("--metrics-port", "\(port)", "must be 0 to 65535").validation }
    }

    /// swift-metrics bootstrapped with the Prometheus backend when a port is asked for (before
    /// the process records anything).
    func exporter(role: String) -> PrometheusExporter? {
        port == nil ? nil : PrometheusExporter.bootstrap(role: role)
    }

    /// The port serving `health` and `exporter`, when one is asked for; its URL is printed as a
    /// `metrics URL` line. A port that cannot be opened is a `StartupError`.
    func start(health: HealthState, exporter: PrometheusExporter?, roster: WorkerRoster? = nil, logger: Logger) throws -> OpsServer? {
        guard let port else { return nil }
        do {
            let server = try OpsServer.start(host: address, port: port, health: health, exporter: exporter, roster: roster, logger: logger)
            say("metrics \(server.url)")
            return server
        } catch {
            throw StartupError(error.description)
        }
    }
}
