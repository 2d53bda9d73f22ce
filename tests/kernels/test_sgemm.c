/*
 * test_sgemm.c - vimo_sgemm against a double-precision triple loop, the BLIS
 * kernel-configuration choice, thread ownership (one count for OpenMP and
 * BLIS) and bitwise determinism across thread counts.
 *
 * The reference is an independent naive loop in double; the tolerance is the
 * textbook bound for a length-K float dot product, (K + 2) * eps * sum |a b|,
 * which a dropped or doubled term (about |a b|) exceeds for every size used.
 * Not here: speed (vimo bench gemm).
 *
 * Modes (argv[1]): none = the main suite (CTest also runs it with each
 * small-M kernel forced by VIMO_GEMM_SMALL_KERNEL); "override NAME" = BLIS must run the
 * configuration NAME given by VIMO_BLIS_ARCH; "invalid" = vimo_init() must
 * refuse the configuration named in the environment instead of letting BLIS
 * abort.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <blis.h>
#include <cmocka.h>
#include <omp.h>

#include "vimo/vimo.h"

static uint64_t g_seed = 0x9E3779B97F4A7C15ull;

/* Uniform in [-1, 1): a fixed LCG so failures reproduce. */
static float frand(void)
{
    g_seed = g_seed * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(g_seed >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}

static float *rand_buf(int64_t n)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    assert_non_null(p);
    for (int64_t i = 0; i < n; i++) p[i] = frand();
    return p;
}

/* op(A)[i, p] and op(B)[p, j] of row-major storage. */
static double op_a(const float *a, int ta, int64_t lda, int64_t i, int64_t p)
{
    return ta ? a[p * lda + i] : a[i * lda + p];
}
static double op_b(const float *b, int tb, int64_t ldb, int64_t p, int64_t j)
{
    return tb ? b[j * ldb + p] : b[p * ldb + j];
}

/* Checks c (after the call) against alpha op(A) op(B) + beta c0, element by
 * element, and that padding between rows is untouched. */
static void check_gemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                       const float *b, int64_t ldb, float beta, const float *c0, const float *c, int64_t ldc)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < ldc; j++) {
            float got = c[i * ldc + j];
            if (j >= n) {
                assert_memory_equal(&got, &c0[i * ldc + j], sizeof got); /* padding kept */
                continue;
            }
            double s = 0.0, sabs = 0.0;
            for (int64_t p = 0; p < k; p++) {
                double t = op_a(a, ta, lda, i, p) * op_b(b, tb, ldb, p, j);
                s += t;
                sabs += fabs(t);
            }
            double want = alpha * s, bound = fabs(alpha) * sabs;
            if (beta != 0.0f) {
                want += beta * (double)c0[i * ldc + j];
                bound += fabs(beta * (double)c0[i * ldc + j]);
            }
            double tol = (double)(k + 2) * FLT_EPSILON * bound + 1e-30;
            if (!(fabs(got - want) <= tol))
                fail_msg("ta=%d tb=%d m=%lld n=%lld k=%lld alpha=%g beta=%g: c[%lld,%lld] = %.9g, want %.9g (tol %.3g)",
                         ta, tb, (long long)m, (long long)n, (long long)k, alpha, beta, (long long)i, (long long)j,
                         got, want, tol);
        }
}

/* One random case: A, B with leading dimension dim + pad, C prefilled (NaN
 * when beta = 0, which must never be read). */
static void run_case(int ta, int tb, int64_t m, int64_t n, int64_t k, int64_t pad, float alpha, float beta)
{
    int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
    float *a = rand_buf((ta ? k : m) * lda), *b = rand_buf((tb ? n : k) * ldb);
    float *c0 = rand_buf(m * ldc), *c = malloc((size_t)(m * ldc) * sizeof *c);
    assert_non_null(c);
    if (beta == 0.0f)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) c0[i * ldc + j] = NAN;
    memcpy(c, c0, (size_t)(m * ldc) * sizeof *c);
    assert_int_equal(vimo_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc), VIMO_OK);
    check_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c0, c, ldc);
    free(a);
    free(b);
    free(c0);
    free(c);
}

