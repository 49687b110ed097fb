import Foundation
import ScriptClient
import ScriptCore
import ScriptLauncher
import ScriptProtocol
import ScriptService
import ScriptSynth

/// `bench --cluster`: a real local cluster (a coordinator and 1 or 2 single-thread workers as
/// child processes, every socket a private Unix socket as on one machine) under the load
/// generator, inline and direct transfers, against the in-process time of the same request.
public enum ClusterBench {
    struct Case {
        let name: String
        let kind: SampleKind
        let budget: Int
    }

    static let cases = [
        Case(name: "anyres 2880x4096 k=320 (5 tiles)", kind: .anyres, budget: 320),
        Case(name: "video 12544x3584 k=1024 (8 segments)", kind: .video, budget: 1024),
    ]

    /// The cases it measures, by name (the image case is one tile: nothing to shard).
    public static var kinds: [String] { cases.map(\.kind.rawValue) }

    /// One measured configuration.
    public struct Point: Sendable {
        public var kind: String
        public var workers: Int
        public var transfer: Transfer
        /// Direct, with the tensors in the client's shared memory (read in place by the workers,
        /// all behind Unix sockets here).
        public var sharedMemory = false
        public var inProcessMs: Double
        /// One request at a time, and `2 x workers` in flight.
        public var single: LoadReport
        public var busy: LoadReport
        /// Twice what `busy` answered a second, offered open loop, each request waited for 20
        /// times the one-at-a-time p50: what is answered in time when more comes than can be.
        public var overload: LoadReport
        public var overloadRate: Double
        public var overloadTimeoutMs: Int

        /// JSON-ready figures (timings to the microsecond).
        public var dictionary: [String: Any] {
            ["kind": kind, "workers": workers, "transfer": transfer.rawValue, "shared_memory": sharedMemory, "in_process_ms": Units.rounded(inProcessMs, to: 0.001),
             "one_at_a_time": single.dictionary, "in_flight": busy.dictionary,
             "overload": ["offered_per_s": Units.rounded(overloadRate, to: 0.01), "timeout_ms": overloadTimeoutMs,
                          "report": overload.dictionary,
                          "in_time_over_in_flight": Units.rounded(overload.throughput / max(busy.throughput, 1e-9), to: 0.01)],
             "p50_over_in_process": Units.rounded(single.percentile(50) / inProcessMs, to: 0.01)]
        }
    }

