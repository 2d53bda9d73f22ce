/*
 * expf.c - expf over arrays, bit-identical to glibc's expf, 8 values at a time.
 *
 * Why: the decode engine promises logits bit-identical to llama2.c run.c,
 * which calls libm's expf once per attention score and per SwiGLU unit. On
 * stories260K those scalar calls were a quarter of a decode step.
 *
 * How it stays exact: glibc (2.27 on) computes expf(x) for |x| < 88 in double
 * precision with a fixed sequence of IEEE operations (sysdeps/ieee754/flt-32/
 * e_expf.c, from Arm's optimized-routines): x * 32/ln2 = k + r, a 32-entry
 * table of 2^(j/32), a degree-3 polynomial in r, one rounding to float at the
 * end. The same operations on the same values round the same way, so doing
 * them for 8 lanes in AVX-512 registers gives the same floats. On x86-64
 * glibc picks its FMA build (__expf_fma) when the CPU has FMA and AVX2, which
 * fuses four of the multiply-adds; this file fuses exactly those four, so it
 * is used only where glibc takes that build (every CPU with AVX-512 does).
 * Lanes outside glibc's main path (|x| >= 88, inf, NaN) go to libm itself.
 * A start-up check compares both on probes that tell the fused build from
 * the unfused one (and from other libms); any difference, or
 * VIMO_EXPF=libm, keeps libm for everything. tests/llm/test_expf.c compares
 * every float of the main path with libm.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode_int.h"

/* The constants of the algorithm. InvLn2N = 32 / ln 2; SHIFT = 1.5 * 2^52
 * rounds to an integer by addition; C = the polynomial for 2^(r/32) - 1,
 * scaled by 32^-3, 32^-2, 32^-1; POW2[j] = 2^(j/32) rounded to double
 * (computed to 60 digits and checked against glibc's table). */
#define INV_LN2_N 0x1.71547652b82fep+5
#define SHIFT 0x1.8p+52
#define C0 0x1.c6af84b912394p-20
#define C1 0x1.ebfce50fac4f3p-13
#define C2 0x1.62e42ff0c52d6p-6
static const double POW2[32] = {
    0x1.0000000000000p+0, 0x1.059b0d3158574p+0, 0x1.0b5586cf9890fp+0, 0x1.11301d0125b51p+0,
    0x1.172b83c7d517bp+0, 0x1.1d4873168b9aap+0, 0x1.2387a6e756238p+0, 0x1.29e9df51fdee1p+0,
    0x1.306fe0a31b715p+0, 0x1.371a7373aa9cbp+0, 0x1.3dea64c123422p+0, 0x1.44e086061892dp+0,
    0x1.4bfdad5362a27p+0, 0x1.5342b569d4f82p+0, 0x1.5ab07dd485429p+0, 0x1.6247eb03a5585p+0,
    0x1.6a09e667f3bcdp+0, 0x1.71f75e8ec5f74p+0, 0x1.7a11473eb0187p+0, 0x1.82589994cce13p+0,
    0x1.8ace5422aa0dbp+0, 0x1.93737b0cdc5e5p+0, 0x1.9c49182a3f090p+0, 0x1.a5503b23e255dp+0,
    0x1.ae89f995ad3adp+0, 0x1.b7f76f2fb5e47p+0, 0x1.c199bdd85529cp+0, 0x1.cb720dcef9069p+0,
    0x1.d5818dcfba487p+0, 0x1.dfc97337b9b5fp+0, 0x1.ea4afa2a490dap+0, 0x1.f50765b6e4540p+0,
};

/* glibc's main path: the top 12 bits of |x| below those of 88.0f. */
int llama_expf_main_path(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return ((u >> 20) & 0x7ff) < 0x42b;
}

static void expf_libm(float *x, int n)
{
    for (int i = 0; i < n; i++) x[i] = expf(x[i]);
}

/* One value by the algorithm with glibc's FMA-build fusions, in scalar C:
 * the operation order the vector kernel follows, written out (tests compare
 * it with libm). Valid on the main path only. */
