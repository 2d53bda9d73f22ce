/*
 * encoder.motion_tcn - the T2M-GPT motion VQ-VAE encoder (Zhang et al. 2023,
 * "T2M-GPT", sec. 3.1 and their models/encdec.py), as MotionLLM uses it.
 *
 *   x (B, T, in_dim=263) -> permute -> conv1d(in_dim, width, 3, pad 1) -> relu
 *   down_t times: conv1d(width, width, 4, stride 2, pad 1)
 *                 -> Resnet1D(depth blocks, dilation growth^k, reversed order)
 *   -> conv1d(width, out_dim, 3, pad 1) -> permute -> tokens (B, T/4, out_dim)
 * Resnet1D block: h = conv1d(relu(x), k 3, dilation d, pad d);
 *                 x = x + conv1d(relu(h), k 1).
 * Optional vector quantiser (EMA codebook updates, dead-code reset: T2M-GPT
 * QuantizeEMAReset) and the mirrored decoder (Resnet1D, nearest x2 upsample,
 * conv) give pretrain_loss = mse(decoder(quantise(z)), x) + beta * commit, so
 * the encoder can be pretrained on motion alone, as T2M-GPT does.
 * Devices (docs/cuda.md): the encoder, decoder and losses are core ops and
 * run on the parameters' device; the vector quantiser's nearest-code search
 * and EMA codebook (plugin state, not parameters) stay on the host, so with
 * use_vq a device forward copies z to the host and the codes back.
 * Not done here: T2M-GPT's velocity loss term, norm layers (it uses none).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vimo/backend.h"
#include "vimo/encoder.h"
#include "vimo/ops.h"
#include "vimo/params.h"

#define MAX_DOWN 4
#define MAX_DEPTH 6

typedef struct {
    vimo_tensor *w, *b;
} conv;

typedef struct {
    conv c1[MAX_DEPTH], c2[MAX_DEPTH];
    int dil[MAX_DEPTH];
} resnet1d;

typedef struct {
    vimo_module_base base;
    int64_t in_dim, width, out_dim;
    int down_t, depth;
    conv enc_in, enc_down[MAX_DOWN], enc_out;
    resnet1d enc_res[MAX_DOWN];
    int use_decoder;
    conv dec_in, dec_up[MAX_DOWN], dec_mid, dec_out;
    resnet1d dec_res[MAX_DOWN];
    /* Vector quantiser (state, not parameters: updated by EMA). */
    int use_vq;
    int64_t n_codes;
    float mu, beta;
    float *codebook; /* (n_codes, out_dim) */
    float *code_sum; /* (n_codes, out_dim) EMA of assigned vectors */
    float *code_cnt; /* (n_codes) EMA of usage */
    int vq_init;
    vimo_rng rng;
} tcn;

static const vimo_option_spec k_options[] = {
    {"in_dim", VIMO_OPT_INT, "263", "features per frame (263 = HumanML3D)"},
    {"width", VIMO_OPT_INT, "128", "channels (T2M-GPT: 512)"},
    {"out_dim", VIMO_OPT_INT, "128", "token width (T2M-GPT code_dim: 512)"},
    {"down_t", VIMO_OPT_INT, "2", "stride-2 down-sampling stages (T/4 tokens for 2)"},
    {"depth", VIMO_OPT_INT, "3", "ResNet1D blocks per stage"},
    {"dilation_growth", VIMO_OPT_INT, "3", "dilation of block k = growth^k"},
    {"decoder", VIMO_OPT_BOOL, "false", "build the decoder for autoencoder pretraining"},
    {"quantizer", VIMO_OPT_BOOL, "false", "vector-quantise the tokens (VQ-VAE)"},
    {"codes", VIMO_OPT_INT, "512", "codebook size"},
    {"mu", VIMO_OPT_FLOAT, "0.99", "EMA decay of the codebook"},
    {"commit", VIMO_OPT_FLOAT, "0.02", "commitment loss weight (T2M-GPT beta)"},
    {"seed", VIMO_OPT_INT, "1", "initialisation seed"},
    {NULL, 0, NULL, NULL},
};

