/*
 * test_npy.c - .npy reader/writer: round trips, byte-exact headers checked
 * against the NPY spec by hand, versions 2.0/3.0 and float64 files built by
 * hand, the published HumanML3D Mean.npy, and malformed files (each must fail
 * with the file name and a byte offset, never crash or allocate wildly).
 */
#include <math.h>
#include <stdint.h>

#include "mtest.h"

/* Builds an .npy image: magic, version, header (padded to 64 with '\n'),
 * then DATA. Independent of the code under test. */
static size_t build_npy(unsigned char *buf, int major, const char *dict, const void *data, size_t n)
{
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t total = pre + dl + 1, pad = (64 - total % 64) % 64, hl = dl + pad + 1;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    if (major == 1) {
        buf[8] = (unsigned char)(hl & 0xff), buf[9] = (unsigned char)(hl >> 8);
    } else {
        for (int i = 0; i < 4; i++) buf[8 + i] = (unsigned char)(hl >> (8 * i));
    }
    memcpy(buf + pre, dict, dl);
    memset(buf + pre + dl, ' ', pad);
    buf[pre + dl + pad] = '\n';
    memcpy(buf + pre + hl, data, n);
    return pre + hl + n;
}

static void test_round_trip(void **state)
{
    (void)state;
    const char *p = mt_tmp("rt.npy");
    float x[24];
    for (int i = 0; i < 24; i++) x[i] = (float)i * 0.5f - 3.25f;
    int64_t shapes[4][3] = {{2, 3, 4}, {24, 0, 0}, {0, 0, 0}, {1, 0, 0}};
    int ndims[4] = {3, 1, 0, 1};
    for (int s = 0; s < 4; s++) {
        vimo_npy a;
        assert_int_equal(vimo_npy_save(p, x, ndims[s], shapes[s]), VIMO_OK);
        assert_int_equal(vimo_npy_load(p, &a), VIMO_OK);
        assert_int_equal(a.ndim, ndims[s]);
        int64_t cnt = 1;
        for (int d = 0; d < a.ndim; d++) assert_int_equal(a.shape[d], shapes[s][d]), cnt *= shapes[s][d];
        assert_int_equal(a.count, cnt);
        assert_memory_equal(a.data, x, (size_t)cnt * sizeof(float));
        vimo_npy_free(&a);
    }
    /* Zero-size array. */
    vimo_npy a;
    assert_int_equal(vimo_npy_save(p, NULL, 2, (int64_t[]){0, 263}), VIMO_OK);
    assert_int_equal(vimo_npy_load(p, &a), VIMO_OK);
    assert_int_equal(a.count, 0);
    vimo_npy_free(&a);
    vimo_npy_free(NULL);
    unlink(p);
}

static void test_header_bytes(void **state)
{
    (void)state;
    /* Per the NPY 1.0 spec: magic, 1 0, uint16 LE header length, dict, spaces,
     * '\n', total prefix a multiple of 64: here 128 bytes, header length 118. */
    const char *p = mt_tmp("hdr.npy");
    float x[6] = {1, 2, 3, 4, 5, 6};
    assert_int_equal(vimo_npy_save(p, x, 2, (int64_t[]){2, 3}), VIMO_OK);
    unsigned char buf[256];
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_int_equal(n, 128 + 24);
    assert_memory_equal(buf, "\x93NUMPY\x01\x00\x76\x00", 10);
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    assert_memory_equal(buf + 10, dict, strlen(dict));
    for (size_t i = 10 + strlen(dict); i < 127; i++) assert_int_equal(buf[i], ' ');
    assert_int_equal(buf[127], '\n');
    /* 1.0f little-endian = 00 00 80 3f. */
    assert_memory_equal(buf + 128, "\x00\x00\x80\x3f", 4);
    unlink(p);
}

