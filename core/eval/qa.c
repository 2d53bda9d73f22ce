/*
 * qa.c - QA accuracy per category and overall, each beside a majority-answer
 * baseline (the most frequent normalised train answer of the category,
 * applied to every test question of that category).
 *
 * Matching is exact after vimo_qa_normalize, with the yes/no first-word rule
 * (see vimo/eval.h). Deliberately no soft VQA accuracy (min(#humans/3, 1)),
 * no synonym lists and no LLM-judged matching: numbers here are reproducible
 * from the strings alone.
 */
#include <stdlib.h>
#include <string.h>

#include "eval_internal.h"

struct vimo_qa_eval {
    ev_intern cats;      /* category names (raw, not normalised)              */
    ev_intern answers;   /* normalised answers, train and gold alike           */
    ev_intern pairs;     /* train (category id, answer id) pairs               */
    uint32_t *pair_cnt;  /* (pairs.count) train count of each pair            */
    size_t pair_cap;
    uint32_t *ans_cnt;   /* (answers.count) train count of each answer, all cats */
    size_t ans_cap;
    uint32_t *rec_cat, *rec_gold; /* (n_rec) test questions                    */
    uint8_t *rec_ok;              /* (n_rec) prediction matched               */
    size_t n_rec, rec_cap;
    size_t n_train;
    /* Results, rebuilt after any add (dirty). Per category id: */
    int dirty;
    int64_t *n, *correct, *maj_correct;
    int64_t *maj;        /* majority answer id used, -1 none                   */
    uint8_t *fallback;
    uint32_t *rows;      /* category ids with test questions, by name          */
    size_t n_rows;
    int64_t global_maj;  /* overall majority train answer id, -1 none          */
};

/* ---- normalisation ------------------------------------------------------ */

static int is_ascii_punct(unsigned char c)
{
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
           (c >= 123 && c <= 126);
}
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_space(unsigned char c) { return c <= ' ' || c == 0x7f; }

/* Steps 1-3 of vimo_qa_normalize: lowercase, drop apostrophes, punctuation to
 * spaces (keeping '.' and ',' between digits). */
static size_t clean_bytes(const char *in, size_t len, char *out)
{
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        char c = ev_lower(in[i]);
        if (c == '\'') continue;
        int keep_sep = (c == '.' || c == ',') && i > 0 && is_digit(in[i - 1]) && is_digit(in[i + 1]);
        if (is_space((unsigned char)c) || (is_ascii_punct((unsigned char)c) && !keep_sep)) c = ' ';
        out[w++] = c;
    }
    return w;
}

static const char *const NUMBER_WORDS[] = {"zero", "one", "two",   "three", "four", "five",
                                           "six",  "seven", "eight", "nine", "ten"};

/* Step 4 for one word: NULL to drop it, else the replacement (or w itself). */
static const char *map_word(const char *w, size_t len, char digits[3], size_t *out_len)
{
    static const char *const articles[] = {"a", "an", "the"};
    for (size_t k = 0; k < 3; k++)
        if (strlen(articles[k]) == len && memcmp(w, articles[k], len) == 0) return NULL;
    *out_len = len;
    for (int k = 0; k <= 10; k++) {
        if (strlen(NUMBER_WORDS[k]) == len && memcmp(w, NUMBER_WORDS[k], len) == 0) {
            digits[0] = k == 10 ? '1' : (char)('0' + k);
            digits[1] = k == 10 ? '0' : '\0';
            *out_len = k == 10 ? 2 : 1;
            return digits;
        }
    }
    return w;
}

/* Normalises in (len bytes) into out (>= len + 1 bytes); returns the length. */
static size_t normalize_into(const char *in, size_t len, char *out)
{
    size_t n = clean_bytes(in, len, out), w = 0, i = 0;
    while (i < n) {
        while (i < n && out[i] == ' ') i++;
        size_t b = i;
        while (i < n && out[i] != ' ') i++;
        if (i == b) break;
        char digits[3];
        size_t wl = 0;
        const char *rep = map_word(out + b, i - b, digits, &wl);
        if (!rep) continue;
        if (w) out[w++] = ' ';
        memmove(out + w, rep, wl); /* w <= b: writing never overtakes reading */
        w += wl;
    }
    out[w] = '\0';
    return w;
}

