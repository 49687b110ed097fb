/// Every parameter of the algorithm, with the paper's defaults (Docs/ALGORITHM.md).
public struct PruneOptions: Sendable, Equatable, Codable {
    public var method: PruneMethod = .script
    /// Similarity threshold for a strong edge in the bipartite graph.
    public var tau: Float = 0.2
    /// Sharpness of the redundancy score.
    public var gamma: Float = 1.0
    /// Below this many strong edges a token's redundancy is blended with its mean similarity.
    public var kmin: Int = 4
    /// Share of a shard that graph pruning removes.
    public var gspRatio: Double = 0.5
    /// Strength of query conditioning in [0, 1); 0 is pure diversity.
    public var theta: Float = 0.5
    /// Share of query tokens kept as relevant.
    public var queryKeep: Double = 0.5
    /// +1, or -1 to reproduce the CLIP/LLaVA negated relevance.
    public var relevanceSign: Float = 1
    /// Over-proposal factor of each shard in the distributed greedy.
    public var alpha: Double = 2.0
    /// Seed of the `random` method.
    public var seed: UInt64 = 0
    /// Script+: the graph pairs consecutive units (frames, tiles) of a shard instead of even and
    /// odd positions, when the request's unit size is known.
    public var unitGraph: Bool = true
    /// Script+: a token's redundancy counts `(1 - r)^discount` times (r its relevance), so what
    /// the query asks about survives graph pruning; 0 turns the discount off.
    public var discount: Int = 4
    /// Script+: each shard proposes one more token for every token of relevance at least this
    /// (relevance is in [0, 1] over the whole request); 0 turns the floor off.
    public var floorRelevance: Double = 0.6
    /// Precision of the products behind every cosine between features (Script, Script+,
    /// CDPruner): float32, or bfloat16 where the CPU multiplies it natively.
    public var similarity: SimilarityPrecision = .f32

    public init() {}

    public static let defaults = PruneOptions()

    /// Throws `PruneError.invalidOption` naming the first parameter out of range.
    public func validate() throws {
        func bad(_ name: String, _ value: Any, _ expected: String) -> PruneError {
            .invalidOption(name: name, value: "\(value)", expected: expected)
        }
        guard tau.isFinite, tau >= -1, tau <= 1 else { throw bad("tau", tau, "a number in [-1, 1]") }
        guard gamma.isFinite, gamma >= 0, gamma <= 20 else { throw bad("gamma", gamma, "a number in [0, 20]") }
        guard kmin >= 0, kmin <= 1 << 20 else { throw bad("kmin", kmin, "a count >= 0") }
        guard gspRatio.isFinite, gspRatio >= 0, gspRatio < 1 else { throw bad("gsp-ratio", gspRatio, "a number in [0, 1)") }
        guard theta.isFinite, theta >= 0, theta < 1 else { throw bad("theta", theta, "a number in [0, 1)") }
        guard queryKeep.isFinite, queryKeep > 0, queryKeep <= 1 else { throw bad("query-keep", queryKeep, "a number in (0, 1]") }
        guard relevanceSign == 1 || relevanceSign == -1 else { throw bad("relevance-sign", relevanceSign, "1 or -1") }
        guard alpha.isFinite, alpha >= 1, alpha <= 1000 else { throw bad("alpha", alpha, "a number in [1, 1000]") }
        guard discount >= 0, discount <= 64 else { throw bad("discount", discount, "a whole number in [0, 64]") }
        guard floorRelevance.isFinite, floorRelevance >= 0, floorRelevance <= 1 else {
            throw bad("floor-relevance", floorRelevance, "a number in [0, 1]")
        }
    }
}
