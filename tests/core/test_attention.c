/*
 * test_attention.c - the fused attention op against a naive reference
 * written here: scores, softmax and its backward materialised in double
 * precision straight from Vaswani et al. 2017 eq. 1 (with GQA head sharing,
 * the causal KV-cache offset and key padding as ops.h defines them).
 * Forward and all three gradients are compared at T = 1..64 (tile edges
 * 31/32/33, 63/64 included), a forward-only check runs at T = 1024, and
 * gradcheck.h checks each masking mode by finite differences.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "gradcheck.h"

#define SHAPE(...) (int64_t[]){__VA_ARGS__}

static vimo_rng g_rng;

typedef struct att_case {
    int64_t b, tq, tk, hq, hkv, dh;
    int causal, masked;
    float scale;
    uint8_t *mask; /* (b, tk) or NULL */
} att_case;

/* Naive attention in double. q (B,Tq,Hq,Dh), k/v (B,Tk,Hkv,Dh), dy like q.
 * Writes y and, when dy != NULL, dq/dk/dv (zeroed here). */
static void naive(const att_case *c, const float *q, const float *k, const float *v, const float *dy, double *y,
                  double *dq, double *dk, double *dv)
{
    int64_t g = c->hq / c->hkv, dh = c->dh;
    double *p = malloc((size_t)c->tk * sizeof(double)), *dp = malloc((size_t)c->tk * sizeof(double));
    if (dy) {
        memset(dq, 0, (size_t)(c->b * c->tq * c->hq * dh) * sizeof(double));
        memset(dk, 0, (size_t)(c->b * c->tk * c->hkv * dh) * sizeof(double));
        memset(dv, 0, (size_t)(c->b * c->tk * c->hkv * dh) * sizeof(double));
    }
    for (int64_t b = 0; b < c->b; b++)
        for (int64_t h = 0; h < c->hq; h++)
            for (int64_t i = 0; i < c->tq; i++) {
                int64_t hk = h / g, qo = ((b * c->tq + i) * c->hq + h) * dh;
                double mx = -INFINITY, sum = 0.0;
                for (int64_t j = 0; j < c->tk; j++) {
                    int vis = (!c->causal || j <= i + c->tk - c->tq) && (!c->mask || c->mask[b * c->tk + j]);
                    p[j] = -INFINITY;
                    if (!vis) continue;
                    double s = 0.0;
                    for (int64_t d = 0; d < dh; d++) s += (double)q[qo + d] * k[((b * c->tk + j) * c->hkv + hk) * dh + d];
                    p[j] = s * c->scale;
                    mx = fmax(mx, p[j]);
                }
                for (int64_t d = 0; d < dh; d++) y[qo + d] = 0.0;
                if (mx == -INFINITY) continue; /* no visible key: zeros */
                for (int64_t j = 0; j < c->tk; j++) sum += p[j] = p[j] == -INFINITY ? 0.0 : exp(p[j] - mx);
                for (int64_t j = 0; j < c->tk; j++) {
                    p[j] /= sum;
                    for (int64_t d = 0; d < dh; d++) y[qo + d] += p[j] * v[((b * c->tk + j) * c->hkv + hk) * dh + d];
                }
                if (!dy) continue;
                double pdp = 0.0;
                for (int64_t j = 0; j < c->tk; j++) {
                    dp[j] = 0.0;
                    for (int64_t d = 0; d < dh; d++) dp[j] += (double)dy[qo + d] * v[((b * c->tk + j) * c->hkv + hk) * dh + d];
                    pdp += p[j] * dp[j];
                }
                for (int64_t j = 0; j < c->tk; j++) {
                    int64_t ko = ((b * c->tk + j) * c->hkv + hk) * dh;
                    double ds = p[j] * (dp[j] - pdp) * c->scale; /* softmax backward */
                    for (int64_t d = 0; d < dh; d++) {
                        dq[qo + d] += ds * k[ko + d];
                        dk[ko + d] += ds * q[qo + d];
                        dv[ko + d] += p[j] * dy[qo + d];
                    }
                }
            }
    free(p);
    free(dp);
}

