/*
 * lua_tensor.c - Lua bindings of tensors, contexts and int buffers.
 *
 * vimo.tensor / zeros / randn / ints / ctx and the methods of their
 * userdata. Tensor handles either own their tensor or borrow it from an
 * anchor (context, plugin instance) and are checked for staleness on every
 * use (see lvimo.h). Does not implement any math: ops live in lua_ops.c.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lvimo.h"

/* Largest element count turned into a Lua table or read from one in one call:
 * keeps a typo from building a multi-gigabyte table. */
#define LVT_MAX_TABLE_ELEMS (INT64_C(1) << 28)

int lvt_raise(lua_State *L)
{
    const char *msg = vimo_last_error();
    return luaL_error(L, "%s", msg[0] ? msg : "vimo: unknown error");
}

void lvt_new_class(lua_State *L, const char *tname, const luaL_Reg *methods)
{
    luaL_newmetatable(L, tname);
    luaL_setfuncs(L, methods, 0);
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, tname);
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
}

/* ---- handles ------------------------------------------------------------- */

lvt_tensor *lvt_test_tensor(lua_State *L, int idx) { return luaL_testudata(L, idx, LVT_TENSOR); }

/* NULL when the handle may be used, else why not. */
static const char *stale_reason(const lvt_tensor *h)
{
    if (!h->t) return "tensor was closed";
    if (!h->anchor) return NULL;
    if (h->anchor->dead)
        return strcmp(h->anchor->what, "context") == 0 ? "tensor from a closed context"
                                                         : "tensor from a closed plugin instance";
    if (h->anchor->ctx && vimo_ctx_generation(h->anchor->ctx) != h->gen) return "tensor from a reset context";
    return NULL;
}

vimo_tensor *lvt_check_tensor(lua_State *L, int idx)
{
    lvt_tensor *h = luaL_checkudata(L, idx, LVT_TENSOR);
    const char *why = stale_reason(h);
    if (why) luaL_argerror(L, idx, why);
    return h->t;
}

vimo_tensor *lvt_opt_tensor(lua_State *L, int idx)
{
    return lua_isnoneornil(L, idx) ? NULL : lvt_check_tensor(L, idx);
}

lvt_tensor *lvt_new_owned_holder(lua_State *L)
{
    lvt_tensor *h = lua_newuserdatauv(L, sizeof *h, 1);
    memset(h, 0, sizeof *h);
    luaL_setmetatable(L, LVT_TENSOR);
    return h;
}

void lvt_push_borrowed(lua_State *L, vimo_tensor *t, int anchor_idx)
{
    anchor_idx = lua_absindex(L, anchor_idx);
    lvt_anchor *a = lua_touserdata(L, anchor_idx);
    lvt_tensor *h = lua_newuserdatauv(L, sizeof *h, 1);
    h->t = t;
    h->anchor = a;
    h->gen = a->ctx ? vimo_ctx_generation(a->ctx) : 0;
    luaL_setmetatable(L, LVT_TENSOR);
    lua_pushvalue(L, anchor_idx); /* the handle keeps its anchor alive */
    lua_setiuservalue(L, -2, 1);
}

/* The tape of a context and its views point into their inputs, so an input
 * that this context does not own (a Lua-owned tensor, or a plugin's
 * parameter) must outlive the context's current generation even when the
 * script drops its last reference: the context's keep-list (uservalue 1,
 * replaced on reset) holds it until then. */
void lvt_ctx_keep(lua_State *L, int ctx_idx, int t_idx)
{
    lvt_tensor *h = lvt_test_tensor(L, t_idx);
    lvt_ctx *c = luaL_testudata(L, ctx_idx, LVT_CTX);
    if (!h || !c || h->anchor == &c->a) return;
    t_idx = lua_absindex(L, t_idx);
    if (lua_getiuservalue(L, ctx_idx, 1) != LUA_TTABLE) {
        lua_pop(L, 1);
        return;
    }
    lua_pushvalue(L, t_idx);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    lua_pop(L, 1);
}

void lvt_push_result(lua_State *L, vimo_tensor *y, int ctx_idx, const int *in_idx, int n)
{
    ctx_idx = lua_absindex(L, ctx_idx);
    for (int i = 0; i < n; i++) lvt_ctx_keep(L, ctx_idx, in_idx[i]);
    for (int i = 0; i < n; i++) {
        lvt_tensor *h = lvt_test_tensor(L, in_idx[i]);
        if (h && h->t == y) {
            lua_pushvalue(L, in_idx[i]);
            return;
        }
    }
    lvt_push_borrowed(L, y, ctx_idx);
}

