/*
 * test_hostile.c - damaged and hostile checkpoints are refused cleanly:
 * truncation at every byte of a small checkpoint and at sampled offsets of
 * a larger one, random byte corruption, hand-made hostile headers (huge
 * counts and lengths, deep nesting, the never-used byte), and semantic
 * errors built with msgpack-c by the test itself, whose messages must give
 * the byte offset the test computed while packing. Run under ASan (which
 * aborts on huge allocations) to prove no crash and no big allocation.
 */
#include <msgpack.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ck_util.h"
#include "vimo/checkpoint.h"

static char g_dir[256];
static vimo_rng g_rng;

static void path_in(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", g_dir, name); }

/* A checkpoint with every section: tensors, config, meta, rng, adamw. */
static unsigned char *make_ckpt(const char *name, int64_t big, size_t *n)
{
    char path[512];
    path_in(path, sizeof path, name);
    vimo_tensor *a = ck_randn(&g_rng, 2, (int64_t[]){2, 3}), *b = ck_randn(&g_rng, 1, (int64_t[]){big});
    vimo_tensor_set_requires_grad(a, 1);
    vimo_adamw *opt = NULL;
    vimo_adamw_new(&opt, NULL);
    vimo_adamw_add_group(opt, &a, 1, 1e-3f, 0.01f, NULL);
    vimo_rng r;
    vimo_rng_seed(&r, 5);
    vimo_ckpt_writer *w = NULL;
    assert_int_equal(vimo_ckpt_writer_new(&w, path), VIMO_OK);
    vimo_ckpt_add_config(w, "k", "v");
    vimo_ckpt_add_config(w, "model", "template");
    vimo_ckpt_add_meta(w, "m", "x");
    vimo_ckpt_add_tensor(w, "a", a);
    vimo_ckpt_add_tensor(w, "b", b);
    vimo_ckpt_add_adamw(w, opt);
    vimo_ckpt_add_rng(w, &r);
    vimo_ckpt_set_step(w, 3);
    assert_int_equal(vimo_ckpt_commit(w), VIMO_OK);
    vimo_ckpt_writer_free(w);
    vimo_adamw_free(opt);
    vimo_tensor_free(a);
    vimo_tensor_free(b);
    return ck_read(path, n);
}

/* Opens buf[0..n) written to a file; returns the status, checks hygiene. */
static vimo_status try_open(const unsigned char *buf, size_t n, vimo_ckpt **keep)
{
    char path[512];
    path_in(path, sizeof path, "probe.ckpt");
    assert_true(ck_write(path, buf, n));
    vimo_ckpt *c = (vimo_ckpt *)1;
    vimo_status st = vimo_ckpt_open(&c, path);
    if (st) {
        assert_null(c);
        assert_non_null(strstr(vimo_last_error(), "probe.ckpt"));
    }
    if (keep) *keep = c;
    else vimo_ckpt_close(c);
    return st;
}

static void test_truncated_every_offset(void **state)
{
    (void)state;
    size_t n = 0;
    unsigned char *buf = make_ckpt("small.ckpt", 4, &n);
    assert_non_null(buf);
    assert_int_equal(try_open(buf, n, NULL), VIMO_OK);
    for (size_t len = 0; len < n; len++) {
        vimo_status st = try_open(buf, len, NULL);
        if (st != VIMO_ERR_FORMAT) fail_msg("truncated at %zu of %zu: status %d (%s)", len, n, st, vimo_last_error());
        assert_non_null(strstr(vimo_last_error(), "offset "));
    }
    print_message("refused all %zu truncations of a %zu-byte checkpoint\n", n, n);
    free(buf);
}

static void test_truncated_large_sampled(void **state)
{
    (void)state;
    size_t n = 0;
    unsigned char *buf = make_ckpt("large.ckpt", 50000, &n); /* ~200 KB */
    assert_non_null(buf);
    for (int k = 0; k < 300; k++) {
        size_t len = k < 64 ? (size_t)k : k < 128 ? n - 1 - (size_t)(k - 64) : vimo_rng_below(&g_rng, (uint32_t)n);
        assert_int_equal(try_open(buf, len, NULL), VIMO_ERR_FORMAT);
    }
    free(buf);
}

/* Random byte corruption: open either refuses or yields a checkpoint whose
 * every accessor works. Never a crash (ASan/UBSan make that loud). */
static void test_random_corruption(void **state)
{
    (void)state;
    size_t n = 0;
    unsigned char *buf = make_ckpt("flip.ckpt", 4, &n), *cp = malloc(n);
    int refused = 0, accepted = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(cp, buf, n);
        int flips = 1 + (int)vimo_rng_below(&g_rng, 4);
        for (int f = 0; f < flips; f++) {
            size_t at = vimo_rng_below(&g_rng, (uint32_t)n);
            cp[at] = it & 1 ? (unsigned char)vimo_rng_u32(&g_rng) : cp[at] ^ (unsigned char)(1u << vimo_rng_below(&g_rng, 8));
        }
        vimo_ckpt *c = NULL;
        if (try_open(cp, n, &c) != VIMO_OK) {
            refused++;
            continue;
        }
        accepted++;
        for (int i = 0; i < vimo_ckpt_num_tensors(c); i++) {
            int64_t shape[VIMO_MAX_DIMS], numel = 1;
            int nd = vimo_ckpt_tensor_shape(c, i, shape);
            for (int d = 0; d < nd; d++) numel *= shape[d];
            float *x = malloc((size_t)numel * sizeof *x);
            assert_int_equal(vimo_ckpt_read_f32(c, vimo_ckpt_tensor_name(c, i), x, numel), VIMO_OK);
            free(x);
        }
        for (int i = 0; i < vimo_ckpt_config_count(c); i++) assert_non_null(vimo_ckpt_config_value(c, i));
        vimo_ckpt_close(c);
    }
    print_message("corruption: %d refused, %d still valid (flips inside data)\n", refused, accepted);
    assert_true(refused > 1000);
    free(buf);
    free(cp);
}

