/*
 * test_roundtrip.c - checkpoints written and read back bit for bit:
 * tensors (special float values, strided views), configuration, metadata,
 * RNG state, AdamW moments and step (and a resumed AdamW step identical to
 * an uninterrupted one), plugin modules, safetensors export/import. The
 * file layout is also decoded independently with msgpack-c and compared
 * with hand-built little-endian bytes.
 */
#include <math.h>
#include <msgpack.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ck_util.h"
#include "vimo/checkpoint.h"
#include "vimo/encoder.h"
#include "vimo/safetensors.h"

static char g_dir[256];
static vimo_rng g_rng;

static void path_in(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", g_dir, name); }

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Two parameters with gradients in two AdamW groups, three steps taken. */
typedef struct trained {
    vimo_tensor *a, *b;
    vimo_adamw *opt;
} trained;

static void set_grads(vimo_tensor *t, float k)
{
    float *g = vimo_tensor_grad(t);
    for (int64_t i = 0; i < vimo_tensor_numel(t); i++) g[i] = sinf(k * (float)(i + 1));
}

static void train_steps(trained *t, int n, float k0)
{
    for (int s = 0; s < n; s++) {
        set_grads(t->a, k0 + (float)s);
        set_grads(t->b, k0 - (float)s);
        assert_int_equal(vimo_adamw_step(t->opt, 0.5f), VIMO_OK);
    }
}

static void make_trained(trained *t)
{
    t->a = ck_randn(&g_rng, 2, (int64_t[]){3, 5});
    t->b = ck_randn(&g_rng, 1, (int64_t[]){7});
    assert_int_equal(vimo_tensor_set_requires_grad(t->a, 1), VIMO_OK);
    assert_int_equal(vimo_tensor_set_requires_grad(t->b, 1), VIMO_OK);
    assert_int_equal(vimo_adamw_new(&t->opt, NULL), VIMO_OK);
    assert_int_equal(vimo_adamw_add_group(t->opt, &t->a, 1, 1e-2f, 0.1f, NULL), VIMO_OK);
    assert_int_equal(vimo_adamw_add_group(t->opt, &t->b, 1, 1e-3f, 0.0f, NULL), VIMO_OK);
}

static void free_trained(trained *t)
{
    vimo_adamw_free(t->opt);
    vimo_tensor_free(t->a);
    vimo_tensor_free(t->b);
}

static void test_round_trip(void **state)
{
    (void)state;
    char path[512];
    path_in(path, sizeof path, "rt.ckpt");
    /* Special values: -0, infinities, a NaN with a payload, subnormals. */
    static const uint32_t special[] = {0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00123u,
                                       0x00000001u, 0x007fffffu, 0x7f7fffffu, 0x3f800000u};
    vimo_tensor *sp = NULL, *big = ck_randn(&g_rng, 3, (int64_t[]){2, 3, 4}), *base = ck_randn(&g_rng, 2, (int64_t[]){4, 5});
    assert_int_equal(vimo_tensor_new1(&sp, 8), VIMO_OK);
    for (int i = 0; i < 8; i++) vimo_tensor_data(sp)[i] = from_bits(special[i]);
    vimo_ctx *ctx = NULL;
    vimo_tensor *view = NULL;
    assert_int_equal(vimo_ctx_new(&ctx), VIMO_OK);
    assert_int_equal(vimo_transpose(ctx, &view, base, 0, 1), VIMO_OK); /* (5, 4), strided */
    trained tr;
    make_trained(&tr);
    train_steps(&tr, 3, 1.0f);
    vimo_rng rng_saved;
    vimo_rng_seed(&rng_saved, 99);
    for (int i = 0; i < 5; i++) vimo_rng_u32(&rng_saved);

    vimo_ckpt_writer *w = NULL;
    assert_int_equal(vimo_ckpt_writer_new(&w, path), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_config(w, "model.dim", "256"), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_config(w, "experiment", "{\"lr\": 0.001, \"name\": \"ünïcode\"}"), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_config(w, "empty", ""), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_config(w, "model.dim", "512"), VIMO_OK); /* last value wins */
    assert_int_equal(vimo_ckpt_add_meta(w, "git", "abc123"), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_tensor(w, "special", sp), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_tensor(w, "layers.0.big", big), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_tensor(w, "view", view), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_tensor(w, "a", tr.a), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_tensor(w, "b", tr.b), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_tensor(w, "a", tr.b), VIMO_ERR_INVALID); /* duplicate */
    assert_int_equal(vimo_ckpt_add_adamw(w, tr.opt), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_rng(w, &rng_saved), VIMO_OK);
    assert_int_equal(vimo_ckpt_set_step(w, 1234), VIMO_OK);
    assert_int_equal(vimo_ckpt_set_step(w, -1), VIMO_ERR_INVALID);
    assert_int_equal(vimo_ckpt_commit(w), VIMO_OK);
    vimo_ckpt_writer_free(w);
    assert_int_equal(ck_count_files(g_dir, ".tmp."), 0);

    vimo_ckpt *c = NULL;
    assert_int_equal(vimo_ckpt_open(&c, path), VIMO_OK);
    assert_int_equal(vimo_ckpt_step(c), 1234);
    assert_int_equal(vimo_ckpt_config_count(c), 3);
    assert_string_equal(vimo_ckpt_config_key(c, 0), "model.dim");
    assert_string_equal(vimo_ckpt_config_value(c, 0), "512");
    assert_string_equal(vimo_ckpt_config_get(c, "experiment"), "{\"lr\": 0.001, \"name\": \"ünïcode\"}");
    assert_string_equal(vimo_ckpt_config_get(c, "empty"), "");
    assert_null(vimo_ckpt_config_get(c, "nope"));
    assert_string_equal(vimo_ckpt_meta_get(c, "git"), "abc123");
    assert_int_equal(vimo_ckpt_num_tensors(c), 5);
    assert_string_equal(vimo_ckpt_tensor_name(c, 1), "layers.0.big");
    int64_t shape[VIMO_MAX_DIMS];
    assert_int_equal(vimo_ckpt_tensor_shape(c, 2, shape), 2);
    assert_int_equal(shape[0], 5);
    assert_int_equal(shape[1], 4);

    /* Bit-exact values, including the strided view in logical order. */
    float got[64], want[64];
    assert_int_equal(vimo_ckpt_read_f32(c, "special", got, 8), VIMO_OK);
    for (int i = 0; i < 8; i++) assert_int_equal(bits(got[i]), special[i]);
    assert_int_equal(vimo_ckpt_read_f32(c, "layers.0.big", got, 24), VIMO_OK);
    assert_memory_equal(got, vimo_tensor_data(big), 24 * sizeof(float));
    assert_int_equal(vimo_ckpt_read_f32(c, "view", got, 20), VIMO_OK);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 4; j++) assert_int_equal(bits(got[i * 4 + j]), bits(vimo_tensor_data(base)[j * 5 + i]));
    assert_int_equal(vimo_ckpt_read_f32(c, "view", got, 19), VIMO_ERR_SHAPE);

    /* RNG: same state, same stream. */
    vimo_rng r2;
    assert_int_equal(vimo_ckpt_get_rng(c, &r2), VIMO_OK);
    assert_memory_equal(&r2, &rng_saved, sizeof r2);
    assert_int_equal(vimo_rng_u32(&r2), vimo_rng_u32(&rng_saved));

    /* AdamW: restore into a fresh optimiser over freshly loaded tensors. */
    trained re = {0};
    assert_true(vimo_ckpt_has_adamw(c));
    assert_int_equal(vimo_ckpt_load_tensor(c, "a", &re.a), VIMO_OK);
    assert_string_equal(vimo_tensor_name(re.a), "a");
    re.b = ck_randn(&g_rng, 1, (int64_t[]){7});
    assert_int_equal(vimo_ckpt_get_tensor(c, "b", re.b), VIMO_OK);
    assert_int_equal(vimo_tensor_set_requires_grad(re.a, 1), VIMO_OK);
    assert_int_equal(vimo_tensor_set_requires_grad(re.b, 1), VIMO_OK);
    assert_int_equal(vimo_adamw_new(&re.opt, NULL), VIMO_OK);
    assert_int_equal(vimo_adamw_add_group(re.opt, &re.a, 1, 1e-2f, 0.1f, NULL), VIMO_OK);
    assert_int_equal(vimo_adamw_add_group(re.opt, &re.b, 1, 1e-3f, 0.0f, NULL), VIMO_OK);
    assert_int_equal(vimo_ckpt_restore_adamw(c, re.opt), VIMO_OK);
    assert_int_equal(vimo_adamw_steps(re.opt), 3);
    for (int g = 0; g < 2; g++) {
        vimo_tensor *p0, *p1;
        float *m0, *v0, *m1, *v1;
        vimo_adamw_moments(tr.opt, g, 0, &p0, &m0, &v0);
        vimo_adamw_moments(re.opt, g, 0, &p1, &m1, &v1);
        assert_memory_equal(m0, m1, (size_t)vimo_tensor_numel(p0) * 4);
        assert_memory_equal(v0, v1, (size_t)vimo_tensor_numel(p0) * 4);
        assert_memory_equal(vimo_tensor_data(p0), vimo_tensor_data(p1), (size_t)vimo_tensor_numel(p0) * 4);
    }
    /* Resuming: two more steps on both give bit-identical parameters. */
    train_steps(&tr, 2, 7.0f);
    train_steps(&re, 2, 7.0f);
    assert_memory_equal(vimo_tensor_data(tr.a), vimo_tensor_data(re.a), 15 * 4);
    assert_memory_equal(vimo_tensor_data(tr.b), vimo_tensor_data(re.b), 7 * 4);
    (void)want;

    vimo_ckpt_close(c);
    vimo_ckpt_close(NULL);
    free_trained(&tr);
    free_trained(&re);
    vimo_tensor_free(sp);
    vimo_tensor_free(big);
    vimo_tensor_free(base);
    vimo_ctx_free(ctx);
}

