import ArgumentParser
import Foundation
import ScriptClient
import ScriptOps
import ScriptProtocol
import ScriptService

/// `status`: a coordinator's state, or a probe URL's answer, as a person or a healthcheck reads it.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status",
        abstract: "Print a coordinator's state (or GET a probe URL); exit 0 when ready, 1 when not, 3 when nothing answers.",
        discussion: "Usable as a container healthcheck: `script-cluster status --connect tcp://127.0.0.1:5555` is ready once the coordinator has --min-workers workers; `script-cluster status --url http://127.0.0.1:9090/readyz` asks a coordinator's or a worker's probe.")

    @Option(help: "The coordinator's client endpoint.") var connect = "tcp://127.0.0.1:5555"
    @Option(help: "Instead of asking a coordinator over ZeroMQ, GET this URL (a /readyz or /livez on a --metrics-port); ready means HTTP 200.")
    var url: String?
    @Option(name: .customLong("min-workers"), parsing: .unconditional, help: "Workers the coordinator needs to count as ready.") var minWorkers = 1
    @Option(name: .customLong("timeout-ms"), parsing: .unconditional, help: "How long to wait for an answer.") var timeoutMs = 2000
    @Flag(help: "Print JSON instead of a table.") var json = false
    @OptionGroup var curve: CurveClientOptions

    /// Exit statuses: ready, answered but not ready, no answer.
    static let notReady: Int32 = 1, noAnswer: Int32 = 3

    func validate() throws {
        try FlagValue.endpoint(connect, "--connect", binds: false)
        if let url {
            do { try HTTPProbe.check(url) } catch { throw InputError("--url", url, "must be an http://HOST:PORT/PATH URL (such as http://127.0.0.1:9555/readyz)").validation }
        }
        try FlagValue.count(timeoutMs, "--timeout-ms")
        try FlagValue.count(minWorkers, "--min-workers", from: 0)
    }

    func run() throws {
        let report = try url.map(probe) ?? askCoordinator()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            say(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            say(report.table)
        }
        if report.error != nil { throw ExitCode(Self.noAnswer) }
        if !report.ready { throw ExitCode(Self.notReady) }
    }

    private func askCoordinator() throws -> StatusReport {
        var r = StatusReport(target: connect, ready: false)
        var options = ClusterClient.Options()
        options.curve = try curve.settings()
        let client: ClusterClient
        do { client = try ClusterClient(endpoints: [connect], options: options) } catch let e as ProtocolError { throw ValidationError(e.message) }
        defer { client.close() }
        do {
            guard let s = try client.status(timeoutMs: timeoutMs) else {
                r.error = "no answer within \(timeoutMs) ms" + (client.connectionTrouble(0).map { "; \($0)" } ?? "")
                return r
            }
            r.workers = s.workers
            r.queuedShards = s.queuedShards
            r.requestsInFlight = s.requestsInFlight
            r.served = s.served
            r.failed = s.failed
            r.draining = s.draining
            r.ready = s.workers >= minWorkers && !s.draining
            r.reason = s.draining ? "draining (stopping)" : "\(s.workers) workers, \(minWorkers) needed"
        } catch let e as ProtocolError where e.code == .timeout {
            r.error = "no answer within \(timeoutMs) ms"
        } catch {
            r.error = "\(error)"
        }
        return r
    }

    private func probe(_ url: String) -> StatusReport {
        var r = StatusReport(target: url, ready: false)
        do {
            let response = try HTTPProbe.get(url, timeout: .milliseconds(timeoutMs))
            r.httpStatus = response.status
            r.ready = response.status == 200
            r.reason = response.body.trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            r.error = error.description
        }
        return r
    }
}

/// What `status` prints.
struct StatusReport: Encodable {
    var target: String
    var ready: Bool
    var reason: String?
    var error: String?
    var httpStatus: Int?
    var workers: Int?
    var queuedShards: Int?
    var requestsInFlight: Int?
    var served: Int?
    var failed: Int?
    var draining: Bool?

    enum CodingKeys: String, CodingKey {
        case target, ready, reason, error, workers, served, failed, draining
        case httpStatus = "http_status", queuedShards = "queued_shards", requestsInFlight = "requests_in_flight"
    }

    /// Two columns: what, and its value.
    var table: String {
        var rows: [(String, String)] = [("target", target), ("ready", ready ? "yes" : "no")]
        if let error { rows.append(("error", error)) }
        if let reason { rows.append(("reason", reason)) }
        if let httpStatus { rows.append(("http status", "\(httpStatus)")) }
        for (name, value) in [("workers", workers), ("requests in flight", requestsInFlight), ("queued shards", queuedShards),
                              ("served", served), ("failed", failed)] {
            if let value { rows.append((name, "\(value)")) }
        }
        let width = rows.map(\.0.count).max()! + 2
        return rows.map { $0.0 + String(repeating: " ", count: width - $0.0.count) + $0.1 }.joined(separator: "\n")
    }
}
