import Foundation
import ScriptCore
import ScriptService
import ScriptSynth

/// The pruning core's benchmark (`bench`): the LLaVA-1.5 image, AnyRes and video cases timed in
/// this process against the machine's sgemm rate (the BLAS bound) and the numpy implementation
/// of the same algorithm, with each case's parallel shape. It prints as it goes and returns
/// what it printed as a report.
public struct CoreBench {
    /// One reference case: a synthetic request of a model's shape and its budget.
    public struct Case: Sendable {
        public let name: String
        let spec: SampleSpec
        let budget: Int
        let sharded: Bool
    }

    /// A case name `cases` does not know.
    public struct UnknownCase: Error, CustomStringConvertible {
        public let name: String
        public var description: String { "unknown case '\(name)' (known: \(CoreBench.cases.keys.sorted().joined(separator: ", ")))" }
    }

    /// The cases by the names `--cases` takes.
    public static let cases: [String: Case] = [
        "image": Case(name: "image 576x4096 k=64 (LLaVA-1.5, monolithic)", spec: .defaults(for: .image, seed: 1), budget: 64, sharded: false),
        "anyres": Case(name: "anyres 2880x4096 k=320 (5 tiles)", spec: .defaults(for: .anyres, seed: 1), budget: 320, sharded: true),
        "video": Case(name: "video 12544x3584 k=1024 (8 segments)", spec: .defaults(for: .video, seed: 1), budget: 1024, sharded: true),
    ]

    /// Timed runs a case (the median counts), after one warm-up.
    public var repeats: Int
    public var pool: ComputePool
    /// The numpy reference (`Scripts/reference.py`) and the python that runs it; nil: none.
    public var numpy: (python: String, script: String)?
    /// Also time each case with bfloat16 products, against float32 (`--similarity bf16`).
    public var compareBFloat16 = false
    /// Where the lines go (standard output in `bench`).
    public var say: (String) -> Void = { ScriptService.say($0) }

    public init(repeats: Int, pool: ComputePool, numpy: (python: String, script: String)?) {
        self.repeats = repeats
        self.pool = pool
        self.numpy = numpy
    }

    /// Runs the cases named in `keys`, in that order.
    public func run(_ keys: [String], progress: ProgressLine) throws -> BenchReport {
        let cases = try keys.map { key in try Self.cases[key].map { (key, $0) } ?? { throw UnknownCase(name: key) }() }
        say("BLAS: \(BLAS.description)")
        if compareBFloat16 {
            try BFloat16Products.requireReady()
            say("bf16 products: \(BFloat16Products.description)")
        }
        say("  products checked against a double-precision reference: \(BLASCheck.summary())")
        progress.stage("bench: measuring the sgemm rate")
        // Measured again before every case (the best so far counts): a neighbour's burst on a
        // shared machine during one measurement would otherwise understate every case's bound.
        var report = BenchReport(threads: pool.width, sgemmGFLOPS: GEMMRate.measure(pool: pool), cpu: CPUIdentity.current(),
                                 blas: BLAS.kernel, repeats: repeats)
        progress.hide()
        say("CPU: \(CPUIdentity.describe(report.cpu))")
        say("machine: \(pool.width) threads, sgemm \(String(format: "%.1f", report.sgemmGFLOPS)) GFLOP/s (1024x1024x4096 in 256 x 256 tiles)")
        for (key, c) in cases {
            report.cases.append(try measure(key, c, report: &report, progress: progress))
        }
        return report
    }

