/*
 * test_video_vit.c - encoder.video_vit against an independent reference.
 *
 * fixtures/tiny_clip holds a tiny random CLIP vision model in the Hugging
 * Face layout and its outputs for a fixed input, computed in float64 with
 * plain torch ops written from the architecture (tests/ref/
 * make_clip_fixture.py; transformers is not used). The plugin, loaded by id
 * through the plugin loader, must match them (max abs diff < 1e-4) for every
 * layer/pool choice. Also: the temporal embedding and the frame layout, the
 * freeze option, finite-difference gradients through the whole plugin
 * (tests/core/gradcheck.h), and the errors for missing, mis-shaped, unknown
 * and wrongly typed tensors, bad files, bad config.json and bad options.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../core/gradcheck.h"
#include "vimo/encoder.h"
#include "vimo/safetensors.h"

#define TOL 1e-4
#define FIX VIT_FIXTURES "/tiny_clip"
#define P 16 /* patches per 32x32 frame with patch 8 */
#define D 32

static char g_tmp[64];   /* scratch folder for broken copies of the fixture */
static vimo_safetensors *g_ref;

/* ---- helpers -------------------------------------------------------------------- */

static vimo_status make(vimo_instance **inst, const char *const *kv)
{
    const vimo_plugin_desc *desc;
    vimo_options *o = NULL;
    vimo_status st = vimo_plugin_find("encoder.video_vit", &desc);
    if (!st) st = vimo_options_new(&o, desc);
    for (int i = 0; !st && kv[i]; i += 2) st = vimo_options_set(o, kv[i], kv[i + 1]);
    if (!st) st = vimo_instance_new(inst, "encoder.video_vit", o);
    vimo_options_free(o);
    return st;
}

static float *ref(const char *name, int64_t n)
{
    float *buf = malloc((size_t)n * sizeof *buf);
    assert_non_null(buf);
    assert_int_equal(vimo_safetensors_read_f32(g_ref, name, buf, (size_t)n), VIMO_OK);
    return buf;
}

/* Runs the instance on the reference pixels (2 frames) as `batch` clips;
 * returns the tokens as a malloc'd copy and their shape. */
static float *run(vimo_instance *inst, int64_t batch, int64_t shape[3])
{
    const vimo_encoder_iface *enc = vimo_instance_iface(inst, VIMO_IFACE_ENCODER);
    assert_non_null(enc);
    vimo_tensor *x;
    assert_int_equal(vimo_tensor_new(&x, 4, (int64_t[]){2, 3, 32, 32}), VIMO_OK);
    float *px = ref("pixel_values", 2 * 3 * 32 * 32);
    assert_int_equal(vimo_tensor_copy_from(x, px, 2 * 3 * 32 * 32), VIMO_OK);
    vimo_ctx *ctx;
    vimo_ctx_new(&ctx);
    vimo_tensor *tok = NULL;
    vimo_status st = enc->forward(vimo_instance_handle(inst), ctx, x, batch, NULL, &tok);
    if (st) fprintf(stderr, "forward: %s\n", vimo_last_error());
    assert_int_equal(st, VIMO_OK);
    assert_int_equal(vimo_tensor_ndim(tok), 3);
    for (int i = 0; i < 3; i++) shape[i] = vimo_tensor_dim(tok, i);
    int64_t n = vimo_tensor_numel(tok);
    float *out = malloc((size_t)n * sizeof *out);
    assert_int_equal(vimo_tensor_copy_to(tok, out, n), VIMO_OK);
    vimo_ctx_free(ctx);
    vimo_tensor_free(x);
    free(px);
    return out;
}

/* out row r of `rows` (D each) against ref row map(r) of the named tensor. */
static double max_diff_rows(const float *out, int64_t rows, const float *r, const int64_t *map)
{
    double worst = 0.0;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < D; j++) {
            double e = fabs((double)out[i * D + j] - (double)r[map[i] * D + j]);
            if (e > worst) worst = e;
        }
    return worst;
}

/* Checks `kv` options on the fixture run as `batch` clips against reference
 * `name` ((2, 17, D) token tensor, or (2, D) when per_frame). Frame f of the
 * output is image f; token p of a frame is ref token 1 + p (CLS dropped). */
