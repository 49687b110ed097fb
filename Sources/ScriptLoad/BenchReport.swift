import Foundation
import ScriptCore
import ScriptService

/// What `bench` measured, for `--json` and `--svg`: the machine, and for each case the median of
/// every stage, the total, the BLAS bound and the numpy reference.
public struct BenchReport {
    /// One case's figures.
    public struct Case {
        var name: String
        var tokens: Int
        var width: Int
        var shards: Int
        var budget: Int
        /// Stage medians in the order the stages ran (`total` among them).
        var stagesMs: [(name: String, ms: Double)]
        var totalMs: Double
        var gflop: Double
        var boundMs: Double
        var peakRSSMegabytes: Int
        /// Work and span of one run on one thread.
        var shape: SpanProfile.Report
        var numpyMs: Double?
        var sameIndicesAsNumpy: Bool?
    }

    var threads: Int
    var sgemmGFLOPS: Double
    /// The CPU (nil where it cannot be read) and the BLAS build and kernels that ran.
    var cpu: CPUIdentity?
    var blas: String
    var repeats: Int
    var cases: [Case] = []

    /// Milliseconds to the microsecond, rates and ratios to what they mean.
    public var dictionary: [String: Any] {
        let ms = { (x: Double) in Units.rounded(x, to: 0.001) }
        return [
            "machine": ["threads": threads, "sgemm_gflops": Units.rounded(sgemmGFLOPS, to: 0.1), "blas": blas,
                        "cpu": CPUIdentity.json(cpu)],
            "repeats": repeats,
            "cases": cases.map { c -> [String: Any] in
                var d: [String: Any] = [
                    "name": c.name, "tokens": c.tokens, "width": c.width, "shards": c.shards, "budget": c.budget,
                    "stages_ms": Dictionary(c.stagesMs.map { ($0.name, ms($0.ms)) }, uniquingKeysWith: { a, _ in a }),
                    "total_ms": ms(c.totalMs), "similarity_gflop": Units.rounded(c.gflop, to: 0.001),
                    "blas_bound_ms": ms(c.boundMs), "total_over_bound": Units.rounded(c.totalMs / c.boundMs, to: 0.01),
                    "peak_rss_mb": c.peakRSSMegabytes,
                ]
                d["parallel_shape"] = c.shape.dictionary
                if let n = c.numpyMs { d["numpy_ms"] = ms(n); d["numpy_over_swift"] = Units.rounded(n / c.totalMs, to: 0.01) }
                if let same = c.sameIndicesAsNumpy { d["same_indices_as_numpy"] = same }
                return d
            },
        ]
    }
}
