/*
 * vimo/encoder.h - "vimo.encoder/1": modality encoders (motion, video).
 *
 * An encoder turns a batch of clips into a sequence of feature tokens that a
 * projector maps into the LLM's embedding space (MotionLLM sec. 3.1,
 * ViMoNet sec. 3). Shapes by modality:
 *   motion: x (B, T, F) features per frame (F = 263 for HumanML3D) -> (B, N, D)
 *   video : x (B * F, 3, S, S) CLIP-normalised frames, F frames per clip,
 *           batch = B -> (B, N, D)
 * The token count N may depend on T (e.g. T/4 for the T2M-GPT encoder).
 */
#ifndef VIMO_ENCODER_H
#define VIMO_ENCODER_H

#include "vimo/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VIMO_IFACE_ENCODER "vimo.encoder/1"

typedef struct vimo_encoder_iface {
    uint32_t size;        /* sizeof(vimo_encoder_iface) at the plugin's build */
    const char *modality; /* "motion" or "video"                               */
    /* Feature width D of the output tokens. */
    int64_t (*out_dim)(void *inst);
    /* Encodes x (see above) into *tokens (B, N, D) on ctx. rng drives dropout
     * in train mode (may be NULL in eval). Errors: VIMO_ERR_SHAPE naming the
     * plugin and the expected input shape. */
    vimo_status (*forward)(void *inst, vimo_ctx *ctx, vimo_tensor *x, int64_t batch, vimo_rng *rng,
                           vimo_tensor **tokens);
    /* Optional self-supervised loss for pretraining the encoder alone (e.g.
     * the motion VQ-VAE's reconstruction + commitment loss); NULL if none.
     * x as in forward; *loss is a (1) tensor on ctx. */
    vimo_status (*pretrain_loss)(void *inst, vimo_ctx *ctx, vimo_tensor *x, int64_t batch, vimo_rng *rng,
                                 vimo_tensor **loss);
} vimo_encoder_iface;

#ifdef __cplusplus
}
#endif
#endif
