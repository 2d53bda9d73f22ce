/*
 * optim.c - AdamW (decoupled weight decay), global-norm gradient clipping
 * and the warmup + cosine learning-rate factor (see optim.h).
 *
 * The update follows torch.optim.AdamW (single-tensor path) step by step,
 * so float32 results round the same way: p *= 1 - lr wd; m lerps towards g;
 * v = b2 v + (1 - b2) g^2; p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps),
 * with the bias corrections bc1 = 1 - b1^t, bc2 = 1 - b2^t in double.
 * Element-wise loops split statically across threads; the clipping norm sums
 * in fixed chunks, so both are bit-identical for any thread count.
 * Not here: AMSGrad, fused multi-tensor kernels, parameter sharding, other
 * optimisers (SGD, Lion), or schedules other than warmup + cosine.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_kernels.h"
#include "tensor_impl.h"
#include "vimo/optim.h"
#include "vt_math.h"

typedef struct adamw_group {
    float lr, wd;
    int n;
    vimo_tensor **params;
    float **m, **v; /* numel floats each, zeroed at creation */
    int *dev;       /* device of m[i], v[i] (the parameter may be freed first) */
} adamw_group;

struct vimo_adamw {
    vimo_adamw_config cfg;
    int64_t t;
    int n_groups;
    adamw_group *groups;
};

vimo_status vimo_adamw_new(vimo_adamw **out, const vimo_adamw_config *cfg)
{
    if (!out) return vimo_error(VIMO_ERR_INVALID, "adamw_new: out is NULL");
    *out = NULL;
    vimo_adamw_config c = cfg ? *cfg : (vimo_adamw_config){0.9f, 0.999f, 1e-8f};
    if (!(c.beta1 >= 0.0f && c.beta1 < 1.0f) || !(c.beta2 >= 0.0f && c.beta2 < 1.0f) || !(c.eps >= 0.0f) ||
        !isfinite(c.eps))
        return vimo_error(VIMO_ERR_INVALID, "adamw_new: beta1 %g, beta2 %g must be in [0, 1) and eps %g >= 0",
                          c.beta1, c.beta2, c.eps);
    vimo_adamw *o = calloc(1, sizeof *o);
    if (!o) return vimo_error(VIMO_ERR_NOMEM, "adamw_new: out of memory");
    o->cfg = c;
    *out = o;
    return VIMO_OK;
}

static void group_free(adamw_group *g)
{
    for (int i = 0; i < g->n; i++) {
        if (g->m) vt_device_free(g->dev[i], g->m[i]);
        if (g->v) vt_device_free(g->dev[i], g->v[i]);
    }
    free(g->dev);
    free(g->m);
    free(g->v);
    free(g->params);
}

void vimo_adamw_free(vimo_adamw *opt)
{
    if (!opt) return;
    for (int g = 0; g < opt->n_groups; g++) group_free(&opt->groups[g]);
    free(opt->groups);
    free(opt);
}

