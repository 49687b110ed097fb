import Foundation
import ScriptClient
import ScriptCore
import ScriptProtocol
import ScriptService
import ScriptWire

/// Sends copies of one request (fresh ids) to a cluster, closed loop (a fixed number in
/// flight) or open loop (a fixed arrival rate), and times their replies: what a capacity plan
/// needs. The request is encoded once; each copy shares its tensor bytes, so the generator
/// itself costs little CPU. Every answer is compared with what in-process pruning keeps of the
/// same values (`expected`): a load that is fast but wrong reports it.
public final class LoadGenerator {
    /// How the load is offered.
    public enum Pace: Sendable, Equatable {
        /// Keep this many requests in flight.
        case concurrency(Int)
        /// Send this many requests a second, whatever the replies.
        case rate(Double)
    }

    /// How hard and how long to load: the pace, the duration or count, the warm-up, the timeout.
    public struct Settings: Sendable {
        public var pace: Pace = .concurrency(1)
        /// Seconds of load (after the warm-up).
        public var duration: Double = 10
        /// Requests at most (nil: as many as the duration allows).
        public var requests: Int?
        /// Requests sent first and not counted.
        public var warmup = 2
        /// How long one request may take before it counts as timed out.
        public var timeoutMs = 60_000
        /// Processes whose CPU a request costs, by role; nil: every `script-cluster coordinator`
        /// and `script-cluster worker` process of this machine, found again every quarter second
        /// (those restarted during the run count too).
        public var roles: [String: [Int32]]?
        /// Called about every 100 ms while loading: requests done, seconds elapsed.
        public var progress: (@Sendable (Int, Double) -> Void)?
        public init() {}
    }

    private let client: ClusterClient
    private let template: EncodedSubmission
    private let expected: [Int]?
    private var serial = 0
    private let prefix = "load-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"

    /// - Parameter expected: the kept indices every answer must equal (`expectedIndices`); nil:
    ///   answers are not checked.
    public init(client: ClusterClient, template: EncodedSubmission, expected: [Int]?) {
        self.client = client
        self.template = template
        self.expected = expected
    }

    /// What in-process pruning keeps of `submission` as the cluster receives it (its tensors
    /// rounded to the wire dtype): the answer every copy must get.
    public static func expectedIndices(_ submission: PruneSubmission) throws -> [Int] {
        var r = submission.request
        let round = { (m: Matrix) in TensorCodec.encode(m, dtype: submission.dtype).matrix() }
        r.features = round(r.features)
        r.embeddings = r.embeddings.map(round)
        r.query = r.query.map(round)
        return try Pruner(pool: .machine).prune(r, budget: submission.budget, options: submission.options).indices
    }

    private func next() -> EncodedSubmission {
        serial += 1
        return template.renamed("\(prefix)-\(serial)")
    }

    /// Runs the load and reports what came back.
    public func run(_ settings: Settings) throws -> LoadReport {
        if settings.warmup > 0 {
            var warm = settings
            warm.pace = .concurrency(min(settings.warmup, 4))
            warm.requests = settings.warmup
            warm.duration = 60
            warm.warmup = 0
            warm.progress = nil
            _ = try load(warm, meter: CPUMeter(roles: [], find: { _ in [] }))
        }
        let fixed = settings.roles
        let roles = fixed.map { Array($0.keys) } ?? ["coordinator", "worker"]
        return try load(settings, meter: CPUMeter(roles: roles, find: { fixed?[$0] ?? ProcessCPU.processes(role: $0) }))
    }

    private func load(_ s: Settings, meter: CPUMeter) throws -> LoadReport {
        let clock = ContinuousClock()
        var meter = meter
        meter.sample()
        let ownBefore = ProcessCPU.own()
        let start = clock.now
        let end = start + .milliseconds(Int(s.duration * 1000))
        var sentAt: [String: ContinuousClock.Instant] = [:]
        var report = LoadReport()
        var lastProgress = start, lastSample = start
        func send() throws {
            let e = next()
            try client.send(e, to: client.chooseEndpoint())
            sentAt[e.id] = clock.now
            report.sent += 1
        }
        func mayStart(_ now: ContinuousClock.Instant) -> Bool { now < end && (s.requests.map { report.sent < $0 } ?? true) }
        while true {
            let now = clock.now
            switch s.pace {
            case .concurrency(let c):
                while sentAt.count < max(1, c) && mayStart(now) { try send() }
            case .rate(let r):
                let due = Int((now - start).milliseconds / 1000 * r) + 1
                while report.sent < due && mayStart(now) { try send() }
            }
            if sentAt.isEmpty && !mayStart(now) { break }
            // Sleep in the poll until a reply, the next open-loop send, or a progress tick.
            var wait = 100
            if case .rate(let r) = s.pace, mayStart(now) {
                let next = Double(report.sent) / r * 1000 - (now - start).milliseconds
                wait = max(0, min(wait, Int(next.rounded(.up))))
            }
            if let got = try client.receive(timeoutMs: wait), let t0 = sentAt.removeValue(forKey: got.reply.id) {
                // A reply later than the timeout is a timeout, whichever the loop saw first.
                let latency = (clock.now - t0).milliseconds
                if latency > Double(s.timeoutMs) { report.timeouts += 1 } else { report.record(got.reply, latencyMs: latency, expected: expected) }
            }
            for (id, t0) in sentAt where (clock.now - t0).milliseconds > Double(s.timeoutMs) {  // rare: a short scan
                sentAt[id] = nil
                client.forget(id)
                report.timeouts += 1
            }
            if clock.now - lastSample >= .milliseconds(250) {
                lastSample = clock.now
                meter.sample()
            }
            if let progress = s.progress, clock.now - lastProgress >= .milliseconds(100) {
                lastProgress = clock.now
                progress(report.answered + report.timeouts, (clock.now - start).milliseconds / 1000)
            }
        }
        report.seconds = (clock.now - start).milliseconds / 1000
        let done = Double(max(1, report.answered))
        meter.sample()
        for role in meter.roles {
            report.cpuPerRequestMs[role] = meter.milliseconds(role) / done
            (report.processes[role], report.processesExited[role]) = meter.processes(role)
        }
        report.cpuPerRequestMs["load generator"] = (ProcessCPU.own() - ownBefore) / done
        return report
    }
}
