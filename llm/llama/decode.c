/*
 * decode.c - the fp32 decode engine: one position per step with a KV cache,
 * bit-exact with llama2.c run.c forward() (see vimo_llama.h, "Exactness").
 *
 * Speed without changing a single rounding:
 *  - matvec: weights repacked into chunks of rows stored column-major
 *    (W[r][j] at data[j * w + r] inside a chunk of w <= 128 rows), so the
 *    kernel runs the j loop outermost and keeps w independent row sums in
 *    vector registers; each row still sums its products in order j = 0, 1, ...
 *    from 0.0f exactly as run.c's scalar loop. Chunks are split among threads
 *    by a fixed partition made at creation; a row is always computed the same
 *    way, so results do not depend on the thread count.
 *  - q/k/v, and gate/up, are fused into one packed matrix each.
 *  - keys are cached transposed per kv head, so attention scores vectorise
 *    across positions (each score is still q[0]k[0] + q[1]k[1] + ... in order);
 *    the softmax sums of several heads run interleaved (each still in t
 *    order), the divisions vectorise, and so do the value sums across heads.
 *  - expf runs 8 values at a time with glibc's own algorithm and rounding
 *    (expf.c), so softmax and SwiGLU round exactly as run.c's scalar calls.
 *  - one OpenMP parallel region per step with barriers between phases;
 *    activations that every thread needs (the residual stream, the norms) are
 *    recomputed per thread instead of shared, which saves barriers.
 * Kernels are compiled for AVX-512, AVX2 and baseline x86-64 (target_clones)
 * with FMA contraction off (-ffp-contract=off, set by CMake), because a fused
 * multiply-add rounds once where run.c rounds twice.
 * Q8 weights (VIMO_LLAMA_WEIGHTS_Q8): the same chunks hold int8 values and
 * one fp32 scale per row and group of 32 columns; the kernel sums a group's
 * products in float, then adds that sum times the scale. A quarter of the
 * bytes per step, for models whose decode streams more weights than the
 * caches hold; not exact (vimo_llama.h).
 * Not here: batched prefill through vimo_sgemm, autograd.
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode_int.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(VIMO_NO_CLONES)
#define KERNEL_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define KERNEL_CLONES
#endif

#define PANEL 16 /* rows: the unit of padding                                */

/* Rows summed together by one kernel call: 128 (8 AVX-512 accumulators) where
 * AVX-512 runs, else 64 (8 AVX2 accumulators; more would spill). */
static int chunk_rows(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 128;
#endif
    return 64;
}

typedef struct pchunk {
    int row0, w;  /* first output row, rows in the chunk (16, 32, 48, 64 or 128) */
    size_t off;   /* floats into data                                        */
} pchunk;

/* A matrix (rows, cols) packed by chunks; part p owns chunks part[p]..part[p+1].
 * Q8: q and qs instead of data; a chunk's int8 values sit at q + off like its
 * floats would, its scales (groups, w) at qs + off / cols * groups. */
typedef struct pmat {
    int rows_p, cols, groups;
    float *data;   /* (rows_p * cols), or NULL for Q8 */
    int8_t *q;     /* (rows_p * cols) Q8 values, or NULL */
    float *qs;     /* (rows_p * groups) Q8 scales */
    void (*mvq)(float *restrict, const int8_t *restrict, const float *restrict, const float *restrict, int, int);
    pchunk *chunk;
    int n_chunk;
    int *part;     /* (nt + 1) */
} pmat;

struct vimo_llama_decoder {
    const vimo_llama_model *m;
    int C, Q, K, H, Hp, V, L, hs, nh, nkv, kv_mul, max_pos, pos, nt;
    vimo_llama_weights weights;
    float eps, sqrt_hs;
    vimo_llama_rope rope;
    pmat *qkv, *o, *gu, *down; /* (L) each: [Wq; Wk; Wv] (Q+2K, C), Wo (C, Q), gate/up (2Hp, C), Wdown (C, H) */
    pmat cls;                  /* (V, C) */
    float *bqkv;               /* (L, Q+2K) or NULL */
    float *kT;                 /* (L, nkv, hs, max_pos) keys, transposed */
    float *vc;                 /* (L, max_pos, K) values */
    float *rcos, *rsin;        /* (max_pos, hs/2) */
    float *qkv_out;            /* (Q+2K, padded) */
    float *att_out;            /* (Q) */
    float *proj;               /* (C, padded) */
    float *gu_out;             /* (2Hp) gate/up rows, interleaved by 16 */
    float *hb;                 /* (Hp) silu(gate) * up */
    float *att;                /* (nh, max_pos) */
    float *hsum;               /* (nh) softmax denominators */
    float *logits;             /* (V, padded) */
    float *xs, *xbs;           /* (nt, Cs) per-thread residual stream and normed input */
    int Cs;
};

/* ---- kernels ------------------------------------------------------------------ */

