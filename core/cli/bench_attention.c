/*
 * bench_attention.c - `vimo bench attention`: the fused attention op
 * (vimo_attention, online softmax) against a naive reference written here
 * that materialises the (T, T) score and probability matrices per head:
 *   forward   S = scale Q K^T, causal mask, P = softmax(S), O = P V
 *   backward  dV = P^T dO, dP = dO V^T, dS = P (dP - rowsum(dP P)) scale,
 *             dQ = dS K, dK = dS^T Q
 * with its products on vimo_sgemm (BLIS, all threads) and its softmax rows
 * split over OpenMP. The loss is sum(O), so dO = 1 for both. Causal, B = 1,
 * H = 8, Dh = 64 by default (--batch, --heads, --head-dim, --t; the naive
 * reference runs the batches one after another). It also prints the
 * largest difference between the two, a cross-check of the fused op.
 * `--batch 16 --t 48 --head-dim 8` is the stories260K training shape
 * (fwd_small / bwd_small in ops_attention.c).
 * Not here: GQA, key masks, the KV-cache (Tq < Tk) case.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "vimo/vimo.h"

typedef struct {
    int64_t b, t, h, dh;
    float scale;
    const float *q, *k, *v; /* (B, T, H, Dh) */
    float *p;               /* (B, H, T, T) probabilities */
    float *dp;              /* (T, T) scratch */
    float *o, *dq, *dk, *dv, *dout; /* (B, T, H, Dh) */
} naive;

/* Rows of causal softmax in place: row i keeps columns j <= i. */
static void causal_softmax(float *s, int64_t t)
{
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < t; i++) {
        float *r = s + i * t, mx = -INFINITY, sum = 0.0f;
        for (int64_t j = 0; j <= i; j++) mx = r[j] > mx ? r[j] : mx;
        for (int64_t j = 0; j <= i; j++) sum += (r[j] = expf(r[j] - mx));
        for (int64_t j = 0; j <= i; j++) r[j] /= sum;
        for (int64_t j = i + 1; j < t; j++) r[j] = 0.0f;
    }
}

/* dS = P (dP - rowsum(dP P)) * scale, in place in dp. */
static void softmax_backward(float *dp, const float *p, int64_t t, float scale)
{
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < t; i++) {
        float *d = dp + i * t, dot = 0.0f;
        const float *r = p + i * t;
        for (int64_t j = 0; j < t; j++) dot += d[j] * r[j];
        for (int64_t j = 0; j < t; j++) d[j] = r[j] * (d[j] - dot) * scale;
    }
}

static int naive_forward(naive *n)
{
    const int64_t t = n->t, ld = n->h * n->dh;
    vimo_status st = VIMO_OK;
    for (int64_t bh = 0; bh < n->b * n->h; bh++) {
        const int64_t c = bh / n->h * t * ld + bh % n->h * n->dh; /* (b, 0, h, 0) */
        float *p = n->p + bh * t * t;
        VIMO_TRY(vimo_sgemm(0, 1, t, t, n->dh, n->scale, n->q + c, ld, n->k + c, ld, 0.0f, p, t));
        causal_softmax(p, t);
        VIMO_TRY(vimo_sgemm(0, 0, t, n->dh, t, 1.0f, p, t, n->v + c, ld, 0.0f, n->o + c, ld));
    }
fail:
    return st;
}

static int naive_backward(naive *n)
{
    const int64_t t = n->t, ld = n->h * n->dh;
    vimo_status st = VIMO_OK;
    for (int64_t bh = 0; bh < n->b * n->h; bh++) {
        const int64_t c = bh / n->h * t * ld + bh % n->h * n->dh; /* (b, 0, h, 0) */
        const float *p = n->p + bh * t * t, *dout = n->dout + c;
        VIMO_TRY(vimo_sgemm(1, 0, t, n->dh, t, 1.0f, p, t, dout, ld, 0.0f, n->dv + c, ld));
        VIMO_TRY(vimo_sgemm(0, 1, t, t, n->dh, 1.0f, dout, ld, n->v + c, ld, 0.0f, n->dp, t));
        softmax_backward(n->dp, p, t, n->scale);
        VIMO_TRY(vimo_sgemm(0, 0, t, n->dh, t, 1.0f, n->dp, t, n->k + c, ld, 0.0f, n->dq + c, ld));
        VIMO_TRY(vimo_sgemm(1, 0, t, n->dh, t, 1.0f, n->dp, t, n->q + c, ld, 0.0f, n->dk + c, ld));
    }
fail:
    return st;
}

