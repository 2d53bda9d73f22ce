/* layers.c - the pre-LN transformer block and activations (see layers.h). */
#include <math.h>
#include <stdio.h>

#include "vimo/layers.h"

vimo_status vimo_activation(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, vimo_act act)
{
    vimo_tensor *s, *t;
    vimo_status st = VIMO_OK;
    switch (act) {
    case VIMO_ACT_GELU: return vimo_gelu(ctx, y, x, VIMO_GELU_ERF);
    case VIMO_ACT_GELU_TANH: return vimo_gelu(ctx, y, x, VIMO_GELU_TANH);
    case VIMO_ACT_RELU: return vimo_relu(ctx, y, x);
    case VIMO_ACT_QUICK_GELU: /* x sigmoid(1.702 x) = silu(1.702 x) / 1.702 */
        VIMO_TRY(vimo_scale(ctx, &s, x, 1.702f));
        VIMO_TRY(vimo_silu(ctx, &t, s));
        return vimo_scale(ctx, y, t, 1.0f / 1.702f);
    }
    return vimo_error(VIMO_ERR_INVALID, "activation: unknown kind %d", (int)act);
fail:
    return st;
}

vimo_status vimo_layernorm_init(vimo_params *p, vimo_tensor **w, vimo_tensor **b, int64_t dim, const char *prefix)
{
    vimo_status st = vimo_params_add(p, w, 1, (int64_t[]){dim}, "%s.weight", prefix);
    if (!st) st = vimo_params_add(p, b, 1, (int64_t[]){dim}, "%s.bias", prefix);
    if (!st) vimo_tensor_fill(*w, 1.0f);
    return st;
}

vimo_status vimo_tblock_init(vimo_params *p, vimo_rng *rng, vimo_tblock *blk, int64_t dim, int64_t heads,
                             int64_t mlp_dim, vimo_act act, const char *prefix)
{
    if (!blk || heads < 1 || dim < 1 || dim % heads)
        return vimo_error(VIMO_ERR_INVALID, "tblock: dim %lld must be a multiple of heads %lld", (long long)dim,
                          (long long)heads);
    blk->dim = dim;
    blk->heads = heads;
    blk->act = act;
    blk->eps = 1e-5f;
    char name[160];
    vimo_status st = VIMO_OK;
#define NAME(s) (snprintf(name, sizeof name, "%s." s, prefix), name)
    VIMO_TRY(vimo_layernorm_init(p, &blk->ln1_w, &blk->ln1_b, dim, NAME("layer_norm1")));
    VIMO_TRY(vimo_linear_init(p, rng, &blk->q, dim, dim, 1, NAME("self_attn.q_proj")));
    VIMO_TRY(vimo_linear_init(p, rng, &blk->k, dim, dim, 1, NAME("self_attn.k_proj")));
    VIMO_TRY(vimo_linear_init(p, rng, &blk->v, dim, dim, 1, NAME("self_attn.v_proj")));
    VIMO_TRY(vimo_linear_init(p, rng, &blk->o, dim, dim, 1, NAME("self_attn.out_proj")));
    VIMO_TRY(vimo_layernorm_init(p, &blk->ln2_w, &blk->ln2_b, dim, NAME("layer_norm2")));
    VIMO_TRY(vimo_linear_init(p, rng, &blk->fc1, dim, mlp_dim, 1, NAME("mlp.fc1")));
    VIMO_TRY(vimo_linear_init(p, rng, &blk->fc2, mlp_dim, dim, 1, NAME("mlp.fc2")));
#undef NAME
fail:
    return st;
}

/* x (B, T, D) @ W^T + b viewed as heads (B, T, H, D/H). */
static vimo_status split_heads(vimo_ctx *ctx, const vimo_tblock *blk, vimo_tensor *x, const vimo_linear *l,
                               vimo_tensor **out)
{
    vimo_tensor *y;
    vimo_status st = vimo_matmul(ctx, &y, x, l->w, l->b);
    if (st) return st;
    int64_t shape[4] = {vimo_tensor_dim(x, 0), vimo_tensor_dim(x, 1), blk->heads, blk->dim / blk->heads};
    return vimo_reshape(ctx, out, y, 4, shape);
}

vimo_status vimo_tblock_forward(vimo_ctx *ctx, const vimo_tblock *blk, vimo_tensor *x, const uint8_t *key_mask,
                                int causal, vimo_tensor **out)
{
    vimo_status st = VIMO_OK;
    if (vimo_tensor_ndim(x) != 3 || vimo_tensor_dim(x, 2) != blk->dim)
        return vimo_error(VIMO_ERR_SHAPE, "tblock: x must be (B, T, %lld)", (long long)blk->dim);
    int64_t b = vimo_tensor_dim(x, 0), t = vimo_tensor_dim(x, 1);
    vimo_tensor *n1, *q, *k, *v, *a, *a2, *o, *h, *n2, *f1, *f1a, *f2;
    VIMO_TRY(vimo_layernorm(ctx, &n1, x, blk->ln1_w, blk->ln1_b, blk->eps));
    VIMO_TRY(split_heads(ctx, blk, n1, &blk->q, &q));
    VIMO_TRY(split_heads(ctx, blk, n1, &blk->k, &k));
    VIMO_TRY(split_heads(ctx, blk, n1, &blk->v, &v));
    VIMO_TRY(vimo_attention(ctx, &a, q, k, v, key_mask, causal, 1.0f / sqrtf((float)(blk->dim / blk->heads))));
    VIMO_TRY(vimo_reshape(ctx, &a2, a, 3, (int64_t[]){b, t, blk->dim}));
    VIMO_TRY(vimo_matmul(ctx, &o, a2, blk->o.w, blk->o.b));
    VIMO_TRY(vimo_add(ctx, &h, x, o));
    VIMO_TRY(vimo_layernorm(ctx, &n2, h, blk->ln2_w, blk->ln2_b, blk->eps));
    VIMO_TRY(vimo_matmul(ctx, &f1, n2, blk->fc1.w, blk->fc1.b));
    VIMO_TRY(vimo_activation(ctx, &f1a, f1, blk->act));
    VIMO_TRY(vimo_matmul(ctx, &f2, f1a, blk->fc2.w, blk->fc2.b));
    VIMO_TRY(vimo_add(ctx, out, h, f2));
fail:
    return st;
}
