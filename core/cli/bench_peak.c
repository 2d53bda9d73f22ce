/*
 * bench_peak.c - the fp32 FMA peak of this machine's cores, measured in the
 * benchmark's own run, so that a GEMM rate reads as a fraction of what the
 * cores deliver at that moment (the clock under load on this host) rather
 * than of a data-sheet figure.
 *
 * Each thread runs 12 independent chains of vector FMAs (acc = acc * b + c)
 * on registers only: 12 chains cover two FMA pipes times a 4-6 cycle
 * latency, and no load competes. FLOPs = 2 x lanes per FMA. The ISA is the
 * widest of AVX-512F and AVX2+FMA the CPU has, the one BLIS's skx / haswell
 * kernels and vimo's own kernels run on; neither: no peak.
 * Not here: other dtypes (bf16 dot products), memory bandwidth.
 */
#include <immintrin.h>

#include "bench.h"

#define CHAINS_ITERS (1 << 21) /* x 12 FMAs: ~4-8 ms per try at 100-200 GF/s */
#define TRIES 5

static volatile float g_sink; /* keeps the chains from being optimised away */

#define FMA12(fma)                                                                                \
    do {                                                                                          \
        a0 = fma(a0, b, c), a1 = fma(a1, b, c), a2 = fma(a2, b, c), a3 = fma(a3, b, c);           \
        a4 = fma(a4, b, c), a5 = fma(a5, b, c), a6 = fma(a6, b, c), a7 = fma(a7, b, c);           \
        a8 = fma(a8, b, c), a9 = fma(a9, b, c), a10 = fma(a10, b, c), a11 = fma(a11, b, c);       \
    } while (0)

/* Seconds for CHAINS_ITERS x 12 FMAs of 16 lanes. */
__attribute__((target("avx512f"))) static double chains_avx512(void)
{
    __m512 a0 = _mm512_set1_ps(0.f), a1 = _mm512_set1_ps(1.f), a2 = _mm512_set1_ps(2.f),
           a3 = _mm512_set1_ps(3.f), a4 = _mm512_set1_ps(4.f), a5 = _mm512_set1_ps(5.f),
           a6 = _mm512_set1_ps(6.f), a7 = _mm512_set1_ps(7.f), a8 = _mm512_set1_ps(8.f),
           a9 = _mm512_set1_ps(9.f), a10 = _mm512_set1_ps(10.f), a11 = _mm512_set1_ps(11.f);
    const __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
    double t0 = vimo_bench_now();
    for (int i = 0; i < CHAINS_ITERS; i++) FMA12(_mm512_fmadd_ps);
    double t = vimo_bench_now() - t0;
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    g_sink = _mm512_reduce_add_ps(s);
    return t;
}

/* Seconds for CHAINS_ITERS x 12 FMAs of 8 lanes. */
__attribute__((target("avx2,fma"))) static double chains_avx2(void)
{
    __m256 a0 = _mm256_set1_ps(0.f), a1 = _mm256_set1_ps(1.f), a2 = _mm256_set1_ps(2.f),
           a3 = _mm256_set1_ps(3.f), a4 = _mm256_set1_ps(4.f), a5 = _mm256_set1_ps(5.f),
           a6 = _mm256_set1_ps(6.f), a7 = _mm256_set1_ps(7.f), a8 = _mm256_set1_ps(8.f),
           a9 = _mm256_set1_ps(9.f), a10 = _mm256_set1_ps(10.f), a11 = _mm256_set1_ps(11.f);
    const __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
    double t0 = vimo_bench_now();
    for (int i = 0; i < CHAINS_ITERS; i++) FMA12(_mm256_fmadd_ps);
    double t = vimo_bench_now() - t0;
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float v[8];
    _mm256_storeu_ps(v, s);
    g_sink = v[0] + v[7];
    return t;
}

double vimo_bench_fma_peak(int threads, const char **isa)
{
    __builtin_cpu_init();
    int lanes = __builtin_cpu_supports("avx512f")                                    ? 16
                : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 8
                                                                                    : 0;
    if (isa) *isa = lanes == 16 ? "AVX-512" : lanes == 8 ? "AVX2" : "none";
    if (!lanes) return 0.0;
    if (threads < 1) threads = 1;
    double sum = 0.0;
    /* All threads at once: the clock the cores hold when every one is busy,
     * as in a GEMM on `threads` threads. Each keeps its best try. */
#pragma omp parallel num_threads(threads) reduction(+ : sum)
    {
        double best = 0.0;
        for (int k = 0; k < TRIES; k++) {
            double s = lanes == 16 ? chains_avx512() : chains_avx2();
            double gf = 2.0 * lanes * 12.0 * CHAINS_ITERS / s * 1e-9;
            if (gf > best) best = gf;
        }
        sum += best;
    }
    return sum / threads;
}
