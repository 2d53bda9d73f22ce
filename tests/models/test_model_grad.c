/*
 * test_model_grad.c - gradient checks through the encoder and projector
 * plugins, loaded by id through the plugin loader as a user would.
 * Every parameter of the instance and the input are checked against central
 * finite differences (tests/core/gradcheck.h). Small option values keep it fast.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "../core/gradcheck.h"
#include "vimo/encoder.h"
#include "vimo/projector.h"

typedef struct {
    vimo_instance *inst;
    const vimo_encoder_iface *enc;
    const vimo_projector_iface *proj;
    int64_t batch;
} model_ud;

static vimo_status f_model(vimo_ctx *c, vimo_tensor **in, vimo_tensor **o, void *ud)
{
    model_ud *m = ud;
    void *h = vimo_instance_handle(m->inst);
    if (m->enc) return m->enc->forward(h, c, in[0], m->batch, NULL, o);
    return m->proj->forward(h, c, in[0], NULL, o);
}

/* Creates `id` with "k=v" options, gradchecks the input and every parameter. */
static int check_plugin(const char *id, const char *const *opts, int ndim, const int64_t *xshape, int64_t batch)
{
    const vimo_plugin_desc *desc;
    vimo_options *o;
    assert_int_equal(vimo_plugin_find(id, &desc), VIMO_OK);
    assert_int_equal(vimo_options_new(&o, desc), VIMO_OK);
    for (int i = 0; opts[i]; i += 2) assert_int_equal(vimo_options_set(o, opts[i], opts[i + 1]), VIMO_OK);
    model_ud m = {0};
    m.batch = batch;
    assert_int_equal(vimo_instance_new(&m.inst, id, o), VIMO_OK);
    m.enc = vimo_instance_iface(m.inst, VIMO_IFACE_ENCODER);
    m.proj = vimo_instance_iface(m.inst, VIMO_IFACE_PROJECTOR);
    const vimo_module_iface *mod = vimo_instance_iface(m.inst, VIMO_IFACE_MODULE);
    assert_non_null(mod);
    assert_true(m.enc || m.proj);
    void *h = vimo_instance_handle(m.inst);
    mod->set_train(h, 0); /* deterministic: no dropout */
    int np = mod->num_params(h);
    vimo_tensor **in = calloc((size_t)np + 1, sizeof *in);
    vimo_rng rng;
    vimo_rng_seed(&rng, 7);
    in[0] = gc_rand(&rng, ndim, xshape, 1.0f, 1);
    for (int i = 0; i < np; i++) in[i + 1] = mod->param(h, i, NULL);
    /* Element-wise where it is well conditioned (smooth, O(1) parameters),
     * directional for every tensor (covers small-scale ones and ReLU nets). */
    int bad = gradcheck_dir(id, f_model, in, np + 1, &m, 3e-3, 5e-2, 2e-3);
    if (!strstr(id, "tcn") && !strstr(id, "cnn") && !strstr(id, "resampler"))
        bad += gradcheck(id, f_model, in, np + 1, &m, 1e-2, 3e-2, 3e-3);
    vimo_tensor_free(in[0]);
    free(in);
    vimo_instance_free(m.inst);
    vimo_options_free(o);
    return bad;
}

static void test_projectors(void **state)
{
    (void)state;
    const int64_t x[3] = {2, 5, 6};
    assert_int_equal(check_plugin("projector.linear", (const char *[]){"in_dim", "6", "out_dim", "4", NULL}, 3, x, 2), 0);
    assert_int_equal(check_plugin("projector.mlp2x_gelu",
                                  (const char *[]){"in_dim", "6", "out_dim", "4", "hidden", "5", NULL}, 3, x, 2),
                     0);
    /* with the RMS-normalised output (out_norm) and its learned gain */
    assert_int_equal(check_plugin("projector.mlp2x_gelu",
                                  (const char *[]){"in_dim", "6", "out_dim", "4", "hidden", "5", "out_norm", "0.8",
                                                   NULL},
                                  3, x, 2),
                     0);
    assert_int_equal(check_plugin("projector.resampler",
                                  (const char *[]){"in_dim", "6", "out_dim", "8", "queries", "3", "heads", "2", NULL},
                                  3, x, 2),
                     0);
}

static void test_motion_encoders(void **state)
{
    (void)state;
    const int64_t x[3] = {2, 16, 7};
    assert_int_equal(check_plugin("encoder.motion_mlp",
                                  (const char *[]){"in_dim", "7", "hidden", "6", "out_dim", "5", "pool", "4", NULL}, 3,
                                  x, 2),
                     0);
    assert_int_equal(check_plugin("encoder.motion_tcn",
                                  (const char *[]){"in_dim", "7", "width", "6", "out_dim", "5", "depth", "2", NULL}, 3,
                                  x, 2),
                     0);
    assert_int_equal(check_plugin("encoder.motion_transformer",
                                  (const char *[]){"in_dim", "7", "out_dim", "8", "heads", "2", "layers", "1",
                                                   "max_len", "16", "pool", "4", NULL},
                                  3, x, 2),
                     0);
}

static void test_video_encoders(void **state)
{
    (void)state;
    const int64_t x[4] = {4, 3, 8, 8}; /* 2 clips x 2 frames of 8x8 */
    assert_int_equal(check_plugin("encoder.video_cnn",
                                  (const char *[]){"channels", "3", "stages", "2", "out_dim", "4", NULL}, 4, x, 2),
                     0);
}

static void test_tcn_autoencoder_loss(void **state)
{
    (void)state;
    /* The pretraining loss exists, is finite and has gradients. */
    const vimo_plugin_desc *desc;
    vimo_options *o;
    vimo_instance *inst;
    assert_int_equal(vimo_plugin_find("encoder.motion_tcn", &desc), VIMO_OK);
    assert_int_equal(vimo_options_new(&o, desc), VIMO_OK);
    const char *kv[] = {"in_dim", "7", "width", "8", "out_dim", "6", "decoder", "true", "quantizer", "true",
                        "codes", "16", NULL};
    for (int i = 0; kv[i]; i += 2) assert_int_equal(vimo_options_set(o, kv[i], kv[i + 1]), VIMO_OK);
    assert_int_equal(vimo_instance_new(&inst, "encoder.motion_tcn", o), VIMO_OK);
    const vimo_encoder_iface *enc = vimo_instance_iface(inst, VIMO_IFACE_ENCODER);
    vimo_ctx *ctx;
    vimo_ctx_new(&ctx);
    vimo_rng rng;
    vimo_rng_seed(&rng, 3);
    vimo_tensor *x = gc_rand(&rng, 3, (int64_t[]){2, 16, 7}, 1.0f, 0), *loss;
    assert_int_equal(enc->pretrain_loss(vimo_instance_handle(inst), ctx, x, 2, &rng, &loss), VIMO_OK);
    assert_true(vimo_tensor_data(loss)[0] > 0.0f);
    assert_int_equal(vimo_backward(ctx, loss), VIMO_OK);
    vimo_ctx_free(ctx);
    vimo_tensor_free(x);
    vimo_instance_free(inst);
    vimo_options_free(o);
}

int main(void)
{
    vimo_init();
    if (vimo_plugin_scan() != VIMO_OK) {
        fprintf(stderr, "plugin scan failed: %s\n", vimo_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_projectors),
        cmocka_unit_test(test_motion_encoders),
        cmocka_unit_test(test_video_encoders),
        cmocka_unit_test(test_tcn_autoencoder_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
