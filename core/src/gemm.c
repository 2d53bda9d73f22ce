/*
 * gemm.c - vimo_sgemm: BLIS for general shapes, a vectorised row-dot kernel
 * for small M (token-by-token decoding), the choice of BLIS's kernel
 * configuration and the one thread count that OpenMP and BLIS share.
 *
 * Debian's BLIS 0.9 picks its kernel configuration from CPUID when it
 * initialises and misjudges recent CPUs (Sapphire/Emerald Rapids -> haswell,
 * Zen 5 -> generic), which costs 2-5x. Its only runtime override is the
 * BLIS_ARCH_TYPE environment variable, read once by bli_init(), and any BLIS
 * call (bli_thread_set_num_threads included) initialises it. So
 * vimo_gemm_setup() sets the variable, calls bli_init() itself and reads
 * back what BLIS chose; every entry point here goes through vimo_init() first.
 *
 * BLIS's sgemm is slow for M = 1 (2-4 GFLOP/s: it packs a whole panel of W
 * to use it once), so x @ W^T with M <= VIMO_GEMM_SMALL_M and a @ B with
 * M = 1 run on our own kernels below: OpenMP over output columns with a
 * static split, each output summed by one thread in a fixed order, so the
 * result is the same bits for any thread count.
 *
 * Not here: bf16/int8 GEMM (Debian's BLIS has none), element-wise kernels.
 * See docs/kernels.md for measurements and the reasons behind each choice.
 */
#include <blis.h>
#include <omp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "vimo/kernels.h"
#include "vimo/vimo.h"

/* Upper bound on the thread count (a typo in VIMO_NUM_THREADS must not ask
 * the OpenMP runtime for a million threads). */
#define VIMO_MAX_THREADS 512

/* Below this many multiply-adds a parallel region costs more than it saves. */
#define SMALL_PAR_MIN (1 << 16)
/* BLIS gets one thread per this many multiply-adds at most (~2 us each):
 * its barriers cost more than a smaller share saves, and on a busy machine
 * a tiny 2-thread product was measured to stall for 0.1-0.3 s. */
#define BLIS_WORK_PER_THREAD (1 << 18)

/* ---- kernel configuration ------------------------------------------------ */

typedef struct {
    const char *name;
    arch_t id;
    int (*supported)(void);
} blis_arch;

#if defined(__x86_64__)
static int has_avx512(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}
static int has_avx2(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
static int has_avx(void) { return __builtin_cpu_supports("avx"); }
static int always(void) { return 1; }

/* Order of preference under "auto": the first supported entry wins. skx's
 * AVX-512 kernels beat the AVX2 ones on every AVX-512 CPU we measured (1.7x
 * on Emerald Rapids, ~1.8x on Zen 5, docs/kernels.md); among the AVX2
 * configurations zen3, haswell, zen2 and zen measured within 2 % of each
 * other. Only configurations built into Debian's x86_64 BLIS appear here:
 * naming one that is not built makes BLIS abort(). knl is left out (it needs
 * AVX-512ER, which only Xeon Phi has). */
static const blis_arch k_arches[] = {
    {"skx", BLIS_ARCH_SKX, has_avx512},
    {"zen3", BLIS_ARCH_ZEN3, has_avx2},
    {"haswell", BLIS_ARCH_HASWELL, has_avx2},
    {"zen2", BLIS_ARCH_ZEN2, has_avx2},
    {"zen", BLIS_ARCH_ZEN, has_avx2},
    {"sandybridge", BLIS_ARCH_SANDYBRIDGE, has_avx},
    {"generic", BLIS_ARCH_GENERIC, always},
};
#define N_ARCHES (sizeof k_arches / sizeof *k_arches)
#define ARCH_NAMES "auto, skx, zen3, haswell, zen2, zen, sandybridge, generic"
#endif

typedef enum { SMALL_PORTABLE, SMALL_AVX2, SMALL_AVX512 } small_isa;

static struct {
    const char *requested; /* configuration vimo asked BLIS for, "" if none */
    const char *source;    /* "auto", "VIMO_BLIS_ARCH", "BLIS_ARCH_TYPE", "blis" */
    const char *actual;    /* what BLIS reports after bli_init()            */
    small_isa isa;         /* instruction set of the small-M kernels        */
} g = {"", "", "unset", SMALL_PORTABLE};

/* vimo's thread count, shared with BLIS; read by kernels on any thread. */
static atomic_int g_threads;

static int threads_now(void) { return atomic_load_explicit(&g_threads, memory_order_relaxed); }

#if defined(__x86_64__)
static const blis_arch *arch_by_name(const char *s)
{
    for (size_t i = 0; i < N_ARCHES; i++)
        if (strcmp(s, k_arches[i].name) == 0) return &k_arches[i];
    return NULL;
}

static const blis_arch *arch_by_id_str(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end) return NULL;
    for (size_t i = 0; i < N_ARCHES; i++)
        if ((long)k_arches[i].id == v) return &k_arches[i];
    return NULL;
}

