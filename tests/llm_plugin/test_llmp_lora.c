/*
 * test_llmp_lora.c - LoRA in the llm.llama plugin against an independent
 * reference: tests/ref/make_lora_fixture.py computes, with plain float64
 * torch ops written from the architecture definition (not transformers or
 * peft), the logits, the masked mean cross-entropy and the gradients of
 * every adapter matrix and of the input embeddings for the tiny HF Llama
 * fixture with rank-4, alpha-8 adapters on q and v (MotionLLM's targets).
 * Checked here, through the plugin loader as a user would:
 *  - lora_add makes exactly the adapters asked for, with the names, shapes
 *    and init the header promises (B = 0: the model is unchanged), freezes
 *    every base weight, and set_trainable unfreezes only adapters;
 *  - embed -> forward -> vimo_cross_entropy -> backward: loss, logits and
 *    gradients (rel 1e-4); base weights get no gradient;
 *  - lora_merge: same logits (rel 1e-5), merged W = W + (alpha/r) B A, the
 *    same greedy generation before and after, and generate() with adapters
 *    follows the forward argmax (the adapters are folded for the engine);
 *  - generate() after an optimiser step sees the new adapter values;
 *  - adapters saved alone in a vimo checkpoint and loaded into a fresh
 *    instance after lora_add give identical logits and generation.
 * Not here: dropout statistics (core ops tests), training convergence.
 */
#include "llmp_common.h"

#include <unistd.h>

#include "vimo/checkpoint.h"
#include "vimo/optim.h"

#define LORA_REF LLMP_FIXTURES "/lora_ref.safetensors"
#define TOL 1e-4
#define N_ADAPT 4

static const char *const k_base[N_ADAPT] = {"model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj",
                                            "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"};

static vimo_safetensors *open_ref(void)
{
    vimo_safetensors *st = NULL;
    vimo_status s = vimo_safetensors_open(LORA_REF, &st);
    if (s) fprintf(stderr, "%s\n", vimo_last_error());
    assert_int_equal(s, VIMO_OK);
    return st;
}

static llmp lora_model(uint64_t seed)
{
    llmp p = llmp_model(TINY_LLAMA);
    vimo_status st = p.llm->lora_add(p.h, 4, 8.0f, 0.0f, "q,v", seed);
    if (st) fprintf(stderr, "%s\n", vimo_last_error());
    assert_int_equal(st, VIMO_OK);
    return p;
}

/* Overwrites every adapter tensor with the reference values. */
static void set_adapters(const llmp *p, const vimo_safetensors *ref)
{
    char name[128];
    for (int i = 0; i < N_ADAPT; i++)
        for (int ab = 0; ab < 2; ab++) {
            snprintf(name, sizeof name, "%s.lora_%c", k_base[i], "AB"[ab]);
            vimo_tensor *t = llmp_param(p, name);
            assert_non_null(t);
            int64_t n;
            float *v = llmp_ref_f32(ref, name, &n);
            assert_int_equal(vimo_tensor_copy_from(t, v, n), VIMO_OK);
            free(v);
        }
}

static int is_adapter(const char *name) { return strstr(name, ".lora_") != NULL; }

/* ---- lora_add: parameters, freezing, init --------------------------------- */

