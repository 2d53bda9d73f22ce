/*
 * lua_ckpt.c - Lua bindings of training checkpoints (vimo/checkpoint.h).
 *
 *   vimo.save_checkpoint(path, {params=, modules=, optimizer=, rng=, step=,
 *                               config=, meta=}) -> true | nil, msg
 *   vimo.load_checkpoint(path) -> ckpt | nil, msg
 *   ckpt:restore{params=, modules=, optimizer=, rng=}  (params first, so the
 *   optimiser's moments match them by identity), ckpt:step(), :config(),
 *   :meta(), :tensors(), :tensor(name), :export_safetensors(path)
 *
 * File problems (missing, unreadable, malformed) are expected failures and
 * return nil, msg; a checkpoint that does not fit the model (missing name,
 * other shape) raises. The format and its checks are core/src/checkpoint.c.
 */
#include <stdio.h>
#include <string.h>

#include "lvimo.h"
#include "vimo/checkpoint.h"

#define LVT_CKPT "vimo.checkpoint"
#define LVT_CKPT_WRITER "vimo.checkpoint_writer"

typedef struct lvt_box {
    void *p;
} lvt_box;

/* ---- writing ------------------------------------------------------------- */

static int writer_gc(lua_State *L)
{
    lvt_box *b = luaL_checkudata(L, 1, LVT_CKPT_WRITER);
    vimo_ckpt_writer_free(b->p);
    b->p = NULL;
    return 0;
}

/* The text of a scalar config value on top of the stack (pushed). */
static const char *scalar_text(lua_State *L, const char *key)
{
    int t = lua_type(L, -1);
    if (t == LUA_TSTRING) return lua_pushvalue(L, -1), lua_tostring(L, -1);
    if (t == LUA_TBOOLEAN) return lua_pushstring(L, lua_toboolean(L, -1) ? "true" : "false");
    if (t == LUA_TNUMBER) {
        if (lua_isinteger(L, -1)) return lua_pushfstring(L, "%I", lua_tointeger(L, -1));
        char buf[64];
        snprintf(buf, sizeof buf, "%.17g", (double)lua_tonumber(L, -1));
        return lua_pushstring(L, buf);
    }
    luaL_error(L, "save_checkpoint: config/meta '%s' is a %s (strings, numbers, booleans, tables)", key,
               lua_typename(L, t));
    return NULL;
}

/* Adds the table at idx as "prefix.key" = text entries; nested tables
 * become dotted keys. meta selects add_meta over add_config. */
static void add_entries(lua_State *L, vimo_ckpt_writer *w, int idx, const char *prefix, int meta, int depth)
{
    if (depth > 8) luaL_error(L, "save_checkpoint: config nested deeper than 8");
    luaL_checkstack(L, 6, "save_checkpoint");
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int kt = lua_type(L, -2);
        if (kt != LUA_TSTRING && kt != LUA_TNUMBER) luaL_error(L, "save_checkpoint: config keys must be strings");
        lua_pushvalue(L, -2);
        const char *k = lua_tostring(L, -1); /* converts the copy, not the key */
        const char *key = prefix ? lua_pushfstring(L, "%s.%s", prefix, k) : lua_pushstring(L, k);
        if (lua_istable(L, -3)) {
            add_entries(L, w, lua_absindex(L, -3), key, meta, depth + 1);
        } else {
            lua_pushvalue(L, -3);
            const char *text = scalar_text(L, key);
            LVT_CHECK(L, meta ? vimo_ckpt_add_meta(w, key, text) : vimo_ckpt_add_config(w, key, text));
            lua_pop(L, 2);
        }
        lua_pop(L, 3); /* key string, key copy, value */
    }
}

/* Adds the parameter list at idx; names come from {name=} or the tensor. */
static void add_params(lua_State *L, vimo_ckpt_writer *w, int idx)
{
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        const char *name = NULL;
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, "name");
            name = lua_tostring(L, -1);
            lua_getfield(L, -2, "tensor");
        } else {
            lua_pushnil(L);
            lua_pushvalue(L, -2);
        }
        if (!lvt_test_tensor(L, -1)) luaL_error(L, "save_checkpoint: params entry %d is not a tensor", (int)i);
        vimo_tensor *t = lvt_check_tensor(L, lua_gettop(L));
        if (!name || !name[0]) name = vimo_tensor_name(t);
        if (!name[0]) luaL_error(L, "save_checkpoint: params entry %d has no name (use {name=, tensor=})", (int)i);
        LVT_CHECK(L, vimo_ckpt_add_tensor(w, name, t));
        lua_pop(L, 3);
    }
}

/* For each prefix = instance of the table at idx: adds the instance's
 * parameters as "<prefix>.<name>" to w (writer) or restores them from c. */
static void for_modules(lua_State *L, int idx, vimo_ckpt_writer *w, vimo_ckpt *c)
{
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "checkpoint: modules = {prefix = instance, ...}");
        const vimo_instance *inst = lvt_check_instance(L, lua_gettop(L));
        const char *prefix = lua_tostring(L, -2);
        LVT_CHECK(L, w ? vimo_ckpt_add_module(w, prefix, inst) : vimo_ckpt_load_module(c, prefix, inst));
        lua_pop(L, 1);
    }
}

