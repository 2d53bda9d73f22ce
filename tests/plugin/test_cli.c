/*
 * test_cli.c - `vimo plugins` as a user sees it: runs the executable (path
 * in argv[1]) with VIMO_PLUGIN_PATH pointing at the test plugins and checks
 * the --json listing (parsed with cJSON), the text listing and the
 * single-plugin view.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cJSON.h>
#include <cmocka.h>

#include "vimo/plugin.h"

static const char *g_exe;

/* Runs `vimo ARGS` and returns its stdout (malloc'd); *rc = exit status. */
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

static const cJSON *find_by(const cJSON *arr, const char *key, const char *suffix)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(e, key));
        size_t a = v ? strlen(v) : 0, b = strlen(suffix);
        if (v && a >= b && !strcmp(v + a - b, suffix)) return e;
    }
    return NULL;
}

static void test_json(void **state)
{
    (void)state;
    int rc;
    char *out = run("plugins --json", &rc);
    assert_non_null(out);
    assert_int_equal(rc, 0);
    cJSON *root = cJSON_Parse(out);
    assert_non_null(root);
    char abi[16];
    snprintf(abi, sizeof abi, "%d.%d", VIMO_ABI_MAJOR, VIMO_ABI_MINOR);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(root, "host_abi")), abi);
    const cJSON *good = find_by(cJSON_GetObjectItem(root, "plugins"), "id", "encoder.tp_good");
    assert_non_null(good);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(good, "kind")), "encoder");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(good, "version")), "1.0");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(good, "abi")), abi); /* built with these headers */
    assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(good, "path")), "/tp/good/good.so"));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(good, "options")), 5);
    const cJSON *fail = find_by(cJSON_GetObjectItem(root, "failures"), "path", "/bad/abi2.so");
    assert_non_null(fail);
    char want[64];
    snprintf(want, sizeof want, "plugin ABI 2.0, host ABI %s", abi);
    assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(fail, "error")), want));
    const cJSON *sh = find_by(cJSON_GetObjectItem(root, "shadowed"), "path", "/shadow/shadow.so");
    assert_non_null(sh);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(sh, "id")), "encoder.tp_good");
    assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(root, "search_path")) >= 2);
    cJSON_Delete(root);
    free(out);
}

static void test_text(void **state)
{
    (void)state;
    int rc;
    char *out = run("plugins", &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "encoder    encoder.tp_good"));
    assert_non_null(strstr(out, "refused:"));
    assert_non_null(strstr(out, "abi2.so: plugin ABI 2.0"));
    assert_non_null(strstr(out, "shadowed"));
    free(out);
    out = run("plugins encoder.tp_good", &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "width"));
    assert_non_null(strstr(out, "parameter length"));
    free(out);
    out = run("plugins encoder.nope", &rc);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "vimo plugins: plugin: no plugin 'encoder.nope'"));
    free(out);
}

int main(int argc, char **argv)
{
    if (argc < 2) return 2;
    g_exe = argv[1];
    setenv("VIMO_PLUGIN_PATH", TP_DIR "/good:" TP_DIR "/bad:" TP_DIR "/shadow", 1);
    setenv("TP_MARKER", "/nonexistent", 1);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_json), cmocka_unit_test(test_text)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
