/*
 * ops_attention.c - fused multi-head scaled dot-product attention (Vaswani
 * et al. 2017) with grouped-query heads (Ainslie et al. 2023), a causal mask
 * with the KV-cache offset and an optional key-padding mask.
 *
 * Forward: FlashAttention's online softmax (Milakov & Gimelshein 2018; Dao
 * et al. 2022): each (batch, head, 64-query block) walks the keys in blocks
 * of 64, keeping a running max m, denominator l and output accumulator, so
 * only a 64 x 64 score tile ever exists. It saves the per-row log-sum-exp
 * lse = m + log l, (B, Hq, Tq).
 * Backward: FlashAttention-2 (Dao 2023, Algorithm 2): D = rowsum(dO * O);
 * per key block, P = exp(S - lse) is recomputed tile by tile,
 * dV += P^T dO, dP = dO V^T, dS = P (dP - D), dQ += dS K, dK += dS^T Q
 * (times the scale).
 *
 * Threads: forward items are (batch, head, query block) and backward items
 * (batch, query head); each item writes only its own outputs (dK/dV of a
 * shared GQA head go to per-query-head scratch, summed afterwards over the
 * group in head order), so results are bit-identical for any thread count.
 * Inner loops run over 64 keys or over Dh, contiguous, and vectorise; the
 * kernels are compiled per ISA (VT_CLONES, vt_math.h).
 *
 * Small head dims (Dh <= 16; 8 in stories260K): a loop over Dh fills half
 * a vector at best, so fwd_small and bwd_small run every inner loop over a
 * strip of 16 queries or keys instead, four output rows of each tile
 * product held in registers (acc_lanes; on AVX2 in 8-lane vector types,
 * lanes4_v8, so that they fit its 16 registers). The forward holds S^T (a
 * row per key, queries contiguous) and O^T, so the online softmax is lane-wise,
 * with no horizontal max or sum; the backward keeps S and dP by query but
 * dK and dV transposed, (Dh, 64), and computes dQ on K padded to 16
 * columns. A strip meets only the keys (queries) it can see: a causal tile
 * skips its masked corner, a short sequence its missing keys. Every output
 * element still sums its terms in one fixed order. Forward calls of fewer
 * than 4 queries (decoding) keep fwd_block: a strip would be mostly empty.
 * Not here: dropout on the attention weights, ALiBi or other score biases,
 * arbitrary (Tq, Tk) masks; sliding windows.
 */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "cpu_kernels.h"
#include "tensor_impl.h"
#include "vt_math.h"

#define BQ 64 /* queries per tile */
#define BK 64 /* keys per tile    */
/* Head dims up to SMALL_DH take the transposed small-Dh kernels; the
 * forward only for calls of SMALL_MIN_Q queries or more, since it works on
 * whole vectors of queries (one decoding query would fill 1 of 16 lanes).
 * The choice is per call, not per query block, so a query's bits do not
 * depend on how many queries follow it in its last block (a sequence
 * packed without its padding rounds as it did padded). */
#define SMALL_DH 16
#define SMALL_MIN_Q 4
_Static_assert(SMALL_DH <= VT_LANES && BQ == BK, "small-Dh kernels: Dh padded to one vector, square tiles");
/* Multiply-adds below which attention runs on one thread (~6 us of work):
 * a parallel region must pay for its fork, and far more on a busy machine.
 * 2^20 kept a packed training sequence (llm forward_varlen: one call per
 * sequence, ~100 positions, 8 heads of 8) on one thread; at 2^17 its 16
 * (head, query block) items split over the cores (vimo bench varlen). */
#define ATT_OMP_MIN (INT64_C(1) << 17)

typedef struct att_dims {
    int64_t b, tq, tk, hq, hkv, dh, group;
    int64_t off; /* Tk - Tq: query i sees keys j <= i + off when causal */
    int causal;
    int wide; /* a VT_LANES vector is one register (AVX-512): acc_lanes runs lanes4, else lanes4_v8 */
    float scale;
    const uint8_t *mask; /* (B, Tk) or NULL */
    /* Element strides of (batch, time, head) for q, k, v; Dh is contiguous.
     * Contiguous in training; in inference k and v may be views such as a
     * KV cache sliced to its current length, read in place. */
    int64_t qs[3], ks[3], vs[3];
} att_dims;

typedef struct att_saved {
    float *lse;    /* (B, Hq, Tq); -inf for a row with no visible key */
    uint8_t *mask; /* copy of the key mask, or NULL */
} att_saved;

/* Helpers of the VT_CLONES kernels: inlined, they are compiled for the
 * clone's ISA; a call that gcc declines to inline runs baseline SSE2. */
#ifdef __GNUC__
#define ATT_INLINE static inline __attribute__((always_inline))
#else
#define ATT_INLINE static inline
#endif

static inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

/* Row (batch b, time t, head h) of a (B, T, H, Dh) tensor with strides st. */
static inline const float *row_at(const float *base, const int64_t *st, int64_t b, int64_t t, int64_t h)
{
    return base + b * st[0] + t * st[1] + h * st[2];
}

/* Keys [j0, j0 + nk) of kv head hk of batch bi, transposed into t (Dh, BK);
 * columns past nk are zero so full-width loops stay finite. */
static void load_kt(float *t, const float *src, const int64_t *st, int64_t dh, int64_t bi, int64_t hk, int64_t j0,
                    int64_t nk)
{
    for (int64_t jj = 0; jj < nk; jj++) {
        const float *r = row_at(src, st, bi, j0 + jj, hk);
        for (int64_t d = 0; d < dh; d++) t[d * BK + jj] = r[d];
    }
    for (int64_t d = 0; d < dh && nk < BK; d++) memset(t + d * BK + nk, 0, (size_t)(BK - nk) * sizeof(float));
}