static void test_versions_and_f8(void **state)
{
    (void)state;
    unsigned char buf[512];
    const char *p = mt_tmp("v.npy");
    float f4[3] = {1.5f, -2.0f, 0.25f};
    for (int major = 2; major <= 3; major++) {
        size_t n = build_npy(buf, major, "{\"shape\": (3,), \"fortran_order\": False, \"descr\": \"<f4\"}", f4,
                             sizeof f4);
        mt_write(p, buf, n);
        vimo_npy a;
        assert_int_equal(vimo_npy_load(p, &a), VIMO_OK);
        assert_int_equal(a.ndim, 1);
        assert_memory_equal(a.data, f4, sizeof f4);
        vimo_npy_free(&a);
    }
    double f8[4] = {1.0 / 3.0, 1e-3, -7.0, 123456.75};
    size_t n = build_npy(buf, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", f8, sizeof f8);
    mt_write(p, buf, n);
    vimo_npy a;
    assert_int_equal(vimo_npy_load(p, &a), VIMO_OK);
    assert_int_equal(a.file_dtype_bytes, 8);
    for (int i = 0; i < 4; i++) assert_true(a.data[i] == (float)f8[i]);
    vimo_npy_free(&a);
    unlink(p);
}

static void expect_bad(const char *dict, int major, size_t data_bytes, const char *needle)
{
    unsigned char buf[1024] = {0}, zeros[256] = {0};
    const char *p = mt_tmp("bad.npy");
    size_t n = build_npy(buf, major, dict, zeros, data_bytes);
    mt_write(p, buf, n);
    vimo_npy a;
    assert_int_equal(vimo_npy_load(p, &a), VIMO_ERR_FORMAT);
    assert_null(a.data);
    mt_assert_msg(p);
    mt_assert_msg("byte ");
    mt_assert_msg(needle);
    unlink(p);
}

static void test_malformed(void **state)
{
    (void)state;
    expect_bad("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 1, 24, "fortran_order");
    expect_bad("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 1, 24, "big-endian");
    expect_bad("{'descr': '|O', 'fortran_order': False, 'shape': (3,), }", 1, 24, "dtype '|O'");
    expect_bad("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", 1, 12, "dtype '<i4'");
    /* shape says 6 floats (24 bytes), file holds 20 or 28. */
    expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 1, 20, "holds 20");
    expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 1, 28, "holds 28");
    /* An absurd shape must be refused from the header alone. */
    expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (999999999999, 999999), }", 1, 8,
               "shape");
    expect_bad("{'descr': '<f4', 'shape': (2,), }", 1, 8, "lacks");
    expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 1, 8, "unexpected");
    expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", 1, 8, "integer");
    expect_bad("{'descr': '<f4' 'fortran_order': False}", 1, 8, "expected");
    expect_bad("['descr', '<f4']", 1, 8, "'{'");

    unsigned char buf[64];
    const char *p = mt_tmp("bad2.npy");
    vimo_npy a;
    /* Bad magic. */
    static const char zip[] = "PK\x03\x04 this is a zip";
    mt_write(p, zip, sizeof zip - 1);
    assert_int_equal(vimo_npy_load(p, &a), VIMO_ERR_FORMAT);
    mt_assert_msg("magic");
    /* Version 4.0. */
    memcpy(buf, "\x93NUMPY\x04\x00\x10\x00", 10);
    mt_write(p, buf, 10);
    assert_int_equal(vimo_npy_load(p, &a), VIMO_ERR_FORMAT);
    mt_assert_msg("version 4.0");
    /* Header length beyond the end of the file. */
    memcpy(buf, "\x93NUMPY\x01\x00\xff\xff{'descr'", 17);
    mt_write(p, buf, 17);
    assert_int_equal(vimo_npy_load(p, &a), VIMO_ERR_FORMAT);
    mt_assert_msg("byte 8");
    /* Empty file, missing file. */
    mt_write(p, "", 0);
    assert_int_equal(vimo_npy_load(p, &a), VIMO_ERR_FORMAT);
    unlink(p);
    assert_int_equal(vimo_npy_load(p, &a), VIMO_ERR_IO);
    assert_int_equal(vimo_npy_load(NULL, &a), VIMO_ERR_INVALID);
}

static void test_published_mean(void **state)
{
    (void)state;
    if (!mt_data_dir()) skip();
    vimo_npy m, s;
    assert_int_equal(vimo_npy_load(mt_path(0, "motion/humanml3d/Mean.npy"), &m), VIMO_OK);
    assert_int_equal(vimo_npy_load(mt_path(1, "motion/humanml3d/Std.npy"), &s), VIMO_OK);
    assert_int_equal(m.ndim, 1);
    assert_int_equal(m.shape[0], 263);
    assert_int_equal(s.shape[0], 263);
    /* PROVENANCE.md: data at byte offset 128, so file size 128 + 263*4 = 1180. */
    FILE *f = fopen(mt_path(0, "motion/humanml3d/Mean.npy"), "rb");
    assert_non_null(f);
    fseek(f, 128, SEEK_SET);
    float first;
    assert_int_equal(fread(&first, 4, 1, f), 1);
    fclose(f);
    assert_true(first == m.data[0]);
    for (int i = 0; i < 263; i++) assert_true(s.data[i] > 0 && isfinite(m.data[i]));
    vimo_npy_free(&m);
    vimo_npy_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),      cmocka_unit_test(test_header_bytes),
        cmocka_unit_test(test_versions_and_f8), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_published_mean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
