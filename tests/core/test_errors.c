/*
 * test_errors.c - the failure contract of the ops in ops_norm.c, ops_nn.c,
 * ops_attention.c and ops_conv.c: bad shapes give VIMO_ERR_SHAPE with a
 * message naming the op and the shapes, NULL arguments and out-of-range
 * values give VIMO_ERR_INVALID, *out is NULL after any failure, and nothing
 * crashes on hostile sizes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "vimo/vimo.h"

#define SHAPE(...) (int64_t[]){__VA_ARGS__}

static vimo_ctx *g_ctx;

static vimo_tensor *T(int ndim, const int64_t *shape)
{
    vimo_tensor *t = NULL;
    assert_int_equal(vimo_tensor_new(&t, ndim, shape), VIMO_OK);
    return t;
}

/* Expects status st, *out reset to NULL, and every needle in the message. */
#define EXPECT(call, st, out, ...)                                                          \
    do {                                                                                    \
        out = (vimo_tensor *)0x1;                                                           \
        assert_int_equal((call), (st));                                                     \
        assert_null(out);                                                                   \
        const char *needles[] = {__VA_ARGS__};                                              \
        for (size_t i_ = 0; i_ < sizeof needles / sizeof *needles; i_++) {                  \
            if (!strstr(vimo_last_error(), needles[i_]))                                    \
                fail_msg("message \"%s\" lacks \"%s\"", vimo_last_error(), needles[i_]);   \
        }                                                                                   \
    } while (0)

static void test_norm_errors(void **state)
{
    (void)state;
    vimo_tensor *x = T(2, SHAPE(2, 5)), *w4 = T(1, SHAPE(4)), *w5 = T(1, SHAPE(5)), *w2d = T(2, SHAPE(1, 5)), *y;
    EXPECT(vimo_rmsnorm(g_ctx, &y, x, w4, 1e-5f), VIMO_ERR_SHAPE, y, "rmsnorm: x (2, 5) vs w (4", "w must be (5,)");
    EXPECT(vimo_rmsnorm(g_ctx, &y, x, w2d, 1e-5f), VIMO_ERR_SHAPE, y, "rmsnorm", "(1, 5)");
    EXPECT(vimo_rmsnorm(g_ctx, &y, x, w5, -1.0f), VIMO_ERR_INVALID, y, "rmsnorm", "eps");
    EXPECT(vimo_rmsnorm(g_ctx, &y, NULL, w5, 1e-5f), VIMO_ERR_INVALID, y, "rmsnorm");
    EXPECT(vimo_rmsnorm(g_ctx, &y, x, NULL, 1e-5f), VIMO_ERR_INVALID, y, "rmsnorm");
    EXPECT(vimo_layernorm(g_ctx, &y, x, w5, w4, 1e-5f), VIMO_ERR_SHAPE, y, "layernorm: x (2, 5) vs b (4");
    EXPECT(vimo_layernorm(g_ctx, &y, x, w4, NULL, 1e-5f), VIMO_ERR_SHAPE, y, "layernorm", "w (4");
    EXPECT(vimo_layernorm(g_ctx, &y, x, w5, NULL, NAN), VIMO_ERR_INVALID, y, "layernorm", "eps");
    EXPECT(vimo_softmax(g_ctx, &y, NULL), VIMO_ERR_INVALID, y, "softmax");
    assert_int_equal(vimo_softmax(NULL, &y, x), VIMO_ERR_INVALID);
    assert_int_equal(vimo_softmax(g_ctx, NULL, x), VIMO_ERR_INVALID);
    assert_int_equal(vimo_rmsnorm(NULL, &y, x, w5, 1e-5f), VIMO_ERR_INVALID);
    vimo_tensor_free(x);
    vimo_tensor_free(w4);
    vimo_tensor_free(w5);
    vimo_tensor_free(w2d);
}

