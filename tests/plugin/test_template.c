/*
 * test_template.c - plugins/template ("encoder.template") through the
 * loader, as a newcomer's copy would be used:
 *   - forward against a plain double-precision reference written here
 *     (linear, erf GELU, window mean, linear; trailing frames dropped);
 *   - gradients of every parameter against central finite differences;
 *   - 150 AdamW steps (dropout on) on a regression target cut the eval loss
 *     5x (it trains);
 *   - bad options and bad input shapes give errors naming the plugin.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vimo/encoder.h"
#include "vimo/vimo.h"

enum { B = 2, T = 7, F = 5, D = 3, P = 3, N = T / P };

static vimo_instance *g_inst;
static void *g_h;
static const vimo_encoder_iface *g_enc;
static const vimo_module_iface *g_mod;
static vimo_tensor *g_x;
static vimo_rng g_rng;

static vimo_tensor *param(int i) { return g_mod->param(g_h, i, NULL); }

static int setup(void **state)
{
    (void)state;
    const vimo_plugin_desc *d = NULL;
    vimo_options *o = NULL;
    if (vimo_plugin_find("encoder.template", &d) != VIMO_OK) {
        fprintf(stderr, "test_template: %s\n", vimo_last_error());
        return -1;
    }
    char buf[4][16];
    snprintf(buf[0], 16, "%d", F), snprintf(buf[1], 16, "%d", D), snprintf(buf[2], 16, "%d", P);
    if (vimo_options_new(&o, d) || vimo_options_set(o, "in_dim", buf[0]) || vimo_options_set(o, "dim", buf[1]) ||
        vimo_options_set(o, "pool", buf[2]) || vimo_options_set(o, "dropout", "0.1") ||
        vimo_instance_new(&g_inst, "encoder.template", o))
        return -1;
    vimo_options_free(o);
    g_h = vimo_instance_handle(g_inst);
    g_enc = vimo_instance_iface(g_inst, VIMO_IFACE_ENCODER);
    g_mod = vimo_instance_iface(g_inst, VIMO_IFACE_MODULE);
    if (!g_enc || !g_mod) return -1;
    g_mod->set_train(g_h, 0); /* eval: no dropout, deterministic */
    vimo_rng_seed(&g_rng, 11);
    if (vimo_tensor_new3(&g_x, B, T, F)) return -1;
    vimo_rng_fill_normal(&g_rng, vimo_tensor_data(g_x), B * T * F, 1.0f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vimo_tensor_free(g_x);
    vimo_instance_free(g_inst);
    return 0;
}

/* The encoder written out in double with plain loops. */
static void reference(double out[B][N][D])
{
    const float *x = vimo_tensor_data(g_x), *w1 = vimo_tensor_data(param(0)), *b1 = vimo_tensor_data(param(1)),
                *w2 = vimo_tensor_data(param(2)), *b2 = vimo_tensor_data(param(3));
    for (int b = 0; b < B; b++)
        for (int n = 0; n < N; n++) {
            double pooled[D] = {0};
            for (int t = n * P; t < (n + 1) * P; t++)
                for (int j = 0; j < D; j++) {
                    double h = b1[j];
                    for (int k = 0; k < F; k++) h += (double)x[(b * T + t) * F + k] * w1[j * F + k];
                    pooled[j] += 0.5 * h * (1.0 + erf(h / sqrt(2.0))) / P;
                }
            for (int j = 0; j < D; j++) {
                double y = b2[j];
                for (int k = 0; k < D; k++) y += pooled[k] * w2[j * D + k];
                out[b][n][j] = y;
            }
        }
}

static void test_names_and_forward(void **state)
{
    (void)state;
    static const char *names[] = {"proj_in.weight", "proj_in.bias", "proj_out.weight", "proj_out.bias"};
    assert_int_equal(g_mod->num_params(g_h), 4);
    for (int i = 0; i < 4; i++) {
        const char *nm = NULL;
        g_mod->param(g_h, i, &nm);
        assert_string_equal(nm, names[i]);
    }
    assert_string_equal(g_enc->modality, "motion");
    assert_int_equal(g_enc->out_dim(g_h), D);
    vimo_ctx *ctx = NULL;
    vimo_tensor *y = NULL;
    double ref[B][N][D];
    assert_int_equal(vimo_ctx_new(&ctx), VIMO_OK);
    assert_int_equal(g_enc->forward(g_h, ctx, g_x, B, NULL, &y), VIMO_OK);
    assert_int_equal(vimo_tensor_ndim(y), 3);
    assert_int_equal(vimo_tensor_dim(y, 1), N);
    reference(ref);
    float out[B * N * D];
    assert_int_equal(vimo_tensor_copy_to(y, out, B * N * D), VIMO_OK);
    double maxd = 0;
    for (int i = 0; i < B * N * D; i++) maxd = fmax(maxd, fabs(out[i] - ((double *)ref)[i]));
    print_message("forward vs double reference: max |diff| %.3g\n", maxd);
    assert_true(maxd < 1e-5);
    vimo_ctx_free(ctx);
}

/* loss = sum(tokens * R) with a fixed random R. */
static double loss_of(vimo_ctx *ctx, const float *r, int backward)
{
    vimo_tensor *y = NULL, *rt = NULL, *prod = NULL, *loss = NULL;
    vimo_ctx_reset(ctx);
    assert_int_equal(g_enc->forward(g_h, ctx, g_x, B, NULL, &y), VIMO_OK);
    assert_int_equal(vimo_ctx_tensor(ctx, &rt, 3, (int64_t[]){B, N, D}), VIMO_OK);
    assert_int_equal(vimo_tensor_copy_from(rt, r, B * N * D), VIMO_OK);
    assert_int_equal(vimo_mul(ctx, &prod, y, rt), VIMO_OK);
    assert_int_equal(vimo_sum(ctx, &loss, prod), VIMO_OK);
    if (backward) assert_int_equal(vimo_backward(ctx, loss), VIMO_OK);
    return vimo_tensor_data(loss)[0];
}

