/*
 * test_qa.c - QA answer normalisation, the yes/no matching rule, and the
 * per-category accuracy / majority-baseline table, on examples worked out by
 * hand in the comments. Does not cover the caption metrics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vimo/eval.h"

static void expect_norm(const char *in, const char *want)
{
    char out[256];
    if (vimo_qa_normalize(in, out, sizeof out) != VIMO_OK)
        fail_msg("vimo_qa_normalize(\"%s\"): %s", in, vimo_last_error());
    if (strcmp(out, want) != 0) fail_msg("normalize(\"%s\") = \"%s\", want \"%s\"", in, out, want);
}

static void test_normalize(void **state)
{
    (void)state;
    expect_norm("Walking.", "walking");
    expect_norm("The man's LEFT hand!", "mans left hand");   /* article, apostrophe */
    expect_norm("an apple, a pear", "apple pear");
    expect_norm("Two", "2");
    expect_norm("ten  or  zero", "10 or 0");
    expect_norm("1.5 meters", "1.5 meters");                 /* decimal point kept */
    expect_norm("1,000 steps.", "1,000 steps");
    expect_norm("end. 5", "end 5");                          /* '.' not between digits */
    expect_norm("don't know", "dont know");
    expect_norm("(left)-hand\tside\n", "left hand side");
    expect_norm("Naïve", "naïve");                           /* UTF-8 bytes kept */
    expect_norm("the", "");
    expect_norm("", "");
    expect_norm("a-an-the", "");
    expect_norm("twenty", "twenty");                         /* only zero..ten */
}

static void test_normalize_errors(void **state)
{
    (void)state;
    char out[4];
    assert_int_equal(vimo_qa_normalize(NULL, out, sizeof out), VIMO_ERR_INVALID);
    assert_int_equal(vimo_qa_normalize("x", NULL, 4), VIMO_ERR_INVALID);
    assert_int_equal(vimo_qa_normalize("walking", out, sizeof out), VIMO_ERR_INVALID);
    assert_int_equal(vimo_qa_normalize("The mans", out, sizeof out), VIMO_ERR_INVALID);
    assert_int_equal(vimo_qa_normalize("The run", out, sizeof out), VIMO_OK); /* "run" */
    assert_string_equal(out, "run");
    char *huge = malloc((size_t)VIMO_QA_MAX_ANSWER_BYTES + 2);
    assert_non_null(huge);
    memset(huge, 'x', (size_t)VIMO_QA_MAX_ANSWER_BYTES + 1);
    huge[VIMO_QA_MAX_ANSWER_BYTES + 1] = '\0';
    assert_int_equal(vimo_qa_normalize(huge, out, sizeof out), VIMO_ERR_INVALID);
    assert_int_equal(vimo_qa_match(huge, "x"), -1);
    free(huge);
}

static void test_match(void **state)
{
    (void)state;
    assert_int_equal(vimo_qa_match("Yes, he waves both hands.", "yes"), 1); /* first word */
    assert_int_equal(vimo_qa_match("YES!", "Yes"), 1);
    assert_int_equal(vimo_qa_match("no", "yes"), 0);
    assert_int_equal(vimo_qa_match("yes and no", "no"), 0);
    assert_int_equal(vimo_qa_match("Nope.", "no"), 0);
    assert_int_equal(vimo_qa_match("The left hand", "left hand"), 1);
    assert_int_equal(vimo_qa_match("left", "left hand"), 0);
    assert_int_equal(vimo_qa_match("left hand", "left"), 0);  /* first-word only for yes/no */
    assert_int_equal(vimo_qa_match("two", "2"), 1);
    assert_int_equal(vimo_qa_match("", ""), 1);
    assert_int_equal(vimo_qa_match(NULL, "yes"), -1);
    assert_int_equal(vimo_qa_match("yes", NULL), -1);
}

/* Hand-worked table.
 * train  action: walking, Walking., running     -> walking 2, running 1: "walking"
 *        count:  two, 3, 2, three               -> "2" x2, "3" x2: tie -> "2" (< "3")
 *        (no yesno train answers)
 *        all:    walking 2, running 1, 2 x2, 3 x2 -> tie of three at 2: "2"
 * test   action: (walking | walking) ok, (running | walking) no, (run | running) no
 *          -> n 3, correct 1 (33.3%); "walking" matches golds walking, walking -> 2
 *        count:  (two | 2) ok, (3 | three) ok, (4 | 2) no
 *          -> n 3, correct 2; "2" matches golds 2, 2 -> 2
 *        yesno:  (Yes, he does. | yes) ok, (no | yes) no
 *          -> n 2, correct 1; no train answers: falls back to "2", which
 *             matches neither "yes" -> 0, majority_is_fallback = 1
 * overall: n 8, correct 4, majority 2 + 2 + 0 = 4, majority answer "2". */