static void test_embedding_errors(void **state)
{
    (void)state;
    vimo_tensor *tab = T(2, SHAPE(6, 3)), *flat = T(1, SHAPE(6)), *y;
    int32_t ids[4] = {0, 5, 6, 1}, neg[2] = {0, -1};
    EXPECT(vimo_embedding(g_ctx, &y, tab, ids, 1, SHAPE(4)), VIMO_ERR_INVALID, y, "embedding: ids[2] = 6",
           "[0, 6)");
    EXPECT(vimo_embedding(g_ctx, &y, tab, neg, 1, SHAPE(2)), VIMO_ERR_INVALID, y, "ids[1] = -1");
    EXPECT(vimo_embedding(g_ctx, &y, flat, ids, 1, SHAPE(2)), VIMO_ERR_SHAPE, y, "embedding: table (6");
    EXPECT(vimo_embedding(g_ctx, &y, tab, ids, 0, SHAPE(2)), VIMO_ERR_SHAPE, y, "embedding", "0 dims");
    EXPECT(vimo_embedding(g_ctx, &y, tab, ids, 4, SHAPE(1, 1, 1, 2)), VIMO_ERR_SHAPE, y, "embedding", "4 dims");
    EXPECT(vimo_embedding(g_ctx, &y, tab, ids, 1, SHAPE(0)), VIMO_ERR_SHAPE, y, "embedding", "size 0");
    EXPECT(vimo_embedding(g_ctx, &y, tab, ids, 3, SHAPE(INT64_C(1) << 30, INT64_C(1) << 30, 4)), VIMO_ERR_NOMEM, y,
           "embedding", "too large");
    EXPECT(vimo_embedding(g_ctx, &y, tab, NULL, 1, SHAPE(2)), VIMO_ERR_INVALID, y, "embedding");
    EXPECT(vimo_embedding(g_ctx, &y, NULL, ids, 1, SHAPE(2)), VIMO_ERR_INVALID, y, "embedding");
    vimo_tensor_free(tab);
    vimo_tensor_free(flat);
}

static void test_rope_errors(void **state)
{
    (void)state;
    vimo_tensor *x3 = T(3, SHAPE(2, 3, 4)), *odd = T(4, SHAPE(1, 2, 2, 5)), *x = T(4, SHAPE(1, 2, 2, 4)), *y;
    EXPECT(vimo_rope(g_ctx, &y, x3, 1e4f, 0, VIMO_ROPE_HALF), VIMO_ERR_SHAPE, y, "rope: x (2, 3, 4)");
    EXPECT(vimo_rope(g_ctx, &y, odd, 1e4f, 0, VIMO_ROPE_HALF), VIMO_ERR_SHAPE, y, "rope: x (1, 2, 2, 5)", "even");
    EXPECT(vimo_rope(g_ctx, &y, x, 0.0f, 0, VIMO_ROPE_HALF), VIMO_ERR_INVALID, y, "rope", "theta");
    EXPECT(vimo_rope(g_ctx, &y, x, 1e4f, -1, VIMO_ROPE_HALF), VIMO_ERR_INVALID, y, "rope", "positions");
    EXPECT(vimo_rope(g_ctx, &y, x, 1e4f, INT64_MAX, VIMO_ROPE_HALF), VIMO_ERR_INVALID, y, "rope", "positions");
    EXPECT(vimo_rope(g_ctx, &y, x, 1e4f, 0, (vimo_rope_mode)7), VIMO_ERR_INVALID, y, "rope", "mode 7");
    EXPECT(vimo_rope(g_ctx, &y, NULL, 1e4f, 0, VIMO_ROPE_HALF), VIMO_ERR_INVALID, y, "rope");
    vimo_tensor_free(x3);
    vimo_tensor_free(odd);
    vimo_tensor_free(x);
}

