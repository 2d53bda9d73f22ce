/*
 * ops_elementwise.c - add, sub, mul (with row broadcasting), scale, relu,
 * silu, gelu (erf and tanh forms), swiglu; sum and mean reductions.
 * Loops are flat over contiguous data so gcc vectorises them; OpenMP splits
 * rows statically, and every reduction runs in a fixed order.
 */
#include <math.h>
#include <string.h>

#include <omp.h>

#include "cpu_kernels.h"
#include "tensor_impl.h"
#include "vt_math.h"

/* Below this many elements a parallel region costs more than it saves. */
#define VT_PAR_MIN 32768

/* ---- broadcasting binary ops --------------------------------------------- */

enum { OP_ADD = VIMO_BIN_ADD, OP_SUB = VIMO_BIN_SUB, OP_MUL = VIMO_BIN_MUL };

/* b broadcasts over a when b's numel divides a's and b's shape is a's
 * trailing shape (or b has one element). Returns b's period in elements. */
static vimo_status bcast_check(const char *op, const vimo_tensor *a, const vimo_tensor *b, int64_t *period)
{
    int64_t nb = vt_numel(b);
    if (nb == 1) {
        *period = 1;
        return VIMO_OK;
    }
    if (b->ndim > a->ndim) goto bad;
    for (int i = 1; i <= b->ndim; i++)
        if (b->shape[b->ndim - i] != a->shape[a->ndim - i]) goto bad;
    *period = nb;
    return VIMO_OK;
bad:
    return vimo_error(VIMO_ERR_SHAPE, "%s: a %s vs b %s: b must match a or a's trailing dims", op, vt_shape(a),
                      vt_shape(b));
}

vimo_status vt_cpu_binary_bwd(vimo_ctx *ctx, int kind, const float *ad, const float *bd, const float *dy,
                              float *ga, float *gb, int64_t na, int64_t p)
{
    (void)ctx;
    if (ga) {
        if (kind == OP_MUL)
            for (int64_t r = 0; r < na / p; r++) {
                float *g = ga + r * p;
                const float *d = dy + r * p;
                for (int64_t j = 0; j < p; j++) g[j] += d[j] * bd[j];
            }
        else
            for (int64_t i = 0; i < na; i++) ga[i] += dy[i];
    }
    if (gb) {
        float sign = kind == OP_SUB ? -1.0f : 1.0f;
        /* Sum over broadcast rows in row order: fixed, thread-independent. */
        for (int64_t r = 0; r < na / p; r++) {
            const float *d = dy + r * p;
            if (kind == OP_MUL) {
                const float *x = ad + r * p;
                for (int64_t j = 0; j < p; j++) gb[j] += d[j] * x[j];
            } else {
                for (int64_t j = 0; j < p; j++) gb[j] += sign * d[j];
            }
        }
    }
    return VIMO_OK;
}

/* The gradient of t to add dy's share into (*g), or *g = NULL when dy
 * itself is t's gradient (copy: add's sides, sub's first) and t's buffer
 * was fresh: then it was written here, one pass instead of zero + add. */
static vimo_status grad_or_copy(vimo_ctx *ctx, vimo_tensor *t, int copy, const float *dy, float **g)
{
    int fresh = 0;
    if (!(*g = copy ? vt_grad_fresh(ctx, t, &fresh) : vt_grad(ctx, t))) return VIMO_ERR_NOMEM;
    if (!fresh) return VIMO_OK;
    size_t bytes = (size_t)vt_numel(t) * sizeof(float);
    float *dst = *g;
    *g = NULL;
    if (t->device) return vt_backend(t->device)->copy_d2d(dst, dy, bytes);
    memcpy(dst, dy, bytes);
    return VIMO_OK;
}