int lvt_check_shape(lua_State *L, int idx, int64_t shape[VIMO_MAX_DIMS])
{
    int nd = 0;
    if (lua_istable(L, idx)) {
        lua_Integer len = (lua_Integer)lua_rawlen(L, idx);
        if (len < 1 || len > VIMO_MAX_DIMS)
            luaL_argerror(L, idx, lua_pushfstring(L, "shape needs 1 to %d sizes, got %d", VIMO_MAX_DIMS, (int)len));
        for (int i = 0; i < len; i++) {
            lua_rawgeti(L, idx, i + 1);
            int ok;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            lua_pop(L, 1);
            if (!ok) luaL_argerror(L, idx, lua_pushfstring(L, "shape entry %d is not an integer", i + 1));
            shape[nd++] = v;
        }
        return nd;
    }
    int top = lua_gettop(L);
    if (top < idx) luaL_argerror(L, idx, "shape expected (a table of sizes or sizes)");
    if (top - idx + 1 > VIMO_MAX_DIMS)
        luaL_argerror(L, idx, lua_pushfstring(L, "shape needs 1 to %d sizes", VIMO_MAX_DIMS));
    for (int i = idx; i <= top; i++) shape[nd++] = luaL_checkinteger(L, i);
    return nd;
}

/* ---- nested tables <-> flat arrays ---------------------------------------- */

/* Shape of a nested table at idx (descending first elements), at most maxd
 * dims. Raises on empty tables or too deep nesting. */
static int infer_shape(lua_State *L, int idx, int64_t *shape, int maxd, const char *fn)
{
    int nd = 0;
    lua_pushvalue(L, idx);
    while (lua_type(L, -1) == LUA_TTABLE) {
        if (nd == maxd) luaL_error(L, "%s: table nested deeper than %d levels", fn, maxd);
        int64_t n = (int64_t)lua_rawlen(L, -1);
        if (n == 0) luaL_error(L, "%s: empty table at depth %d", fn, nd + 1);
        shape[nd++] = n;
        lua_rawgeti(L, -1, 1);
        lua_remove(L, -2);
    }
    lua_pop(L, 1);
    return nd;
}

/* Writes the leaves of the table on top of the stack (shape[depth..nd)) into
 * dst (float or int32) at *pos. Raises on ragged tables or non-numbers. */
static void flatten(lua_State *L, int depth, int nd, const int64_t *shape, void *dst, int as_int, int64_t *pos,
                    const char *fn)
{
    luaL_checkstack(L, 2, fn);
    if ((int64_t)lua_rawlen(L, -1) != shape[depth])
        luaL_error(L, "%s: ragged table: %d entries at depth %d, expected %d", fn, (int)lua_rawlen(L, -1), depth + 1,
                   (int)shape[depth]);
    for (int64_t i = 1; i <= shape[depth]; i++) {
        lua_rawgeti(L, -1, i);
        if (depth + 1 < nd) {
            if (!lua_istable(L, -1)) luaL_error(L, "%s: ragged table: entry %d at depth %d is not a table", fn, (int)i, depth + 1);
            flatten(L, depth + 1, nd, shape, dst, as_int, pos, fn);
        } else if (as_int) {
            int ok;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            if (!ok || lua_type(L, -1) != LUA_TNUMBER || v < INT32_MIN || v > INT32_MAX)
                luaL_error(L, "%s: element %d is not a 32-bit integer", fn, (int)(*pos + 1));
            ((int32_t *)dst)[(*pos)++] = (int32_t)v;
        } else {
            if (lua_type(L, -1) != LUA_TNUMBER) luaL_error(L, "%s: element %d is not a number", fn, (int)(*pos + 1));
            ((float *)dst)[(*pos)++] = (float)lua_tonumber(L, -1);
        }
        lua_pop(L, 1);
    }
}

static int64_t shape_numel(lua_State *L, int nd, const int64_t *shape, const char *fn)
{
    int64_t n = 1;
    for (int i = 0; i < nd; i++) {
        if (shape[i] < 1) luaL_error(L, "%s: dim %d has size %d", fn, i, (int)shape[i]);
        n *= shape[i];
        if (n > LVT_MAX_TABLE_ELEMS) luaL_error(L, "%s: too many elements for a Lua table", fn);
    }
    return n;
}

