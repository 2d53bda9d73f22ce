/*
 * test_llama_load.c - the model loaders.
 *  - llama2.c stories260K (in-repo copy): header values as documented in
 *    ../shared/data/PROVENANCE.md §3, and weights found at the byte offsets
 *    that layout implies (read here with fread, not through the loader);
 *  - the same file truncated at several offsets, and hostile headers: refused;
 *  - the HF fixtures (tests/ref/make_llama_fixtures.py): config, tied and
 *    untied heads, BF16/F16 widening against the raw file bits;
 *  - HF folders with a wrong config.json, missing tensors, unsupported
 *    features or a broken safetensors file: refused with the file named.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vimo/safetensors.h"
#include "vimo_llama.h"

#define STORIES LLM_WEIGHTS "/stories260K.bin"
#define TINY_LLAMA LLM_FIXTURES "/tiny_llama"
#define TINY_QWEN2 LLM_FIXTURES "/tiny_qwen2"

static char g_dir[] = "/tmp/vimo_llama_XXXXXX";

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc(*n ? *n : 1);
    assert_int_equal(fread(p, 1, *n, f), *n);
    fclose(f);
    return p;
}

static const char *put(const char *name, const void *data, size_t n)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
    return path;
}

static void expect_refused(const char *path, vimo_status want, const char *msg_part)
{
    vimo_llama_model *m = NULL;
    vimo_status st = vimo_llama_load(path, &m);
    if (st != want || !strstr(vimo_last_error(), msg_part))
        fprintf(stderr, "%s: status %d '%s', want %d '%s'\n", path, st, vimo_last_error(), want, msg_part);
    assert_int_equal(st, want);
    assert_null(m);
    assert_non_null(strstr(vimo_last_error(), msg_part));
}

/* ---- llama2.c --------------------------------------------------------------------- */

