/*
 * ops_nn.c - embedding lookup, rotary position embedding, dropout, and the
 * two losses (cross-entropy with ignore_index, mean squared error).
 *
 * Every sum has a fixed order: the losses sum per-row (or per-chunk) partials
 * in row order in double; the embedding backward scatters rows in id order
 * with columns split across threads. Dropout draws its mask on the calling
 * thread from the caller's vimo_rng, one draw per element in order.
 * Not here: label smoothing, class weights, learned position tables (use an
 * embedding of positions), fused rope-into-attention.
 */
#include <math.h>
#include <string.h>

#include "cpu_kernels.h"
#include "tensor_impl.h"
#include "vimo/rng.h"
#include "vt_math.h"

/* Same cap as tensor.c: the largest tensor vimo makes (2^34 floats). */
#define VT_MAX_NUMEL (INT64_C(1) << 34)

/* ---- embedding ------------------------------------------------------------- */

/* Columns per thread task in the scatter: a constant, so any thread count
 * adds the same rows in the same (id) order into every column. */
#define EMB_COL_BLOCK 64

static vimo_status embedding_backward(vimo_ctx *ctx, vimo_node *n)
{
    vimo_tensor *tab = n->in[0];
    if (!vt_requires_grad(tab)) return VIMO_OK;
    float *gt = vt_grad(ctx, tab);
    if (!gt) return VIMO_ERR_NOMEM;
    return vt_kern(tab->device)->embedding_bwd(ctx, n->saved, n->out->grad, gt, n->i[0], tab->shape[1]);
}

vimo_status vt_cpu_embedding_fwd(vimo_ctx *ctx, const float *td, const int32_t *ids, float *o, int64_t cnt,
                                 int64_t d)
{
    (void)ctx;
#pragma omp parallel for schedule(static) if (cnt * d >= VT_OMP_MIN)
    for (int64_t i = 0; i < cnt; i++) memcpy(o + i * d, td + (int64_t)ids[i] * d, (size_t)d * sizeof(float));
    return VIMO_OK;
}

vimo_status vt_cpu_embedding_bwd(vimo_ctx *ctx, const int32_t *ids, const float *dy, float *gt, int64_t cnt,
                                 int64_t d)
{
    (void)ctx;
    int64_t nblk = (d + EMB_COL_BLOCK - 1) / EMB_COL_BLOCK;
#pragma omp parallel for schedule(static) if (cnt * d >= VT_OMP_MIN)
    for (int64_t cb = 0; cb < nblk; cb++) {
        int64_t j0 = cb * EMB_COL_BLOCK, j1 = j0 + EMB_COL_BLOCK < d ? j0 + EMB_COL_BLOCK : d;
        for (int64_t i = 0; i < cnt; i++) {
            float *g = gt + (int64_t)ids[i] * d;
            const float *dr = dy + i * d;
            for (int64_t j = j0; j < j1; j++) g[j] += dr[j];
        }
    }
    return VIMO_OK;
}

