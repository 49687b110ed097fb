#include "CBLAS.h"

#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

enum { RowMajor = 101, NoTrans = 111, Trans = 112, Upper = 121 };
typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
typedef void (*ssyrk_fn)(int, int, int, int, int, float, const float *, int, float, float *, int);
typedef void (*sgemv_fn)(int, int, int, int, float, const float *, int, const float *, int, float, float *, int);

static struct {
    sgemm_fn gemm;
    ssyrk_fn syrk;
    sgemv_fn gemv;
    int ready;
    char description[512];
    char kernel[320];
    char error[320];
} lib;
static pthread_once_t once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__)
static unsigned long long xcr0(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#endif

/// The OpenBLAS core type to use on this CPU, or NULL to leave the choice to OpenBLAS;
/// `why` says what decided it. Only kernels whose instructions the CPU and the OS support.
static const char *choose_core_type(const char **why) {
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d) || a < 7) { *why = "CPU without leaf 7: OpenBLAS's own detection"; return NULL; }
    int amd = b == 0x68747541 || b == 0x6f677948;  /* "Auth"enticAMD, "Hygo"nGenuine */
    __get_cpuid(1, &a, &b, &c, &d);
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    unsigned long long x = osxsave ? xcr0() : 0;
    int osAVX = (x & 0x6) == 0x6, osAVX512 = osAVX && (x & 0xe0) == 0xe0;
    __cpuid_count(7, 0, a, b, c, d);
    int avx2 = (b >> 5) & 1;
    int avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1);  /* F DQ BW VL */
    int amx = ((d >> 22) & 1) && ((d >> 24) & 1), fp16 = (d >> 23) & 1;
    __cpuid_count(7, 1, a, b, c, d);
    int bf16 = (a >> 5) & 1;
    if (!(avx && avx2 && fma && osAVX)) { *why = "no AVX2/FMA: OpenBLAS's own detection"; return NULL; }
    if (amd) {
        /* Zen 4's AVX-512 runs on the same two 256-bit FMA units: on an EPYC family 25 model 17,
           2 threads, Haswell's sgemm ran 184-202 GFLOP/s, SkylakeX's 160-178, Cooperlake's 166-179. */
        *why = "AMD with AVX2: its FMA units are fully used by the AVX2 kernels on Zen 1-4";
        return "Haswell";
    }
    if (avx512 && osAVX512) {
        if (amx && fp16 && bf16) { *why = "Intel with AVX-512, AVX512-FP16 and AMX"; return "SapphireRapids"; }
        *why = "Intel with AVX-512";
        return "SkylakeX";
    }
    *why = "AVX2 and FMA";
    return "Haswell";
#else
    *why = "OpenBLAS's own detection";
    return NULL;
#endif
}

/// `name` in `h`, or the same name with the `scipy_` prefix that PyPI's OpenBLAS builds
/// (scipy-openblas32) put on every symbol.
static void *symbol(void *h, const char *name) {
    void *f = dlsym(h, name);
    if (f) return f;
    char prefixed[96];
    snprintf(prefixed, sizeof prefixed, "scipy_%s", name);
    return dlsym(h, prefixed);
}

/// How the BLAS is opened. Its own symbols first (RTLD_DEEPBIND, where the C library has it):
/// OpenBLAS's 14,000 relocations name its own functions (each core type's table of kernels), and
/// looked up in the process's scope first, each one walked every library the process had loaded
/// (35, 59 when Foundation's networking was among them) before finding OpenBLAS itself: 10 ms of
/// a one-shot `prune`'s 50. Not under a sanitizer's runtime, which refuses such a library.
static int open_flags(void) {
    int flags = RTLD_NOW | RTLD_LOCAL;
#ifdef RTLD_DEEPBIND
    if (!dlsym(RTLD_DEFAULT, "__asan_init") && !dlsym(RTLD_DEFAULT, "__tsan_init") && !dlsym(RTLD_DEFAULT, "__msan_init")) {
        flags |= RTLD_DEEPBIND;
    }
#endif
    return flags;
}

static void *open_first(const char *const *names, const char **opened) {
    for (int i = 0; names[i]; i++) {
        void *h = dlopen(names[i], open_flags());
        if (h) { *opened = names[i]; return h; }
    }
    return NULL;
}

/// Sets `name` to `value` for the duration of the load, remembering what was there.
static char *swap_env(const char *name, const char *value) {
    const char *old = getenv(name);
    char *saved = old ? strdup(old) : NULL;
    setenv(name, value, 1);
    return saved;
}