static vimo_status conv_init(tcn *m, conv *c, int64_t cin, int64_t cout, int64_t k, const char *name)
{
    vimo_status st = vimo_params_add(m->base.params, &c->w, 3, (int64_t[]){cout, cin, k}, "%s.weight", name);
    if (!st) st = vimo_params_add(m->base.params, &c->b, 1, (int64_t[]){cout}, "%s.bias", name);
    if (!st) {
        vimo_init_fan_in(c->w, &m->rng, cin * k);
        vimo_init_fan_in(c->b, &m->rng, cin * k);
    }
    return st;
}

static vimo_status res_init(tcn *m, resnet1d *r, const char *prefix, int growth)
{
    char name[96];
    for (int k = 0; k < m->depth; k++) {
        /* reverse_dilation=True: the largest dilation comes first. */
        int e = m->depth - 1 - k, d = 1;
        for (int i = 0; i < e; i++) d *= growth;
        r->dil[k] = d;
        snprintf(name, sizeof name, "%s.%d.conv1", prefix, k);
        vimo_status st = conv_init(m, &r->c1[k], m->width, m->width, 3, name);
        if (st) return st;
        snprintf(name, sizeof name, "%s.%d.conv2", prefix, k);
        if ((st = conv_init(m, &r->c2[k], m->width, m->width, 1, name))) return st;
    }
    return VIMO_OK;
}

static void destroy(void *inst)
{
    tcn *m = inst;
    if (!m) return;
    vimo_params_free(m->base.params);
    free(m->codebook);
    free(m->code_sum);
    free(m->code_cnt);
    free(m);
}

static vimo_status create(const vimo_options *o, void **out)
{
    tcn *m = calloc(1, sizeof *m);
    if (!m) return vimo_error(VIMO_ERR_NOMEM, "encoder.motion_tcn: out of memory");
    m->in_dim = vimo_options_int(o, "in_dim");
    m->width = vimo_options_int(o, "width");
    m->out_dim = vimo_options_int(o, "out_dim");
    m->down_t = (int)vimo_options_int(o, "down_t");
    m->depth = (int)vimo_options_int(o, "depth");
    int growth = (int)vimo_options_int(o, "dilation_growth");
    m->use_decoder = vimo_options_bool(o, "decoder");
    m->use_vq = vimo_options_bool(o, "quantizer");
    m->n_codes = vimo_options_int(o, "codes");
    m->mu = (float)vimo_options_float(o, "mu");
    m->beta = (float)vimo_options_float(o, "commit");
    vimo_rng_seed(&m->rng, (uint64_t)vimo_options_int(o, "seed"));
    vimo_status st = VIMO_OK;
    if (m->in_dim < 1 || m->width < 1 || m->out_dim < 1 || m->down_t < 0 || m->down_t > MAX_DOWN || m->depth < 1 ||
        m->depth > MAX_DEPTH || growth < 1 || m->n_codes < 1) {
        st = vimo_error(VIMO_ERR_INVALID, "encoder.motion_tcn: need dims >= 1, down_t in 0..%d, depth in 1..%d",
                        MAX_DOWN, MAX_DEPTH);
        goto fail;
    }
    VIMO_TRY(vimo_params_new(&m->base.params));
    char name[64];
    VIMO_TRY(conv_init(m, &m->enc_in, m->in_dim, m->width, 3, "encoder.conv_in"));
    for (int i = 0; i < m->down_t; i++) {
        snprintf(name, sizeof name, "encoder.down.%d.conv", i);
        VIMO_TRY(conv_init(m, &m->enc_down[i], m->width, m->width, 4, name));
        snprintf(name, sizeof name, "encoder.down.%d.res", i);
        VIMO_TRY(res_init(m, &m->enc_res[i], name, growth));
    }
    VIMO_TRY(conv_init(m, &m->enc_out, m->width, m->out_dim, 3, "encoder.conv_out"));
    if (m->use_decoder) {
        VIMO_TRY(conv_init(m, &m->dec_in, m->out_dim, m->width, 3, "decoder.conv_in"));
        for (int i = 0; i < m->down_t; i++) {
            snprintf(name, sizeof name, "decoder.up.%d.res", i);
            VIMO_TRY(res_init(m, &m->dec_res[i], name, growth));
            snprintf(name, sizeof name, "decoder.up.%d.conv", i);
            VIMO_TRY(conv_init(m, &m->dec_up[i], m->width, m->width, 3, name));
        }
        VIMO_TRY(conv_init(m, &m->dec_mid, m->width, m->width, 3, "decoder.conv_mid"));
        VIMO_TRY(conv_init(m, &m->dec_out, m->width, m->in_dim, 3, "decoder.conv_out"));
    }
    if (m->use_vq) {
        size_t n = (size_t)(m->n_codes * m->out_dim);
        m->codebook = calloc(n, sizeof(float));
        m->code_sum = calloc(n, sizeof(float));
        m->code_cnt = calloc((size_t)m->n_codes, sizeof(float));
        if (!m->codebook || !m->code_sum || !m->code_cnt) {
            st = vimo_error(VIMO_ERR_NOMEM, "encoder.motion_tcn: out of memory for the codebook");
            goto fail;
        }
    }
    *out = m;
    return VIMO_OK;
fail:
    destroy(m);
    return st;
}

