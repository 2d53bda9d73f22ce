/*
 * llmp_common.h - helpers shared by the llm.llama plugin tests: creating the
 * plugin through the loader as a user would, running embed -> forward
 * without autograd, comparing arrays by max |a - b| / max |b|, and pointing
 * the exact decode engine (vimo_llama.h) at the plugin's own parameters, by
 * their Hugging Face names, as the plugin's refresh_decoder() does.
 * Static inline functions only (no .c is included anywhere).
 * Not here: any reference computation (those live in the tests and in
 * the .py scripts under tests/ref).
 */
#ifndef LLMP_COMMON_H
#define LLMP_COMMON_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vimo/llm.h"
#include "vimo/ops.h"
#include "vimo/safetensors.h"
#include "vimo_llama.h"

#define STORIES LLM_WEIGHTS "/stories260K.bin"
#define TINY_LLAMA LLM_FIXTURES "/tiny_llama"
#define TINY_QWEN2 LLM_FIXTURES "/tiny_qwen2"

typedef struct llmp {
    vimo_instance *inst;
    void *h;
    const vimo_llm_iface *llm;
    const vimo_module_iface *mod;
} llmp;

/* llm.llama with "name", "value", ..., NULL options. */
static inline llmp llmp_new(const char *const *opts)
{
    const vimo_plugin_desc *desc;
    vimo_options *o = NULL;
    llmp p = {0};
    vimo_status st = vimo_plugin_find("llm.llama", &desc);
    if (st) fprintf(stderr, "%s\n", vimo_last_error());
    assert_int_equal(st, VIMO_OK);
    assert_int_equal(vimo_options_new(&o, desc), VIMO_OK);
    for (int i = 0; opts && opts[i]; i += 2) assert_int_equal(vimo_options_set(o, opts[i], opts[i + 1]), VIMO_OK);
    st = vimo_instance_new(&p.inst, "llm.llama", o);
    if (st) fprintf(stderr, "%s\n", vimo_last_error());
    assert_int_equal(st, VIMO_OK);
    vimo_options_free(o);
    p.h = vimo_instance_handle(p.inst);
    p.llm = vimo_instance_iface(p.inst, VIMO_IFACE_LLM);
    p.mod = vimo_instance_iface(p.inst, VIMO_IFACE_MODULE);
    assert_non_null(p.llm);
    assert_non_null(p.mod);
    p.mod->set_train(p.h, 0);
    return p;
}

static inline llmp llmp_model(const char *path)
{
    return llmp_new((const char *const[]){"model", path, NULL});
}

static inline void llmp_free(llmp *p)
{
    vimo_instance_free(p->inst);
    p->inst = NULL;
}

/* The parameter called `name`, or NULL. */
static inline vimo_tensor *llmp_param(const llmp *p, const char *name)
{
    for (int i = 0; i < p->mod->num_params(p->h); i++) {
        const char *n;
        vimo_tensor *t = p->mod->param(p->h, i, &n);
        if (strcmp(n, name) == 0) return t;
    }
    return NULL;
}

/* logits (B, T, V) of embed(ids) without autograd, into out (malloc'd). */
static inline float *llmp_logits_x(const llmp *p, vimo_tensor *x)
{
    vimo_ctx *ctx;
    vimo_tensor *y = NULL;
    assert_int_equal(vimo_ctx_new(&ctx), VIMO_OK);
    vimo_ctx_set_grad(ctx, 0);
    vimo_status st = p->llm->forward(p->h, ctx, x, NULL, NULL, &y);
    if (st) fprintf(stderr, "%s\n", vimo_last_error());
    assert_int_equal(st, VIMO_OK);
    int64_t n = vimo_tensor_numel(y);
    float *out = malloc((size_t)n * sizeof *out);
    assert_non_null(out);
    assert_int_equal(vimo_tensor_copy_to(y, out, n), VIMO_OK);
    vimo_ctx_free(ctx);
    return out;
}