#define MV_KERNEL(W)                                                                                             \
    KERNEL_CLONES static void mv##W(float *restrict y, const float *restrict a, const float *restrict x, int n) \
    {                                                                                                            \
        float acc[W];                                                                                            \
        for (int r = 0; r < W; r++) acc[r] = 0.0f;                                                               \
        for (int j = 0; j < n; j++) {                                                                            \
            const float xj = x[j];                                                                               \
            const float *restrict aj = a + (size_t)j * W;                                                        \
            for (int r = 0; r < W; r++) acc[r] += aj[r] * xj;                                                    \
        }                                                                                                        \
        for (int r = 0; r < W; r++) y[r] = acc[r];                                                               \
    }
MV_KERNEL(16)
MV_KERNEL(32)
MV_KERNEL(48)
MV_KERNEL(64)
MV_KERNEL(128)

#define QG VIMO_LLAMA_Q8_GROUP
/* Q8, portable: per group of QG columns the products are summed in float,
 * then the sum is scaled (s: the chunk's scales, (groups, W)). */
static void mvq_generic(float *restrict y, const int8_t *restrict a, const float *restrict s,
                        const float *restrict x, int n, int W)
{
    for (int r = 0; r < W; r++) y[r] = 0.0f;
    for (int j0 = 0; j0 < n; j0 += QG, s += W) {
        const int j1 = n - j0 < QG ? n : j0 + QG;
        for (int r = 0; r < W; r++) {
            float part = 0.0f;
            for (int j = j0; j < j1; j++) part += (float)a[(size_t)j * (size_t)W + (size_t)r] * x[j];
            y[r] += part * s[r];
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(VIMO_NO_CLONES)
#include <immintrin.h>
#define VIMO_Q8_AVX512 1
/* The same sums, 16 rows per AVX-512 register (W / 16 <= 8 of them): int8
 * widened with vpmovsxbd + vcvtdq2ps, multiply-add fused (Q8 is not exact
 * anyway). GCC 12 does not vectorise the int8 -> float widening by itself. */
__attribute__((target("avx512f"))) static void mvq_avx512(float *restrict y, const int8_t *restrict a,
                                                          const float *restrict s, const float *restrict x,
                                                          int n, int W)
{
    const int nv = W / 16;
    __m512 acc[8], part[8];
    for (int v = 0; v < nv; v++) acc[v] = _mm512_setzero_ps();
    for (int j0 = 0; j0 < n; j0 += QG, s += W) {
        const int j1 = n - j0 < QG ? n : j0 + QG;
        for (int v = 0; v < nv; v++) part[v] = _mm512_setzero_ps();
        for (int j = j0; j < j1; j++) {
            const __m512 xj = _mm512_set1_ps(x[j]);
            const int8_t *aj = a + (size_t)j * (size_t)W;
            for (int v = 0; v < nv; v++) {
                __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(aj + 16 * v));
                part[v] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b)), xj, part[v]);
            }
        }
        for (int v = 0; v < nv; v++) acc[v] = _mm512_fmadd_ps(part[v], _mm512_loadu_ps(s + 16 * v), acc[v]);
    }
    for (int v = 0; v < nv; v++) _mm512_storeu_ps(y + 16 * v, acc[v]);
}
#endif

typedef void (*mvq_fn)(float *restrict, const int8_t *restrict, const float *restrict, const float *restrict, int,
                       int);
/* VIMO_Q8_KERNEL=generic forces the portable kernel (tests, comparisons). */
static mvq_fn mvq_kernel(void)
{
    const char *force = getenv("VIMO_Q8_KERNEL");
    if (force && !strcmp(force, "generic")) return mvq_generic;
#ifdef VIMO_Q8_AVX512
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return mvq_avx512;
#endif
    return mvq_generic;
}

/* The Q8 scales (groups, w) of the chunk whose values start at off. */
static float *chunk_scales(const pmat *pm, size_t off) { return pm->qs + off / (size_t)pm->cols * (size_t)pm->groups; }

static void mvq_part(const pmat *pm, int p, const float *x, float *y)
{
    const mvq_fn k = pm->mvq;
    for (int c = pm->part[p]; c < pm->part[p + 1]; c++) {
        const pchunk *ch = &pm->chunk[c];
        k(y + ch->row0, pm->q + ch->off, chunk_scales(pm, ch->off), x, pm->cols, ch->w);
    }
}

/* y[rows of part p] = W x */
static void mv_part(const pmat *pm, int p, const float *x, float *y)
{
    if (pm->q) {
        mvq_part(pm, p, x, y);
        return;
    }
    for (int c = pm->part[p]; c < pm->part[p + 1]; c++) {
        const pchunk *ch = &pm->chunk[c];
        const float *a = pm->data + ch->off;
        float *yy = y + ch->row0;
        switch (ch->w) {
        case 16: mv16(yy, a, x, pm->cols); break;
        case 32: mv32(yy, a, x, pm->cols); break;
        case 48: mv48(yy, a, x, pm->cols); break;
        case 64: mv64(yy, a, x, pm->cols); break;
        default: mv128(yy, a, x, pm->cols); break;
        }
    }
}