/* Which configuration to ask for, from VIMO_BLIS_ARCH, then BLIS_ARCH_TYPE,
 * then the CPU's flags. Every value is checked here because BLIS itself
 * abort()s on an id it was not built with and faults on missing ISA. */
static vimo_status choose_arch(const blis_arch **pick)
{
    const char *vimo_env = getenv("VIMO_BLIS_ARCH");
    const char *blis_env = getenv("BLIS_ARCH_TYPE");
    if (vimo_env && *vimo_env && strcmp(vimo_env, "auto") != 0) {
        g.source = "VIMO_BLIS_ARCH";
        *pick = arch_by_name(vimo_env);
        if (!*pick)
            return vimo_error(VIMO_ERR_INVALID, "init: VIMO_BLIS_ARCH=%s is not one of " ARCH_NAMES, vimo_env);
    } else if (blis_env && *blis_env) {
        g.source = "BLIS_ARCH_TYPE";
        *pick = arch_by_id_str(blis_env);
        if (!*pick)
            return vimo_error(VIMO_ERR_INVALID,
                              "init: BLIS_ARCH_TYPE=%s is not the id of a configuration vimo supports "
                              "(skx=%d, zen3=%d, haswell=%d, zen2=%d, zen=%d, sandybridge=%d, generic=%d)",
                              blis_env, BLIS_ARCH_SKX, BLIS_ARCH_ZEN3, BLIS_ARCH_HASWELL, BLIS_ARCH_ZEN2,
                              BLIS_ARCH_ZEN, BLIS_ARCH_SANDYBRIDGE, BLIS_ARCH_GENERIC);
    } else {
        g.source = "auto";
        for (size_t i = 0; i < N_ARCHES && !*pick; i++)
            if (k_arches[i].supported()) *pick = &k_arches[i];
    }
    if (!(*pick)->supported())
        return vimo_error(VIMO_ERR_INVALID, "init: %s=%s needs instructions this CPU lacks", g.source,
                          strcmp(g.source, "VIMO_BLIS_ARCH") == 0 ? vimo_env : blis_env);
    return VIMO_OK;
}

/* VIMO_GEMM_SMALL_KERNEL=avx512|avx2|portable forces the small-M kernel
 * (so tests cover every path on one machine); "auto" or unset keeps the best
 * the CPU runs. */
static vimo_status choose_small_isa(void)
{
    const char *e = getenv("VIMO_GEMM_SMALL_KERNEL");
    if (!e || !*e || strcmp(e, "auto") == 0) return VIMO_OK;
    small_isa want;
    if (strcmp(e, "avx512") == 0)
        want = SMALL_AVX512;
    else if (strcmp(e, "avx2") == 0)
        want = SMALL_AVX2;
    else if (strcmp(e, "portable") == 0)
        want = SMALL_PORTABLE;
    else
        return vimo_error(VIMO_ERR_INVALID, "init: VIMO_GEMM_SMALL_KERNEL=%s is not one of auto, avx512, avx2, "
                                            "portable", e);
    if (want > g.isa)
        return vimo_error(VIMO_ERR_INVALID, "init: VIMO_GEMM_SMALL_KERNEL=%s needs instructions this CPU lacks", e);
    g.isa = want;
    return VIMO_OK;
}
#endif

