/*
 * bench_varlen.c - `vimo bench varlen`: one LLM training step (forward,
 * masked cross-entropy, backward) on a right-padded batch, through the
 * plugin's padded forward and through forward_varlen (vimo/llm.h, ABI 1.1),
 * which computes the real positions only and the output head only at the
 * targets. The model is llm.llama at stories260K's shape (dim 64, 5
 * layers, GQA 8/4 heads, hidden 172, vocab 512; random weights: speed does
 * not depend on them) with rank-16 LoRA and dropout 0.05 on all seven
 * projections, in train mode, as in vimo's stage 2.
 * The batch: B sequences (--batch, default 16) padded to T (--t, 116);
 * sequence i has T (1 - 2 (1 - fill) i / (B - 1)) real positions, so the
 * longest is T and a share `fill` (--fill, 0.84, what stage 2 of the
 * ablation measured) of the batch is real; the last --answer (3) positions
 * of each are targets (a short QA answer and its end token). Both bodies
 * give the same loss (printed; the dropout masks differ, so only up to
 * the noise of one step).
 * Not here: the encoders and projectors of a full MLLM step
 * (docs/experiments.md times whole runs).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "vimo/llm.h"
#include "vimo/vimo.h"

typedef struct {
    void *h;
    const vimo_llm_iface *llm;
    vimo_ctx *ctx;
    vimo_tensor *x; /* (B, T, D) leaf: the spliced embeddings */
    vimo_rng rng;
    const int32_t *lens, *rows, *tg, *tg_full;
    int64_t n_rows;
    vimo_tensor *const *params;
    int n_params;
    float loss;
} step;

static int run_step(step *s, int varlen)
{
    vimo_tensor *y, *loss;
    vimo_ctx_reset(s->ctx);
    vimo_tensor_zero_grad(s->x);
    for (int i = 0; i < s->n_params; i++) vimo_tensor_zero_grad(s->params[i]);
    vimo_status st = varlen ? s->llm->forward_varlen(s->h, s->ctx, s->x, s->lens, s->rows, s->n_rows, &s->rng, &y)
                            : s->llm->forward(s->h, s->ctx, s->x, NULL, &s->rng, &y);
    if (!st) st = vimo_cross_entropy(s->ctx, &loss, y, varlen ? s->tg : s->tg_full, -100);
    if (!st) st = vimo_backward(s->ctx, loss);
    if (!st) s->loss = vimo_tensor_data(loss)[0];
    return st;
}

static int body_padded(void *p) { return run_step(p, 0); }
static int body_varlen(void *p) { return run_step(p, 1); }

static vimo_status make_llm(vimo_instance **inst)
{
    static const char *const opts[] = {"dim", "64", "hidden_dim", "172", "layers", "5", "heads", "8", "kv_heads",
                                       "4", "vocab", "512", "seq_len", "512", "seed", "1", NULL};
    const vimo_plugin_desc *desc;
    vimo_options *o = NULL;
    vimo_status st = vimo_plugin_find("llm.llama", &desc);
    if (!st) st = vimo_options_new(&o, desc);
    for (int i = 0; !st && opts[i]; i += 2) st = vimo_options_set(o, opts[i], opts[i + 1]);
    if (!st) st = vimo_instance_new(inst, "llm.llama", o);
    vimo_options_free(o);
    return st;
}

