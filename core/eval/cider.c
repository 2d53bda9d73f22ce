/*
 * cider.c - CIDEr-D as coco-caption computes it (pycocoevalcap/cider/
 * cider_scorer.py; Vedantam et al. 2015, "CIDEr", with the -D changes):
 *   - df(g) = number of items whose references contain n-gram g (any order
 *     1..4); the "reference length" is log(number of items);
 *   - a sentence's vector for order n: g -> tf(g) * (log N - log(max(1, df(g))));
 *   - sim(cand, ref) for order n = sum_g min(v_c(g), v_r(g)) * v_r(g)
 *     (the clipping of CIDEr-D) / (|v_c| |v_r|), left unnormalised when a norm
 *     is 0, times exp(-(l_c - l_r)^2 / (2 * 6^2)), where l is coco-caption's
 *     "length": the number of BIGRAMS (words - 1), kept as is; it differs
 *     from the word-count difference only when a side is empty, and then
 *     every similarity is 0 anyway;
 *   - item score = 10 * mean_n(sum over refs of sim) / n_refs; the corpus
 *     score is the mean over items.
 * Deliberately only the -D variant (no plain CIDEr) and no idf from a corpus
 * other than the references given.
 */
#include <math.h>
#include <stdlib.h>

#include "eval_internal.h"

#define CIDER_SIGMA 6.0

typedef struct cider_ctx {
    const ev_corpus *c;
    double *w; /* (n_ngrams) idf weight log N - log(max(1, df)) */
} cider_ctx;

/* Norm per order of sentence s's tf-idf vector, and its bigram count. */
static void vec_norms(const cider_ctx *x, size_t s, double norm[EV_MAX_ORDER], double *length)
{
    const ev_corpus *c = x->c;
    double sq[EV_MAX_ORDER] = {0};
    *length = 0.0;
    for (size_t j = c->ng_off[s]; j < c->ng_off[s + 1]; j++) {
        uint32_t id = c->ng_id[j];
        double v = c->ng_cnt[j] * x->w[id];
        sq[c->ng_order[id] - 1] += v * v;
        if (c->ng_order[id] == 2) *length += c->ng_cnt[j];
    }
    for (int k = 0; k < EV_MAX_ORDER; k++) norm[k] = sqrt(sq[k]);
}

/* Adds sim(candidate h, reference r) per order to acc. */
static void add_sim(const cider_ctx *x, size_t h, size_t r, const double nh[EV_MAX_ORDER],
                    double lh, double acc[EV_MAX_ORDER])
{
    const ev_corpus *c = x->c;
    double nr[EV_MAX_ORDER], lr, val[EV_MAX_ORDER] = {0};
    vec_norms(x, r, nr, &lr);
    size_t a = c->ng_off[h], ae = c->ng_off[h + 1], b = c->ng_off[r], be = c->ng_off[r + 1];
    while (a < ae && b < be) { /* merge of two id-sorted lists */
        if (c->ng_id[a] < c->ng_id[b]) {
            a++;
        } else if (c->ng_id[a] > c->ng_id[b]) {
            b++;
        } else {
            uint32_t id = c->ng_id[a];
            double vh = c->ng_cnt[a] * x->w[id], vr = c->ng_cnt[b] * x->w[id];
            val[c->ng_order[id] - 1] += (vh < vr ? vh : vr) * vr;
            a++;
            b++;
        }
    }
    double delta = lh - lr;
    double penalty = exp(-(delta * delta) / (2.0 * CIDER_SIGMA * CIDER_SIGMA));
    for (int k = 0; k < EV_MAX_ORDER; k++) {
        if (nh[k] != 0.0 && nr[k] != 0.0) val[k] /= nh[k] * nr[k];
        acc[k] += val[k] * penalty;
    }
}

static double item_cider(const cider_ctx *x, int i)
{
    const ev_corpus *c = x->c;
    size_t h = c->item_off[i], end = c->item_off[i + 1];
    double nh[EV_MAX_ORDER], lh, acc[EV_MAX_ORDER] = {0};
    vec_norms(x, h, nh, &lh);
    for (size_t r = h + 1; r < end; r++) add_sim(x, h, r, nh, lh, acc);
    double mean = 0.0;
    for (int k = 0; k < EV_MAX_ORDER; k++) mean += acc[k];
    mean /= EV_MAX_ORDER;
    mean /= (double)(end - h - 1);
    return mean * 10.0;
}

/* df over the references only, one count per item (stamp avoids recounting
 * an n-gram shared by several references of the same item). */
static vimo_status idf_weights(const ev_corpus *c, double *w)
{
    uint32_t *df = calloc(c->n_ngrams ? c->n_ngrams : 1, sizeof *df);
    int *stamp = calloc(c->n_ngrams ? c->n_ngrams : 1, sizeof *stamp);
    if (!df || !stamp) {
        free(df);
        free(stamp);
        return vimo_error(VIMO_ERR_NOMEM, "caption_scores: cider-d df of %u n-grams", c->n_ngrams);
    }
    for (int i = 0; i < c->n; i++)
        for (size_t s = c->item_off[i] + 1; s < c->item_off[i + 1]; s++)
            for (size_t j = c->ng_off[s]; j < c->ng_off[s + 1]; j++) {
                uint32_t id = c->ng_id[j];
                if (stamp[id] != i + 1) {
                    stamp[id] = i + 1;
                    df[id]++;
                }
            }
    double ref_len = log((double)c->n);
    for (uint32_t id = 0; id < c->n_ngrams; id++)
        w[id] = ref_len - log(df[id] > 1 ? (double)df[id] : 1.0);
    free(df);
    free(stamp);
    return VIMO_OK;
}

vimo_status ev_cider_d(const ev_corpus *c, double *mean, double *items)
{
    vimo_status st = VIMO_OK;
    cider_ctx x = {c, malloc((c->n_ngrams ? c->n_ngrams : 1) * sizeof(double))};
    if (!x.w) return vimo_error(VIMO_ERR_NOMEM, "caption_scores: cider-d weights");
    VIMO_TRY(idf_weights(c, x.w));
    double sum = 0.0;
    for (int i = 0; i < c->n; i++) {
        double s = item_cider(&x, i);
        if (items) items[i] = s;
        sum += s;
    }
    *mean = sum / c->n;
fail:
    free(x.w);
    return st;
}
