/*
 * test_llmp_forward.c - the llm.llama plugin's training path (embed ->
 * forward through core ops, what LoRA training differentiates) against
 * independent references:
 *  - the exact fp32 decode engine (llm/llama/decode.c, bit-exact with
 *    llama2.c run.c) stepped here position by position on the loader's own
 *    weights: stories260K (llama2.c, interleaved RoPE, GQA 8/4) and the tiny
 *    Hugging Face Llama / Qwen2 fixtures; logits agree within 1e-4 of the
 *    largest logit, for a batch of 2 sequences;
 *  - the float64 torch reference logits of tests/ref/make_llama_fixtures.py
 *    (q/k/v biases, GQA, rotate-half RoPE, tied and untied heads, BF16
 *    weights), and its greedy continuations;
 *  - the multimodal splice: forward over concat(prefix embeddings,
 *    embed(ids)) against the torch prefix reference and against the engine
 *    fed the prefix rows first;
 *  - the plugin's own generate() (which runs the engine on a view of the
 *    plugin's parameters): greedy tokens equal the argmax of the forward
 *    logits of the same sequence (positions with a near tie skipped);
 *  - a randomly initialised plugin model: the engine pointed at the plugin's
 *    parameters by name (as refresh_decoder() does) against forward;
 *  - key_mask: a left-padded row with masked padding keys equals the torch
 *    logits of the unpadded tokens (RoPE scores are relative);
 *  - stop tokens of generate(): the config's and tokenizer's EOS/BOS that
 *    exist, never ids 1 and 2 by default.
 * Not here: LoRA (test_llmp_lora.c), speed (vimo bench decode).
 */
#include "llmp_common.h"

#include <unistd.h>

#include "vimo/tensor.h"

#define TOL 1e-4

static vimo_llama_model *load(const char *path)
{
    vimo_llama_model *m = NULL;
    vimo_status st = vimo_llama_load(path, &m);
    if (st) fprintf(stderr, "%s\n", vimo_last_error());
    assert_int_equal(st, VIMO_OK);
    return m;
}

/* Deterministic ids in [0, v). */
static void fill_ids(int32_t *ids, int n, int v, uint32_t seed)
{
    for (int i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        ids[i] = (int32_t)((seed >> 8) % (uint32_t)v);
    }
}

/* Checks that the generated tokens gen[0..n) after seq[0..n_ctx) are the
 * argmax of forward logits (rows n_ctx-1 .. n_ctx+n-2 of `logits`, V wide),
 * skipping rows whose top-2 gap is below gap_tol. Returns rows checked. */
static int check_argmax(const float *logits, int64_t V, int64_t first_row, const int32_t *gen, int64_t n,
                        double gap_tol)
{
    int checked = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *row = logits + (size_t)(first_row + i) * (size_t)V;
        if (llmp_top2_gap(row, V) < gap_tol) continue;
        if (llmp_argmax(row, V) != gen[i])
            fprintf(stderr, "generated token %lld: %d, forward argmax %d\n", (long long)i, gen[i],
                    llmp_argmax(row, V));
        assert_int_equal(llmp_argmax(row, V), gen[i]);
        checked++;
    }
    return checked;
}

/* ---- stories260K: forward (B = 2) vs the engine, and generate vs forward ---- */

static void test_stories_forward_vs_engine(void **state)
{
    (void)state;
    enum { T = 48, NP = 3 };
    vimo_llama_model *m = load(STORIES);
    llmp p = llmp_model(STORIES);
    int64_t V = p.llm->vocab_size(p.h);
    assert_int_equal(V, m->cfg.vocab_size);
    assert_int_equal(p.llm->dim(p.h), m->cfg.dim);

    /* Row 0: BOS, two prompt ids and the plugin's greedy continuation; row 1: arbitrary ids. */
    int32_t ids[2 * T];
    ids[0] = 1, ids[1] = 403, ids[2] = 407;
    assert_int_equal(llmp_greedy(&p, NULL, 0, ids, NP, ids + NP, T - NP), T - NP);
    fill_ids(ids + T, T, (int)V, 7);
    ids[T] = 1;

    float *fw = llmp_logits(&p, ids, 2, T);
    for (int r = 0; r < 2; r++) {
        float *en = llmp_engine_logits(m, NULL, 0, ids + r * T, T, 1);
        char what[96];
        snprintf(what, sizeof what, "stories260K forward vs engine, row %d (%d x %lld)", r, T, (long long)V);
        assert_true(llmp_rel(fw + (size_t)r * T * V, en, T * V, what) < TOL);
        free(en);
    }
    /* The plugin's parameters are exact copies of the loader's weights: the
     * engine on a view of them gives the same bits. */
    vimo_llama_model *view = llmp_view(&p, &m->cfg);
    float *a = llmp_engine_logits(m, NULL, 0, ids, T, 1), *b = llmp_engine_logits(view, NULL, 0, ids, T, 1);
    assert_memory_equal(a, b, (size_t)T * V * sizeof *a);
    free(a);
    free(b);
    llmp_view_free(view);

    /* generate (the engine on the plugin's view) picked the forward argmax. */
    int n = check_argmax(fw, V, NP - 1, ids + NP, T - NP, 1e-3);
    printf("  stories260K greedy: %d of %d generated tokens = forward argmax\n", n, T - NP);
    assert_true(n >= T - NP - 2);
    free(fw);
    llmp_free(&p);
    vimo_llama_free(m);
}

