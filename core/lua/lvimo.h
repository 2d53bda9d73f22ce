/*
 * lvimo.h - internal header of the Lua 5.4 glue (the core/lua sources only).
 *
 * The glue is the one layer that includes Lua headers (Torch7 layering:
 * C core -> glue -> Lua library -> experiments). It holds no logic of its
 * own beyond argument checking and ownership bookkeeping.
 *
 * Ownership in Lua:
 *   - a tensor userdata either owns its vimo_tensor (vimo.tensor, zeros,
 *     randn, clone: freed by __gc/__close), or borrows it from an "anchor":
 *     a context (op results, valid until ctx:reset) or a plugin instance
 *     (its parameters, valid while the instance lives). A borrowed handle
 *     keeps its anchor's userdata alive through its user value, and is
 *     checked on every use: "tensor from a reset context".
 * Errors: every vimo failure is raised as a Lua error with
 *   vimo_last_error(); no C resource is held when a function raises (scratch
 *   memory is Lua userdata; C objects go into their userdata holder first).
 */
#ifndef LVIMO_H
#define LVIMO_H

#include <stdint.h>

#include <lauxlib.h>
#include <lua.h>

#include "vimo/encoder.h"
#include "vimo/llm.h"
#include "vimo/projector.h"
#include "vimo/vimo.h"

#define LVT_TENSOR "vimo.tensor"
#define LVT_CTX "vimo.ctx"
#define LVT_INTS "vimo.ints"
#define LVT_RNG "vimo.rng"
#define LVT_ADAMW "vimo.adamw"
#define LVT_INSTANCE "vimo.instance"

/* Something that lends tensors to Lua: a context or a plugin instance. */
typedef struct lvt_anchor {
    vimo_ctx *ctx; /* set for contexts: handles are checked against its generation */
    int dead;      /* closed: every borrowed handle is invalid                     */
    const char *what; /* "context" or "instance", for messages                     */
} lvt_anchor;

typedef struct lvt_ctx {
    lvt_anchor a; /* first: a lvt_ctx * is a lvt_anchor * */
} lvt_ctx;

typedef struct lvt_tensor {
    vimo_tensor *t;
    lvt_anchor *anchor; /* NULL: this userdata owns t */
    uint64_t gen;       /* anchor's generation when the handle was made */
} lvt_tensor;

/* A plugin instance: the anchor of its parameters, and its interfaces. */
typedef struct lvt_instance {
    lvt_anchor a; /* first: a lvt_instance * is a lvt_anchor * */
    vimo_instance *inst;
    vimo_options *opts; /* resolved options, kept for inst:options() */
    void *h;            /* the plugin's own instance pointer */
    const vimo_module_iface *mod;
    const vimo_encoder_iface *enc;
    const vimo_projector_iface *proj;
    const vimo_llm_iface *llm;
} lvt_instance;

/* int32 buffer for ids / targets / masks: shape of 1 to 3 dims. */
typedef struct lvt_ints {
    int64_t n;
    int ndim;
    int64_t shape[3];
    int32_t v[]; /* n values */
} lvt_ints;

/* The module: `require "vimo"` (package.preload in `vimo run`, vimo.so from
 * a standalone lua5.4). */
VIMO_API int luaopen_vimo(lua_State *L);

/* ---- lua_tensor.c -------------------------------------------------------- */

/* Checks argument idx is a live tensor handle; raises otherwise. */
vimo_tensor *lvt_check_tensor(lua_State *L, int idx);
/* Like lvt_check_tensor but nil/none gives NULL. */
vimo_tensor *lvt_opt_tensor(lua_State *L, int idx);
/* The handle struct (no liveness check), or NULL when idx is no tensor. */
lvt_tensor *lvt_test_tensor(lua_State *L, int idx);
/* Pushes an empty owning handle and returns it: make the tensor into h->t
 * afterwards, so that a raise never leaks it (the holder frees it). */
lvt_tensor *lvt_new_owned_holder(lua_State *L);
/* Pushes a tensor borrowed from the anchor userdata at anchor_idx. */
void lvt_push_borrowed(lua_State *L, vimo_tensor *t, int anchor_idx);
/* Pushes an op result y made on the context at ctx_idx. When y is one of
 * the input handles at in_idx[0..n) (ops may return an input unchanged),
 * pushes that input instead, so ownership stays with its owner. */
