/*
 * encoder.video_vit - a CLIP vision transformer over the frames of a clip,
 * loadable from Hugging Face CLIP weights (CLIPModel / CLIPVisionModel).
 *
 * Per frame, the ViT of Dosovitskiy et al. 2021 (eq. 1-4) with the layer
 * order of OpenAI CLIP (Radford et al. 2021) as transformers'
 * CLIPVisionTransformer names it:
 *   x (B * F, 3, S, S) CLIP-normalised frames, F frames per clip
 *   -> patch embedding: conv2d kernel = stride = patch, no bias -> P tokens
 *   -> prepend the class embedding -> + position embedding (P + 1 rows)
 *   -> pre_layrnorm (sic, HF's name) -> hidden_states[0]
 *   -> L pre-LN blocks (vimo_tblock, quick_gelu for OpenAI CLIP) ->
 *      hidden_states[1..L]
 *   -> pick hidden_states[k] by option `layer` (see below)
 *   -> per frame: the P patch tokens (CLS dropped, LLaVA's "patch"
 *      feature), the CLS token, or the mean of the patch tokens (`pool`)
 *   -> + a learned temporal position embedding, one row per frame (zero at
 *      creation, so a loaded model first outputs exactly CLIP's features)
 *   -> tokens (B, F * P, D) for pool=none (frame-major, each frame's patches
 *      in row-major grid order), (B, F, D) for pool=cls|mean.
 * `layer`: k >= 0 selects hidden_states[k] as is; negative values count from
 * the end as Python indexes HF's hidden_states tuple (LLaVA's
 * mm_vision_select_layer = -2 is the penultimate block's output, no norm).
 * Only layer = -1 also applies post_layernorm, to every token the output uses
 * (LayerNorm is per token, so pool=cls with layer=-1 is exactly HF's
 * pooler_output; layer=L gives HF's last_hidden_state without it). Blocks
 * after the selected one are loaded but not run.
 * Not done here: position-embedding interpolation for other image sizes,
 * CLIP's visual_projection, sharded or .bin checkpoints, dropout (CLIP has
 * none).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vimo/encoder.h"
#include "vimo/layers.h"
#include "vimo/safetensors.h"

#define ID "encoder.video_vit"
/* Caps: larger values are a typo or a hostile config, not a CLIP model. */
#define MAX_LAYERS 128
#define MAX_WIDTH 8192
#define MAX_MLP 65536
#define MAX_IMAGE 4096
#define MAX_GRID 128
#define MAX_FRAMES 4096
#define MAX_PARAMS (INT64_C(1) << 31) /* floats, random init only */
#define MAX_CONFIG_BYTES (16 << 20)
#define HF_PREFIX "vision_model."

enum { POOL_NONE, POOL_CLS, POOL_MEAN };

/* The architecture; from the options, or from config.json's vision_config. */
typedef struct {
    int64_t image, patch, width, layers, heads, mlp;
    vimo_act act;
    float eps;
} vit_cfg;

typedef struct {
    vimo_module_base base;
    vit_cfg c;
    int64_t grid, npatch; /* grid = image / patch, npatch = grid^2 */
    int64_t sel;          /* hidden_states index 0..L */
    int post_ln;          /* layer == -1 */
    int pool;
    int64_t frames_max;
    vimo_tensor *patch_w;            /* (D, 3, patch, patch) */
    vimo_tensor *cls;                /* (D) */
    vimo_tensor *pos;                /* (npatch + 1, D) */
    vimo_tensor *pre_w, *pre_b;      /* (D) */
    vimo_tensor *post_w, *post_b;    /* (D) */
    vimo_tblock *blocks;             /* (L) */
    vimo_tensor *temporal;           /* (frames_max, D) */
} video_vit;