/* bias[jj] = 0 for a key that exists and is not padding, else -inf.
 * Returns the number of usable keys (0: the whole block can be skipped). */
static int key_bias(float *bias, const att_dims *a, int64_t bi, int64_t j0, int64_t nk)
{
    const uint8_t *km = a->mask ? a->mask + bi * a->tk + j0 : NULL;
    int live = 0;
    for (int64_t jj = 0; jj < BK; jj++) {
        int ok = jj < nk && (!km || km[jj]);
        bias[jj] = ok ? 0.0f : -INFINITY;
        live += ok;
    }
    return live;
}

/* Tile products: out_r[0, dh) += sum_{c < n} w[r wr + c wc] * row_c, with
 * out_r = out + r os and row_c = base + c rs. Every output element sums its
 * n terms in c order, whatever the grouping, so results do not depend on
 * it. Four outputs at a time share each row_c load and overlap four
 * dependency chains (~3.5x the one-row loop with AVX-512).
 * Masked keys have weight 0 and still take part: a non-finite v at a
 * padding position would give NaN, as in PyTorch's attention. */
static inline void acc_tile(float *out, int64_t os, int64_t nr, const float *w, int64_t wr, int64_t wc,
                            const float *base, int64_t rs, int64_t n, int64_t dh)
{
    int64_t r = 0;
    for (; r + 4 <= nr; r += 4) {
        float *restrict o0 = out + r * os, *restrict o1 = o0 + os, *restrict o2 = o1 + os, *restrict o3 = o2 + os;
        const float *w0 = w + r * wr;
        for (int64_t c = 0; c < n; c++) {
            float a0 = w0[c * wc], a1 = w0[wr + c * wc], a2 = w0[2 * wr + c * wc], a3 = w0[3 * wr + c * wc];
            const float *restrict x = base + c * rs;
            for (int64_t d = 0; d < dh; d++) {
                float xd = x[d];
                o0[d] += a0 * xd;
                o1[d] += a1 * xd;
                o2[d] += a2 * xd;
                o3[d] += a3 * xd;
            }
        }
    }
    for (; r < nr; r++) {
        float *restrict o = out + r * os;
        for (int64_t c = 0; c < n; c++) {
            float a = w[r * wr + c * wc];
            const float *restrict x = base + c * rs;
            for (int64_t d = 0; d < dh; d++) o[d] += a * x[d];
        }
    }
}

/* Scaled, masked scores s[0, n): keys jj > lim (causal) or with bias -inf
 * become -inf. */
ATT_INLINE void row_mask(float *s, const float *bias, int64_t lim, float scale, int n)
{
    /* 32-bit indices: a 64-bit compare would not vectorise with floats. */
    int l = lim < -1 ? -1 : lim > BK ? BK : (int)lim;
    for (int jj = 0; jj < n; jj++) s[jj] = vt_sel(jj <= l, s[jj] * scale + bias[jj], -INFINITY);
}

/* ---- small head dims ------------------------------------------------------------ */

/* n rounded up to whole VT_LANES vectors (n <= 64 gives at most 64). */
static inline int lanes_up(int64_t n) { return (int)((n + VT_LANES - 1) / VT_LANES * VT_LANES); }

/* One VT_LANES-wide strip of acc_lanes, four output rows held in registers
 * across the whole c loop (acc_tile's rows live in memory instead). With
 * AVX-512 a row is one register. */
ATT_INLINE void lanes4(float *out, int64_t os, int add, const float *w, int64_t wr, int64_t wc,
                       const float *x, int64_t rs, int64_t n)
{
    float a0[VT_LANES], a1[VT_LANES], a2[VT_LANES], a3[VT_LANES];
    for (int k = 0; k < VT_LANES; k++) {
        a0[k] = add ? out[k] : 0.0f;
        a1[k] = add ? out[os + k] : 0.0f;
        a2[k] = add ? out[2 * os + k] : 0.0f;
        a3[k] = add ? out[3 * os + k] : 0.0f;
    }
    for (int64_t c = 0; c < n; c++) {
        float w0 = w[c * wc], w1 = w[wr + c * wc], w2 = w[2 * wr + c * wc], w3 = w[3 * wr + c * wc];
        const float *xc = x + c * rs;
        for (int k = 0; k < VT_LANES; k++) {
            a0[k] += w0 * xc[k];
            a1[k] += w1 * xc[k];
            a2[k] += w2 * xc[k];
            a3[k] += w3 * xc[k];
        }
    }
    for (int k = 0; k < VT_LANES; k++) {
        out[k] = a0[k];
        out[os + k] = a1[k];
        out[2 * os + k] = a2[k];
        out[3 * os + k] = a3[k];
    }
}

#ifdef __GNUC__
/* lanes4 for AVX2, in GCC vector types of 8 lanes. With AVX2 a row of 16
 * lanes is two ymm registers; gcc's vectorised lanes4 kept 8 accumulators,
 * 4 broadcasts and the loaded row live at once, spilled two accumulators
 * to the stack, and every c step then waited on a store and a reload (1.2x
 * slower attention at stories260K's shapes). Written this way gcc issues
 * each broadcast where it is used and keeps all 8 in registers. w * x then
 * + per element, as in lanes4: the same bits. */
typedef float att_v8 __attribute__((vector_size(32), aligned(4)));
_Static_assert(VT_LANES == 16, "lanes4_v8: a strip is two 8-lane halves");

