/*
 * caption.c - builds the tokenised caption corpus (token ids, sorted n-gram
 * counts per sentence) and the public entry points vimo_caption_scores*.
 *
 * Tokens and n-grams (keys: 1..4 packed token ids) are interned once, so the
 * metrics (bleu.c, rouge.c, cider.c) compare integers and merge sorted lists.
 * Deliberately no metric arithmetic here.
 */
#include <stdlib.h>
#include <string.h>

#include "eval_internal.h"

#define OP "caption_scores"

void ev_corpus_free(ev_corpus *c)
{
    if (!c) return;
    free(c->item_off);
    free(c->tok_off);
    free(c->tok);
    free(c->ng_off);
    free(c->ng_id);
    free(c->ng_cnt);
    free(c->ng_order);
    memset(c, 0, sizeof *c);
}

static const char *sentence_text(const char *const *cands, const char *const *const *refs,
                                 int item, int r)
{
    return r < 0 ? cands[item] : refs[item][r];
}

/* Validates the arguments and counts sentences; names the bad one. */
static vimo_status check_args(const char *const *cands, const char *const *const *refs,
                              const int *n_refs, int n, size_t *n_sent)
{
    if (!cands || !refs || !n_refs)
        return vimo_error(VIMO_ERR_INVALID, OP ": %s is NULL",
                          !cands ? "cands" : !refs ? "refs" : "n_refs");
    if (n < 1 || n > VIMO_EVAL_MAX_ITEMS)
        return vimo_error(VIMO_ERR_INVALID, OP ": n = %d items, expected 1..%d", n,
                          VIMO_EVAL_MAX_ITEMS);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (!cands[i]) return vimo_error(VIMO_ERR_INVALID, OP ": cands[%d] is NULL", i);
        if (n_refs[i] < 1 || n_refs[i] > VIMO_EVAL_MAX_REFS)
            return vimo_error(VIMO_ERR_INVALID,
                              OP ": n_refs[%d] = %d, expected 1..%d (every item needs a reference)",
                              i, n_refs[i], VIMO_EVAL_MAX_REFS);
        if (!refs[i]) return vimo_error(VIMO_ERR_INVALID, OP ": refs[%d] is NULL", i);
        for (int r = 0; r < n_refs[i]; r++)
            if (!refs[i][r])
                return vimo_error(VIMO_ERR_INVALID, OP ": refs[%d][%d] is NULL", i, r);
        total += 1 + (size_t)n_refs[i];
    }
    *n_sent = total;
    return VIMO_OK;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

typedef struct builder {
    ev_intern words, grams;
    size_t tok_cap, ng_cap, cnt_cap, order_cap;
    uint32_t scratch[EV_MAX_ORDER * VIMO_EVAL_MAX_TOKENS]; /* one sentence's n-gram ids */
    char lower[256];                                        /* short-token buffer */
} builder;

static vimo_status grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return VIMO_OK;
    size_t nc = *cap ? *cap : 1024;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, nc * elem);
    if (!q) return vimo_error(VIMO_ERR_NOMEM, OP ": %zu x %zu bytes", nc, elem);
    *p = q;
    *cap = nc;
    return VIMO_OK;
}

/* Tokenises sentence s into c->tok (interning lowercased words). */
static vimo_status add_tokens(ev_corpus *c, builder *b, const char *text, size_t s,
                              int item, int r)
{
    vimo_status st = VIMO_OK;
    char *big = NULL;
    size_t pos = 0, start = 0, len = 0, at = c->tok_off[s];
    while (ev_token_next(text, &pos, &start, &len)) {
        if (at - c->tok_off[s] >= VIMO_EVAL_MAX_TOKENS) {
            st = r < 0 ? vimo_error(VIMO_ERR_INVALID, OP ": cands[%d]: more than %d tokens",
                                    item, VIMO_EVAL_MAX_TOKENS)
                       : vimo_error(VIMO_ERR_INVALID, OP ": refs[%d][%d]: more than %d tokens",
                                    item, r, VIMO_EVAL_MAX_TOKENS);
            goto fail;
        }
        if (len > UINT32_MAX / 2) {
            st = vimo_error(VIMO_ERR_INVALID, OP ": item %d: a %zu-byte token", item, len);
            goto fail;
        }
        char *w = b->lower;
        if (len > sizeof b->lower) {
            free(big);
            if (!(big = malloc(len))) {
                st = vimo_error(VIMO_ERR_NOMEM, OP ": %zu-byte token", len);
                goto fail;
            }
            w = big;
        }
        for (size_t k = 0; k < len; k++) w[k] = ev_lower(text[start + k]);
        VIMO_TRY(grow((void **)&c->tok, &b->tok_cap, at + 1, sizeof *c->tok));
        VIMO_TRY(ev_intern_put(&b->words, w, (uint32_t)len, &c->tok[at], NULL, OP));
        at++;
    }
    c->tok_off[s + 1] = at;
fail:
    free(big);
    return st;
}

