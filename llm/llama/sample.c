/*
 * sample.c - next-token sampling exactly as llama2.c run.c: greedy argmax
 * (first maximum on ties), temperature, multinomial, top-p with its cutoff
 * and sort, and run.c's xorshift64* generator, so that a given seed draws the
 * same tokens as run.c. top-k is a vimo extension (off by default).
 *
 * run.c sorts the top-p candidates with qsort; glibc's qsort is a merge sort
 * (stable) for arrays of this size, so equal probabilities keep index order.
 * Here a merge sort makes that explicit and independent of the C library.
 * Not here: repetition penalties, min-p, beam search.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "decode_int.h"

typedef struct prob_index {
    float prob;
    int index;
} prob_index;

/* run.c random_u32 / random_f32 (xorshift64*). */
static uint32_t rng_u32(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (uint32_t)((*s * 0x2545F4914F6CDD1Dull) >> 32);
}

static float rng_f32(uint64_t *s) { return (float)(rng_u32(s) >> 8) / 16777216.0f; }

static int argmax(const float *p, int n)
{
    int best = 0;
    float max = p[0];
    for (int i = 1; i < n; i++)
        if (p[i] > max) {
            best = i;
            max = p[i];
        }
    return best;
}

static int sample_mult(const float *p, int n, float coin)
{
    float cdf = 0.0f;
    for (int i = 0; i < n; i++) {
        cdf += p[i];
        if (coin < cdf) return i;
    }
    return n - 1; /* rounding */
}

/* Stable merge sort by descending probability. */
static void sort_desc(prob_index *a, prob_index *tmp, int n)
{
    for (int w = 1; w < n; w *= 2) {
        for (int lo = 0; lo < n; lo += 2 * w) {
            int mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n, i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = a[j].prob > a[i].prob ? a[j++] : a[i++];
            while (i < mid) tmp[k++] = a[i++];
            while (j < hi) tmp[k++] = a[j++];
        }
        memcpy(a, tmp, (size_t)n * sizeof *a);
    }
}

/* Draws among the sorted candidates a[0..n): cut after the cumulative
 * probability passes top_p (when top_p is on), then coin * kept mass. */
static int draw_sorted(const prob_index *a, int n, float top_p, float coin)
{
    float cum = 0.0f;
    int last = n - 1;
    int use_p = top_p > 0.0f && top_p < 1.0f;
    for (int i = 0; i < n; i++) {
        cum += a[i].prob;
        if (use_p && cum > top_p) {
            last = i;
            break;
        }
    }
    float r = coin * cum, cdf = 0.0f;
    for (int i = 0; i <= last; i++) {
        cdf += a[i].prob;
        if (r < cdf) return a[i].index;
    }
    return a[last].index; /* rounding */
}

vimo_status vimo_llama_sampler_init(vimo_llama_sampler *s, int vocab_size, float temperature, float top_p, int top_k,
                                    uint64_t seed)
{
    if (!s || vocab_size < 1 || !(temperature >= 0.0f) || isnan(top_p) || top_k < 0)
        return vimo_error(VIMO_ERR_INVALID,
                          "llama sampler: bad settings (vocab %d, temperature %g, top_p %g, top_k %d)", vocab_size,
                          (double)temperature, (double)top_p, top_k);
    *s = (vimo_llama_sampler){vocab_size, temperature, top_p, top_k, seed, NULL};
    if (!(s->scratch = malloc(2 * (size_t)vocab_size * sizeof(prob_index))))
        return vimo_error(VIMO_ERR_NOMEM, "llama sampler: out of memory");
    return VIMO_OK;
}

void vimo_llama_sampler_free(vimo_llama_sampler *s)
{
    if (!s) return;
    free(s->scratch);
    s->scratch = NULL;
}

int vimo_llama_sample(vimo_llama_sampler *s, float *logits)
{
    int n = s->vocab_size;
    if (s->temperature == 0.0f) return argmax(logits, n);
    for (int i = 0; i < n; i++) logits[i] /= s->temperature;
    llama_softmax(logits, n);
    float coin = rng_f32(&s->rng);
    prob_index *a = s->scratch, *tmp = a + n;
    int topk = s->top_k > 0 && s->top_k < n, topp = s->top_p > 0.0f && s->top_p < 1.0f;
    if (!topk && !topp) return sample_mult(logits, n, coin);
    /* run.c: tokens under (1 - top_p) / (n - 1) cannot be in the nucleus; skip them before sorting */
    float cutoff = topk || n < 2 ? 0.0f : (1.0f - s->top_p) / (float)(n - 1);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (logits[i] >= cutoff) a[m++] = (prob_index){logits[i], i};
    if (m == 0) return argmax(logits, n); /* a tiny top_p over a flat distribution (run.c reads out of bounds) */
    sort_desc(a, tmp, m);
    return draw_sorted(a, topk && s->top_k < m ? s->top_k : m, s->top_p, coin);
}
