/// A worker's connection to one coordinator, as a state machine over time (Paranoid Pirate):
/// connecting (a fresh socket, `ready` sent until the coordinator answers), connected (beats
/// both ways), and waiting out a back-off after the coordinator went silent or never answered.
struct WorkerLink {
    enum Phase: Equatable {
        case connecting(since: ContinuousClock.Instant)
        case connected
        case waiting(until: ContinuousClock.Instant)
    }

    let endpoint: String
    var phase: Phase
    /// Bumped each time the link's socket is replaced: jobs of an older epoch are forgotten.
    var epoch = 0
    var lastHeard: ContinuousClock.Instant
    var lastSent: ContinuousClock.Instant
    /// The next back-off, before jitter.
    var backoffMs: Int
    /// Whether the current outage was logged (each state change is logged once, not each retry).
    var outageLogged = false
    /// The coordinator's refusal at the last handshake, until it registers this worker.
    var refusal: LinkRefusal?
    /// Why the link was last lost, until a coordinator registers this worker (readiness).
    var trouble: String?
    /// What the current socket's monitor saw: a handshake that failed (no refusal said why), one
    /// that completed, a connection made, and connection attempts that failed.
    var handshakeFailed = false
    var handshook = false
    var connected = false
    var failedAttempts = 0

    init(endpoint: String, now: ContinuousClock.Instant, backoffMs: Int) {
        self.endpoint = endpoint
        phase = .connecting(since: now)
        lastHeard = now
        lastSent = now
        self.backoffMs = backoffMs
    }

    var isConnected: Bool { phase == .connected }

    var isWaiting: Bool {
        if case .waiting = phase { return true }
        return false
    }
}

/// The back-off schedule: `min` doubling to `max`, each delay stretched by up to a quarter
/// (jitter, so that workers restarted together do not knock together).
struct Backoff {
    let minMs: Int
    let maxMs: Int

    func next(after ms: Int) -> Int { min(maxMs, max(minMs, ms * 2)) }

    /// `ms` with jitter: a value in `ms ... ms * 1.25`, from `unit` in [0, 1).
    func jittered(_ ms: Int, unit: Double) -> Int { ms + Int(Double(ms) * 0.25 * unit) }
}
