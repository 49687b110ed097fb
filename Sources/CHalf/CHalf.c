#include "CHalf.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

__attribute__((target("avx,f16c")))
static void convert_f16c(const uint16_t *src, float *dst, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(src + i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    if (i < count) {
        uint16_t tail[8] = {0};
        float out[8];
        for (size_t k = 0; i + k < count; k++) tail[k] = src[i + k];
        _mm256_storeu_ps(out, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)tail)));
        for (size_t k = 0; i + k < count; k++) dst[i + k] = out[k];
    }
}

int script_half_to_float(const uint16_t *src, float *dst, size_t count) {
    static int has = -1;
    if (has < 0) {
        __builtin_cpu_init();
        has = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");
    }
    if (!has) return 0;
    convert_f16c(src, dst, count);
    return 1;
}

#elif defined(__aarch64__)

int script_half_to_float(const uint16_t *src, float *dst, size_t count) {
    const __fp16 *h = (const __fp16 *)src;
    for (size_t i = 0; i < count; i++) dst[i] = (float)h[i];
    return 1;
}

#else

int script_half_to_float(const uint16_t *src, float *dst, size_t count) {
    (void)src; (void)dst; (void)count;
    return 0;
}

#endif
