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
 * kernels and vimo's own kernels run on; neither (or not x86): no peak.
 * The per-core figure is the mean over the threads the OpenMP runtime
 * actually started.
 * Not here: other dtypes (bf16 dot products), memory bandwidth.
 */
#include "bench.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define CHAINS_ITERS (1 << 21) /* x 12 FMAs: ~4-8 ms per try at 100-200 GF/s */
#define TRIES 5

static volatile float g_sink; /* keeps the chains from being optimised away */

/* Defines `static double fn(float *sink)`: seconds for CHAINS_ITERS x 12
 * FMAs on the vector type vec (lanes floats) of the ISA isa, whose
 * intrinsics are set1, fma, add and storeu; *sink gets a sum of the chains
 * (the caller publishes it, so they count as used). One definition for
 * AVX-512 and for AVX2 so the two measure exactly the same loop. */
#define DEFINE_CHAINS(fn, isa, vec, lanes, set1, fma, add, storeu)                               \
    __attribute__((target(isa))) static double fn(float *sink)                                   \
    {                                                                                            \
        vec a0 = set1(0.f), a1 = set1(1.f), a2 = set1(2.f), a3 = set1(3.f), a4 = set1(4.f);      \
        vec a5 = set1(5.f), a6 = set1(6.f), a7 = set1(7.f), a8 = set1(8.f), a9 = set1(9.f);      \
        vec a10 = set1(10.f), a11 = set1(11.f);                                                  \
        const vec b = set1(0.999999f), c = set1(1e-6f);                                          \
        double t0 = vimo_bench_now();                                                            \
        for (int i = 0; i < CHAINS_ITERS; i++) {                                                 \
            a0 = fma(a0, b, c), a1 = fma(a1, b, c), a2 = fma(a2, b, c), a3 = fma(a3, b, c);      \
            a4 = fma(a4, b, c), a5 = fma(a5, b, c), a6 = fma(a6, b, c), a7 = fma(a7, b, c);      \
            a8 = fma(a8, b, c), a9 = fma(a9, b, c), a10 = fma(a10, b, c), a11 = fma(a11, b, c);  \
        }                                                                                        \
        double t = vimo_bench_now() - t0;                                                        \
        vec s = add(add(add(a0, a1), add(a2, a3)), add(add(a4, a5), add(a6, a7)));               \
        s = add(s, add(add(a8, a9), add(a10, a11)));                                             \
        float v[lanes];                                                                          \
        storeu(v, s);                                                                            \
        *sink = v[0] + v[lanes - 1];                                                             \
        return t;                                                                                \
    }

DEFINE_CHAINS(chains_avx512, "avx512f", __m512, 16, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps,
              _mm512_storeu_ps)
DEFINE_CHAINS(chains_avx2, "avx2,fma", __m256, 8, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps,
              _mm256_storeu_ps)

double vimo_bench_fma_peak(int threads, const char **isa, int *ran_out)
{
    __builtin_cpu_init();
    if (ran_out) *ran_out = 0;
    int lanes = __builtin_cpu_supports("avx512f")                                    ? 16
                : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 8
                                                                                    : 0;
    if (isa) *isa = lanes == 16 ? "AVX-512" : lanes == 8 ? "AVX2" : "none";
    if (!lanes) return 0.0;
    if (threads < 1) threads = 1;
    double sum = 0.0;
    float sinks = 0.0f;
    int ran = 0; /* threads the runtime gave (OMP_THREAD_LIMIT, OMP_DYNAMIC) */
    /* All threads at once: the clock the cores hold when every one is busy,
     * as in a GEMM on `threads` threads. Each keeps its best try. */
#pragma omp parallel num_threads(threads) reduction(+ : sum, sinks, ran)
    {
        double best = 0.0;
        for (int k = 0; k < TRIES; k++) {
            float sink;
            double s = lanes == 16 ? chains_avx512(&sink) : chains_avx2(&sink);
            double gf = 2.0 * lanes * 12.0 * CHAINS_ITERS / s * 1e-9;
            if (gf > best) best = gf;
            sinks += sink;
        }
        sum += best;
        ran += 1;
    }
    g_sink = sinks;
    if (ran_out) *ran_out = ran;
    return sum / ran;
}

#else /* no x86 vector ISA to measure */

double vimo_bench_fma_peak(int threads, const char **isa, int *ran_out)
{
    (void)threads;
    if (isa) *isa = "none";
    if (ran_out) *ran_out = 0;
    return 0.0;
}

#endif
