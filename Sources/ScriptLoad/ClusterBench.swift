import Foundation
import ScriptClient
import ScriptLauncher
import ScriptProtocol
import ScriptService
import ScriptCore
import ScriptSynth
import ScriptWire

/// `bench --cluster`: a real local cluster (coordinator and 1 or 2 workers as child processes)
/// under closed-loop and open-loop load, against the in-process time of the same request.
public enum ClusterBench {
    struct Case {
        let name: String
        let kind: SampleKind
        let budget: Int
        /// Open-loop arrival rates, requests per second.
        let rates: [Double]
    }

    static let cases = [
        Case(name: "anyres 2880x4096 k=320 (5 tiles)", kind: .anyres, budget: 320, rates: [5, 10, 20]),
        Case(name: "video 12544x3584 k=1024 (8 segments)", kind: .video, budget: 1024, rates: [0.5, 1, 2]),
    ]

    public static func run(kinds: [String], half: Bool, requests: Int) throws {
        let exe = CommandLine.executablePath
        for c in cases where kinds.contains(c.kind.rawValue) {
            let s = SampleGenerator.make(.defaults(for: c.kind, seed: 1))
            let req = PruneRequest(features: Matrix(rows: s.n, cols: s.featureDim, values: s.features),
                                   embeddings: Matrix(rows: s.n, cols: s.embeddingDim, values: s.embeddings),
                                   query: Matrix(rows: s.spec.queryTokens, cols: s.embeddingDim, values: s.query), shards: s.shards)
            let pruner = Pruner(pool: .machine)
            _ = try pruner.prune(req, budget: .count(c.budget))
            let inProcess = median((0..<7).map { _ in (try? pruner.prune(req, budget: .count(c.budget)).timings["total"]) ?? .nan })
            say("\n\(c.name): in-process median \(fmt(inProcess)) ms; tensors sent as \(half ? "f16" : "f32")")
            let base = PruneSubmission(id: "x", request: req, budget: .count(c.budget)).frames(halfPrecision: half)
            var throughput: [Int: Double] = [:]
            for workers in [1, 2] {
                let coordinator = try ChildProcess(exe, ["coordinator", "--frontend", "tcp://127.0.0.1:*", "--backend", "tcp://127.0.0.1:*",
                                                         "--log-level", "warning"], captureOutput: true, echo: false)
                var children = [coordinator]
                defer { ChildProcess.stopAll(children) }
                guard let fe = coordinator.waitForLine(prefix: "frontend ", timeout: 15),
                      let be = coordinator.waitForLine(prefix: "backend ", timeout: 5) else { throw ClusterBenchError("coordinator did not start") }
                for i in 0..<workers {
                    children.append(try ChildProcess(exe, ["worker", "--connect", be, "--name", "w\(i + 1)", "--log-level", "warning"], captureOutput: false))
                }
                let client = try ClusterClient(endpoint: fe)
                defer { client.close() }
                while (try? client.status(timeoutMs: 1000))?.workers ?? 0 < workers { Thread.sleep(forTimeInterval: 0.05) }
                let load = LoadGenerator(endpoint: fe, base: base)
                _ = try load.closedLoop(count: 2)  // warm-up
                let before = children.map { CPUTime.ms(pid: $0.pid) }, selfBefore = CPUTime.ms(pid: getpid())
                let closed = try load.closedLoop(count: requests)
                let used = zip(children, before).map { (CPUTime.ms(pid: $0.pid) - $1) / Double(requests) }
                let selfUsed = (CPUTime.ms(pid: getpid()) - selfBefore) / Double(requests)
                say("  \(workers) worker\(workers > 1 ? "s" : ""): one at a time: p50 \(fmt(percentile(closed, 50))) ms, p99 \(fmt(percentile(closed, 99))) ms; cluster / in-process = \(String(format: "%.2f", percentile(closed, 50) / inProcess))x")
                let perRequest = used.reduce(0, +) + selfUsed
                say("    CPU a request: coordinator \(fmt(used[0])) ms, workers \(fmt(used.dropFirst().reduce(0, +))) ms, load generator \(fmt(selfUsed)) ms; \(ComputePool.machine.width) cores allow at most \(String(format: "%.1f", 1000 * Double(ComputePool.machine.width) / perRequest))/s")
                var best = 0.0
                for rate in c.rates {
                    let r = try load.openLoop(rate: rate, count: requests)
                    best = max(best, r.throughput)
                    say("    open loop \(rate)/s: p50 \(fmt(percentile(r.latencies, 50))) ms, p99 \(fmt(percentile(r.latencies, 99))) ms, throughput \(String(format: "%.1f", r.throughput))/s\(r.failed > 0 ? ", \(r.failed) failed" : "")")
                }
                let burst = try load.openLoop(rate: 1000, count: requests)
                best = max(best, burst.throughput)
                throughput[workers] = best
                say("    all at once: throughput \(String(format: "%.1f", burst.throughput))/s, p50 \(fmt(percentile(burst.latencies, 50))) ms; best sustained \(String(format: "%.1f", best))/s")
            }
            if let one = throughput[1], let two = throughput[2] {
                say("  2 workers / 1 worker best throughput = \(String(format: "%.2f", two / one))x")
            }
        }
    }

