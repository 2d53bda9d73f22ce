/*
 * bench_decode.c - `vimo bench decode`: single-sequence decode speed of the
 * Llama decode engine (llm/llama/decode.c, vimo_llama.h) in tokens/s, greedy
 * from BOS for N positions after a cache reset, against a naive reference
 * in the same process on the same weights: a plain transcription of
 * llama2.c run.c's forward() (one scalar dot product per output row, OpenMP
 * over rows and heads as run.c), so the speedup is a ratio measured in one
 * run. Before timing, both decode the same N tokens and the table reports
 * whether the tokens match and the largest logit difference of the last
 * step (0 when the engine is bit-exact with run.c, as it promises).
 * Models: stories260K (llm/llama/weights), a random model of stories15M's
 * shape built in memory (dim 288, hidden 768, 6 layers, 6 heads, vocab
 * 32000, seq 256, tied, N(0, 0.02) weights: speed does not depend on the
 * values), and any --model PATH the loader reads.
 * --device NAME (e.g. cuda) times instead a decode built from core ops
 * (embedding, rmsnorm, matmul, rope, attention over a KV cache, swiglu) with
 * the weights and cache on that device, one token per step, the logits
 * copied back for the greedy choice; the table compares its tokens and last
 * logits with the CPU engine's (fp32 kernels in another order: small
 * differences, same tokens for most steps). A missing backend or GPU is an
 * error naming why (docs/cuda.md). --ops runs that decode on the CPU.
 * --weights q8 runs the engine on int8 weights (VIMO_LLAMA_WEIGHTS_Q8): the
 * naive reference stays fp32, so the token and logit columns then show what
 * the quantisation changes.
 * Not here: batched prefill, sampling cost, tokenizer time, other engines.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "vimo/vimo.h"
#include "vimo_llama.h"

#define MAX_THREADS 16

/* ---- the naive reference: llama2.c run.c forward(), one position -------- */

typedef struct naive {
    const vimo_llama_model *m;
    int nt, C, Q, K, H, V, hs, max_pos;
    float *x, *xb, *xb2, *hb, *hb2, *q, *att, *logits; /* run.c RunState */
    float *kc, *vc;                                    /* (L, max_pos, K) */
} naive;

static void naive_free(naive *n)
{
    float *bufs[] = {n->x, n->xb, n->xb2, n->hb, n->hb2, n->q, n->att, n->logits, n->kc, n->vc};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
}

static vimo_status naive_init(naive *n, const vimo_llama_model *m, int max_pos, int nt)
{
    const vimo_llama_config *c = &m->cfg;
    *n = (naive){.m = m, .nt = nt, .C = c->dim, .Q = c->n_heads * c->head_dim, .K = c->n_kv_heads * c->head_dim,
                 .H = c->hidden_dim, .V = c->vocab_size, .hs = c->head_dim, .max_pos = max_pos};
    size_t cache = (size_t)c->n_layers * (size_t)max_pos * (size_t)n->K;
    int Cq = n->C > n->Q ? n->C : n->Q;
    n->x = calloc((size_t)n->C, sizeof(float)), n->xb = calloc((size_t)Cq, sizeof(float));
    n->xb2 = calloc((size_t)n->C, sizeof(float)), n->hb = calloc((size_t)n->H, sizeof(float));
    n->hb2 = calloc((size_t)n->H, sizeof(float)), n->q = calloc((size_t)n->Q, sizeof(float));
    n->att = calloc((size_t)c->n_heads * (size_t)max_pos, sizeof(float));
    n->logits = calloc((size_t)n->V, sizeof(float));
    n->kc = calloc(cache, sizeof(float)), n->vc = calloc(cache, sizeof(float));
    if (!n->x || !n->xb || !n->xb2 || !n->hb || !n->hb2 || !n->q || !n->att || !n->logits || !n->kc || !n->vc) {
        naive_free(n);
        return vimo_error(VIMO_ERR_NOMEM, "bench decode: out of memory for the naive reference");
    }
    return VIMO_OK;
}

static void rmsnorm(float *o, const float *x, const float *w, int size, float eps)
{
    float ss = 0.0f;
    for (int j = 0; j < size; j++) ss += x[j] * x[j];
    ss /= (float)size;
    ss += eps;
    ss = 1.0f / sqrtf(ss);
    for (int j = 0; j < size; j++) o[j] = w[j] * (ss * x[j]);
}