vimo_status vimo_embedding(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *table, const int32_t *ids, int ids_ndim,
                           const int64_t *ids_shape)
{
    vimo_status st = vt_check_args("embedding", ctx, y);
    if (st) return st;
    if (!table || !ids || !ids_shape) return vimo_error(VIMO_ERR_INVALID, "embedding: NULL input");
    if (table->ndim != 2) return vimo_error(VIMO_ERR_SHAPE, "embedding: table %s must be (V, D)", vt_shape(table));
    if (ids_ndim < 1 || ids_ndim > 3)
        return vimo_error(VIMO_ERR_SHAPE, "embedding: ids have %d dims, expected 1 to 3", ids_ndim);
    int64_t v = table->shape[0], d = table->shape[1], cnt = 1, shape[VIMO_MAX_DIMS];
    for (int i = 0; i < ids_ndim; i++) {
        if (ids_shape[i] < 1 || ids_shape[i] > VT_MAX_NUMEL)
            return vimo_error(VIMO_ERR_SHAPE, "embedding: ids dim %d has size %lld", i, (long long)ids_shape[i]);
        cnt *= ids_shape[i];
        if (cnt > VT_MAX_NUMEL / d)
            return vimo_error(VIMO_ERR_NOMEM, "embedding: %lld+ ids of %lld floats is too large", (long long)cnt,
                              (long long)d);
        shape[i] = ids_shape[i];
    }
    shape[ids_ndim] = d;
    for (int64_t i = 0; i < cnt; i++)
        if (ids[i] < 0 || ids[i] >= v)
            return vimo_error(VIMO_ERR_INVALID, "embedding: ids[%lld] = %d outside [0, %lld) of table %s",
                              (long long)i, ids[i], (long long)v, vt_shape(table));
    vimo_tensor *tc, *out;
    int dev = table->device;
    if ((st = vt_contig(ctx, table, &tc))) return st;
    if ((st = vt_new_out_on(ctx, &out, dev, ids_ndim + 1, shape))) return st;
    /* On a device the ids go there first (the copy doubles as the saved
     * ids); on the CPU they are read in place and copied only for backward. */
    const int32_t *dids = ids;
    if (dev && !(dids = vt_upload(ctx, dev, ids, (size_t)cnt * sizeof *ids))) return VIMO_ERR_NOMEM;
    if ((st = vt_kern(dev)->embedding_fwd(ctx, tc->data, dids, out->data, cnt, d))) return st;
    if (vt_needs_grad(ctx, &tc, 1)) {
        const int32_t *saved = dids; /* the caller may reuse ids */
        if (!dev && !(saved = vt_upload(ctx, 0, ids, (size_t)cnt * sizeof *ids))) return VIMO_ERR_NOMEM;
        vimo_node *nd;
        if ((st = vt_record(ctx, out, "embedding", embedding_backward, &tc, 1, &nd))) return st;
        nd->saved = (void *)saved;
        nd->i[0] = cnt;
    }
    *y = out;
    return VIMO_OK;
}

/* ---- rotary position embedding --------------------------------------------- */

/* One (Dh) row: pair i is (i, i + half), or (2i, 2i + 1) when interleaved;
 * rotated by +angle (dir = 1) or -angle (dir = -1: the backward, a rotation's
 * transpose being its inverse). Called with constant flags so each of the
 * four uses is specialised and vectorised. */
static inline void rope_row(float *yr, const float *xr, const float *c, const float *sn, int64_t half,
                            int interleaved, float dir, int acc)
{
    for (int64_t i = 0; i < half; i++) {
        int64_t ia = interleaved ? 2 * i : i, ib = interleaved ? 2 * i + 1 : i + half;
        float a = xr[ia], b = xr[ib], s = dir * sn[i];
        float ya = a * c[i] - b * s, yb = b * c[i] + a * s;
        if (acc) {
            yr[ia] += ya;
            yr[ib] += yb;
        } else {
            yr[ia] = ya;
            yr[ib] = yb;
        }
    }
}

/* Applies rope_row to every (b, t, h) row; cs: cos then sin, (T, Dh/2) each. */
vimo_status vt_cpu_rope(vimo_ctx *ctx, float *y, const float *x, const float *cs, int64_t rows, int64_t t_len,
                        int64_t h, int64_t dh, int mode, int backward)
{
    (void)ctx;
    int64_t half = dh / 2;
    const float *sn_tab = cs + t_len * half;
    int inter = mode == VIMO_ROPE_INTERLEAVED;
#pragma omp parallel for schedule(static) if (rows * dh >= VT_OMP_MIN)
    for (int64_t r = 0; r < rows; r++) {
        int64_t t = (r / h) % t_len;
        const float *c = cs + t * half, *sn = sn_tab + t * half, *xr = x + r * dh;
        float *yr = y + r * dh;
        if (backward) {
            if (inter) rope_row(yr, xr, c, sn, half, 1, -1.0f, 1);
            else rope_row(yr, xr, c, sn, half, 0, -1.0f, 1);
        } else {
            if (inter) rope_row(yr, xr, c, sn, half, 1, 1.0f, 0);
            else rope_row(yr, xr, c, sn, half, 0, 1.0f, 0);
        }
    }
    return VIMO_OK;
}

static vimo_status rope_backward(vimo_ctx *ctx, vimo_node *n)
{
    vimo_tensor *x = n->in[0];
    if (!vt_requires_grad(x)) return VIMO_OK;
    float *gx = vt_grad(ctx, x);
    if (!gx) return VIMO_ERR_NOMEM;
    return vt_kern(x->device)->rope(ctx, gx, n->out->grad, n->saved, vt_rows(x), x->shape[1], x->shape[2],
                                    x->shape[3], (int)n->i[0], 1);
}

