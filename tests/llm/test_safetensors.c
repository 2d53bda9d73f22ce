/*
 * test_safetensors.c - the safetensors reader and writer.
 *  - round trip through the writer, and files built byte by byte here (the
 *    format: 8-byte LE header length, JSON header, data);
 *  - F16 / BF16 widening checked on hand-picked bit patterns with known
 *    values (1.0, -2.0, 65504, the smallest subnormals, inf, -0.0, 1/3);
 *  - the fixtures written by tests/ref/make_llama_fixtures.py's own writer;
 *  - malformed files: truncated, header length beyond the file, absurd header
 *    length, bad JSON, offsets outside the file, overlapping tensors, holes,
 *    size not matching dtype x shape, unknown dtype, bad shape: each refused
 *    with VIMO_ERR_FORMAT and a message naming the file and the tensor.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>

#include "vimo/safetensors.h"

static char g_dir[] = "/tmp/vimo_st_XXXXXX";

static const char *tmp_path(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    return path;
}

/* A file: 8-byte LE length of `json`, json, then data_len bytes of data. */
static const char *mkfile(const char *name, const char *json, const void *data, size_t data_len)
{
    const char *p = tmp_path(name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    uint64_t n = strlen(json);
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(n >> (8 * i));
    fwrite(le, 1, 8, f);
    fwrite(json, 1, n, f);
    static const unsigned char zeros[256];
    if (data_len) fwrite(data ? data : zeros, 1, data_len, f);
    fclose(f);
    return p;
}

static void expect_refused(const char *path, const char *msg_part)
{
    vimo_safetensors *st = NULL;
    vimo_status s = vimo_safetensors_open(path, &st);
    if (s != VIMO_ERR_FORMAT || !strstr(vimo_last_error(), msg_part))
        fprintf(stderr, "%s: status %d '%s', want '%s'\n", path, s, vimo_last_error(), msg_part);
    assert_int_equal(s, VIMO_ERR_FORMAT);
    assert_null(st);
    assert_non_null(strstr(vimo_last_error(), msg_part));
}

static void test_roundtrip(void **state)
{
    (void)state;
    float a[6] = {1, 2, 3, 4, 5, 6.5f}, b[3] = {-1, 0.25f, 1e30f}, c[1] = {42};
    int64_t sa[2] = {2, 3}, sb[1] = {3}, sz[2] = {0, 4};
    vimo_st_write_tensor t[4] = {{"layer.w", 2, sa, a}, {"layer.b", 1, sb, b}, {"scale", 0, NULL, c},
                                 {"empty", 2, sz, NULL}};
    const char *meta[] = {"format", "pt", "who", "vimo", NULL};
    const char *p = tmp_path("rt.safetensors");
    assert_int_equal(vimo_safetensors_write_f32(p, t, 4, meta), VIMO_OK);
    /* Overwrite (atomically) with the same content: still fine. */
    assert_int_equal(vimo_safetensors_write_f32(p, t, 4, meta), VIMO_OK);
    vimo_safetensors *st = NULL;
    assert_int_equal(vimo_safetensors_open(p, &st), VIMO_OK);
    assert_int_equal(vimo_safetensors_count(st), 4);
    const vimo_st_tensor *w = vimo_safetensors_get(st, "layer.w");
    assert_non_null(w);
    assert_int_equal(w->dtype, VIMO_ST_F32);
    assert_int_equal(w->ndim, 2);
    assert_int_equal(w->shape[0], 2);
    assert_int_equal(w->shape[1], 3);
    assert_int_equal(w->numel, 6);
    assert_int_equal((uintptr_t)w->data % 8, 0); /* header padded to 8 bytes */
    assert_memory_equal(w->data, a, sizeof a);
    const vimo_st_tensor *s = vimo_safetensors_get(st, "scale");
    assert_int_equal(s->ndim, 0);
    assert_int_equal(s->numel, 1);
    assert_int_equal(vimo_safetensors_get(st, "empty")->numel, 0);
    float got[3];
    assert_int_equal(vimo_safetensors_read_f32(st, "layer.b", got, 3), VIMO_OK);
    assert_memory_equal(got, b, sizeof b);
    assert_int_equal(vimo_safetensors_read_f32(st, "layer.b", got, 2), VIMO_ERR_SHAPE);
    assert_int_equal(vimo_safetensors_read_f32(st, "nope", got, 3), VIMO_ERR_NOT_FOUND);
    assert_null(vimo_safetensors_get(st, "nope"));
    assert_string_equal(vimo_safetensors_metadata(st, "who"), "vimo");
    assert_null(vimo_safetensors_metadata(st, "none"));
    vimo_safetensors_close(st);
    vimo_safetensors_close(NULL);
    /* The writer leaves no temporary files behind. */
    DIR *d = opendir(g_dir);
    struct dirent *e;
    while ((e = readdir(d))) assert_null(strstr(e->d_name, ".tmp."));
    closedir(d);
    /* Bad arguments and an unwritable target. */
    vimo_st_write_tensor dup[2] = {{"x", 1, sb, b}, {"x", 1, sb, b}};
    assert_int_equal(vimo_safetensors_write_f32(p, dup, 2, NULL), VIMO_ERR_INVALID);
    assert_int_equal(vimo_safetensors_write_f32("/nonexistent_dir_vimo/x.safetensors", t, 1, NULL), VIMO_ERR_IO);
}

/* Bit patterns with values known from IEEE 754 binary16 and bfloat16. */
static void test_half_widening(void **state)
{
    (void)state;
    const uint16_t f16[8] = {0x3C00, 0x7BFF, 0x0001, 0x8000, 0xFC00, 0x3555, 0x0400, 0xC000};
    const uint16_t bf16[6] = {0x3F80, 0xC000, 0x7F80, 0x0001, 0x3EAB, 0x8000};
    unsigned char data[28];
    memcpy(data, f16, 16);
    memcpy(data + 16, bf16, 12);
    const char *p = mkfile("half.safetensors",
                           "{\"h\":{\"dtype\":\"F16\",\"shape\":[8],\"data_offsets\":[0,16]},"
                           "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[16,28]}}",
                           data, sizeof data);
    vimo_safetensors *st = NULL;
    assert_int_equal(vimo_safetensors_open(p, &st), VIMO_OK);
    float h[8], b[6];
    assert_int_equal(vimo_safetensors_read_f32(st, "h", h, 8), VIMO_OK);
    assert_true(h[0] == 1.0f);
    assert_true(h[1] == 65504.0f);
    assert_true(h[2] == ldexpf(1.0f, -24)); /* smallest subnormal */
    assert_true(h[3] == 0.0f && signbit(h[3]));
    assert_true(isinf(h[4]) && h[4] < 0);
    assert_true(h[5] == 0.333251953125f); /* 0x3555: 1/3 rounded to binary16 */
    assert_true(h[6] == ldexpf(1.0f, -14)); /* smallest normal */
    assert_true(h[7] == -2.0f);
    assert_int_equal(vimo_safetensors_read_f32(st, "b", b, 6), VIMO_OK);
    assert_true(b[0] == 1.0f && b[1] == -2.0f && isinf(b[2]));
    assert_true(b[3] == ldexpf(1.0f, -133)); /* bf16 subnormal kept */
    assert_true(b[4] == 0.333984375f);       /* 0x3EAB */
    assert_true(b[5] == 0.0f && signbit(b[5]));
    vimo_safetensors_close(st);
}

/* The fixtures' own writer (Python, by hand) with BF16, F16 and F32 tensors. */
static void test_fixture_files(void **state)
{
    (void)state;
    vimo_safetensors *st = NULL;
    assert_int_equal(vimo_safetensors_open(LLM_FIXTURES "/tiny_qwen2/model.safetensors", &st), VIMO_OK);
    const vimo_st_tensor *e = vimo_safetensors_get(st, "model.embed_tokens.weight");
    assert_non_null(e);
    assert_int_equal(e->dtype, VIMO_ST_BF16);
    assert_int_equal(e->shape[0], 273);
    assert_int_equal(e->shape[1], 32);
    assert_int_equal(vimo_safetensors_get(st, "model.norm.weight")->dtype, VIMO_ST_F16);
    assert_null(vimo_safetensors_get(st, "lm_head.weight")); /* tied */
    vimo_safetensors_close(st);
    assert_int_equal(vimo_safetensors_open(LLM_FIXTURES "/tiny_llama/ref.safetensors", &st), VIMO_OK);
    assert_int_equal(vimo_safetensors_get(st, "tokens")->dtype, VIMO_ST_I32);
    float x;
    assert_int_equal(vimo_safetensors_read_f32(st, "tokens", &x, 1), VIMO_ERR_SHAPE);
    float t7[7];
    assert_int_equal(vimo_safetensors_read_f32(st, "tokens", t7, 7), VIMO_ERR_UNSUPPORTED);
    vimo_safetensors_close(st);
}

static void test_malformed(void **state)
{
    (void)state;
    const char *p = tmp_path("short.safetensors");
    FILE *f = fopen(p, "wb");
    fwrite("\x10\0\0", 1, 3, f);
    fclose(f);
    expect_refused(p, "shorter than the 8-byte header length");
    /* Header length beyond the file: claims 4096 bytes of JSON, has 20. */
    p = tmp_path("hlen.safetensors");
    f = fopen(p, "wb");
    fwrite("\x00\x10\0\0\0\0\0\0{\"a\":1}             ", 1, 28, f);
    fclose(f);
    expect_refused(p, "hlen.safetensors: header length 4096 beyond the file");
    /* An absurd header length (2^62) is refused before any allocation. */
    p = tmp_path("huge.safetensors");
    f = fopen(p, "wb");
    fwrite("\0\0\0\0\0\0\0\x40{}", 1, 10, f);
    fclose(f);
    expect_refused(p, "huge.safetensors: header length 4611686018427387904");
    /* JSON cut after byte 19 of the header (file offset 27): the offset is where cJSON stopped. */
    expect_refused(mkfile("json.safetensors", "{\"w\":{\"dtype\":\"F32\",", NULL, 0),
                   "json.safetensors: offset 2");
    assert_non_null(strstr(vimo_last_error(), "header is not a JSON object"));
    assert_in_range(strtol(strstr(vimo_last_error(), "offset ") + 7, NULL, 10), 26, 28);
    expect_refused(mkfile("out.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                          NULL, 8),
                   "out.safetensors: tensor 'w': data_offsets [0, 16] outside the data buffer (8 bytes");
    expect_refused(mkfile("over.safetensors",
                          "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                          "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                          NULL, 12),
                   "over.safetensors: tensor 'b' overlaps tensor 'a'");
    expect_refused(mkfile("hole.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                          NULL, 8),
                   "hole.safetensors: tensor 'a': 4 unused bytes before it");
    expect_refused(mkfile("tail.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                          NULL, 8),
                   "tail.safetensors: 4 bytes after the last tensor");
    expect_refused(mkfile("size.safetensors", "{\"a\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,8]}}",
                          NULL, 8),
                   "size.safetensors: tensor 'a': 8 bytes in data_offsets but BF16 x 3 elements needs 6");
    expect_refused(mkfile("dt.safetensors", "{\"a\":{\"dtype\":\"F31\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                          NULL, 4),
                   "dt.safetensors: tensor 'a': missing or unknown dtype F31");
    expect_refused(mkfile("neg.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}",
                          NULL, 4),
                   "neg.safetensors: tensor 'a': shape has a bad dim");
    expect_refused(mkfile("rev.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}",
                          NULL, 4),
                   "rev.safetensors: tensor 'a': bad data_offsets");
    expect_refused(mkfile("dup.safetensors",
                          "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                          "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                          NULL, 8),
                   "dup.safetensors: tensor 'a' appears twice");
    vimo_safetensors *st = NULL;
    assert_int_equal(vimo_safetensors_open(tmp_path("missing.safetensors"), &st), VIMO_ERR_NOT_FOUND);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(g_dir);
    struct dirent *e;
    char p[600];
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
            unlink(p);
        }
    if (d) closedir(d);
    return rmdir(g_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_half_widening),
        cmocka_unit_test(test_fixture_files),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
