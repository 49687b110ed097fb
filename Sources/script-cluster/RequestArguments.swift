import ArgumentParser
import ScriptCore
import ScriptService

/// Flags shared by every command that takes a request from files (`prune`, `submit`).
/// Numbers parse as values even when negative (`--budget -5` is refused for what it is).
struct RequestArguments: ParsableArguments {
    @Option(name: .long, help: "Visual tokens, N x D (.npy, or .safetensors with --features-name).")
    var features: String

    @Option(name: .long, help: "Tensor name inside a .safetensors features file.")
    var featuresName: String?

    @Option(name: .long, help: "The same tokens in the query's space, N x Dq (default: the features).")
    var embeddings: String?

    @Option(name: .long, help: "Tensor name inside a .safetensors embeddings file.")
    var embeddingsName: String?

    @Option(name: .long, help: "Query token embeddings, M x Dq (default: none, no query conditioning).")
    var query: String?

    @Option(name: .long, help: "Tensor name inside a .safetensors query file.")
    var queryName: String?

    @Option(name: .long, parsing: .unconditional, help: "Tokens to keep: a count (64) or a ratio of N (0.1).")
    var budget: String

    @Option(name: .long, parsing: .unconditional, help: "Explicit shards: start:end,start:end,... covering 0..<N.")
    var shards: String?

    @Option(name: .long, parsing: .unconditional, help: "Split into T equal tiles, one shard each (AnyRes); T >= 1 divides N.")
    var tiles: Int?

    @Option(name: .long, parsing: .unconditional, help: "Video frames F (with --segment-frames); F >= 1 divides N.")
    var frames: Int?

    @Option(name: .long, parsing: .unconditional, help: "Frames per shard, >= 1 (video, with --frames).")
    var segmentFrames: Int?

    @Option(name: .long, help: "A layout.json (as written by `sample`) giving the shards.")
    var layout: String?

    @Option(name: .long, help: "Method: \(PruneMethod.allCases.map(\.rawValue).joined(separator: ", ")).")
    var method: String = "script"

    @Option(parsing: .unconditional, help: "Strong-edge similarity threshold, in [-1, 1].") var tau: Float = 0.2
    @Option(parsing: .unconditional, help: "Redundancy sharpness, in [0, 20].") var gamma: Float = 1.0
    @Option(parsing: .unconditional, help: "Minimum strong degree before blending with mean similarity, >= 0.") var kmin: Int = 4
    @Option(name: .customLong("gsp-ratio"), parsing: .unconditional, help: "Share of each shard graph pruning removes, in [0, 1).") var gspRatio: Double = 0.5
    @Option(parsing: .unconditional, help: "Query conditioning strength, in [0, 1).") var theta: Float = 0.5
    @Option(name: .customLong("query-keep"), parsing: .unconditional, help: "Share of query tokens kept as relevant, in (0, 1].") var queryKeep: Double = 0.5
    @Option(name: .customLong("relevance-sign"), parsing: .unconditional, help: "1, or -1 for the CLIP/LLaVA negated relevance.") var relevanceSign: Float = 1
    @Option(parsing: .unconditional, help: "Over-proposal factor of each shard, in [1, 1000].") var alpha: Double = 2.0
    @Option(parsing: .unconditional, help: "Seed of the random method, a whole number >= 0.") var seed: UInt64 = 0
    @Option(parsing: .unconditional, help: "Script+: power of the relevance discount of redundancy, a whole number in [0, 64] (0: off).")
    var discount = 4
    @Option(name: .customLong("floor-relevance"), parsing: .unconditional,
            help: "Script+: relevance in [0, 1] from which a token adds to its shard's proposal (0: off).")
    var floor = 0.6
    @Flag(name: .customLong("no-unit-graph"), help: "Script+: Script's even/odd graph even where the layout has units.")
    var noUnitGraph = false
    @Option(name: .long, help: "Precision of the products behind the cosines: f32, or bf16 (half the arithmetic's cost where the CPU has AVX512-BF16 or AMX; needs libdnnl2 where they are computed).")
    var similarity: String = "f32"
    @Option(name: .customLong("unit-tokens"), parsing: .unconditional,
            help: "Script+: tokens per unit (frame, tile), >= 1; default from --frames, --tiles or the layout's units.")
    var unitTokens: Int?