static vimo_status check_answer(const char *s, const char *what, const char *op, size_t *len)
{
    if (!s) return vimo_error(VIMO_ERR_INVALID, "%s: %s is NULL", op, what);
    *len = strnlen(s, (size_t)VIMO_QA_MAX_ANSWER_BYTES + 1);
    if (*len > VIMO_QA_MAX_ANSWER_BYTES)
        return vimo_error(VIMO_ERR_INVALID, "%s: %s longer than %d bytes", op, what,
                          VIMO_QA_MAX_ANSWER_BYTES);
    return VIMO_OK;
}

vimo_status vimo_qa_normalize(const char *answer, char *out, size_t cap)
{
    vimo_status st = VIMO_OK;
    size_t len = 0;
    char *tmp = NULL;
    VIMO_TRY(check_answer(answer, "answer", "qa_normalize", &len));
    if (!out) return vimo_error(VIMO_ERR_INVALID, "qa_normalize: out is NULL");
    if (!(tmp = malloc(len + 1))) return vimo_error(VIMO_ERR_NOMEM, "qa_normalize: %zu bytes", len);
    size_t w = normalize_into(answer, len, tmp);
    if (w + 1 > cap) {
        st = vimo_error(VIMO_ERR_INVALID, "qa_normalize: needs %zu bytes, cap is %zu", w + 1, cap);
        goto fail;
    }
    memcpy(out, tmp, w + 1);
fail:
    free(tmp);
    return st;
}

/* The matching rule on already-normalised strings. */
static int match_norm(const char *pred, const char *gold)
{
    if (strcmp(gold, "yes") == 0 || strcmp(gold, "no") == 0) {
        size_t first = strcspn(pred, " ");
        return first == strlen(gold) && memcmp(pred, gold, first) == 0;
    }
    return strcmp(pred, gold) == 0;
}

int vimo_qa_match(const char *predicted, const char *gold)
{
    size_t lp = 0, lg = 0;
    if (check_answer(predicted, "predicted", "qa_match", &lp) != VIMO_OK ||
        check_answer(gold, "gold", "qa_match", &lg) != VIMO_OK)
        return -1;
    char *p = malloc(lp + 1), *g = malloc(lg + 1);
    int r = -1;
    if (p && g) {
        normalize_into(predicted, lp, p);
        normalize_into(gold, lg, g);
        r = match_norm(p, g);
    } else {
        vimo_error(VIMO_ERR_NOMEM, "qa_match: %zu bytes", lp + lg + 2);
    }
    free(p);
    free(g);
    return r;
}

/* ---- accumulator -------------------------------------------------------- */

static void free_results(vimo_qa_eval *ev)
{
    free(ev->n);
    free(ev->correct);
    free(ev->maj_correct);
    free(ev->maj);
    free(ev->fallback);
    free(ev->rows);
    ev->n = ev->correct = ev->maj_correct = ev->maj = NULL;
    ev->fallback = NULL;
    ev->rows = NULL;
    ev->n_rows = 0;
}

void vimo_qa_eval_free(vimo_qa_eval *ev)
{
    if (!ev) return;
    ev_intern_free(&ev->cats);
    ev_intern_free(&ev->answers);
    ev_intern_free(&ev->pairs);
    free(ev->pair_cnt);
    free(ev->ans_cnt);
    free(ev->rec_cat);
    free(ev->rec_gold);
    free(ev->rec_ok);
    free_results(ev);
    free(ev);
}

vimo_status vimo_qa_eval_new(vimo_qa_eval **out)
{
    if (!out) return vimo_error(VIMO_ERR_INVALID, "qa_eval_new: out is NULL");
    vimo_qa_eval *ev = calloc(1, sizeof *ev);
    if (!ev) return vimo_error(VIMO_ERR_NOMEM, "qa_eval_new: %zu bytes", sizeof *ev);
    ev_intern_init(&ev->cats);
    ev_intern_init(&ev->answers);
    ev_intern_init(&ev->pairs);
    ev->dirty = 1;
    *out = ev;
    return VIMO_OK;
}

