/// At most one warning line an interval for one kind of event, saying how many there were
/// since the last line.
public struct WarningThrottle: Sendable {
    public let interval: Duration
    private var last: ContinuousClock.Instant?
    private var unreported = 0

    public init(interval: Duration) { self.interval = interval }

    /// Counts one event; when a line is due, the suffix it ends with (empty, or
    /// ` (N times since the last report)`), else nil.
    public mutating func due(_ now: ContinuousClock.Instant) -> String? {
        unreported += 1
        if let last, now - last < interval { return nil }
        let times = unreported > 1 ? " (\(unreported) times since the last report)" : ""
        last = now
        unreported = 0
        return times
    }
}
