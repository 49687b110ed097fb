import Synchronization

/// What a process says about itself to probes: whether its loop still turns (liveness) and
/// whether it can do its job (readiness), with the reason when it cannot. Written by the
/// process's loop, read from any thread.
public final class HealthState: Sendable {
    private struct State {
        var lastBeat: ContinuousClock.Instant
        var ready = false
        var reason = "starting"
    }

    private let state: Mutex<State>
    /// The loop is dead when it has not beaten for this long.
    public let stallLimit: Duration

    public init(stallLimit: Duration = .seconds(10)) {
        self.stallLimit = stallLimit
        state = Mutex(State(lastBeat: ContinuousClock().now))
    }

    /// Called by the loop on every turn.
    public func beat(now: ContinuousClock.Instant = ContinuousClock().now) {
        state.withLock { $0.lastBeat = now }
    }

    /// Sets readiness; `reason` says why not (or what it serves when ready).
    public func setReady(_ ready: Bool, reason: String) {
        state.withLock { $0.ready = ready; $0.reason = reason }
    }

    /// Whether the loop has turned within `stallLimit`.
    public func isLive(now: ContinuousClock.Instant = ContinuousClock().now) -> Bool {
        state.withLock { now - $0.lastBeat <= stallLimit }
    }

    /// Readiness and its reason.
    public var readiness: (ready: Bool, reason: String) { state.withLock { ($0.ready, $0.reason) } }
}
