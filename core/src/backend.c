/*
 * backend.c - the device registry (vimo/backend.h), the CPU backend's table,
 * and the device side of caller-owned tensors: placement, copies between
 * host and device, in-place moves, and the differentiable vimo_to_device.
 *
 * Device 0 is the CPU and always present; ids 1.. are given out by
 * vimo_backend_register in registration order and never reused. The table
 * is read without a lock after registration (entries are only ever added,
 * under the lock, before their id is handed out).
 * Not here: the kernels (cpu_kernels.h lists where each one lives), memory
 * pools (a context's device arena, ctx.c, is the pool).
 */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_kernels.h"
#include "tensor_impl.h"
#include "vimo/kernels.h"
#include "vimo/plugin.h"
#include "vimo/vimo.h"

void *vt_device_zalloc(int device, size_t bytes);

/* ---- the CPU backend --------------------------------------------------------- */

static vimo_status cpu_alloc(void **out, size_t bytes)
{
    size_t n = (bytes + VIMO_ALIGN - 1) / VIMO_ALIGN * VIMO_ALIGN;
    *out = aligned_alloc(VIMO_ALIGN, n ? n : VIMO_ALIGN);
    return *out ? VIMO_OK : vimo_error(VIMO_ERR_NOMEM, "cpu: cannot allocate %zu bytes", bytes);
}
static void cpu_free(void *p) { free(p); }
static vimo_status cpu_copy(void *dst, const void *src, size_t bytes)
{
    if (bytes) memmove(dst, src, bytes);
    return VIMO_OK;
}
static vimo_status cpu_memset0(void *dst, size_t bytes)
{
    if (bytes) memset(dst, 0, bytes);
    return VIMO_OK;
}
static vimo_status cpu_sync(void) { return VIMO_OK; }
static vimo_status cpu_init(void) { return vimo_init(); }

static const vimo_backend_kernels k_cpu_kernels = {
    .size = sizeof(vimo_backend_kernels),
    .sgemm = vimo_sgemm,
    .copy = vt_cpu_copy,
    .fill = vt_cpu_fill,
    .binary_fwd = vt_cpu_binary_fwd,
    .binary_bwd = vt_cpu_binary_bwd,
    .colsum_add = vt_cpu_colsum_add,
    .unary_fwd = vt_cpu_unary_fwd,
    .unary_bwd = vt_cpu_unary_bwd,
    .swiglu_fwd = vt_cpu_swiglu_fwd,
    .swiglu_bwd = vt_cpu_swiglu_bwd,
    .sum_fwd = vt_cpu_sum_fwd,
    .sum_bwd = vt_cpu_sum_bwd,
    .mean_fwd = vt_cpu_mean_fwd,
    .mean_bwd = vt_cpu_mean_bwd,
    .rmsnorm_fwd = vt_cpu_rmsnorm_fwd,
    .rmsnorm_bwd = vt_cpu_rmsnorm_bwd,
    .layernorm_fwd = vt_cpu_layernorm_fwd,
    .layernorm_bwd = vt_cpu_layernorm_bwd,
    .softmax_fwd = vt_cpu_softmax_fwd,
    .softmax_bwd = vt_cpu_softmax_bwd,
    .embedding_fwd = vt_cpu_embedding_fwd,
    .embedding_bwd = vt_cpu_embedding_bwd,
    .rope = vt_cpu_rope,
    .dropout_fwd = vt_cpu_dropout_fwd,
    .dropout_bwd = vt_cpu_dropout_bwd,
    .ce_fwd = vt_cpu_ce_fwd,
    .ce_bwd = vt_cpu_ce_bwd,
    .mse_fwd = vt_cpu_mse_fwd,
    .mse_bwd = vt_cpu_mse_bwd,
    .attention_fwd = vt_cpu_attention_fwd,
    .attention_bwd = vt_cpu_attention_bwd,
    .conv_fwd = vt_cpu_conv_fwd,
    .conv_bwd = vt_cpu_conv_bwd,
    .adamw = vt_cpu_adamw,
    .sumsq = vt_cpu_sumsq,
};

static const vimo_backend k_cpu = {
    VIMO_BACKEND_HEADER,
    .name = "cpu",
    .init = cpu_init,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .copy_h2d = cpu_copy,
    .copy_d2h = cpu_copy,
    .copy_d2d = cpu_copy,
    .memset0 = cpu_memset0,
    .synchronize = cpu_sync,
    .kernels = &k_cpu_kernels,
};

const vimo_backend *vimo_backend_cpu(void) { return &k_cpu; }

/* ---- kernels a backend of an older ABI minor lacks ------------------------------ */