/* ---- configuration and threads ------------------------------------------- */

static const char *expected_auto_arch(void)
{
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        return "skx";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "zen3";
    if (__builtin_cpu_supports("avx")) return "sandybridge";
    return "generic";
}

static void test_arch_choice(void **state)
{
    (void)state;
    /* CTest unsets VIMO_BLIS_ARCH and BLIS_ARCH_TYPE for this test. */
    if (getenv("VIMO_BLIS_ARCH") || getenv("BLIS_ARCH_TYPE")) skip();
    assert_string_equal(vimo_gemm_arch_source(), "auto");
    assert_string_equal(vimo_gemm_arch_requested(), expected_auto_arch());
    /* What BLIS itself runs, asked of BLIS, not of vimo's bookkeeping. */
    assert_string_equal(bli_arch_string(bli_arch_query_id()), expected_auto_arch());
    assert_string_equal(vimo_gemm_arch(), expected_auto_arch());
    /* The variable vimo set for bli_init() is gone again. */
    assert_null(getenv("BLIS_ARCH_TYPE"));
}

static void test_small_kernel_choice(void **state)
{
    (void)state;
    const char *forced = getenv("VIMO_GEMM_SMALL_KERNEL");
    if (forced && *forced && strcmp(forced, "auto") != 0)
        assert_string_equal(vimo_gemm_small_kernel(), forced);
    else
        assert_string_equal(vimo_gemm_small_kernel(), __builtin_cpu_supports("avx512f") ? "avx512"
                                                      : __builtin_cpu_supports("avx2") ? "avx2"
                                                                                       : "portable");
}

static void test_threads_shared(void **state)
{
    (void)state;
    assert_int_equal(bli_info_get_enable_openmp(), 1); /* same thread pool as vimo's kernels */
    for (int n = 1; n <= 2; n++) {
        vimo_set_num_threads(n);
        assert_int_equal(vimo_get_num_threads(), n);
        assert_int_equal(omp_get_max_threads(), n);
        assert_int_equal((int)bli_thread_get_num_threads(), n);
        rntm_t r;
        bli_rntm_init_from_global(&r);
        assert_int_equal((int)bli_rntm_num_threads(&r), n);
    }
    vimo_set_num_threads(0); /* all cores */
    assert_int_equal(vimo_get_num_threads(), omp_get_num_procs());
    assert_int_equal((int)bli_thread_get_num_threads(), omp_get_num_procs());
    vimo_set_num_threads(2);
}

/* ---- correctness ----------------------------------------------------------- */

static void test_all_transposes(void **state)
{
    (void)state;
    /* m around the small-kernel limit, odd n and k (vector tails). */
    static const int64_t ms[] = {1, 2, 3, 4, 5, 7, VIMO_GEMM_SMALL_M, VIMO_GEMM_SMALL_M + 1, 70};
    static const int64_t ns[] = {1, 9, 33, 130};
    static const int64_t ks[] = {1, 15, 17, 100};
    int cases = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++)
                for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
                    for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++, cases++) {
                        int64_t pad = cases % 3 == 0 ? 0 : 3;
                        float alpha = cases % 2 ? 1.0f : -0.75f;
                        float beta = (float[]){0.0f, 1.0f, 0.5f}[cases % 3];
                        run_case(ta, tb, ms[mi], ns[ni], ks[ki], pad, alpha, beta);
                    }
}

/* The small-M paths with LLM shapes: x @ W^T (decode) and a @ B with M = 1,
 * including op(A) = A^T of an (K, 1) column. */
static void test_small_m_paths(void **state)
{
    (void)state;
    run_case(0, 1, 1, 768, 768, 0, 1.0f, 0.0f);
    run_case(0, 1, 1, 257, 3072, 5, 2.0f, 1.0f);
    run_case(0, 1, 4, 1000, 333, 1, 1.0f, 0.0f);
    run_case(0, 0, 1, 769, 300, 0, 1.0f, 1.0f);
    run_case(0, 0, 1, 130, 70, 2, -1.0f, 0.25f);
    run_case(1, 1, 1, 200, 50, 0, 1.0f, 0.0f); /* A^T with lda = 1: small kernel */
    run_case(1, 0, 1, 200, 50, 0, 1.0f, 0.0f);
    run_case(1, 1, 1, 200, 50, 3, 1.0f, 0.0f); /* A^T with lda = 4: BLIS */
}

