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
    private let clock = ContinuousClock()
    private let prefix = "load-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    /// How long `run` waits for a coordinator's connection before it gives up.
    static let connectWithinSeconds = 10

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

    /// The next copy, due within `timeoutMs`: the cluster is told how long it is waited for, so
    /// that under overload it ends what it cannot start in time instead of computing it for no one.
    private func next(dueWithinMs timeoutMs: Int) -> EncodedSubmission {
        serial += 1
        return template.renamed("\(prefix)-\(serial)").due(withinMs: min(timeoutMs, RequestLimits().maxDeadlineMs))
    }

    /// Runs the load and reports what came back.
    public func run(_ settings: Settings) throws -> LoadReport {
        // The first requests go to a coordinator that is there: up to 10 s for one to connect,
        // then an error that says why none did (not the warm-up's and the run's timeouts, minutes
        // of silence).
        guard try client.awaitConnection(until: .now + .seconds(Self.connectWithinSeconds)) else {
            throw ProtocolError(.timeout, "no coordinator connection within \(Self.connectWithinSeconds) s; "
                                + (client.unreachableNote ?? "the connections made were lost"))
        }
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
        var meter = meter
        meter.sample()
        let ownBefore = ProcessCPU.own()
        var run = Run(settings: s, start: clock.now)
        var lastProgress = run.start, lastSample = run.start
        while true {
            try offer(&run)
            if run.sentAt.isEmpty && !run.mayStart(clock.now) { break }
            try collect(&run)
            if clock.now - lastSample >= .milliseconds(250) {
                lastSample = clock.now
                meter.sample()
            }
            if let progress = s.progress, clock.now - lastProgress >= .milliseconds(100) {
                lastProgress = clock.now
                progress(run.report.answered + run.report.timeouts, (clock.now - run.start).milliseconds / 1000)
            }
        }
        var report = run.report
        report.seconds = (clock.now - run.start).milliseconds / 1000
        let done = Double(max(1, report.answered))
        meter.sample()
        for role in meter.roles {
            report.cpuPerRequestMs[role] = meter.milliseconds(role) / done
            (report.processes[role], report.processesExited[role]) = meter.processes(role)
        }
        report.cpuPerRequestMs["load generator"] = (ProcessCPU.own() - ownBefore) / done
        return report
    }

    /// One load's state: what is in flight since when, and what came back.
    private struct Run {
        let settings: Settings
        let start: ContinuousClock.Instant
        let end: ContinuousClock.Instant
        var sentAt: [String: ContinuousClock.Instant] = [:]
        var report = LoadReport()

        init(settings: Settings, start: ContinuousClock.Instant) {
            self.settings = settings
            self.start = start
            end = start + .milliseconds(Int(settings.duration * 1000))
        }

        /// Whether another request may go: within the duration and the request count.
        func mayStart(_ now: ContinuousClock.Instant) -> Bool { now < end && (settings.requests.map { report.sent < $0 } ?? true) }
    }

    /// Sends what the pace allows now: up to the concurrency in flight, or what the rate has made due.
    private func offer(_ run: inout Run) throws {
        let now = clock.now
        func send() throws {
            let e = next(dueWithinMs: run.settings.timeoutMs)
            try client.send(e, to: client.chooseEndpoint())
            run.sentAt[e.id] = clock.now
            run.report.sent += 1
        }
        switch run.settings.pace {
        case .concurrency(let c):
            while run.sentAt.count < max(1, c) && run.mayStart(now) { try send() }
        case .rate(let r):
            let due = Int((now - run.start).milliseconds / 1000 * r) + 1
            while run.report.sent < due && run.mayStart(now) { try send() }
        }
    }

    /// Waits (in the poll) for a reply, the next open-loop send or a progress tick, then counts
    /// the reply and every request past its timeout.
    private func collect(_ run: inout Run) throws {
        let now = clock.now, timeoutMs = Double(run.settings.timeoutMs)
        var wait = 100
        if case .rate(let r) = run.settings.pace, run.mayStart(now) {
            let next = Double(run.report.sent) / r * 1000 - (now - run.start).milliseconds
            wait = max(0, min(wait, Int(next.rounded(.up))))
        }
        if let got = try client.receive(timeoutMs: wait), let t0 = run.sentAt.removeValue(forKey: got.reply.id) {
            // A reply later than the timeout is a timeout, whichever the loop saw first.
            let latency = (clock.now - t0).milliseconds
            if latency > timeoutMs { run.report.timeouts += 1 } else { run.report.record(got.reply, latencyMs: latency, expected: expected) }
        }
        for (id, t0) in run.sentAt where (clock.now - t0).milliseconds > timeoutMs {  // rare: a short scan
            run.sentAt[id] = nil
            client.cancel(id)
            run.report.timeouts += 1
        }
    }
}
