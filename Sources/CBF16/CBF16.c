#include "CBF16.h"

#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if __has_include(<oneapi/dnnl/dnnl.h>)
#include <oneapi/dnnl/dnnl.h>
#define HAVE_DNNL 1
#else
#define HAVE_DNNL 0
#endif

static struct {
    int ready;
    char description[200];
    char error[320];
} lib;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* One float to bfloat16 as VCVTNE2PS2BF16 rounds it: to nearest even, NaN quiet, subnormal
   inputs as zero (so the vector and the scalar path agree bit for bit). */
static uint16_t round_one(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    if ((u & 0x7f800000u) == 0) return (uint16_t)((u >> 16) & 0x8000);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx512f,avx512bf16")))
static void round_avx512(long count, const float *src, uint16_t *dst) {
    long i = 0;
    for (; i + 32 <= count; i += 32) {
        __m512bh h = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
        _mm512_storeu_si512((void *)(dst + i), (__m512i)h);
    }
    for (; i < count; i++) dst[i] = round_one(src[i]);
}
#endif

void script_bf16_round(long count, const float *src, uint16_t *dst) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512bf16")) { round_avx512(count, src, dst); return; }
#endif
    for (long i = 0; i < count; i++) dst[i] = round_one(src[i]);
}

const char *script_bf16_description(void) { return lib.description; }
const char *script_bf16_error(void) { return lib.error; }

#if HAVE_DNNL
/* The oneDNN functions used, resolved from the library at run time. */
static struct {
    dnnl_status_t (*engine_create)(dnnl_engine_t *, dnnl_engine_kind_t, size_t);
    dnnl_status_t (*stream_create)(dnnl_stream_t *, dnnl_engine_t, unsigned);
    dnnl_status_t (*desc_by_strides)(dnnl_memory_desc_t *, int, const dnnl_dims_t, dnnl_data_type_t, const dnnl_dims_t);
    dnnl_status_t (*matmul_desc)(dnnl_matmul_desc_t *, const dnnl_memory_desc_t *, const dnnl_memory_desc_t *,
                                 const dnnl_memory_desc_t *, const dnnl_memory_desc_t *);
    dnnl_status_t (*attr_create)(dnnl_primitive_attr_t *);
    dnnl_status_t (*attr_scratchpad)(dnnl_primitive_attr_t, dnnl_scratchpad_mode_t);
    dnnl_status_t (*attr_destroy)(dnnl_primitive_attr_t);
    dnnl_status_t (*pd_create)(dnnl_primitive_desc_t *, const_dnnl_op_desc_t, const_dnnl_primitive_attr_t, dnnl_engine_t,
                               const_dnnl_primitive_desc_t);
    dnnl_status_t (*pd_query)(const_dnnl_primitive_desc_t, dnnl_query_t, int, void *);
    const dnnl_memory_desc_t *(*pd_query_md)(const_dnnl_primitive_desc_t, dnnl_query_t, int);
    dnnl_status_t (*pd_destroy)(dnnl_primitive_desc_t);
    dnnl_status_t (*primitive_create)(dnnl_primitive_t *, const_dnnl_primitive_desc_t);
    dnnl_status_t (*primitive_destroy)(dnnl_primitive_t);
    dnnl_status_t (*execute)(const_dnnl_primitive_t, dnnl_stream_t, int, const dnnl_exec_arg_t *);
    dnnl_status_t (*stream_wait)(dnnl_stream_t);
    dnnl_status_t (*memory_create)(dnnl_memory_t *, const dnnl_memory_desc_t *, dnnl_engine_t, void *);
    dnnl_status_t (*memory_destroy)(dnnl_memory_t);
    size_t (*desc_size)(const dnnl_memory_desc_t *);
    const dnnl_version_t *(*version)(void);
} f;
static dnnl_engine_t engine;

/* One product shape, built once: its primitive, the descriptors of its operands, its scratch size. */
typedef struct {
    int m, n, k, lda, ldb, ldc;
    dnnl_primitive_t primitive;
    dnnl_memory_desc_t a, b, c, scratch;
    size_t scratchBytes;
} shape_t;

