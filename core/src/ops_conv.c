/*
 * ops_conv.c - 1-D and 2-D convolution (PyTorch layouts and output sizes)
 * as im2col + vimo_sgemm.
 *
 * conv1d is the 2-D kernel with H = KH = 1. Forward: cols (Cin KH KW, Ho Wo)
 * = im2col(x[b]), y[b] = W cols + bias, for a group of batch items in one
 * GEMM when Ho Wo is short (bit-identical to item by item). Backward (dW
 * item by item, dcols for a group as in the forward): dW += dy[b] cols^T,
 * dcols = W^T dy[b], dx[b] += col2im(dcols), db += row sums of dy. The
 * GEMMs run outside any OpenMP region (BLIS owns its threads); im2col and
 * col2im split channels statically, each channel owning its rows of cols or
 * of dx, so results do not depend on the thread count.
 * Not here: groups / depthwise, transposed convolution, 2-D dilation and
 * non-square stride or padding (not needed by the encoders vimo ships).
 */
#include <string.h>

#include "cpu_kernels.h"
#include "tensor_impl.h"
#include "vimo/kernels.h"
#include "vt_math.h"

/* Guards: parameters beyond these are hostile, not a convolution. */
#define CONV_MAX_PARAM (1 << 20)
#define CONV_MAX_COLS (INT64_C(1) << 32) /* floats in one im2col buffer */

/* stride, padding, dilation per axis: the ABI's struct (vimo/backend.h). */
typedef vimo_conv_dims conv_geom;

static int64_t cg_rows(const conv_geom *g) { return g->cin * g->kh * g->kw; }
static int64_t cg_cols(const conv_geom *g) { return g->ho * g->wo; }

/* The output columns ow whose input column iw = ow sw + off falls inside
 * 0..w-1: [*lo, *hi), clamped to 0..wo. Lets the loops below run without a
 * bounds test per element. */
static void valid_cols(const conv_geom *g, int64_t off, int64_t *lo, int64_t *hi)
{
    int64_t a = off >= 0 ? 0 : (-off + g->sw - 1) / g->sw;
    int64_t b = g->w - 1 - off < 0 ? 0 : (g->w - 1 - off) / g->sw + 1;
    *lo = a < g->wo ? a : g->wo;
    *hi = b < *lo ? *lo : b < g->wo ? b : g->wo;
}

/* cols[(c, ki, kj), (oh, ow)] = x[c, oh sh - ph + ki dh, ow sw - pw + kj dw]
 * (0 outside); x is one batch item (Cin, H, W); row r of cols starts at
 * cols + r ld (ld >= Ho Wo: items of a batch group side by side). */
static void im2col(float *cols, int64_t ld, const float *x, const conv_geom *g)
{
    int64_t rows = cg_rows(g), l = cg_cols(g);
#pragma omp parallel for schedule(static) if (rows * l >= VT_OMP_MIN)
    for (int64_t r = 0; r < rows; r++) {
        int64_t c = r / (g->kh * g->kw), ki = (r / g->kw) % g->kh, kj = r % g->kw;
        const float *xc = x + c * g->h * g->w;
        float *dst = cols + r * ld;
        for (int64_t oh = 0; oh < g->ho; oh++) {
            int64_t ih = oh * g->sh - g->ph + ki * g->dh;
            float *d = dst + oh * g->wo;
            if (ih < 0 || ih >= g->h) {
                memset(d, 0, (size_t)g->wo * sizeof(float));
                continue;
            }
            int64_t off = kj * g->dw - g->pw, lo, hi;
            valid_cols(g, off, &lo, &hi);
            const float *xr = xc + ih * g->w;
            memset(d, 0, (size_t)lo * sizeof(float));
            if (g->sw == 1) {
                if (hi > lo) memcpy(d + lo, xr + lo + off, (size_t)(hi - lo) * sizeof(float));
            } else {
                for (int64_t ow = lo; ow < hi; ow++) d[ow] = xr[ow * g->sw + off];
            }
            memset(d + hi, 0, (size_t)(g->wo - hi) * sizeof(float));
        }
    }
}

/* dx[c, ih, iw] += dcols[(c, ki, kj), (oh, ow)]: the transpose of im2col
 * (row r of dcols at dcols + r ld). Each channel is one task and adds its
 * kernel taps in a fixed order. */
