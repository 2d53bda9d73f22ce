/*
 * lua_ops_nn.c - Lua bindings of the neural-network ops of vimo/ops.h and
 * vimo/layers.h: norms, softmax, dropout, activations, embedding, rope,
 * attention, convolution and the losses.
 *
 * Integer and byte arrays the C API reads without a length (ids, targets,
 * key masks) are checked here against the tensor they go with, since C
 * cannot. Dims and ids are 0-based, as in C. Computes nothing itself.
 */
#include <math.h>

#include "lvimo.h"
#include "vimo/layers.h"

static int push_out(lua_State *L, vimo_tensor *y, int n_in)
{
    int idx[4] = {2, 3, 4, 5};
    lvt_push_result(L, y, 1, idx, n_in);
    return 1;
}

static float opt_eps(lua_State *L, int idx) { return (float)luaL_optnumber(L, idx, 1e-5); }

/* vimo.softmax(ctx, x): over the last dim. */
static int l_softmax(lua_State *L)
{
    vimo_ctx *c = lvt_check_ctx(L, 1);
    vimo_tensor *x = lvt_check_tensor(L, 2), *y;
    LVT_CHECK(L, vimo_softmax(c, &y, x));
    return push_out(L, y, 1);
}

/* vimo.mse(ctx, a, b) -> (1) */
static int l_mse(lua_State *L)
{
    vimo_ctx *c = lvt_check_ctx(L, 1);
    vimo_tensor *a = lvt_check_tensor(L, 2), *b = lvt_check_tensor(L, 3), *y;
    LVT_CHECK(L, vimo_mse(c, &y, a, b));
    return push_out(L, y, 2);
}

/* vimo.rmsnorm(ctx, x, w [, eps = 1e-5]) */
static int l_rmsnorm(lua_State *L)
{
    vimo_ctx *c = lvt_check_ctx(L, 1);
    vimo_tensor *x = lvt_check_tensor(L, 2), *w = lvt_check_tensor(L, 3), *y;
    LVT_CHECK(L, vimo_rmsnorm(c, &y, x, w, opt_eps(L, 4)));
    return push_out(L, y, 2);
}

/* vimo.layernorm(ctx, x, w, b | nil [, eps = 1e-5]) */
static int l_layernorm(lua_State *L)
{
    vimo_ctx *c = lvt_check_ctx(L, 1);
    vimo_tensor *x = lvt_check_tensor(L, 2), *w = lvt_check_tensor(L, 3), *b = lvt_opt_tensor(L, 4), *y;
    LVT_CHECK(L, vimo_layernorm(c, &y, x, w, b, opt_eps(L, 5)));
    return push_out(L, y, 3);
}

/* vimo.dropout(ctx, x, p, rng | nil): nil rng or p = 0 is the identity. */
static int l_dropout(lua_State *L)
{
    vimo_ctx *c = lvt_check_ctx(L, 1);
    vimo_tensor *x = lvt_check_tensor(L, 2), *y;
    float p = (float)luaL_checknumber(L, 3);
    vimo_rng *r = lvt_opt_rng(L, 4);
    LVT_CHECK(L, vimo_dropout(c, &y, x, p, r));
    return push_out(L, y, 1);
}

/* vimo.activation(ctx, x, "gelu" | "gelu_tanh" | "quick_gelu" | "relu") */
static int l_activation(lua_State *L)
{
    static const char *const names[] = {"gelu", "gelu_tanh", "quick_gelu", "relu", NULL};
    static const vimo_act acts[] = {VIMO_ACT_GELU, VIMO_ACT_GELU_TANH, VIMO_ACT_QUICK_GELU, VIMO_ACT_RELU};
    vimo_ctx *c = lvt_check_ctx(L, 1);
    vimo_tensor *x = lvt_check_tensor(L, 2), *y;
    int k = luaL_checkoption(L, 3, NULL, names);
    LVT_CHECK(L, vimo_activation(c, &y, x, acts[k]));
    return push_out(L, y, 1);
}

/* vimo.embedding(ctx, table, ids): ids a nested table (1-3 dims) or a
 * vimo.ints, 0-based rows of table -> (ids shape..., D). */