static void check_ref(const char *const *kv, int64_t batch, const char *name, int per_frame)
{
    vimo_instance *inst;
    vimo_status st = make(&inst, kv);
    if (st) fprintf(stderr, "create: %s\n", vimo_last_error());
    assert_int_equal(st, VIMO_OK);
    int64_t shape[3], frames = 2 / batch, per = per_frame ? 1 : P;
    float *out = run(inst, batch, shape);
    assert_int_equal(shape[0], batch);
    assert_int_equal(shape[1], frames * per);
    assert_int_equal(shape[2], D);
    int64_t rows = 2 * per, map[2 * P];
    for (int64_t i = 0; i < rows; i++) map[i] = per_frame ? i : (i / P) * 17 + 1 + i % P;
    float *r = ref(name, per_frame ? 2 * D : 2 * 17 * D);
    double e = max_diff_rows(out, rows, r, map);
    const char *w = strrchr(kv[1], '/');
    printf("video_vit %-18s layer %-3s pool %-5s batch %lld vs %-16s max abs diff %.3g\n", w ? w + 1 : kv[1], kv[3],
           kv[5], (long long)batch, name, e);
    assert_true(e < TOL);
    free(out);
    free(r);
    vimo_instance_free(inst);
}

/* ---- reference outputs ---------------------------------------------------------- */

static void test_reference_layers(void **state)
{
    (void)state;
    /* LLaVA's choice: penultimate block, patch tokens, no post_layernorm. */
    check_ref((const char *[]){"weights", FIX, "layer", "-2", "pool", "none", NULL}, 2, "penultimate", 0);
    check_ref((const char *[]){"weights", FIX, "layer", "1", "pool", "none", NULL}, 1, "penultimate", 0);
    /* Layer -1: post_layernorm on every kept token; cls = HF pooler_output. */
    check_ref((const char *[]){"weights", FIX, "layer", "-1", "pool", "none", NULL}, 1, "last_post_ln", 0);
    check_ref((const char *[]){"weights", FIX, "layer", "-1", "pool", "cls", NULL}, 2, "pooled", 1);
    /* Layer L = 2 counted from the start: HF last_hidden_state, no norm. */
    check_ref((const char *[]){"weights", FIX, "layer", "2", "pool", "none", NULL}, 2, "last_hidden", 0);
    /* hidden_states[0] = embeddings after pre_layrnorm, by both indexings. */
    check_ref((const char *[]){"weights", FIX, "layer", "0", "pool", "none", NULL}, 1, "embeddings", 0);
    check_ref((const char *[]){"weights", FIX, "layer", "-3", "pool", "none", NULL}, 2, "embeddings", 0);
    check_ref((const char *[]){"weights", FIX, "layer", "-2", "pool", "mean", NULL}, 1, "penultimate_mean", 1);
}

static void test_reference_config_forms(void **state)
{
    (void)state;
    /* The config.json path itself, and the bare safetensors file with the
     * architecture given as options (defaults are ViT-B/32: all must be set). */
    check_ref((const char *[]){"weights", FIX "/config.json", "layer", "-1", "pool", "cls", NULL}, 2, "pooled", 1);
    const char *bare[] = {"weights", FIX "/model.safetensors", "layer", "-1", "pool", "cls", "image_size", "32",
                          "patch", "8", "width", "32", "layers", "2", "heads", "4", "mlp", "64", NULL};
    check_ref(bare, 2, "pooled", 1);
    /* A CLIPVisionModel config (model_type clip_vision_model, fields at the
     * top) next to a copy of the weights. */
    char dir[128], path[160], cmd[512];
    snprintf(dir, sizeof dir, "%s/vision_only", g_tmp);
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s/model.safetensors %s/", dir, FIX, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"architectures\": [\"CLIPVisionModel\"], \"model_type\": \"clip_vision_model\", \"image_size\": 32,"
          " \"patch_size\": 8, \"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 4,"
          " \"intermediate_size\": 64, \"hidden_act\": \"quick_gelu\", \"layer_norm_eps\": 1e-05}\n",
          f);
    fclose(f);
    check_ref((const char *[]){"weights", dir, "layer", "-2", "pool", "none", NULL}, 2, "penultimate", 0);
}

