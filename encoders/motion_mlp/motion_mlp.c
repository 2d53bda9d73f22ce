/*
 * encoder.motion_mlp - the simplest motion encoder baseline: a per-frame MLP
 * followed by average pooling over windows of `pool` frames.
 *   x (B, T, in_dim) -> fc1 -> gelu -> fc2 -> (B, T, D) -> mean over each
 *   window of pool frames -> tokens (B, T / pool, D)   (T is cropped to a
 *   multiple of pool; pool = 4 matches the T2M-GPT encoder's token rate).
 * Not done here: any temporal context beyond the pooling window.
 */
#include <stdlib.h>
#include <string.h>

#include "vimo/encoder.h"
#include "vimo/ops.h"
#include "vimo/params.h"

typedef struct {
    vimo_module_base base;
    vimo_linear fc1, fc2;
    int64_t in_dim, out_dim, pool;
} motion_mlp;

static const vimo_option_spec k_options[] = {
    {"in_dim", VIMO_OPT_INT, "263", "features per frame (263 = HumanML3D)"},
    {"hidden", VIMO_OPT_INT, "256", "hidden width"},
    {"out_dim", VIMO_OPT_INT, "128", "token width"},
    {"pool", VIMO_OPT_INT, "4", "frames averaged into one token"},
    {"seed", VIMO_OPT_INT, "1", "initialisation seed"},
    {NULL, 0, NULL, NULL},
};

static void destroy(void *inst)
{
    motion_mlp *m = inst;
    if (!m) return;
    vimo_params_free(m->base.params);
    free(m);
}

static vimo_status create(const vimo_options *o, void **out)
{
    motion_mlp *m = calloc(1, sizeof *m);
    if (!m) return vimo_error(VIMO_ERR_NOMEM, "encoder.motion_mlp: out of memory");
    m->in_dim = vimo_options_int(o, "in_dim");
    m->out_dim = vimo_options_int(o, "out_dim");
    m->pool = vimo_options_int(o, "pool");
    int64_t hidden = vimo_options_int(o, "hidden");
    vimo_rng rng;
    vimo_rng_seed(&rng, (uint64_t)vimo_options_int(o, "seed"));
    vimo_status st = VIMO_OK;
    if (m->in_dim < 1 || m->out_dim < 1 || hidden < 1 || m->pool < 1) {
        st = vimo_error(VIMO_ERR_INVALID, "encoder.motion_mlp: dims and pool must be >= 1");
        goto fail;
    }
    VIMO_TRY(vimo_params_new(&m->base.params));
    VIMO_TRY(vimo_linear_init(m->base.params, &rng, &m->fc1, m->in_dim, hidden, 1, "fc1"));
    VIMO_TRY(vimo_linear_init(m->base.params, &rng, &m->fc2, hidden, m->out_dim, 1, "fc2"));
    *out = m;
    return VIMO_OK;
fail:
    destroy(m);
    return st;
}

static int64_t out_dim(void *inst) { return ((motion_mlp *)inst)->out_dim; }

static vimo_status forward(void *inst, vimo_ctx *ctx, vimo_tensor *x, int64_t batch, vimo_rng *rng,
                           vimo_tensor **tokens)
{
    (void)batch;
    (void)rng;
    motion_mlp *m = inst;
    int64_t b = vimo_tensor_dim(x, 0), t = vimo_tensor_dim(x, 1), n = t / m->pool;
    if (vimo_tensor_ndim(x) != 3 || vimo_tensor_dim(x, 2) != m->in_dim || n < 1)
        return vimo_error(VIMO_ERR_SHAPE, "encoder.motion_mlp: input must be (B, T >= %lld, %lld)",
                          (long long)m->pool, (long long)m->in_dim);
    vimo_status st = VIMO_OK;
    vimo_tensor *xc, *h, *a, *y, *w;
    VIMO_TRY(vimo_slice(ctx, &xc, x, 1, 0, n * m->pool));
    VIMO_TRY(vimo_matmul(ctx, &h, xc, m->fc1.w, m->fc1.b));
    VIMO_TRY(vimo_gelu(ctx, &a, h, VIMO_GELU_ERF));
    VIMO_TRY(vimo_matmul(ctx, &y, a, m->fc2.w, m->fc2.b));
    VIMO_TRY(vimo_reshape(ctx, &w, y, 4, (int64_t[]){b, n, m->pool, m->out_dim}));
    VIMO_TRY(vimo_mean(ctx, tokens, w, 2));
fail:
    return st;
}

static const vimo_encoder_iface k_encoder = {
    .size = sizeof(vimo_encoder_iface),
    .modality = "motion",
    .out_dim = out_dim,
    .forward = forward,
    .pretrain_loss = NULL,
};

static const void *get_iface(const char *name)
{
    if (strcmp(name, VIMO_IFACE_ENCODER) == 0) return &k_encoder;
    if (strcmp(name, VIMO_IFACE_MODULE) == 0) return &vimo_module_base_iface;
    return NULL;
}

VIMO_PLUGIN_DEFINE(encoder_motion_mlp) = {
    VIMO_PLUGIN_HEADER,
    .kind = VIMO_PLUGIN_ENCODER,
    .id = "encoder.motion_mlp",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "per-frame MLP + window pooling (motion baseline)",
    .options = k_options,
    .create = create,
    .destroy = destroy,
    .get_iface = get_iface,
};
