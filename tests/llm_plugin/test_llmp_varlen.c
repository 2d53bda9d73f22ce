/*
 * test_llmp_varlen.c - forward_varlen (vimo/llm.h, ABI 1.1) of llm.llama on
 * stories260K's shapes (GQA 8/4 heads, Dh 8) with LoRA on all seven
 * projections, against the padded forward, which test_llmp_forward and
 * test_llmp_lora check against independent references:
 *  - logits at any real positions, in any order, are forward's logits
 *    there, bit for bit, and the padding is never read (it holds NaN);
 *  - a masked cross-entropy step gives forward's loss and input gradients
 *    bit for bit, zero gradient on the padding, and the adapters' gradients
 *    up to summation order (the packed rows sum in other blocks);
 *  - those gradients match central finite differences;
 *  - bad lengths and rows are errors naming the argument.
 * Not here: dropout masks (they differ by design; core ops tests check the
 * op), speed (bench/README.md, docs/experiments.md).
 */
#include "llmp_common.h"

/* More than VIMO_GEMM_SMALL_M real positions and targets: products of
 * fewer rows take the small-M kernel, which rounds differently from BLIS
 * (a padded batch never has so few). More sequences than vimo_concat takes
 * at once (6), so the packed outputs are joined in groups; lengths across
 * the attention kernels' 64-query blocks, one ending a position into one
 * (65). */
#define B 8
#define T 130
static const int32_t k_lens[B] = {130, 17, 100, 1, 8, 77, 65, 2};

static llmp lora_stories(void)
{
    llmp p = llmp_model(STORIES);
    assert_int_equal(p.llm->lora_add(p.h, 4, 8.0f, 0.0f, "q,k,v,o,gate,up,down", 7), VIMO_OK);
    /* B = 0 at init would make the adapters invisible: give them values. */
    vimo_rng r;
    vimo_rng_seed(&r, 11);
    for (int i = 0; i < p.mod->num_params(p.h); i++) {
        const char *nm;
        vimo_tensor *t = p.mod->param(p.h, i, &nm);
        if (!strstr(nm, ".lora_B")) continue;
        float *d = vimo_tensor_data(t);
        for (int64_t j = 0; j < vimo_tensor_numel(t); j++) d[j] = 0.2f * (vimo_rng_uniform(&r) - 0.5f);
    }
    return p;
}

/* x (B, T, D): real positions random, padding `pad`. */
static vimo_tensor *make_x(int64_t d, float pad)
{
    vimo_tensor *x = NULL;
    assert_int_equal(vimo_tensor_new(&x, 3, (int64_t[]){B, T, d}), VIMO_OK);
    vimo_rng r;
    vimo_rng_seed(&r, 5);
    float *v = vimo_tensor_data(x);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int64_t c = 0; c < d; c++)
                v[((int64_t)b * T + t) * d + c] = t < k_lens[b] ? vimo_rng_uniform(&r) - 0.5f : pad;
    return x;
}

static void test_logits_match_forward(void **state)
{
    (void)state;
    llmp p = lora_stories();
    int64_t d = p.llm->dim(p.h), V = p.llm->vocab_size(p.h);
    vimo_tensor *x0 = make_x(d, 0.0f), *xn = make_x(d, NAN);
    float *full = llmp_logits_x(&p, x0);
    /* Every real position, last sequence first, and one twice. */
    int32_t rows[B * T + 1];
    int n = 0;
    for (int b = B - 1; b >= 0; b--)
        for (int t = 0; t < k_lens[b]; t++) rows[n++] = b * T + t;
    rows[n++] = 1 * T + 2;
    vimo_ctx *ctx;
    vimo_tensor *y = NULL;
    assert_int_equal(vimo_ctx_new(&ctx), VIMO_OK);
    vimo_ctx_set_grad(ctx, 0);
    vimo_status st = p.llm->forward_varlen(p.h, ctx, xn, k_lens, rows, n, NULL, &y);
    if (st) fprintf(stderr, "%s\n", vimo_last_error());
    assert_int_equal(st, VIMO_OK);
    assert_int_equal(vimo_tensor_ndim(y), 2);
    assert_int_equal(vimo_tensor_dim(y, 0), n);
    assert_int_equal(vimo_tensor_dim(y, 1), V);
    const float *got = vimo_tensor_data(y);
    int diff = 0;
    for (int j = 0; j < n; j++)
        diff += memcmp(got + (int64_t)j * V, full + (int64_t)rows[j] * V, (size_t)V * sizeof(float)) != 0;
    printf("  %d rows (padding NaN): %d differ from forward's\n", n, diff);
    assert_int_equal(diff, 0);
    vimo_ctx_free(ctx);
    free(full);
    vimo_tensor_free(x0);
    vimo_tensor_free(xn);
    llmp_free(&p);
}

