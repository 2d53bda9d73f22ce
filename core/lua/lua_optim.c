/*
 * lua_optim.c - Lua bindings of vimo/optim.h: AdamW with parameter groups,
 * gradient clipping and the warmup-cosine schedule.
 *
 * The optimiser does not own its parameters (C contract): the Lua object
 * keeps their handles alive in its user value and checks them before every
 * step, so a closed plugin instance is an error, not a use-after-free. Does
 * not add optimisers or schedules of its own.
 */
#include <string.h>

#include "lvimo.h"

typedef struct lvt_adamw {
    vimo_adamw *opt;
} lvt_adamw;

/* ---- parameter lists ----------------------------------------------------- */

/* Pushes the tensor handle of entry i of the list at idx: a tensor, or a
 * table {tensor = t} as inst:params() gives. Raises otherwise. */
static lvt_tensor *param_entry(lua_State *L, int idx, lua_Integer i)
{
    lua_rawgeti(L, idx, i);
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "tensor");
        lua_remove(L, -2);
    }
    lvt_tensor *h = lvt_test_tensor(L, -1);
    if (!h) luaL_error(L, "parameter list entry %d is not a tensor or {tensor = t}", (int)i);
    lvt_check_tensor(L, lua_gettop(L));
    if (h->anchor && h->anchor->ctx)
        luaL_error(L, "parameter list entry %d is an op result (context tensor), not a parameter", (int)i);
    return h;
}

vimo_tensor **lvt_check_params(lua_State *L, int idx, int *n)
{
    idx = lua_absindex(L, idx);
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_Integer len = (lua_Integer)lua_rawlen(L, idx);
    if (len > 1000000) luaL_argerror(L, idx, "too many parameters");
    vimo_tensor **ts = lua_newuserdatauv(L, (size_t)(len ? len : 1) * sizeof *ts, 0);
    for (lua_Integer i = 1; i <= len; i++) {
        ts[i - 1] = param_entry(L, idx, i)->t;
        lua_pop(L, 1);
    }
    *n = (int)len;
    return ts;
}

/* ---- AdamW --------------------------------------------------------------- */

static lvt_adamw *check_opt(lua_State *L, int idx)
{
    lvt_adamw *o = luaL_checkudata(L, idx, LVT_ADAMW);
    if (!o->opt) luaL_argerror(L, idx, "optimiser was closed");
    return o;
}

static float field_number(lua_State *L, int idx, const char *k, float def)
{
    lua_getfield(L, idx, k);
    float v = def;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER) luaL_error(L, "adamw: '%s' must be a number", k);
        v = (float)lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

/* Raises on keys of the table at idx that are not in allowed. */
static void check_keys(lua_State *L, int idx, const char *fn, const char *const *allowed)
{
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        int ok = 0;
        if (lua_type(L, -1) == LUA_TSTRING)
            for (const char *const *a = allowed; *a; a++) ok |= strcmp(*a, lua_tostring(L, -1)) == 0;
        if (!ok) luaL_error(L, "%s: unknown field '%s'", fn, luaL_tolstring(L, -1, NULL));
    }
}

/* vimo.adamw{beta1 = 0.9, beta2 = 0.999, eps = 1e-8} */
static int l_adamw(lua_State *L)
{
    static const char *const keys[] = {"beta1", "beta2", "eps", NULL};
    vimo_adamw_config cfg = {0.9f, 0.999f, 1e-8f};
    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        check_keys(L, 1, "adamw", keys);
        cfg.beta1 = field_number(L, 1, "beta1", cfg.beta1);
        cfg.beta2 = field_number(L, 1, "beta2", cfg.beta2);
        cfg.eps = field_number(L, 1, "eps", cfg.eps);
    }
    lvt_adamw *o = lua_newuserdatauv(L, sizeof *o, 1);
    o->opt = NULL;
    luaL_setmetatable(L, LVT_ADAMW);
    lua_newtable(L); /* handles of every parameter, kept alive */
    lua_setiuservalue(L, -2, 1);
    LVT_CHECK(L, vimo_adamw_new(&o->opt, &cfg));
    return 1;
}

