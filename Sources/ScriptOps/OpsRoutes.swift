import Foundation
import ScriptService

/// The routes of the operations port: `/metrics` (Prometheus text), `/livez` (the process's loop
/// still turns) and `/readyz` (it can do its job), each 200 or 503 with a one-line reason; a
/// coordinator's also `/workers` (JSON: the workers it has registered).
struct OpsRoutes: Sendable {
    let health: HealthState
    let exporter: PrometheusExporter?
    let roster: WorkerRoster?

    func answer(_ request: HTTPRequestHead) -> HTTPAnswer {
        guard request.method == "GET" || request.method == "HEAD" else {
            var a = HTTPAnswer.text(405, "only GET and HEAD\n")
            a.extra = ["Allow: GET, HEAD"]
            return a
        }
        switch request.path {
        case "/metrics":
            guard let exporter else { return .text(404, "metrics are off in this process\n") }
            return HTTPAnswer(status: 200, contentType: PrometheusExporter.contentType, body: exporter.render())
        case "/livez":
            return health.isLive() ? .text(200, "live\n")
                : .text(503, "stalled: the loop has not turned for over \(Units.duration(health.stallLimit))\n")
        case "/readyz":
            let (ready, reason) = health.readiness
            return ready ? .text(200, "ready: \(reason)\n") : .text(503, "not ready: \(reason)\n")
        case "/workers":
            guard let roster else { return .text(404, "a worker has no workers: ask its coordinator's port\n") }
            return HTTPAnswer(status: 200, contentType: "application/json", body: Array(roster.json()))
        default:
            return .text(404, "not found: try /metrics, /livez or /readyz\(roster == nil ? "" : " or /workers")\n")
        }
    }
}
