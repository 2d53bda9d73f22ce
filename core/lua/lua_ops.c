/*
 * lua_ops.c - Lua bindings of the linear-algebra, element-wise, reduction
 * and view ops of vimo/ops.h: vimo.<op>(ctx, inputs..., params).
 *
 * Arguments keep the C API's meaning: dimensions, slice ranges and ids are
 * 0-based (negative dims count from the end); Lua tables only carry lists.
 * Results belong to ctx and die at ctx:reset(). Integer lists the C API reads
 * without a length (permutations, targets) are checked against the tensor
 * here, since C cannot. Does not compute anything itself. The neural-net ops
 * (norms, attention, convolution, losses, ...) are in lua_ops_nn.c.
 */
#include "lvimo.h"

/* Pushes y, produced on the context at index 1 from tensor arguments at
 * stack indices 2..1+n_in. */
static int push_out(lua_State *L, vimo_tensor *y, int n_in)
{
    int idx[4] = {2, 3, 4, 5};
    lvt_push_result(L, y, 1, idx, n_in);
    return 1;
}

/* ---- ops of one tensor / two tensors, table-driven ------------------------ */

typedef vimo_status (*unary_fn)(vimo_ctx *, vimo_tensor **, vimo_tensor *);
typedef vimo_status (*binary_fn)(vimo_ctx *, vimo_tensor **, vimo_tensor *, vimo_tensor *);

static const struct {
    const char *name;
    unary_fn fn;
} unary_ops[] = {
    {"relu", vimo_relu}, {"silu", vimo_silu}, {"sum", vimo_sum}, {"contiguous", vimo_contiguous},
};

static const struct {
    const char *name;
    binary_fn fn;
} binary_ops[] = {
    {"add", vimo_add}, {"sub", vimo_sub}, {"mul", vimo_mul}, {"bmm", vimo_bmm}, {"swiglu", vimo_swiglu},
};

/* Upvalue 1: index into unary_ops. vimo.relu(ctx, x) */
static int l_unary(lua_State *L)
{
    int k = (int)lua_tointeger(L, lua_upvalueindex(1));
    vimo_ctx *c = lvt_check_ctx(L, 1);
    vimo_tensor *x = lvt_check_tensor(L, 2), *y;
    LVT_CHECK(L, unary_ops[k].fn(c, &y, x));
    return push_out(L, y, 1);
}

/* Upvalue 1: index into binary_ops. vimo.add(ctx, a, b) */
static int l_binary(lua_State *L)
{
    int k = (int)lua_tointeger(L, lua_upvalueindex(1));
    vimo_ctx *c = lvt_check_ctx(L, 1);
    vimo_tensor *a = lvt_check_tensor(L, 2), *b = lvt_check_tensor(L, 3), *y;
    LVT_CHECK(L, binary_ops[k].fn(c, &y, a, b));
    return push_out(L, y, 2);
}

/* vimo.matmul(ctx, x, w [, b]): y = x @ w^T + b. */
static int l_matmul(lua_State *L)
{
    vimo_ctx *c = lvt_check_ctx(L, 1);
    vimo_tensor *x = lvt_check_tensor(L, 2), *w = lvt_check_tensor(L, 3), *b = lvt_opt_tensor(L, 4), *y;
    LVT_CHECK(L, vimo_matmul(c, &y, x, w, b));
    return push_out(L, y, b ? 3 : 2);
}

/* vimo.scale(ctx, x, s) */
static int l_scale(lua_State *L)
{
    vimo_ctx *c = lvt_check_ctx(L, 1);
    vimo_tensor *x = lvt_check_tensor(L, 2), *y;
    LVT_CHECK(L, vimo_scale(c, &y, x, (float)luaL_checknumber(L, 3)));
    return push_out(L, y, 1);
}

/* vimo.to_device(ctx, x, "cuda") -> x on that device (differentiable). */
static int l_to_device(lua_State *L)
{
    vimo_ctx *c = lvt_check_ctx(L, 1);
    vimo_tensor *x = lvt_check_tensor(L, 2), *y;
    LVT_CHECK(L, vimo_to_device(c, &y, x, lvt_check_device(L, 3)));
    return push_out(L, y, 1);
}

/* vimo.device("cuda") -> id, or nil and the reason (no backend, no GPU). */
static int l_device(lua_State *L)
{
    int dev;
    if (vimo_backend_get(luaL_checkstring(L, 1), &dev)) {
        lua_pushnil(L);
        lua_pushstring(L, vimo_last_error());
        return 2;
    }
    lua_pushinteger(L, dev);
    return 1;
}

/* vimo.gelu(ctx, x [, "erf" | "tanh"]) */
static int l_gelu(lua_State *L)
{
    static const char *const modes[] = {"erf", "tanh", NULL};
    vimo_ctx *c = lvt_check_ctx(L, 1);
    vimo_tensor *x = lvt_check_tensor(L, 2), *y;
    int mode = luaL_checkoption(L, 3, "erf", modes);
    LVT_CHECK(L, vimo_gelu(c, &y, x, mode == 0 ? VIMO_GELU_ERF : VIMO_GELU_TANH));
    return push_out(L, y, 1);
}