static vimo_status binary_backward(vimo_ctx *ctx, vimo_node *n)
{
    vimo_tensor *a = n->in[0], *b = n->in[1];
    int kind = (int)n->i[0];
    float *ga = NULL, *gb = NULL;
    const float *dy = n->out->grad;
    vimo_status st;
    /* a and b may be one tensor: b's buffer is asked for only after a's is
     * written, so it is not fresh then and b's share is added. */
    if (vt_requires_grad(a) && (st = grad_or_copy(ctx, a, kind != OP_MUL, dy, &ga))) return st;
    if (vt_requires_grad(b) &&
        (st = grad_or_copy(ctx, b, kind == OP_ADD && vt_numel(b) == vt_numel(a), dy, &gb)))
        return st;
    if (!ga && !gb) return VIMO_OK;
    return vt_kern(a->device)->binary_bwd(ctx, kind, a->data, b->data, dy, ga, gb, vt_numel(a), vt_numel(b));
}

vimo_status vt_cpu_binary_fwd(vimo_ctx *ctx, int kind, const float *x, const float *w, float *o, int64_t n,
                              int64_t p)
{
    (void)ctx;
    int64_t rows = n / p;
#pragma omp parallel for schedule(static) if (n >= VT_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * p;
        float *orow = o + r * p;
        if (kind == OP_ADD)
            for (int64_t j = 0; j < p; j++) orow[j] = xr[j] + w[j];
        else if (kind == OP_SUB)
            for (int64_t j = 0; j < p; j++) orow[j] = xr[j] - w[j];
        else
            for (int64_t j = 0; j < p; j++) orow[j] = xr[j] * w[j];
    }
    return VIMO_OK;
}

static vimo_status binary(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *a, vimo_tensor *b, int kind, const char *op)
{
    vimo_status st = vt_check_args(op, ctx, y);
    if (st) return st;
    if (!a || !b) return vimo_error(VIMO_ERR_INVALID, "%s: NULL input", op);
    int64_t p = 1;
    if ((st = bcast_check(op, a, b, &p))) return st;
    int dev;
    if ((st = vt_same_device(op, &dev, 2, (vimo_tensor *[]){a, b}, (const char *[]){"a", "b"}))) return st;
    vimo_tensor *ac, *bc, *out;
    if ((st = vt_contig(ctx, a, &ac)) || (st = vt_contig(ctx, b, &bc))) return st;
    if ((st = vt_new_out_on(ctx, &out, dev, a->ndim, a->shape))) return st;
    if ((st = vt_kern(dev)->binary_fwd(ctx, kind, ac->data, bc->data, out->data, vt_numel(a), p))) return st;
    vimo_tensor *in[2] = {ac, bc};
    if (vt_needs_grad(ctx, in, 2)) {
        vimo_node *nd;
        if ((st = vt_record(ctx, out, op, binary_backward, in, 2, &nd))) return st;
        nd->i[0] = kind;
    }
    *y = out;
    return VIMO_OK;
}

vimo_status vimo_add(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *a, vimo_tensor *b)
{
    return binary(ctx, y, a, b, OP_ADD, "add");
}
vimo_status vimo_sub(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *a, vimo_tensor *b)
{
    return binary(ctx, y, a, b, OP_SUB, "sub");
}
vimo_status vimo_mul(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *a, vimo_tensor *b)
{
    return binary(ctx, y, a, b, OP_MUL, "mul");
}

/* ---- unary ops ------------------------------------------------------------ */

enum {
    U_SCALE = VIMO_UN_SCALE,
    U_RELU = VIMO_UN_RELU,
    U_SILU = VIMO_UN_SILU,
    U_GELU_ERF = VIMO_UN_GELU_ERF,
    U_GELU_TANH = VIMO_UN_GELU_TANH
};

#define K_SQRT_2_PI 0.7978845608028654f /* sqrt(2/pi) */
#define K_INV_SQRT2 0.7071067811865476f
#define K_GELU_C 0.044715f

/* sigmoid and tanh on vt_expf (vt_math.h) so the loops vectorise; the erf
 * GELU keeps libm's erff (no vector form), so it runs scalar. */