static void test_lora_add(void **state)
{
    (void)state;
    vimo_safetensors *ref = open_ref();
    const vimo_st_tensor *ids = llmp_ref(ref, "ids");
    llmp base = llmp_model(TINY_LLAMA);
    float *l0 = llmp_logits(&base, ids->data, 2, 6);
    llmp p = llmp_model(TINY_LLAMA);
    int n0 = p.mod->num_params(p.h);
    assert_int_equal(p.llm->lora_merge(p.h), VIMO_ERR_STATE); /* nothing to merge */
    assert_int_equal(p.llm->lora_add(p.h, 0, 8, 0, "q,v", 1), VIMO_ERR_INVALID);
    assert_int_equal(p.llm->lora_add(p.h, 4, 8, 1.0f, "q,v", 1), VIMO_ERR_INVALID);
    assert_int_equal(p.llm->lora_add(p.h, 4, 8, 0, "qq,x", 1), VIMO_ERR_INVALID);
    /* Every item must name a projection: a typo is an error, not a missing adapter. */
    assert_int_equal(p.llm->lora_add(p.h, 4, 8, 0, "q,vv", 1), VIMO_ERR_INVALID);
    assert_int_equal(p.llm->lora_add(p.h, 4, 8, 0, "q,,v", 1), VIMO_ERR_INVALID);
    assert_int_equal(p.llm->lora_add(p.h, 4, 8, 0, "", 1), VIMO_ERR_INVALID);
    for (int i = 0; i < n0; i++) assert_true(vimo_tensor_requires_grad(p.mod->param(p.h, i, NULL)));
    assert_int_equal(p.mod->num_params(p.h), n0); /* refused calls add nothing */
    assert_int_equal(p.llm->lora_add(p.h, 4, 8.0f, 0.0f, " q , v", 5), VIMO_OK);
    assert_int_equal(p.llm->lora_add(p.h, 4, 8.0f, 0.0f, "q,v", 5), VIMO_ERR_STATE);
    assert_int_equal(p.mod->num_params(p.h), n0 + 2 * N_ADAPT);

    char name[128];
    for (int i = 0; i < N_ADAPT; i++) {
        int64_t out = strstr(k_base[i], "q_proj") ? 32 : 16; /* 4 heads x 8, 2 kv heads x 8 */
        snprintf(name, sizeof name, "%s.lora_A", k_base[i]);
        vimo_tensor *a = llmp_param(&p, name);
        snprintf(name, sizeof name, "%s.lora_B", k_base[i]);
        vimo_tensor *b = llmp_param(&p, name);
        assert_non_null(a);
        assert_non_null(b);
        assert_int_equal(vimo_tensor_dim(a, 0), 4);
        assert_int_equal(vimo_tensor_dim(a, 1), 32);
        assert_int_equal(vimo_tensor_dim(b, 0), out);
        assert_int_equal(vimo_tensor_dim(b, 1), 4);
        const float *av = vimo_tensor_data(a), *bv = vimo_tensor_data(b);
        double amax = 0;
        for (int j = 0; j < 4 * 32; j++) amax = fmax(amax, fabs(av[j]));
        assert_true(amax > 0.05 && amax <= 1.0 / sqrt(32.0)); /* U(+-1/sqrt(in)) */
        for (int j = 0; j < out * 4; j++) assert_true(bv[j] == 0.0f);
    }
    /* Only q and v got adapters; every base weight is frozen. */
    int adapters = 0;
    for (int i = 0; i < p.mod->num_params(p.h); i++) {
        const char *n;
        vimo_tensor *t = p.mod->param(p.h, i, &n);
        if (is_adapter(n)) assert_true(strstr(n, "q_proj.lora_") || strstr(n, "v_proj.lora_"));
        assert_int_equal(vimo_tensor_requires_grad(t), is_adapter(n));
        adapters += is_adapter(n);
    }
    assert_int_equal(adapters, 2 * N_ADAPT);
    /* set_trainable(0) freezes all, (1) unfreezes only the adapters. */
    assert_int_equal(p.mod->set_trainable(p.h, 0), VIMO_OK);
    for (int i = 0; i < p.mod->num_params(p.h); i++)
        assert_false(vimo_tensor_requires_grad(p.mod->param(p.h, i, NULL)));
    assert_int_equal(p.mod->set_trainable(p.h, 1), VIMO_OK);
    for (int i = 0; i < p.mod->num_params(p.h); i++) {
        const char *n;
        vimo_tensor *t = p.mod->param(p.h, i, &n);
        assert_int_equal(vimo_tensor_requires_grad(t), is_adapter(n));
    }
    /* B = 0: the model computes exactly what it did. */
    float *l1 = llmp_logits(&p, ids->data, 2, 6);
    assert_true(llmp_rel(l1, l0, 2 * 6 * 40, "fresh adapters (B = 0) vs no adapters") == 0.0);
    free(l0);
    free(l1);
    llmp_free(&p);
    llmp_free(&base);
    vimo_safetensors_close(ref);
}

/* ---- loss and gradients vs torch -------------------------------------------- */

