/*
 * test_grad_nn.c - rmsnorm, layernorm, softmax, embedding, rope, dropout,
 * cross-entropy, mse, conv1d and conv2d: finite-difference gradient checks
 * (gradcheck.h) plus forward values against naive double-precision
 * references written here from the papers' formulas (and hand-worked
 * numbers where small enough).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "gradcheck.h"

#define EPS 1e-2
#define RTOL 2e-2
#define ATOL 2e-3

static vimo_rng g_rng;

#define SHAPE(...) (int64_t[]){__VA_ARGS__}

static double max_abs_diff(const float *a, const double *b, int64_t n)
{
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* Runs one op's forward on a grad-off context and copies its output out. */
static float *forward_copy(gc_forward_fn f, vimo_tensor **in, void *ud, int64_t *n)
{
    vimo_ctx *c;
    vimo_ctx_new(&c);
    vimo_ctx_set_grad(c, 0);
    vimo_tensor *o = NULL;
    assert_int_equal(f(c, in, &o, ud), VIMO_OK);
    *n = vimo_tensor_numel(o);
    float *buf = malloc((size_t)*n * sizeof(float));
    vimo_tensor_copy_to(o, buf, *n);
    vimo_ctx_free(c);
    return buf;
}

/* ---- norms and softmax ------------------------------------------------------- */

static vimo_status f_norm(vimo_ctx *c, vimo_tensor **in, vimo_tensor **o, void *ud)
{
    vimo_tensor *p;
    vimo_status st = VIMO_OK;
    switch (*(int *)ud) {
    case 0: return vimo_rmsnorm(c, o, in[0], in[1], 1e-5f);
    case 1: return vimo_layernorm(c, o, in[0], in[1], in[2], 1e-5f);
    case 2: return vimo_layernorm(c, o, in[0], in[1], NULL, 1e-5f);
    case 3: return vimo_softmax(c, o, in[0]);
    default: /* a strided view in: the op reads it through a contiguous copy */
        VIMO_TRY(vimo_transpose(c, &p, in[0], 0, 1));
        return vimo_rmsnorm(c, o, p, in[1], 1e-5f);
    }
fail:
    return st;
}

static void test_norm_grads(void **state)
{
    (void)state;
    const char *names[] = {"rmsnorm", "layernorm", "layernorm (no bias)", "softmax", "rmsnorm (strided x)"};
    for (int k = 0; k < 5; k++) {
        /* D = 37 > 2 x 16 lanes exercises the fixed-lane loops and their tail. */
        int64_t d = k == 3 ? 11 : 37;
        vimo_tensor *in[3] = {gc_rand(&g_rng, 3, SHAPE(k == 4 ? 3 : 2, k == 4 ? 2 : 3, d), 1, 1),
                              gc_rand(&g_rng, 1, SHAPE(d), 1, 1), gc_rand(&g_rng, 1, SHAPE(d), 1, 1)};
        int n_in = k == 1 ? 3 : (k == 3 ? 1 : 2);
        assert_int_equal(gradcheck(names[k], f_norm, in, n_in, &k, EPS, RTOL, ATOL), 0);
        for (int i = 0; i < 3; i++) vimo_tensor_free(in[i]);
    }
}

/* Many rows: the parameter gradients go through several 32-row chunks. */
static void test_norm_grads_many_rows(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        vimo_tensor *in[3] = {gc_rand(&g_rng, 2, SHAPE(70, 5), 1, 1), gc_rand(&g_rng, 1, SHAPE(5), 1, 1),
                              gc_rand(&g_rng, 1, SHAPE(5), 1, 1)};
        assert_int_equal(gradcheck(k ? "layernorm (70 rows)" : "rmsnorm (70 rows)", f_norm, in, k ? 3 : 2, &k, EPS,
                                   RTOL, ATOL),
                         0);
        for (int i = 0; i < 3; i++) vimo_tensor_free(in[i]);
    }
}

