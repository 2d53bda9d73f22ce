/*
 * test_optim.c - AdamW against two hand-computed steps, parameter groups and
 * the state accessors; clip_grad_norm on a 3-4-12-13 example; the warmup +
 * cosine factor at known steps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "vimo/vimo.h"

static vimo_tensor *param(int64_t n, const float *init)
{
    vimo_tensor *t;
    assert_int_equal(vimo_tensor_new1(&t, n), VIMO_OK);
    assert_int_equal(vimo_tensor_copy_from(t, init, n), VIMO_OK);
    assert_int_equal(vimo_tensor_set_requires_grad(t, 1), VIMO_OK);
    return t;
}

static void set_grad(vimo_tensor *t, const float *g, int n)
{
    memcpy(vimo_tensor_grad(t), g, (size_t)n * sizeof(float));
}

/*
 * AdamW, lr 0.1, wd 0.01, betas (0.9, 0.999), eps 1e-8, p0 = (1, -2, 0.5).
 *
 * Step 1, g = (0.1, -0.2, 0): m = 0.1 g = (0.01, -0.02, 0),
 *   v = 0.001 g^2 = (1e-5, 4e-5, 0); bias corrections 1 - 0.9 = 0.1 and
 *   1 - 0.999 = 0.001 give m^ = g, v^ = g^2, so m^ / (sqrt v^ + eps) =
 *   sign(g) (to 1e-7) and 0 for the zero gradient.
 *   p1 = 0.999 p0 - 0.1 sign(g) = (0.899, -1.898, 0.4995).
 * Step 2, g = (0.3, 0.1, -0.4): m = 0.9 m + 0.1 g = (0.039, -0.008, -0.04),
 *   v = 0.999 v + 0.001 g^2 = (9.999e-5, 4.996e-5, 1.6e-4);
 *   1 - 0.9^2 = 0.19, 1 - 0.999^2 = 0.001999;
 *   m^ = (0.2052632, -0.0421053, -0.2105263),
 *   sqrt(v^) = (0.2236515, 0.1580902, 0.2829135),
 *   ratio = (0.917781, -0.266337, -0.744137);
 *   p2 = 0.999 p1 - 0.1 ratio = (0.8063229, -1.8694683, 0.5734142).
 */
static void test_adamw_two_steps(void **state)
{
    (void)state;
    vimo_tensor *p = param(3, (float[]){1.0f, -2.0f, 0.5f});
    vimo_adamw *opt;
    assert_int_equal(vimo_adamw_new(&opt, NULL), VIMO_OK);
    int g = -1;
    assert_int_equal(vimo_adamw_add_group(opt, &p, 1, 0.1f, 0.01f, &g), VIMO_OK);
    assert_int_equal(g, 0);
    set_grad(p, (float[]){0.1f, -0.2f, 0.0f}, 3);
    assert_int_equal(vimo_adamw_step(opt, 1.0f), VIMO_OK);
    const float *pd = vimo_tensor_data(p);
    assert_float_equal(pd[0], 0.899f, 2e-6);
    assert_float_equal(pd[1], -1.898f, 2e-6);
    assert_float_equal(pd[2], 0.4995f, 2e-6);
    /* Gradients are read, not cleared. */
    assert_true(vimo_tensor_grad(p)[1] == -0.2f);
    set_grad(p, (float[]){0.3f, 0.1f, -0.4f}, 3);
    assert_int_equal(vimo_adamw_step(opt, 1.0f), VIMO_OK);
    assert_float_equal(pd[0], 0.8063229f, 2e-6);
    assert_float_equal(pd[1], -1.8694683f, 2e-6);
    assert_float_equal(pd[2], 0.5734142f, 2e-6);
    assert_int_equal(vimo_adamw_steps(opt), 2);
    /* State accessors (checkpoints). */
    vimo_tensor *pp;
    float *m, *v;
    assert_int_equal(vimo_adamw_moments(opt, 0, 0, &pp, &m, &v), VIMO_OK);
    assert_ptr_equal(pp, p);
    assert_float_equal(m[0], 0.039f, 1e-7);
    assert_float_equal(m[2], -0.04f, 1e-7);
    /* beta2 is the float 0.999f, so 1 - beta2 = 0.00099998713: v sits
     * ~1.3e-5 (relative) below the decimal hand value. */
    assert_float_equal(v[0], 9.999e-5f, 3e-9);
    assert_float_equal(v[1], 4.996e-5f, 3e-9);
    assert_int_equal(vimo_adamw_moments(opt, 0, 1, &pp, &m, &v), VIMO_ERR_INVALID);
    assert_int_equal(vimo_adamw_moments(opt, 1, 0, &pp, &m, &v), VIMO_ERR_INVALID);
    assert_int_equal(vimo_adamw_num_groups(opt), 1);
    assert_int_equal(vimo_adamw_group_size(opt, 0), 1);
    vimo_adamw_set_steps(opt, 7);
    assert_int_equal(vimo_adamw_steps(opt), 7);
    vimo_adamw_zero_grad(opt);
    assert_true(vimo_tensor_grad(p)[0] == 0.0f);
    vimo_adamw_free(opt);
    vimo_tensor_free(p);
}