/* The targets: a few positions per sequence, as answer tokens are. */
static int targets(int32_t *rows, int32_t *tg, int32_t *tg_full, int64_t V)
{
    int n = 0;
    for (int i = 0; i < B * T; i++) tg_full[i] = -100;
    for (int b = 0; b < B; b++)
        for (int t = k_lens[b] / 2; t < k_lens[b]; t++) {
            rows[n] = b * T + t;
            tg[n] = (int32_t)((7 * b + 3 * t) % V);
            tg_full[rows[n]] = tg[n];
            n++;
        }
    return n;
}

/* The varlen loss of x (no autograd kept), for finite differences. */
static double varlen_loss(const llmp *p, vimo_tensor *x, const int32_t *rows, const int32_t *tg, int n)
{
    vimo_ctx *ctx;
    vimo_tensor *y = NULL, *loss = NULL;
    assert_int_equal(vimo_ctx_new(&ctx), VIMO_OK);
    vimo_ctx_set_grad(ctx, 0);
    assert_int_equal(p->llm->forward_varlen(p->h, ctx, x, k_lens, rows, n, NULL, &y), VIMO_OK);
    assert_int_equal(vimo_cross_entropy(ctx, &loss, y, tg, -100), VIMO_OK);
    double l = vimo_tensor_data(loss)[0];
    vimo_ctx_free(ctx);
    return l;
}

static void test_grads_match_forward(void **state)
{
    (void)state;
    llmp p = lora_stories();
    p.mod->set_train(p.h, 1); /* the training path (dropout 0) */
    int64_t d = p.llm->dim(p.h), V = p.llm->vocab_size(p.h);
    int32_t rows[B * T], tg[B * T], tg_full[B * T];
    int n = targets(rows, tg, tg_full, V);
    int np = p.mod->num_params(p.h);
    float **g_pad = calloc((size_t)np, sizeof *g_pad);
    float *gx_pad = NULL, l_pad = 0;
    for (int pass = 0; pass < 2; pass++) {
        vimo_ctx *ctx;
        vimo_tensor *x = make_x(d, 0.0f), *y = NULL, *loss = NULL;
        assert_int_equal(vimo_tensor_set_requires_grad(x, 1), VIMO_OK);
        for (int i = 0; i < np; i++) vimo_tensor_zero_grad(p.mod->param(p.h, i, NULL));
        assert_int_equal(vimo_ctx_new(&ctx), VIMO_OK);
        if (pass == 0) {
            assert_int_equal(p.llm->forward(p.h, ctx, x, NULL, NULL, &y), VIMO_OK);
            assert_int_equal(vimo_cross_entropy(ctx, &loss, y, tg_full, -100), VIMO_OK);
        } else {
            assert_int_equal(p.llm->forward_varlen(p.h, ctx, x, k_lens, rows, n, NULL, &y), VIMO_OK);
            assert_int_equal(vimo_cross_entropy(ctx, &loss, y, tg, -100), VIMO_OK);
        }
        assert_int_equal(vimo_backward(ctx, loss), VIMO_OK);
        float l = vimo_tensor_data(loss)[0];
        const float *gx = vimo_tensor_grad(x);
        int64_t nx = vimo_tensor_numel(x);
        if (pass == 0) {
            l_pad = l;
            gx_pad = malloc((size_t)nx * sizeof *gx_pad);
            memcpy(gx_pad, gx, (size_t)nx * sizeof *gx_pad);
            for (int i = 0; i < np; i++) {
                const char *nm;
                vimo_tensor *t = p.mod->param(p.h, i, &nm);
                if (!strstr(nm, ".lora_")) continue;
                g_pad[i] = malloc((size_t)vimo_tensor_numel(t) * sizeof(float));
                memcpy(g_pad[i], vimo_tensor_grad(t), (size_t)vimo_tensor_numel(t) * sizeof(float));
            }
        } else {
            printf("  loss %.9g, padded forward %.9g\n", l, l_pad);
            assert_true(l == l_pad);
            int64_t real_diff = 0, pad_nonzero = 0;
            for (int b = 0; b < B; b++)
                for (int t = 0; t < T; t++)
                    for (int64_t c = 0; c < d; c++) {
                        int64_t i = ((int64_t)b * T + t) * d + c;
                        if (t < k_lens[b]) real_diff += gx[i] != gx_pad[i];
                        else pad_nonzero += gx[i] != 0.0f;
                    }
            printf("  d loss / d x: %lld real values differ, %lld padding values nonzero\n", (long long)real_diff,
                   (long long)pad_nonzero);
            assert_int_equal(real_diff, 0);
            assert_int_equal(pad_nonzero, 0);
            double worst = 0;
            for (int i = 0; i < np; i++) {
                if (!g_pad[i]) continue;
                const char *nm;
                vimo_tensor *t = p.mod->param(p.h, i, &nm);
                double r = llmp_rel(vimo_tensor_grad(t), g_pad[i], vimo_tensor_numel(t), nm);
                if (r > worst) worst = r;
            }
            assert_true(worst < 1e-5);
            /* Central differences of the varlen loss (double-checked in
             * float: eps 1e-2 on inputs of size ~0.5). */
            const float eps = 1e-2f;
            float *xv = vimo_tensor_data(x);
            const int64_t probe[3] = {(0 * T + 3) * d + 5, (2 * T + 50) * d + 17, (5 * T + 60) * d + 63};
            for (int k = 0; k < 3; k++) {
                float keep = xv[probe[k]];
                xv[probe[k]] = keep + eps;
                double lp = varlen_loss(&p, x, rows, tg, n);
                xv[probe[k]] = keep - eps;
                double lm = varlen_loss(&p, x, rows, tg, n);
                xv[probe[k]] = keep;
                double fd = (lp - lm) / (2 * eps), an = gx[probe[k]];
                printf("  x[%lld]: analytic %.6g, finite difference %.6g\n", (long long)probe[k], an, fd);
                assert_true(fabs(an - fd) <= 2e-3 + 2e-2 * fabs(fd));
            }
            vimo_tensor *a = llmp_param(&p, "model.layers.1.self_attn.k_proj.lora_A");
            assert_non_null(a);
            float *av = vimo_tensor_data(a);
            const float *ga = vimo_tensor_grad(a);
            for (int k = 0; k < 2; k++) {
                int64_t j = k * 37 + 3;
                float keep = av[j];
                av[j] = keep + eps;
                double lp = varlen_loss(&p, x, rows, tg, n);
                av[j] = keep - eps;
                double lm = varlen_loss(&p, x, rows, tg, n);
                av[j] = keep;
                double fd = (lp - lm) / (2 * eps);
                printf("  k_proj.lora_A[%lld]: analytic %.6g, finite difference %.6g\n", (long long)j, ga[j], fd);
                assert_true(fabs(ga[j] - fd) <= 2e-3 + 2e-2 * fabs(fd));
            }
        }
        vimo_ctx_free(ctx);
        vimo_tensor_free(x);
    }
    for (int i = 0; i < np; i++) free(g_pad[i]);
    free(g_pad);
    free(gx_pad);
    llmp_free(&p);
}

