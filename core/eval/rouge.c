/*
 * rouge.c - ROUGE-L as coco-caption computes it (pycocoevalcap/rouge/
 * rouge.py, after Lin 2004): per item, the longest common subsequence (LCS)
 * of the candidate with each reference gives P = lcs/|cand| and
 * R = lcs/|ref|; P and R are maximised SEPARATELY over the references (they
 * may come from different references: coco-caption's choice, kept), and
 *   F = (1 + b^2) P R / (R + b^2 P), b = 1.2, F = 0 when P or R is 0.
 * The corpus score is the mean of F over items.
 * pycocoevalcap splits on " ", so an empty caption is one empty token; we
 * keep that: an empty side counts length 1, and two empty sides match
 * (LCS 1). Deliberately no ROUGE-N/W/S.
 */
#include <stdlib.h>

#include "eval_internal.h"

/* LCS length of a (na) and b (nb) with one row of (nb + 1) ints. */
static uint32_t lcs(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, uint32_t *row)
{
    for (size_t j = 0; j <= nb; j++) row[j] = 0;
    for (size_t i = 0; i < na; i++) {
        uint32_t diag = 0; /* row[j] of the previous i, before overwrite */
        for (size_t j = 1; j <= nb; j++) {
            uint32_t up = row[j];
            row[j] = a[i] == b[j - 1] ? diag + 1 : (up > row[j - 1] ? up : row[j - 1]);
            diag = up;
        }
    }
    return row[nb];
}

static double item_rouge(const ev_corpus *c, int i, uint32_t *row)
{
    const double beta = 1.2;
    size_t cs = c->item_off[i], lc = ev_sent_len(c, cs);
    const uint32_t *ct = c->tok + c->tok_off[cs];
    double p_max = 0.0, r_max = 0.0;
    for (size_t s = cs + 1; s < c->item_off[i + 1]; s++) {
        size_t lr = ev_sent_len(c, s);
        uint32_t m = (lc == 0 && lr == 0) ? 1 : lcs(ct, lc, c->tok + c->tok_off[s], lr, row);
        double p = m / (double)(lc ? lc : 1), r = m / (double)(lr ? lr : 1);
        if (p > p_max) p_max = p;
        if (r > r_max) r_max = r;
    }
    if (p_max == 0.0 || r_max == 0.0) return 0.0;
    return ((1 + beta * beta) * p_max * r_max) / (r_max + beta * beta * p_max);
}

vimo_status ev_rouge_l(const ev_corpus *c, double *mean, double *items)
{
    uint32_t *row = malloc((VIMO_EVAL_MAX_TOKENS + 1) * sizeof *row);
    if (!row) return vimo_error(VIMO_ERR_NOMEM, "caption_scores: rouge-l row");
    double sum = 0.0;
    for (int i = 0; i < c->n; i++) {
        double f = item_rouge(c, i, row);
        if (items) items[i] = f;
        sum += f;
    }
    *mean = sum / c->n;
    free(row);
    return VIMO_OK;
}