/* Decodes the file with msgpack-c directly and checks the documented
 * layout, with tensor bytes built by hand in little-endian order. */
static void test_layout_independent(void **state)
{
    (void)state;
    char path[512];
    path_in(path, sizeof path, "layout.ckpt");
    vimo_tensor *t = NULL;
    assert_int_equal(vimo_tensor_new2(&t, 1, 2), VIMO_OK);
    vimo_tensor_data(t)[0] = 1.0f;  /* 0x3f800000 */
    vimo_tensor_data(t)[1] = -2.5f; /* 0xc0200000 */
    vimo_ckpt_writer *w = NULL;
    assert_int_equal(vimo_ckpt_writer_new(&w, path), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_tensor(w, "w", t), VIMO_OK);
    assert_int_equal(vimo_ckpt_set_step(w, 7), VIMO_OK);
    assert_int_equal(vimo_ckpt_commit(w), VIMO_OK);
    vimo_ckpt_writer_free(w);
    vimo_tensor_free(t);

    size_t n = 0;
    unsigned char *buf = ck_read(path, &n);
    assert_non_null(buf);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&u, (const char *)buf, n, &off), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, n);
    msgpack_object root = u.data;
    assert_int_equal(root.type, MSGPACK_OBJECT_MAP);
    msgpack_object_kv *kv = root.via.map.ptr;
    assert_int_equal(kv[0].key.via.str.size, 5);
    assert_memory_equal(kv[0].key.via.str.ptr, "magic", 5);
    assert_memory_equal(kv[0].val.via.str.ptr, "vimo-ckpt", 9);
    assert_memory_equal(kv[1].key.via.str.ptr, "version", 7);
    assert_int_equal(kv[1].val.via.u64, 1);
    const msgpack_object *tensors = NULL, *step = NULL;
    for (uint32_t i = 0; i < root.via.map.size; i++) {
        if (kv[i].key.via.str.size == 7 && !memcmp(kv[i].key.via.str.ptr, "tensors", 7)) tensors = &kv[i].val;
        if (kv[i].key.via.str.size == 4 && !memcmp(kv[i].key.via.str.ptr, "step", 4)) step = &kv[i].val;
    }
    assert_non_null(step);
    assert_int_equal(step->via.u64, 7);
    assert_non_null(tensors);
    assert_int_equal(tensors->via.array.size, 1);
    const msgpack_object *rec = &tensors->via.array.ptr[0];
    static const unsigned char le[8] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0};
    int seen = 0;
    for (uint32_t i = 0; i < rec->via.map.size; i++) {
        const msgpack_object *k = &rec->via.map.ptr[i].key, *v = &rec->via.map.ptr[i].val;
        if (k->via.str.size == 4 && !memcmp(k->via.str.ptr, "data", 4)) {
            assert_int_equal(v->type, MSGPACK_OBJECT_BIN);
            assert_int_equal(v->via.bin.size, 8);
            assert_memory_equal(v->via.bin.ptr, le, 8);
            seen |= 1;
        }
        if (k->via.str.size == 5 && !memcmp(k->via.str.ptr, "shape", 5)) {
            assert_int_equal(v->via.array.size, 2);
            assert_int_equal(v->via.array.ptr[0].via.u64, 1);
            assert_int_equal(v->via.array.ptr[1].via.u64, 2);
            seen |= 2;
        }
        if (k->via.str.size == 5 && !memcmp(k->via.str.ptr, "dtype", 5)) {
            assert_memory_equal(v->via.str.ptr, "f32", 3);
            seen |= 4;
        }
    }
    assert_int_equal(seen, 7);
    msgpack_unpacked_destroy(&u);
    free(buf);
}