static const vimo_option_spec k_options[] = {
    {"weights", VIMO_OPT_STRING, "",
     "CLIP weights: a safetensors file, or a Hugging Face folder (config.json + model.safetensors); empty: random"},
    {"image_size", VIMO_OPT_INT, "224", "frame side S in pixels (config.json wins when given)"},
    {"patch", VIMO_OPT_INT, "32", "patch side in pixels (config.json wins)"},
    {"width", VIMO_OPT_INT, "768", "model and token width D (config.json wins)"},
    {"layers", VIMO_OPT_INT, "12", "transformer blocks L (config.json wins)"},
    {"heads", VIMO_OPT_INT, "12", "attention heads (config.json wins)"},
    {"mlp", VIMO_OPT_INT, "3072", "MLP hidden width (config.json wins)"},
    {"act", VIMO_OPT_STRING, "quick_gelu", "MLP activation: quick_gelu (OpenAI CLIP), gelu, gelu_tanh, relu"},
    {"eps", VIMO_OPT_FLOAT, "1e-5", "LayerNorm epsilon (config.json wins)"},
    {"layer", VIMO_OPT_INT, "-2", "hidden state used: k >= 0, or -1 = last + post_layernorm, -2 = penultimate"},
    {"pool", VIMO_OPT_STRING, "none", "tokens per frame: none (all patches), cls, mean (of patches)"},
    {"frames_max", VIMO_OPT_INT, "64", "longest clip in frames (rows of the temporal embedding)"},
    {"freeze", VIMO_OPT_BOOL, "true", "freeze the CLIP backbone (the temporal embedding stays trainable)"},
    {"seed", VIMO_OPT_INT, "1", "initialisation seed (random weights, temporal embedding)"},
    {NULL, 0, NULL, NULL},
};

static void destroy(void *inst)
{
    video_vit *m = inst;
    if (!m) return;
    vimo_params_free(m->base.params);
    free(m->blocks);
    free(m);
}

/* ---- options and config.json ------------------------------------------------ */

static int parse_act(const char *s, vimo_act *out)
{
    static const struct {
        const char *name;
        vimo_act act;
    } k[] = {{"quick_gelu", VIMO_ACT_QUICK_GELU}, {"gelu", VIMO_ACT_GELU},           {"gelu_tanh", VIMO_ACT_GELU_TANH},
             {"gelu_new", VIMO_ACT_GELU_TANH},    {"gelu_pytorch_tanh", VIMO_ACT_GELU_TANH}, {"relu", VIMO_ACT_RELU}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (strcmp(s, k[i].name) == 0) return *out = k[i].act, 1;
    return 0;
}

static vimo_status check_cfg(const vit_cfg *c, const char *where)
{
    if (c->width < 1 || c->width > MAX_WIDTH || c->heads < 1 || c->width % c->heads || c->layers < 1 ||
        c->layers > MAX_LAYERS || c->mlp < 1 || c->mlp > MAX_MLP || c->patch < 1 || c->image < c->patch ||
        c->image > MAX_IMAGE || c->image / c->patch > MAX_GRID || !(c->eps > 0.0f && c->eps < 1.0f))
        return vimo_error(VIMO_ERR_INVALID,
                          ID ": %s: need width in 1..%d divisible by heads, layers in 1..%d, mlp in 1..%d, "
                             "patch <= image_size <= %d, image_size / patch <= %d, 0 < eps < 1 "
                             "(got width %lld, heads %lld, layers %lld, mlp %lld, image %lld, patch %lld)",
                          where, MAX_WIDTH, MAX_LAYERS, MAX_MLP, MAX_IMAGE, MAX_GRID, (long long)c->width,
                          (long long)c->heads, (long long)c->layers, (long long)c->mlp, (long long)c->image,
                          (long long)c->patch);
    return VIMO_OK;
}

/* An integer field of o: 1 = read, 0 = absent (v kept), -1 = not an integer. */
static int json_int(const cJSON *o, const char *key, int64_t *v)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j || cJSON_IsNull(j)) return 0;
    if (!cJSON_IsNumber(j) || !(j->valuedouble >= -1e9 && j->valuedouble <= 1e9) ||
        j->valuedouble != (double)(int64_t)j->valuedouble)
        return -1;
    *v = (int64_t)j->valuedouble;
    return 1;
}

