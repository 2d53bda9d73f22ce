/*
 * model_hf.c - Hugging Face LlamaForCausalLM / Qwen2ForCausalLM loader:
 * config.json (cJSON) + model.safetensors, or the shards listed by
 * model.safetensors.index.json.
 *
 * Config fields read (transformers LlamaConfig / Qwen2Config): hidden_size,
 * intermediate_size, num_hidden_layers, num_attention_heads,
 * num_key_value_heads (default: num_attention_heads), head_dim (default:
 * hidden_size / heads), vocab_size, max_position_embeddings (default 2048),
 * rms_norm_eps (default 1e-6), rope_theta (default 10000),
 * tie_word_embeddings (default false), bos/eos_token_id. Qwen2 has q/k/v
 * biases. Refused as unsupported: rope_scaling, attention_bias / mlp_bias on
 * Llama, hidden_act other than silu, Qwen2 sliding windows.
 * F32 weights are used in place (mmapped); F16/BF16 are widened to owned
 * fp32 copies. Not here: other architectures, quantised checkpoints.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model_int.h"

typedef struct hf_ctx {
    vimo_llama_model *m;
    char *dir;
} hf_ctx;

static char *join(const char *dir, const char *name)
{
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    if (p) sprintf(p, "%s/%s", dir, name);
    return p;
}

static vimo_status read_json(const char *path, cJSON **out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return vimo_error(errno == ENOENT ? VIMO_ERR_NOT_FOUND : VIMO_ERR_IO, "llama: %s: %s", path, strerror(errno));
    char *buf = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    int bad = n < 0 || n > (64l << 20) || fseek(f, 0, SEEK_SET) != 0 || !(buf = malloc((size_t)n + 1)) ||
              fread(buf, 1, (size_t)n, f) != (size_t)n;
    fclose(f);
    if (bad) {
        free(buf);
        return vimo_error(VIMO_ERR_IO, "llama: %s: unreadable or over 64 MB", path);
    }
    const char *end = NULL;
    *out = cJSON_ParseWithLengthOpts(buf, (size_t)n, &end, 0);
    size_t off = end && end >= buf ? (size_t)(end - buf) : 0;
    free(buf);
    if (!*out || !cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return vimo_error(VIMO_ERR_FORMAT, "llama: %s: offset %zu: bad JSON", llama_base(path), off);
    }
    return VIMO_OK;
}

/* ---- config.json -------------------------------------------------------------- */

/* An integer field: 1 = read, 0 = absent (def kept), -1 = present but not an integer. */
static int jint(const cJSON *o, const char *k, int *v)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!j || cJSON_IsNull(j)) return 0;
    if (cJSON_IsArray(j)) j = cJSON_GetArrayItem(j, 0); /* eos_token_id: [a, b] -> a */
    if (!cJSON_IsNumber(j) || !(j->valuedouble >= -2147483648.0 && j->valuedouble <= 2147483647.0) ||
        j->valuedouble != (double)(int)j->valuedouble)
        return -1;
    *v = (int)j->valuedouble;
    return 1;
}

static int jnum(const cJSON *o, const char *k, float *v)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!j || cJSON_IsNull(j)) return 0;
    if (!cJSON_IsNumber(j)) return -1;
    *v = (float)j->valuedouble;
    return 1;
}

static int jtrue(const cJSON *o, const char *k) { return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, k)); }