static int l_embedding(lua_State *L)
{
    vimo_ctx *c = lvt_check_ctx(L, 1);
    vimo_tensor *tab = lvt_check_tensor(L, 2), *y;
    lvt_ints *ids = lvt_to_ints(L, 3);
    LVT_CHECK(L, vimo_embedding(c, &y, tab, ids->v, ids->ndim, ids->shape));
    return push_out(L, y, 1);
}

/* vimo.rope(ctx, x, theta, pos_offset [, "interleaved" | "half"]) */
static int l_rope(lua_State *L)
{
    static const char *const modes[] = {"interleaved", "half", NULL};
    vimo_ctx *c = lvt_check_ctx(L, 1);
    vimo_tensor *x = lvt_check_tensor(L, 2), *y;
    float theta = (float)luaL_checknumber(L, 3);
    int64_t pos = luaL_checkinteger(L, 4);
    int mode = luaL_checkoption(L, 5, "interleaved", modes);
    LVT_CHECK(L, vimo_rope(c, &y, x, theta, pos, mode == 0 ? VIMO_ROPE_INTERLEAVED : VIMO_ROPE_HALF));
    return push_out(L, y, 1);
}

/* vimo.cross_entropy(ctx, logits, targets [, ignore_index = -100]):
 * one target per row of logits (..., V). */
static int l_cross_entropy(lua_State *L)
{
    vimo_ctx *c = lvt_check_ctx(L, 1);
    vimo_tensor *logits = lvt_check_tensor(L, 2), *y;
    lua_Integer ignore = luaL_optinteger(L, 4, -100);
    luaL_argcheck(L, ignore >= INT32_MIN && ignore <= INT32_MAX, 4, "ignore_index must fit in 32 bits");
    lvt_ints *tg = lvt_to_ints(L, 3);
    int64_t rows = vimo_tensor_numel(logits) / vimo_tensor_dim(logits, -1);
    if (tg->n != rows)
        luaL_argerror(L, 3, lua_pushfstring(L, "%d targets for %d rows of logits", (int)tg->n, (int)rows));
    LVT_CHECK(L, vimo_cross_entropy(c, &y, logits, tg->v, (int32_t)ignore));
    return push_out(L, y, 1);
}

const uint8_t *lvt_check_mask(lua_State *L, int idx, int64_t n)
{
    if (lua_isnoneornil(L, idx)) return NULL;
    uint8_t *m = lua_newuserdatauv(L, (size_t)n, 0);
    if (!lua_istable(L, idx)) {
        lvt_ints *b = lvt_to_ints(L, idx);
        if (b->n != n) luaL_argerror(L, idx, lua_pushfstring(L, "key mask has %d entries, needs B*Tk = %d", (int)b->n, (int)n));
        for (int64_t i = 0; i < n; i++) m[i] = b->v[i] != 0;
        lua_pop(L, 1);
        return m;
    }
    /* A table: flat (B*Tk) or nested (B, Tk); booleans or numbers. */
    int64_t pos = 0;
    lua_Integer rows = (lua_Integer)lua_rawlen(L, idx);
    for (lua_Integer r = 1; r <= rows; r++) {
        lua_rawgeti(L, idx, r);
        int nested = lua_istable(L, -1);
        lua_Integer cols = nested ? (lua_Integer)lua_rawlen(L, -1) : 1;
        for (lua_Integer j = 1; j <= cols; j++) {
            if (nested) lua_rawgeti(L, -1, j);
            if (pos >= n) luaL_argerror(L, idx, lua_pushfstring(L, "key mask has more than B*Tk = %d entries", (int)n));
            int t = lua_type(L, -1);
            if (t == LUA_TBOOLEAN) m[pos++] = (uint8_t)lua_toboolean(L, -1);
            else if (t == LUA_TNUMBER) m[pos++] = lua_tonumber(L, -1) != 0;
            else luaL_argerror(L, idx, "key mask entries must be booleans or 0/1");
            lua_pop(L, 1);
        }
        if (nested) lua_pop(L, 1);
    }
    if (pos != n) luaL_argerror(L, idx, lua_pushfstring(L, "key mask has %d entries, needs B*Tk = %d", (int)pos, (int)n));
    return m;
}