ATT_INLINE void lanes4_v8(float *out, int64_t os, int add, const float *w, int64_t wr, int64_t wc,
                          const float *x, int64_t rs, int64_t n)
{
    att_v8 a0 = {0}, b0 = {0}, a1 = {0}, b1 = {0}, a2 = {0}, b2 = {0}, a3 = {0}, b3 = {0};
    if (add) {
        memcpy(&a0, out, sizeof a0);
        memcpy(&b0, out + 8, sizeof b0);
        memcpy(&a1, out + os, sizeof a1);
        memcpy(&b1, out + os + 8, sizeof b1);
        memcpy(&a2, out + 2 * os, sizeof a2);
        memcpy(&b2, out + 2 * os + 8, sizeof b2);
        memcpy(&a3, out + 3 * os, sizeof a3);
        memcpy(&b3, out + 3 * os + 8, sizeof b3);
    }
    for (int64_t c = 0; c < n; c++) {
        att_v8 lo, hi;
        const float *wc0 = w + c * wc;
        memcpy(&lo, x + c * rs, sizeof lo);
        memcpy(&hi, x + c * rs + 8, sizeof hi);
        a0 += wc0[0] * lo;
        b0 += wc0[0] * hi;
        a1 += wc0[wr] * lo;
        b1 += wc0[wr] * hi;
        a2 += wc0[2 * wr] * lo;
        b2 += wc0[2 * wr] * hi;
        a3 += wc0[3 * wr] * lo;
        b3 += wc0[3 * wr] * hi;
    }
    memcpy(out, &a0, sizeof a0);
    memcpy(out + 8, &b0, sizeof b0);
    memcpy(out + os, &a1, sizeof a1);
    memcpy(out + os + 8, &b1, sizeof b1);
    memcpy(out + 2 * os, &a2, sizeof a2);
    memcpy(out + 2 * os + 8, &b2, sizeof b2);
    memcpy(out + 3 * os, &a3, sizeof a3);
    memcpy(out + 3 * os + 8, &b3, sizeof b3);
}
#else
#define lanes4_v8 lanes4
#endif

ATT_INLINE void lanes1(float *out, int add, const float *w, int64_t wc, const float *x, int64_t rs, int64_t n)
{
    float a[VT_LANES];
    for (int k = 0; k < VT_LANES; k++) a[k] = add ? out[k] : 0.0f;
    for (int64_t c = 0; c < n; c++)
        for (int k = 0; k < VT_LANES; k++) a[k] += w[c * wc] * x[c * rs + k];
    for (int k = 0; k < VT_LANES; k++) out[k] = a[k];
}

/* acc_tile for long rows: out_r[0, len) (+)= sum_{c < n} w[r wr + c wc] *
 * row_c (add = 0: overwrite), len a multiple of VT_LANES. Same c order per
 * element as acc_tile, but the inner loop runs over len (keys or queries)
 * rather than over a short Dh. */
ATT_INLINE void acc_lanes(int wide, float *out, int64_t os, int64_t nr, int add, const float *w, int64_t wr,
                          int64_t wc, const float *base, int64_t rs, int64_t n, int len)
{
    int64_t r = 0;
    if (wide)
        for (; r + 4 <= nr; r += 4)
            for (int i = 0; i < len; i += VT_LANES)
                lanes4(out + r * os + i, os, add, w + r * wr, wr, wc, base + i, rs, n);
    else
        for (; r + 4 <= nr; r += 4)
            for (int i = 0; i < len; i += VT_LANES)
                lanes4_v8(out + r * os + i, os, add, w + r * wr, wr, wc, base + i, rs, n);
    for (; r < nr; r++)
        for (int i = 0; i < len; i += VT_LANES) lanes1(out + r * os + i, add, w + r * wr, wc, base + i, rs, n);
}

/* ---- forward ------------------------------------------------------------------ */

/* Workspace floats per thread for the forward (either path). */
static int64_t fwd_ws(int64_t dh) { return dh * BK + BQ * BK + BQ * dh; }

VT_CLONES static void fwd_block(const att_dims *a, const float *q, const float *k, const float *v, float *y,
                                float *lse, int64_t bi, int64_t h, int64_t i0, float *ws)
{
    int64_t dh = a->dh, hk = h / a->group, nq = imin(BQ, a->tq - i0);
    float *kt = ws, *s = kt + dh * BK, *acc = s + BQ * BK;
    float m[BQ], l[BQ], bias[BK];
    for (int64_t ii = 0; ii < nq; ii++) {
        m[ii] = -INFINITY;
        l[ii] = 0.0f;
    }
    memset(acc, 0, (size_t)(nq * dh) * sizeof(float));
    int64_t jend = a->causal ? imin(a->tk, i0 + nq + a->off) : a->tk; /* keys the last row sees */
    for (int64_t j0 = 0; j0 < jend; j0 += BK) {
        int64_t nk = imin(BK, jend - j0);
        if (!key_bias(bias, a, bi, j0, nk)) continue;
        load_kt(kt, k, a->ks, dh, bi, hk, j0, nk);
        /* S = Q K^T for the tile (keys contiguous in kt) */
        memset(s, 0, (size_t)(nq * BK) * sizeof(float));
        acc_tile(s, BK, nq, row_at(q, a->qs, bi, i0, h), a->qs[1], 1, kt, BK, dh, BK);
        for (int64_t ii = 0; ii < nq; ii++) {
            float *sr = s + ii * BK;
            row_mask(sr, bias, a->causal ? i0 + ii + a->off - j0 : BK, a->scale, BK);
            float mx = vt_max(sr, BK), mnew = mx > m[ii] ? mx : m[ii];
            if (mnew == -INFINITY) { /* nothing visible yet: no weight */
                memset(sr, 0, BK * sizeof(float));
                continue;
            }
            float alpha = vt_expf(m[ii] - mnew);
            for (int64_t jj = 0; jj < BK; jj++) sr[jj] = vt_expf(sr[jj] - mnew);
            l[ii] = l[ii] * alpha + vt_sum(sr, BK);
            m[ii] = mnew;
            float *ar = acc + ii * dh;
            if (alpha != 1.0f)
                for (int64_t d = 0; d < dh; d++) ar[d] *= alpha;
        }
        /* acc += P V for the whole tile */
        acc_tile(acc, dh, nq, s, BK, 1, row_at(v, a->vs, bi, j0, hk), a->vs[1], nk, dh);
    }
    for (int64_t ii = 0; ii < nq; ii++) {
        float *yr = y + ((bi * a->tq + i0 + ii) * a->hq + h) * dh, *ar = acc + ii * dh;
        float *ls = lse + (bi * a->hq + h) * a->tq + i0 + ii;
        if (l[ii] > 0.0f) {
            for (int64_t d = 0; d < dh; d++) yr[d] = ar[d] / l[ii];
            *ls = m[ii] + logf(l[ii]);
        } else { /* no visible key: zeros, as documented */
            for (int64_t d = 0; d < dh; d++) yr[d] = 0.0f;
            *ls = -INFINITY;
        }
    }
}

