import ArgumentParser
import Foundation
import ScriptClient
import ScriptCore
import ScriptLoad
import ScriptProtocol
import ScriptService
import ScriptSynth

/// `load`: offer a running cluster a steady load and report what it sustains (capacity planning).
struct LoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "load",
        abstract: "Load a running cluster with copies of one request: throughput, latency percentiles, errors, CPU a request of each local role.")

    @Option(help: "The coordinators' client endpoints, comma-separated (requests are spread over them).")
    var connect = "tcp://127.0.0.1:5555"
    @Option(help: "A request directory as written by `sample` (features.npy, embeddings.npy, query.npy, layout.json).")
    var sample: String?
    @Option(help: "Without --sample: a synthetic request of this kind (image, anyres, video) at its real size.")
    var kind = "anyres"
    @Option(help: "Tokens to keep: a count or a ratio of the tokens (default: 320 for anyres, 64 for image, 1024 for video).")
    var budget: String?
    @Option(parsing: .unconditional, help: "Requests kept in flight (closed loop).") var concurrency: Int?
    @Option(parsing: .unconditional, help: "Requests sent a second, whatever the replies (open loop); instead of --concurrency.") var rate: Double?
    @Option(parsing: .unconditional, help: "Seconds of load.") var duration: Double = 10
    @Option(parsing: .unconditional, help: "Requests at most (default: as many as the duration allows).") var requests: Int?
    @Option(help: "Dtype of the tensors on the wire: f32, f16 or bf16.") var dtype = "f16"
    @Flag(help: "Send tensor bytes straight to the workers instead of through the coordinator.") var direct = false
    @Flag(name: .customLong("shared-memory"), help: "With --direct: the tensors in shared memory (a sealed memfd), which workers on this host behind Unix sockets (ipc://), in this PID namespace and of this user, read in place instead of receiving them; the others are sent them.")
    var sharedMemory = false
    @Option(help: "Precision of the products behind the cosines: f32, or bf16 (workers with AVX512-BF16 or AMX and libdnnl2). Answers are checked against this process's own pruning where it can compute the same.")
    var similarity = "f32"
    @Option(name: .customLong("timeout-ms"), parsing: .unconditional, help: "A request with no reply for this long counts as timed out (sent as its deadline: the cluster ends one it cannot start in time).") var timeoutMs = 60_000
    @Option(help: "Also write the report as JSON to this file.") var json: String?
    @Option(name: .customLong("wait-workers"), parsing: .unconditional, help: "First wait (up to a minute) until every coordinator has this many workers.")
    var waitWorkers: Int?
    @OptionGroup var curve: CurveClientOptions
    @OptionGroup var progress: ProgressOptions

    private var endpoints: [String] { connect.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }

    func validate() throws {
        guard concurrency == nil || rate == nil else { throw ValidationError("give --concurrency or --rate, not both") }
        guard direct || !sharedMemory else { throw ValidationError("--shared-memory goes with --direct (inline bytes go through the coordinator)") }
        guard TensorCodec.WireDType(rawValue: dtype) != nil else { throw ValidationError("--dtype \(dtype): must be f32, f16 or bf16") }
        try FlagValue.precision(similarity)
        try FlagValue.endpoints(connect, "--connect", binds: false)
        try FlagValue.count(concurrency, "--concurrency")
        try FlagValue.number(rate, "--rate", "of requests a second above 0") { $0 > 0 }
        try FlagValue.number(duration, "--duration", "of seconds above 0") { $0 > 0 }
        try FlagValue.count(requests, "--requests")
        try FlagValue.count(timeoutMs, "--timeout-ms")
        try FlagValue.count(waitWorkers, "--wait-workers", from: 0)
        if sample == nil && SampleKind(rawValue: kind) == nil { throw ValidationError("--kind \(kind): must be image, anyres or video") }
    }

    func run() throws {
        let wire = TensorCodec.WireDType(rawValue: dtype)!
        let (request, defaultBudget) = try loadRequest()
        let b = try budget.map { try Budget(parsing: $0) } ?? .count(defaultBudget)
        var options = PruneOptions()
        options.similarity = try FlagValue.precision(similarity)
        let submission = PruneSubmission(id: "load", request: request, budget: b, options: options, dtype: wire,
                                         transfer: direct ? .direct : .inline)
        let expected = try expectedIndices(submission)
        let line = progress.line("load", total: requests, unit: .items("requests"))
        defer { line.finish() }
        var clientOptions = ClusterClient.Options()
        clientOptions.curve = try curve.settings()
        clientOptions.notice = { [line] in
            line.hide()
            StandardStream.error.write("warning: \($0)\n")
        }
        let client = try ClusterClient(endpoints: endpoints, options: clientOptions)
        defer { client.close() }
        if let want = waitWorkers { try wait(for: want, client: client) } else { warnOfCoordinatorsWithoutWorkers(client) }
        var settings = LoadGenerator.Settings()
        settings.pace = rate.map { .rate($0) } ?? .concurrency(concurrency ?? 1)
        settings.duration = duration
        settings.requests = requests
        settings.timeoutMs = timeoutMs
        settings.progress = { done, _ in line.update(done: done) }
        var template = submission.encoded()
        if sharedMemory {
            do { template = try template.inSharedMemory() } catch { throw StartupError("--shared-memory: \(error)") }
        }
        let report = try LoadGenerator(client: client, template: template, expected: expected).run(settings)
        line.finish()
        say(report.text)
        if let note = client.unreachableDataNote { StandardStream.error.write("warning: \(note)\n") }
        if let json {
            try OutputFile.write(JSONSerialization.data(withJSONObject: report.dictionary, options: [.prettyPrinted, .sortedKeys]), to: json, flag: "--json")
        }
        if report.wrong > 0 { throw StartupError("\(report.wrong) of \(report.answered) answers differ from in-process pruning of the same request") }
        if report.answered == 0 { throw StartupError("no request was answered: \(unanswered(report))") }
    }

    /// What every answer must be: in-process pruning of the same request, unless it asks for
    /// bfloat16 products this machine does not compute (then answers are not checked, and it says so).
    private func expectedIndices(_ submission: PruneSubmission) throws -> [Int]? {
        if submission.options.similarity == .bf16, let reason = BFloat16Products.unavailableReason {
            StandardStream.error.write("note: answers are not checked against in-process pruning (this machine has no bfloat16 products: \(reason))\n")
            return nil
        }
        return try LoadGenerator.expectedIndices(submission)
    }

    /// Why nothing came back: the errors the cluster sent, else the timeouts, else no cluster.
    private func unanswered(_ report: LoadReport) -> String {
        if !report.errors.isEmpty { return "\(report.errors)" }
        if report.timeouts > 0 { return "all \(report.timeouts) timed out (--timeout-ms \(timeoutMs))" }
        return "is a coordinator at \(connect)?"
    }

    /// Says at once which coordinators have no worker: their requests wait for one until their
    /// timeout (a minute by default, twice: the warm-up, then the run), which looked like a hang.
    private func warnOfCoordinatorsWithoutWorkers(_ client: ClusterClient) {
        for c in endpoints.indices {
            guard let status = try? client.status(endpoint: c, timeoutMs: 1000), status.workers == 0 else { continue }
            StandardStream.error.write("warning: \(endpoints[c]) has no worker: its requests wait for one until they time out "
                                       + "(--timeout-ms \(timeoutMs)); --wait-workers N waits for workers first\n")
        }
    }

    /// Waits (up to a minute) until every coordinator has `want` workers; one never connected
    /// after 10 s ends the wait then, saying why (it would not answer in the rest of the minute).
    private func wait(for want: Int, client: ClusterClient) throws {
        let start = ContinuousClock.now, end = start + .seconds(60)
        let line = progress.line("waiting for \(want) workers")
        defer { line.finish() }
        for c in endpoints.indices {
            var seen = 0
            while seen < want {
                if let status = try? client.status(endpoint: c, timeoutMs: 1000) {
                    seen = status.workers
                    if seen >= want { break }
                } else if ContinuousClock.now - start > .seconds(10), let trouble = client.connectionTrouble(c) {
                    throw ProtocolError(.timeout, "\(endpoints[c]): \(trouble)")
                }
                guard ContinuousClock.now < end else {
                    throw StartupError("\(endpoints[c]) did not reach \(want) workers within a minute (it had \(seen))")
                }
                line.update(done: 0)
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
    }

    private func loadRequest() throws -> (PruneRequest, Int) {
        if let dir = sample {
            let req = try SampleDirectory(path: dir, flag: "--sample").request()
            return (req, max(1, req.tokenCount / 9))
        }
        guard let k = SampleKind(rawValue: kind) else { throw ValidationError("--kind must be image, anyres or video, got '\(kind)'") }
        let s = SampleGenerator.make(.defaults(for: k, seed: 1))
        let req = PruneRequest(features: Matrix(rows: s.n, cols: s.featureDim, values: s.features),
                               embeddings: Matrix(rows: s.n, cols: s.embeddingDim, values: s.embeddings),
                               query: Matrix(rows: s.spec.queryTokens, cols: s.embeddingDim, values: s.query),
                               shards: k == .image ? nil : s.shards)
        return (req, k == .image ? 64 : k == .anyres ? 320 : 1024)
    }
}