static inline float *llmp_logits(const llmp *p, const int32_t *ids, int64_t b, int64_t t)
{
    vimo_ctx *ctx;
    vimo_tensor *x = NULL, *xc = NULL;
    assert_int_equal(vimo_ctx_new(&ctx), VIMO_OK);
    vimo_ctx_set_grad(ctx, 0);
    assert_int_equal(p->llm->embed(p->h, ctx, ids, b, t, &x), VIMO_OK);
    assert_int_equal(vimo_tensor_clone(&xc, x), VIMO_OK);
    vimo_ctx_free(ctx);
    float *out = llmp_logits_x(p, xc);
    vimo_tensor_free(xc);
    return out;
}

/* max |got - want| / max |want| over n values (printed). */
static inline double llmp_rel(const float *got, const float *want, int64_t n, const char *what)
{
    double md = 0, mx = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= md)) md = d; /* NaN propagates as a failure */
        if (fabs((double)want[i]) > mx) mx = fabs((double)want[i]);
    }
    double r = mx > 0 ? md / mx : md;
    printf("  %-58s max|diff| %.3g  max|ref| %.3g  rel %.3g\n", what, md, mx, r);
    return r;
}

static inline int llmp_argmax(const float *x, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return (int)best;
}

/* Gap between the two largest values (a near tie makes argmax fragile). */
static inline double llmp_top2_gap(const float *x, int64_t n)
{
    double a = -INFINITY, b = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        if (x[i] > a) b = a, a = x[i];
        else if (x[i] > b) b = x[i];
    }
    return a - b;
}

/* The engine's per-step logits (T, V) for ids after n_prefix embedding rows
 * (prefix (n_prefix, C) or NULL): prefill, then one step per id. Logits of
 * the prefix steps are returned too, first (rows 0..n_prefix-1). */
static inline float *llmp_engine_logits(const vimo_llama_model *m, const float *prefix, int n_prefix,
                                        const int32_t *ids, int t, int threads)
{
    vimo_llama_decoder *d = NULL;
    int V = m->cfg.vocab_size;
    assert_int_equal(vimo_llama_decoder_new(m, n_prefix + t, threads, &d), VIMO_OK);
    float *out = malloc((size_t)(n_prefix + t) * (size_t)V * sizeof *out);
    assert_non_null(out);
    for (int i = 0; i < n_prefix; i++) {
        assert_int_equal(vimo_llama_decoder_step_embed(d, prefix + (size_t)i * (size_t)m->cfg.dim), VIMO_OK);
        memcpy(out + (size_t)i * (size_t)V, vimo_llama_decoder_logits(d), (size_t)V * sizeof *out);
    }
    for (int i = 0; i < t; i++) {
        assert_int_equal(vimo_llama_decoder_step(d, ids[i]), VIMO_OK);
        memcpy(out + (size_t)(n_prefix + i) * (size_t)V, vimo_llama_decoder_logits(d), (size_t)V * sizeof *out);
    }
    vimo_llama_decoder_free(d);
    return out;
}

/* Data of the parameter named by fmt (with %d = l), or NULL. */
static inline const float *llmp_pdata(const llmp *p, const char *fmt, int l)
{
    char name[128];
    snprintf(name, sizeof name, fmt, l);
    vimo_tensor *t = llmp_param(p, name);
    return t ? vimo_tensor_data(t) : NULL;
}

/* A model view for the engine over the plugin's current parameters, found
 * by name, as the plugin's refresh_decoder() builds it (no adapters folded:
 * use it on a model without LoRA or after lora_merge). `cfg` describes the
 * plugin's model. Free with llmp_view_free. */
