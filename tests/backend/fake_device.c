/*
 * fake_device.c - the "hostdev" test backend (see fake_device.h): vimo's CPU
 * kernels behind device pointers that the host can not dereference.
 */
#include "fake_device.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define OFF ((uintptr_t)1 << 47) /* device address = host address + OFF */

static atomic_long g_calls, g_live;
static _Thread_local const char *g_bad; /* kernel that got a host pointer */

/* Host address of a device pointer; NULL stays NULL. A pointer below OFF
 * is host memory: noted in g_bad (the wrapper then fails). */
static void *dv(const void *p, const char *fn)
{
    if (!p) return NULL;
    if ((uintptr_t)p < OFF) {
        g_bad = fn;
        return NULL;
    }
    return (void *)((uintptr_t)p - OFF);
}
#define D(p) dv((p), __func__)
#define CHECK()                                                                                         \
    do {                                                                                                \
        if (g_bad) {                                                                                    \
            const char *b_ = g_bad;                                                                     \
            g_bad = NULL;                                                                               \
            return vimo_error(VIMO_ERR_INTERNAL, "hostdev: %s got a host pointer", b_);                 \
        }                                                                                               \
        atomic_fetch_add(&g_calls, 1);                                                                  \
    } while (0)

static const vimo_backend_kernels *cpu(void) { return vimo_backend_cpu()->kernels; }

/* ---- memory ------------------------------------------------------------------ */

static vimo_status fd_init(void) { return VIMO_OK; }

static vimo_status fd_alloc(void **out, size_t bytes)
{
    size_t n = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, n ? n : 64);
    if (!p) return vimo_error(VIMO_ERR_NOMEM, "hostdev: cannot allocate %zu bytes", bytes);
    memset(p, 0xff, n ? n : 64); /* poison: NaN floats */
    atomic_fetch_add(&g_live, 1);
    *out = (void *)((uintptr_t)p + OFF);
    return VIMO_OK;
}

static void fd_free(void *p)
{
    if (!p) return;
    atomic_fetch_sub(&g_live, 1);
    free((void *)((uintptr_t)p - OFF));
}

static vimo_status fd_h2d(void *dst, const void *src, size_t bytes)
{
    void *d = D(dst);
    if (g_bad || (uintptr_t)src >= OFF) {
        g_bad = NULL;
        return vimo_error(VIMO_ERR_INTERNAL, "hostdev: copy_h2d with the pointers swapped");
    }
    if (bytes) memcpy(d, src, bytes);
    return VIMO_OK;
}

static vimo_status fd_d2h(void *dst, const void *src, size_t bytes)
{
    const void *s = D(src);
    if (g_bad || (uintptr_t)dst >= OFF) {
        g_bad = NULL;
        return vimo_error(VIMO_ERR_INTERNAL, "hostdev: copy_d2h with the pointers swapped");
    }
    if (bytes) memcpy(dst, s, bytes);
    return VIMO_OK;
}

static vimo_status fd_d2d(void *dst, const void *src, size_t bytes)
{
    void *d = D(dst);
    const void *s = D(src);
    CHECK();
    if (bytes) memmove(d, s, bytes);
    return VIMO_OK;
}

static vimo_status fd_memset0(void *dst, size_t bytes)
{
    void *d = D(dst);
    CHECK();
    if (bytes) memset(d, 0, bytes);
    return VIMO_OK;
}

static vimo_status fd_sync(void) { return VIMO_OK; }

/* ---- kernels: translate every pointer, then run the CPU kernel ---------------- */