static void test_api_errors(void **state)
{
    (void)state;
    char path[512];
    path_in(path, sizeof path, "err.ckpt");
    vimo_tensor *t = ck_randn(&g_rng, 2, (int64_t[]){2, 3}), *other = NULL, *unnamed = ck_randn(&g_rng, 1, (int64_t[]){4});
    vimo_ckpt_writer *w = NULL;
    assert_int_equal(vimo_ckpt_writer_new(&w, path), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_tensor(w, "", t), VIMO_ERR_INVALID);
    assert_int_equal(vimo_ckpt_add_tensor(w, "w", t), VIMO_OK);
    assert_int_equal(vimo_ckpt_commit(w), VIMO_OK);
    /* An optimiser parameter with no name anywhere: refused at commit, file kept. */
    vimo_adamw *opt = NULL;
    assert_int_equal(vimo_tensor_set_requires_grad(unnamed, 1), VIMO_OK);
    assert_int_equal(vimo_adamw_new(&opt, NULL), VIMO_OK);
    assert_int_equal(vimo_adamw_add_group(opt, &unnamed, 1, 1e-3f, 0, NULL), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_adamw(w, opt), VIMO_OK);
    assert_int_equal(vimo_ckpt_commit(w), VIMO_ERR_INVALID);
    assert_non_null(strstr(vimo_last_error(), "has no name"));
    vimo_ckpt_writer_free(w);

    vimo_ckpt *c = NULL;
    assert_int_equal(vimo_ckpt_open(&c, path), VIMO_OK);
    assert_false(vimo_ckpt_has_adamw(c));
    assert_false(vimo_ckpt_has_rng(c));
    vimo_rng r;
    assert_int_equal(vimo_ckpt_get_rng(c, &r), VIMO_ERR_NOT_FOUND);
    assert_int_equal(vimo_ckpt_restore_adamw(c, opt), VIMO_ERR_NOT_FOUND);
    assert_int_equal(vimo_ckpt_get_tensor(c, "nope", t), VIMO_ERR_NOT_FOUND);
    assert_non_null(strstr(vimo_last_error(), "no tensor 'nope'"));
    assert_int_equal(vimo_tensor_new2(&other, 3, 2), VIMO_OK);
    assert_int_equal(vimo_ckpt_get_tensor(c, "w", other), VIMO_ERR_SHAPE);
    assert_non_null(strstr(vimo_last_error(), "tensor 'w' is (2, 3), destination is (3, 2)"));
    vimo_ckpt_close(c);
    assert_int_equal(vimo_ckpt_open(&c, "/nonexistent/x.ckpt"), VIMO_ERR_NOT_FOUND);
    assert_null(c);
    vimo_adamw_free(opt);
    vimo_tensor_free(t);
    vimo_tensor_free(other);
    vimo_tensor_free(unnamed);
}