/* One strip of VT_LANES queries of fwd_small against keys [0, n) of a key
 * block: S^T, the online softmax and O^T += V^T P^T. Strip query k sees key
 * jj when jj <= k + e (causal). m, l, qt, st and acc point at the strip. */
ATT_INLINE void fwd_strip(const att_dims *a, const float *kb, const float *vb, const float *qt, float *st,
                          float *acc, float *m, float *l, const float *bias, int64_t n, int64_t e)
{
    float mx[VT_LANES], alpha[VT_LANES], ls[VT_LANES], last[VT_LANES];
    acc_lanes(a->wide, st, BQ, n, 0, kb, a->ks[1], 1, qt, BQ, a->dh, VT_LANES);
    /* Scale, mask and running max in one pass. The last key each query
     * sees, as a float (exact): comparing against the lane index instead
     * makes gcc unroll the 16 lanes and not vectorise them. */
    for (int k = 0; k < VT_LANES; k++) {
        last[k] = a->causal ? (float)imax(-1, imin(BK, k + e)) : (float)BK;
        mx[k] = m[k];
    }
    for (int64_t jj = 0; jj < n; jj++) {
        float *sr = st + jj * BQ, fj = (float)jj;
        for (int k = 0; k < VT_LANES; k++) {
            sr[k] = vt_sel(fj <= last[k], sr[k] * a->scale + bias[jj], -INFINITY);
            mx[k] = mx[k] > sr[k] ? mx[k] : sr[k];
        }
    }
    for (int k = 0; k < VT_LANES; k++) {
        float mref = vt_sel(mx[k] == -INFINITY, 0.0f, mx[k]); /* nothing visible yet: exp(-inf - 0) = 0 */
        alpha[k] = vt_expf(m[k] - mref);
        m[k] = mx[k];
        mx[k] = mref;
        ls[k] = l[k] * alpha[k];
    }
    for (int64_t jj = 0; jj < n; jj++) /* P^T in place; l sums it in key order */
        for (int k = 0; k < VT_LANES; k++) {
            float p = vt_expf(st[jj * BQ + k] - mx[k]);
            st[jj * BQ + k] = p;
            ls[k] += p;
        }
    for (int k = 0; k < VT_LANES; k++) l[k] = ls[k];
    for (int64_t d = 0; d < a->dh; d++)
        for (int k = 0; k < VT_LANES; k++) acc[d * BQ + k] *= alpha[k];
    acc_lanes(a->wide, acc, BQ, a->dh, 1, vb, 1, a->vs[1], st, BQ, n, VT_LANES);
}

/* fwd_block for small Dh, transposed: S^T holds a row per key with the
 * queries contiguous, so the softmax statistics, the rescaling and
 * O^T += V^T P^T all run over whole vectors of queries, with no horizontal
 * sums and no loop over a short Dh. The tile is walked in strips of
 * VT_LANES queries, each against only the keys it can see: causal tiles
 * skip their masked corner at strip granularity. */
VT_CLONES static void fwd_small(const att_dims *a, const float *q, const float *k, const float *v, float *y,
                                float *lse, int64_t bi, int64_t h, int64_t i0, float *ws)
{
    int64_t dh = a->dh, hk = h / a->group, nq = imin(BQ, a->tq - i0);
    int w = lanes_up(nq);
    float *qt = ws, *st = qt + dh * BQ, *acc = st + BK * BQ; /* acc: O^T, (Dh, BQ) */
    float m[BQ], l[BQ], bias[BK];
    for (int ii = 0; ii < w; ii++) {
        m[ii] = -INFINITY;
        l[ii] = 0.0f;
    }
    load_kt(qt, q, a->qs, dh, bi, h, i0, nq); /* BQ == BK */
    memset(acc, 0, (size_t)(dh * BQ) * sizeof(float));
    int64_t jend = a->causal ? imin(a->tk, i0 + nq + a->off) : a->tk;
    for (int64_t j0 = 0; j0 < jend; j0 += BK) {
        int64_t nk = imin(BK, jend - j0);
        if (!key_bias(bias, a, bi, j0, nk)) continue;
        const float *kb = row_at(k, a->ks, bi, j0, hk), *vb = row_at(v, a->vs, bi, j0, hk);
        for (int i = 0; i < w; i += VT_LANES) {
            int64_t e = i0 + i + a->off - j0, n = a->causal ? imin(nk, imax(0, e + VT_LANES)) : nk;
            if (n) fwd_strip(a, kb, vb, qt + i, st + i, acc + i, m + i, l + i, bias, n, e);
        }
    }
    for (int64_t d = 0; d < dh; d++) /* O = acc / l, a whole vector of queries at a time */
        for (int ii = 0; ii < w; ii++) acc[d * BQ + ii] /= vt_sel(l[ii] > 0.0f, l[ii], 1.0f);
    for (int64_t ii = 0; ii < nq; ii++) {
        float *yr = y + ((bi * a->tq + i0 + ii) * a->hq + h) * dh;
        for (int64_t d = 0; d < dh; d++) yr[d] = vt_sel(l[ii] > 0.0f, acc[d * BQ + ii], 0.0f); /* 0: no key seen */
        lse[(bi * a->hq + h) * a->tq + i0 + ii] = l[ii] > 0.0f ? m[ii] + logf(l[ii]) : -INFINITY;
    }
}