static void test_norm_values(void **state)
{
    (void)state;
    int64_t rows = 6, d = 19;
    vimo_tensor *in[3] = {gc_rand(&g_rng, 2, SHAPE(rows, d), 2, 0), gc_rand(&g_rng, 1, SHAPE(d), 1, 0),
                          gc_rand(&g_rng, 1, SHAPE(d), 1, 0)};
    const float *x = vimo_tensor_data(in[0]), *w = vimo_tensor_data(in[1]), *b = vimo_tensor_data(in[2]);
    double ref[3][6 * 19];
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        double ss = 0, mu = 0, var = 0, mx = -INFINITY, se = 0;
        for (int64_t j = 0; j < d; j++) {
            ss += (double)xr[j] * xr[j];
            mu += xr[j];
            mx = fmax(mx, xr[j]);
        }
        mu /= d;
        for (int64_t j = 0; j < d; j++) {
            var += (xr[j] - mu) * (xr[j] - mu);
            se += exp(xr[j] - mx);
        }
        var /= d;
        for (int64_t j = 0; j < d; j++) {
            ref[0][r * d + j] = xr[j] / sqrt(ss / d + 1e-5) * w[j];             /* Zhang & Sennrich eq. 4 */
            ref[1][r * d + j] = (xr[j] - mu) / sqrt(var + 1e-5) * w[j] + b[j]; /* Ba et al. */
            ref[2][r * d + j] = exp(xr[j] - mx) / se;
        }
    }
    int kinds[3] = {0, 1, 3};
    double tol[3] = {2e-5, 2e-5, 1e-6};
    for (int k = 0; k < 3; k++) {
        int64_t n;
        float *y = forward_copy(f_norm, in, &kinds[k], &n);
        double diff = max_abs_diff(y, ref[k], n);
        printf("norm values kind %d: max |diff| vs double %.3g\n", k, diff);
        assert_true(diff < tol[k]);
        free(y);
    }
    for (int i = 0; i < 3; i++) vimo_tensor_free(in[i]);
}

static void test_softmax_extremes(void **state)
{
    (void)state;
    /* Hand-worked: softmax(1000, 1000 + ln 3) = (1/4, 3/4) without overflow;
     * a row of -inf gives zeros (documented), not NaN. */
    vimo_ctx *c;
    vimo_ctx_new(&c);
    vimo_tensor *x, *y;
    vimo_tensor_new2(&x, 2, 2);
    vimo_tensor_copy_from(x, (float[]){1000.0f, 1000.0f + logf(3.0f), -INFINITY, -INFINITY}, 4);
    assert_int_equal(vimo_softmax(c, &y, x), VIMO_OK);
    const float *yd = vimo_tensor_data(y);
    assert_float_equal(yd[0], 0.25f, 1e-5);
    assert_float_equal(yd[1], 0.75f, 1e-5);
    assert_true(yd[2] == 0.0f && yd[3] == 0.0f);
    vimo_tensor_free(x);
    vimo_ctx_free(c);
}

/* ---- embedding --------------------------------------------------------------- */

static const int32_t k_ids[8] = {3, 1, 3, 0, 5, 3, 1, 2}; /* repeats: 3 three times, 1 twice */

static vimo_status f_embed(vimo_ctx *c, vimo_tensor **in, vimo_tensor **o, void *ud)
{
    (void)ud;
    return vimo_embedding(c, o, in[0], k_ids, 2, SHAPE(2, 4));
}

static void test_embedding(void **state)
{
    (void)state;
    vimo_tensor *in[1] = {gc_rand(&g_rng, 2, SHAPE(6, 5), 1, 1)};
    assert_int_equal(gradcheck("embedding (repeated ids)", f_embed, in, 1, NULL, EPS, RTOL, ATOL), 0);
    /* Values: row i of y is row ids[i] of the table; backward of sum(y)
     * counts each id's occurrences (3 for id 3, 0 for id 4). */
    vimo_ctx *c;
    vimo_ctx_new(&c);
    vimo_tensor *y, *s;
    vimo_tensor_zero_grad(in[0]);
    assert_int_equal(f_embed(c, in, &y, NULL), VIMO_OK);
    assert_int_equal(vimo_tensor_ndim(y), 3);
    assert_int_equal(vimo_tensor_dim(y, 2), 5);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 5; j++)
            assert_true(vimo_tensor_data(y)[i * 5 + j] == vimo_tensor_data(in[0])[k_ids[i] * 5 + j]);
    assert_int_equal(vimo_sum(c, &s, y), VIMO_OK);
    assert_int_equal(vimo_backward(c, s), VIMO_OK);
    const float expect[6] = {1, 2, 1, 3, 0, 1};
    for (int v = 0; v < 6; v++) assert_true(vimo_tensor_grad(in[0])[v * 5 + 4] == expect[v]);
    vimo_ctx_free(c);
    vimo_tensor_free(in[0]);
}

