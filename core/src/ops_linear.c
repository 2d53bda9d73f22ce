/*
 * ops_linear.c - matmul (x @ W^T + b, nn.Linear) and batched bmm, on
 * vimo_sgemm. Backward accumulates with beta = 1 (beta = 0 into a fresh
 * activation gradient, vt_grad_fresh); the bias gradient sums
 * rows in a fixed order per column, so results do not depend on threads.
 */
#include <string.h>

#include "cpu_kernels.h"
#include "tensor_impl.h"
#include "vimo/kernels.h"

/* db[j] += sum_i dy[i, j], rows in order; columns split across threads. */
vimo_status vt_cpu_colsum_add(vimo_ctx *ctx, const float *dy, float *db, int64_t m, int64_t n)
{
    (void)ctx;
    /* A parallel region costs more than small sums: only for big ones. */
#pragma omp parallel for schedule(static) if (m * n >= 65536)
    for (int64_t j = 0; j < n; j++) {
        float s = 0.0f;
        for (int64_t i = 0; i < m; i++) s += dy[i * n + j];
        db[j] += s;
    }
    return VIMO_OK;
}

static vimo_status matmul_backward(vimo_ctx *ctx, vimo_node *n)
{
    vimo_tensor *x = n->in[0], *w = n->in[1], *b = n->n_in > 2 ? n->in[2] : NULL;
    const float *dy = n->out->grad;
    const vimo_backend_kernels *kn = vt_kern(x->device);
    int64_t m = vt_rows(x), k = vt_last(x), nn = w->shape[0];
    vimo_status st = VIMO_OK;
    if (vt_requires_grad(x)) {
        int fresh;
        float *gx = vt_grad_fresh(ctx, x, &fresh);
        if (!gx) return VIMO_ERR_NOMEM;
        /* dx += dy @ W; the first writer of dx overwrites (beta = 0) */
        VIMO_TRY(kn->sgemm(0, 0, m, k, nn, 1.0f, dy, nn, w->data, k, fresh ? 0.0f : 1.0f, gx, k));
    }
    if (vt_requires_grad(w)) {
        float *gw = vt_grad(ctx, w);
        if (!gw) return VIMO_ERR_NOMEM;
        VIMO_TRY(kn->sgemm(1, 0, nn, k, m, 1.0f, dy, nn, x->data, k, 1.0f, gw, k)); /* dW += dy^T @ x */
    }
    if (b && vt_requires_grad(b)) {
        float *gb = vt_grad(ctx, b);
        if (!gb) return VIMO_ERR_NOMEM;
        VIMO_TRY(kn->colsum_add(ctx, dy, gb, m, nn));
    }
fail:
    return st;
}

vimo_status vimo_matmul(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, vimo_tensor *w, vimo_tensor *b)
{
    vimo_status st = vt_check_args("matmul", ctx, y);
    if (st) return st;
    if (!x || !w) return vimo_error(VIMO_ERR_INVALID, "matmul: NULL input");
    if (w->ndim != 2) return vimo_error(VIMO_ERR_SHAPE, "matmul: W %s must be 2-D (N, K)", vt_shape(w));
    if (vt_last(x) != w->shape[1])
        return vimo_error(VIMO_ERR_SHAPE, "matmul: x %s vs W %s: inner dims differ", vt_shape(x), vt_shape(w));
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
        return vimo_error(VIMO_ERR_SHAPE, "matmul: bias %s vs W %s: expected (%lld,)", vt_shape(b), vt_shape(w),
                          (long long)w->shape[0]);
    int dev;
    if ((st = vt_same_device("matmul", &dev, 3, (vimo_tensor *[]){x, w, b}, (const char *[]){"x", "W", "b"})))
        return st;
    vimo_tensor *xc, *wc, *bc = NULL, *out;
    if ((st = vt_contig(ctx, x, &xc)) || (st = vt_contig(ctx, w, &wc))) return st;
    if (b && (st = vt_contig(ctx, b, &bc))) return st;
    int64_t shape[VIMO_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] = w->shape[0];
    if ((st = vt_new_out_on(ctx, &out, dev, x->ndim, shape))) return st;
    int64_t m = vt_rows(xc), k = vt_last(xc), n = wc->shape[0];
    float beta = 0.0f;
    if (bc && dev == 0) {
        for (int64_t i = 0; i < m; i++) memcpy(out->data + i * n, bc->data, (size_t)n * sizeof(float));
        beta = 1.0f;
    } else if (bc) { /* rows of out = b: a copy with a zero row stride */
        if ((st = vt_kern(dev)->copy(ctx, out->data, (int64_t[]){n, 1}, bc->data, (int64_t[]){0, 1}, 2,
                                     (int64_t[]){m, n}, 0)))
            return st;
        beta = 1.0f;
    }
    if ((st = vt_kern(dev)->sgemm(0, 1, m, n, k, 1.0f, xc->data, k, wc->data, k, beta, out->data, n))) return st;
    vimo_tensor *in[3] = {xc, wc, bc};
    if (vt_needs_grad(ctx, in, bc ? 3 : 2) &&
        (st = vt_record(ctx, out, "matmul", matmul_backward, in, bc ? 3 : 2, NULL)))
        return st;
    *y = out;
    return VIMO_OK;
}