/* Zeroed moments on the parameter's device (the optimiser runs there). */
static float *zeroed_floats(int device, int64_t n)
{
    size_t bytes = ((size_t)n * sizeof(float) + VIMO_ALIGN - 1) / VIMO_ALIGN * VIMO_ALIGN;
    if (device) {
        const vimo_backend *be = vt_backend(device);
        void *p = NULL;
        if (be->alloc(&p, bytes)) return NULL;
        if (be->memset0(p, bytes)) {
            be->free(p);
            return NULL;
        }
        return p;
    }
    float *p = aligned_alloc(VIMO_ALIGN, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

vimo_status vimo_adamw_add_group(vimo_adamw *opt, vimo_tensor *const *params, int n, float lr, float wd, int *group)
{
    if (!opt || !params || n < 1) return vimo_error(VIMO_ERR_INVALID, "adamw_add_group: NULL optimiser or no params");
    if (!(lr >= 0.0f) || !isfinite(lr) || !(wd >= 0.0f) || !isfinite(wd))
        return vimo_error(VIMO_ERR_INVALID, "adamw_add_group: lr %g and wd %g must be finite and >= 0", lr, wd);
    for (int i = 0; i < n; i++) {
        const vimo_tensor *p = params[i];
        if (!p) return vimo_error(VIMO_ERR_INVALID, "adamw_add_group: params[%d] is NULL", i);
        if (p->flags & VT_CTX_OWNED)
            return vimo_error(VIMO_ERR_STATE, "adamw_add_group: params[%d] %s is context-owned, not a parameter", i,
                              vt_shape(p));
        if (!p->grad)
            return vimo_error(VIMO_ERR_STATE, "adamw_add_group: params[%d] %s (%s) has no gradient buffer", i,
                              vt_shape(p), vimo_tensor_name(p));
        if (!vt_is_contig(p))
            return vimo_error(VIMO_ERR_SHAPE, "adamw_add_group: params[%d] %s is not contiguous", i, vt_shape(p));
    }
    vimo_status st = VIMO_OK;
    adamw_group g = {.lr = lr, .wd = wd, .n = 0};
    adamw_group *grown = realloc(opt->groups, (size_t)(opt->n_groups + 1) * sizeof *grown);
    if (!grown) return vimo_error(VIMO_ERR_NOMEM, "adamw_add_group: out of memory");
    opt->groups = grown;
    g.params = malloc((size_t)n * sizeof *g.params);
    g.m = calloc((size_t)n, sizeof *g.m);
    g.v = calloc((size_t)n, sizeof *g.v);
    g.dev = calloc((size_t)n, sizeof *g.dev);
    if (!g.params || !g.m || !g.v || !g.dev) goto oom;
    for (int i = 0; i < n; i++) {
        g.params[i] = params[i];
        g.n = i + 1;
        int64_t cnt = vt_numel(params[i]);
        int dev = g.dev[i] = params[i]->device;
        if (!(g.m[i] = zeroed_floats(dev, cnt)) || !(g.v[i] = zeroed_floats(dev, cnt))) goto oom;
    }
    opt->groups[opt->n_groups] = g;
    if (group) *group = opt->n_groups;
    opt->n_groups++;
    return VIMO_OK;
oom:
    st = vimo_error(VIMO_ERR_NOMEM, "adamw_add_group: cannot allocate moments for %d params", n);
    group_free(&g);
    return st;
}

/* One AdamW update of cnt elements, torch.optim.AdamW's single-tensor order. */
vimo_status vt_cpu_adamw(float *p, const float *g, float *m, float *v, int64_t cnt, float decay, float b1c, float b2,
                         float b2c, float step_size, float bc2_sqrt, float eps)
{
#pragma omp parallel for schedule(static) if (cnt >= VT_OMP_MIN)
    for (int64_t i = 0; i < cnt; i++) {
        float gi = g[i];
        p[i] *= decay;
        m[i] += b1c * (gi - m[i]); /* lerp(m, g, 1 - b1) */
        v[i] = v[i] * b2 + b2c * gi * gi;
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        p[i] += -step_size * (m[i] / denom);
    }
    return VIMO_OK;
}

vimo_status vimo_adamw_step(vimo_adamw *opt, float lr_scale)
{
    if (!opt) return vimo_error(VIMO_ERR_INVALID, "adamw_step: NULL optimiser");
    if (!(lr_scale >= 0.0f) || !isfinite(lr_scale))
        return vimo_error(VIMO_ERR_INVALID, "adamw_step: lr_scale %g must be finite and >= 0", lr_scale);
    opt->t++;
    const vimo_adamw_config *c = &opt->cfg;
    double bc1 = 1.0 - pow((double)c->beta1, (double)opt->t);
    double bc2 = 1.0 - pow((double)c->beta2, (double)opt->t);
    for (int gi = 0; gi < opt->n_groups; gi++) {
        const adamw_group *g = &opt->groups[gi];
        double lr = (double)g->lr * (double)lr_scale;
        float decay = (float)(1.0 - lr * (double)g->wd);
        float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
        for (int i = 0; i < g->n; i++) {
            vimo_tensor *p = g->params[i];
            /* Frozen since it was added (requires_grad off): no update and
             * no decay, as PyTorch skips a parameter whose grad is None. */
            if (!p->grad || !vt_requires_grad(p)) continue;
            if (p->device != g->dev[i])
                return vimo_error(VIMO_ERR_STATE, "adamw_step: %s (%s) moved to %s after it was added on %s; move "
                                                  "parameters before making the optimiser",
                                  vimo_tensor_name(p), vt_shape(p), vimo_device_name(p->device),
                                  vimo_device_name(g->dev[i]));
            vimo_status st = vt_kern(p->device)->adamw(p->data, p->grad, g->m[i], g->v[i], vt_numel(p), decay,
                                                       1.0f - c->beta1, c->beta2, 1.0f - c->beta2, step_size,
                                                       bc2_sqrt, c->eps);
            if (st) return st;
        }
    }
    return VIMO_OK;
}

void vimo_adamw_zero_grad(vimo_adamw *opt)
{
    if (!opt) return;
    for (int g = 0; g < opt->n_groups; g++)
        for (int i = 0; i < opt->groups[g].n; i++) vimo_tensor_zero_grad(opt->groups[g].params[i]);
}

int64_t vimo_adamw_steps(const vimo_adamw *opt) { return opt ? opt->t : 0; }
int vimo_adamw_num_groups(const vimo_adamw *opt) { return opt ? opt->n_groups : 0; }
int vimo_adamw_group_size(const vimo_adamw *opt, int g)
{
    return opt && g >= 0 && g < opt->n_groups ? opt->groups[g].n : 0;
}

vimo_status vimo_adamw_moments(vimo_adamw *opt, int g, int i, vimo_tensor **param, float **m, float **v)
{
    if (!opt || g < 0 || g >= opt->n_groups || i < 0 || i >= opt->groups[g].n)
        return vimo_error(VIMO_ERR_INVALID, "adamw_moments: no parameter %d in group %d (%d groups)", i, g,
                          opt ? opt->n_groups : 0);
    /* The moments live where the parameter was when it was added (dev[i]),
     * which a later move does not change: both must be the cpu. */
    int mdev = opt->groups[g].dev[i] ? opt->groups[g].dev[i] : opt->groups[g].params[i]->device;
    if (mdev && (m || v))
        return vimo_error(VIMO_ERR_UNSUPPORTED, "adamw_moments: parameter %d of group %d lives on %s: its moments "
                                                "have no host pointer (move the model to the cpu first)",
                          i, g, vimo_device_name(mdev));
    if (param) *param = opt->groups[g].params[i];
    if (m) *m = opt->groups[g].m[i];
    if (v) *v = opt->groups[g].v[i];
    return VIMO_OK;
}

/* n bytes between host memory and memory on `device`. */
static vimo_status host_copy(int device, void *dst, const void *src, size_t n, int to_host)
{
    if (!n) return VIMO_OK;
    if (device == 0) return memcpy(dst, src, n), VIMO_OK;
    return to_host ? vt_backend(device)->copy_d2h(dst, src, n) : vt_backend(device)->copy_h2d(dst, src, n);
}

vimo_status vimo_adamw_moments_to_host(const vimo_adamw *opt, int g, int i, float *m, float *v)
{
    if (!opt || g < 0 || g >= opt->n_groups || i < 0 || i >= opt->groups[g].n)
        return vimo_error(VIMO_ERR_INVALID, "adamw_moments_to_host: no parameter %d in group %d", i, g);
    const adamw_group *gr = &opt->groups[g];
    size_t bytes = (size_t)vt_numel(gr->params[i]) * sizeof(float);
    vimo_status st = m ? host_copy(gr->dev[i], m, gr->m[i], bytes, 1) : VIMO_OK;
    if (!st && v) st = host_copy(gr->dev[i], v, gr->v[i], bytes, 1);
    return st;
}

vimo_status vimo_adamw_moments_from_host(vimo_adamw *opt, int g, int i, const float *m, const float *v)
{
    if (!opt || g < 0 || g >= opt->n_groups || i < 0 || i >= opt->groups[g].n)
        return vimo_error(VIMO_ERR_INVALID, "adamw_moments_from_host: no parameter %d in group %d", i, g);
    const adamw_group *gr = &opt->groups[g];
    size_t bytes = (size_t)vt_numel(gr->params[i]) * sizeof(float);
    vimo_status st = m ? host_copy(gr->dev[i], gr->m[i], m, bytes, 0) : VIMO_OK;
    if (!st && v) st = host_copy(gr->dev[i], gr->v[i], v, bytes, 0);
    /* the host buffers may be reused as soon as this returns */
    if (!st && gr->dev[i]) st = vt_backend(gr->dev[i])->synchronize();
    return st;
}

void vimo_adamw_set_steps(vimo_adamw *opt, int64_t steps)
{
    if (opt) opt->t = steps > 0 ? steps : 0;
}

/* ---- clipping and schedule ----------------------------------------------------- */

#define CLIP_CHUNK 4096 /* elements per partial sum: fixed, not per thread */

static double sum_squares(const float *g, int64_t cnt)
{
    int64_t nchunk = (cnt + CLIP_CHUNK - 1) / CLIP_CHUNK;
    double total = 0.0;
    /* Partials in chunk order; the reduction clause would not fix the order. */
    float part[64];
    for (int64_t c0 = 0; c0 < nchunk; c0 += 64) {
        int64_t nc = nchunk - c0 < 64 ? nchunk - c0 : 64;
#pragma omp parallel for schedule(static) if (nc * CLIP_CHUNK >= VT_OMP_MIN)
        for (int64_t c = 0; c < nc; c++) {
            int64_t i0 = (c0 + c) * CLIP_CHUNK, len = i0 + CLIP_CHUNK < cnt ? CLIP_CHUNK : cnt - i0;
            part[c] = vt_dot(g + i0, g + i0, len);
        }
        for (int64_t c = 0; c < nc; c++) total += part[c];
    }
    return total;
}

vimo_status vt_cpu_sumsq(const float *x, int64_t n, double *out)
{
    *out = sum_squares(x, n);
    return VIMO_OK;
}

vimo_status vimo_clip_grad_norm(vimo_tensor *const *params, int n, float max_norm, float *norm)
{
    if (norm) *norm = 0.0f;
    if ((!params && n > 0) || n < 0) return vimo_error(VIMO_ERR_INVALID, "clip_grad_norm: NULL params");
    if (!(max_norm > 0.0f)) return vimo_error(VIMO_ERR_INVALID, "clip_grad_norm: max_norm %g must be > 0", max_norm);
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        if (!params[i]) return vimo_error(VIMO_ERR_INVALID, "clip_grad_norm: params[%d] is NULL", i);
        if (params[i]->grad && vt_requires_grad(params[i])) {
            double ss = 0.0;
            vimo_status st = vt_kern(params[i]->device)->sumsq(params[i]->grad, vt_numel(params[i]), &ss);
            if (st) return st;
            total += ss;
        }
    }
    float nrm = (float)sqrt(total);
    if (norm) *norm = nrm;
    /* A non-finite norm is reported, not applied: scaling by 0 or NaN would
     * destroy the gradients; the caller decides to skip the step. */
    if (!isfinite(nrm)) return VIMO_OK;
    float coef = max_norm / (nrm + 1e-6f); /* as torch.nn.utils.clip_grad_norm_ */
    if (coef >= 1.0f) return VIMO_OK;
    for (int i = 0; i < n; i++) {
        float *g = params[i]->grad;
        int64_t cnt = vt_numel(params[i]);
        if (!g || !vt_requires_grad(params[i])) continue; /* frozen: not part of the norm */
        if (params[i]->device) { /* g = coef * g on the device: coef is a kernel argument, no temporary */
            vimo_status st = vt_kern(params[i]->device)->unary_fwd(NULL, VIMO_UN_SCALE, g, g, cnt, coef);
            if (st) return st;
            continue;
        }
#pragma omp parallel for schedule(static) if (cnt >= VT_OMP_MIN)
        for (int64_t k = 0; k < cnt; k++) g[k] *= coef;
    }
    return VIMO_OK;
}

float vimo_lr_warmup_cosine(int64_t step, int64_t warmup, int64_t total, float min_factor)
{
    if (min_factor < 0.0f || !(min_factor == min_factor)) min_factor = 0.0f;
    if (min_factor > 1.0f) min_factor = 1.0f;
    if (step < 0) step = 0;
    if (warmup > 0 && step < warmup) return (float)((double)step / (double)warmup);
    int64_t span = total - (warmup > 0 ? warmup : 0);
    double progress = span > 0 ? (double)(step - (warmup > 0 ? warmup : 0)) / (double)span : 1.0;
    if (progress > 1.0) progress = 1.0;
    double cosine = 0.5 * (1.0 + cos(3.14159265358979323846 * progress));
    return (float)(min_factor + (1.0 - min_factor) * cosine);
}