static void expect_format(const unsigned char *b, size_t n, const char *why)
{
    vimo_status st = try_open(b, n, NULL);
    if (st != VIMO_ERR_FORMAT || !strstr(vimo_last_error(), why))
        fail_msg("status %d, message '%s', wanted '%s'", st, vimo_last_error(), why);
}

static void test_hostile_headers(void **state)
{
    (void)state;
    /* map32 / array32 claiming 4G entries, bin32 / str32 claiming 4 GB. */
    expect_format((const unsigned char *)"\xdf\xff\xff\xff\xff\x00\x00", 7, "offset 0: container count larger");
    expect_format((const unsigned char *)"\xdd\xff\xff\xff\xff\x00", 6, "offset 0: container count larger");
    expect_format((const unsigned char *)"\xc6\xff\xff\xff\xff\x00", 6, "offset 0: truncated: length runs past");
    expect_format((const unsigned char *)"\xdb\xff\xff\xff\xff\x00", 6, "offset 0: truncated: length runs past");
    expect_format((const unsigned char *)"\xc1", 1, "offset 0: byte 0xc1 is never used");
    expect_format((const unsigned char *)"", 0, "offset 0: empty file");
    expect_format((const unsigned char *)"\xdc\x00", 2, "offset 0: truncated header");
    /* Nesting 200 arrays deep. */
    unsigned char deep[201];
    memset(deep, 0x91, 200);
    deep[200] = 0x00;
    expect_format(deep, sizeof deep, "offset 16: nesting deeper than 16");
    /* Valid MessagePack, not a checkpoint. */
    expect_format((const unsigned char *)"\x81\xa1x\x01", 4, "not a vimo checkpoint");
    expect_format((const unsigned char *)"\x93\x01\x02\x03", 4, "not a vimo checkpoint");
}

/* ---- semantic errors, packed by the test -------------------------------------- */

static void pk_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

/* Header: magic, version; then nkeys more keys follow. */
static void pk_head(msgpack_packer *pk, size_t nkeys, int version)
{
    msgpack_pack_map(pk, 2 + nkeys);
    pk_str(pk, "magic");
    pk_str(pk, "vimo-ckpt");
    pk_str(pk, "version");
    msgpack_pack_int(pk, version);
}