/* Restore refuses a different grouping or a missing parameter, untouched. */
static void test_adamw_mismatch(void **state)
{
    (void)state;
    char path[512];
    path_in(path, sizeof path, "adamw.ckpt");
    trained tr;
    make_trained(&tr);
    assert_int_equal(vimo_tensor_set_name(tr.a, "a"), VIMO_OK); /* matched by own name */
    assert_int_equal(vimo_tensor_set_name(tr.b, "b"), VIMO_OK);
    train_steps(&tr, 2, 3.0f);
    vimo_ckpt_writer *w = NULL;
    assert_int_equal(vimo_ckpt_writer_new(&w, path), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_adamw(w, tr.opt), VIMO_OK);
    assert_int_equal(vimo_ckpt_commit(w), VIMO_OK);
    vimo_ckpt_writer_free(w);
    vimo_ckpt *c = NULL;
    assert_int_equal(vimo_ckpt_open(&c, path), VIMO_OK);
    /* Same tensors, one group: 'b' moved groups. */
    vimo_adamw *one = NULL;
    vimo_tensor *both[2] = {tr.a, tr.b};
    assert_int_equal(vimo_adamw_new(&one, NULL), VIMO_OK);
    assert_int_equal(vimo_adamw_add_group(one, both, 2, 1e-3f, 0, NULL), VIMO_OK);
    assert_int_equal(vimo_ckpt_restore_adamw(c, one), VIMO_ERR_INVALID);
    assert_non_null(strstr(vimo_last_error(), "'b' was saved in AdamW group 1, is now in 0"));
    float *m;
    vimo_adamw_moments(one, 0, 0, NULL, &m, NULL);
    assert_true(m[0] == 0.0f); /* nothing restored */
    assert_int_equal(vimo_adamw_steps(one), 0);
    /* A parameter the checkpoint does not know. */
    vimo_adamw *extra = NULL;
    vimo_tensor *x = ck_randn(&g_rng, 1, (int64_t[]){3});
    assert_int_equal(vimo_tensor_set_name(x, "x"), VIMO_OK);
    assert_int_equal(vimo_tensor_set_requires_grad(x, 1), VIMO_OK);
    assert_int_equal(vimo_adamw_new(&extra, NULL), VIMO_OK);
    assert_int_equal(vimo_adamw_add_group(extra, &x, 1, 1e-3f, 0, NULL), VIMO_OK);
    assert_int_equal(vimo_ckpt_restore_adamw(c, extra), VIMO_ERR_NOT_FOUND);
    assert_non_null(strstr(vimo_last_error(), "no AdamW moments for 'x'"));
    vimo_ckpt_close(c);
    vimo_adamw_free(one);
    vimo_adamw_free(extra);
    vimo_tensor_free(x);
    free_trained(&tr);
}

