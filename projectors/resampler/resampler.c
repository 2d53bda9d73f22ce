/*
 * projector.resampler - a fixed number of learned queries cross-attending to
 * the encoder tokens (Perceiver resampler, Alayrac et al. 2022 "Flamingo"
 * sec. 2.1 / appendix A.1.1; the Q-Former of BLIP-2 is the same idea).
 *
 *   kv  = layernorm(tokens @ W_in^T)                      (B, N, D)
 *   q0  = learned queries broadcast over the batch        (B, M, D)
 *   h   = q0 + W_o attention(W_q ln(q0), W_k kv, W_v kv)  (B, M, D)
 *   out = h + fc2(gelu(fc1(ln(h))))                       (B, M, D), D = out_dim
 * so any number of input tokens N becomes M = `queries` LLM tokens.
 * Not done here: stacking several blocks, or latents attending to themselves.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vimo/ops.h"
#include "vimo/params.h"
#include "vimo/projector.h"

typedef struct {
    vimo_module_base base;
    vimo_tensor *gain; /* (out_dim) out_norm gain, or NULL */
    vimo_linear in, q, k, v, o, fc1, fc2;
    vimo_tensor *queries;           /* (M, D) */
    vimo_tensor *ln_q_w, *ln_q_b;   /* (D) */
    vimo_tensor *ln_kv_w, *ln_kv_b; /* (D) */
    vimo_tensor *ln_ff_w, *ln_ff_b; /* (D) */
    int64_t in_dim, dim, n_queries, heads;
} resampler;

static const vimo_option_spec k_options[] = {
    {"in_dim", VIMO_OPT_INT, "256", "width of the encoder tokens"},
    {"out_dim", VIMO_OPT_INT, "64", "LLM embedding width (the block's width)"},
    {"queries", VIMO_OPT_INT, "8", "number of learned queries = output tokens"},
    {"heads", VIMO_OPT_INT, "4", "attention heads (out_dim % heads == 0)"},
    {"out_norm", VIMO_OPT_FLOAT, "0", "> 0: RMS-normalise each output token to this scale with a learned gain "
                                      "(vimo extension; 0 = off, as LLaVA)"},
    {"seed", VIMO_OPT_INT, "1", "initialisation seed"},
    {NULL, 0, NULL, NULL},
};

static void destroy(void *inst)
{
    resampler *r = inst;
    if (!r) return;
    vimo_params_free(r->base.params);
    free(r);
}

static vimo_status add_norm(resampler *r, vimo_tensor **w, vimo_tensor **b, const char *name)
{
    vimo_status st = vimo_params_add(r->base.params, w, 1, (int64_t[]){r->dim}, "%s.weight", name);
    if (!st) st = vimo_params_add(r->base.params, b, 1, (int64_t[]){r->dim}, "%s.bias", name);
    if (!st) vimo_tensor_fill(*w, 1.0f);
    return st;
}

static vimo_status create(const vimo_options *o, void **out)
{
    resampler *r = calloc(1, sizeof *r);
    if (!r) return vimo_error(VIMO_ERR_NOMEM, "projector.resampler: out of memory");
    r->in_dim = vimo_options_int(o, "in_dim");
    r->dim = vimo_options_int(o, "out_dim");
    r->n_queries = vimo_options_int(o, "queries");
    r->heads = vimo_options_int(o, "heads");
    vimo_rng rng;
    vimo_rng_seed(&rng, (uint64_t)vimo_options_int(o, "seed"));
    vimo_status st = VIMO_OK;
    if (r->in_dim < 1 || r->dim < 1 || r->n_queries < 1 || r->heads < 1 || r->dim % r->heads) {
        st = vimo_error(VIMO_ERR_INVALID, "projector.resampler: need dims >= 1 and out_dim %% heads == 0 "
                                          "(out_dim %lld, heads %lld)",
                        (long long)r->dim, (long long)r->heads);
        goto fail;
    }
    vimo_params *p;
    VIMO_TRY(vimo_params_new(&r->base.params));
    p = r->base.params;
    int64_t d = r->dim;
    VIMO_TRY(vimo_params_add(p, &r->queries, 2, (int64_t[]){r->n_queries, d}, "queries"));
    vimo_rng_fill_normal(&rng, vimo_tensor_data(r->queries), r->n_queries * d, 0.02f);
    VIMO_TRY(vimo_linear_init(p, &rng, &r->in, r->in_dim, d, 1, "in_proj"));
    VIMO_TRY(add_norm(r, &r->ln_q_w, &r->ln_q_b, "ln_q"));
    VIMO_TRY(add_norm(r, &r->ln_kv_w, &r->ln_kv_b, "ln_kv"));
    VIMO_TRY(vimo_linear_init(p, &rng, &r->q, d, d, 0, "attn.q_proj"));
    VIMO_TRY(vimo_linear_init(p, &rng, &r->k, d, d, 0, "attn.k_proj"));
    VIMO_TRY(vimo_linear_init(p, &rng, &r->v, d, d, 0, "attn.v_proj"));
    VIMO_TRY(vimo_linear_init(p, &rng, &r->o, d, d, 1, "attn.out_proj"));
    VIMO_TRY(add_norm(r, &r->ln_ff_w, &r->ln_ff_b, "ln_ff"));
    VIMO_TRY(vimo_linear_init(p, &rng, &r->fc1, d, 4 * d, 1, "mlp.fc1"));
    VIMO_TRY(vimo_linear_init(p, &rng, &r->fc2, 4 * d, d, 1, "mlp.fc2"));
    if (vimo_options_float(o, "out_norm") > 0) {
        /* RMS-normalised tokens keep the scale of the LLM's text embeddings:
         * the LLM's input RMSNorm makes the loss blind to the token norm, and
         * Adam then grows it without bound, which stalls learning. */
        VIMO_TRY(vimo_params_add(r->base.params, &r->gain, 1, (int64_t[]){r->dim}, "out_norm.weight"));
        vimo_tensor_fill(r->gain, (float)vimo_options_float(o, "out_norm"));
    }
    *out = r;
    return VIMO_OK;
fail:
    destroy(r);
    return st;
}

