/*
 * ops_view.c - differentiable shape ops: reshape, permute, transpose, slice
 * (strided views sharing storage), contiguous and concat (copies).
 * A view's gradient is its own contiguous buffer; backward scatters it into
 * the base's gradient through the view's index map.
 */
#include <string.h>

#include "tensor_impl.h"

/* Adds g (contiguous, y's logical order) into base's gradient at the
 * positions y's elements occupy in base, given y's strides relative to a
 * contiguous layout of base (n->i[0..3] strides, n->i[4] offset). */
static void scatter_add(float *gbase, const vimo_tensor *y, const int64_t *stride, int64_t offset, const float *g)
{
    VT_FOR_STRIDED(y->ndim, y->shape, stride, offset, i, off, gbase[off] += g[i]);
}

/* Views of a non-contiguous input are taken of its contiguous copy, so the
 * base of every view op is contiguous and its grad layout matches. */
static vimo_status view_backward(vimo_ctx *ctx, vimo_node *n)
{
    vimo_tensor *x = n->in[0], *y = n->out;
    if (!vt_requires_grad(x)) return VIMO_OK;
    float *gx = vt_grad(ctx, x);
    if (!gx) return VIMO_ERR_NOMEM;
    scatter_add(gx, y, n->i, n->i[4], y->grad);
    return VIMO_OK;
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
    if ((st = vt_new_out(ctx, &out, x->ndim, x->shape))) return st;
    vimo_tensor_copy_to(x, out->data, vt_numel(x));
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
            for (int64_t o = 0; o < outer; o++)
                for (int64_t j = 0; j < len; j++) gx[o * len + j] += y->grad[o * y->shape[dim] * inner + at + j];
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
    if ((st = vt_new_out(ctx, &out, a->ndim, shape))) return st;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < dim; d++) outer *= shape[d];
    for (int d = dim + 1; d < a->ndim; d++) inner *= shape[d];
    int64_t at = 0;
    for (int k = 0; k < n; k++) {
        int64_t len = xc[k]->shape[dim] * inner;
        for (int64_t o = 0; o < outer; o++)
            memcpy(out->data + o * shape[dim] * inner + at, xc[k]->data + o * len, (size_t)len * sizeof(float));
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