/* Floats of the table at idx, which must have exactly n leaves: either a flat
 * list of n numbers or a nested table of shape (want_nd, want_shape). The
 * scratch userdata is left on the stack. */
static float *table_floats(lua_State *L, int idx, int64_t n, int want_nd, const int64_t *want_shape, const char *fn)
{
    int64_t shape[VIMO_MAX_DIMS];
    idx = lua_absindex(L, idx);
    int nd = infer_shape(L, idx, shape, VIMO_MAX_DIMS, fn);
    int flat = nd == 1 && shape[0] == n;
    if (!flat) {
        int same = nd == want_nd;
        for (int i = 0; same && i < nd; i++) same = shape[i] == want_shape[i];
        if (!same) luaL_error(L, "%s: table does not match the tensor's shape or element count %d", fn, (int)n);
    }
    float *buf = lua_newuserdatauv(L, (size_t)n * sizeof(float), 0);
    int64_t pos = 0;
    lua_pushvalue(L, idx);
    flatten(L, 0, flat ? 1 : nd, shape, buf, 0, &pos, fn);
    lua_pop(L, 1);
    return buf;
}

/* Pushes the nested table of shape[depth..nd) from data at *pos. */
static void push_nested(lua_State *L, const float *data, int depth, int nd, const int64_t *shape, int64_t *pos)
{
    luaL_checkstack(L, 2, "totable");
    lua_createtable(L, (int)shape[depth], 0);
    for (int64_t i = 1; i <= shape[depth]; i++) {
        if (depth + 1 < nd) push_nested(L, data, depth + 1, nd, shape, pos);
        else lua_pushnumber(L, data[(*pos)++]);
        lua_rawseti(L, -2, i);
    }
}

/* Pushes t's values (or its gradient when grad = 1) as a nested table;
 * both are copied to the host first, so device tensors work too. With
 * grad = 1, t must have a gradient. */
static void push_table(lua_State *L, vimo_tensor *t, int grad)
{
    int nd = vimo_tensor_ndim(t);
    int64_t shape[VIMO_MAX_DIMS];
    for (int i = 0; i < nd; i++) shape[i] = vimo_tensor_dim(t, i);
    int64_t n = shape_numel(L, nd, shape, "totable");
    float *buf = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof(float), 0);
    if (grad) {
        LVT_CHECK(L, vimo_tensor_grad_to_host(t, buf, n)); /* contiguous by contract */
    } else {
        LVT_CHECK(L, vimo_tensor_copy_to(t, buf, n));
    }
    int64_t pos = 0;
    push_nested(L, buf, 0, nd, shape, &pos);
    lua_remove(L, -2); /* the scratch buffer */
}

/* ---- constructors -------------------------------------------------------- */

/* vimo.tensor(d0, d1, ...) -> zeros; vimo.tensor{nested numbers} -> data. */
static int l_tensor(lua_State *L)
{
    int64_t shape[VIMO_MAX_DIMS];
    if (!lua_istable(L, 1)) {
        int nd = lvt_check_shape(L, 1, shape);
        lvt_tensor *h = lvt_new_owned_holder(L);
        LVT_CHECK(L, vimo_tensor_new(&h->t, nd, shape));
        return 1;
    }
    int nd = infer_shape(L, 1, shape, VIMO_MAX_DIMS, "vimo.tensor");
    int64_t n = shape_numel(L, nd, shape, "vimo.tensor");
    float *buf = table_floats(L, 1, n, nd, shape, "vimo.tensor");
    lvt_tensor *h = lvt_new_owned_holder(L);
    LVT_CHECK(L, vimo_tensor_new(&h->t, nd, shape));
    LVT_CHECK(L, vimo_tensor_copy_from(h->t, buf, n));
    return 1;
}

/* vimo.zeros(shape) or vimo.zeros(d0, d1, ...). */
static int l_zeros(lua_State *L)
{
    int64_t shape[VIMO_MAX_DIMS];
    int nd = lvt_check_shape(L, 1, shape);
    lvt_tensor *h = lvt_new_owned_holder(L);
    LVT_CHECK(L, vimo_tensor_new(&h->t, nd, shape));
    return 1;
}