vimo_status vimo_rope(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, float theta, int64_t pos_offset,
                      vimo_rope_mode mode)
{
    vimo_status st = vt_check_args("rope", ctx, y);
    if (st) return st;
    if (!x) return vimo_error(VIMO_ERR_INVALID, "rope: NULL input");
    if (x->ndim != 4 || x->shape[3] % 2)
        return vimo_error(VIMO_ERR_SHAPE, "rope: x %s must be (B, T, H, Dh) with Dh even", vt_shape(x));
    if (!(theta > 0.0f) || !isfinite(theta)) return vimo_error(VIMO_ERR_INVALID, "rope: theta %g must be > 0", theta);
    /* Positions are exact in float32 up to 2^24. */
    if (pos_offset < 0 || pos_offset > (INT64_C(1) << 24) || pos_offset + x->shape[1] > (INT64_C(1) << 24))
        return vimo_error(VIMO_ERR_INVALID, "rope: positions %lld + %lld outside [0, 2^24]", (long long)pos_offset,
                          (long long)x->shape[1]);
    if (mode != VIMO_ROPE_INTERLEAVED && mode != VIMO_ROPE_HALF)
        return vimo_error(VIMO_ERR_INVALID, "rope: unknown mode %d", (int)mode);
    vimo_tensor *xc, *out;
    int dev = x->device;
    if ((st = vt_contig(ctx, x, &xc))) return st;
    if ((st = vt_new_out_on(ctx, &out, dev, 4, x->shape))) return st;
    int64_t t_len = x->shape[1], dh = x->shape[3], half = dh / 2;
    float *cs = vt_alloc(ctx, 2 * (size_t)(t_len * half) * sizeof(float));
    if (!cs) return VIMO_ERR_NOMEM;
    /* Angles in float32 as Meta Llama and Hugging Face compute them
     * (inv_freq = 1 / theta^(2i/Dh), angle = pos * inv_freq), so positions
     * round the same way the model was trained with; cos and sin of that
     * float angle are taken in double and rounded once. */
    for (int64_t i = 0; i < half; i++) {
        float inv_freq = 1.0f / powf(theta, (float)(2 * i) / (float)dh);
        for (int64_t t = 0; t < t_len; t++) {
            double ang = (double)((float)(pos_offset + t) * inv_freq);
            cs[t * half + i] = (float)cos(ang);
            cs[t_len * half + t * half + i] = (float)sin(ang);
        }
    }
    /* The tables are made on the host (the same float angles everywhere)
     * and copied to the device. */
    if (dev && !(cs = vt_upload(ctx, dev, cs, 2 * (size_t)(t_len * half) * sizeof(float)))) return VIMO_ERR_NOMEM;
    if ((st = vt_kern(dev)->rope(ctx, out->data, xc->data, cs, vt_rows(xc), t_len, x->shape[2], dh, mode, 0)))
        return st;
    if (vt_needs_grad(ctx, &xc, 1)) {
        vimo_node *nd;
        if ((st = vt_record(ctx, out, "rope", rope_backward, &xc, 1, &nd))) return st;
        nd->saved = cs;
        nd->i[0] = mode;
    }
    *y = out;
    return VIMO_OK;
}

/* ---- dropout --------------------------------------------------------------- */

/* keep[i] = (i-th vimo_rng_u32 draw >= thresh). The xoshiro128** step of
 * rng.c is repeated inline on a local copy of the state (5x faster than a
 * call per element; the mask is serial work); test_grad_nn checks that the
 * mask equals the vimo_rng_u32 sequence. */
static void draw_keep_mask(uint8_t *keep, int64_t cnt, uint32_t thresh, vimo_rng *rng)
{
    uint32_t s0 = rng->s[0], s1 = rng->s[1], s2 = rng->s[2], s3 = rng->s[3];
    for (int64_t i = 0; i < cnt; i++) {
        uint32_t x = s1 * 5u, out = ((x << 7) | (x >> 25)) * 9u, t = s1 << 9;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = (s3 << 11) | (s3 >> 21);
        keep[i] = out >= thresh;
    }
    rng->s[0] = s0;
    rng->s[1] = s1;
    rng->s[2] = s2;
    rng->s[3] = s3;
}