static void softmax(float *x, int size)
{
    float max = x[0], sum = 0.0f;
    for (int i = 1; i < size; i++)
        if (x[i] > max) max = x[i];
    for (int i = 0; i < size; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    for (int i = 0; i < size; i++) x[i] /= sum;
}

/* xout (d) = W (d, n) x (n): one sequential dot product per row. */
static void matmul(float *xout, const float *x, const float *w, int n, int d, int nt)
{
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int i = 0; i < d; i++) {
        float val = 0.0f;
        for (int j = 0; j < n; j++) val += w[(size_t)i * (size_t)n + (size_t)j] * x[j];
        xout[i] = val;
    }
}

static void add_bias(float *y, const float *b, int n)
{
    for (int i = 0; b && i < n; i++) y[i] += b[i];
}

/* Rotates vec (len = heads * hs) at position pos: run.c's pairs (i, i+1), or
 * Hugging Face's (j, j + hs/2) per head. */
static void rope(float *vec, int len, int hs, int pos, float theta, vimo_llama_rope mode)
{
    for (int h0 = 0; h0 < len; h0 += hs)
        for (int j = 0; j < hs / 2; j++) {
            float freq = 1.0f / powf(theta, (float)(2 * j) / (float)hs);
            float val = (float)pos * freq, fcr = cosf(val), fci = sinf(val);
            int a = mode == VIMO_LLAMA_ROPE_HALF ? h0 + j : h0 + 2 * j;
            int b = mode == VIMO_LLAMA_ROPE_HALF ? h0 + j + hs / 2 : a + 1;
            float v0 = vec[a], v1 = vec[b];
            vec[a] = v0 * fcr - v1 * fci;
            vec[b] = v0 * fci + v1 * fcr;
        }
}

static void naive_forward(naive *n, int token, int pos)
{
    const vimo_llama_model *m = n->m;
    const vimo_llama_config *c = &m->cfg;
    int C = n->C, Q = n->Q, K = n->K, H = n->H, hs = n->hs, kv_mul = c->n_heads / c->n_kv_heads, nt = n->nt;
    memcpy(n->x, m->embed + (size_t)token * (size_t)C, (size_t)C * sizeof(float));
    for (int l = 0; l < c->n_layers; l++) {
        const vimo_llama_layer *w = &m->layers[l];
        size_t loff = (size_t)l * (size_t)n->max_pos * (size_t)K;
        float *k = n->kc + loff + (size_t)pos * (size_t)K, *v = n->vc + loff + (size_t)pos * (size_t)K;
        rmsnorm(n->xb, n->x, w->attn_norm, C, c->norm_eps);
        matmul(n->q, n->xb, w->wq, C, Q, nt);
        matmul(k, n->xb, w->wk, C, K, nt);
        matmul(v, n->xb, w->wv, C, K, nt);
        add_bias(n->q, w->bq, Q), add_bias(k, w->bk, K), add_bias(v, w->bv, K);
        rope(n->q, Q, hs, pos, c->rope_theta, c->rope);
        rope(k, K, hs, pos, c->rope_theta, c->rope);
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int h = 0; h < c->n_heads; h++) {
            const float *q = n->q + (size_t)h * (size_t)hs;
            float *att = n->att + (size_t)h * (size_t)n->max_pos, *xb = n->xb + (size_t)h * (size_t)hs;
            for (int t = 0; t <= pos; t++) {
                const float *kt = n->kc + loff + (size_t)t * (size_t)K + (size_t)(h / kv_mul) * (size_t)hs;
                float score = 0.0f;
                for (int i = 0; i < hs; i++) score += q[i] * kt[i];
                att[t] = score / sqrtf((float)hs);
            }
            softmax(att, pos + 1);
            memset(xb, 0, (size_t)hs * sizeof(float));
            for (int t = 0; t <= pos; t++) {
                const float *vt = n->vc + loff + (size_t)t * (size_t)K + (size_t)(h / kv_mul) * (size_t)hs;
                for (int i = 0; i < hs; i++) xb[i] += att[t] * vt[i];
            }
        }
        matmul(n->xb2, n->xb, w->wo, Q, C, nt);
        for (int i = 0; i < C; i++) n->x[i] += n->xb2[i];
        rmsnorm(n->xb, n->x, w->ffn_norm, C, c->norm_eps);
        matmul(n->hb, n->xb, w->w_gate, C, H, nt);
        matmul(n->hb2, n->xb, w->w_up, C, H, nt);
        for (int i = 0; i < H; i++) {
            float val = n->hb[i];
            val *= (1.0f / (1.0f + expf(-val)));
            n->hb[i] = val * n->hb2[i];
        }
        matmul(n->xb, n->hb, w->w_down, H, C, nt);
        for (int i = 0; i < C; i++) n->x[i] += n->xb[i];
    }
    rmsnorm(n->x, n->x, m->final_norm, C, c->norm_eps);
    matmul(n->logits, n->x, m->lm_head, C, n->V, nt);
}