static void test_attention_errors(void **state)
{
    (void)state;
    vimo_tensor *q = T(4, SHAPE(2, 3, 4, 8)), *k3 = T(4, SHAPE(2, 5, 3, 8)), *k = T(4, SHAPE(2, 5, 2, 8));
    vimo_tensor *kdh = T(4, SHAPE(2, 5, 2, 6)), *v4 = T(4, SHAPE(2, 4, 2, 8)), *kb = T(4, SHAPE(1, 5, 2, 8));
    vimo_tensor *q3 = T(3, SHAPE(2, 3, 32)), *y;
    EXPECT(vimo_attention(g_ctx, &y, q, k3, k3, NULL, 1, 0.3f), VIMO_ERR_SHAPE, y,
           "attention: q (2, 3, 4, 8), k (2, 5, 3, 8), v (2, 5, 3, 8)", "Hq % Hkv");
    EXPECT(vimo_attention(g_ctx, &y, q, kdh, kdh, NULL, 1, 0.3f), VIMO_ERR_SHAPE, y, "attention", "(2, 5, 2, 6)");
    EXPECT(vimo_attention(g_ctx, &y, q, k, v4, NULL, 1, 0.3f), VIMO_ERR_SHAPE, y, "attention", "v (2, 4, 2, 8)");
    EXPECT(vimo_attention(g_ctx, &y, q, kb, kb, NULL, 1, 0.3f), VIMO_ERR_SHAPE, y, "attention", "k (1, 5, 2, 8)");
    EXPECT(vimo_attention(g_ctx, &y, q3, k, k, NULL, 1, 0.3f), VIMO_ERR_SHAPE, y, "attention", "q (2, 3, 32)");
    EXPECT(vimo_attention(g_ctx, &y, q, k, k, NULL, 1, NAN), VIMO_ERR_INVALID, y, "attention", "scale");
    EXPECT(vimo_attention(g_ctx, &y, q, NULL, k, NULL, 1, 0.3f), VIMO_ERR_INVALID, y, "attention");
    assert_int_equal(vimo_attention(g_ctx, &y, q, k, k, NULL, 1, 0.3f), VIMO_OK); /* the good call works */
    vimo_tensor *all[] = {q, k3, k, kdh, v4, kb, q3};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) vimo_tensor_free(all[i]);
}

static void test_conv_errors(void **state)
{
    (void)state;
    vimo_tensor *x = T(3, SHAPE(2, 3, 10)), *w = T(3, SHAPE(4, 3, 3)), *wc = T(3, SHAPE(4, 2, 3));
    vimo_tensor *wbig = T(3, SHAPE(4, 3, 12)), *b5 = T(1, SHAPE(5)), *x4 = T(4, SHAPE(1, 3, 5, 5));
    vimo_tensor *w4 = T(4, SHAPE(2, 3, 7, 3)), *y;
    EXPECT(vimo_conv1d(g_ctx, &y, x, wc, NULL, 1, 0, 1), VIMO_ERR_SHAPE, y, "conv1d: x (2, 3, 10) vs w (4, 2, 3)");
    EXPECT(vimo_conv1d(g_ctx, &y, x, wbig, NULL, 1, 0, 1), VIMO_ERR_SHAPE, y, "conv1d", "(4, 3, 12)", "no output");
    EXPECT(vimo_conv1d(g_ctx, &y, x, w, NULL, 1, 0, 5), VIMO_ERR_SHAPE, y, "conv1d", "dilation 5", "no output");
    EXPECT(vimo_conv1d(g_ctx, &y, x, w, b5, 1, 0, 1), VIMO_ERR_SHAPE, y, "conv1d: bias (5");
    EXPECT(vimo_conv1d(g_ctx, &y, x, w, NULL, 0, 0, 1), VIMO_ERR_INVALID, y, "conv1d", "stride 0");
    EXPECT(vimo_conv1d(g_ctx, &y, x, w, NULL, 1, -1, 1), VIMO_ERR_INVALID, y, "conv1d", "pad -1");
    EXPECT(vimo_conv1d(g_ctx, &y, x, w, NULL, 1, 0, 0), VIMO_ERR_INVALID, y, "conv1d", "dilation 0");
    EXPECT(vimo_conv1d(g_ctx, &y, x, w, NULL, 1, 2000000000, 1), VIMO_ERR_INVALID, y, "conv1d");
    EXPECT(vimo_conv1d(g_ctx, &y, x4, w, NULL, 1, 0, 1), VIMO_ERR_SHAPE, y, "conv1d", "(1, 3, 5, 5)");
    EXPECT(vimo_conv1d(g_ctx, &y, NULL, w, NULL, 1, 0, 1), VIMO_ERR_INVALID, y, "conv1d");
    EXPECT(vimo_conv2d(g_ctx, &y, x4, w4, NULL, 1, 0), VIMO_ERR_SHAPE, y, "conv2d: x (1, 3, 5, 5) with w (2, 3, 7, 3)");
    EXPECT(vimo_conv2d(g_ctx, &y, x, w4, NULL, 1, 0), VIMO_ERR_SHAPE, y, "conv2d: x (2, 3, 10) vs w (2, 3, 7, 3)");
    EXPECT(vimo_conv2d(g_ctx, &y, x4, w4, b5, 1, 2), VIMO_ERR_SHAPE, y, "conv2d: bias (5");
    EXPECT(vimo_conv2d(g_ctx, &y, x4, w4, NULL, 0, 1), VIMO_ERR_INVALID, y, "conv2d", "stride 0");
    /* Padding makes a kernel larger than the input valid (PyTorch agrees). */
    assert_int_equal(vimo_conv2d(g_ctx, &y, x4, w4, NULL, 1, 1), VIMO_OK);
    assert_int_equal(vimo_tensor_dim(y, 2), 1);
    vimo_tensor *all[] = {x, w, wc, wbig, b5, x4, w4};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) vimo_tensor_free(all[i]);
}