static void col2im_add(float *dx, const float *dcols, int64_t ld, const conv_geom *g)
{
    int64_t l = cg_cols(g), taps = g->kh * g->kw;
#pragma omp parallel for schedule(static) if (g->cin * taps * l >= VT_OMP_MIN)
    for (int64_t c = 0; c < g->cin; c++) {
        float *xc = dx + c * g->h * g->w;
        for (int64_t t = 0; t < taps; t++) {
            int64_t ki = t / g->kw, kj = t % g->kw;
            const float *src = dcols + (c * taps + t) * ld;
            for (int64_t oh = 0; oh < g->ho; oh++) {
                int64_t ih = oh * g->sh - g->ph + ki * g->dh;
                if (ih < 0 || ih >= g->h) continue;
                int64_t off = kj * g->dw - g->pw, lo, hi;
                valid_cols(g, off, &lo, &hi);
                float *xr = xc + ih * g->w;
                const float *s = src + oh * g->wo;
                for (int64_t ow = lo; ow < hi; ow++) xr[ow * g->sw + off] += s[ow];
            }
        }
    }
}

/* Batch items per GEMM (the forward, and dcols in the backward): enough
 * that the GEMM has ~GROUP_COLS columns (a product with Ho Wo = 32..128
 * columns runs BLIS at a third of the rate of one with 512), within
 * GROUP_MAX_FLOATS of im2col buffer. One item when Ho Wo is large already. */
#define GROUP_COLS 512
#define GROUP_MAX_FLOATS (INT64_C(1) << 22)
static int64_t batch_group(const conv_geom *g)
{
    int64_t l = cg_cols(g), gb = (GROUP_COLS + l - 1) / l;
    if (gb > g->b) gb = g->b;
    while (gb > 1 && cg_rows(g) * l * gb > GROUP_MAX_FLOATS) gb--;
    return gb < 1 ? 1 : gb;
}

/* rows x len floats from src (row stride sld) to dst (row stride dld): an
 * item's (Cout, l) block into or out of a group's (Cout, nb l) matrix. */
static void copy_rows(float *dst, int64_t dld, const float *src, int64_t sld, int64_t rows, int64_t len)
{
    for (int64_t r = 0; r < rows; r++) memcpy(dst + r * dld, src + r * sld, (size_t)len * sizeof(float));
}

static vimo_status conv_backward(vimo_ctx *ctx, vimo_node *n)
{
    vimo_tensor *x = n->in[0], *w = n->in[1], *b = n->n_in > 2 ? n->in[2] : NULL;
    float *gx = NULL, *gw = NULL, *gb = NULL;
    if (vt_requires_grad(x) && !(gx = vt_grad(ctx, x))) return VIMO_ERR_NOMEM;
    if (vt_requires_grad(w) && !(gw = vt_grad(ctx, w))) return VIMO_ERR_NOMEM;
    if (b && vt_requires_grad(b) && !(gb = vt_grad(ctx, b))) return VIMO_ERR_NOMEM;
    return vt_kern(x->device)->conv_bwd(ctx, n->saved, x->data, w->data, n->out->grad, gx, gw, gb);
}

/* dW += dy[b] cols(x[b])^T item by item, in batch order (a sum over items:
 * grouping would change its order); dcols = W^T dy and dx[b] += col2im for
 * a group of items at once (dy of the group gathered side by side, (Cout,
 * nb l)), bit-identical to item by item as in the forward. */
vimo_status vt_cpu_conv_bwd(vimo_ctx *ctx, const vimo_conv_dims *g, const float *xd, const float *wd,
                            const float *dy, float *gx, float *gw, float *gb)
{
    int64_t rows = cg_rows(g), l = cg_cols(g), xsz = g->cin * g->h * g->w, ysz = g->cout * l;
    int64_t gs = gx ? batch_group(g) : 1;
    float *cols = gw ? vt_alloc(ctx, (size_t)(rows * l) * sizeof(float)) : NULL;
    float *dcols = gx ? vt_alloc(ctx, (size_t)(rows * l * gs) * sizeof(float)) : NULL;
    float *dyg = gs > 1 ? vt_alloc(ctx, (size_t)(g->cout * l * gs) * sizeof(float)) : NULL;
    if ((gw && !cols) || (gx && !dcols) || (gs > 1 && !dyg)) return VIMO_ERR_NOMEM;
    vimo_status st = VIMO_OK;
    for (int64_t b0 = 0; b0 < g->b; b0 += gs) {
        int64_t nb = g->b - b0 < gs ? g->b - b0 : gs, n = nb * l;
        for (int64_t bi = b0; bi < b0 + nb && gw; bi++) {
            im2col(cols, l, xd + bi * xsz, g);
            VIMO_TRY(vimo_sgemm(0, 1, g->cout, rows, l, 1.0f, dy + bi * ysz, l, cols, l, 1.0f, gw, rows));
        }
        if (!gx) continue;
        const float *src = dy + b0 * ysz; /* (Cout, n) */
        if (nb > 1) {
            for (int64_t i = 0; i < nb; i++) copy_rows(dyg + i * l, n, dy + (b0 + i) * ysz, l, g->cout, l);
            src = dyg;
        }
        VIMO_TRY(vimo_sgemm(1, 0, rows, n, g->cout, 1.0f, wd, rows, src, n, 0.0f, dcols, n));
        for (int64_t i = 0; i < nb; i++) col2im_add(gx + (b0 + i) * xsz, dcols + i * l, n, g);
    }
    if (gb) {
#pragma omp parallel for schedule(static) if (g->b * ysz >= VT_OMP_MIN)
        for (int64_t co = 0; co < g->cout; co++) {
            float s = 0.0f;
            for (int64_t bi = 0; bi < g->b; bi++) s += vt_sum(dy + bi * ysz + co * l, l);
            gb[co] += s;
        }
    }
fail:
    return st;
}