/* Names of the kernel table entries, in table order (messages). */
static const char *const k_kernel_names[] = {
    "sgemm", "copy", "fill", "binary_fwd", "binary_bwd", "colsum_add", "unary_fwd", "unary_bwd", "swiglu_fwd",
    "swiglu_bwd", "sum_fwd", "sum_bwd", "mean_fwd", "mean_bwd", "rmsnorm_fwd", "rmsnorm_bwd", "layernorm_fwd",
    "layernorm_bwd", "softmax_fwd", "softmax_bwd", "embedding_fwd", "embedding_bwd", "rope", "dropout_fwd",
    "dropout_bwd", "ce_fwd", "ce_bwd", "mse_fwd", "mse_bwd", "attention_fwd", "attention_bwd", "conv_fwd",
    "conv_bwd", "adamw", "sumsq",
};
#define N_KERNELS (sizeof k_kernel_names / sizeof *k_kernel_names)
_Static_assert(N_KERNELS * sizeof(void (*)(void)) ==
                   sizeof(vimo_backend_kernels) - offsetof(vimo_backend_kernels, sgemm),
               "k_kernel_names must name every kernel of vimo_backend_kernels");

static vimo_status missing_kernel(size_t idx);

/* Stand-ins for the kernels a backend built for an older ABI minor lacks. */
static vimo_status miss_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                   int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    (void)trans_a; (void)trans_b; (void)m; (void)n; (void)k; (void)alpha; (void)a; (void)lda; (void)b; (void)ldb;
    (void)beta; (void)c; (void)ldc;
    return missing_kernel(0);
}
static vimo_status miss_copy(vimo_ctx *ctx, float *dst, const int64_t *dst_stride, const float *src,
                   const int64_t *src_stride, int ndim, const int64_t *shape, int accumulate)
{
    (void)ctx; (void)dst; (void)dst_stride; (void)src; (void)src_stride; (void)ndim; (void)shape; (void)accumulate;
    return missing_kernel(1);
}
static vimo_status miss_fill(vimo_ctx *ctx, float *x, int64_t n, float value)
{
    (void)ctx; (void)x; (void)n; (void)value;
    return missing_kernel(2);
}
static vimo_status miss_binary_fwd(vimo_ctx *ctx, int kind, const float *a, const float *b, float *y, int64_t n,
                   int64_t period)
{
    (void)ctx; (void)kind; (void)a; (void)b; (void)y; (void)n; (void)period;
    return missing_kernel(3);
}
static vimo_status miss_binary_bwd(vimo_ctx *ctx, int kind, const float *a, const float *b, const float *dy,
                   float *ga, float *gb, int64_t n, int64_t period)
{
    (void)ctx; (void)kind; (void)a; (void)b; (void)dy; (void)ga; (void)gb; (void)n; (void)period;
    return missing_kernel(4);
}
static vimo_status miss_colsum_add(vimo_ctx *ctx, const float *dy, float *gb, int64_t rows, int64_t n)
{
    (void)ctx; (void)dy; (void)gb; (void)rows; (void)n;
    return missing_kernel(5);
}
static vimo_status miss_unary_fwd(vimo_ctx *ctx, int kind, const float *x, float *y, int64_t n, float s)
{
    (void)ctx; (void)kind; (void)x; (void)y; (void)n; (void)s;
    return missing_kernel(6);
}
static vimo_status miss_unary_bwd(vimo_ctx *ctx, int kind, const float *x, const float *dy, float *gx, int64_t n,
                   float s)
{
    (void)ctx; (void)kind; (void)x; (void)dy; (void)gx; (void)n; (void)s;
    return missing_kernel(7);
}
static vimo_status miss_swiglu_fwd(vimo_ctx *ctx, const float *gate, const float *up, float *y, int64_t n)
{
    (void)ctx; (void)gate; (void)up; (void)y; (void)n;
    return missing_kernel(8);
}
static vimo_status miss_swiglu_bwd(vimo_ctx *ctx, const float *gate, const float *up, const float *dy, float *gg,
                   float *gu, int64_t n)
{
    (void)ctx; (void)gate; (void)up; (void)dy; (void)gg; (void)gu; (void)n;
    return missing_kernel(9);
}
static vimo_status miss_sum_fwd(vimo_ctx *ctx, const float *x, float *y, int64_t n)
{
    (void)ctx; (void)x; (void)y; (void)n;
    return missing_kernel(10);
}
static vimo_status miss_sum_bwd(vimo_ctx *ctx, const float *dy, float *gx, int64_t n)
{
    (void)ctx; (void)dy; (void)gx; (void)n;
    return missing_kernel(11);
}
static vimo_status miss_mean_fwd(vimo_ctx *ctx, const float *x, float *y, int64_t outer, int64_t len, int64_t inner)
{
    (void)ctx; (void)x; (void)y; (void)outer; (void)len; (void)inner;
    return missing_kernel(12);
}
static vimo_status miss_mean_bwd(vimo_ctx *ctx, const float *dy, float *gx, int64_t outer, int64_t len, int64_t inner)
{
    (void)ctx; (void)dy; (void)gx; (void)outer; (void)len; (void)inner;
    return missing_kernel(13);
}
static vimo_status miss_rmsnorm_fwd(vimo_ctx *ctx, const float *x, const float *w, float *y, float *rstd,
                   int64_t rows, int64_t d, float eps)
{
    (void)ctx; (void)x; (void)w; (void)y; (void)rstd; (void)rows; (void)d; (void)eps;
    return missing_kernel(14);
}
static vimo_status miss_rmsnorm_bwd(vimo_ctx *ctx, const float *x, const float *w, const float *rstd, const float *dy,
                   float *gx, float *gw, int64_t rows, int64_t d)
{
    (void)ctx; (void)x; (void)w; (void)rstd; (void)dy; (void)gx; (void)gw; (void)rows; (void)d;
    return missing_kernel(15);
}
static vimo_status miss_layernorm_fwd(vimo_ctx *ctx, const float *x, const float *w, const float *b, float *y,
                   float *stats, int64_t rows, int64_t d, float eps)
{
    (void)ctx; (void)x; (void)w; (void)b; (void)y; (void)stats; (void)rows; (void)d; (void)eps;
    return missing_kernel(16);
}
static vimo_status miss_layernorm_bwd(vimo_ctx *ctx, const float *x, const float *w, const float *stats,
                   const float *dy, float *gx, float *gw, float *gb, int64_t rows, int64_t d)
{
    (void)ctx; (void)x; (void)w; (void)stats; (void)dy; (void)gx; (void)gw; (void)gb; (void)rows; (void)d;
    return missing_kernel(17);
}
static vimo_status miss_softmax_fwd(vimo_ctx *ctx, const float *x, float *y, int64_t rows, int64_t d)
{
    (void)ctx; (void)x; (void)y; (void)rows; (void)d;
    return missing_kernel(18);
}
static vimo_status miss_softmax_bwd(vimo_ctx *ctx, const float *y, const float *dy, float *gx, int64_t rows,
                   int64_t d)
{
    (void)ctx; (void)y; (void)dy; (void)gx; (void)rows; (void)d;
    return missing_kernel(19);
}
static vimo_status miss_embedding_fwd(vimo_ctx *ctx, const float *table, const int32_t *ids, float *y, int64_t cnt,
                   int64_t d)
{
    (void)ctx; (void)table; (void)ids; (void)y; (void)cnt; (void)d;
    return missing_kernel(20);
}
static vimo_status miss_embedding_bwd(vimo_ctx *ctx, const int32_t *ids, const float *dy, float *gtable, int64_t cnt,
                   int64_t d)
{
    (void)ctx; (void)ids; (void)dy; (void)gtable; (void)cnt; (void)d;
    return missing_kernel(21);
}
static vimo_status miss_rope(vimo_ctx *ctx, float *y, const float *x, const float *cs, int64_t rows, int64_t t_len,
                   int64_t h, int64_t dh, int mode, int backward)
{
    (void)ctx; (void)y; (void)x; (void)cs; (void)rows; (void)t_len; (void)h; (void)dh; (void)mode; (void)backward;
    return missing_kernel(22);
}
static vimo_status miss_dropout_fwd(vimo_ctx *ctx, const float *x, const uint8_t *keep, float *y, int64_t n,
                   float scale)
{
    (void)ctx; (void)x; (void)keep; (void)y; (void)n; (void)scale;
    return missing_kernel(23);
}
static vimo_status miss_dropout_bwd(vimo_ctx *ctx, const uint8_t *keep, const float *dy, float *gx, int64_t n,
                   float scale)
{
    (void)ctx; (void)keep; (void)dy; (void)gx; (void)n; (void)scale;
    return missing_kernel(24);
}
static vimo_status miss_ce_fwd(vimo_ctx *ctx, const float *x, const int32_t *targets, int32_t ignore, int64_t count,
                   float *lse, float *loss, int64_t rows, int64_t v)
{
    (void)ctx; (void)x; (void)targets; (void)ignore; (void)count; (void)lse; (void)loss; (void)rows; (void)v;
    return missing_kernel(25);
}
static vimo_status miss_ce_bwd(vimo_ctx *ctx, const float *x, const int32_t *targets, int32_t ignore, int64_t count,
                   const float *lse, const float *dloss, float *gx, int64_t rows, int64_t v)
{
    (void)ctx; (void)x; (void)targets; (void)ignore; (void)count; (void)lse; (void)dloss; (void)gx; (void)rows;
    (void)v;
    return missing_kernel(26);
}
static vimo_status miss_mse_fwd(vimo_ctx *ctx, const float *a, const float *b, float *loss, int64_t n)
{
    (void)ctx; (void)a; (void)b; (void)loss; (void)n;
    return missing_kernel(27);
}
static vimo_status miss_mse_bwd(vimo_ctx *ctx, const float *a, const float *b, const float *dloss, float *ga,
                   float *gb, int64_t n)
{
    (void)ctx; (void)a; (void)b; (void)dloss; (void)ga; (void)gb; (void)n;
    return missing_kernel(28);
}
static vimo_status miss_attention_fwd(vimo_ctx *ctx, const vimo_attn_dims *a, const float *q, const float *k,
                   const float *v, const uint8_t *mask, float *y, float *lse)
{
    (void)ctx; (void)a; (void)q; (void)k; (void)v; (void)mask; (void)y; (void)lse;
    return missing_kernel(29);
}
static vimo_status miss_attention_bwd(vimo_ctx *ctx, const vimo_attn_dims *a, const float *q, const float *k,
                   const float *v, const uint8_t *mask, const float *y, const float *lse, const float *dy, float *gq,
                   float *gk, float *gv)
{
    (void)ctx; (void)a; (void)q; (void)k; (void)v; (void)mask; (void)y; (void)lse; (void)dy; (void)gq; (void)gk;
    (void)gv;
    return missing_kernel(30);
}
static vimo_status miss_conv_fwd(vimo_ctx *ctx, const vimo_conv_dims *g, const float *x, const float *w,
                   const float *b, float *y)
{
    (void)ctx; (void)g; (void)x; (void)w; (void)b; (void)y;
    return missing_kernel(31);
}
static vimo_status miss_conv_bwd(vimo_ctx *ctx, const vimo_conv_dims *g, const float *x, const float *w,
                   const float *dy, float *gx, float *gw, float *gb)
{
    (void)ctx; (void)g; (void)x; (void)w; (void)dy; (void)gx; (void)gw; (void)gb;
    return missing_kernel(32);
}
static vimo_status miss_adamw(float *p, const float *g, float *m, float *v, int64_t n, float decay, float b1c,
                   float b2, float b2c, float step_size, float bc2_sqrt, float eps)
{
    (void)p; (void)g; (void)m; (void)v; (void)n; (void)decay; (void)b1c; (void)b2; (void)b2c; (void)step_size;
    (void)bc2_sqrt; (void)eps;
    return missing_kernel(33);
}
static vimo_status miss_sumsq(const float *x, int64_t n, double *out)
{
    (void)x; (void)n; (void)out;
    return missing_kernel(34);
}
static const vimo_backend_kernels k_missing = {
    .size = sizeof(vimo_backend_kernels),
    .sgemm = miss_sgemm,
    .copy = miss_copy,
    .fill = miss_fill,
    .binary_fwd = miss_binary_fwd,
    .binary_bwd = miss_binary_bwd,
    .colsum_add = miss_colsum_add,
    .unary_fwd = miss_unary_fwd,
    .unary_bwd = miss_unary_bwd,
    .swiglu_fwd = miss_swiglu_fwd,
    .swiglu_bwd = miss_swiglu_bwd,
    .sum_fwd = miss_sum_fwd,
    .sum_bwd = miss_sum_bwd,
    .mean_fwd = miss_mean_fwd,
    .mean_bwd = miss_mean_bwd,
    .rmsnorm_fwd = miss_rmsnorm_fwd,
    .rmsnorm_bwd = miss_rmsnorm_bwd,
    .layernorm_fwd = miss_layernorm_fwd,
    .layernorm_bwd = miss_layernorm_bwd,
    .softmax_fwd = miss_softmax_fwd,
    .softmax_bwd = miss_softmax_bwd,
    .embedding_fwd = miss_embedding_fwd,
    .embedding_bwd = miss_embedding_bwd,
    .rope = miss_rope,
    .dropout_fwd = miss_dropout_fwd,
    .dropout_bwd = miss_dropout_bwd,
    .ce_fwd = miss_ce_fwd,
    .ce_bwd = miss_ce_bwd,
    .mse_fwd = miss_mse_fwd,
    .mse_bwd = miss_mse_bwd,
    .attention_fwd = miss_attention_fwd,
    .attention_bwd = miss_attention_bwd,
    .conv_fwd = miss_conv_fwd,
    .conv_bwd = miss_conv_bwd,
    .adamw = miss_adamw,
    .sumsq = miss_sumsq,
};