/* ---- Hugging Face fixtures vs torch (float64) and vs the engine ------------ */

static void check_hf(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/ref.safetensors", dir);
    vimo_safetensors *ref = NULL;
    assert_int_equal(vimo_safetensors_open(path, &ref), VIMO_OK);
    vimo_llama_model *m = load(dir);
    llmp p = llmp_model(dir);
    int64_t V = p.llm->vocab_size(p.h);

    const vimo_st_tensor *tok = llmp_ref(ref, "tokens");
    int T = (int)tok->numel;
    const int32_t *ids = tok->data;
    int64_t n;
    float *want = llmp_ref_f32(ref, "logits", &n);
    assert_int_equal(n, (int64_t)T * V);
    float *fw = llmp_logits(&p, ids, 1, T);
    char what[160];
    snprintf(what, sizeof what, "%s: forward vs torch", strrchr(dir, '/') + 1);
    assert_true(llmp_rel(fw, want, n, what) < TOL);
    float *en = llmp_engine_logits(m, NULL, 0, ids, T, 1);
    snprintf(what, sizeof what, "%s: forward vs engine", strrchr(dir, '/') + 1);
    assert_true(llmp_rel(fw, en, n, what) < TOL);

    /* Batch of 2 (the reference sequence, reversed, then as given): row 1
     * must not depend on row 0. */
    int32_t two[64];
    assert_true(2 * T <= 64);
    for (int i = 0; i < T; i++) two[i] = ids[T - 1 - i], two[T + i] = ids[i];
    float *fw2 = llmp_logits(&p, two, 2, T);
    snprintf(what, sizeof what, "%s: forward B=2 row 1 vs torch", strrchr(dir, '/') + 1);
    assert_true(llmp_rel(fw2 + (size_t)T * V, want, n, what) < TOL);

    /* Greedy continuation: the plugin's generate vs torch's argmax chain. */
    const vimo_st_tensor *gp = llmp_ref(ref, "greedy_prompt"), *gt = llmp_ref(ref, "greedy_tokens");
    int32_t out[64];
    int64_t got = llmp_greedy(&p, NULL, 0, gp->data, gp->numel, out, gt->numel);
    assert_int_equal(got, gt->numel);
    assert_memory_equal(out, gt->data, (size_t)got * sizeof(int32_t));
    printf("  %s: greedy continuation of %lld tokens = torch reference\n", strrchr(dir, '/') + 1, (long long)got);

    free(fw2);
    free(en);
    free(fw);
    free(want);
    llmp_free(&p);
    vimo_llama_free(m);
    vimo_safetensors_close(ref);
}

static void test_hf_llama(void **state)
{
    (void)state;
    check_hf(TINY_LLAMA);
}

static void test_hf_qwen2(void **state)
{
    (void)state;
    check_hf(TINY_QWEN2);
}

/* ---- the multimodal splice: concat(prefix, embed(ids)) ---------------------- */

