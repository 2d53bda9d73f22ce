/*
 * lua_rng.c - Lua bindings of the seeded RNG (vimo/rng.h).
 *
 * vimo.rng(seed) holds a vimo_rng by value; r:state() / r:set_state() expose
 * its four 32-bit words so checkpoints can restore a run bit for bit. Does not
 * add generators of its own: every draw is vimo_rng_*.
 */
#include <string.h>

#include "lvimo.h"

vimo_rng *lvt_check_rng(lua_State *L, int idx) { return luaL_checkudata(L, idx, LVT_RNG); }

vimo_rng *lvt_opt_rng(lua_State *L, int idx) { return lua_isnoneornil(L, idx) ? NULL : lvt_check_rng(L, idx); }

static int l_rng(lua_State *L)
{
    lua_Integer seed = luaL_optinteger(L, 1, 0);
    vimo_rng *r = lua_newuserdatauv(L, sizeof *r, 0);
    vimo_rng_seed(r, (uint64_t)seed);
    luaL_setmetatable(L, LVT_RNG);
    return 1;
}

static int r_seed(lua_State *L)
{
    vimo_rng_seed(lvt_check_rng(L, 1), (uint64_t)luaL_checkinteger(L, 2));
    lua_settop(L, 1);
    return 1;
}

static int r_uniform(lua_State *L)
{
    lua_pushnumber(L, vimo_rng_uniform(lvt_check_rng(L, 1)));
    return 1;
}

static int r_normal(lua_State *L)
{
    lua_pushnumber(L, vimo_rng_normal(lvt_check_rng(L, 1)));
    return 1;
}

static int r_u32(lua_State *L)
{
    lua_pushinteger(L, vimo_rng_u32(lvt_check_rng(L, 1)));
    return 1;
}

/* r:below(n) -> integer in [0, n) (0-based, as the C API). */
static int r_below(lua_State *L)
{
    vimo_rng *r = lvt_check_rng(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_argcheck(L, n >= 1 && n <= UINT32_MAX, 2, "n must be in 1..2^32-1");
    lua_pushinteger(L, vimo_rng_below(r, (uint32_t)n));
    return 1;
}

/* r:state() -> {w1, w2, w3, w4}: the generator's 128 bits as four words. */
static int r_state(lua_State *L)
{
    vimo_rng *r = lvt_check_rng(L, 1);
    lua_createtable(L, 4, 0);
    for (int i = 0; i < 4; i++) {
        lua_pushinteger(L, r->s[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int r_set_state(lua_State *L)
{
    vimo_rng *r = lvt_check_rng(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    vimo_rng s;
    for (int i = 0; i < 4; i++) {
        lua_rawgeti(L, 2, i + 1);
        int ok;
        lua_Integer w = lua_tointegerx(L, -1, &ok);
        lua_pop(L, 1);
        if (!ok || w < 0 || w > UINT32_MAX) luaL_argerror(L, 2, "state must be four 32-bit unsigned integers");
        s.s[i] = (uint32_t)w;
    }
    if ((s.s[0] | s.s[1] | s.s[2] | s.s[3]) == 0) luaL_argerror(L, 2, "an all-zero state is not a valid xoshiro state");
    *r = s;
    lua_settop(L, 1);
    return 1;
}

/* An independent copy with the same state. */
static int r_clone(lua_State *L)
{
    vimo_rng *r = lvt_check_rng(L, 1);
    vimo_rng *c = lua_newuserdatauv(L, sizeof *c, 0);
    *c = *r;
    luaL_setmetatable(L, LVT_RNG);
    return 1;
}

static int r_tostring(lua_State *L)
{
    vimo_rng *r = lvt_check_rng(L, 1);
    lua_pushfstring(L, "vimo.rng (%p)", (void *)r);
    return 1;
}

void lvt_open_rng(lua_State *L)
{
    static const luaL_Reg methods[] = {{"seed", r_seed},   {"uniform", r_uniform},     {"normal", r_normal},
                                       {"u32", r_u32},     {"below", r_below},         {"state", r_state},
                                       {"set_state", r_set_state}, {"clone", r_clone}, {"__tostring", r_tostring},
                                       {NULL, NULL}};
    lvt_new_class(L, LVT_RNG, methods);
    lua_pushcfunction(L, l_rng);
    lua_setfield(L, -2, "rng");
}