/* y = x * keep / (1 - p); saved: the keep mask (numel bytes), f[0] = 1/(1-p). */
vimo_status vt_cpu_dropout_bwd(vimo_ctx *ctx, const uint8_t *keep, const float *dy, float *gx, int64_t cnt,
                               float scale)
{
    (void)ctx;
#pragma omp parallel for schedule(static) if (cnt >= VT_OMP_MIN)
    for (int64_t i = 0; i < cnt; i++) gx[i] += dy[i] * (scale * (float)keep[i]);
    return VIMO_OK;
}

vimo_status vt_cpu_dropout_fwd(vimo_ctx *ctx, const float *xd, const uint8_t *keep, float *o, int64_t cnt,
                               float scale)
{
    (void)ctx;
#pragma omp parallel for schedule(static) if (cnt >= VT_OMP_MIN)
    for (int64_t i = 0; i < cnt; i++) o[i] = xd[i] * (scale * (float)keep[i]);
    return VIMO_OK;
}

static vimo_status dropout_backward(vimo_ctx *ctx, vimo_node *n)
{
    vimo_tensor *x = n->in[0];
    if (!vt_requires_grad(x)) return VIMO_OK;
    float *gx = vt_grad(ctx, x);
    if (!gx) return VIMO_ERR_NOMEM;
    return vt_kern(x->device)->dropout_bwd(ctx, n->saved, n->out->grad, gx, vt_numel(x), n->f[0]);
}

vimo_status vimo_dropout(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, float p, vimo_rng *rng)
{
    vimo_status st = vt_check_args("dropout", ctx, y);
    if (st) return st;
    if (!x) return vimo_error(VIMO_ERR_INVALID, "dropout: NULL input");
    if (!(p >= 0.0f && p < 1.0f)) return vimo_error(VIMO_ERR_INVALID, "dropout: p %g outside [0, 1)", p);
    if (p == 0.0f || !rng) {
        *y = x;
        return VIMO_OK;
    }
    vimo_tensor *xc, *out;
    int dev = x->device;
    if ((st = vt_contig(ctx, x, &xc))) return st;
    if ((st = vt_new_out_on(ctx, &out, dev, x->ndim, x->shape))) return st;
    int64_t cnt = vt_numel(x);
    uint8_t *keep = vt_alloc(ctx, (size_t)cnt);
    if (!keep) return VIMO_ERR_NOMEM;
    /* One 32-bit draw per element, in element order, on this thread: the
     * mask depends only on the rng state. Drop when u < p 2^32. */
    double td = (double)p * 4294967296.0;
    uint32_t thresh = td >= 4294967295.0 ? 4294967295u : (uint32_t)td;
    draw_keep_mask(keep, cnt, thresh, rng);
    float scale = 1.0f / (1.0f - p);
    /* The mask is drawn on the host from the caller's rng on every device,
     * so a seed gives the same mask on the CPU and on a GPU. */
    if (dev && !(keep = vt_upload(ctx, dev, keep, (size_t)cnt))) return VIMO_ERR_NOMEM;
    if ((st = vt_kern(dev)->dropout_fwd(ctx, xc->data, keep, out->data, cnt, scale))) return st;
    if (vt_needs_grad(ctx, &xc, 1)) {
        vimo_node *nd;
        if ((st = vt_record(ctx, out, "dropout", dropout_backward, &xc, 1, &nd))) return st;
        nd->saved = keep;
        nd->f[0] = scale;
    }
    *y = out;
    return VIMO_OK;
}

/* ---- cross-entropy ----------------------------------------------------------- */

typedef struct ce_saved {
    int32_t *targets; /* (rows) */
    float *lse;       /* (rows) log-sum-exp of each counted row */
} ce_saved;

/* Log-sum-exp of one row of logits. Cloned per ISA: exp dominates. */
VT_CLONES static float row_lse(const float *xr, int64_t v)
{
    float m = vt_max(xr, v);
    return m + logf(vt_sumexp(xr, m, v));
}