static void test_k_zero_and_edges(void **state)
{
    (void)state;
    float c[6] = {1, 2, 3, 4, 5, 6};
    assert_int_equal(vimo_sgemm(0, 1, 2, 3, 0, 1.0f, NULL, 0, NULL, 0, 2.0f, c, 3), VIMO_OK);
    for (int i = 0; i < 6; i++) assert_float_equal(c[i], 2.0f * (float)(i + 1), 0.0f);
    c[0] = NAN;
    assert_int_equal(vimo_sgemm(0, 0, 2, 3, 0, 1.0f, NULL, 0, NULL, 0, 0.0f, c, 3), VIMO_OK);
    for (int i = 0; i < 6; i++) assert_float_equal(c[i], 0.0f, 0.0f);
    /* m or n = 0: nothing to do, nothing touched. */
    assert_int_equal(vimo_sgemm(0, 0, 0, 3, 4, 1.0f, NULL, 4, NULL, 3, 0.0f, NULL, 3), VIMO_OK);
    /* A hand-worked 2x2: [1 2; 3 4] @ [5 6; 7 8]^T = [17 23; 39 53]. */
    const float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8};
    float y[4] = {0};
    assert_int_equal(vimo_sgemm(0, 1, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, y, 2), VIMO_OK);
    assert_float_equal(y[0], 17.0f, 0.0f);
    assert_float_equal(y[1], 23.0f, 0.0f);
    assert_float_equal(y[2], 39.0f, 0.0f);
    assert_float_equal(y[3], 53.0f, 0.0f);
}

static void test_errors(void **state)
{
    (void)state;
    float a[16] = {0}, b[16] = {0}, c[16] = {0};
    assert_int_equal(vimo_sgemm(0, 0, -1, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2), VIMO_ERR_INVALID);
    assert_non_null(strstr(vimo_last_error(), "negative size"));
    assert_int_equal(vimo_sgemm(0, 0, 2, 2, 3, 1.0f, a, 2, b, 2, 0.0f, c, 2), VIMO_ERR_INVALID); /* lda < k */
    assert_non_null(strstr(vimo_last_error(), "lda=2"));
    assert_int_equal(vimo_sgemm(0, 1, 2, 3, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2), VIMO_ERR_INVALID); /* ldc < n */
    assert_int_equal(vimo_sgemm(1, 0, 3, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2), VIMO_ERR_INVALID); /* A^T: lda < m */
    assert_int_equal(vimo_sgemm(0, 0, 2, 2, 2, 1.0f, NULL, 2, b, 2, 0.0f, c, 2), VIMO_ERR_INVALID);
    assert_int_equal(vimo_sgemm(0, 0, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, NULL, 2), VIMO_ERR_INVALID);
}

/* ---- determinism and thread ownership -------------------------------------- */

typedef struct {
    int ta, tb;
    int64_t m, n, k;
} shape;

static const shape k_det_shapes[] = {
    {0, 1, 1, 768, 768},  {0, 1, 3, 257, 129},  {0, 1, 32, 300, 200}, {0, 0, 1, 300, 200},
    {0, 1, 64, 768, 768}, {0, 0, 256, 300, 500}, {1, 0, 120, 96, 333}, {1, 1, 77, 65, 129},
};

static float *gemm_with_threads(const shape *s, int threads, const float *a, const float *b)
{
    float *c = calloc((size_t)(s->m * s->n), sizeof *c);
    assert_non_null(c);
    vimo_set_num_threads(threads);
    assert_int_equal(vimo_sgemm(s->ta, s->tb, s->m, s->n, s->k, 1.0f, a, s->ta ? s->m : s->k, b,
                                s->tb ? s->k : s->n, 0.0f, c, s->n),
                     VIMO_OK);
    return c;
}