/* ---- temporal embedding, freeze ----------------------------------------------- */

static vimo_tensor *param(vimo_instance *inst, const char *want)
{
    const vimo_module_iface *mod = vimo_instance_iface(inst, VIMO_IFACE_MODULE);
    void *h = vimo_instance_handle(inst);
    for (int i = 0; i < mod->num_params(h); i++) {
        const char *name;
        vimo_tensor *t = mod->param(h, i, &name);
        if (strcmp(name, want) == 0) return t;
    }
    fail_msg("no parameter %s", want);
    return NULL;
}

static void test_temporal_embedding(void **state)
{
    (void)state;
    vimo_instance *inst;
    assert_int_equal(make(&inst, (const char *[]){"weights", FIX, "layer", "-2", "pool", "none", "frames_max", "3",
                                                  NULL}),
                     VIMO_OK);
    vimo_tensor *te = param(inst, "temporal_embedding");
    assert_int_equal(vimo_tensor_dim(te, 0), 3);
    float *t = vimo_tensor_data(te);
    for (int f = 0; f < 3; f++)
        for (int j = 0; j < D; j++) t[f * D + j] = (float)(f + 1) * 0.5f + (float)j * 0.01f;
    int64_t shape[3];
    float *out = run(inst, 1, shape); /* one clip of two frames: (1, 2 * P, D) */
    float *r = ref("penultimate", 2 * 17 * D);
    double worst = 0.0;
    for (int64_t i = 0; i < 2 * P; i++) {
        int64_t f = i / P, rr = f * 17 + 1 + i % P;
        for (int j = 0; j < D; j++) worst = fmax(worst, fabs(out[i * D + j] - (r[rr * D + j] + t[f * D + j])));
    }
    printf("video_vit temporal embedding: max abs diff %.3g\n", worst);
    assert_true(worst < TOL);
    free(out);
    free(r);
    vimo_instance_free(inst);
}

/* Backward of sum(tokens): d/d temporal[f][j] = tokens of frame f in the batch. */
static void backward_sum(vimo_instance *inst, int64_t bf, int64_t batch)
{
    const vimo_encoder_iface *enc = vimo_instance_iface(inst, VIMO_IFACE_ENCODER);
    vimo_ctx *ctx;
    vimo_ctx_new(&ctx);
    vimo_rng rng;
    vimo_rng_seed(&rng, 5);
    vimo_tensor *x = gc_rand(&rng, 4, (int64_t[]){bf, 3, 8, 8}, 1.0f, 0), *tok, *loss;
    assert_int_equal(enc->forward(vimo_instance_handle(inst), ctx, x, batch, NULL, &tok), VIMO_OK);
    assert_int_equal(vimo_sum(ctx, &loss, tok), VIMO_OK);
    assert_int_equal(vimo_backward(ctx, loss), VIMO_OK);
    vimo_ctx_free(ctx);
    vimo_tensor_free(x);
}

static const char *k_tiny[] = {"image_size", "8", "patch", "4", "width", "8", "heads", "2", "layers", "2", "mlp", "16",
                               NULL};

static vimo_status make_tiny(vimo_instance **inst, const char *const *extra)
{
    const char *kv[64];
    int n = 0;
    for (int i = 0; k_tiny[i]; i++) kv[n++] = k_tiny[i];
    for (int i = 0; extra[i]; i++) kv[n++] = extra[i];
    kv[n] = NULL;
    return make(inst, kv);
}

