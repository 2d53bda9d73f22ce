/*
 * ops_norm.c - RMSNorm, LayerNorm and softmax over the last dim.
 *
 * Rows are independent: OpenMP splits them statically and each row's sums
 * use vt_math.h's fixed-lane reductions. Parameter gradients (w, b) sum rows
 * in fixed VT_ROW_CHUNK partials folded in chunk order, so every bit of every
 * result is the same for any thread count.
 * Not here: norms over other dims (permute first), fused residual adds.
 */
#include <math.h>
#include <string.h>

#include "cpu_kernels.h"
#include "tensor_impl.h"
#include "vt_math.h"

/* Zeroed per-chunk partial sums for a (D) parameter gradient, or NULL. */
static float *chunk_partials(vimo_ctx *ctx, int64_t nchunk, int64_t d)
{
    size_t bytes = (size_t)(nchunk * d) * sizeof(float);
    float *p = vt_alloc(ctx, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

static vimo_status check_param(const char *op, const char *name, const vimo_tensor *x, const vimo_tensor *p)
{
    if (p->ndim != 1 || p->shape[0] != vt_last(x))
        return vimo_error(VIMO_ERR_SHAPE, "%s: x %s vs %s %s: %s must be (%lld,)", op, vt_shape(x), name,
                          vt_shape(p), name, (long long)vt_last(x));
    return VIMO_OK;
}

static vimo_status check_eps(const char *op, float eps)
{
    if (!(eps >= 0.0f) || !isfinite(eps)) return vimo_error(VIMO_ERR_INVALID, "%s: eps %g must be >= 0", op, eps);
    return VIMO_OK;
}

/* ---- RMSNorm --------------------------------------------------------------- */

/* saved: rstd (rows). dx = r (dy w - x r^2 mean(dy w x)), dw = sum_rows dy x r. */
static vimo_status rmsnorm_backward(vimo_ctx *ctx, vimo_node *n)
{
    vimo_tensor *x = n->in[0], *w = n->in[1];
    float *gx = NULL, *gw = NULL;
    if (vt_requires_grad(x) && !(gx = vt_grad(ctx, x))) return VIMO_ERR_NOMEM;
    if (vt_requires_grad(w) && !(gw = vt_grad(ctx, w))) return VIMO_ERR_NOMEM;
    return vt_kern(x->device)->rmsnorm_bwd(ctx, x->data, w->data, n->saved, n->out->grad, gx, gw, vt_rows(x),
                                           vt_last(x));
}

vimo_status vt_cpu_rmsnorm_bwd(vimo_ctx *ctx, const float *xd, const float *wd, const float *rstd, const float *dy,
                               float *gx, float *gw, int64_t rows, int64_t d)
{
    int64_t nchunk = (rows + VT_ROW_CHUNK - 1) / VT_ROW_CHUNK;
    float *part = NULL;
    if (gw && !(part = chunk_partials(ctx, nchunk, d))) return VIMO_ERR_NOMEM;
    float inv_d = 1.0f / (float)d;
#pragma omp parallel for schedule(static) if (rows * d >= VT_OMP_MIN)
    for (int64_t c = 0; c < nchunk; c++) {
        int64_t r1 = (c + 1) * VT_ROW_CHUNK < rows ? (c + 1) * VT_ROW_CHUNK : rows;
        for (int64_t r = c * VT_ROW_CHUNK; r < r1; r++) {
            const float *xr = xd + r * d, *dyr = dy + r * d;
            float rs = rstd[r];
            if (gx) {
                float k = rs * rs * vt_dot3(dyr, wd, xr, 0.0f, d) * inv_d;
                float *gr = gx + r * d;
                for (int64_t j = 0; j < d; j++) gr[j] += rs * (dyr[j] * wd[j] - xr[j] * k);
            }
            if (part) {
                float *pc = part + c * d;
                for (int64_t j = 0; j < d; j++) pc[j] += dyr[j] * xr[j] * rs;
            }
        }
    }
    if (gw) vt_fold_chunks(gw, part, nchunk, d);
    return VIMO_OK;
}

vimo_status vimo_rmsnorm(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, vimo_tensor *w, float eps)
{
    vimo_status st = vt_check_args("rmsnorm", ctx, y);
    if (st) return st;
    if (!x || !w) return vimo_error(VIMO_ERR_INVALID, "rmsnorm: NULL input");
    if ((st = check_param("rmsnorm", "w", x, w)) || (st = check_eps("rmsnorm", eps))) return st;
    int dev;
    if ((st = vt_same_device("rmsnorm", &dev, 2, (vimo_tensor *[]){x, w}, (const char *[]){"x", "w"}))) return st;
    vimo_tensor *xc, *wc, *out;
    if ((st = vt_contig(ctx, x, &xc)) || (st = vt_contig(ctx, w, &wc))) return st;
    if ((st = vt_new_out_on(ctx, &out, dev, x->ndim, x->shape))) return st;
    int64_t rows = vt_rows(xc), d = vt_last(xc);
    float *rstd = vt_alloc_dev(ctx, dev, (size_t)rows * sizeof(float));
    if (!rstd) return VIMO_ERR_NOMEM;
    if ((st = vt_kern(dev)->rmsnorm_fwd(ctx, xc->data, wc->data, out->data, rstd, rows, d, eps))) return st;
    vimo_tensor *in[2] = {xc, wc};
    if (vt_needs_grad(ctx, in, 2)) {
        vimo_node *nd;
        if ((st = vt_record(ctx, out, "rmsnorm", rmsnorm_backward, in, 2, &nd))) return st;
        nd->saved = rstd;
    }
    *y = out;
    return VIMO_OK;
}

vimo_status vt_cpu_rmsnorm_fwd(vimo_ctx *ctx, const float *xd, const float *wd, float *o, float *rstd, int64_t rows,
                               int64_t d, float eps)
{
    (void)ctx;
#pragma omp parallel for schedule(static) if (rows * d >= VT_OMP_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = xd + r * d;
        float rs = 1.0f / sqrtf(vt_dot(xr, xr, d) / (float)d + eps);
        float *orow = o + r * d;
        rstd[r] = rs;
        for (int64_t j = 0; j < d; j++) orow[j] = wd[j] * (xr[j] * rs); /* HF LlamaRMSNorm order */
    }
    return VIMO_OK;
}

/* ---- LayerNorm ------------------------------------------------------------- */

/* saved: mean (rows) then rstd (rows). With xh = (x - mean) r and g = dy w:
 * dx = r (g - mean(g) - xh mean(g xh)), dw = sum dy xh, db = sum dy. */
static vimo_status layernorm_backward(vimo_ctx *ctx, vimo_node *n)
{
    vimo_tensor *x = n->in[0], *w = n->in[1], *b = n->n_in > 2 ? n->in[2] : NULL;
    float *gx = NULL, *gw = NULL, *gb = NULL;
    if (vt_requires_grad(x) && !(gx = vt_grad(ctx, x))) return VIMO_ERR_NOMEM;
    if (vt_requires_grad(w) && !(gw = vt_grad(ctx, w))) return VIMO_ERR_NOMEM;
    if (b && vt_requires_grad(b) && !(gb = vt_grad(ctx, b))) return VIMO_ERR_NOMEM;
    return vt_kern(x->device)->layernorm_bwd(ctx, x->data, w->data, n->saved, n->out->grad, gx, gw, gb, vt_rows(x),
                                             vt_last(x));
}

vimo_status vt_cpu_layernorm_bwd(vimo_ctx *ctx, const float *xd, const float *wd, const float *mean,
                                 const float *dy, float *gx, float *gw, float *gb, int64_t rows, int64_t d)
{
    int64_t nchunk = (rows + VT_ROW_CHUNK - 1) / VT_ROW_CHUNK;
    const float *rstd = mean + rows;
    float *pw = NULL, *pb = NULL;
    if (gw && !(pw = chunk_partials(ctx, nchunk, d))) return VIMO_ERR_NOMEM;
    if (gb && !(pb = chunk_partials(ctx, nchunk, d))) return VIMO_ERR_NOMEM;
    float inv_d = 1.0f / (float)d;
#pragma omp parallel for schedule(static) if (rows * d >= VT_OMP_MIN)
    for (int64_t c = 0; c < nchunk; c++) {
        int64_t r1 = (c + 1) * VT_ROW_CHUNK < rows ? (c + 1) * VT_ROW_CHUNK : rows;
        for (int64_t r = c * VT_ROW_CHUNK; r < r1; r++) {
            const float *xr = xd + r * d, *dyr = dy + r * d;
            float mu = mean[r], rs = rstd[r];
            if (gx) {
                float mg = vt_dot(dyr, wd, d) * inv_d;
                float mgx = vt_dot3(dyr, wd, xr, mu, d) * rs * inv_d;
                float *gr = gx + r * d;
                for (int64_t j = 0; j < d; j++) gr[j] += rs * (dyr[j] * wd[j] - mg - (xr[j] - mu) * rs * mgx);
            }
            if (pw) {
                float *pc = pw + c * d;
                for (int64_t j = 0; j < d; j++) pc[j] += dyr[j] * ((xr[j] - mu) * rs);
            }
            if (pb) {
                float *pc = pb + c * d;
                for (int64_t j = 0; j < d; j++) pc[j] += dyr[j];
            }
        }
    }
    if (gw) vt_fold_chunks(gw, pw, nchunk, d);
    if (gb) vt_fold_chunks(gb, pb, nchunk, d);
    return VIMO_OK;
}

vimo_status vimo_layernorm(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, vimo_tensor *w, vimo_tensor *b,
                           float eps)
{
    vimo_status st = vt_check_args("layernorm", ctx, y);
    if (st) return st;
    if (!x || !w) return vimo_error(VIMO_ERR_INVALID, "layernorm: NULL input");
    if ((st = check_param("layernorm", "w", x, w)) || (b && (st = check_param("layernorm", "b", x, b))) ||
        (st = check_eps("layernorm", eps)))
        return st;
    int dev;
    if ((st = vt_same_device("layernorm", &dev, 3, (vimo_tensor *[]){x, w, b}, (const char *[]){"x", "w", "b"})))
        return st;
    vimo_tensor *xc, *wc, *bc = NULL, *out;
    if ((st = vt_contig(ctx, x, &xc)) || (st = vt_contig(ctx, w, &wc)) || (b && (st = vt_contig(ctx, b, &bc))))
        return st;
    if ((st = vt_new_out_on(ctx, &out, dev, x->ndim, x->shape))) return st;
    int64_t rows = vt_rows(xc), d = vt_last(xc);
    float *stats = vt_alloc_dev(ctx, dev, 2 * (size_t)rows * sizeof(float)); /* mean, rstd */
    if (!stats) return VIMO_ERR_NOMEM;
    if ((st = vt_kern(dev)->layernorm_fwd(ctx, xc->data, wc->data, bc ? bc->data : NULL, out->data, stats, rows, d,
                                          eps)))
        return st;
    vimo_tensor *in[3] = {xc, wc, bc};
    int nin = bc ? 3 : 2;
    if (vt_needs_grad(ctx, in, nin)) {
        vimo_node *nd;
        if ((st = vt_record(ctx, out, "layernorm", layernorm_backward, in, nin, &nd))) return st;
        nd->saved = stats;
    }
    *y = out;
    return VIMO_OK;
}

vimo_status vt_cpu_layernorm_fwd(vimo_ctx *ctx, const float *xd, const float *wd, const float *bd, float *o,
                                 float *stats, int64_t rows, int64_t d, float eps)
{
    (void)ctx;
#pragma omp parallel for schedule(static) if (rows * d >= VT_OMP_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = xd + r * d;
        float mu = vt_sum(xr, d) / (float)d; /* two passes: no cancellation in var */
        float rs = 1.0f / sqrtf(vt_sqdev(xr, mu, d) / (float)d + eps);
        float *orow = o + r * d;
        stats[r] = mu;
        stats[rows + r] = rs;
        if (bd)
            for (int64_t j = 0; j < d; j++) orow[j] = (xr[j] - mu) * rs * wd[j] + bd[j];
        else
            for (int64_t j = 0; j < d; j++) orow[j] = (xr[j] - mu) * rs * wd[j];
    }
    return VIMO_OK;
}

