/*
 * ops_view.c - differentiable shape ops: reshape, permute, transpose, slice
 * (strided views sharing storage), contiguous and concat (copies).
 * A view's gradient is its own contiguous buffer; backward scatters it into
 * the base's gradient through the view's index map.
 */
#include <string.h>

#include "cpu_kernels.h"
#include "tensor_impl.h"

/* ---- CPU kernels ------------------------------------------------------------ */

vimo_status vt_cpu_copy(vimo_ctx *ctx, float *dst, const int64_t *dst_stride, const float *src,
                        const int64_t *src_stride, int ndim, const int64_t *shape, int accumulate)
{
    (void)ctx;
    int64_t s[4] = {1, 1, 1, 1}, ds[4] = {0, 0, 0, 0}, ss[4] = {0, 0, 0, 0};
    for (int d = 0; d < ndim; d++) {
        s[4 - ndim + d] = shape[d];
        ds[4 - ndim + d] = dst_stride[d];
        ss[4 - ndim + d] = src_stride[d];
    }
    for (int64_t i0 = 0; i0 < s[0]; i0++)
        for (int64_t i1 = 0; i1 < s[1]; i1++)
            for (int64_t i2 = 0; i2 < s[2]; i2++) {
                float *d = dst + i0 * ds[0] + i1 * ds[1] + i2 * ds[2];
                const float *r = src + i0 * ss[0] + i1 * ss[1] + i2 * ss[2];
                if (accumulate)
                    for (int64_t i3 = 0; i3 < s[3]; i3++) d[i3 * ds[3]] += r[i3 * ss[3]];
                else if (ds[3] == 1 && ss[3] == 1)
                    memcpy(d, r, (size_t)s[3] * sizeof(float));
                else
                    for (int64_t i3 = 0; i3 < s[3]; i3++) d[i3 * ds[3]] = r[i3 * ss[3]];
            }
    return VIMO_OK;
}

vimo_status vt_cpu_fill(vimo_ctx *ctx, float *x, int64_t n, float value)
{
    (void)ctx;
    for (int64_t i = 0; i < n; i++) x[i] = value;
    return VIMO_OK;
}

/* Contiguous strides of a shape. */
static void contig_strides(int64_t *st, int ndim, const int64_t *shape)
{
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        st[i] = s;
        s *= shape[i];
    }
}

/* Adds g (contiguous, y's logical order) into base's gradient at the
 * positions y's elements occupy in base, given y's strides relative to a
 * contiguous layout of base (n->i[0..3] strides, n->i[4] offset). */
static vimo_status scatter_add(vimo_ctx *ctx, float *gbase, const vimo_tensor *y, const int64_t *stride,
                               int64_t offset, const float *g)
{
    if (y->device == 0) {
        VT_FOR_STRIDED(y->ndim, y->shape, stride, offset, i, off, gbase[off] += g[i]);
        return VIMO_OK;
    }
    int64_t cs[VIMO_MAX_DIMS];
    contig_strides(cs, y->ndim, y->shape);
    return vt_kern(y->device)->copy(ctx, gbase + offset, stride, g, cs, y->ndim, y->shape, 1);
}

/* Views of a non-contiguous input are taken of its contiguous copy, so the
 * base of every view op is contiguous and its grad layout matches. */
static vimo_status view_backward(vimo_ctx *ctx, vimo_node *n)
{
    vimo_tensor *x = n->in[0], *y = n->out;
    if (!vt_requires_grad(x)) return VIMO_OK;
    float *gx = vt_grad(ctx, x);
    if (!gx) return VIMO_ERR_NOMEM;
    return scatter_add(ctx, gx, y, n->i, n->i[4], y->grad);
}

/* Records a view y of contiguous x whose element offsets relative to x->data
 * are given by y's strides and (y->data - x->data). */
static vimo_status record_view(vimo_ctx *ctx, vimo_tensor *y, vimo_tensor *x, const char *op)
{
    if (!vt_needs_grad(ctx, &x, 1)) return VIMO_OK;
    vimo_node *n;
    vimo_status st = vt_record(ctx, y, op, view_backward, &x, 1, &n);
    if (st) return st;
    for (int d = 0; d < VIMO_MAX_DIMS; d++) n->i[d] = y->stride[d];
    n->i[4] = y->data - x->data;
    return VIMO_OK;
}

static vimo_status contig_backward(vimo_ctx *ctx, vimo_node *n)
{
    vimo_tensor *x = n->in[0], *y = n->out;
    if (!vt_requires_grad(x)) return VIMO_OK;
    float *gx = vt_grad(ctx, x);
    if (!gx) return VIMO_ERR_NOMEM;
    int64_t cnt = vt_numel(y);
    if (x->device) {
        int64_t one = 1;
        return vt_kern(x->device)->copy(ctx, gx, &one, y->grad, &one, 1, &cnt, 1);
    }
    for (int64_t i = 0; i < cnt; i++) gx[i] += y->grad[i];
    return VIMO_OK;
}

