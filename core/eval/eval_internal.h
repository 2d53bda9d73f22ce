/*
 * eval_internal.h - private to core/eval: the string interner, the caption
 * tokeniser's span iterator and the tokenised corpus the caption metrics
 * share. Not installed, not part of the ABI.
 */
#ifndef VIMO_EVAL_INTERNAL_H
#define VIMO_EVAL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "vimo/eval.h"

/* ---- interner: byte strings <-> dense ids 0..count-1 --------------------- */

typedef struct ev_intern {
    uint32_t *slots;  /* (cap) id + 1, 0 = empty; open addressing            */
    size_t cap;       /* power of two, >= 2 * count                           */
    uint32_t count;   /* ids handed out                                       */
    uint32_t id_cap;  /* capacity of off/len/hash                             */
    size_t *off;      /* (count) key offset in arena                          */
    uint32_t *len;    /* (count) key length in bytes                          */
    uint64_t *hash;   /* (count) key hash, kept for rehashing                 */
    char *arena;      /* keys, each followed by a NUL (strings read as C strs) */
    size_t arena_len, arena_cap;
} ev_intern;

void ev_intern_init(ev_intern *t);
void ev_intern_free(ev_intern *t);
/* Finds key or inserts it; *id gets its id. *is_new (may be NULL) says which.
 * Errors: VIMO_ERR_NOMEM (message names `op`). */
vimo_status ev_intern_put(ev_intern *t, const void *key, uint32_t len, uint32_t *id,
                          int *is_new, const char *op);
/* The key of id (NUL-terminated in the arena); *len (may be NULL) its length.
 * Valid until the next put. */
const char *ev_intern_key(const ev_intern *t, uint32_t id, uint32_t *len);

/* ---- caption tokeniser ---------------------------------------------------- */

/* Next token span of s at or after *pos: returns 1 and sets [*start, *start +
 * *len) (apostrophes already stripped from its ends), or 0 at the end. The
 * bytes still need lowercasing (ev_lower). */
int ev_token_next(const char *s, size_t *pos, size_t *start, size_t *len);
static inline char ev_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* ---- tokenised caption corpus --------------------------------------------- */

#define EV_MAX_ORDER 4 /* n-gram orders 1..4 (BLEU-4, CIDEr-D n = 4) */

/* Sentence s holds tokens tok[tok_off[s] .. tok_off[s+1]) and its n-gram
 * counts (orders 1..4 together) ng_id/ng_cnt[ng_off[s] .. ng_off[s+1]),
 * sorted by ascending n-gram id. Item i is sentence item_off[i] (the
 * candidate) followed by its references up to item_off[i+1]. */
typedef struct ev_corpus {
    int n;               /* items                                   */
    size_t n_sent;       /* sentences: n + sum of n_refs            */
    size_t *item_off;    /* (n + 1)                                 */
    size_t *tok_off;     /* (n_sent + 1)                            */
    uint32_t *tok;       /* (tok_off[n_sent]) token ids             */
    size_t *ng_off;      /* (n_sent + 1)                            */
    uint32_t *ng_id;     /* (ng_off[n_sent]) n-gram ids, ascending  */
    uint32_t *ng_cnt;    /* (ng_off[n_sent]) occurrence counts      */
    uint8_t *ng_order;   /* (n_ngrams) order 1..4 of each n-gram id */
    uint32_t n_ngrams;
} ev_corpus;

vimo_status ev_corpus_build(ev_corpus *c, const char *const *cands,
                            const char *const *const *refs, const int *n_refs, int n);
void ev_corpus_free(ev_corpus *c);

static inline size_t ev_sent_len(const ev_corpus *c, size_t s)
{
    return c->tok_off[s + 1] - c->tok_off[s];
}

/* The metrics (each on a built corpus; out arrays (c->n) may be NULL). */
vimo_status ev_bleu(const ev_corpus *c, double bleu[EV_MAX_ORDER]);
vimo_status ev_rouge_l(const ev_corpus *c, double *mean, double *items);
vimo_status ev_cider_d(const ev_corpus *c, double *mean, double *items);

#endif /* VIMO_EVAL_INTERNAL_H */