static vimo_status read_text(const char *path, char **out, long *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return vimo_error(errno == ENOENT ? VIMO_ERR_NOT_FOUND : VIMO_ERR_IO, ID ": %s: %s", path, strerror(errno));
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    char *buf = NULL;
    int bad = n < 0 || n > MAX_CONFIG_BYTES || fseek(f, 0, SEEK_SET) != 0 || !(buf = malloc((size_t)n + 1)) ||
              fread(buf, 1, (size_t)n, f) != (size_t)n;
    fclose(f);
    if (bad) {
        free(buf);
        return vimo_error(VIMO_ERR_IO, ID ": %s: unreadable or over %d MB", path, MAX_CONFIG_BYTES >> 20);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return VIMO_OK;
}

/* Fields of transformers' CLIPVisionConfig; absent ones take its defaults
 * (those of ViT-B/32: 224, 32, 768, 12, 12, 3072, quick_gelu, 1e-5). */
static vimo_status parse_vision_config(const cJSON *v, const char *path, vit_cfg *c)
{
    static const char *keys[] = {"image_size", "patch_size", "hidden_size", "num_hidden_layers",
                                 "num_attention_heads", "intermediate_size", "num_channels"};
    int64_t channels = 3;
    int64_t *dst[] = {&c->image, &c->patch, &c->width, &c->layers, &c->heads, &c->mlp, &channels};
    *c = (vit_cfg){224, 32, 768, 12, 12, 3072, VIMO_ACT_QUICK_GELU, 1e-5f};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (json_int(v, keys[i], dst[i]) < 0)
            return vimo_error(VIMO_ERR_FORMAT, ID ": %s: vision_config.%s is not an integer", path, keys[i]);
    if (channels != 3)
        return vimo_error(VIMO_ERR_UNSUPPORTED, ID ": %s: num_channels %lld (only RGB, 3)", path, (long long)channels);
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(v, "hidden_act");
    if (act && !cJSON_IsString(act))
        return vimo_error(VIMO_ERR_FORMAT, ID ": %s: vision_config.hidden_act is not a string", path);
    if (act && !parse_act(act->valuestring, &c->act))
        return vimo_error(VIMO_ERR_UNSUPPORTED, ID ": %s: hidden_act '%s' (want quick_gelu, gelu, gelu_new, "
                                                   "gelu_pytorch_tanh or relu)",
                          path, act->valuestring);
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(v, "layer_norm_eps");
    if (eps && !cJSON_IsNumber(eps))
        return vimo_error(VIMO_ERR_FORMAT, ID ": %s: vision_config.layer_norm_eps is not a number", path);
    if (eps) c->eps = (float)eps->valuedouble;
    return check_cfg(c, path);
}

/* config.json of a CLIPModel ({"vision_config": {...}}) or of a
 * CLIPVisionModel (model_type "clip_vision_model", fields at the top). */
static vimo_status read_config(const char *path, vit_cfg *c)
{
    char *text = NULL;
    long n = 0;
    vimo_status st = read_text(path, &text, &n);
    if (st) return st;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, (size_t)n, &end, 0);
    if (!cJSON_IsObject(root)) {
        st = vimo_error(VIMO_ERR_FORMAT, ID ": %s: offset %lld: bad JSON", path,
                        (long long)(end && end >= text ? end - text : 0));
        goto done;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "vision_config");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (!v && cJSON_IsString(type) && strcmp(type->valuestring, "clip_vision_model") == 0) v = root;
    if (!cJSON_IsObject(v)) {
        st = vimo_error(VIMO_ERR_FORMAT, ID ": %s: no vision_config object (want a CLIPModel or CLIPVisionModel "
                                           "config)",
                        path);
        goto done;
    }
    st = parse_vision_config(v, path, c);
done:
    cJSON_Delete(root);
    free(text);
    return st;
}

static char *join(const char *dir, const char *name)
{
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    if (p) sprintf(p, "%s/%s", dir, name);
    return p;
}