static void test_adamw_groups(void **state)
{
    (void)state;
    /* Group 0 (lr 0.1, wd 0) and group 1 (lr 0.01, wd 0.5) with lr_scale
     * 0.5: the first step moves every element by lr * scale * sign(g), and
     * group 1 also decays by 1 - 0.005 * 0.5. */
    vimo_tensor *a = param(2, (float[]){1.0f, 1.0f}), *b = param(1, (float[]){2.0f});
    vimo_adamw *opt;
    vimo_adamw_config cfg = {0.8f, 0.99f, 1e-8f};
    assert_int_equal(vimo_adamw_new(&opt, &cfg), VIMO_OK);
    int g0, g1;
    assert_int_equal(vimo_adamw_add_group(opt, &a, 1, 0.1f, 0.0f, &g0), VIMO_OK);
    assert_int_equal(vimo_adamw_add_group(opt, &b, 1, 0.01f, 0.5f, &g1), VIMO_OK);
    assert_int_equal(g1, 1);
    set_grad(a, (float[]){1.0f, -3.0f}, 2);
    set_grad(b, (float[]){0.2f}, 1);
    assert_int_equal(vimo_adamw_step(opt, 0.5f), VIMO_OK);
    assert_float_equal(vimo_tensor_data(a)[0], 0.95f, 1e-6);
    assert_float_equal(vimo_tensor_data(a)[1], 1.05f, 1e-6);
    assert_float_equal(vimo_tensor_data(b)[0], 2.0f * (1.0f - 0.0025f) - 0.005f, 1e-6);
    /* Freezing b after it was added: no update, no decay (its grad is kept). */
    vimo_tensor_set_requires_grad(b, 0);
    float b_before = vimo_tensor_data(b)[0];
    assert_int_equal(vimo_adamw_step(opt, 0.5f), VIMO_OK);
    assert_true(vimo_tensor_data(b)[0] == b_before);
    assert_true(vimo_tensor_data(a)[0] != 0.95f);
    vimo_adamw_free(opt);
    vimo_tensor_free(a);
    vimo_tensor_free(b);
}

static void test_adamw_errors(void **state)
{
    (void)state;
    vimo_adamw *opt;
    assert_int_equal(vimo_adamw_new(NULL, NULL), VIMO_ERR_INVALID);
    assert_int_equal(vimo_adamw_new(&opt, &(vimo_adamw_config){1.0f, 0.999f, 1e-8f}), VIMO_ERR_INVALID);
    assert_int_equal(vimo_adamw_new(&opt, NULL), VIMO_OK);
    vimo_tensor *frozen;
    vimo_tensor_new1(&frozen, 4);
    assert_int_equal(vimo_adamw_add_group(opt, &frozen, 1, 0.1f, 0.0f, NULL), VIMO_ERR_STATE);
    assert_non_null(strstr(vimo_last_error(), "no gradient buffer"));
    assert_int_equal(vimo_adamw_add_group(opt, NULL, 1, 0.1f, 0.0f, NULL), VIMO_ERR_INVALID);
    vimo_tensor_set_requires_grad(frozen, 1);
    assert_int_equal(vimo_adamw_add_group(opt, &frozen, 1, -1.0f, 0.0f, NULL), VIMO_ERR_INVALID);
    assert_int_equal(vimo_adamw_num_groups(opt), 0);
    assert_int_equal(vimo_adamw_step(opt, NAN), VIMO_ERR_INVALID);
    assert_int_equal(vimo_adamw_step(NULL, 1.0f), VIMO_ERR_INVALID);
    vimo_adamw_free(opt);
    vimo_adamw_free(NULL);
    vimo_tensor_free(frozen);
}