/* vimo.randn(rng, shape [, std = 1]): N(0, std^2) from rng. */
static int l_randn(lua_State *L)
{
    vimo_rng *r = lvt_check_rng(L, 1);
    int64_t shape[VIMO_MAX_DIMS];
    luaL_checktype(L, 2, LUA_TTABLE);
    int nd = lvt_check_shape(L, 2, shape);
    float std = (float)luaL_optnumber(L, 3, 1.0);
    lvt_tensor *h = lvt_new_owned_holder(L);
    LVT_CHECK(L, vimo_tensor_new(&h->t, nd, shape));
    /* A fresh tensor is contiguous: fill its storage directly. */
    vimo_rng_fill_normal(r, vimo_tensor_data(h->t), vimo_tensor_numel(h->t), std);
    return 1;
}

/* ---- tensor methods ------------------------------------------------------ */

static int t_shape(lua_State *L)
{
    vimo_tensor *t = lvt_check_tensor(L, 1);
    int nd = vimo_tensor_ndim(t);
    lua_createtable(L, nd, 0);
    for (int i = 0; i < nd; i++) {
        lua_pushinteger(L, vimo_tensor_dim(t, i));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int t_ndim(lua_State *L)
{
    lua_pushinteger(L, vimo_tensor_ndim(lvt_check_tensor(L, 1)));
    return 1;
}

static int t_numel(lua_State *L)
{
    lua_pushinteger(L, vimo_tensor_numel(lvt_check_tensor(L, 1)));
    return 1;
}

static int t_totable(lua_State *L)
{
    push_table(L, lvt_check_tensor(L, 1), 0);
    return 1;
}

static int t_item(lua_State *L)
{
    vimo_tensor *t = lvt_check_tensor(L, 1);
    if (vimo_tensor_numel(t) != 1) {
        char s[64];
        return luaL_error(L, "item: tensor %s has more than one element", vimo_tensor_shape_str(t, s, sizeof s));
    }
    float v;
    LVT_CHECK(L, vimo_tensor_copy_to(t, &v, 1));
    lua_pushnumber(L, v);
    return 1;
}

static int t_fill(lua_State *L)
{
    vimo_tensor *t = lvt_check_tensor(L, 1);
    vimo_tensor_fill(t, (float)luaL_checknumber(L, 2));
    lua_settop(L, 1);
    return 1;
}

/* t:copy(table | tensor): values from a flat or nested table, or another
 * tensor of the same element count. */
static int t_copy(lua_State *L)
{
    vimo_tensor *t = lvt_check_tensor(L, 1);
    int64_t n = vimo_tensor_numel(t);
    if (lvt_test_tensor(L, 2)) {
        vimo_tensor *src = lvt_check_tensor(L, 2);
        if (vimo_tensor_numel(src) != n) {
            char a[64], b[64];
            return luaL_error(L, "copy: %s into %s: element counts differ", vimo_tensor_shape_str(src, a, sizeof a),
                              vimo_tensor_shape_str(t, b, sizeof b));
        }
        float *buf = lua_newuserdatauv(L, (size_t)n * sizeof(float), 0);
        LVT_CHECK(L, vimo_tensor_copy_to(src, buf, n));
        LVT_CHECK(L, vimo_tensor_copy_from(t, buf, n));
    } else {
        luaL_checktype(L, 2, LUA_TTABLE);
        int nd = vimo_tensor_ndim(t);
        int64_t shape[VIMO_MAX_DIMS];
        for (int i = 0; i < nd; i++) shape[i] = vimo_tensor_dim(t, i);
        shape_numel(L, nd, shape, "copy");
        float *buf = table_floats(L, 2, n, nd, shape, "copy");
        LVT_CHECK(L, vimo_tensor_copy_from(t, buf, n));
    }
    lua_settop(L, 1);
    return 1;
}

static int t_grad(lua_State *L)
{
    vimo_tensor *t = lvt_check_tensor(L, 1);
    /* No gradient buffer: nil (vimo_tensor_grad is NULL for every device
     * tensor, so ask the device-aware copy instead). */
    int has = vimo_tensor_device(t) == VIMO_DEVICE_CPU ? vimo_tensor_grad(t) != NULL
                                                       : vimo_tensor_grad_to_host(t, NULL, 0) != VIMO_ERR_STATE;
    if (!has) lua_pushnil(L);
    else push_table(L, t, 1);
    return 1;
}

static int t_zero_grad(lua_State *L)
{
    vimo_tensor_zero_grad(lvt_check_tensor(L, 1));
    lua_settop(L, 1);
    return 1;
}

/* t:requires_grad() -> bool; t:requires_grad(on) sets it and returns t. */
static int t_requires_grad(lua_State *L)
{
    vimo_tensor *t = lvt_check_tensor(L, 1);
    if (lua_isnone(L, 2)) {
        lua_pushboolean(L, vimo_tensor_requires_grad(t));
        return 1;
    }
    luaL_checktype(L, 2, LUA_TBOOLEAN);
    LVT_CHECK(L, vimo_tensor_set_requires_grad(t, lua_toboolean(L, 2)));
    lua_settop(L, 1);
    return 1;
}

/* A caller-owned contiguous copy (survives ctx:reset). */
static int t_clone(lua_State *L)
{
    vimo_tensor *t = lvt_check_tensor(L, 1);
    lvt_tensor *h = lvt_new_owned_holder(L);
    LVT_CHECK(L, vimo_tensor_clone(&h->t, t));
    return 1;
}

static int t_name(lua_State *L)
{
    vimo_tensor *t = lvt_check_tensor(L, 1);
    if (lua_isnone(L, 2)) {
        lua_pushstring(L, vimo_tensor_name(t));
        return 1;
    }
    LVT_CHECK(L, vimo_tensor_set_name(t, luaL_checkstring(L, 2)));
    lua_settop(L, 1);
    return 1;
}

int lvt_check_device(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TNUMBER) return (int)luaL_checkinteger(L, idx);
    int dev;
    LVT_CHECK(L, vimo_backend_get(luaL_checkstring(L, idx), &dev));
    return dev;
}

/* t:move("cuda") moves a caller-owned tensor (a parameter) in place and
 * returns it: plugins keep their handles, the data changes device. */
static int t_move(lua_State *L)
{
    vimo_tensor *t = lvt_check_tensor(L, 1);
    LVT_CHECK(L, vimo_tensor_move(t, lvt_check_device(L, 2)));
    lua_settop(L, 1);
    return 1;
}

/* t:device() -> "cpu", "cuda", ... */
static int t_device(lua_State *L)
{
    lua_pushstring(L, vimo_device_name(vimo_tensor_device(lvt_check_tensor(L, 1))));
    return 1;
}

/* True when the handle owns its tensor (it survives ctx:reset). */
static int t_is_owned(lua_State *L)
{
    lvt_tensor *h = luaL_checkudata(L, 1, LVT_TENSOR);
    lua_pushboolean(L, h->anchor == NULL);
    return 1;
}

static int t_tostring(lua_State *L)
{
    lvt_tensor *h = luaL_checkudata(L, 1, LVT_TENSOR);
    const char *why = stale_reason(h);
    if (why) {
        lua_pushfstring(L, "vimo.tensor (%s)", why);
        return 1;
    }
    char s[64];
    vimo_tensor_shape_str(h->t, s, sizeof s);
    const char *name = vimo_tensor_name(h->t);
    lua_pushfstring(L, "vimo.tensor%s%s%s %s", name[0] ? " '" : "", name, name[0] ? "'" : "", s);
    return 1;
}

static int t_gc(lua_State *L)
{
    lvt_tensor *h = luaL_checkudata(L, 1, LVT_TENSOR);
    if (!h->anchor) vimo_tensor_free(h->t);
    h->t = NULL;
    return 0;
}

static const luaL_Reg tensor_methods[] = {
    {"shape", t_shape},       {"ndim", t_ndim},       {"numel", t_numel},
    {"totable", t_totable},   {"item", t_item},       {"fill", t_fill},
    {"copy", t_copy},         {"grad", t_grad},       {"zero_grad", t_zero_grad},
    {"requires_grad", t_requires_grad},               {"clone", t_clone},
    {"name", t_name},         {"is_owned", t_is_owned}, {"move", t_move},
    {"device", t_device},
    {"__tostring", t_tostring}, {"__gc", t_gc},       {"__close", t_gc},
    {"close", t_gc},          {NULL, NULL}};

/* ---- contexts ------------------------------------------------------------ */

vimo_ctx *lvt_check_ctx(lua_State *L, int idx)
{
    lvt_ctx *c = luaL_checkudata(L, idx, LVT_CTX);
    if (c->a.dead) luaL_argerror(L, idx, "context was closed");
    return c->a.ctx;
}

static int l_ctx(lua_State *L)
{
    lvt_ctx *c = lua_newuserdatauv(L, sizeof *c, 1);
    memset(c, 0, sizeof *c);
    lua_newtable(L); /* keep-list, see lvt_ctx_keep */
    lua_setiuservalue(L, -2, 1);
    c->a.what = "context";
    c->a.dead = 1; /* until the context exists */
    luaL_setmetatable(L, LVT_CTX);
    LVT_CHECK(L, vimo_ctx_new(&c->a.ctx));
    c->a.dead = 0;
    return 1;
}

static int c_reset(lua_State *L)
{
    vimo_ctx_reset(lvt_check_ctx(L, 1));
    lua_newtable(L); /* the new generation keeps nothing yet */
    lua_setiuservalue(L, 1, 1);
    return 0;
}

/* ctx:grad() -> bool; ctx:grad(on) -> previous mode. */
static int c_grad(lua_State *L)
{
    vimo_ctx *c = lvt_check_ctx(L, 1);
    if (lua_isnone(L, 2)) {
        lua_pushboolean(L, vimo_ctx_grad_enabled(c));
        return 1;
    }
    luaL_checktype(L, 2, LUA_TBOOLEAN);
    lua_pushboolean(L, vimo_ctx_set_grad(c, lua_toboolean(L, 2)));
    return 1;
}

static int c_backward(lua_State *L)
{
    vimo_ctx *c = lvt_check_ctx(L, 1);
    LVT_CHECK(L, vimo_backward(c, lvt_check_tensor(L, 2)));
    return 0;
}

static int c_bytes(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)vimo_ctx_bytes(lvt_check_ctx(L, 1)));
    return 1;
}

