/*
 * test_grad_basic.c - finite-difference checks of matmul, bmm, the
 * element-wise ops (with row broadcasting), reductions and view ops.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "gradcheck.h"

#define EPS 1e-2
#define RTOL 2e-2
#define ATOL 2e-3

static vimo_rng g_rng;

static vimo_status f_matmul(vimo_ctx *c, vimo_tensor **in, vimo_tensor **o, void *ud)
{
    (void)ud;
    return vimo_matmul(c, o, in[0], in[1], in[2]);
}
static vimo_status f_matmul_nobias(vimo_ctx *c, vimo_tensor **in, vimo_tensor **o, void *ud)
{
    (void)ud;
    return vimo_matmul(c, o, in[0], in[1], NULL);
}

static void test_matmul(void **state)
{
    (void)state;
    /* 3-D x exercises the batched (B, T, K) form; odd sizes catch stride slips. */
    vimo_tensor *in[3] = {gc_rand(&g_rng, 3, (int64_t[]){2, 5, 7}, 1, 1), gc_rand(&g_rng, 2, (int64_t[]){6, 7}, 1, 1),
                          gc_rand(&g_rng, 1, (int64_t[]){6}, 1, 1)};
    assert_int_equal(gradcheck("matmul", f_matmul, in, 3, NULL, EPS, RTOL, ATOL), 0);
    assert_int_equal(gradcheck("matmul (no bias)", f_matmul_nobias, in, 2, NULL, EPS, RTOL, ATOL), 0);
    for (int i = 0; i < 3; i++) vimo_tensor_free(in[i]);
}

static void test_matmul_values(void **state)
{
    (void)state;
    /* Hand-worked: x = [[1, 2]], W = [[3, 4], [5, 6]], b = [1, -1] -> [12, 16]. */
    vimo_tensor *x, *w, *b, *y;
    vimo_ctx *c;
    vimo_ctx_new(&c);
    vimo_tensor_new2(&x, 1, 2);
    vimo_tensor_new2(&w, 2, 2);
    vimo_tensor_new1(&b, 2);
    vimo_tensor_copy_from(x, (float[]){1, 2}, 2);
    vimo_tensor_copy_from(w, (float[]){3, 4, 5, 6}, 4);
    vimo_tensor_copy_from(b, (float[]){1, -1}, 2);
    assert_int_equal(vimo_matmul(c, &y, x, w, b), VIMO_OK);
    assert_float_equal(vimo_tensor_data(y)[0], 12.0f, 1e-6);
    assert_float_equal(vimo_tensor_data(y)[1], 16.0f, 1e-6);
    vimo_tensor_free(x);
    vimo_tensor_free(w);
    vimo_tensor_free(b);
    vimo_ctx_free(c);
}

static vimo_status f_bmm(vimo_ctx *c, vimo_tensor **in, vimo_tensor **o, void *ud)
{
    (void)ud;
    return vimo_bmm(c, o, in[0], in[1]);
}

static void test_bmm(void **state)
{
    (void)state;
    vimo_tensor *in[2] = {gc_rand(&g_rng, 3, (int64_t[]){3, 4, 5}, 1, 1),
                          gc_rand(&g_rng, 3, (int64_t[]){3, 6, 5}, 1, 1)};
    assert_int_equal(gradcheck("bmm", f_bmm, in, 2, NULL, EPS, RTOL, ATOL), 0);
    vimo_tensor_free(in[0]);
    vimo_tensor_free(in[1]);
}

typedef vimo_status (*binop)(vimo_ctx *, vimo_tensor **, vimo_tensor *, vimo_tensor *);
static vimo_status f_bin(vimo_ctx *c, vimo_tensor **in, vimo_tensor **o, void *ud)
{
    return (*(binop *)ud)(c, o, in[0], in[1]);
}

