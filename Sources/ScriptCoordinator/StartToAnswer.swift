import ScriptService

/// What requests have lately taken here from their start (the first job sent) to their answer,
/// per token: the median of the last requests answered, so that the odd one that waited on a
/// dead worker's heartbeats or on a slow client's bytes does not move it. The coordinator ends a
/// waiting request that has less time left than twice this for its size (`shedLate`).
struct StartToAnswer {
    /// Seconds per token of the last requests answered, oldest first.
    private var samples: [Double] = []
    private let window: Int

    init(window: Int = 15) { self.window = window }

    /// A request of `tokens` tokens answered `duration` after its start.
    mutating func add(_ duration: Duration, tokens: Int) {
        guard tokens > 0 else { return }
        samples.append(ms(duration) / 1000 / Double(tokens))
        if samples.count > window { samples.removeFirst(samples.count - window) }
    }

    /// Seconds a token, the median of the samples; nil before any.
    var perToken: Double? {
        guard !samples.isEmpty else { return nil }
        let sorted = samples.sorted()
        let n = sorted.count
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }
}