static int64_t out_dim(void *inst) { return ((tcn *)inst)->out_dim; }

static vimo_status resnet(vimo_ctx *ctx, const resnet1d *r, int depth, vimo_tensor *x, vimo_tensor **out)
{
    vimo_status st = VIMO_OK;
    for (int k = 0; k < depth; k++) {
        vimo_tensor *a, *h, *ha, *h2;
        VIMO_TRY(vimo_relu(ctx, &a, x));
        VIMO_TRY(vimo_conv1d(ctx, &h, a, r->c1[k].w, r->c1[k].b, 1, r->dil[k], r->dil[k]));
        VIMO_TRY(vimo_relu(ctx, &ha, h));
        VIMO_TRY(vimo_conv1d(ctx, &h2, ha, r->c2[k].w, r->c2[k].b, 1, 0, 1));
        VIMO_TRY(vimo_add(ctx, &x, x, h2));
    }
    *out = x;
fail:
    return st;
}

/* x (B, T, in_dim) -> z (B, C=out_dim, T') channels-first. */
static vimo_status encode_cf(tcn *m, vimo_ctx *ctx, vimo_tensor *x, vimo_tensor **z)
{
    vimo_status st = VIMO_OK;
    if (vimo_tensor_ndim(x) != 3 || vimo_tensor_dim(x, 2) != m->in_dim)
        return vimo_error(VIMO_ERR_SHAPE, "encoder.motion_tcn: input must be (B, T, %lld), T >= %d",
                          (long long)m->in_dim, 1 << m->down_t);
    vimo_tensor *h, *a;
    VIMO_TRY(vimo_transpose(ctx, &h, x, 1, 2));
    VIMO_TRY(vimo_conv1d(ctx, &a, h, m->enc_in.w, m->enc_in.b, 1, 1, 1));
    VIMO_TRY(vimo_relu(ctx, &h, a));
    for (int i = 0; i < m->down_t; i++) {
        VIMO_TRY(vimo_conv1d(ctx, &a, h, m->enc_down[i].w, m->enc_down[i].b, 2, 1, 1));
        VIMO_TRY(resnet(ctx, &m->enc_res[i], m->depth, a, &h));
    }
    VIMO_TRY(vimo_conv1d(ctx, z, h, m->enc_out.w, m->enc_out.b, 1, 1, 1));
fail:
    return st;
}

/* Nearest-neighbour x2 upsampling along time: (B, C, T) -> (B, C, 2T). */
static vimo_status upsample2(vimo_ctx *ctx, vimo_tensor *x, vimo_tensor **out)
{
    int64_t b = vimo_tensor_dim(x, 0), c = vimo_tensor_dim(x, 1), t = vimo_tensor_dim(x, 2);
    vimo_tensor *x4, *pair, *two[2];
    vimo_status st = VIMO_OK;
    VIMO_TRY(vimo_reshape(ctx, &x4, x, 4, (int64_t[]){b, c, t, 1}));
    two[0] = two[1] = x4;
    VIMO_TRY(vimo_concat(ctx, &pair, two, 2, 3));
    VIMO_TRY(vimo_reshape(ctx, out, pair, 3, (int64_t[]){b, c, 2 * t}));
fail:
    return st;
}