static inline vimo_llama_model *llmp_view(const llmp *p, const vimo_llama_config *cfg)
{
    vimo_llama_model *m = calloc(1, sizeof *m);
    assert_non_null(m);
    m->cfg = *cfg;
    m->layers = calloc((size_t)cfg->n_layers, sizeof *m->layers);
    assert_non_null(m->layers);
    m->embed = llmp_pdata(p, "model.embed_tokens.weight", 0);
    m->final_norm = llmp_pdata(p, "model.norm.weight", 0);
    m->lm_head = cfg->tied ? m->embed : llmp_pdata(p, "lm_head.weight", 0);
    assert_non_null(m->embed);
    assert_non_null(m->final_norm);
    assert_non_null(m->lm_head);
    for (int l = 0; l < cfg->n_layers; l++) {
        vimo_llama_layer *y = &m->layers[l];
        y->attn_norm = llmp_pdata(p, "model.layers.%d.input_layernorm.weight", l);
        y->ffn_norm = llmp_pdata(p, "model.layers.%d.post_attention_layernorm.weight", l);
        y->wq = llmp_pdata(p, "model.layers.%d.self_attn.q_proj.weight", l);
        y->wk = llmp_pdata(p, "model.layers.%d.self_attn.k_proj.weight", l);
        y->wv = llmp_pdata(p, "model.layers.%d.self_attn.v_proj.weight", l);
        y->wo = llmp_pdata(p, "model.layers.%d.self_attn.o_proj.weight", l);
        y->w_gate = llmp_pdata(p, "model.layers.%d.mlp.gate_proj.weight", l);
        y->w_up = llmp_pdata(p, "model.layers.%d.mlp.up_proj.weight", l);
        y->w_down = llmp_pdata(p, "model.layers.%d.mlp.down_proj.weight", l);
        if (cfg->qkv_bias) {
            y->bq = llmp_pdata(p, "model.layers.%d.self_attn.q_proj.bias", l);
            y->bk = llmp_pdata(p, "model.layers.%d.self_attn.k_proj.bias", l);
            y->bv = llmp_pdata(p, "model.layers.%d.self_attn.v_proj.bias", l);
        }
        assert_true(y->attn_norm && y->ffn_norm && y->wq && y->wk && y->wv && y->wo && y->w_gate && y->w_up &&
                    y->w_down);
    }
    return m;
}

static inline void llmp_view_free(vimo_llama_model *m)
{
    if (m) free(m->layers);
    free(m);
}

/* Greedy generation through the plugin (temperature 0, no stop). */
static inline int64_t llmp_greedy(const llmp *p, const float *prefix, int64_t n_prefix, const int32_t *prompt,
                                  int64_t n_prompt, int32_t *out, int64_t n)
{
    vimo_sample_config sc = {.temperature = 0.0f, .top_p = 1.0f, .top_k = 0, .seed = 1, .max_new_tokens = (int32_t)n,
                             .stop_at_eos = 0};
    int64_t got = 0;
    vimo_status st = p->llm->generate(p->h, prefix, n_prefix, prompt, n_prompt, &sc, out, n, &got);
    if (st) fprintf(stderr, "%s\n", vimo_last_error());
    assert_int_equal(st, VIMO_OK);
    return got;
}

static inline const vimo_st_tensor *llmp_ref(const vimo_safetensors *st, const char *name)
{
    const vimo_st_tensor *t = vimo_safetensors_get(st, name);
    if (!t) fprintf(stderr, "%s: no tensor %s\n", vimo_safetensors_path(st), name);
    assert_non_null(t);
    return t;
}

/* A reference tensor as malloc'd floats (F32/F16/BF16). */
static inline float *llmp_ref_f32(const vimo_safetensors *st, const char *name, int64_t *n)
{
    const vimo_st_tensor *t = llmp_ref(st, name);
    float *v = malloc((size_t)t->numel * sizeof *v);
    assert_non_null(v);
    assert_int_equal(vimo_safetensors_read_f32(st, name, v, (size_t)t->numel), VIMO_OK);
    if (n) *n = t->numel;
    return v;
}

#endif