static int is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* `weights` -> the safetensors path (*st_path, malloc'd) and, for a folder,
 * the architecture from its config.json (*have_cfg = 1). */
static vimo_status resolve_weights(const char *weights, char **st_path, vit_cfg *c, int *have_cfg)
{
    struct stat sb;
    char *dir = NULL, *cfg = NULL;
    vimo_status st = VIMO_OK;
    *st_path = NULL;
    *have_cfg = 0;
    const char *slash = strrchr(weights, '/'), *base = slash ? slash + 1 : weights;
    if (strcmp(base, "config.json") == 0) { /* the config of a folder: use the folder */
        dir = slash ? strndup(weights, slash == weights ? 1 : (size_t)(slash - weights)) : strdup(".");
    } else if (stat(weights, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        dir = strdup(weights);
    } else {
        *st_path = strdup(weights);
        return *st_path ? VIMO_OK : vimo_error(VIMO_ERR_NOMEM, ID ": out of memory");
    }
    if (!dir || !(cfg = join(dir, "config.json")) || !(*st_path = join(dir, "model.safetensors"))) {
        st = vimo_error(VIMO_ERR_NOMEM, ID ": out of memory");
        goto done;
    }
    if (!is_file(*st_path)) {
        char *idx = join(dir, "model.safetensors.index.json"), *bin = join(dir, "pytorch_model.bin");
        const char *why = idx && is_file(idx)   ? "sharded checkpoints are not supported: merge the shards"
                          : bin && is_file(bin) ? "only pytorch_model.bin: convert it to model.safetensors"
                                                : "no such file";
        st = vimo_error(VIMO_ERR_NOT_FOUND, ID ": %s: %s", *st_path, why);
        free(idx);
        free(bin);
        goto done;
    }
    if (is_file(cfg)) {
        if ((st = read_config(cfg, c))) goto done;
        *have_cfg = 1;
    }
done:
    if (st) {
        free(*st_path);
        *st_path = NULL;
    }
    free(dir);
    free(cfg);
    return st;
}

/* ---- parameters ---------------------------------------------------------------- */

/* The CLIP parameters by index, with HF names and shapes: embeddings, then
 * pre_layrnorm, 16 per block (layers.h's names), then post_layernorm. Used
 * to check a file before anything is allocated. */
#define N_LAYER_PARAMS 16
static const char *const k_layer_suffix[N_LAYER_PARAMS] = {
    "layer_norm1.weight",    "layer_norm1.bias",    "self_attn.q_proj.weight", "self_attn.q_proj.bias",
    "self_attn.k_proj.weight", "self_attn.k_proj.bias", "self_attn.v_proj.weight", "self_attn.v_proj.bias",
    "self_attn.out_proj.weight", "self_attn.out_proj.bias", "layer_norm2.weight", "layer_norm2.bias",
    "mlp.fc1.weight",        "mlp.fc1.bias",        "mlp.fc2.weight",          "mlp.fc2.bias"};
#define N_TOP_PARAMS 7
static const char *const k_top_name[N_TOP_PARAMS] = {
    HF_PREFIX "embeddings.class_embedding", HF_PREFIX "embeddings.patch_embedding.weight",
    HF_PREFIX "embeddings.position_embedding.weight", HF_PREFIX "pre_layrnorm.weight",
    HF_PREFIX "pre_layrnorm.bias", HF_PREFIX "post_layernorm.weight", HF_PREFIX "post_layernorm.bias"};

static int64_t n_clip_params(const video_vit *m) { return N_TOP_PARAMS + N_LAYER_PARAMS * m->c.layers; }

/* Name and shape of CLIP parameter i; returns ndim. */
static int clip_param(const video_vit *m, int64_t i, char *name, size_t cap, int64_t shape[4])
{
    int64_t d = m->c.width, k = m->c.patch;
    if (i < 5 || i >= 5 + N_LAYER_PARAMS * m->c.layers) {
        int t = (int)(i < 5 ? i : 5 + (i - 5 - N_LAYER_PARAMS * m->c.layers));
        snprintf(name, cap, "%s", k_top_name[t]);
        shape[0] = d;
        if (t == 1) return shape[1] = 3, shape[2] = shape[3] = k, 4;
        if (t == 2) return shape[0] = m->npatch + 1, shape[1] = d, 2;
        return 1;
    }
    int64_t layer = (i - 5) / N_LAYER_PARAMS, j = (i - 5) % N_LAYER_PARAMS;
    snprintf(name, cap, HF_PREFIX "encoder.layers.%lld.%s", (long long)layer, k_layer_suffix[j]);
    shape[0] = j == 12 || j == 13 ? m->c.mlp : d;
    if (j == 12 || (j >= 2 && j <= 8 && j % 2 == 0)) return shape[1] = d, 2;
    if (j == 14) return shape[1] = m->c.mlp, 2;
    return 1;
}

/* Is `name` (under vision_model.) a parameter of this model? */
static int is_clip_name(const video_vit *m, const char *name)
{
    for (int t = 0; t < N_TOP_PARAMS; t++)
        if (strcmp(name, k_top_name[t]) == 0) return 1;
    const char *pre = HF_PREFIX "encoder.layers.";
    size_t n = strlen(pre);
    if (strncmp(name, pre, n) != 0 || name[n] < '0' || name[n] > '9') return 0;
    char *end;
    long long layer = strtoll(name + n, &end, 10);
    if (layer >= m->c.layers || *end != '.' || (end - (name + n) > 1 && name[n] == '0')) return 0;
    for (int j = 0; j < N_LAYER_PARAMS; j++)
        if (strcmp(end + 1, k_layer_suffix[j]) == 0) return 1;
    return 0;
}

static void shape_str(int ndim, const int64_t *shape, char *buf, size_t n)
{
    size_t o = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < ndim && o < n; i++) o += (size_t)snprintf(buf + o, n - o, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (o < n) snprintf(buf + o, n - o, ")");
}

/* Tensor `name` of the file: present (unless optional), F32/F16/BF16, and
 * of shape shape[ndim]. */
static vimo_status check_tensor(const vimo_safetensors *sf, const char *path, const char *name, int ndim,
                                const int64_t *shape, int optional)
{
    const vimo_st_tensor *t = vimo_safetensors_get(sf, name);
    if (!t) return optional ? VIMO_OK : vimo_error(VIMO_ERR_NOT_FOUND, ID ": %s: missing tensor '%s'", path, name);
    if (t->dtype != VIMO_ST_F32 && t->dtype != VIMO_ST_F16 && t->dtype != VIMO_ST_BF16)
        return vimo_error(VIMO_ERR_FORMAT, ID ": %s: tensor '%s' is %s, want F32, F16 or BF16", path, name,
                          vimo_st_dtype_name(t->dtype));
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char got[96], want[96];
        shape_str(t->ndim, t->shape, got, sizeof got);
        shape_str(ndim, shape, want, sizeof want);
        return vimo_error(VIMO_ERR_SHAPE, ID ": %s: tensor '%s' is %s, the model wants %s", path, name, got, want);
    }
    return VIMO_OK;
}

/* The whole file against the architecture, before any allocation (so a
 * hostile config.json cannot ask for more memory than the file holds):
 * every parameter present and shaped, every vision_model.* tensor known (the
 * position_ids buffer aside). Other tensors (text tower, projections) are
 * not ours and are skipped. temporal_embedding is optional: a file saved
 * from this plugin has it, CLIP's does not. */
static vimo_status check_file(const video_vit *m, const vimo_safetensors *sf, const char *path)
{
    char name[128];
    int64_t shape[4];
    vimo_status st = VIMO_OK;
    for (int64_t i = 0; i < n_clip_params(m); i++) {
        int nd = clip_param(m, i, name, sizeof name, shape);
        if ((st = check_tensor(sf, path, name, nd, shape, 0))) return st;
    }
    if ((st = check_tensor(sf, path, "temporal_embedding", 2, (int64_t[]){m->frames_max, m->c.width}, 1))) return st;
    size_t np = strlen(HF_PREFIX);
    for (size_t i = 0; i < vimo_safetensors_count(sf); i++) {
        const char *n = vimo_safetensors_at(sf, i)->name;
        if (strncmp(n, HF_PREFIX, np) == 0 && strcmp(n, HF_PREFIX "embeddings.position_ids") != 0 &&
            !is_clip_name(m, n))
            return vimo_error(VIMO_ERR_FORMAT, ID ": %s: unknown tensor '%s' (not part of a %lld-layer CLIP vision "
                                               "model: wrong layers option or config.json?)",
                              path, n, (long long)m->c.layers);
    }
    return VIMO_OK;
}

/* Copies the checked file into the parameters (F16/BF16 widened). */
static vimo_status copy_weights(video_vit *m, const vimo_safetensors *sf)
{
    for (int i = 0; i < vimo_params_count(m->base.params); i++) {
        const char *name;
        vimo_tensor *p = vimo_params_at(m->base.params, i, &name);
        if (!vimo_safetensors_get(sf, name)) {
            if (p == m->temporal) continue;
            return vimo_error(VIMO_ERR_INTERNAL, ID ": parameter '%s' has no CLIP name", name);
        }
        vimo_status st = vimo_safetensors_read_f32(sf, name, vimo_tensor_data(p), (size_t)vimo_tensor_numel(p));
        if (st) return st;
    }
    return VIMO_OK;
}

/* Adds every parameter (HF names) with random initialisation: the patch
 * convolution as nn.Conv2d, class embedding ~ N(0, 1/D) and position
 * embedding ~ N(0, 0.02^2) as transformers' CLIP init, blocks as layers.h,
 * norms 1/0, the temporal embedding zero. */
static vimo_status make_params(video_vit *m, vimo_rng *rng)
{
    vimo_params *p = m->base.params;
    int64_t d = m->c.width, k = m->c.patch;
    vimo_status st = VIMO_OK;
    VIMO_TRY(vimo_params_add(p, &m->cls, 1, (int64_t[]){d}, "%s", k_top_name[0]));
    vimo_rng_fill_normal(rng, vimo_tensor_data(m->cls), d, 1.0f / sqrtf((float)d));
    VIMO_TRY(vimo_params_add(p, &m->patch_w, 4, (int64_t[]){d, 3, k, k}, "%s", k_top_name[1]));
    vimo_init_fan_in(m->patch_w, rng, 3 * k * k);
    VIMO_TRY(vimo_params_add(p, &m->pos, 2, (int64_t[]){m->npatch + 1, d}, "%s", k_top_name[2]));
    vimo_rng_fill_normal(rng, vimo_tensor_data(m->pos), (m->npatch + 1) * d, 0.02f);
    VIMO_TRY(vimo_layernorm_init(p, &m->pre_w, &m->pre_b, d, HF_PREFIX "pre_layrnorm"));
    for (int64_t i = 0; i < m->c.layers; i++) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, HF_PREFIX "encoder.layers.%lld", (long long)i);
        VIMO_TRY(vimo_tblock_init(p, rng, &m->blocks[i], d, m->c.heads, m->c.mlp, m->c.act, prefix));
        m->blocks[i].eps = m->c.eps;
    }
    VIMO_TRY(vimo_layernorm_init(p, &m->post_w, &m->post_b, d, HF_PREFIX "post_layernorm"));
    VIMO_TRY(vimo_params_add(p, &m->temporal, 2, (int64_t[]){m->frames_max, d}, "temporal_embedding"));