static void pk_tensor(msgpack_packer *pk, const char *name, const char *dtype, int64_t d0, int64_t d1, size_t bytes)
{
    static const char zeros[64];
    msgpack_pack_map(pk, 4);
    pk_str(pk, "name");
    pk_str(pk, name);
    pk_str(pk, "dtype");
    pk_str(pk, dtype);
    pk_str(pk, "shape");
    msgpack_pack_array(pk, 2);
    msgpack_pack_int64(pk, d0);
    msgpack_pack_int64(pk, d1);
    pk_str(pk, "data");
    msgpack_pack_bin(pk, bytes);
    msgpack_pack_bin_body(pk, zeros, bytes);
}

typedef struct built {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    size_t mark; /* offset the test expects in the message */
} built;

static void begin(built *b)
{
    msgpack_sbuffer_init(&b->sb);
    msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
    b->mark = 0;
}

static void expect_built(built *b, vimo_status want, const char *why)
{
    char off[64];
    vimo_status st = try_open((const unsigned char *)b->sb.data, b->sb.size, NULL);
    snprintf(off, sizeof off, "offset %zu: ", b->mark);
    if (st != want || !strstr(vimo_last_error(), why) || !strstr(vimo_last_error(), off))
        fail_msg("status %d, message '%s', wanted %d with '%s%s'", st, vimo_last_error(), want, off, why);
    msgpack_sbuffer_destroy(&b->sb);
}

