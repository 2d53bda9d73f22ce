/*
 * test_info.c - `vimo info CHECKPOINT` (executable path in argv[1]) against
 * hand-worked statistics: x = [1, 2, 3, 4] has mean 2.5 and population std
 * sqrt(1.25) = 1.118034; y = [-3, -3, -3] has mean -3, std 0. Also --json,
 * and a damaged file refused with its byte offset.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>

#include <cJSON.h>
#include <cmocka.h>

#include "ck_util.h"
#include "vimo/checkpoint.h"

static char g_dir[256], g_ckpt[512];
static const char *g_exe;

static char *run(const char *args, int *rc)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", g_exe, args);
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (size_t k; buf && (k = fread(buf + n, 1, cap - n - 1, p)) > 0;) {
        n += k;
        if (n + 1 == cap) buf = realloc(buf, cap *= 2);
    }
    int st = pclose(p);
    *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (buf) buf[n] = '\0';
    return buf;
}

static int make(void **state)
{
    (void)state;
    vimo_tensor *x = NULL, *y = NULL;
    vimo_ckpt_writer *w = NULL;
    assert_int_equal(vimo_tensor_new2(&x, 2, 2), VIMO_OK);
    assert_int_equal(vimo_tensor_copy_from(x, (float[]){1, 2, 3, 4}, 4), VIMO_OK);
    assert_int_equal(vimo_tensor_new1(&y, 3), VIMO_OK);
    vimo_tensor_fill(y, -3.0f);
    assert_int_equal(vimo_ckpt_writer_new(&w, g_ckpt), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_tensor(w, "enc.x", x), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_tensor(w, "enc.y", y), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_config(w, "encoder", "encoder.template"), VIMO_OK);
    assert_int_equal(vimo_ckpt_set_step(w, 77), VIMO_OK);
    assert_int_equal(vimo_ckpt_commit(w), VIMO_OK);
    vimo_ckpt_writer_free(w);
    vimo_tensor_free(x);
    vimo_tensor_free(y);
    return 0;
}

static void test_text(void **state)
{
    (void)state;
    char args[600];
    int rc;
    snprintf(args, sizeof args, "info '%s'", g_ckpt);
    char *out = run(args, &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "step:       77"));
    assert_non_null(strstr(out, "encoder = encoder.template"));
    /* name, shape, numel, mean, std on one line */
    assert_non_null(strstr(out, "enc.x"));
    char *line = strstr(out, "enc.x");
    assert_non_null(strstr(line, "(2, 2)"));
    char name[64], shape[2][16];
    long long numel;
    double mean, sd;
    assert_int_equal(sscanf(line, "%63s %15s %15s %lld %lf %lf", name, shape[0], shape[1], &numel, &mean, &sd), 6);
    assert_int_equal(numel, 4);
    assert_true(fabs(mean - 2.5) < 1e-9);
    assert_true(fabs(sd - 1.118034) < 1e-5); /* printed with 6 significant digits */
    line = strstr(out, "enc.y");
    assert_int_equal(sscanf(line, "%63s %15s %lld %lf %lf", name, shape[0], &numel, &mean, &sd), 5);
    assert_string_equal(shape[0], "(3,)");
    assert_true(mean == -3.0 && sd == 0.0);
    free(out);
}

static void test_json(void **state)
{
    (void)state;
    char args[600];
    int rc;
    snprintf(args, sizeof args, "info --json '%s'", g_ckpt);
    char *out = run(args, &rc);
    assert_int_equal(rc, 0);
    cJSON *root = cJSON_Parse(out);
    assert_non_null(root);
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(root, "step")) == 77);
    const cJSON *t0 = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "tensors"), 0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(t0, "name")), "enc.x");
    assert_true(fabs(cJSON_GetNumberValue(cJSON_GetObjectItem(t0, "std")) - sqrt(1.25)) < 1e-12);
    cJSON_Delete(root);
    free(out);
}

static void test_damaged(void **state)
{
    (void)state;
    size_t n = 0;
    unsigned char *b = ck_read(g_ckpt, &n);
    char bad[512], args[600];
    snprintf(bad, sizeof bad, "%s/bad.ckpt", g_dir);
    assert_true(ck_write(bad, b, n - 3));
    int rc;
    snprintf(args, sizeof args, "info '%s'", bad);
    char *out = run(args, &rc);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "vimo info: ckpt: "));
    assert_non_null(strstr(out, "bad.ckpt: offset "));
    free(out);
    free(b);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !ck_mkdtemp(g_dir, sizeof g_dir)) return 2;
    g_exe = argv[1];
    snprintf(g_ckpt, sizeof g_ckpt, "%s/info.ckpt", g_dir);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_text), cmocka_unit_test(test_json),
                                       cmocka_unit_test(test_damaged)};
    int rc = cmocka_run_group_tests(tests, make, NULL);
    ck_rmdir(g_dir);
    return rc;
}