static void test_thread_determinism(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof k_det_shapes / sizeof *k_det_shapes; i++) {
        const shape *s = &k_det_shapes[i];
        float *a = rand_buf(s->m * s->k), *b = rand_buf(s->n * s->k);
        float *c1 = gemm_with_threads(s, 1, a, b), *c2 = gemm_with_threads(s, 2, a, b);
        if (memcmp(c1, c2, (size_t)(s->m * s->n) * sizeof *c1) != 0)
            fail_msg("ta=%d tb=%d m=%lld n=%lld k=%lld: 1 and 2 threads differ", s->ta, s->tb, (long long)s->m,
                     (long long)s->n, (long long)s->k);
        free(a);
        free(b);
        free(c1);
        free(c2);
    }
    vimo_set_num_threads(2);
}

/* The small kernel computes each row of x @ W^T the same way whatever M is:
 * a batch of 5 rows equals 5 single-row calls, bit for bit. */
static void test_small_m_rows_independent(void **state)
{
    (void)state;
    const int64_t m = 5, n = 203, k = 301;
    float *x = rand_buf(m * k), *w = rand_buf(n * k);
    float *y = malloc((size_t)(m * n) * sizeof *y), *row = malloc((size_t)n * sizeof *row);
    assert_non_null(y);
    assert_non_null(row);
    assert_int_equal(vimo_sgemm(0, 1, m, n, k, 1.0f, x, k, w, k, 0.0f, y, n), VIMO_OK);
    for (int64_t i = 0; i < m; i++) {
        assert_int_equal(vimo_sgemm(0, 1, 1, n, k, 1.0f, x + i * k, k, w, k, 0.0f, row, n), VIMO_OK);
        assert_memory_equal(row, y + i * n, (size_t)n * sizeof *row);
    }
    free(x);
    free(w);
    free(y);
    free(row);
}

/* On the BLIS path too, a row of op(A) op(B) does not depend on the rows
 * around it: rows [off, off + len) of a big product equal the product of
 * those rows alone, bit for bit, for the transposes training uses. A
 * batch's rows are its examples' tokens, so otherwise a token's value
 * would depend on what else is in the batch (a resumed run or a cached
 * encoder token would differ in the last bit). BLIS's "sup" path for small
 * dims (haswell/zen* configurations) broke this; vimo turns it off. */
static void test_rows_independent_of_batch(void **state)
{
    (void)state;
    const int64_t shapes[][3] = {{200, 64, 64}, {200, 172, 64}, {200, 64, 172}, {200, 16, 64}, {200, 64, 16},
                                 {150, 512, 64}, {700, 512, 288}, {700, 300, 300}};
    const int64_t cuts[][2] = {{0, 33}, {7, 50}, {61, 64}, {1, 97}, {100, 47}, {0, 600}, {300, 400}};
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        const int64_t m = shapes[si][0], n = shapes[si][1], k = shapes[si][2];
        for (int tb = 0; tb <= 1; tb++) {
            float *a = rand_buf(m * k), *b = rand_buf(n * k);
            float *all = malloc((size_t)(m * n) * sizeof *all), *part = malloc((size_t)(m * n) * sizeof *part);
            assert_non_null(all);
            assert_non_null(part);
            int64_t ldb = tb ? k : n;
            assert_int_equal(vimo_sgemm(0, tb, m, n, k, 1.0f, a, k, b, ldb, 0.0f, all, n), VIMO_OK);
            for (size_t ci = 0; ci < sizeof cuts / sizeof *cuts; ci++) {
                int64_t off = cuts[ci][0], len = cuts[ci][1];
                if (len <= VIMO_GEMM_SMALL_M || off + len > m) continue; /* BLIS rows only */
                assert_int_equal(vimo_sgemm(0, tb, len, n, k, 1.0f, a + off * k, k, b, ldb, 0.0f, part, n), VIMO_OK);
                if (memcmp(part, all + off * n, (size_t)(len * n) * sizeof *part) != 0)
                    fail_msg("tb=%d m=%lld n=%lld k=%lld: rows %lld..%lld alone differ from the same rows in the "
                             "whole product (BLIS %s)", tb, (long long)m, (long long)n, (long long)k, (long long)off,
                             (long long)(off + len), vimo_gemm_arch());
            }
            free(a);
            free(b);
            free(all);
            free(part);
        }
    }
}

