import Foundation
import ScriptProtocol
import ScriptService

/// What a load run measured.
public struct LoadReport: Sendable {
    public var sent = 0
    /// Requests that came back with a result.
    public var answered = 0
    /// Results whose kept indices differ from in-process pruning's (counted in `answered` too).
    public var wrong = 0
    /// Error replies by code.
    public var errors: [String: Int] = [:]
    /// Requests with no reply within the timeout.
    public var timeouts = 0
    /// Latency of every answered request, in ms.
    public var latencies: [Double] = []
    public var seconds = 0.0
    /// CPU milliseconds a request cost each local role (`coordinator`, `worker`, `load generator`).
    public var cpuPerRequestMs: [String: Double] = [:]
    /// Local processes of each role that were measured, and how many of them exited during the
    /// run (their CPU counts up to their last reading, a quarter second apart at most).
    public var processes: [String: Int] = [:]
    public var processesExited: [String: Int] = [:]

    mutating func record(_ reply: ClusterReply, latencyMs: Double, expected: [Int]?) {
        switch reply {
        case .result(let r):
            answered += 1
            if let expected, r.indices != expected { wrong += 1 }
            latencies.append(latencyMs)
        case .error(_, let e):
            errors[e.code.rawValue, default: 0] += 1
        case .status, .placement:
            break
        }
    }

    /// Adds `other`, a later run of the same load: counts and latencies summed, each role's CPU a
    /// request weighted by the requests each run answered.
    public mutating func merge(_ other: LoadReport) {
        let a = Double(answered), b = Double(other.answered)
        for role in Set(cpuPerRequestMs.keys).union(other.cpuPerRequestMs.keys) where a + b > 0 {
            cpuPerRequestMs[role] = ((cpuPerRequestMs[role] ?? 0) * a + (other.cpuPerRequestMs[role] ?? 0) * b) / (a + b)
        }
        sent += other.sent
        answered += other.answered
        wrong += other.wrong
        errors.merge(other.errors, uniquingKeysWith: +)
        timeouts += other.timeouts
        latencies += other.latencies
        seconds += other.seconds
        processes.merge(other.processes, uniquingKeysWith: max)
        processesExited.merge(other.processesExited, uniquingKeysWith: +)
    }

    /// Results a second.
    public var throughput: Double { seconds > 0 ? Double(answered) / seconds : 0 }

    /// The `p`-th percentile latency (nearest rank), in ms.
    public func percentile(_ p: Double) -> Double {
        let s = latencies.sorted()
        guard !s.isEmpty else { return .nan }
        let i = min(s.count - 1, max(0, Int((p / 100 * Double(s.count)).rounded(.up)) - 1))
        return s[i]
    }

    /// The coordinators' share of the CPU a request cost every local role.
    public var coordinatorShare: Double {
        let total = cpuPerRequestMs.values.reduce(0, +)
        return total > 0 ? (cpuPerRequestMs["coordinator"] ?? 0) / total : 0
    }

    /// A few lines for a person.
    public var text: String {
        var lines = ["\(answered) of \(sent) requests answered in \(Units.duration(milliseconds: seconds * 1000)): \(Units.rate(throughput))"]
        if !latencies.isEmpty {
            lines.append("latency p50 \(Units.duration(milliseconds: percentile(50))), p90 \(Units.duration(milliseconds: percentile(90))), p99 \(Units.duration(milliseconds: percentile(99)))")
        }
        if wrong > 0 { lines.append("WRONG: \(wrong) of \(answered) answers differ from in-process pruning of the same values") }
        if !errors.isEmpty || timeouts > 0 {
            let parts = errors.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" } + (timeouts > 0 ? ["client timeout \(timeouts)"] : [])
            lines.append("errors: " + parts.joined(separator: ", "))
        }
        let roles = ["coordinator", "worker", "load generator"].filter { cpuPerRequestMs[$0] != nil }
        if !roles.isEmpty {
            lines.append("CPU a request: " + roles.map { role in
                let exited = processesExited[role] ?? 0
                let n = processes[role].map { $0 == 1 && exited == 0 ? "" : " (\($0)\(exited > 0 ? ", \(exited) exited during the run" : ""))" } ?? ""
                return "\(role)\(n) \(Units.duration(milliseconds: cpuPerRequestMs[role]!))"
            }.joined(separator: ", ") + "; coordinator share \(Units.fixed(coordinatorShare * 100, decimals: 1))%")
        }
        return lines.joined(separator: "\n")
    }

    /// The figures as JSON-ready values (timings rounded to microseconds).
    public var dictionary: [String: Any] {
        let us = { (x: Double) -> Any in x.isFinite ? Units.rounded(x, to: 0.001) : NSNull() }
        return ["sent": sent, "answered": answered, "wrong": wrong, "errors": errors, "timeouts": timeouts,
                "seconds": us(seconds), "throughput": Units.rounded(throughput, to: 0.01),
                "p50_ms": us(percentile(50)), "p90_ms": us(percentile(90)), "p99_ms": us(percentile(99)),
                "cpu_per_request_ms": cpuPerRequestMs.mapValues { Units.rounded($0, to: 0.001) }, "coordinator_share": Units.rounded(coordinatorShare, to: 0.0001),
                "processes": processes, "processes_exited": processesExited]
    }
}