static int c_generation(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)vimo_ctx_generation(lvt_check_ctx(L, 1)));
    return 1;
}

/* ctx:tensor(shape): a zeroed scratch tensor owned by the context. */
static int c_tensor(lua_State *L)
{
    vimo_ctx *c = lvt_check_ctx(L, 1);
    int64_t shape[VIMO_MAX_DIMS];
    int nd = lvt_check_shape(L, 2, shape);
    vimo_tensor *t;
    LVT_CHECK(L, vimo_ctx_tensor(c, &t, nd, shape));
    lvt_push_borrowed(L, t, 1);
    return 1;
}

static int c_gc(lua_State *L)
{
    lvt_ctx *c = luaL_checkudata(L, 1, LVT_CTX);
    if (!c->a.dead) vimo_ctx_free(c->a.ctx);
    c->a.ctx = NULL;
    c->a.dead = 1;
    lua_pushnil(L);
    lua_setiuservalue(L, 1, 1);
    return 0;
}

static int c_tostring(lua_State *L)
{
    lvt_ctx *c = luaL_checkudata(L, 1, LVT_CTX);
    if (c->a.dead) lua_pushliteral(L, "vimo.ctx (closed)");
    else lua_pushfstring(L, "vimo.ctx (generation %d)", (int)vimo_ctx_generation(c->a.ctx));
    return 1;
}

