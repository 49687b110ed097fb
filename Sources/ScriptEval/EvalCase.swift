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

    public init(name: String, kind: String, request: PruneRequest, shards: [Range<Int>], target: [Bool], objects: [Int32]?) {
        self.name = name
        self.kind = kind
        self.request = request
        self.shards = shards
        self.target = target
        self.objects = objects
    }
}

/// A method as evaluated: a pruning method, and for Script whether it ran sharded.
public struct EvalMethod: Hashable, Sendable, CustomStringConvertible {
    public var method: PruneMethod
    public var sharded: Bool

    public init(_ method: PruneMethod, sharded: Bool = false) {
        self.method = method
        self.sharded = sharded
    }

    public var description: String { method == .script ? (sharded ? "script-sharded" : "script") : method.rawValue }

    /// Script monolithic and sharded, and every baseline.
    public static let all: [EvalMethod] = [EvalMethod(.script), EvalMethod(.script, sharded: true)]
        + PruneMethod.allCases.filter { $0 != .script }.map { EvalMethod($0) }
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