/* ---- registry ------------------------------------------------------------------ */

static struct {
    pthread_mutex_t lock;
    const vimo_backend *dev[VIMO_MAX_DEVICES];
    /* The table ops dispatch through: the backend's own, or for a backend
     * whose table is shorter than the host's (an older ABI minor) a copy in
     * padded[] whose missing trailing entries are k_missing's stand-ins. */
    const vimo_backend_kernels *kern[VIMO_MAX_DEVICES];
    size_t nkern[VIMO_MAX_DEVICES]; /* kernels the backend itself provides */
    vimo_backend_kernels padded[VIMO_MAX_DEVICES];
    int n;
} g = {PTHREAD_MUTEX_INITIALIZER, {&k_cpu}, {&k_cpu_kernels}, {N_KERNELS}, {{0}}, 1};

const vimo_backend *vt_backend(int device) { return g.dev[device]; }
const vimo_backend_kernels *vt_kern(int device) { return g.kern[device]; }

const vimo_backend_kernels *vimo_backend_kernels_of(int device)
{
    return device >= 0 && device < VIMO_MAX_DEVICES ? g.kern[device] : NULL;
}

/* Kernels in a table of `size` bytes (entries wholly inside it). */
static size_t kernels_in(uint32_t size)
{
    size_t off = offsetof(vimo_backend_kernels, sgemm);
    size_t n = size > off ? (size - off) / sizeof(void (*)(void)) : 0;
    return n < N_KERNELS ? n : N_KERNELS;
}

