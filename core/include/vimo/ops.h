/*
 * vimo/ops.h - differentiable tensor ops.
 *
 * Every op has the form
 *     vimo_status vimo_OP(vimo_ctx *ctx, vimo_tensor **out, inputs..., params);
 * outputs first, then inputs, then sizes (llm.c order). The result belongs
 * to ctx (see tensor.h). When ctx's grad mode is on and any input requires a
 * gradient, the op records its backward on ctx's tape; every op below has a
 * backward, checked against central finite differences in tests/core.
 *
 * Inputs may be strided views: compute ops read them through a contiguous
 * copy when needed. On error *out is NULL and the message names the op and
 * the offending shapes, e.g. "matmul: x (4, 7) vs W (8, 5): inner dims differ".
 *
 * Broadcasting (add, sub, mul): b has a's shape, or b's shape equals the
 * trailing dims of a (row broadcasting, e.g. a (B, T, D) + b (D)), or b has
 * one element.
 *
 * Devices (vimo/backend.h): an op runs on the device its tensor inputs live
 * on, and its result and gradients live there too. All tensor inputs of one
 * op must be on the same device; otherwise the op fails with
 * VIMO_ERR_INVALID naming the op and the first two inputs that differ,
 * e.g. "matmul: x on cpu, W on cuda (move them to one device with
 * vimo_to_device)", and *out is NULL. Integer and byte arguments (ids,
 * targets, masks) are host arrays on every device. An op whose kernel the
 * device's backend lacks (built for an older backend ABI minor) fails with
 * VIMO_ERR_UNSUPPORTED.
 */
#ifndef VIMO_OPS_H
#define VIMO_OPS_H

#include "vimo/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vimo_rng vimo_rng;

/* ---- linear algebra ------------------------------------------------------ */

/* y = x @ W^T + b, the nn.Linear convention.
 * x (..., K) with 1-3 leading dims, W (N, K), b (N) or NULL -> y (..., N). */
VIMO_API vimo_status vimo_matmul(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, vimo_tensor *w,
                                 vimo_tensor *b);
/* Batched y[i] = a[i] @ b[i]^T: a (B, M, K), b (B, N, K) -> y (B, M, N). */
VIMO_API vimo_status vimo_bmm(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *a, vimo_tensor *b);

/* ---- element-wise -------------------------------------------------------- */

VIMO_API vimo_status vimo_add(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *a, vimo_tensor *b);
VIMO_API vimo_status vimo_sub(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *a, vimo_tensor *b);
VIMO_API vimo_status vimo_mul(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *a, vimo_tensor *b);
/* y = s * x. */
VIMO_API vimo_status vimo_scale(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, float s);
VIMO_API vimo_status vimo_relu(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x);
/* silu(x) = x * sigmoid(x). */
VIMO_API vimo_status vimo_silu(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x);

typedef enum vimo_gelu_mode {
    VIMO_GELU_ERF = 0, /* exact: 0.5 x (1 + erf(x / sqrt 2)) (CLIP "gelu")        */
    VIMO_GELU_TANH = 1 /* 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))) ("quick" */
} vimo_gelu_mode;      /*  forms aside, Hendrycks & Gimpel 2016, eq. 2)           */
VIMO_API vimo_status vimo_gelu(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, vimo_gelu_mode mode);
/* SwiGLU (Shazeer 2020): y = silu(gate) * up, same shapes. */
VIMO_API vimo_status vimo_swiglu(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *gate, vimo_tensor *up);
/* Inverted dropout: zeroes each element with probability p and scales the
 * rest by 1/(1-p); masks come from rng (seeded, reproducible). p = 0 or a NULL
 * rng returns x unchanged (inference). Errors: VIMO_ERR_INVALID if p >= 1. */
VIMO_API vimo_status vimo_dropout(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, float p, vimo_rng *rng);

/* ---- normalisation and softmax (over the last dim) ----------------------- */

/* RMSNorm (Zhang & Sennrich 2019): y = x / sqrt(mean(x^2) + eps) * w.
 * x (..., D), w (D). */
VIMO_API vimo_status vimo_rmsnorm(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, vimo_tensor *w, float eps);
/* LayerNorm (Ba et al. 2016): y = (x - mean) / sqrt(var + eps) * w + b,
 * biased variance. x (..., D), w (D), b (D) or NULL. */
VIMO_API vimo_status vimo_layernorm(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, vimo_tensor *w,
                                    vimo_tensor *b, float eps);
VIMO_API vimo_status vimo_softmax(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x);

/* ---- embeddings and positions -------------------------------------------- */

/* y[i, :] = table[ids[i], :]. table (V, D); ids int32 of shape ids_shape
 * (1-3 dims) -> y (ids_shape..., D). Errors: VIMO_ERR_INVALID for an id
 * outside [0, V). */