static vimo_status parse_config(const cJSON *j, vimo_llama_config *c)
{
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(j, "architectures");
    const cJSON *a0 = cJSON_GetArrayItem(archs, 0), *mt = cJSON_GetObjectItemCaseSensitive(j, "model_type");
    const char *arch = cJSON_IsString(a0) ? a0->valuestring : NULL, *type = cJSON_IsString(mt) ? mt->valuestring : "";
    if (!arch)
        arch = strcmp(type, "llama") == 0 ? "LlamaForCausalLM" : strcmp(type, "qwen2") == 0 ? "Qwen2ForCausalLM" : type;
    int qwen = strcmp(arch, "Qwen2ForCausalLM") == 0;
    if (!qwen && strcmp(arch, "LlamaForCausalLM") != 0)
        return vimo_error(VIMO_ERR_UNSUPPORTED,
                          "llama: config.json: architecture '%s' (want LlamaForCausalLM or Qwen2ForCausalLM)", arch);
    snprintf(c->arch, sizeof c->arch, "%s", arch);
    const cJSON *ha = cJSON_GetObjectItemCaseSensitive(j, "hidden_act");
    const char *act = cJSON_IsString(ha) ? ha->valuestring : "silu";
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(j, "rope_scaling");
    if (strcmp(act, "silu") != 0 || (rs && !cJSON_IsNull(rs)) ||
        (!qwen && (jtrue(j, "attention_bias") || jtrue(j, "mlp_bias"))) || (qwen && jtrue(j, "use_sliding_window")))
        return vimo_error(VIMO_ERR_UNSUPPORTED,
                          "llama: config.json: hidden_act '%s', rope_scaling, attention/mlp bias or a "
                          "sliding window: not supported",
                          act);
    static const char *need[] = {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                                 "vocab_size"};
    int *dst[] = {&c->dim, &c->hidden_dim, &c->n_layers, &c->n_heads, &c->vocab_size};
    for (int i = 0; i < 5; i++)
        if (jint(j, need[i], dst[i]) != 1)
            return vimo_error(VIMO_ERR_FORMAT, "llama: config.json: '%s' missing or not an integer", need[i]);
    c->n_kv_heads = c->n_heads;
    c->seq_len = 2048;
    c->head_dim = 0;
    c->rope_theta = 10000.0f;
    c->norm_eps = 1e-6f;
    if (jint(j, "num_key_value_heads", &c->n_kv_heads) < 0 || jint(j, "max_position_embeddings", &c->seq_len) < 0 ||
        jint(j, "head_dim", &c->head_dim) < 0 || jnum(j, "rope_theta", &c->rope_theta) < 0 ||
        jnum(j, "rms_norm_eps", &c->norm_eps) < 0 || jint(j, "bos_token_id", &c->bos_id) < 0 ||
        jint(j, "eos_token_id", &c->eos_id) < 0)
        return vimo_error(VIMO_ERR_FORMAT,
                          "llama: config.json: a size, rope_theta, rms_norm_eps or token id has the wrong type");
    if (!c->head_dim) {
        if (c->n_heads <= 0 || c->dim % c->n_heads)
            return vimo_error(VIMO_ERR_FORMAT, "llama: config.json: hidden_size %d not a multiple of heads %d", c->dim,
                              c->n_heads);
        c->head_dim = c->dim / c->n_heads;
    }
    c->tied = jtrue(j, "tie_word_embeddings");
    c->qkv_bias = qwen;
    c->rope = VIMO_LLAMA_ROPE_HALF;
    if (c->bos_id < -1 || c->bos_id >= c->vocab_size) c->bos_id = -1;
    if (c->eos_id < -1 || c->eos_id >= c->vocab_size) c->eos_id = -1;
    return llama_check_config("config.json", c, 0);
}

/* ---- safetensors shards ---------------------------------------------------------- */

static vimo_status add_shard(hf_ctx *h, const char *name)
{
    vimo_llama_storage *s = h->m->storage;
    for (int i = 0; i < s->n_st; i++)
        if (strcmp(llama_base(vimo_safetensors_path(s->st[i])), name) == 0) return VIMO_OK;
    if (strchr(name, '/') || !name[0] || s->n_st >= 4096)
        return vimo_error(VIMO_ERR_FORMAT, "llama: %s: shard name '%s' is not a file in the folder", h->dir, name);
    vimo_safetensors **q = realloc(s->st, (size_t)(s->n_st + 1) * sizeof *q);
    char *path = join(h->dir, name);
    if (!q || !path) {
        free(path);
        return vimo_error(VIMO_ERR_NOMEM, "llama: out of memory");
    }
    s->st = q;
    vimo_status st = vimo_safetensors_open(path, &s->st[s->n_st]);
    free(path);
    if (st == VIMO_OK) s->n_st++;
    return st;
}