static void part_rows(const pmat *pm, int p, int *r0, int *r1)
{
    *r0 = *r1 = 0;
    if (pm->part[p] == pm->part[p + 1]) return;
    *r0 = pm->chunk[pm->part[p]].row0;
    const pchunk *last = &pm->chunk[pm->part[p + 1] - 1];
    *r1 = last->row0 + last->w;
}

/* ---- packing ------------------------------------------------------------------ */

static float *falloc(size_t n)
{
    size_t bytes = ((n ? n : 1) * sizeof(float) + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

static void pmat_free(pmat *pm)
{
    if (!pm) return;
    free(pm->data);
    free(pm->q);
    free(pm->qs);
    free(pm->chunk);
    free(pm->part);
}

/* Q8 of one row: per group of QG columns, scale = max |w| / 127 and
 * q = roundf(w / scale) (all zero, scale 0, for a zero group); q[j] goes to
 * q[j * stride], the group's scale to qs[g * stride]. */
static void quantize_row(const float *w, int cols, int8_t *q, float *qs, size_t stride)
{
    for (int j0 = 0, g = 0; j0 < cols; j0 += QG, g++) {
        int j1 = cols - j0 < QG ? cols : j0 + QG;
        float amax = 0.0f;
        for (int j = j0; j < j1; j++) amax = fmaxf(amax, fabsf(w[j]));
        float scale = amax / 127.0f;
        qs[(size_t)g * stride] = scale;
        for (int j = j0; j < j1; j++) q[(size_t)j * stride] = scale > 0.0f ? (int8_t)roundf(w[j] / scale) : 0;
    }
}

/* Writes row k of the chunk at off (w rows) from src; NULL keeps the zeros. */
static void pack_row(pmat *pm, const float *src, size_t off, int w, int k)
{
    if (!src) return;
    if (pm->q) {
        quantize_row(src, pm->cols, pm->q + off + (size_t)k, chunk_scales(pm, off) + k, (size_t)w);
        return;
    }
    for (int j = 0; j < pm->cols; j++) pm->data[off + (size_t)j * (size_t)w + (size_t)k] = src[j];
}

/* Packs rows[0..rows_p) (NULL = a zero row) of length cols, split into nt
 * parts on multiples of `unit` rows; q8: as int8 + scales. */
static int pmat_pack(pmat *pm, const float *const *rows, int rows_p, int cols, int nt, int unit, int q8)
{
    int units = rows_p / unit;
    size_t n = (size_t)rows_p * (size_t)cols;
    pm->rows_p = rows_p;
    pm->cols = cols;
    pm->groups = (cols + QG - 1) / QG;
    if (q8) {
        pm->mvq = mvq_kernel();
        pm->q = calloc(n ? n : 1, 1);
        pm->qs = falloc((size_t)rows_p * (size_t)pm->groups);
    } else {
        pm->data = falloc(n);
    }
    pm->chunk = malloc(((size_t)rows_p / PANEL + (size_t)nt + 1) * sizeof *pm->chunk);
    pm->part = malloc(((size_t)nt + 1) * sizeof *pm->part);
    if (!(q8 ? pm->q && pm->qs : pm->data != NULL) || !pm->chunk || !pm->part) return 0;
    size_t off = 0;
    int chunk = chunk_rows();
    pm->n_chunk = 0;
    for (int p = 0; p < nt; p++) {
        int r0 = unit * (int)((long)units * p / nt), r1 = unit * (int)((long)units * (p + 1) / nt);
        pm->part[p] = pm->n_chunk;
        for (int r = r0, w; r < r1; r += w) { /* 128 or 64 rows, then 64, then the rest (16, 32, 48) */
            w = r1 - r >= chunk ? chunk : r1 - r >= 64 ? 64 : r1 - r;
            pm->chunk[pm->n_chunk++] = (pchunk){r, w, off};
            for (int k = 0; k < w; k++) pack_row(pm, rows[r + k], off, w, k);
            off += (size_t)w * (size_t)cols;
        }
    }
    pm->part[nt] = pm->n_chunk;
    return 1;
}

static int round_up(int n, int m) { return (n + m - 1) / m * m; }

/* Row pointers of a plain (rows, cols) matrix, padded to `rows_p`. */
static int pack_plain(pmat *pm, const float *w, int rows, int cols, int nt, int q8)
{
    int rows_p = round_up(rows, PANEL);
    const float **r = calloc((size_t)rows_p, sizeof *r);
    if (!r) return 0;
    for (int i = 0; i < rows; i++) r[i] = w + (size_t)i * (size_t)cols;
    int ok = pmat_pack(pm, r, rows_p, cols, nt, PANEL, q8);
    free(r);
    return ok;
}

/* [Wq; Wk; Wv] as one matrix, and the gate/up pair interleaved by panels
 * (gate rows 16g..16g+15 then up rows 16g..16g+15) so that a part holds both
 * factors of its SwiGLU outputs. */
static int pack_layer(vimo_llama_decoder *d, int l)
{
    const vimo_llama_layer *w = &d->m->layers[l];
    int C = d->C, nqkv = d->Q + 2 * d->K, rows_p = round_up(nqkv, PANEL);
    int ok = 1;
    const float **r = calloc((size_t)(rows_p > 2 * d->Hp ? rows_p : 2 * d->Hp), sizeof *r);
    if (!r) return 0;
    for (int i = 0; i < nqkv; i++)
        r[i] = i < d->Q ? w->wq + (size_t)i * C
             : i < d->Q + d->K ? w->wk + (size_t)(i - d->Q) * C
                               : w->wv + (size_t)(i - d->Q - d->K) * C;
    int q8 = d->weights == VIMO_LLAMA_WEIGHTS_Q8;
    ok = pmat_pack(&d->qkv[l], r, rows_p, C, d->nt, PANEL, q8);
    for (int g = 0; ok && g < d->Hp / PANEL; g++)
        for (int k = 0; k < PANEL; k++) {
            int h = g * PANEL + k;
            r[2 * g * PANEL + k] = h < d->H ? w->w_gate + (size_t)h * C : NULL;
            r[2 * g * PANEL + PANEL + k] = h < d->H ? w->w_up + (size_t)h * C : NULL;
        }
    ok = ok && pmat_pack(&d->gu[l], r, 2 * d->Hp, C, d->nt, 2 * PANEL, q8);
    ok = ok && pack_plain(&d->o[l], w->wo, C, d->Q, d->nt, q8) &&
         pack_plain(&d->down[l], w->w_down, C, d->H, d->nt, q8);
    if (ok && d->bqkv) {
        float *b = d->bqkv + (size_t)l * nqkv;
        memcpy(b, w->bq, (size_t)d->Q * sizeof *b);
        memcpy(b + d->Q, w->bk, (size_t)d->K * sizeof *b);
        memcpy(b + d->Q + d->K, w->bv, (size_t)d->K * sizeof *b);
    }
    free(r);
    return ok;
}

/* ---- the step's pieces (run.c forward(), same arithmetic) ----------------------- */

static void rmsnorm(float *o, const float *x, const float *w, int n, float eps)
{
    float ss = 0.0f;
    for (int j = 0; j < n; j++) ss += x[j] * x[j];
    ss /= (float)n;
    ss += eps;
    ss = 1.0f / sqrtf(ss);
    for (int j = 0; j < n; j++) o[j] = w[j] * (ss * x[j]);
}

void llama_softmax(float *x, int n)
{
    float max = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > max) max = x[i];
    for (int i = 0; i < n; i++) x[i] -= max;
    llama_expf_n(x, n);
    float sum = 0.0f;
    for (int i = 0; i < n; i++) sum += x[i];
    for (int i = 0; i < n; i++) x[i] /= sum;
}

static void rope(float *v, const float *c, const float *s, int hs, vimo_llama_rope mode)
{
    int half = hs / 2, stride = mode == VIMO_LLAMA_ROPE_INTERLEAVED ? 1 : half;
    for (int j = 0; j < half; j++) {
        int a = mode == VIMO_LLAMA_ROPE_INTERLEAVED ? 2 * j : j, b = a + stride;
        float v0 = v[a], v1 = v[b];
        v[a] = v0 * c[j] - v1 * s[j];
        v[b] = v0 * s[j] + v1 * c[j];
    }
}

/* att[t] = (q . k_t) / div for t < n, each dot product summed in i order from
 * 0.0f as run.c (keys transposed: k_t[i] = kT[i * stride + t]), 16 positions
 * at a time in one vector; returns max_t att[t]. The max is kept per lane:
 * max does not depend on the order (NaN aside, which run.c does not expect).
 * GCC vector types: the loop vectoriser scalarises this nest. */
typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));

