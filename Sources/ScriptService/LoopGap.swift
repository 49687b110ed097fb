/// The time between two turns of a process's event loop, which turns at least once a poll
/// timeout while the process runs. A longer gap means the process did not run (stopped, frozen
/// with its container or virtual machine, starved of CPU), or work held its loop: either way its
/// peers' messages of that time may still be inside libzmq, so their silence over the gap says
/// nothing about them. Which of the two it was, the loop thread's CPU time over the gap tells.
public struct LoopGap: Sendable {
    /// A turn that came late.
    public struct Gap: Equatable, Sendable {
        /// Since the turn before.
        public var wall: Duration
        /// The loop thread's CPU time over it: near `wall` when work held the loop.
        public var cpu: Duration

        public init(wall: Duration, cpu: Duration) {
            self.wall = wall
            self.cpu = cpu
        }

        /// Whether work held the loop (it ran for most of the gap), rather than the process
        /// not running.
        public var busy: Bool { cpu * 2 > wall }
    }

    private var last: ContinuousClock.Instant
    private var lastCPU: Duration
    /// Gaps longer than this are told.
    public let threshold: Duration

    public init(now: ContinuousClock.Instant, cpu: Duration, threshold: Duration) {
        last = now
        lastCPU = cpu
        self.threshold = threshold
    }

    /// A turn at `now`, the loop thread's CPU time being `cpu`: the gap since the last turn
    /// when it is longer than the threshold.
    public mutating func turn(at now: ContinuousClock.Instant, cpu: Duration) -> Gap? {
        defer { (last, lastCPU) = (now, cpu) }
        let gap = Gap(wall: now - last, cpu: cpu - lastCPU)
        return gap.wall > threshold ? gap : nil
    }
}

extension LoopGap.Gap {
    /// What it was, for a log line.
    public var said: String {
        busy ? "work held this process's loop for \(Units.duration(wall))"
             : "this process did not run for \(Units.duration(wall)) (stopped, frozen or starved of CPU)"
    }
}
