/*
 * gradcheck.h - finite-difference gradient checks for vimo ops (tests only).
 *
 * The check of Torch7's jac.testJacobian: for a forward f(inputs) -> out,
 * take a fixed random projection R of out's shape and L = sum(out * R),
 * accumulated in double precision. The analytic gradient of L (vimo's
 * backward) is compared element by element with the central difference
 * (L(x + eps) - L(x - eps)) / (2 eps). Inputs are float32, so eps is ~1e-2
 * and the tolerance is relative (|a - n| <= atol + rtol * max(|a|, |n|)).
 * Large inputs are checked on a fixed random sample of their elements.
 * Only the public API is used.
 */
#ifndef VIMO_TEST_GRADCHECK_H
#define VIMO_TEST_GRADCHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vimo/vimo.h"

/* Builds the op's output from the inputs on ctx. */
typedef vimo_status (*gc_forward_fn)(vimo_ctx *ctx, vimo_tensor **in, vimo_tensor **out, void *ud);

/* Caller-owned random tensor N(0, std^2), optionally trainable. */
static inline vimo_tensor *gc_rand(vimo_rng *r, int ndim, const int64_t *shape, float std, int requires_grad)
{
    vimo_tensor *t = NULL;
    if (vimo_tensor_new(&t, ndim, shape)) return NULL;
    vimo_rng_fill_normal(r, vimo_tensor_data(t), vimo_tensor_numel(t), std);
    if (requires_grad) vimo_tensor_set_requires_grad(t, 1);
    return t;
}

static inline double gc_loss(vimo_tensor *out, const float *R)
{
    int64_t n = vimo_tensor_numel(out);
    float *buf = malloc((size_t)n * sizeof(float));
    vimo_tensor_copy_to(out, buf, n);
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)buf[i] * R[i];
    free(buf);
    return s;
}

/* Returns the number of mismatching elements (0 = pass); prints the worst. */
static inline int gradcheck(const char *name, gc_forward_fn f, vimo_tensor **in, int n_in, void *ud, double eps,
                            double rtol, double atol)
{
    vimo_ctx *ctx = NULL;
    vimo_ctx_new(&ctx);
    vimo_tensor *out = NULL, *Rt = NULL, *prod = NULL, *loss = NULL;
    int bad = 0;
    vimo_rng rng;
    vimo_rng_seed(&rng, 1234);
    for (int i = 0; i < n_in; i++) vimo_tensor_zero_grad(in[i]);
    if (f(ctx, in, &out, ud)) {
        fprintf(stderr, "%s: forward failed: %s\n", name, vimo_last_error());
        vimo_ctx_free(ctx);
        return 1;
    }
    int64_t shape[VIMO_MAX_DIMS];
    for (int d = 0; d < vimo_tensor_ndim(out); d++) shape[d] = vimo_tensor_dim(out, d);
    Rt = gc_rand(&rng, vimo_tensor_ndim(out), shape, 1.0f, 0);
    float *R = vimo_tensor_data(Rt);
    if (vimo_mul(ctx, &prod, out, Rt) || vimo_sum(ctx, &loss, prod) || vimo_backward(ctx, loss)) {
        fprintf(stderr, "%s: backward failed: %s\n", name, vimo_last_error());
        vimo_ctx_free(ctx);
        vimo_tensor_free(Rt);
        return 1;
    }
    vimo_ctx *fctx = NULL;
    vimo_ctx_new(&fctx);
    vimo_ctx_set_grad(fctx, 0);
    double worst = 0.0;
    for (int k = 0; k < n_in; k++) {
        if (!vimo_tensor_requires_grad(in[k])) continue;
        float *x = vimo_tensor_data(in[k]), *g = vimo_tensor_grad(in[k]);
        int64_t n = vimo_tensor_numel(in[k]);
        int64_t checks = n < 48 ? n : 48;
        for (int64_t c = 0; c < checks; c++) {
            int64_t i = n <= 48 ? c : (int64_t)vimo_rng_below(&rng, (uint32_t)n);
            float keep = x[i];
            vimo_tensor *o = NULL;
            x[i] = keep + (float)eps;
            f(fctx, in, &o, ud);
            double lp = gc_loss(o, R);
            vimo_ctx_reset(fctx);
            x[i] = keep - (float)eps;
            f(fctx, in, &o, ud);
            double lm = gc_loss(o, R);
            vimo_ctx_reset(fctx);
            x[i] = keep;
            /* The perturbation actually applied in float32. */
            double h = ((double)(keep + (float)eps) - (double)(keep - (float)eps));
            double num = (lp - lm) / h, an = g ? g[i] : 0.0;
            double err = fabs(an - num), tol = atol + rtol * fmax(fabs(an), fabs(num));
            if (err / tol > worst) worst = err / tol;
            if (err > tol) {
                if (bad < 5)
                    fprintf(stderr, "%s: input %d elem %lld: analytic %.6g vs numeric %.6g\n", name, k,
                            (long long)i, an, num);
                bad++;
            }
        }
    }
    printf("gradcheck %-28s %s (worst err/tol %.3f)\n", name, bad ? "FAIL" : "ok", worst);
    vimo_ctx_free(fctx);
    vimo_ctx_free(ctx);
    vimo_tensor_free(Rt);
    return bad;
}