/* ---- timed bodies: greedy decoding of n tokens from BOS ------------------ */

static int argmax(const float *p, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (p[i] > p[best]) best = i;
    return best;
}

typedef struct {
    vimo_llama_decoder *d;
    naive *nv;
    int n_tokens, V;
    int32_t *tokens; /* (n_tokens) the tokens fed, or NULL */
} dec_arg;

static int body_engine(void *p)
{
    dec_arg *a = p;
    int token = 1;
    vimo_llama_decoder_reset(a->d);
    for (int i = 0; i < a->n_tokens; i++) {
        if (a->tokens) a->tokens[i] = token;
        vimo_status st = vimo_llama_decoder_step(a->d, token);
        if (st) return st;
        token = argmax(vimo_llama_decoder_logits(a->d), a->V);
    }
    return 0;
}

static int body_naive(void *p)
{
    dec_arg *a = p;
    int token = 1;
    for (int i = 0; i < a->n_tokens; i++) {
        if (a->tokens) a->tokens[i] = token;
        naive_forward(a->nv, token, i);
        token = argmax(a->nv->logits, a->V);
    }
    return 0;
}

/* ---- models --------------------------------------------------------------- */

/* A tied model of the given shape with N(0, 0.02) matrices, unit norms. */
typedef struct {
    vimo_llama_model m;
    vimo_llama_layer *layers;
    float *buf;
} rand_model;

static vimo_status rand_model_new(rand_model *r, int C, int H, int L, int nh, int nkv, int V, int seq)
{
    memset(r, 0, sizeof *r);
    vimo_llama_config *c = &r->m.cfg;
    *c = (vimo_llama_config){"random", C, H, L, nh, nkv, C / nh, V, seq, 10000.0f, 1e-5f,
                             VIMO_LLAMA_ROPE_INTERLEAVED, 0, 1, 1, 2};
    size_t Q = (size_t)nh * (size_t)c->head_dim, K = (size_t)nkv * (size_t)c->head_dim;
    size_t per_layer = 2 * (size_t)C + Q * (size_t)C + 2 * K * (size_t)C + (size_t)C * Q + 3 * (size_t)H * (size_t)C;
    size_t total = (size_t)V * (size_t)C + (size_t)L * per_layer + (size_t)C;
    r->buf = malloc(total * sizeof(float));
    r->layers = calloc((size_t)L, sizeof *r->layers);
    if (!r->buf || !r->layers) {
        free(r->buf);
        free(r->layers);
        return vimo_error(VIMO_ERR_NOMEM, "bench decode: out of memory for a random model");
    }
    vimo_rng rng;
    vimo_rng_seed(&rng, 15);
    float *p = r->buf;
#define CARVE(dst, n, norm)                                                                                   \
    do {                                                                                                      \
        if (norm)                                                                                             \
            for (size_t i_ = 0; i_ < (n); i_++) p[i_] = 1.0f;                                                 \
        else                                                                                                  \
            vimo_rng_fill_normal(&rng, p, (int64_t)(n), 0.02f);                                               \
        (dst) = p;                                                                                            \
        p += (n);                                                                                             \
    } while (0)
    CARVE(r->m.embed, (size_t)V * (size_t)C, 0);
    for (int l = 0; l < L; l++) {
        vimo_llama_layer *y = &r->layers[l];
        CARVE(y->attn_norm, (size_t)C, 1);
        CARVE(y->wq, Q * (size_t)C, 0);
        CARVE(y->wk, K * (size_t)C, 0);
        CARVE(y->wv, K * (size_t)C, 0);
        CARVE(y->wo, (size_t)C * Q, 0);
        CARVE(y->ffn_norm, (size_t)C, 1);
        CARVE(y->w_gate, (size_t)H * (size_t)C, 0);
        CARVE(y->w_up, (size_t)H * (size_t)C, 0);
        CARVE(y->w_down, (size_t)C * (size_t)H, 0);
    }
    CARVE(r->m.final_norm, (size_t)C, 1);
#undef CARVE
    r->m.lm_head = r->m.embed;
    r->m.layers = r->layers;
    return VIMO_OK;
}