/* Pushes field k of the spec table at 2, checking its Lua type (nil ok). */
static int spec_field(lua_State *L, const char *k, int type)
{
    lua_getfield(L, 2, k);
    if (!lua_isnil(L, -1) && lua_type(L, -1) != type && !(type == LUA_TUSERDATA && lua_isuserdata(L, -1)))
        luaL_error(L, "save_checkpoint: '%s' must be a %s", k, lua_typename(L, type));
    return lua_gettop(L);
}

static void check_spec_keys(lua_State *L)
{
    static const char *const keys[] = {"params", "modules", "optimizer", "rng", "step", "config", "meta", NULL};
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        lua_pop(L, 1);
        int ok = 0;
        if (lua_type(L, -1) == LUA_TSTRING)
            for (const char *const *k = keys; *k; k++) ok |= strcmp(*k, lua_tostring(L, -1)) == 0;
        if (!ok) luaL_error(L, "save_checkpoint: unknown field '%s'", luaL_tolstring(L, -1, NULL));
    }
}

static int l_save_checkpoint(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    check_spec_keys(L);
    lvt_box *b = lua_newuserdatauv(L, sizeof *b, 0); /* 3: the writer's holder */
    b->p = NULL;
    luaL_setmetatable(L, LVT_CKPT_WRITER);
    LVT_CHECK(L, vimo_ckpt_writer_new((vimo_ckpt_writer **)&b->p, path));
    vimo_ckpt_writer *w = b->p;
    int f = spec_field(L, "params", LUA_TTABLE);
    if (!lua_isnil(L, f)) add_params(L, w, f);
    f = spec_field(L, "modules", LUA_TTABLE);
    if (!lua_isnil(L, f)) for_modules(L, f, w, NULL);
    f = spec_field(L, "optimizer", LUA_TUSERDATA);
    if (!lua_isnil(L, f)) LVT_CHECK(L, vimo_ckpt_add_adamw(w, lvt_check_adamw(L, f)));
    f = spec_field(L, "rng", LUA_TUSERDATA);
    if (!lua_isnil(L, f)) LVT_CHECK(L, vimo_ckpt_add_rng(w, lvt_check_rng(L, f)));
    f = spec_field(L, "step", LUA_TNUMBER);
    if (!lua_isnil(L, f)) {
        int ok;
        lua_Integer s = lua_tointegerx(L, f, &ok);
        if (!ok || s < 0) luaL_error(L, "save_checkpoint: 'step' must be an integer >= 0");
        LVT_CHECK(L, vimo_ckpt_set_step(w, s));
    }
    f = spec_field(L, "config", LUA_TTABLE);
    if (!lua_isnil(L, f)) add_entries(L, w, f, NULL, 0, 0);
    f = spec_field(L, "meta", LUA_TTABLE);
    if (!lua_isnil(L, f)) add_entries(L, w, f, NULL, 1, 0);
    vimo_status st = vimo_ckpt_commit(w);
    vimo_ckpt_writer_free(w);
    b->p = NULL;
    if (st != VIMO_OK) {
        if (st != VIMO_ERR_IO) return lvt_raise(L);
        lua_pushnil(L);
        lua_pushstring(L, vimo_last_error());
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- reading ------------------------------------------------------------- */

static vimo_ckpt *check_ckpt(lua_State *L, int idx)
{
    lvt_box *b = luaL_checkudata(L, idx, LVT_CKPT);
    if (!b->p) luaL_argerror(L, idx, "checkpoint was closed");
    return b->p;
}

static int l_load_checkpoint(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lvt_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->p = NULL;
    luaL_setmetatable(L, LVT_CKPT);
    vimo_status st = vimo_ckpt_open((vimo_ckpt **)&b->p, path);
    if (st == VIMO_ERR_INVALID || st == VIMO_ERR_NOMEM || st == VIMO_ERR_INTERNAL) return lvt_raise(L);
    if (st != VIMO_OK) {
        lua_pushnil(L);
        lua_pushstring(L, vimo_last_error());
        return 2;
    }
    return 1;
}

static int k_gc(lua_State *L)
{
    lvt_box *b = luaL_checkudata(L, 1, LVT_CKPT);
    vimo_ckpt_close(b->p);
    b->p = NULL;
    return 0;
}

static int k_path(lua_State *L)
{
    lua_pushstring(L, vimo_ckpt_path(check_ckpt(L, 1)));
    return 1;
}

static int k_step(lua_State *L)
{
    lua_pushinteger(L, vimo_ckpt_step(check_ckpt(L, 1)));
    return 1;
}

/* key -> value (strings) of the config (meta = 0) or metadata (meta = 1). */
static int push_kv(lua_State *L, int meta)
{
    vimo_ckpt *c = check_ckpt(L, 1);
    int n = meta ? vimo_ckpt_meta_count(c) : vimo_ckpt_config_count(c);
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, meta ? vimo_ckpt_meta_value(c, i) : vimo_ckpt_config_value(c, i));
        lua_setfield(L, -2, meta ? vimo_ckpt_meta_key(c, i) : vimo_ckpt_config_key(c, i));
    }
    return 1;
}