/* Called once by vimo_init() before anything else touches BLIS. */
vimo_status vimo_gemm_setup(void)
{
#if defined(__x86_64__)
    const blis_arch *pick = NULL;
    vimo_status st = choose_arch(&pick);
    if (st) return st;
    /* Set BLIS_ARCH_TYPE only for bli_init(), then restore the caller's. */
    const char *old = getenv("BLIS_ARCH_TYPE");
    char *saved = old ? strdup(old) : NULL;
    if (old && !saved) return vimo_error(VIMO_ERR_NOMEM, "init: out of memory");
    char id[16];
    snprintf(id, sizeof id, "%d", (int)pick->id);
    setenv("BLIS_ARCH_TYPE", id, 1);
    bli_init();
    if (saved)
        setenv("BLIS_ARCH_TYPE", saved, 1);
    else
        unsetenv("BLIS_ARCH_TYPE");
    free(saved);
    g.requested = pick->name;
    g.isa = has_avx512() ? SMALL_AVX512 : has_avx2() ? SMALL_AVX2 : SMALL_PORTABLE;
    if ((st = choose_small_isa())) return st;
#else
    g.source = "blis";
    bli_init();
#endif
    /* Only valid after bli_init(): querying first makes Debian's 0.9 abort. */
    g.actual = bli_arch_string(bli_arch_query_id());
    return VIMO_OK;
}

/* Called by vimo_init() with the count from the environment (0 = all). */
void vimo_gemm_threads_apply(int n)
{
    if (n <= 0) n = omp_get_num_procs();
    if (n > VIMO_MAX_THREADS) n = VIMO_MAX_THREADS;
    atomic_store_explicit(&g_threads, n, memory_order_relaxed);
    omp_set_num_threads(n);
    bli_thread_set_num_threads(n);
}

const char *vimo_gemm_arch(void) { return vimo_init() ? "unset" : g.actual; }
const char *vimo_gemm_arch_requested(void) { return vimo_init() ? "" : g.requested; }
const char *vimo_gemm_arch_source(void) { return vimo_init() ? "" : g.source; }

const char *vimo_gemm_small_kernel(void)
{
    if (vimo_init()) return "unset";
    return g.isa == SMALL_AVX512 ? "avx512" : g.isa == SMALL_AVX2 ? "avx2" : "portable";
}

void vimo_set_num_threads(int n)
{
    if (vimo_init()) return; /* BLIS must not initialise before the arch choice */
    vimo_gemm_threads_apply(n);
}

int vimo_get_num_threads(void) { return vimo_init() ? 1 : threads_now(); }

/* ---- small-M kernels ----------------------------------------------------- */
/*
 * Row-dot: c[i, j] = alpha * dot(a[i, :], b[j, :]) + beta * c[i, j] for
 * i < m, j in [j0, j1): x @ W^T with W's rows contiguous. A tile holds MR
 * rows of a against NR rows of b so one load of b feeds MR multiply-adds.
 * Each output is one accumulator of lanes over k, summed across lanes at the
 * end: its arithmetic is the same whichever tile or thread computes it.
 *
 * Row-axpy: c[j] = alpha * sum_k a[k] b[k, j] + beta * c[j] (M = 1, B not
 * transposed): each column block runs over k in order.
 */

