#include "CVector.h"

/* Each element's multiplies and adds stay separate: a fused multiply-add rounds once instead
   of twice, and would give other bits than the portable version. */
#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

enum { LANES = 32 };

void script_greedy_update_portable(float *coefficients, size_t capacity, float *residuals, const float *own,
                            const float *kernel, const float *weights, size_t pick, float weight, float root,
                            size_t first, size_t end) {
    size_t stride = capacity * LANES;
    for (size_t p = first; p < end; p++) {
        float *panel = coefficients + p * stride;
        float sum[LANES] = {0};
        for (size_t s = 0; s < pick; s++) {
            float c = own[s];
            const float *row = panel + s * LANES;
            for (int l = 0; l < LANES; l++) {
                float product = c * row[l];
                sum[l] = sum[l] + product;
            }
        }
        size_t at = p * LANES;
        for (int l = 0; l < LANES; l++) {
            float scaled = (weight * weights[at + l]) * kernel[at + l];
            float e = (scaled - sum[l]) / root;
            panel[pick * LANES + l] = e;
            float square = e * e;
            residuals[at + l] = residuals[at + l] - square;
        }
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2")))
static void finish_avx2(__m256 sum, size_t at, float *out, float *residuals, const float *kernel, const float *weights,
                        __m256 weight, __m256 root) {
    __m256 scaled = _mm256_mul_ps(_mm256_mul_ps(weight, _mm256_loadu_ps(weights + at)), _mm256_loadu_ps(kernel + at));
    __m256 e = _mm256_div_ps(_mm256_sub_ps(scaled, sum), root);
    _mm256_storeu_ps(out, e);
    _mm256_storeu_ps(residuals + at, _mm256_sub_ps(_mm256_loadu_ps(residuals + at), _mm256_mul_ps(e, e)));
}

__attribute__((target("avx2")))
static void update_avx2(float *coefficients, size_t capacity, float *residuals, const float *own,
                        const float *kernel, const float *weights, size_t pick, float weight, float root,
                        size_t first, size_t end) {
    size_t stride = capacity * LANES;
    __m256 w = _mm256_set1_ps(weight), r = _mm256_set1_ps(root);
    for (size_t p = first; p < end; p++) {
        float *panel = coefficients + p * stride;
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
        const float *row = panel;
        for (size_t s = 0; s < pick; s++, row += LANES) {
            __m256 c = _mm256_broadcast_ss(own + s);
            s0 = _mm256_add_ps(s0, _mm256_mul_ps(c, _mm256_loadu_ps(row)));
            s1 = _mm256_add_ps(s1, _mm256_mul_ps(c, _mm256_loadu_ps(row + 8)));
            s2 = _mm256_add_ps(s2, _mm256_mul_ps(c, _mm256_loadu_ps(row + 16)));
            s3 = _mm256_add_ps(s3, _mm256_mul_ps(c, _mm256_loadu_ps(row + 24)));
        }
        float *out = panel + pick * LANES;
        size_t at = p * LANES;
        finish_avx2(s0, at, out, residuals, kernel, weights, w, r);
        finish_avx2(s1, at + 8, out + 8, residuals, kernel, weights, w, r);
        finish_avx2(s2, at + 16, out + 16, residuals, kernel, weights, w, r);
        finish_avx2(s3, at + 24, out + 24, residuals, kernel, weights, w, r);
    }
}

static int has_avx2(void) {
    static int has = -1;
    if (has < 0) {
        __builtin_cpu_init();
        has = __builtin_cpu_supports("avx2");
    }
    return has;
}
#endif

void script_greedy_update(float *coefficients, size_t capacity, float *residuals, const float *own,
                          const float *kernel, const float *weights, size_t pick, float weight, float root,
                          size_t first, size_t end) {
#if defined(__x86_64__)
    if (has_avx2()) {
        update_avx2(coefficients, capacity, residuals, own, kernel, weights, pick, weight, root, first, end);
        return;
    }
#endif
    script_greedy_update_portable(coefficients, capacity, residuals, own, kernel, weights, pick, weight, root, first, end);
}

const char *script_vector_isa(void) {
#if defined(__x86_64__)
    if (has_avx2()) return "avx2";
#endif
    return "portable";
}