static void rand_model_free(rand_model *r)
{
    free(r->buf);
    free(r->layers);
}

/* Weights (floats) of a model, for the table. */
static double model_params(const vimo_llama_config *c)
{
    double C = c->dim, Q = (double)c->n_heads * c->head_dim, K = (double)c->n_kv_heads * c->head_dim;
    double layer = 2 * C + Q * C + 2 * K * C + C * Q + 3 * (double)c->hidden_dim * C;
    return (double)c->vocab_size * C * (c->tied ? 1 : 2) + c->n_layers * layer + C;
}

/* ---- one model, one thread count ------------------------------------------- */

static vimo_llama_weights g_decode_weights; /* --weights */

static int bench_one(vimo_bench_run *run, const char *label, const vimo_llama_model *m, int n_tokens, int nt)
{
    int rc = 1, V = m->cfg.vocab_size;
    vimo_llama_decoder *d = NULL;
    naive nv = {0};
    int32_t *t_eng = malloc((size_t)n_tokens * sizeof *t_eng), *t_nv = malloc((size_t)n_tokens * sizeof *t_nv);
    if (!t_eng || !t_nv) {
        vimo_error(VIMO_ERR_NOMEM, "bench decode: out of memory");
        goto done;
    }
    vimo_llama_decoder_opts o = {.max_pos = n_tokens, .n_threads = nt, .weights = g_decode_weights};
    if (vimo_llama_decoder_new_opts(m, &o, &d) || naive_init(&nv, m, n_tokens, nt)) goto done;
    /* Same tokens, same last logits? */
    dec_arg ea = {d, NULL, n_tokens, V, t_eng}, na = {NULL, &nv, n_tokens, V, t_nv};
    if (body_engine(&ea) || body_naive(&na)) goto done;
    int same = memcmp(t_eng, t_nv, (size_t)n_tokens * sizeof *t_eng) == 0;
    double md = 0.0;
    const float *le = vimo_llama_decoder_logits(d);
    for (int i = 0; i < V; i++) md = fmax(md, fabs((double)le[i] - (double)nv.logits[i]));
    ea.tokens = na.tokens = NULL;

    const vimo_bench_body fns[2] = {body_engine, body_naive};
    void *const args[2] = {&ea, &na};
    vimo_bench_timing t[2];
    if (vimo_bench_time(run, 2, fns, args, t)) goto done;
    double eng = n_tokens / t[0].median_s, ref = n_tokens / t[1].median_s;
    vimo_bench_printf(run, "%-12s %7.2fM %7d %6d %12.0f %12.0f %8.2f %10.1f  %s, max|dlogit| %.3g\n", label,
                      model_params(&m->cfg) * 1e-6, nt, n_tokens, eng, ref, eng / ref, 1e6 / eng,
                      same ? "same tokens" : "TOKENS DIFFER", md);
    cJSON *r = vimo_bench_result(run);
    if (r) {
        cJSON_AddStringToObject(r, "model", label);
        cJSON_AddNumberToObject(r, "params", model_params(&m->cfg));
        cJSON_AddNumberToObject(r, "decode_threads", nt);
        cJSON_AddStringToObject(r, "weights", g_decode_weights == VIMO_LLAMA_WEIGHTS_Q8 ? "q8" : "f32");
        cJSON_AddNumberToObject(r, "tokens", n_tokens);
        cJSON_AddNumberToObject(r, "engine_tokens_per_s", eng);
        cJSON_AddNumberToObject(r, "naive_tokens_per_s", ref);
        cJSON_AddNumberToObject(r, "speedup", eng / ref);
        cJSON_AddNumberToObject(r, "engine_us_per_token", 1e6 / eng);
        cJSON_AddNumberToObject(r, "engine_tokens_per_s_min_time", n_tokens / t[0].min_s);
        cJSON_AddBoolToObject(r, "same_tokens", same);
        cJSON_AddNumberToObject(r, "max_abs_logit_diff", md);
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "vimo bench decode: %s\n", vimo_last_error());
    vimo_llama_decoder_free(d);
    naive_free(&nv);
    free(t_eng);
    free(t_nv);
    return rc;
}