/* What a missing kernel returns: names the op's kernel and every backend
 * lacking it (normally one; stand-ins are shared by all backends). */
static vimo_status missing_kernel(size_t idx)
{
    char who[160] = "";
    size_t u = 0;
    for (int d = 1; d < g.n && u < sizeof who; d++)
        if (g.nkern[d] <= idx)
            u += (size_t)snprintf(who + u, sizeof who - u, "%s%s", u ? " or " : "", g.dev[d]->name);
    return vimo_error(VIMO_ERR_UNSUPPORTED,
                      "%s: backend %s has no %s kernel (built for an older backend ABI minor than this vimo's %d.%d)",
                      k_kernel_names[idx], who[0] ? who : "?", k_kernel_names[idx], VIMO_BACKEND_ABI_MAJOR,
                      VIMO_BACKEND_ABI_MINOR);
}

const vimo_backend *vimo_backend_of(int device)
{
    return device >= 0 && device < VIMO_MAX_DEVICES ? g.dev[device] : NULL;
}

const char *vimo_device_name(int device)
{
    const vimo_backend *be = vimo_backend_of(device);
    return be ? be->name : "?";
}

/* The ABI checks of backend.h, before any backend code runs. */
static vimo_status check_backend(const vimo_backend *be)
{
    if (be->abi_major != VIMO_BACKEND_ABI_MAJOR || be->abi_minor > VIMO_BACKEND_ABI_MINOR)
        return vimo_error(VIMO_ERR_ABI, "backend: ABI %u.%u, host ABI %d.%d", be->abi_major, be->abi_minor,
                          VIMO_BACKEND_ABI_MAJOR, VIMO_BACKEND_ABI_MINOR);
    if (be->size < sizeof(vimo_backend) || !be->name || !be->name[0])
        return vimo_error(VIMO_ERR_FORMAT, "backend: descriptor of %u bytes (host needs %zu) or no name", be->size,
                          sizeof(vimo_backend));
    if (!be->init || !be->alloc || !be->free || !be->copy_h2d || !be->copy_d2h || !be->copy_d2d || !be->memset0 ||
        !be->synchronize || !be->kernels)
        return vimo_error(VIMO_ERR_FORMAT, "backend %s: a memory function or the kernel table is NULL", be->name);
    const vimo_backend_kernels *k = be->kernels;
    /* A table shorter than the host's comes from an older ABI minor: the
     * entries it has must be set, the trailing ones it lacks are absent
     * (their ops fail with VIMO_ERR_UNSUPPORTED). Every field after size is
     * a function pointer; a longer table's extra entries are not read. */
    if (k->size < offsetof(vimo_backend_kernels, sgemm))
        return vimo_error(VIMO_ERR_FORMAT, "backend %s: kernel table of %u bytes", be->name, k->size);
    size_t nfn = kernels_in(k->size);
    for (size_t i = 0; i < nfn; i++) {
        void (*fp)(void);
        memcpy(&fp, (const char *)k + offsetof(vimo_backend_kernels, sgemm) + i * sizeof fp, sizeof fp);
        if (!fp)
            return vimo_error(VIMO_ERR_FORMAT, "backend %s: kernel %s (%zu) of the table is NULL", be->name,
                              k_kernel_names[i], i);
    }
    return VIMO_OK;
}

