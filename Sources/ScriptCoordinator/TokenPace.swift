/// What something has lately taken per token: the median of its last samples, so that the odd
/// one (a request that waited on a dead worker's heartbeats, a job slowed by a neighbour) does
/// not move it. The coordinator keeps one for requests of each kind (`WorkKind`), from start to
/// answer (it ends a waiting request with less time left than twice that for its size: `shedLate`), and one per worker,
/// its shard jobs' compute time (it leaves a job for a faster worker that is busy: `choose`).
struct TokenPace {
    /// Seconds per token of the last samples, oldest first.
    private var samples: [Double] = []
    private let window: Int

    init(window: Int = 15) { self.window = window }

    /// Seconds a token, the median of the samples (at least a nanosecond a token, so that times
    /// can be divided by it); nil before any. Kept by `add`: the dispatcher reads it for every
    /// worker at every pass.
    private(set) var perToken: Double?

    /// `tokens` tokens took `seconds`. Samples that are not a time (negative, not finite, as a
    /// faulty worker might report) are left out; none counts for more than a second a token.
    mutating func add(seconds: Double, tokens: Int) {
        guard tokens > 0, seconds.isFinite, seconds >= 0 else { return }
        samples.append(min(1, seconds / Double(tokens)))
        if samples.count > window { samples.removeFirst(samples.count - window) }
        let sorted = samples.sorted()
        let n = sorted.count
        perToken = max(1e-9, n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2)
    }
}