static vimo_status open_shards(hf_ctx *h)
{
    char *one = join(h->dir, "model.safetensors"), *idx = join(h->dir, "model.safetensors.index.json");
    vimo_status st = VIMO_OK;
    struct stat sb;
    cJSON *j = NULL;
    if (!one || !idx) {
        st = vimo_error(VIMO_ERR_NOMEM, "llama: out of memory");
    } else if (stat(one, &sb) == 0) {
        st = add_shard(h, "model.safetensors");
    } else if ((st = read_json(idx, &j)) == VIMO_OK) {
        const cJSON *map = cJSON_GetObjectItemCaseSensitive(j, "weight_map"), *e;
        if (!cJSON_IsObject(map)) st = vimo_error(VIMO_ERR_FORMAT, "llama: %s: no weight_map object", idx);
        cJSON_ArrayForEach(e, map)
        {
            if (st) break;
            st = cJSON_IsString(e)
                     ? add_shard(h, e->valuestring)
                     : vimo_error(VIMO_ERR_FORMAT, "llama: %s: weight_map['%s'] is not a file name", idx, e->string);
        }
    } else if (st == VIMO_ERR_NOT_FOUND) {
        st = vimo_error(VIMO_ERR_NOT_FOUND, "llama: %s: neither model.safetensors nor model.safetensors.index.json",
                        h->dir);
    }
    cJSON_Delete(j);
    free(one);
    free(idx);
    return st;
}

/* The fp32 data of weight `name` shaped (d0) or (d0, d1): mapped in place when
 * F32 and aligned, else widened into an owned buffer. */
static vimo_status weight(hf_ctx *h, const char *name, int ndim, int64_t d0, int64_t d1, const float **out)
{
    vimo_llama_storage *s = h->m->storage;
    const vimo_st_tensor *t = NULL;
    const char *file = "model.safetensors";
    for (int i = 0; i < s->n_st && !t; i++)
        if ((t = vimo_safetensors_get(s->st[i], name))) file = llama_base(vimo_safetensors_path(s->st[i]));
    if (!t)
        return vimo_error(VIMO_ERR_FORMAT, "llama: %s: tensor '%s' missing from the safetensors files", h->dir, name);
    if (t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1)) {
        char got[64] = "";
        for (int i = 0, k = 0; i < t->ndim && k < 60; i++)
            k += snprintf(got + k, sizeof got - (size_t)k, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        if (ndim == 2)
            return vimo_error(VIMO_ERR_SHAPE, "llama: %s: %s is (%s), config.json says (%lld, %lld)", file, name, got,
                              (long long)d0, (long long)d1);
        return vimo_error(VIMO_ERR_SHAPE, "llama: %s: %s is (%s), config.json says (%lld)", file, name, got,
                          (long long)d0);
    }
    if (t->dtype == VIMO_ST_F32 && (uintptr_t)t->data % sizeof(float) == 0) {
        *out = t->data;
        return VIMO_OK;
    }
    if (t->dtype != VIMO_ST_F32 && t->dtype != VIMO_ST_F16 && t->dtype != VIMO_ST_BF16)
        return vimo_error(VIMO_ERR_UNSUPPORTED, "llama: %s: %s is %s (want F32, F16 or BF16)", file, name,
                          vimo_st_dtype_name(t->dtype));
    float *p = llama_own(h->m, (size_t)t->numel);
    if (!p) return vimo_error(VIMO_ERR_NOMEM, "llama: out of memory for %s", name);
    vimo_st_to_f32(t->dtype, t->data, p, (size_t)t->numel);
    *out = p;
    return VIMO_OK;
}