vimo_status vimo_backend_register(const vimo_backend *be, int *device)
{
    if (!be || !device) return vimo_error(VIMO_ERR_INVALID, "backend_register: NULL argument");
    *device = -1;
    vimo_status st = check_backend(be);
    if (st) return st;
    pthread_mutex_lock(&g.lock);
    for (int i = 0; i < g.n; i++) {
        if (g.dev[i] == be) {
            *device = i;
            goto done;
        }
        if (!strcmp(g.dev[i]->name, be->name)) {
            st = vimo_error(VIMO_ERR_STATE, "backend_register: another backend is named %s", be->name);
            goto done;
        }
    }
    if (g.n >= VIMO_MAX_DEVICES) {
        st = vimo_error(VIMO_ERR_STATE, "backend_register: no free device id for %s (%d at most)", be->name,
                        VIMO_MAX_DEVICES);
        goto done;
    }
    if ((st = be->init())) goto done;
    size_t nk = kernels_in(be->kernels->size);
    if (nk < N_KERNELS) { /* pad with the stand-ins: function pointer slots copied by position */
        vimo_backend_kernels *p = &g.padded[g.n];
        const size_t off = offsetof(vimo_backend_kernels, sgemm), fp = sizeof(void (*)(void));
        *p = k_missing;
        memcpy((char *)p + off, (const char *)be->kernels + off, nk * fp);
        g.kern[g.n] = p;
    } else {
        g.kern[g.n] = be->kernels;
    }
    g.nkern[g.n] = nk;
    g.dev[g.n] = be;
    *device = g.n++;
done:
    pthread_mutex_unlock(&g.lock);
    return st;
}

