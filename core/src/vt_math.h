/*
 * vt_math.h - small inline kernels shared by the norm, softmax, loss and
 * attention ops: fixed-lane reductions and a vectorisable exp.
 *
 * Why fixed lanes: a float sum's result depends on its order. These helpers
 * accumulate into VT_LANES partial sums in source order and fold them with a
 * fixed tree, so gcc vectorises them (SLP, any SIMD width) while the
 * arithmetic, and hence every bit of the result, is the same for any ISA,
 * alignment or thread count. ISO C mode (-std=c17) keeps FMA contraction off.
 *
 * Not here: anything that allocates or threads; callers own the OpenMP loop.
 * Private to libvimo.
 */
#ifndef VIMO_VT_MATH_H
#define VIMO_VT_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Below this many multiply-adds a parallel region costs more than it saves. */
#define VT_OMP_MIN 32768
/* Rows per partial sum when a parameter gradient sums over rows: a constant,
 * so the summation tree does not depend on the thread count. */
#define VT_ROW_CHUNK 32

#define VT_LANES 16

/* Hot kernels are compiled for AVX-512, AVX2 and baseline x86-64 and the
 * loader picks one per CPU (GCC function multiversioning). The build itself
 * targets plain x86-64 (SSE2: 4 floats per instruction). Results do not
 * depend on the clone: the code has no FP contraction (ISO C mode keeps
 * -ffp-contract=off) and every reduction has a fixed lane order. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(VIMO_NO_CLONES)
#define VT_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VT_CLONES
#endif

/* Bit casts and a branch-free select: gcc will not if-convert a float ?:
 * under the default -ftrapping-math, but vectorises integer masks. */