static inline float sigmoid_v(float x) { return 1.0f / (1.0f + vt_expf(-x)); }
static inline float tanh_v(float u) { return 1.0f - 2.0f / (vt_expf(2.0f * u) + 1.0f); }

/* One loop per kind, the switch outside: each loop is a flat vectorisable
 * map (-fopt-info-vec), compiled per ISA (VT_CLONES). */
#define UNARY_MAP(EXPR)                                                         \
    for (int64_t i = 0; i < n; i++) {                                           \
        float x = xd[i];                                                        \
        o[i] = (EXPR);                                                          \
    }
VT_CLONES static void unary_fwd(int kind, const float *restrict xd, float *restrict o, int64_t n, float s)
{
    switch (kind) {
    case U_SCALE: UNARY_MAP(s * x) break;
    case U_RELU: UNARY_MAP(x > 0.0f ? x : 0.0f) break;
    case U_SILU: UNARY_MAP(x * sigmoid_v(x)) break;
    case U_GELU_ERF: UNARY_MAP(0.5f * x * (1.0f + erff(x * K_INV_SQRT2))) break;
    default: UNARY_MAP(0.5f * x * (1.0f + tanh_v(K_SQRT_2_PI * (x + K_GELU_C * x * x * x)))) break;
    }
}

/* gx += dy * f'(x). */
#define UNARY_GRAD(EXPR)                                                        \
    for (int64_t i = 0; i < n; i++) {                                           \
        float x = xd[i];                                                        \
        gx[i] += dy[i] * (EXPR);                                                \
    }
static inline float silu_d(float x)
{
    float sg = sigmoid_v(x);
    return sg * (1.0f + x * (1.0f - sg));
}
static inline float gelu_tanh_d(float x)
{
    float t = tanh_v(K_SQRT_2_PI * (x + K_GELU_C * x * x * x));
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * K_SQRT_2_PI * (1.0f + 3.0f * K_GELU_C * x * x);
}
VT_CLONES static void unary_bwd(int kind, const float *restrict xd, const float *restrict dy, float *restrict gx,
                                int64_t n, float s)
{
    switch (kind) {
    case U_SCALE: UNARY_GRAD(((void)x, s)) break;
    case U_RELU: UNARY_GRAD(x > 0.0f ? 1.0f : 0.0f) break;
    case U_SILU: UNARY_GRAD(silu_d(x)) break;
    case U_GELU_ERF:
        UNARY_GRAD(0.5f * (1.0f + erff(x * K_INV_SQRT2)) + x * 0.3989422804014327f * expf(-0.5f * x * x)) break;
    default: UNARY_GRAD(gelu_tanh_d(x)) break;
    }
}

/* Runs fn on fixed contiguous chunks, one per thread (static partition). */
#define VT_CHUNKED(cnt, BODY)                                                   \
    do {                                                                        \
        int64_t total_ = (cnt);                                                 \
        int nth_ = total_ >= VT_PAR_MIN ? omp_get_max_threads() : 1;             \
        _Pragma("omp parallel for schedule(static) num_threads(nth_)")          \
        for (int c_ = 0; c_ < nth_; c_++) {                                     \
            int64_t lo = total_ * c_ / nth_, hi = total_ * (c_ + 1) / nth_;     \
            BODY;                                                               \
        }                                                                       \
    } while (0)

vimo_status vt_cpu_unary_fwd(vimo_ctx *ctx, int kind, const float *xd, float *o, int64_t cnt, float s)
{
    (void)ctx;
    VT_CHUNKED(cnt, unary_fwd(kind, xd + lo, o + lo, hi - lo, s));
    return VIMO_OK;
}

vimo_status vt_cpu_unary_bwd(vimo_ctx *ctx, int kind, const float *xd, const float *dy, float *gx, int64_t cnt,
                             float s)
{
    (void)ctx;
    VT_CHUNKED(cnt, unary_bwd(kind, xd + lo, dy + lo, gx + lo, hi - lo, s));
    return VIMO_OK;
}