/* ---- the ops decode on a device ------------------------------------------ */

typedef struct dev_layer {
    vimo_tensor *an, *fn, *wq, *wk, *wv, *bq, *bk, *bv, *wo, *wg, *wu, *wd; /* device copies */
    vimo_tensor *kc, *vc;                                                   /* (1, max_pos, nkv, hs) */
} dev_layer;

typedef struct dev_model {
    const vimo_llama_model *m;
    int dev, max_pos;
    vimo_tensor *embed, *norm, *head;
    dev_layer *l;
    vimo_ctx *ctx;
    float *logits; /* host (V) */
    int32_t *tokens;
} dev_model;

/* A device tensor holding n host floats (NULL src: NULL tensor). */
static vimo_status up(vimo_tensor **t, const float *src, int ndim, const int64_t *shape, int dev)
{
    *t = NULL;
    if (!src) return VIMO_OK;
    vimo_status st = vimo_tensor_new(t, ndim, shape);
    if (!st) st = vimo_tensor_copy_from(*t, src, vimo_tensor_numel(*t));
    if (!st) st = vimo_tensor_move(*t, dev);
    return st;
}

static void dev_model_free(dev_model *d)
{
    for (int i = 0; d->l && i < d->m->cfg.n_layers; i++) {
        dev_layer *l = &d->l[i];
        vimo_tensor *ts[14] = {l->an, l->fn, l->wq, l->wk, l->wv, l->bq, l->bk,
                               l->bv, l->wo, l->wg, l->wu, l->wd, l->kc, l->vc};
        for (int k = 0; k < 14; k++) vimo_tensor_free(ts[k]);
    }
    free(d->l);
    vimo_tensor_free(d->embed);
    vimo_tensor_free(d->norm);
    vimo_tensor_free(d->head);
    vimo_ctx_free(d->ctx);
    free(d->logits);
    free(d->tokens);
}

static vimo_status dev_model_init(dev_model *d, const vimo_llama_model *m, int dev, int max_pos)
{
    const vimo_llama_config *c = &m->cfg;
    int64_t C = c->dim, Q = (int64_t)c->n_heads * c->head_dim, K = (int64_t)c->n_kv_heads * c->head_dim,
            H = c->hidden_dim, V = c->vocab_size;
    vimo_status st = VIMO_OK;
    memset(d, 0, sizeof *d);
    d->m = m;
    d->dev = dev;
    d->max_pos = max_pos;
    if (!(d->l = calloc((size_t)c->n_layers, sizeof *d->l)) || !(d->logits = malloc((size_t)V * sizeof(float))) ||
        !(d->tokens = malloc((size_t)max_pos * sizeof(int32_t))))
        return vimo_error(VIMO_ERR_NOMEM, "bench decode: out of memory");
    VIMO_TRY(vimo_ctx_new(&d->ctx));
    vimo_ctx_set_grad(d->ctx, 0);
    VIMO_TRY(up(&d->embed, m->embed, 2, (int64_t[]){V, C}, dev));
    VIMO_TRY(up(&d->norm, m->final_norm, 1, (int64_t[]){C}, dev));
    VIMO_TRY(up(&d->head, m->lm_head, 2, (int64_t[]){V, C}, dev));
    for (int i = 0; i < c->n_layers; i++) {
        const vimo_llama_layer *w = &m->layers[i];
        dev_layer *l = &d->l[i];
        VIMO_TRY(up(&l->an, w->attn_norm, 1, (int64_t[]){C}, dev));
        VIMO_TRY(up(&l->fn, w->ffn_norm, 1, (int64_t[]){C}, dev));
        VIMO_TRY(up(&l->wq, w->wq, 2, (int64_t[]){Q, C}, dev));
        VIMO_TRY(up(&l->wk, w->wk, 2, (int64_t[]){K, C}, dev));
        VIMO_TRY(up(&l->wv, w->wv, 2, (int64_t[]){K, C}, dev));
        VIMO_TRY(up(&l->bq, w->bq, 1, (int64_t[]){Q}, dev));
        VIMO_TRY(up(&l->bk, w->bk, 1, (int64_t[]){K}, dev));
        VIMO_TRY(up(&l->bv, w->bv, 1, (int64_t[]){K}, dev));
        VIMO_TRY(up(&l->wo, w->wo, 2, (int64_t[]){C, Q}, dev));
        VIMO_TRY(up(&l->wg, w->w_gate, 2, (int64_t[]){H, C}, dev));
        VIMO_TRY(up(&l->wu, w->w_up, 2, (int64_t[]){H, C}, dev));
        VIMO_TRY(up(&l->wd, w->w_down, 2, (int64_t[]){C, H}, dev));
        int64_t cs[4] = {1, max_pos, c->n_kv_heads, c->head_dim};
        VIMO_TRY(vimo_tensor_new_on(&l->kc, dev, 4, cs));
        VIMO_TRY(vimo_tensor_new_on(&l->vc, dev, 4, cs));
    }
fail:
    return st;
}