static void test_binary_broadcast(void **state)
{
    (void)state;
    binop ops[3] = {vimo_add, vimo_sub, vimo_mul};
    const char *names[3] = {"add (row bcast)", "sub (row bcast)", "mul (row bcast)"};
    for (int k = 0; k < 3; k++) {
        vimo_tensor *full[2] = {gc_rand(&g_rng, 3, (int64_t[]){2, 3, 4}, 1, 1),
                                gc_rand(&g_rng, 3, (int64_t[]){2, 3, 4}, 1, 1)};
        vimo_tensor *row[2] = {full[0], gc_rand(&g_rng, 2, (int64_t[]){3, 4}, 1, 1)};
        vimo_tensor *sc[2] = {full[0], gc_rand(&g_rng, 1, (int64_t[]){1}, 1, 1)};
        assert_int_equal(gradcheck(names[k], f_bin, full, 2, &ops[k], EPS, RTOL, ATOL), 0);
        assert_int_equal(gradcheck(names[k], f_bin, row, 2, &ops[k], EPS, RTOL, ATOL), 0);
        assert_int_equal(gradcheck(names[k], f_bin, sc, 2, &ops[k], EPS, RTOL, ATOL), 0);
        vimo_tensor_free(full[0]);
        vimo_tensor_free(full[1]);
        vimo_tensor_free(row[1]);
        vimo_tensor_free(sc[1]);
    }
}

/* Intermediate (context) tensors whose gradient an op writes first: that
 * op overwrites instead of accumulating into a zeroed buffer (matmul with
 * beta = 0, add/sub copying dy); every later writer must accumulate.
 * Backward runs in reverse recording order, so here: matmul is a's first
 * (only) writer; add(t, g) and add(s, m) copy into t, g, s and m; add(h, h)
 * is h's first writer with one tensor on both sides (the second side
 * accumulates); sub then accumulates into m (its first input) and h, and
 * matmul into g (beta = 1). The leaves x, W, b are checked against finite
 * differences through all of it. */
static vimo_status f_first_writers(vimo_ctx *c, vimo_tensor **in, vimo_tensor **o, void *ud)
{
    (void)ud;
    vimo_tensor *h, *g, *m, *s, *a, *t, *u, *v;
    vimo_status st;
    if ((st = vimo_scale(c, &h, in[0], 1.5f)) || (st = vimo_scale(c, &g, in[0], -0.7f)) ||
        (st = vimo_matmul(c, &m, g, in[1], in[2])) || (st = vimo_sub(c, &s, m, h)) || (st = vimo_add(c, &a, h, h)) ||
        (st = vimo_add(c, &t, s, m)) || (st = vimo_add(c, &u, t, g)) || (st = vimo_matmul(c, &v, a, in[1], NULL)))
        return st;
    return vimo_mul(c, o, v, u);
}

static void test_first_writers(void **state)
{
    (void)state;
    vimo_tensor *in[3] = {gc_rand(&g_rng, 3, (int64_t[]){2, 5, 7}, 1, 1), gc_rand(&g_rng, 2, (int64_t[]){7, 7}, 1, 1),
                          gc_rand(&g_rng, 1, (int64_t[]){7}, 1, 1)};
    assert_int_equal(gradcheck("first writers", f_first_writers, in, 3, NULL, EPS, RTOL, ATOL), 0);
    for (int i = 0; i < 3; i++) vimo_tensor_free(in[i]);
}

static vimo_status f_unary(vimo_ctx *c, vimo_tensor **in, vimo_tensor **o, void *ud)
{
    switch (*(int *)ud) {
    case 0: return vimo_scale(c, o, in[0], -1.7f);
    case 1: return vimo_relu(c, o, in[0]);
    case 2: return vimo_silu(c, o, in[0]);
    case 3: return vimo_gelu(c, o, in[0], VIMO_GELU_ERF);
    case 4: return vimo_gelu(c, o, in[0], VIMO_GELU_TANH);
    case 5: return vimo_swiglu(c, o, in[0], in[1]);
    case 6: return vimo_sum(c, o, in[0]);
    case 7: return vimo_mean(c, o, in[0], 1);
    default: return vimo_mean(c, o, in[0], -1);
    }
}

static void test_unary(void **state)
{
    (void)state;
    const char *names[] = {"scale", "relu", "silu", "gelu (erf)", "gelu (tanh)", "swiglu", "sum", "mean (time)",
                           "mean (last)"};
    for (int k = 0; k < 9; k++) {
        vimo_tensor *in[2] = {gc_rand(&g_rng, 3, (int64_t[]){2, 5, 3}, 1, 1),
                              gc_rand(&g_rng, 3, (int64_t[]){2, 5, 3}, 1, 1)};
        if (k == 1) /* keep relu inputs away from the kink at 0 */
            for (int i = 0; i < 30; i++) {
                float *x = vimo_tensor_data(in[0]);
                if (fabsf(x[i]) < 0.05f) x[i] = 0.3f;
            }
        assert_int_equal(gradcheck(names[k], f_unary, in, k == 5 ? 2 : 1, &k, EPS, RTOL, ATOL), 0);
        vimo_tensor_free(in[0]);
        vimo_tensor_free(in[1]);
    }
}