static void test_loss_and_dropout_errors(void **state)
{
    (void)state;
    vimo_tensor *lg = T(2, SHAPE(3, 4)), *a = T(2, SHAPE(3, 4)), *b = T(2, SHAPE(4, 3)), *y;
    vimo_rng r;
    vimo_rng_seed(&r, 1);
    EXPECT(vimo_cross_entropy(g_ctx, &y, lg, (int32_t[]){0, 4, 1}, -100), VIMO_ERR_INVALID, y,
           "cross_entropy: targets[1] = 4 outside [0, 4) of logits (3, 4)");
    EXPECT(vimo_cross_entropy(g_ctx, &y, lg, (int32_t[]){0, -5, 1}, -100), VIMO_ERR_INVALID, y, "targets[1] = -5");
    EXPECT(vimo_cross_entropy(g_ctx, &y, lg, NULL, -100), VIMO_ERR_INVALID, y, "cross_entropy");
    EXPECT(vimo_mse(g_ctx, &y, a, b), VIMO_ERR_SHAPE, y, "mse: a (3, 4) vs b (4, 3)");
    EXPECT(vimo_mse(g_ctx, &y, a, NULL), VIMO_ERR_INVALID, y, "mse");
    EXPECT(vimo_dropout(g_ctx, &y, a, 1.0f, &r), VIMO_ERR_INVALID, y, "dropout: p 1");
    EXPECT(vimo_dropout(g_ctx, &y, a, NAN, &r), VIMO_ERR_INVALID, y, "dropout");
    EXPECT(vimo_dropout(g_ctx, &y, NULL, 0.5f, &r), VIMO_ERR_INVALID, y, "dropout");
    vimo_tensor_free(lg);
    vimo_tensor_free(a);
    vimo_tensor_free(b);
}

static int setup(void **state)
{
    (void)state;
    return vimo_ctx_new(&g_ctx) == VIMO_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    vimo_ctx_free(g_ctx);
    return 0;
}

int main(void)
{
    vimo_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_norm_errors),      cmocka_unit_test(test_embedding_errors),
        cmocka_unit_test(test_rope_errors),      cmocka_unit_test(test_attention_errors),
        cmocka_unit_test(test_conv_errors),      cmocka_unit_test(test_loss_and_dropout_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
