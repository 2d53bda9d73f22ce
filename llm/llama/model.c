/*
 * model.c - the model object shared by both loaders: storage (maps, owned
 * buffers), the table of HF-named weights, lookup, free, load dispatch; and
 * the llama2.c "v0" checkpoint loader.
 *
 * llama2.c v0 layout (run.c memory_map_weights, PROVENANCE.md §3): 7 int32
 * (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len), then
 * fp32 token_embedding (V, C), rms_att (L, C), wq (L, Q, C), wk (L, K, C),
 * wv (L, K, C), wo (L, C, Q), rms_ffn (L, C), w1 (L, H, C), w2 (L, C, H),
 * w3 (L, H, C), rms_final (C), the legacy freq_cis_real/imag (seq_len,
 * head_size / 2 each, skipped), then wcls (V, C) only when vocab_size < 0.
 * Not here: llama2.c v1/v2 exports (magic "ak42"), which are refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model_int.h"

/* ---- storage and the weight table ------------------------------------------ */

vimo_status llama_model_new(const char *path, vimo_llama_model **out)
{
    vimo_llama_model *m = calloc(1, sizeof *m);
    if (!m || !(m->storage = calloc(1, sizeof *m->storage)) || !(m->path = strdup(path))) {
        vimo_llama_free(m);
        return vimo_error(VIMO_ERR_NOMEM, "llama: out of memory");
    }
    m->cfg.bos_id = m->cfg.eos_id = -1;
    *out = m;
    return VIMO_OK;
}