/* forward over concat(prefix (np, C), embed(ids (t))) -> (np + t, V), malloc'd. */
static float *splice_logits(const llmp *p, const float *prefix, int64_t np, const int32_t *ids, int64_t t)
{
    int64_t C = p->llm->dim(p->h);
    vimo_ctx *ctx;
    vimo_tensor *pre = NULL, *e = NULL, *x = NULL;
    assert_int_equal(vimo_ctx_new(&ctx), VIMO_OK);
    vimo_ctx_set_grad(ctx, 0);
    assert_int_equal(vimo_ctx_tensor(ctx, &pre, 3, (int64_t[]){1, np, C}), VIMO_OK);
    assert_int_equal(vimo_tensor_copy_from(pre, prefix, np * C), VIMO_OK);
    assert_int_equal(p->llm->embed(p->h, ctx, ids, 1, t, &e), VIMO_OK);
    assert_int_equal(vimo_concat(ctx, &x, (vimo_tensor *const[]){pre, e}, 2, 1), VIMO_OK);
    vimo_tensor *y = NULL;
    assert_int_equal(p->llm->forward(p->h, ctx, x, NULL, NULL, &y), VIMO_OK);
    assert_int_equal(vimo_tensor_dim(y, 1), np + t);
    float *out = malloc((size_t)vimo_tensor_numel(y) * sizeof *out);
    assert_non_null(out);
    assert_int_equal(vimo_tensor_copy_to(y, out, vimo_tensor_numel(y)), VIMO_OK);
    vimo_ctx_free(ctx);
    return out;
}

/* Engine and generate() against the forward over the splice. */
static void check_splice(const char *label, const llmp *p, const vimo_llama_model *m, const float *prefix, int np,
                         const int32_t *prompt, int n_prompt, int n_gen)
{
    int64_t V = p->llm->vocab_size(p->h);
    char what[160];
    float *fw = splice_logits(p, prefix, np, prompt, n_prompt);
    float *en = llmp_engine_logits(m, prefix, np, prompt, n_prompt, 1);
    snprintf(what, sizeof what, "%s: splice forward vs engine prefill", label);
    assert_true(llmp_rel(fw, en, (int64_t)(np + n_prompt) * V, what) < TOL);
    free(fw);
    free(en);

    /* generate(prefix, prompt) vs argmax of forward over concat(prefix, prompt + generated). */
    int32_t seq[128];
    assert_true(n_prompt + n_gen <= 128);
    memcpy(seq, prompt, (size_t)n_prompt * sizeof *seq);
    assert_int_equal(llmp_greedy(p, prefix, np, prompt, n_prompt, seq + n_prompt, n_gen), n_gen);
    fw = splice_logits(p, prefix, np, seq, n_prompt + n_gen - 1);
    int n = check_argmax(fw, V, np + n_prompt - 1, seq + n_prompt, n_gen, 1e-3);
    printf("  %s: generate(prefix, prompt): %d of %d tokens = forward argmax\n", label, n, n_gen);
    assert_true(n >= n_gen - 2);
    free(fw);
}

static void test_splice_hf_llama(void **state)
{
    (void)state;
    vimo_safetensors *ref = NULL;
    assert_int_equal(vimo_safetensors_open(TINY_LLAMA "/ref.safetensors", &ref), VIMO_OK);
    vimo_llama_model *m = load(TINY_LLAMA);
    llmp p = llmp_model(TINY_LLAMA);
    int64_t V = p.llm->vocab_size(p.h), n;
    const vimo_st_tensor *pre = llmp_ref(ref, "prefix"), *pt = llmp_ref(ref, "prefix_tokens");
    int np = (int)pre->shape[0], t = (int)pt->numel;
    float *want = llmp_ref_f32(ref, "prefix_logits", &n);
    assert_int_equal(n, (int64_t)(np + t) * V);
    float *fw = splice_logits(&p, pre->data, np, pt->data, t);
    assert_true(llmp_rel(fw, want, n, "tiny_llama: splice forward vs torch prefix_logits") < TOL);
    check_splice("tiny_llama", &p, m, pre->data, np, pt->data, t, 20);
    free(fw);
    free(want);
    llmp_free(&p);
    vimo_llama_free(m);
    vimo_safetensors_close(ref);
}

static void test_splice_stories(void **state)
{
    (void)state;
    vimo_llama_model *m = load(STORIES);
    llmp p = llmp_model(STORIES);
    int C = m->cfg.dim;
    enum { NP = 5 };
    /* Prefix rows at the scale of the embedding table (a projector's output). */
    float prefix[NP * 64];
    assert_true(C <= 64);
    vimo_rng rng;
    vimo_rng_seed(&rng, 11);
    double ss = 0;
    for (int i = 0; i < 512 * C; i++) ss += (double)m->embed[i] * m->embed[i];
    vimo_rng_fill_normal(&rng, prefix, (int64_t)NP * C, (float)sqrt(ss / (512.0 * C)));
    const int32_t prompt[] = {1, 403, 407, 261};
    check_splice("stories260K", &p, m, prefix, NP, prompt, 4, 40);
    llmp_free(&p);
    vimo_llama_free(m);
}

