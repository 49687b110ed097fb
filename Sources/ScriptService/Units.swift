#if canImport(Glibc)
import Glibc
#endif

/// Numbers as a person reads them: durations, sizes and rates with three significant digits
/// and a unit (`273 ms`, `3.06 s`, `30 MB`, `17.7 req/s`).
public enum Units {
    /// `850 µs`, `27.3 ms`, `3.06 s`, `2.5 min`.
    public static func duration(milliseconds ms: Double) -> String {
        guard ms.isFinite else { return "\(ms) ms" }
        let a = abs(ms)
        if a < 1 { return significant(ms * 1000) + " µs" }
        if a < 1000 { return significant(ms) + " ms" }
        if a < 120_000 { return significant(ms / 1000) + " s" }
        return significant(ms / 60_000) + " min"
    }

    public static func duration(_ d: Duration) -> String { duration(milliseconds: d.milliseconds) }

    /// `512 B`, `30 MB` (decimal units: 1 MB = 10^6 bytes).
    public static func bytes(_ n: Int) -> String { bytes(Double(n)) }

    public static func bytes(_ n: Double) -> String {
        let a = abs(n)
        if a < 1000 { return "\(Int(n)) B" }
        for (limit, unit) in [(1e6, "kB"), (1e9, "MB"), (1e12, "GB")] where a < limit {
            return significant(n / (limit / 1000)) + " " + unit
        }
        return significant(n / 1e12) + " TB"
    }

    /// `17.7 req/s` (or another unit).
    public static func rate(_ perSecond: Double, unit: String = "req/s") -> String {
        significant(perSecond) + " " + unit
    }

    /// Three significant digits, no exponent: 0.00123, 1.23, 12.3, 123, 1234.
    public static func significant(_ x: Double) -> String {
        guard x.isFinite else { return "\(x)" }
        let a = abs(x)
        let decimals = a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : a == 0 ? 0 : min(9, 2 - Int(floor(log10(a))))
        return fixed(x, decimals: decimals)
    }

    /// `x` rounded to `decimals` places, written without an exponent.
    public static func fixed(_ x: Double, decimals: Int) -> String {
        let scale = pow(10.0, Double(decimals))
        let r = (x * scale).rounded() / scale
        if decimals == 0 { return "\(Int(r))" }
        var s = "\(Int(abs(r) * scale + 0.5))"
        while s.count <= decimals { s = "0" + s }
        let cut = s.index(s.endIndex, offsetBy: -decimals)
        return (r < 0 ? "-" : "") + s[..<cut] + "." + s[cut...]
    }

    /// `x` rounded to a multiple of `step` (JSON numbers rounded to what was measured).
    /// A step of 10^-d divides by 10^d instead of multiplying by the step, so the result is the
    /// double nearest the short decimal and prints as one (`0.404`, not `0.40400000000000003`).
    public static func rounded(_ x: Double, to step: Double) -> Double {
        guard x.isFinite, step > 0 else { return x }
        let inverse = (1 / step).rounded()
        if inverse >= 1, abs(inverse * step - 1) < 1e-12 { return (x * inverse).rounded() / inverse }
        return (x / step).rounded() * step
    }
}