static vimo_status unary_backward(vimo_ctx *ctx, vimo_node *n)
{
    vimo_tensor *x = n->in[0];
    if (!vt_requires_grad(x)) return VIMO_OK;
    float *gx = vt_grad(ctx, x);
    if (!gx) return VIMO_ERR_NOMEM;
    return vt_kern(x->device)->unary_bwd(ctx, (int)n->i[0], x->data, n->out->grad, gx, vt_numel(x), n->f[0]);
}

static vimo_status unary(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, int kind, float s, const char *op)
{
    vimo_status st = vt_check_args(op, ctx, y);
    if (st) return st;
    if (!x) return vimo_error(VIMO_ERR_INVALID, "%s: NULL input", op);
    vimo_tensor *xc, *out;
    if ((st = vt_contig(ctx, x, &xc))) return st;
    if ((st = vt_new_out_on(ctx, &out, x->device, x->ndim, x->shape))) return st;
    if ((st = vt_kern(x->device)->unary_fwd(ctx, kind, xc->data, out->data, vt_numel(x), s))) return st;
    if (vt_needs_grad(ctx, &xc, 1)) {
        vimo_node *nd;
        if ((st = vt_record(ctx, out, op, unary_backward, &xc, 1, &nd))) return st;
        nd->i[0] = kind;
        nd->f[0] = s;
    }
    *y = out;
    return VIMO_OK;
}

vimo_status vimo_scale(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, float s)
{
    return unary(ctx, y, x, U_SCALE, s, "scale");
}
vimo_status vimo_relu(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x) { return unary(ctx, y, x, U_RELU, 0, "relu"); }
vimo_status vimo_silu(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x) { return unary(ctx, y, x, U_SILU, 0, "silu"); }
vimo_status vimo_gelu(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, vimo_gelu_mode mode)
{
    if (mode != VIMO_GELU_ERF && mode != VIMO_GELU_TANH)
        return vimo_error(VIMO_ERR_INVALID, "gelu: unknown mode %d", (int)mode);
    return unary(ctx, y, x, mode == VIMO_GELU_ERF ? U_GELU_ERF : U_GELU_TANH, 0, "gelu");
}

/* ---- swiglu --------------------------------------------------------------- */

/* gu += dy * silu(g) and gg += dy * u * silu'(g), as flat maps (one loop per
 * combination of wanted gradients, no branch inside: they vectorise). */
VT_CLONES static void swiglu_bwd_both(const float *restrict gd, const float *restrict ud, const float *restrict dy,
                                      float *restrict gg, float *restrict gu, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float x = gd[i], sg = sigmoid_v(x);
        gu[i] += dy[i] * x * sg;
        gg[i] += dy[i] * ud[i] * sg * (1.0f + x * (1.0f - sg));
    }
}
VT_CLONES static void swiglu_bwd_gate(const float *restrict gd, const float *restrict ud, const float *restrict dy,
                                      float *restrict gg, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float x = gd[i], sg = sigmoid_v(x);
        gg[i] += dy[i] * ud[i] * sg * (1.0f + x * (1.0f - sg));
    }
}
VT_CLONES static void swiglu_bwd_up(const float *restrict gd, const float *restrict dy, float *restrict gu, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float x = gd[i], sg = sigmoid_v(x);
        gu[i] += dy[i] * x * sg;
    }
}

vimo_status vt_cpu_swiglu_bwd(vimo_ctx *ctx, const float *gd, const float *ud, const float *dy, float *gg,
                              float *gu, int64_t cnt)
{
    (void)ctx;
    if (gg && gu) VT_CHUNKED(cnt, swiglu_bwd_both(gd + lo, ud + lo, dy + lo, gg + lo, gu + lo, hi - lo));
    else if (gg) VT_CHUNKED(cnt, swiglu_bwd_gate(gd + lo, ud + lo, dy + lo, gg + lo, hi - lo));
    else if (gu) VT_CHUNKED(cnt, swiglu_bwd_up(gd + lo, dy + lo, gu + lo, hi - lo));
    return VIMO_OK;
}

