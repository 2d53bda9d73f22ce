/*
 * test_llama_decode.c - the decode engine, sampler and generation loop.
 *  - logits of the tiny HF Llama / Qwen2 fixtures against the float64 torch
 *    reference of tests/ref/make_llama_fixtures.py (max abs difference below
 *    1e-4 of the largest reference logit), with 1 and 2 threads; external
 *    embeddings fed first (MotionLLM-style prefix); a greedy continuation;
 *  - bit-exactness with llama2.c: a plain scalar transcription of run.c's
 *    forward() (written here, loops as in run.c) against the engine on
 *    stories260K for 100 positions, logits compared bit for bit, for 1, 2 and
 *    3 threads;
 *  - sampler rules (argmax ties, top-k, top-p, multinomial) on hand-made
 *    distributions; generation stop / prompt forcing; the benchmark;
 *  - Q8 weights against an fp32 decode of weights quantised and dequantised
 *    here by the definition in vimo_llama.h.
 * Compiled with -ffp-contract=off like the engine (run.c rounds twice).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vimo/safetensors.h"
#include "vimo_llama.h"

#define STORIES LLM_WEIGHTS "/stories260K.bin"

static vimo_llama_model *load(const char *path)
{
    vimo_llama_model *m = NULL;
    vimo_status st = vimo_llama_load(path, &m);
    if (st) fprintf(stderr, "%s: %s\n", path, vimo_last_error());
    assert_int_equal(st, VIMO_OK);
    return m;
}

static const vimo_st_tensor *ref(const vimo_safetensors *st, const char *name)
{
    const vimo_st_tensor *t = vimo_safetensors_get(st, name);
    assert_non_null(t);
    return t;
}

/* max |got - want| over n values, against tol * max(1, max |want|). */
static void expect_close(const float *got, const float *want, int n, double tol, const char *what)
{
    double md = 0, mx = 1;
    for (int i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= md)) md = d;
        if (fabs(want[i]) > mx) mx = fabs(want[i]);
    }
    printf("%s: max |diff| %.3g (max |ref| %.3g)\n", what, md, mx);
    assert_true(md < tol * mx);
}

static void check_logits(const char *dir, int threads)
{
    char p[512];
    vimo_llama_model *m = load(dir);
    vimo_safetensors *st = NULL;
    snprintf(p, sizeof p, "%s/ref.safetensors", dir);
    assert_int_equal(vimo_safetensors_open(p, &st), VIMO_OK);
    const vimo_st_tensor *tok = ref(st, "tokens"), *lg = ref(st, "logits");
    const int32_t *ids = tok->data;
    int V = m->cfg.vocab_size;
    vimo_llama_decoder *d = NULL;
    assert_int_equal(vimo_llama_decoder_new(m, 0, threads, &d), VIMO_OK);
    for (int t = 0; t < tok->numel; t++) {
        assert_int_equal(vimo_llama_decoder_step(d, ids[t]), VIMO_OK);
        snprintf(p, sizeof p, "%s pos %d (%d threads)", m->cfg.arch, t, threads);
        expect_close(vimo_llama_decoder_logits(d), (const float *)lg->data + (size_t)t * V, V, 1e-4, p);
    }
    assert_int_equal(vimo_llama_decoder_pos(d), tok->numel);
    vimo_llama_decoder_free(d);
    vimo_safetensors_close(st);
    vimo_llama_free(m);
}

static void test_hf_logits(void **state)
{
    (void)state;
    for (int threads = 1; threads <= 2; threads++) {
        check_logits(LLM_FIXTURES "/tiny_llama", threads);
        check_logits(LLM_FIXTURES "/tiny_qwen2", threads);
    }
}

