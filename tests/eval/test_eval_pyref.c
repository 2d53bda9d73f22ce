/*
 * test_eval_pyref.c - checks vimo_eval against ref_metrics.py, an independent
 * plain-Python re-implementation of the pycocoevalcap formulas and of the QA
 * rules, on the ~20-item caption corpus and the QA table in data/.
 *
 * Usage: test_eval_pyref PYTHON3 ref_metrics.py captions.tsv qa.tsv
 * Exits 77 (CTest "skipped") when PYTHON3 is empty or cannot be run.
 * Compares every token string, the corpus BLEU-1..4 / ROUGE-L / CIDEr-D and
 * every per-item ROUGE-L / CIDEr-D to 1e-9 relative, and every QA row
 * exactly. Does not test the formulas against hand-worked numbers
 * (test_caption_metrics.c does).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "vimo/eval.h"

#define MAX_FIELDS 64
#define MAX_LINES 4096

typedef struct table {
    char *buf;                       /* the file, split in place            */
    int n;                           /* data lines                          */
    int n_fields[MAX_LINES];
    char *field[MAX_LINES][MAX_FIELDS];
} table;

static table g_caps, g_qa;
static char *g_py_out; /* the reference's stdout */

static char *slurp(FILE *f)
{
    size_t cap = 1 << 16, len = 0, got;
    char *buf = malloc(cap + 1);
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            char *b = realloc(buf, 2 * cap + 1);
            if (!b) {
                free(buf);
                return NULL;
            }
            buf = b;
            cap *= 2;
        }
    }
    if (buf) buf[len] = '\0';
    return buf;
}

/* Splits a TSV file into lines and fields, skipping '#' comments and blanks. */
static int load_table(const char *path, table *t)
{
    FILE *f = fopen(path, "rb");
    if (!f) return fprintf(stderr, "cannot open %s\n", path), -1;
    t->buf = slurp(f);
    fclose(f);
    if (!t->buf) return -1;
    t->n = 0;
    for (char *line = t->buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        if (line[0] == '#' || line[0] == '\0') continue;
        if (t->n == MAX_LINES) return fprintf(stderr, "%s: too many lines\n", path), -1;
        int k = 0;
        for (char *fld = line, *tab; fld && k < MAX_FIELDS; fld = tab) {
            tab = strchr(fld, '\t');
            if (tab) *tab++ = '\0';
            t->field[t->n][k++] = fld;
        }
        t->n_fields[t->n++] = k;
    }
    return 0;
}

/* Next line of the reference output starting with `key ` (in order). */
static char *next_line(char **cursor, const char *key)
{
    size_t kl = strlen(key);
    while (*cursor && **cursor) {
        char *line = *cursor, *nl = strchr(line, '\n');
        *cursor = nl ? nl + 1 : NULL;
        if (nl) *nl = '\0';
        if (strncmp(line, key, kl) == 0 && line[kl] == ' ') return line + kl + 1;
    }
    return NULL;
}

#define assert_rel(got, want)                                                          \
    do {                                                                               \
        double g_ = (got), w_ = (want);                                                \
        if (!(fabs(g_ - w_) <= 1e-9 * fabs(w_) + 1e-12))                               \
            fail_msg("%s: C %.17g vs Python %.17g", #got, g_, w_);                     \
    } while (0)

static void test_tokens(void **state)
{
    (void)state;
    char *out = strdup(g_py_out), *cur = out, *line;
    int checked = 0;
    while ((line = next_line(&cur, "tok"))) {
        int i, j, used = 0;
        assert_int_equal(sscanf(line, "%d %d %n", &i, &j, &used), 2);
        assert_true(i >= 0 && i < g_caps.n && j >= 0 && j < g_caps.n_fields[i]);
        const char *text = g_caps.field[i][j];
        char *mine = malloc(strlen(text) + 1);
        assert_int_equal(vimo_caption_tokenize(text, mine, strlen(text) + 1, NULL), VIMO_OK);
        if (strcmp(mine, line + used) != 0)
            fail_msg("caption %d/%d \"%s\": C \"%s\" vs Python \"%s\"", i, j, text, mine, line + used);
        free(mine);
        checked++;
    }
    int total = 0;
    for (int i = 0; i < g_caps.n; i++) total += g_caps.n_fields[i];
    assert_int_equal(checked, total);
    free(out);
}

static void test_caption_scores(void **state)
{
    (void)state;
    int n = g_caps.n;
    const char **cands = calloc(n, sizeof *cands);
    const char *const **refs = calloc(n, sizeof *refs);
    int *n_refs = calloc(n, sizeof *n_refs);
    double *rouge = calloc(n, sizeof *rouge), *cider = calloc(n, sizeof *cider);
    for (int i = 0; i < n; i++) {
        cands[i] = g_caps.field[i][0];
        refs[i] = (const char *const *)&g_caps.field[i][1];
        n_refs[i] = g_caps.n_fields[i] - 1;
    }
    vimo_caption_result r;
    if (vimo_caption_scores_ex(cands, refs, n_refs, n, &r, rouge, cider) != VIMO_OK)
        fail_msg("%s", vimo_last_error());

    char *out = strdup(g_py_out), *cur = out, *line;
    double b[4], v;
    assert_non_null(line = next_line(&cur, "bleu"));
    assert_int_equal(sscanf(line, "%lf %lf %lf %lf", &b[0], &b[1], &b[2], &b[3]), 4);
    for (int k = 0; k < 4; k++) assert_rel(r.bleu[k], b[k]);
    assert_non_null(line = next_line(&cur, "rouge_l"));
    assert_int_equal(sscanf(line, "%lf", &v), 1);
    assert_rel(r.rouge_l, v);
    assert_non_null(line = next_line(&cur, "cider_d"));
    assert_int_equal(sscanf(line, "%lf", &v), 1);
    assert_rel(r.cider_d, v);
    int items = 0;
    while ((line = next_line(&cur, "item"))) {
        int i;
        double pr, pc;
        assert_int_equal(sscanf(line, "%d %lf %lf", &i, &pr, &pc), 3);
        assert_int_equal(i, items);
        assert_rel(rouge[i], pr);
        assert_rel(cider[i], pc);
        items++;
    }
    assert_int_equal(items, n);
    printf("corpus of %d items: BLEU %.4f %.4f %.4f %.4f ROUGE-L %.4f CIDEr-D %.4f\n", n,
           r.bleu[0], r.bleu[1], r.bleu[2], r.bleu[3], r.rouge_l, r.cider_d);
    free(out);
    free(cands);
    free(refs);
    free(n_refs);
    free(rouge);
    free(cider);
}

/* Python prints answers with spaces as '_' and a missing one as '-'. */
static void expect_majority(const char *mine, const char *py)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", mine ? mine : "-");
    for (char *p = buf; *p; p++)
        if (*p == ' ') *p = '_';
    assert_string_equal(buf, py);
}