fail:
    return st;
}

/* ---- create ------------------------------------------------------------------ */

static vimo_status read_options(video_vit *m, const vimo_options *o, int64_t *layer)
{
    m->c = (vit_cfg){vimo_options_int(o, "image_size"), vimo_options_int(o, "patch"), vimo_options_int(o, "width"),
                     vimo_options_int(o, "layers"),     vimo_options_int(o, "heads"), vimo_options_int(o, "mlp"),
                     VIMO_ACT_QUICK_GELU,               (float)vimo_options_float(o, "eps")};
    const char *act = vimo_options_string(o, "act"), *pool = vimo_options_string(o, "pool");
    if (!parse_act(act, &m->c.act))
        return vimo_error(VIMO_ERR_INVALID, ID ": option 'act' is '%s' (want quick_gelu, gelu, gelu_tanh, relu)", act);
    m->pool = strcmp(pool, "none") == 0 ? POOL_NONE : strcmp(pool, "cls") == 0 ? POOL_CLS
                                                  : strcmp(pool, "mean") == 0 ? POOL_MEAN
                                                                              : -1;
    if (m->pool < 0) return vimo_error(VIMO_ERR_INVALID, ID ": option 'pool' is '%s' (want none, cls, mean)", pool);
    m->frames_max = vimo_options_int(o, "frames_max");
    if (m->frames_max < 1 || m->frames_max > MAX_FRAMES)
        return vimo_error(VIMO_ERR_INVALID, ID ": option 'frames_max' %lld not in 1..%d", (long long)m->frames_max,
                          MAX_FRAMES);
    *layer = vimo_options_int(o, "layer");
    return VIMO_OK;
}