static const luaL_Reg ctx_methods[] = {
    {"reset", c_reset}, {"grad", c_grad},     {"backward", c_backward},   {"bytes", c_bytes},
    {"generation", c_generation},             {"tensor", c_tensor},       {"__gc", c_gc},
    {"__close", c_gc},  {"close", c_gc},      {"__tostring", c_tostring}, {NULL, NULL}};

/* ---- int buffers --------------------------------------------------------- */

static lvt_ints *new_ints(lua_State *L, int nd, const int64_t *shape)
{
    int64_t n = shape_numel(L, nd, shape, "vimo.ints");
    lvt_ints *b = lua_newuserdatauv(L, sizeof *b + (size_t)n * sizeof(int32_t), 0);
    b->n = n;
    b->ndim = nd;
    for (int i = 0; i < nd; i++) b->shape[i] = shape[i];
    memset(b->v, 0, (size_t)n * sizeof(int32_t));
    luaL_setmetatable(L, LVT_INTS);
    return b;
}

/* Builds a vimo.ints from the nested table at idx and pushes it. */
static lvt_ints *ints_from_table(lua_State *L, int idx)
{
    int64_t shape[3];
    idx = lua_absindex(L, idx);
    int nd = infer_shape(L, idx, shape, 3, "vimo.ints");
    if (nd == 0) luaL_argerror(L, idx, "table of integers expected");
    lvt_ints *b = new_ints(L, nd, shape);
    int64_t pos = 0;
    lua_pushvalue(L, idx);
    flatten(L, 0, nd, shape, b->v, 1, &pos, "vimo.ints");
    lua_pop(L, 1);
    return b;
}

