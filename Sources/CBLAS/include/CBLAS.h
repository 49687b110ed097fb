#ifndef SCRIPT_CBLAS_H
#define SCRIPT_CBLAS_H

/// The three BLAS products the pruning core uses, from a BLAS library loaded at run time.
///
/// Loading at run time lets the kernels be chosen before the library initialises: Debian's
/// OpenBLAS 0.3.21 picks its kernels once, when it is loaded, and misjudges several CPUs (Zen 4
/// as Cooperlake, Sapphire Rapids as the generic Prescott). The library is told to use one
/// thread before it can start any (the core parallelises with its own fixed decomposition), and
/// its products are checked against a double-precision reference before first use.

/// Loads the library once (thread-safe). Returns 0 when it is ready; otherwise
/// `script_blas_error()` says why.
int script_blas_load(void);
/// One line: library, version and the kernels in use, with why they were chosen.
const char *script_blas_description(void);
/// The library's build and the kernels it runs, without where it was found or why those
/// kernels: two processes that say the same compute the same bits.
const char *script_blas_kernel(void);
/// Why loading or the check failed (empty when it did not).
const char *script_blas_error(void);

/// The worst error of an `m x n x k` sgemm (`C = A B^T`, rows of A and B `stride * k` apart;
/// stride 2 reads every other row, as the core's bipartite products do), its `ssyrk` (upper)
/// when `m == n`, and a `sgemv`, each entry against a double-precision reference, relative to the
/// rounding bound of a `k`-term float sum: at most 1 is correct, wrong kernels give ~1e6.
/// `sample` checks every `sample`-th entry. Negative when the library is not loaded.
double script_blas_check(int m, int n, int k, int stride, int sample);

/// `C[m x n] = A[m x k] * B[n x k]^T`, row-major, leading dimensions `lda`, `ldb`, `ldc`.
void script_sgemm_abt(int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc);
/// Upper triangle (with the diagonal) of `C[n x n] = A[n x k] * A^T`, row-major.
void script_ssyrk_upper(int n, int k, const float *a, int lda, float *c, int ldc);
/// `y[m] = A[m x k] * x`, row-major.
void script_sgemv(int m, int k, const float *a, int lda, const float *x, float *y);

#endif
