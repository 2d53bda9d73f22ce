/*
 * encoder_template.c - "encoder.template": the copy-me example encoder.
 *
 * A small motion encoder built only from core ops, so it trains end to end:
 *   x (B, T, F) features per frame (F = 263 for HumanML3D)
 *   h = dropout(gelu(x W_in^T + b_in))               (B, T, D)
 *   p = mean of h over windows of `pool` frames      (B, N, D), N = T / pool
 *   tokens = p W_out^T + b_out                       (B, N, D)
 * Frames that do not fill a last window are dropped. Parameter names:
 * proj_in.{weight,bias}, proj_out.{weight,bias} (nn.Linear layout, PyTorch
 * default initialisation).
 *
 * Not a published model: a starting point. Copy the folder, rename the id
 * and the symbol, keep the shape of create/destroy/get_iface, and replace
 * forward(). See README.md and docs/plugins.md.
 */
#include <stdlib.h>
#include <string.h>

#include "vimo/encoder.h"
#include "vimo/ops.h"
#include "vimo/params.h"

#define ID "encoder.template"

typedef struct tmpl {
    vimo_module_base base; /* first: the shared "vimo.module/1" reads it */
    int64_t in_dim, dim, pool;
    float dropout;
    vimo_linear in, out; /* in: W (D, F), b (D); out: W (D, D), b (D) */
} tmpl;

/* Options: the host parses and type-checks them before create() runs. */
static const vimo_option_spec k_options[] = {
    {"in_dim", VIMO_OPT_INT, "263", "features per frame F (263: HumanML3D)"},
    {"dim", VIMO_OPT_INT, "256", "token width D"},
    {"pool", VIMO_OPT_INT, "4", "frames averaged into one token"},
    {"dropout", VIMO_OPT_FLOAT, "0.1", "dropout on hidden features in train mode"},
    {"seed", VIMO_OPT_INT, "0", "seed of the initial weights"},
    {NULL, 0, NULL, NULL}};

static void tmpl_destroy(void *inst)
{
    tmpl *m = inst;
    if (!m) return;
    vimo_params_free(m->base.params); /* frees every parameter tensor */
    free(m);
}

static vimo_status tmpl_create(const vimo_options *opts, void **out)
{
    vimo_status st = VIMO_OK;
    vimo_rng rng;
    tmpl *m = calloc(1, sizeof *m);
    if (!m) return vimo_error(VIMO_ERR_NOMEM, ID ": out of memory");
    m->in_dim = vimo_options_int(opts, "in_dim");
    m->dim = vimo_options_int(opts, "dim");
    m->pool = vimo_options_int(opts, "pool");
    m->dropout = (float)vimo_options_float(opts, "dropout");
    if (m->in_dim < 1 || m->dim < 1 || m->pool < 1 || m->dropout < 0 || m->dropout >= 1) {
        st = vimo_error(VIMO_ERR_INVALID, ID ": in_dim, dim, pool must be >= 1 and dropout in [0, 1)");
        goto fail;
    }
    vimo_rng_seed(&rng, (uint64_t)vimo_options_int(opts, "seed"));
    VIMO_TRY(vimo_params_new(&m->base.params));
    VIMO_TRY(vimo_linear_init(m->base.params, &rng, &m->in, m->in_dim, m->dim, 1, "proj_in"));
    VIMO_TRY(vimo_linear_init(m->base.params, &rng, &m->out, m->dim, m->dim, 1, "proj_out"));
    *out = m;
    return VIMO_OK;
fail:
    tmpl_destroy(m);
    return st;
}

static int64_t tmpl_out_dim(void *inst) { return ((tmpl *)inst)->dim; }

static vimo_status tmpl_forward(void *inst, vimo_ctx *ctx, vimo_tensor *x, int64_t batch, vimo_rng *rng,
                                vimo_tensor **tokens)
{
    vimo_status st = VIMO_OK;
    tmpl *m = inst;
    vimo_tensor *h, *p;
    if (vimo_tensor_ndim(x) != 3 || vimo_tensor_dim(x, 0) != batch || vimo_tensor_dim(x, 2) != m->in_dim ||
        vimo_tensor_dim(x, 1) < m->pool)
        return vimo_error(VIMO_ERR_SHAPE, ID ": x must be (B=%lld, T>=%lld, F=%lld)", (long long)batch,
                          (long long)m->pool, (long long)m->in_dim);
    int64_t b = batch, n = vimo_tensor_dim(x, 1) / m->pool;
    VIMO_TRY(vimo_matmul(ctx, &h, x, m->in.w, m->in.b));                 /* (B, T, D) */
    VIMO_TRY(vimo_gelu(ctx, &h, h, VIMO_GELU_ERF));
    if (m->base.train) VIMO_TRY(vimo_dropout(ctx, &h, h, m->dropout, rng));
    VIMO_TRY(vimo_slice(ctx, &h, h, 1, 0, n * m->pool));                   /* whole windows */
    VIMO_TRY(vimo_reshape(ctx, &h, h, 4, (int64_t[]){b, n, m->pool, m->dim})); /* (B, N, pool, D) */
    VIMO_TRY(vimo_mean(ctx, &p, h, 2));                                    /* (B, N, D) */
    VIMO_TRY(vimo_matmul(ctx, tokens, p, m->out.w, m->out.b));
fail:
    return st;
}

static const vimo_encoder_iface k_encoder = {
    .size = sizeof(vimo_encoder_iface),
    .modality = "motion",
    .out_dim = tmpl_out_dim,
    .forward = tmpl_forward,
    .pretrain_loss = NULL, /* no self-supervised loss: trained with the LLM */
};

static const void *tmpl_get_iface(const char *name)
{
    if (!strcmp(name, VIMO_IFACE_MODULE)) return &vimo_module_base_iface;
    if (!strcmp(name, VIMO_IFACE_ENCODER)) return &k_encoder;
    return NULL;
}

/* The one exported symbol: plain data the host checks before calling us. */
VIMO_PLUGIN_DEFINE(encoder_template) = {
    VIMO_PLUGIN_HEADER,
    .kind = VIMO_PLUGIN_ENCODER,
    .id = ID,
    .version = "1.0.0",
    .license = "MIT",
    .summary = "copy-me example: per-frame linear + GELU, mean-pooled windows, linear",
    .options = k_options,
    .create = tmpl_create,
    .destroy = tmpl_destroy,
    .get_iface = tmpl_get_iface,
};