static vimo_status swiglu_backward(vimo_ctx *ctx, vimo_node *n)
{
    vimo_tensor *g = n->in[0], *u = n->in[1];
    float *gg = vt_requires_grad(g) ? vt_grad(ctx, g) : NULL;
    float *gu = vt_requires_grad(u) ? vt_grad(ctx, u) : NULL;
    if ((vt_requires_grad(g) && !gg) || (vt_requires_grad(u) && !gu)) return VIMO_ERR_NOMEM;
    return vt_kern(g->device)->swiglu_bwd(ctx, g->data, u->data, n->out->grad, gg, gu, vt_numel(g));
}

VT_CLONES static void swiglu_fwd(const float *restrict gd, const float *restrict ud, float *restrict o, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float x = gd[i];
        o[i] = x * sigmoid_v(x) * ud[i];
    }
}

vimo_status vt_cpu_swiglu_fwd(vimo_ctx *ctx, const float *gd, const float *ud, float *o, int64_t cnt)
{
    (void)ctx;
    VT_CHUNKED(cnt, swiglu_fwd(gd + lo, ud + lo, o + lo, hi - lo));
    return VIMO_OK;
}

vimo_status vimo_swiglu(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *gate, vimo_tensor *up)
{
    vimo_status st = vt_check_args("swiglu", ctx, y);
    if (st) return st;
    if (!gate || !up) return vimo_error(VIMO_ERR_INVALID, "swiglu: NULL input");
    if (gate->ndim != up->ndim || memcmp(gate->shape, up->shape, (size_t)gate->ndim * sizeof(int64_t)))
        return vimo_error(VIMO_ERR_SHAPE, "swiglu: gate %s vs up %s differ", vt_shape(gate), vt_shape(up));
    int dev;
    if ((st = vt_same_device("swiglu", &dev, 2, (vimo_tensor *[]){gate, up}, (const char *[]){"gate", "up"})))
        return st;
    vimo_tensor *gc, *uc, *out;
    if ((st = vt_contig(ctx, gate, &gc)) || (st = vt_contig(ctx, up, &uc))) return st;
    if ((st = vt_new_out_on(ctx, &out, dev, gate->ndim, gate->shape))) return st;
    if ((st = vt_kern(dev)->swiglu_fwd(ctx, gc->data, uc->data, out->data, vt_numel(gate)))) return st;
    vimo_tensor *in[2] = {gc, uc};
    if (vt_needs_grad(ctx, in, 2) && (st = vt_record(ctx, out, "swiglu", swiglu_backward, in, 2, NULL))) return st;
    *y = out;
    return VIMO_OK;
}

/* ---- reductions ----------------------------------------------------------- */

vimo_status vt_cpu_sum_bwd(vimo_ctx *ctx, const float *dy, float *gx, int64_t cnt)
{
    (void)ctx;
    float g = dy[0];
    for (int64_t i = 0; i < cnt; i++) gx[i] += g;
    return VIMO_OK;
}

static vimo_status sum_backward(vimo_ctx *ctx, vimo_node *n)
{
    vimo_tensor *x = n->in[0];
    if (!vt_requires_grad(x)) return VIMO_OK;
    float *gx = vt_grad(ctx, x);
    if (!gx) return VIMO_ERR_NOMEM;
    return vt_kern(x->device)->sum_bwd(ctx, n->out->grad, gx, vt_numel(x));
}

vimo_status vt_cpu_sum_fwd(vimo_ctx *ctx, const float *x, float *y, int64_t cnt)
{
    (void)ctx;
    double s = 0.0; /* double accumulator: fixed order, little rounding */
    for (int64_t i = 0; i < cnt; i++) s += x[i];
    y[0] = (float)s;
    return VIMO_OK;
}