static int bench_varlen(vimo_bench_run *run)
{
    long long b = 16, t = 116, answer = 3;
    double fill = 0.84;
    const char *s;
    if ((s = vimo_cli_opt(run->argc, run->argv, "batch")) && vimo_bench_int_list("batch", s, &b, 1, 2, 1024) < 0)
        return 2;
    if ((s = vimo_cli_opt(run->argc, run->argv, "t")) && vimo_bench_int_list("t", s, &t, 1, 8, 512) < 0) return 2;
    if ((s = vimo_cli_opt(run->argc, run->argv, "answer")) && vimo_bench_int_list("answer", s, &answer, 1, 1, 64) < 0)
        return 2;
    if ((s = vimo_cli_opt(run->argc, run->argv, "fill"))) {
        char *end;
        fill = strtod(s, &end);
        if (*end || !(fill > 0.5 && fill <= 1.0)) {
            fprintf(stderr, "vimo bench: --fill %s: want a share in (0.5, 1]\n", s);
            return 2;
        }
    }
    int rc = 1;
    vimo_instance *inst = NULL;
    step st = {0};
    int32_t *lens = calloc((size_t)b, sizeof *lens), *rows = calloc((size_t)(b * t), sizeof *rows);
    int32_t *tg = calloc((size_t)(b * t), sizeof *tg), *tg_full = calloc((size_t)(b * t), sizeof *tg_full);
    vimo_tensor **params = NULL;
    if (!lens || !rows || !tg || !tg_full) goto done;
    if (make_llm(&inst)) goto done;
    st.h = vimo_instance_handle(inst);
    st.llm = vimo_instance_iface(inst, VIMO_IFACE_LLM);
    const vimo_module_iface *mod = vimo_instance_iface(inst, VIMO_IFACE_MODULE);
    if (!vimo_llm_has_varlen(st.llm) || !mod) {
        fprintf(stderr, "vimo bench: llm.llama has no forward_varlen\n");
        goto done;
    }
    if (st.llm->lora_add(st.h, 16, 16.0f, 0.05f, "q,k,v,o,gate,up,down", 7)) goto done;
    mod->set_train(st.h, 1);
    /* The adapters are the trained parameters; B = 0 at init is fine for timing. */
    int np = mod->num_params(st.h);
    if (!(params = calloc((size_t)np, sizeof *params))) goto done;
    for (int i = 0; i < np; i++) {
        const char *nm;
        vimo_tensor *p = mod->param(st.h, i, &nm);
        if (strstr(nm, ".lora_")) params[st.n_params++] = p;
    }
    long long real = 0;
    for (long long i = 0; i < b; i++) {
        lens[i] = (int32_t)lround((double)t * (1.0 - 2.0 * (1.0 - fill) * (double)i / (double)(b - 1)));
        if (lens[i] <= answer) lens[i] = (int32_t)answer + 1;
        real += lens[i];
    }
    for (long long i = 0; i < b * t; i++) tg_full[i] = -100;
    for (long long i = 0; i < b; i++)
        for (long long p = lens[i] - answer; p < lens[i]; p++) {
            rows[st.n_rows] = (int32_t)(i * t + p);
            tg[st.n_rows] = tg_full[i * t + p] = (int32_t)((i * 31 + p * 7) % 512);
            st.n_rows++;
        }
    st.lens = lens;
    st.rows = rows;
    st.tg = tg;
    st.tg_full = tg_full;
    st.params = params;
    vimo_rng_seed(&st.rng, 3);
    if (vimo_ctx_new(&st.ctx) || vimo_tensor_new(&st.x, 3, (int64_t[]){b, t, 64})) goto done;
    vimo_bench_fill(vimo_tensor_data(st.x), b * t * 64, 21);
    if (vimo_tensor_set_requires_grad(st.x, 1)) goto done;

    float loss[2];
    if (run_step(&st, 0)) goto done;
    loss[0] = st.loss;
    if (run_step(&st, 1)) goto done;
    loss[1] = st.loss;
    const vimo_bench_body bodies[2] = {body_padded, body_varlen};
    void *const args[2] = {&st, &st};
    vimo_bench_timing tm[2];
    if (vimo_bench_time(run, 2, bodies, args, tm)) goto done;
    vimo_bench_printf(run,
                      "llm.llama at stories260K's shape, LoRA r16 on q,k,v,o,gate,up,down, train mode; B = %lld, "
                      "T = %lld, %lld real positions (%.0f %%), %lld targets\n",
                      b, t, real, 100.0 * (double)real / (double)(b * t), (long long)st.n_rows);
    vimo_bench_printf(run, "%-28s %10s %8s %10s\n", "one step (fwd + CE + bwd)", "ms", "speedup", "loss");
    vimo_bench_printf(run, "%-28s %10.2f %8s %10.5f\n", "padded forward", tm[0].median_s * 1e3, "1.00", loss[0]);
    vimo_bench_printf(run, "%-28s %10.2f %8.2f %10.5f\n", "forward_varlen", tm[1].median_s * 1e3,
                      tm[0].median_s / tm[1].median_s, loss[1]);
    cJSON *r = vimo_bench_result(run);
    if (r) {
        cJSON_AddNumberToObject(r, "batch", (double)b);
        cJSON_AddNumberToObject(r, "t", (double)t);
        cJSON_AddNumberToObject(r, "real_positions", (double)real);
        cJSON_AddNumberToObject(r, "targets", (double)st.n_rows);
        cJSON_AddNumberToObject(r, "padded_ms", tm[0].median_s * 1e3);
        cJSON_AddNumberToObject(r, "varlen_ms", tm[1].median_s * 1e3);
        cJSON_AddNumberToObject(r, "padded_loss", loss[0]);
        cJSON_AddNumberToObject(r, "varlen_loss", loss[1]);
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "vimo bench: %s\n", vimo_last_error());
    vimo_ctx_free(st.ctx);
    vimo_tensor_free(st.x);
    vimo_instance_free(inst);
    free(params);
    free(lens);
    free(rows);
    free(tg);
    free(tg_full);
    return rc;
}

VIMO_BENCH(g_bench_varlen, "varlen", "an LLM training step, padded forward vs forward_varlen (packed sequences)",
           bench_varlen)