/* Three external embedding rows, then four tokens: MotionLLM's splice. */
static void test_prefix_embeddings(void **state)
{
    (void)state;
    vimo_llama_model *m = load(LLM_FIXTURES "/tiny_llama");
    vimo_safetensors *st = NULL;
    assert_int_equal(vimo_safetensors_open(LLM_FIXTURES "/tiny_llama/ref.safetensors", &st), VIMO_OK);
    const vimo_st_tensor *pre = ref(st, "prefix"), *tok = ref(st, "prefix_tokens"), *lg = ref(st, "prefix_logits");
    int V = m->cfg.vocab_size, N = (int)pre->shape[0];
    vimo_llama_decoder *d = NULL;
    assert_int_equal(vimo_llama_decoder_new(m, 16, 2, &d), VIMO_OK);
    for (int rep = 0; rep < 2; rep++) { /* the second time after a reset: the cache is reused */
        vimo_llama_decoder_reset(d);
        assert_int_equal(vimo_llama_decoder_prefill_embeds(d, pre->data, N - 1), VIMO_OK);
        assert_int_equal(vimo_llama_decoder_step_embed(d, (const float *)pre->data + (N - 1) * m->cfg.dim), VIMO_OK);
        expect_close(vimo_llama_decoder_logits(d), (const float *)lg->data + (size_t)(N - 1) * V, V, 1e-4, "prefix");
        for (int t = 0; t < tok->numel; t++) {
            assert_int_equal(vimo_llama_decoder_step(d, ((const int32_t *)tok->data)[t]), VIMO_OK);
            expect_close(vimo_llama_decoder_logits(d), (const float *)lg->data + (size_t)(N + t) * V, V, 1e-4,
                         "after prefix");
        }
    }
    /* The cache holds 16 positions: the 17th step is refused. */
    vimo_llama_decoder_reset(d);
    for (int i = 0; i < 16; i++) assert_int_equal(vimo_llama_decoder_step(d, 1), VIMO_OK);
    assert_int_equal(vimo_llama_decoder_step(d, 1), VIMO_ERR_STATE);
    assert_int_equal(vimo_llama_decoder_step(d, -1), VIMO_ERR_INVALID);
    vimo_llama_decoder_free(d);
    vimo_safetensors_close(st);
    vimo_llama_free(m);
}

typedef struct capture {
    int32_t tok[64];
    int n;
} capture;

static int on_token(void *user, int32_t prev, int32_t tok)
{
    capture *c = user;
    (void)prev;
    if (c->n < 64) c->tok[c->n++] = tok;
    return 0;
}

/* Greedy continuation of the reference prompt, no stop tokens: tiny_llama
 * <s> "Hello world" = [1 29 33] + 12, tiny_qwen2 "the cat" = [116 257 262] + 8. */
static void check_greedy(const char *dir, vimo_llama_model *m, vimo_safetensors *st)
{
    const vimo_st_tensor *pr = ref(st, "greedy_prompt"), *gt = ref(st, "greedy_tokens");
    vimo_llama_decoder *d = NULL;
    vimo_llama_sampler s;
    assert_int_equal(vimo_llama_decoder_new(m, 0, 2, &d), VIMO_OK);
    assert_int_equal(vimo_llama_sampler_init(&s, m->cfg.vocab_size, 0.0f, 0.9f, 0, 1), VIMO_OK);
    capture c = {0};
    int np = (int)pr->numel, ng = (int)gt->numel;
    assert_int_equal(vimo_llama_generate(d, &s, NULL, 0, pr->data, np, np - 1 + ng, NULL, 0, on_token, &c, NULL),
                     VIMO_OK);
    printf("%s: greedy continuation of %d tokens\n", dir, ng);
    assert_int_equal(c.n, np - 1 + ng);
    assert_memory_equal(c.tok + np - 1, gt->data, (size_t)ng * 4);
    vimo_llama_sampler_free(&s);
    vimo_llama_decoder_free(d);
}

