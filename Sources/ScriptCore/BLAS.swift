import COpenBLAS

/// The few BLAS products the core needs, with OpenBLAS pinned to one thread.
///
/// OpenBLAS returns different last bits for the same dot product depending on its thread count
/// and on the shape of the call. The core therefore runs BLAS single-threaded and parallelises
/// with a fixed decomposition of its own (`ComputePool`), so results never depend on the number
/// of cores or processes.
enum BLAS {
    static let pinnedThreads: Void = { openblas_set_num_threads(1) }()

    /// `C[m x n] = A[m x k] * B[n x k]^T` with leading dimensions (row strides) `lda`, `ldb`, `ldc`.
    static func gemmABt(m: Int, n: Int, k: Int,
                        a: UnsafePointer<Float>, lda: Int,
                        b: UnsafePointer<Float>, ldb: Int,
                        c: UnsafeMutablePointer<Float>, ldc: Int) {
        _ = pinnedThreads
        guard m > 0, n > 0 else { return }
        if k == 0 {
            for r in 0..<m { (c + r * ldc).update(repeating: 0, count: n) }
            return
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k),
                    1, a, Int32(lda), b, Int32(ldb), 0, c, Int32(ldc))
    }

    /// The upper triangle (with the diagonal) of `C[n x n] = A[n x k] * A^T`; below it `C` is
    /// left as it was.
    static func syrkUpper(n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
        _ = pinnedThreads
        guard n > 0 else { return }
        if k == 0 {
            for r in 0..<n { (c + r * ldc + r).update(repeating: 0, count: n - r) }
            return
        }
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, Int32(n), Int32(k), 1, a, Int32(lda), 0, c, Int32(ldc))
    }

    /// `y[m] = A[m x k] * x[k]`, rows of `A` `lda` apart.
    static func gemv(m: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                     x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        _ = pinnedThreads
        guard m > 0 else { return }
        if k == 0 { y.update(repeating: 0, count: m); return }
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(m), Int32(k), 1, a, Int32(lda), x, 1, 0, y, 1)
    }
}

