#ifndef SCRIPT_CBF16_H
#define SCRIPT_CBF16_H
#include <stdint.h>
/// Products of bfloat16 rows with float32 sums, from oneDNN (Debian's libdnnl2) loaded at run
/// time, for the core's optional reduced-cost similarity.
///
/// Loaded only when a request asks for it, so nothing else pays for the library. Its OpenMP
/// runtime is told to use one thread before it starts any (the core parallelises itself), and
/// the products must run on the CPU's own bfloat16 instructions (AVX512-BF16 or AMX): where
/// oneDNN would emulate them, loading fails and says so. Each product shape is built once and
/// kept; every call brings its own scratch memory, so one shape runs on many threads at once.
/// Loads oneDNN once (thread-safe). Returns 0 when it is ready; otherwise `script_bf16_error()`
/// says why.
int script_bf16_load(void);
/// One line: library version and the instruction set its products run on.
const char *script_bf16_description(void);
/// Why loading or the check failed (empty when it did not).
const char *script_bf16_error(void);
/// `dst[i]`: `src[i]` rounded to the nearest bfloat16 (ties to even; NaN stays NaN), as the
/// upper 16 bits of its float32 pattern.
void script_bf16_round(long count, const float *src, uint16_t *dst);
/// `C[m x n] = A[m x k] * B[n x k]^T` from bfloat16 rows, row-major, leading dimensions `lda`,
/// `ldb`, `ldc` (in elements). Returns 0, or -1 when oneDNN refused (`script_bf16_error()`).
int script_bf16_gemm_abt(int m, int n, int k, const uint16_t *a, int lda, const uint16_t *b, int ldb, float *c, int ldc);
#endif