KERNEL_CLONES static float scores(float *restrict att, const float *restrict q, const float *restrict kT, int hs,
                                  int n, int stride, float div)
{
    v16f m = (v16f){0} - INFINITY;
    int t = 0;
    for (; t + 16 <= n; t += 16) {
        v16f acc = {0}, k;
        for (int i = 0; i < hs; i++) {
            memcpy(&k, kT + (size_t)i * (size_t)stride + t, sizeof k);
            acc += q[i] * k;
        }
        acc /= div;
        memcpy(att + t, &acc, sizeof acc);
        v16i gt = acc > m;
        m = (v16f)(((v16i)acc & gt) | ((v16i)m & ~gt));
    }
    float r = m[0];
    for (int k = 1; k < 16; k++) r = m[k] > r ? m[k] : r;
    for (; t < n; t++) {
        float a = 0.0f;
        for (int i = 0; i < hs; i++) a += q[i] * kT[(size_t)i * (size_t)stride + t];
        att[t] = a / div;
        r = att[t] > r ? att[t] : r;
    }
    return r;
}

/* out[b] = sum over t of att[b][t] * v_b[t] for NB heads b (rows of att with
 * stride mp, already divided by their sums; v_b = vp[b] + t * K): each sum in
 * t order from 0.0f as run.c's xb[i] += a * v[i]. NB heads at once give NB
 * independent dependency chains. GCC vector types: the loop vectoriser packs
 * this badly. */