/* vimo.attention(ctx, q, k, v [, key_mask] [, causal = false] [, scale = 1/sqrt(Dh)])
 * q (B, Tq, Hq, Dh), k/v (B, Tk, Hkv, Dh); key_mask (B, Tk) or nil. */
static int l_attention(lua_State *L)
{
    vimo_ctx *c = lvt_check_ctx(L, 1);
    vimo_tensor *q = lvt_check_tensor(L, 2), *k = lvt_check_tensor(L, 3), *v = lvt_check_tensor(L, 4), *y;
    int causal = 0;
    if (!lua_isnoneornil(L, 6)) {
        luaL_checktype(L, 6, LUA_TBOOLEAN);
        causal = lua_toboolean(L, 6);
    }
    int64_t dh = vimo_tensor_dim(q, -1);
    float scale = (float)luaL_optnumber(L, 7, dh > 0 ? 1.0 / sqrt((double)dh) : 1.0);
    int64_t n = vimo_tensor_ndim(k) == 4 ? vimo_tensor_dim(k, 0) * vimo_tensor_dim(k, 1) : 0;
    const uint8_t *mask = lvt_check_mask(L, 5, n);
    LVT_CHECK(L, vimo_attention(c, &y, q, k, v, mask, causal, scale));
    return push_out(L, y, 3);
}

/* vimo.conv1d(ctx, x, w, b | nil [, stride = 1] [, pad = 0] [, dilation = 1]) */
static int l_conv1d(lua_State *L)
{
    vimo_ctx *c = lvt_check_ctx(L, 1);
    vimo_tensor *x = lvt_check_tensor(L, 2), *w = lvt_check_tensor(L, 3), *b = lvt_opt_tensor(L, 4), *y;
    lua_Integer stride = luaL_optinteger(L, 5, 1), pad = luaL_optinteger(L, 6, 0), dil = luaL_optinteger(L, 7, 1);
    luaL_argcheck(L, stride >= 1 && stride <= INT32_MAX, 5, "stride must be >= 1");
    luaL_argcheck(L, pad >= 0 && pad <= INT32_MAX, 6, "pad must be >= 0");
    luaL_argcheck(L, dil >= 1 && dil <= INT32_MAX, 7, "dilation must be >= 1");
    LVT_CHECK(L, vimo_conv1d(c, &y, x, w, b, (int)stride, (int)pad, (int)dil));
    return push_out(L, y, 3);
}

/* vimo.conv2d(ctx, x, w, b | nil [, stride = 1] [, pad = 0]) */
static int l_conv2d(lua_State *L)
{
    vimo_ctx *c = lvt_check_ctx(L, 1);
    vimo_tensor *x = lvt_check_tensor(L, 2), *w = lvt_check_tensor(L, 3), *b = lvt_opt_tensor(L, 4), *y;
    lua_Integer stride = luaL_optinteger(L, 5, 1), pad = luaL_optinteger(L, 6, 0);
    luaL_argcheck(L, stride >= 1 && stride <= INT32_MAX, 5, "stride must be >= 1");
    luaL_argcheck(L, pad >= 0 && pad <= INT32_MAX, 6, "pad must be >= 0");
    LVT_CHECK(L, vimo_conv2d(c, &y, x, w, b, (int)stride, (int)pad));
    return push_out(L, y, 3);
}

void lvt_open_ops_nn(lua_State *L)
{
    static const luaL_Reg fns[] = {{"softmax", l_softmax},     {"mse", l_mse},
                                   {"rmsnorm", l_rmsnorm},     {"layernorm", l_layernorm},
                                   {"dropout", l_dropout},     {"activation", l_activation},
                                   {"embedding", l_embedding}, {"rope", l_rope},
                                   {"cross_entropy", l_cross_entropy}, {"attention", l_attention},
                                   {"conv1d", l_conv1d},       {"conv2d", l_conv2d},
                                   {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