static void test_gradients(void **state)
{
    (void)state;
    vimo_ctx *ctx = NULL;
    float r[B * N * D];
    vimo_rng_fill_normal(&g_rng, r, B * N * D, 1.0f);
    assert_int_equal(vimo_ctx_new(&ctx), VIMO_OK);
    for (int i = 0; i < 4; i++) vimo_tensor_zero_grad(param(i));
    loss_of(ctx, r, 1);
    double worst = 0;
    for (int i = 0; i < 4; i++) {
        vimo_tensor *p = param(i);
        float *w = vimo_tensor_data(p), *g = vimo_tensor_grad(p);
        assert_non_null(g);
        for (int64_t k = 0; k < vimo_tensor_numel(p); k++) {
            const float eps = 1e-2f, keep = w[k];
            w[k] = keep + eps;
            double up = loss_of(ctx, r, 0);
            w[k] = keep - eps;
            double down = loss_of(ctx, r, 0);
            w[k] = keep;
            double fd = (up - down) / (2 * eps), err = fabs(fd - g[k]) / (1e-2 + fabs(fd));
            worst = fmax(worst, err);
        }
    }
    print_message("gradients vs central differences: worst relative error %.3g\n", worst);
    assert_true(worst < 2e-2);
    vimo_ctx_free(ctx);
}

static void test_it_trains(void **state)
{
    (void)state;
    vimo_ctx *ctx = NULL;
    vimo_adamw *opt = NULL;
    vimo_tensor *target = NULL, *params[4];
    for (int i = 0; i < 4; i++) params[i] = param(i);
    assert_int_equal(vimo_ctx_new(&ctx), VIMO_OK);
    assert_int_equal(vimo_adamw_new(&opt, NULL), VIMO_OK);
    assert_int_equal(vimo_adamw_add_group(opt, params, 4, 3e-2f, 0.0f, NULL), VIMO_OK);
    assert_int_equal(vimo_tensor_new3(&target, B, N, D), VIMO_OK);
    vimo_rng_fill_normal(&g_rng, vimo_tensor_data(target), B * N * D, 1.0f);
    g_mod->set_train(g_h, 1); /* dropout 0.1 on, from the rng */
    double first = 0, last = 0;
    for (int step = 0; step < 150; step++) {
        vimo_tensor *y = NULL, *loss = NULL;
        vimo_ctx_reset(ctx);
        vimo_adamw_zero_grad(opt);
        assert_int_equal(g_enc->forward(g_h, ctx, g_x, B, &g_rng, &y), VIMO_OK);
        assert_int_equal(vimo_mse(ctx, &loss, y, target), VIMO_OK);
        if (step == 0) first = vimo_tensor_data(loss)[0];
        assert_int_equal(vimo_backward(ctx, loss), VIMO_OK);
        assert_int_equal(vimo_adamw_step(opt, 1.0f), VIMO_OK);
    }
    g_mod->set_train(g_h, 0);
    vimo_tensor *y = NULL, *loss = NULL;
    vimo_ctx_reset(ctx);
    assert_int_equal(g_enc->forward(g_h, ctx, g_x, B, NULL, &y), VIMO_OK);
    assert_int_equal(vimo_mse(ctx, &loss, y, target), VIMO_OK);
    last = vimo_tensor_data(loss)[0];
    print_message("training: MSE %.4f -> %.4f (eval) after 150 AdamW steps\n", first, last);
    assert_true(last < first / 5);
    vimo_tensor_free(target);
    vimo_adamw_free(opt);
    vimo_ctx_free(ctx);
}

static void test_errors(void **state)
{
    (void)state;
    vimo_ctx *ctx = NULL;
    vimo_tensor *bad = NULL, *y = NULL;
    assert_int_equal(vimo_ctx_new(&ctx), VIMO_OK);
    assert_int_equal(vimo_tensor_new3(&bad, B, T, F + 1), VIMO_OK);
    assert_int_equal(g_enc->forward(g_h, ctx, bad, B, NULL, &y), VIMO_ERR_SHAPE);
    assert_non_null(strstr(vimo_last_error(), "encoder.template: x must be (B=2, T>=3, F=5)"));
    vimo_tensor_free(bad);
    vimo_ctx_free(ctx);
    const vimo_plugin_desc *d = NULL;
    vimo_options *o = NULL;
    vimo_instance *inst = NULL;
    assert_int_equal(vimo_plugin_find("encoder.template", &d), VIMO_OK);
    assert_int_equal(vimo_options_new(&o, d), VIMO_OK);
    assert_int_equal(vimo_options_set(o, "pool", "0"), VIMO_OK);
    assert_int_equal(vimo_instance_new(&inst, "encoder.template", o), VIMO_ERR_INVALID);
    assert_non_null(strstr(vimo_last_error(), "encoder.template: "));
    assert_int_equal(vimo_options_set(o, "pool", "four"), VIMO_ERR_INVALID);
    vimo_options_free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_names_and_forward), cmocka_unit_test(test_gradients),
                                       cmocka_unit_test(test_it_trains), cmocka_unit_test(test_errors)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
