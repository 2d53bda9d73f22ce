/*
 * bleu.c - corpus BLEU-1..4 as pycocoevalcap's BleuScorer computes it with
 * option "closest" (coco-caption, pycocoevalcap/bleu/bleu_scorer.py; Papineni
 * et al. 2002 for the metric itself):
 *   - per item: candidate n-gram counts clipped by the max count of that
 *     n-gram in any one reference; guesses = max(0, len - n + 1);
 *     reference length = the reference length closest to the candidate's,
 *     the shorter one on a tie;
 *   - clipped counts, guesses and lengths are summed over the corpus;
 *   - p_n = (correct_n + 1e-15) / (guess_n + 1e-9) and
 *     BLEU-N = (prod_{n<=N} p_n)^(1/N), times exp(1 - 1/ratio) when
 *     ratio = (testlen + 1e-15) / (reflen + 1e-9) < 1.
 * The epsilons are pycocoevalcap's: a zero 4-gram match gives a tiny but
 * non-zero BLEU-4, exactly as papers' numbers do. Deliberately no smoothing
 * variants and no per-sentence BLEU.
 */
#include <math.h>

#include "eval_internal.h"

/* Count of n-gram id in sentence s (binary search of its sorted list). */
static uint32_t count_in(const ev_corpus *c, size_t s, uint32_t id)
{
    size_t lo = c->ng_off[s], hi = c->ng_off[s + 1];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->ng_id[mid] < id) lo = mid + 1;
        else hi = mid;
    }
    return (lo < c->ng_off[s + 1] && c->ng_id[lo] == id) ? c->ng_cnt[lo] : 0;
}

/* pycocoevalcap's "closest": min over refs of (|len - testlen|, len). */
static size_t closest_ref_len(const ev_corpus *c, int i, size_t testlen)
{
    size_t best = 0, best_d = SIZE_MAX;
    for (size_t s = c->item_off[i] + 1; s < c->item_off[i + 1]; s++) {
        size_t l = ev_sent_len(c, s);
        size_t d = l > testlen ? l - testlen : testlen - l;
        if (d < best_d || (d == best_d && l < best)) {
            best = l;
            best_d = d;
        }
    }
    return best;
}

vimo_status ev_bleu(const ev_corpus *c, double bleu[EV_MAX_ORDER])
{
    const double tiny = 1e-15, small = 1e-9; /* pycocoevalcap's */
    uint64_t correct[EV_MAX_ORDER] = {0}, guess[EV_MAX_ORDER] = {0};
    uint64_t testlen = 0, reflen = 0;
    for (int i = 0; i < c->n; i++) {
        size_t cs = c->item_off[i], tl = ev_sent_len(c, cs);
        testlen += tl;
        reflen += closest_ref_len(c, i, tl);
        for (size_t k = 0; k < EV_MAX_ORDER; k++) guess[k] += tl > k ? tl - k : 0;
        for (size_t j = c->ng_off[cs]; j < c->ng_off[cs + 1]; j++) {
            uint32_t id = c->ng_id[j], max_ref = 0;
            for (size_t s = cs + 1; s < c->item_off[i + 1]; s++) {
                uint32_t k = count_in(c, s, id);
                if (k > max_ref) max_ref = k;
            }
            uint32_t cnt = c->ng_cnt[j];
            correct[c->ng_order[id] - 1] += cnt < max_ref ? cnt : max_ref;
        }
    }
    double ratio = ((double)testlen + tiny) / ((double)reflen + small);
    double bp = ratio < 1.0 ? exp(1.0 - 1.0 / ratio) : 1.0;
    double prod = 1.0;
    for (int k = 0; k < EV_MAX_ORDER; k++) {
        prod *= ((double)correct[k] + tiny) / ((double)guess[k] + small);
        bleu[k] = pow(prod, 1.0 / (k + 1)) * bp;
    }
    return VIMO_OK;
}