static double max_diff(const float *a, const double *b, int64_t n, double *ref_max)
{
    double m = 0.0;
    *ref_max = 0.0;
    for (int64_t i = 0; i < n; i++) {
        m = fmax(m, fabs((double)a[i] - b[i]));
        *ref_max = fmax(*ref_max, fabs(b[i]));
    }
    return m;
}

/* Runs vimo_attention forward + backward of L = sum(y * R) and the naive
 * reference; returns the worst |diff| / max(1, |ref|max) over y, dq, dk, dv. */
static double compare_case(att_case *c, int with_backward)
{
    vimo_tensor *q = gc_rand(&g_rng, 4, SHAPE(c->b, c->tq, c->hq, c->dh), 1, with_backward);
    vimo_tensor *k = gc_rand(&g_rng, 4, SHAPE(c->b, c->tk, c->hkv, c->dh), 1, with_backward);
    vimo_tensor *v = gc_rand(&g_rng, 4, SHAPE(c->b, c->tk, c->hkv, c->dh), 1, with_backward);
    vimo_tensor *r = gc_rand(&g_rng, 4, SHAPE(c->b, c->tq, c->hq, c->dh), 1, 0);
    int64_t nq = vimo_tensor_numel(q), nk = vimo_tensor_numel(k);
    double *y = malloc((size_t)nq * sizeof(double)), *dq = malloc((size_t)nq * sizeof(double));
    double *dk = malloc((size_t)nk * sizeof(double)), *dv = malloc((size_t)nk * sizeof(double));
    if (c->masked) {
        c->mask = malloc((size_t)(c->b * c->tk));
        for (int64_t i = 0; i < c->b * c->tk; i++) c->mask[i] = vimo_rng_uniform(&g_rng) < 0.7f;
        c->mask[0] = 1;
        if (c->b > 1) /* batch 1 has padding at the end, like a padded prompt */
            for (int64_t j = c->tk / 2; j < c->tk; j++) c->mask[c->tk + j] = 0;
    }
    naive(c, vimo_tensor_data(q), vimo_tensor_data(k), vimo_tensor_data(v), with_backward ? vimo_tensor_data(r) : NULL,
          y, dq, dk, dv);
    vimo_ctx *ctx;
    vimo_ctx_new(&ctx);
    vimo_tensor *out, *prod, *loss;
    assert_int_equal(vimo_attention(ctx, &out, q, k, v, c->mask, c->causal, c->scale), VIMO_OK);
    double refmax, worst = max_diff(vimo_tensor_data(out), y, nq, &refmax) / fmax(1.0, refmax);
    if (with_backward) {
        assert_int_equal(vimo_mul(ctx, &prod, out, r), VIMO_OK);
        assert_int_equal(vimo_sum(ctx, &loss, prod), VIMO_OK);
        assert_int_equal(vimo_backward(ctx, loss), VIMO_OK);
        worst = fmax(worst, max_diff(vimo_tensor_grad(q), dq, nq, &refmax) / fmax(1.0, refmax));
        worst = fmax(worst, max_diff(vimo_tensor_grad(k), dk, nk, &refmax) / fmax(1.0, refmax));
        worst = fmax(worst, max_diff(vimo_tensor_grad(v), dv, nk, &refmax) / fmax(1.0, refmax));
    }
    vimo_ctx_free(ctx);
    vimo_tensor_free(q);
    vimo_tensor_free(k);
    vimo_tensor_free(v);
    vimo_tensor_free(r);
    free(y);
    free(dq);
    free(dk);
    free(dv);
    free(c->mask);
    c->mask = NULL;
    return worst;
}