static inline uint32_t vt_fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static inline float vt_bitsf(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
/* c ? a : b */
static inline float vt_sel(int c, float a, float b)
{
    uint32_t m = 0u - (uint32_t)(c != 0);
    return vt_bitsf((vt_fbits(a) & m) | (vt_fbits(b) & ~m));
}

static inline float vt_fold(float *acc)
{
    for (int w = VT_LANES / 2; w > 0; w /= 2)
        for (int k = 0; k < w; k++) acc[k] += acc[k + w];
    return acc[0];
}

/* sum_i x[i] */
static inline float vt_sum(const float *x, int64_t n)
{
    float acc[VT_LANES] = {0};
    int64_t i = 0;
    for (; i + VT_LANES <= n; i += VT_LANES)
        for (int k = 0; k < VT_LANES; k++) acc[k] += x[i + k];
    for (int k = 0; i + k < n; k++) acc[k] += x[i + k];
    return vt_fold(acc);
}

/* sum_i a[i] * b[i] */
static inline float vt_dot(const float *a, const float *b, int64_t n)
{
    float acc[VT_LANES] = {0};
    int64_t i = 0;
    for (; i + VT_LANES <= n; i += VT_LANES)
        for (int k = 0; k < VT_LANES; k++) acc[k] += a[i + k] * b[i + k];
    for (int k = 0; i + k < n; k++) acc[k] += a[i + k] * b[i + k];
    return vt_fold(acc);
}

/* sum_i a[i] * b[i] * (c[i] - mu) (mu = 0 for a plain triple product) */
static inline float vt_dot3(const float *a, const float *b, const float *c, float mu, int64_t n)
{
    float acc[VT_LANES] = {0};
    int64_t i = 0;
    for (; i + VT_LANES <= n; i += VT_LANES)
        for (int k = 0; k < VT_LANES; k++) acc[k] += a[i + k] * b[i + k] * (c[i + k] - mu);
    for (int k = 0; i + k < n; k++) acc[k] += a[i + k] * b[i + k] * (c[i + k] - mu);
    return vt_fold(acc);
}

/* sum_i (x[i] - mu)^2 */
static inline float vt_sqdev(const float *x, float mu, int64_t n)
{
    float acc[VT_LANES] = {0};
    int64_t i = 0;
    for (; i + VT_LANES <= n; i += VT_LANES)
        for (int k = 0; k < VT_LANES; k++) acc[k] += (x[i + k] - mu) * (x[i + k] - mu);
    for (int k = 0; i + k < n; k++) acc[k] += (x[i + k] - mu) * (x[i + k] - mu);
    return vt_fold(acc);
}

/* sum_i (a[i] - b[i])^2 */
static inline float vt_sqdiff(const float *a, const float *b, int64_t n)
{
    float acc[VT_LANES] = {0};
    int64_t i = 0;
    for (; i + VT_LANES <= n; i += VT_LANES)
        for (int k = 0; k < VT_LANES; k++) acc[k] += (a[i + k] - b[i + k]) * (a[i + k] - b[i + k]);
    for (int k = 0; i + k < n; k++) acc[k] += (a[i + k] - b[i + k]) * (a[i + k] - b[i + k]);
    return vt_fold(acc);
}

/* g[j] += sum_c part[c * d + j] over nchunk partial rows, chunks in order:
 * the second half of a fixed-chunk column sum (see VT_ROW_CHUNK). */
static inline void vt_fold_chunks(float *g, const float *part, int64_t nchunk, int64_t d)
{
    for (int64_t c = 0; c < nchunk; c++)
        for (int64_t j = 0; j < d; j++) g[j] += part[c * d + j];
}

/* max_i x[i] (n >= 1); max is exact, so only NaN handling depends on order. */
static inline float vt_max(const float *x, int64_t n)
{
    float acc[VT_LANES];
    for (int k = 0; k < VT_LANES; k++) acc[k] = -INFINITY;
    int64_t i = 0;
    for (; i + VT_LANES <= n; i += VT_LANES)
        for (int k = 0; k < VT_LANES; k++) acc[k] = acc[k] > x[i + k] ? acc[k] : x[i + k]; /* maxps form */
    for (int k = 0; i + k < n; k++) acc[k] = acc[k] > x[i + k] ? acc[k] : x[i + k];
    for (int w = VT_LANES / 2; w > 0; w /= 2)
        for (int k = 0; k < w; k++) acc[k] = acc[k] > acc[k + w] ? acc[k] : acc[k + w];
    return acc[0];
}

/* exp(x) for x <= 88 (the softmax range x - max <= 0), within ~2 ulp of
 * expf; exactly 0 below -87 (no subnormals), NaN stays NaN, -inf gives 0.
 * Written branch-free so loops calling it vectorise (libm's expf does not
 * without -ffast-math). exp(x) = 2^n e^r with n = round(x / ln 2),
 * r = x - n ln 2 (Cody-Waite split of ln 2), e^r by its degree-7 Taylor
 * polynomial (|r| <= ln2/2: truncation error < 1e-8 relative). */
static inline float vt_expf(float x)
{
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    int under = x < -87.0f;
    float xc = vt_sel(under, -87.0f, x);
    xc = vt_sel(xc > 88.0f, 88.0f, xc);
    float t = xc * 1.44269504088896341f + magic;
    float n = t - magic;
    float r = xc - n * 0.693145751953125f; /* ln 2, high part (exact product) */
    r = r - n * 1.42860682030941723e-6f;   /* ln 2, low part */
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* 2^n: the integer n sits in t's low mantissa bits. */
    float y = p * vt_bitsf((vt_fbits(t) - 0x4B400000u + 127u) << 23);
    return vt_sel(under, 0.0f, y);
}

/* sum_i exp(x[i] - m): the softmax denominator without storing the exps. */
static inline float vt_sumexp(const float *x, float m, int64_t n)
{
    float acc[VT_LANES] = {0};
    int64_t i = 0;
    for (; i + VT_LANES <= n; i += VT_LANES)
        for (int k = 0; k < VT_LANES; k++) acc[k] += vt_expf(x[i + k] - m);
    for (int k = 0; i + k < n; k++) acc[k] += vt_expf(x[i + k] - m);
    return vt_fold(acc);
}

#endif
