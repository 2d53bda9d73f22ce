/*
 * llm.llama - the Llama-family decoder as a trainable vimo plugin
 * ("vimo.llm/1" + "vimo.module/1").
 *
 * Architecture (Touvron et al. 2023, "Llama 2", sec. 2.2; llama2.c model.py;
 * Qwen2 adds q/k/v biases): token embedding, per layer
 *   h += o_proj(attention(rope(q_proj(rmsnorm(h))), rope(k_proj(.)), v_proj(.)))   causal, GQA
 *   h += down_proj(silu(gate_proj(rmsnorm(h))) * up_proj(rmsnorm(h)))
 * then rmsnorm and the output head (tied to the embedding or separate).
 * Built from core ops, so it trains; parameters carry Hugging Face names
 * ("model.layers.0.self_attn.q_proj.weight"), loaded from a llama2.c .bin or
 * a Hugging Face folder (llm/llama/model*.c) or initialised at random.
 *
 * LoRA (Hu et al. 2022, eq. 3): W x + (alpha / r) B A dropout(x), A (r, in)
 * ~ U(+-1/sqrt(in)), B (out, r) = 0, on the chosen projections; the base is
 * frozen. Generation runs llama2.c's exact engine (decode.c) on the current
 * weights with the adapters folded into scratch copies, rebuilt whenever
 * the weights may have changed.
 * forward_varlen (ABI 1.1) trains on packed sequences: the real positions
 * of a right-padded batch gathered into (N, D) rows, rope and attention per
 * sequence, the head only at the rows asked for; the same logits as
 * forward (llm/llama/README.md, "Training on packed sequences").
 * Devices (docs/cuda.md): forward, embed and the LoRA adapters are built
 * from core ops, so they run on whatever device the parameters were moved
 * to (adapters are created on their base weight's device). The KV-cache
 * generation engine (decode.c) is CPU code: for parameters on a device,
 * generate and lora_merge work on host copies of the weights (copied each
 * time the decoder is rebuilt), which is correct but not fast.
 * Not done here: rope scaling, sliding-window attention, quantised weights.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vimo/backend.h"
#include "vimo/llm.h"
#include "vimo/ops.h"
#include "vimo/params.h"
#include "vimo_llama.h"

enum { P_Q, P_K, P_V, P_O, P_GATE, P_UP, P_DOWN, P_COUNT };
static const char *const k_proj_names[P_COUNT] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                                  "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                                  "mlp.down_proj"};
static const char *const k_target_names[P_COUNT] = {"q", "k", "v", "o", "gate", "up", "down"};

typedef struct {
    vimo_tensor *w, *b;          /* (out, in), (out) or NULL */
    vimo_tensor *lora_a, *lora_b; /* (r, in), (out, r) or NULL */
    float *merged;               /* (out, in) W + scale B A, for generation */
} proj;

/* Host copies of device-resident weights for the CPU generation engine. */
typedef struct {
    float **p;
    int n, cap;
} host_copies;

typedef struct {
    vimo_tensor *attn_norm, *ffn_norm; /* (C) */
    proj p[P_COUNT];
} layer;

typedef struct {
    vimo_module_base base;
    vimo_llama_config cfg;
    vimo_tensor *embed;      /* (V, C) */
    vimo_tensor *final_norm; /* (C) */
    vimo_tensor *lm_head;    /* (V, C), NULL when tied */
    layer *layers;
    vimo_tokenizer *tok;
    int lora_rank;
    float lora_scale, lora_dropout;
    int threads;
    /* generation */
    vimo_llama_model view;
    vimo_llama_layer *view_layers;
    vimo_llama_decoder *dec;
    host_copies mirrors; /* weights of the view that live on a device */
    int dirty;
    uint64_t trained_fp; /* fingerprint of the trainable weights the decoder was built from */
} llama;

static const vimo_option_spec k_options[] = {
    {"model", VIMO_OPT_STRING, "", "llama2.c .bin or Hugging Face folder ('' = random init from the dims below)"},
    {"tokenizer", VIMO_OPT_STRING, "", "tokenizer.bin / tokenizer.json ('' = the HF folder's tokenizer.json)"},
    {"dim", VIMO_OPT_INT, "64", "random init: hidden size"},
    {"hidden_dim", VIMO_OPT_INT, "172", "random init: MLP inner size"},
    {"layers", VIMO_OPT_INT, "5", "random init: decoder layers"},
    {"heads", VIMO_OPT_INT, "8", "random init: query heads"},
    {"kv_heads", VIMO_OPT_INT, "4", "random init: key/value heads (GQA)"},
    {"vocab", VIMO_OPT_INT, "512", "random init: vocabulary size"},
    {"seq_len", VIMO_OPT_INT, "512", "random init: longest sequence"},
    {"rope_theta", VIMO_OPT_FLOAT, "10000", "random init: RoPE base"},
    {"seed", VIMO_OPT_INT, "1", "random init seed"},
    {"threads", VIMO_OPT_INT, "0", "generation threads (0: the engine's choice)"},
    {NULL, 0, NULL, NULL},
};

/* ---- construction ----------------------------------------------------------- */

static vimo_status add_param(llama *m, vimo_tensor **t, int64_t d0, int64_t d1, const float *src, const char *name)
{
    int nd = d1 > 0 ? 2 : 1;
    int64_t shape[2] = {d0, d1};
    vimo_status st = vimo_params_add(m->base.params, t, nd, shape, "%s", name);
    if (!st && src) st = vimo_tensor_copy_from(*t, src, vimo_tensor_numel(*t));
    return st;
}