/* Grows a zero-filled counter array so that index `need - 1` exists. */
static vimo_status grow_zeroed(void **p, size_t *cap, size_t need, size_t elem, const char *op)
{
    if (need <= *cap) return VIMO_OK;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    char *q = realloc(*p, nc * elem);
    if (!q) return vimo_error(VIMO_ERR_NOMEM, "%s: %zu entries", op, nc);
    memset(q + *cap * elem, 0, (nc - *cap) * elem);
    *p = q;
    *cap = nc;
    return VIMO_OK;
}

/* Interns the category and the normalised answer. */
static vimo_status intern_pair(vimo_qa_eval *ev, const char *category, size_t cat_len,
                               const char *answer, size_t ans_len, uint32_t *cat,
                               uint32_t *ans, const char *op)
{
    vimo_status st = VIMO_OK;
    char *norm = malloc(ans_len + 1);
    if (!norm) return vimo_error(VIMO_ERR_NOMEM, "%s: %zu bytes", op, ans_len);
    size_t nl = normalize_into(answer, ans_len, norm);
    VIMO_TRY(ev_intern_put(&ev->cats, category, (uint32_t)cat_len, cat, NULL, op));
    VIMO_TRY(ev_intern_put(&ev->answers, norm, (uint32_t)nl, ans, NULL, op));
    VIMO_TRY(grow_zeroed((void **)&ev->ans_cnt, &ev->ans_cap, (size_t)*ans + 1,
                         sizeof *ev->ans_cnt, op));
fail:
    free(norm);
    return st;
}

static vimo_status check_room(const vimo_qa_eval *ev, const char *op)
{
    if (!ev) return vimo_error(VIMO_ERR_INVALID, "%s: ev is NULL", op);
    if (ev->n_rec + ev->n_train >= VIMO_QA_MAX_RECORDS)
        return vimo_error(VIMO_ERR_INVALID, "%s: more than %d answers", op, VIMO_QA_MAX_RECORDS);
    return VIMO_OK;
}

vimo_status vimo_qa_eval_add_train(vimo_qa_eval *ev, const char *category, const char *answer)
{
    vimo_status st = VIMO_OK;
    const char *op = "qa_eval_add_train";
    size_t lc = 0, la = 0;
    uint32_t cat, ans, key[2], pair;
    VIMO_TRY(check_room(ev, op));
    VIMO_TRY(check_answer(category, "category", op, &lc));
    VIMO_TRY(check_answer(answer, "answer", op, &la));
    ev->dirty = 1;
    VIMO_TRY(intern_pair(ev, category, lc, answer, la, &cat, &ans, op));
    key[0] = cat;
    key[1] = ans;
    VIMO_TRY(ev_intern_put(&ev->pairs, key, sizeof key, &pair, NULL, op));
    VIMO_TRY(grow_zeroed((void **)&ev->pair_cnt, &ev->pair_cap, (size_t)pair + 1,
                         sizeof *ev->pair_cnt, op));
    ev->pair_cnt[pair]++;
    ev->ans_cnt[ans]++;
    ev->n_train++;
fail:
    return st;
}

static vimo_status grow_records(vimo_qa_eval *ev, const char *op)
{
    if (ev->n_rec < ev->rec_cap) return VIMO_OK;
    size_t nc = ev->rec_cap ? ev->rec_cap * 2 : 256;
    uint32_t *c = realloc(ev->rec_cat, nc * sizeof *c);
    if (c) ev->rec_cat = c;
    uint32_t *g = realloc(ev->rec_gold, nc * sizeof *g);
    if (g) ev->rec_gold = g;
    uint8_t *k = realloc(ev->rec_ok, nc);
    if (k) ev->rec_ok = k;
    if (!c || !g || !k) return vimo_error(VIMO_ERR_NOMEM, "%s: %zu questions", op, nc);
    ev->rec_cap = nc;
    return VIMO_OK;
}