/* ---- rope -------------------------------------------------------------------- */

typedef struct {
    float theta;
    int64_t offset;
    vimo_rope_mode mode;
} rope_args;

static vimo_status f_rope(vimo_ctx *c, vimo_tensor **in, vimo_tensor **o, void *ud)
{
    const rope_args *a = ud;
    return vimo_rope(c, o, in[0], a->theta, a->offset, a->mode);
}

static void test_rope_grads(void **state)
{
    (void)state;
    rope_args cases[4] = {{10000.0f, 0, VIMO_ROPE_INTERLEAVED},
                          {10000.0f, 7, VIMO_ROPE_INTERLEAVED},
                          {500.0f, 0, VIMO_ROPE_HALF},
                          {10000.0f, 13, VIMO_ROPE_HALF}};
    const char *names[4] = {"rope interleaved", "rope interleaved +7", "rope half theta 500", "rope half +13"};
    for (int k = 0; k < 4; k++) {
        vimo_tensor *in[1] = {gc_rand(&g_rng, 4, SHAPE(2, 5, 3, 8), 1, 1)};
        assert_int_equal(gradcheck(names[k], f_rope, in, 1, &cases[k], EPS, RTOL, ATOL), 0);
        vimo_tensor_free(in[0]);
    }
}

static void test_rope_values(void **state)
{
    (void)state;
    /* RoFormer eq. 34 in double: pair i of token t at position p = offset + t
     * rotates by p theta^(-2i/Dh). Pairs are (2i, 2i+1) (Meta Llama) or
     * (i, i + Dh/2) (Hugging Face rotate_half). */
    int64_t bs = 2, t_len = 6, h = 3, dh = 10, half = 5, n = bs * t_len * h * dh;
    vimo_tensor *in[1] = {gc_rand(&g_rng, 4, SHAPE(bs, t_len, h, dh), 1, 0)};
    const float *x = vimo_tensor_data(in[0]);
    double *ref = malloc((size_t)n * sizeof(double));
    for (int mode = 0; mode < 2; mode++) {
        rope_args a = {10000.0f, 1000, (vimo_rope_mode)mode};
        for (int64_t r = 0; r < bs * t_len * h; r++) {
            int64_t t = (r / h) % t_len;
            for (int64_t i = 0; i < half; i++) {
                int64_t ia = mode ? i : 2 * i, ib = mode ? i + half : 2 * i + 1;
                double ang = (double)(a.offset + t) * pow(10000.0, -2.0 * (double)i / (double)dh);
                double xa = x[r * dh + ia], xb = x[r * dh + ib];
                ref[r * dh + ia] = xa * cos(ang) - xb * sin(ang);
                ref[r * dh + ib] = xa * sin(ang) + xb * cos(ang);
            }
        }
        int64_t cnt;
        float *y = forward_copy(f_rope, in, &a, &cnt);
        /* Float32 angles (as the reference models compute them) at position
         * ~1000 are off by up to ~6e-5 rad. */
        double diff = max_abs_diff(y, ref, n);
        printf("rope mode %d offset 1000: max |diff| vs double %.3g\n", mode, diff);
        assert_true(diff < 3e-4);
        free(y);
    }
    free(ref);
    vimo_tensor_free(in[0]);
}