static void test_qa_rows(void **state)
{
    (void)state;
    vimo_qa_eval *ev = NULL;
    assert_int_equal(vimo_qa_eval_new(&ev), VIMO_OK);
    for (int i = 0; i < g_qa.n; i++) {
        char **f = g_qa.field[i];
        if (strcmp(f[0], "train") == 0) {
            assert_int_equal(g_qa.n_fields[i], 3);
            assert_int_equal(vimo_qa_eval_add_train(ev, f[1], f[2]), VIMO_OK);
        } else {
            assert_int_equal(g_qa.n_fields[i], 4);
            assert_int_equal(vimo_qa_eval_add(ev, f[1], f[2], f[3]), VIMO_OK);
        }
    }
    char *out = strdup(g_py_out), *cur = out, *line;
    size_t rows = 0;
    vimo_qa_result r;
    while ((line = next_line(&cur, "qa"))) {
        char cat[256], maj[256];
        long long n, ok, mok;
        int fb;
        assert_int_equal(sscanf(line, "%255s %lld %lld %255s %lld %d", cat, &n, &ok, maj, &mok, &fb), 6);
        assert_int_equal(vimo_qa_eval_category(ev, rows, &r), VIMO_OK);
        assert_string_equal(r.category, cat);
        assert_int_equal(r.n, n);
        assert_int_equal(r.correct, ok);
        expect_majority(r.majority, maj);
        assert_int_equal(r.majority_correct, mok);
        assert_int_equal(r.majority_is_fallback, fb);
        printf("qa %-10s acc %5.1f%% (%lld/%lld)  majority \"%s\" %5.1f%%\n", r.category,
               100 * r.accuracy, (long long)r.correct, (long long)r.n, r.majority ? r.majority : "",
               100 * r.majority_accuracy);
        rows++;
    }
    assert_int_equal(rows, vimo_qa_eval_n_categories(ev));
    cur = strdup(g_py_out);
    char *keep = cur;
    assert_non_null(line = next_line(&cur, "qa_overall"));
    long long n, ok, mok;
    char maj[256];
    assert_int_equal(sscanf(line, "%lld %lld %255s %lld", &n, &ok, maj, &mok), 4);
    assert_int_equal(vimo_qa_eval_overall(ev, &r), VIMO_OK);
    assert_int_equal(r.n, n);
    assert_int_equal(r.correct, ok);
    expect_majority(r.majority, maj);
    assert_int_equal(r.majority_correct, mok);
    free(keep);
    free(out);
    vimo_qa_eval_free(ev);
}

/* Runs the reference; 0 ok, 77 python missing, 1 failure. */
static int run_reference(char **argv)
{
    if (!argv[1][0]) return fprintf(stderr, "no python3: skipped\n"), 77;
    for (int i = 1; i <= 4; i++)
        if (strchr(argv[i], '\'')) return fprintf(stderr, "quote in path %s\n", argv[i]), 1;
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' '%s'", argv[1], argv[2], argv[3], argv[4]);
    FILE *p = popen(cmd, "r");
    if (!p) return fprintf(stderr, "popen failed: skipped\n"), 77;
    g_py_out = slurp(p);
    int status = pclose(p);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) return fprintf(stderr, "cannot run %s: skipped\n", argv[1]), 77;
    if (!g_py_out || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return fprintf(stderr, "reference failed: %s\n", cmd), 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s PYTHON3 ref_metrics.py captions.tsv qa.tsv\n", argv[0]);
        return 1;
    }
    int rc = run_reference(argv);
    if (rc) return rc;
    if (load_table(argv[3], &g_caps) || load_table(argv[4], &g_qa)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_caption_scores),
        cmocka_unit_test(test_qa_rows),
    };
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(g_py_out);
    free(g_caps.buf);
    free(g_qa.buf);
    return rc;
}