/* Directional check for whole models, where per-element differences cross
 * ReLU kinks or saturate small-scale parameters: for each trainable input x
 * (its RMS r), a fixed random direction v with N(0, 1) entries and step
 * h = rel_step * max(r, 0.1); compares g . v with
 * (L(x + h v) - L(x - h v)) / 2h. Returns the number of failing inputs. */
static inline int gradcheck_dir(const char *name, gc_forward_fn f, vimo_tensor **in, int n_in, void *ud,
                                double rel_step, double rtol, double atol)
{
    vimo_ctx *ctx = NULL, *fctx = NULL;
    vimo_ctx_new(&ctx);
    vimo_ctx_new(&fctx);
    vimo_ctx_set_grad(fctx, 0);
    vimo_rng rng;
    vimo_rng_seed(&rng, 4321);
    vimo_tensor *out = NULL, *prod = NULL, *loss = NULL, *Rt = NULL;
    int bad = 0;
    double worst = 0.0;
    for (int i = 0; i < n_in; i++) vimo_tensor_zero_grad(in[i]);
    if (f(ctx, in, &out, ud)) {
        fprintf(stderr, "%s: forward failed: %s\n", name, vimo_last_error());
        bad = 1;
        goto done;
    }
    int64_t shape[VIMO_MAX_DIMS];
    for (int d = 0; d < vimo_tensor_ndim(out); d++) shape[d] = vimo_tensor_dim(out, d);
    Rt = gc_rand(&rng, vimo_tensor_ndim(out), shape, 1.0f, 0);
    if (vimo_mul(ctx, &prod, out, Rt) || vimo_sum(ctx, &loss, prod) || vimo_backward(ctx, loss)) {
        fprintf(stderr, "%s: backward failed: %s\n", name, vimo_last_error());
        bad = 1;
        goto done;
    }
    for (int k = 0; k < n_in; k++) {
        if (!vimo_tensor_requires_grad(in[k])) continue;
        float *x = vimo_tensor_data(in[k]), *g = vimo_tensor_grad(in[k]);
        int64_t n = vimo_tensor_numel(in[k]);
        float *keep = malloc((size_t)n * sizeof(float)), *v = malloc((size_t)n * sizeof(float));
        double rms = 0.0, an = 0.0;
        for (int64_t i = 0; i < n; i++) rms += (double)x[i] * x[i];
        rms = sqrt(rms / (double)n);
        double h = rel_step * fmax(rms, 1e-1);
        memcpy(keep, x, (size_t)n * sizeof(float));
        vimo_rng_fill_normal(&rng, v, n, 1.0f);
        for (int64_t i = 0; i < n; i++) an += (double)(g ? g[i] : 0.0f) * v[i];
        vimo_tensor *o = NULL;
        for (int64_t i = 0; i < n; i++) x[i] = keep[i] + (float)(h * v[i]);
        f(fctx, in, &o, ud);
        double lp = gc_loss(o, vimo_tensor_data(Rt));
        vimo_ctx_reset(fctx);
        for (int64_t i = 0; i < n; i++) x[i] = keep[i] - (float)(h * v[i]);
        f(fctx, in, &o, ud);
        double lm = gc_loss(o, vimo_tensor_data(Rt));
        vimo_ctx_reset(fctx);
        memcpy(x, keep, (size_t)n * sizeof(float));
        double num = (lp - lm) / (2.0 * h), err = fabs(an - num), tol = atol + rtol * fmax(fabs(an), fabs(num));
        if (err / tol > worst) worst = err / tol;
        if (err > tol) {
            fprintf(stderr, "%s: input %d (%s): g.v %.6g vs numeric %.6g\n", name, k, vimo_tensor_name(in[k]), an,
                    num);
            bad++;
        }
        free(keep);
        free(v);
    }
done:
    printf("gradcheck_dir %-24s %s (worst err/tol %.3f)\n", name, bad ? "FAIL" : "ok", worst);
    vimo_tensor_free(Rt);
    vimo_ctx_free(fctx);
    vimo_ctx_free(ctx);
    return bad;
}

#endif