/* vimo.mean(ctx, x, dim) */
static int l_mean(lua_State *L)
{
    vimo_ctx *c = lvt_check_ctx(L, 1);
    vimo_tensor *x = lvt_check_tensor(L, 2), *y;
    LVT_CHECK(L, vimo_mean(c, &y, x, (int)luaL_checkinteger(L, 3)));
    return push_out(L, y, 1);
}

/* ---- views --------------------------------------------------------------- */

/* vimo.reshape(ctx, x, {d0, d1, ...}) or vimo.reshape(ctx, x, d0, d1, ...);
 * one size may be -1. */
static int l_reshape(lua_State *L)
{
    vimo_ctx *c = lvt_check_ctx(L, 1);
    vimo_tensor *x = lvt_check_tensor(L, 2), *y;
    int64_t shape[VIMO_MAX_DIMS];
    int nd = lvt_check_shape(L, 3, shape);
    LVT_CHECK(L, vimo_reshape(c, &y, x, nd, shape));
    return push_out(L, y, 1);
}

/* vimo.permute(ctx, x, {p0, p1, ...}): y.dim(i) = x.dim(perm[i]), 0-based. */
static int l_permute(lua_State *L)
{
    vimo_ctx *c = lvt_check_ctx(L, 1);
    vimo_tensor *x = lvt_check_tensor(L, 2), *y;
    luaL_checktype(L, 3, LUA_TTABLE);
    int nd = vimo_tensor_ndim(x);
    if ((int)lua_rawlen(L, 3) != nd)
        luaL_argerror(L, 3, lua_pushfstring(L, "permutation needs %d entries, got %d", nd, (int)lua_rawlen(L, 3)));
    int perm[VIMO_MAX_DIMS];
    for (int i = 0; i < nd; i++) {
        lua_rawgeti(L, 3, i + 1);
        int ok;
        lua_Integer p = lua_tointegerx(L, -1, &ok);
        lua_pop(L, 1);
        if (!ok || p < -nd || p >= nd) luaL_argerror(L, 3, "permutation entries must be dims of x");
        perm[i] = (int)p;
    }
    LVT_CHECK(L, vimo_permute(c, &y, x, perm));
    return push_out(L, y, 1);
}

/* vimo.transpose(ctx, x, d0, d1) */
static int l_transpose(lua_State *L)
{
    vimo_ctx *c = lvt_check_ctx(L, 1);
    vimo_tensor *x = lvt_check_tensor(L, 2), *y;
    int d0 = (int)luaL_checkinteger(L, 3), d1 = (int)luaL_checkinteger(L, 4);
    LVT_CHECK(L, vimo_transpose(c, &y, x, d0, d1));
    return push_out(L, y, 1);
}

/* vimo.slice(ctx, x, dim, start, end): elements [start, end) along dim. */
static int l_slice(lua_State *L)
{
    vimo_ctx *c = lvt_check_ctx(L, 1);
    vimo_tensor *x = lvt_check_tensor(L, 2), *y;
    int dim = (int)luaL_checkinteger(L, 3);
    int64_t start = luaL_checkinteger(L, 4), end = luaL_checkinteger(L, 5);
    LVT_CHECK(L, vimo_slice(c, &y, x, dim, start, end));
    return push_out(L, y, 1);
}

/* vimo.concat(ctx, {x1, x2, ...}, dim) */
static int l_concat(lua_State *L)
{
    vimo_ctx *c = lvt_check_ctx(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    int dim = (int)luaL_checkinteger(L, 3);
    int n = (int)lua_rawlen(L, 2);
    luaL_argcheck(L, n >= 1, 2, "at least one tensor");
    vimo_tensor **xs = lua_newuserdatauv(L, (size_t)n * sizeof *xs, 0); /* scratch, index 4 */
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, 2, i + 1);
        if (!lvt_test_tensor(L, -1)) luaL_argerror(L, 2, lua_pushfstring(L, "entry %d is not a tensor", i + 1));
        xs[i] = lvt_check_tensor(L, lua_gettop(L));
        lvt_ctx_keep(L, 1, -1);
        lua_pop(L, 1);
    }
    vimo_tensor *y;
    LVT_CHECK(L, vimo_concat(c, &y, xs, n, dim));
    lvt_push_borrowed(L, y, 1);
    return 1;
}

void lvt_open_ops(lua_State *L)
{
    for (int k = 0; k < (int)(sizeof unary_ops / sizeof unary_ops[0]); k++) {
        lua_pushinteger(L, k);
        lua_pushcclosure(L, l_unary, 1);
        lua_setfield(L, -2, unary_ops[k].name);
    }
    for (int k = 0; k < (int)(sizeof binary_ops / sizeof binary_ops[0]); k++) {
        lua_pushinteger(L, k);
        lua_pushcclosure(L, l_binary, 1);
        lua_setfield(L, -2, binary_ops[k].name);
    }
    static const luaL_Reg fns[] = {{"matmul", l_matmul},       {"scale", l_scale},   {"gelu", l_gelu},
                                   {"mean", l_mean},           {"reshape", l_reshape}, {"permute", l_permute},
                                   {"transpose", l_transpose}, {"slice", l_slice},   {"concat", l_concat},
                                   {"to_device", l_to_device}, {"device", l_device},
                                   {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
