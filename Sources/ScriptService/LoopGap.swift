/// The time between two turns of a process's event loop, which turns at least once a poll
/// timeout while the process runs. A longer gap means the process did not run (stopped, frozen
/// with its container or virtual machine, starved of CPU) or its loop was held: its peers'
/// messages of that time may still be inside libzmq, so their silence over the gap says nothing
/// about them.
public struct LoopGap: Sendable {
    private var last: ContinuousClock.Instant
    /// Gaps longer than this are told.
    public let threshold: Duration

    public init(now: ContinuousClock.Instant, threshold: Duration) {
        last = now
        self.threshold = threshold
    }

    /// A turn at `now`: the time since the last turn when it is longer than the threshold.
    public mutating func turn(at now: ContinuousClock.Instant) -> Duration? {
        defer { last = now }
        let gap = now - last
        return gap > threshold ? gap : nil
    }
}