/* ---- random init: the engine on the plugin's parameters ---------------------- */

static void test_random_model(void **state)
{
    (void)state;
    /* Defaults: dim 64, hidden 172, 5 layers, 8 heads, 4 kv heads, vocab 512. */
    llmp p = llmp_new((const char *const[]){"seed", "3", NULL});
    vimo_llama_config c = {.dim = 64, .hidden_dim = 172, .n_layers = 5, .n_heads = 8, .n_kv_heads = 4,
                           .head_dim = 8, .vocab_size = 512, .seq_len = 512, .rope_theta = 10000.0f,
                           .norm_eps = 1e-5f, .rope = VIMO_LLAMA_ROPE_INTERLEAVED, .tied = 1, .bos_id = 1,
                           .eos_id = 2};
    assert_int_equal(p.llm->dim(p.h), c.dim);
    assert_int_equal(p.llm->vocab_size(p.h), c.vocab_size);
    assert_int_equal(p.llm->max_seq(p.h), c.seq_len);
    assert_null(llmp_param(&p, "lm_head.weight")); /* tied */
    vimo_llama_model *view = llmp_view(&p, &c);
    enum { T = 40 };
    int32_t ids[T];
    fill_ids(ids, T, c.vocab_size, 99);
    float *fw = llmp_logits(&p, ids, 1, T), *en = llmp_engine_logits(view, NULL, 0, ids, T, 2);
    assert_true(llmp_rel(fw, en, (int64_t)T * c.vocab_size, "random init (GQA 8/4): forward vs engine on params") <
                TOL);
    free(fw);
    free(en);

    int32_t seq[T];
    seq[0] = 1;
    assert_int_equal(llmp_greedy(&p, NULL, 0, seq, 1, seq + 1, T - 1), T - 1);
    fw = llmp_logits(&p, seq, 1, T - 1);
    /* N(0, 0.02) weights give flat logits: compare where the top-2 gap is clear. */
    int n = check_argmax(fw, c.vocab_size, 0, seq + 1, T - 1, 1e-5);
    printf("  random init: %d of %d generated tokens = forward argmax (others near ties)\n", n, T - 1);
    assert_true(n >= (T - 1) / 2);
    free(fw);
    llmp_view_free(view);
    llmp_free(&p);
}

/* ---- key_mask: left padding ------------------------------------------------------ */

/* Row 1 holds 3 masked padding positions, then the first 4 reference
 * tokens. RoPE scores depend only on position differences, so its last 4
 * rows equal the torch logits of those tokens at positions 0..3. */
static void test_key_mask_left_pad(void **state)
{
    (void)state;
    vimo_safetensors *ref = NULL;
    assert_int_equal(vimo_safetensors_open(TINY_LLAMA "/ref.safetensors", &ref), VIMO_OK);
    llmp p = llmp_model(TINY_LLAMA);
    int64_t V = p.llm->vocab_size(p.h), n;
    const vimo_st_tensor *tok = llmp_ref(ref, "tokens");
    const int32_t *t = tok->data;
    assert_int_equal(tok->numel, 7);
    float *want = llmp_ref_f32(ref, "logits", &n);
    int32_t ids[14] = {t[0], t[1], t[2], t[3], t[4], t[5], t[6], 0, 0, 0, t[0], t[1], t[2], t[3]};
    uint8_t mask[14] = {1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1};
    vimo_ctx *ctx;
    vimo_tensor *x = NULL, *y = NULL;
    assert_int_equal(vimo_ctx_new(&ctx), VIMO_OK);
    vimo_ctx_set_grad(ctx, 0);
    assert_int_equal(p.llm->embed(p.h, ctx, ids, 2, 7, &x), VIMO_OK);
    assert_int_equal(p.llm->forward(p.h, ctx, x, mask, NULL, &y), VIMO_OK);
    float *got = malloc((size_t)(14 * V) * sizeof *got);
    assert_int_equal(vimo_tensor_copy_to(y, got, 14 * V), VIMO_OK);
    assert_true(llmp_rel(got, want, 7 * V, "key_mask: row 0 (no padding) vs torch") < TOL);
    assert_true(llmp_rel(got + 10 * V, want, 4 * V, "key_mask: row 1 after 3 masked pads vs torch") < TOL);
    free(got);
    free(want);
    vimo_ctx_free(ctx);
    llmp_free(&p);
    vimo_safetensors_close(ref);
}