    static func median(_ xs: [Double]) -> Double { percentile(xs, 50) }

    static func percentile(_ xs: [Double], _ p: Double) -> Double {
        let s = xs.sorted()
        guard !s.isEmpty else { return .nan }
        let i = min(s.count - 1, max(0, Int((p / 100 * Double(s.count)).rounded(.up)) - 1))
        return s[i]
    }

    static func fmt(_ x: Double) -> String { String(format: x < 10 ? "%.2f" : "%.1f", x) }
}

struct ClusterBenchError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Sends copies of one request (fresh ids) and times their replies.
final class LoadGenerator {
    private let endpoint: String
    private let base: [[UInt8]]
    private var serial = 0

    init(endpoint: String, base: [[UInt8]]) {
        self.endpoint = endpoint
        self.base = base
    }

    private func frames() throws -> (String, [[UInt8]]) {
        serial += 1
        let id = "bench-\(serial)"
        var fields = try Envelope.decode(base[0]).fields
        fields["id"] = .string(id)
        return (id, [[], Envelope.encode(fields.map { ($0.key, $0.value) })] + Array(base.dropFirst()))
    }

    /// One request at a time; latencies in ms.
    func closedLoop(count: Int) throws -> [Double] {
        let client = try ClusterClient(endpoint: endpoint)
        defer { client.close() }
        var out: [Double] = []
        let clock = ContinuousClock()
        for _ in 0..<count {
            let (id, f) = try frames()
            let start = clock.now
            let reply = try client.call(Array(f.dropFirst()), id: id, timeoutMs: 60_000)
            guard case .result = reply else { throw ClusterBenchError("request failed: \(reply)") }
            out.append(ms(clock.now - start))
        }
        return out
    }

    /// Requests sent at `rate` per second regardless of replies; latencies and completions per second.
    func openLoop(rate: Double, count: Int) throws -> (latencies: [Double], throughput: Double, failed: Int) {
        let client = try RawClient(endpoint: endpoint)
        defer { client.close() }
        let clock = ContinuousClock()
        let start = clock.now
        var sentAt: [String: ContinuousClock.Instant] = [:]
        var latencies: [Double] = []
        var failed = 0
        var sent = 0
        var last = start
        let interval = Duration.seconds(1 / rate)
        let deadline = start + .seconds(120)
        while (latencies.count + failed < count) && clock.now < deadline {
            let due = start + interval * sent
            if sent < count && clock.now >= due {
                let (id, f) = try frames()
                sentAt[id] = clock.now
                try client.send(f)
                sent += 1
                continue
            }
            let wait = sent < count ? max(0, Int(ms(due - clock.now))) : 1000
            if let reply = try client.receive(timeoutMs: max(1, wait)), let t0 = sentAt[reply.id] {
                last = clock.now
                if case .result = reply { latencies.append(ms(last - t0)) } else { failed += 1 }
            }
        }
        return (latencies, Double(latencies.count) / max(1e-9, ms(last - start) / 1000), failed)
    }
}

/// A DEALER that sends frames as they are and parses replies.
final class RawClient {
    private let client: ClusterClient
    init(endpoint: String) throws { client = try ClusterClient(endpoint: endpoint) }
    func send(_ frames: [[UInt8]]) throws { try client.sendRaw(frames) }
    func receive(timeoutMs: Int) throws -> ClusterReply? { try client.receiveReply(timeoutMs: timeoutMs) }
    func close() { client.close() }
}


/// CPU time a process has used, from /proc (Linux); 0 where there is none.
enum CPUTime {
    static func ms(pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        // After the command name: state, ppid, ... utime and stime are the 12th and 13th fields.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) * 1000 / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