static vimo_status decode_cf(tcn *m, vimo_ctx *ctx, vimo_tensor *z, vimo_tensor **xhat)
{
    vimo_status st = VIMO_OK;
    vimo_tensor *h, *a, *u;
    VIMO_TRY(vimo_conv1d(ctx, &a, z, m->dec_in.w, m->dec_in.b, 1, 1, 1));
    VIMO_TRY(vimo_relu(ctx, &h, a));
    for (int i = 0; i < m->down_t; i++) {
        VIMO_TRY(resnet(ctx, &m->dec_res[i], m->depth, h, &a));
        VIMO_TRY(upsample2(ctx, a, &u));
        VIMO_TRY(vimo_conv1d(ctx, &h, u, m->dec_up[i].w, m->dec_up[i].b, 1, 1, 1));
    }
    VIMO_TRY(vimo_conv1d(ctx, &a, h, m->dec_mid.w, m->dec_mid.b, 1, 1, 1));
    VIMO_TRY(vimo_relu(ctx, &h, a));
    VIMO_TRY(vimo_conv1d(ctx, &a, h, m->dec_out.w, m->dec_out.b, 1, 1, 1));
    VIMO_TRY(vimo_transpose(ctx, xhat, a, 1, 2));
fail:
    return st;
}

/* Nearest code of each vector; EMA update and dead-code reset in train mode.
 * zf (N, D) row-major (host copy); writes the quantised rows into q. */
static void vq_assign(tcn *m, const float *zf, int64_t n, float *q)
{
    int64_t d = m->out_dim, k = m->n_codes;
    if (!m->vq_init) { /* T2M-GPT initialises the codebook from the first batch */
        for (int64_t c = 0; c < k; c++) memcpy(m->codebook + c * d, zf + (c % n) * d, (size_t)d * sizeof(float));
        for (int64_t c = 0; c < k; c++) m->code_cnt[c] = 1.0f;
        memcpy(m->code_sum, m->codebook, (size_t)(k * d) * sizeof(float));
        m->vq_init = 1;
    }
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    if (!idx) return;
    for (int64_t i = 0; i < n; i++) {
        float best = INFINITY;
        for (int64_t c = 0; c < k; c++) {
            float s = 0.0f;
            for (int64_t j = 0; j < d; j++) {
                float e = zf[i * d + j] - m->codebook[c * d + j];
                s += e * e;
            }
            if (s < best) best = s, idx[i] = c;
        }
        memcpy(q + i * d, m->codebook + idx[i] * d, (size_t)d * sizeof(float));
    }
    if (m->base.train) {
        for (int64_t c = 0; c < k; c++) {
            m->code_cnt[c] *= m->mu;
            for (int64_t j = 0; j < d; j++) m->code_sum[c * d + j] *= m->mu;
        }
        for (int64_t i = 0; i < n; i++) {
            m->code_cnt[idx[i]] += 1.0f - m->mu;
            for (int64_t j = 0; j < d; j++) m->code_sum[idx[i] * d + j] += (1.0f - m->mu) * zf[i * d + j];
        }
        for (int64_t c = 0; c < k; c++) {
            if (m->code_cnt[c] >= 1e-3f) {
                for (int64_t j = 0; j < d; j++) m->codebook[c * d + j] = m->code_sum[c * d + j] / m->code_cnt[c];
            } else { /* dead code: reset to a random vector of this batch */
                int64_t r = vimo_rng_below(&m->rng, (uint32_t)n);
                memcpy(m->codebook + c * d, zf + r * d, (size_t)d * sizeof(float));
                memcpy(m->code_sum + c * d, zf + r * d, (size_t)d * sizeof(float));
                m->code_cnt[c] = 1.0f;
            }
        }
    }
    free(idx);
}

/* Straight-through quantisation of z (B, D, T'): returns zq with forward
 * value = codes and gradient = identity to z, plus the commitment loss. */