/* One position: logits of token at pos into d->logits. */
static vimo_status dev_step(dev_model *d, int32_t token, int pos)
{
    const vimo_llama_config *c = &d->m->cfg;
    const vimo_backend *be = vimo_backend_of(d->dev);
    int64_t nh = c->n_heads, nkv = c->n_kv_heads, hs = c->head_dim, K = nkv * hs;
    vimo_ctx *x = d->ctx;
    vimo_status st = VIMO_OK;
    vimo_tensor *h, *n, *q, *k, *v, *a, *g, *u, *kc, *vc;
    vimo_ctx_reset(x);
    VIMO_TRY(vimo_embedding(x, &h, d->embed, &token, 2, (int64_t[]){1, 1}));
    for (int i = 0; i < c->n_layers; i++) {
        dev_layer *l = &d->l[i];
        VIMO_TRY(vimo_rmsnorm(x, &n, h, l->an, c->norm_eps));
        VIMO_TRY(vimo_matmul(x, &q, n, l->wq, l->bq));
        VIMO_TRY(vimo_matmul(x, &k, n, l->wk, l->bk));
        VIMO_TRY(vimo_matmul(x, &v, n, l->wv, l->bv));
        VIMO_TRY(vimo_reshape(x, &q, q, 4, (int64_t[]){1, 1, nh, hs}));
        VIMO_TRY(vimo_reshape(x, &k, k, 4, (int64_t[]){1, 1, nkv, hs}));
        vimo_rope_mode mode = c->rope == VIMO_LLAMA_ROPE_HALF ? VIMO_ROPE_HALF : VIMO_ROPE_INTERLEAVED;
        VIMO_TRY(vimo_rope(x, &q, q, c->rope_theta, pos, mode));
        VIMO_TRY(vimo_rope(x, &k, k, c->rope_theta, pos, mode));
        /* append to the cache in place: raw device copies */
        size_t row = (size_t)K * sizeof(float);
        VIMO_TRY(be->copy_d2d(vimo_tensor_device_data(l->kc) + (int64_t)pos * K, vimo_tensor_device_data(k), row));
        VIMO_TRY(be->copy_d2d(vimo_tensor_device_data(l->vc) + (int64_t)pos * K, vimo_tensor_device_data(v), row));
        VIMO_TRY(vimo_slice(x, &kc, l->kc, 1, 0, pos + 1));
        VIMO_TRY(vimo_slice(x, &vc, l->vc, 1, 0, pos + 1));
        VIMO_TRY(vimo_attention(x, &a, q, kc, vc, NULL, 1, 1.0f / sqrtf((float)hs)));
        VIMO_TRY(vimo_reshape(x, &a, a, 3, (int64_t[]){1, 1, nh * hs}));
        VIMO_TRY(vimo_matmul(x, &a, a, l->wo, NULL));
        VIMO_TRY(vimo_add(x, &h, h, a));
        VIMO_TRY(vimo_rmsnorm(x, &n, h, l->fn, c->norm_eps));
        VIMO_TRY(vimo_matmul(x, &g, n, l->wg, NULL));
        VIMO_TRY(vimo_matmul(x, &u, n, l->wu, NULL));
        VIMO_TRY(vimo_swiglu(x, &g, g, u));
        VIMO_TRY(vimo_matmul(x, &g, g, l->wd, NULL));
        VIMO_TRY(vimo_add(x, &h, h, g));
    }
    VIMO_TRY(vimo_rmsnorm(x, &n, h, d->norm, c->norm_eps));
    VIMO_TRY(vimo_matmul(x, &n, n, d->head, NULL));
    VIMO_TRY(vimo_tensor_copy_to(n, d->logits, c->vocab_size));
fail:
    return st;
}

