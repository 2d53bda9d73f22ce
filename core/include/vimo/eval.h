/*
 * vimo/eval.h - evaluation metrics: caption scores with the coco-caption
 * definitions (BLEU-1..4, ROUGE-L, CIDEr-D) and QA accuracy with a
 * majority-answer baseline.
 *
 * Contract:
 * - Captions are plain NUL-terminated UTF-8 (or any byte) strings. They are
 *   tokenised by vimo_caption_tokenize (below), NOT by Stanford PTBTokenizer;
 *   docs/metrics.md lists the differences. After tokenisation every formula
 *   follows pycocoevalcap (github.com/tylin/coco-caption, pycocoevalcap/
 *   bleu/bleu_scorer.py, rouge/rouge.py, cider/cider_scorer.py) exactly,
 *   including its epsilons and quirks, so numbers are comparable with papers
 *   that report "coco-caption" BLEU/ROUGE-L/CIDEr.
 *   BLEU and ROUGE-L are fractions in [0, 1]; CIDEr-D carries coco-caption's
 *   factor 10 (at most 10). Scale (e.g. x100) once, when printing.
 * - Item i of a corpus is one candidate cands[i] and its n_refs[i] >= 1
 *   references refs[i][0..n_refs[i]). Corpus scores need the whole corpus:
 *   BLEU sums clipped counts over it and CIDEr-D's document frequencies come
 *   from all of its references, so scoring halves and averaging is wrong.
 * - QA accuracy is exact match after vimo_qa_normalize, with the yes/no rule
 *   of vimo_qa_match; every accuracy comes with the majority-answer baseline
 *   from a "train" answer list, computed by the same matcher.
 * - Limits (hostile input is refused, never truncated silently):
 *   VIMO_EVAL_MAX_TOKENS tokens per caption, VIMO_EVAL_MAX_REFS references
 *   per item, VIMO_EVAL_MAX_ITEMS items, VIMO_QA_MAX_ANSWER_BYTES per answer.
 * - Not thread-safe per object; distinct objects/calls may run concurrently.
 */
#ifndef VIMO_EVAL_H
#define VIMO_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "vimo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VIMO_EVAL_MAX_TOKENS 4096          /* per caption                      */
#define VIMO_EVAL_MAX_REFS 1024            /* references per item              */
#define VIMO_EVAL_MAX_ITEMS (1 << 22)      /* items per corpus                 */
#define VIMO_QA_MAX_ANSWER_BYTES (1 << 16) /* per answer or category string   */
#define VIMO_QA_MAX_RECORDS (1 << 26)      /* test + train answers per object */

/* Corpus-level caption scores. */
typedef struct vimo_caption_result {
    double bleu[4]; /* BLEU-1..4, corpus level, "closest" ref length, [0, 1] */
    double rouge_l; /* mean over items of ROUGE-L F (beta 1.2), [0, 1]        */
    double cider_d; /* mean over items of CIDEr-D (sigma 6, x10), [0, 10]     */
    int n_items;    /* items scored                                           */
} vimo_caption_result;

/* Tokenises one caption the way every metric here sees it, writing the tokens
 * joined by single spaces to out (NUL-terminated).
 * Rule: ASCII letters and digits, every byte >= 0x80 (so UTF-8 words stay
 * whole) and the apostrophe are word characters; every other byte separates
 * tokens. A–Z are lowercased (bytes >= 0x80 are kept as they are). Leading
 * and trailing apostrophes are stripped from each token (quotes), so "man's"
 * stays one token while 'walk' becomes walk; a token of only apostrophes
 * vanishes. The output is never longer than the input: out needs
 * strlen(text) + 1 bytes.
 * text: caption (NUL-terminated); out: (cap) bytes; n_tokens: may be NULL.
 * Errors: VIMO_ERR_INVALID for NULL text/out or cap too small for the output. */
VIMO_API vimo_status vimo_caption_tokenize(const char *text, char *out, size_t cap,
                                           size_t *n_tokens);

/* BLEU-1..4, ROUGE-L and CIDEr-D of a corpus of n items, as pycocoevalcap's
 * Bleu(4) / Rouge() / Cider() compute them on already-tokenised text (see the
 * header banner; formulas and quirks are written out in docs/metrics.md).
 * cands: (n) candidate captions; refs: (n) arrays, refs[i] holds (n_refs[i])
 * reference captions; n_refs: (n), each in [1, VIMO_EVAL_MAX_REFS].
 * n in [1, VIMO_EVAL_MAX_ITEMS]. out: written only on success.
 * CIDEr-D uses log(n) as the idf reference size, so a 1-item corpus scores
 * 0 (as pycocoevalcap does); score corpora, not single captions.
 * Errors: VIMO_ERR_INVALID for NULL pointers (naming the item, e.g.
 * "caption_scores: refs[3][1] is NULL"), n or n_refs out of range, or a
 * caption over VIMO_EVAL_MAX_TOKENS tokens; VIMO_ERR_NOMEM. */
VIMO_API vimo_status vimo_caption_scores(const char *const *cands,
                                         const char *const *const *refs, const int *n_refs,
                                         int n, vimo_caption_result *out);