vimo_status vimo_contiguous(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x)
{
    vimo_status st = vt_check_args("contiguous", ctx, y);
    if (st) return st;
    if (!x) return vimo_error(VIMO_ERR_INVALID, "contiguous: NULL input");
    if (vt_is_contig(x)) {
        *y = x;
        return VIMO_OK;
    }
    vimo_tensor *out;
    if ((st = vt_new_out_on(ctx, &out, x->device, x->ndim, x->shape))) return st;
    if (x->device == 0) {
        vimo_tensor_copy_to(x, out->data, vt_numel(x));
    } else if ((st = vt_kern(x->device)->copy(ctx, out->data, out->stride, x->data, x->stride, x->ndim, x->shape,
                                               0))) {
        return st;
    }
    /* x's grad buffer is contiguous in x's logical order, like out's. */
    if (vt_needs_grad(ctx, &x, 1) && (st = vt_record(ctx, out, "contiguous", contig_backward, &x, 1, NULL)))
        return st;
    *y = out;
    return VIMO_OK;
}

vimo_status vt_contig(vimo_ctx *ctx, vimo_tensor *x, vimo_tensor **out) { return vimo_contiguous(ctx, out, x); }

vimo_status vimo_reshape(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, int ndim, const int64_t *shape)
{
    vimo_status st = vt_check_args("reshape", ctx, y);
    if (st) return st;
    if (!x || !shape || ndim < 1 || ndim > VIMO_MAX_DIMS)
        return vimo_error(VIMO_ERR_SHAPE, "reshape: %s to %d dims", vt_shape(x), ndim);
    int64_t s[VIMO_MAX_DIMS], known = 1;
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        s[i] = shape[i];
        if (s[i] == -1 && infer < 0) infer = i;
        else if (s[i] < 1) return vimo_error(VIMO_ERR_SHAPE, "reshape: bad size %lld", (long long)s[i]);
        else known *= s[i];
    }
    int64_t n = vt_numel(x);
    if (infer >= 0) s[infer] = known > 0 && n % known == 0 ? n / known : -1;
    if ((infer >= 0 && s[infer] < 1) || (infer < 0 && known != n))
        return vimo_error(VIMO_ERR_SHAPE, "reshape: %s has %lld elements, the new shape does not", vt_shape(x),
                          (long long)n);
    vimo_tensor *xc, *out;
    if ((st = vt_contig(ctx, x, &xc))) return st;
    if ((st = vt_new_view(ctx, &out, xc))) return st;
    out->ndim = ndim;
    memset(out->shape, 0, sizeof out->shape);
    memcpy(out->shape, s, (size_t)ndim * sizeof *s);
    vt_set_contig_strides(out);
    if ((st = record_view(ctx, out, xc, "reshape"))) return st;
    *y = out;
    return VIMO_OK;
}

vimo_status vimo_permute(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, const int *perm)
{
    vimo_status st = vt_check_args("permute", ctx, y);
    if (st) return st;
    if (!x || !perm) return vimo_error(VIMO_ERR_INVALID, "permute: NULL argument");
    int seen = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (perm[i] < 0 || perm[i] >= x->ndim || (seen & (1 << perm[i])))
            return vimo_error(VIMO_ERR_SHAPE, "permute: not a permutation of the %d dims of %s", x->ndim,
                              vt_shape(x));
        seen |= 1 << perm[i];
    }
    vimo_tensor *xc, *out;
    if ((st = vt_contig(ctx, x, &xc))) return st;
    if ((st = vt_new_view(ctx, &out, xc))) return st;
    for (int i = 0; i < x->ndim; i++) {
        out->shape[i] = xc->shape[perm[i]];
        out->stride[i] = xc->stride[perm[i]];
    }
    if ((st = record_view(ctx, out, xc, "permute"))) return st;
    *y = out;
    return VIMO_OK;
}

vimo_status vimo_transpose(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, int d0, int d1)
{
    if (!x) return vimo_error(VIMO_ERR_INVALID, "transpose: NULL input");
    if (d0 < 0) d0 += x->ndim;
    if (d1 < 0) d1 += x->ndim;
    if (d0 < 0 || d1 < 0 || d0 >= x->ndim || d1 >= x->ndim)
        return vimo_error(VIMO_ERR_SHAPE, "transpose: dims %d, %d outside %s", d0, d1, vt_shape(x));
    int perm[VIMO_MAX_DIMS] = {0, 1, 2, 3};
    perm[d0] = d1;
    perm[d1] = d0;
    return vimo_permute(ctx, y, x, perm);
}

