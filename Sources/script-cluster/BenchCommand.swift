import ArgumentParser
import Foundation
import ScriptCore
import ScriptLoad
import ScriptProtocol
import ScriptService
import ScriptSynth

/// `bench`: in-process timings of the three reference cases against the machine's sgemm rate and
/// the numpy implementation of the same algorithm.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", 
        abstract: "Benchmark the pruning core: LLaVA-1.5 image, AnyRes and video cases; BLAS bound; numpy reference.")

    @Option(parsing: .unconditional, help: "Timed runs per case (the median is reported).")
    var repeats: Int = 7

    @Option(help: "Comma-separated cases: image, anyres, video.")
    var cases: String = "image,anyres,video"

    @Option(help: "Path of the numpy reference implementation.")
    var reference: String = "Scripts/reference.py"

    @Flag(name: .customLong("no-numpy"), help: "Skip the numpy comparison.")
    var noNumpy = false

    @Option(parsing: .unconditional, help: "Threads for the pruning core (default: the CPUs this process may use, or $SCRIPT_CLUSTER_THREADS).")
    var threads: Int?

    @Flag(help: "Benchmark a local cluster (coordinator and 1 or 2 workers) instead of the core.")
    var cluster = false

    @Flag(name: .customLong("f32"), help: "With --cluster: send tensors as f32 (default f16, as farms hold them).")
    var f32 = false

    @Option(parsing: .unconditional, help: "With --cluster: requests one at a time per measurement.")
    var requests: Int = 20

    @Option(parsing: .unconditional, help: "With --cluster: seconds of closed-loop load per measurement.")
    var seconds: Double = 5

    @Option(help: "Also write the results as JSON here.")
    var json: String?

    @Option(help: "Also draw the results as an SVG chart here.")
    var svg: String?

    @OptionGroup var progress: ProgressOptions

    func validate() throws {
        _ = try FlagValue.list(cases, "--cases", ["image", "anyres", "video"])
        try FlagValue.count(repeats, "--repeats", to: 10_000)
        try FlagValue.count(threads, "--threads", to: FlagValue.maxThreads)
        try FlagValue.count(requests, "--requests", to: 1_000_000)
        try FlagValue.number(seconds, "--seconds", "> 0") { $0 > 0 }
        try FlagValue.output(json, "--json")
        try FlagValue.output(svg, "--svg")
    }

    struct Case {
        let name: String
        let spec: SampleSpec
        let budget: Int
        let sharded: Bool
    }

    func run() throws {
        if cluster {
            let points = try ClusterBench.run(kinds: cases.split(separator: ",").map(String.init), dtype: f32 ? .f32 : .f16,
                                              requests: requests, seconds: seconds)
            if let json { try OutputFile.write(JSONSerialization.data(withJSONObject: ["cluster": points.map(\.dictionary)], options: [.prettyPrinted, .sortedKeys]), to: json, flag: "--json") }
            if let svg { try OutputFile.write(Data(ClusterBenchChart.svg(points).utf8), to: svg, flag: "--svg") }
            return
        }
        let pool = ComputePool(width: try ThreadCount.resolve(flag: threads))
        let all: [String: Case] = [
            "image": Case(name: "image 576x4096 k=64 (LLaVA-1.5, monolithic)", spec: .defaults(for: .image, seed: 1), budget: 64, sharded: false),
            "anyres": Case(name: "anyres 2880x4096 k=320 (5 tiles)", spec: .defaults(for: .anyres, seed: 1), budget: 320, sharded: true),
            "video": Case(name: "video 12544x3584 k=1024 (8 segments)", spec: .defaults(for: .video, seed: 1), budget: 1024, sharded: true),
        ]
        print("BLAS: \(BLAS.description)")
        print("  products checked against a double-precision reference: \(BLASCheck.summary())")
        let line = progress.line("bench: measuring the sgemm rate")
        defer { line.finish() }
        // Measured again before every case (the best so far counts): a neighbour's burst on a
        // shared machine during one measurement would otherwise understate every case's bound.
        var rate = GEMMRate.measure(pool: pool)
        line.hide()
        var report = BenchReport(threads: pool.width, sgemmGFLOPS: rate, repeats: repeats)
        print("machine: \(pool.width) threads, sgemm \(String(format: "%.1f", rate)) GFLOP/s (1024x1024x4096 in 256 x 256 tiles)")
        let python = noNumpy ? nil : NumpyReference.locate(script: reference)
        if !noNumpy && python == nil { print("numpy reference: unavailable (python3 with numpy, or \(reference), not found)") }

        for key in cases.split(separator: ",").map(String.init) {
            guard let c = all[key] else { throw ValidationError("unknown case \(key)") }
            line.stage("bench \(key): generating the request")
            let sample = SampleGenerator.make(c.spec)
            let req = PruneRequest(
                features: Matrix(rows: sample.n, cols: sample.featureDim, values: sample.features),
                embeddings: Matrix(rows: sample.n, cols: sample.embeddingDim, values: sample.embeddings),
                query: Matrix(rows: c.spec.queryTokens, cols: sample.embeddingDim, values: sample.query),
                shards: c.sharded ? sample.shards : nil)
            let pruner = Pruner(pool: pool)
            var runs: [PruneResult] = []
            line.stage("bench \(key)", total: repeats + 1, unit: .items("runs"))
            _ = try pruner.prune(req, budget: .count(c.budget))  // warm-up
            line.advance()
            for _ in 0..<repeats { runs.append(try pruner.prune(req, budget: .count(c.budget))); line.advance() }
            line.hide()
            let last = runs.last!
            rate = max(rate, GEMMRate.measure(pool: pool))
            report.sgemmGFLOPS = rate
            let flops = SimilarityWork.flops(of: last, request: req, options: .defaults)
            let boundMs = flops / (rate * 1e9) * 1e3
            print("\n\(c.name): N=\(sample.n) D=\(sample.featureDim) shards=\(req.effectiveShards.count)")
            for stage in last.timings.stages.map(\.name) {
                let ms = runs.compactMap { $0.timings[stage] }
                print("  \(stage.padding(toLength: 14, withPad: " ", startingAt: 0)) median \(fmt(median(ms))) ms")
            }
            let total = median(runs.compactMap { $0.timings["total"] })
            print("  similarity work \(String(format: "%.2f", flops / 1e9)) GFLOP -> BLAS-bound \(fmt(boundMs)) ms (at \(String(format: "%.0f", rate)) GFLOP/s, the best sgemm rate of this run so far); total / bound = \(String(format: "%.2f", total / boundMs))x")
            print("  peak RSS so far \(PeakMemory.megabytes()) MB")
            var record = BenchReport.Case(name: c.name, tokens: sample.n, width: sample.featureDim, shards: req.effectiveShards.count,
                                          budget: c.budget, stagesMs: last.timings.stages.map { s in (s.name, median(runs.compactMap { $0.timings[s.name] })) },
                                          totalMs: total, gflop: flops / 1e9, boundMs: boundMs, peakRSSMegabytes: PeakMemory.megabytes())
            var numpyMs = Double.nan
            if let python {
                line.stage("bench \(key): the numpy reference")
                let n = try NumpyReference.run(python: python, script: reference, request: req, budget: c.budget, repeats: max(3, repeats / 2))
                line.hide()
                let same = n.indices == last.indices
                record.numpyMs = n.totalMs
                record.sameIndicesAsNumpy = same
                numpyMs = n.totalMs
                print("  numpy reference median \(fmt(n.totalMs)) ms; Swift is \(String(format: "%.1f", n.totalMs / total))x faster; same indices: \(same ? "yes" : "no (\(Set(n.indices).intersection(last.indices).count)/\(c.budget) shared)")")
            }
            report.cases.append(record)
            // One line per case for scripts (Scripts/bench-core.sh).
            print("  result case=\(key) threads=\(pool.width) ms=\(String(format: "%.3f", total)) bound_ms=\(String(format: "%.3f", boundMs)) numpy_ms=\(String(format: "%.3f", numpyMs))")
        }
        line.finish()
        try report.write(json: json, svg: svg)
    }

    private func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        guard !s.isEmpty else { return .nan }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
    private func fmt(_ x: Double) -> String { String(format: x < 10 ? "%.2f" : "%.1f", x) }
}