static void test_lora_grad_vs_torch(void **state)
{
    (void)state;
    vimo_safetensors *ref = open_ref();
    llmp p = lora_model(1);
    set_adapters(&p, ref);
    p.mod->set_train(p.h, 1); /* the training path (dropout 0) */
    const vimo_st_tensor *ids = llmp_ref(ref, "ids"), *tg = llmp_ref(ref, "targets");
    assert_int_equal(ids->numel, 12);

    vimo_ctx *ctx;
    vimo_tensor *e = NULL, *x = NULL, *logits = NULL, *loss = NULL;
    assert_int_equal(vimo_ctx_new(&ctx), VIMO_OK);
    assert_int_equal(p.llm->embed(p.h, ctx, ids->data, 2, 6, &e), VIMO_OK);
    assert_false(vimo_tensor_requires_grad(e)); /* the embedding table is frozen */
    /* A trainable leaf holding the embeddings, for d loss / d inputs_embeds. */
    assert_int_equal(vimo_tensor_clone(&x, e), VIMO_OK);
    assert_int_equal(vimo_tensor_set_requires_grad(x, 1), VIMO_OK);
    assert_int_equal(p.llm->forward(p.h, ctx, x, NULL, NULL, &logits), VIMO_OK);
    assert_int_equal(vimo_cross_entropy(ctx, &loss, logits, tg->data, -100), VIMO_OK);
    assert_int_equal(vimo_backward(ctx, loss), VIMO_OK);

    int64_t n;
    float *want = llmp_ref_f32(ref, "logits", &n), *got = malloc((size_t)n * sizeof *got);
    assert_int_equal(vimo_tensor_copy_to(logits, got, n), VIMO_OK);
    assert_true(llmp_rel(got, want, n, "LoRA logits (2, 6, 40) vs torch") < TOL);
    free(got);
    free(want);
    want = llmp_ref_f32(ref, "loss", NULL);
    float l = vimo_tensor_data(loss)[0];
    printf("  loss %.7f, torch %.7f\n", l, want[0]);
    assert_true(llmp_rel(&l, want, 1, "masked mean cross-entropy vs torch") < TOL);
    free(want);

    char name[160], gname[168];
    for (int i = 0; i < N_ADAPT; i++)
        for (int ab = 0; ab < 2; ab++) {
            snprintf(name, sizeof name, "%s.lora_%c", k_base[i], "AB"[ab]);
            snprintf(gname, sizeof gname, "grad.%s", name);
            want = llmp_ref_f32(ref, gname, &n);
            const float *g = vimo_tensor_grad(llmp_param(&p, name));
            assert_non_null(g);
            assert_true(llmp_rel(g, want, n, gname) < TOL);
            free(want);
        }
    want = llmp_ref_f32(ref, "grad.inputs_embeds", &n);
    assert_int_equal(n, vimo_tensor_numel(x));
    assert_true(llmp_rel(vimo_tensor_grad(x), want, n, "grad.inputs_embeds (2, 6, 32)") < TOL);
    free(want);

    /* Frozen base weights: no gradient reached them. */
    int frozen = 0;
    for (int i = 0; i < p.mod->num_params(p.h); i++) {
        const char *nm;
        vimo_tensor *t = p.mod->param(p.h, i, &nm);
        if (is_adapter(nm)) continue;
        frozen++;
        const float *g = vimo_tensor_grad(t);
        for (int64_t j = 0; g && j < vimo_tensor_numel(t); j++) {
            if (g[j] != 0.0f) fprintf(stderr, "frozen %s has a gradient\n", nm);
            assert_true(g[j] == 0.0f);
        }
    }
    printf("  %d frozen base tensors: no gradient\n", frozen);
    vimo_tensor_free(x);
    vimo_ctx_free(ctx);
    llmp_free(&p);
    vimo_safetensors_close(ref);
}

/* ---- merge ------------------------------------------------------------------------ */

