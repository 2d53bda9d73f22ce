/*
 * vimo/llm.h - "vimo.llm/1": decoder-only language models.
 *
 * MotionLLM (sec. 3.1) embeds the text prompt, inserts the projected motion
 * or video tokens directly into the embedded sequence (no special tokens),
 * and trains with the loss on answer tokens only. An LLM plugin therefore
 * exposes its token embedding and a decoder over an already-embedded
 * sequence; the caller splices (vimo_concat along T) and masks the loss
 * (vimo_cross_entropy with ignore_index). Generation runs without autograd
 * on a KV cache, from an optional prefix of external embeddings.
 *
 * Shapes: ids (B, T) int32; embeddings (B, T, D); logits (B, T, V).
 */
#ifndef VIMO_LLM_H
#define VIMO_LLM_H

#include <stddef.h>

#include "vimo/plugin.h"
#include "vimo/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VIMO_IFACE_LLM "vimo.llm/1"

/* Sampling, as llama2.c's run.c: temperature 0 is greedy (argmax, first
 * maximum wins); otherwise softmax(logits / T), then top-k (0 = off), then
 * nucleus top-p (1 = off), drawn from a generator seeded with `seed`. */
typedef struct vimo_sample_config {
    float temperature;
    float top_p;
    int32_t top_k;
    uint64_t seed;
    int32_t max_new_tokens;
    int32_t stop_at_eos; /* 1: stop at EOS (and at BOS, as llama2.c does) */
} vimo_sample_config;

typedef struct vimo_llm_iface {
    uint32_t size; /* sizeof(vimo_llm_iface) at the plugin's build */
    int64_t (*dim)(void *inst);
    int64_t (*vocab_size)(void *inst);
    int64_t (*max_seq)(void *inst);
    /* The model's tokenizer, or NULL when none was loaded. Owned by inst. */
    const vimo_tokenizer *(*tokenizer)(void *inst);
    /* Token embeddings: ids (B, T) -> out (B, T, D) on ctx. Errors:
     * VIMO_ERR_INVALID for an id outside the vocabulary. */
    vimo_status (*embed)(void *inst, vimo_ctx *ctx, const int32_t *ids, int64_t b, int64_t t, vimo_tensor **out);
    /* The decoder over an embedded sequence x (B, T, D), positions 0..T-1,
     * causal; key_mask (B, T) or NULL marks padding. -> logits (B, T, V).
     * rng drives LoRA dropout in train mode (may be NULL). */
    vimo_status (*forward)(void *inst, vimo_ctx *ctx, vimo_tensor *x, const uint8_t *key_mask, vimo_rng *rng,
                           vimo_tensor **logits);
    /* Generates up to cfg->max_new_tokens (and at most max_out) ids after a
     * prefix of n_prefix external embeddings (n_prefix x D floats, may be
     * NULL) followed by n_prompt prompt ids, with a KV cache and no autograd.
     * Writes the new ids to out and their count to *n_out. */
    vimo_status (*generate)(void *inst, const float *prefix, int64_t n_prefix, const int32_t *prompt, int64_t n_prompt,
                            const vimo_sample_config *cfg, int32_t *out, int64_t max_out, int64_t *n_out);
    /* LoRA (Hu et al. 2022): adds adapters B A (A ~ Kaiming, B = 0) of rank r
     * and scale alpha / r to the comma-separated target projections
     * ("q,v" as MotionLLM; also k, o, gate, up, down), with dropout on the
     * adapter input; freezes every base weight. Adapter parameters appear in
     * vimo.module/1 under "<base name>.lora_A" / ".lora_B". */
    vimo_status (*lora_add)(void *inst, int rank, float alpha, float dropout, const char *targets, uint64_t seed);
    /* Folds the adapters into the base weights (W += alpha/r B A) and drops
     * them, for inference. */
    vimo_status (*lora_merge)(void *inst);
    /* ---- ABI 1.1: read only when size covers it (vimo_llm_has_varlen) ---- */
    /* The decoder over right-padded sequences without their padding, for
     * training: x (B, T, D) as forward's, where sequence b's first lens[b]
     * positions are real (1 <= lens[b] <= T) and the rest is padding that is
     * never read; rows[0..n_rows) are flat positions b * T + t (t < lens[b])
     * whose logits are wanted. -> logits (n_rows, V), forward's logits at
     * those positions (causal attention never lets a real position see the
     * padding after it). Costs scale with sum(lens) and sum(lens^2), not
     * B T and B T^2, and the output head runs on n_rows positions only,
     * usually the answer tokens (FlashAttention's "varlen" packing, Dao
     * 2023). LoRA dropout draws its masks over the real positions only, so
     * in train mode the masks (not their distribution) differ from
     * forward's. Errors: VIMO_ERR_SHAPE as forward; VIMO_ERR_INVALID for a
     * length outside [1, T] or a row that is not a real position. */
    vimo_status (*forward_varlen)(void *inst, vimo_ctx *ctx, vimo_tensor *x, const int32_t *lens,
                                  const int32_t *rows, int64_t n_rows, vimo_rng *rng, vimo_tensor **logits);
} vimo_llm_iface;

/* Whether an LLM vtable has forward_varlen (ABI 1.1; plugins built before
 * it have a smaller size). */
static inline int vimo_llm_has_varlen(const vimo_llm_iface *m)
{
    return m && m->size >= offsetof(vimo_llm_iface, forward_varlen) + sizeof m->forward_varlen &&
           m->forward_varlen != NULL;
}

#ifdef __cplusplus
}
#endif
#endif