/* Creates every parameter, copying from the loaded model when given. */
static vimo_status build_params(llama *m, const vimo_llama_model *src, vimo_rng *rng)
{
    const vimo_llama_config *c = &m->cfg;
    int64_t C = c->dim, H = c->hidden_dim, Q = (int64_t)c->n_heads * c->head_dim,
            K = (int64_t)c->n_kv_heads * c->head_dim, V = c->vocab_size;
    char name[128];
    vimo_status st = VIMO_OK;
    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    if (!m->layers) return vimo_error(VIMO_ERR_NOMEM, "llm.llama: out of memory");
    VIMO_TRY(add_param(m, &m->embed, V, C, src ? src->embed : NULL, "model.embed_tokens.weight"));
    const int64_t dims[P_COUNT][2] = {{Q, C}, {K, C}, {K, C}, {C, Q}, {H, C}, {H, C}, {C, H}};
    for (int l = 0; l < c->n_layers; l++) {
        layer *ly = &m->layers[l];
        const vimo_llama_layer *sl = src ? &src->layers[l] : NULL;
        const float *sw[P_COUNT] = {0}, *sb[P_COUNT] = {0};
        if (sl) {
            const float *w[P_COUNT] = {sl->wq, sl->wk, sl->wv, sl->wo, sl->w_gate, sl->w_up, sl->w_down};
            memcpy(sw, w, sizeof sw);
            sb[P_Q] = sl->bq, sb[P_K] = sl->bk, sb[P_V] = sl->bv;
        }
        snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", l);
        VIMO_TRY(add_param(m, &ly->attn_norm, C, 0, sl ? sl->attn_norm : NULL, name));
        for (int p = 0; p < P_COUNT; p++) {
            snprintf(name, sizeof name, "model.layers.%d.%s.weight", l, k_proj_names[p]);
            VIMO_TRY(add_param(m, &ly->p[p].w, dims[p][0], dims[p][1], sw[p], name));
            if (c->qkv_bias && p <= P_V) {
                snprintf(name, sizeof name, "model.layers.%d.%s.bias", l, k_proj_names[p]);
                VIMO_TRY(add_param(m, &ly->p[p].b, dims[p][0], 0, sb[p], name));
            }
        }
        snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", l);
        VIMO_TRY(add_param(m, &ly->ffn_norm, C, 0, sl ? sl->ffn_norm : NULL, name));
    }
    VIMO_TRY(add_param(m, &m->final_norm, C, 0, src ? src->final_norm : NULL, "model.norm.weight"));
    if (!c->tied) VIMO_TRY(add_param(m, &m->lm_head, V, C, src ? src->lm_head : NULL, "lm_head.weight"));
    if (!src) { /* random init: N(0, 0.02) matrices (Llama's initializer_range), unit norms */
        for (int i = 0; i < vimo_params_count(m->base.params); i++) {
            vimo_tensor *t = vimo_params_at(m->base.params, i, NULL);
            if (vimo_tensor_ndim(t) == 2)
                vimo_rng_fill_normal(rng, vimo_tensor_data(t), vimo_tensor_numel(t), 0.02f);
            else if (strstr(vimo_tensor_name(t), "norm"))
                vimo_tensor_fill(t, 1.0f);
        }
    }
fail:
    return st;
}

static void destroy(void *inst)
{
    llama *m = inst;
    if (!m) return;
    vimo_llama_decoder_free(m->dec);
    for (int i = 0; i < m->mirrors.n; i++) free(m->mirrors.p[i]);
    free(m->mirrors.p);
    for (int l = 0; m->layers && l < m->cfg.n_layers; l++)
        for (int p = 0; p < P_COUNT; p++) free(m->layers[l].p[p].merged);
    free(m->layers);
    free(m->view_layers);
    vimo_tokenizer_free(m->tok);
    vimo_params_free(m->base.params);
    free(m);
}

static vimo_status random_config(llama *m, const vimo_options *o)
{
    vimo_llama_config *c = &m->cfg;
    snprintf(c->arch, sizeof c->arch, "random");
    c->dim = (int)vimo_options_int(o, "dim");
    c->hidden_dim = (int)vimo_options_int(o, "hidden_dim");
    c->n_layers = (int)vimo_options_int(o, "layers");
    c->n_heads = (int)vimo_options_int(o, "heads");
    c->n_kv_heads = (int)vimo_options_int(o, "kv_heads");
    c->vocab_size = (int)vimo_options_int(o, "vocab");
    c->seq_len = (int)vimo_options_int(o, "seq_len");
    c->rope_theta = (float)vimo_options_float(o, "rope_theta");
    c->norm_eps = 1e-5f;
    c->rope = VIMO_LLAMA_ROPE_INTERLEAVED;
    c->tied = 1;
    c->bos_id = 1;
    c->eos_id = 2;
    if (c->dim < 1 || c->n_heads < 1 || c->n_kv_heads < 1 || c->dim % c->n_heads || c->n_heads % c->n_kv_heads ||
        c->hidden_dim < 1 || c->n_layers < 1 || c->vocab_size < 1 || c->seq_len < 1 || (c->dim / c->n_heads) % 2)
        return vimo_error(VIMO_ERR_INVALID, "llm.llama: need heads | dim, kv_heads | heads, an even head size and "
                                            "sizes >= 1");
    c->head_dim = c->dim / c->n_heads;
    return VIMO_OK;
}