static void test_greedy_generate(void **state)
{
    (void)state;
    vimo_llama_model *m = load(LLM_FIXTURES "/tiny_qwen2");
    vimo_safetensors *st = NULL;
    assert_int_equal(vimo_safetensors_open(LLM_FIXTURES "/tiny_qwen2/ref.safetensors", &st), VIMO_OK);
    check_greedy("tiny_qwen2", m, st);
    vimo_safetensors_close(st);
    vimo_llama_free(m);
    m = load(LLM_FIXTURES "/tiny_llama");
    assert_int_equal(vimo_safetensors_open(LLM_FIXTURES "/tiny_llama/ref.safetensors", &st), VIMO_OK);
    check_greedy("tiny_llama", m, st);
    const vimo_st_tensor *pr = ref(st, "greedy_prompt"), *gt = ref(st, "greedy_tokens");
    vimo_llama_decoder *d = NULL;
    vimo_llama_sampler s;
    assert_int_equal(vimo_llama_decoder_new(m, 0, 1, &d), VIMO_OK);
    assert_int_equal(vimo_llama_sampler_init(&s, m->cfg.vocab_size, 0.0f, 0.9f, 0, 1), VIMO_OK);
    capture c = {0};
    vimo_llama_gen_stats gs;
    int np = (int)pr->numel, ng = (int)gt->numel;
    /* Each position emits one token: positions 0..np-2 the rest of the prompt,
     * then one generated token each, so np - 1 + ng steps give ng tokens. */
    int steps = np - 1 + ng;
    assert_int_equal(vimo_llama_generate(d, &s, NULL, 0, pr->data, np, steps, NULL, 0, on_token, &c, &gs), VIMO_OK);
    assert_int_equal(c.n, steps);
    assert_memory_equal(c.tok, (const int32_t *)pr->data + 1, (size_t)(np - 1) * 4);
    assert_memory_equal(c.tok + np - 1, gt->data, (size_t)ng * 4);
    assert_int_equal(gs.n_prompt, np);
    assert_int_equal(gs.n_steps, steps);
    assert_int_equal(gs.n_generated, ng);
    /* The reference continuation contains BOS (1) at index 7: with BOS as a
     * stop token, generation ends there, before emitting it. */
    c.n = 0;
    const int32_t stop[] = {1};
    assert_int_equal(vimo_llama_generate(d, &s, NULL, 0, pr->data, np, 0, stop, 1, on_token, &c, &gs), VIMO_OK);
    assert_int_equal(c.n, np - 1 + 7);
    /* An empty prompt is an error. */
    assert_int_equal(vimo_llama_generate(d, &s, NULL, 0, pr->data, 0, 5, NULL, 0, NULL, NULL, NULL), VIMO_ERR_INVALID);
    vimo_llama_sampler_free(&s);
    vimo_llama_decoder_free(d);
    vimo_safetensors_close(st);
    vimo_llama_free(m);
}

/* ---- run.c's forward(), transcribed plainly (scalar loops, run.c's order) ---- */

static void naive_rmsnorm(float *o, const float *x, const float *w, int n)
{
    float ss = 0.0f;
    for (int j = 0; j < n; j++) ss += x[j] * x[j];
    ss /= n;
    ss += 1e-5f;
    ss = 1.0f / sqrtf(ss);
    for (int j = 0; j < n; j++) o[j] = w[j] * (ss * x[j]);
}

static void naive_softmax(float *x, int n)
{
    float max = x[0], sum = 0.0f;
    for (int i = 1; i < n; i++)
        if (x[i] > max) max = x[i];
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    for (int i = 0; i < n; i++) x[i] /= sum;
}

static void naive_matmul(float *out, const float *x, const float *w, int n, int d)
{
    for (int i = 0; i < d; i++) {
        float v = 0.0f;
        for (int j = 0; j < n; j++) v += w[i * n + j] * x[j];
        out[i] = v;
    }
}

typedef struct naive {
    const vimo_llama_model *m;
    float *x, *xb, *xb2, *hb, *hb2, *q, *att, *logits, *kc, *vc;
} naive;

