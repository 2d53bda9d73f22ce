/*
 * vimo_llama.h - Llama-family language models for vimo (the future
 * `llm.llama` plugin): weight loaders, an exact fp32 decode engine with a KV
 * cache, llama2.c's samplers, and a generation loop.
 *
 * Models:
 *  - llama2.c checkpoints (legacy "v0" .bin: 7 int32 header dim, hidden_dim,
 *    n_layers, n_heads, n_kv_heads, vocab_size (negative = separate
 *    classifier), seq_len; then fp32 arrays, see model_llama2c.c), mmapped;
 *  - Hugging Face LlamaForCausalLM and Qwen2ForCausalLM folders (config.json
 *    + model.safetensors or sharded model.safetensors.index.json); F32
 *    tensors are mmapped, F16/BF16 converted to owned fp32.
 * Weights are exposed under Hugging Face names (model.embed_tokens.weight,
 * model.layers.{i}.self_attn.q_proj.weight, ..., lm_head.weight) whatever the
 * source; matrices are row-major (out_features, in_features) as nn.Linear.
 *
 * RoPE. llama2.c rotates adjacent pairs (x[2j], x[2j+1]) of each head
 * (VIMO_LLAMA_ROPE_INTERLEAVED, Meta's layout); Hugging Face Llama rotates
 * (x[j], x[j + d/2]) ("rotate_half", VIMO_LLAMA_ROPE_HALF), its q/k weights
 * being permuted relative to Meta's so that both compute the same model. Both
 * use the frequency theta^(-2j/d) for pair j of a head of size d. The loader
 * sets the mode: llama2.c files -> interleaved, HF folders -> half.
 *
 * Forward (per position; llama2.c run.c forward(), HF modeling_llama /
 * modeling_qwen2): x = embed[token] (or an external embedding row);
 * per layer: h = x + Wo attn(rope(Wq n1(x) + bq), rope(Wk n1(x) + bk),
 * Wv n1(x) + bv); x = h + Wdown(silu(Wgate n2(h)) * Wup n2(h)); logits =
 * lm_head rmsnorm(x). RMSNorm: w * (x / sqrt(mean(x^2) + eps)); attention
 * causal with GQA (query head h uses kv head h / (n_heads / n_kv_heads)),
 * scores divided by sqrt(head_dim).
 *
 * Exactness. The engine does every floating-point operation of run.c in the
 * same order (sequential fp32 dot products, no FMA contraction, the same libm
 * results: expf is glibc's algorithm run 8-wide, proven equal to libm's, see
 * expf.c), vectorised across output rows, positions and heads only; with the
 * same libm its logits are bit-identical to run.c compiled without
 * -ffast-math, for any thread count. Shapes below: C = dim, Q = n_heads * head_dim,
 * K = n_kv_heads * head_dim, H = hidden_dim, V = vocab_size.
 *
 * Not here (phase 2): autograd/LoRA training, batched prefill through
 * vimo_sgemm, quantised weights, llama2.c v1/v2 exports, rope_scaling,
 * sliding-window attention.
 */
#ifndef VIMO_LLAMA_H
#define VIMO_LLAMA_H

#include <stddef.h>
#include <stdint.h>

#include "vimo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vimo_llama_rope {
    VIMO_LLAMA_ROPE_INTERLEAVED = 0, /* pairs (2j, 2j+1): llama2.c / Meta   */
    VIMO_LLAMA_ROPE_HALF = 1         /* pairs (j, j+d/2): Hugging Face       */
} vimo_llama_rope;