/* Shared forward; names the op in messages. x, w already shape-checked. */
static vimo_status conv_forward(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, vimo_tensor *w, vimo_tensor *b,
                                const conv_geom *geom, const char *op)
{
    vimo_status st;
    if (cg_rows(geom) * cg_cols(geom) > CONV_MAX_COLS)
        return vimo_error(VIMO_ERR_NOMEM, "%s: x %s with w %s needs an im2col buffer of %lld floats", op,
                          vt_shape(x), vt_shape(w), (long long)(cg_rows(geom) * cg_cols(geom)));
    int dev;
    if ((st = vt_same_device(op, &dev, 3, (vimo_tensor *[]){x, w, b}, (const char *[]){"x", "w", "b"}))) return st;
    vimo_tensor *xc, *wc, *bc = NULL, *out;
    if ((st = vt_contig(ctx, x, &xc)) || (st = vt_contig(ctx, w, &wc)) || (b && (st = vt_contig(ctx, b, &bc))))
        return st;
    conv_geom *g = vt_alloc(ctx, sizeof *g);
    if (!g) return VIMO_ERR_NOMEM;
    *g = *geom;
    int64_t shape[4] = {g->b, g->cout, g->ho, g->wo};
    int is1d = x->ndim == 3;
    if (is1d) shape[2] = g->wo;
    if ((st = vt_new_out_on(ctx, &out, dev, is1d ? 3 : 4, shape))) return st;
    if ((st = vt_kern(dev)->conv_fwd(ctx, g, xc->data, wc->data, bc ? bc->data : NULL, out->data))) return st;
    vimo_tensor *in[3] = {xc, wc, bc};
    int nin = bc ? 3 : 2;
    if (vt_needs_grad(ctx, in, nin)) {
        vimo_node *nd;
        if ((st = vt_record(ctx, out, op, conv_backward, in, nin, &nd))) return st;
        nd->saved = g;
    }
    *y = out;
    return VIMO_OK;
}

/* y[b] = W cols(x[b]) + bias for a group of nb items at once: their cols
 * side by side (rows, nb l), one GEMM into (Cout, nb l), then each item's
 * block copied to its place in y. Every output element is the same sum
 * over the same rows in the same order as one GEMM per item (a GEMM's
 * column count does not change how an element is summed), so the result is
 * bit-identical to item by item. */
vimo_status vt_cpu_conv_fwd(vimo_ctx *ctx, const vimo_conv_dims *g, const float *xd, const float *wd,
                            const float *bd, float *yd)
{
    vimo_status st;
    int64_t rows = cg_rows(g), l = cg_cols(g), xsz = g->cin * g->h * g->w, ysz = g->cout * l;
    int64_t gb = batch_group(g);
    float *cols = vt_alloc(ctx, (size_t)(rows * l * gb) * sizeof(float));
    float *ygrp = gb > 1 ? vt_alloc(ctx, (size_t)(g->cout * l * gb) * sizeof(float)) : NULL;
    if (!cols || (gb > 1 && !ygrp)) return VIMO_ERR_NOMEM;
    for (int64_t b0 = 0; b0 < g->b; b0 += gb) {
        int64_t nb = g->b - b0 < gb ? g->b - b0 : gb, n = nb * l;
        float *dst = nb > 1 ? ygrp : yd + b0 * ysz; /* (Cout, n) */
        if (bd)
            for (int64_t co = 0; co < g->cout; co++)
                for (int64_t j = 0; j < n; j++) dst[co * n + j] = bd[co];
        for (int64_t i = 0; i < nb; i++) im2col(cols + i * l, n, xd + (b0 + i) * xsz, g);
        if ((st = vimo_sgemm(0, 0, g->cout, n, rows, 1.0f, wd, rows, cols, n, bd ? 1.0f : 0.0f, dst, n))) return st;
        for (int64_t i = 0; i < nb && nb > 1; i++) copy_rows(yd + (b0 + i) * ysz, l, ygrp + i * l, n, g->cout, l);
    }
    return VIMO_OK;
}

