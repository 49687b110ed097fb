/// Measures the sgemm rate the core can reach on this machine, with its own parallel split,
/// so benchmarks can state how close a pruning run comes to being bound by its BLAS work.
public enum GEMMRate {
    /// GFLOP/s of `C = A * B^T` with `m = n = size`, `k = depth`, best of `repeats` runs.
    public static func measure(size: Int = 1024, depth: Int = 4096, repeats: Int = 5, pool: ComputePool) -> Double {
        var seed = SplitMix64(seed: 1)
        let a = (0..<(size * depth)).map { _ in Float(seed.next() >> 40) / Float(1 << 24) - 0.5 }
        var c = [Float](repeating: 0, count: size * size)
        let clock = ContinuousClock()
        var best = Double.infinity
        for _ in 0..<repeats {
            let start = clock.now
            a.withUnsafeBufferPointer { ap in
                c.withUnsafeMutableBufferPointer { cp in
                    let out = UncheckedBox(cp.baseAddress!)
                    let bands = chunks(of: size, size: (size + 1) / 2)
                    pool.forEach(bands.count) { t in
                        let b = bands[t]
                        BLAS.gemmABt(m: b.count, n: size, k: depth, a: ap.baseAddress! + b.lowerBound * depth, lda: depth,
                                     b: ap.baseAddress!, ldb: depth, c: out.value + b.lowerBound * size, ldc: size)
                    }
                }
            }
            let d = (clock.now - start).components
            best = min(best, Double(d.seconds) + Double(d.attoseconds) * 1e-18)
        }
        return 2 * Double(size) * Double(size) * Double(depth) / best / 1e9
    }
}