static vimo_status load_layers(hf_ctx *h)
{
    vimo_llama_model *m = h->m;
    const vimo_llama_config *c = &m->cfg;
    int64_t C = c->dim, Q = (int64_t)c->n_heads * c->head_dim, K = (int64_t)c->n_kv_heads * c->head_dim,
            H = c->hidden_dim;
    vimo_status st = VIMO_OK;
    char n[96];
#define W(suffix, nd, a, b, dst)                                                                                 \
    do {                                                                                                         \
        snprintf(n, sizeof n, "model.layers.%d.%s", l, suffix);                                                  \
        if ((st = weight(h, n, nd, a, b, dst))) return st;                                                       \
    } while (0)
    for (int l = 0; l < c->n_layers; l++) {
        vimo_llama_layer *w = &m->layers[l];
        W("input_layernorm.weight", 1, C, 0, &w->attn_norm);
        W("self_attn.q_proj.weight", 2, Q, C, &w->wq);
        W("self_attn.k_proj.weight", 2, K, C, &w->wk);
        W("self_attn.v_proj.weight", 2, K, C, &w->wv);
        if (c->qkv_bias) {
            W("self_attn.q_proj.bias", 1, Q, 0, &w->bq);
            W("self_attn.k_proj.bias", 1, K, 0, &w->bk);
            W("self_attn.v_proj.bias", 1, K, 0, &w->bv);
        }
        W("self_attn.o_proj.weight", 2, C, Q, &w->wo);
        W("post_attention_layernorm.weight", 1, C, 0, &w->ffn_norm);
        W("mlp.gate_proj.weight", 2, H, C, &w->w_gate);
        W("mlp.up_proj.weight", 2, H, C, &w->w_up);
        W("mlp.down_proj.weight", 2, C, H, &w->w_down);
    }
#undef W
    if ((st = weight(h, "model.embed_tokens.weight", 2, c->vocab_size, C, &m->embed)) ||
        (st = weight(h, "model.norm.weight", 1, C, 0, &m->final_norm)))
        return st;
    if (c->tied) {
        m->lm_head = m->embed;
        return VIMO_OK;
    }
    return weight(h, "lm_head.weight", 2, c->vocab_size, C, &m->lm_head);
}

vimo_status vimo_llama_load_hf(const char *path, vimo_llama_model **out)
{
    vimo_status st = VIMO_OK;
    hf_ctx h = {0};
    cJSON *cfg = NULL;
    char *cfgpath = NULL;
    if (!path || !out) return vimo_error(VIMO_ERR_INVALID, "llama: NULL argument");
    *out = NULL;
    if (!(h.dir = strdup(path))) return vimo_error(VIMO_ERR_NOMEM, "llama: out of memory");
    size_t n = strlen(h.dir);
    if (n >= 11 && strcmp(h.dir + n - 11, "config.json") == 0) { /* given the file: use its folder */
        char *slash = strrchr(h.dir, '/');
        if (slash) *slash = '\0';
        else strcpy(h.dir, ".");
    }
    VIMO_TRY(llama_model_new(h.dir, &h.m));
    if (!(cfgpath = join(h.dir, "config.json"))) {
        st = vimo_error(VIMO_ERR_NOMEM, "llama: out of memory");
        goto fail;
    }
    VIMO_TRY(read_json(cfgpath, &cfg));
    VIMO_TRY(parse_config(cfg, &h.m->cfg));
    VIMO_TRY(open_shards(&h));
    if (!(h.m->layers = calloc((size_t)h.m->cfg.n_layers, sizeof *h.m->layers))) {
        st = vimo_error(VIMO_ERR_NOMEM, "llama: out of memory");
        goto fail;
    }
    VIMO_TRY(load_layers(&h));
    VIMO_TRY(llama_register_layers(h.m));
    *out = h.m;
    h.m = NULL;
fail:
    cJSON_Delete(cfg);
    free(cfgpath);
    free(h.dir);
    vimo_llama_free(h.m);
    return st;
}