/* As vimo_caption_scores, and also writes the per-item ROUGE-L and CIDEr-D
 * (whose means are out->rouge_l and out->cider_d), for per-item analysis or
 * bootstrap intervals. rouge_l_items, cider_d_items: (n) each, or NULL. */
VIMO_API vimo_status vimo_caption_scores_ex(const char *const *cands,
                                            const char *const *const *refs,
                                            const int *n_refs, int n, vimo_caption_result *out,
                                            double *rouge_l_items, double *cider_d_items);

/* ---- QA accuracy ------------------------------------------------------- */

/* Normalises a QA answer for exact matching, writing it to out:
 * 1. A–Z lowercased (bytes >= 0x80 kept as they are);
 * 2. apostrophes deleted ("don't" -> "dont", "man's" -> "mans");
 * 3. every other ASCII punctuation byte becomes a space, except a '.' or ','
 *    between two digits ("1.5", "1,000" stay);
 * 4. split on whitespace; the articles "a", "an", "the" are dropped and the
 *    number words "zero".."ten" become digits ("two" -> "2");
 * 5. tokens joined by single spaces.
 * Follows the spirit of the VQA evaluation's answer processing (articles,
 * number words, punctuation) in a smaller, documented form.
 * out needs strlen(answer) + 1 bytes (the output is never longer).
 * Errors: VIMO_ERR_INVALID for NULL pointers, an answer over
 * VIMO_QA_MAX_ANSWER_BYTES, or cap too small. */
VIMO_API vimo_status vimo_qa_normalize(const char *answer, char *out, size_t cap);

/* 1 when predicted answers gold, 0 when not, -1 on error (NULL, too long).
 * Both are normalised first. If the normalised gold is exactly "yes" or "no",
 * only the FIRST word of the normalised prediction is compared ("Yes, he
 * waves both hands." answers "yes"); otherwise the whole normalised strings
 * must be equal. */
VIMO_API int vimo_qa_match(const char *predicted, const char *gold);

typedef struct vimo_qa_eval vimo_qa_eval;

/* One row of QA results: a category, or the overall row. Strings point into
 * the vimo_qa_eval and stay valid until its next add or its free. */
typedef struct vimo_qa_result {
    const char *category;      /* category name; NULL for the overall row     */
    int64_t n;                 /* test questions                              */
    int64_t correct;           /* predictions that match (vimo_qa_match)      */
    double accuracy;           /* correct / n, 0 when n == 0                  */
    const char *majority;      /* normalised majority train answer used; NULL
                                  when no train answers were added at all     */
    int64_t majority_correct;  /* test questions the majority answer matches  */
    double majority_accuracy;  /* majority_correct / n, 0 when n == 0         */
    int majority_is_fallback;  /* 1: the category had no train answers, so the
                                  overall majority answer was used            */
} vimo_qa_result;

/* Creates an empty accumulator. Errors: VIMO_ERR_INVALID (out NULL),
 * VIMO_ERR_NOMEM. The caller frees it with vimo_qa_eval_free. */
VIMO_API vimo_status vimo_qa_eval_new(vimo_qa_eval **out);
/* Frees; NULL is a no-op. */
VIMO_API void vimo_qa_eval_free(vimo_qa_eval *ev);

/* Adds one "train" answer of a category; only used for the majority baseline:
 * the majority answer of a category is its most frequent NORMALISED train
 * answer (ties: the byte-wise smallest string, so input order never matters).
 * Errors: VIMO_ERR_INVALID (NULL, over VIMO_QA_MAX_ANSWER_BYTES, more than
 * VIMO_QA_MAX_RECORDS answers), VIMO_ERR_NOMEM. */
VIMO_API vimo_status vimo_qa_eval_add_train(vimo_qa_eval *ev, const char *category,
                                            const char *answer);

/* Adds one test question: its category, the model's prediction and the gold
 * answer. Errors as vimo_qa_eval_add_train. */
VIMO_API vimo_status vimo_qa_eval_add(vimo_qa_eval *ev, const char *category,
                                      const char *predicted, const char *gold);

/* Number of categories that have at least one test question (categories seen
 * only in train answers are not rows). 0 for NULL. */
VIMO_API size_t vimo_qa_eval_n_categories(vimo_qa_eval *ev);

/* Row i, categories in byte-wise name order, i < vimo_qa_eval_n_categories.
 * The category's majority baseline applies its majority train answer to each
 * of its test questions; a category with no train answers falls back to the
 * overall majority train answer (majority_is_fallback = 1).
 * Errors: VIMO_ERR_INVALID (NULL, i out of range), VIMO_ERR_NOMEM. */
VIMO_API vimo_status vimo_qa_eval_category(vimo_qa_eval *ev, size_t i, vimo_qa_result *out);

/* The overall row: every test question. majority_correct sums the
 * per-category baselines (each question answered with ITS category's majority
 * answer); majority names the overall majority train answer.
 * Errors: VIMO_ERR_INVALID (NULL), VIMO_ERR_NOMEM. */
VIMO_API vimo_status vimo_qa_eval_overall(vimo_qa_eval *ev, vimo_qa_result *out);

#ifdef __cplusplus
}
#endif
#endif /* VIMO_EVAL_H */