vimo_status vimo_sum(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x)
{
    vimo_status st = vt_check_args("sum", ctx, y);
    if (st) return st;
    if (!x) return vimo_error(VIMO_ERR_INVALID, "sum: NULL input");
    vimo_tensor *xc, *out;
    if ((st = vt_contig(ctx, x, &xc))) return st;
    if ((st = vt_new_out_on(ctx, &out, x->device, 1, (int64_t[]){1}))) return st;
    if ((st = vt_kern(x->device)->sum_fwd(ctx, xc->data, out->data, vt_numel(x)))) return st;
    if (vt_needs_grad(ctx, &xc, 1) && (st = vt_record(ctx, out, "sum", sum_backward, &xc, 1, NULL))) return st;
    *y = out;
    return VIMO_OK;
}

/* mean over one dim: x viewed as (outer, len, inner). */
vimo_status vt_cpu_mean_bwd(vimo_ctx *ctx, const float *dy, float *gx, int64_t outer, int64_t len, int64_t inner)
{
    (void)ctx;
    float inv = 1.0f / (float)len;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t t = 0; t < len; t++)
            for (int64_t j = 0; j < inner; j++) gx[(o * len + t) * inner + j] += dy[o * inner + j] * inv;
    return VIMO_OK;
}

static vimo_status mean_backward(vimo_ctx *ctx, vimo_node *n)
{
    vimo_tensor *x = n->in[0];
    if (!vt_requires_grad(x)) return VIMO_OK;
    float *gx = vt_grad(ctx, x);
    if (!gx) return VIMO_ERR_NOMEM;
    return vt_kern(x->device)->mean_bwd(ctx, n->out->grad, gx, n->i[0], n->i[1], n->i[2]);
}

vimo_status vt_cpu_mean_fwd(vimo_ctx *ctx, const float *x, float *y, int64_t outer, int64_t len, int64_t inner)
{
    (void)ctx;
    float inv = 1.0f / (float)len;
    /* Rows of x in order, summed into y's row: contiguous (vectorised)
     * where a loop over t per column strides by inner; each column still
     * adds its t terms in order from 0, so the sums are the same. */
    for (int64_t o = 0; o < outer; o++) {
        float *yo = y + o * inner;
        for (int64_t j = 0; j < inner; j++) yo[j] = 0.0f;
        for (int64_t t = 0; t < len; t++) {
            const float *xr = x + (o * len + t) * inner;
            for (int64_t j = 0; j < inner; j++) yo[j] += xr[j];
        }
        for (int64_t j = 0; j < inner; j++) yo[j] *= inv;
    }
    return VIMO_OK;
}

vimo_status vimo_mean(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, int dim)
{
    vimo_status st = vt_check_args("mean", ctx, y);
    if (st) return st;
    if (!x) return vimo_error(VIMO_ERR_INVALID, "mean: NULL input");
    if (dim < 0) dim += x->ndim;
    if (dim < 0 || dim >= x->ndim) return vimo_error(VIMO_ERR_SHAPE, "mean: dim outside %s", vt_shape(x));
    vimo_tensor *xc, *out;
    if ((st = vt_contig(ctx, x, &xc))) return st;
    int64_t outer = 1, inner = 1, len = x->shape[dim], shape[VIMO_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (d < dim) outer *= x->shape[d];
        if (d > dim) inner *= x->shape[d];
        if (d != dim) shape[nd++] = x->shape[d];
    }
    if (nd == 0) shape[nd++] = 1;
    if ((st = vt_new_out_on(ctx, &out, x->device, nd, shape))) return st;
    if ((st = vt_kern(x->device)->mean_fwd(ctx, xc->data, out->data, outer, len, inner))) return st;
    if (vt_needs_grad(ctx, &xc, 1)) {
        vimo_node *n;
        if ((st = vt_record(ctx, out, "mean", mean_backward, &xc, 1, &n))) return st;
        n->i[0] = outer;
        n->i[1] = len;
        n->i[2] = inner;
    }
    *y = out;
    return VIMO_OK;
}