/* ---- softmax --------------------------------------------------------------- */

/* One row: y = exp(x - max) / sum. Cloned per ISA: exp dominates. */
VT_CLONES static void softmax_row(float *restrict orow, const float *restrict xr, int64_t d)
{
    float m = vt_max(xr, d);
    if (m == -INFINITY) m = 0.0f; /* an all -inf row gives zeros, not NaN */
    for (int64_t j = 0; j < d; j++) orow[j] = vt_expf(xr[j] - m);
    float s = vt_sum(orow, d);
    if (s > 0.0f)
        for (int64_t j = 0; j < d; j++) orow[j] /= s;
}

vimo_status vt_cpu_softmax_fwd(vimo_ctx *ctx, const float *xd, float *o, int64_t rows, int64_t d)
{
    (void)ctx;
#pragma omp parallel for schedule(static) if (rows * d >= VT_OMP_MIN)
    for (int64_t r = 0; r < rows; r++) softmax_row(o + r * d, xd + r * d, d);
    return VIMO_OK;
}

/* dx = y (dy - sum(dy y)), per row. */
static vimo_status softmax_backward(vimo_ctx *ctx, vimo_node *n)
{
    vimo_tensor *x = n->in[0];
    if (!vt_requires_grad(x)) return VIMO_OK;
    float *gx = vt_grad(ctx, x);
    if (!gx) return VIMO_ERR_NOMEM;
    return vt_kern(x->device)->softmax_bwd(ctx, n->out->data, n->out->grad, gx, vt_rows(x), vt_last(x));
}

