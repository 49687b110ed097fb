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
        var bfloat16: BFloat16Comparison?
    }

    /// The same case with the products in bfloat16 (`bench --similarity bf16`), in runs
    /// alternating with float32 ones.
    public struct BFloat16Comparison {
        var ms: Double
        var f32Ms: Double
        var sameIndices: Int
        /// Log det of the kept set's kernel (`DPPObjective`), each run's, float32's first.
        var logDet: (f32: Double, bf16: Double)

        /// The bfloat16 kept set's log det against float32's, in percent of its magnitude.
        var logDetChangePercent: Double { (logDet.bf16 - logDet.f32) / abs(logDet.f32) * 100 }
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
                if let b = c.bfloat16 {
                    d["bf16"] = ["ms": ms(b.ms), "f32_ms": ms(b.f32Ms), "f32_over_bf16": Units.rounded(b.f32Ms / b.ms, to: 0.01),
                                 "same_indices": b.sameIndices, "log_det_f32": Units.rounded(b.logDet.f32, to: 0.001),
                                 "log_det_bf16": Units.rounded(b.logDet.bf16, to: 0.001),
                                 "log_det_change_percent": Units.rounded(b.logDetChangePercent, to: 0.0001)] as [String: Any]
                }
                return d
            },
        ]
    }
}