static vimo_status create(const vimo_options *o, void **out)
{
    llama *m = calloc(1, sizeof *m);
    if (!m) return vimo_error(VIMO_ERR_NOMEM, "llm.llama: out of memory");
    m->dirty = 1;
    m->threads = (int)vimo_options_int(o, "threads");
    vimo_llama_model *src = NULL;
    vimo_rng rng;
    vimo_rng_seed(&rng, (uint64_t)vimo_options_int(o, "seed"));
    vimo_status st = VIMO_OK;
    const char *path = vimo_options_string(o, "model"), *tokp = vimo_options_string(o, "tokenizer");
    VIMO_TRY(vimo_params_new(&m->base.params));
    if (path[0]) {
        VIMO_TRY(vimo_llama_load(path, &src));
        m->cfg = src->cfg;
    } else {
        VIMO_TRY(random_config(m, o));
    }
    VIMO_TRY(build_params(m, src, &rng));
    char hf_tok[4096];
    if (!tokp[0] && path[0] && !strstr(path, ".bin")) {
        snprintf(hf_tok, sizeof hf_tok, "%s/tokenizer.json", path);
        tokp = hf_tok;
    }
    if (tokp[0]) VIMO_TRY(vimo_tokenizer_load(tokp, &m->tok));
    vimo_llama_free(src);
    *out = m;
    return VIMO_OK;
fail:
    vimo_llama_free(src);
    destroy(m);
    return st;
}

/* ---- training path ---------------------------------------------------------- */

static vimo_status apply_proj(llama *m, vimo_ctx *ctx, const proj *p, vimo_tensor *x, vimo_rng *rng,
                              vimo_tensor **y)
{
    vimo_status st = vimo_matmul(ctx, y, x, p->w, p->b);
    if (st || !p->lora_a) return st;
    vimo_tensor *d = x, *t, *u, *s;
    if (m->base.train && m->lora_dropout > 0 && rng) VIMO_TRY(vimo_dropout(ctx, &d, x, m->lora_dropout, rng));
    VIMO_TRY(vimo_matmul(ctx, &t, d, p->lora_a, NULL));
    VIMO_TRY(vimo_matmul(ctx, &u, t, p->lora_b, NULL));
    VIMO_TRY(vimo_scale(ctx, &s, u, m->lora_scale));
    VIMO_TRY(vimo_add(ctx, y, *y, s));
fail:
    return st;
}

static vimo_status heads(vimo_ctx *ctx, vimo_tensor *x, int64_t b, int64_t t, int64_t h, int64_t dh,
                         vimo_tensor **out)
{
    return vimo_reshape(ctx, out, x, 4, (int64_t[]){b, t, h, dh});
}

/* The token layout of a decoder call: B padded rows of T (forward), or
 * varlen's N packed real positions, sequence i at rows [start[i],
 * start[i] + lens[i]). Every op but attention and rope is per position, so
 * only those look at the layout. */
typedef struct {
    int64_t b, t;
    const int32_t *lens; /* NULL: padded (B, T) */
    const int64_t *start;
    const uint8_t *key_mask;
} layout;

/* Rope and causal attention of b sequences of t positions (0..t-1): q, k,
 * v (B, T, H * Dh), or (t, H * Dh) for one packed sequence (b = 1); the
 * output has q's leading dims and Hq * Dh columns. */
static vimo_status attend_rows(llama *m, vimo_ctx *ctx, vimo_tensor *q, vimo_tensor *k, vimo_tensor *v, int64_t b,
                               int64_t t, const uint8_t *key_mask, vimo_tensor **out)
{
    const vimo_llama_config *c = &m->cfg;
    int64_t dh = c->head_dim;
    vimo_rope_mode rope = c->rope == VIMO_LLAMA_ROPE_HALF ? VIMO_ROPE_HALF : VIMO_ROPE_INTERLEAVED;
    vimo_tensor *q4, *k4, *v4, *a;
    vimo_status st = VIMO_OK;
    VIMO_TRY(heads(ctx, q, b, t, c->n_heads, dh, &q4));
    VIMO_TRY(heads(ctx, k, b, t, c->n_kv_heads, dh, &k4));
    VIMO_TRY(heads(ctx, v, b, t, c->n_kv_heads, dh, &v4));
    VIMO_TRY(vimo_rope(ctx, &q4, q4, c->rope_theta, 0, rope));
    VIMO_TRY(vimo_rope(ctx, &k4, k4, c->rope_theta, 0, rope));
    VIMO_TRY(vimo_attention(ctx, &a, q4, k4, v4, key_mask, 1, 1.0f / sqrtf((float)dh)));
    /* back to q's own leading dims: (B, T) or (n) */
    int nd = vimo_tensor_ndim(q);
    int64_t shape[3] = {b, t, (int64_t)c->n_heads * dh};
    if (nd == 2) shape[0] = t, shape[1] = shape[2];
    VIMO_TRY(vimo_reshape(ctx, out, a, nd, shape));
fail:
    return st;
}

/* Rows of n tensors stacked in order (vimo_concat along dim 0, which takes
 * CONCAT_MAX at a time: groups are joined first, in place in xs). */