/* ---- backward ----------------------------------------------------------------- */

/* Workspace floats per thread for the backward (either path). */
static int64_t bwd_ws(int64_t dh) { return 2 * dh * BK + 2 * BQ * BK + 2 * BK * dh + (BK + BQ) * VT_LANES; }

typedef struct att_grads {
    const float *dout;  /* (B, Tq, Hq, Dh) */
    const float *drow;  /* D = rowsum(dO * O), (B, Hq, Tq) */
    const float *lse;   /* (B, Hq, Tq) */
    float *gq;          /* (B, Tq, Hq, Dh) or NULL */
    float *gk, *gv;     /* destinations, see dst_* */
    int direct;         /* 1: gk/gv are the (B, Tk, Hkv, Dh) grads, add into them;
                           0: per-query-head scratch (B, Hq, Tk, Dh), store */
} att_grads;

static float *kv_dst(const att_grads *g, float *base, const att_dims *a, int64_t bi, int64_t h, int64_t j)
{
    if (g->direct) return base + ((bi * a->tk + j) * a->hkv + h / a->group) * a->dh;
    return base + ((bi * a->hq + h) * a->tk + j) * a->dh;
}

/* Row i of a tile: P = exp(S - lse) in place of S, dS = P (dP - D) scale in
 * place of dP, over n keys. A row that saw no key has P = 0: exp(x - inf). */
ATT_INLINE void row_grad(const att_dims *a, float *sr, float *dpr, const float *bias, int64_t i, int64_t j0,
                         float lse, float di, int n)
{
    float li = lse == -INFINITY ? INFINITY : lse;
    row_mask(sr, bias, a->causal ? i + a->off - j0 : BK, a->scale, n);
    for (int jj = 0; jj < n; jj++) {
        float p = vt_expf(sr[jj] - li);
        sr[jj] = p;
        dpr[jj] = p * (dpr[jj] - di) * a->scale;
    }
}

/* dK or dV of keys [j0, j0 + nk) from a transposed tile t (Dh, BK): added
 * into the grad, or stored to the scratch. */
ATT_INLINE void store_kvt(const att_grads *g, float *base, const att_dims *a, int64_t bi, int64_t h, int64_t j0,
                          int64_t nk, const float *t)
{
    int64_t dh = a->dh, rs = a->hkv * dh; /* direct: rows j and j + 1 are rs apart */
    float *dst = kv_dst(g, base, a, bi, h, j0);
    if (g->direct)
        for (int64_t jj = 0; jj < nk; jj++)
            for (int64_t d = 0; d < dh; d++) dst[jj * rs + d] += t[d * BK + jj];
    else
        for (int64_t jj = 0; jj < nk; jj++)
            for (int64_t d = 0; d < dh; d++) dst[jj * dh + d] = t[d * BK + jj];
}

/* All gradients of query head h of batch bi. */
VT_CLONES static void bwd_head(const att_dims *a, const att_grads *g, const float *q, const float *k,
                               const float *v, int64_t bi, int64_t h, float *ws)
{
    int64_t dh = a->dh, hk = h / a->group;
    float *kt = ws, *vt = kt + dh * BK, *s = vt + dh * BK, *dp = s + BQ * BK, *dka = dp + BQ * BK,
          *dva = dka + BK * dh;
    float bias[BK];
    const float *lse = g->lse + (bi * a->hq + h) * a->tq, *drow = g->drow + (bi * a->hq + h) * a->tq;
    int want_kv = g->gk || g->gv;
    for (int64_t j0 = 0; j0 < a->tk; j0 += BK) {
        int64_t nk = imin(BK, a->tk - j0);
        int64_t istart = a->causal ? imax(0, j0 - a->off) : 0; /* first query that sees key j0 */
        if (istart >= a->tq) break;
        if (!key_bias(bias, a, bi, j0, nk)) continue;
        load_kt(kt, k, a->ks, dh, bi, hk, j0, nk);
        load_kt(vt, v, a->vs, dh, bi, hk, j0, nk);
        memset(dka, 0, (size_t)(BK * dh) * sizeof(float));
        memset(dva, 0, (size_t)(BK * dh) * sizeof(float));
        for (int64_t i0 = istart; i0 < a->tq; i0 += BQ) {
            int64_t nq = imin(BQ, a->tq - i0);
            const float *qb = row_at(q, a->qs, bi, i0, h);
            const float *dob = g->dout + ((bi * a->tq + i0) * a->hq + h) * dh;
            /* S = Q K^T and dP = dO V^T for the tile */
            memset(s, 0, (size_t)(nq * BK) * sizeof(float));
            memset(dp, 0, (size_t)(nq * BK) * sizeof(float));
            acc_tile(s, BK, nq, qb, a->qs[1], 1, kt, BK, dh, BK);
            acc_tile(dp, BK, nq, dob, a->hq * dh, 1, vt, BK, dh, BK);
            for (int64_t ii = 0; ii < nq; ii++)
                row_grad(a, s + ii * BK, dp + ii * BK, bias, i0 + ii, j0, lse[i0 + ii], drow[i0 + ii], BK);
            /* dV_j += sum_i P_ij dO_i; dK_j += sum_i dS_ij Q_i; dQ_i += sum_j dS_ij K_j */
            if (want_kv) {
                acc_tile(dva, dh, nk, s, 1, BK, dob, a->hq * dh, nq, dh);
                acc_tile(dka, dh, nk, dp, 1, BK, qb, a->qs[1], nq, dh);
            }
            if (g->gq)
                acc_tile(g->gq + ((bi * a->tq + i0) * a->hq + h) * dh, a->hq * dh, nq, dp, BK, 1,
                         row_at(k, a->ks, bi, j0, hk), a->ks[1], nk, dh);
        }
        for (int64_t jj = 0; jj < nk && want_kv; jj++) {
            float *dkr = g->gk ? kv_dst(g, g->gk, a, bi, h, j0 + jj) : NULL;
            float *dvr = g->gv ? kv_dst(g, g->gv, a, bi, h, j0 + jj) : NULL;
            const float *ka = dka + jj * dh, *va = dva + jj * dh;
            if (g->direct) {
                if (dkr)
                    for (int64_t d = 0; d < dh; d++) dkr[d] += ka[d];
                if (dvr)
                    for (int64_t d = 0; d < dh; d++) dvr[d] += va[d];
            } else {
                if (dkr) memcpy(dkr, ka, (size_t)dh * sizeof(float));
                if (dvr) memcpy(dvr, va, (size_t)dh * sizeof(float));
            }
        }
    }
}