vimo_status vimo_backend_get(const char *name, int *device)
{
    if (!name || !device) return vimo_error(VIMO_ERR_INVALID, "backend_get: NULL argument");
    *device = -1;
    pthread_mutex_lock(&g.lock);
    for (int i = 0; i < g.n; i++)
        if (!strcmp(g.dev[i]->name, name)) *device = i;
    pthread_mutex_unlock(&g.lock);
    if (*device >= 0) return VIMO_OK;
    char id[96];
    if (strlen(name) > 64) return vimo_error(VIMO_ERR_INVALID, "backend_get: name too long");
    snprintf(id, sizeof id, "backend.%s", name);
    const vimo_plugin_desc *d = NULL;
    if (vimo_plugin_find(id, &d) != VIMO_OK)
        return vimo_error(VIMO_ERR_NOT_FOUND,
                          "%s: no backend plugin %s (build vimo with -DVIMO_CUDA=ON for cuda, or set "
                          "VIMO_PLUGIN_PATH)",
                          name, id);
    if (d->kind != VIMO_PLUGIN_BACKEND || !d->get_iface)
        return vimo_error(VIMO_ERR_FORMAT, "%s: plugin %s is not a backend", name, id);
    const vimo_backend *be = d->get_iface(VIMO_IFACE_BACKEND);
    if (!be) return vimo_error(VIMO_ERR_FORMAT, "%s: plugin %s has no %s interface", name, id, VIMO_IFACE_BACKEND);
    /* ABI and name checked before registering: a mismatch leaves nothing
     * registered (and no backend code run). */
    vimo_status st = check_backend(be);
    if (st) return st;
    if (strcmp(be->name, name))
        return vimo_error(VIMO_ERR_FORMAT, "%s: plugin %s holds a backend named %s", name, id, be->name);
    return vimo_backend_register(be, device);
}

void vt_device_free(int device, void *p)
{
    if (!p) return;
    if (device == 0) free(p);
    else vt_backend(device)->free(p);
}

vimo_status vt_same_device(const char *op, int *device, int n, vimo_tensor *const *t, const char *const *names)
{
    int first = -1;
    *device = 0;
    for (int i = 0; i < n; i++) {
        if (!t[i]) continue;
        if (first < 0) {
            first = i;
            *device = t[i]->device;
        } else if (t[i]->device != *device) {
            return vimo_error(VIMO_ERR_INVALID, "%s: %s on %s, %s on %s (move them to one device with "
                                                "vimo_to_device)",
                              op, names[first], vimo_device_name(*device), names[i], vimo_device_name(t[i]->device));
        }
    }
    return VIMO_OK;
}

/* ---- caller-owned tensors on devices ------------------------------------------- */

int vimo_tensor_device(const vimo_tensor *t) { return t ? t->device : 0; }
float *vimo_tensor_device_data(const vimo_tensor *t) { return t ? t->data : NULL; }