static float *naive_forward(naive *s, int token, int pos)
{
    const vimo_llama_config *p = &s->m->cfg;
    int dim = p->dim, kv_dim = p->n_kv_heads * p->head_dim, kv_mul = p->n_heads / p->n_kv_heads;
    int hs = p->head_dim, hidden = p->hidden_dim, seq = p->seq_len;
    memcpy(s->x, s->m->embed + token * dim, dim * sizeof(float));
    for (int l = 0; l < p->n_layers; l++) {
        const vimo_llama_layer *w = &s->m->layers[l];
        naive_rmsnorm(s->xb, s->x, w->attn_norm, dim);
        float *k = s->kc + (size_t)l * seq * kv_dim + pos * kv_dim,
              *v = s->vc + (size_t)l * seq * kv_dim + pos * kv_dim;
        naive_matmul(s->q, s->xb, w->wq, dim, dim);
        naive_matmul(k, s->xb, w->wk, dim, kv_dim);
        naive_matmul(v, s->xb, w->wv, dim, kv_dim);
        for (int i = 0; i < dim; i += 2) {
            int head_dim = i % hs;
            float freq = 1.0f / powf(10000.0f, head_dim / (float)hs), val = pos * freq;
            float fcr = cosf(val), fci = sinf(val);
            for (int r = 0; r < (i < kv_dim ? 2 : 1); r++) {
                float *vec = r == 0 ? s->q : k, v0 = vec[i], v1 = vec[i + 1];
                vec[i] = v0 * fcr - v1 * fci;
                vec[i + 1] = v0 * fci + v1 * fcr;
            }
        }
        for (int h = 0; h < p->n_heads; h++) {
            float *q = s->q + h * hs, *att = s->att + h * seq, *xb = s->xb + h * hs;
            for (int t = 0; t <= pos; t++) {
                const float *kk = s->kc + (size_t)l * seq * kv_dim + t * kv_dim + (h / kv_mul) * hs;
                float score = 0.0f;
                for (int i = 0; i < hs; i++) score += q[i] * kk[i];
                att[t] = score / sqrtf(hs);
            }
            naive_softmax(att, pos + 1);
            memset(xb, 0, hs * sizeof(float));
            for (int t = 0; t <= pos; t++) {
                const float *vv = s->vc + (size_t)l * seq * kv_dim + t * kv_dim + (h / kv_mul) * hs;
                for (int i = 0; i < hs; i++) xb[i] += att[t] * vv[i];
            }
        }
        naive_matmul(s->xb2, s->xb, w->wo, dim, dim);
        for (int i = 0; i < dim; i++) s->x[i] += s->xb2[i];
        naive_rmsnorm(s->xb, s->x, w->ffn_norm, dim);
        naive_matmul(s->hb, s->xb, w->w_gate, dim, hidden);
        naive_matmul(s->hb2, s->xb, w->w_up, dim, hidden);
        for (int i = 0; i < hidden; i++) {
            float val = s->hb[i];
            val *= (1.0f / (1.0f + expf(-val)));
            s->hb[i] = val * s->hb2[i];
        }
        naive_matmul(s->xb, s->hb, w->w_down, hidden, dim);
        for (int i = 0; i < dim; i++) s->x[i] += s->xb[i];
    }
    naive_rmsnorm(s->x, s->x, s->m->final_norm, dim);
    naive_matmul(s->logits, s->x, s->m->lm_head, dim, p->vocab_size);
    return s->logits;
}

