/// One served (or refused) request, as the access log and the metrics see it.
public struct AccessRecord: Sendable, Equatable {
    public var id: String
    public var tokens: Int
    public var kept: Int
    public var shards: Int
    public var workers: [String]
    public var milliseconds: Double
    /// `ok`, or the error code.
    public var outcome: String
    public var transfer: String
}
