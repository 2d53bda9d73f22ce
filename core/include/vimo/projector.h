/*
 * vimo/projector.h - "vimo.projector/1": modality tokens -> LLM embeddings.
 *
 * MotionLLM and LLaVA-1.5 map encoder tokens into the LLM's embedding space
 * with a trainable projector (linear, or 2-layer MLP with GELU:
 * "mlp2x_gelu"); a resampler instead cross-attends a fixed number of learned
 * queries to the tokens (Perceiver resampler / Q-Former).
 *   tokens (B, N, Din) -> out (B, M, Dout); M = N except for resamplers.
 */
#ifndef VIMO_PROJECTOR_H
#define VIMO_PROJECTOR_H

#include "vimo/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VIMO_IFACE_PROJECTOR "vimo.projector/1"

typedef struct vimo_projector_iface {
    uint32_t size; /* sizeof(vimo_projector_iface) at the plugin's build */
    int64_t (*in_dim)(void *inst);
    int64_t (*out_dim)(void *inst);
    /* Output tokens for n input tokens (n for linear/MLP, the query count for
     * a resampler). */
    int64_t (*out_tokens)(void *inst, int64_t n);
    vimo_status (*forward)(void *inst, vimo_ctx *ctx, vimo_tensor *tokens, vimo_rng *rng, vimo_tensor **out);
} vimo_projector_iface;

#ifdef __cplusplus
}
#endif
#endif