static void test_bit_exact_llama2c(void **state)
{
    (void)state;
    vimo_llama_model *m = load(STORIES);
    const vimo_llama_config *p = &m->cfg;
    size_t kv = (size_t)p->n_layers * p->seq_len * p->n_kv_heads * p->head_dim;
    naive s = {m, calloc(p->dim, 4), calloc(p->dim, 4), calloc(p->dim, 4), calloc(p->hidden_dim, 4),
               calloc(p->hidden_dim, 4), calloc(p->dim, 4), calloc((size_t)p->n_heads * p->seq_len, 4),
               calloc(p->vocab_size, 4), calloc(kv, 4), calloc(kv, 4)};
    const int steps = 100;
    float *want = malloc((size_t)steps * p->vocab_size * 4);
    int token = 1;
    for (int pos = 0; pos < steps; pos++) { /* greedy, as the engine below */
        float *lg = naive_forward(&s, token, pos);
        memcpy(want + (size_t)pos * p->vocab_size, lg, p->vocab_size * 4);
        int best = 0;
        for (int i = 1; i < p->vocab_size; i++)
            if (lg[i] > lg[best]) best = i;
        token = best;
    }
    for (int threads = 1; threads <= 3; threads++) {
        vimo_llama_decoder *d = NULL;
        assert_int_equal(vimo_llama_decoder_new(m, steps, threads, &d), VIMO_OK);
        token = 1;
        for (int pos = 0; pos < steps; pos++) {
            assert_int_equal(vimo_llama_decoder_step(d, token), VIMO_OK);
            const float *lg = vimo_llama_decoder_logits(d);
            if (memcmp(lg, want + (size_t)pos * p->vocab_size, p->vocab_size * 4) != 0)
                fprintf(stderr, "threads %d: logits differ from run.c's order at position %d\n", threads, pos);
            assert_memory_equal(lg, want + (size_t)pos * p->vocab_size, p->vocab_size * 4);
            int best = 0;
            for (int i = 1; i < p->vocab_size; i++)
                if (lg[i] > lg[best]) best = i;
            token = best;
        }
        vimo_llama_decoder_free(d);
    }
    free(want);
    float *bufs[] = {s.x, s.xb, s.xb2, s.hb, s.hb2, s.q, s.att, s.logits, s.kc, s.vc};
    for (size_t i = 0; i < 10; i++) free(bufs[i]);
    vimo_llama_free(m);
}

/* ---- Q8 weights ------------------------------------------------------------------- */

/* Quantise and dequantise rows (rows, cols) in place, by vimo_llama.h's Q8
 * definition written out here: per row and group of 32 columns, scale =
 * max |w| / 127, q = roundf(w / scale), w' = q * scale. */
static void qdq_rows(float *w, long rows, long cols)
{
    for (long r = 0; r < rows; r++)
        for (long j0 = 0; j0 < cols; j0 += 32) {
            float *g = w + r * cols + j0, amax = 0.0f;
            long n = cols - j0 < 32 ? cols - j0 : 32;
            for (long j = 0; j < n; j++) amax = fmaxf(amax, fabsf(g[j]));
            float scale = amax / 127.0f;
            for (long j = 0; j < n; j++) g[j] = scale > 0.0f ? roundf(g[j] / scale) * scale : 0.0f;
        }
}

/* stories260K with every matrix the engine streams dequantised, as an untied
 * llama2.c file (token embeddings exact, classifier = dequantised copy). */
static void write_qdq_stories(const char *out)
{
    FILE *f = fopen(STORIES, "rb");
    assert_non_null(f);
    int32_t h[7];
    assert_int_equal(fread(h, sizeof h, 1, f), 1);
    long C = h[0], H = h[1], L = h[2], nh = h[3], nkv = h[4], V = labs(h[5]), seq = h[6];
    long K = C / nh * nkv, hs = C / nh;
    assert_true(h[5] > 0); /* shared classifier: wcls = the embeddings */
    long n = V * C + L * C + L * C * C + 2 * L * K * C + L * C * C + L * C + 3 * L * H * C + C + seq * hs;
    float *w = malloc((size_t)(n + V * C) * sizeof *w);
    assert_non_null(w);
    assert_int_equal(fread(w, sizeof *w, (size_t)n, f), (size_t)n);
    fclose(f);
    float *p = w + V * C + L * C; /* wq, wk, wv, wo (out rows, in cols per layer) */
    qdq_rows(p, L * C, C), p += L * C * C;
    qdq_rows(p, L * K, C), p += L * K * C;
    qdq_rows(p, L * K, C), p += L * K * C;
    qdq_rows(p, L * C, C), p += L * C * C + L * C; /* then rms_ffn */
    qdq_rows(p, L * H, C), p += L * H * C;         /* w1 (gate) */
    qdq_rows(p, L * C, H), p += L * C * H;         /* w2 (down) */
    qdq_rows(p, L * H, C);                         /* w3 (up) */
    memcpy(w + n, w, (size_t)(V * C) * sizeof *w); /* wcls */
    qdq_rows(w + n, V, C);
    h[5] = -(int32_t)V;
    f = fopen(out, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(h, sizeof h, 1, f), 1);
    assert_int_equal(fwrite(w, sizeof *w, (size_t)(n + V * C), f), (size_t)(n + V * C));
    fclose(f);
    free(w);
}