/* layer -> hidden_states index, once L is known. */
static vimo_status select_layer(video_vit *m, int64_t layer)
{
    int64_t l = m->c.layers;
    m->post_ln = layer == -1;
    m->sel = layer >= 0 ? layer : l + 1 + layer;
    if (m->sel < 0 || m->sel > l)
        return vimo_error(VIMO_ERR_INVALID, ID ": option 'layer' %lld: the model has hidden states 0..%lld "
                                           "(or -1..-%lld from the end)",
                          (long long)layer, (long long)l, (long long)(l + 1));
    return VIMO_OK;
}

static int64_t param_count(const video_vit *m)
{
    int64_t d = m->c.width, per_layer = 4 * d * d + 2 * d * m->c.mlp + 9 * d + m->c.mlp;
    return m->c.layers * per_layer + d * 3 * m->c.patch * m->c.patch + (m->npatch + 2) * d + 4 * d +
           m->frames_max * d;
}

static vimo_status create(const vimo_options *o, void **out)
{
    video_vit *m = calloc(1, sizeof *m);
    if (!m) return vimo_error(VIMO_ERR_NOMEM, ID ": out of memory");
    vimo_status st = VIMO_OK;
    vimo_safetensors *sf = NULL;
    char *st_path = NULL;
    int64_t layer = 0;
    int have_cfg = 0;
    const char *weights = vimo_options_string(o, "weights");
    VIMO_TRY(read_options(m, o, &layer));
    if (*weights) VIMO_TRY(resolve_weights(weights, &st_path, &m->c, &have_cfg));
    if (!have_cfg) VIMO_TRY(check_cfg(&m->c, "options"));
    VIMO_TRY(select_layer(m, layer));
    m->grid = m->c.image / m->c.patch;
    m->npatch = m->grid * m->grid;
    if (st_path) {
        VIMO_TRY(vimo_safetensors_open(st_path, &sf));
        VIMO_TRY(check_file(m, sf, st_path));
    } else if (param_count(m) > MAX_PARAMS) {
        st = vimo_error(VIMO_ERR_NOMEM, ID ": %lld parameters is over the cap of %lld", (long long)param_count(m),
                        (long long)MAX_PARAMS);
        goto fail;
    }
    if (!(m->blocks = calloc((size_t)m->c.layers, sizeof *m->blocks))) {
        st = vimo_error(VIMO_ERR_NOMEM, ID ": out of memory");
        goto fail;
    }
    vimo_rng rng;
    vimo_rng_seed(&rng, (uint64_t)vimo_options_int(o, "seed"));
    VIMO_TRY(vimo_params_new(&m->base.params));
    VIMO_TRY(make_params(m, &rng));
    if (sf) VIMO_TRY(copy_weights(m, sf));
    if (vimo_options_bool(o, "freeze")) {
        VIMO_TRY(vimo_params_set_trainable(m->base.params, 0));
        VIMO_TRY(vimo_tensor_set_requires_grad(m->temporal, 1));
    }
    vimo_safetensors_close(sf);
    free(st_path);
    *out = m;
    return VIMO_OK;
fail:
    vimo_safetensors_close(sf);
    free(st_path);
    destroy(m);
    return st;
}