static int body_naive_fwd(void *p) { return naive_forward(p); }

static int body_naive_fwdbwd(void *p)
{
    int rc = naive_forward(p);
    return rc ? rc : naive_backward(p);
}

typedef struct {
    vimo_ctx *ctx;
    vimo_tensor *q, *k, *v, *y; /* y: the last output, for the cross-check */
    float scale;
} fused;

static int body_fused_fwd(void *p)
{
    fused *f = p;
    vimo_ctx_reset(f->ctx);
    vimo_ctx_set_grad(f->ctx, 0);
    return vimo_attention(f->ctx, &f->y, f->q, f->k, f->v, NULL, 1, f->scale);
}

static int body_fused_fwdbwd(void *p)
{
    fused *f = p;
    vimo_tensor *loss;
    vimo_ctx_reset(f->ctx);
    vimo_ctx_set_grad(f->ctx, 1);
    vimo_tensor_zero_grad(f->q);
    vimo_tensor_zero_grad(f->k);
    vimo_tensor_zero_grad(f->v);
    vimo_status st = vimo_attention(f->ctx, &f->y, f->q, f->k, f->v, NULL, 1, f->scale);
    if (!st) st = vimo_sum(f->ctx, &loss, f->y);
    if (!st) st = vimo_backward(f->ctx, loss);
    return st;
}

static double max_diff(const float *a, const float *b, int64_t n)
{
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - (double)b[i]));
    return m;
}

