import ScriptCore

/// What a kept set preserves of a request, measured against its ground truth: the numbers a
/// person choosing a method and a budget needs, since no language model runs here.
public struct EvalMetrics: Sendable, Equatable {
    /// Whether at least one token of the asked-about object survived (of each, when the query
    /// asks about several).
    public var hit: Bool
    /// Share of the asked-about object's tokens kept.
    public var targetShare: Double
    /// Share of all objects (not background) with at least one kept token.
    public var objectsCovered: Double
    /// Mean over all tokens of the best cosine to a kept token (1 = everything represented).
    public var coverage: Double

    public init(hit: Bool, targetShare: Double, objectsCovered: Double, coverage: Double) {
        self.hit = hit
        self.targetShare = targetShare
        self.objectsCovered = objectsCovered
        self.coverage = coverage
    }

    /// - Parameters:
    ///   - kept: kept token indices.
    ///   - target: whether each token shows the asked-about object.
    ///   - objects: object id of each token, -1 for background (nil: target only).
    ///   - features: the tokens, for coverage.
    ///   - targetObjects: with `objects`, the objects of the ground truth: a hit needs a kept
    ///     token of each of them that shows in some token.
    public static func measure(kept: [Int], target: [Bool], objects: [Int32]?, targetObjects: [Int32]? = nil, features: Matrix,
                               pool: ComputePool) -> EvalMetrics {
        let keptSet = Set(kept)
        let targetCount = target.filter { $0 }.count
        let targetKept = target.indices.filter { target[$0] && keptSet.contains($0) }.count
        var objectsCovered = 0.0
        if let objects {
            let all = Set(objects.filter { $0 >= 0 })
            let seen = Set(kept.map { objects[$0] }.filter { $0 >= 0 })
            objectsCovered = all.isEmpty ? 1 : Double(seen.count) / Double(all.count)
        }
        var hit = targetKept > 0
        if let objects, let targetObjects {
            let shown = Set(objects).intersection(targetObjects)
            let seen = Set(kept.map { objects[$0] })
            hit = !shown.isEmpty && shown.isSubset(of: seen)
        }
        return EvalMetrics(hit: hit,
                           targetShare: targetCount == 0 ? 0 : Double(targetKept) / Double(targetCount),
                           objectsCovered: objectsCovered,
                           coverage: Coverage.mean(features: features, kept: kept, pool: pool))
    }
}