float llama_expf_fused(float x)
{
    double xd = (double)x;
    double kd = fma(INV_LN2_N, xd, SHIFT);
    uint64_t ki, t;
    memcpy(&ki, &kd, sizeof ki);
    kd -= SHIFT;
    double r = fma(INV_LN2_N, xd, -kd); /* k + r = x * 32/ln2, |r| <= 1/2 */
    memcpy(&t, &POW2[ki & 31], sizeof t);
    t += (ki >> 5) << 52; /* 2^(k/32) = 2^(k >> 5) * 2^((k & 31)/32), wrapping as glibc */
    double s, y;
    memcpy(&s, &t, sizeof s);
    double z = fma(C0, r, C1), r2 = r * r;
    y = fma(C2, r, 1.0);
    y = fma(z, r2, y);
    return (float)(y * s);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(VIMO_NO_CLONES)
#include <immintrin.h>
#define HAVE_AVX512_EXPF 1
__attribute__((target("avx512f"))) static void expf_avx512(float *x, int n)
{
    const __m512d inv = _mm512_set1_pd(INV_LN2_N), shift = _mm512_set1_pd(SHIFT);
    const __m512d c0 = _mm512_set1_pd(C0), c1 = _mm512_set1_pd(C1), c2 = _mm512_set1_pd(C2);
    const __m512d one = _mm512_set1_pd(1.0);
    const __m512i t0 = _mm512_loadu_si512(POW2), t1 = _mm512_loadu_si512(POW2 + 8);
    const __m512i t2 = _mm512_loadu_si512(POW2 + 16), t3 = _mm512_loadu_si512(POW2 + 24);
    const __m256i top = _mm256_set1_epi32(0x7ff), lim = _mm256_set1_epi32(0x42a);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 xf = _mm256_loadu_ps(x + i);
        __m256i a = _mm256_and_si256(_mm256_srli_epi32(_mm256_castps_si256(xf), 20), top);
        if (_mm256_movemask_epi8(_mm256_cmpgt_epi32(a, lim))) {
            expf_libm(x + i, 8);
            continue;
        }
        __m512d xd = _mm512_cvtps_pd(xf);
        __m512d kd = _mm512_fmadd_pd(inv, xd, shift);
        __m512i ki = _mm512_castpd_si512(kd);
        kd = _mm512_sub_pd(kd, shift);
        __m512d r = _mm512_fmsub_pd(inv, xd, kd);
        __m512i j = _mm512_and_si512(ki, _mm512_set1_epi64(31));
        __m512i lo = _mm512_permutex2var_epi64(t0, j, t1), hi = _mm512_permutex2var_epi64(t2, j, t3);
        __m512i t = _mm512_mask_blend_epi64(_mm512_test_epi64_mask(j, _mm512_set1_epi64(16)), lo, hi);
        t = _mm512_add_epi64(t, _mm512_slli_epi64(_mm512_srli_epi64(ki, 5), 52));
        __m512d z = _mm512_fmadd_pd(c0, r, c1), r2 = _mm512_mul_pd(r, r);
        __m512d y = _mm512_fmadd_pd(c2, r, one);
        y = _mm512_mul_pd(_mm512_fmadd_pd(z, r2, y), _mm512_castsi512_pd(t));
        _mm256_storeu_ps(x + i, _mm512_cvtpd_ps(y));
    }
    expf_libm(x + i, n - i);
}

/* The only two floats on which glibc's FMA build and its unfused build of
 * expf round differently (found by running both over all 2.2e9 floats of
 * the main path), then ordinary values and the edges of the main path. */
static const float PROBES[] = {
    0x1.04845ep+5f, -0x1.f8cbb2p+5f,
    0.0f, -0.0f, 1.0f, -1.0f, 0.5f, -0x1.62e43p+0f, -10.0f, -87.9f, 87.9f, 1e-30f, -1e-7f,
};
#endif

static void (*g_kernel)(float *, int) = expf_libm;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void choose_kernel(void)
{
    const char *force = getenv("VIMO_EXPF");
    if (force && !strcmp(force, "libm")) return;
#ifdef HAVE_AVX512_EXPF
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("fma") || !__builtin_cpu_supports("avx2"))
        return;
    enum { NP = sizeof PROBES / sizeof PROBES[0] };
    float a[NP + 8], b[NP + 8];
    for (int i = 0; i < NP + 8; i++) a[i] = i < NP ? PROBES[i] : -0.37f * (float)i;
    memcpy(b, a, sizeof a);
    expf_avx512(a, NP + 8);
    expf_libm(b, NP + 8);
    if (!memcmp(a, b, sizeof a)) g_kernel = expf_avx512;
#endif
}

/* Chooses the kernel once; until then llama_expf_n uses libm. */
void llama_expf_init(void) { pthread_once(&g_once, choose_kernel); }

int llama_expf_vectorised(void) { return g_kernel != expf_libm; }

void llama_expf_n(float *x, int n) { g_kernel(x, n); }