static void test_accumulator(void **state)
{
    (void)state;
    vimo_qa_eval *ev = NULL;
    assert_int_equal(vimo_qa_eval_new(&ev), VIMO_OK);
    const char *train[][2] = {{"action", "walking"}, {"action", "Walking."}, {"action", "running"},
                              {"count", "two"},      {"count", "3"},         {"count", "2"},
                              {"count", "three"}};
    for (size_t i = 0; i < sizeof train / sizeof train[0]; i++)
        assert_int_equal(vimo_qa_eval_add_train(ev, train[i][0], train[i][1]), VIMO_OK);
    /* Added out of category order on purpose: rows come back sorted. */
    const char *test[][3] = {{"yesno", "Yes, he does.", "yes"}, {"action", "walking", "walking"},
                             {"count", "two", "2"},            {"action", "running", "walking"},
                             {"count", "3", "three"},           {"action", "run", "running"},
                             {"yesno", "no", "yes"},            {"count", "4", "2"}};
    for (size_t i = 0; i < sizeof test / sizeof test[0]; i++)
        assert_int_equal(vimo_qa_eval_add(ev, test[i][0], test[i][1], test[i][2]), VIMO_OK);

    assert_int_equal(vimo_qa_eval_n_categories(ev), 3);
    vimo_qa_result r;
    assert_int_equal(vimo_qa_eval_category(ev, 0, &r), VIMO_OK);
    assert_string_equal(r.category, "action");
    assert_int_equal(r.n, 3);
    assert_int_equal(r.correct, 1);
    assert_true(r.accuracy == 1.0 / 3.0);
    assert_string_equal(r.majority, "walking");
    assert_int_equal(r.majority_correct, 2);
    assert_true(r.majority_accuracy == 2.0 / 3.0);
    assert_int_equal(r.majority_is_fallback, 0);

    assert_int_equal(vimo_qa_eval_category(ev, 1, &r), VIMO_OK);
    assert_string_equal(r.category, "count");
    assert_int_equal(r.n, 3);
    assert_int_equal(r.correct, 2);
    assert_string_equal(r.majority, "2");
    assert_int_equal(r.majority_correct, 2);

    assert_int_equal(vimo_qa_eval_category(ev, 2, &r), VIMO_OK);
    assert_string_equal(r.category, "yesno");
    assert_int_equal(r.n, 2);
    assert_int_equal(r.correct, 1);
    assert_string_equal(r.majority, "2");
    assert_int_equal(r.majority_correct, 0);
    assert_int_equal(r.majority_is_fallback, 1);

    assert_int_equal(vimo_qa_eval_category(ev, 3, &r), VIMO_ERR_INVALID);

    assert_int_equal(vimo_qa_eval_overall(ev, &r), VIMO_OK);
    assert_null(r.category);
    assert_int_equal(r.n, 8);
    assert_int_equal(r.correct, 4);
    assert_true(r.accuracy == 0.5);
    assert_string_equal(r.majority, "2");
    assert_int_equal(r.majority_correct, 4);

    /* Adding after reading refreshes the table: one more yes/no train answer
     * "yes" gives yesno its own majority, matching the "yes" golds: 2 of 2. */
    assert_int_equal(vimo_qa_eval_add_train(ev, "yesno", "Yes."), VIMO_OK);
    assert_int_equal(vimo_qa_eval_category(ev, 2, &r), VIMO_OK);
    assert_string_equal(r.majority, "yes");
    assert_int_equal(r.majority_correct, 2);
    assert_int_equal(r.majority_is_fallback, 0);
    assert_int_equal(vimo_qa_eval_overall(ev, &r), VIMO_OK);
    assert_int_equal(r.majority_correct, 6);
    vimo_qa_eval_free(ev);
}

/* No train answers at all: no baseline (NULL, 0), accuracy still counted. */
static void test_no_train(void **state)
{
    (void)state;
    vimo_qa_eval *ev = NULL;
    assert_int_equal(vimo_qa_eval_new(&ev), VIMO_OK);
    assert_int_equal(vimo_qa_eval_n_categories(ev), 0);
    vimo_qa_result r;
    assert_int_equal(vimo_qa_eval_overall(ev, &r), VIMO_OK);
    assert_int_equal(r.n, 0);
    assert_true(r.accuracy == 0.0);
    assert_int_equal(vimo_qa_eval_add(ev, "c", "x", "x"), VIMO_OK);
    assert_int_equal(vimo_qa_eval_category(ev, 0, &r), VIMO_OK);
    assert_int_equal(r.correct, 1);
    assert_null(r.majority);
    assert_int_equal(r.majority_correct, 0);
    assert_int_equal(r.majority_is_fallback, 0);
    vimo_qa_eval_free(ev);
}

static void test_accumulator_errors(void **state)
{
    (void)state;
    vimo_qa_eval *ev = NULL;
    vimo_qa_result r;
    assert_int_equal(vimo_qa_eval_new(NULL), VIMO_ERR_INVALID);
    assert_int_equal(vimo_qa_eval_new(&ev), VIMO_OK);
    assert_int_equal(vimo_qa_eval_add(NULL, "c", "x", "y"), VIMO_ERR_INVALID);
    assert_int_equal(vimo_qa_eval_add(ev, NULL, "x", "y"), VIMO_ERR_INVALID);
    assert_int_equal(vimo_qa_eval_add(ev, "c", NULL, "y"), VIMO_ERR_INVALID);
    assert_non_null(strstr(vimo_last_error(), "predicted is NULL"));
    assert_int_equal(vimo_qa_eval_add(ev, "c", "x", NULL), VIMO_ERR_INVALID);
    assert_int_equal(vimo_qa_eval_add_train(ev, "c", NULL), VIMO_ERR_INVALID);
    assert_int_equal(vimo_qa_eval_add_train(NULL, "c", "a"), VIMO_ERR_INVALID);
    assert_int_equal(vimo_qa_eval_category(NULL, 0, &r), VIMO_ERR_INVALID);
    assert_int_equal(vimo_qa_eval_category(ev, 0, NULL), VIMO_ERR_INVALID);
    assert_int_equal(vimo_qa_eval_overall(NULL, &r), VIMO_ERR_INVALID);
    assert_int_equal(vimo_qa_eval_n_categories(NULL), 0);
    /* Failed adds left nothing behind. */
    assert_int_equal(vimo_qa_eval_overall(ev, &r), VIMO_OK);
    assert_int_equal(r.n, 0);
    vimo_qa_eval_free(ev);
    vimo_qa_eval_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_normalize_errors),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_accumulator),
        cmocka_unit_test(test_no_train),
        cmocka_unit_test(test_accumulator_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