typedef struct vimo_llama_config {
    char arch[32];      /* "llama2c", "LlamaForCausalLM", "Qwen2ForCausalLM" */
    int dim;            /* C: hidden size                                     */
    int hidden_dim;     /* H: MLP inner size                                  */
    int n_layers;
    int n_heads;
    int n_kv_heads;
    int head_dim;       /* C / n_heads unless config.json says otherwise      */
    int vocab_size;     /* V                                                  */
    int seq_len;        /* max positions (llama2.c seq_len, HF max_position_embeddings) */
    float rope_theta;   /* 10000 for llama2.c                                 */
    float norm_eps;     /* 1e-5 for llama2.c                                  */
    vimo_llama_rope rope;
    int qkv_bias;       /* q/k/v projections have biases (Qwen2)              */
    int tied;           /* lm_head shares model.embed_tokens                  */
    int bos_id, eos_id; /* config.json bos/eos_token_id (first of a list), -1 if absent; 1/2 for llama2.c */
} vimo_llama_config;

typedef struct vimo_llama_layer {
    const float *attn_norm; /* (C)    model.layers.{i}.input_layernorm.weight          */
    const float *wq;        /* (Q, C) self_attn.q_proj.weight                           */
    const float *wk;        /* (K, C) self_attn.k_proj.weight                           */
    const float *wv;        /* (K, C) self_attn.v_proj.weight                           */
    const float *bq;        /* (Q)    self_attn.q_proj.bias, NULL without qkv_bias      */
    const float *bk, *bv;   /* (K)                                                      */
    const float *wo;        /* (C, Q) self_attn.o_proj.weight                           */
    const float *ffn_norm;  /* (C)    post_attention_layernorm.weight                   */
    const float *w_gate;    /* (H, C) mlp.gate_proj.weight (llama2.c w1)                */
    const float *w_up;      /* (H, C) mlp.up_proj.weight   (llama2.c w3)                */
    const float *w_down;    /* (C, H) mlp.down_proj.weight (llama2.c w2)                */
} vimo_llama_layer;

/* One named weight: a view into mapped or owned memory. */
typedef struct vimo_llama_tensor {
    char name[80];
    int ndim;          /* 1 or 2 */
    int64_t shape[2];
    const float *data;
} vimo_llama_tensor;

typedef struct vimo_llama_storage vimo_llama_storage; /* maps and owned buffers */

typedef struct vimo_llama_model {
    vimo_llama_config cfg;
    const float *embed;        /* (V, C) model.embed_tokens.weight                     */
    vimo_llama_layer *layers;  /* (n_layers)                                           */
    const float *final_norm;   /* (C)    model.norm.weight                              */
    const float *lm_head;      /* (V, C) lm_head.weight (== embed when tied)            */
    vimo_llama_tensor *tensors; /* (n_tensors) every weight by its HF name              */
    int n_tensors;
    char *path;
    vimo_llama_storage *storage;
} vimo_llama_model;

/* Loads a model: a llama2.c .bin file, or a Hugging Face folder (or its
 * config.json). Validates the header / config against the data: a header
 * promising more weights than the file holds, tensors missing or shaped
 * unlike config.json, safetensors offsets outside their file, implausible
 * sizes (dim > 65536, layers > 1024, vocab > 4M, ...) are errors.
 * Errors: VIMO_ERR_INVALID, VIMO_ERR_NOT_FOUND, VIMO_ERR_IO,
 * VIMO_ERR_FORMAT ("llama: stories.bin: header needs 1056540 bytes of
 * weights, file has 1000000"), VIMO_ERR_SHAPE ("llama: tiny/model.safetensors:
 * model.layers.0.mlp.up_proj.weight is (48, 32), config.json says (64, 32)"),
 * VIMO_ERR_UNSUPPORTED (another architecture, rope_scaling, ...), VIMO_ERR_NOMEM. */
vimo_status vimo_llama_load(const char *path, vimo_llama_model **out);
vimo_status vimo_llama_load_llama2c(const char *path, vimo_llama_model **out);
vimo_status vimo_llama_load_hf(const char *dir, vimo_llama_model **out);

/* Frees a model (unmaps its files). NULL is a no-op. */
void vimo_llama_free(vimo_llama_model *m);

/* The weight called `name`, or NULL. */
const vimo_llama_tensor *vimo_llama_find(const vimo_llama_model *m, const char *name);