typedef float v8f __attribute__((vector_size(32)));

#define AV_KERNEL(HS, NB)                                                                                        \
    KERNEL_CLONES static void av_##HS##_##NB(float *restrict out, const float *restrict att, int mp,           \
                                             const float *const *vp, int K, int n)                             \
    {                                                                                                            \
        v8f acc[NB][HS / 8];                                                                                     \
        for (int b = 0; b < NB; b++)                                                                             \
            for (int k = 0; k < HS / 8; k++) acc[b][k] = (v8f){0};                                               \
        for (int t = 0; t < n; t++)                                                                              \
            for (int b = 0; b < NB; b++) {                                                                       \
                const float a = att[(size_t)b * mp + t];                                                         \
                const float *v = vp[b] + (size_t)t * K;                                                          \
                for (int k = 0; k < HS / 8; k++) {                                                               \
                    v8f vk;                                                                                      \
                    memcpy(&vk, v + 8 * k, sizeof vk);                                                           \
                    acc[b][k] += a * vk;                                                                         \
                }                                                                                                \
            }                                                                                                    \
        memcpy(out, acc, sizeof acc);                                                                            \
    }
AV_KERNEL(8, 4)
AV_KERNEL(8, 1)
AV_KERNEL(16, 4)
AV_KERNEL(16, 1)
AV_KERNEL(32, 2)
AV_KERNEL(32, 1)
AV_KERNEL(64, 1)
AV_KERNEL(128, 1)

/* Any head size, one head. */
static void av_generic(float *restrict out, const float *restrict att, const float *restrict v, int K, int n, int hs)
{
    memset(out, 0, (size_t)hs * sizeof *out);
    for (int t = 0; t < n; t++) {
        const float a = att[t];
        for (int i = 0; i < hs; i++) out[i] += a * v[(size_t)t * K + i];
    }
}

/* att_out[h] = sum_t att[h][t] v[t][kv(h)] for heads h0..h1. */
static void attend_values(vimo_llama_decoder *d, const float *vc, int h0, int h1, int n)
{
    int hs = d->hs, mp = d->max_pos, nb = hs <= 16 ? 4 : hs == 32 ? 2 : 1;
    const float *vp[4];
    for (int h = h0; h < h1;) {
        int k = h1 - h >= nb ? nb : 1;
        for (int b = 0; b < k; b++) vp[b] = vc + ((h + b) / d->kv_mul) * hs;
        float *out = d->att_out + h * hs;
        const float *att = d->att + (size_t)h * mp;
        int done = 1;
        switch (hs * 8 + k) {
        case 8 * 8 + 4: av_8_4(out, att, mp, vp, d->K, n); break;
        case 8 * 8 + 1: av_8_1(out, att, mp, vp, d->K, n); break;
        case 16 * 8 + 4: av_16_4(out, att, mp, vp, d->K, n); break;
        case 16 * 8 + 1: av_16_1(out, att, mp, vp, d->K, n); break;
        case 32 * 8 + 2: av_32_2(out, att, mp, vp, d->K, n); break;
        case 32 * 8 + 1: av_32_1(out, att, mp, vp, d->K, n); break;
        case 64 * 8 + 1: av_64_1(out, att, mp, vp, d->K, n); break;
        case 128 * 8 + 1: av_128_1(out, att, mp, vp, d->K, n); break;
        default: done = 0;
        }
        if (!done)
            for (int b = 0; b < k; b++) av_generic(out + b * hs, att + (size_t)b * mp, vp[b], d->K, n, hs);
        h += k;
    }
}

KERNEL_CLONES static void subtract(float *restrict x, int n, float v)
{
    for (int t = 0; t < n; t++) x[t] -= v;
}

KERNEL_CLONES static void divide(float *restrict x, int n, float v)
{
    for (int t = 0; t < n; t++) x[t] /= v;
}

/* sums[b] = x_b[0] + x_b[1] + ... in t order from 0.0f (run.c's softmax sum)
 * for the nb rows x_b = x + b * mp; rows interleaved, so that their
 * dependency chains overlap. */
static void ordered_sums(const float *x, int mp, int nb, int n, float *sums)
{
    int b = 0;
    for (; b + 4 <= nb; b += 4) {
        const float *r0 = x + (size_t)b * mp, *r1 = r0 + mp, *r2 = r1 + mp, *r3 = r2 + mp;
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
        for (int t = 0; t < n; t++) {
            s0 += r0[t];
            s1 += r1[t];
            s2 += r2[t];
            s3 += r3[t];
        }
        sums[b] = s0, sums[b + 1] = s1, sums[b + 2] = s2, sums[b + 3] = s3;
    }
    for (; b < nb; b++) {
        const float *r = x + (size_t)b * mp;
        float s = 0.0f;
        for (int t = 0; t < n; t++) s += r[t];
        sums[b] = s;
    }
}