/* The Q8 engine on stories260K against the fp32 engine on the weights
 * dequantised here: the same numbers up to float summation order (1e-4 of
 * the largest logit), step by step on the reference's greedy tokens, with 1
 * and 2 threads and with the portable kernel (VIMO_Q8_KERNEL=generic); and
 * the error it makes against the exact fp32 logits. */
static void test_q8_weights(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/vimo_q8_ref_%ld.bin", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (long)getpid());
    write_qdq_stories(path);
    vimo_llama_model *m = load(STORIES), *ref = load(path);
    remove(path);
    int V = m->cfg.vocab_size, steps = 64;
    for (int run = 0; run < 3; run++) { /* 1 and 2 threads, then the portable kernel */
        int threads = run == 1 ? 2 : 1;
        if (run == 2) setenv("VIMO_Q8_KERNEL", "generic", 1);
        vimo_llama_decoder *dq = NULL, *dr = NULL, *d32 = NULL;
        vimo_llama_decoder_opts o = {.max_pos = steps, .n_threads = threads, .weights = VIMO_LLAMA_WEIGHTS_Q8};
        assert_int_equal(vimo_llama_decoder_new_opts(m, &o, &dq), VIMO_OK);
        assert_int_equal(vimo_llama_decoder_weights(dq), VIMO_LLAMA_WEIGHTS_Q8);
        assert_int_equal(vimo_llama_decoder_new(ref, steps, threads, &dr), VIMO_OK);
        assert_int_equal(vimo_llama_decoder_new(m, steps, threads, &d32), VIMO_OK);
        int token = 1;
        double worst = 0;
        for (int pos = 0; pos < steps; pos++) {
            assert_int_equal(vimo_llama_decoder_step(dq, token), VIMO_OK);
            assert_int_equal(vimo_llama_decoder_step(dr, token), VIMO_OK);
            assert_int_equal(vimo_llama_decoder_step(d32, token), VIMO_OK);
            const float *lq = vimo_llama_decoder_logits(dq), *lr = vimo_llama_decoder_logits(dr);
            const float *l32 = vimo_llama_decoder_logits(d32);
            char what[64];
            snprintf(what, sizeof what, "q8 vs dequantised fp32, %d threads, pos %d", threads, pos);
            expect_close(lq, lr, V, 1e-4, what);
            for (int i = 0; i < V; i++) worst = fmax(worst, fabs((double)lq[i] - l32[i]));
            int best = 0;
            for (int i = 1; i < V; i++)
                if (lr[i] > lr[best]) best = i;
            token = best;
        }
        printf("q8 (%s kernel) vs exact fp32 weights, %d threads: max |dlogit| %.3g over %d steps\n",
               run == 2 ? "generic" : "default", threads, worst, steps);
        unsetenv("VIMO_Q8_KERNEL");
        assert_true(worst > 0); /* it is quantised */
        vimo_llama_decoder_free(dq);
        vimo_llama_decoder_free(dr);
        vimo_llama_decoder_free(d32);
    }
    vimo_llama_decoder *bad = NULL;
    vimo_llama_decoder_opts o = {.weights = (vimo_llama_weights)7};
    assert_int_equal(vimo_llama_decoder_new_opts(m, &o, &bad), VIMO_ERR_INVALID);
    assert_null(bad);
    vimo_llama_free(ref);
    vimo_llama_free(m);
}