static void expect_error(const llmp *p, vimo_tensor *x, const int32_t *lens, const int32_t *rows, int n,
                         const char *want)
{
    vimo_ctx *ctx;
    vimo_tensor *y = NULL;
    assert_int_equal(vimo_ctx_new(&ctx), VIMO_OK);
    vimo_status st = p->llm->forward_varlen(p->h, ctx, x, lens, rows, n, NULL, &y);
    printf("  %s\n", vimo_last_error());
    assert_int_equal(st, VIMO_ERR_INVALID);
    assert_non_null(strstr(vimo_last_error(), want));
    vimo_ctx_free(ctx);
}

static void test_errors(void **state)
{
    (void)state;
    llmp p = llmp_model(STORIES);
    vimo_tensor *x = make_x(p.llm->dim(p.h), 0.0f);
    int32_t ok_rows[1] = {0}, lens[B];
    memcpy(lens, k_lens, sizeof lens);
    lens[1] = 0;
    expect_error(&p, x, lens, ok_rows, 1, "lens[1] = 0 outside [1, 130]");
    lens[1] = k_lens[1];
    lens[0] = T + 1;
    expect_error(&p, x, lens, ok_rows, 1, "lens[0] = 131 outside [1, 130]");
    expect_error(&p, x, k_lens, (const int32_t[]){T + 17}, 1, "rows[0] = 147 is not a real position of (8, 130)");
    expect_error(&p, x, k_lens, (const int32_t[]){0, B * T}, 2, "rows[1] = 1040 is not a real position");
    expect_error(&p, x, k_lens, (const int32_t[]){-1}, 1, "rows[0] = -1");
    expect_error(&p, x, k_lens, ok_rows, 0, "n_rows >= 1");
    vimo_tensor_free(x);
    llmp_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logits_match_forward),
        cmocka_unit_test(test_grads_match_forward),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
