/*
 * encoder.motion_transformer - frame embedding + transformer encoder.
 *   x (B, T, in_dim) -> linear -> + learned position embedding (max_len)
 *   -> `layers` pre-LN transformer blocks (bidirectional, GELU MLP)
 *   -> layernorm -> average over windows of `pool` frames
 *   -> tokens (B, T / pool, D)
 * The design of MotionCLIP/TEMOS-style motion transformers, sized for CPU.
 * Not done here: a CLS token or a VAE head.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vimo/encoder.h"
#include "vimo/layers.h"

#define MAX_LAYERS 12

typedef struct {
    vimo_module_base base;
    vimo_linear embed;
    vimo_tensor *pos;   /* (max_len, D) */
    vimo_tblock blocks[MAX_LAYERS];
    vimo_tensor *ln_w, *ln_b;
    int64_t in_dim, dim, pool, max_len;
    int layers;
    float dropout;
} motion_tf;

static const vimo_option_spec k_options[] = {
    {"in_dim", VIMO_OPT_INT, "263", "features per frame (263 = HumanML3D)"},
    {"out_dim", VIMO_OPT_INT, "128", "model and token width"},
    {"layers", VIMO_OPT_INT, "2", "transformer blocks"},
    {"heads", VIMO_OPT_INT, "4", "attention heads"},
    {"max_len", VIMO_OPT_INT, "512", "longest input in frames"},
    {"pool", VIMO_OPT_INT, "4", "frames averaged into one output token"},
    {"dropout", VIMO_OPT_FLOAT, "0.1", "dropout on the embedded frames (train mode)"},
    {"seed", VIMO_OPT_INT, "1", "initialisation seed"},
    {NULL, 0, NULL, NULL},
};

static void destroy(void *inst)
{
    motion_tf *m = inst;
    if (!m) return;
    vimo_params_free(m->base.params);
    free(m);
}

static vimo_status create(const vimo_options *o, void **out)
{
    motion_tf *m = calloc(1, sizeof *m);
    if (!m) return vimo_error(VIMO_ERR_NOMEM, "encoder.motion_transformer: out of memory");
    m->in_dim = vimo_options_int(o, "in_dim");
    m->dim = vimo_options_int(o, "out_dim");
    m->layers = (int)vimo_options_int(o, "layers");
    m->pool = vimo_options_int(o, "pool");
    m->max_len = vimo_options_int(o, "max_len");
    m->dropout = (float)vimo_options_float(o, "dropout");
    int64_t heads = vimo_options_int(o, "heads");
    vimo_rng rng;
    vimo_rng_seed(&rng, (uint64_t)vimo_options_int(o, "seed"));
    vimo_status st = VIMO_OK;
    if (m->in_dim < 1 || m->dim < 1 || m->layers < 1 || m->layers > MAX_LAYERS || m->pool < 1 || m->max_len < 1 ||
        m->dropout < 0 || m->dropout >= 1) {
        st = vimo_error(VIMO_ERR_INVALID, "encoder.motion_transformer: bad options (layers 1..%d, dims >= 1, "
                                          "dropout in [0, 1))",
                        MAX_LAYERS);
        goto fail;
    }
    VIMO_TRY(vimo_params_new(&m->base.params));
    VIMO_TRY(vimo_linear_init(m->base.params, &rng, &m->embed, m->in_dim, m->dim, 1, "embed"));
    VIMO_TRY(vimo_params_add(m->base.params, &m->pos, 2, (int64_t[]){m->max_len, m->dim}, "pos_embed"));
    vimo_rng_fill_normal(&rng, vimo_tensor_data(m->pos), m->max_len * m->dim, 0.02f);
    for (int i = 0; i < m->layers; i++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "layers.%d", i);
        VIMO_TRY(vimo_tblock_init(m->base.params, &rng, &m->blocks[i], m->dim, heads, 4 * m->dim, VIMO_ACT_GELU,
                                  prefix));
    }
    VIMO_TRY(vimo_layernorm_init(m->base.params, &m->ln_w, &m->ln_b, m->dim, "final_norm"));
    *out = m;
    return VIMO_OK;
fail:
    destroy(m);
    return st;
}

static int64_t out_dim(void *inst) { return ((motion_tf *)inst)->dim; }

static vimo_status forward(void *inst, vimo_ctx *ctx, vimo_tensor *x, int64_t batch, vimo_rng *rng,
                           vimo_tensor **tokens)
{
    (void)batch;
    motion_tf *m = inst;
    int64_t b = vimo_tensor_dim(x, 0), t = vimo_tensor_dim(x, 1), n = t / m->pool;
    if (vimo_tensor_ndim(x) != 3 || vimo_tensor_dim(x, 2) != m->in_dim || n < 1 || t > m->max_len)
        return vimo_error(VIMO_ERR_SHAPE, "encoder.motion_transformer: input must be (B, %lld <= T <= %lld, %lld)",
                          (long long)m->pool, (long long)m->max_len, (long long)m->in_dim);
    vimo_status st = VIMO_OK;
    vimo_tensor *xc, *h, *pos, *w;
    VIMO_TRY(vimo_slice(ctx, &xc, x, 1, 0, n * m->pool));
    VIMO_TRY(vimo_matmul(ctx, &h, xc, m->embed.w, m->embed.b));
    VIMO_TRY(vimo_slice(ctx, &pos, m->pos, 0, 0, n * m->pool));
    VIMO_TRY(vimo_add(ctx, &h, h, pos));
    if (m->base.train && m->dropout > 0) VIMO_TRY(vimo_dropout(ctx, &h, h, m->dropout, rng));
    for (int i = 0; i < m->layers; i++) VIMO_TRY(vimo_tblock_forward(ctx, &m->blocks[i], h, NULL, 0, &h));
    VIMO_TRY(vimo_layernorm(ctx, &h, h, m->ln_w, m->ln_b, 1e-5f));
    VIMO_TRY(vimo_reshape(ctx, &w, h, 4, (int64_t[]){b, n, m->pool, m->dim}));
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

VIMO_PLUGIN_DEFINE(encoder_motion_transformer) = {
    VIMO_PLUGIN_HEADER,
    .kind = VIMO_PLUGIN_ENCODER,
    .id = "encoder.motion_transformer",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "frame embedding + pre-LN transformer encoder + window pooling",
    .options = k_options,
    .create = create,
    .destroy = destroy,
    .get_iface = get_iface,
};