/* Attention of the query heads of kv heads g0..g1 at position pos of layer l:
 * run.c's per-head computation in its arithmetic order; only the value sums
 * of several heads run interleaved (attend_values). */
static void attend(vimo_llama_decoder *d, int l, int g0, int g1, int pos)
{
    int hs = d->hs, half = hs / 2, mp = d->max_pos, n = pos + 1;
    int h0 = g0 * d->kv_mul, h1 = g1 * d->kv_mul;
    const float *c = d->rcos + (size_t)pos * half, *s = d->rsin + (size_t)pos * half;
    float *kT0 = d->kT + (size_t)l * d->nkv * hs * mp, *vc = d->vc + (size_t)l * mp * d->K, *att = d->att;
    if (h0 == h1) return;
    for (int g = g0; g < g1; g++) {
        float *k = d->qkv_out + d->Q + g * hs, *kT = kT0 + (size_t)g * hs * mp;
        rope(k, c, s, hs, d->rope);
        for (int i = 0; i < hs; i++) kT[(size_t)i * mp + pos] = k[i];
        memcpy(vc + (size_t)pos * d->K + g * hs, d->qkv_out + d->Q + d->K + g * hs, (size_t)hs * sizeof(float));
    }
    for (int h = h0; h < h1; h++) { /* run.c softmax: max, expf(x - max), sum, divide */
        float *q = d->qkv_out + h * hs, *x = att + (size_t)h * mp;
        rope(q, c, s, hs, d->rope);
        float mx = scores(x, q, kT0 + (size_t)(h / d->kv_mul) * hs * mp, hs, n, mp, d->sqrt_hs);
        subtract(x, n, mx);
        llama_expf_n(x, n);
    }
    ordered_sums(att + (size_t)h0 * mp, mp, h1 - h0, n, d->hsum + h0);
    for (int h = h0; h < h1; h++) divide(att + (size_t)h * mp, n, d->hsum[h]);
    attend_values(d, vc, h0, h1, n);
}

static void swiglu_part(vimo_llama_decoder *d, int l, int p)
{
    int r0, r1;
    part_rows(&d->gu[l], p, &r0, &r1);
    float e[PANEL];
    for (int r = r0; r < r1; r += 2 * PANEL) {
        for (int k = 0; k < PANEL; k++) e[k] = -d->gu_out[r + k];
        llama_expf_n(e, PANEL);
        for (int k = 0; k < PANEL; k++) { /* run.c: val *= 1 / (1 + expf(-val)); val *= up */
            float val = d->gu_out[r + k];
            val *= (1.0f / (1.0f + e[k]));
            val *= d->gu_out[r + PANEL + k];
            d->hb[r / 2 + k] = val;
        }
    }
}

static void add_bias_part(vimo_llama_decoder *d, int l, int p)
{
    int r0, r1, n = d->Q + 2 * d->K;
    part_rows(&d->qkv[l], p, &r0, &r1);
    const float *b = d->bqkv + (size_t)l * n;
    for (int r = r0; r < r1 && r < n; r++) d->qkv_out[r] += b[r];
}

/* The whole step as run by thread tid of nthr; parts p = tid, tid + nthr, ... */
static void forward_body(vimo_llama_decoder *d, const float *x_in, int tid, int nthr)
{
    const vimo_llama_model *m = d->m;
    float *x = d->xs + (size_t)tid * d->Cs, *xb = d->xbs + (size_t)tid * d->Cs;
    int C = d->C, pos = d->pos;
    memcpy(x, x_in, (size_t)C * sizeof *x);
    for (int l = 0; l < d->L; l++) {
        const vimo_llama_layer *w = &m->layers[l];
        rmsnorm(xb, x, w->attn_norm, C, d->eps);
        for (int p = tid; p < d->nt; p += nthr) {
            mv_part(&d->qkv[l], p, xb, d->qkv_out);
            if (d->bqkv) add_bias_part(d, l, p);
        }
#pragma omp barrier
        for (int p = tid; p < d->nt; p += nthr) attend(d, l, d->nkv * p / d->nt, d->nkv * (p + 1) / d->nt, pos);
#pragma omp barrier
        for (int p = tid; p < d->nt; p += nthr) mv_part(&d->o[l], p, d->att_out, d->proj);
#pragma omp barrier
        for (int i = 0; i < C; i++) x[i] += d->proj[i];
        rmsnorm(xb, x, w->ffn_norm, C, d->eps);
        for (int p = tid; p < d->nt; p += nthr) {
            mv_part(&d->gu[l], p, xb, d->gu_out);
            swiglu_part(d, l, p);
        }
#pragma omp barrier
        for (int p = tid; p < d->nt; p += nthr) mv_part(&d->down[l], p, d->hb, d->proj);
#pragma omp barrier
        for (int i = 0; i < C; i++) x[i] += d->proj[i];
    }
    rmsnorm(xb, x, m->final_norm, C, d->eps);
    for (int p = tid; p < d->nt; p += nthr) mv_part(&d->cls, p, xb, d->logits);
}