    /// One case: its runs, the bound at the best sgemm rate so far, the shape, numpy.
    private func measure(_ key: String, _ c: Case, report: inout BenchReport, progress: ProgressLine) throws -> BenchReport.Case {
        progress.stage("bench \(key): generating the request")
        let sample = SampleGenerator.make(c.spec)
        let req = PruneRequest(
            features: Matrix(rows: sample.n, cols: sample.featureDim, values: sample.features),
            embeddings: Matrix(rows: sample.n, cols: sample.embeddingDim, values: sample.embeddings),
            query: Matrix(rows: c.spec.queryTokens, cols: sample.embeddingDim, values: sample.query),
            shards: c.sharded ? sample.shards : nil)
        let runs = try timedRuns(req, budget: c.budget, key: key, progress: progress)
        let last = runs.last!
        report.sgemmGFLOPS = max(report.sgemmGFLOPS, GEMMRate.measure(pool: pool))
        let rate = report.sgemmGFLOPS
        let work = SimilarityWork.count(of: last, request: req, options: .defaults, pool: pool)
        let boundMs = work.needed / (rate * 1e9) * 1e3, computedMs = work.computed / (rate * 1e9) * 1e3
        let total = Self.median(runs.compactMap { $0.timings["total"] })
        say("\n\(c.name): N=\(sample.n) D=\(sample.featureDim) shards=\(req.effectiveShards.count)")
        let stages = last.timings.stages.map { s in (name: s.name, ms: Self.median(runs.compactMap { $0.timings[s.name] })) }
        for s in stages { say("  \(s.name.padding(toLength: 14, withPad: " ", startingAt: 0)) median \(Self.fmt(s.ms)) ms") }
        say("  similarity work \(String(format: "%.2f", work.needed / 1e9)) GFLOP (each cosine the run needs, once) -> BLAS-bound \(Self.fmt(boundMs)) ms (at \(String(format: "%.0f", rate)) GFLOP/s, the best sgemm rate of this run so far); total / bound = \(String(format: "%.2f", total / boundMs))x")
        say("  products the core computes \(String(format: "%.2f", work.computed / 1e9)) GFLOP -> \(Self.fmt(computedMs)) ms at that rate; total / that = \(String(format: "%.2f", total / computedMs))x")
        say("  peak RSS so far \(PeakMemory.megabytes()) MB")
        let shape = try SpanProfile.Report.measure(req, budget: c.budget)
        for line in shape.lines { say("  " + line) }
        var record = BenchReport.Case(name: c.name, tokens: sample.n, width: sample.featureDim, shards: req.effectiveShards.count,
                                      budget: c.budget, stagesMs: stages, totalMs: total, gflop: work.needed / 1e9, boundMs: boundMs,
                                      peakRSSMegabytes: PeakMemory.megabytes(), shape: shape)
        if let numpy {
            progress.stage("bench \(key): the numpy reference")
            let n = try NumpyReference.run(python: numpy.python, script: numpy.script, request: req, budget: c.budget, repeats: max(3, repeats / 2))
            progress.hide()
            record.numpyMs = n.totalMs
            record.sameIndicesAsNumpy = n.indices == last.indices
            let same = n.indices == last.indices ? "yes" : "no (\(Set(n.indices).intersection(last.indices).count)/\(c.budget) shared)"
            say("  numpy reference median \(Self.fmt(n.totalMs)) ms; Swift is \(String(format: "%.1f", n.totalMs / total))x faster; same indices: \(same)")
        }
        if compareBFloat16 {
            progress.stage("bench \(key): bfloat16 products against float32")
            let b = try bfloat16(req, budget: c.budget)
            progress.hide()
            record.bfloat16 = b
            say("  bf16 similarity: median \(Self.fmt(b.ms)) ms against \(Self.fmt(b.f32Ms)) ms in f32 (alternating runs): \(String(format: "%.2f", b.f32Ms / b.ms))x faster; "
                + "same indices \(b.sameIndices)/\(c.budget); kept set's log det \(String(format: "%.3f", b.logDet.bf16)) against \(String(format: "%.3f", b.logDet.f32)) (\(String(format: "%+.4f", b.logDetChangePercent))%)")
        }
        // One line per case for scripts (Scripts/bench-core.sh).
        say("  result case=\(key) threads=\(pool.width) ms=\(String(format: "%.3f", total)) bound_ms=\(String(format: "%.3f", boundMs)) numpy_ms=\(String(format: "%.3f", record.numpyMs ?? .nan))")
        return record
    }

    /// A warm-up, then `repeats` timed runs.
    private func timedRuns(_ req: PruneRequest, budget: Int, key: String, progress: ProgressLine) throws -> [PruneResult] {
        let pruner = Pruner(pool: pool)
        progress.stage("bench \(key)", total: repeats + 1, unit: .items("runs"))
        _ = try pruner.prune(req, budget: .count(budget))
        progress.advance()
        var runs: [PruneResult] = []
        for _ in 0..<repeats {
            runs.append(try pruner.prune(req, budget: .count(budget)))
            progress.advance()
        }
        progress.hide()
        return runs
    }

    /// Runs alternating float32 and bfloat16 (`repeats` each, after one warm-up of each): their
    /// medians, the kept sets' overlap and each kept set's log det.
    private func bfloat16(_ req: PruneRequest, budget: Int) throws -> BenchReport.BFloat16Comparison {
        let pruner = Pruner(pool: pool)
        var half = PruneOptions.defaults
        half.similarity = .bf16
        var full: [PruneResult] = [], reduced: [PruneResult] = []
        for i in 0...repeats {
            let f = try pruner.prune(req, budget: .count(budget)), h = try pruner.prune(req, budget: .count(budget), options: half)
            if i > 0 { full.append(f); reduced.append(h) }
        }
        let (f, h) = (full.last!, reduced.last!)
        let weights = QueryRelevance.weights(embeddings: req.embeddings ?? req.features, query: req.query, shards: req.shards,
                                             options: .defaults, pool: pool)
        return .init(ms: Self.median(reduced.compactMap { $0.timings["total"] }), f32Ms: Self.median(full.compactMap { $0.timings["total"] }),
                     sameIndices: Set(f.indices).intersection(h.indices).count,
                     logDet: (DPPObjective.logDet(features: req.features, weights: weights, kept: f.indices, pool: pool),
                              DPPObjective.logDet(features: req.features, weights: weights, kept: h.indices, pool: pool)))
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        guard !s.isEmpty else { return .nan }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    private static func fmt(_ x: Double) -> String { String(format: x < 10 ? "%.2f" : "%.1f", x) }
}