static void test_lora_merge(void **state)
{
    (void)state;
    vimo_safetensors *ref = open_ref();
    vimo_llama_model *m = NULL;
    assert_int_equal(vimo_llama_load(TINY_LLAMA, &m), VIMO_OK);
    llmp p = lora_model(1);
    set_adapters(&p, ref);
    const vimo_st_tensor *ids = llmp_ref(ref, "ids");
    float *before = llmp_logits(&p, ids->data, 2, 6);

    /* generate() with adapters: the engine runs W + (alpha/r) B A. */
    enum { NP = 3, NG = 40 };
    int32_t seq[NP + NG] = {1, 29, 33}, gen2[NG];
    assert_int_equal(llmp_greedy(&p, NULL, 0, seq, NP, seq + NP, NG), NG);
    float *fw = llmp_logits(&p, seq, 1, NP + NG - 1);
    int checked = 0;
    for (int i = 0; i < NG; i++) {
        const float *row = fw + (size_t)(NP - 1 + i) * 40;
        if (llmp_top2_gap(row, 40) < 1e-3) continue;
        assert_int_equal(llmp_argmax(row, 40), seq[NP + i]);
        checked++;
    }
    printf("  with adapters: %d of %d generated tokens = forward argmax\n", checked, NG);
    assert_true(checked >= NG - 2);
    free(fw);

    assert_int_equal(p.llm->lora_merge(p.h), VIMO_OK);
    float *after = llmp_logits(&p, ids->data, 2, 6);
    assert_true(llmp_rel(after, before, 2 * 6 * 40, "logits after lora_merge vs before") < 1e-5);
    assert_int_equal(llmp_greedy(&p, NULL, 0, seq, NP, gen2, NG), NG);
    assert_memory_equal(gen2, seq + NP, sizeof gen2);
    printf("  greedy generation after merge = before (%d tokens)\n", NG);

    /* Merged weights = loader's W + 2 B A (in double), B zeroed. */
    char name[160];
    for (int i = 0; i < N_ADAPT; i++) {
        snprintf(name, sizeof name, "%s.weight", k_base[i]);
        const vimo_llama_tensor *w0 = vimo_llama_find(m, name);
        assert_non_null(w0);
        int64_t out = w0->shape[0], in = w0->shape[1];
        snprintf(name, sizeof name, "%s.lora_A", k_base[i]);
        float *a = llmp_ref_f32(ref, name, NULL);
        snprintf(name, sizeof name, "%s.lora_B", k_base[i]);
        float *b = llmp_ref_f32(ref, name, NULL);
        const float *bz = vimo_tensor_data(llmp_param(&p, name));
        for (int64_t j = 0; j < out * 4; j++) assert_true(bz[j] == 0.0f);
        float *want = malloc((size_t)(out * in) * sizeof *want);
        for (int64_t r = 0; r < out; r++)
            for (int64_t c = 0; c < in; c++) {
                double s = 0;
                for (int k = 0; k < 4; k++) s += (double)b[r * 4 + k] * a[k * in + c];
                want[r * in + c] = (float)(w0->data[r * in + c] + 2.0 * s);
            }
        snprintf(name, sizeof name, "%s.weight", k_base[i]);
        assert_true(llmp_rel(vimo_tensor_data(llmp_param(&p, name)), want, out * in, name) < 1e-6);
        free(want);
        free(a);
        free(b);
    }
    free(before);
    free(after);
    llmp_free(&p);
    vimo_llama_free(m);
    vimo_safetensors_close(ref);
}

/* ---- generation after an optimiser step --------------------------------------- */

/* A training step in the order forward, backward, (generate a sample), step:
 * the step changes the adapters without another forward; the next
 * generate must run on the new weights. */