static void forward(vimo_llama_decoder *d, const float *x_in)
{
    if (d->nt == 1) {
        forward_body(d, x_in, 0, 1);
    } else {
#pragma omp parallel num_threads(d->nt)
        forward_body(d, x_in, omp_get_thread_num(), omp_get_num_threads());
    }
    d->pos++;
}

/* ---- public ---------------------------------------------------------------------- */

static int alloc_all(vimo_llama_decoder *d)
{
    size_t L = (size_t)d->L, mp = (size_t)d->max_pos, half = (size_t)d->hs / 2;
    d->qkv = calloc(L, sizeof *d->qkv);
    d->o = calloc(L, sizeof *d->o);
    d->gu = calloc(L, sizeof *d->gu);
    d->down = calloc(L, sizeof *d->down);
    d->kT = falloc(L * mp * (size_t)d->K);
    d->vc = falloc(L * mp * (size_t)d->K);
    d->rcos = falloc(mp * half);
    d->rsin = falloc(mp * half);
    d->qkv_out = falloc((size_t)round_up(d->Q + 2 * d->K, PANEL));
    d->att_out = falloc((size_t)d->Q);
    d->proj = falloc((size_t)round_up(d->C, PANEL));
    d->gu_out = falloc(2 * (size_t)d->Hp);
    d->hb = falloc((size_t)d->Hp);
    d->att = falloc((size_t)d->nh * mp);
    d->hsum = falloc((size_t)d->nh);
    d->logits = falloc((size_t)round_up(d->V, PANEL));
    d->xs = falloc((size_t)d->nt * (size_t)d->Cs);
    d->xbs = falloc((size_t)d->nt * (size_t)d->Cs);
    if (d->m->cfg.qkv_bias) d->bqkv = falloc(L * (size_t)(d->Q + 2 * d->K));
    return d->qkv && d->o && d->gu && d->down && d->kT && d->vc && d->rcos && d->rsin && d->qkv_out && d->att_out &&
           d->proj && d->gu_out && d->hb && d->att && d->hsum && d->logits && d->xs && d->xbs &&
           (!d->m->cfg.qkv_bias || d->bqkv);
}

/* run.c: freq = 1 / theta^(2j / head_size); val = pos * freq; cos/sin in float. */
static void rope_tables(vimo_llama_decoder *d)
{
    int half = d->hs / 2;
    for (int j = 0; j < half; j++) {
        float freq = 1.0f / powf(d->m->cfg.rope_theta, (float)(2 * j) / (float)d->hs);
        for (int p = 0; p < d->max_pos; p++) {
            float val = (float)p * freq;
            d->rcos[(size_t)p * half + j] = cosf(val);
            d->rsin[(size_t)p * half + j] = sinf(val);
        }
    }
}

/* Default thread count: OpenMP's, except for models whose step is so small
 * (under AUTO_MIN_MACS multiply-adds, e.g. stories260K's 0.26M) that the
 * barriers of a threaded step cost about what they save on an idle machine,
 * and far more when the cores are shared (a waiting thread spins through the
 * time slice of the one it waits for). */
#define AUTO_MIN_MACS 4e6
static int auto_threads(const vimo_llama_config *c)
{
    double C = c->dim, Q = (double)c->n_heads * c->head_dim, K = (double)c->n_kv_heads * c->head_dim;
    double macs = c->n_layers * (C * (Q + 2 * K) + Q * C + 3 * C * c->hidden_dim) + (double)c->vocab_size * C;
    return macs < AUTO_MIN_MACS ? 1 : omp_get_max_threads();
}

vimo_status vimo_llama_decoder_new(const vimo_llama_model *m, int max_pos, int n_threads, vimo_llama_decoder **out)
{
    vimo_llama_decoder_opts o = {.max_pos = max_pos, .n_threads = n_threads, .weights = VIMO_LLAMA_WEIGHTS_F32};
    return vimo_llama_decoder_new_opts(m, &o, out);
}

vimo_llama_weights vimo_llama_decoder_weights(const vimo_llama_decoder *d)
{
    return d ? d->weights : VIMO_LLAMA_WEIGHTS_F32;
}