enum { SHAPES = 4096 };
static shape_t shapes[SHAPES];
static int shapeCount;
static pthread_mutex_t shapeLock = PTHREAD_MUTEX_INITIALIZER;
static __thread dnnl_stream_t stream;

static void set_error(const char *what, dnnl_status_t s) {
    snprintf(lib.error, sizeof lib.error, "oneDNN: %s failed (status %d)", what, (int)s);
}

/// Builds the primitive of one shape into `out` (its descriptors too); 0, or oneDNN's status.
static dnnl_status_t build(shape_t *out, char *impl, size_t implSize) {
    dnnl_dims_t ad = {out->m, out->k}, as = {out->lda, 1};
    dnnl_dims_t bd = {out->k, out->n}, bs = {1, out->ldb};   /* B^T: k x n, columns ldb apart */
    dnnl_dims_t cd = {out->m, out->n}, cs = {out->ldc, 1};
    dnnl_status_t s;
    if ((s = f.desc_by_strides(&out->a, 2, ad, dnnl_bf16, as)) || (s = f.desc_by_strides(&out->b, 2, bd, dnnl_bf16, bs))
        || (s = f.desc_by_strides(&out->c, 2, cd, dnnl_f32, cs))) { set_error("a memory descriptor", s); return s; }
    dnnl_matmul_desc_t md;
    if ((s = f.matmul_desc(&md, &out->a, &out->b, NULL, &out->c))) { set_error("the matmul descriptor", s); return s; }
    dnnl_primitive_attr_t attr;
    if ((s = f.attr_create(&attr))) { set_error("attributes", s); return s; }
    f.attr_scratchpad(attr, dnnl_scratchpad_mode_user);
    dnnl_primitive_desc_t pd;
    s = f.pd_create(&pd, &md, attr, engine, NULL);
    f.attr_destroy(attr);
    if (s) { set_error("the matmul primitive descriptor", s); return s; }
    if (impl) {
        const char *name = NULL;
        f.pd_query(pd, dnnl_query_impl_info_str, 0, &name);
        snprintf(impl, implSize, "%s", name ? name : "?");
    }
    const dnnl_memory_desc_t *scratch = f.pd_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (scratch) out->scratch = *scratch;
    out->scratchBytes = scratch ? f.desc_size(scratch) : 0;
    s = f.primitive_create(&out->primitive, pd);
    f.pd_destroy(pd);
    if (s) { set_error("the matmul primitive", s); return s; }
    return dnnl_success;
}

/// The kept shape equal to `key`, or NULL; called with `shapeLock` held.
static shape_t *find(const shape_t *key) {
    for (int i = 0; i < shapeCount; i++) {
        shape_t *e = &shapes[i];
        if (e->m == key->m && e->n == key->n && e->k == key->k && e->lda == key->lda && e->ldb == key->ldb && e->ldc == key->ldc) return e;
    }
    return NULL;
}

/// The built shape `key`: a kept one, or built now and kept while there is room (else built
/// into `*key` itself, `*owned` set: the caller destroys its primitive). NULL when oneDNN refused.
static shape_t *shape(shape_t *key, int *owned) {
    *owned = 0;
    pthread_mutex_lock(&shapeLock);
    shape_t *e = find(key);
    pthread_mutex_unlock(&shapeLock);
    if (e) return e;
    if (build(key, NULL, 0)) return NULL;
    pthread_mutex_lock(&shapeLock);
    if (!(e = find(key)) && shapeCount < SHAPES) {
        shapes[shapeCount] = *key;
        e = &shapes[shapeCount++];
        key->primitive = NULL;
    }
    pthread_mutex_unlock(&shapeLock);
    if (!e) { *owned = 1; return key; }
    if (key->primitive) f.primitive_destroy(key->primitive);  /* another thread kept it first */
    return e;
}

