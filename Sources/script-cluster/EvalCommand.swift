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

    @Option(help: "Synthetic kinds: image, anyres, video, and the harder cases anyres-small-targets, video-brief-target, image-two-objects.")
    var kinds = "image,anyres,video,anyres-small-targets,video-brief-target,image-two-objects"
    @Option(help: "Synthetic requests per kind.") var requests = 8
    @Option(help: "First seed.") var seed: UInt64 = 1
    @Option(help: "small, medium (real token counts, width 1024) or full (the models' shapes).") var scale = "medium"
    @Option(help: "Methods (comma-separated): script, script-sharded, script+, script+-sharded, cdpruner, divprune, gsp, random, uniform; script+ with ideas off: script+-unit-graph, script+-sharded-discount, ...")
    var methods = "all"
    @Flag(help: "Also Script+ with each of its ideas switched off, and with all of them off (the ablation).") var ablation = false
    @Option(help: "Budgets for file input (comma-separated counts or ratios).") var budgets: String?
    @Option(help: "Write rows as JSON here.") var json: String?
    @Option(help: "Write the monolithic-vs-sharded chart (SVG) here.") var svg: String?
    @Option(help: "Write the chart of target share against time (SVG), a point per method and budget, here.") var chart: String?
    @Option(help: "Threads.") var threads: Int?
    @Option(help: "Runs of each request per method and budget; times are their median.") var repeats = 1
    @Option(help: "Query conditioning strength in [0, 1).") var theta: Float = 0.5
    @Option(help: "Over-proposal factor of each shard.") var alpha: Double = 2.0
    @Option(name: .customLong("gsp-ratio"), help: "Share of each shard graph pruning removes.") var gspRatio: Double = 0.5
    @Option(help: "Script+: power of the relevance discount of redundancy (0: off).") var discount = 4
    @Option(help: "Script+: relevance from which a token adds to its shard's proposal (0: off).") var floor = 0.6

    @Option(help: "Your own request: features file (with --mask).") var features: String?
    @Option(help: "Your own request: embeddings file.") var embeddings: String?
    @Option(help: "Your own request: query file.") var query: String?
    @Option(help: "Your own request: layout.json (shards for script-sharded).") var layout: String?
    @Option(help: "Your own request: 0/1 per token, 1 where the asked-about object shows.") var mask: String?
    @Option(help: "Your own request: object id per token, -1 for background (optional).") var objects: String?

    func run() throws {
        let pool = threads.map { ComputePool(width: $0) } ?? .machine
        var chosen: [EvalMethod] = methods == "all" ? EvalMethod.all : try methods.split(separator: ",").map { name in
            guard let m = EvalMethod.named(String(name)) else { throw ValidationError("unknown method \(name)") }
            return m
        }
        if ablation { chosen += EvalMethod.ablation.filter { !chosen.contains($0) } }
        var options = PruneOptions()
        options.theta = theta; options.alpha = alpha; options.gspRatio = gspRatio
        options.discount = discount; options.floorRelevance = floor
        try options.validate()
        let evaluator = Evaluator(methods: chosen, options: options, pool: pool, repeats: repeats)
        var rows: [EvalRow] = []
        if let features {
            guard let mask else { throw ValidationError("--features needs --mask (the ground truth)") }
            let x = try TensorFiles.loadMatrix(features, name: nil, role: "features")
            let m = try TensorFiles.loadMatrix(mask, name: nil, role: "query").values
            guard m.count == x.rows else { throw ValidationError("\(mask) has \(m.count) values for \(x.rows) tokens") }
            let objs = try objects.map { try TensorFiles.loadMatrix($0, name: nil, role: "query").values.map { Int32($0) } }
            let file = try layout.map { try LayoutFile.read($0) }
            let req = PruneRequest(features: x,
                                   embeddings: try embeddings.map { try TensorFiles.loadMatrix($0, name: nil, role: "embeddings") },
                                   query: try query.map { try TensorFiles.loadMatrix($0, name: nil, role: "query") },
                                   unitTokens: file?.file.unitTokens)
            let shards = file?.shards ?? [0..<x.rows]
            let c = EvalCase(name: features, kind: "file", request: req, shards: shards, target: m.map { $0 > 0 }, objects: objs)
            let bs = try (budgets ?? "0.05,0.1,0.2").split(separator: ",").map { try Budget(parsing: String($0)) }
            rows = try evaluator.evaluate([c], budgets: bs)
        } else {
            guard let sc = SyntheticSuite.Scale(rawValue: scale) else { throw ValidationError("--scale must be small, medium or full") }
            for name in kinds.split(separator: ",") {
                guard let kind = SyntheticSuite.Kind(String(name)) else { throw ValidationError("unknown kind \(name)") }
                let cases = SyntheticSuite.cases(kind, count: requests, seed: seed, scale: sc)
                let bs = SyntheticSuite.budgets(kind.kind, tokens: cases[0].request.tokenCount)
                let kindRows = try evaluator.evaluate(cases, budgets: bs)
                rows += kindRows
                say("\(kind): \(cases.count) requests of \(cases[0].request.tokenCount) tokens (D=\(cases[0].request.features.cols))")
            }
        }
        say(EvalReport.markdown(rows))
        say("Script, monolithic vs sharded:\n" + EvalReport.gap(rows))
        say("Script+, monolithic vs sharded:\n" + EvalReport.gap(rows, method: "script+"))
        if ablation { say("Script+ ablation (target share / coverage / ms; each idea off in turn):\n" + EvalReport.ablation(rows)) }
        say("Script+ against the targets of issue 13:\n" + EvalReport.targets(rows))
        if let json {
            let data = try JSONSerialization.data(withJSONObject: EvalReport.dictionaries(rows), options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: json))
        }
        if let svg { try GapChart.svg(rows).write(toFile: svg, atomically: true, encoding: .utf8) }
        if let chart { try TradeoffChart.svg(rows).write(toFile: chart, atomically: true, encoding: .utf8) }
    }
}
