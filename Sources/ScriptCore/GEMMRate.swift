/// Measures the sgemm rate the core can reach on this machine, so benchmarks can state how
/// close a pruning run comes to being bound by its BLAS work.
public enum GEMMRate {
    /// GFLOP/s of `C = A * B^T` with `m = n = size`, `k = depth`, best of `repeats` runs, in
    /// tiles of `tile` rows and columns shared out over `pool` (the core's kind of split).
    public static func measure(size: Int = 1024, depth: Int = 4096, tile: Int = 256, repeats: Int = 5,
                               pool: ComputePool) -> Double {
        var seed = SplitMix64(seed: 1)
        let a = (0..<(size * depth)).map { _ in Float(seed.next() >> 40) / Float(1 << 24) - 0.5 }
        var c = [Float](repeating: 0, count: size * size)
        let bands = chunks(of: size, size: tile)
        var best = Double.infinity
        for _ in 0..<repeats {
            let start = ThreadTeam.nanoseconds()
            c.withUnsafeMutableBufferPointer { cp in
                let out = DisjointBuffer(cp.baseAddress!, rows: size, columns: size)
                pool.forEach(bands.count * bands.count) { t in
                    let r = bands[t / bands.count], s = bands[t % bands.count]
                    let dst = out.write(rows: r, columns: s)
                    a.withUnsafeBufferPointer { ap in
                        BLAS.gemmABt(m: r.count, n: s.count, k: depth, a: ap.baseAddress! + r.lowerBound * depth, lda: depth,
                                     b: ap.baseAddress! + s.lowerBound * depth, ldb: depth, c: dst, ldc: size)
                    }
                }
            }
            best = min(best, Double(ThreadTeam.nanoseconds() - start) * 1e-9)
        }
        return 2 * Double(size) * Double(size) * Double(depth) / best / 1e9
    }
}
