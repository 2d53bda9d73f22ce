/*
 * test_loader.c - the plugin loader against test plugins built from
 * tp_plugin.c: ABI and descriptor checks happen before any plugin code runs
 * (marker files prove create/get_iface never ran for refused plugins),
 * first-wins shadowing, options, instances, interface size checks, static
 * registration and a concurrent first scan.
 */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vimo/encoder.h"
#include "vimo/projector.h"
#include "vimo/vimo.h"

extern const vimo_plugin_desc vimo_plugin_tp; /* tp_plugin.c built in, as encoder.tp_static */

static char g_marker[256];

static int marker_exists(const char *id, const char *fn)
{
    char p[512];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s.%s", g_marker, id, fn);
    return stat(p, &sb) == 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* The recorded error of the refused file whose path ends with `file`. */
static const char *failure_of(const char *file)
{
    for (int i = 0; i < vimo_plugin_failure_count(); i++) {
        const char *err = NULL, *path = vimo_plugin_failure_at(i, &err);
        if (ends_with(path, file)) return err;
    }
    return NULL;
}

/* ---- first scan from many threads at once --------------------------------- */

static void *find_good(void *arg)
{
    const vimo_plugin_desc *d = NULL;
    *(int *)arg = vimo_plugin_find("encoder.tp_good", &d) == VIMO_OK && d && !strcmp(d->version, "1.0");
    return NULL;
}

static void test_concurrent_first_scan(void **state)
{
    (void)state;
    pthread_t th[8];
    int ok[8] = {0};
    for (int i = 0; i < 8; i++) assert_int_equal(pthread_create(&th[i], NULL, find_good, &ok[i]), 0);
    for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 8; i++) assert_true(ok[i]);
    /* Exactly one entry for the id: the scan ran once. */
    int n = 0;
    for (int i = 0; i < vimo_plugin_count(); i++)
        if (!strcmp(vimo_plugin_at(i, NULL)->id, "encoder.tp_good")) n++;
    assert_int_equal(n, 1);
}

/* ---- refusals --------------------------------------------------------------- */

static void test_refused_with_reasons(void **state)
{
    (void)state;
    char want[128];
    snprintf(want, sizeof want, "abi2.so: plugin ABI 2.0, host ABI %d.%d", VIMO_ABI_MAJOR, VIMO_ABI_MINOR);
    const char *e = failure_of("/bad/abi2.so");
    assert_non_null(e);
    assert_non_null(strstr(e, want));
    snprintf(want, sizeof want, "plugin ABI 1.7, host ABI %d.%d", VIMO_ABI_MAJOR, VIMO_ABI_MINOR);
    assert_non_null(strstr(failure_of("/bad/abi_minor.so"), want));
    assert_non_null(strstr(failure_of("/bad/nosym.so"), "no 'vimo_plugin_descriptor' symbol"));
    assert_non_null(strstr(failure_of("/bad/funcsym.so"), "is not a data object"));
    assert_non_null(strstr(failure_of("/bad/nocreate.so"), "create and destroy must be set"));
    assert_non_null(strstr(failure_of("/bad/badid.so"), "id must be 'kind.name'"));
    assert_non_null(strstr(failure_of("/bad/badkind.so"), "does not start with its kind 'encoder.'"));
    assert_non_null(strstr(failure_of("/bad/dupopt.so"), "option 'width' is declared twice"));
    assert_non_null(strstr(failure_of("/bad/baddefault.so"), "option 'depth' default 'abc' is not an int"));
    assert_non_null(strstr(failure_of("/bad/badtype.so"), "option 'depth' has unknown type 9"));
    assert_non_null(strstr(failure_of("/bad/small.so"), "descriptor size 16"));
    assert_non_null(strstr(failure_of("/bad/flags.so"), "flags 0x1 are reserved"));
    assert_non_null(strstr(failure_of("/bad/notelf.so"), "dlopen failed"));
    /* None of them is findable. */
    const char *ids[] = {"encoder.tp_abi2", "encoder.tp_abi_minor", "encoder.tp_nocreate", "encoder.tp_dupopt",
                         "encoder.tp_baddefault", "encoder.tp_badtype", "encoder.tp_small", "encoder.tp_flags",
                         "projector.tp_badkind", "tp_noprefix"};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        const vimo_plugin_desc *d = (const vimo_plugin_desc *)1;
        vimo_instance *inst = (vimo_instance *)1;
        assert_int_equal(vimo_plugin_find(ids[i], &d), VIMO_ERR_NOT_FOUND);
        assert_null(d);
        assert_int_equal(vimo_instance_new(&inst, ids[i], NULL), VIMO_ERR_NOT_FOUND);
        assert_null(inst);
    }
}