/* ---- stop tokens ----------------------------------------------------------------- */

/* tiny_qwen2 with bos/eos_token_id removed from config.json in a temporary
 * folder (weights and tokenizer linked): the tokenizer's EOS
 * (<|endoftext|>, 270) must stop generation, ids 1 and 2 ('"' and '#' in a
 * byte-level vocabulary) must not. A stop id in the prompt ends it early (as
 * llama2.c run.c checks forced prompt tokens too). */
static void test_stop_tokens(void **state)
{
    (void)state;
    char dir[] = "/tmp/llmp_nobos_XXXXXX", path[256], line[512];
    assert_non_null(mkdtemp(dir));
    const char *links[] = {"model.safetensors", "tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; i < 3; i++) {
        char src[256];
        snprintf(src, sizeof src, "%s/%s", TINY_QWEN2, links[i]);
        snprintf(path, sizeof path, "%s/%s", dir, links[i]);
        assert_int_equal(symlink(src, path), 0);
    }
    FILE *in = fopen(TINY_QWEN2 "/config.json", "r");
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *out = fopen(path, "w");
    assert_non_null(in);
    assert_non_null(out);
    while (fgets(line, sizeof line, in))
        if (!strstr(line, "bos_token_id") && !strstr(line, "eos_token_id")) fputs(line, out);
    fclose(in);
    fclose(out);

    llmp p = llmp_model(dir);
    vimo_sample_config sc = {.temperature = 0, .top_p = 1, .max_new_tokens = 6, .stop_at_eos = 1};
    int32_t out_ids[8];
    int64_t n = -1;
    const int32_t p12[] = {116, 1, 2, 262}, p270[] = {116, 270, 262};
    assert_int_equal(p.llm->generate(p.h, NULL, 0, p12, 4, &sc, out_ids, 8, &n), VIMO_OK);
    assert_int_equal(n, 6); /* 1 and 2 are ordinary tokens here */
    assert_int_equal(p.llm->generate(p.h, NULL, 0, p270, 3, &sc, out_ids, 8, &n), VIMO_OK);
    assert_int_equal(n, 0); /* the tokenizer's EOS stops */
    sc.stop_at_eos = 0;
    assert_int_equal(p.llm->generate(p.h, NULL, 0, p270, 3, &sc, out_ids, 8, &n), VIMO_OK);
    assert_int_equal(n, 6);
    llmp_free(&p);
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, links[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    rmdir(dir);
}

/* ---- argument errors ----------------------------------------------------------- */

static void test_errors(void **state)
{
    (void)state;
    llmp p = llmp_model(TINY_LLAMA);
    vimo_ctx *ctx;
    vimo_tensor *x = NULL, *y = NULL;
    assert_int_equal(vimo_ctx_new(&ctx), VIMO_OK);
    int32_t bad = 40; /* vocab 40 */
    assert_int_equal(p.llm->embed(p.h, ctx, &bad, 1, 1, &x), VIMO_ERR_INVALID);
    assert_int_equal(vimo_ctx_tensor(ctx, &x, 3, (int64_t[]){1, 3, 31}), VIMO_OK);
    assert_int_equal(p.llm->forward(p.h, ctx, x, NULL, NULL, &y), VIMO_ERR_SHAPE);
    assert_int_equal(vimo_ctx_tensor(ctx, &x, 3, (int64_t[]){1, 65, 32}), VIMO_OK); /* seq_len 64 */
    assert_int_equal(p.llm->forward(p.h, ctx, x, NULL, NULL, &y), VIMO_ERR_SHAPE);
    int32_t out[4], prompt[64] = {1};
    int64_t n = -1;
    vimo_sample_config sc = {.temperature = 0, .top_p = 1, .max_new_tokens = 4};
    assert_int_equal(p.llm->generate(p.h, NULL, 0, prompt, 0, &sc, out, 4, &n), VIMO_ERR_INVALID);
    assert_int_equal(p.llm->generate(p.h, NULL, 0, prompt, 64, &sc, out, 4, &n), VIMO_ERR_INVALID);
    vimo_ctx_free(ctx);
    llmp_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories_forward_vs_engine),
        cmocka_unit_test(test_hf_llama),
        cmocka_unit_test(test_hf_qwen2),
        cmocka_unit_test(test_splice_hf_llama),
        cmocka_unit_test(test_splice_stories),
        cmocka_unit_test(test_random_model),
        cmocka_unit_test(test_key_mask_left_pad),
        cmocka_unit_test(test_stop_tokens),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
