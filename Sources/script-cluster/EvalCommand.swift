import ArgumentParser
import Foundation
import ScriptCore
import ScriptService
import ScriptEval
import ScriptSynth

/// `eval`: what each method and budget keeps of the asked-about object.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "eval",
        abstract: "Measure hit rate, target share, objects kept and coverage per method and budget, on synthetic requests or your own files.")

    @Option(help: "Synthetic kinds (comma-separated): image, anyres, video, and the harder cases anyres-small-targets, video-brief-target, image-two-objects.")
    var kinds = "image,anyres,video,anyres-small-targets,video-brief-target,image-two-objects"
    @Option(parsing: .unconditional, help: "Synthetic requests per kind.") var requests = 8
    @Option(parsing: .unconditional, help: "First seed (request i of a kind uses seed + i).") var seed: UInt64 = 1
    @Option(help: "small, medium (real token counts, width 1024) or full (the models' shapes).") var scale = "medium"
    @Option(help: "Methods (comma-separated, or all): script, script-sharded, script+, script+-sharded, cdpruner, divprune, gsp, random, uniform; Script+ with ideas off: script+-unit-graph, script+-sharded-discount, ...")
    var methods = "all"
    @Flag(help: "Also Script+ with each of its ideas switched off, and with all of them off (the ablation).") var ablation = false
    @Option(help: "Budgets for file input (comma-separated counts or ratios).") var budgets = "0.05,0.1,0.2"
    @Option(help: "Write rows as JSON here.") var json: String?
    @Option(help: "Write the monolithic-vs-sharded chart (SVG) here.") var svg: String?
    @Option(help: "Write the chart of target share against time (SVG), a point per method and budget, here.") var chart: String?
    @Option(parsing: .unconditional, help: "Threads for the pruning core (default: the CPUs this process may use, or $SCRIPT_CLUSTER_THREADS).") var threads: Int?
    @Option(parsing: .unconditional, help: "Runs of each request per method and budget; times are their median.") var repeats = 1
    @Option(parsing: .unconditional, help: "Query conditioning strength, in [0, 1).") var theta: Float = 0.5
    @Option(parsing: .unconditional, help: "Over-proposal factor of each shard, in [1, 1000].") var alpha: Double = 2.0
    @Option(name: .customLong("gsp-ratio"), parsing: .unconditional, help: "Share of each shard graph pruning removes, in [0, 1).") var gspRatio: Double = 0.5
    @Option(parsing: .unconditional, help: "Script+: power of the relevance discount of redundancy, a whole number in [0, 64] (0: off).") var discount = 4
    @Option(name: .customLong("floor-relevance"), parsing: .unconditional, help: "Script+: relevance in [0, 1] from which a token adds to its shard's proposal (0: off).") var floor = 0.6
    @Option(help: "Precision of the products behind the cosines: f32, or bf16 (AVX512-BF16 or AMX, libdnnl2).") var similarity = "f32"

    @Option(help: "Your own request: features file (with --mask).") var features: String?
    @Option(help: "Your own request: embeddings file.") var embeddings: String?
    @Option(help: "Your own request: query file.") var query: String?
    @Option(help: "Your own request: layout.json (shards for script-sharded).") var layout: String?
    @Option(help: "Your own request: 0/1 per token, 1 where the asked-about object shows.") var mask: String?
    @Option(help: "Your own request: object id per token, -1 for background (optional).") var objects: String?
    @OptionGroup var progress: ProgressOptions

    func validate() throws {
        _ = try FlagValue.list(kinds, "--kinds", (SyntheticSuite.Kind.standard + SyntheticSuite.Kind.hard).map(\.description))
        try FlagValue.choice(scale, "--scale", SyntheticSuite.Scale.allCases.map(\.rawValue))
        if methods != "all" { _ = try FlagValue.list(methods, "--methods", (EvalMethod.all + EvalMethod.ablation).map(\.description)) }
        _ = try FlagValue.budgets(budgets, "--budgets")
        try FlagValue.similarity(similarity)
        try FlagValue.count(requests, "--requests", to: 10_000)
        try FlagValue.count(threads, "--threads", to: FlagValue.maxThreads)
        try FlagValue.count(repeats, "--repeats", to: 1000)
        _ = try options()
        try FlagValue.output(json, "--json")
        try FlagValue.output(svg, "--svg")
        try FlagValue.output(chart, "--chart")
        if features != nil && mask == nil { throw InputError("--features", features, "needs --mask (the ground truth)").validation }
        for (flag, value) in [("--embeddings", embeddings), ("--query", query), ("--layout", layout), ("--mask", mask), ("--objects", objects)] {
            if let value, features == nil { throw InputError(flag, value, "is for your own request: give --features too").validation }
        }
    }

    func run() throws {
        let pool = ComputePool(width: try ThreadCount.resolve(flag: threads))
        var chosen = methods == "all" ? EvalMethod.all : methods.split(separator: ",").compactMap { name in
            EvalMethod.named(name.trimmingCharacters(in: .whitespaces))
        }
        if ablation { chosen += EvalMethod.ablation.filter { !chosen.contains($0) } }
        let line = progress.line("eval")
        defer { line.finish() }
        var evaluator = Evaluator(methods: chosen, options: try options(), pool: pool, repeats: repeats)
        evaluator.onRun = { line.advance() }
        var rows: [EvalRow] = []
        if let features {
            let c = try fileCase(features)
            let bs = try FlagValue.budgets(budgets, "--budgets")
            line.stage("eval \(features)", total: bs.count * chosen.count, unit: .items("runs"))
            rows = try evaluator.evaluate([c], budgets: bs)
        } else {
            let sc = SyntheticSuite.Scale(rawValue: scale) ?? .medium
            for name in kinds.split(separator: ",") {
                let kind = SyntheticSuite.Kind(name.trimmingCharacters(in: .whitespaces)) ?? SyntheticSuite.Kind(.image)
                line.stage("eval \(kind): generating \(requests) requests")
                let cases = SyntheticSuite.cases(kind, count: requests, seed: seed, scale: sc)
                let bs = SyntheticSuite.budgets(kind.kind, tokens: cases[0].request.tokenCount)
                line.stage("eval \(kind)", total: bs.count * chosen.count * cases.count, unit: .items("runs"))
                rows += try evaluator.evaluate(cases, budgets: bs)
                line.say("\(kind): \(cases.count) requests of \(cases[0].request.tokenCount) tokens (D=\(cases[0].request.features.cols))")
            }
        }
        line.finish()
        if similarity == "bf16" { say("Cosines from bf16 products: \(BFloat16Products.description)") }
        say(EvalReport.markdown(rows))
        say("Script, monolithic vs sharded:\n" + EvalReport.gap(rows))
        say("Script+, monolithic vs sharded:\n" + EvalReport.gap(rows, method: "script+"))
        if ablation { say("Script+ ablation (target share / coverage / ms; each idea off in turn):\n" + EvalReport.ablation(rows)) }
        say("Script+ against the targets of issue 13:\n" + EvalReport.targets(rows))
        if let json {
            let doc = EvalReport.dictionaries(rows).map { Self.rounded($0).merging(["similarity": similarity]) { a, _ in a } }
            try OutputFile.write(try JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted, .sortedKeys]), to: json, flag: "--json")
        }
        if let svg { try OutputFile.write(GapChart.svg(rows), to: svg, flag: "--svg") }
        if let chart { try OutputFile.write(TradeoffChart.svg(rows), to: chart, flag: "--chart") }
    }

    /// The algorithm's options given by flags, each checked: a refusal names its flag.
    private func options() throws -> PruneOptions {
        var o = PruneOptions()
        o.theta = theta; o.alpha = alpha; o.gspRatio = gspRatio; o.discount = discount; o.floorRelevance = floor
        o.similarity = SimilarityPrecision(rawValue: similarity) ?? .f32
        do { try o.validate() } catch PruneError.invalidOption(let name, let value, let expected) {
            throw InputError("--\(name)", value, "must be \(expected)").validation
        }
        return o
    }

    /// A request from the user's files, with its ground truth.
    private func fileCase(_ features: String) throws -> EvalCase {
        let x = try TensorFiles.loadMatrix(features, name: nil, role: "features")
        let target = try TensorFiles.loadVector(mask ?? "", role: "mask", count: x.rows).map { $0 > 0 }
        let objs = try objects.map { try TensorFiles.loadVector($0, role: "objects", count: x.rows).map { Int32($0) } }
        let req = PruneRequest(features: x,
                               embeddings: try embeddings.map { try TensorFiles.loadMatrix($0, name: nil, role: "embeddings") },
                               query: try query.map { try TensorFiles.loadMatrix($0, name: nil, role: "query") },
                               unitTokens: try layout.flatMap { try LayoutFile.read($0).file.unitTokens })
        let shards = try ShardLayout.resolve(shards: nil, tiles: nil, frames: nil, segmentFrames: nil, layoutFile: layout,
                                             tokens: x.rows) ?? [0..<x.rows]
        return EvalCase(name: features, kind: "file", request: req, shards: shards, target: target, objects: objs)
    }

    /// JSON numbers rounded to what was measured: milliseconds to the microsecond, shares and
    /// means to six decimals (float32 precision).
    private static func rounded(_ row: [String: Any]) -> [String: Any] {
        row.reduce(into: [:]) { out, item in
            guard !(item.value is Int), let x = item.value as? Double else { out[item.key] = item.value; return }
            out[item.key] = Units.rounded(x, to: item.key == "ms" || item.key.hasSuffix("_ms") ? 0.001 : 0.000001)
        }
    }
}