VIMO_API vimo_status vimo_embedding(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *table, const int32_t *ids,
                                    int ids_ndim, const int64_t *ids_shape);

typedef enum vimo_rope_mode {
    VIMO_ROPE_INTERLEAVED = 0, /* rotate pairs (2i, 2i+1): Meta Llama, llama2.c       */
    VIMO_ROPE_HALF = 1         /* rotate pairs (i, i + Dh/2): Hugging Face rotate_half */
} vimo_rope_mode;
/* Rotary position embedding (Su et al. 2021, RoFormer eq. 34) as Llama uses
 * it: x (B, T, H, Dh), Dh even; token t has position pos_offset + t (the KV
 * cache length during decoding); angle = pos * theta^(-2i/Dh). */
VIMO_API vimo_status vimo_rope(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, float theta, int64_t pos_offset,
                               vimo_rope_mode mode);

/* ---- attention ----------------------------------------------------------- */

/* Multi-head scaled dot-product attention (Vaswani et al. 2017) with grouped-
 * query heads (Ainslie et al. 2023), fused with an online softmax (Milakov &
 * Gimelshein 2018; FlashAttention): no (Tq, Tk) matrix is materialised.
 *   q (B, Tq, Hq, Dh), k and v (B, Tk, Hkv, Dh), Hq % Hkv == 0 -> y (B, Tq, Hq, Dh).
 *   causal: query t sees keys j <= t + (Tk - Tq) (queries are the last Tq
 *           positions, as with a KV cache).
 *   key_mask: NULL or (B, Tk) bytes, 0 = padding key (never attended).
 *   scale: usually 1/sqrt(Dh).
 * A row with no visible key outputs zeros. */
VIMO_API vimo_status vimo_attention(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *q, vimo_tensor *k,
                                    vimo_tensor *v, const uint8_t *key_mask, int causal, float scale);

/* ---- convolution (PyTorch layouts) ---------------------------------------- */

/* 1-D convolution: x (B, Cin, T), w (Cout, Cin, K), b (Cout) or NULL ->
 * y (B, Cout, Tout), Tout = (T + 2 pad - dilation (K - 1) - 1) / stride + 1.
 * As torch.nn.Conv1d (used by the T2M-GPT motion encoder). */
VIMO_API vimo_status vimo_conv1d(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, vimo_tensor *w, vimo_tensor *b,
                                 int stride, int pad, int dilation);
/* 2-D convolution: x (B, Cin, H, W), w (Cout, Cin, KH, KW), b (Cout) or NULL
 * -> y (B, Cout, Ho, Wo), square stride and padding, as torch.nn.Conv2d. */
VIMO_API vimo_status vimo_conv2d(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, vimo_tensor *w, vimo_tensor *b,
                                 int stride, int pad);

/* ---- reductions and losses ------------------------------------------------ */

/* Mean over dimension dim (negative counts from the end), which is removed
 * (a 1-D input gives shape (1)). "Mean over time" is dim = 1 of (B, T, D). */
VIMO_API vimo_status vimo_mean(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, int dim);
/* Sum of all elements -> (1). */
VIMO_API vimo_status vimo_sum(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x);
/* Mean cross-entropy of logits (..., V) against int32 targets (one per row);
 * rows whose target == ignore_index (e.g. -100 for prompt tokens) are left
 * out. -> (1). With no counted row the loss is 0. Errors: VIMO_ERR_INVALID
 * for a target outside [0, V) that is not ignore_index. */
VIMO_API vimo_status vimo_cross_entropy(vimo_ctx *ctx, vimo_tensor **loss, vimo_tensor *logits,
                                        const int32_t *targets, int32_t ignore_index);
/* Mean squared error over all elements, a and b the same shape -> (1). */
VIMO_API vimo_status vimo_mse(vimo_ctx *ctx, vimo_tensor **loss, vimo_tensor *a, vimo_tensor *b);

/* ---- views and copies (differentiable) ----------------------------------- */

/* Same data, new shape (numel must match; one dim may be -1). A view when x
 * is contiguous, a copy otherwise. */
VIMO_API vimo_status vimo_reshape(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, int ndim, const int64_t *shape);
/* y.dim(i) = x.dim(perm[i]); a strided view. */
VIMO_API vimo_status vimo_permute(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, const int *perm);
VIMO_API vimo_status vimo_transpose(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, int d0, int d1);
/* Elements [start, end) along dim; a strided view. */
VIMO_API vimo_status vimo_slice(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, int dim, int64_t start,
                                int64_t end);
/* Concatenation of n tensors along dim; all other dims equal. A copy. */
VIMO_API vimo_status vimo_concat(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *const *xs, int n, int dim);
/* A contiguous copy (or x itself if already contiguous). */
VIMO_API vimo_status vimo_contiguous(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x);

#ifdef __cplusplus
}
#endif
#endif /* VIMO_OPS_H */