    /// Measures every configuration, printing each as it is done; returns them all. `options`
    /// (the similarity's precision, say) hold in the cluster and in-process alike.
    @discardableResult
    public static func run(kinds: [String], dtype: TensorCodec.WireDType, requests: Int, seconds: Double,
                           workerCounts: [Int] = [1, 2], options: PruneOptions = .defaults) throws -> [Point] {
        var points: [Point] = []
        say("CPU: \(CPUIdentity.describe(.current()))")
        for c in cases where kinds.contains(c.kind.rawValue) {
            let s = SampleGenerator.make(.defaults(for: c.kind, seed: 1))
            let req = PruneRequest(features: Matrix(rows: s.n, cols: s.featureDim, values: s.features),
                                   embeddings: Matrix(rows: s.n, cols: s.embeddingDim, values: s.embeddings),
                                   query: Matrix(rows: s.spec.queryTokens, cols: s.embeddingDim, values: s.query), shards: s.shards)
            let pruner = Pruner(pool: .machine)
            let median = try inProcessMedian(req, budget: c.budget, options: options, pruner: pruner)
            say("\n\(c.name): in-process median \(Units.duration(milliseconds: median)) on all cores; tensors as \(dtype.rawValue), every socket a private Unix socket (ipc)\(options.similarity == .f32 ? "" : "; cosines from \(options.similarity.rawValue) products")")
            for workers in workerCounts {
                var plan = LocalCluster.Plan()
                plan.workers = workers
                plan.frontends = [LocalEndpoints.private("bench-frontend")]
                plan.coordinatorArguments = ["--log-level", "warning"]
                plan.workerArguments = ["--log-level", "warning"]
                let cluster = try LocalCluster(plan: plan)
                defer { cluster.stop() }
                try cluster.waitForWorkers()
                let client = try ClusterClient(endpoints: cluster.frontends)
                defer { client.close() }
                // Inline, direct, and direct with the tensors in shared memory (every worker here is
                // behind a Unix socket, so each reads them in place).
                for (transfer, shared) in [(Transfer.inline, false), (.direct, false), (.direct, true)] {
                    let submission = PruneSubmission(id: "t", request: req, budget: .count(c.budget), options: options, dtype: dtype,
                                                     transfer: transfer)
                    let template = shared ? try submission.encoded().inSharedMemory() : submission.encoded()
                    let load = LoadGenerator(client: client, template: template, expected: try LoadGenerator.expectedIndices(submission))
                    let roles = ["coordinator": cluster.pids.coordinators, "worker": cluster.pids.workers]
                    let (single, inProcess) = try interleaved(load, roles: roles, requests: requests, request: req, budget: c.budget,
                                                              options: options, pruner: pruner)
                    var many = LoadGenerator.Settings()
                    many.roles = roles
                    many.pace = .concurrency(2 * workers)
                    many.duration = seconds
                    many.warmup = 0
                    let busy = try load.run(many)
                    let (overload, rate, timeoutMs) = try overloaded(load, roles: roles, busy: busy, single: single, seconds: seconds)
                    let tag = "\(workers) worker\(workers == 1 ? "" : "s"), \(transfer.rawValue)\(shared ? ", shared memory" : "")"
                    say("  \(tag): one at a time p50 \(Units.duration(milliseconds: single.percentile(50))), p99 \(Units.duration(milliseconds: single.percentile(99))); in-process between them \(Units.duration(milliseconds: inProcess)); cluster / in-process = \(Units.fixed(single.percentile(50) / inProcess, decimals: 2))x")
                    say("    CPU a request: " + ["coordinator", "worker", "load generator"].map { "\($0) \(Units.duration(milliseconds: single.cpuPerRequestMs[$0] ?? 0))" }.joined(separator: ", ")
                        + "; coordinator share \(Units.fixed(single.coordinatorShare * 100, decimals: 1))%")
                    points.append(Point(kind: c.kind.rawValue, workers: workers, transfer: transfer, sharedMemory: shared, inProcessMs: inProcess,
                                        single: single, busy: busy, overload: overload, overloadRate: rate, overloadTimeoutMs: timeoutMs))
                    let wrong = single.wrong + busy.wrong + overload.wrong
                    if wrong > 0 { say("    WRONG: \(wrong) answers differ from in-process pruning") }
                    say("    \(2 * workers) in flight: \(Units.rate(busy.throughput)), p50 \(Units.duration(milliseconds: busy.percentile(50))), p99 \(Units.duration(milliseconds: busy.percentile(99)))\(busy.errors.isEmpty && busy.timeouts == 0 ? "" : "; errors \(busy.errors), timeouts \(busy.timeouts)")")
                    say("    overload, \(Units.rate(rate)) offered (twice that), each waited for \(Units.duration(milliseconds: Double(timeoutMs))): \(Units.rate(overload.throughput)) answered in time = \(Units.fixed(overload.throughput / max(busy.throughput, 1e-9), decimals: 2))x the in-flight rate; p50 \(Units.duration(milliseconds: overload.percentile(50))), p99 \(Units.duration(milliseconds: overload.percentile(99))); ended early \(overload.errors["timeout"] ?? 0), late \(overload.timeouts)")
                }
            }
        }
        return points
    }

    /// Twice `busy`'s rate, open loop, each request waited for 20 times `single`'s p50 (at least
    /// 200 ms): the answers in time should stay near what the workers can give.
    static func overloaded(_ load: LoadGenerator, roles: [String: [Int32]], busy: LoadReport, single: LoadReport,
                           seconds: Double) throws -> (LoadReport, rate: Double, timeoutMs: Int) {
        var s = LoadGenerator.Settings()
        s.roles = roles
        let rate = max(1, 2 * busy.throughput)
        s.pace = .rate(rate)
        s.duration = seconds
        s.warmup = 0
        s.timeoutMs = max(200, Int(20 * single.percentile(50)))
        return (try load.run(s), rate, s.timeoutMs)
    }

    /// Median in-process time of the request on all cores.
    public static func inProcessMedian(_ req: PruneRequest, budget: Int, runs: Int = 7, options: PruneOptions = .defaults,
                                       pruner: Pruner = Pruner(pool: .machine)) throws -> Double {
        _ = try pruner.prune(req, budget: .count(budget), options: options)
        return median(try (0..<runs).map { _ in try pruner.prune(req, budget: .count(budget), options: options).timings["total"] ?? .nan })
    }

    private static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// `requests` requests one at a time through the cluster in blocks of 4, each block followed
    /// by the same request twice in-process: both medians come from the same minutes, so a
    /// shared machine's drift (this one's in-process time wandered from 40 to 55 ms within an
    /// hour) moves both alike.
    static func interleaved(_ load: LoadGenerator, roles: [String: [Int32]], requests: Int, request: PruneRequest, budget: Int,
                            options: PruneOptions, pruner: Pruner) throws -> (LoadReport, inProcessMs: Double) {
        var merged = LoadReport()
        var local: [Double] = []
        for block in chunks(of: max(1, requests), size: 4) {
            var one = LoadGenerator.Settings()
            one.roles = roles
            one.requests = block.count
            one.duration = 600
            one.warmup = block.lowerBound == 0 ? 2 : 0
            merged.merge(try load.run(one))
            for _ in 0..<2 { local.append(try pruner.prune(request, budget: .count(budget), options: options).timings["total"] ?? .nan) }
        }
        return (merged, median(local))
    }
}