#define CONCAT_MAX 6
static vimo_status concat_rows(vimo_ctx *ctx, vimo_tensor **xs, int64_t n, vimo_tensor **out)
{
    while (n > CONCAT_MAX) {
        int64_t groups = 0;
        for (int64_t i = 0; i < n; i += CONCAT_MAX) {
            int k = (int)(n - i < CONCAT_MAX ? n - i : CONCAT_MAX);
            vimo_tensor *g = xs[i];
            vimo_status st = k == 1 ? VIMO_OK : vimo_concat(ctx, &g, xs + i, k, 0);
            if (st) return st;
            xs[groups++] = g; /* groups <= i: no input still needed is overwritten */
        }
        n = groups;
    }
    return n == 1 ? (*out = xs[0], VIMO_OK) : vimo_concat(ctx, out, xs, (int)n, 0);
}

/* Attention of packed rows: each sequence on its own (its rows are a
 * contiguous slice), so padding is never computed; the outputs are packed
 * again in order. */
static vimo_status attend_varlen(llama *m, vimo_ctx *ctx, vimo_tensor *q, vimo_tensor *k, vimo_tensor *v,
                                 const layout *lo, vimo_tensor **out)
{
    vimo_tensor **parts = calloc((size_t)lo->b, sizeof *parts);
    if (!parts) return vimo_error(VIMO_ERR_NOMEM, "llm.llama: out of memory");
    vimo_status st = VIMO_OK;
    for (int64_t i = 0; i < lo->b; i++) {
        int64_t s = lo->start[i], e = s + lo->lens[i];
        vimo_tensor *qi, *ki, *vi;
        VIMO_TRY(vimo_slice(ctx, &qi, q, 0, s, e));
        VIMO_TRY(vimo_slice(ctx, &ki, k, 0, s, e));
        VIMO_TRY(vimo_slice(ctx, &vi, v, 0, s, e));
        VIMO_TRY(attend_rows(m, ctx, qi, ki, vi, 1, lo->lens[i], NULL, &parts[i]));
    }
    VIMO_TRY(concat_rows(ctx, parts, lo->b, out));
fail:
    free(parts);
    return st;
}

/* Every decoder layer over h: (B, T, D) padded or (N, D) packed (lo). */
static vimo_status decoder(llama *m, vimo_ctx *ctx, vimo_tensor *h, const layout *lo, vimo_rng *rng,
                           vimo_tensor **out)
{
    const vimo_llama_config *c = &m->cfg;
    vimo_status st = VIMO_OK;
    for (int l = 0; l < c->n_layers; l++) {
        const layer *ly = &m->layers[l];
        vimo_tensor *n, *q, *k, *v, *a, *o, *g, *u, *s, *d;
        VIMO_TRY(vimo_rmsnorm(ctx, &n, h, ly->attn_norm, c->norm_eps));
        VIMO_TRY(apply_proj(m, ctx, &ly->p[P_Q], n, rng, &q));
        VIMO_TRY(apply_proj(m, ctx, &ly->p[P_K], n, rng, &k));
        VIMO_TRY(apply_proj(m, ctx, &ly->p[P_V], n, rng, &v));
        if (lo->lens) VIMO_TRY(attend_varlen(m, ctx, q, k, v, lo, &a));
        else VIMO_TRY(attend_rows(m, ctx, q, k, v, lo->b, lo->t, lo->key_mask, &a));
        VIMO_TRY(apply_proj(m, ctx, &ly->p[P_O], a, rng, &o));
        VIMO_TRY(vimo_add(ctx, &h, h, o));
        VIMO_TRY(vimo_rmsnorm(ctx, &n, h, ly->ffn_norm, c->norm_eps));
        VIMO_TRY(apply_proj(m, ctx, &ly->p[P_GATE], n, rng, &g));
        VIMO_TRY(apply_proj(m, ctx, &ly->p[P_UP], n, rng, &u));
        VIMO_TRY(vimo_swiglu(ctx, &s, g, u));
        VIMO_TRY(apply_proj(m, ctx, &ly->p[P_DOWN], s, rng, &d));
        VIMO_TRY(vimo_add(ctx, &h, h, d));
    }
    *out = h;
fail:
    return st;
}

/* The final rmsnorm and the output head. */
static vimo_status head(llama *m, vimo_ctx *ctx, vimo_tensor *h, vimo_tensor **logits)
{
    vimo_tensor *hn;
    vimo_status st = vimo_rmsnorm(ctx, &hn, h, m->final_norm, m->cfg.norm_eps);
    if (st) return st;
    return vimo_matmul(ctx, logits, hn, m->lm_head ? m->lm_head : m->embed, NULL);
}

/* Checks x (B, T, D) against the model; marks the weights dirty. */
static vimo_status check_input(llama *m, vimo_ctx *ctx, vimo_tensor *x, const char *fn)
{
    const vimo_llama_config *c = &m->cfg;
    if (vimo_tensor_ndim(x) != 3 || vimo_tensor_dim(x, 2) != c->dim)
        return vimo_error(VIMO_ERR_SHAPE, "llm.llama: %s: input must be (B, T, %d) embeddings", fn, c->dim);
    if (vimo_tensor_dim(x, 1) > c->seq_len)
        return vimo_error(VIMO_ERR_SHAPE, "llm.llama: %s: %lld positions exceed seq_len %d", fn,
                          (long long)vimo_tensor_dim(x, 1), c->seq_len);
    if (vimo_ctx_grad_enabled(ctx)) m->dirty = 1; /* weights may change after this step */
    return VIMO_OK;
}

