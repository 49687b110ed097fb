import ScriptCore

/// One evaluated request: tokens, query, layout and ground truth, from the synthetic generator
/// or from a user's files.
public struct EvalCase: Sendable {
    public var name: String
    public var kind: String
    public var request: PruneRequest
    /// The layout's shards (used by sharded Script even when `request.shards` is nil).
    public var shards: [Range<Int>]
    public var target: [Bool]
    public var objects: [Int32]?
    /// The objects of the ground truth (with `objects`): a hit needs a kept token of each.
    public var targetObjects: [Int32]?

    public init(name: String, kind: String, request: PruneRequest, shards: [Range<Int>], target: [Bool], objects: [Int32]?,
                targetObjects: [Int32]? = nil) {
        self.name = name
        self.kind = kind
        self.request = request
        self.shards = shards
        self.target = target
        self.objects = objects
        self.targetObjects = targetObjects
    }
}

/// A method as evaluated: a pruning method, for Script and Script+ whether it ran sharded, and
/// for Script+ which of its ideas are switched off (the ablation).
public struct EvalMethod: Hashable, Sendable, CustomStringConvertible {
    public var method: PruneMethod
    public var sharded: Bool
    public var without: Set<PlusIdea>

    public init(_ method: PruneMethod, sharded: Bool = false, without: Set<PlusIdea> = []) {
        self.method = method
        self.sharded = sharded
        self.without = without
    }

    /// `script`, `script-sharded`, `script+`, `script+-sharded`, `script+-sharded-discount` (the
    /// ideas switched off), or a baseline's name.
    public var description: String {
        var s = method.rawValue
        if sharded { s += "-sharded" }
        for idea in without.sorted() { s += "-" + idea.rawValue }
        return s
    }

    /// The options this method runs with.
    public func options(_ base: PruneOptions) -> PruneOptions {
        var o = base
        o.method = method
        for idea in without { o = idea.off(o) }
        return o
    }

    /// Script and Script+ monolithic and sharded, and every baseline.
    public static let all: [EvalMethod] = [EvalMethod(.script), EvalMethod(.script, sharded: true),
                                           EvalMethod(.scriptPlus), EvalMethod(.scriptPlus, sharded: true)]
        + PruneMethod.allCases.filter { $0 != .script && $0 != .scriptPlus }.map { EvalMethod($0) }

    /// Script+ with each idea switched off in turn, and all of them, monolithic and sharded.
    public static let ablation: [EvalMethod] = [false, true].flatMap { sharded in
        PlusIdea.allCases.map { EvalMethod(.scriptPlus, sharded: sharded, without: [$0]) }
            + [EvalMethod(.scriptPlus, sharded: sharded, without: Set(PlusIdea.allCases))]
    }

    /// A method by its description.
    public static func named(_ name: String) -> EvalMethod? {
        (all + ablation).first { $0.description == name }
    }
}

/// Mean metrics of one method at one budget over many requests.
public struct EvalRow: Sendable, Equatable {
    public var kind: String
    public var method: String
    public var budget: String
    public var requests: Int
    public var hitRate: Double
    public var targetShare: Double
    public var objectsCovered: Double
    public var coverage: Double
    public var milliseconds: Double
}