/* bwd_head for small Dh. S and dP keep a row per query, keys contiguous;
 * dV and dK are held transposed, (Dh, BK), so dV^T += dO^T P and
 * dK^T += Q^T dS run over keys too, and dQ += dS K runs over Dh padded to
 * one vector (kp, (BK, VT_LANES)): no horizontal sums, no loop over a
 * short Dh. The tile is walked in strips of VT_LANES keys, each with only
 * the queries that see it (causal tiles skip their masked corner). */
VT_CLONES static void bwd_small(const att_dims *a, const att_grads *g, const float *q, const float *k,
                                const float *v, int64_t bi, int64_t h, float *ws)
{
    int64_t dh = a->dh, hk = h / a->group, ld = a->hq * dh;
    float *kt = ws, *vt = kt + dh * BK, *s = vt + dh * BK, *dp = s + BQ * BK, *dkt = dp + BQ * BK,
          *dvt = dkt + dh * BK, *kp = dvt + dh * BK, *dq = kp + BK * VT_LANES;
    float bias[BK];
    const float *lse = g->lse + (bi * a->hq + h) * a->tq, *drow = g->drow + (bi * a->hq + h) * a->tq;
    int want_kv = g->gk || g->gv;
    for (int64_t j0 = 0; j0 < a->tk; j0 += BK) {
        int64_t nk = imin(BK, a->tk - j0);
        int64_t istart = a->causal ? imax(0, j0 - a->off) : 0;
        if (istart >= a->tq) break;
        if (!key_bias(bias, a, bi, j0, nk)) continue;
        load_kt(kt, k, a->ks, dh, bi, hk, j0, nk); /* zero past nk, where keys are masked */
        load_kt(vt, v, a->vs, dh, bi, hk, j0, nk);
        for (int64_t jj = 0; jj < nk && g->gq; jj++) {
            const float *kr = row_at(k, a->ks, bi, j0 + jj, hk);
            for (int d = 0; d < VT_LANES; d++) kp[jj * VT_LANES + d] = d < dh ? kr[d] : 0.0f;
        }
        memset(dkt, 0, (size_t)(dh * BK) * sizeof(float));
        memset(dvt, 0, (size_t)(dh * BK) * sizeof(float));
        for (int64_t i0 = istart; i0 < a->tq; i0 += BQ) {
            int64_t nq = imin(BQ, a->tq - i0);
            const float *qb = row_at(q, a->qs, bi, i0, h), *dob = g->dout + ((bi * a->tq + i0) * a->hq + h) * dh;
            if (g->gq) memset(dq, 0, (size_t)(nq * VT_LANES) * sizeof(float));
            for (int64_t jv = 0; jv < nk; jv += VT_LANES) {
                /* queries r0.. see key j0 + jv (i + off >= j); later strips start later */
                int64_t r0 = a->causal ? imin(nq, imax(0, j0 + jv - a->off - i0)) : 0, nr = nq - r0;
                if (!nr) break;
                const float *qr = qb + r0 * a->qs[1], *dor = dob + r0 * ld;
                float *sb = s + r0 * BK + jv, *db = dp + r0 * BK + jv;
                acc_lanes(a->wide, sb, BK, nr, 0, qr, a->qs[1], 1, kt + jv, BK, dh, VT_LANES);
                acc_lanes(a->wide, db, BK, nr, 0, dor, ld, 1, vt + jv, BK, dh, VT_LANES);
                for (int64_t ii = r0; ii < nq; ii++)
                    row_grad(a, s + ii * BK + jv, dp + ii * BK + jv, bias + jv, i0 + ii, j0 + jv, lse[i0 + ii],
                             drow[i0 + ii], VT_LANES);
                if (want_kv) {
                    acc_lanes(a->wide, dvt + jv, BK, dh, 1, dor, 1, ld, sb, BK, nr, VT_LANES);
                    acc_lanes(a->wide, dkt + jv, BK, dh, 1, qr, 1, a->qs[1], db, BK, nr, VT_LANES);
                }
                if (g->gq)
                    acc_lanes(a->wide, dq + r0 * VT_LANES, VT_LANES, nr, 1, db, BK, 1, kp + jv * VT_LANES, VT_LANES,
                              imin(VT_LANES, nk - jv), VT_LANES);
            }
            for (int64_t ii = 0; ii < nq && g->gq; ii++) {
                float *gr = g->gq + ((bi * a->tq + i0 + ii) * a->hq + h) * dh;
                for (int64_t d = 0; d < dh; d++) gr[d] += dq[ii * VT_LANES + d];
            }
        }
        if (g->gk) store_kvt(g, g->gk, a, bi, h, j0, nk, dkt);
        if (g->gv) store_kvt(g, g->gv, a, bi, h, j0, nk, dvt);
    }
}

