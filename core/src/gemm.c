/*
 * gemm.c - vimo_sgemm on BLIS, kernel-configuration choice, thread count.
 *
 * Debian's BLIS 0.9 picks its kernel configuration from CPUID on first use
 * and misdetects some recent CPUs as "generic" (4-6x slower than its AVX-512
 * skx kernels). Its only runtime override is the BLIS_ARCH_TYPE environment
 * variable, read once when BLIS initialises, so vimo_init() sets it before
 * any BLIS call. See kernels.h for the order of preference and overrides.
 */
#include <blis.h>
#include <stdio.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "vimo/kernels.h"

typedef struct {
    const char *name;
    arch_t id;
    int (*supported)(void);
} blis_arch;

static int has_avx512(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}
static int has_avx2(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
static int has_avx(void) { return __builtin_cpu_supports("avx"); }
static int always(void) { return 1; }

/* Order of preference: the first supported entry wins under "auto". */
static const blis_arch k_arches[] = {
    {"skx", BLIS_ARCH_SKX, has_avx512},
    {"zen3", BLIS_ARCH_ZEN3, has_avx2},
    {"haswell", BLIS_ARCH_HASWELL, has_avx2},
    {"zen2", BLIS_ARCH_ZEN2, has_avx2},
    {"zen", BLIS_ARCH_ZEN, has_avx2},
    {"sandybridge", BLIS_ARCH_SANDYBRIDGE, has_avx},
    {"generic", BLIS_ARCH_GENERIC, always},
};

static const char *g_arch = "unset";
static int g_threads;

vimo_status vimo_gemm_choose_arch(void)
{
    const char *user = getenv("VIMO_BLIS_ARCH");
    if (getenv("BLIS_ARCH_TYPE") && (!user || !strcmp(user, "auto"))) {
        g_arch = "BLIS_ARCH_TYPE";
        return VIMO_OK; /* the user already told BLIS directly */
    }
    const blis_arch *pick = NULL;
    for (size_t i = 0; i < sizeof k_arches / sizeof *k_arches; i++) {
        const blis_arch *a = &k_arches[i];
        if (user && strcmp(user, "auto") != 0) {
            if (strcmp(user, a->name) == 0) pick = a;
        } else if (!pick && a->supported()) {
            pick = a;
        }
    }
    if (!pick)
        return vimo_error(VIMO_ERR_INVALID,
                          "init: VIMO_BLIS_ARCH=%s is not one of auto, skx, zen3, haswell, zen2, zen, "
                          "sandybridge, generic",
                          user);
    if (!pick->supported())
        return vimo_error(VIMO_ERR_INVALID, "init: VIMO_BLIS_ARCH=%s needs instructions this CPU lacks", user);
    char buf[16];
    snprintf(buf, sizeof buf, "%d", (int)pick->id);
    setenv("BLIS_ARCH_TYPE", buf, 1);
    g_arch = pick->name;
    return VIMO_OK;
}

const char *vimo_gemm_arch(void) { return g_arch; }

void vimo_set_num_threads(int n)
{
    if (n <= 0) n = omp_get_num_procs();
    g_threads = n;
    omp_set_num_threads(n);
    bli_thread_set_num_threads(n);
}

int vimo_get_num_threads(void) { return g_threads ? g_threads : omp_get_max_threads(); }

vimo_status vimo_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                       int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    if (m < 0 || n < 0 || k < 0)
        return vimo_error(VIMO_ERR_INVALID, "sgemm: negative size m=%lld n=%lld k=%lld", (long long)m,
                          (long long)n, (long long)k);
    if (m == 0 || n == 0) return VIMO_OK;
    if (ldc < n || lda < (trans_a ? m : k) || ldb < (trans_b ? k : n))
        return vimo_error(VIMO_ERR_INVALID, "sgemm: leading dimension too small");
    /* Row-major strides: element (i, j) of A at a[i * lda + j]. */
    bli_sgemm(trans_a ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, trans_b ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, m, n, k,
              &alpha, (float *)a, lda, 1, (float *)b, ldb, 1, &beta, c, ldc, 1);
    return VIMO_OK;
}