/* Called inside an OpenMP region, vimo_sgemm runs single-threaded (the
 * region owns the threads) and still gives the same bits as outside. */
static void test_inside_parallel_region(void **state)
{
    (void)state;
    vimo_set_num_threads(2);
    const shape s[2] = {{0, 1, 128, 96, 200}, {0, 1, 1, 500, 300}};
    float *a[2], *b[2], *ref[2], *got[2];
    for (int i = 0; i < 2; i++) {
        a[i] = rand_buf(s[i].m * s[i].k);
        b[i] = rand_buf(s[i].n * s[i].k);
        ref[i] = gemm_with_threads(&s[i], 2, a[i], b[i]);
        got[i] = calloc((size_t)(s[i].m * s[i].n), sizeof(float));
        assert_non_null(got[i]);
    }
    int st[2] = {-1, -1};
#pragma omp parallel for num_threads(2) schedule(static)
    for (int t = 0; t < 2; t++)
        st[t] = vimo_sgemm(0, 1, s[t].m, s[t].n, s[t].k, 1.0f, a[t], s[t].k, b[t], s[t].k, 0.0f, got[t], s[t].n);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(st[i], VIMO_OK);
        assert_memory_equal(got[i], ref[i], (size_t)(s[i].m * s[i].n) * sizeof(float));
        free(a[i]);
        free(b[i]);
        free(ref[i]);
        free(got[i]);
    }
}

/* ---- other modes ------------------------------------------------------------ */

static int run_override(const char *name)
{
    if (strcmp(name, "skx") == 0 && !__builtin_cpu_supports("avx512f")) return 77;
    if (!__builtin_cpu_supports("avx2")) return 77;
    if (vimo_init() != VIMO_OK) {
        print_error("vimo_init: %s\n", vimo_last_error());
        return 1;
    }
    if (strcmp(vimo_gemm_arch(), name) != 0 || strcmp(bli_arch_string(bli_arch_query_id()), name) != 0 ||
        strcmp(vimo_gemm_arch_source(), "VIMO_BLIS_ARCH") != 0) {
        print_error("asked for %s, BLIS runs %s\n", name, bli_arch_string(bli_arch_query_id()));
        return 1;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_all_transposes)};
    return cmocka_run_group_tests_name("override", tests, NULL, NULL);
}

static int run_invalid(void)
{
    vimo_status st = vimo_init();
    if (st != VIMO_ERR_INVALID || !strstr(vimo_last_error(), "init: ")) {
        print_error("vimo_init gave %d (%s), want VIMO_ERR_INVALID\n", st, vimo_last_error());
        return 1;
    }
    float a = 1, b = 1, c = 0;
    if (vimo_sgemm(0, 0, 1, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &c, 1) != VIMO_ERR_INVALID) {
        print_error("vimo_sgemm ran although vimo_init failed\n");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "override") == 0) return run_override(argv[2]);
    if (argc > 1 && strcmp(argv[1], "invalid") == 0) return run_invalid();
    if (vimo_init() != VIMO_OK) {
        print_error("vimo_init: %s\n", vimo_last_error());
        return 1;
    }
    vimo_set_num_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arch_choice),
        cmocka_unit_test(test_small_kernel_choice),
        cmocka_unit_test(test_threads_shared),
        cmocka_unit_test(test_all_transposes),
        cmocka_unit_test(test_small_m_paths),
        cmocka_unit_test(test_k_zero_and_edges),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_thread_determinism),
        cmocka_unit_test(test_small_m_rows_independent),
        cmocka_unit_test(test_rows_independent_of_batch),
        cmocka_unit_test(test_inside_parallel_region),
    };
    return cmocka_run_group_tests_name("kernels.sgemm", tests, NULL, NULL);
}
