/*
 * test_determinism.c - a training run is a function of its seed alone.
 *
 * A one-block transformer (toy_model.h: embedding, RMSNorm, RoPE, GQA
 * attention with key padding, SwiGLU MLP, dropout on, tied head,
 * cross-entropy) trains for a few AdamW steps with gradient clipping. Sizes
 * are chosen so every op takes its OpenMP path. The loss sequence and the
 * final parameters must be bit-identical:
 *   - across two runs with the same seed,
 *   - across thread counts 1, 2, and where the machine has more cores, 3
 *     (uneven splits) and all of them (more threads than cores would only
 *     measure spin-waiting),
 * and a different seed must give a different run (the test can fail).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "toy_model.h"

enum { STEPS = 6, B = 8, T = 40, V = 200 };

typedef struct run_out {
    float loss[STEPS];
    float *params; /* every parameter, concatenated */
    int64_t n;
} run_out;

static void train(uint64_t seed, int threads, run_out *out)
{
    vimo_set_num_threads(threads);
    vimo_rng r, data, drop;
    vimo_rng_seed(&r, seed);
    vimo_rng_seed(&data, seed + 1);
    vimo_rng_seed(&drop, seed + 2);
    toy_tf m;
    toy_tf_init(&m, V, 128, 4, 2, 256, &r);
    vimo_adamw *opt;
    vimo_ctx *c;
    vimo_ctx_new(&c);
    assert_int_equal(vimo_adamw_new(&opt, NULL), VIMO_OK);
    assert_int_equal(vimo_adamw_add_group(opt, m.params, 11, 3e-3f, 0.01f, NULL), VIMO_OK);
    static int32_t ids[B * T], tg[B * T];
    static uint8_t mask[B * T];
    /* One fixed batch (memorised, so the loss falls); dropout differs per step. */
    for (int i = 0; i < B * T; i++) {
        ids[i] = (int32_t)vimo_rng_below(&data, V);
        tg[i] = i % T < 3 ? -100 : (int32_t)vimo_rng_below(&data, V);
        mask[i] = (i / T) % 3 != 2 || i % T < T - 7; /* every third row padded at the end */
    }
    for (int step = 0; step < STEPS; step++) {
        vimo_tensor *loss;
        vimo_ctx_reset(c);
        vimo_adamw_zero_grad(opt);
        assert_int_equal(toy_tf_loss(c, &m, ids, tg, B, T, mask, 0.1f, &drop, &loss), VIMO_OK);
        assert_int_equal(vimo_backward(c, loss), VIMO_OK);
        assert_int_equal(vimo_clip_grad_norm(m.params, 11, 1.0f, NULL), VIMO_OK);
        assert_int_equal(vimo_adamw_step(opt, 1.0f), VIMO_OK);
        out->loss[step] = vimo_tensor_data(loss)[0];
    }
    out->n = 0;
    for (int i = 0; i < 11; i++) out->n += vimo_tensor_numel(m.params[i]);
    out->params = malloc((size_t)out->n * sizeof(float));
    int64_t at = 0;
    for (int i = 0; i < 11; i++) {
        int64_t k = vimo_tensor_numel(m.params[i]);
        memcpy(out->params + at, vimo_tensor_data(m.params[i]), (size_t)k * sizeof(float));
        at += k;
    }
    vimo_ctx_free(c);
    vimo_adamw_free(opt);
    toy_tf_free(&m);
}

static int same(const run_out *a, const run_out *b)
{
    return a->n == b->n && !memcmp(a->loss, b->loss, sizeof a->loss) &&
           !memcmp(a->params, b->params, (size_t)a->n * sizeof(float));
}

static void print_run(const char *name, const run_out *r)
{
    printf("%-22s", name);
    for (int i = 0; i < STEPS; i++) printf(" %.9g", r->loss[i]);
    printf("\n");
}

static void test_bit_identical(void **state)
{
    (void)state;
    int saved = vimo_get_num_threads();
    vimo_set_num_threads(0);
    int cores = vimo_get_num_threads();
    int counts[4] = {2, 1, 3, cores};
    run_out a, b, other;
    train(42, 2, &a);
    print_run("seed 42, 2 threads", &a);
    train(42, 2, &b);
    print_run("seed 42, 2 threads", &b);
    assert_true(same(&a, &b));
    free(b.params);
    for (int i = 1; i < 4; i++) {
        if (counts[i] > cores || (i == 3 && cores <= 3)) continue;
        char name[32];
        snprintf(name, sizeof name, "seed 42, %d thread%s", counts[i], counts[i] > 1 ? "s" : "");
        train(42, counts[i], &b);
        print_run(name, &b);
        assert_true(same(&a, &b));
        free(b.params);
    }
    train(43, 2, &other);
    print_run("seed 43, 2 threads", &other);
    assert_true(a.loss[STEPS - 1] < a.loss[0]); /* it is training */
    assert_false(same(&a, &other));
    free(a.params);
    free(other.params);
    vimo_set_num_threads(saved);
}

int main(void)
{
    vimo_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bit_identical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
