/*
 * test_expf.c - the decode engine's array expf (llm/llama/expf.c) against
 * libm's expf, the function run.c calls and the engine promises to match bit
 * for bit:
 *  - every 4099th float bit pattern (1 million values: normals, subnormals,
 *    zeros, infinities, NaNs, both signs), the kernel against libm, in blocks
 *    of every length 1..19 so the vector body and the scalar tail both run;
 *  - the scalar statement of the algorithm (llama_expf_fused) against libm
 *    on the same main-path values, where glibc runs its FMA build;
 *  - with VIMO_EXPF_EXHAUSTIVE=1 (the `slow` test llm.expf_exhaustive): all
 *    2^32 patterns through the kernel, about 20 s.
 * NaNs compare as "both NaN" (libm may return either quiet NaN payload).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "decode_int.h"

static float from_bits(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static int same(float a, float b) { return (isnan(a) && isnan(b)) || !memcmp(&a, &b, sizeof a); }

/* Runs the kernel over the patterns start, start + step, ... (count of them)
 * in blocks of 1..19 values; returns the number of mismatches against libm. */
static uint64_t check_kernel(uint64_t start, uint64_t step, uint64_t count)
{
    float x[19], y[19];
    uint64_t bad = 0, i = 0;
    for (int len = 1; i < count; len = len % 19 + 1) {
        int n = 0;
        for (; n < len && i < count; n++, i++) x[n] = y[n] = from_bits((uint32_t)(start + i * step));
        llama_expf_n(y, n);
        for (int k = 0; k < n; k++)
            if (!same(y[k], expf(x[k])) && bad++ < 5)
                fprintf(stderr, "expf(%a): kernel %a, libm %a\n", (double)x[k], (double)y[k], (double)expf(x[k]));
    }
    return bad;
}

/* Where the vector kernel must be in use: glibc (its FMA build of expf runs
 * on CPUs with FMA and AVX2) and AVX-512. Its start-up check falling back to
 * libm here means the kernel is wrong. */
static int expect_vector(void)
{
#if defined(__GLIBC__) && defined(__x86_64__) && defined(__GNUC__)
    const char *force = getenv("VIMO_EXPF");
    __builtin_cpu_init();
    return !(force && !strcmp(force, "libm")) && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("fma") && __builtin_cpu_supports("avx2");
#else
    return 0;
#endif
}

static void test_kernel_sampled(void **state)
{
    (void)state;
    llama_expf_init();
    printf("kernel: %s\n", llama_expf_vectorised() ? "AVX-512, glibc's algorithm" : "libm (no proven vector path)");
    assert_int_equal(llama_expf_vectorised(), expect_vector());
    assert_int_equal(check_kernel(0, 4099, (1ull << 32) / 4099), 0);
    static const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 88.0f, 88.72283f, 88.72284f, -87.33654f,
                                    -103.97208f, -103.97209f, -104.0f, 1e-45f, -1e-45f, 0x1.04845ep+5f,
                                    -0x1.f8cbb2p+5f};
    enum { NS = sizeof special / sizeof special[0] };
    float y[NS];
    memcpy(y, special, sizeof y);
    llama_expf_n(y, NS);
    for (int k = 0; k < NS; k++) assert_true(same(y[k], expf(special[k])));
}

/* The statement of the algorithm equals libm where glibc uses its FMA build
 * (what the kernel's choice assumes); elsewhere there is nothing to compare. */
static void test_fused_statement(void **state)
{
    (void)state;
    if (!expect_vector()) {
        printf("libm is not glibc's FMA build here: skipped\n");
        return;
    }
    uint64_t bad = 0, n = 0;
    for (uint64_t u = 0; u < (1ull << 32); u += 4099) {
        float x = from_bits((uint32_t)u);
        if (!llama_expf_main_path(x)) continue;
        n++;
        if (!same(llama_expf_fused(x), expf(x)) && bad++ < 5)
            fprintf(stderr, "fused(%a) = %a, libm %a\n", (double)x, (double)llama_expf_fused(x), (double)expf(x));
    }
    printf("%llu main-path values\n", (unsigned long long)n);
    assert_true(n > 500000);
    assert_int_equal(bad, 0);
}

static void test_kernel_exhaustive(void **state)
{
    (void)state;
    const char *e = getenv("VIMO_EXPF_EXHAUSTIVE");
    if (!e || strcmp(e, "1")) {
        printf("VIMO_EXPF_EXHAUSTIVE not set: skipped\n");
        return;
    }
    llama_expf_init();
    assert_int_equal(check_kernel(0, 1, 1ull << 32), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernel_sampled),
        cmocka_unit_test(test_fused_statement),
        cmocka_unit_test(test_kernel_exhaustive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