vimo_status vimo_qa_eval_add(vimo_qa_eval *ev, const char *category, const char *predicted,
                             const char *gold)
{
    vimo_status st = VIMO_OK;
    const char *op = "qa_eval_add";
    size_t lc = 0, lp = 0, lg = 0;
    uint32_t cat, ans;
    char *pred = NULL;
    VIMO_TRY(check_room(ev, op));
    VIMO_TRY(check_answer(category, "category", op, &lc));
    VIMO_TRY(check_answer(predicted, "predicted", op, &lp));
    VIMO_TRY(check_answer(gold, "gold", op, &lg));
    ev->dirty = 1;
    VIMO_TRY(grow_records(ev, op));
    VIMO_TRY(intern_pair(ev, category, lc, gold, lg, &cat, &ans, op));
    if (!(pred = malloc(lp + 1))) {
        st = vimo_error(VIMO_ERR_NOMEM, "%s: %zu bytes", op, lp);
        goto fail;
    }
    normalize_into(predicted, lp, pred);
    ev->rec_cat[ev->n_rec] = cat;
    ev->rec_gold[ev->n_rec] = ans;
    ev->rec_ok[ev->n_rec] = (uint8_t)match_norm(pred, ev_intern_key(&ev->answers, ans, NULL));
    ev->n_rec++;
fail:
    free(pred);
    return st;
}

/* ---- results ------------------------------------------------------------ */

static const char *ans_str(const vimo_qa_eval *ev, int64_t a)
{
    return a < 0 ? NULL : ev_intern_key(&ev->answers, (uint32_t)a, NULL);
}

/* Better majority candidate: higher count, then the byte-wise smaller string. */
static int beats(const vimo_qa_eval *ev, uint32_t cnt, uint32_t a, uint32_t best_cnt, int64_t best)
{
    if (best < 0 || cnt > best_cnt) return 1;
    return cnt == best_cnt && strcmp(ans_str(ev, a), ans_str(ev, best)) < 0;
}

static void find_majorities(vimo_qa_eval *ev, uint32_t *best_cnt)
{
    ev->global_maj = -1;
    uint32_t g_cnt = 0;
    for (uint32_t a = 0; a < ev->answers.count; a++)
        if (ev->ans_cnt[a] && beats(ev, ev->ans_cnt[a], a, g_cnt, ev->global_maj)) {
            ev->global_maj = a;
            g_cnt = ev->ans_cnt[a];
        }
    for (uint32_t p = 0; p < ev->pairs.count; p++) {
        uint32_t key[2];
        memcpy(key, ev_intern_key(&ev->pairs, p, NULL), sizeof key);
        if (beats(ev, ev->pair_cnt[p], key[1], best_cnt[key[0]], ev->maj[key[0]])) {
            ev->maj[key[0]] = key[1];
            best_cnt[key[0]] = ev->pair_cnt[p];
        }
    }
    for (uint32_t c = 0; c < ev->cats.count; c++) {
        ev->fallback[c] = ev->maj[c] < 0 && ev->global_maj >= 0;
        if (ev->maj[c] < 0) ev->maj[c] = ev->global_maj;
    }
}

typedef struct named_row {
    const char *name;
    uint32_t id;
} named_row;

static int cmp_row(const void *a, const void *b)
{
    return strcmp(((const named_row *)a)->name, ((const named_row *)b)->name);
}

/* Orders ev->rows by category name. */
static vimo_status sort_rows(vimo_qa_eval *ev)
{
    named_row *tmp = malloc((ev->n_rows ? ev->n_rows : 1) * sizeof *tmp);
    if (!tmp) return vimo_error(VIMO_ERR_NOMEM, "qa_eval: sorting %zu categories", ev->n_rows);
    for (size_t r = 0; r < ev->n_rows; r++)
        tmp[r] = (named_row){ev_intern_key(&ev->cats, ev->rows[r], NULL), ev->rows[r]};
    qsort(tmp, ev->n_rows, sizeof *tmp, cmp_row);
    for (size_t r = 0; r < ev->n_rows; r++) ev->rows[r] = tmp[r].id;
    free(tmp);
    return VIMO_OK;
}