static int body_dev(void *p)
{
    dev_model *d = p;
    int32_t token = 1;
    for (int i = 0; i < d->max_pos; i++) {
        d->tokens[i] = token;
        vimo_status st = dev_step(d, token, i);
        if (st) return st;
        token = argmax(d->logits, d->m->cfg.vocab_size);
    }
    return 0;
}

static int bench_device(vimo_bench_run *run, const char *label, const vimo_llama_model *m, int n_tokens, int dev)
{
    dev_model d;
    memset(&d, 0, sizeof d);
    vimo_llama_decoder *ref = NULL;
    int32_t *ref_tok = malloc((size_t)n_tokens * sizeof(int32_t));
    int rc = 1;
    if (!ref_tok || dev_model_init(&d, m, dev, n_tokens) || vimo_llama_decoder_new(m, n_tokens, 0, &ref)) goto done;
    dec_arg ra = {ref, NULL, n_tokens, m->cfg.vocab_size, ref_tok};
    if (body_engine(&ra) || body_dev(&d)) goto done; /* the same greedy run on both, untimed */
    int same = 0;
    while (same < n_tokens && ref_tok[same] == d.tokens[same]) same++;
    float diff = 0.0f;
    const float *rl = vimo_llama_decoder_logits(ref);
    for (int i = 0; i < m->cfg.vocab_size; i++) diff = fmaxf(diff, fabsf(rl[i] - d.logits[i]));
    const vimo_bench_body fns[1] = {body_dev};
    void *const args[1] = {&d};
    vimo_bench_timing t;
    if (vimo_bench_time(run, 1, fns, args, &t)) goto done;
    double tps = n_tokens / t.median_s;
    vimo_bench_printf(run, "%-12s %8s %6d %12.1f %10.1f %10d %12.3g\n", label, vimo_device_name(dev), n_tokens, tps,
                      t.median_s * 1e6 / n_tokens, same, (double)diff);
    cJSON *r = vimo_bench_result(run);
    if (r) {
        cJSON_AddStringToObject(r, "model", label);
        cJSON_AddStringToObject(r, "device", vimo_device_name(dev));
        cJSON_AddNumberToObject(r, "tokens", n_tokens);
        cJSON_AddNumberToObject(r, "ops_tok_s", tps);
        cJSON_AddNumberToObject(r, "tokens_same_as_cpu_engine", same);
        cJSON_AddNumberToObject(r, "last_logits_max_diff", diff);
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "vimo bench decode: %s\n", vimo_last_error());
    if (d.m) dev_model_free(&d);
    vimo_llama_decoder_free(ref);
    free(ref_tok);
    return rc;
}

static int g_decode_dev;  /* --device: 0 = the CPU */
static int g_decode_ops;  /* the ops decode (--device, or --ops on the CPU) */

static int bench_model(vimo_bench_run *run, const char *label, const vimo_llama_model *m, int n_tokens,
                       const long long *threads, int n_threads)
{
    if (n_tokens > m->cfg.seq_len) n_tokens = m->cfg.seq_len;
    if (g_decode_ops) return bench_device(run, label, m, n_tokens, g_decode_dev);
    for (int i = 0; i < n_threads; i++)
        if (bench_one(run, label, m, n_tokens, (int)threads[i])) return 1;
    return 0;
}

