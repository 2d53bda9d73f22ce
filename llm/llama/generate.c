/*
 * generate.c - the generation loop of llama2.c run.c generate(), with an
 * optional prefix of external embeddings (MotionLLM's modality tokens), and
 * the decode benchmark. Printing is the caller's (emit callback).
 * Not here: chat templates, batching, speculative decoding.
 */
#include <stdlib.h>
#include <time.h>

#include "decode_int.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int is_stop(int32_t tok, const int32_t *stop, int n_stop)
{
    for (int i = 0; i < n_stop; i++)
        if (stop[i] == tok) return 1;
    return 0;
}

vimo_status vimo_llama_generate(vimo_llama_decoder *d, vimo_llama_sampler *s, const float *prefix, int n_prefix,
                                const int32_t *prompt, int n_prompt, int steps, const int32_t *stop, int n_stop,
                                vimo_llama_emit_fn emit, void *user, vimo_llama_gen_stats *stats)
{
    vimo_status st = VIMO_OK;
    vimo_llama_gen_stats z = {0};
    if (!stats) stats = &z;
    *stats = z;
    if (!d || !s || !prompt || n_prompt < 1 || n_prefix < 0 || (n_prefix && !prefix) || (n_stop && !stop))
        return vimo_error(VIMO_ERR_INVALID,
                          "llama generate: no decoder, sampler or prompt token (need >= 1, e.g. BOS)");
    int room = vimo_llama_decoder_max_pos(d) - n_prefix;
    if (room < 1)
        return vimo_error(VIMO_ERR_INVALID, "llama generate: %d prefix embeddings leave no position of %d", n_prefix,
                          vimo_llama_decoder_max_pos(d));
    if (steps <= 0 || steps > room) steps = room;
    stats->n_prompt = n_prompt;
    double t0 = now_s(), t_first = 0.0;
    vimo_llama_decoder_reset(d);
    if ((st = vimo_llama_decoder_prefill_embeds(d, prefix, n_prefix))) return st;
    int32_t token = prompt[0];
    for (int pos = 0; pos < steps;) {
        if ((st = vimo_llama_decoder_step(d, token))) return st;
        int32_t next = pos < n_prompt - 1 ? prompt[pos + 1] : vimo_llama_sample(s, vimo_llama_decoder_logits(d));
        pos++;
        stats->n_generated += pos >= n_prompt;
        if (is_stop(next, stop, n_stop)) break;
        if (emit && emit(user, token, next)) break;
        token = next;
        if (t_first == 0.0) t_first = now_s(); /* run.c starts its clock here */
    }
    double t1 = now_s();
    stats->n_steps = vimo_llama_decoder_pos(d);
    stats->seconds = t1 - t0;
    stats->seconds_after_first = t_first > 0.0 ? t1 - t_first : 0.0;
    return VIMO_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int argmax_logits(const float *p, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (p[i] > p[best]) best = i;
    return best;
}

vimo_status vimo_llama_bench_decode(vimo_llama_decoder *d, int32_t start, int n_tokens, vimo_llama_bench_result *r)
{
    vimo_status st = VIMO_OK;
    if (!d || !r || n_tokens < 1 || n_tokens > vimo_llama_decoder_max_pos(d))
        return vimo_error(VIMO_ERR_INVALID, "llama bench: need 1 <= n_tokens <= %d",
                          d ? vimo_llama_decoder_max_pos(d) : 0);
    double *dt = malloc((size_t)n_tokens * sizeof *dt);
    if (!dt) return vimo_error(VIMO_ERR_NOMEM, "llama bench: out of memory");
    int V = llama_decoder_model(d)->cfg.vocab_size;
    int32_t token = start;
    vimo_llama_decoder_reset(d);
    double t0 = now_s();
    for (int i = 0; i < n_tokens; i++) {
        double a = now_s();
        if ((st = vimo_llama_decoder_step(d, token))) break;
        token = argmax_logits(vimo_llama_decoder_logits(d), V);
        dt[i] = now_s() - a;
    }
    if (st == VIMO_OK) {
        double total = now_s() - t0;
        qsort(dt, (size_t)n_tokens, sizeof *dt, cmp_double);
        *r = (vimo_llama_bench_result){n_tokens, total, n_tokens / total, 1e9 * dt[n_tokens / 2], token};
    }
    free(dt);
    return st;
}