/* Loading the files one by one gives the documented status codes. */
static void test_load_file_status(void **state)
{
    (void)state;
    static const struct { const char *file; vimo_status st; } k[] = {
        {"abi2.so", VIMO_ERR_ABI},       {"abi_minor.so", VIMO_ERR_ABI}, {"nosym.so", VIMO_ERR_NOT_FOUND},
        {"funcsym.so", VIMO_ERR_FORMAT}, {"nocreate.so", VIMO_ERR_FORMAT}, {"small.so", VIMO_ERR_FORMAT},
        {"notelf.so", VIMO_ERR_IO},      {"missing.so", VIMO_ERR_IO}};
    for (size_t i = 0; i < sizeof k / sizeof *k; i++) {
        char path[512];
        const vimo_plugin_desc *d = (const vimo_plugin_desc *)1;
        snprintf(path, sizeof path, "%s/bad/%s", TP_DIR, k[i].file);
        assert_int_equal(vimo_plugin_load_file(path, &d), k[i].st);
        assert_null(d);
        assert_non_null(strstr(vimo_last_error(), k[i].file)); /* the message names the file */
    }
    char msg[160];
    snprintf(msg, sizeof msg, "plugin: %s/bad/abi2.so: plugin ABI 2.0, host ABI %d.%d", TP_DIR, VIMO_ABI_MAJOR,
             VIMO_ABI_MINOR);
    vimo_plugin_load_file(TP_DIR "/bad/abi2.so", NULL);
    assert_int_equal(strncmp(vimo_last_error(), msg, strlen(msg)), 0);
}

/* Runs last among the refusal tests: no refused plugin's code ever ran. */
static void test_refused_code_never_ran(void **state)
{
    (void)state;
    const char *ids[] = {"encoder.tp_abi2", "encoder.tp_abi_minor", "encoder.tp_nosym", "encoder.tp_funcsym",
                         "encoder.tp_nocreate", "tp_noprefix", "projector.tp_badkind", "encoder.tp_dupopt",
                         "encoder.tp_baddefault", "encoder.tp_badtype", "encoder.tp_small", "encoder.tp_flags"};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        assert_false(marker_exists(ids[i], "create"));
        assert_false(marker_exists(ids[i], "get_iface"));
        assert_false(marker_exists(ids[i], "called"));
    }
    /* The marker mechanism itself works: the good plugin leaves one. */
    vimo_instance *inst = NULL;
    assert_int_equal(vimo_instance_new(&inst, "encoder.tp_good", NULL), VIMO_OK);
    assert_true(marker_exists("encoder.tp_good", "create"));
    vimo_instance_free(inst);
}

/* ---- shadowing ---------------------------------------------------------------- */

static void test_first_in_path_wins(void **state)
{
    (void)state;
    const vimo_plugin_desc *d = NULL;
    const char *path = NULL;
    assert_int_equal(vimo_plugin_find("encoder.tp_good", &d), VIMO_OK);
    assert_string_equal(d->version, "1.0");
    for (int i = 0; i < vimo_plugin_count(); i++)
        if (vimo_plugin_at(i, &path) == d) break;
    assert_true(ends_with(path, "/good/good.so"));
    int found = 0;
    for (int i = 0; i < vimo_plugin_shadowed_count(); i++) {
        const char *id = NULL, *winner = NULL, *p = vimo_plugin_shadowed_at(i, &id, &winner);
        if (ends_with(p, "/shadow/shadow.so")) {
            found = 1;
            assert_string_equal(id, "encoder.tp_good");
            assert_true(ends_with(winner, "/good/good.so"));
        }
    }
    assert_true(found);
    /* Explicitly loading the shadowed file is refused as a duplicate. */
    assert_int_equal(vimo_plugin_load_file(TP_DIR "/shadow/shadow.so", &d), VIMO_ERR_STATE);
    assert_non_null(strstr(vimo_last_error(), "already provided by"));
    /* Loading an already loaded file returns its descriptor. */
    assert_int_equal(vimo_plugin_load_file(TP_DIR "/good/good.so", &d), VIMO_OK);
    assert_string_equal(d->id, "encoder.tp_good");
    /* Search path: VIMO_PLUGIN_PATH folders first, in order. */
    assert_true(vimo_plugin_search_dir_count() >= 3);
    assert_true(ends_with(vimo_plugin_search_dir(0), "/tp/good"));
    assert_true(ends_with(vimo_plugin_search_dir(1), "/tp/bad"));
    assert_true(ends_with(vimo_plugin_search_dir(2), "/tp/shadow"));
}