static int bench_decode(vimo_bench_run *run)
{
    long long threads[MAX_THREADS] = {1, 2}, tok = 0;
    int n_threads = 2;
    const char *s;
    if ((s = vimo_cli_opt(run->argc, run->argv, "decode-threads")) &&
        (n_threads = vimo_bench_int_list("decode-threads", s, threads, MAX_THREADS, 1, 256)) < 0)
        return 2;
    if ((s = vimo_cli_opt(run->argc, run->argv, "tokens")) && vimo_bench_int_list("tokens", s, &tok, 1, 1, 4096) < 0)
        return 2;
    const char *wname = vimo_cli_opt(run->argc, run->argv, "weights");
    if (wname && strcmp(wname, "f32") && strcmp(wname, "q8")) {
        fprintf(stderr, "vimo bench decode: --weights %s: want f32 or q8\n", wname);
        return 2;
    }
    g_decode_weights = wname && !strcmp(wname, "q8") ? VIMO_LLAMA_WEIGHTS_Q8 : VIMO_LLAMA_WEIGHTS_F32;
    const char *extra = vimo_cli_opt(run->argc, run->argv, "model");
    const char *dname = vimo_cli_opt(run->argc, run->argv, "device");
    g_decode_dev = 0;
    if (dname && vimo_backend_get(dname, &g_decode_dev)) {
        fprintf(stderr, "vimo bench decode: --device %s: %s\n", dname, vimo_last_error());
        return 1;
    }
    g_decode_ops = g_decode_dev != 0 || vimo_cli_flag(run->argc, run->argv, "ops");
    if (g_decode_ops) {
        vimo_bench_printf(run, "greedy decoding from BOS with core ops on %s (KV cache on the device), tokens/s = "
                               "tokens / median time;\nsame = leading tokens equal to the CPU engine's, diff = max "
                               "|logit| difference at the last step\n",
                          vimo_device_name(g_decode_dev));
        vimo_bench_printf(run, "%-12s %8s %6s %12s %10s %10s %12s\n", "model", "device", "tokens", "ops tok/s",
                          "us/token", "same", "diff");
    } else {
    vimo_bench_printf(run, "greedy decoding from BOS after a cache reset, tokens/s = tokens / median time of the "
                           "sequence;\nnaive = llama2.c run.c forward() transcribed (scalar dot products), same "
                           "weights, same run; engine weights %s\n",
                      g_decode_weights == VIMO_LLAMA_WEIGHTS_Q8 ? "q8 (int8, 1 scale per 32; naive stays fp32)"
                                                                : "f32");
    vimo_bench_printf(run, "%-12s %8s %7s %6s %12s %12s %8s %10s\n", "model", "params", "threads", "tokens",
                      "engine tok/s", "naive tok/s", "speedup", "us/token");
    }
    int rc = 0;
    char path[4096];
    vimo_llama_model *m = NULL, *xm = NULL;
    if (extra && vimo_llama_load(extra, &xm)) { /* fail before the long runs */
        fprintf(stderr, "vimo bench decode: %s\n", vimo_last_error());
        return 1;
    }
    if (vimo_cli_find_file("llm/llama/weights/stories260K.bin", path, sizeof path)) {
        if (vimo_llama_load(path, &m)) {
            fprintf(stderr, "vimo bench decode: %s\n", vimo_last_error());
            vimo_llama_free(xm);
            return 1;
        }
        rc = bench_model(run, "stories260K", m, tok ? (int)tok : 256, threads, n_threads);
        vimo_llama_free(m);
        m = NULL;
    } else {
        vimo_bench_printf(run, "stories260K: llm/llama/weights/stories260K.bin not found, skipped\n");
    }
    if (!rc) {
        rand_model r;
        if (rand_model_new(&r, 288, 768, 6, 6, 6, 32000, 256)) {
            fprintf(stderr, "vimo bench decode: %s\n", vimo_last_error());
            vimo_llama_free(xm);
            return 1;
        }
        rc = bench_model(run, "random-15M", &r.m, tok ? (int)tok : 64, threads, n_threads);
        rand_model_free(&r);
    }
    if (!rc && xm) {
        const char *base = strrchr(extra, '/');
        rc = bench_model(run, base && base[1] ? base + 1 : extra, xm, tok ? (int)tok : 128, threads, n_threads);
    }
    vimo_llama_free(xm);
    return rc;
}

VIMO_BENCH(g_bench_decode, "decode",
           "Llama decode engine vs naive run.c-style forward, tokens/s (stories260K, random 15M)", bench_decode)