static vimo_status k_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                           const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    const float *ha = D(a), *hb = D(b);
    float *hc = D(c);
    CHECK();
    return cpu()->sgemm(ta, tb, m, n, k, alpha, ha, lda, hb, ldb, beta, hc, ldc);
}
static vimo_status k_copy(vimo_ctx *ctx, float *dst, const int64_t *ds, const float *src, const int64_t *ss, int nd,
                          const int64_t *shape, int acc)
{
    float *d = D(dst);
    const float *s = D(src);
    CHECK();
    return cpu()->copy(ctx, d, ds, s, ss, nd, shape, acc);
}
static vimo_status k_fill(vimo_ctx *ctx, float *x, int64_t n, float v)
{
    float *h = D(x);
    CHECK();
    return cpu()->fill(ctx, h, n, v);
}
static vimo_status k_binary_fwd(vimo_ctx *ctx, int kind, const float *a, const float *b, float *y, int64_t n,
                                int64_t p)
{
    const float *ha = D(a), *hb = D(b);
    float *hy = D(y);
    CHECK();
    return cpu()->binary_fwd(ctx, kind, ha, hb, hy, n, p);
}
static vimo_status k_binary_bwd(vimo_ctx *ctx, int kind, const float *a, const float *b, const float *dy, float *ga,
                                float *gb, int64_t n, int64_t p)
{
    const float *ha = D(a), *hb = D(b), *hdy = D(dy);
    float *hga = D(ga), *hgb = D(gb);
    CHECK();
    return cpu()->binary_bwd(ctx, kind, ha, hb, hdy, hga, hgb, n, p);
}
static vimo_status k_colsum_add(vimo_ctx *ctx, const float *dy, float *gb, int64_t rows, int64_t n)
{
    const float *hdy = D(dy);
    float *hgb = D(gb);
    CHECK();
    return cpu()->colsum_add(ctx, hdy, hgb, rows, n);
}
static vimo_status k_unary_fwd(vimo_ctx *ctx, int kind, const float *x, float *y, int64_t n, float s)
{
    const float *hx = D(x);
    float *hy = D(y);
    CHECK();
    return cpu()->unary_fwd(ctx, kind, hx, hy, n, s);
}
static vimo_status k_unary_bwd(vimo_ctx *ctx, int kind, const float *x, const float *dy, float *gx, int64_t n, float s)
{
    const float *hx = D(x), *hdy = D(dy);
    float *hgx = D(gx);
    CHECK();
    return cpu()->unary_bwd(ctx, kind, hx, hdy, hgx, n, s);
}
static vimo_status k_swiglu_fwd(vimo_ctx *ctx, const float *g, const float *u, float *y, int64_t n)
{
    const float *hg = D(g), *hu = D(u);
    float *hy = D(y);
    CHECK();
    return cpu()->swiglu_fwd(ctx, hg, hu, hy, n);
}
static vimo_status k_swiglu_bwd(vimo_ctx *ctx, const float *g, const float *u, const float *dy, float *gg, float *gu,
                                int64_t n)
{
    const float *hg = D(g), *hu = D(u), *hdy = D(dy);
    float *hgg = D(gg), *hgu = D(gu);
    CHECK();
    return cpu()->swiglu_bwd(ctx, hg, hu, hdy, hgg, hgu, n);
}
static vimo_status k_sum_fwd(vimo_ctx *ctx, const float *x, float *y, int64_t n)
{
    const float *hx = D(x);
    float *hy = D(y);
    CHECK();
    return cpu()->sum_fwd(ctx, hx, hy, n);
}
static vimo_status k_sum_bwd(vimo_ctx *ctx, const float *dy, float *gx, int64_t n)
{
    const float *hdy = D(dy);
    float *hgx = D(gx);
    CHECK();
    return cpu()->sum_bwd(ctx, hdy, hgx, n);
}
static vimo_status k_mean_fwd(vimo_ctx *ctx, const float *x, float *y, int64_t o, int64_t l, int64_t i)
{
    const float *hx = D(x);
    float *hy = D(y);
    CHECK();
    return cpu()->mean_fwd(ctx, hx, hy, o, l, i);
}
static vimo_status k_mean_bwd(vimo_ctx *ctx, const float *dy, float *gx, int64_t o, int64_t l, int64_t i)
{
    const float *hdy = D(dy);
    float *hgx = D(gx);
    CHECK();
    return cpu()->mean_bwd(ctx, hdy, hgx, o, l, i);
}
static vimo_status k_rmsnorm_fwd(vimo_ctx *ctx, const float *x, const float *w, float *y, float *rstd, int64_t rows,
                                 int64_t d, float eps)
{
    const float *hx = D(x), *hw = D(w);
    float *hy = D(y), *hr = D(rstd);
    CHECK();
    return cpu()->rmsnorm_fwd(ctx, hx, hw, hy, hr, rows, d, eps);
}
static vimo_status k_rmsnorm_bwd(vimo_ctx *ctx, const float *x, const float *w, const float *rstd, const float *dy,
                                 float *gx, float *gw, int64_t rows, int64_t d)
{
    const float *hx = D(x), *hw = D(w), *hr = D(rstd), *hdy = D(dy);
    float *hgx = D(gx), *hgw = D(gw);
    CHECK();
    return cpu()->rmsnorm_bwd(ctx, hx, hw, hr, hdy, hgx, hgw, rows, d);
}
static vimo_status k_layernorm_fwd(vimo_ctx *ctx, const float *x, const float *w, const float *b, float *y,
                                   float *stats, int64_t rows, int64_t d, float eps)
{
    const float *hx = D(x), *hw = D(w), *hb = D(b);
    float *hy = D(y), *hs = D(stats);
    CHECK();
    return cpu()->layernorm_fwd(ctx, hx, hw, hb, hy, hs, rows, d, eps);
}
static vimo_status k_layernorm_bwd(vimo_ctx *ctx, const float *x, const float *w, const float *stats, const float *dy,
                                   float *gx, float *gw, float *gb, int64_t rows, int64_t d)
{
    const float *hx = D(x), *hw = D(w), *hs = D(stats), *hdy = D(dy);
    float *hgx = D(gx), *hgw = D(gw), *hgb = D(gb);
    CHECK();
    return cpu()->layernorm_bwd(ctx, hx, hw, hs, hdy, hgx, hgw, hgb, rows, d);
}
static vimo_status k_softmax_fwd(vimo_ctx *ctx, const float *x, float *y, int64_t rows, int64_t d)
{
    const float *hx = D(x);
    float *hy = D(y);
    CHECK();
    return cpu()->softmax_fwd(ctx, hx, hy, rows, d);
}
static vimo_status k_softmax_bwd(vimo_ctx *ctx, const float *y, const float *dy, float *gx, int64_t rows, int64_t d)
{
    const float *hy = D(y), *hdy = D(dy);
    float *hgx = D(gx);
    CHECK();
    return cpu()->softmax_bwd(ctx, hy, hdy, hgx, rows, d);
}
static vimo_status k_embedding_fwd(vimo_ctx *ctx, const float *t, const int32_t *ids, float *y, int64_t cnt, int64_t d)
{
    const float *ht = D(t);
    const int32_t *hi = D(ids);
    float *hy = D(y);
    CHECK();
    return cpu()->embedding_fwd(ctx, ht, hi, hy, cnt, d);
}
static vimo_status k_embedding_bwd(vimo_ctx *ctx, const int32_t *ids, const float *dy, float *gt, int64_t cnt,
                                   int64_t d)
{
    const int32_t *hi = D(ids);
    const float *hdy = D(dy);
    float *hgt = D(gt);
    CHECK();
    return cpu()->embedding_bwd(ctx, hi, hdy, hgt, cnt, d);
}
static vimo_status k_rope(vimo_ctx *ctx, float *y, const float *x, const float *cs, int64_t rows, int64_t t, int64_t h,
                          int64_t dh, int mode, int bwd)
{
    float *hy = D(y);
    const float *hx = D(x), *hcs = D(cs);
    CHECK();
    return cpu()->rope(ctx, hy, hx, hcs, rows, t, h, dh, mode, bwd);
}
static vimo_status k_dropout_fwd(vimo_ctx *ctx, const float *x, const uint8_t *keep, float *y, int64_t n, float s)
{
    const float *hx = D(x);
    const uint8_t *hk = D(keep);
    float *hy = D(y);
    CHECK();
    return cpu()->dropout_fwd(ctx, hx, hk, hy, n, s);
}
static vimo_status k_dropout_bwd(vimo_ctx *ctx, const uint8_t *keep, const float *dy, float *gx, int64_t n, float s)
{
    const uint8_t *hk = D(keep);
    const float *hdy = D(dy);
    float *hgx = D(gx);
    CHECK();
    return cpu()->dropout_bwd(ctx, hk, hdy, hgx, n, s);
}
static vimo_status k_ce_fwd(vimo_ctx *ctx, const float *x, const int32_t *t, int32_t ign, int64_t cnt, float *lse,
                            float *loss, int64_t rows, int64_t v)
{
    const float *hx = D(x);
    const int32_t *ht = D(t);
    float *hl = D(lse), *hloss = D(loss);
    CHECK();
    return cpu()->ce_fwd(ctx, hx, ht, ign, cnt, hl, hloss, rows, v);
}
static vimo_status k_ce_bwd(vimo_ctx *ctx, const float *x, const int32_t *t, int32_t ign, int64_t cnt,
                            const float *lse, const float *dl, float *gx, int64_t rows, int64_t v)
{
    const float *hx = D(x), *hl = D(lse), *hdl = D(dl);
    const int32_t *ht = D(t);
    float *hgx = D(gx);
    CHECK();
    return cpu()->ce_bwd(ctx, hx, ht, ign, cnt, hl, hdl, hgx, rows, v);
}
static vimo_status k_mse_fwd(vimo_ctx *ctx, const float *a, const float *b, float *loss, int64_t n)
{
    const float *ha = D(a), *hb = D(b);
    float *hl = D(loss);
    CHECK();
    return cpu()->mse_fwd(ctx, ha, hb, hl, n);
}
static vimo_status k_mse_bwd(vimo_ctx *ctx, const float *a, const float *b, const float *dl, float *ga, float *gb,
                             int64_t n)
{
    const float *ha = D(a), *hb = D(b), *hdl = D(dl);
    float *hga = D(ga), *hgb = D(gb);
    CHECK();
    return cpu()->mse_bwd(ctx, ha, hb, hdl, hga, hgb, n);
}
static vimo_status k_att_fwd(vimo_ctx *ctx, const vimo_attn_dims *a, const float *q, const float *k, const float *v,
                             const uint8_t *mask, float *y, float *lse)
{
    const float *hq = D(q), *hk = D(k), *hv = D(v);
    const uint8_t *hm = D(mask);
    float *hy = D(y), *hl = D(lse);
    CHECK();
    return cpu()->attention_fwd(ctx, a, hq, hk, hv, hm, hy, hl);
}
static vimo_status k_att_bwd(vimo_ctx *ctx, const vimo_attn_dims *a, const float *q, const float *k, const float *v,
                             const uint8_t *mask, const float *y, const float *lse, const float *dy, float *gq,
                             float *gk, float *gv)
{
    const float *hq = D(q), *hk = D(k), *hv = D(v), *hy = D(y), *hl = D(lse), *hdy = D(dy);
    const uint8_t *hm = D(mask);
    float *hgq = D(gq), *hgk = D(gk), *hgv = D(gv);
    CHECK();
    return cpu()->attention_bwd(ctx, a, hq, hk, hv, hm, hy, hl, hdy, hgq, hgk, hgv);
}
static vimo_status k_conv_fwd(vimo_ctx *ctx, const vimo_conv_dims *g, const float *x, const float *w, const float *b,
                              float *y)
{
    const float *hx = D(x), *hw = D(w), *hb = D(b);
    float *hy = D(y);
    CHECK();
    return cpu()->conv_fwd(ctx, g, hx, hw, hb, hy);
}
static vimo_status k_conv_bwd(vimo_ctx *ctx, const vimo_conv_dims *g, const float *x, const float *w, const float *dy,
                              float *gx, float *gw, float *gb)
{
    const float *hx = D(x), *hw = D(w), *hdy = D(dy);
    float *hgx = D(gx), *hgw = D(gw), *hgb = D(gb);
    CHECK();
    return cpu()->conv_bwd(ctx, g, hx, hw, hdy, hgx, hgw, hgb);
}
static vimo_status k_adamw(float *p, const float *g, float *m, float *v, int64_t n, float decay, float b1c, float b2,
                           float b2c, float step, float bc2, float eps)
{
    float *hp = D(p), *hm = D(m), *hv = D(v);
    const float *hg = D(g);
    CHECK();
    return cpu()->adamw(hp, hg, hm, hv, n, decay, b1c, b2, b2c, step, bc2, eps);
}
static vimo_status k_sumsq(const float *x, int64_t n, double *out)
{
    const float *hx = D(x);
    CHECK();
    return cpu()->sumsq(hx, n, out);
}