/* Copies between a device tensor t (any strides) and contiguous host
 * memory: host -> t when to_device, else t -> host. Strided tensors go
 * through a contiguous device buffer and the backend's copy kernel. */
vimo_status vt_device_copy(const vimo_tensor *t, float *host, int to_device)
{
    const vimo_backend *be = vt_backend(t->device);
    size_t bytes = (size_t)vt_numel(t) * sizeof(float);
    if (vt_is_contig(t)) return to_device ? be->copy_h2d(t->data, host, bytes) : be->copy_d2h(host, t->data, bytes);
    void *tmp = NULL;
    vimo_status st = be->alloc(&tmp, bytes);
    if (st) return st;
    int64_t cs[VIMO_MAX_DIMS];
    vimo_tensor c = *t;
    vt_set_contig_strides(&c);
    memcpy(cs, c.stride, sizeof cs);
    if (to_device) {
        if (!(st = be->copy_h2d(tmp, host, bytes)))
            st = vt_kern(t->device)->copy(NULL, t->data, t->stride, tmp, cs, t->ndim, t->shape, 0);
    } else {
        if (!(st = vt_kern(t->device)->copy(NULL, tmp, cs, t->data, t->stride, t->ndim, t->shape, 0)))
            st = be->copy_d2h(host, tmp, bytes);
    }
    /* The copy kernel may still be running on tmp: wait before freeing it
     * (backend.h: free only after synchronize). */
    vimo_status sst = be->synchronize();
    if (!st) st = sst;
    be->free(tmp);
    return st;
}

void vt_device_fill(vimo_tensor *t, float v)
{
    const vimo_backend *be = vt_backend(t->device);
    if (vt_is_contig(t)) {
        vt_kern(t->device)->fill(NULL, t->data, vt_numel(t), v);
        return;
    }
    void *one = NULL;
    if (be->alloc(&one, sizeof v)) return;
    int64_t zero[VIMO_MAX_DIMS] = {0, 0, 0, 0};
    if (!be->copy_h2d(one, &v, sizeof v))
        vt_kern(t->device)->copy(NULL, t->data, t->stride, one, zero, t->ndim, t->shape, 0);
    be->synchronize(); /* the copy kernel reads `one`: wait before freeing it */
    be->free(one);
}

vimo_status vimo_tensor_to(vimo_tensor **out, const vimo_tensor *t, int device)
{
    if (!out || !t) return vimo_error(VIMO_ERR_INVALID, "tensor_to: NULL argument");
    *out = NULL;
    vimo_tensor *c = NULL;
    vimo_status st = vimo_tensor_new_on(&c, device, t->ndim, t->shape);
    if (st) return st;
    size_t bytes = (size_t)vt_numel(t) * sizeof(float);
    if (t->device == device && vt_is_contig(t)) {
        st = vt_backend(device)->copy_d2d(c->data, t->data, bytes);
    } else if (t->device == device) {
        int64_t cs[VIMO_MAX_DIMS];
        memcpy(cs, c->stride, sizeof cs);
        st = vt_kern(device)->copy(NULL, c->data, cs, t->data, t->stride, t->ndim, t->shape, 0);
    } else if (t->device == 0) {
        if (vt_is_contig(t)) {
            st = vt_device_copy(c, t->data, 1);
        } else { /* a strided host view: gathered on the host first */
            float *h = malloc(bytes ? bytes : 1);
            if (!h) st = vimo_error(VIMO_ERR_NOMEM, "tensor_to: out of memory");
            else if (!(st = vimo_tensor_copy_to(t, h, vt_numel(t)))) st = vt_device_copy(c, h, 1);
            free(h);
        }
    } else if (device == 0) {
        st = vt_device_copy(t, c->data, 0);
    } else { /* device to device: through the host */
        float *h = malloc(bytes ? bytes : 1);
        if (!h) st = vimo_error(VIMO_ERR_NOMEM, "tensor_to: out of memory");
        else if (!(st = vt_device_copy(t, h, 0))) st = vt_device_copy(c, h, 1);
        free(h);
    }
    if (st) {
        vimo_tensor_free(c);
        return st;
    }
    *out = c;
    return VIMO_OK;
}

/* Copies n bytes from memory on device `from` into memory on `to`. */
static vimo_status cross_copy(void *dst, int to, const void *src, int from, size_t n)
{
    if (to == 0 && from == 0) return memcpy(dst, src, n), VIMO_OK;
    if (to == from) return vt_backend(to)->copy_d2d(dst, src, n);
    if (from == 0) return vt_backend(to)->copy_h2d(dst, src, n);
    if (to == 0) return vt_backend(from)->copy_d2h(dst, src, n);
    void *h = malloc(n ? n : 1);
    if (!h) return vimo_error(VIMO_ERR_NOMEM, "tensor_move: out of memory");
    vimo_status st = vt_backend(from)->copy_d2h(h, src, n);
    if (!st) st = vt_backend(to)->copy_h2d(dst, h, n);
    free(h);
    return st;
}