static void test_generate_after_step(void **state)
{
    (void)state;
    vimo_safetensors *ref = open_ref();
    llmp p = lora_model(1), q = lora_model(1);
    set_adapters(&p, ref);
    const vimo_st_tensor *ids = llmp_ref(ref, "ids"), *tg = llmp_ref(ref, "targets");
    vimo_tensor *params[2 * N_ADAPT];
    int np = 0;
    for (int i = 0; i < p.mod->num_params(p.h); i++) {
        const char *n;
        vimo_tensor *t = p.mod->param(p.h, i, &n);
        if (is_adapter(n)) params[np++] = t;
    }
    assert_int_equal(np, 2 * N_ADAPT);
    vimo_adamw *opt = NULL;
    assert_int_equal(vimo_adamw_new(&opt, NULL), VIMO_OK);
    assert_int_equal(vimo_adamw_add_group(opt, params, np, 0.05f, 0.0f, NULL), VIMO_OK);

    vimo_ctx *ctx;
    vimo_tensor *e = NULL, *logits = NULL, *loss = NULL;
    assert_int_equal(vimo_ctx_new(&ctx), VIMO_OK);
    p.mod->set_train(p.h, 1);
    assert_int_equal(p.llm->embed(p.h, ctx, ids->data, 2, 6, &e), VIMO_OK);
    assert_int_equal(p.llm->forward(p.h, ctx, e, NULL, NULL, &logits), VIMO_OK);
    assert_int_equal(vimo_cross_entropy(ctx, &loss, logits, tg->data, -100), VIMO_OK);
    assert_int_equal(vimo_backward(ctx, loss), VIMO_OK);
    p.mod->set_train(p.h, 0);
    int32_t prompt[3] = {1, 29, 33}, g1[30], g2[30];
    llmp_greedy(&p, NULL, 0, prompt, 3, g1, 30); /* a sample mid-step */
    assert_int_equal(vimo_adamw_step(opt, 1.0f), VIMO_OK);
    llmp_greedy(&p, NULL, 0, prompt, 3, g1, 30);
    /* q: a fresh instance holding the stepped adapters. */
    for (int i = 0; i < np; i++) {
        vimo_tensor *t = llmp_param(&q, vimo_tensor_name(params[i]));
        assert_int_equal(vimo_tensor_copy_from(t, vimo_tensor_data(params[i]), vimo_tensor_numel(params[i])), VIMO_OK);
    }
    llmp_greedy(&q, NULL, 0, prompt, 3, g2, 30);
    assert_memory_equal(g1, g2, sizeof g1);
    vimo_ctx_free(ctx);
    vimo_adamw_free(opt);
    llmp_free(&p);
    llmp_free(&q);
    vimo_safetensors_close(ref);
}

/* ---- adapters saved and loaded separately ------------------------------------- */

static void test_lora_save_load(void **state)
{
    (void)state;
    vimo_safetensors *ref = open_ref();
    const vimo_st_tensor *ids = llmp_ref(ref, "ids");
    llmp p = lora_model(1);
    set_adapters(&p, ref);
    float *l1 = llmp_logits(&p, ids->data, 2, 6);
    char path[256];
    snprintf(path, sizeof path, "%s/llmp_adapters_%d.ckpt", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid());
    vimo_ckpt_writer *w = NULL;
    assert_int_equal(vimo_ckpt_writer_new(&w, path), VIMO_OK);
    for (int i = 0; i < p.mod->num_params(p.h); i++) {
        const char *n;
        vimo_tensor *t = p.mod->param(p.h, i, &n);
        if (is_adapter(n)) assert_int_equal(vimo_ckpt_add_tensor(w, n, t), VIMO_OK);
    }
    assert_int_equal(vimo_ckpt_commit(w), VIMO_OK);
    vimo_ckpt_writer_free(w);

    llmp q = lora_model(12345); /* other random A, B = 0 */
    float *l0 = llmp_logits(&q, ids->data, 2, 6);
    assert_true(llmp_rel(l0, l1, 2 * 6 * 40, "fresh instance before loading (must differ)") > 1e-3);
    vimo_ckpt *c = NULL;
    assert_int_equal(vimo_ckpt_open(&c, path), VIMO_OK);
    assert_int_equal(vimo_ckpt_num_tensors(c), 2 * N_ADAPT);
    for (int i = 0; i < vimo_ckpt_num_tensors(c); i++) {
        const char *n = vimo_ckpt_tensor_name(c, i);
        vimo_tensor *t = llmp_param(&q, n);
        assert_non_null(t);
        assert_int_equal(vimo_ckpt_get_tensor(c, n, t), VIMO_OK);
    }
    vimo_ckpt_close(c);
    unlink(path);
    float *l2 = llmp_logits(&q, ids->data, 2, 6);
    assert_memory_equal(l2, l1, 2 * 6 * 40 * sizeof *l1);
    printf("  adapters-only checkpoint (%d tensors) -> fresh instance: identical logits\n", 2 * N_ADAPT);
    int32_t prompt[3] = {1, 29, 33}, g1[30], g2[30];
    llmp_greedy(&p, NULL, 0, prompt, 3, g1, 30);
    llmp_greedy(&q, NULL, 0, prompt, 3, g2, 30);
    assert_memory_equal(g1, g2, sizeof g1);
    free(l0);
    free(l1);
    free(l2);
    llmp_free(&p);
    llmp_free(&q);
    vimo_safetensors_close(ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lora_add),
        cmocka_unit_test(test_lora_grad_vs_torch),
        cmocka_unit_test(test_lora_merge),
        cmocka_unit_test(test_generate_after_step),
        cmocka_unit_test(test_lora_save_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
