import ArgumentParser
import ScriptCore

/// Flags shared by every command that takes a request from files (`prune`, `submit`, `eval`).
struct RequestArguments: ParsableArguments {
    @Option(name: .long, help: "Visual tokens, N x D (.npy, or .safetensors with --features-name).")
    var features: String

    @Option(name: .long, help: "Tensor name inside a .safetensors features file.")
    var featuresName: String?

    @Option(name: .long, help: "The same tokens in the query's space, N x Dq (default: the features).")
    var embeddings: String?

    @Option(name: .long, help: "Tensor name inside a .safetensors embeddings file.")
    var embeddingsName: String?

    @Option(name: .long, help: "Query token embeddings, M x Dq.")
    var query: String?

    @Option(name: .long, help: "Tensor name inside a .safetensors query file.")
    var queryName: String?

    @Option(name: .long, help: "Tokens to keep: a count (64) or a ratio of N (0.1).")
    var budget: String

    @Option(name: .long, help: "Explicit shards: start:end,start:end,... covering 0..<N.")
    var shards: String?

    @Option(name: .long, help: "Split into T equal tiles, one shard each (AnyRes).")
    var tiles: Int?

    @Option(name: .long, help: "Video frames F (with --segment-frames).")
    var frames: Int?

    @Option(name: .long, help: "Frames per shard (video).")
    var segmentFrames: Int?

    @Option(name: .long, help: "A layout.json (as written by `sample`) giving the shards.")
    var layout: String?

    @Option(name: .long, help: "Method: \(PruneMethod.allCases.map(\.rawValue).joined(separator: ", ")).")
    var method: String = "script"

    @Option(help: "Strong-edge similarity threshold.") var tau: Float = 0.2
    @Option(help: "Redundancy sharpness.") var gamma: Float = 1.0
    @Option(help: "Minimum strong degree before blending with mean similarity.") var kmin: Int = 4
    @Option(name: .customLong("gsp-ratio"), help: "Share of each shard graph pruning removes.") var gspRatio: Double = 0.5
    @Option(help: "Query conditioning strength in [0, 1).") var theta: Float = 0.5
    @Option(name: .customLong("query-keep"), help: "Share of query tokens kept as relevant.") var queryKeep: Double = 0.5
    @Option(name: .customLong("relevance-sign"), help: "1, or -1 for the CLIP/LLaVA negated relevance.") var relevanceSign: Float = 1
    @Option(help: "Over-proposal factor of each shard.") var alpha: Double = 2.0
    @Option(help: "Seed of the random method.") var seed: UInt64 = 0
    @Option(help: "Script+: power of the relevance discount of redundancy (0: off).") var discount = 4
    @Option(help: "Script+: relevance from which a token adds to its shard's proposal (0: off).") var floor = 0.6
    @Flag(name: .customLong("no-unit-graph"), help: "Script+: Script's even/odd graph even where the layout has units.")
    var noUnitGraph = false
    @Option(name: .customLong("unit-tokens"), help: "Script+: tokens per unit (frame, tile); default from --frames, --tiles or the layout's units.")
    var unitTokens: Int?

    func options() throws -> PruneOptions {
        guard let m = PruneMethod(rawValue: method) else {
            throw PruneError.invalidOption(name: "method", value: method, expected: PruneMethod.allCases.map(\.rawValue).joined(separator: ", "))
        }
        var o = PruneOptions()
        o.method = m
        o.tau = tau; o.gamma = gamma; o.kmin = kmin; o.gspRatio = gspRatio; o.theta = theta
        o.queryKeep = queryKeep; o.relevanceSign = relevanceSign; o.alpha = alpha; o.seed = seed
        o.discount = discount; o.floorRelevance = floor; o.unitGraph = !noUnitGraph
        try o.validate()
        return o
    }

    func parsedBudget() throws -> Budget { try Budget(parsing: budget) }

    /// Loads the files and the layout into a request (validated by the pruner, not here).
    func loadRequest() throws -> PruneRequest {
        let x = try TensorFiles.loadMatrix(features, name: featuresName, role: "features")
        let e = try embeddings.map { try TensorFiles.loadMatrix($0, name: embeddingsName, role: "embeddings") }
        let q = try query.map { try TensorFiles.loadMatrix($0, name: queryName, role: "query") }
        let shards = try ShardLayout.resolve(shards: shards, tiles: tiles, frames: frames, segmentFrames: segmentFrames,
                                             layoutFile: layout, tokens: x.rows)
        return PruneRequest(features: x, embeddings: e, query: q, shards: shards, unitTokens: try units(tokens: x.rows))
    }

    /// Tokens per unit: `--unit-tokens`, else one frame of `--frames`, one tile of `--tiles`, or
    /// the layout file's units when they are all of one size.
    func units(tokens n: Int) throws -> Int? {
        if let unitTokens { return unitTokens }
        if let frames, frames > 0, n % frames == 0 { return n / frames }
        if let tiles, tiles > 1, n % tiles == 0 { return n / tiles }
        return try layout.flatMap { try LayoutFile.read($0).file.unitTokens }
    }
}
