import FlyingFox
import Foundation
import ScriptService

/// The routes of the operations port: `/metrics` (Prometheus text), `/livez` (the process's loop
/// still turns) and `/readyz` (it can do its job), each 200 or 503 with a one-line reason; a
/// coordinator's also `/workers` (JSON: the workers it has registered).
struct OpsRoutes: HTTPHandler {
    let health: HealthState
    let exporter: PrometheusExporter?
    let roster: WorkerRoster?

    func handleRequest(_ request: HTTPRequest) async throws -> HTTPResponse {
        guard request.method == .GET || request.method == .HEAD else {
            return text(.methodNotAllowed, "only GET and HEAD\n")
        }
        switch request.path {
        case "/metrics":
            guard let exporter else { return text(.notFound, "metrics are off in this process\n") }
            return HTTPResponse(statusCode: .ok, headers: [.contentType: PrometheusExporter.contentType],
                                body: Data(exporter.render()))
        case "/livez":
            return health.isLive() ? text(.ok, "live\n")
                : text(.serviceUnavailable, "stalled: the loop has not turned for over \(Units.duration(health.stallLimit))\n")
        case "/readyz":
            let (ready, reason) = health.readiness
            return ready ? text(.ok, "ready: \(reason)\n") : text(.serviceUnavailable, "not ready: \(reason)\n")
        case "/workers":
            guard let roster else { return text(.notFound, "a worker has no workers: ask its coordinator's port\n") }
            return HTTPResponse(statusCode: .ok, headers: [.contentType: "application/json"], body: roster.json())
        default:
            return text(.notFound, "not found: try /metrics, /livez or /readyz\(roster == nil ? "" : " or /workers")\n")
        }
    }

    private func text(_ status: HTTPStatusCode, _ body: String) -> HTTPResponse {
        HTTPResponse(statusCode: status, headers: [.contentType: "text/plain; charset=utf-8"], body: Data(body.utf8))
    }
}