/* ---- decode engine ---------------------------------------------------------- */

typedef struct vimo_llama_decoder vimo_llama_decoder;

/* A decoder over `m` (which must outlive it) for up to `max_pos` positions
 * (<= 0 or > seq_len: seq_len) on `n_threads` OpenMP threads (<= 0: the
 * OpenMP default, which vimo_init() sets, or 1 for models under 4M
 * multiply-adds per step such as stories260K, where threads gain little and
 * stall badly on busy cores). Results do not depend on the thread count. It repacks the weight matrices
 * into row panels for the matvec kernels (an owned copy: about the size of
 * the model's matrices) and allocates the KV cache (2 * n_layers * max_pos *
 * K floats). Errors: VIMO_ERR_INVALID, VIMO_ERR_NOMEM. */
vimo_status vimo_llama_decoder_new(const vimo_llama_model *m, int max_pos, int n_threads,
                                   vimo_llama_decoder **out);

/* How the decoder stores the weight matrices it streams every step.
 * F32: a repacked fp32 copy, bit-exact with llama2.c (the default).
 * Q8: int8 with one fp32 scale per row and group of VIMO_LLAMA_Q8_GROUP
 * columns (scale = max |w| / 127, q = roundf(w / scale), as llama2.c's
 * runq.c and ggml's Q8_0 group weights): 1.125 bytes per weight instead of
 * 4, for models whose decode is bound by memory bandwidth (stories15M and
 * up: bench/README.md). Not exact: logits move by the quantisation error
 * (tests/llm: within 1e-4 of an fp32 decode of the dequantised weights).
 * The token embeddings, norms and biases stay fp32. */
typedef enum { VIMO_LLAMA_WEIGHTS_F32 = 0, VIMO_LLAMA_WEIGHTS_Q8 = 1 } vimo_llama_weights;
#define VIMO_LLAMA_Q8_GROUP 32

typedef struct vimo_llama_decoder_opts {
    int max_pos;                /* as vimo_llama_decoder_new */
    int n_threads;              /* as vimo_llama_decoder_new */
    vimo_llama_weights weights; /* F32 (0) or Q8 */
} vimo_llama_decoder_opts;

/* vimo_llama_decoder_new with options (NULL: all zero, i.e. its defaults).
 * Errors: VIMO_ERR_INVALID (NULL m/out, unknown weights), VIMO_ERR_NOMEM. */
vimo_status vimo_llama_decoder_new_opts(const vimo_llama_model *m, const vimo_llama_decoder_opts *o,
                                        vimo_llama_decoder **out);
/* The weight storage of d. */
vimo_llama_weights vimo_llama_decoder_weights(const vimo_llama_decoder *d);
void vimo_llama_decoder_free(vimo_llama_decoder *d);

/* Forgets the KV cache: the next step is position 0. */
void vimo_llama_decoder_reset(vimo_llama_decoder *d);
/* Positions consumed so far (the position of the next step). */
int vimo_llama_decoder_pos(const vimo_llama_decoder *d);
int vimo_llama_decoder_max_pos(const vimo_llama_decoder *d);

/* One step at the current position with token `token` (0 <= token < V) or
 * with the embedding row x (C floats, e.g. a projected motion token, fed
 * instead of embed[token]); the logits (V floats) are then in
 * vimo_llama_decoder_logits() until the next step.
 * Errors: VIMO_ERR_INVALID (token out of range, NULL x), VIMO_ERR_STATE (the
 * cache is full: pos == max_pos). */
vimo_status vimo_llama_decoder_step(vimo_llama_decoder *d, int32_t token);
vimo_status vimo_llama_decoder_step_embed(vimo_llama_decoder *d, const float *x);
/* n embedding steps in a row: x is (n, C), row-major. */
vimo_status vimo_llama_decoder_prefill_embeds(vimo_llama_decoder *d, const float *x, int n);
/* (V) logits of the last step; the sampler may overwrite them. */
float *vimo_llama_decoder_logits(vimo_llama_decoder *d);

