@testable import ScriptCore

/// Seeded random inputs for property tests (Box-Muller over SplitMix64).
struct TestInputs {
    var rng: SplitMix64

    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    mutating func uniform() -> Float { Float(rng.next() >> 40) / Float(1 << 24) }

    mutating func normal() -> Float {
        let u1 = max(uniform(), 1e-7), u2 = uniform()
        return (-2 * logf(u1)).squareRoot() * cosf(2 * .pi * u2)
    }

    mutating func matrix(_ rows: Int, _ cols: Int) -> Matrix {
        Matrix(rows: rows, cols: cols, values: (0..<(rows * cols)).map { _ in normal() })
    }

    /// Tokens drawn around a few centres, so some are redundant (like image backgrounds).
    mutating func clustered(_ rows: Int, _ cols: Int, centres: Int, spread: Float) -> Matrix {
        let c = matrix(centres, cols)
        var v = [Float](repeating: 0, count: rows * cols)
        for i in 0..<rows {
            let k = Int(rng.next() % UInt64(centres))
            for j in 0..<cols { v[i * cols + j] = c.values[k * cols + j] + spread * normal() }
        }
        return Matrix(rows: rows, cols: cols, values: v)
    }
}

#if canImport(Glibc)
import Glibc
#endif