/* gr += g softmax(xr) (lse given). */
VT_CLONES static void row_softmax_add(float *restrict gr, const float *restrict xr, float lse, float g, int64_t v)
{
    for (int64_t j = 0; j < v; j++) gr[j] += g * vt_expf(xr[j] - lse);
}

/* dlogits = g / count * (softmax - onehot) on counted rows. */
vimo_status vt_cpu_ce_bwd(vimo_ctx *ctx, const float *xd, const int32_t *targets, int32_t ignore, int64_t count,
                          const float *lse, const float *dloss, float *gx, int64_t rows, int64_t v)
{
    (void)ctx;
    if (count == 0) return VIMO_OK;
    float g = dloss[0] / (float)count;
#pragma omp parallel for schedule(static) if (rows * v >= VT_OMP_MIN)
    for (int64_t r = 0; r < rows; r++) {
        int32_t t = targets[r];
        if (t == ignore) continue;
        row_softmax_add(gx + r * v, xd + r * v, lse[r], g, v);
        gx[r * v + t] -= g;
    }
    return VIMO_OK;
}

static vimo_status ce_backward(vimo_ctx *ctx, vimo_node *n)
{
    vimo_tensor *x = n->in[0];
    if (!vt_requires_grad(x)) return VIMO_OK;
    int64_t count = n->i[1];
    if (count == 0) return VIMO_OK;
    float *gx = vt_grad(ctx, x);
    if (!gx) return VIMO_ERR_NOMEM;
    const ce_saved *sv = n->saved;
    return vt_kern(x->device)->ce_bwd(ctx, x->data, sv->targets, (int32_t)n->i[0], count, sv->lse, n->out->grad, gx,
                                      vt_rows(x), vt_last(x));
}

vimo_status vt_cpu_ce_fwd(vimo_ctx *ctx, const float *xd, const int32_t *targets, int32_t ignore_index,
                          int64_t count, float *lse, float *loss, int64_t rows, int64_t v)
{
    float *row_loss = vt_alloc(ctx, (size_t)rows * sizeof(float));
    if (!row_loss) return VIMO_ERR_NOMEM;
#pragma omp parallel for schedule(static) if (rows * v >= VT_OMP_MIN)
    for (int64_t r = 0; r < rows; r++) {
        int32_t t = targets[r];
        lse[r] = 0.0f;
        row_loss[r] = 0.0f;
        if (t == ignore_index) continue;
        float l = row_lse(xd + r * v, v);
        lse[r] = l;
        row_loss[r] = l - xd[r * v + t];
    }
    double total = 0.0;
    for (int64_t r = 0; r < rows; r++) total += row_loss[r];
    loss[0] = count ? (float)(total / (double)count) : 0.0f;
    return VIMO_OK;
}

vimo_status vimo_cross_entropy(vimo_ctx *ctx, vimo_tensor **loss, vimo_tensor *logits, const int32_t *targets,
                               int32_t ignore_index)
{
    vimo_status st = vt_check_args("cross_entropy", ctx, loss);
    if (st) return st;
    if (!logits || !targets) return vimo_error(VIMO_ERR_INVALID, "cross_entropy: NULL input");
    int64_t rows = vt_rows(logits), v = vt_last(logits), count = 0;
    for (int64_t r = 0; r < rows; r++) {
        if (targets[r] == ignore_index) continue;
        if (targets[r] < 0 || targets[r] >= v)
            return vimo_error(VIMO_ERR_INVALID, "cross_entropy: targets[%lld] = %d outside [0, %lld) of logits %s",
                              (long long)r, targets[r], (long long)v, vt_shape(logits));
        count++;
    }
    vimo_tensor *xc, *out;
    int dev = logits->device;
    if ((st = vt_contig(ctx, logits, &xc))) return st;
    if ((st = vt_new_out_on(ctx, &out, dev, 1, (int64_t[]){1}))) return st;
    ce_saved *sv = vt_alloc(ctx, sizeof *sv);
    if (!sv || !(sv->targets = vt_upload(ctx, dev, targets, (size_t)rows * sizeof(int32_t))) ||
        !(sv->lse = vt_alloc_dev(ctx, dev, (size_t)rows * sizeof(float))))
        return VIMO_ERR_NOMEM;
    if ((st = vt_kern(dev)->ce_fwd(ctx, xc->data, sv->targets, ignore_index, count, sv->lse, out->data, rows, v)))
        return st;
    if (vt_needs_grad(ctx, &xc, 1)) {
        vimo_node *nd;
        if ((st = vt_record(ctx, out, "cross_entropy", ce_backward, &xc, 1, &nd))) return st;
        nd->saved = sv;
        nd->i[0] = ignore_index;
        nd->i[1] = count;
    }
    *loss = out;
    return VIMO_OK;
}

