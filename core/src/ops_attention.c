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
 * two kernels are compiled per ISA (VT_CLONES, vt_math.h).
 * Not here: dropout on the attention weights, ALiBi or other score biases,
 * arbitrary (Tq, Tk) masks; sliding windows.
 */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "tensor_impl.h"
#include "vt_math.h"

#define BQ 64 /* queries per tile */
#define BK 64 /* keys per tile    */
/* Multiply-adds below which attention runs on one thread (~50 us of work):
 * a parallel region must pay for its fork, and far more on a busy machine. */
#define ATT_OMP_MIN (INT64_C(1) << 20)

typedef struct att_dims {
    int64_t b, tq, tk, hq, hkv, dh, group;
    int64_t off; /* Tk - Tq: query i sees keys j <= i + off when causal */
    int causal;
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
    for (int64_t jj = 0; jj < BK; jj++) {
        const float *r = jj < nk ? row_at(src, st, bi, j0 + jj, hk) : NULL;
        for (int64_t d = 0; d < dh; d++) t[d * BK + jj] = r ? r[d] : 0.0f;
    }
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

/* Scaled, masked scores: keys jj > lim (causal) or with bias -inf become -inf. */
static inline void row_mask(float *s, const float *bias, int64_t lim, float scale)
{
    /* 32-bit indices: a 64-bit compare would not vectorise with floats. */
    int l = lim < -1 ? -1 : lim > BK ? BK : (int)lim;
    for (int jj = 0; jj < BK; jj++) s[jj] = vt_sel(jj <= l, s[jj] * scale + bias[jj], -INFINITY);
}

/* ---- forward ------------------------------------------------------------------ */

/* Workspace floats per thread for the forward. */
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
            row_mask(sr, bias, a->causal ? i0 + ii + a->off - j0 : BK, a->scale);
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

/* ---- backward ----------------------------------------------------------------- */

static int64_t bwd_ws(int64_t dh) { return 2 * dh * BK + 2 * BQ * BK + 2 * BK * dh; }

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
            for (int64_t ii = 0; ii < nq; ii++) {
                int64_t i = i0 + ii;
                float *sr = s + ii * BK, *dpr = dp + ii * BK;
                /* A row that saw no key has P = 0: exp(x - inf) = 0. */
                float li = lse[i] == -INFINITY ? INFINITY : lse[i], di = drow[i];
                row_mask(sr, bias, a->causal ? i + a->off - j0 : BK, a->scale);
                for (int64_t jj = 0; jj < BK; jj++) {
                    float p = vt_expf(sr[jj] - li);
                    sr[jj] = p;
                    dpr[jj] = p * (dpr[jj] - di) * a->scale; /* dS, scaled */
                }
            }
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

static void dims_from(att_dims *a, const vimo_tensor *q, const vimo_tensor *k, const vimo_tensor *v, int causal,
                      float scale)
{
    a->b = q->shape[0];
    a->tq = q->shape[1];
    a->hq = q->shape[2];
    a->dh = q->shape[3];
    a->tk = k->shape[1];
    a->hkv = k->shape[2];
    a->group = a->hq / a->hkv;
    a->off = a->tk - a->tq;
    a->causal = causal;
    a->scale = scale;
    a->mask = NULL;
    for (int d = 0; d < 3; d++) {
        a->qs[d] = q->stride[d];
        a->ks[d] = k->stride[d];
        a->vs[d] = v->stride[d];
    }
}

static vimo_status attention_backward(vimo_ctx *ctx, vimo_node *n)
{
    vimo_tensor *q = n->in[0], *k = n->in[1], *v = n->in[2], *y = n->out;
    const att_saved *sv = n->saved;
    att_dims a;
    dims_from(&a, q, k, v, (int)n->i[0], n->f[0]);
    a.mask = sv->mask;
    att_grads g = {.dout = y->grad, .lse = sv->lse, .direct = a.group == 1};
    if (vt_requires_grad(q) && !(g.gq = vt_grad(ctx, q))) return VIMO_ERR_NOMEM;
    float *gk = NULL, *gv = NULL;
    if (vt_requires_grad(k) && !(gk = vt_grad(ctx, k))) return VIMO_ERR_NOMEM;
    if (vt_requires_grad(v) && !(gv = vt_grad(ctx, v))) return VIMO_ERR_NOMEM;
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
    const float *yd = y->data, *dy = y->grad;
    /* D[b, h, i] = dO_i . O_i */
#pragma omp parallel for schedule(static) if (rows * a.dh >= VT_OMP_MIN)
    for (int64_t r = 0; r < rows; r++) {
        int64_t bi = r / (a.hq * a.tq), h = (r / a.tq) % a.hq, i = r % a.tq;
        int64_t off = ((bi * a.tq + i) * a.hq + h) * a.dh;
        drow[r] = vt_dot(dy + off, yd + off, a.dh);
    }
    g.drow = drow;
    int64_t items = a.b * a.hq, work = items * a.tq * a.tk * a.dh;
#pragma omp parallel for schedule(static, 1) if (work >= ATT_OMP_MIN)
    for (int64_t it = 0; it < items; it++)
        bwd_head(&a, &g, q->data, k->data, v->data, it / a.hq, it % a.hq, ws + omp_get_thread_num() * wsn);
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
    int grad = vt_needs_grad(ctx, in, 3);
    for (int i = 0; i < 3; i++) {
        c[i] = in[i];
        if ((grad || (in[i]->stride[3] != 1 && in[i]->shape[3] > 1)) && (st = vt_contig(ctx, in[i], &c[i])))
            return st;
    }
    vimo_tensor *qc = c[0], *kc = c[1], *vc = c[2];
    if ((st = vt_new_out(ctx, &out, 4, q->shape))) return st;
    att_dims a;
    dims_from(&a, qc, kc, vc, causal != 0, scale);
    att_saved *sv = vt_alloc(ctx, sizeof *sv);
    if (!sv || !(sv->lse = vt_alloc(ctx, (size_t)(a.b * a.hq * a.tq) * sizeof(float)))) return VIMO_ERR_NOMEM;
    sv->mask = NULL;
    if (key_mask) { /* copied: the caller may reuse its buffer before backward */
        if (!(sv->mask = vt_alloc(ctx, (size_t)(a.b * a.tk)))) return VIMO_ERR_NOMEM;
        memcpy(sv->mask, key_mask, (size_t)(a.b * a.tk));
    }
    a.mask = sv->mask;
    int nth = omp_get_max_threads();
    int64_t wsn = fwd_ws(a.dh), nqb = (a.tq + BQ - 1) / BQ, items = a.b * a.hq * nqb;
    float *ws = vt_alloc(ctx, (size_t)(nth * wsn) * sizeof(float));
    if (!ws) return VIMO_ERR_NOMEM;
    int64_t work = a.b * a.hq * a.tq * a.tk * a.dh;
    const float *qd = qc->data, *kd = kc->data, *vd = vc->data;
#pragma omp parallel for schedule(static, 1) if (work >= ATT_OMP_MIN)
    for (int64_t it = 0; it < items; it++) {
        int64_t bi = it / (a.hq * nqb), h = (it / nqb) % a.hq, qb = it % nqb;
        fwd_block(&a, qd, kd, vd, out->data, sv->lse, bi, h, qb * BQ, ws + omp_get_thread_num() * wsn);
    }
    if (grad) {
        vimo_node *nd;
        if ((st = vt_record(ctx, out, "attention", attention_backward, c, 3, &nd))) return st;
        nd->saved = sv;
        nd->i[0] = a.causal;
        nd->f[0] = scale;
    }
    *y = out;
    return VIMO_OK;
}
