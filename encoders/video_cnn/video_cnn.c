/*
 * encoder.video_cnn - a small convolutional per-frame encoder that trains
 * fast on a CPU: the baseline beside encoder.video_vit.
 *   x (B * F, 3, S, S) CLIP-normalised frames, F frames per clip
 *   -> `stages` x [conv2d 3x3 stride 2 pad 1 -> relu] (channels double from
 *      `channels`) -> mean over H and W -> linear -> (B * F, D)
 *   -> (B, F, D) + learned temporal position embedding -> tokens (B, F, D)
 * One token per frame, as MotionLLM's video branch before its projector.
 * Core ops only: runs on whatever device its parameters were moved to.
 * Not done here: batch norm, pretrained weights.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vimo/encoder.h"
#include "vimo/layers.h"

#define MAX_STAGES 6
#define MAX_FRAMES 64

typedef struct {
    vimo_module_base base;
    vimo_tensor *cw[MAX_STAGES], *cb[MAX_STAGES];
    vimo_linear head;
    vimo_tensor *time_embed; /* (MAX_FRAMES, D) */
    int stages;
    int64_t channels, dim;
} video_cnn;

static const vimo_option_spec k_options[] = {
    {"channels", VIMO_OPT_INT, "16", "channels of the first stage (doubling after)"},
    {"stages", VIMO_OPT_INT, "4", "stride-2 conv stages"},
    {"out_dim", VIMO_OPT_INT, "128", "token width"},
    {"seed", VIMO_OPT_INT, "1", "initialisation seed"},
    {NULL, 0, NULL, NULL},
};

static void destroy(void *inst)
{
    video_cnn *m = inst;
    if (!m) return;
    vimo_params_free(m->base.params);
    free(m);
}

static vimo_status create(const vimo_options *o, void **out)
{
    video_cnn *m = calloc(1, sizeof *m);
    if (!m) return vimo_error(VIMO_ERR_NOMEM, "encoder.video_cnn: out of memory");
    m->channels = vimo_options_int(o, "channels");
    m->stages = (int)vimo_options_int(o, "stages");
    m->dim = vimo_options_int(o, "out_dim");
    vimo_rng rng;
    vimo_rng_seed(&rng, (uint64_t)vimo_options_int(o, "seed"));
    vimo_status st = VIMO_OK;
    if (m->channels < 1 || m->stages < 1 || m->stages > MAX_STAGES || m->dim < 1) {
        st = vimo_error(VIMO_ERR_INVALID, "encoder.video_cnn: channels, out_dim >= 1 and stages in 1..%d",
                        MAX_STAGES);
        goto fail;
    }
    VIMO_TRY(vimo_params_new(&m->base.params));
    int64_t cin = 3, c = m->channels;
    for (int i = 0; i < m->stages; i++, cin = c, c *= 2) {
        VIMO_TRY(vimo_params_add(m->base.params, &m->cw[i], 4, (int64_t[]){c, cin, 3, 3}, "convs.%d.weight", i));
        VIMO_TRY(vimo_params_add(m->base.params, &m->cb[i], 1, (int64_t[]){c}, "convs.%d.bias", i));
        vimo_init_fan_in(m->cw[i], &rng, cin * 9);
        vimo_init_fan_in(m->cb[i], &rng, cin * 9);
    }
    VIMO_TRY(vimo_linear_init(m->base.params, &rng, &m->head, cin, m->dim, 1, "head"));
    VIMO_TRY(vimo_params_add(m->base.params, &m->time_embed, 2, (int64_t[]){MAX_FRAMES, m->dim}, "time_embed"));
    vimo_rng_fill_normal(&rng, vimo_tensor_data(m->time_embed), MAX_FRAMES * m->dim, 0.02f);
    *out = m;
    return VIMO_OK;
fail:
    destroy(m);
    return st;
}

static int64_t out_dim(void *inst) { return ((video_cnn *)inst)->dim; }

static vimo_status forward(void *inst, vimo_ctx *ctx, vimo_tensor *x, int64_t batch, vimo_rng *rng,
                           vimo_tensor **tokens)
{
    (void)rng;
    video_cnn *m = inst;
    int64_t bf = vimo_tensor_dim(x, 0), frames = batch > 0 ? bf / batch : 0;
    if (vimo_tensor_ndim(x) != 4 || vimo_tensor_dim(x, 1) != 3 || batch < 1 || bf % batch || frames > MAX_FRAMES)
        return vimo_error(VIMO_ERR_SHAPE, "encoder.video_cnn: input must be (B * F, 3, S, S) with F <= %d", MAX_FRAMES);
    vimo_status st = VIMO_OK;
    vimo_tensor *h = x, *a, *flat, *pooled, *y, *y3, *te;
    for (int i = 0; i < m->stages; i++) {
        VIMO_TRY(vimo_conv2d(ctx, &a, h, m->cw[i], m->cb[i], 2, 1));
        VIMO_TRY(vimo_relu(ctx, &h, a));
    }
    int64_t c = vimo_tensor_dim(h, 1), hw = vimo_tensor_dim(h, 2) * vimo_tensor_dim(h, 3);
    VIMO_TRY(vimo_reshape(ctx, &flat, h, 3, (int64_t[]){bf, c, hw}));
    VIMO_TRY(vimo_mean(ctx, &pooled, flat, 2));
    VIMO_TRY(vimo_matmul(ctx, &y, pooled, m->head.w, m->head.b));
    VIMO_TRY(vimo_reshape(ctx, &y3, y, 3, (int64_t[]){batch, frames, m->dim}));
    VIMO_TRY(vimo_slice(ctx, &te, m->time_embed, 0, 0, frames));
    VIMO_TRY(vimo_add(ctx, tokens, y3, te));
fail:
    return st;
}

static const vimo_encoder_iface k_encoder = {
    .size = sizeof(vimo_encoder_iface),
    .modality = "video",
    .out_dim = out_dim,
    .forward = forward,
    .pretrain_loss = NULL,
};

static const void *get_iface(const char *name)
{
    if (strcmp(name, VIMO_IFACE_ENCODER) == 0) return &k_encoder;
    if (strcmp(name, VIMO_IFACE_MODULE) == 0) return &vimo_module_base_iface;
    return NULL;
}

VIMO_PLUGIN_DEFINE(encoder_video_cnn) = {
    VIMO_PLUGIN_HEADER,
    .kind = VIMO_PLUGIN_ENCODER,
    .id = "encoder.video_cnn",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "small per-frame CNN with temporal position embedding (video baseline)",
    .options = k_options,
    .create = create,
    .destroy = destroy,
    .get_iface = get_iface,
};
