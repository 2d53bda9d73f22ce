/*
 * test_caption_metrics.c - BLEU-1..4, ROUGE-L, CIDEr-D and the caption
 * tokeniser against numbers worked out by hand (in the comments) and against
 * the values nlg-eval's test suite publishes for pycocoevalcap
 * (Maluuba/nlg-eval, nlgeval/tests/test_nlgeval.py).
 *
 * Does not cover the ~20-caption cross-check with the Python reference
 * (test_eval_pyref.c) or QA accuracy (test_qa.c).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vimo/eval.h"

/* |got - want| <= tol, with both numbers printed when it fails. */
#define assert_close(got, want, tol)                                                \
    do {                                                                            \
        double g_ = (got), w_ = (want);                                             \
        if (!(fabs(g_ - w_) <= (tol)))                                              \
            fail_msg("%s = %.17g, expected %.17g (tol %g)", #got, g_, w_, (double)(tol)); \
    } while (0)

/* Relative closeness, for the tiny epsilon-driven BLEU-4 values. */
#define assert_rel(got, want, rtol) assert_close(got, want, fabs(want) * (rtol))

static vimo_caption_result score(const char *const *cands, const char *const *const *refs,
                                 const int *n_refs, int n)
{
    vimo_caption_result r;
    memset(&r, 0, sizeof r);
    vimo_status st = vimo_caption_scores(cands, refs, n_refs, n, &r);
    if (st != VIMO_OK) fail_msg("vimo_caption_scores: %s", vimo_last_error());
    assert_int_equal(r.n_items, n);
    return r;
}

/* ---- tokeniser ------------------------------------------------------------ */

static void expect_tokens(const char *in, const char *want, size_t want_n)
{
    char out[256];
    size_t n = 99;
    assert_int_equal(vimo_caption_tokenize(in, out, sizeof out, &n), VIMO_OK);
    assert_string_equal(out, want);
    assert_int_equal(n, want_n);
}

static void test_tokenize(void **state)
{
    (void)state;
    expect_tokens("A person walks forward.", "a person walks forward", 4);
    expect_tokens("  The man's arms;swing!  ", "the man's arms swing", 4);
    expect_tokens("'old' man -- walks''", "old man walks", 3);         /* quotes go */
    expect_tokens("t-shirt 7.5 push-ups", "t shirt 7 5 push ups", 6);  /* differs from PTB */
    expect_tokens("Le danseur tourne, très VITE", "le danseur tourne très vite", 5);
    expect_tokens("一个人 在 跳舞", "一个人 在 跳舞", 3);                  /* UTF-8 whole */
    expect_tokens("!!! ... ' ''", "", 0);
    expect_tokens("", "", 0);
}

static void test_tokenize_errors(void **state)
{
    (void)state;
    char out[8];
    size_t n;
    assert_int_equal(vimo_caption_tokenize(NULL, out, sizeof out, &n), VIMO_ERR_INVALID);
    assert_int_equal(vimo_caption_tokenize("abc", NULL, 8, &n), VIMO_ERR_INVALID);
    /* "hello world" needs 12 bytes. */
    assert_int_equal(vimo_caption_tokenize("hello world", out, sizeof out, &n), VIMO_ERR_INVALID);
    assert_non_null(strstr(vimo_last_error(), "caption_tokenize"));
    assert_int_equal(vimo_caption_tokenize("", out, 0, &n), VIMO_ERR_INVALID);
    assert_int_equal(vimo_caption_tokenize("x", out, 2, NULL), VIMO_OK);
}

/* ---- identical caption ------------------------------------------------------
 * cand = ref = "the man walks forward" (4 tokens), one item.
 * BLEU: correct = guess = (4, 3, 2, 1) so p_n = (g + 1e-15)/(g + 1e-9) = 1 -
 * O(1e-9); ratio = (4 + 1e-15)/(4 + 1e-9) is just below 1, BP = 1 - O(1e-10):
 * every BLEU-n is 1 within 1e-8.
 * ROUGE-L: LCS 4, P = R = 1, F = 2.44 / 2.44 = 1.
 * CIDEr-D: one item, log(N) = log 1 = 0, every tf-idf weight is 0: score 0
 * (pycocoevalcap gives 0 too; nlg-eval's tests assert it). */
static void test_identical(void **state)
{
    (void)state;
    const char *cands[] = {"The man walks forward."};
    const char *r0[] = {"the man walks forward"};
    const char *const *refs[] = {r0};
    int n_refs[] = {1};
    vimo_caption_result r = score(cands, refs, n_refs, 1);
    for (int k = 0; k < 4; k++) assert_close(r.bleu[k], 1.0, 1e-8);
    assert_close(r.rouge_l, 1.0, 1e-15);
    assert_close(r.cider_d, 0.0, 1e-15);
}

/* ---- BLEU: clipping, "closest" with its tie, brevity penalty ---------------
 * Item A: cand "the the the the" (4 tokens);
 *   refs "the the cat sat down" (5), "the dog ran" (3).
 *   closest ref length: |5-4| = |3-4| = 1, a tie -> the shorter: 3.
 *   1-grams: "the" x4, max ref count 2 (ref 1)      -> correct 2 of 4
 *   2-grams: "the the" x3, max ref count 1 (ref 1)  -> correct 1 of 3
 *   3-grams: "the the the" x2, in no ref            -> correct 0 of 2
 *   4-grams: "the the the the" x1                   -> correct 0 of 1
 * Item B: cand "a man runs" (3); refs "a man runs very fast" (5),
 *   "someone is running quickly now ok" (6): closest = 5.
 *   correct (3, 2, 1, 0) of guesses (3, 2, 1, 0).
 * Corpus: correct (5, 3, 1, 0), guess (7, 5, 3, 1), testlen 7, reflen 3+5 = 8.
 *   BP = exp(1 - 8/7) = exp(-1/7).
 *   BLEU-1 = 5/7 BP; BLEU-2 = sqrt(5/7 * 3/5) BP = sqrt(3/7) BP;
 *   BLEU-3 = (5/7 * 3/5 * 1/3)^(1/3) BP = (1/7)^(1/3) BP;
 *   BLEU-4 = (1/7 * (1e-15 / 1))^(1/4) BP   (pycocoevalcap's tiny epsilon).
 * Had the tie gone to the longer ref, reflen would be 10 and BP exp(-3/7). */
static void test_bleu_corpus(void **state)
{
    (void)state;
    const char *cands[] = {"the the the the", "a man runs"};
    const char *ra[] = {"the the cat sat down", "the dog ran"};
    const char *rb[] = {"a man runs very fast", "someone is running quickly now ok"};
    const char *const *refs[] = {ra, rb};
    int n_refs[] = {2, 2};
    vimo_caption_result r = score(cands, refs, n_refs, 2);
    double bp = exp(-1.0 / 7.0);
    assert_rel(r.bleu[0], 5.0 / 7.0 * bp, 1e-8);
    assert_rel(r.bleu[1], sqrt(3.0 / 7.0) * bp, 1e-8);
    assert_rel(r.bleu[2], cbrt(1.0 / 7.0) * bp, 1e-8);
    assert_rel(r.bleu[3], pow(1.0 / 7.0 * 1e-15, 0.25) * bp, 1e-6);
}

/* A candidate longer than its references gets no brevity penalty:
 * cand "a man runs fast" (4), ref "a man runs" (3): ratio 4/3 > 1.
 * correct (3, 2, 1, 0) of (4, 3, 2, 1): BLEU-1 = 3/4, BLEU-2 = sqrt(3/4*2/3)
 * = sqrt(1/2), BLEU-3 = (3/4*2/3*1/2)^(1/3) = (1/4)^(1/3). */
static void test_bleu_no_penalty(void **state)
{
    (void)state;
    const char *cands[] = {"a man runs fast"};
    const char *r0[] = {"a man runs"};
    const char *const *refs[] = {r0};
    int n_refs[] = {1};
    vimo_caption_result r = score(cands, refs, n_refs, 1);
    assert_rel(r.bleu[0], 0.75, 1e-8);
    assert_rel(r.bleu[1], sqrt(0.5), 1e-8);
    assert_rel(r.bleu[2], cbrt(0.25), 1e-8);
}

/* ---- ROUGE-L ------------------------------------------------------------------
 * Item 1: cand "a person walks slowly to the left" (7 tokens).
 *   ref 1 "person walks left" (3): LCS = person walks left = 3,
 *     P = 3/7, R = 3/3 = 1.
 *   ref 2 "a man walks to the left side" (7): LCS = a walks to the left = 5,
 *     P = 5/7, R = 5/7.
 *   coco-caption maximises P and R separately: P = 5/7 (ref 2), R = 1 (ref 1)
 *   F = (1 + 1.44) (5/7) 1 / (1 + 1.44 * 5/7) = 12.2 / 14.2 = 61/71.
 * Item 2: cand "x y", ref "z": LCS 0 -> F = 0.
 * Corpus: (61/71 + 0) / 2 = 61/142. */
static void test_rouge_l(void **state)
{
    (void)state;
    const char *cands[] = {"a person walks slowly to the left", "x y"};
    const char *r1[] = {"person walks left", "a man walks to the left side"};
    const char *r2[] = {"z"};
    const char *const *refs[] = {r1, r2};
    int n_refs[] = {2, 1};
    double per[2], cid[2];
    vimo_caption_result r;
    assert_int_equal(vimo_caption_scores_ex(cands, refs, n_refs, 2, &r, per, cid), VIMO_OK);
    assert_close(per[0], 61.0 / 71.0, 1e-14);
    assert_close(per[1], 0.0, 0.0);
    assert_close(r.rouge_l, 61.0 / 142.0, 1e-14);
}

/* Empty captions, as pycocoevalcap treats them ("".split(" ") == [""]):
 * an empty candidate against a non-empty reference scores 0; an empty
 * candidate against an empty (all-punctuation) reference is a 1-token match,
 * F = 1. BLEU and CIDEr-D see 0 tokens and must stay finite. */
static void test_rouge_empty(void **state)
{
    (void)state;
    const char *cands[] = {"", "?!"};
    const char *r1[] = {"a person kicks"};
    const char *r2[] = {"..."};
    const char *const *refs[] = {r1, r2};
    int n_refs[] = {1, 1};
    double per[2], cid[2];
    vimo_caption_result r;
    assert_int_equal(vimo_caption_scores_ex(cands, refs, n_refs, 2, &r, per, cid), VIMO_OK);
    assert_close(per[0], 0.0, 0.0);
    assert_close(per[1], 1.0, 0.0);
    for (int k = 0; k < 4; k++) assert_true(isfinite(r.bleu[k]) && r.bleu[k] >= 0.0);
    assert_close(cid[0], 0.0, 0.0);
    assert_close(cid[1], 0.0, 0.0);
}

/* ---- CIDEr-D: idf and cosine over 3 images ----------------------------------
 * img 1: cand "a man walks",  ref "a man walks"
 * img 2: cand "a woman runs", ref "a man runs"
 * img 3: cand "a woman jumps", ref "a woman jumps"
 * N = 3, weights w(g) = log 3 - log(max(1, df(g))), df over references only:
 *   "a": df 3 -> w 0;  "man", "a man": df 2 -> log 1.5;  every other n-gram
 *   of the references: df 1 -> log 3;  n-grams only in candidates
 *   ("woman runs"): df 0 -> log 3 as well.
 * img 1 and img 3: cand = ref, so for n = 1, 2, 3 the clipped dot product is
 *   |v|^2 and the cosine 1; no 4-grams (both norms 0 -> 0); equal bigram
 *   counts -> penalty 1.  Score = 10 * (1 + 1 + 1 + 0)/4 = 7.5.
 * img 2: 1-grams cand (a 0, woman L3, runs L3), ref (a 0, man L1.5, runs L3):
 *   dot = L3^2 (runs), |c| = sqrt(2) L3, |r| = sqrt(L1.5^2 + L3^2)
 *   cos1 = L3 / (sqrt(2) sqrt(L1.5^2 + L3^2)) = 0.66336897...
 *   2-grams {a woman, woman runs} vs {a man, man runs}: no overlap -> 0;
 *   3-grams: 0.  Score = 10 * cos1 / 4.
 * Corpus = (7.5 + 2.5 cos1 + 7.5) / 3 = 5.5528074769... */
static void test_cider_three_images(void **state)
{
    (void)state;
    const char *cands[] = {"a man walks", "a woman runs", "a woman jumps"};
    const char *r1[] = {"a man walks"}, *r2[] = {"a man runs"}, *r3[] = {"a woman jumps"};
    const char *const *refs[] = {r1, r2, r3};
    int n_refs[] = {1, 1, 1};
    double per[3], cid[3];
    vimo_caption_result r;
    assert_int_equal(vimo_caption_scores_ex(cands, refs, n_refs, 3, &r, per, cid), VIMO_OK);
    double l3 = log(3.0), l15 = log(1.5);
    double cos1 = l3 / (sqrt(2.0) * sqrt(l15 * l15 + l3 * l3));
    assert_close(cid[0], 7.5, 1e-12);
    assert_close(cid[1], 2.5 * cos1, 1e-12);
    assert_close(cid[2], 7.5, 1e-12);
    assert_close(r.cider_d, (15.0 + 2.5 * cos1) / 3.0, 1e-12);
    assert_close(r.cider_d, 5.552807476952875, 1e-12); /* the same, as a number */
}

/* ---- CIDEr-D: the "D" clipping and the Gaussian length penalty --------------
 * img 1: cand "man walks walks", ref "man walks";  img 2: cand = ref =
 * "woman runs".  N = 2: every reference n-gram has df 1 and every
 * candidate-only n-gram df 0, so every weight is L = log 2.
 * img 1, 1-grams: cand (man L, walks 2L), ref (man L, walks L).
 *   Clipped dot = min(L, L) L + min(2L, L) L = 2 L^2 (unclipped: 3 L^2),
 *   |c| = sqrt(5) L, |r| = sqrt(2) L -> 2 / sqrt(10).
 * 2-grams: cand (man walks L, walks walks L), ref (man walks L): L^2 /
 *   (sqrt(2) L * L) = 1/sqrt(2).  3-grams: the ref has none (norm 0) -> 0.
 * "length" = number of bigrams: 2 vs 1, delta 1 -> exp(-1 / (2 * 6^2)).
 *   score 1 = 10 exp(-1/72) (2/sqrt(10) + 1/sqrt(2)) / 4 = 3.3027147...
 * img 2: cos 1 for n = 1, 2 and 0 for 3, 4: score 2 = 10 * 2/4 = 5.
 * Corpus = (score 1 + 5) / 2. */
static void test_cider_clip_and_penalty(void **state)
{
    (void)state;
    const char *cands[] = {"man walks walks", "woman runs"};
    const char *r1[] = {"man walks"}, *r2[] = {"woman runs"};
    const char *const *refs[] = {r1, r2};
    int n_refs[] = {1, 1};
    double per[2], cid[2];
    vimo_caption_result r;
    assert_int_equal(vimo_caption_scores_ex(cands, refs, n_refs, 2, &r, per, cid), VIMO_OK);
    double s1 = 10.0 * exp(-1.0 / 72.0) * (2.0 / sqrt(10.0) + 1.0 / sqrt(2.0)) / 4.0;
    assert_close(cid[0], s1, 1e-12);
    assert_close(cid[1], 5.0, 1e-12);
    assert_close(r.cider_d, (s1 + 5.0) / 2.0, 1e-12);
}

/* Several references: the item score divides the summed similarities by the
 * number of references. img 1 has refs "a man walks" (identical) and
 * "a woman jumps" (the img-2 caption); img 2 is cand = ref "a woman jumps".
 * N = 2. df: a 2 (w 0), man 1, walks 1, woman 2 (w 0), jumps 2 (w 0),
 * a man 1, man walks 1, a woman 2 (w 0), woman jumps 2 (w 0), a man walks 1,
 * a woman jumps 2 (w 0).
 * img 1 vs ref 1: cos 1 for n = 1, 2, 3 (sum 3); vs ref 2: every shared
 *   n-gram ("a") has weight 0 and ref 2's norms are 0 -> 0. Score = 10 *
 *   (3/4) / 2 = 3.75.
 * img 2: every n-gram has weight 0 (all norms 0) -> 0. Corpus = 1.875. */
static void test_cider_two_refs(void **state)
{
    (void)state;
    const char *cands[] = {"a man walks", "a woman jumps"};
    const char *r1[] = {"a man walks", "a woman jumps"}, *r2[] = {"a woman jumps"};
    const char *const *refs[] = {r1, r2};
    int n_refs[] = {2, 1};
    double per[2], cid[2];
    vimo_caption_result r;
    assert_int_equal(vimo_caption_scores_ex(cands, refs, n_refs, 2, &r, per, cid), VIMO_OK);
    assert_close(cid[0], 3.75, 1e-12);
    assert_close(cid[1], 0.0, 1e-12);
    assert_close(r.cider_d, 1.875, 1e-12);
}

/* ---- published pycocoevalcap numbers (nlg-eval's test suite) -----------------
 * Maluuba/nlg-eval nlgeval/tests/test_nlgeval.py runs pycocoevalcap's Bleu(4),
 * Rouge() and Cider() on raw lowercase text and asserts these values to 5
 * places (|diff| < 5e-6). Our tokeniser leaves these sentences unchanged
 * (the French one only loses its '.', which every caption loses alike, and
 * the lowercased "Test" adds no match: see the per-metric notes below). */
#define PLACES5 5e-6

static void test_nlgeval_single(void **state)
{
    (void)state;
    const char *cands[] = {"this is a good test"};
    const char *r0[] = {"this is a test", "this is also a test"};
    const char *const *refs[] = {r0};
    int n_refs[] = {2};
    vimo_caption_result r = score(cands, refs, n_refs, 1);
    assert_close(r.bleu[0], 0.799999, PLACES5);
    assert_close(r.bleu[1], 0.632455, PLACES5);
    assert_close(r.bleu[2], 0.5108729, PLACES5);
    assert_close(r.bleu[3], 0.0000903602, PLACES5);
    assert_rel(r.bleu[3], 0.0000903602, 1e-5); /* the epsilon path, tighter */
    assert_close(r.rouge_l, 0.9070631, PLACES5);
    assert_close(r.cider_d, 0.0, PLACES5);
}

static void test_nlgeval_corpus(void **state)
{
    (void)state;
    const char *cands[] = {"this is the model generated sentence1 which seems good enough",
                           "this is sentence2 which has been generated by your model"};
    const char *r1[] = {"this is one reference sentence for sentence1",
                        "this is one more reference sentence for sentence1"};
    const char *r2[] = {"this is a reference sentence for sentence2 which was generated by your model",
                        "this is the second reference sentence for sentence2"};
    const char *const *refs[] = {r1, r2};
    int n_refs[] = {2, 2};
    vimo_caption_result r = score(cands, refs, n_refs, 2);
    assert_close(r.bleu[0], 0.55, PLACES5);
    assert_close(r.bleu[1], 0.428174, PLACES5);
    assert_close(r.bleu[2], 0.284043, PLACES5);
    assert_close(r.bleu[3], 0.201143, PLACES5);
    assert_close(r.rouge_l, 0.522104, PLACES5);
    assert_close(r.cider_d, 1.242192, PLACES5);
}

/* Non-ASCII. nlg-eval: ref ["Test en français.", "Le test en français."],
 * hyp "Le test est en français." -> BLEU 0.799999 / 0.632455 / 0.0000051 / 0,
 * ROUGE-L 0.9070631, CIDEr 0. Lowercasing "Test" only raises ref 1's recall
 * to 1, which ref 2 ("le test en français", LCS 4 of 4) already reaches, and
 * adds no n-gram the hypothesis shares. And "テスト" vs "テスト". */
static void test_nlgeval_unicode(void **state)
{
    (void)state;
    const char *cands[] = {"Le test est en français."};
    const char *r0[] = {"Test en français.", "Le test en français."};
    const char *const *refs[] = {r0};
    int n_refs[] = {2};
    vimo_caption_result r = score(cands, refs, n_refs, 1);
    assert_close(r.bleu[0], 0.799999, PLACES5);
    assert_close(r.bleu[1], 0.632455, PLACES5);
    assert_close(r.bleu[2], 0.0000051, PLACES5);
    assert_close(r.bleu[3], 0.0, PLACES5);
    assert_close(r.rouge_l, 0.9070631, PLACES5);
    assert_close(r.cider_d, 0.0, PLACES5);

    const char *jc[] = {"テスト"};
    const char *jr[] = {"テスト"};
    const char *const *jrefs[] = {jr};
    int jn[] = {1};
    r = score(jc, jrefs, jn, 1);
    assert_close(r.bleu[0], 0.99999999, PLACES5);
    assert_close(r.rouge_l, 1.0, 1e-3);
    assert_close(r.cider_d, 0.0, 1e-3);
}

/* ---- argument errors and hostile sizes --------------------------------------- */

static void test_errors(void **state)
{
    (void)state;
    vimo_caption_result r;
    const char *cands[] = {"a man walks", "a woman runs"};
    const char *r1[] = {"a man walks", NULL}, *r2[] = {"x"};
    const char *const *refs[] = {r1, r2};
    int n_refs[] = {1, 1};

    assert_int_equal(vimo_caption_scores(NULL, refs, n_refs, 2, &r), VIMO_ERR_INVALID);
    assert_int_equal(vimo_caption_scores(cands, NULL, n_refs, 2, &r), VIMO_ERR_INVALID);
    assert_int_equal(vimo_caption_scores(cands, refs, NULL, 2, &r), VIMO_ERR_INVALID);
    assert_int_equal(vimo_caption_scores(cands, refs, n_refs, 2, NULL), VIMO_ERR_INVALID);
    assert_int_equal(vimo_caption_scores(cands, refs, n_refs, 0, &r), VIMO_ERR_INVALID);
    assert_int_equal(vimo_caption_scores(cands, refs, n_refs, -5, &r), VIMO_ERR_INVALID);

    n_refs[1] = 0;
    assert_int_equal(vimo_caption_scores(cands, refs, n_refs, 2, &r), VIMO_ERR_INVALID);
    assert_non_null(strstr(vimo_last_error(), "n_refs[1] = 0"));
    n_refs[1] = VIMO_EVAL_MAX_REFS + 1;
    assert_int_equal(vimo_caption_scores(cands, refs, n_refs, 2, &r), VIMO_ERR_INVALID);
    n_refs[1] = 1;

    n_refs[0] = 2; /* refs[0][1] is NULL */
    assert_int_equal(vimo_caption_scores(cands, refs, n_refs, 2, &r), VIMO_ERR_INVALID);
    assert_non_null(strstr(vimo_last_error(), "refs[0][1] is NULL"));
    n_refs[0] = 1;

    const char *null_cand[] = {"a", NULL};
    assert_int_equal(vimo_caption_scores(null_cand, refs, n_refs, 2, &r), VIMO_ERR_INVALID);
    assert_non_null(strstr(vimo_last_error(), "cands[1] is NULL"));
    assert_int_equal(vimo_caption_scores(cands, refs, n_refs, 2, &r), VIMO_OK);
}

/* A caption over VIMO_EVAL_MAX_TOKENS tokens is refused and named; exactly
 * the limit is accepted. */
static void test_token_cap(void **state)
{
    (void)state;
    size_t n_tok = VIMO_EVAL_MAX_TOKENS + 1;
    char *big = malloc(2 * n_tok + 1);
    assert_non_null(big);
    for (size_t i = 0; i < n_tok; i++) {
        big[2 * i] = 'w';
        big[2 * i + 1] = ' ';
    }
    big[2 * n_tok] = '\0';
    const char *cands[] = {"a man walks"};
    const char *r1[] = {big};
    const char *const *refs[] = {r1};
    int n_refs[] = {1};
    vimo_caption_result r;
    assert_int_equal(vimo_caption_scores(cands, refs, n_refs, 1, &r), VIMO_ERR_INVALID);
    assert_non_null(strstr(vimo_last_error(), "refs[0][0]: more than 4096 tokens"));
    big[2 * (n_tok - 1)] = '\0'; /* now exactly the limit */
    assert_int_equal(vimo_caption_scores(cands, refs, n_refs, 1, &r), VIMO_OK);
    free(big);
}

/* Per-item outputs average to the corpus numbers. */
static void test_items_mean(void **state)
{
    (void)state;
    const char *cands[] = {"a man walks", "a woman runs", "someone sits"};
    const char *r1[] = {"a man walks slowly", "a person walks"};
    const char *r2[] = {"a woman runs fast"};
    const char *r3[] = {"a person sits down", "someone sits on a chair", "sitting"};
    const char *const *refs[] = {r1, r2, r3};
    int n_refs[] = {2, 1, 3};
    double per[3], cid[3];
    vimo_caption_result r;
    assert_int_equal(vimo_caption_scores_ex(cands, refs, n_refs, 3, &r, per, cid), VIMO_OK);
    assert_close(r.rouge_l, (per[0] + per[1] + per[2]) / 3.0, 1e-15);
    assert_close(r.cider_d, (cid[0] + cid[1] + cid[2]) / 3.0, 1e-14);
    vimo_caption_result r2b;
    assert_int_equal(vimo_caption_scores(cands, refs, n_refs, 3, &r2b), VIMO_OK);
    for (int k = 0; k < 4; k++) assert_true(r.bleu[k] == r2b.bleu[k]);
    assert_true(r.rouge_l == r2b.rouge_l && r.cider_d == r2b.cider_d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenize),
        cmocka_unit_test(test_tokenize_errors),
        cmocka_unit_test(test_identical),
        cmocka_unit_test(test_bleu_corpus),
        cmocka_unit_test(test_bleu_no_penalty),
        cmocka_unit_test(test_rouge_l),
        cmocka_unit_test(test_rouge_empty),
        cmocka_unit_test(test_cider_three_images),
        cmocka_unit_test(test_cider_clip_and_penalty),
        cmocka_unit_test(test_cider_two_refs),
        cmocka_unit_test(test_nlgeval_single),
        cmocka_unit_test(test_nlgeval_corpus),
        cmocka_unit_test(test_nlgeval_unicode),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_token_cap),
        cmocka_unit_test(test_items_mean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