static vimo_status check_bias(const char *op, const vimo_tensor *w, const vimo_tensor *b)
{
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
        return vimo_error(VIMO_ERR_SHAPE, "%s: bias %s vs w %s: expected (%lld,)", op, vt_shape(b), vt_shape(w),
                          (long long)w->shape[0]);
    return VIMO_OK;
}

/* Output length (n + 2 pad - dil (k - 1) - 1) / stride + 1, or <= 0. */
static int64_t out_len(int64_t n, int64_t k, int64_t stride, int64_t pad, int64_t dil)
{
    int64_t span = n + 2 * pad - dil * (k - 1) - 1;
    return span < 0 ? 0 : span / stride + 1;
}

vimo_status vimo_conv1d(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, vimo_tensor *w, vimo_tensor *b, int stride,
                        int pad, int dilation)
{
    vimo_status st = vt_check_args("conv1d", ctx, y);
    if (st) return st;
    if (!x || !w) return vimo_error(VIMO_ERR_INVALID, "conv1d: NULL input");
    if (stride < 1 || pad < 0 || dilation < 1 || stride > CONV_MAX_PARAM || pad > CONV_MAX_PARAM ||
        dilation > CONV_MAX_PARAM)
        return vimo_error(VIMO_ERR_INVALID, "conv1d: stride %d, pad %d, dilation %d: need stride >= 1, pad >= 0, "
                                            "dilation >= 1 (at most 2^20)",
                          stride, pad, dilation);
    if (x->ndim != 3 || w->ndim != 3 || x->shape[1] != w->shape[1])
        return vimo_error(VIMO_ERR_SHAPE, "conv1d: x %s vs w %s: expected x (B, Cin, T), w (Cout, Cin, K)",
                          vt_shape(x), vt_shape(w));
    if ((st = check_bias("conv1d", w, b))) return st;
    conv_geom g = {.b = x->shape[0], .cin = x->shape[1], .h = 1, .w = x->shape[2], .cout = w->shape[0], .kh = 1,
                   .kw = w->shape[2], .ho = 1, .sh = 1, .sw = stride, .ph = 0, .pw = pad, .dh = 1, .dw = dilation};
    g.wo = out_len(g.w, g.kw, stride, pad, dilation);
    if (g.wo < 1)
        return vimo_error(VIMO_ERR_SHAPE, "conv1d: x %s with w %s, pad %d, dilation %d gives no output", vt_shape(x),
                          vt_shape(w), pad, dilation);
    return conv_forward(ctx, y, x, w, b, &g, "conv1d");
}

vimo_status vimo_conv2d(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, vimo_tensor *w, vimo_tensor *b, int stride,
                        int pad)
{
    vimo_status st = vt_check_args("conv2d", ctx, y);
    if (st) return st;
    if (!x || !w) return vimo_error(VIMO_ERR_INVALID, "conv2d: NULL input");
    if (stride < 1 || pad < 0 || stride > CONV_MAX_PARAM || pad > CONV_MAX_PARAM)
        return vimo_error(VIMO_ERR_INVALID, "conv2d: stride %d, pad %d: need stride >= 1, pad >= 0 (at most 2^20)",
                          stride, pad);
    if (x->ndim != 4 || w->ndim != 4 || x->shape[1] != w->shape[1])
        return vimo_error(VIMO_ERR_SHAPE, "conv2d: x %s vs w %s: expected x (B, Cin, H, W), w (Cout, Cin, KH, KW)",
                          vt_shape(x), vt_shape(w));
    if ((st = check_bias("conv2d", w, b))) return st;
    conv_geom g = {.b = x->shape[0], .cin = x->shape[1], .h = x->shape[2], .w = x->shape[3], .cout = w->shape[0],
                   .kh = w->shape[2], .kw = w->shape[3], .sh = stride, .sw = stride, .ph = pad, .pw = pad, .dh = 1,
                   .dw = 1};
    g.ho = out_len(g.h, g.kh, stride, pad, 1);
    g.wo = out_len(g.w, g.kw, stride, pad, 1);
    if (g.ho < 1 || g.wo < 1)
        return vimo_error(VIMO_ERR_SHAPE, "conv2d: x %s with w %s, pad %d gives no output", vt_shape(x), vt_shape(w),
                          pad);
    return conv_forward(ctx, y, x, w, b, &g, "conv2d");
}