static int bench_one(vimo_bench_run *run, int64_t b, int64_t t, int64_t h, int64_t dh)
{
    const int64_t nel = b * t * h * dh;
    naive nv = {b, t, h, dh, 1.0f / sqrtf((float)dh), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    fused fu = {NULL, NULL, NULL, NULL, NULL, nv.scale};
    int rc = 1;
    if (b * h * t * t + 6 * nel > (INT64_C(1) << 28)) {
        vimo_error(VIMO_ERR_INVALID, "attention: B=%lld T=%lld H=%lld: the naive reference needs more than 1 GiB",
                   (long long)b, (long long)t, (long long)h);
        goto done;
    }
    nv.p = malloc((size_t)(b * h * t * t) * sizeof(float));
    nv.dp = malloc((size_t)(t * t) * sizeof(float));
    nv.o = malloc((size_t)(5 * nel) * sizeof(float));
    if (!nv.p || !nv.dp || !nv.o) {
        vimo_error(VIMO_ERR_NOMEM, "attention: out of memory for T = %lld", (long long)t);
        goto done;
    }
    nv.dq = nv.o + nel, nv.dk = nv.o + 2 * nel, nv.dv = nv.o + 3 * nel, nv.dout = nv.o + 4 * nel;
    for (int64_t i = 0; i < nel; i++) nv.dout[i] = 1.0f;
    const int64_t shape[4] = {b, t, h, dh};
    if (vimo_ctx_new(&fu.ctx) || vimo_tensor_new(&fu.q, 4, shape) || vimo_tensor_new(&fu.k, 4, shape) ||
        vimo_tensor_new(&fu.v, 4, shape))
        goto done;
    vimo_bench_fill(vimo_tensor_data(fu.q), nel, 11);
    vimo_bench_fill(vimo_tensor_data(fu.k), nel, 12);
    vimo_bench_fill(vimo_tensor_data(fu.v), nel, 13);
    if (vimo_tensor_set_requires_grad(fu.q, 1) || vimo_tensor_set_requires_grad(fu.k, 1) ||
        vimo_tensor_set_requires_grad(fu.v, 1))
        goto done;
    nv.q = vimo_tensor_data(fu.q), nv.k = vimo_tensor_data(fu.k), nv.v = vimo_tensor_data(fu.v);

    const vimo_bench_body fwd[2] = {body_fused_fwd, body_naive_fwd}, both[2] = {body_fused_fwdbwd, body_naive_fwdbwd};
    void *const args[2] = {&fu, &nv};
    vimo_bench_timing tf[2], tb[2];
    if (vimo_bench_time(run, 2, fwd, args, tf) || vimo_bench_time(run, 2, both, args, tb)) goto done;

    /* Cross-check on the state the last fwd+bwd calls left. */
    double dy = max_diff(vimo_tensor_data(fu.y), nv.o, nel);
    double dq = max_diff(vimo_tensor_grad(fu.q), nv.dq, nel), dk = max_diff(vimo_tensor_grad(fu.k), nv.dk, nel);
    double dv = max_diff(vimo_tensor_grad(fu.v), nv.dv, nel);
    vimo_bench_printf(run, "%5lld %9.3f %9.3f %7.2f  %9.3f %9.3f %7.2f   %.1e %.1e %.1e %.1e\n", (long long)t,
                      tf[0].median_s * 1e3, tf[1].median_s * 1e3, tf[1].median_s / tf[0].median_s,
                      tb[0].median_s * 1e3, tb[1].median_s * 1e3, tb[1].median_s / tb[0].median_s, dy, dq, dk, dv);
    cJSON *r = vimo_bench_result(run);
    if (r) {
        cJSON_AddNumberToObject(r, "batch", (double)b);
        cJSON_AddNumberToObject(r, "t", (double)t);
        cJSON_AddNumberToObject(r, "heads", (double)h);
        cJSON_AddNumberToObject(r, "head_dim", (double)dh);
        cJSON_AddNumberToObject(r, "fused_fwd_ms", tf[0].median_s * 1e3);
        cJSON_AddNumberToObject(r, "naive_fwd_ms", tf[1].median_s * 1e3);
        cJSON_AddNumberToObject(r, "fused_fwdbwd_ms", tb[0].median_s * 1e3);
        cJSON_AddNumberToObject(r, "naive_fwdbwd_ms", tb[1].median_s * 1e3);
        cJSON_AddNumberToObject(r, "max_diff_y", dy);
        cJSON_AddNumberToObject(r, "max_diff_dq", dq);
        cJSON_AddNumberToObject(r, "max_diff_dk", dk);
        cJSON_AddNumberToObject(r, "max_diff_dv", dv);
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "vimo bench: %s\n", vimo_last_error());
    vimo_ctx_free(fu.ctx);
    vimo_tensor_free(fu.q);
    vimo_tensor_free(fu.k);
    vimo_tensor_free(fu.v);
    free(nv.p);
    free(nv.dp);
    free(nv.o);
    return rc;
}

static int bench_attention(vimo_bench_run *run)
{
    long long ts[8] = {256, 1024}, b = 1, h = 8, dh = 64;
    int nt = 2;
    const char *s;
    /* T is capped: the naive reference holds H T^2 floats. */
    if ((s = vimo_cli_opt(run->argc, run->argv, "t")) && (nt = vimo_bench_int_list("t", s, ts, 8, 1, 8192)) < 0)
        return 2;
    if ((s = vimo_cli_opt(run->argc, run->argv, "batch")) && vimo_bench_int_list("batch", s, &b, 1, 1, 4096) < 0)
        return 2;
    if ((s = vimo_cli_opt(run->argc, run->argv, "heads")) && vimo_bench_int_list("heads", s, &h, 1, 1, 64) < 0)
        return 2;
    if ((s = vimo_cli_opt(run->argc, run->argv, "head-dim")) && vimo_bench_int_list("head-dim", s, &dh, 1, 1, 512) < 0)
        return 2;
    vimo_bench_printf(run, "causal, B = %lld, H = %lld, Dh = %lld; times in ms; naive = materialised softmax on "
                           "vimo_sgemm; loss = sum(y)\n",
                      b, h, dh);
    vimo_bench_printf(run, "%5s %9s %9s %7s  %9s %9s %7s   %s\n", "T", "fwd", "naive", "speedup", "fwd+bwd", "naive",
                      "speedup", "max|fused-naive| y dq dk dv");
    for (int i = 0; i < nt; i++)
        if (bench_one(run, b, ts[i], h, dh)) return 1;
    return 0;
}

VIMO_BENCH(g_bench_attention, "attention", "fused attention vs naive materialised softmax, fwd and fwd+bwd",
           bench_attention)