static int64_t in_dim(void *inst) { return ((resampler *)inst)->in_dim; }
static int64_t out_dim(void *inst) { return ((resampler *)inst)->dim; }
static int64_t out_tokens(void *inst, int64_t n)
{
    (void)n;
    return ((resampler *)inst)->n_queries;
}

/* x (B, T, D) @ W^T, viewed as (B, T, H, D/H) heads. */
static vimo_status heads_of(resampler *r, vimo_ctx *ctx, vimo_tensor *x, vimo_linear *l, vimo_tensor **out)
{
    vimo_tensor *y;
    vimo_status st = vimo_matmul(ctx, &y, x, l->w, l->b);
    if (st) return st;
    int64_t shape[4] = {vimo_tensor_dim(x, 0), vimo_tensor_dim(x, 1), r->heads, r->dim / r->heads};
    return vimo_reshape(ctx, out, y, 4, shape);
}

static vimo_status forward(void *inst, vimo_ctx *ctx, vimo_tensor *tokens, vimo_rng *rng, vimo_tensor **out)
{
    (void)rng;
    resampler *r = inst;
    vimo_status st = VIMO_OK;
    if (vimo_tensor_ndim(tokens) != 3 || vimo_tensor_dim(tokens, 2) != r->in_dim)
        return vimo_error(VIMO_ERR_SHAPE, "projector.resampler: tokens must be (B, N, %lld)", (long long)r->in_dim);
    int64_t b = vimo_tensor_dim(tokens, 0), m = r->n_queries, d = r->dim;
    vimo_tensor *kv0, *kv, *zeros, *q0, *qn, *qh, *kh, *vh, *att, *att2, *proj, *h, *hn, *f1, *f1a, *f2;
    VIMO_TRY(vimo_matmul(ctx, &kv0, tokens, r->in.w, r->in.b));
    VIMO_TRY(vimo_layernorm(ctx, &kv, kv0, r->ln_kv_w, r->ln_kv_b, 1e-5f));
    VIMO_TRY(vimo_ctx_tensor(ctx, &zeros, 3, (int64_t[]){b, m, d}));
    VIMO_TRY(vimo_add(ctx, &q0, zeros, r->queries)); /* broadcast the queries over the batch */
    VIMO_TRY(vimo_layernorm(ctx, &qn, q0, r->ln_q_w, r->ln_q_b, 1e-5f));
    VIMO_TRY(heads_of(r, ctx, qn, &r->q, &qh));
    VIMO_TRY(heads_of(r, ctx, kv, &r->k, &kh));
    VIMO_TRY(heads_of(r, ctx, kv, &r->v, &vh));
    VIMO_TRY(vimo_attention(ctx, &att, qh, kh, vh, NULL, 0, 1.0f / sqrtf((float)(d / r->heads))));
    VIMO_TRY(vimo_reshape(ctx, &att2, att, 3, (int64_t[]){b, m, d}));
    VIMO_TRY(vimo_matmul(ctx, &proj, att2, r->o.w, r->o.b));
    VIMO_TRY(vimo_add(ctx, &h, q0, proj));
    VIMO_TRY(vimo_layernorm(ctx, &hn, h, r->ln_ff_w, r->ln_ff_b, 1e-5f));
    VIMO_TRY(vimo_matmul(ctx, &f1, hn, r->fc1.w, r->fc1.b));
    VIMO_TRY(vimo_gelu(ctx, &f1a, f1, VIMO_GELU_ERF));
    VIMO_TRY(vimo_matmul(ctx, &f2, f1a, r->fc2.w, r->fc2.b));
    VIMO_TRY(vimo_add(ctx, out, h, f2));
    if (r->gain) VIMO_TRY(vimo_rmsnorm(ctx, out, *out, r->gain, 1e-6f));
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

VIMO_PLUGIN_DEFINE(projector_resampler) = {
    VIMO_PLUGIN_HEADER,
    .kind = VIMO_PLUGIN_PROJECTOR,
    .id = "projector.resampler",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "learned queries cross-attending to encoder tokens (Perceiver resampler)",
    .options = k_options,
    .create = create,
    .destroy = destroy,
    .get_iface = get_iface,
};