static void test_vs_naive_small(void **state)
{
    (void)state;
    const int64_t ts[] = {1, 2, 3, 5, 8, 16, 31, 32, 33, 47, 63, 64};
    double worst_all = 0.0;
    for (size_t ti = 0; ti < sizeof ts / sizeof *ts; ti++) {
        int64_t t = ts[ti];
        /* {B, Tq, Tk, Hq, Hkv, Dh, causal, masked, scale} */
        att_case cases[] = {
            {2, t, t, 2, 2, 16, 0, 0, 0.25f, NULL},                /* plain MHA */
            {2, t, t, 2, 2, 16, 1, 0, 0.25f, NULL},                /* causal */
            {2, t, t, 4, 2, 8, 1, 1, 0.35f, NULL},                 /* GQA 4/2, causal, key mask */
            {1, t, t + 5, 4, 1, 24, 1, 0, 0.2f, NULL},             /* KV-cache offset Tq < Tk, MQA */
            {2, (t + 1) / 2, t, 4, 2, 12, 1, 1, 0.3f, NULL},       /* offset + mask + GQA */
            {2, t, (t + 2) / 3, 2, 1, 8, 0, 1, 0.5f, NULL},        /* Tq > Tk, non-causal */
            {1, t + 3, t, 2, 2, 4, 1, 0, 1.0f, NULL},              /* Tq > Tk causal: early rows see nothing */
        };
        for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
            double w = compare_case(&cases[ci], 1);
            if (w > 5e-6) printf("T=%lld case %zu: worst rel diff %.3g\n", (long long)t, ci, w);
            assert_true(w < 5e-6);
            worst_all = fmax(worst_all, w);
        }
    }
    printf("attention fused vs naive double (T = 1..64, 7 configs, y/dq/dk/dv): worst diff %.3g\n", worst_all);
}

static void test_vs_naive_long(void **state)
{
    (void)state;
    att_case causal = {1, 1024, 1024, 4, 2, 64, 1, 1, 0.125f, NULL};
    double w = compare_case(&causal, 0);
    printf("attention T=1024 forward (GQA 4/2, causal, key mask) vs naive double: worst diff %.3g\n", w);
    assert_true(w < 5e-6);
    att_case decode = {2, 1, 1024, 4, 2, 64, 1, 0, 0.125f, NULL}; /* one decoding step */
    w = compare_case(&decode, 0);
    printf("attention Tq=1, Tk=1024 (decode) vs naive double: worst diff %.3g\n", w);
    assert_true(w < 5e-6);
}

static void test_all_masked_row(void **state)
{
    (void)state;
    /* Batch 1 has every key padded: its outputs and gradients are exactly 0. */
    vimo_ctx *ctx;
    vimo_ctx_new(&ctx);
    vimo_tensor *q = gc_rand(&g_rng, 4, SHAPE(2, 3, 2, 4), 1, 1), *k = gc_rand(&g_rng, 4, SHAPE(2, 5, 2, 4), 1, 1);
    vimo_tensor *out, *s;
    uint8_t mask[10] = {1, 1, 0, 1, 1, 0, 0, 0, 0, 0};
    assert_int_equal(vimo_attention(ctx, &out, q, k, k, mask, 0, 0.5f), VIMO_OK);
    const float *y = vimo_tensor_data(out);
    for (int i = 24; i < 48; i++) assert_true(y[i] == 0.0f);
    for (int i = 0; i < 24; i++) assert_true(isfinite(y[i]));
    assert_int_equal(vimo_sum(ctx, &s, out), VIMO_OK);
    assert_int_equal(vimo_backward(ctx, s), VIMO_OK);
    for (int i = 24; i < 48; i++) assert_true(vimo_tensor_grad(q)[i] == 0.0f);
    for (int i = 0; i < 40; i++) assert_true(isfinite(vimo_tensor_grad(k)[i]));
    vimo_tensor_free(q);
    vimo_tensor_free(k);
    vimo_ctx_free(ctx);
}

