/// What a shard job holds at the least while it prunes, so that a worker can refuse at once,
/// saying why, a shard that cannot fit in its memory (it would be killed for memory, and every
/// worker given the shard after it).
public enum ShardMemory {
    /// Bytes a shard of `n` tokens of width `d` holds at the least: its features as they are
    /// kept (`FilledValues.shard`: Float32, in bf16 their rounding beside them or alone, alone
    /// only where `float32Read` is false), and the similarity block its graph stage fills at
    /// once: Script's bipartite matrix (`ceil(n / 2) x floor(n / 2)` floats), or, for Script+
    /// over units of `T < n` tokens, one piece (`T x T`).
    public static func leastBytes(tokens n: Int, width d: Int, options: PruneOptions, unitTokens: Int?, float32Read: Bool = true) -> Int {
        let p = parts(tokens: n, width: d, options: options, unitTokens: unitTokens, float32Read: float32Read)
        return p.features + p.graph
    }

    /// `leastBytes` in its two parts: the features, held from the shard's arrival to its
    /// proposal, and the graph's block, held only while the graph stage runs (a worker runs one
    /// graph stage at a time, so of the shards it holds only the largest block counts).
    public static func parts(tokens n: Int, width d: Int, options: PruneOptions, unitTokens: Int?,
                             float32Read: Bool = true) -> (features: Int, graph: Int) {
        var block = ((n + 1) / 2) * (n / 2)
        if options.method == .scriptPlus, options.unitGraph, let t = unitTokens, t < n { block = t * t }
        return (FilledValues.shard(rows: n, options: options, float32Read: float32Read).bytes(rows: n, cols: d), 4 * block)
    }

    /// What shards with these `parts` hold at once on one worker, at the least: all their
    /// features, and the largest graph block (their graph stages run one at a time).
    public static func together(_ parts: some Sequence<(features: Int, graph: Int)>) -> Int {
        let (features, graph) = parts.reduce((0, 0)) { ($0.0 + $1.features, max($0.1, $1.graph)) }
        return features + graph
    }

    /// The shard of `request` that holds the most at the least under `options` (its tokens, and
    /// those bytes): Script's and Script+'s shards (the whole request without shards), GSP's
    /// whole request; nil for the methods without a graph stage.
    public static func largestShard(of request: PruneRequest, options: PruneOptions) -> (tokens: Int, bytes: Int)? {
        let ranges: [Range<Int>]
        switch options.method {
        case .script, .scriptPlus: ranges = request.effectiveShards
        case .gsp: ranges = [0..<request.features.rows]
        default: return nil
        }
        return ranges.map { (tokens: $0.count, bytes: leastBytes(tokens: $0.count, width: request.features.cols, options: options, unitTokens: request.unitTokens)) }
            .max { $0.bytes < $1.bytes }
    }
}