typedef void (*rowdot_fn)(int64_t m, int64_t j0, int64_t j1, int64_t k, float alpha, const float *a, int64_t lda,
                          const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
typedef void (*rowaxpy_fn)(int64_t j0, int64_t j1, int64_t k, float alpha, const float *a, const float *b,
                           int64_t ldb, float beta, float *c);

static inline float epilogue(float s, float alpha, float beta, float c)
{
    /* beta = 0 never reads c (BLAS convention: c may hold NaN). */
    return beta == 0.0f ? alpha * s : alpha * s + beta * c;
}

/* Portable form: 8 lanes per accumulator. Compiled twice, plain x86-64 and
 * AVX2, from one body (always_inline into target-specific wrappers). */
#define GEN_LANES 8
#define GEN_NR 4

static inline __attribute__((always_inline)) void gen_tile(const int mr, const int nr, int64_t i, int64_t j,
                                                             int64_t k, float alpha, const float *a, int64_t lda,
                                                             const float *b, int64_t ldb, float beta, float *c,
                                                             int64_t ldc)
{
    float acc[2][GEN_NR][GEN_LANES] = {{{0}}};
    int64_t p = 0;
    for (; p + GEN_LANES <= k; p += GEN_LANES)
        for (int q = 0; q < nr; q++)
            for (int r = 0; r < mr; r++)
                for (int l = 0; l < GEN_LANES; l++)
                    acc[r][q][l] += a[(i + r) * lda + p + l] * b[(j + q) * ldb + p + l];
    for (int l = 0; p + l < k; l++)
        for (int q = 0; q < nr; q++)
            for (int r = 0; r < mr; r++) acc[r][q][l] += a[(i + r) * lda + p + l] * b[(j + q) * ldb + p + l];
    for (int r = 0; r < mr; r++)
        for (int q = 0; q < nr; q++) {
            float *v = acc[r][q]; /* pairwise: a fixed tree */
            float s = ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
            float *o = c + (i + r) * ldc + j + q;
            *o = epilogue(s, alpha, beta, *o);
        }
}

static inline __attribute__((always_inline)) void gen_rowdot(int64_t m, int64_t j0, int64_t j1, int64_t k,
                                                               float alpha, const float *a, int64_t lda,
                                                               const float *b, int64_t ldb, float beta, float *c,
                                                               int64_t ldc)
{
    int64_t j = j0;
    for (; j + GEN_NR <= j1; j += GEN_NR) {
        int64_t i = 0;
        for (; i + 2 <= m; i += 2) gen_tile(2, GEN_NR, i, j, k, alpha, a, lda, b, ldb, beta, c, ldc);
        if (i < m) gen_tile(1, GEN_NR, i, j, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
    for (; j < j1; j++)
        for (int64_t i = 0; i < m; i++) gen_tile(1, 1, i, j, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

#define AXPY_NB 128 /* columns per block: 8 AVX-512 accumulators */

static inline __attribute__((always_inline)) void gen_rowaxpy(int64_t j0, int64_t j1, int64_t k, float alpha,
                                                                const float *a, const float *b, int64_t ldb,
                                                                float beta, float *c)
{
    float acc[AXPY_NB];
    int64_t w = j1 - j0;
    for (int64_t l = 0; l < w; l++) acc[l] = 0.0f;
    for (int64_t p = 0; p < k; p++) {
        const float av = a[p], *row = b + p * ldb + j0;
        for (int64_t l = 0; l < w; l++) acc[l] += av * row[l];
    }
    for (int64_t l = 0; l < w; l++) c[j0 + l] = epilogue(acc[l], alpha, beta, c[j0 + l]);
}

static void rowdot_portable(int64_t m, int64_t j0, int64_t j1, int64_t k, float alpha, const float *a, int64_t lda,
                            const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    gen_rowdot(m, j0, j1, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

static void rowaxpy_portable(int64_t j0, int64_t j1, int64_t k, float alpha, const float *a, const float *b,
                             int64_t ldb, float beta, float *c)
{
    gen_rowaxpy(j0, j1, k, alpha, a, b, ldb, beta, c);
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static void rowdot_avx2(int64_t m, int64_t j0, int64_t j1, int64_t k,
                                                            float alpha, const float *a, int64_t lda,
                                                            const float *b, int64_t ldb, float beta, float *c,
                                                            int64_t ldc)
{
    gen_rowdot(m, j0, j1, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

__attribute__((target("avx2,fma"))) static void rowaxpy_avx2(int64_t j0, int64_t j1, int64_t k, float alpha,
                                                             const float *a, const float *b, int64_t ldb,
                                                             float beta, float *c)
{
    gen_rowaxpy(j0, j1, k, alpha, a, b, ldb, beta, c);
}

/* AVX-512 form: 16 lanes, fused multiply-add, masked loads for the k tail.
 * NR = 8 rows of b: with MR = 1 that is 8 independent FMA chains, enough to
 * cover the FMA latency on two units; MR = 2 uses 16 of the 32 registers. */
#define Z_NR 8

__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) void
z_tile(const int mr, const int nr, int64_t i, int64_t j, int64_t k, float alpha, const float *a, int64_t lda,
       const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    __m512 acc[4][Z_NR];
    for (int r = 0; r < mr; r++)
        for (int q = 0; q < nr; q++) acc[r][q] = _mm512_setzero_ps();
    const float *ar = a + i * lda, *bj = b + j * ldb;
    int64_t p = 0;
    for (; p + 16 <= k; p += 16) {
        __m512 x[4];
        for (int r = 0; r < mr; r++) x[r] = _mm512_loadu_ps(ar + r * lda + p);
        for (int q = 0; q < nr; q++) {
            __m512 w = _mm512_loadu_ps(bj + q * ldb + p);
            for (int r = 0; r < mr; r++) acc[r][q] = _mm512_fmadd_ps(x[r], w, acc[r][q]);
        }
    }
    if (p < k) {
        __mmask16 mk = (__mmask16)((1u << (k - p)) - 1u);
        __m512 x[4];
        for (int r = 0; r < mr; r++) x[r] = _mm512_maskz_loadu_ps(mk, ar + r * lda + p);
        for (int q = 0; q < nr; q++) {
            __m512 w = _mm512_maskz_loadu_ps(mk, bj + q * ldb + p);
            for (int r = 0; r < mr; r++) acc[r][q] = _mm512_fmadd_ps(x[r], w, acc[r][q]);
        }
    }
    for (int r = 0; r < mr; r++)
        for (int q = 0; q < nr; q++) {
            float *o = c + (i + r) * ldc + j + q;
            *o = epilogue(_mm512_reduce_add_ps(acc[r][q]), alpha, beta, *o);
        }
}

__attribute__((target("avx512f"))) static void rowdot_avx512(int64_t m, int64_t j0, int64_t j1, int64_t k,
                                                             float alpha, const float *a, int64_t lda,
                                                             const float *b, int64_t ldb, float beta, float *c,
                                                             int64_t ldc)
{
    int64_t j = j0;
    for (; j + Z_NR <= j1; j += Z_NR) {
        int64_t i = 0;
        for (; i + 4 <= m; i += 4) {
            z_tile(4, Z_NR / 2, i, j, k, alpha, a, lda, b, ldb, beta, c, ldc);
            z_tile(4, Z_NR / 2, i, j + Z_NR / 2, k, alpha, a, lda, b, ldb, beta, c, ldc);
        }
        if (m - i == 3) {
            z_tile(3, Z_NR / 2, i, j, k, alpha, a, lda, b, ldb, beta, c, ldc);
            z_tile(3, Z_NR / 2, i, j + Z_NR / 2, k, alpha, a, lda, b, ldb, beta, c, ldc);
        } else if (m - i == 2) {
            z_tile(2, Z_NR, i, j, k, alpha, a, lda, b, ldb, beta, c, ldc);
        } else if (m - i == 1) {
            z_tile(1, Z_NR, i, j, k, alpha, a, lda, b, ldb, beta, c, ldc);
        }
    }
    for (; j < j1; j++)
        for (int64_t i = 0; i < m; i++) z_tile(1, 1, i, j, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

__attribute__((target("avx512f"))) static void rowaxpy_avx512(int64_t j0, int64_t j1, int64_t k, float alpha,
                                                              const float *a, const float *b, int64_t ldb,
                                                              float beta, float *c)
{
    __m512 acc[AXPY_NB / 16];
    __mmask16 mk[AXPY_NB / 16];
    const int64_t w = j1 - j0;
    for (int q = 0; q < AXPY_NB / 16; q++) {
        int64_t left = w - 16 * q;
        mk[q] = left >= 16 ? (__mmask16)0xFFFF : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1u);
        acc[q] = _mm512_setzero_ps();
    }
    for (int64_t p = 0; p < k; p++) {
        const __m512 av = _mm512_set1_ps(a[p]);
        const float *row = b + p * ldb + j0;
        for (int q = 0; q < AXPY_NB / 16; q++)
            acc[q] = _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(mk[q], row + 16 * q), acc[q]);
    }
    float s[AXPY_NB];
    for (int q = 0; q < AXPY_NB / 16; q++) _mm512_storeu_ps(s + 16 * q, acc[q]);
    for (int64_t l = 0; l < w; l++) c[j0 + l] = epilogue(s[l], alpha, beta, c[j0 + l]);
}
#endif

static rowdot_fn pick_rowdot(void)
{
#if defined(__x86_64__)
    if (g.isa == SMALL_AVX512) return rowdot_avx512;
    if (g.isa == SMALL_AVX2) return rowdot_avx2;
#endif
    return rowdot_portable;
}

static rowaxpy_fn pick_rowaxpy(void)
{
#if defined(__x86_64__)
    if (g.isa == SMALL_AVX512) return rowaxpy_avx512;
    if (g.isa == SMALL_AVX2) return rowaxpy_avx2;
#endif
    return rowaxpy_portable;
}

/* Threads for a kernel of `work` multiply-adds: one inside an OpenMP region
 * (the caller already owns the threads), one for tiny work. */
static int threads_for(int64_t work)
{
    if (omp_in_parallel() || work < SMALL_PAR_MIN) return 1;
    int n = threads_now();
    return n > 0 ? n : 1;
}

/* BLIS's count: vimo's, capped by the work, one inside a parallel region.
 * BLIS splits only the M and N loops, so the count never changes results. */
static int blis_threads_for(int64_t work)
{
    if (omp_in_parallel()) return 1;
    int64_t cap = work / BLIS_WORK_PER_THREAD;
    int n = threads_now();
    return cap < 1 ? 1 : cap < n ? (int)cap : n;
}

/* Static split over tiles of output columns: tile t is always computed by
 * the same code, so the split changes who computes it, never how. One
 * thread skips the parallel region (it costs ~0.5 us, as much as a small
 * product). */
#define ROWDOT_TILE 8 /* a multiple of Z_NR and GEN_NR */

static void small_rowdot(int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda, const float *b,
                         int64_t ldb, float beta, float *c, int64_t ldc)
{
    const rowdot_fn f = pick_rowdot();
    const int64_t tiles = (n + ROWDOT_TILE - 1) / ROWDOT_TILE;
    const int nt = threads_for(m * n * k);
    if (nt == 1) {
        f(m, 0, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t t = 0; t < tiles; t++) {
        int64_t j0 = t * ROWDOT_TILE, j1 = j0 + ROWDOT_TILE < n ? j0 + ROWDOT_TILE : n;
        f(m, j0, j1, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
}

static void small_rowaxpy(int64_t n, int64_t k, float alpha, const float *a, const float *b, int64_t ldb, float beta,
                          float *c)
{
    const rowaxpy_fn f = pick_rowaxpy();
    const int64_t blocks = (n + AXPY_NB - 1) / AXPY_NB;
    const int nt = threads_for(n * k);
    if (nt == 1) {
        for (int64_t j0 = 0; j0 < n; j0 += AXPY_NB)
            f(j0, j0 + AXPY_NB < n ? j0 + AXPY_NB : n, k, alpha, a, b, ldb, beta, c);
        return;
    }
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t t = 0; t < blocks; t++) {
        int64_t j0 = t * AXPY_NB, j1 = j0 + AXPY_NB < n ? j0 + AXPY_NB : n;
        f(j0, j1, k, alpha, a, b, ldb, beta, c);
    }
}

/* C = beta * C, for k = 0 (BLIS would reject the zero strides callers pass). */
static void scale_c(int64_t m, int64_t n, float beta, float *c, int64_t ldc)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
}

/* ---- vimo_sgemm ---------------------------------------------------------- */

vimo_status vimo_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                       int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    vimo_status st = vimo_init();
    if (st) return st;
    if (m < 0 || n < 0 || k < 0)
        return vimo_error(VIMO_ERR_INVALID, "sgemm: negative size m=%lld n=%lld k=%lld", (long long)m,
                          (long long)n, (long long)k);
    if (m == 0 || n == 0) return VIMO_OK;
    if (!c || (k > 0 && (!a || !b))) return vimo_error(VIMO_ERR_INVALID, "sgemm: NULL matrix");
    if (ldc < n) return vimo_error(VIMO_ERR_INVALID, "sgemm: ldc=%lld < n=%lld", (long long)ldc, (long long)n);
    if (k == 0) {
        scale_c(m, n, beta, c, ldc);
        return VIMO_OK;
    }
    int64_t need_a = trans_a ? m : k, need_b = trans_b ? k : n;
    if (lda < need_a || ldb < need_b)
        return vimo_error(VIMO_ERR_INVALID, "sgemm: lda=%lld (needs >= %lld) or ldb=%lld (needs >= %lld)",
                          (long long)lda, (long long)need_a, (long long)ldb, (long long)need_b);
    /* op(A)'s rows must be contiguous for the small kernels. */
    int rows_contig = !trans_a || (m == 1 && lda == 1);
    if (trans_b && m <= VIMO_GEMM_SMALL_M && rows_contig) {
        small_rowdot(m, n, k, alpha, a, trans_a ? 1 : lda, b, ldb, beta, c, ldc);
        return VIMO_OK;
    }
    if (!trans_b && m == 1 && rows_contig) {
        small_rowaxpy(n, k, alpha, a, b, ldb, beta, c);
        return VIMO_OK;
    }
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads(blis_threads_for(m * n * k), &rntm);
    /* No "sup" (small/skinny unpacked) path: the haswell/zen*
     * configurations send a product there when any of M, N, K is under
     * their thresholds, so whether a row took it (and how it was rounded)
     * depended on how many rows came with it, i.e. on what else is in the
     * batch; a resumed run or a cached token then differed in the last
     * bit (docs/determinism.md). */
    bli_rntm_disable_l3_sup(&rntm);
    /* Row-major strides: element (i, j) of A at a[i * lda + j]. */
    bli_sgemm_ex(trans_a ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, trans_b ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, m, n, k,
                 &alpha, (float *)a, lda, 1, (float *)b, ldb, 1, &beta, c, ldc, 1, NULL, &rntm);
    return VIMO_OK;
}
