#include "CHalf.h"
#include <string.h>

void script_float_to_bfloat16(const float *src, void *dst, size_t count) {
    unsigned char *out = (unsigned char *)dst;
    for (size_t i = 0; i < count; i++) {
        uint32_t b;
        memcpy(&b, src + i, sizeof b);
        uint32_t rounded = (b + 0x7fffu + ((b >> 16) & 1u)) >> 16;
        uint32_t quiet = (b >> 16) | 0x40u;
        uint16_t h = (uint16_t)((b & 0x7fffffffu) > 0x7f800000u ? quiet : rounded);
        memcpy(out + 2 * i, &h, sizeof h);
    }
}

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

/* Eight floats to halves, rounded to nearest even; each NaN made the quiet NaN of its sign. */
__attribute__((target("avx,f16c")))
static __m128i halves_f16c(__m256 v) {
    __m128i h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m128i magnitude = _mm_and_si128(h, _mm_set1_epi16(0x7fff));
    __m128i nan = _mm_cmpgt_epi16(magnitude, _mm_set1_epi16(0x7c00));
    __m128i quiet = _mm_or_si128(_mm_and_si128(h, _mm_set1_epi16((short)0x8000)), _mm_set1_epi16(0x7e00));
    return _mm_or_si128(_mm_and_si128(nan, quiet), _mm_andnot_si128(nan, h));
}

__attribute__((target("avx,f16c")))
static void encode_f16c(const float *src, unsigned char *dst, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        _mm_storeu_si128((__m128i *)(void *)(dst + 2 * i), halves_f16c(_mm256_loadu_ps(src + i)));
    }
    if (i < count) {
        float tail[8] = {0};
        unsigned char out[16];
        memcpy(tail, src + i, sizeof(float) * (count - i));
        _mm_storeu_si128((__m128i *)(void *)out, halves_f16c(_mm256_loadu_ps(tail)));
        memcpy(dst + 2 * i, out, 2 * (count - i));
    }
}

/* -1: not asked yet; 0 or 1: whether this CPU has F16C. Read and written atomically, since any
   thread may be the first to ask (two first askers both compute the same answer). */
static int has_f16c = -1;

static int cpu_has_f16c(void) {
    int has = __atomic_load_n(&has_f16c, __ATOMIC_RELAXED);
    if (has < 0) {
        __builtin_cpu_init();
        has = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");
        __atomic_store_n(&has_f16c, has, __ATOMIC_RELAXED);
    }
    return has;
}

int script_half_to_float(const void *src, float *dst, size_t count) {
    if (!cpu_has_f16c()) return 0;
    convert_f16c((const unsigned char *)src, dst, count);
    return 1;
}

int script_float_to_half(const float *src, void *dst, size_t count) {
    if (!cpu_has_f16c()) return 0;
    encode_f16c(src, (unsigned char *)dst, count);
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

int script_float_to_half(const float *src, void *dst, size_t count) {
    unsigned char *bytes = (unsigned char *)dst;
    for (size_t i = 0; i < count; i++) {
        __fp16 h = (__fp16)src[i];
        unsigned short bits;
        memcpy(&bits, &h, sizeof bits);
        if ((bits & 0x7fff) > 0x7c00) bits = (unsigned short)((bits & 0x8000) | 0x7e00);
        memcpy(bytes + 2 * i, &bits, sizeof bits);
    }
    return 1;
}

#else

int script_half_to_float(const void *src, float *dst, size_t count) {
    (void)src; (void)dst; (void)count;
    return 0;
}

int script_float_to_half(const float *src, void *dst, size_t count) {
    (void)src; (void)dst; (void)count;
    return 0;
}

#endif