/* ---- mean squared error ------------------------------------------------------ */

/* Elements per partial sum: a constant, so the sum's tree is fixed. */
#define MSE_CHUNK 4096

vimo_status vt_cpu_mse_bwd(vimo_ctx *ctx, const float *ad, const float *bd, const float *dloss, float *ga, float *gb,
                           int64_t cnt)
{
    (void)ctx;
    float k = 2.0f * dloss[0] / (float)cnt;
    /* a and b may be the same tensor: its two updates happen in one loop. */
#pragma omp parallel for schedule(static) if (cnt >= VT_OMP_MIN)
    for (int64_t i = 0; i < cnt; i++) {
        float d = k * (ad[i] - bd[i]);
        if (ga) ga[i] += d;
        if (gb) gb[i] -= d;
    }
    return VIMO_OK;
}

static vimo_status mse_backward(vimo_ctx *ctx, vimo_node *n)
{
    vimo_tensor *a = n->in[0], *b = n->in[1];
    float *ga = NULL, *gb = NULL;
    if (vt_requires_grad(a) && !(ga = vt_grad(ctx, a))) return VIMO_ERR_NOMEM;
    if (vt_requires_grad(b) && !(gb = vt_grad(ctx, b))) return VIMO_ERR_NOMEM;
    return vt_kern(a->device)->mse_bwd(ctx, a->data, b->data, n->out->grad, ga, gb, vt_numel(a));
}

vimo_status vt_cpu_mse_fwd(vimo_ctx *ctx, const float *ad, const float *bd, float *loss, int64_t cnt)
{
    int64_t nchunk = (cnt + MSE_CHUNK - 1) / MSE_CHUNK;
    float *part = vt_alloc(ctx, (size_t)nchunk * sizeof(float));
    if (!part) return VIMO_ERR_NOMEM;
#pragma omp parallel for schedule(static) if (cnt >= VT_OMP_MIN)
    for (int64_t c = 0; c < nchunk; c++) {
        int64_t i0 = c * MSE_CHUNK, len = i0 + MSE_CHUNK < cnt ? MSE_CHUNK : cnt - i0;
        part[c] = vt_sqdiff(ad + i0, bd + i0, len);
    }
    double total = 0.0;
    for (int64_t c = 0; c < nchunk; c++) total += part[c];
    loss[0] = (float)(total / (double)cnt);
    return VIMO_OK;
}

vimo_status vimo_mse(vimo_ctx *ctx, vimo_tensor **loss, vimo_tensor *a, vimo_tensor *b)
{
    vimo_status st = vt_check_args("mse", ctx, loss);
    if (st) return st;
    if (!a || !b) return vimo_error(VIMO_ERR_INVALID, "mse: NULL input");
    if (a->ndim != b->ndim || memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof(int64_t)))
        return vimo_error(VIMO_ERR_SHAPE, "mse: a %s vs b %s differ", vt_shape(a), vt_shape(b));
    int dev;
    if ((st = vt_same_device("mse", &dev, 2, (vimo_tensor *[]){a, b}, (const char *[]){"a", "b"}))) return st;
    vimo_tensor *ac, *bc, *out;
    if ((st = vt_contig(ctx, a, &ac)) || (st = vt_contig(ctx, b, &bc))) return st;
    if ((st = vt_new_out_on(ctx, &out, dev, 1, (int64_t[]){1}))) return st;
    if ((st = vt_kern(dev)->mse_fwd(ctx, ac->data, bc->data, out->data, vt_numel(a)))) return st;
    vimo_tensor *in[2] = {ac, bc};
    if (vt_needs_grad(ctx, in, 2) && (st = vt_record(ctx, out, "mse", mse_backward, in, 2, NULL))) return st;
    *loss = out;
    return VIMO_OK;
}