/* opt:add_group{params = list, lr = 1e-3, wd = 0} -> group index (0-based) */
static int o_add_group(lua_State *L)
{
    static const char *const keys[] = {"params", "lr", "wd", NULL};
    lvt_adamw *o = check_opt(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    check_keys(L, 2, "add_group", keys);
    lua_getfield(L, 2, "params"); /* 3 */
    if (!lua_istable(L, 3)) return luaL_error(L, "add_group: 'params' must be a list of tensors");
    float lr = field_number(L, 2, "lr", 1e-3f), wd = field_number(L, 2, "wd", 0.0f);
    int n;
    vimo_tensor **ts = lvt_check_params(L, 3, &n); /* 4 */
    int group = -1;
    LVT_CHECK(L, vimo_adamw_add_group(o->opt, ts, n, lr, wd, &group));
    lua_getiuservalue(L, 1, 1); /* 5 */
    for (lua_Integer i = 1; i <= n; i++) {
        param_entry(L, 3, i);
        lua_rawseti(L, 5, (lua_Integer)lua_rawlen(L, 5) + 1);
    }
    lua_pushinteger(L, group);
    return 1;
}

/* Raises when any parameter handle the optimiser relies on went stale. */
static void check_alive(lua_State *L, int opt_idx)
{
    lua_getiuservalue(L, opt_idx, 1);
    int tab = lua_gettop(L);
    lua_Integer n = (lua_Integer)lua_rawlen(L, tab);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, tab, i);
        lvt_check_tensor(L, lua_gettop(L));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* opt:step([lr_scale = 1]) */
static int o_step(lua_State *L)
{
    lvt_adamw *o = check_opt(L, 1);
    float scale = (float)luaL_optnumber(L, 2, 1.0);
    check_alive(L, 1);
    LVT_CHECK(L, vimo_adamw_step(o->opt, scale));
    return 0;
}

static int o_zero_grad(lua_State *L)
{
    lvt_adamw *o = check_opt(L, 1);
    check_alive(L, 1);
    vimo_adamw_zero_grad(o->opt);
    return 0;
}

/* opt:steps() -> t; opt:steps(t) sets it (restoring a checkpoint). */
static int o_steps(lua_State *L)
{
    lvt_adamw *o = check_opt(L, 1);
    if (!lua_isnone(L, 2)) {
        lua_Integer t = luaL_checkinteger(L, 2);
        luaL_argcheck(L, t >= 0, 2, "step count must be >= 0");
        vimo_adamw_set_steps(o->opt, t);
    }
    lua_pushinteger(L, vimo_adamw_steps(o->opt));
    return 1;
}

/* opt:params() -> flat list of every parameter handle, group order. */
static int o_params(lua_State *L)
{
    check_opt(L, 1);
    lua_getiuservalue(L, 1, 1);
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -2, i);
        lua_rawseti(L, -2, i);
    }
    return 1;
}

static int o_gc(lua_State *L)
{
    lvt_adamw *o = luaL_checkudata(L, 1, LVT_ADAMW);
    vimo_adamw_free(o->opt);
    o->opt = NULL;
    return 0;
}

vimo_adamw *lvt_check_adamw(lua_State *L, int idx)
{
    lvt_adamw *o = check_opt(L, idx);
    check_alive(L, idx);
    return o->opt;
}

/* ---- clipping and schedules ---------------------------------------------- */

/* vimo.clip_grad_norm(params, max_norm) -> norm before clipping */
static int l_clip_grad_norm(lua_State *L)
{
    int n;
    float max = (float)luaL_checknumber(L, 2);
    vimo_tensor **ts = lvt_check_params(L, 1, &n);
    float norm = 0.0f;
    LVT_CHECK(L, vimo_clip_grad_norm(ts, n, max, &norm));
    lua_pushnumber(L, norm);
    return 1;
}

/* vimo.lr_warmup_cosine(step, warmup, total [, min_factor = 0]) -> factor */
static int l_lr_warmup_cosine(lua_State *L)
{
    lua_Integer step = luaL_checkinteger(L, 1), warmup = luaL_checkinteger(L, 2), total = luaL_checkinteger(L, 3);
    float min = (float)luaL_optnumber(L, 4, 0.0);
    lua_pushnumber(L, vimo_lr_warmup_cosine(step, warmup, total, min));
    return 1;
}

void lvt_open_optim(lua_State *L)
{
    static const luaL_Reg methods[] = {{"add_group", o_add_group}, {"step", o_step},     {"zero_grad", o_zero_grad},
                                       {"steps", o_steps},         {"params", o_params}, {"close", o_gc},
                                       {"__gc", o_gc},             {"__close", o_gc},    {NULL, NULL}};
    lvt_new_class(L, LVT_ADAMW, methods);
    static const luaL_Reg fns[] = {{"adamw", l_adamw},
                                   {"clip_grad_norm", l_clip_grad_norm},
                                   {"lr_warmup_cosine", l_lr_warmup_cosine},
                                   {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
