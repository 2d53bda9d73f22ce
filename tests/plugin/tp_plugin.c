/*
 * tp_plugin.c - test plugins for the loader, one source built many ways
 * (tests/plugin/CMakeLists.txt): a good encoder with options of every type,
 * and broken ones (wrong ABI, no entry symbol, no create, bad id, bad
 * schema, short descriptor, function instead of data, flags set).
 *
 * create() and get_iface() drop a marker file "$TP_MARKER/<id>.<fn>", so a
 * test can prove that a refused plugin's code never ran. No ELF constructors.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vimo/encoder.h"
#include "vimo/ops.h"
#include "vimo/projector.h"

#ifndef TP_VERSION
#define TP_VERSION "1.0"
#endif
#ifndef TP_KIND
#define TP_KIND VIMO_PLUGIN_ENCODER
#endif

static void mark(const char *what)
{
    const char *dir = getenv("TP_MARKER");
    char path[4096];
    if (!dir) return;
    snprintf(path, sizeof path, "%s/%s.%s", dir, TP_ID, what);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) close(fd);
}

typedef struct tp {
    vimo_tensor *w; /* (width), filled with `scale` */
    int64_t width;
    int train;
} tp;

static const vimo_option_spec k_opts[] = {
    {"width", VIMO_OPT_INT, "4", "parameter length"},
    {"scale", VIMO_OPT_FLOAT, "0.5", "parameter value"},
    {"train", VIMO_OPT_BOOL, "false", "start in train mode"},
    {"tag", VIMO_OPT_STRING, "", "free text"},
    {"fail", VIMO_OPT_BOOL, "false", "make create() fail"},
#if TP_BAD_SCHEMA == 1
    {"width", VIMO_OPT_INT, "5", "declared twice"},
#elif TP_BAD_SCHEMA == 2
    {"depth", VIMO_OPT_INT, "abc", "default is not an int"},
#elif TP_BAD_SCHEMA == 3
    {"depth", 9, "1", "unknown type"},
#endif
    {NULL, 0, NULL, NULL}};

static void tp_destroy(void *inst)
{
    tp *t = inst;
    if (!t) return;
    vimo_tensor_free(t->w);
    free(t);
}

__attribute__((unused)) static vimo_status tp_create(const vimo_options *o, void **out)
{
    mark("create");
    if (vimo_options_bool(o, "fail"))
        return vimo_error(VIMO_ERR_INVALID, "%s: create refused: option 'fail' is true", TP_ID);
    tp *t = calloc(1, sizeof *t);
    if (!t) return VIMO_ERR_NOMEM;
    t->width = vimo_options_int(o, "width");
    t->train = vimo_options_bool(o, "train");
    vimo_status st = vimo_tensor_new1(&t->w, t->width);
    if (st) {
        free(t);
        return st;
    }
    vimo_tensor_fill(t->w, (float)vimo_options_float(o, "scale"));
    *out = t;
    return VIMO_OK;
}

static int tp_num_params(void *inst) { (void)inst; return 1; }
static vimo_tensor *tp_param(void *inst, int i, const char **name)
{
    if (i != 0) return NULL;
    if (name) *name = "w";
    return ((tp *)inst)->w;
}
static void tp_set_train(void *inst, int train) { ((tp *)inst)->train = train; }

static int64_t tp_out_dim(void *inst) { return ((tp *)inst)->width; }
/* tokens = x * w: x (B, T, width). */
__attribute__((unused)) static vimo_status tp_forward(void *inst, vimo_ctx *ctx, vimo_tensor *x, int64_t batch, vimo_rng *rng,
                              vimo_tensor **tokens)
{
    (void)batch, (void)rng;
    return vimo_mul(ctx, tokens, x, ((tp *)inst)->w);
}

static const vimo_module_iface k_module = {sizeof(vimo_module_iface), tp_num_params, tp_param, tp_set_train, NULL};
static const vimo_encoder_iface k_encoder = {sizeof(vimo_encoder_iface), "motion", tp_out_dim,
#ifdef TP_NULL_FORWARD
                                             NULL,
#else
                                             tp_forward,
#endif
                                             NULL};
/* Declares a size smaller than projector/1 needs: the host must refuse it. */
static const uint32_t k_short_projector = 4;
/* An interface the host does not know: passed through untouched. */
typedef struct tp_custom {
    uint32_t size;
    int magic;
} tp_custom;
static const tp_custom k_custom = {sizeof(tp_custom), 1234};

static const void *tp_get_iface(const char *name)
{
    mark("get_iface");
    if (!strcmp(name, VIMO_IFACE_MODULE)) return &k_module;
    if (!strcmp(name, VIMO_IFACE_ENCODER)) return &k_encoder;
    if (!strcmp(name, VIMO_IFACE_PROJECTOR)) return &k_short_projector;
    if (!strcmp(name, "test.custom/7")) return &k_custom;
    return NULL;
}

#define TP_FIELDS                                                                                                 \
    .kind = TP_KIND, .id = TP_ID, .version = TP_VERSION, .license = "MIT", .summary = "loader test plugin",     \
    .options = k_opts, .destroy = tp_destroy, .get_iface = tp_get_iface

#if defined(TP_FUNC_SYMBOL)
/* The entry symbol is a function, not data. */
VIMO_API void vimo_plugin_descriptor(void);
VIMO_API void vimo_plugin_descriptor(void) { mark("called"); }
const vimo_plugin_desc tp_unused = {VIMO_PLUGIN_HEADER, TP_FIELDS, .create = tp_create};
#elif defined(TP_NO_DEFINE)
/* A shared object without the entry symbol (the descriptor is not exported). */
const vimo_plugin_desc tp_hidden = {VIMO_PLUGIN_HEADER, TP_FIELDS, .create = tp_create};
#else
#pragma GCC diagnostic ignored "-Woverride-init" /* TP_SIZE overrides the header's size */
VIMO_PLUGIN_DEFINE(tp) = {
    VIMO_PLUGIN_HEADER,
    TP_FIELDS,
#ifndef TP_NO_CREATE
    .create = tp_create,
#endif
#ifdef TP_SIZE
    .size = TP_SIZE,
#endif
#ifdef TP_FLAGS
    .flags = TP_FLAGS,
#endif
};
#endif
