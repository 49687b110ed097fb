#include "CHalf.h"
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

/* Bytes are read with unaligned loads and memcpy: frames start at any byte of ZeroMQ's buffers. */
__attribute__((target("avx,f16c")))
static void convert_f16c(const unsigned char *src, float *dst, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(src + 2 * i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    if (i < count) {
        unsigned char tail[16] = {0};
        float out[8];
        memcpy(tail, src + 2 * i, 2 * (count - i));
        _mm256_storeu_ps(out, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)tail)));
        memcpy(dst + i, out, sizeof(float) * (count - i));
    }
}

/* -1: not asked yet; 0 or 1: whether this CPU has F16C. Read and written atomically, since any
   thread may be the first to ask (two first askers both compute the same answer). */
static int has_f16c = -1;

int script_half_to_float(const void *src, float *dst, size_t count) {
    int has = __atomic_load_n(&has_f16c, __ATOMIC_RELAXED);
    if (has < 0) {
        __builtin_cpu_init();
        has = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");
        __atomic_store_n(&has_f16c, has, __ATOMIC_RELAXED);
    }
    if (!has) return 0;
    convert_f16c((const unsigned char *)src, dst, count);
    return 1;
}

#elif defined(__aarch64__)

int script_half_to_float(const void *src, float *dst, size_t count) {
    const unsigned char *bytes = (const unsigned char *)src;
    for (size_t i = 0; i < count; i++) {
        __fp16 h;
        memcpy(&h, bytes + 2 * i, sizeof h);
        dst[i] = (float)h;
    }
    return 1;
}

#else

int script_half_to_float(const void *src, float *dst, size_t count) {
    (void)src; (void)dst; (void)count;
    return 0;
}

#endif