/// The value of `name`, or NULL where it is unset or empty (OpenBLAS reads an empty
/// OPENBLAS_CORETYPE as unset and runs its own detection).
static const char *env_value(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static void restore_env(const char *name, char *saved) {
    if (saved) { setenv(name, saved, 1); free(saved); } else { unsetenv(name); }
}

static void load(void) {
    const char *why = "set by OPENBLAS_CORETYPE";
    const char *core = env_value("OPENBLAS_CORETYPE") ? NULL : choose_core_type(&why);
    /* OpenBLAS reads these when it is loaded: its kernels, and no thread pool of its own.
       They are put back afterwards, so child processes (the numpy reference) see the caller's. */
    char *savedThreads = swap_env("OPENBLAS_NUM_THREADS", "1");
    char *savedCore = core ? swap_env("OPENBLAS_CORETYPE", core) : NULL;
    const char *chosen = env_value("SCRIPT_CLUSTER_BLAS");
    /* PyPI's OpenBLAS (scipy-openblas32) first where it is installed on the library path: on a
       16-core Sapphire Rapids it ran the pipeline 1.2 to 1.6x faster on 16 threads and 1.15x
       on one than Debian's 0.3.21 (Cluster/SCALING.md); elsewhere it runs the same kernels. */
    const char *defaults[] = {"libscipy_openblas.so", "libopenblas.so.0", "libopenblas.so", "libopenblas.dylib", "libblis.so.4", "libblas.so.3", NULL};
    const char *single[] = {chosen, NULL};
    const char *opened = NULL;
    void *h = open_first(chosen ? single : defaults, &opened);
    if (core) restore_env("OPENBLAS_CORETYPE", savedCore);
    restore_env("OPENBLAS_NUM_THREADS", savedThreads);
    if (!h) {
        snprintf(lib.error, sizeof lib.error, "no BLAS library could be loaded (%s): install libopenblas0 (or name one in SCRIPT_CLUSTER_BLAS)",
                 chosen ? chosen : "libscipy_openblas.so, libopenblas.so.0, libblis.so.4, libblas.so.3");
        return;
    }
    lib.gemm = (sgemm_fn)symbol(h, "cblas_sgemm");
    lib.syrk = (ssyrk_fn)symbol(h, "cblas_ssyrk");
    lib.gemv = (sgemv_fn)symbol(h, "cblas_sgemv");
    if (!lib.gemm || !lib.syrk || !lib.gemv) {
        snprintf(lib.error, sizeof lib.error, "%s has no CBLAS interface (cblas_sgemm, cblas_ssyrk, cblas_sgemv)", opened);
        return;
    }
    void (*openblasThreads)(int) = (void (*)(int))symbol(h, "openblas_set_num_threads");
    char *(*openblasCore)(void) = (char *(*)(void))symbol(h, "openblas_get_corename");
    char *(*openblasConfig)(void) = (char *(*)(void))symbol(h, "openblas_get_config");
    void (*blisThreads)(long) = (void (*)(long))dlsym(h, "bli_thread_set_num_threads");
    long (*blisArch)(void) = (long (*)(void))dlsym(h, "bli_arch_query_id");
    const char *(*blisArchName)(long) = (const char *(*)(long))dlsym(h, "bli_arch_string");
    const char *(*blisVersion)(void) = (const char *(*)(void))dlsym(h, "bli_info_get_version_str");
    if (openblasThreads) openblasThreads(1);
    if (blisThreads) blisThreads(1);
    if (openblasCore) {
        /* A build without the asked-for kernels runs an older core type's: say so. */
        const char *ran = openblasCore();
        char reason[200];
        if (core && strcasecmp(ran, core) != 0) {
            snprintf(reason, sizeof reason, "asked for %s: %s; this build runs %s's kernels there", core, why, ran);
        } else {
            snprintf(reason, sizeof reason, "%s", core || env_value("OPENBLAS_CORETYPE") ? why : "OpenBLAS's own detection");
        }
        snprintf(lib.description, sizeof lib.description, "%s (%s), kernel %s (%s)",
                 openblasConfig ? openblasConfig() : "OpenBLAS", opened, ran, reason);
        snprintf(lib.kernel, sizeof lib.kernel, "%s, kernel %s", openblasConfig ? openblasConfig() : "OpenBLAS", ran);
    } else if (blisArch && blisArchName) {
        snprintf(lib.description, sizeof lib.description, "BLIS %s (%s), kernel %s (BLIS's own detection)",
                 blisVersion ? blisVersion() : "?", opened, blisArchName(blisArch()));
        snprintf(lib.kernel, sizeof lib.kernel, "BLIS %s, kernel %s", blisVersion ? blisVersion() : "?", blisArchName(blisArch()));
    } else {
        snprintf(lib.description, sizeof lib.description, "%s (kernels unknown)", opened);
        snprintf(lib.kernel, sizeof lib.kernel, "%s", opened);
    }
    lib.ready = 1;
    /* Products a little past the edges of the kernels' register blocks, every entry checked. */
    static const int shapes[][3] = {{1, 1, 1}, {7, 5, 33}, {33, 33, 70}, {64, 40, 257}};
    for (unsigned s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        double e = script_blas_check(shapes[s][0], shapes[s][1], shapes[s][2], 1 + (s & 1), 1);
        if (!(e <= 1)) {
            lib.ready = 0;
            snprintf(lib.error, sizeof lib.error, "%s computes wrong products (%dx%dx%d: %.3g times the rounding bound): "
                     "choose other kernels with OPENBLAS_CORETYPE, or another library with SCRIPT_CLUSTER_BLAS",
                     lib.description, shapes[s][0], shapes[s][1], shapes[s][2], e);
            return;
        }
    }
}

int script_blas_load(void) {
    pthread_once(&once, load);
    return lib.ready ? 0 : -1;
}

const char *script_blas_description(void) { return lib.description; }
const char *script_blas_kernel(void) { return lib.kernel; }
const char *script_blas_error(void) { return lib.error; }

/// Deterministic values in [-1, 1).
static float value(unsigned long long i) {
    unsigned long long z = (i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (float)((z ^ (z >> 31)) >> 40) / (float)(1 << 23) - 1.0f;
}

/// |computed - exact| over the bound `k u sum|a_l b_l|` (u = 2^-24), with a floor for tiny sums.
static double ratio(float computed, const float *a, const float *b, int k) {
    double exact = 0, magnitude = 0;
    for (int l = 0; l < k; l++) { exact += (double)a[l] * b[l]; magnitude += fabs((double)a[l] * b[l]); }
    double bound = (k + 1) * ldexp(1.0, -24) * magnitude + 1e-30;
    return fabs((double)computed - exact) / bound;
}

double script_blas_check(int m, int n, int k, int stride, int sample) {
    if (!lib.gemm) return -1;
    int ld = stride * k;
    float *a = malloc(sizeof(float) * ((size_t)m * ld + 1)), *b = malloc(sizeof(float) * ((size_t)n * ld + 1));
    float *c = malloc(sizeof(float) * ((size_t)m * n + 1)), *y = malloc(sizeof(float) * ((size_t)m + 1));
    for (size_t i = 0; i < (size_t)m * ld; i++) a[i] = value(i);
    for (size_t i = 0; i < (size_t)n * ld; i++) b[i] = value(i + 7919ull * (size_t)m * ld);
    double worst = 0;
    lib.gemm(RowMajor, NoTrans, Trans, m, n, k, 1, a, ld, b, ld, 0, c, n);
    for (size_t e = 0; e < (size_t)m * n; e += sample) {
        double r = ratio(c[e], a + (e / n) * ld, b + (e % n) * ld, k);
        if (!(r <= worst)) worst = r;
    }
    if (m == n) {
        for (size_t e = 0; e < (size_t)m * n; e++) c[e] = 0;
        lib.syrk(RowMajor, Upper, NoTrans, n, k, 1, a, ld, 0, c, n);
        for (size_t e = 0; e < (size_t)n * n; e += sample) {
            size_t i = e / n, j = e % n;
            if (j < i) continue;
            double r = ratio(c[e], a + i * ld, a + j * ld, k);
            if (!(r <= worst)) worst = r;
        }
    }
    lib.gemv(RowMajor, NoTrans, m, k, 1, a, ld, b, 1, 0, y, 1);
    for (int i = 0; i < m; i++) {
        double r = ratio(y[i], a + (size_t)i * ld, b, k);
        if (!(r <= worst)) worst = r;
    }
    free(a); free(b); free(c); free(y);
    return worst;
}

void script_sgemm_abt(int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc) {
    lib.gemm(RowMajor, NoTrans, Trans, m, n, k, 1, a, lda, b, ldb, 0, c, ldc);
}

void script_ssyrk_upper(int n, int k, const float *a, int lda, float *c, int ldc) {
    lib.syrk(RowMajor, Upper, NoTrans, n, k, 1, a, lda, 0, c, ldc);
}

void script_sgemv(int m, int k, const float *a, int lda, const float *x, float *y) {
    lib.gemv(RowMajor, NoTrans, m, k, 1, a, lda, x, 1, 0, y, 1);
}