static void test_freeze(void **state)
{
    (void)state;
    vimo_instance *inst;
    assert_int_equal(make_tiny(&inst, (const char *[]){"layer", "-1", "pool", "none", "frames_max", "4", NULL}),
                     VIMO_OK); /* freeze defaults to true */
    const vimo_module_iface *mod = vimo_instance_iface(inst, VIMO_IFACE_MODULE);
    void *h = vimo_instance_handle(inst);
    int np = mod->num_params(h), trainable = 0;
    /* 3 embeddings + pre + post norms (4) + 2 layers x 16 + temporal. */
    assert_int_equal(np, 3 + 4 + 2 * 16 + 1);
    for (int i = 0; i < np; i++) trainable += vimo_tensor_requires_grad(mod->param(h, i, NULL));
    assert_int_equal(trainable, 1);
    backward_sum(inst, 4, 2); /* 2 clips x 2 frames, 4 patches each */
    vimo_tensor *te = param(inst, "temporal_embedding");
    const float *g = vimo_tensor_grad(te);
    assert_non_null(g);
    for (int f = 0; f < 4; f++)
        for (int j = 0; j < 8; j++) assert_float_equal(g[f * 8 + j], f < 2 ? 2.0f * 4.0f : 0.0f, 1e-6);
    for (int i = 0; i < np; i++) { /* frozen: no gradient reached the backbone */
        vimo_tensor *t = mod->param(h, i, NULL);
        const float *gp = vimo_tensor_grad(t);
        for (int64_t k = 0; t != te && gp && k < vimo_tensor_numel(t); k++) assert_true(gp[k] == 0.0f);
    }
    vimo_instance_free(inst);

    assert_int_equal(make_tiny(&inst, (const char *[]){"freeze", "false", NULL}), VIMO_OK);
    mod = vimo_instance_iface(inst, VIMO_IFACE_MODULE);
    h = vimo_instance_handle(inst);
    for (int i = 0; i < mod->num_params(h); i++) assert_true(vimo_tensor_requires_grad(mod->param(h, i, NULL)));
    vimo_instance_free(inst);
}

/* ---- gradients ------------------------------------------------------------------ */

typedef struct {
    vimo_instance *inst;
    int64_t batch;
} grad_ud;

static vimo_status f_vit(vimo_ctx *c, vimo_tensor **in, vimo_tensor **o, void *ud)
{
    grad_ud *g = ud;
    const vimo_encoder_iface *enc = vimo_instance_iface(g->inst, VIMO_IFACE_ENCODER);
    return enc->forward(vimo_instance_handle(g->inst), c, in[0], g->batch, NULL, o);
}

/* Every parameter and the input against central differences. The temporal
 * embedding starts at zero; random values make the check less special. */
static int grad_case(const char *layer, const char *pool, const char *act)
{
    vimo_instance *inst;
    vimo_status st = make_tiny(&inst, (const char *[]){"layer", layer, "pool", pool, "act", act, "freeze", "false",
                                                      "frames_max", "3", "seed", "11", NULL});
    assert_int_equal(st, VIMO_OK);
    const vimo_module_iface *mod = vimo_instance_iface(inst, VIMO_IFACE_MODULE);
    void *h = vimo_instance_handle(inst);
    int np = mod->num_params(h);
    vimo_tensor **in = calloc((size_t)np + 1, sizeof *in);
    vimo_rng rng;
    vimo_rng_seed(&rng, 7);
    in[0] = gc_rand(&rng, 4, (int64_t[]){4, 3, 8, 8}, 1.0f, 1); /* 2 clips x 2 frames */
    for (int i = 0; i < np; i++) in[i + 1] = mod->param(h, i, NULL);
    vimo_tensor *te = param(inst, "temporal_embedding");
    vimo_rng_fill_normal(&rng, vimo_tensor_data(te), vimo_tensor_numel(te), 0.5f);
    char name[64];
    snprintf(name, sizeof name, "video_vit %s/%s/%s", layer, pool, act);
    grad_ud ud = {inst, 2};
    int bad = gradcheck(name, f_vit, in, np + 1, &ud, 1e-2, 3e-2, 3e-3);
    vimo_tensor_free(in[0]);
    free(in);
    vimo_instance_free(inst);
    return bad;
}

static void test_gradients(void **state)
{
    (void)state;
    assert_int_equal(grad_case("-1", "none", "quick_gelu"), 0);
    assert_int_equal(grad_case("-1", "cls", "gelu"), 0);
    assert_int_equal(grad_case("-2", "mean", "quick_gelu"), 0);
}