vimo_status llama_add_tensor(vimo_llama_model *m, const char *name, int ndim, int64_t d0, int64_t d1,
                             const float *data)
{
    if (m->n_tensors % 32 == 0) {
        vimo_llama_tensor *t = realloc(m->tensors, (size_t)(m->n_tensors + 32) * sizeof *t);
        if (!t) return vimo_error(VIMO_ERR_NOMEM, "llama: out of memory");
        m->tensors = t;
    }
    vimo_llama_tensor *t = &m->tensors[m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = ndim > 1 ? d1 : 1;
    t->data = data;
    return VIMO_OK;
}

float *llama_own(vimo_llama_model *m, size_t n)
{
    vimo_llama_storage *s = m->storage;
    if (s->n_owned % 64 == 0) {
        float **o = realloc(s->owned, (size_t)(s->n_owned + 64) * sizeof *o);
        if (!o) return NULL;
        s->owned = o;
    }
    float *p = malloc(n ? n * sizeof *p : 1);
    if (p) s->owned[s->n_owned++] = p;
    return p;
}

const vimo_llama_tensor *vimo_llama_find(const vimo_llama_model *m, const char *name)
{
    for (int i = 0; m && name && i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

void vimo_llama_free(vimo_llama_model *m)
{
    if (!m) return;
    vimo_llama_storage *s = m->storage;
    if (s) {
        if (s->map) munmap(s->map, s->map_len);
        for (int i = 0; i < s->n_st; i++) vimo_safetensors_close(s->st[i]);
        free(s->st);
        for (int i = 0; i < s->n_owned; i++) free(s->owned[i]);
        free(s->owned);
        free(s);
    }
    free(m->layers);
    free(m->tensors);
    free(m->path);
    free(m);
}

const char *llama_base(const char *path)
{
    const char *s = strrchr(path, '/');
    return s && s[1] ? s + 1 : path;
}

/* Rejects sizes no real model has, before any size arithmetic (hostile
 * headers), then shapes that do not fit together. */
vimo_status llama_check_config(const char *file, const vimo_llama_config *c, int dim_is_heads_x_head_dim)
{
    struct {
        const char *name;
        long v, lo, hi;
    } lim[] = {{"dim", c->dim, 1, 65536},           {"hidden_dim", c->hidden_dim, 1, 1 << 20},
               {"n_layers", c->n_layers, 1, 1024},  {"n_heads", c->n_heads, 1, 4096},
               {"n_kv_heads", c->n_kv_heads, 1, 4096}, {"head_dim", c->head_dim, 2, 4096},
               {"vocab_size", c->vocab_size, 1, 4 << 20}, {"seq_len", c->seq_len, 1, 1 << 22}};
    for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++)
        if (lim[i].v < lim[i].lo || lim[i].v > lim[i].hi)
            return vimo_error(VIMO_ERR_FORMAT, "llama: %s: %s = %ld outside [%ld, %ld]", file, lim[i].name, lim[i].v,
                              lim[i].lo, lim[i].hi);
    if (dim_is_heads_x_head_dim && c->dim % c->n_heads != 0)
        return vimo_error(VIMO_ERR_FORMAT, "llama: %s: dim %d not a multiple of n_heads %d", file, c->dim, c->n_heads);
    if (c->n_heads % c->n_kv_heads != 0 || c->head_dim % 2 != 0)
        return vimo_error(VIMO_ERR_FORMAT, "llama: %s: n_heads %d not a multiple of n_kv_heads %d, or odd head_dim %d",
                          file, c->n_heads, c->n_kv_heads, c->head_dim);
    if (!(c->norm_eps > 0.0f && c->norm_eps < 1.0f) || !(c->rope_theta > 1.0f && c->rope_theta < 1e12f))
        return vimo_error(VIMO_ERR_FORMAT, "llama: %s: rms_norm_eps %g or rope_theta %g implausible", file,
                          (double)c->norm_eps, (double)c->rope_theta);
    return VIMO_OK;
}

/* Registers the per-layer weights under their HF names. */
vimo_status llama_register_layers(vimo_llama_model *m)
{
    const vimo_llama_config *c = &m->cfg;
    int64_t C = c->dim, Q = (int64_t)c->n_heads * c->head_dim, K = (int64_t)c->n_kv_heads * c->head_dim,
            H = c->hidden_dim;
    vimo_status st = VIMO_OK;
    char n[80];
#define REG(suffix, nd, a, b, p)                                                                                 \
    do {                                                                                                         \
        snprintf(n, sizeof n, "model.layers.%d.%s", l, suffix);                                                  \
        if ((st = llama_add_tensor(m, n, nd, a, b, p))) return st;                                               \
    } while (0)
    if ((st = llama_add_tensor(m, "model.embed_tokens.weight", 2, c->vocab_size, C, m->embed))) return st;
    for (int l = 0; l < c->n_layers; l++) {
        const vimo_llama_layer *w = &m->layers[l];
        REG("input_layernorm.weight", 1, C, 1, w->attn_norm);
        REG("self_attn.q_proj.weight", 2, Q, C, w->wq);
        REG("self_attn.k_proj.weight", 2, K, C, w->wk);
        REG("self_attn.v_proj.weight", 2, K, C, w->wv);
        if (c->qkv_bias) {
            REG("self_attn.q_proj.bias", 1, Q, 1, w->bq);
            REG("self_attn.k_proj.bias", 1, K, 1, w->bk);
            REG("self_attn.v_proj.bias", 1, K, 1, w->bv);
        }
        REG("self_attn.o_proj.weight", 2, C, Q, w->wo);
        REG("post_attention_layernorm.weight", 1, C, 1, w->ffn_norm);
        REG("mlp.gate_proj.weight", 2, H, C, w->w_gate);
        REG("mlp.up_proj.weight", 2, H, C, w->w_up);
        REG("mlp.down_proj.weight", 2, C, H, w->w_down);
    }
#undef REG
    if ((st = llama_add_tensor(m, "model.norm.weight", 1, C, 1, m->final_norm))) return st;
    return llama_add_tensor(m, "lm_head.weight", 2, c->vocab_size, C, m->lm_head);
}

/* ---- llama2.c v0 ------------------------------------------------------------- */

static int32_t rd_i32(const unsigned char *p)
{
    int32_t v;
    memcpy(&v, p, 4); /* little-endian host, as the format */
    return v;
}

static vimo_status map_file(vimo_llama_model *m, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        vimo_status st = vimo_error(errno == ENOENT ? VIMO_ERR_NOT_FOUND : VIMO_ERR_IO, "llama: %s: %s", path,
                                    strerror(errno));
        if (fd >= 0) close(fd);
        return st;
    }
    if (!S_ISREG(sb.st_mode) || sb.st_size < 28) {
        close(fd);
        return vimo_error(VIMO_ERR_FORMAT, "llama: %s: %lld bytes, shorter than the 28-byte llama2.c header",
                          llama_base(path), (long long)sb.st_size);
    }
    void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return vimo_error(VIMO_ERR_IO, "llama: %s: mmap: %s", path, strerror(errno));
    m->storage->map = p;
    m->storage->map_len = (size_t)sb.st_size;
    return VIMO_OK;
}

/* Points every weight into the mapped file (sizes validated before). */
static void carve_llama2c(vimo_llama_model *m, const float *p, int shared)
{
    const vimo_llama_config *c = &m->cfg;
    size_t C = (size_t)c->dim, L = (size_t)c->n_layers, H = (size_t)c->hidden_dim;
    size_t Q = (size_t)c->n_heads * (size_t)c->head_dim, K = (size_t)c->n_kv_heads * (size_t)c->head_dim;
    const float *emb = p, *rms_att = emb + (size_t)c->vocab_size * C, *wq = rms_att + L * C;
    const float *wk = wq + L * Q * C, *wv = wk + L * K * C, *wo = wv + L * K * C, *rms_ffn = wo + L * C * Q;
    const float *w1 = rms_ffn + L * C, *w2 = w1 + L * H * C, *w3 = w2 + L * C * H, *rms_final = w3 + L * H * C;
    const float *wcls = rms_final + C + (size_t)c->seq_len * (size_t)c->head_dim; /* skip freq_cis real+imag */
    for (size_t l = 0; l < L; l++)
        m->layers[l] = (vimo_llama_layer){rms_att + l * C, wq + l * Q * C, wk + l * K * C, wv + l * K * C, NULL,
                                          NULL, NULL, wo + l * C * Q, rms_ffn + l * C, w1 + l * H * C,
                                          w3 + l * H * C, w2 + l * C * H};
    m->embed = emb;
    m->final_norm = rms_final;
    m->lm_head = shared ? emb : wcls;
}

vimo_status vimo_llama_load_llama2c(const char *path, vimo_llama_model **out)
{
    vimo_status st = VIMO_OK;
    vimo_llama_model *m = NULL;
    if (!path || !out) return vimo_error(VIMO_ERR_INVALID, "llama: NULL argument");
    *out = NULL;
    VIMO_TRY(llama_model_new(path, &m));
    VIMO_TRY(map_file(m, path));
    const unsigned char *h = m->storage->map;
    const char *f = llama_base(path);
    if (memcmp(h, "24ka", 4) == 0) { /* uint32 0x616b3432 little-endian */
        st = vimo_error(VIMO_ERR_UNSUPPORTED, "llama: %s: llama2.c v%d export; only the legacy v0 format is read", f,
                        rd_i32(h + 4));
        goto fail;
    }
    vimo_llama_config *c = &m->cfg;
    int32_t vocab = rd_i32(h + 20);
    *c = (vimo_llama_config){"llama2c", rd_i32(h), rd_i32(h + 4), rd_i32(h + 8), rd_i32(h + 12), rd_i32(h + 16), 0,
                             vocab == INT32_MIN ? 0 : abs(vocab), rd_i32(h + 24), 10000.0f, 1e-5f,
                             VIMO_LLAMA_ROPE_INTERLEAVED, 0, vocab > 0, 1, 2};
    c->head_dim = c->n_heads > 0 ? c->dim / c->n_heads : 0;
    VIMO_TRY(llama_check_config(f, c, 1));
    uint64_t C = (uint64_t)c->dim, L = (uint64_t)c->n_layers, H = (uint64_t)c->hidden_dim, V = (uint64_t)c->vocab_size;
    uint64_t K = (uint64_t)c->n_kv_heads * (uint64_t)c->head_dim;
    uint64_t floats = V * C + L * C * (2 + 2 * C + 2 * K + 3 * H) + C + (uint64_t)c->seq_len * (uint64_t)c->head_dim +
                      (c->tied ? 0 : V * C);
    uint64_t need = 28 + 4 * floats;
    if (need > m->storage->map_len) {
        st = vimo_error(VIMO_ERR_FORMAT,
                        "llama: %s: header (dim %d, layers %d, vocab %d, ...) needs %llu bytes, file has %zu", f,
                        c->dim, c->n_layers, c->vocab_size, (unsigned long long)need, m->storage->map_len);
        goto fail;
    }
    if (!(m->layers = calloc((size_t)c->n_layers, sizeof *m->layers))) {
        st = vimo_error(VIMO_ERR_NOMEM, "llama: out of memory");
        goto fail;
    }
    carve_llama2c(m, (const float *)(h + 28), c->tied);
    VIMO_TRY(llama_register_layers(m));
    *out = m;
    return VIMO_OK;
fail:
    vimo_llama_free(m);
    return st;
}

/* ---- dispatch ------------------------------------------------------------------ */

vimo_status vimo_llama_load(const char *path, vimo_llama_model **out)
{
    struct stat sb;
    if (!path || !out) return vimo_error(VIMO_ERR_INVALID, "llama: NULL argument");
    size_t n = strlen(path);
    if ((stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) || (n >= 11 && strcmp(path + n - 11, "config.json") == 0))
        return vimo_llama_load_hf(path, out);
    return vimo_llama_load_llama2c(path, out);
}
