#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import CBLAS

/// The few BLAS products the core needs, single-threaded, with kernels chosen for this CPU.
///
/// The library is loaded on first use (`CBLAS`): kernels picked for the CPU before it
/// initialises, its own threads off, its products checked against a double-precision reference.
/// BLAS returns different last bits for the same dot product depending on its thread count and
/// on the shape of the call, so the core calls it single-threaded in tiles of fixed shapes
/// (`ComputePool`): results never depend on the number of cores or processes.
public enum BLAS {
    /// Library, version and kernels in use (loads the library).
    public static var description: String {
        _ = ready
        return String(cString: script_blas_description())
    }

    /// The library's build and the kernels it runs, without where it was found or why those
    /// kernels (loads the library): processes that say the same compute the same bits.
    public static var kernel: String {
        _ = ready
        return String(cString: script_blas_kernel())
    }

    /// The worst error of products of the given shape (see `script_blas_check`) relative to
    /// the rounding bound: at most 1 means correct.
    public static func check(m: Int, n: Int, k: Int, strided: Bool = false, sample: Int = 1) -> Double {
        _ = ready
        return script_blas_check(Int32(m), Int32(n), Int32(k), strided ? 2 : 1, Int32(sample))
    }

    /// Loaded and checked, or the process stops with one line saying why: nothing the core
    /// computes can be trusted without it.
    static let ready: Void = {
        if script_blas_load() != 0 {
            let line = "error: BLAS: \(String(cString: script_blas_error()))\n"
            _ = line.withCString { write(2, $0, strlen($0)) }
            exit(70)
        }
    }()

    /// `C[m x n] = A[m x k] * B[n x k]^T` with leading dimensions (row strides) `lda`, `ldb`, `ldc`.
    static func gemmABt(m: Int, n: Int, k: Int,
                        a: UnsafePointer<Float>, lda: Int,
                        b: UnsafePointer<Float>, ldb: Int,
                        c: UnsafeMutablePointer<Float>, ldc: Int) {
        _ = ready
        guard m > 0, n > 0 else { return }
        if k == 0 {
            for r in 0..<m { (c + r * ldc).update(repeating: 0, count: n) }
            return
        }
        script_sgemm_abt(Int32(m), Int32(n), Int32(k), a, Int32(lda), b, Int32(ldb), c, Int32(ldc))
    }

    /// The upper triangle (with the diagonal) of `C[n x n] = A[n x k] * A^T`; below it `C` is
    /// left as it was.
    static func syrkUpper(n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
        _ = ready
        guard n > 0 else { return }
        if k == 0 {
            for r in 0..<n { (c + r * ldc + r).update(repeating: 0, count: n - r) }
            return
        }
        script_ssyrk_upper(Int32(n), Int32(k), a, Int32(lda), c, Int32(ldc))
    }

    /// `y[m] = A[m x k] * x[k]`, rows of `A` `lda` apart.
    static func gemv(m: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                     x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        _ = ready
        guard m > 0 else { return }
        if k == 0 { y.update(repeating: 0, count: m); return }
        script_sgemv(Int32(m), Int32(k), a, Int32(lda), x, y)
    }
}
