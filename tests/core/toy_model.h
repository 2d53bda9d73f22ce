/*
 * toy_model.h - a one-block pre-norm transformer for the training and
 * determinism tests (tests only; public API only).
 *
 * Llama layout: token embedding -> RMSNorm -> q/k/v projections with RoPE
 * (half mode), GQA causal attention -> output projection (+ dropout) ->
 * residual -> RMSNorm -> SwiGLU MLP (+ dropout) -> residual -> final RMSNorm
 * -> logits through the tied embedding -> cross-entropy (ignore -100).
 */
#ifndef VIMO_TEST_TOY_MODEL_H
#define VIMO_TEST_TOY_MODEL_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vimo/vimo.h"

typedef struct toy_tf {
    int64_t v, d, h, hkv, dh, f;
    vimo_tensor *emb;                /* (V, D), tied with the output head */
    vimo_tensor *n1, *n2, *nf;       /* (D) RMSNorm weights */
    vimo_tensor *wq, *wk, *wv, *wo;  /* (D, D), (Hkv Dh, D) x 2, (D, D) */
    vimo_tensor *wg, *wu, *wd;       /* (F, D), (F, D), (D, F) */
    vimo_tensor *params[11];
} toy_tf;

static inline vimo_tensor *toy_param(vimo_rng *r, int ndim, const int64_t *shape, float std, float fill)
{
    vimo_tensor *t = NULL;
    if (vimo_tensor_new(&t, ndim, shape)) return NULL;
    if (std > 0.0f) vimo_rng_fill_normal(r, vimo_tensor_data(t), vimo_tensor_numel(t), std);
    else vimo_tensor_fill(t, fill);
    vimo_tensor_set_requires_grad(t, 1);
    return t;
}

static inline void toy_tf_init(toy_tf *m, int64_t v, int64_t d, int64_t h, int64_t hkv, int64_t f, vimo_rng *r)
{
    memset(m, 0, sizeof *m);
    m->v = v;
    m->d = d;
    m->h = h;
    m->hkv = hkv;
    m->dh = d / h;
    m->f = f;
    float s = 1.0f / sqrtf((float)d);
    m->emb = toy_param(r, 2, (int64_t[]){v, d}, s, 0); /* tied: keeps first logits ~N(0, 1) */
    m->n1 = toy_param(r, 1, (int64_t[]){d}, 0, 1.0f);
    m->n2 = toy_param(r, 1, (int64_t[]){d}, 0, 1.0f);
    m->nf = toy_param(r, 1, (int64_t[]){d}, 0, 1.0f);
    m->wq = toy_param(r, 2, (int64_t[]){d, d}, s, 0);
    m->wk = toy_param(r, 2, (int64_t[]){hkv * m->dh, d}, s, 0);
    m->wv = toy_param(r, 2, (int64_t[]){hkv * m->dh, d}, s, 0);
    m->wo = toy_param(r, 2, (int64_t[]){d, d}, s, 0);
    m->wg = toy_param(r, 2, (int64_t[]){f, d}, s, 0);
    m->wu = toy_param(r, 2, (int64_t[]){f, d}, s, 0);
    m->wd = toy_param(r, 2, (int64_t[]){d, f}, 1.0f / sqrtf((float)f), 0);
    vimo_tensor *all[11] = {m->emb, m->n1, m->n2, m->nf, m->wq, m->wk, m->wv, m->wo, m->wg, m->wu, m->wd};
    memcpy(m->params, all, sizeof all);
}

static inline void toy_tf_free(toy_tf *m)
{
    for (int i = 0; i < 11; i++) vimo_tensor_free(m->params[i]);
}

/* Mean next-token loss of ids (B, T) against targets (B, T) (-100 = not
 * scored). key_mask (B, T) or NULL; dropout p with rng (NULL: off). */
static inline vimo_status toy_tf_loss(vimo_ctx *c, const toy_tf *m, const int32_t *ids, const int32_t *targets,
                                      int64_t b, int64_t t, const uint8_t *key_mask, float p, vimo_rng *rng,
                                      vimo_tensor **loss)
{
    vimo_status st = VIMO_OK;
    vimo_tensor *x, *h, *q, *k, *v, *a, *g, *u, *sw, *y, *lg;
    int64_t dh = m->dh;
    VIMO_TRY(vimo_embedding(c, &x, m->emb, ids, 2, (int64_t[]){b, t}));
    VIMO_TRY(vimo_rmsnorm(c, &h, x, m->n1, 1e-5f));
    VIMO_TRY(vimo_matmul(c, &q, h, m->wq, NULL));
    VIMO_TRY(vimo_matmul(c, &k, h, m->wk, NULL));
    VIMO_TRY(vimo_matmul(c, &v, h, m->wv, NULL));
    VIMO_TRY(vimo_reshape(c, &q, q, 4, (int64_t[]){b, t, m->h, dh}));
    VIMO_TRY(vimo_reshape(c, &k, k, 4, (int64_t[]){b, t, m->hkv, dh}));
    VIMO_TRY(vimo_reshape(c, &v, v, 4, (int64_t[]){b, t, m->hkv, dh}));
    VIMO_TRY(vimo_rope(c, &q, q, 10000.0f, 0, VIMO_ROPE_HALF));
    VIMO_TRY(vimo_rope(c, &k, k, 10000.0f, 0, VIMO_ROPE_HALF));
    VIMO_TRY(vimo_attention(c, &a, q, k, v, key_mask, 1, 1.0f / sqrtf((float)dh)));
    VIMO_TRY(vimo_reshape(c, &a, a, 3, (int64_t[]){b, t, m->d}));
    VIMO_TRY(vimo_matmul(c, &a, a, m->wo, NULL));
    VIMO_TRY(vimo_dropout(c, &a, a, p, rng));
    VIMO_TRY(vimo_add(c, &x, x, a));
    VIMO_TRY(vimo_rmsnorm(c, &h, x, m->n2, 1e-5f));
    VIMO_TRY(vimo_matmul(c, &g, h, m->wg, NULL));
    VIMO_TRY(vimo_matmul(c, &u, h, m->wu, NULL));
    VIMO_TRY(vimo_swiglu(c, &sw, g, u));
    VIMO_TRY(vimo_matmul(c, &y, sw, m->wd, NULL));
    VIMO_TRY(vimo_dropout(c, &y, y, p, rng));
    VIMO_TRY(vimo_add(c, &x, x, y));
    VIMO_TRY(vimo_rmsnorm(c, &h, x, m->nf, 1e-5f));
    VIMO_TRY(vimo_matmul(c, &lg, h, m->emb, NULL)); /* tied head: logits = h E^T */
    VIMO_TRY(vimo_cross_entropy(c, loss, lg, targets, -100));
fail:
    return st;
}

#endif