/* A plugin's parameters saved through its module interface and loaded
 * into a differently initialised instance. */
static void test_module(void **state)
{
    (void)state;
    char path[512];
    path_in(path, sizeof path, "module.ckpt");
    const vimo_plugin_desc *d = NULL;
    if (vimo_plugin_find("encoder.template", &d) != VIMO_OK) {
        print_message("skipped: encoder.template not found (%s)\n", vimo_last_error());
        skip();
    }
    vimo_options *o1 = NULL, *o2 = NULL;
    vimo_instance *i1 = NULL, *i2 = NULL;
    assert_int_equal(vimo_options_new(&o1, d), VIMO_OK);
    assert_int_equal(vimo_options_new(&o2, d), VIMO_OK);
    assert_int_equal(vimo_options_set(o1, "dim", "8"), VIMO_OK);
    assert_int_equal(vimo_options_set(o2, "dim", "8"), VIMO_OK);
    assert_int_equal(vimo_options_set(o1, "seed", "1"), VIMO_OK);
    assert_int_equal(vimo_options_set(o2, "seed", "2"), VIMO_OK);
    assert_int_equal(vimo_instance_new(&i1, "encoder.template", o1), VIMO_OK);
    assert_int_equal(vimo_instance_new(&i2, "encoder.template", o2), VIMO_OK);
    vimo_ckpt_writer *w = NULL;
    assert_int_equal(vimo_ckpt_writer_new(&w, path), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_module(w, "enc", i1), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_options(w, "enc", o1), VIMO_OK);
    assert_int_equal(vimo_ckpt_commit(w), VIMO_OK);
    vimo_ckpt_writer_free(w);
    vimo_ckpt *c = NULL;
    assert_int_equal(vimo_ckpt_open(&c, path), VIMO_OK);
    assert_string_equal(vimo_ckpt_config_get(c, "enc.dim"), "8");
    assert_string_equal(vimo_ckpt_config_get(c, "enc.seed"), "1");
    assert_string_equal(vimo_ckpt_tensor_name(c, 0), "enc.proj_in.weight");
    assert_int_equal(vimo_ckpt_load_module(c, "enc", i2), VIMO_OK);
    const vimo_module_iface *m1 = vimo_instance_iface(i1, VIMO_IFACE_MODULE),
                            *m2 = vimo_instance_iface(i2, VIMO_IFACE_MODULE);
    for (int i = 0; i < m1->num_params(vimo_instance_handle(i1)); i++) {
        vimo_tensor *a = m1->param(vimo_instance_handle(i1), i, NULL), *b = m2->param(vimo_instance_handle(i2), i, NULL);
        assert_memory_equal(vimo_tensor_data(a), vimo_tensor_data(b), (size_t)vimo_tensor_numel(a) * 4);
    }
    assert_int_equal(vimo_ckpt_load_module(c, "other", i2), VIMO_ERR_NOT_FOUND);
    vimo_ckpt_close(c);
    vimo_instance_free(i1);
    vimo_instance_free(i2);
    vimo_options_free(o1);
    vimo_options_free(o2);
}