static void test_semantic_errors_with_offsets(void **state)
{
    (void)state;
    built b;
    /* Shape (2, 3) needs 24 bytes, data has 20: offset of the second record. */
    begin(&b);
    pk_head(&b.pk, 2, 1);
    pk_str(&b.pk, "step");
    msgpack_pack_int(&b.pk, 0);
    pk_str(&b.pk, "tensors");
    msgpack_pack_array(&b.pk, 2);
    pk_tensor(&b.pk, "ok", "f32", 1, 1, 4);
    b.mark = b.sb.size;
    pk_tensor(&b.pk, "w", "f32", 2, 3, 20);
    expect_built(&b, VIMO_ERR_FORMAT, "tensor 'w': shape needs 24 bytes of f32, data has 20");

    /* Duplicate names: reported at the later record. */
    begin(&b);
    pk_head(&b.pk, 2, 1);
    pk_str(&b.pk, "step");
    msgpack_pack_int(&b.pk, 0);
    pk_str(&b.pk, "tensors");
    msgpack_pack_array(&b.pk, 2);
    pk_tensor(&b.pk, "w", "f32", 1, 1, 4);
    b.mark = b.sb.size;
    pk_tensor(&b.pk, "w", "f32", 1, 2, 8);
    expect_built(&b, VIMO_ERR_FORMAT, "tensor 'w' appears twice");

    /* Another dtype: unsupported, at its record. */
    begin(&b);
    pk_head(&b.pk, 2, 1);
    pk_str(&b.pk, "step");
    msgpack_pack_int(&b.pk, 0);
    pk_str(&b.pk, "tensors");
    msgpack_pack_array(&b.pk, 1);
    b.mark = b.sb.size;
    pk_tensor(&b.pk, "h", "f16", 1, 2, 4);
    expect_built(&b, VIMO_ERR_UNSUPPORTED, "dtype 'f16'");

    /* A huge shape with little data cannot allocate anything. */
    begin(&b);
    pk_head(&b.pk, 2, 1);
    pk_str(&b.pk, "step");
    msgpack_pack_int(&b.pk, 0);
    pk_str(&b.pk, "tensors");
    msgpack_pack_array(&b.pk, 1);
    b.mark = b.sb.size;
    pk_tensor(&b.pk, "huge", "f32", INT64_C(1) << 40, 1, 4);
    expect_built(&b, VIMO_ERR_FORMAT, "shape[0] must be an int in 1..(file size / 4)");

    /* A newer format version: refused before anything else, at its value. */
    begin(&b);
    pk_head(&b.pk, 0, 2);
    b.mark = b.sb.size - 1;
    expect_built(&b, VIMO_ERR_UNSUPPORTED, "format version 2, this reader reads 1");

    /* Wrong magic. */
    begin(&b);
    msgpack_pack_map(&b.pk, 2);
    b.mark = 1;
    pk_str(&b.pk, "magic");
    pk_str(&b.pk, "vimo-ckpX");
    pk_str(&b.pk, "version");
    msgpack_pack_int(&b.pk, 1);
    expect_built(&b, VIMO_ERR_FORMAT, "not a vimo checkpoint");

    /* A top-level key twice. */
    begin(&b);
    pk_head(&b.pk, 3, 1);
    pk_str(&b.pk, "step");
    msgpack_pack_int(&b.pk, 0);
    b.mark = b.sb.size;
    pk_str(&b.pk, "step");
    msgpack_pack_int(&b.pk, 1);
    pk_str(&b.pk, "tensors");
    msgpack_pack_array(&b.pk, 0);
    expect_built(&b, VIMO_ERR_FORMAT, "key 'step' appears twice");

    /* Missing tensors. */
    begin(&b);
    pk_head(&b.pk, 1, 1);
    pk_str(&b.pk, "step");
    msgpack_pack_int(&b.pk, 0);
    expect_built(&b, VIMO_ERR_FORMAT, "'step' and 'tensors' are required");

    /* A config value that is not a string, and a negative step. */
    begin(&b);
    pk_head(&b.pk, 2, 1);
    pk_str(&b.pk, "step");
    msgpack_pack_int(&b.pk, 0);
    pk_str(&b.pk, "config");
    b.mark = b.sb.size;
    msgpack_pack_map(&b.pk, 1);
    pk_str(&b.pk, "lr");
    msgpack_pack_double(&b.pk, 1e-3);
    expect_built(&b, VIMO_ERR_FORMAT, "'config' entry 0: key and value must be strings");
    begin(&b);
    pk_head(&b.pk, 1, 1);
    pk_str(&b.pk, "step");
    b.mark = b.sb.size;
    msgpack_pack_int(&b.pk, -5);
    expect_built(&b, VIMO_ERR_FORMAT, "'step' must be an integer >= 0");

    /* RNG state with a value above 32 bits. */
    begin(&b);
    pk_head(&b.pk, 1, 1);
    pk_str(&b.pk, "rng");
    b.mark = b.sb.size;
    msgpack_pack_array(&b.pk, 4);
    for (int i = 0; i < 4; i++) msgpack_pack_uint64(&b.pk, i == 2 ? UINT64_C(1) << 32 : 1);
    expect_built(&b, VIMO_ERR_FORMAT, "'rng'[2] must be a uint32");

    /* AdamW moments that no group lists; and m/v of different lengths. */
    begin(&b);
    pk_head(&b.pk, 3, 1);
    pk_str(&b.pk, "step");
    msgpack_pack_int(&b.pk, 0);
    pk_str(&b.pk, "tensors");
    msgpack_pack_array(&b.pk, 0);
    pk_str(&b.pk, "adamw");
    msgpack_pack_map(&b.pk, 3);
    pk_str(&b.pk, "step");
    msgpack_pack_int(&b.pk, 1);
    pk_str(&b.pk, "groups");
    msgpack_pack_array(&b.pk, 0);
    pk_str(&b.pk, "moments");
    msgpack_pack_array(&b.pk, 2);
    b.mark = b.sb.size;
    msgpack_pack_map(&b.pk, 3);
    pk_str(&b.pk, "name");
    pk_str(&b.pk, "p");
    pk_str(&b.pk, "m");
    msgpack_pack_bin(&b.pk, 4);
    msgpack_pack_bin_body(&b.pk, "abcd", 4);
    pk_str(&b.pk, "v");
    msgpack_pack_bin(&b.pk, 4);
    msgpack_pack_bin_body(&b.pk, "abcd", 4);
    size_t second = b.sb.size;
    msgpack_pack_map(&b.pk, 3);
    pk_str(&b.pk, "name");
    pk_str(&b.pk, "q");
    pk_str(&b.pk, "m");
    msgpack_pack_bin(&b.pk, 4);
    msgpack_pack_bin_body(&b.pk, "abcd", 4);
    pk_str(&b.pk, "v");
    msgpack_pack_bin(&b.pk, 8);
    msgpack_pack_bin_body(&b.pk, "abcdefgh", 8);
    b.mark = second;
    expect_built(&b, VIMO_ERR_FORMAT, "moments 'q': 'm' and 'v' must be bins of equal length");

    /* Moments whose length differs from the stored tensor of that name, and
     * moments no group lists. */
    for (int variant = 0; variant < 2; variant++) {
        begin(&b);
        pk_head(&b.pk, 3, 1);
        pk_str(&b.pk, "step");
        msgpack_pack_int(&b.pk, 0);
        pk_str(&b.pk, "tensors");
        msgpack_pack_array(&b.pk, 1);
        pk_tensor(&b.pk, "p", "f32", 1, 1, 4);
        pk_str(&b.pk, "adamw");
        msgpack_pack_map(&b.pk, 3);
        pk_str(&b.pk, "step");
        msgpack_pack_int(&b.pk, 1);
        pk_str(&b.pk, "moments");
        msgpack_pack_array(&b.pk, 1);
        b.mark = b.sb.size;
        msgpack_pack_map(&b.pk, 3);
        pk_str(&b.pk, "name");
        pk_str(&b.pk, "p");
        pk_str(&b.pk, "m");
        msgpack_pack_bin(&b.pk, 8);
        msgpack_pack_bin_body(&b.pk, "abcdefgh", 8);
        pk_str(&b.pk, "v");
        msgpack_pack_bin(&b.pk, 8);
        msgpack_pack_bin_body(&b.pk, "abcdefgh", 8);
        pk_str(&b.pk, "groups");
        msgpack_pack_array(&b.pk, 1);
        msgpack_pack_map(&b.pk, 1);
        pk_str(&b.pk, "params");
        msgpack_pack_array(&b.pk, (size_t)(1 - variant));
        if (!variant) pk_str(&b.pk, "p");
        expect_built(&b, VIMO_ERR_FORMAT, variant ? "moments 'p' belong to no group" : "moments 'p' have 8 bytes, the tensor 4");
    }

    /* Trailing bytes after a valid checkpoint. */
    begin(&b);
    pk_head(&b.pk, 2, 1);
    pk_str(&b.pk, "step");
    msgpack_pack_int(&b.pk, 0);
    pk_str(&b.pk, "tensors");
    msgpack_pack_array(&b.pk, 0);
    b.mark = b.sb.size;
    msgpack_pack_nil(&b.pk);
    expect_built(&b, VIMO_ERR_FORMAT, "1 bytes after the checkpoint");

    /* Unknown keys are skipped (forward compatibility). */
    begin(&b);
    pk_head(&b.pk, 3, 1);
    pk_str(&b.pk, "step");
    msgpack_pack_int(&b.pk, 9);
    pk_str(&b.pk, "future");
    msgpack_pack_array(&b.pk, 2);
    msgpack_pack_nil(&b.pk);
    pk_str(&b.pk, "x");
    pk_str(&b.pk, "tensors");
    msgpack_pack_array(&b.pk, 0);
    vimo_ckpt *c = NULL;
    assert_int_equal(try_open((const unsigned char *)b.sb.data, b.sb.size, &c), VIMO_OK);
    assert_int_equal(vimo_ckpt_step(c), 9);
    vimo_ckpt_close(c);
    msgpack_sbuffer_destroy(&b.sb);
}

int main(void)
{
    if (!ck_mkdtemp(g_dir, sizeof g_dir)) return 1;
    vimo_rng_seed(&g_rng, 7);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_truncated_every_offset), cmocka_unit_test(test_truncated_large_sampled),
        cmocka_unit_test(test_random_corruption),      cmocka_unit_test(test_hostile_headers),
        cmocka_unit_test(test_semantic_errors_with_offsets),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ck_rmdir(g_dir);
    return rc;
}