static void test_kv_cache_view(void **state)
{
    (void)state;
    /* Decoding reads a KV cache (B, Tmax, Hkv, Dh) sliced to its length: a
     * strided view that inference reads in place. It must give the same
     * bits as the same keys copied out contiguously, and the training path
     * (which copies) must agree too. */
    vimo_ctx *ctx;
    vimo_ctx_new(&ctx);
    vimo_tensor *kc = gc_rand(&g_rng, 4, SHAPE(2, 16, 2, 24), 1, 0), *vc = gc_rand(&g_rng, 4, SHAPE(2, 16, 2, 24), 1, 0);
    vimo_tensor *q = gc_rand(&g_rng, 4, SHAPE(2, 3, 4, 24), 1, 0), *k, *v, *kk, *vv, *y1, *y2, *y3;
    assert_int_equal(vimo_slice(ctx, &k, kc, 1, 0, 9), VIMO_OK);
    assert_int_equal(vimo_slice(ctx, &v, vc, 1, 0, 9), VIMO_OK);
    assert_false(vimo_tensor_is_contiguous(k));
    assert_int_equal(vimo_attention(ctx, &y1, q, k, v, NULL, 1, 0.2f), VIMO_OK);
    assert_int_equal(vimo_contiguous(ctx, &kk, k), VIMO_OK);
    assert_int_equal(vimo_contiguous(ctx, &vv, v), VIMO_OK);
    assert_int_equal(vimo_attention(ctx, &y2, q, kk, vv, NULL, 1, 0.2f), VIMO_OK);
    assert_memory_equal(vimo_tensor_data(y1), vimo_tensor_data(y2), 2 * 3 * 4 * 24 * sizeof(float));
    vimo_tensor_set_requires_grad(q, 1);
    assert_int_equal(vimo_attention(ctx, &y3, q, k, v, NULL, 1, 0.2f), VIMO_OK);
    assert_memory_equal(vimo_tensor_data(y1), vimo_tensor_data(y3), 2 * 3 * 4 * 24 * sizeof(float));
    vimo_ctx_free(ctx);
    vimo_tensor_free(kc);
    vimo_tensor_free(vc);
    vimo_tensor_free(q);
}

/* ---- finite differences -------------------------------------------------------- */

typedef struct {
    int causal;
    const uint8_t *mask;
    float scale;
} gc_att;

static vimo_status f_att(vimo_ctx *c, vimo_tensor **in, vimo_tensor **o, void *ud)
{
    const gc_att *a = ud;
    return vimo_attention(c, o, in[0], in[1], in[2], a->mask, a->causal, a->scale);
}

static void test_gradcheck(void **state)
{
    (void)state;
    static const uint8_t mask[2 * 7] = {1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0};
    struct {
        const char *name;
        int64_t tq, tk, hq, hkv;
        gc_att a;
    } cases[] = {
        {"attention", 5, 5, 2, 2, {0, NULL, 0.5f}},
        {"attention causal", 5, 5, 2, 2, {1, NULL, 0.5f}},
        {"attention key mask", 5, 7, 2, 2, {0, mask, 0.5f}},
        {"attention GQA 4/2 causal", 6, 6, 4, 2, {1, NULL, 0.4f}},
        {"attention Tq<Tk offset + mask", 3, 7, 4, 2, {1, mask, 0.4f}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        vimo_tensor *in[3] = {gc_rand(&g_rng, 4, SHAPE(2, cases[i].tq, cases[i].hq, 6), 1, 1),
                              gc_rand(&g_rng, 4, SHAPE(2, cases[i].tk, cases[i].hkv, 6), 1, 1),
                              gc_rand(&g_rng, 4, SHAPE(2, cases[i].tk, cases[i].hkv, 6), 1, 1)};
        assert_int_equal(gradcheck(cases[i].name, f_att, in, 3, &cases[i].a, 1e-2, 2e-2, 2e-3), 0);
        for (int j = 0; j < 3; j++) vimo_tensor_free(in[j]);
    }
}

static vimo_status f_att_self(vimo_ctx *c, vimo_tensor **in, vimo_tensor **o, void *ud)
{
    (void)ud;
    return vimo_attention(c, o, in[0], in[0], in[0], NULL, 1, 0.5f); /* q = k = v: gradients meet */
}

static void test_gradcheck_shared_input(void **state)
{
    (void)state;
    vimo_tensor *in[1] = {gc_rand(&g_rng, 4, SHAPE(2, 6, 2, 4), 1, 1)};
    assert_int_equal(gradcheck("attention q = k = v", f_att_self, in, 1, NULL, 1e-2, 2e-2, 2e-3), 0);
    vimo_tensor_free(in[0]);
}

int main(void)
{
    vimo_init();
    vimo_rng_seed(&g_rng, 2024);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vs_naive_small),  cmocka_unit_test(test_vs_naive_long),
        cmocka_unit_test(test_all_masked_row),  cmocka_unit_test(test_kv_cache_view),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_gradcheck_shared_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