void lvt_push_result(lua_State *L, vimo_tensor *y, int ctx_idx, const int *in_idx, int n);
/* Keeps the tensor at t_idx alive until the context at ctx_idx is reset or
 * closed, unless that context owns it (lvt_push_result does this for every
 * input). */
void lvt_ctx_keep(lua_State *L, int ctx_idx, int t_idx);
/* Checks argument idx is a live context. */
vimo_ctx *lvt_check_ctx(lua_State *L, int idx);
/* int32 data from a Lua table (nested up to 3 levels) or a vimo.ints at idx.
 * The data lives in a userdata left on top of the stack. Returns the buffer;
 * raises on non-integers. */
lvt_ints *lvt_to_ints(lua_State *L, int idx);
/* Reads a shape: a table of sizes at idx, or the integers idx..top. */
int lvt_check_shape(lua_State *L, int idx, int64_t shape[VIMO_MAX_DIMS]);
/* Raises a Lua error with vimo_last_error() (never returns). */
int lvt_raise(lua_State *L);
/* Device id from a name ("cpu", "cuda": loads the backend) or an integer
 * at idx; raises with the backend's reason when it can not be had. */
int lvt_check_device(lua_State *L, int idx);
/* Raises unless st is VIMO_OK. */
#define LVT_CHECK(L, expr)                                                      \
    do {                                                                        \
        if ((expr) != VIMO_OK) lvt_raise(L);                                    \
    } while (0)
/* Registers methods into a new metatable named tname (with __index = it). */
void lvt_new_class(lua_State *L, const char *tname, const luaL_Reg *methods);

/* ---- per-concept registration: each adds functions to the module table on
 * top of the stack ------------------------------------------------------- */
void lvt_open_tensor(lua_State *L);
void lvt_open_ops(lua_State *L);
void lvt_open_ops_nn(lua_State *L);
void lvt_open_rng(lua_State *L);
void lvt_open_plugin(lua_State *L);
void lvt_open_json(lua_State *L);
void lvt_open_optim(lua_State *L);
void lvt_open_ckpt(lua_State *L);
void lvt_open_tokenizer(lua_State *L);
void lvt_open_llm(lua_State *L); /* after lvt_open_plugin: adds instance methods */
void lvt_open_media(lua_State *L); /* lua_media.c (dataset builder): vimo.media */
void lvt_open_batch(lua_State *L); /* lua_batch.c: vimo.stack */
void lvt_open_eval(lua_State *L); /* lua_eval.c: metrics */

/* lua_optim.c: the tensors of a parameter list at idx (tensors or
 * {name=, tensor=} entries, as inst:params() gives), caller-owned or lent
 * by an instance, never op results. The array is a userdata left on the
 * stack; *n gets the count. */
vimo_tensor **lvt_check_params(lua_State *L, int idx, int *n);
/* The optimiser at idx, after checking every parameter handle is alive. */
vimo_adamw *lvt_check_adamw(lua_State *L, int idx);

/* lua_plugin.c: the live plugin instance at idx (raises). */
const vimo_instance *lvt_check_instance(lua_State *L, int idx);
lvt_instance *lvt_check_inst(lua_State *L, int idx);
/* lua_ops_nn.c: key-padding mask bytes (1 = attend) from a table of
 * booleans or 0/1 (flat or nested) or a vimo.ints with exactly n entries, in
 * a userdata left on the stack; NULL (nothing pushed) for nil/none. */
const uint8_t *lvt_check_mask(lua_State *L, int idx, int64_t n);
/* lua_tokenizer.c: pushes a tokenizer lent by the anchor at anchor_idx. */
void lvt_push_tokenizer(lua_State *L, const vimo_tokenizer *t, int anchor_idx);

/* lua_rng.c: the rng at idx (raises), or NULL for nil/none. */
vimo_rng *lvt_check_rng(lua_State *L, int idx);
vimo_rng *lvt_opt_rng(lua_State *L, int idx);

#endif