static int k_config(lua_State *L) { return push_kv(L, 0); }
static int k_meta(lua_State *L) { return push_kv(L, 1); }

/* ckpt:tensors() -> { {name=, shape={...}}, ... } in file order */
static int k_tensors(lua_State *L)
{
    vimo_ckpt *c = check_ckpt(L, 1);
    int n = vimo_ckpt_num_tensors(c);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        int64_t shape[VIMO_MAX_DIMS];
        int nd = vimo_ckpt_tensor_shape(c, i, shape);
        lua_createtable(L, 0, 2);
        lua_pushstring(L, vimo_ckpt_tensor_name(c, i));
        lua_setfield(L, -2, "name");
        lua_createtable(L, nd, 0);
        for (int d = 0; d < nd; d++) {
            lua_pushinteger(L, shape[d]);
            lua_rawseti(L, -2, d + 1);
        }
        lua_setfield(L, -2, "shape");
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* ckpt:tensor(name) -> a new caller-owned tensor */
static int k_tensor(lua_State *L)
{
    vimo_ckpt *c = check_ckpt(L, 1);
    const char *name = luaL_checkstring(L, 2);
    lvt_tensor *h = lvt_new_owned_holder(L);
    LVT_CHECK(L, vimo_ckpt_load_tensor(c, name, &h->t));
    return 1;
}

/* Copies every entry of the params list at idx from the file, by name. */
static void restore_params(lua_State *L, vimo_ckpt *c, int idx)
{
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        const char *name = NULL;
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, "name");
            name = lua_tostring(L, -1);
            lua_getfield(L, -2, "tensor");
        } else {
            lua_pushnil(L);
            lua_pushvalue(L, -2);
        }
        if (!lvt_test_tensor(L, -1)) luaL_error(L, "restore: params entry %d is not a tensor", (int)i);
        vimo_tensor *t = lvt_check_tensor(L, lua_gettop(L));
        if (!name || !name[0]) name = vimo_tensor_name(t);
        LVT_CHECK(L, vimo_ckpt_get_tensor(c, name, t));
        lua_pop(L, 3);
    }
}

/* ckpt:restore{params=, optimizer=, rng=}: params first (the optimiser's
 * moments are matched to them), then the optimiser, then the rng. */
static int k_restore(lua_State *L)
{
    vimo_ckpt *c = check_ckpt(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    lua_getfield(L, 2, "params");    /* 3 */
    lua_getfield(L, 2, "optimizer"); /* 4 */
    lua_getfield(L, 2, "rng");       /* 5 */
    lua_getfield(L, 2, "modules");   /* 6 */
    if (!lua_isnil(L, 6)) {
        luaL_argcheck(L, lua_istable(L, 6), 2, "'modules' must be {prefix = instance}");
        for_modules(L, 6, NULL, c);
    }
    if (!lua_isnil(L, 3)) {
        luaL_argcheck(L, lua_istable(L, 3), 2, "'params' must be a list");
        restore_params(L, c, 3);
    }
    if (!lua_isnil(L, 4)) LVT_CHECK(L, vimo_ckpt_restore_adamw(c, lvt_check_adamw(L, 4)));
    if (!lua_isnil(L, 5)) LVT_CHECK(L, vimo_ckpt_get_rng(c, lvt_check_rng(L, 5)));
    lua_settop(L, 1);
    return 1;
}

static int k_has_rng(lua_State *L)
{
    lua_pushboolean(L, vimo_ckpt_has_rng(check_ckpt(L, 1)));
    return 1;
}

static int k_has_optimizer(lua_State *L)
{
    lua_pushboolean(L, vimo_ckpt_has_adamw(check_ckpt(L, 1)));
    return 1;
}

/* ckpt:export_safetensors(path) -> true | nil, msg */
static int k_export(lua_State *L)
{
    vimo_ckpt *c = check_ckpt(L, 1);
    if (vimo_ckpt_export_safetensors(c, luaL_checkstring(L, 2)) != VIMO_OK) {
        lua_pushnil(L);
        lua_pushstring(L, vimo_last_error());
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

void lvt_open_ckpt(lua_State *L)
{
    static const luaL_Reg wmeta[] = {{"__gc", writer_gc}, {NULL, NULL}};
    lvt_new_class(L, LVT_CKPT_WRITER, wmeta);
    static const luaL_Reg methods[] = {
        {"path", k_path},       {"step", k_step},       {"config", k_config},
        {"meta", k_meta},       {"tensors", k_tensors}, {"tensor", k_tensor},
        {"restore", k_restore}, {"has_rng", k_has_rng}, {"has_optimizer", k_has_optimizer},
        {"export_safetensors", k_export}, {"close", k_gc}, {"__gc", k_gc}, {"__close", k_gc},
        {NULL, NULL}};
    lvt_new_class(L, LVT_CKPT, methods);
    static const luaL_Reg fns[] = {
        {"save_checkpoint", l_save_checkpoint}, {"load_checkpoint", l_load_checkpoint}, {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
