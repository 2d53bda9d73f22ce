/*
 * projector.linear - one linear map from encoder tokens to LLM embeddings.
 *
 * The simplest projector (LLaVA v1, MotionLLM's linear ablation):
 *   out = tokens @ W^T + b,  tokens (B, N, in_dim) -> out (B, N, out_dim).
 * Not done here: any token mixing (see projector.resampler).
 */
#include <stdlib.h>
#include <string.h>

#include "vimo/ops.h"
#include "vimo/params.h"
#include "vimo/projector.h"

typedef struct {
    vimo_module_base base;
    vimo_tensor *gain; /* (out_dim) out_norm gain, or NULL */
    vimo_linear proj;
    int64_t in_dim, out_dim;
} linear_proj;

static const vimo_option_spec k_options[] = {
    {"in_dim", VIMO_OPT_INT, "256", "width of the encoder tokens"},
    {"out_dim", VIMO_OPT_INT, "64", "LLM embedding width"},
    {"out_norm", VIMO_OPT_FLOAT, "0", "> 0: RMS-normalise each output token to this scale with a learned gain "
                                      "(vimo extension; 0 = off, as LLaVA)"},
    {"seed", VIMO_OPT_INT, "1", "initialisation seed"},
    {NULL, 0, NULL, NULL},
};

static void destroy(void *inst)
{
    linear_proj *p = inst;
    if (!p) return;
    vimo_params_free(p->base.params);
    free(p);
}

static vimo_status create(const vimo_options *o, void **out)
{
    linear_proj *p = calloc(1, sizeof *p);
    if (!p) return vimo_error(VIMO_ERR_NOMEM, "projector.linear: out of memory");
    p->in_dim = vimo_options_int(o, "in_dim");
    p->out_dim = vimo_options_int(o, "out_dim");
    vimo_rng rng;
    vimo_rng_seed(&rng, (uint64_t)vimo_options_int(o, "seed"));
    vimo_status st = VIMO_OK;
    if (p->in_dim < 1 || p->out_dim < 1) {
        st = vimo_error(VIMO_ERR_INVALID, "projector.linear: in_dim and out_dim must be >= 1");
        goto fail;
    }
    VIMO_TRY(vimo_params_new(&p->base.params));
    VIMO_TRY(vimo_linear_init(p->base.params, &rng, &p->proj, p->in_dim, p->out_dim, 1, "proj"));
    if (vimo_options_float(o, "out_norm") > 0) {
        /* RMS-normalised tokens keep the scale of the LLM's text embeddings:
         * the LLM's input RMSNorm makes the loss blind to the token norm, and
         * Adam then grows it without bound, which stalls learning. */
        VIMO_TRY(vimo_params_add(p->base.params, &p->gain, 1, (int64_t[]){p->out_dim}, "out_norm.weight"));
        vimo_tensor_fill(p->gain, (float)vimo_options_float(o, "out_norm"));
    }
    *out = p;
    return VIMO_OK;
fail:
    destroy(p);
    return st;
}

static int64_t in_dim(void *inst) { return ((linear_proj *)inst)->in_dim; }
static int64_t out_dim(void *inst) { return ((linear_proj *)inst)->out_dim; }
static int64_t out_tokens(void *inst, int64_t n)
{
    (void)inst;
    return n;
}

static vimo_status forward(void *inst, vimo_ctx *ctx, vimo_tensor *tokens, vimo_rng *rng, vimo_tensor **out)
{
    (void)rng;
    linear_proj *p = inst;
    vimo_tensor *y;
    vimo_status st = vimo_matmul(ctx, &y, tokens, p->proj.w, p->proj.b);
    if (st || !p->gain) {
        *out = y;
        return st;
    }
    return vimo_rmsnorm(ctx, out, y, p->gain, 1e-6f);
}

static const vimo_projector_iface k_projector = {
    .size = sizeof(vimo_projector_iface),
    .in_dim = in_dim,
    .out_dim = out_dim,
    .out_tokens = out_tokens,
    .forward = forward,
};

static const void *get_iface(const char *name)
{
    if (strcmp(name, VIMO_IFACE_PROJECTOR) == 0) return &k_projector;
    if (strcmp(name, VIMO_IFACE_MODULE) == 0) return &vimo_module_base_iface;
    return NULL;
}

VIMO_PLUGIN_DEFINE(projector_linear) = {
    VIMO_PLUGIN_HEADER,
    .kind = VIMO_PLUGIN_PROJECTOR,
    .id = "projector.linear",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "linear map from encoder tokens to LLM embeddings",
    .options = k_options,
    .create = create,
    .destroy = destroy,
    .get_iface = get_iface,
};
