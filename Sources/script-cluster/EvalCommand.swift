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

    @Option(help: "Synthetic kinds: image, anyres, video.") var kinds = "image,anyres,video"
    @Option(help: "Synthetic requests per kind.") var requests = 8
    @Option(help: "First seed.") var seed: UInt64 = 1
    @Option(help: "small, medium (real token counts, width 1024) or full (the models' shapes).") var scale = "medium"
    @Option(help: "Methods (comma-separated): script, script-sharded, cdpruner, divprune, gsp, random, uniform.") var methods = "all"
    @Option(help: "Budgets for file input (comma-separated counts or ratios).") var budgets: String?
    @Option(help: "Write rows as JSON here.") var json: String?
    @Option(help: "Write the monolithic-vs-sharded chart (SVG) here.") var svg: String?
    @Option(help: "Threads (default: the CPUs this process may use, or $SCRIPT_CLUSTER_THREADS).") var threads: Int?

    @Option(help: "Your own request: features file (with --mask).") var features: String?
    @Option(help: "Your own request: embeddings file.") var embeddings: String?
    @Option(help: "Your own request: query file.") var query: String?
    @Option(help: "Your own request: layout.json (shards for script-sharded).") var layout: String?
    @Option(help: "Your own request: 0/1 per token, 1 where the asked-about object shows.") var mask: String?
    @Option(help: "Your own request: object id per token, -1 for background (optional).") var objects: String?

    func run() throws {
        let pool = ComputePool(width: try ThreadCount.resolve(flag: threads))
        let chosen: [EvalMethod] = methods == "all" ? EvalMethod.all : try methods.split(separator: ",").map { name in
            guard let m = EvalMethod.all.first(where: { $0.description == name }) else { throw ValidationError("unknown method \(name)") }
            return m
        }
        let evaluator = Evaluator(methods: chosen, pool: pool)
        var rows: [EvalRow] = []
        if let features {
            guard let mask else { throw ValidationError("--features needs --mask (the ground truth)") }
            let x = try TensorFiles.loadMatrix(features, name: nil, role: "features")
            let m = try TensorFiles.loadMatrix(mask, name: nil, role: "query").values
            guard m.count == x.rows else { throw ValidationError("\(mask) has \(m.count) values for \(x.rows) tokens") }
            let objs = try objects.map { try TensorFiles.loadMatrix($0, name: nil, role: "query").values.map { Int32($0) } }
            let req = PruneRequest(features: x,
                                   embeddings: try embeddings.map { try TensorFiles.loadMatrix($0, name: nil, role: "embeddings") },
                                   query: try query.map { try TensorFiles.loadMatrix($0, name: nil, role: "query") })
            let shards = try layout.map { try LayoutFile.read($0).shards } ?? [0..<x.rows]
            let c = EvalCase(name: features, kind: "file", request: req, shards: shards, target: m.map { $0 > 0 }, objects: objs)
            let bs = try (budgets ?? "0.05,0.1,0.2").split(separator: ",").map { try Budget(parsing: String($0)) }
            rows = try evaluator.evaluate([c], budgets: bs)
        } else {
            guard let sc = SyntheticSuite.Scale(rawValue: scale) else { throw ValidationError("--scale must be small, medium or full") }
            for name in kinds.split(separator: ",") {
                guard let kind = SampleKind(rawValue: String(name)) else { throw ValidationError("unknown kind \(name)") }
                let cases = SyntheticSuite.cases(kind, count: requests, seed: seed, scale: sc)
                let bs = SyntheticSuite.budgets(kind, tokens: cases[0].request.tokenCount)
                let kindRows = try evaluator.evaluate(cases, budgets: bs)
                rows += kindRows
                say("\(kind.rawValue): \(cases.count) requests of \(cases[0].request.tokenCount) tokens (D=\(cases[0].request.features.cols))")
            }
        }
        say(EvalReport.markdown(rows))
        say("Script, monolithic vs sharded:\n" + EvalReport.gap(rows))
        if let json {
            let data = try JSONSerialization.data(withJSONObject: EvalReport.dictionaries(rows), options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: json))
        }
        if let svg { try GapChart.svg(rows).write(toFile: svg, atomically: true, encoding: .utf8) }
    }
}
