import ScriptCore
import ScriptService

/// `bench`'s view of a `SpanProfile`: one run of a case on one thread with its loops' chunks
/// timed, and what that says about more threads.
extension SpanProfile.Report {
    /// The second of two profiled runs of `request` (the first warms buffers and caches).
    static func measure(_ request: PruneRequest, budget: Int) throws -> SpanProfile.Report {
        let profile = SpanProfile()
        let pruner = Pruner(pool: .profiling(profile))
        for _ in 0..<2 { _ = try profile.measure { try pruner.prune(request, budget: .count(budget)) } }
        return profile.report!
    }

    /// What `bench` prints: work, span, the best each thread count allows, the critical path.
    var lines: [String] {
        let work = Self.ms(workNanoseconds), span = Self.ms(spanNanoseconds)
        let counts = estimates.map { "\($0.threads)" }.joined(separator: ", ")
        let times = estimates.map { Self.text(Self.ms($0.nanoseconds)) }.joined(separator: ", ")
        let efficiency = estimates.map { Units.fixed(work / (Double($0.threads) * Self.ms($0.nanoseconds)), decimals: 2) }.joined(separator: ", ")
        let path = critical.prefix(4).map { "\(Self.short($0.site)) \(Self.text(Self.ms($0.nanoseconds)))" }.joined(separator: ", ")
        return [
            "parallel shape (one run on one thread, every loop's chunks timed): work \(Self.text(work)) ms, span \(Self.text(span)) ms: \(Units.fixed(work / span, decimals: 1))x at most; \(loops) parallel loops",
            "  the decomposition allows at \(counts) threads: \(times) ms (efficiency \(efficiency); leaves out wake-ups and shared memory bandwidth)",
            "  critical path (ms): \(path)",
            "  work by loop, its chunks' own time (ms): \(self.work.prefix(5).map { "\(Self.short($0.site)) \(Self.text(Self.ms($0.nanoseconds)))" }.joined(separator: ", ")); outside loops \(Self.text(Self.ms(workNanoseconds - self.work.reduce(0) { $0 + $1.nanoseconds })))",
        ]
    }

    /// For `--json`.
    var dictionary: [String: Any] {
        ["work_ms": Units.rounded(Self.ms(workNanoseconds), to: 0.001), "loops": loops, "span_ms": Units.rounded(Self.ms(spanNanoseconds), to: 0.001),
         "best_ms_by_threads": Dictionary(uniqueKeysWithValues: estimates.map { ("\($0.threads)", Units.rounded(Self.ms($0.nanoseconds), to: 0.001)) }),
         "critical_path_ms": Dictionary(uniqueKeysWithValues: critical.map { ($0.site, Units.rounded(Self.ms($0.nanoseconds), to: 0.001)) })]
    }

    private static func ms(_ ns: Int64) -> Double { Double(ns) / 1e6 }
    private static func text(_ ms: Double) -> String { Units.fixed(ms, decimals: ms < 10 ? 2 : 1) }
    /// `ScriptCore/GreedyMAP.swift:153` as `GreedyMAP:153`.
    private static func short(_ site: String) -> String {
        let file = site.split(separator: "/").last.map(String.init) ?? site
        return file.replacingOccurrences(of: ".swift", with: "")
    }
}