/* ---- forward ----------------------------------------------------------------- */

static int64_t out_dim(void *inst) { return ((video_vit *)inst)->c.width; }

/* x (N, 3, S, S) -> hidden_states[0] (N, P + 1, D). */
static vimo_status embed(const video_vit *m, vimo_ctx *ctx, vimo_tensor *x, vimo_tensor **out)
{
    int64_t n = vimo_tensor_dim(x, 0), d = m->c.width;
    vimo_tensor *pe, *flat, *tok, *zero, *cls, *parts[2], *h, *hp;
    vimo_status st = VIMO_OK;
    VIMO_TRY(vimo_conv2d(ctx, &pe, x, m->patch_w, NULL, (int)m->c.patch, 0)); /* (N, D, g, g) */
    VIMO_TRY(vimo_reshape(ctx, &flat, pe, 3, (int64_t[]){n, d, m->npatch}));
    VIMO_TRY(vimo_transpose(ctx, &tok, flat, 1, 2)); /* (N, P, D), row-major grid */
    /* The class embedding repeated per frame: zeros (N, 1, D) + cls (D). */
    VIMO_TRY(vimo_ctx_tensor(ctx, &zero, 3, (int64_t[]){n, 1, d}));
    VIMO_TRY(vimo_add(ctx, &cls, zero, m->cls));
    parts[0] = cls;
    parts[1] = tok;
    VIMO_TRY(vimo_concat(ctx, &h, parts, 2, 1));
    VIMO_TRY(vimo_add(ctx, &hp, h, m->pos));
    VIMO_TRY(vimo_layernorm(ctx, out, hp, m->pre_w, m->pre_b, m->c.eps));
fail:
    return st;
}

/* h (N, P + 1, D) -> per-frame tokens (N, P, D) or (N, D), post_layernorm
 * applied to what is kept when layer = -1. */
static vimo_status select_tokens(const video_vit *m, vimo_ctx *ctx, vimo_tensor *h, vimo_tensor **out)
{
    int64_t n = vimo_tensor_dim(h, 0), d = m->c.width;
    vimo_tensor *t, *c;
    vimo_status st = VIMO_OK;
    if (m->pool == POOL_CLS) {
        VIMO_TRY(vimo_slice(ctx, &c, h, 1, 0, 1));
        VIMO_TRY(vimo_reshape(ctx, &t, c, 2, (int64_t[]){n, d}));
    } else {
        VIMO_TRY(vimo_slice(ctx, &t, h, 1, 1, m->npatch + 1));
    }
    if (m->post_ln) VIMO_TRY(vimo_layernorm(ctx, &t, t, m->post_w, m->post_b, m->c.eps));
    if (m->pool == POOL_MEAN) VIMO_TRY(vimo_mean(ctx, &t, t, 1));
    *out = t;
fail:
    return st;
}