/// The similarity arithmetic a run cannot avoid: the bipartite GSP products of every shard and
/// one kernel row over the candidates for every greedy pick (2 flops a multiply-add).
enum SimilarityWork {
    static func flops(of r: PruneResult, request: PruneRequest, options: PruneOptions) -> Double {
        let d = Double(request.features.cols)
        let n = request.tokenCount, k = r.budget
        var total = 0.0
        if r.sharded {
            for (p, s) in zip(r.proposals, request.effectiveShards) {
                total += Double((s.count + 1) / 2) * Double(s.count / 2) * d * 2
                total += Double(p.indices.count) * Double(p.survivors) * d * 2
            }
            let union = r.proposals.reduce(0) { $0 + $1.indices.count }
            total += Double(k) * Double(union) * d * 2
        } else {
            total += Double((n + 1) / 2) * Double(n / 2) * d * 2
            let survivors = GraphPruning.keepCount(shardSize: n, budgetShare: k, ratio: options.gspRatio)
            total += Double(k) * Double(survivors) * d * 2
        }
        return total
    }
}

/// The BLAS products checked against a double-precision reference at the shapes the core
/// calls (every 7th entry of the larger ones).
enum BLASCheck {
    static let shapes: [(m: Int, n: Int, k: Int, strided: Bool)] = [
        (96, 96, 4096, true), (96, 48, 4096, true), (144, 144, 4096, false), (128, 128, 4096, false),
        (128, 320, 4096, false), (392, 392, 3584, false), (256, 256, 3584, false), (256, 6, 4096, false),
    ]

    static func summary() -> String {
        let worst = shapes.map { BLAS.check(m: $0.m, n: $0.n, k: $0.k, strided: $0.strided, sample: 7) }.max() ?? .nan
        let verdict = worst <= 1 ? "correct" : "WRONG"
        return "\(verdict), worst error \(String(format: "%.2g", worst)) of the float rounding bound over \(shapes.count) shapes"
    }
}

enum PeakMemory {
    static func megabytes() -> Int {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return u.ru_maxrss / 1024
    }
}