/// Runs one built shape's product on this thread's stream, with scratch memory of its own.
static dnnl_status_t execute(const shape_t *sh, const void *a, const void *b, float *c) {
    dnnl_status_t s;
    if (!stream && (s = f.stream_create(&stream, engine, dnnl_stream_default_flags))) return s;
    void *scratch = sh->scratchBytes ? malloc(sh->scratchBytes) : NULL;
    if (sh->scratchBytes && !scratch) return dnnl_out_of_memory;
    dnnl_memory_t m[4] = {NULL, NULL, NULL, NULL};
    s = f.memory_create(&m[0], &sh->a, engine, (void *)a);
    if (!s) s = f.memory_create(&m[1], &sh->b, engine, (void *)b);
    if (!s) s = f.memory_create(&m[2], &sh->c, engine, c);
    if (!s && scratch) s = f.memory_create(&m[3], &sh->scratch, engine, scratch);
    if (!s) {
        dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, m[0]}, {DNNL_ARG_WEIGHTS, m[1]}, {DNNL_ARG_DST, m[2]}, {DNNL_ARG_SCRATCHPAD, m[3]}};
        s = f.execute(sh->primitive, stream, scratch ? 4 : 3, args);
    }
    if (!s) s = f.stream_wait(stream);
    for (int i = 0; i < 4; i++) if (m[i]) f.memory_destroy(m[i]);
    free(scratch);
    return s;
}
#endif

int script_bf16_gemm_abt(int m, int n, int k, const uint16_t *a, int lda, const uint16_t *b, int ldb, float *c, int ldc) {
#if HAVE_DNNL
    if (m <= 0 || n <= 0) return 0;
    if (k <= 0) {
        for (int r = 0; r < m; r++) memset(c + (long)r * ldc, 0, (size_t)n * sizeof(float));
        return 0;
    }
    shape_t key = {m, n, k, lda, ldb, ldc, NULL, {0}, {0}, {0}, {0}, 0};
    int owned;
    shape_t *sh = shape(&key, &owned);
    if (!sh) return -1;
    dnnl_status_t s = execute(sh, a, b, c);
    if (owned) f.primitive_destroy(sh->primitive);
    if (s) { set_error("a product", s); return -1; }
    return 0;
#else
    (void)m; (void)n; (void)k; (void)a; (void)lda; (void)b; (void)ldb; (void)c; (void)ldc;
    return -1;
#endif
}

#if HAVE_DNNL
/// The worst error of one product against a double-precision sum of the same bfloat16 values,
/// relative to the rounding bound of a k-term float sum (at most 1 is correct).
static double check(int m, int n, int k) {
    uint16_t *a = malloc(sizeof(uint16_t) * m * k), *b = malloc(sizeof(uint16_t) * n * k);
    float *x = malloc(sizeof(float) * (m > n ? m : n) * k), *c = malloc(sizeof(float) * m * n);
    for (long i = 0; i < (long)m * k; i++) x[i] = (float)sin(0.37 * i + 1) * 2;
    script_bf16_round((long)m * k, x, a);
    for (long i = 0; i < (long)n * k; i++) x[i] = (float)cos(0.51 * i + 2) * 3;
    script_bf16_round((long)n * k, x, b);
    double worst = script_bf16_gemm_abt(m, n, k, a, k, b, k, c, n) ? INFINITY : 0;
    for (int i = 0; i < m && isfinite(worst); i++) {
        for (int j = 0; j < n; j++) {
            double sum = 0, mag = 0;
            for (int t = 0; t < k; t++) {
                uint32_t ua = (uint32_t)a[(long)i * k + t] << 16, ub = (uint32_t)b[(long)j * k + t] << 16;
                float fa, fb;
                memcpy(&fa, &ua, 4); memcpy(&fb, &ub, 4);
                sum += (double)fa * fb;
                mag += fabs((double)fa * fb);
            }
            double bound = k * 0x1p-24 * mag + 1e-30, e = fabs(c[(long)i * n + j] - sum) / bound;
            if (!(e <= worst)) worst = e;
        }
    }
    free(a); free(b); free(x); free(c);
    return worst;
}
#endif

