import ScriptService

/// A job a worker finished, answered or failed, for its metrics: what it was, its error code
/// (nil when answered), its tokens, and the wall and CPU time of the steps that computed it.
public struct WorkerJobReport: Sendable, Equatable {
    public var kind: ClusterMetrics.JobKind
    public var code: String?
    public var tokens: Int
    public var wall: Duration
    public var cpu: Duration

    public init(kind: ClusterMetrics.JobKind, code: String? = nil, tokens: Int, wall: Duration = .zero, cpu: Duration = .zero) {
        self.kind = kind
        self.code = code
        self.tokens = tokens
        self.wall = wall
        self.cpu = cpu
    }
}