/* ---- sampling (llama2.c run.c) -------------------------------------------- */

typedef struct vimo_llama_sampler {
    int vocab_size;
    float temperature; /* 0: greedy argmax (first max on ties)                 */
    float top_p;       /* in (0, 1): nucleus sampling; else off               */
    int top_k;         /* > 0 and < V: keep the k most probable; else off     */
    uint64_t rng;      /* xorshift64* state (run.c random_u32)                */
    void *scratch;     /* (V) prob/index pairs                                */
} vimo_llama_sampler;

/* seed 0 is allowed (run.c replaces it by time(NULL); callers do that).
 * Errors: VIMO_ERR_INVALID (temperature < 0 or NaN, top_p NaN, top_k < 0),
 * VIMO_ERR_NOMEM. */
vimo_status vimo_llama_sampler_init(vimo_llama_sampler *s, int vocab_size, float temperature, float top_p,
                                    int top_k, uint64_t seed);
void vimo_llama_sampler_free(vimo_llama_sampler *s);
/* Next token from logits (V floats, overwritten): run.c sample(): argmax at
 * temperature 0; else logits / T, softmax, one coin from the RNG, then
 * multinomial, or top-p (run.c sample_topp: drop p < (1 - top_p) / (V - 1),
 * sort descending (stable), cut after the cumulative sum passes top_p, draw
 * coin * that sum). top_k (a vimo extension, off by default) keeps the k most
 * probable before top-p; with top_p off it draws among those k. */
int vimo_llama_sample(vimo_llama_sampler *s, float *logits);

/* ---- generation ------------------------------------------------------------ */

/* Called for each token to print: `token` follows `prev`. Return non-zero to stop. */
typedef int (*vimo_llama_emit_fn)(void *user, int32_t prev, int32_t token);

typedef struct vimo_llama_gen_stats {
    int n_prompt;         /* prompt tokens                                   */
    int n_generated;      /* tokens sampled (a final stop token included)    */
    int n_steps;          /* forward steps (prefix embeddings included)     */
    double seconds;       /* wall time of all steps                          */
    double seconds_after_first; /* from the end of the first token step (run.c's tok/s clock) */
} vimo_llama_gen_stats;

/* run.c generate(): decoder reset; the n_prefix embedding rows (n_prefix, C)
 * are fed first (a prefill; MotionLLM splices modality tokens this way);
 * then, from token = prompt[0], while pos < steps: forward(token); next is
 * the following prompt token while the prompt lasts, else sampled; stop when
 * next is in stop[0..n_stop); emit(token, next); token = next. `steps` counts
 * token positions (prompt included), capped so that n_prefix + steps <=
 * max_pos; steps <= 0 means as many as fit.
 * Errors: VIMO_ERR_INVALID (empty prompt, token out of range, no room),
 * the decoder's errors. */
vimo_status vimo_llama_generate(vimo_llama_decoder *d, vimo_llama_sampler *s, const float *prefix, int n_prefix,
                                const int32_t *prompt, int n_prompt, int steps, const int32_t *stop, int n_stop,
                                vimo_llama_emit_fn emit, void *user, vimo_llama_gen_stats *stats);

/* Benchmark: greedy decoding of n_tokens steps from token `start` after a
 * reset (no stop tokens), timing each step. Fills tokens_per_s over all
 * steps and the median step time in ns. For `vimo bench decode`. */
typedef struct vimo_llama_bench_result {
    int n_tokens;
    double seconds;
    double tokens_per_s;
    double median_step_ns;
    int32_t last_token; /* so that callers can check the run was the same */
} vimo_llama_bench_result;
vimo_status vimo_llama_bench_decode(vimo_llama_decoder *d, int32_t start, int n_tokens,
                                    vimo_llama_bench_result *r);

#ifdef __cplusplus
}
#endif
#endif /* VIMO_LLAMA_H */