static void test_rope_offset_consistent(void **state)
{
    (void)state;
    /* Decoding: rope of tokens 4..5 with pos_offset 4 equals rows 4..5 of
     * rope over the whole sequence; and q.k after rope depends only on the
     * position difference (the point of RoPE). */
    vimo_ctx *c;
    vimo_ctx_new(&c);
    vimo_tensor *x = gc_rand(&g_rng, 4, SHAPE(1, 6, 2, 8), 1, 0), *tail, *full, *part;
    for (int mode = 0; mode < 2; mode++) {
        assert_int_equal(vimo_rope(c, &full, x, 10000.0f, 0, (vimo_rope_mode)mode), VIMO_OK);
        assert_int_equal(vimo_slice(c, &tail, x, 1, 4, 6), VIMO_OK);
        assert_int_equal(vimo_rope(c, &part, tail, 10000.0f, 4, (vimo_rope_mode)mode), VIMO_OK);
        float a[32], b[96];
        assert_int_equal(vimo_tensor_copy_to(part, a, 32), VIMO_OK);
        assert_int_equal(vimo_tensor_copy_to(full, b, 96), VIMO_OK);
        for (int i = 0; i < 32; i++) assert_true(a[i] == b[64 + i]);
    }
    /* Same vector q at positions (p, p + 3) for several p: q.k constant. */
    vimo_tensor *qk = gc_rand(&g_rng, 4, SHAPE(1, 1, 2, 8), 1, 0), *rq, *rk;
    double first = 0.0;
    for (int p = 0; p < 20; p += 5) {
        assert_int_equal(vimo_rope(c, &rq, qk, 10000.0f, p, VIMO_ROPE_HALF), VIMO_OK);
        assert_int_equal(vimo_rope(c, &rk, qk, 10000.0f, p + 3, VIMO_ROPE_HALF), VIMO_OK);
        double dot = 0;
        for (int i = 0; i < 8; i++) dot += (double)vimo_tensor_data(rq)[i] * vimo_tensor_data(rk)[i];
        if (p == 0) first = dot;
        assert_float_equal(dot, first, 1e-5);
    }
    vimo_tensor_free(x);
    vimo_tensor_free(qk);
    vimo_ctx_free(c);
}

/* ---- dropout ----------------------------------------------------------------- */

static vimo_status f_dropout(vimo_ctx *c, vimo_tensor **in, vimo_tensor **o, void *ud)
{
    (void)ud;
    vimo_rng r;
    vimo_rng_seed(&r, 99); /* the same mask on every call */
    return vimo_dropout(c, o, in[0], 0.3f, &r);
}

static void test_dropout(void **state)
{
    (void)state;
    vimo_tensor *in[1] = {gc_rand(&g_rng, 2, SHAPE(40, 50), 1, 1)};
    assert_int_equal(gradcheck("dropout p=0.3 (fixed seed)", f_dropout, in, 1, NULL, EPS, RTOL, ATOL), 0);
    vimo_ctx *c;
    vimo_ctx_new(&c);
    vimo_tensor *y, *s, *x = in[0];
    vimo_tensor_zero_grad(x);
    assert_int_equal(f_dropout(c, in, &y, NULL), VIMO_OK);
    /* Mask from the rng: element i is kept iff draw i >= 0.3 * 2^32, in
     * element order (reproduced here independently of the op). */
    vimo_rng r;
    vimo_rng_seed(&r, 99);
    const float *xd = vimo_tensor_data(x), *yd = vimo_tensor_data(y);
    int kept = 0;
    for (int i = 0; i < 2000; i++) {
        int keep = vimo_rng_u32(&r) >= (uint32_t)(0.3 * 4294967296.0);
        kept += keep;
        assert_float_equal(yd[i], keep ? xd[i] / 0.7f : 0.0f, 1e-5);
    }
    assert_true(kept > 1300 && kept < 1500); /* 1400 expected, sd ~20 */
    /* Backward of sum(y) uses the same mask: grad = keep / 0.7. */
    assert_int_equal(vimo_sum(c, &s, y), VIMO_OK);
    assert_int_equal(vimo_backward(c, s), VIMO_OK);
    for (int i = 0; i < 2000; i++)
        assert_float_equal(vimo_tensor_grad(x)[i], yd[i] != 0.0f ? 1.0f / 0.7f : 0.0f, 1e-5);
    /* p = 0 or no rng: x itself (inference). */
    vimo_tensor *same;
    assert_int_equal(vimo_dropout(c, &same, x, 0.0f, &r), VIMO_OK);
    assert_ptr_equal(same, x);
    assert_int_equal(vimo_dropout(c, &same, x, 0.5f, NULL), VIMO_OK);
    assert_ptr_equal(same, x);
    assert_int_equal(vimo_dropout(c, &same, x, 1.0f, &r), VIMO_ERR_INVALID);
    assert_int_equal(vimo_dropout(c, &same, x, -0.1f, &r), VIMO_ERR_INVALID);
    vimo_ctx_free(c);
    vimo_tensor_free(x);
}