static void test_safetensors(void **state)
{
    (void)state;
    char path[512], st_path[512], back[512];
    path_in(path, sizeof path, "st.ckpt");
    path_in(st_path, sizeof st_path, "st.safetensors");
    path_in(back, sizeof back, "back.ckpt");
    vimo_tensor *a = ck_randn(&g_rng, 2, (int64_t[]){3, 4}), *b = ck_randn(&g_rng, 1, (int64_t[]){5});
    vimo_ckpt_writer *w = NULL;
    assert_int_equal(vimo_ckpt_writer_new(&w, path), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_tensor(w, "w.a", a), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_tensor(w, "w.b", b), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_meta(w, "note", "exported"), VIMO_OK);
    assert_int_equal(vimo_ckpt_set_step(w, 42), VIMO_OK);
    assert_int_equal(vimo_ckpt_commit(w), VIMO_OK);
    vimo_ckpt_writer_free(w);
    vimo_ckpt *c = NULL;
    assert_int_equal(vimo_ckpt_open(&c, path), VIMO_OK);
    assert_int_equal(vimo_ckpt_export_safetensors(c, st_path), VIMO_OK);
    vimo_ckpt_close(c);
    /* Read back with the safetensors reader. */
    vimo_safetensors *sf = NULL;
    assert_int_equal(vimo_safetensors_open(st_path, &sf), VIMO_OK);
    assert_int_equal(vimo_safetensors_count(sf), 2);
    assert_string_equal(vimo_safetensors_metadata(sf, "vimo.step"), "42");
    assert_string_equal(vimo_safetensors_metadata(sf, "note"), "exported");
    float got[12];
    assert_int_equal(vimo_safetensors_read_f32(sf, "w.a", got, 12), VIMO_OK);
    assert_memory_equal(got, vimo_tensor_data(a), 12 * 4);
    vimo_safetensors_close(sf);
    /* And imported into a new checkpoint under a prefix. */
    assert_int_equal(vimo_ckpt_writer_new(&w, back), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_safetensors(w, st_path, "hf."), VIMO_OK);
    assert_int_equal(vimo_ckpt_commit(w), VIMO_OK);
    vimo_ckpt_writer_free(w);
    assert_int_equal(vimo_ckpt_open(&c, back), VIMO_OK);
    assert_int_equal(vimo_ckpt_read_f32(c, "hf.w.b", got, 5), VIMO_OK);
    assert_memory_equal(got, vimo_tensor_data(b), 5 * 4);
    vimo_ckpt_close(c);
    vimo_tensor_free(a);
    vimo_tensor_free(b);
}

int main(void)
{
    if (!ck_mkdtemp(g_dir, sizeof g_dir)) return 1;
    vimo_rng_seed(&g_rng, 2024);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),   cmocka_unit_test(test_layout_independent),
        cmocka_unit_test(test_api_errors),   cmocka_unit_test(test_adamw_mismatch),
        cmocka_unit_test(test_module),       cmocka_unit_test(test_safetensors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ck_rmdir(g_dir);
    return rc;
}