/* ---- errors --------------------------------------------------------------------- */

/* Writes a copy of the fixture's vision tensors (as F32) to g_tmp/NAME,
 * leaving out `drop`, replacing `reshape`'s shape by (rows, D) and adding an
 * extra tensor `add` of shape (D). Returns the path (static buffer). */
static const char *broken_copy(const char *name, const char *drop, const char *reshape, int64_t rows,
                               const char *add)
{
    static char path[160];
    snprintf(path, sizeof path, "%s/%s", g_tmp, name);
    vimo_safetensors *sf;
    assert_int_equal(vimo_safetensors_open(FIX "/model.safetensors", &sf), VIMO_OK);
    size_t n = vimo_safetensors_count(sf), k = 0;
    vimo_st_write_tensor *w = calloc(n + 1, sizeof *w);
    float **bufs = calloc(n + 1, sizeof *bufs);
    int64_t(*shapes)[VIMO_ST_MAX_DIMS] = calloc(n + 1, sizeof *shapes);
    for (size_t i = 0; i < n; i++) {
        const vimo_st_tensor *t = vimo_safetensors_at(sf, i);
        if (strncmp(t->name, "vision_model.", 13) || t->dtype == VIMO_ST_I64 || (drop && !strcmp(t->name, drop)))
            continue;
        int64_t numel = t->numel;
        memcpy(shapes[k], t->shape, sizeof shapes[k]);
        int ndim = t->ndim;
        if (reshape && !strcmp(t->name, reshape)) {
            ndim = 2;
            shapes[k][0] = rows;
            shapes[k][1] = D;
            numel = rows * D;
        }
        bufs[k] = calloc((size_t)numel, sizeof(float));
        if (numel <= t->numel) assert_int_equal(vimo_st_to_f32(t->dtype, t->data, bufs[k], (size_t)numel), VIMO_OK);
        w[k] = (vimo_st_write_tensor){t->name, ndim, shapes[k], bufs[k]};
        k++;
    }
    if (add) {
        shapes[k][0] = D;
        bufs[k] = calloc(D, sizeof(float));
        w[k] = (vimo_st_write_tensor){add, 1, shapes[k], bufs[k]};
        k++;
    }
    assert_int_equal(vimo_safetensors_write_f32(path, w, k, NULL), VIMO_OK);
    for (size_t i = 0; i < k; i++) free(bufs[i]);
    free(bufs);
    free(shapes);
    free(w);
    vimo_safetensors_close(sf);
    return path;
}

/* Creating with `weights` = path (+ the tiny fixture's architecture as
 * options) fails with `want` and a message holding every string of `has`. */
