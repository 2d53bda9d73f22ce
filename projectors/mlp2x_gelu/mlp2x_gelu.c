/*
 * projector.mlp2x_gelu - the LLaVA-1.5 projector MotionLLM uses
 * (Liu et al. 2023, "Improved Baselines with Visual Instruction Tuning",
 * sec. 3.2; MotionLLM sec. 3.1):
 *   out = fc2(gelu(fc1(tokens))), tokens (B, N, in_dim) -> (B, N, out_dim),
 *   fc1: in_dim -> hidden, fc2: hidden -> out_dim, GELU in its erf form.
 */
#include <stdlib.h>
#include <string.h>

#include "vimo/ops.h"
#include "vimo/params.h"
#include "vimo/projector.h"

typedef struct {
    vimo_module_base base;
    vimo_tensor *gain; /* (out_dim) out_norm gain, or NULL */
    vimo_linear fc1, fc2;
    int64_t in_dim, out_dim;
    float dropout;
} mlp_proj;

static const vimo_option_spec k_options[] = {
    {"in_dim", VIMO_OPT_INT, "256", "width of the encoder tokens"},
    {"out_dim", VIMO_OPT_INT, "64", "LLM embedding width"},
    {"hidden", VIMO_OPT_INT, "0", "hidden width (0: out_dim, as LLaVA)"},
    {"dropout", VIMO_OPT_FLOAT, "0", "dropout after the GELU (train mode only)"},
    {"out_norm", VIMO_OPT_FLOAT, "0", "> 0: RMS-normalise each output token to this scale with a learned gain "
                                      "(vimo extension; 0 = off, as LLaVA)"},
    {"seed", VIMO_OPT_INT, "1", "initialisation seed"},
    {NULL, 0, NULL, NULL},
};

static void destroy(void *inst)
{
    mlp_proj *p = inst;
    if (!p) return;
    vimo_params_free(p->base.params);
    free(p);
}

static vimo_status create(const vimo_options *o, void **out)
{
    mlp_proj *p = calloc(1, sizeof *p);
    if (!p) return vimo_error(VIMO_ERR_NOMEM, "projector.mlp2x_gelu: out of memory");
    p->in_dim = vimo_options_int(o, "in_dim");
    p->out_dim = vimo_options_int(o, "out_dim");
    int64_t hidden = vimo_options_int(o, "hidden");
    if (hidden == 0) hidden = p->out_dim;
    p->dropout = (float)vimo_options_float(o, "dropout");
    vimo_rng rng;
    vimo_rng_seed(&rng, (uint64_t)vimo_options_int(o, "seed"));
    vimo_status st = VIMO_OK;
    if (p->in_dim < 1 || p->out_dim < 1 || hidden < 1 || p->dropout < 0 || p->dropout >= 1) {
        st = vimo_error(VIMO_ERR_INVALID, "projector.mlp2x_gelu: dims must be >= 1 and dropout in [0, 1)");
        goto fail;
    }
    VIMO_TRY(vimo_params_new(&p->base.params));
    VIMO_TRY(vimo_linear_init(p->base.params, &rng, &p->fc1, p->in_dim, hidden, 1, "fc1"));
    VIMO_TRY(vimo_linear_init(p->base.params, &rng, &p->fc2, hidden, p->out_dim, 1, "fc2"));
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

static int64_t in_dim(void *inst) { return ((mlp_proj *)inst)->in_dim; }
static int64_t out_dim(void *inst) { return ((mlp_proj *)inst)->out_dim; }
static int64_t out_tokens(void *inst, int64_t n)
{
    (void)inst;
    return n;
}

static vimo_status forward(void *inst, vimo_ctx *ctx, vimo_tensor *tokens, vimo_rng *rng, vimo_tensor **out)
{
    mlp_proj *p = inst;
    vimo_tensor *h, *a;
    vimo_status st = VIMO_OK;
    VIMO_TRY(vimo_matmul(ctx, &h, tokens, p->fc1.w, p->fc1.b));
    VIMO_TRY(vimo_gelu(ctx, &a, h, VIMO_GELU_ERF));
    if (p->base.train && p->dropout > 0) VIMO_TRY(vimo_dropout(ctx, &a, a, p->dropout, rng));
    VIMO_TRY(vimo_matmul(ctx, out, a, p->fc2.w, p->fc2.b));
    if (p->gain) VIMO_TRY(vimo_rmsnorm(ctx, out, *out, p->gain, 1e-6f));
fail:
    return st;
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

VIMO_PLUGIN_DEFINE(projector_mlp2x_gelu) = {
    VIMO_PLUGIN_HEADER,
    .kind = VIMO_PLUGIN_PROJECTOR,
    .id = "projector.mlp2x_gelu",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "2-layer MLP with GELU (LLaVA-1.5 / MotionLLM projector)",
    .options = k_options,
    .create = create,
    .destroy = destroy,
    .get_iface = get_iface,
};