/* ---- options -------------------------------------------------------------------- */

static void test_options(void **state)
{
    (void)state;
    const vimo_plugin_desc *d = NULL;
    vimo_options *o = NULL;
    assert_int_equal(vimo_plugin_find("encoder.tp_good", &d), VIMO_OK);
    assert_int_equal(vimo_options_new(&o, d), VIMO_OK);
    /* Defaults, parsed from the schema's text. */
    assert_int_equal(vimo_options_count(o), 5);
    assert_int_equal(vimo_options_int(o, "width"), 4);
    assert_true(vimo_options_float(o, "scale") == 0.5);
    assert_int_equal(vimo_options_bool(o, "train"), 0);
    assert_string_equal(vimo_options_string(o, "tag"), "");
    /* Setting each type. */
    assert_int_equal(vimo_options_set(o, "width", "-12"), VIMO_OK);
    assert_int_equal(vimo_options_int(o, "width"), -12);
    assert_int_equal(vimo_options_set(o, "scale", "1e-3"), VIMO_OK);
    assert_true(vimo_options_float(o, "scale") == 1e-3);
    assert_int_equal(vimo_options_set(o, "train", "true"), VIMO_OK);
    assert_int_equal(vimo_options_bool(o, "train"), 1);
    assert_int_equal(vimo_options_set(o, "train", "0"), VIMO_OK);
    assert_int_equal(vimo_options_bool(o, "train"), 0);
    assert_int_equal(vimo_options_set(o, "tag", "héllo wörld"), VIMO_OK);
    assert_string_equal(vimo_options_string(o, "tag"), "héllo wörld");
    /* Text as given, for saving next to a checkpoint. */
    assert_string_equal(vimo_options_name(o, 0), "width");
    assert_string_equal(vimo_options_text(o, 0), "-12");
    assert_string_equal(vimo_options_text(o, 1), "1e-3");
    assert_null(vimo_options_name(o, 5));
    /* Unknown option: NOT_FOUND naming plugin and option, listing the options. */
    assert_int_equal(vimo_options_set(o, "widht", "3"), VIMO_ERR_NOT_FOUND);
    assert_non_null(strstr(vimo_last_error(), "encoder.tp_good: unknown option 'widht'"));
    assert_non_null(strstr(vimo_last_error(), "width, scale, train, tag, fail"));
    /* Wrong types: INVALID, and the old value is kept. */
    static const char *bad[][2] = {{"width", "x"},   {"width", "3.5"}, {"width", " 3"},    {"width", ""},
                                   {"width", "99999999999999999999"}, {"scale", "nan"}, {"scale", "inf"},
                                   {"scale", "1e999"}, {"scale", "0.1x"}, {"train", "yes"}, {"train", "2"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(vimo_options_set(o, bad[i][0], bad[i][1]), VIMO_ERR_INVALID);
        char want[128];
        snprintf(want, sizeof want, "encoder.tp_good: option '%s' wants", bad[i][0]);
        assert_non_null(strstr(vimo_last_error(), want));
    }
    assert_non_null(strstr(vimo_last_error(), "wants a bool (true/false/1/0), got '2'"));
    assert_int_equal(vimo_options_int(o, "width"), -12);
    /* Unknown names and mismatched getters read as zero. */
    assert_int_equal(vimo_options_int(o, "nope"), 0);
    assert_int_equal(vimo_options_int(o, "scale"), 0);
    assert_string_equal(vimo_options_string(o, "nope"), "");
    vimo_options_free(o);
    vimo_options_free(NULL);
}

/* ---- instances and interfaces ---------------------------------------------------- */

static void test_instance(void **state)
{
    (void)state;
    const vimo_plugin_desc *d = NULL;
    vimo_options *o = NULL;
    vimo_instance *inst = NULL;
    assert_int_equal(vimo_plugin_find("encoder.tp_good", &d), VIMO_OK);
    assert_int_equal(vimo_options_new(&o, d), VIMO_OK);
    assert_int_equal(vimo_options_set(o, "width", "3"), VIMO_OK);
    assert_int_equal(vimo_options_set(o, "scale", "2.5"), VIMO_OK);
    assert_int_equal(vimo_instance_new(&inst, "encoder.tp_good", o), VIMO_OK);
    assert_ptr_equal(vimo_instance_desc(inst), d);
    /* The options reached create(): a (3) parameter filled with 2.5. */
    const vimo_module_iface *m = vimo_instance_iface(inst, VIMO_IFACE_MODULE);
    assert_non_null(m);
    const char *name = NULL;
    vimo_tensor *w = m->param(vimo_instance_handle(inst), 0, &name);
    assert_string_equal(name, "w");
    assert_int_equal(vimo_tensor_numel(w), 3);
    for (int i = 0; i < 3; i++) assert_true(vimo_tensor_data(w)[i] == 2.5f);
    /* The encoder interface works through the host. */
    const vimo_encoder_iface *enc = vimo_instance_iface(inst, VIMO_IFACE_ENCODER);
    assert_non_null(enc);
    assert_int_equal(enc->out_dim(vimo_instance_handle(inst)), 3);
    vimo_ctx *ctx = NULL;
    vimo_tensor *x = NULL, *y = NULL;
    assert_int_equal(vimo_ctx_new(&ctx), VIMO_OK);
    assert_int_equal(vimo_tensor_new3(&x, 1, 2, 3), VIMO_OK);
    vimo_tensor_fill(x, 2.0f);
    assert_int_equal(enc->forward(vimo_instance_handle(inst), ctx, x, 1, NULL, &y), VIMO_OK);
    assert_true(vimo_tensor_data(y)[5] == 5.0f);
    /* A known interface with a short vtable: refused with VIMO_ERR_ABI. */
    vimo_error_clear();
    assert_null(vimo_instance_iface(inst, VIMO_IFACE_PROJECTOR));
    assert_non_null(strstr(vimo_last_error(), "interface vimo.projector/1 is 4 bytes, host needs"));
    /* Unknown to the host: passed through; unknown to the plugin: NULL. */
    const struct { uint32_t size; int magic; } *cu = vimo_instance_iface(inst, "test.custom/7");
    assert_non_null(cu);
    assert_int_equal(cu->magic, 1234);
    assert_null(vimo_instance_iface(inst, "vimo.llm/1"));
    /* Options made for another plugin are refused. */
    vimo_instance *other = NULL;
    assert_int_equal(vimo_instance_new(&other, "encoder.tp_nullfn", o), VIMO_ERR_INVALID);
    assert_non_null(strstr(vimo_last_error(), "options made for encoder.tp_good given to encoder.tp_nullfn"));
    vimo_tensor_free(x);
    vimo_ctx_free(ctx);
    vimo_instance_free(inst);
    vimo_instance_free(NULL);
    vimo_options_free(o);
}

static void test_instance_errors(void **state)
{
    (void)state;
    vimo_instance *inst = NULL;
    /* Missing plugin: NOT_FOUND listing what is known. */
    assert_int_equal(vimo_instance_new(&inst, "encoder.nope", NULL), VIMO_ERR_NOT_FOUND);
    assert_non_null(strstr(vimo_last_error(), "no plugin 'encoder.nope'"));
    assert_non_null(strstr(vimo_last_error(), "encoder.tp_good"));
    assert_non_null(strstr(vimo_last_error(), "refused"));
    /* create() failing: its own message comes through. */
    const vimo_plugin_desc *d = NULL;
    vimo_options *o = NULL;
    assert_int_equal(vimo_plugin_find("encoder.tp_good", &d), VIMO_OK);
    assert_int_equal(vimo_options_new(&o, d), VIMO_OK);
    assert_int_equal(vimo_options_set(o, "fail", "true"), VIMO_OK);
    assert_int_equal(vimo_instance_new(&inst, "encoder.tp_good", o), VIMO_ERR_INVALID);
    assert_null(inst);
    assert_string_equal(vimo_last_error(), "encoder.tp_good: create refused: option 'fail' is true");
    vimo_options_free(o);
    /* A required interface member left NULL is caught by the host. */
    assert_int_equal(vimo_instance_new(&inst, "encoder.tp_nullfn", NULL), VIMO_OK);
    assert_null(vimo_instance_iface(inst, VIMO_IFACE_ENCODER));
    assert_non_null(strstr(vimo_last_error(), "interface vimo.encoder/1: forward is NULL"));
    vimo_instance_free(inst);
}

/* ---- static registration ------------------------------------------------------- */

static void test_static(void **state)
{
    (void)state;
    assert_int_equal(vimo_plugin_register_static(&vimo_plugin_tp), VIMO_OK);
    assert_int_equal(vimo_plugin_register_static(&vimo_plugin_tp), VIMO_OK); /* idempotent */
    const vimo_plugin_desc *d = NULL;
    const char *path = NULL;
    assert_int_equal(vimo_plugin_find("encoder.tp_static", &d), VIMO_OK);
    assert_ptr_equal(d, &vimo_plugin_tp);
    for (int i = 0; i < vimo_plugin_count(); i++)
        if (vimo_plugin_at(i, &path) == d) break;
    assert_string_equal(path, "(static)");
    vimo_instance *inst = NULL;
    assert_int_equal(vimo_instance_new(&inst, "encoder.tp_static", NULL), VIMO_OK);
    vimo_instance_free(inst);
    /* Same checks as for files: a wrong major is refused. */
    vimo_plugin_desc bad = vimo_plugin_tp;
    bad.abi_major = VIMO_ABI_MAJOR + 1;
    bad.id = "encoder.tp_static2";
    assert_int_equal(vimo_plugin_register_static(&bad), VIMO_ERR_ABI);
    /* A different descriptor with a taken id is refused. */
    vimo_plugin_desc dup = vimo_plugin_tp;
    dup.id = "encoder.tp_good";
    assert_int_equal(vimo_plugin_register_static(&dup), VIMO_ERR_STATE);
    assert_non_null(strstr(vimo_last_error(), "already provided by"));
}

static void test_kind_names(void **state)
{
    (void)state;
    assert_string_equal(vimo_plugin_kind_name(VIMO_PLUGIN_ENCODER), "encoder");
    assert_string_equal(vimo_plugin_kind_name(VIMO_PLUGIN_PROJECTOR), "projector");
    assert_string_equal(vimo_plugin_kind_name(VIMO_PLUGIN_LLM), "llm");
    assert_string_equal(vimo_plugin_kind_name(999), "other");
}

int main(void)
{
    snprintf(g_marker, sizeof g_marker, "/tmp/vimo_tp_XXXXXX");
    if (!mkdtemp(g_marker)) return 1;
    setenv("TP_MARKER", g_marker, 1);
    setenv("VIMO_PLUGIN_PATH", TP_DIR "/good:" TP_DIR "/bad::" TP_DIR "/shadow", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_first_scan), cmocka_unit_test(test_refused_with_reasons),
        cmocka_unit_test(test_load_file_status),      cmocka_unit_test(test_refused_code_never_ran),
        cmocka_unit_test(test_first_in_path_wins),    cmocka_unit_test(test_options),
        cmocka_unit_test(test_instance),              cmocka_unit_test(test_instance_errors),
        cmocka_unit_test(test_static),                cmocka_unit_test(test_kind_names),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    /* Remove the marker files and folder. */
    DIR *dir = opendir(g_marker);
    for (struct dirent *e; dir && (e = readdir(dir));) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", g_marker, e->d_name);
        if (e->d_name[0] != '.') unlink(p);
    }
    if (dir) closedir(dir);
    rmdir(g_marker);
    return rc;
}