static void load(void) {
#if HAVE_DNNL
    const char *name = getenv("SCRIPT_CLUSTER_DNNL");
    if (!name || !*name) name = "libdnnl.so.2";
    /* libgomp reads its thread count when it is loaded: one, then put back for child processes. */
    const char *old = getenv("OMP_NUM_THREADS");
    char *saved = old ? strdup(old) : NULL;
    setenv("OMP_NUM_THREADS", "1", 1);
    void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (saved) { setenv("OMP_NUM_THREADS", saved, 1); free(saved); } else { unsetenv("OMP_NUM_THREADS"); }
    if (!h) {
        snprintf(lib.error, sizeof lib.error, "bf16 similarity needs oneDNN 2 (%s could not be loaded: install libdnnl2, or name it in SCRIPT_CLUSTER_DNNL)", name);
        return;
    }
#define SYM(field, symbol) if (!(*(void **)&f.field = dlsym(h, symbol))) { \
        snprintf(lib.error, sizeof lib.error, "%s lacks %s: bf16 similarity needs oneDNN 2", name, symbol); return; }
    SYM(engine_create, "dnnl_engine_create") SYM(stream_create, "dnnl_stream_create")
    SYM(desc_by_strides, "dnnl_memory_desc_init_by_strides") SYM(matmul_desc, "dnnl_matmul_desc_init")
    SYM(attr_create, "dnnl_primitive_attr_create") SYM(attr_scratchpad, "dnnl_primitive_attr_set_scratchpad_mode")
    SYM(attr_destroy, "dnnl_primitive_attr_destroy") SYM(pd_create, "dnnl_primitive_desc_create")
    SYM(pd_query, "dnnl_primitive_desc_query") SYM(pd_query_md, "dnnl_primitive_desc_query_md")
    SYM(pd_destroy, "dnnl_primitive_desc_destroy") SYM(primitive_create, "dnnl_primitive_create")
    SYM(primitive_destroy, "dnnl_primitive_destroy") SYM(execute, "dnnl_primitive_execute")
    SYM(stream_wait, "dnnl_stream_wait") SYM(memory_create, "dnnl_memory_create")
    SYM(memory_destroy, "dnnl_memory_destroy") SYM(desc_size, "dnnl_memory_desc_get_size") SYM(version, "dnnl_version")
#undef SYM
    dnnl_status_t s = f.engine_create(&engine, dnnl_cpu, 0);
    if (s) { set_error("the CPU engine", s); return; }
    /* The kernels oneDNN picks for a typical tile: only the CPU's own bfloat16 instructions. */
    shape_t probe = {96, 96, 4096, 4096, 4096, 96, NULL, {0}, {0}, {0}, {0}, 0};
    char impl[120];
    if ((s = build(&probe, impl, sizeof impl)) == dnnl_unimplemented) {
        snprintf(lib.error, sizeof lib.error, "bf16 similarity needs a CPU with AVX512-BF16 or AMX: oneDNN (%s) has no bfloat16 product for this one", name);
    }
    if (s) return;
    f.primitive_destroy(probe.primitive);
    const dnnl_version_t *v = f.version();
    snprintf(lib.description, sizeof lib.description, "oneDNN %d.%d.%d (%s), kernel %s", v->major, v->minor, v->patch, name, impl);
    if (!strstr(impl, "bf16") && !strstr(impl, "amx")) {
        snprintf(lib.error, sizeof lib.error, "bf16 similarity needs a CPU with AVX512-BF16 or AMX: %s would emulate it", lib.description);
        return;
    }
    static const int sizes[][3] = {{1, 1, 1}, {7, 5, 33}, {33, 40, 258}};
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        double e = check(sizes[i][0], sizes[i][1], sizes[i][2]);
        if (!(e <= 1)) {
            snprintf(lib.error, sizeof lib.error, "%s computes wrong products (%dx%dx%d: %.3g times the rounding bound)",
                     lib.description, sizes[i][0], sizes[i][1], sizes[i][2], e);
            return;
        }
    }
    lib.ready = 1;
#else
    snprintf(lib.error, sizeof lib.error, "bf16 similarity needs oneDNN 2: this build had no oneDNN headers (install libdnnl-dev and rebuild)");
#endif
}

int script_bf16_load(void) {
    pthread_once(&once, load);
    return lib.ready ? 0 : -1;
}
