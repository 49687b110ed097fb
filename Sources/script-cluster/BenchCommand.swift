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
            let work = SimilarityWork.count(of: last, request: req, options: .defaults, pool: pool)
            let flops = work.needed
            let boundMs = flops / (rate * 1e9) * 1e3
            let computedMs = work.computed / (rate * 1e9) * 1e3
            print("\n\(c.name): N=\(sample.n) D=\(sample.featureDim) shards=\(req.effectiveShards.count)")
            for stage in last.timings.stages.map(\.name) {
                let ms = runs.compactMap { $0.timings[stage] }
                print("  \(stage.padding(toLength: 14, withPad: " ", startingAt: 0)) median \(fmt(median(ms))) ms")
            }
            let total = median(runs.compactMap { $0.timings["total"] })
            print("  similarity work \(String(format: "%.2f", flops / 1e9)) GFLOP (each cosine the run needs, once) -> BLAS-bound \(fmt(boundMs)) ms (at \(String(format: "%.0f", rate)) GFLOP/s, the best sgemm rate of this run so far); total / bound = \(String(format: "%.2f", total / boundMs))x")
            print("  products the core computes \(String(format: "%.2f", work.computed / 1e9)) GFLOP -> \(fmt(computedMs)) ms at that rate; total / that = \(String(format: "%.2f", total / computedMs))x")
            print("  peak RSS so far \(PeakMemory.megabytes()) MB")
            let shape = try SpanProfile.Report.measure(req, budget: c.budget)
            for line in shape.lines { print("  " + line) }
            var record = BenchReport.Case(name: c.name, tokens: sample.n, width: sample.featureDim, shards: req.effectiveShards.count,
                                          budget: c.budget, stagesMs: last.timings.stages.map { s in (s.name, median(runs.compactMap { $0.timings[s.name] })) },
                                          totalMs: total, gflop: flops / 1e9, boundMs: boundMs, peakRSSMegabytes: PeakMemory.megabytes(),
                                          shape: shape)
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

/// The similarity arithmetic of a run: what it cannot avoid (the BLAS bound) and what the core
/// computes, both in flops (2 a multiply-add over the feature width).
///
/// The bound counts every cosine the algorithm needs once, as if the picks were known in
/// advance: each shard's bipartite GSP products; within a shard, the same-side pairs of its
/// survivors that hold a pick (cross-side pairs come from GSP); in the global greedy, the pairs
/// of candidates from different proposals that hold a pick (pairs within one proposal come
/// with it); less the pairs of the last pick of each greedy (it updates nothing). A pair needed
/// twice (both its tokens picked) counts once. The core computes more: all same-side pairs of
/// the survivors (the upper triangle of each side) and all pairs across proposals.
enum SimilarityWork {
    struct Count {
        /// Flops of the cosines any run must compute.
        var needed = 0.0
        /// Flops of the products the core runs.
        var computed = 0.0
    }

    static func count(of r: PruneResult, request: PruneRequest, options: PruneOptions, pool: ComputePool) -> Count {
        let d = 2 * Double(request.features.cols)
        let n = request.tokenCount, k = r.budget
        let kept = Set(r.indices)
        var c = Count()
        if r.sharded {
            for (p, s) in zip(r.proposals, request.effectiveShards) {
                let share = ShardJob.budgetShare(shardSize: s.count, totalTokens: n, budget: k)
                shard(request.features.rows(s), offset: s.lowerBound, keep: share, picks: Set(p.indices), options: options, pool: pool,
                      d: d, into: &c)
            }
            let sizes = r.proposals.map { Double($0.indices.count) }
            let picks = r.proposals.map { p in Double(p.indices.filter(kept.contains).count) }
            let all = pairs(sizes.reduce(0, +)) - sizes.map(pairs).reduce(0, +)
            let unpicked = zip(sizes, picks).map { $0 - $1 }
            let neither = pairs(unpicked.reduce(0, +)) - unpicked.map(pairs).reduce(0, +)
            // The last pick's pairs with candidates never picked in other proposals.
            let last = unpicked.reduce(0, +) - (unpicked.max() ?? 0)
            c.needed += (all - neither - last) * d
            c.computed += all * d
        } else {
            shard(request.features, offset: 0, keep: k, picks: kept, options: options, pool: pool, d: d, into: &c)
        }
        return c
    }

    /// One shard's GSP and greedy; `picks` global indices of its picked tokens.
    private static func shard(_ x: Matrix, offset: Int, keep share: Int, picks: Set<Int>, options: PruneOptions,
                              pool: ComputePool, d: Double, into c: inout Count) {
        let m = x.rows
        let gsp = Double((m + 1) / 2) * Double(m / 2) * d
        c.needed += gsp
        c.computed += gsp
        let keep = GraphPruning.keepCount(shardSize: m, budgetShare: share, ratio: options.gspRatio)
        let survivors = ScriptPruning.graph(x, inverseNorms: x.rowInverseNorms(pool: pool), keep: keep, options: options, pool: pool).survivors
        var sides = [0.0, 0.0], picked = [0.0, 0.0]
        for s in survivors {
            sides[s % 2] += 1
            if picks.contains(offset + s) { picked[s % 2] += 1 }
        }
        let unpicked = zip(sides, picked).map { $0 - $1 }
        c.needed += (zip(sides, unpicked).map { pairs($0) - pairs($1) }.reduce(0, +) - (unpicked.min() ?? 0)) * d
        c.computed += sides.map { $0 * ($0 + 1) / 2 }.reduce(0, +) * d
    }

    private static func pairs(_ n: Double) -> Double { n * (n - 1) / 2 }
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