/* Adds temporal row f to every token of frame f: t (B * F, [P,] D) ->
 * tokens (B, F * P, D) or (B, F, D). */
static vimo_status add_time(const video_vit *m, vimo_ctx *ctx, vimo_tensor *t, int64_t b, int64_t f,
                            vimo_tensor **tokens)
{
    int64_t d = m->c.width;
    vimo_tensor *te, *t4, *tp, *s, *back;
    vimo_status st = VIMO_OK;
    VIMO_TRY(vimo_slice(ctx, &te, m->temporal, 0, 0, f)); /* (F, D) */
    if (m->pool != POOL_NONE) {
        VIMO_TRY(vimo_reshape(ctx, &t4, t, 3, (int64_t[]){b, f, d}));
        VIMO_TRY(vimo_add(ctx, tokens, t4, te));
    } else { /* (B, F, P, D) -> (B, P, F, D): te broadcasts over the trailing (F, D) */
        VIMO_TRY(vimo_reshape(ctx, &t4, t, 4, (int64_t[]){b, f, m->npatch, d}));
        VIMO_TRY(vimo_transpose(ctx, &tp, t4, 1, 2));
        VIMO_TRY(vimo_add(ctx, &s, tp, te));
        VIMO_TRY(vimo_transpose(ctx, &back, s, 1, 2));
        VIMO_TRY(vimo_reshape(ctx, tokens, back, 3, (int64_t[]){b, f * m->npatch, d}));
    }
fail:
    return st;
}

static vimo_status forward(void *inst, vimo_ctx *ctx, vimo_tensor *x, int64_t batch, vimo_rng *rng,
                           vimo_tensor **tokens)
{
    (void)rng; /* CLIP has no dropout */
    video_vit *m = inst;
    int64_t s = m->c.image;
    if (!x || vimo_tensor_ndim(x) != 4 || vimo_tensor_dim(x, 1) != 3 || vimo_tensor_dim(x, 2) != s ||
        vimo_tensor_dim(x, 3) != s || batch < 1 || vimo_tensor_dim(x, 0) % batch ||
        vimo_tensor_dim(x, 0) / batch > m->frames_max) {
        char got[64] = "NULL";
        if (x) vimo_tensor_shape_str(x, got, sizeof got);
        return vimo_error(VIMO_ERR_SHAPE, ID ": x %s, batch %lld: want (B * F, 3, %lld, %lld) with 1 <= F <= %lld",
                          got, (long long)batch, (long long)s, (long long)s, (long long)m->frames_max);
    }
    int64_t frames = vimo_tensor_dim(x, 0) / batch;
    vimo_tensor *h, *t;
    vimo_status st = VIMO_OK;
    VIMO_TRY(embed(m, ctx, x, &h));
    for (int64_t i = 0; i < m->sel; i++) VIMO_TRY(vimo_tblock_forward(ctx, &m->blocks[i], h, NULL, 0, &h));
    VIMO_TRY(select_tokens(m, ctx, h, &t));
    VIMO_TRY(add_time(m, ctx, t, batch, frames, tokens));
fail:
    return st;
}

static const vimo_encoder_iface k_encoder = {
    .size = sizeof(vimo_encoder_iface),
    .modality = "video",
    .out_dim = out_dim,
    .forward = forward,
    .pretrain_loss = NULL,
};

static const void *get_iface(const char *name)
{
    if (strcmp(name, VIMO_IFACE_ENCODER) == 0) return &k_encoder;
    if (strcmp(name, VIMO_IFACE_MODULE) == 0) return &vimo_module_base_iface;
    return NULL;
}

VIMO_PLUGIN_DEFINE(encoder_video_vit) = {
    VIMO_PLUGIN_HEADER,
    .kind = VIMO_PLUGIN_ENCODER,
    .id = ID,
    .version = "1.0.0",
    .license = "MIT",
    .summary = "CLIP ViT over frames (Hugging Face CLIP weights) + temporal position embedding",
    .options = k_options,
    .create = create,
    .destroy = destroy,
    .get_iface = get_iface,
};