static vimo_status forward(void *inst, vimo_ctx *ctx, vimo_tensor *x, const uint8_t *key_mask, vimo_rng *rng,
                           vimo_tensor **logits)
{
    llama *m = inst;
    vimo_status st = check_input(m, ctx, x, "forward");
    if (st) return st;
    layout lo = {.b = vimo_tensor_dim(x, 0), .t = vimo_tensor_dim(x, 1), .key_mask = key_mask};
    vimo_tensor *h;
    VIMO_TRY(decoder(m, ctx, x, &lo, rng, &h));
    st = head(m, ctx, h, logits);
fail:
    return st;
}

/* Packs the real positions: start[i] = the packed row of (i, 0), ids the
 * flat (b T + t) position of every packed row, rows_at[j] the packed row
 * of rows[j]. Checks lens and rows against (B, T). */
static vimo_status pack_index(int64_t b, int64_t t, const int32_t *lens, const int32_t *rows, int64_t n_rows,
                              int64_t *start, int32_t **ids, int32_t *rows_at)
{
    int64_t n = 0;
    for (int64_t i = 0; i < b; i++) {
        if (lens[i] < 1 || lens[i] > t)
            return vimo_error(VIMO_ERR_INVALID, "llm.llama: forward_varlen: lens[%lld] = %d outside [1, %lld]",
                              (long long)i, lens[i], (long long)t);
        start[i] = n;
        n += lens[i];
    }
    for (int64_t j = 0; j < n_rows; j++) {
        int64_t r = rows[j], i = r / t;
        if (r < 0 || i >= b || r % t >= lens[i])
            return vimo_error(VIMO_ERR_INVALID,
                              "llm.llama: forward_varlen: rows[%lld] = %lld is not a real position of (%lld, %lld)",
                              (long long)j, (long long)r, (long long)b, (long long)t);
        rows_at[j] = (int32_t)(start[i] + r % t);
    }
    if (!(*ids = malloc((size_t)n * sizeof **ids))) return vimo_error(VIMO_ERR_NOMEM, "llm.llama: out of memory");
    for (int64_t i = 0, r = 0; i < b; i++)
        for (int64_t p = 0; p < lens[i]; p++) (*ids)[r++] = (int32_t)(i * t + p);
    return VIMO_OK;
}

static vimo_status forward_varlen(void *inst, vimo_ctx *ctx, vimo_tensor *x, const int32_t *lens,
                                  const int32_t *rows, int64_t n_rows, vimo_rng *rng, vimo_tensor **logits)
{
    llama *m = inst;
    vimo_status st = check_input(m, ctx, x, "forward_varlen");
    if (st) return st;
    if (!lens || !rows || n_rows < 1)
        return vimo_error(VIMO_ERR_INVALID, "llm.llama: forward_varlen: need lens, and rows with n_rows >= 1");
    int64_t b = vimo_tensor_dim(x, 0), t = vimo_tensor_dim(x, 1), d = m->cfg.dim;
    if (b * t > INT32_MAX)
        return vimo_error(VIMO_ERR_SHAPE, "llm.llama: forward_varlen: %lld positions", (long long)(b * t));
    int64_t *start = malloc((size_t)b * sizeof *start);
    int32_t *ids = NULL, *rows_at = malloc((size_t)n_rows * sizeof *rows_at);
    if (!start || !rows_at) {
        st = vimo_error(VIMO_ERR_NOMEM, "llm.llama: out of memory");
        goto fail;
    }
    VIMO_TRY(pack_index(b, t, lens, rows, n_rows, start, &ids, rows_at));
    int64_t n = start[b - 1] + lens[b - 1];
    vimo_tensor *x2, *h, *hr;
    VIMO_TRY(vimo_reshape(ctx, &x2, x, 2, (int64_t[]){b * t, d}));
    VIMO_TRY(vimo_embedding(ctx, &h, x2, ids, 1, (int64_t[]){n})); /* gather the real rows */
    layout lo = {.b = b, .t = t, .lens = lens, .start = start};
    VIMO_TRY(decoder(m, ctx, h, &lo, rng, &h));
    VIMO_TRY(vimo_embedding(ctx, &hr, h, rows_at, 1, (int64_t[]){n_rows}));
    st = head(m, ctx, hr, logits);
fail:
    free(start);
    free(ids);
    free(rows_at);
    return st;
}

static vimo_status embed(void *inst, vimo_ctx *ctx, const int32_t *ids, int64_t b, int64_t t, vimo_tensor **out)
{
    llama *m = inst;
    if (vimo_ctx_grad_enabled(ctx)) m->dirty = 1;
    return vimo_embedding(ctx, out, m->embed, ids, 2, (int64_t[]){b, t});
}

/* ---- LoRA ------------------------------------------------------------------- */

/* "q,v" -> on[P_COUNT]. Items are trimmed of spaces; each must name a
 * projection, so that a typo ("q,vv") is an error, not a silently missing
 * adapter. */
static vimo_status parse_targets(const char *targets, int on[P_COUNT])
{
    memset(on, 0, P_COUNT * sizeof *on);
    for (const char *p = targets;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && *p == ' ') p++, len--;
        while (len && p[len - 1] == ' ') len--;
        int k = 0;
        while (k < P_COUNT && !(strlen(k_target_names[k]) == len && strncmp(p, k_target_names[k], len) == 0)) k++;
        if (k == P_COUNT)
            return vimo_error(VIMO_ERR_INVALID,
                              "llm.llama: LoRA target '%.*s' (in '%s') is none of q,k,v,o,gate,up,down", (int)len, p,
                              targets);
        on[k] = 1;
        if (!e) return VIMO_OK;
        p = e + 1;
    }
}