/* ---- losses ------------------------------------------------------------------ */

static const int32_t k_targets[6] = {2, -100, 0, 6, -100, 4};

static vimo_status f_ce(vimo_ctx *c, vimo_tensor **in, vimo_tensor **o, void *ud)
{
    (void)ud;
    return vimo_cross_entropy(c, o, in[0], k_targets, -100);
}

static vimo_status f_mse(vimo_ctx *c, vimo_tensor **in, vimo_tensor **o, void *ud)
{
    (void)ud;
    return vimo_mse(c, o, in[0], in[1]);
}

static void test_losses_grads(void **state)
{
    (void)state;
    vimo_tensor *lg[1] = {gc_rand(&g_rng, 3, SHAPE(2, 3, 7), 2, 1)};
    assert_int_equal(gradcheck("cross_entropy (ignore rows)", f_ce, lg, 1, NULL, EPS, RTOL, ATOL), 0);
    /* Ignored rows get exactly zero gradient. */
    vimo_ctx *c;
    vimo_ctx_new(&c);
    vimo_tensor *loss;
    vimo_tensor_zero_grad(lg[0]);
    assert_int_equal(f_ce(c, lg, &loss, NULL), VIMO_OK);
    assert_int_equal(vimo_backward(c, loss), VIMO_OK);
    for (int j = 0; j < 7; j++) {
        assert_true(vimo_tensor_grad(lg[0])[1 * 7 + j] == 0.0f);
        assert_true(vimo_tensor_grad(lg[0])[4 * 7 + j] == 0.0f);
    }
    vimo_ctx_free(c);
    vimo_tensor *ab[2] = {gc_rand(&g_rng, 3, SHAPE(3, 4, 5), 1, 1), gc_rand(&g_rng, 3, SHAPE(3, 4, 5), 1, 1)};
    assert_int_equal(gradcheck("mse", f_mse, ab, 2, NULL, EPS, RTOL, ATOL), 0);
    vimo_tensor_free(lg[0]);
    vimo_tensor_free(ab[0]);
    vimo_tensor_free(ab[1]);
}

static void test_losses_values(void **state)
{
    (void)state;
    vimo_ctx *c;
    vimo_ctx_new(&c);
    vimo_tensor *lg, *loss, *a, *b;
    /* Hand-worked: rows [0,0,0,0] -> ln 4; [ln 1, ln 2, ln 3, ln 4] with
     * target 3 -> -ln(4/10) = ln 2.5; row 3 ignored. Mean = (ln 4 + ln 2.5)/2. */
    vimo_tensor_new2(&lg, 3, 4);
    vimo_tensor_copy_from(lg, (float[]){0, 0, 0, 0, 0, logf(2), logf(3), logf(4), 5, 1, 2, 3}, 12);
    vimo_tensor_set_requires_grad(lg, 1);
    assert_int_equal(vimo_cross_entropy(c, &loss, lg, (int32_t[]){1, 3, 7}, 7), VIMO_OK);
    assert_float_equal(vimo_tensor_data(loss)[0], (log(4.0) + log(2.5)) / 2, 1e-6);
    /* Gradient = (softmax - onehot) / count: row 0 is (1/4, -3/4, 1/4, 1/4) / 2. */
    assert_int_equal(vimo_backward(c, loss), VIMO_OK);
    const float *g = vimo_tensor_grad(lg);
    assert_float_equal(g[0], 0.125f, 1e-7);
    assert_float_equal(g[1], -0.375f, 1e-7);
    assert_float_equal(g[7], (0.4f - 1.0f) / 2, 1e-7);
    /* No counted row: loss 0 and a zero gradient. */
    vimo_ctx_reset(c);
    vimo_tensor_zero_grad(lg);
    assert_int_equal(vimo_cross_entropy(c, &loss, lg, (int32_t[]){-1, -1, -1}, -1), VIMO_OK);
    assert_true(vimo_tensor_data(loss)[0] == 0.0f);
    assert_int_equal(vimo_backward(c, loss), VIMO_OK);
    for (int i = 0; i < 12; i++) assert_true(vimo_tensor_grad(lg)[i] == 0.0f);
    /* MSE: ((1-0)^2 + (2-4)^2 + (3-3)^2) / 3 = 5/3. */
    vimo_tensor_new1(&a, 3);
    vimo_tensor_new1(&b, 3);
    vimo_tensor_copy_from(a, (float[]){1, 2, 3}, 3);
    vimo_tensor_copy_from(b, (float[]){0, 4, 3}, 3);
    assert_int_equal(vimo_mse(c, &loss, a, b), VIMO_OK);
    assert_float_equal(vimo_tensor_data(loss)[0], 5.0f / 3.0f, 1e-6);
    vimo_tensor_free(lg);
    vimo_tensor_free(a);
    vimo_tensor_free(b);
    vimo_ctx_free(c);
}