    func validate() throws {
        _ = try FlagValue.budget(budget)
        try FlagValue.choice(method, "--method", PruneMethod.allCases.map(\.rawValue))
        _ = try options()
        try FlagValue.count(tiles, "--tiles")
        try FlagValue.count(frames, "--frames")
        try FlagValue.count(segmentFrames, "--segment-frames")
        try FlagValue.count(unitTokens, "--unit-tokens")
        if let shards { _ = try ShardLayout.parse(shards) }
        _ = try ShardLayout.flags(shards: shards, tiles: tiles, frames: frames, segmentFrames: segmentFrames, layoutFile: layout)
    }

    /// The options, each checked: a refusal names its flag.
    func options() throws -> PruneOptions {
        var o = PruneOptions()
        o.method = PruneMethod(rawValue: method) ?? .script
        o.tau = tau; o.gamma = gamma; o.kmin = kmin; o.gspRatio = gspRatio; o.theta = theta
        o.queryKeep = queryKeep; o.relevanceSign = relevanceSign; o.alpha = alpha; o.seed = seed
        o.discount = discount; o.floorRelevance = floor; o.unitGraph = !noUnitGraph
        o.similarity = try FlagValue.precision(similarity)
        do { try o.validate() } catch PruneError.invalidOption(let name, let value, let expected) {
            throw InputError("--\(name)", value, "must be \(expected)").validation
        }
        return o
    }

    func parsedBudget() throws -> Budget { try FlagValue.budget(budget) }

    /// Loads the files and the layout into a request; the layout is checked against the tokens
    /// (the rest is validated by the pruner or the cluster).
    func loadRequest(progress: ProgressLine? = nil) throws -> PruneRequest {
        progress?.stage("reading \(TensorFiles.label(features))")
        let x = try TensorFiles.loadMatrix(features, name: featuresName, role: "features")
        if let embeddings { progress?.stage("reading \(TensorFiles.label(embeddings))") }
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

    /// A core refusal of the request, naming the file or flag it is about.
    func attribute(_ error: PruneError) -> InputError {
        let file: (String) -> String? = { what in
            switch what {
            case "features": return features
            case "embeddings": return embeddings
            case "query": return query
            default: return nil
            }
        }
        switch error {
        case .widthMismatch("query", let expected, let actual):
            let source = embeddings == nil ? "--features" : "--embeddings"
            return InputError("--query", query, "has width \(actual); the query must have the width of \(source) (\(expected))")
        case .rowCountMismatch("embeddings", let expected, let actual):
            return InputError("--embeddings", embeddings, "has \(actual) rows; it needs one a token of --features (\(expected))")
        case .emptyInput(let what), .widthMismatch(let what, _, _), .rowCountMismatch(let what, _, _), .nonFinite(let what, _, _),
             .overflow(let what, _):
            if let path = file(what) { return InputError("--\(what)", path, error.description) }
        case .budgetNotPositive, .budgetRatioOutOfRange:
            return InputError("--budget", budget, error.description)
        case .emptyShard, .shardsOverlap, .shardsLeaveGap, .shardPastEnd:
            return InputError(layoutFlag ?? "the layout", nil, error.description)
        case .invalidOption(let name, let value, let expected):
            return InputError("--\(name)", value, "must be \(expected)")
        case .unavailable(let name, let value, let reason):
            return InputError("--\(name)", value, reason)
        case .tooLarge:
            break
        }
        return InputError("the request", nil, error.description)
    }

    /// The layout flag given, if any.
    private var layoutFlag: String? {
        if let shards { return "--shards \(shards)" }
        if let tiles { return "--tiles \(tiles)" }
        if let frames { return "--frames \(frames)" }
        if let layout { return "--layout \(layout)" }
        return nil
    }
}