static vimo_status bmm_backward(vimo_ctx *ctx, vimo_node *n)
{
    vimo_tensor *a = n->in[0], *b = n->in[1];
    int64_t bs = a->shape[0], m = a->shape[1], k = a->shape[2], nn = b->shape[1];
    const float *dy = n->out->grad;
    const vimo_backend_kernels *kn = vt_kern(a->device);
    vimo_status st = VIMO_OK;
    float *ga = vt_requires_grad(a) ? vt_grad(ctx, a) : NULL;
    float *gb = vt_requires_grad(b) ? vt_grad(ctx, b) : NULL;
    if ((vt_requires_grad(a) && !ga) || (vt_requires_grad(b) && !gb)) return VIMO_ERR_NOMEM;
    for (int64_t i = 0; i < bs; i++) {
        const float *dyi = dy + i * m * nn;
        if (ga) VIMO_TRY(kn->sgemm(0, 0, m, k, nn, 1.0f, dyi, nn, b->data + i * nn * k, k, 1.0f, ga + i * m * k, k));
        if (gb) VIMO_TRY(kn->sgemm(1, 0, nn, k, m, 1.0f, dyi, nn, a->data + i * m * k, k, 1.0f, gb + i * nn * k, k));
    }
fail:
    return st;
}

vimo_status vimo_bmm(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *a, vimo_tensor *b)
{
    vimo_status st = vt_check_args("bmm", ctx, y);
    if (st) return st;
    if (!a || !b) return vimo_error(VIMO_ERR_INVALID, "bmm: NULL input");
    if (a->ndim != 3 || b->ndim != 3 || a->shape[0] != b->shape[0] || a->shape[2] != b->shape[2])
        return vimo_error(VIMO_ERR_SHAPE, "bmm: a %s vs b %s: expected (B, M, K) and (B, N, K)", vt_shape(a),
                          vt_shape(b));
    int dev;
    if ((st = vt_same_device("bmm", &dev, 2, (vimo_tensor *[]){a, b}, (const char *[]){"a", "b"}))) return st;
    vimo_tensor *ac, *bc, *out;
    if ((st = vt_contig(ctx, a, &ac)) || (st = vt_contig(ctx, b, &bc))) return st;
    int64_t bs = a->shape[0], m = a->shape[1], k = a->shape[2], n = b->shape[1];
    if ((st = vt_new_out_on(ctx, &out, dev, 3, (int64_t[]){bs, m, n}))) return st;
    for (int64_t i = 0; i < bs; i++)
        if ((st = vt_kern(dev)->sgemm(0, 1, m, n, k, 1.0f, ac->data + i * m * k, k, bc->data + i * n * k, k, 0.0f,
                             out->data + i * m * n, n)))
            return st;
    vimo_tensor *in[2] = {ac, bc};
    if (vt_needs_grad(ctx, in, 2) && (st = vt_record(ctx, out, "bmm", bmm_backward, in, 2, NULL))) return st;
    *y = out;
    return VIMO_OK;
}
