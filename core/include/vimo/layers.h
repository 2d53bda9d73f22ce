/*
 * vimo/layers.h - reusable layers built from core ops, for plugins.
 *
 * The pre-LN transformer block of ViT/CLIP (Dosovitskiy et al. 2021, eq. 2-3;
 * Radford et al. 2021) with parameter names of Hugging Face's CLIP encoder
 * layers, so CLIP vision weights load by name:
 *   h   = x + out_proj(attention(q_proj(ln1 x), k_proj(ln1 x), v_proj(ln1 x)))
 *   out = h + fc2(act(fc1(ln2 h)))
 *   names: <prefix>.layer_norm1.{weight,bias}, <prefix>.self_attn.{q,k,v,out}_proj.{weight,bias},
 *          <prefix>.layer_norm2.{weight,bias}, <prefix>.mlp.fc1/fc2.{weight,bias}
 */
#ifndef VIMO_LAYERS_H
#define VIMO_LAYERS_H

#include "vimo/ops.h"
#include "vimo/params.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vimo_act {
    VIMO_ACT_GELU = 0,       /* erf GELU                                    */
    VIMO_ACT_GELU_TANH = 1,  /* tanh approximation                          */
    VIMO_ACT_QUICK_GELU = 2, /* x * sigmoid(1.702 x): OpenAI CLIP           */
    VIMO_ACT_RELU = 3
} vimo_act;

/* y = act(x) for the activations above. */
VIMO_API vimo_status vimo_activation(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, vimo_act act);

typedef struct vimo_tblock {
    vimo_tensor *ln1_w, *ln1_b, *ln2_w, *ln2_b; /* (D) */
    vimo_linear q, k, v, o;                     /* (D, D) + bias */
    vimo_linear fc1, fc2;                       /* (M, D), (D, M) + bias */
    int64_t dim, heads;
    vimo_act act;
    float eps;
} vimo_tblock;

/* Adds one block's parameters to p (PyTorch default init, norms = 1/0).
 * Errors: VIMO_ERR_INVALID unless dim % heads == 0. */
VIMO_API vimo_status vimo_tblock_init(vimo_params *p, vimo_rng *rng, vimo_tblock *blk, int64_t dim, int64_t heads,
                                      int64_t mlp_dim, vimo_act act, const char *prefix);
/* x (B, T, D) -> out (B, T, D). key_mask (B, T) or NULL; causal 0/1. */
VIMO_API vimo_status vimo_tblock_forward(vimo_ctx *ctx, const vimo_tblock *blk, vimo_tensor *x,
                                         const uint8_t *key_mask, int causal, vimo_tensor **out);

/* LayerNorm parameters "<prefix>.weight" = 1 and "<prefix>.bias" = 0, (dim). */
VIMO_API vimo_status vimo_layernorm_init(vimo_params *p, vimo_tensor **w, vimo_tensor **b, int64_t dim,
                                         const char *prefix);

#ifdef __cplusplus
}
#endif
#endif
