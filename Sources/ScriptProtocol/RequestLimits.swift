/// Bounds the coordinator and workers enforce before they allocate anything for a request.
public struct RequestLimits: Sendable {
    public var maxTokens = 1_000_000
    public var maxWidth = 65_536
    public var maxShards = 4096
    public var maxQueryTokens = 4096
    public var maxDeadlineMs = 3_600_000
    public init() {}
}