static vimo_status lora_add(void *inst, int rank, float alpha, float dropout, const char *targets, uint64_t seed)
{
    llama *m = inst;
    if (m->lora_rank) return vimo_error(VIMO_ERR_STATE, "llm.llama: LoRA adapters already added");
    if (rank < 1 || dropout < 0 || dropout >= 1 || !targets)
        return vimo_error(VIMO_ERR_INVALID, "llm.llama: LoRA needs rank >= 1 and dropout in [0, 1)");
    int on[P_COUNT];
    vimo_status st = parse_targets(targets, on);
    if (st) return st;
    if ((st = vimo_params_set_trainable(m->base.params, 0))) return st; /* freeze the base */
    vimo_rng rng;
    vimo_rng_seed(&rng, seed);
    char name[160];
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int p = 0; p < P_COUNT; p++) {
            if (!on[p]) continue;
            proj *pr = &m->layers[l].p[p];
            int64_t out = vimo_tensor_dim(pr->w, 0), in = vimo_tensor_dim(pr->w, 1);
            snprintf(name, sizeof name, "model.layers.%d.%s.lora_A", l, k_proj_names[p]);
            if ((st = vimo_params_add(m->base.params, &pr->lora_a, 2, (int64_t[]){rank, in}, "%s", name))) return st;
            vimo_init_fan_in(pr->lora_a, &rng, in);
            snprintf(name, sizeof name, "model.layers.%d.%s.lora_B", l, k_proj_names[p]);
            if ((st = vimo_params_add(m->base.params, &pr->lora_b, 2, (int64_t[]){out, rank}, "%s", name))) return st;
            /* Initialised on the host, then onto the base weight's device. */
            int dev = vimo_tensor_device(pr->w);
            if (dev != VIMO_DEVICE_CPU &&
                ((st = vimo_tensor_move(pr->lora_a, dev)) || (st = vimo_tensor_move(pr->lora_b, dev))))
                return st;
        }
    m->lora_rank = rank;
    m->lora_scale = alpha / (float)rank;
    m->lora_dropout = dropout;
    m->dirty = 1;
    return VIMO_OK;
}

/* Host floats of parameter t: its own memory on the CPU, else a fresh
 * malloc'd copy of its device memory (*copy set, the caller frees it). */
static vimo_status host_floats(const vimo_tensor *t, const float **out, float **copy)
{
    *copy = NULL;
    if (vimo_tensor_device(t) == VIMO_DEVICE_CPU) {
        *out = vimo_tensor_data(t);
        return VIMO_OK;
    }
    int64_t n = vimo_tensor_numel(t);
    float *h = malloc((size_t)n * sizeof *h);
    if (!h) return vimo_error(VIMO_ERR_NOMEM, "llm.llama: out of memory copying %lld weights to the host", (long long)n);
    vimo_status st = vimo_tensor_copy_to(t, h, n);
    if (st) {
        free(h);
        return st;
    }
    *out = *copy = h;
    return VIMO_OK;
}

/* W' = W + scale * B A into dst (out x in), from host memory or host
 * copies of device parameters. */
static vimo_status fold(const proj *p, float scale, float *dst)
{
    int64_t out = vimo_tensor_dim(p->w, 0), in = vimo_tensor_dim(p->w, 1), r = vimo_tensor_dim(p->lora_a, 0);
    const float *w = NULL, *a = NULL, *b = NULL;
    float *cw = NULL, *ca = NULL, *cb = NULL;
    vimo_status st = VIMO_OK;
    VIMO_TRY(host_floats(p->w, &w, &cw));
    VIMO_TRY(host_floats(p->lora_a, &a, &ca));
    VIMO_TRY(host_floats(p->lora_b, &b, &cb));
    for (int64_t i = 0; i < out; i++)
        for (int64_t j = 0; j < in; j++) {
            float s = 0.0f;
            for (int64_t k = 0; k < r; k++) s += b[i * r + k] * a[k * in + j];
            dst[i * in + j] = w[i * in + j] + scale * s;
        }
fail:
    free(cw), free(ca), free(cb);
    return st;
}

static vimo_status lora_merge(void *inst)
{
    llama *m = inst;
    if (!m->lora_rank) return vimo_error(VIMO_ERR_STATE, "llm.llama: no LoRA adapters to merge");
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int p = 0; p < P_COUNT; p++) {
            proj *pr = &m->layers[l].p[p];
            if (!pr->lora_a) continue;
            int64_t n = vimo_tensor_numel(pr->w);
            float *tmp = malloc((size_t)n * sizeof *tmp);
            if (!tmp) return vimo_error(VIMO_ERR_NOMEM, "llm.llama: out of memory merging LoRA");
            vimo_status st = fold(pr, m->lora_scale, tmp);
            if (!st) st = vimo_tensor_copy_from(pr->w, tmp, n); /* host or device */
            free(tmp);
            if (st) return st;
            /* Keep the adapter tensors (checkpoints name them) but zero B so
             * the merged model computes the same function. */
            vimo_tensor_fill(pr->lora_b, 0.0f);
        }
    m->dirty = 1;
    return VIMO_OK;
}

/* ---- generation ------------------------------------------------------------- */