static void test_llama2c_layout(void **state)
{
    (void)state;
    vimo_llama_model *m = NULL;
    assert_int_equal(vimo_llama_load(STORIES, &m), VIMO_OK);
    const vimo_llama_config *c = &m->cfg;
    assert_string_equal(c->arch, "llama2c");
    assert_int_equal(c->dim, 64);
    assert_int_equal(c->hidden_dim, 172);
    assert_int_equal(c->n_layers, 5);
    assert_int_equal(c->n_heads, 8);
    assert_int_equal(c->n_kv_heads, 4);
    assert_int_equal(c->head_dim, 8);
    assert_int_equal(c->vocab_size, 512);
    assert_int_equal(c->seq_len, 512);
    assert_int_equal(c->tied, 1);
    assert_int_equal(c->rope, VIMO_LLAMA_ROPE_INTERLEAVED);
    assert_true(c->rope_theta == 10000.0f && c->norm_eps == 1e-5f);
    assert_ptr_equal(m->lm_head, m->embed);
    /* Offsets from PROVENANCE.md §3: after the 28-byte header, token_embedding
     * (512x64), rms_att (5x64), wq (5x64x64), wk (5x32x64), ... */
    size_t n;
    unsigned char *raw = slurp(STORIES, &n);
    const size_t V = 512, C = 64, L = 5, K = 32, H = 172;
    const size_t off_wk = 28 + 4 * (V * C + L * C + L * C * C);
    const size_t off_wk1 = off_wk + 4 * (1 * K * C); /* layer 1 */
    const size_t off_w2 = 28 + 4 * (V * C + L * C + L * C * C + 2 * L * K * C + L * C * C + L * C + L * H * C);
    const size_t off_final = 28 + 4 * (V * C + L * C * (2 + 2 * C + 2 * K + 3 * H));
    const vimo_llama_tensor *t = vimo_llama_find(m, "model.layers.1.self_attn.k_proj.weight");
    assert_non_null(t);
    assert_int_equal(t->shape[0], 32);
    assert_int_equal(t->shape[1], 64);
    assert_memory_equal(t->data, raw + off_wk1, K * C * 4);
    t = vimo_llama_find(m, "model.layers.0.mlp.down_proj.weight"); /* llama2.c w2 */
    assert_int_equal(t->shape[0], 64);
    assert_int_equal(t->shape[1], 172);
    assert_memory_equal(t->data, raw + off_w2, C * H * 4);
    assert_memory_equal(vimo_llama_find(m, "model.norm.weight")->data, raw + off_final, C * 4);
    assert_memory_equal(m->embed, raw + 28, V * C * 4);
    assert_non_null(vimo_llama_find(m, "lm_head.weight"));
    assert_null(vimo_llama_find(m, "model.layers.5.mlp.up_proj.weight"));
    assert_int_equal(m->n_tensors, 1 + 5 * 9 + 2);
    vimo_llama_free(m);
    vimo_llama_free(NULL);

    /* Truncated anywhere: refused with the sizes named. */
    const size_t cuts[] = {0, 10, 27, 28, 1000, n / 2, off_final, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        const char *p = put("cut.bin", raw, cuts[i]);
        expect_refused(p, VIMO_ERR_FORMAT,
                       cuts[i] < 28 ? "shorter than the 28-byte llama2.c header" : "cut.bin: header");
        if (cuts[i] >= 28) assert_non_null(strstr(vimo_last_error(), "needs 1056540 bytes"));
    }
    /* Hostile headers. */
    int32_t *h = (int32_t *)raw;
    int32_t saved[7];
    memcpy(saved, h, sizeof saved);
    const struct {
        int field;
        int32_t value;
        const char *msg;
    } bad[] = {{0, 0, "dim = 0 outside"},
               {2, -5, "n_layers = -5 outside"},
               {5, 1 << 30, "vocab_size = 1073741824 outside"},
               {4, 3, "not a multiple of n_kv_heads 3"},
               {3, 12, "dim 64 not a multiple of n_heads 12"},
               {0, 2147483647, "dim = 2147483647 outside"},
               {1, 1 << 20, "needs"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(h, saved, sizeof saved);
        h[bad[i].field] = bad[i].value;
        expect_refused(put("hostile.bin", raw, n), VIMO_ERR_FORMAT, bad[i].msg);
    }
    memcpy(h, saved, sizeof saved);
    memcpy(raw, "24ka\x01\0\0\0", 8); /* llama2.c v1 export magic */
    expect_refused(put("v1.bin", raw, n), VIMO_ERR_UNSUPPORTED, "only the legacy v0 format");
    free(raw);
}

/* ---- Hugging Face --------------------------------------------------------------- */

static void test_hf_llama(void **state)
{
    (void)state;
    vimo_llama_model *m = NULL;
    assert_int_equal(vimo_llama_load(TINY_LLAMA, &m), VIMO_OK);
    const vimo_llama_config *c = &m->cfg;
    assert_string_equal(c->arch, "LlamaForCausalLM");
    assert_int_equal(c->dim, 32);
    assert_int_equal(c->hidden_dim, 48);
    assert_int_equal(c->n_layers, 2);
    assert_int_equal(c->n_heads, 4);
    assert_int_equal(c->n_kv_heads, 2);
    assert_int_equal(c->head_dim, 8);
    assert_int_equal(c->seq_len, 64);
    assert_int_equal(c->rope, VIMO_LLAMA_ROPE_HALF);
    assert_int_equal(c->tied, 0);
    assert_int_equal(c->qkv_bias, 0);
    assert_int_equal(c->bos_id, 1);
    assert_int_equal(c->eos_id, 2);
    assert_true(c->norm_eps == 1e-5f);
    assert_true(m->lm_head != m->embed);
    vimo_safetensors *st = NULL;
    assert_int_equal(vimo_safetensors_open(TINY_LLAMA "/model.safetensors", &st), VIMO_OK);
    const vimo_st_tensor *w = vimo_safetensors_get(st, "lm_head.weight");
    assert_memory_equal(m->lm_head, w->data, w->nbytes);
    w = vimo_safetensors_get(st, "model.layers.1.mlp.gate_proj.weight");
    assert_memory_equal(m->layers[1].w_gate, w->data, w->nbytes);
    vimo_safetensors_close(st);
    vimo_llama_free(m);
    /* The config.json path works as well as the folder. */
    assert_int_equal(vimo_llama_load(TINY_LLAMA "/config.json", &m), VIMO_OK);
    vimo_llama_free(m);
}

static void test_hf_qwen2_widening(void **state)
{
    (void)state;
    vimo_llama_model *m = NULL;
    assert_int_equal(vimo_llama_load(TINY_QWEN2, &m), VIMO_OK);
    const vimo_llama_config *c = &m->cfg;
    assert_string_equal(c->arch, "Qwen2ForCausalLM");
    assert_int_equal(c->tied, 1);
    assert_int_equal(c->qkv_bias, 1);
    assert_true(c->rope_theta == 1000000.0f && c->norm_eps == 1e-6f);
    assert_ptr_equal(m->lm_head, m->embed);
    assert_non_null(m->layers[0].bq);
    vimo_safetensors *st = NULL;
    assert_int_equal(vimo_safetensors_open(TINY_QWEN2 "/model.safetensors", &st), VIMO_OK);
    /* BF16: the float whose top 16 bits are the stored bits. */
    const vimo_st_tensor *b = vimo_safetensors_get(st, "model.layers.1.self_attn.k_proj.bias");
    assert_int_equal(b->dtype, VIMO_ST_BF16);
    for (int i = 0; i < 16; i++) {
        uint16_t bits;
        memcpy(&bits, (const char *)b->data + 2 * i, 2);
        uint32_t f = (uint32_t)bits << 16;
        assert_memory_equal(&m->layers[1].bk[i], &f, 4);
    }
    /* F16 (model.norm.weight): values near 1.0, exact in binary16 steps of 2^-10. */
    const vimo_st_tensor *nw = vimo_safetensors_get(st, "model.norm.weight");
    assert_int_equal(nw->dtype, VIMO_ST_F16);
    for (int i = 0; i < 32; i++) {
        uint16_t bits;
        memcpy(&bits, (const char *)nw->data + 2 * i, 2);
        int e = (bits >> 10) & 31, mant = bits & 1023;
        assert_true(e > 0 && e < 31 && !(bits & 0x8000)); /* positive normal numbers here */
        double want = (1.0 + mant / 1024.0) * ((e >= 15) ? (double)(1 << (e - 15)) : 1.0 / (1 << (15 - e)));
        assert_true((double)m->final_norm[i] == want);
    }
    vimo_safetensors_close(st);
    vimo_llama_free(m);
}

/* A copy of tiny_llama in the temp folder with config.json replaced. */
static const char *hf_copy(const char *config, int truncate_weights)
{
    static const char *files[] = {"model.safetensors", "tokenizer.json"};
    static char dir[600];
    snprintf(dir, sizeof dir, "%s/hf", g_dir);
    mkdir(dir, 0700);
    for (size_t i = 0; i < 2; i++) {
        char src[600], dst[700];
        size_t n;
        snprintf(src, sizeof src, "%s/%s", TINY_LLAMA, files[i]);
        unsigned char *d = slurp(src, &n);
        snprintf(dst, sizeof dst, "hf/%s", files[i]);
        put(dst, d, i == 0 && truncate_weights ? n - 100 : n);
        free(d);
    }
    put("hf/config.json", config, strlen(config));
    return dir;
}

static char *config_with(const char *key, const char *value)
{
    size_t n;
    char *c = (char *)slurp(TINY_LLAMA "/config.json", &n);
    static char out[4096];
    c = realloc(c, n + 1);
    c[n] = '\0';
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    char *at = strstr(c, pat);
    if (!at) { /* add the key */
        char *brace = strchr(c, '{');
        snprintf(out, sizeof out, "{\"%s\": %s,%s", key, value, brace + 1);
    } else {
        char *end = at + strlen(pat);
        while (*end == ' ') end++;
        if (*end == '[' || *end == '{') { /* the fixtures nest no deeper */
            char close = *end == '[' ? ']' : '}';
            end = strchr(end, close) + 1;
        } else {
            while (*end && *end != ',' && *end != '\n' && *end != '}') end++;
        }
        snprintf(out, sizeof out, "%.*s\"%s\": %s%s", (int)(at - c), c, key, value, end);
    }
    free(c);
    return out;
}

static void test_hf_refused(void **state)
{
    (void)state;
    expect_refused(hf_copy(config_with("intermediate_size", "64"), 0), VIMO_ERR_SHAPE,
                   "model.safetensors: model.layers.0.mlp.gate_proj.weight is (48, 32), config.json says (64, 32)");
    expect_refused(hf_copy(config_with("num_hidden_layers", "3"), 0), VIMO_ERR_FORMAT,
                   "tensor 'model.layers.2.input_layernorm.weight' missing");
    expect_refused(hf_copy(config_with("vocab_size", "100"), 0), VIMO_ERR_SHAPE,
                   "model.embed_tokens.weight is (40, 32), config.json says (100, 32)");
    expect_refused(hf_copy(config_with("rope_scaling", "{\"type\": \"linear\", \"factor\": 2.0}"), 0),
                   VIMO_ERR_UNSUPPORTED, "rope_scaling");
    expect_refused(hf_copy(config_with("architectures", "[\"MistralForCausalLM\"]"), 0), VIMO_ERR_UNSUPPORTED,
                   "architecture 'MistralForCausalLM'");
    expect_refused(hf_copy(config_with("hidden_size", "\"big\""), 0), VIMO_ERR_FORMAT,
                   "'hidden_size' missing or not an integer");
    expect_refused(hf_copy(config_with("num_attention_heads", "5"), 0), VIMO_ERR_FORMAT,
                   "hidden_size 32 not a multiple of heads 5");
    expect_refused(hf_copy("{\"hidden_size\": 32,", 0), VIMO_ERR_FORMAT,
                   "config.json: offset 1"); /* 18 or 19: cut after byte 18 */
    assert_non_null(strstr(vimo_last_error(), "bad JSON"));
    /* A truncated safetensors file: its offsets now point outside it. */
    expect_refused(hf_copy(config_with("vocab_size", "40"), 1), VIMO_ERR_FORMAT,
                   "model.safetensors: tensor 'lm_head.weight': data_offsets");
    expect_refused(g_dir, VIMO_ERR_NOT_FOUND, "config.json");
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(g_dir) ? 0 : -1;
}

static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[1024];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (e->d_type == DT_DIR) rm_tree(p);
        else unlink(p);
    }
    if (d) closedir(d);
    rmdir(dir);
}

static int teardown(void **state)
{
    (void)state;
    rm_tree(g_dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama2c_layout),
        cmocka_unit_test(test_hf_llama),
        cmocka_unit_test(test_hf_qwen2_widening),
        cmocka_unit_test(test_hf_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