/* grad[b, j, hk, :] += sum over the group's query heads, in head order. */
static void reduce_group(float *grad, const float *scratch, const att_dims *a)
{
    int64_t rows = a->b * a->tk, dh = a->dh;
#pragma omp parallel for schedule(static) if (rows * a->hq * dh >= VT_OMP_MIN)
    for (int64_t r = 0; r < rows; r++) {
        int64_t bi = r / a->tk, j = r % a->tk;
        for (int64_t hk = 0; hk < a->hkv; hk++) {
            float *gr = grad + (r * a->hkv + hk) * dh;
            for (int64_t gi = 0; gi < a->group; gi++) {
                const float *sr = scratch + ((bi * a->hq + hk * a->group + gi) * a->tk + j) * dh;
                for (int64_t d = 0; d < dh; d++) gr[d] += sr[d];
            }
        }
    }
}

/* The ABI's sizes (vimo/backend.h) from the op's tensors. */
static void pub_dims(vimo_attn_dims *a, const vimo_tensor *q, const vimo_tensor *k, const vimo_tensor *v, int causal,
                     float scale)
{
    a->b = q->shape[0];
    a->tq = q->shape[1];
    a->hq = q->shape[2];
    a->dh = q->shape[3];
    a->tk = k->shape[1];
    a->hkv = k->shape[2];
    a->causal = causal;
    a->scale = scale;
    for (int d = 0; d < 3; d++) {
        a->qs[d] = q->stride[d];
        a->ks[d] = k->stride[d];
        a->vs[d] = v->stride[d];
    }
}

/* The kernels' working sizes from the ABI's. */
static void dims_from(att_dims *a, const vimo_attn_dims *p, const uint8_t *mask)
{
    a->b = p->b;
    a->tq = p->tq;
    a->hq = p->hq;
    a->dh = p->dh;
    a->tk = p->tk;
    a->hkv = p->hkv;
    a->group = a->hq / a->hkv;
    a->off = a->tk - a->tq;
    a->causal = p->causal;
    a->scale = p->scale;
    a->mask = mask;
#if defined(__x86_64__) && defined(__GNUC__)
    a->wide = __builtin_cpu_supports("avx512f");
#else
    a->wide = 0;
#endif
    for (int d = 0; d < 3; d++) {
        a->qs[d] = p->qs[d];
        a->ks[d] = p->ks[d];
        a->vs[d] = p->vs[d];
    }
}

/* sum_d a[d] b[d] in d order: for a short row vt_dot's 16-lane fold costs
 * more than the row itself. */
static inline float dot_short(const float *a, const float *b, int64_t n)
{
    float acc = 0.0f;
    for (int64_t d = 0; d < n; d++) acc += a[d] * b[d];
    return acc;
}

static vimo_status attention_backward(vimo_ctx *ctx, vimo_node *n)
{
    vimo_tensor *q = n->in[0], *k = n->in[1], *v = n->in[2], *y = n->out;
    const att_saved *sv = n->saved;
    vimo_attn_dims pd;
    pub_dims(&pd, q, k, v, (int)n->i[0], n->f[0]);
    float *gq = NULL, *gk = NULL, *gv = NULL;
    if (vt_requires_grad(q) && !(gq = vt_grad(ctx, q))) return VIMO_ERR_NOMEM;
    if (vt_requires_grad(k) && !(gk = vt_grad(ctx, k))) return VIMO_ERR_NOMEM;
    if (vt_requires_grad(v) && !(gv = vt_grad(ctx, v))) return VIMO_ERR_NOMEM;
    return vt_kern(q->device)->attention_bwd(ctx, &pd, q->data, k->data, v->data, sv->mask, y->data, sv->lse, y->grad,
                                             gq, gk, gv);
}

vimo_status vt_cpu_attention_bwd(vimo_ctx *ctx, const vimo_attn_dims *pd, const float *qd, const float *kd,
                                 const float *vd, const uint8_t *mask, const float *yd, const float *lse,
                                 const float *dy, float *gq, float *gk, float *gv)
{
    att_dims a;
    dims_from(&a, pd, mask);
    att_grads g = {.dout = dy, .lse = lse, .direct = a.group == 1, .gq = gq};
    int64_t scratch_n = a.b * a.hq * a.tk * a.dh, rows = a.b * a.hq * a.tq;
    if (g.direct) {
        g.gk = gk;
        g.gv = gv;
    } else {
        if (gk && !(g.gk = vt_alloc(ctx, (size_t)scratch_n * sizeof(float)))) return VIMO_ERR_NOMEM;
        if (gv && !(g.gv = vt_alloc(ctx, (size_t)scratch_n * sizeof(float)))) return VIMO_ERR_NOMEM;
        /* Key blocks no query reaches are never written. */
        if (g.gk) memset(g.gk, 0, (size_t)scratch_n * sizeof(float));
        if (g.gv) memset(g.gv, 0, (size_t)scratch_n * sizeof(float));
    }
    float *drow = vt_alloc(ctx, (size_t)rows * sizeof(float));
    int nth = omp_get_max_threads();
    int64_t wsn = bwd_ws(a.dh);
    float *ws = vt_alloc(ctx, (size_t)(nth * wsn) * sizeof(float));
    if (!drow || !ws) return VIMO_ERR_NOMEM;
    /* D[b, h, i] = dO_i . O_i, one (b, i) per iteration: its Hq rows are
     * contiguous in dO and O, and only one division is paid for them. */
#pragma omp parallel for schedule(static) if (rows * a.dh >= VT_OMP_MIN)
    for (int64_t bt = 0; bt < a.b * a.tq; bt++) {
        int64_t bi = bt / a.tq, i = bt % a.tq;
        for (int64_t h = 0; h < a.hq; h++) {
            const float *o = yd + (bt * a.hq + h) * a.dh, *d = dy + (bt * a.hq + h) * a.dh;
            drow[(bi * a.hq + h) * a.tq + i] = a.dh <= SMALL_DH ? dot_short(d, o, a.dh) : vt_dot(d, o, a.dh);
        }
    }
    g.drow = drow;
    int64_t items = a.b * a.hq, work = items * a.tq * a.tk * a.dh;
#pragma omp parallel for schedule(static, 1) if (work >= ATT_OMP_MIN)
    for (int64_t it = 0; it < items; it++)
        if (a.dh <= SMALL_DH)
            bwd_small(&a, &g, qd, kd, vd, it / a.hq, it % a.hq, ws + omp_get_thread_num() * wsn);
        else
            bwd_head(&a, &g, qd, kd, vd, it / a.hq, it % a.hq, ws + omp_get_thread_num() * wsn);
    if (!g.direct) {
        if (gk) reduce_group(gk, g.gk, &a);
        if (gv) reduce_group(gv, g.gv, &a);
    }
    return VIMO_OK;
}