vimo_status vimo_tensor_move(vimo_tensor *t, int device)
{
    if (!t) return vimo_error(VIMO_ERR_INVALID, "tensor_move: NULL tensor");
    if (!vimo_backend_of(device)) return vimo_error(VIMO_ERR_INVALID, "tensor_move: unknown device %d", device);
    if (t->device == device) return VIMO_OK;
    if ((t->flags & VT_CTX_OWNED) || !t->storage || t->storage->refs != 1 || t->data != t->storage->data)
        return vimo_error(VIMO_ERR_STATE, "tensor_move: %s is context-owned, a view or shared by views", vt_shape(t));
    if (!vt_is_contig(t)) return vimo_error(VIMO_ERR_SHAPE, "tensor_move: %s is not contiguous", vt_shape(t));
    size_t bytes = (size_t)vt_numel(t) * sizeof(float);
    float *d = vt_device_zalloc(device, bytes), *gr = NULL;
    if (!d || (t->grad && !(gr = vt_device_zalloc(device, bytes)))) {
        vt_device_free(device, d);
        return vimo_error(VIMO_ERR_NOMEM, "tensor_move: cannot allocate %s on %s", vt_shape(t),
                          vimo_device_name(device));
    }
    vimo_status st = cross_copy(d, device, t->data, t->device, bytes);
    if (!st && gr) st = cross_copy(gr, device, t->grad, t->device, bytes);
    if (st) {
        vt_device_free(device, d);
        vt_device_free(device, gr);
        return st;
    }
    vt_device_free(t->device, t->storage->data);
    vt_device_free(t->device, t->grad);
    t->storage->data = t->data = d;
    t->storage->device = t->device = device;
    t->grad = gr;
    return VIMO_OK;
}

vimo_status vimo_tensor_grad_to_host(const vimo_tensor *t, float *dst, int64_t n)
{
    if (!t || (!dst && n)) return vimo_error(VIMO_ERR_INVALID, "tensor_grad_to_host: NULL argument");
    if (!t->grad) return vimo_error(VIMO_ERR_STATE, "tensor_grad_to_host: %s has no gradient", vt_shape(t));
    if (n != vt_numel(t))
        return vimo_error(VIMO_ERR_SHAPE, "tensor_grad_to_host: %s into %lld floats", vt_shape(t), (long long)n);
    return cross_copy(dst, 0, t->grad, t->device, (size_t)n * sizeof(float));
}

/* ---- the transfer op ----------------------------------------------------------- */

/* gx (x's device) += y->grad (y's device): copied over, then added there. */
static vimo_status to_device_backward(vimo_ctx *ctx, vimo_node *n)
{
    vimo_tensor *x = n->in[0], *y = n->out;
    if (!vt_requires_grad(x)) return VIMO_OK;
    float *gx = vt_grad(ctx, x);
    if (!gx) return VIMO_ERR_NOMEM;
    int64_t cnt = vt_numel(y);
    size_t bytes = (size_t)cnt * sizeof(float);
    float *tmp = vt_alloc_dev(ctx, x->device, bytes);
    if (!tmp) return VIMO_ERR_NOMEM;
    vimo_status st = cross_copy(tmp, x->device, y->grad, y->device, bytes);
    if (st) return st;
    return vt_kern(x->device)->binary_fwd(ctx, VIMO_BIN_ADD, gx, tmp, gx, cnt, cnt);
}

vimo_status vimo_to_device(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, int device)
{
    vimo_status st = vt_check_args("to_device", ctx, y);
    if (st) return st;
    if (!x) return vimo_error(VIMO_ERR_INVALID, "to_device: NULL input");
    if (!vimo_backend_of(device)) return vimo_error(VIMO_ERR_INVALID, "to_device: unknown device %d", device);
    if (x->device == device) {
        *y = x;
        return VIMO_OK;
    }
    vimo_tensor *xc, *out;
    if ((st = vt_contig(ctx, x, &xc))) return st;
    if ((st = vt_new_out_on(ctx, &out, device, x->ndim, x->shape))) return st;
    if ((st = cross_copy(out->data, device, xc->data, xc->device, (size_t)vt_numel(x) * sizeof(float)))) return st;
    if (vt_needs_grad(ctx, &xc, 1) && (st = vt_record(ctx, out, "to_device", to_device_backward, &xc, 1, NULL)))
        return st;
    *y = out;
    return VIMO_OK;
}