vimo_status vt_cpu_softmax_bwd(vimo_ctx *ctx, const float *yd, const float *dy, float *gx, int64_t rows, int64_t d)
{
    (void)ctx;
#pragma omp parallel for schedule(static) if (rows * d >= VT_OMP_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = yd + r * d, *dyr = dy + r * d;
        float s = vt_dot(dyr, yr, d);
        float *gr = gx + r * d;
        for (int64_t j = 0; j < d; j++) gr[j] += yr[j] * (dyr[j] - s);
    }
    return VIMO_OK;
}

vimo_status vimo_softmax(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x)
{
    vimo_status st = vt_check_args("softmax", ctx, y);
    if (st) return st;
    if (!x) return vimo_error(VIMO_ERR_INVALID, "softmax: NULL input");
    vimo_tensor *xc, *out;
    if ((st = vt_contig(ctx, x, &xc))) return st;
    if ((st = vt_new_out_on(ctx, &out, x->device, x->ndim, x->shape))) return st;
    if ((st = vt_kern(x->device)->softmax_fwd(ctx, xc->data, out->data, vt_rows(xc), vt_last(xc)))) return st;
    if (vt_needs_grad(ctx, &xc, 1) && (st = vt_record(ctx, out, "softmax", softmax_backward, &xc, 1, NULL)))
        return st;
    *y = out;
    return VIMO_OK;
}