vimo_status vimo_attention(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *q, vimo_tensor *k, vimo_tensor *v,
                           const uint8_t *key_mask, int causal, float scale)
{
    vimo_status st = vt_check_args("attention", ctx, y);
    if (st) return st;
    if (!q || !k || !v) return vimo_error(VIMO_ERR_INVALID, "attention: NULL input");
    if (q->ndim != 4 || k->ndim != 4 || v->ndim != 4 || q->shape[0] != k->shape[0] || q->shape[3] != k->shape[3] ||
        k->ndim != v->ndim || memcmp(k->shape, v->shape, sizeof k->shape) || k->shape[2] > q->shape[2] ||
        q->shape[2] % k->shape[2])
        return vimo_error(VIMO_ERR_SHAPE,
                          "attention: q %s, k %s, v %s: expected q (B, Tq, Hq, Dh), k and v (B, Tk, Hkv, Dh) "
                          "with Hq %% Hkv == 0",
                          vt_shape(q), vt_shape(k), vt_shape(v));
    if (!isfinite(scale)) return vimo_error(VIMO_ERR_INVALID, "attention: scale %g is not finite", scale);
    /* Training reads contiguous copies, so data and gradients share one
     * layout; inference reads any view whose Dh is contiguous in place. */
    vimo_tensor *in[3] = {q, k, v}, *c[3], *out;
    int dev;
    if ((st = vt_same_device("attention", &dev, 3, in, (const char *[]){"q", "k", "v"}))) return st;
    int grad = vt_needs_grad(ctx, in, 3);
    for (int i = 0; i < 3; i++) {
        c[i] = in[i];
        if ((grad || (in[i]->stride[3] != 1 && in[i]->shape[3] > 1)) && (st = vt_contig(ctx, in[i], &c[i])))
            return st;
    }
    vimo_tensor *qc = c[0], *kc = c[1], *vc = c[2];
    if ((st = vt_new_out_on(ctx, &out, dev, 4, q->shape))) return st;
    vimo_attn_dims pd;
    pub_dims(&pd, qc, kc, vc, causal != 0, scale);
    att_saved *sv = vt_alloc(ctx, sizeof *sv);
    if (!sv || !(sv->lse = vt_alloc_dev(ctx, dev, (size_t)(pd.b * pd.hq * pd.tq) * sizeof(float))))
        return VIMO_ERR_NOMEM;
    sv->mask = NULL;
    /* copied: the caller may reuse its buffer before backward */
    if (key_mask && !(sv->mask = vt_upload(ctx, dev, key_mask, (size_t)(pd.b * pd.tk)))) return VIMO_ERR_NOMEM;
    if ((st = vt_kern(dev)->attention_fwd(ctx, &pd, qc->data, kc->data, vc->data, sv->mask, out->data, sv->lse)))
        return st;
    if (grad) {
        vimo_node *nd;
        if ((st = vt_record(ctx, out, "attention", attention_backward, c, 3, &nd))) return st;
        nd->saved = sv;
        nd->i[0] = pd.causal;
        nd->f[0] = scale;
    }
    *y = out;
    return VIMO_OK;
}

vimo_status vt_cpu_attention_fwd(vimo_ctx *ctx, const vimo_attn_dims *pd, const float *qd, const float *kd,
                                 const float *vd, const uint8_t *mask, float *yd, float *lse)
{
    att_dims a;
    dims_from(&a, pd, mask);
    int nth = omp_get_max_threads();
    int64_t wsn = fwd_ws(a.dh), nqb = (a.tq + BQ - 1) / BQ, items = a.b * a.hq * nqb;
    float *ws = vt_alloc(ctx, (size_t)(nth * wsn) * sizeof(float));
    if (!ws) return VIMO_ERR_NOMEM;
    int64_t work = a.b * a.hq * a.tq * a.tk * a.dh;
#pragma omp parallel for schedule(static, 1) if (work >= ATT_OMP_MIN)
    for (int64_t it = 0; it < items; it++) {
        int64_t bi = it / (a.hq * nqb), h = (it / nqb) % a.hq, i0 = it % nqb * BQ;
        float *w = ws + omp_get_thread_num() * wsn;
        if (a.dh <= SMALL_DH && a.tq >= SMALL_MIN_Q)
            fwd_small(&a, qd, kd, vd, yd, lse, bi, h, i0, w);
        else
            fwd_block(&a, qd, kd, vd, yd, lse, bi, h, i0, w);
    }
    return VIMO_OK;
}