/* ---- sampler --------------------------------------------------------------------- */

static void test_sampler(void **state)
{
    (void)state;
    vimo_llama_sampler s;
    /* temperature 0: argmax, the first of equal maxima */
    float l0[5] = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f};
    assert_int_equal(vimo_llama_sampler_init(&s, 5, 0.0f, 0.9f, 0, 7), VIMO_OK);
    assert_int_equal(vimo_llama_sample(&s, l0), 1);
    vimo_llama_sampler_free(&s);
    /* top-k 1 is argmax whatever the coin */
    assert_int_equal(vimo_llama_sampler_init(&s, 5, 1.0f, 0.0f, 1, 7), VIMO_OK);
    for (int i = 0; i < 20; i++) {
        float l[5] = {0.5f, 2.0f, -1.0f, 1.9f, 1.0f};
        assert_int_equal(vimo_llama_sample(&s, l), 1);
    }
    vimo_llama_sampler_free(&s);
    /* top-p: with logits (0, ln 3) the probabilities are 1/4, 3/4; top_p 0.5
     * keeps only the 3/4 token (it alone passes 0.5). */
    assert_int_equal(vimo_llama_sampler_init(&s, 2, 1.0f, 0.5f, 0, 7), VIMO_OK);
    for (int i = 0; i < 20; i++) {
        float l[2] = {0.0f, logf(3.0f)};
        assert_int_equal(vimo_llama_sample(&s, l), 1);
    }
    vimo_llama_sampler_free(&s);
    /* multinomial: over many draws the 1/4 : 3/4 split shows (seeded, so fixed) */
    assert_int_equal(vimo_llama_sampler_init(&s, 2, 1.0f, 1.0f, 0, 133742), VIMO_OK);
    int ones = 0;
    for (int i = 0; i < 4000; i++) {
        float l[2] = {0.0f, logf(3.0f)};
        ones += vimo_llama_sample(&s, l);
    }
    assert_true(ones > 2850 && ones < 3150); /* 3000 expected, sd ~27 */
    vimo_llama_sampler_free(&s);
    assert_int_equal(vimo_llama_sampler_init(&s, 2, -1.0f, 0.9f, 0, 1), VIMO_ERR_INVALID);
    assert_int_equal(vimo_llama_sampler_init(&s, 2, NAN, 0.9f, 0, 1), VIMO_ERR_INVALID);
}

static void test_bench(void **state)
{
    (void)state;
    vimo_llama_model *m = load(STORIES);
    vimo_llama_decoder *d = NULL;
    assert_int_equal(vimo_llama_decoder_new(m, 64, 0, &d), VIMO_OK);
    vimo_llama_bench_result r;
    assert_int_equal(vimo_llama_bench_decode(d, 1, 64, &r), VIMO_OK);
    assert_int_equal(r.n_tokens, 64);
    assert_true(r.tokens_per_s > 0 && r.median_step_ns > 0);
    printf("stories260K: %.0f tokens/s, median step %.1f us (64 steps)\n", r.tokens_per_s, r.median_step_ns / 1e3);
    assert_int_equal(vimo_llama_bench_decode(d, 1, 65, &r), VIMO_ERR_INVALID);
    vimo_llama_decoder_free(d);
    vimo_llama_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hf_logits),      cmocka_unit_test(test_prefix_embeddings),
        cmocka_unit_test(test_greedy_generate), cmocka_unit_test(test_bit_exact_llama2c),
        cmocka_unit_test(test_sampler),        cmocka_unit_test(test_bench),
        cmocka_unit_test(test_q8_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