static vimo_status f_views(vimo_ctx *c, vimo_tensor **in, vimo_tensor **o, void *ud)
{
    vimo_tensor *a, *b, *s, *r, *cat[2];
    vimo_status st = VIMO_OK;
    switch (*(int *)ud) {
    case 0: /* permute then a compute op that reads the strided view */
        VIMO_TRY(vimo_permute(c, &a, in[0], (int[]){2, 0, 1}));
        return vimo_scale(c, o, a, 2.0f);
    case 1:
        VIMO_TRY(vimo_slice(c, &s, in[0], 1, 1, 4));
        return vimo_mul(c, o, s, s);
    case 2:
        VIMO_TRY(vimo_reshape(c, &r, in[0], 2, (int64_t[]){-1, 6}));
        VIMO_TRY(vimo_transpose(c, &a, r, 0, 1));
        return vimo_contiguous(c, o, a);
    default:
        VIMO_TRY(vimo_slice(c, &a, in[0], 2, 0, 2));
        cat[0] = a;
        cat[1] = in[1];
        VIMO_TRY(vimo_concat(c, &b, cat, 2, 2));
        return vimo_silu(c, o, b);
    }
fail:
    return st;
}

static void test_views(void **state)
{
    (void)state;
    const char *names[] = {"permute", "slice", "reshape+transpose", "slice+concat"};
    for (int k = 0; k < 4; k++) {
        vimo_tensor *in[2] = {gc_rand(&g_rng, 3, (int64_t[]){2, 5, 3}, 1, 1),
                              gc_rand(&g_rng, 3, (int64_t[]){2, 5, 4}, 1, 1)};
        assert_int_equal(gradcheck(names[k], f_views, in, k == 3 ? 2 : 1, &k, EPS, RTOL, ATOL), 0);
        vimo_tensor_free(in[0]);
        vimo_tensor_free(in[1]);
    }
}

static void test_shape_errors(void **state)
{
    (void)state;
    vimo_ctx *c;
    vimo_ctx_new(&c);
    vimo_tensor *x, *w, *y = (vimo_tensor *)1;
    vimo_tensor_new2(&x, 4, 7);
    vimo_tensor_new2(&w, 8, 5);
    assert_int_equal(vimo_matmul(c, &y, x, w, NULL), VIMO_ERR_SHAPE);
    assert_null(y);
    assert_string_equal(vimo_last_error(), "matmul: x (4, 7) vs W (8, 5): inner dims differ");
    assert_int_equal(vimo_add(c, &y, x, w), VIMO_ERR_SHAPE);
    assert_int_equal(vimo_matmul(NULL, &y, x, w, NULL), VIMO_ERR_INVALID);
    assert_int_equal(vimo_slice(c, &y, x, 1, 5, 9), VIMO_ERR_SHAPE);
    assert_int_equal(vimo_reshape(c, &y, x, 2, (int64_t[]){5, -1}), VIMO_ERR_SHAPE);
    assert_int_equal(vimo_tensor_new(&y, 5, (int64_t[]){1, 1, 1, 1, 1}), VIMO_ERR_SHAPE);
    assert_int_equal(vimo_tensor_new(&y, 2, (int64_t[]){INT64_C(1) << 40, INT64_C(1) << 40}), VIMO_ERR_SHAPE);
    vimo_tensor_free(x);
    vimo_tensor_free(w);
    vimo_ctx_free(c);
}

int main(void)
{
    vimo_init();
    vimo_rng_seed(&g_rng, 42);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_values), cmocka_unit_test(test_matmul), cmocka_unit_test(test_bmm),
        cmocka_unit_test(test_binary_broadcast), cmocka_unit_test(test_first_writers),
        cmocka_unit_test(test_unary), cmocka_unit_test(test_views),
        cmocka_unit_test(test_shape_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