static const vimo_backend_kernels k_kernels = {
    .size = sizeof(vimo_backend_kernels),
    .sgemm = k_sgemm,
    .copy = k_copy,
    .fill = k_fill,
    .binary_fwd = k_binary_fwd,
    .binary_bwd = k_binary_bwd,
    .colsum_add = k_colsum_add,
    .unary_fwd = k_unary_fwd,
    .unary_bwd = k_unary_bwd,
    .swiglu_fwd = k_swiglu_fwd,
    .swiglu_bwd = k_swiglu_bwd,
    .sum_fwd = k_sum_fwd,
    .sum_bwd = k_sum_bwd,
    .mean_fwd = k_mean_fwd,
    .mean_bwd = k_mean_bwd,
    .rmsnorm_fwd = k_rmsnorm_fwd,
    .rmsnorm_bwd = k_rmsnorm_bwd,
    .layernorm_fwd = k_layernorm_fwd,
    .layernorm_bwd = k_layernorm_bwd,
    .softmax_fwd = k_softmax_fwd,
    .softmax_bwd = k_softmax_bwd,
    .embedding_fwd = k_embedding_fwd,
    .embedding_bwd = k_embedding_bwd,
    .rope = k_rope,
    .dropout_fwd = k_dropout_fwd,
    .dropout_bwd = k_dropout_bwd,
    .ce_fwd = k_ce_fwd,
    .ce_bwd = k_ce_bwd,
    .mse_fwd = k_mse_fwd,
    .mse_bwd = k_mse_bwd,
    .attention_fwd = k_att_fwd,
    .attention_bwd = k_att_bwd,
    .conv_fwd = k_conv_fwd,
    .conv_bwd = k_conv_bwd,
    .adamw = k_adamw,
    .sumsq = k_sumsq,
};

static const vimo_backend k_hostdev = {
    VIMO_BACKEND_HEADER,
    .name = "hostdev",
    .init = fd_init,
    .alloc = fd_alloc,
    .free = fd_free,
    .copy_h2d = fd_h2d,
    .copy_d2h = fd_d2h,
    .copy_d2d = fd_d2d,
    .memset0 = fd_memset0,
    .synchronize = fd_sync,
    .kernels = &k_kernels,
};

const vimo_backend *fake_device_backend(void) { return &k_hostdev; }

int fake_device_register(void)
{
    int dev = -1;
    if (vimo_backend_register(&k_hostdev, &dev)) return -1;
    return dev;
}

long fake_device_calls(void) { return atomic_load(&g_calls); }
long fake_device_live(void) { return atomic_load(&g_live); }
