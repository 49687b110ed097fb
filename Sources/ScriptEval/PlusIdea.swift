import ScriptCore

/// One idea of Script+ that the ablation switches off (Docs/ALGORITHM.md, "Script+").
public enum PlusIdea: String, CaseIterable, Sendable, Hashable, Comparable {
    /// The graph pairs consecutive units instead of even and odd positions.
    case unitGraph = "unit-graph"
    /// Redundancy discounted by relevance.
    case discount
    /// Each shard proposes a token more for every highly relevant token.
    case floor

    /// `options` with this idea switched off.
    public func off(_ options: PruneOptions) -> PruneOptions {
        var o = options
        switch self {
        case .unitGraph: o.unitGraph = false
        case .discount: o.discount = 0
        case .floor: o.floorRelevance = 0
        }
        return o
    }

    public static func < (a: PlusIdea, b: PlusIdea) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}