vimo_status vimo_slice(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, int dim, int64_t start, int64_t end)
{
    vimo_status st = vt_check_args("slice", ctx, y);
    if (st) return st;
    if (!x) return vimo_error(VIMO_ERR_INVALID, "slice: NULL input");
    if (dim < 0) dim += x->ndim;
    if (dim < 0 || dim >= x->ndim || start < 0 || end > x->shape[dim] || start >= end)
        return vimo_error(VIMO_ERR_SHAPE, "slice: [%lld, %lld) along dim %d of %s", (long long)start,
                          (long long)end, dim, vt_shape(x));
    vimo_tensor *xc, *out;
    if ((st = vt_contig(ctx, x, &xc))) return st;
    if ((st = vt_new_view(ctx, &out, xc))) return st;
    out->shape[dim] = end - start;
    out->data = xc->data + start * xc->stride[dim];
    if ((st = record_view(ctx, out, xc, "slice"))) return st;
    *y = out;
    return VIMO_OK;
}

/* concat: n->i[0] = dim; the inputs' offsets along dim are recomputed. */
static vimo_status concat_backward(vimo_ctx *ctx, vimo_node *n)
{
    vimo_tensor *y = n->out;
    int dim = (int)n->i[0];
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < dim; d++) outer *= y->shape[d];
    for (int d = dim + 1; d < y->ndim; d++) inner *= y->shape[d];
    int64_t at = 0;
    for (int k = 0; k < n->n_in; k++) {
        vimo_tensor *x = n->in[k];
        int64_t len = x->shape[dim] * inner;
        if (vt_requires_grad(x)) {
            float *gx = vt_grad(ctx, x);
            if (!gx) return VIMO_ERR_NOMEM;
            if (x->device) {
                int64_t sh[2] = {outer, len}, ds[2] = {len, 1}, ss[2] = {y->shape[dim] * inner, 1};
                vimo_status st = vt_kern(x->device)->copy(ctx, gx, ds, y->grad + at, ss, 2, sh, 1);
                if (st) return st;
            } else {
                for (int64_t o = 0; o < outer; o++)
                    for (int64_t j = 0; j < len; j++) gx[o * len + j] += y->grad[o * y->shape[dim] * inner + at + j];
            }
        }
        at += len;
    }
    return VIMO_OK;
}

vimo_status vimo_concat(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *const *xs, int n, int dim)
{
    vimo_status st = vt_check_args("concat", ctx, y);
    if (st) return st;
    if (!xs || n < 1 || !xs[0]) return vimo_error(VIMO_ERR_INVALID, "concat: no inputs");
    if (n > VT_NODE_MAX_IN)
        return vimo_error(VIMO_ERR_INVALID, "concat: at most %d inputs per call (got %d)", VT_NODE_MAX_IN, n);
    const vimo_tensor *a = xs[0];
    if (dim < 0) dim += a->ndim;
    if (dim < 0 || dim >= a->ndim) return vimo_error(VIMO_ERR_SHAPE, "concat: dim outside %s", vt_shape(a));
    int64_t shape[VIMO_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    shape[dim] = 0;
    vimo_tensor *xc[VT_NODE_MAX_IN];
    int dev;
    static const char *const names[VT_NODE_MAX_IN] = {"xs[0]", "xs[1]", "xs[2]", "xs[3]", "xs[4]", "xs[5]"};
    if ((st = vt_same_device("concat", &dev, n, xs, names))) return st;
    for (int k = 0; k < n; k++) {
        if (!xs[k] || xs[k]->ndim != a->ndim) return vimo_error(VIMO_ERR_SHAPE, "concat: input %d rank differs", k);
        for (int d = 0; d < a->ndim; d++)
            if (d != dim && xs[k]->shape[d] != a->shape[d])
                return vimo_error(VIMO_ERR_SHAPE, "concat: input %d %s vs input 0 %s differ outside dim %d", k,
                                  vt_shape(xs[k]), vt_shape(a), dim);
        shape[dim] += xs[k]->shape[dim];
        if ((st = vt_contig(ctx, xs[k], &xc[k]))) return st;
    }
    vimo_tensor *out;
    if ((st = vt_new_out_on(ctx, &out, dev, a->ndim, shape))) return st;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < dim; d++) outer *= shape[d];
    for (int d = dim + 1; d < a->ndim; d++) inner *= shape[d];
    int64_t at = 0;
    for (int k = 0; k < n; k++) {
        int64_t len = xc[k]->shape[dim] * inner;
        if (dev) {
            int64_t sh[2] = {outer, len}, ds[2] = {shape[dim] * inner, 1}, ss[2] = {len, 1};
            if ((st = vt_kern(dev)->copy(ctx, out->data + at, ds, xc[k]->data, ss, 2, sh, 0))) return st;
        } else {
            for (int64_t o = 0; o < outer; o++)
                memcpy(out->data + o * shape[dim] * inner + at, xc[k]->data + o * len, (size_t)len * sizeof(float));
        }
        at += len;
    }
    if (vt_needs_grad(ctx, xc, n)) {
        vimo_node *nd;
        if ((st = vt_record(ctx, out, "concat", concat_backward, xc, n, &nd))) return st;
        nd->i[0] = dim;
    }
    *y = out;
    return VIMO_OK;
}