/* ---- convolution ------------------------------------------------------------- */

typedef struct {
    int stride, pad, dilation, two_d, bias;
} conv_args;

static vimo_status f_conv(vimo_ctx *c, vimo_tensor **in, vimo_tensor **o, void *ud)
{
    const conv_args *a = ud;
    vimo_tensor *b = a->bias ? in[2] : NULL;
    if (a->two_d) return vimo_conv2d(c, o, in[0], in[1], b, a->stride, a->pad);
    return vimo_conv1d(c, o, in[0], in[1], b, a->stride, a->pad, a->dilation);
}

/* Direct definition of a (dilated, strided, zero-padded) cross-correlation,
 * as torch.nn.Conv1d / Conv2d document it, in double. */
static void conv_ref(double *y, const float *x, const float *w, const float *b, int64_t bs, int64_t cin,
                     int64_t h, int64_t wd, int64_t cout, int64_t kh, int64_t kw, int s, int p, int dil,
                     int64_t ho, int64_t wo, int two_d)
{
    int ph = two_d ? p : 0, sh = two_d ? s : 1;
    for (int64_t n = 0; n < bs; n++)
        for (int64_t co = 0; co < cout; co++)
            for (int64_t oh = 0; oh < ho; oh++)
                for (int64_t ow = 0; ow < wo; ow++) {
                    double acc = b ? b[co] : 0.0;
                    for (int64_t ci = 0; ci < cin; ci++)
                        for (int64_t i = 0; i < kh; i++)
                            for (int64_t j = 0; j < kw; j++) {
                                int64_t ih = oh * sh - ph + i * dil, iw = ow * s - p + j * dil;
                                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                                acc += (double)x[((n * cin + ci) * h + ih) * wd + iw] *
                                       w[((co * cin + ci) * kh + i) * kw + j];
                            }
                    y[((n * cout + co) * ho + oh) * wo + ow] = acc;
                }
}

static void test_conv(void **state)
{
    (void)state;
    /* conv1d: T = 11, K = 3, stride 2, pad 2, dilation 3 -> Tout = (11 + 4 - 6 - 1)/2 + 1 = 5. */
    conv_args c1 = {2, 2, 3, 0, 1}, c1nb = {1, 1, 1, 0, 0};
    vimo_tensor *in1[3] = {gc_rand(&g_rng, 3, SHAPE(2, 3, 11), 1, 1), gc_rand(&g_rng, 3, SHAPE(4, 3, 3), 1, 1),
                           gc_rand(&g_rng, 1, SHAPE(4), 1, 1)};
    assert_int_equal(gradcheck("conv1d s2 p2 d3", f_conv, in1, 3, &c1, EPS, RTOL, ATOL), 0);
    assert_int_equal(gradcheck("conv1d s1 p1 (no bias)", f_conv, in1, 2, &c1nb, EPS, RTOL, ATOL), 0);
    int64_t n;
    float *y = forward_copy(f_conv, in1, &c1, &n);
    assert_int_equal(n, 2 * 4 * 5);
    double ref1[40];
    conv_ref(ref1, vimo_tensor_data(in1[0]), vimo_tensor_data(in1[1]), vimo_tensor_data(in1[2]), 2, 3, 1, 11, 4, 1, 3,
             2, 2, 3, 1, 5, 0);
    printf("conv1d vs direct: max |diff| %.3g\n", max_abs_diff(y, ref1, n));
    assert_true(max_abs_diff(y, ref1, n) < 1e-5);
    free(y);
    /* conv2d: 7 x 6, 3 x 3 kernel, stride 2, pad 1 -> 4 x 3. */
    conv_args c2 = {2, 1, 1, 1, 1};
    vimo_tensor *in2[3] = {gc_rand(&g_rng, 4, SHAPE(2, 3, 7, 6), 1, 1), gc_rand(&g_rng, 4, SHAPE(4, 3, 3, 3), 1, 1),
                           gc_rand(&g_rng, 1, SHAPE(4), 1, 1)};
    assert_int_equal(gradcheck("conv2d s2 p1", f_conv, in2, 3, &c2, EPS, RTOL, ATOL), 0);
    y = forward_copy(f_conv, in2, &c2, &n);
    assert_int_equal(n, 2 * 4 * 4 * 3);
    double ref2[96];
    conv_ref(ref2, vimo_tensor_data(in2[0]), vimo_tensor_data(in2[1]), vimo_tensor_data(in2[2]), 2, 3, 7, 6, 4, 3, 3,
             2, 1, 1, 4, 3, 1);
    printf("conv2d vs direct: max |diff| %.3g\n", max_abs_diff(y, ref2, n));
    assert_true(max_abs_diff(y, ref2, n) < 1e-5);
    free(y);
    for (int i = 0; i < 3; i++) {
        vimo_tensor_free(in1[i]);
        vimo_tensor_free(in2[i]);
    }
}