static void tally(vimo_qa_eval *ev)
{
    for (size_t r = 0; r < ev->n_rec; r++) {
        uint32_t c = ev->rec_cat[r];
        ev->n[c]++;
        ev->correct[c] += ev->rec_ok[r];
        const char *maj = ans_str(ev, ev->maj[c]);
        if (maj && match_norm(maj, ans_str(ev, ev->rec_gold[r]))) ev->maj_correct[c]++;
    }
    ev->n_rows = 0;
    for (uint32_t c = 0; c < ev->cats.count; c++)
        if (ev->n[c]) ev->rows[ev->n_rows++] = c;
}

static vimo_status refresh(vimo_qa_eval *ev)
{
    if (!ev->dirty) return VIMO_OK;
    free_results(ev);
    size_t nc = ev->cats.count ? ev->cats.count : 1;
    uint32_t *best_cnt = calloc(nc, sizeof *best_cnt);
    ev->n = calloc(nc, sizeof *ev->n);
    ev->correct = calloc(nc, sizeof *ev->correct);
    ev->maj_correct = calloc(nc, sizeof *ev->maj_correct);
    ev->maj = malloc(nc * sizeof *ev->maj);
    ev->fallback = calloc(nc, 1);
    ev->rows = malloc(nc * sizeof *ev->rows);
    if (!best_cnt || !ev->n || !ev->correct || !ev->maj_correct || !ev->maj || !ev->fallback ||
        !ev->rows) {
        free(best_cnt);
        free_results(ev);
        return vimo_error(VIMO_ERR_NOMEM, "qa_eval: results for %zu categories", nc);
    }
    for (size_t c = 0; c < nc; c++) ev->maj[c] = -1;
    find_majorities(ev, best_cnt);
    free(best_cnt);
    tally(ev);
    vimo_status st = sort_rows(ev);
    if (st != VIMO_OK) {
        free_results(ev);
        return st;
    }
    ev->dirty = 0;
    return VIMO_OK;
}

static void fill_row(vimo_qa_result *out, const char *category, int64_t n, int64_t correct,
                     int64_t maj_correct)
{
    out->category = category;
    out->n = n;
    out->correct = correct;
    out->accuracy = n ? (double)correct / (double)n : 0.0;
    out->majority_correct = maj_correct;
    out->majority_accuracy = n ? (double)maj_correct / (double)n : 0.0;
}

size_t vimo_qa_eval_n_categories(vimo_qa_eval *ev)
{
    if (!ev || refresh(ev) != VIMO_OK) return 0;
    return ev->n_rows;
}

vimo_status vimo_qa_eval_category(vimo_qa_eval *ev, size_t i, vimo_qa_result *out)
{
    vimo_status st = VIMO_OK;
    if (!ev || !out) return vimo_error(VIMO_ERR_INVALID, "qa_eval_category: %s is NULL",
                                       ev ? "out" : "ev");
    VIMO_TRY(refresh(ev));
    if (i >= ev->n_rows)
        return vimo_error(VIMO_ERR_INVALID, "qa_eval_category: row %zu of %zu", i, ev->n_rows);
    uint32_t c = ev->rows[i];
    fill_row(out, ev_intern_key(&ev->cats, c, NULL), ev->n[c], ev->correct[c], ev->maj_correct[c]);
    out->majority = ans_str(ev, ev->maj[c]);
    out->majority_is_fallback = ev->fallback[c];
fail:
    return st;
}

vimo_status vimo_qa_eval_overall(vimo_qa_eval *ev, vimo_qa_result *out)
{
    vimo_status st = VIMO_OK;
    if (!ev || !out) return vimo_error(VIMO_ERR_INVALID, "qa_eval_overall: %s is NULL",
                                       ev ? "out" : "ev");
    VIMO_TRY(refresh(ev));
    int64_t n = 0, correct = 0, maj_correct = 0;
    for (size_t r = 0; r < ev->n_rows; r++) {
        uint32_t c = ev->rows[r];
        n += ev->n[c];
        correct += ev->correct[c];
        maj_correct += ev->maj_correct[c];
    }
    fill_row(out, NULL, n, correct, maj_correct);
    out->majority = ans_str(ev, ev->global_maj);
    out->majority_is_fallback = 0;
fail:
    return st;
}