vimo_status vimo_llama_decoder_new_opts(const vimo_llama_model *m, const vimo_llama_decoder_opts *o,
                                        vimo_llama_decoder **out)
{
    if (!m || !out) return vimo_error(VIMO_ERR_INVALID, "llama decoder: NULL argument");
    *out = NULL;
    vimo_llama_decoder_opts def = {0};
    if (!o) o = &def;
    if (o->weights != VIMO_LLAMA_WEIGHTS_F32 && o->weights != VIMO_LLAMA_WEIGHTS_Q8)
        return vimo_error(VIMO_ERR_INVALID, "llama decoder: unknown weight storage %d", (int)o->weights);
    int max_pos = o->max_pos, n_threads = o->n_threads;
    const vimo_llama_config *c = &m->cfg;
    llama_expf_init();
    vimo_llama_decoder *d = calloc(1, sizeof *d);
    if (!d) return vimo_error(VIMO_ERR_NOMEM, "llama decoder: out of memory");
    d->m = m;
    d->weights = o->weights;
    d->C = c->dim;
    d->hs = c->head_dim;
    d->nh = c->n_heads;
    d->nkv = c->n_kv_heads;
    d->kv_mul = c->n_heads / c->n_kv_heads;
    d->Q = c->n_heads * c->head_dim;
    d->K = c->n_kv_heads * c->head_dim;
    d->H = c->hidden_dim;
    d->Hp = round_up(c->hidden_dim, PANEL);
    d->V = c->vocab_size;
    d->L = c->n_layers;
    d->Cs = round_up(c->dim, PANEL);
    d->eps = c->norm_eps;
    d->rope = c->rope;
    d->sqrt_hs = sqrtf((float)c->head_dim);
    d->max_pos = max_pos <= 0 || max_pos > c->seq_len ? c->seq_len : max_pos;
    d->nt = n_threads > 0 ? n_threads : auto_threads(c);
    if (d->nt > 256) d->nt = 256;
    int ok = alloc_all(d);
    for (int l = 0; ok && l < d->L; l++) ok = pack_layer(d, l);
    ok = ok && pack_plain(&d->cls, m->lm_head, d->V, d->C, d->nt, d->weights == VIMO_LLAMA_WEIGHTS_Q8);
    if (!ok) {
        vimo_llama_decoder_free(d);
        return vimo_error(VIMO_ERR_NOMEM, "llama decoder: out of memory (max_pos %d)", max_pos);
    }
    rope_tables(d);
    *out = d;
    return VIMO_OK;
}

void vimo_llama_decoder_free(vimo_llama_decoder *d)
{
    if (!d) return;
    for (int l = 0; l < d->L; l++) {
        if (d->qkv) pmat_free(&d->qkv[l]);
        if (d->o) pmat_free(&d->o[l]);
        if (d->gu) pmat_free(&d->gu[l]);
        if (d->down) pmat_free(&d->down[l]);
    }
    pmat_free(&d->cls);
    free(d->qkv);
    free(d->o);
    free(d->gu);
    free(d->down);
    float *bufs[] = {d->bqkv, d->kT, d->vc, d->rcos, d->rsin, d->qkv_out, d->att_out, d->proj,
                     d->gu_out, d->hb, d->att, d->hsum, d->logits, d->xs, d->xbs};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(d);
}

void vimo_llama_decoder_reset(vimo_llama_decoder *d)
{
    if (d) d->pos = 0;
}

int vimo_llama_decoder_pos(const vimo_llama_decoder *d) { return d ? d->pos : 0; }
int vimo_llama_decoder_max_pos(const vimo_llama_decoder *d) { return d ? d->max_pos : 0; }
float *vimo_llama_decoder_logits(vimo_llama_decoder *d) { return d ? d->logits : NULL; }
int llama_decoder_threads(const vimo_llama_decoder *d) { return d->nt; }
const vimo_llama_model *llama_decoder_model(const vimo_llama_decoder *d) { return d->m; }

static vimo_status check_room(const vimo_llama_decoder *d, int n)
{
    if (d->pos + n > d->max_pos)
        return vimo_error(VIMO_ERR_STATE, "llama decoder: %d more positions do not fit (at %d of %d)", n, d->pos,
                          d->max_pos);
    return VIMO_OK;
}

vimo_status vimo_llama_decoder_step(vimo_llama_decoder *d, int32_t token)
{
    if (!d) return vimo_error(VIMO_ERR_INVALID, "llama decoder: NULL decoder");
    if (token < 0 || token >= d->V)
        return vimo_error(VIMO_ERR_INVALID, "llama decoder: token %d outside [0, %d)", token, d->V);
    vimo_status st = check_room(d, 1);
    if (st) return st;
    forward(d, d->m->embed + (size_t)token * (size_t)d->C);
    return VIMO_OK;
}

vimo_status vimo_llama_decoder_step_embed(vimo_llama_decoder *d, const float *x)
{
    return vimo_llama_decoder_prefill_embeds(d, x, 1);
}

vimo_status vimo_llama_decoder_prefill_embeds(vimo_llama_decoder *d, const float *x, int n)
{
    if (!d || (!x && n > 0) || n < 0) return vimo_error(VIMO_ERR_INVALID, "llama decoder: NULL embeddings or n < 0");
    vimo_status st = check_room(d, n);
    if (st) return st;
    for (int i = 0; i < n; i++) forward(d, x + (size_t)i * (size_t)d->C);
    return VIMO_OK;
}