/* conv1d with 7 items of 100 output frames: the op runs the forward and
 * dcols as one GEMM per group of items (6, then 1). Forward against the
 * direct definition, each item's output bitwise equal to the item convolved
 * alone (the one-item path), and the gradients by finite differences. */
static void test_conv_groups(void **state)
{
    (void)state;
    enum { B = 7, CIN = 2, T = 102, COUT = 3, K = 3, TO = T - K + 1 };
    conv_args a = {1, 0, 1, 0, 1};
    vimo_tensor *in[3] = {gc_rand(&g_rng, 3, SHAPE(B, CIN, T), 1, 1), gc_rand(&g_rng, 3, SHAPE(COUT, CIN, K), 1, 1),
                          gc_rand(&g_rng, 1, SHAPE(COUT), 1, 1)};
    int64_t n;
    float *y = forward_copy(f_conv, in, &a, &n);
    assert_int_equal(n, B * COUT * TO);
    double *ref = malloc(sizeof *ref * (size_t)n);
    conv_ref(ref, vimo_tensor_data(in[0]), vimo_tensor_data(in[1]), vimo_tensor_data(in[2]), B, CIN, 1, T, COUT, 1,
             K, 1, 0, 1, 1, TO, 0);
    assert_true(max_abs_diff(y, ref, n) < 1e-5);
    for (int i = 0; i < B; i++) {
        vimo_tensor *one[3] = {NULL, in[1], in[2]};
        assert_int_equal(vimo_tensor_new(&one[0], 3, SHAPE(1, CIN, T)), VIMO_OK);
        memcpy(vimo_tensor_data(one[0]), vimo_tensor_data(in[0]) + (size_t)i * CIN * T, sizeof(float) * CIN * T);
        int64_t m;
        float *yi = forward_copy(f_conv, one, &a, &m);
        assert_int_equal(m, COUT * TO);
        assert_memory_equal(yi, y + (size_t)i * COUT * TO, sizeof(float) * (size_t)m);
        free(yi);
        vimo_tensor_free(one[0]);
    }
    assert_int_equal(gradcheck("conv1d, 7 items in groups", f_conv, in, 3, &a, EPS, RTOL, ATOL), 0);
    free(ref);
    free(y);
    for (int i = 0; i < 3; i++) vimo_tensor_free(in[i]);
}

int main(void)
{
    vimo_init();
    vimo_rng_seed(&g_rng, 7);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_norm_grads),     cmocka_unit_test(test_norm_grads_many_rows),
        cmocka_unit_test(test_norm_values),    cmocka_unit_test(test_softmax_extremes),
        cmocka_unit_test(test_embedding),      cmocka_unit_test(test_rope_grads),
        cmocka_unit_test(test_rope_values),    cmocka_unit_test(test_rope_offset_consistent),
        cmocka_unit_test(test_dropout),        cmocka_unit_test(test_losses_grads),
        cmocka_unit_test(test_losses_values),  cmocka_unit_test(test_conv),
        cmocka_unit_test(test_conv_groups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