static void expect_error(const char *path, vimo_status want, const char *const *has)
{
    vimo_instance *inst = NULL;
    const char *kv[] = {"weights", path, "image_size", "32", "patch", "8", "width", "32", "layers", "2", "heads", "4",
                        "mlp", "64", NULL};
    vimo_status st = make(&inst, kv);
    const char *msg = vimo_last_error();
    if (st) printf("video_vit expected error: %s\n", msg);
    assert_int_equal(st, want);
    if (want == VIMO_OK) {
        vimo_instance_free(inst);
        return;
    }
    assert_null(inst);
    for (int i = 0; has[i]; i++) {
        if (!strstr(msg, has[i])) fail_msg("message lacks '%s': %s", has[i], msg);
    }
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_weight_errors(void **state)
{
    (void)state;
    /* The writer itself is fine: an unmodified copy loads. */
    const char *ok = broken_copy("ok.safetensors", NULL, NULL, 0, NULL);
    expect_error(ok, VIMO_OK, (const char *[]){NULL});
    const char *fc2b = "vision_model.encoder.layers.1.mlp.fc2.bias";
    const char *p = broken_copy("missing.safetensors", fc2b, NULL, 0, NULL);
    expect_error(p, VIMO_ERR_NOT_FOUND, (const char *[]){"missing.safetensors", fc2b, "missing", NULL});
    const char *pos = "vision_model.embeddings.position_embedding.weight";
    p = broken_copy("shape.safetensors", NULL, pos, 16, NULL);
    expect_error(p, VIMO_ERR_SHAPE, (const char *[]){"shape.safetensors", pos, "(16, 32)", "(17, 32)", NULL});
    const char *extra = "vision_model.encoder.layers.2.layer_norm1.bias";
    p = broken_copy("unknown.safetensors", NULL, NULL, 0, extra);
    expect_error(p, VIMO_ERR_FORMAT, (const char *[]){"unknown.safetensors", extra, NULL});

    /* An integer tensor where a float one belongs (hand-written file). */
    char path[160];
    snprintf(path, sizeof path, "%s/int.safetensors", g_tmp);
    const char hdr[] = "{\"vision_model.embeddings.class_embedding\":{\"dtype\":\"I32\",\"shape\":[32],"
                       "\"data_offsets\":[0,128]}}";
    uint64_t len = sizeof hdr - 1;
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(&len, 8, 1, f);
    fwrite(hdr, 1, len, f);
    for (int i = 0; i < 128; i++) fputc(0, f);
    fclose(f);
    expect_error(path, VIMO_ERR_FORMAT, (const char *[]){"int.safetensors", "class_embedding", "I32", NULL});

    /* Not a safetensors file at all; no file; a folder without weights. */
    snprintf(path, sizeof path, "%s/garbage.safetensors", g_tmp);
    write_text(path, "this is not a safetensors file, it is plain text of some length");
    expect_error(path, VIMO_ERR_FORMAT, (const char *[]){"garbage.safetensors", NULL});
    snprintf(path, sizeof path, "%s/nope.safetensors", g_tmp);
    expect_error(path, VIMO_ERR_NOT_FOUND, (const char *[]){"nope.safetensors", NULL});
    snprintf(path, sizeof path, "%s/binonly", g_tmp);
    char file[192];
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(file, sizeof file, "%s/pytorch_model.bin", path);
    write_text(file, "pickle");
    expect_error(path, VIMO_ERR_NOT_FOUND, (const char *[]){"model.safetensors", "pytorch_model.bin", NULL});
}

/* A folder g_tmp/NAME with the fixture's weights and this config.json. */
static const char *config_dir(const char *name, const char *config)
{
    static char dir[160];
    char cmd[512], path[192];
    snprintf(dir, sizeof dir, "%s/%s", g_tmp, name);
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s/model.safetensors %s/", dir, FIX, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_text(path, config);
    return dir;
}

static void test_config_errors(void **state)
{
    (void)state;
    expect_error(config_dir("badjson", "{\"vision_config\": {\"hidden_size\": 32,"), VIMO_ERR_FORMAT,
                 (const char *[]){"config.json", "bad JSON", NULL});
    expect_error(config_dir("novision", "{\"model_type\": \"llama\", \"hidden_size\": 32}"), VIMO_ERR_FORMAT,
                 (const char *[]){"config.json", "vision_config", NULL});
    expect_error(config_dir("act", "{\"vision_config\": {\"hidden_act\": \"swish\"}}"), VIMO_ERR_UNSUPPORTED,
                 (const char *[]){"config.json", "swish", NULL});
    expect_error(config_dir("heads", "{\"vision_config\": {\"hidden_size\": 30, \"num_attention_heads\": 4}}"),
                 VIMO_ERR_INVALID, (const char *[]){"config.json", "heads", NULL});
    expect_error(config_dir("type", "{\"vision_config\": {\"hidden_size\": \"32\"}}"), VIMO_ERR_FORMAT,
                 (const char *[]){"config.json", "hidden_size", NULL});
    /* A hostile size is refused before any allocation. */
    expect_error(config_dir("huge", "{\"vision_config\": {\"num_hidden_layers\": 100000}}"), VIMO_ERR_INVALID,
                 (const char *[]){"config.json", "layers", NULL});
    /* A valid config whose sizes disagree with the weights (HF defaults:
     * ViT-B/32) names the first tensor that does not fit. */
    expect_error(config_dir("mismatch", "{\"vision_config\": {}}"), VIMO_ERR_SHAPE,
                 (const char *[]){"model.safetensors", "class_embedding", "(32)", "(768)", NULL});
}

static void test_option_errors(void **state)
{
    (void)state;
    vimo_instance *inst = NULL;
    assert_int_equal(make_tiny(&inst, (const char *[]){"pool", "max", NULL}), VIMO_ERR_INVALID);
    assert_non_null(strstr(vimo_last_error(), "pool"));
    assert_int_equal(make_tiny(&inst, (const char *[]){"layer", "3", NULL}), VIMO_ERR_INVALID);
    assert_int_equal(make_tiny(&inst, (const char *[]){"layer", "-4", NULL}), VIMO_ERR_INVALID);
    assert_int_equal(make_tiny(&inst, (const char *[]){"act", "tanh", NULL}), VIMO_ERR_INVALID);
    assert_int_equal(make_tiny(&inst, (const char *[]){"heads", "3", NULL}), VIMO_ERR_INVALID);
    assert_int_equal(make_tiny(&inst, (const char *[]){"frames_max", "0", NULL}), VIMO_ERR_INVALID);
    assert_int_equal(make_tiny(&inst, (const char *[]){"patch", "16", NULL}), VIMO_ERR_INVALID);
    assert_null(inst);

    /* Forward refuses inputs that do not fit. */
    assert_int_equal(make_tiny(&inst, (const char *[]){"frames_max", "2", NULL}), VIMO_OK);
    const vimo_encoder_iface *enc = vimo_instance_iface(inst, VIMO_IFACE_ENCODER);
    void *h = vimo_instance_handle(inst);
    vimo_ctx *ctx;
    vimo_ctx_new(&ctx);
    vimo_tensor *x3, *x16, *tok = NULL;
    assert_int_equal(vimo_tensor_new(&x3, 4, (int64_t[]){3, 3, 8, 8}), VIMO_OK);
    assert_int_equal(vimo_tensor_new(&x16, 4, (int64_t[]){2, 3, 16, 16}), VIMO_OK);
    assert_int_equal(enc->forward(h, ctx, x3, 2, NULL, &tok), VIMO_ERR_SHAPE);   /* 3 frames, 2 clips */
    assert_non_null(strstr(vimo_last_error(), "(3, 3, 8, 8)"));
    assert_int_equal(enc->forward(h, ctx, x3, 1, NULL, &tok), VIMO_ERR_SHAPE);   /* 3 > frames_max */
    assert_int_equal(enc->forward(h, ctx, x16, 1, NULL, &tok), VIMO_ERR_SHAPE);  /* wrong image size */
    assert_int_equal(enc->forward(h, ctx, x3, 0, NULL, &tok), VIMO_ERR_SHAPE);   /* batch 0 */
    assert_int_equal(enc->forward(h, ctx, x3, 3, NULL, &tok), VIMO_OK);          /* 3 clips of 1 frame */
    assert_int_equal(vimo_tensor_dim(tok, 0), 3);
    assert_int_equal(vimo_tensor_dim(tok, 1), 4); /* layer -2, pool none: 4 patches of 1 frame */
    vimo_ctx_free(ctx);
    vimo_tensor_free(x3);
    vimo_tensor_free(x16);
    vimo_instance_free(inst);
}

static int setup(void **state)
{
    (void)state;
    strcpy(g_tmp, "/tmp/vimo_vit_XXXXXX");
    if (!mkdtemp(g_tmp)) return -1;
    return vimo_safetensors_open(FIX "/ref.safetensors", &g_ref) == VIMO_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    vimo_safetensors_close(g_ref);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_tmp);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    vimo_init();
    if (vimo_plugin_scan() != VIMO_OK || vimo_plugin_find("encoder.video_vit", &(const vimo_plugin_desc *){0})) {
        fprintf(stderr, "encoder.video_vit not found: %s (set VIMO_PLUGIN_PATH)\n", vimo_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_layers), cmocka_unit_test(test_reference_config_forms),
        cmocka_unit_test(test_temporal_embedding), cmocka_unit_test(test_freeze),
        cmocka_unit_test(test_gradients), cmocka_unit_test(test_weight_errors),
        cmocka_unit_test(test_config_errors), cmocka_unit_test(test_option_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