static vimo_status quantise(tcn *m, vimo_ctx *ctx, vimo_tensor *z, vimo_tensor **zq, vimo_tensor **commit)
{
    vimo_status st = VIMO_OK;
    vimo_tensor *zt, *zflat, *q, *zdet, *delta;
    int64_t b = vimo_tensor_dim(z, 0), d = vimo_tensor_dim(z, 1), t = vimo_tensor_dim(z, 2), n = b * t;
    VIMO_TRY(vimo_transpose(ctx, &zt, z, 1, 2));
    VIMO_TRY(vimo_reshape(ctx, &zflat, zt, 2, (int64_t[]){n, d}));
    /* Constants (no tape): the codes and a detached copy of z. */
    /* The codebook search and its EMA update are host code: on a device, z
     * is copied to the host and the codes back (two copies of (N, D)). */
    VIMO_TRY(vimo_ctx_tensor(ctx, &q, 2, (int64_t[]){n, d}));
    VIMO_TRY(vimo_ctx_tensor(ctx, &zdet, 2, (int64_t[]){n, d}));
    VIMO_TRY(vimo_tensor_copy_to(zflat, vimo_tensor_data(zdet), n * d));
    vq_assign(m, vimo_tensor_data(zdet), n, vimo_tensor_data(q));
    int dev = vimo_tensor_device(z);
    if (dev != VIMO_DEVICE_CPU) {
        vimo_tensor *qd, *zd;
        VIMO_TRY(vimo_ctx_tensor_on(ctx, &qd, dev, 2, (int64_t[]){n, d}));
        VIMO_TRY(vimo_ctx_tensor_on(ctx, &zd, dev, 2, (int64_t[]){n, d}));
        VIMO_TRY(vimo_tensor_copy_from(qd, vimo_tensor_data(q), n * d));
        VIMO_TRY(vimo_tensor_copy_from(zd, vimo_tensor_data(zdet), n * d));
        q = qd, zdet = zd;
    }
    VIMO_TRY(vimo_mse(ctx, commit, zflat, q));
    VIMO_TRY(vimo_sub(ctx, &delta, q, zdet));
    VIMO_TRY(vimo_add(ctx, &zflat, zflat, delta));
    VIMO_TRY(vimo_reshape(ctx, &zt, zflat, 3, (int64_t[]){b, t, d}));
    VIMO_TRY(vimo_transpose(ctx, zq, zt, 1, 2));
fail:
    return st;
}

static vimo_status forward(void *inst, vimo_ctx *ctx, vimo_tensor *x, int64_t batch, vimo_rng *rng,
                           vimo_tensor **tokens)
{
    (void)batch;
    (void)rng;
    tcn *m = inst;
    vimo_tensor *z, *commit;
    vimo_status st = encode_cf(m, ctx, x, &z);
    if (!st && m->use_vq) st = quantise(m, ctx, z, &z, &commit);
    if (!st) st = vimo_transpose(ctx, tokens, z, 1, 2);
    return st;
}

static vimo_status pretrain_loss(void *inst, vimo_ctx *ctx, vimo_tensor *x, int64_t batch, vimo_rng *rng,
                                 vimo_tensor **loss)
{
    (void)batch;
    (void)rng;
    tcn *m = inst;
    if (!m->use_decoder)
        return vimo_error(VIMO_ERR_STATE, "encoder.motion_tcn: pretraining needs decoder=true");
    int64_t t = vimo_tensor_dim(x, 1), unit = (int64_t)1 << m->down_t;
    if (t % unit)
        return vimo_error(VIMO_ERR_SHAPE, "encoder.motion_tcn: pretraining needs T %% %lld == 0 (T = %lld)",
                          (long long)unit, (long long)t);
    vimo_status st = VIMO_OK;
    vimo_tensor *z, *commit = NULL, *xhat, *rec, *wc;
    VIMO_TRY(encode_cf(m, ctx, x, &z));
    if (m->use_vq) VIMO_TRY(quantise(m, ctx, z, &z, &commit));
    VIMO_TRY(decode_cf(m, ctx, z, &xhat));
    VIMO_TRY(vimo_mse(ctx, &rec, xhat, x));
    if (commit) {
        VIMO_TRY(vimo_scale(ctx, &wc, commit, m->beta));
        VIMO_TRY(vimo_add(ctx, &rec, rec, wc));
    }
    *loss = rec;
fail:
    return st;
}

static const vimo_encoder_iface k_encoder = {
    .size = sizeof(vimo_encoder_iface),
    .modality = "motion",
    .out_dim = out_dim,
    .forward = forward,
    .pretrain_loss = pretrain_loss,
};

static const void *get_iface(const char *name)
{
    if (strcmp(name, VIMO_IFACE_ENCODER) == 0) return &k_encoder;
    if (strcmp(name, VIMO_IFACE_MODULE) == 0) return &vimo_module_base_iface;
    return NULL;
}

VIMO_PLUGIN_DEFINE(encoder_motion_tcn) = {
    VIMO_PLUGIN_HEADER,
    .kind = VIMO_PLUGIN_ENCODER,
    .id = "encoder.motion_tcn",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "T2M-GPT VQ-VAE motion encoder (conv1d + dilated ResNet1D, T/4 tokens)",
    .options = k_options,
    .create = create,
    .destroy = destroy,
    .get_iface = get_iface,
};
