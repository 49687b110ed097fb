/// The pruning methods under one interface: Script and the baselines it is compared with.
public enum PruneMethod: String, CaseIterable, Sendable, Codable {
    /// Graph-structured pruning, then query-conditioned DPP selection (sharded when shards are given).
    case script
    /// Script whose graph stage keeps what the query needs (Docs/ALGORITHM.md, "Script+").
    case scriptPlus = "script+"
    /// Query-conditioned DPP over all tokens (CDPruner).
    case cdpruner
    /// Greedy max-min diversity (DivPrune).
    case divprune
    /// Graph-structured pruning alone.
    case gsp
    /// Seeded uniform random subset.
    case random
    /// Evenly spaced tokens.
    case uniform
}