lvt_ints *lvt_to_ints(lua_State *L, int idx)
{
    lvt_ints *b = luaL_testudata(L, idx, LVT_INTS);
    if (b) {
        lua_pushvalue(L, idx);
        return b;
    }
    if (!lua_istable(L, idx)) luaL_argerror(L, idx, "table of integers or vimo.ints expected");
    return ints_from_table(L, idx);
}

/* vimo.ints{...} (nested, 1-3 dims) or vimo.ints(d0, d1, ...) of zeros. */
static int l_ints(lua_State *L)
{
    if (lua_istable(L, 1)) {
        ints_from_table(L, 1);
        return 1;
    }
    int64_t shape[VIMO_MAX_DIMS];
    int nd = lvt_check_shape(L, 1, shape);
    if (nd > 3) luaL_argerror(L, 1, "vimo.ints has 1 to 3 dims");
    new_ints(L, nd, shape);
    return 1;
}

static lua_Integer ints_index(lua_State *L, lvt_ints *b)
{
    lua_Integer i = luaL_checkinteger(L, 2);
    if (i < 1 || i > b->n) luaL_argerror(L, 2, lua_pushfstring(L, "index %d outside 1..%d", (int)i, (int)b->n));
    return i - 1;
}

static int i_index(lua_State *L)
{
    lvt_ints *b = luaL_checkudata(L, 1, LVT_INTS);
    if (lua_type(L, 2) == LUA_TSTRING) { /* methods */
        luaL_getmetatable(L, LVT_INTS);
        lua_getfield(L, -1, "methods");
        lua_getfield(L, -1, lua_tostring(L, 2));
        return 1;
    }
    lua_pushinteger(L, b->v[ints_index(L, b)]);
    return 1;
}

static int i_newindex(lua_State *L)
{
    lvt_ints *b = luaL_checkudata(L, 1, LVT_INTS);
    lua_Integer at = ints_index(L, b);
    lua_Integer v = luaL_checkinteger(L, 3);
    if (v < INT32_MIN || v > INT32_MAX) luaL_argerror(L, 3, "value does not fit in 32 bits");
    b->v[at] = (int32_t)v;
    return 0;
}

static int i_len(lua_State *L)
{
    lua_pushinteger(L, ((lvt_ints *)luaL_checkudata(L, 1, LVT_INTS))->n);
    return 1;
}

static int i_shape(lua_State *L)
{
    lvt_ints *b = luaL_checkudata(L, 1, LVT_INTS);
    lua_createtable(L, b->ndim, 0);
    for (int i = 0; i < b->ndim; i++) {
        lua_pushinteger(L, b->shape[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int i_totable(lua_State *L)
{
    lvt_ints *b = luaL_checkudata(L, 1, LVT_INTS);
    lua_createtable(L, (int)b->n, 0);
    for (int64_t i = 0; i < b->n; i++) {
        lua_pushinteger(L, b->v[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int i_tostring(lua_State *L)
{
    lvt_ints *b = luaL_checkudata(L, 1, LVT_INTS);
    lua_pushfstring(L, "vimo.ints (%d values)", (int)b->n);
    return 1;
}

static void open_ints_class(lua_State *L)
{
    static const luaL_Reg meta[] = {{"__index", i_index}, {"__newindex", i_newindex}, {"__len", i_len},
                                    {"__tostring", i_tostring}, {NULL, NULL}};
    static const luaL_Reg methods[] = {{"shape", i_shape}, {"totable", i_totable}, {NULL, NULL}};
    luaL_newmetatable(L, LVT_INTS);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "methods");
    lua_pop(L, 1);
}

void lvt_open_tensor(lua_State *L)
{
    lvt_new_class(L, LVT_TENSOR, tensor_methods);
    lvt_new_class(L, LVT_CTX, ctx_methods);
    open_ints_class(L);
    static const luaL_Reg fns[] = {{"tensor", l_tensor}, {"zeros", l_zeros}, {"randn", l_randn},
                                   {"ints", l_ints},     {"ctx", l_ctx},     {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