/* A fingerprint of the values of every trainable parameter: per tensor the
 * sum of its float bits times odd weights (any one changed element changes
 * it; a vectorisable loop, about 1 ns per float), chained over tensors. An
 * optimiser step writes the weights without calling into the plugin,
 * possibly after the last forward (forward, backward, generate a sample,
 * step): generate compares fingerprints to notice. Frozen weights change
 * only through the module interface, which sets `dirty`. Device parameters
 * are hashed from host copies. */
static vimo_status trained_fingerprint(const llama *m, uint64_t *fp)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < vimo_params_count(m->base.params); i++) {
        vimo_tensor *t = vimo_params_at(m->base.params, i, NULL);
        if (!vimo_tensor_requires_grad(t)) continue;
        const float *d = NULL;
        float *copy = NULL;
        vimo_status st = host_floats(t, &d, &copy);
        if (st) return st;
        uint64_t s = 0;
        for (int64_t j = 0, n = vimo_tensor_numel(t); j < n; j++) {
            uint32_t u;
            memcpy(&u, d + j, sizeof u);
            s += (uint64_t)u * (uint64_t)(uint32_t)(2 * j + 1);
        }
        free(copy);
        h = (h ^ s ^ (uint64_t)i) * 1099511628211ull;
    }
    *fp = h;
    return VIMO_OK;
}

/* Host floats of a weight for the engine's view: its own memory on the CPU,
 * else a host copy kept in m->mirrors until the next rebuild. */
static vimo_status view_weight(llama *m, const vimo_tensor *t, const float **out)
{
    float *copy = NULL;
    vimo_status st = host_floats(t, out, &copy);
    if (st || !copy) return st;
    if (m->mirrors.n == m->mirrors.cap) {
        int c = m->mirrors.cap ? 2 * m->mirrors.cap : 16;
        float **p = realloc(m->mirrors.p, (size_t)c * sizeof *p);
        if (!p) {
            free(copy);
            return vimo_error(VIMO_ERR_NOMEM, "llm.llama: out of memory");
        }
        m->mirrors.p = p, m->mirrors.cap = c;
    }
    m->mirrors.p[m->mirrors.n++] = copy;
    return VIMO_OK;
}

/* Points the engine's model view at the current weights (adapters folded
 * into scratch copies, device weights copied to the host) and rebuilds the
 * decoder, which repacks them. */
static vimo_status refresh_decoder(llama *m)
{
    const vimo_llama_config *c = &m->cfg;
    vimo_status st = VIMO_OK;
    if (!m->view_layers) {
        m->view_layers = calloc((size_t)c->n_layers, sizeof *m->view_layers);
        if (!m->view_layers) return vimo_error(VIMO_ERR_NOMEM, "llm.llama: out of memory");
    }
    vimo_llama_decoder_free(m->dec); /* it may point into the old mirrors */
    m->dec = NULL;
    for (int i = 0; i < m->mirrors.n; i++) free(m->mirrors.p[i]);
    m->mirrors.n = 0;
    for (int l = 0; l < c->n_layers; l++) {
        layer *ly = &m->layers[l];
        const float *w[P_COUNT];
        for (int p = 0; p < P_COUNT; p++) {
            proj *pr = &ly->p[p];
            if (pr->lora_a) {
                if (!pr->merged && !(pr->merged = malloc((size_t)vimo_tensor_numel(pr->w) * sizeof(float))))
                    return vimo_error(VIMO_ERR_NOMEM, "llm.llama: out of memory");
                VIMO_TRY(fold(pr, m->lora_scale, pr->merged));
                w[p] = pr->merged;
            } else {
                VIMO_TRY(view_weight(m, pr->w, &w[p]));
            }
        }
        vimo_llama_layer *vl = &m->view_layers[l];
        VIMO_TRY(view_weight(m, ly->attn_norm, &vl->attn_norm));
        VIMO_TRY(view_weight(m, ly->ffn_norm, &vl->ffn_norm));
        vl->wq = w[P_Q], vl->wk = w[P_K], vl->wv = w[P_V], vl->wo = w[P_O];
        vl->w_gate = w[P_GATE], vl->w_up = w[P_UP], vl->w_down = w[P_DOWN];
        vl->bq = vl->bk = vl->bv = NULL;
        if (ly->p[P_Q].b) VIMO_TRY(view_weight(m, ly->p[P_Q].b, &vl->bq));
        if (ly->p[P_K].b) VIMO_TRY(view_weight(m, ly->p[P_K].b, &vl->bk));
        if (ly->p[P_V].b) VIMO_TRY(view_weight(m, ly->p[P_V].b, &vl->bv));
    }
    m->view.cfg = *c;
    VIMO_TRY(view_weight(m, m->embed, &m->view.embed));
    m->view.layers = m->view_layers;
    VIMO_TRY(view_weight(m, m->final_norm, &m->view.final_norm));
    m->view.lm_head = m->view.embed;
    if (m->lm_head) VIMO_TRY(view_weight(m, m->lm_head, &m->view.lm_head));
    VIMO_TRY(vimo_llama_decoder_new(&m->view, c->seq_len, m->threads, &m->dec));
    VIMO_TRY(trained_fingerprint(m, &m->trained_fp));
    m->dirty = 0;
fail:
    return st;
}

typedef struct {
    int32_t *out;
    int64_t max_out, n, skip;
} collect;

static int emit_token(void *user, int32_t prev, int32_t token)
{
    (void)prev;
    collect *c = user;
    if (c->skip > 0) { /* the prompt's own continuation tokens */
        c->skip--;
        return 0;
    }
    if (c->n < c->max_out) c->out[c->n++] = token;
    return c->n >= c->max_out;
}