/* Counts the 1..4-grams of sentence s into c->ng_* (sorted by id). */
static vimo_status add_ngrams(ev_corpus *c, builder *b, size_t s)
{
    vimo_status st = VIMO_OK;
    const uint32_t *t = c->tok + c->tok_off[s];
    size_t L = ev_sent_len(c, s), m = 0;
    for (size_t k = 1; k <= EV_MAX_ORDER; k++) {
        for (size_t j = 0; j + k <= L; j++) {
            int is_new = 0;
            uint32_t id;
            VIMO_TRY(ev_intern_put(&b->grams, t + j, (uint32_t)(k * sizeof *t), &id, &is_new, OP));
            if (is_new) {
                VIMO_TRY(grow((void **)&c->ng_order, &b->order_cap, (size_t)id + 1, 1));
                c->ng_order[id] = (uint8_t)k;
            }
            b->scratch[m++] = id;
        }
    }
    qsort(b->scratch, m, sizeof *b->scratch, cmp_u32);
    size_t at = c->ng_off[s];
    VIMO_TRY(grow((void **)&c->ng_id, &b->ng_cap, at + m, sizeof *c->ng_id));
    VIMO_TRY(grow((void **)&c->ng_cnt, &b->cnt_cap, at + m, sizeof *c->ng_cnt));
    for (size_t i = 0; i < m; i++) {
        if (i > 0 && b->scratch[i] == b->scratch[i - 1]) {
            c->ng_cnt[at - 1]++;
            continue;
        }
        c->ng_id[at] = b->scratch[i];
        c->ng_cnt[at++] = 1;
    }
    c->ng_off[s + 1] = at;
    c->n_ngrams = b->grams.count;
fail:
    return st;
}

vimo_status ev_corpus_build(ev_corpus *c, const char *const *cands,
                            const char *const *const *refs, const int *n_refs, int n)
{
    vimo_status st = VIMO_OK;
    builder *b = NULL;
    memset(c, 0, sizeof *c);
    size_t n_sent = 0;
    VIMO_TRY(check_args(cands, refs, n_refs, n, &n_sent));
    b = calloc(1, sizeof *b);
    c->item_off = malloc(((size_t)n + 1) * sizeof *c->item_off);
    c->tok_off = malloc((n_sent + 1) * sizeof *c->tok_off);
    c->ng_off = malloc((n_sent + 1) * sizeof *c->ng_off);
    if (!b || !c->item_off || !c->tok_off || !c->ng_off) {
        st = vimo_error(VIMO_ERR_NOMEM, OP ": %zu sentences", n_sent);
        goto fail;
    }
    ev_intern_init(&b->words);
    ev_intern_init(&b->grams);
    /* Never NULL, even for a corpus without a single token. */
    VIMO_TRY(grow((void **)&c->tok, &b->tok_cap, 1, sizeof *c->tok));
    VIMO_TRY(grow((void **)&c->ng_id, &b->ng_cap, 1, sizeof *c->ng_id));
    VIMO_TRY(grow((void **)&c->ng_cnt, &b->cnt_cap, 1, sizeof *c->ng_cnt));
    VIMO_TRY(grow((void **)&c->ng_order, &b->order_cap, 1, 1));
    c->n = n;
    c->n_sent = n_sent;
    c->tok_off[0] = c->ng_off[0] = 0;
    size_t s = 0;
    for (int i = 0; i < n; i++) {
        c->item_off[i] = s;
        for (int r = -1; r < n_refs[i]; r++, s++) {
            VIMO_TRY(add_tokens(c, b, sentence_text(cands, refs, i, r), s, i, r));
            VIMO_TRY(add_ngrams(c, b, s));
        }
    }
    c->item_off[n] = s;
fail:
    if (b) {
        ev_intern_free(&b->words);
        ev_intern_free(&b->grams);
        free(b);
    }
    if (st != VIMO_OK) ev_corpus_free(c);
    return st;
}

vimo_status vimo_caption_scores_ex(const char *const *cands, const char *const *const *refs,
                                   const int *n_refs, int n, vimo_caption_result *out,
                                   double *rouge_l_items, double *cider_d_items)
{
    vimo_status st = VIMO_OK;
    ev_corpus c;
    vimo_caption_result r;
    memset(&c, 0, sizeof c);
    memset(&r, 0, sizeof r);
    if (!out) return vimo_error(VIMO_ERR_INVALID, OP ": out is NULL");
    VIMO_TRY(ev_corpus_build(&c, cands, refs, n_refs, n));
    VIMO_TRY(ev_bleu(&c, r.bleu));
    VIMO_TRY(ev_rouge_l(&c, &r.rouge_l, rouge_l_items));
    VIMO_TRY(ev_cider_d(&c, &r.cider_d, cider_d_items));
    r.n_items = n;
    *out = r;
fail:
    ev_corpus_free(&c);
    return st;
}

vimo_status vimo_caption_scores(const char *const *cands, const char *const *const *refs,
                                const int *n_refs, int n, vimo_caption_result *out)
{
    return vimo_caption_scores_ex(cands, refs, n_refs, n, out, NULL, NULL);
}