static void test_clip_grad_norm(void **state)
{
    (void)state;
    /* Grads (3, 4) and (12): global norm sqrt(9 + 16 + 144) = 13. Clipping
     * to 6.5 scales by 6.5 / (13 + 1e-6) ~ 0.5. */
    vimo_tensor *a = param(2, (float[]){0, 0}), *b = param(1, (float[]){0}), *ps[2] = {a, b};
    set_grad(a, (float[]){3, 4}, 2);
    set_grad(b, (float[]){12}, 1);
    float norm = 0;
    assert_int_equal(vimo_clip_grad_norm(ps, 2, 100.0f, &norm), VIMO_OK);
    assert_float_equal(norm, 13.0f, 1e-6);
    assert_true(vimo_tensor_grad(a)[0] == 3.0f); /* under the limit: untouched */
    assert_int_equal(vimo_clip_grad_norm(ps, 2, 6.5f, &norm), VIMO_OK);
    assert_float_equal(norm, 13.0f, 1e-6);
    assert_float_equal(vimo_tensor_grad(a)[0], 1.5f, 1e-6);
    assert_float_equal(vimo_tensor_grad(a)[1], 2.0f, 1e-6);
    assert_float_equal(vimo_tensor_grad(b)[0], 6.0f, 1e-6);
    /* A frozen tensor is not part of the norm: (1.5, 2) -> 2.5. */
    vimo_tensor_set_requires_grad(b, 0);
    assert_int_equal(vimo_clip_grad_norm(ps, 2, 100.0f, &norm), VIMO_OK);
    assert_float_equal(norm, 2.5f, 1e-6);
    vimo_tensor_set_requires_grad(b, 1);
    assert_int_equal(vimo_clip_grad_norm(ps, 2, 0.0f, &norm), VIMO_ERR_INVALID);
    assert_int_equal(vimo_clip_grad_norm(NULL, 2, 1.0f, &norm), VIMO_ERR_INVALID);
    /* A large tensor spans many fixed chunks: norm of 10000 ones is 100. */
    vimo_tensor *big;
    vimo_tensor_new1(&big, 10000);
    vimo_tensor_set_requires_grad(big, 1);
    for (int i = 0; i < 10000; i++) vimo_tensor_grad(big)[i] = 1.0f;
    assert_int_equal(vimo_clip_grad_norm(&big, 1, 1e9f, &norm), VIMO_OK);
    assert_float_equal(norm, 100.0f, 1e-4);
    vimo_tensor_free(big);
    vimo_tensor_free(a);
    vimo_tensor_free(b);
}

static void test_warmup_cosine(void **state)
{
    (void)state;
    /* warmup 10, total 110, floor 0.1: linear 0 -> 1 over steps 0..10, then
     * 0.1 + 0.9 * (1 + cos(pi * (step - 10) / 100)) / 2. */
    assert_float_equal(vimo_lr_warmup_cosine(0, 10, 110, 0.1f), 0.0f, 1e-7);
    assert_float_equal(vimo_lr_warmup_cosine(5, 10, 110, 0.1f), 0.5f, 1e-7);
    assert_float_equal(vimo_lr_warmup_cosine(10, 10, 110, 0.1f), 1.0f, 1e-7);
    assert_float_equal(vimo_lr_warmup_cosine(35, 10, 110, 0.1f), 0.8681981f, 1e-6); /* cos(pi/4) */
    assert_float_equal(vimo_lr_warmup_cosine(60, 10, 110, 0.1f), 0.55f, 1e-6);      /* cos(pi/2) */
    assert_float_equal(vimo_lr_warmup_cosine(110, 10, 110, 0.1f), 0.1f, 1e-7);
    assert_float_equal(vimo_lr_warmup_cosine(1000, 10, 110, 0.1f), 0.1f, 1e-7);
    /* No warmup, no floor: plain cosine from 1 to 0. */
    assert_float_equal(vimo_lr_warmup_cosine(0, 0, 100, 0.0f), 1.0f, 1e-7);
    assert_float_equal(vimo_lr_warmup_cosine(50, 0, 100, 0.0f), 0.5f, 1e-6);
}

int main(void)
{
    vimo_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adamw_two_steps), cmocka_unit_test(test_adamw_groups),
        cmocka_unit_test(test_adamw_errors),    cmocka_unit_test(test_clip_grad_norm),
        cmocka_unit_test(test_warmup_cosine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