static vimo_status generate(void *inst, const float *prefix, int64_t n_prefix, const int32_t *prompt,
                            int64_t n_prompt, const vimo_sample_config *cfg, int32_t *out, int64_t max_out,
                            int64_t *n_out)
{
    llama *m = inst;
    if (!prompt || n_prompt < 1 || !cfg || !n_out || (max_out > 0 && !out))
        return vimo_error(VIMO_ERR_INVALID, "llm.llama: generate needs a prompt of >= 1 token and an output");
    *n_out = 0;
    if (n_prefix < 0 || n_prefix + n_prompt >= m->cfg.seq_len)
        return vimo_error(VIMO_ERR_INVALID, "llm.llama: %lld prefix + %lld prompt positions exceed seq_len %d",
                          (long long)n_prefix, (long long)n_prompt, m->cfg.seq_len);
    vimo_status st = VIMO_OK;
    int stale = m->dirty || !m->dec;
    if (!stale) {
        uint64_t fp;
        VIMO_TRY(trained_fingerprint(m, &fp));
        stale = fp != m->trained_fp;
    }
    if (stale) VIMO_TRY(refresh_decoder(m));
    vimo_llama_sampler s;
    VIMO_TRY(vimo_llama_sampler_init(&s, m->cfg.vocab_size, cfg->temperature, cfg->top_p, cfg->top_k, cfg->seed));
    int64_t want = cfg->max_new_tokens < max_out ? cfg->max_new_tokens : max_out;
    collect c = {out, want, 0, n_prompt - 1};
    /* Stop at EOS and BOS (as llama2.c) of the config and the tokenizer, those
     * that exist: an HF config without them must not stop at ids 1 and 2,
     * ordinary tokens there (llama2.c files always have bos 1, eos 2). */
    int32_t cand[4] = {m->cfg.eos_id, m->cfg.bos_id, m->tok ? vimo_tokenizer_eos(m->tok) : -1,
                       m->tok ? vimo_tokenizer_bos(m->tok) : -1};
    int32_t stop[4];
    int n_stop = 0;
    for (int i = 0; i < 4; i++)
        if (cand[i] >= 0 && cand[i] < m->cfg.vocab_size) stop[n_stop++] = cand[i];
    int steps = (int)(n_prompt + want);
    if (want > 0)
        st = vimo_llama_generate(m->dec, &s, prefix, (int)n_prefix, prompt, (int)n_prompt, steps, stop,
                                 cfg->stop_at_eos ? n_stop : 0, emit_token, &c, NULL);
    vimo_llama_sampler_free(&s);
    *n_out = c.n;
fail:
    return st;
}

/* ---- interfaces ------------------------------------------------------------- */

static int64_t dim(void *inst) { return ((llama *)inst)->cfg.dim; }
static int64_t vocab_size(void *inst) { return ((llama *)inst)->cfg.vocab_size; }
static int64_t max_seq(void *inst) { return ((llama *)inst)->cfg.seq_len; }
static const vimo_tokenizer *tokenizer(void *inst) { return ((llama *)inst)->tok; }

static const vimo_llm_iface k_llm = {
    .size = sizeof(vimo_llm_iface),
    .dim = dim,
    .vocab_size = vocab_size,
    .max_seq = max_seq,
    .tokenizer = tokenizer,
    .embed = embed,
    .forward = forward,
    .generate = generate,
    .lora_add = lora_add,
    .lora_merge = lora_merge,
    .forward_varlen = forward_varlen,
};

/* The module interface marks the weights dirty whenever a caller may write
 * them (an optimiser step, a checkpoint restore). */
static int mod_num_params(void *inst) { return vimo_params_count(((llama *)inst)->base.params); }
static vimo_tensor *mod_param(void *inst, int i, const char **name)
{
    llama *m = inst;
    m->dirty = 1;
    return vimo_params_at(m->base.params, i, name);
}
static void mod_set_train(void *inst, int on)
{
    llama *m = inst;
    m->base.train = on != 0;
    m->dirty = 1;
}
static vimo_status mod_set_trainable(void *inst, int on)
{
    llama *m = inst;
    /* Unfreezing a LoRA model unfreezes only the adapters. */
    for (int i = 0; i < vimo_params_count(m->base.params); i++) {
        const char *n;
        vimo_tensor *t = vimo_params_at(m->base.params, i, &n);
        int adapter = strstr(n, ".lora_") != NULL;
        vimo_status st = vimo_tensor_set_requires_grad(t, on && (adapter || !m->lora_rank));
        if (st) return st;
    }
    return VIMO_OK;
}

static const vimo_module_iface k_module = {
    .size = sizeof(vimo_module_iface),
    .num_params = mod_num_params,
    .param = mod_param,
    .set_train = mod_set_train,
    .set_trainable = mod_set_trainable,
};

static const void *get_iface(const char *name)
{
    if (strcmp(name, VIMO_IFACE_LLM) == 0) return &k_llm;
    if (strcmp(name, VIMO_IFACE_MODULE) == 0) return &k_module;
    return NULL;
}

VIMO_PLUGIN_DEFINE(llm_llama) = {
    VIMO_PLUGIN_HEADER,
    .kind = VIMO_PLUGIN_LLM,
    .id = "llm.llama",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "Llama / Qwen2 decoder: llama2.c and Hugging Face weights, LoRA, KV-cache generation",
    .options = k_options,
    .create = create,
    .destroy = destroy,
    .get_iface = get_iface,
};
