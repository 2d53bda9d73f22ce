/*
 * lua_tokenizer.c - Lua bindings of vimo/tokenizer.h.
 *
 *   vimo.tokenizer(path) -> tok | nil, msg    (a file problem is expected)
 *   tok:encode(text [, {bos = false, eos = false}]) -> {ids...}
 *   tok:decode(ids [, {prev = -1, safe = false, skip_special = false}]) -> text
 *   tok:vocab_size(), tok:bos(), tok:eos(), tok:kind(),
 *   tok:piece(id) -> bytes | nil, tok:id(piece) -> id | nil
 * A tokenizer is owned by its handle, or lent by an LLM instance (then
 * anchored to it like parameters). Ids are the C API's 0-based ids.
 * Does not tokenize anything itself: core/src/tokenizer*.c does.
 */
#include <string.h>

#include "lvimo.h"
#include "vimo/tokenizer.h"

#define LVT_TOKENIZER "vimo.tokenizer"
#define LVT_MAX_TEXT (64u << 20) /* bytes encoded in one call */

typedef struct lvt_tok {
    vimo_tokenizer *owned;  /* freed by __gc, or NULL when lent */
    const vimo_tokenizer *t;
    lvt_anchor *anchor;     /* lender (an instance), or NULL */
} lvt_tok;

static const vimo_tokenizer *check_tok(lua_State *L, int idx)
{
    lvt_tok *k = luaL_checkudata(L, idx, LVT_TOKENIZER);
    if (!k->t) luaL_argerror(L, idx, "tokenizer was closed");
    if (k->anchor && k->anchor->dead) luaL_argerror(L, idx, "tokenizer of a closed plugin instance");
    return k->t;
}

void lvt_push_tokenizer(lua_State *L, const vimo_tokenizer *t, int anchor_idx)
{
    anchor_idx = lua_absindex(L, anchor_idx);
    lvt_tok *k = lua_newuserdatauv(L, sizeof *k, 1);
    k->owned = NULL;
    k->t = t;
    k->anchor = lua_touserdata(L, anchor_idx);
    luaL_setmetatable(L, LVT_TOKENIZER);
    lua_pushvalue(L, anchor_idx);
    lua_setiuservalue(L, -2, 1);
}

static int l_tokenizer(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lvt_tok *k = lua_newuserdatauv(L, sizeof *k, 1);
    memset(k, 0, sizeof *k);
    luaL_setmetatable(L, LVT_TOKENIZER);
    vimo_status st = vimo_tokenizer_load(path, &k->owned);
    if (st == VIMO_ERR_INVALID || st == VIMO_ERR_NOMEM) return lvt_raise(L);
    if (st != VIMO_OK) {
        lua_pushnil(L);
        lua_pushstring(L, vimo_last_error());
        return 2;
    }
    k->t = k->owned;
    return 1;
}

static int k_gc(lua_State *L)
{
    lvt_tok *k = luaL_checkudata(L, 1, LVT_TOKENIZER);
    vimo_tokenizer_free(k->owned);
    k->owned = NULL;
    k->t = NULL;
    return 0;
}

/* Boolean field k of the optional options table at idx. */
static int opt_flag(lua_State *L, int idx, const char *k)
{
    if (lua_isnoneornil(L, idx)) return 0;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_getfield(L, idx, k);
    int v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

static int k_encode(lua_State *L)
{
    const vimo_tokenizer *t = check_tok(L, 1);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    luaL_argcheck(L, len <= LVT_MAX_TEXT, 2, "text longer than 64 MiB");
    int bos = opt_flag(L, 3, "bos"), eos = opt_flag(L, 3, "eos");
    size_t n = 0;
    LVT_CHECK(L, vimo_tokenizer_encode(t, text, len, bos, eos, NULL, 0, &n));
    int32_t *ids = lua_newuserdatauv(L, (n ? n : 1) * sizeof *ids, 0);
    LVT_CHECK(L, vimo_tokenizer_encode(t, text, len, bos, eos, ids, n, &n));
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushinteger(L, ids[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int k_decode(lua_State *L)
{
    const vimo_tokenizer *t = check_tok(L, 1);
    lua_settop(L, 3);
    lvt_ints *ids = lvt_to_ints(L, 2); /* its buffer is pushed at 4 */
    int prev = -1;
    unsigned flags = 0;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_getfield(L, 3, "prev");
        prev = (int)luaL_optinteger(L, -1, -1);
        lua_pop(L, 1);
        if (opt_flag(L, 3, "safe")) flags |= VIMO_TOK_DECODE_SAFE;
        if (opt_flag(L, 3, "skip_special")) flags |= VIMO_TOK_DECODE_SKIP_SPECIAL;
    }
    size_t need = 0;
    LVT_CHECK(L, vimo_tokenizer_decode(t, prev, ids->v, (size_t)ids->n, flags, NULL, 0, &need));
    char *buf = lua_newuserdatauv(L, need + 1, 0);
    LVT_CHECK(L, vimo_tokenizer_decode(t, prev, ids->v, (size_t)ids->n, flags, buf, need + 1, &need));
    lua_pushlstring(L, buf, need);
    return 1;
}

static int k_vocab_size(lua_State *L)
{
    lua_pushinteger(L, vimo_tokenizer_vocab_size(check_tok(L, 1)));
    return 1;
}

static int k_bos(lua_State *L)
{
    lua_pushinteger(L, vimo_tokenizer_bos(check_tok(L, 1)));
    return 1;
}

static int k_eos(lua_State *L)
{
    lua_pushinteger(L, vimo_tokenizer_eos(check_tok(L, 1)));
    return 1;
}

static int k_kind(lua_State *L)
{
    switch (vimo_tokenizer_kind_of(check_tok(L, 1))) {
    case VIMO_TOK_LLAMA2C: lua_pushliteral(L, "llama2c"); break;
    case VIMO_TOK_HF_BYTELEVEL: lua_pushliteral(L, "hf_bytelevel"); break;
    case VIMO_TOK_HF_SPM: lua_pushliteral(L, "hf_spm"); break;
    default: lua_pushliteral(L, "unknown"); break;
    }
    return 1;
}

/* tok:piece(id) -> the stored piece bytes, or nil for an id out of range */
static int k_piece(lua_State *L)
{
    const vimo_tokenizer *t = check_tok(L, 1);
    lua_Integer id = luaL_checkinteger(L, 2);
    size_t len = 0;
    const char *p = id >= 0 && id <= INT32_MAX ? vimo_tokenizer_id_to_piece(t, (int32_t)id, &len) : NULL;
    if (p) lua_pushlstring(L, p, len);
    else lua_pushnil(L);
    return 1;
}

/* tok:id(piece) -> id, or nil when the piece is not in the vocabulary */
static int k_id(lua_State *L)
{
    const vimo_tokenizer *t = check_tok(L, 1);
    size_t len;
    const char *p = luaL_checklstring(L, 2, &len);
    int32_t id = vimo_tokenizer_piece_to_id(t, p, len);
    if (id < 0) lua_pushnil(L);
    else lua_pushinteger(L, id);
    return 1;
}

void lvt_open_tokenizer(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"encode", k_encode}, {"decode", k_decode}, {"vocab_size", k_vocab_size}, {"bos", k_bos},
        {"eos", k_eos},       {"kind", k_kind},     {"piece", k_piece},           {"id", k_id},
        {"close", k_gc},      {"__gc", k_gc},       {"__close", k_gc},            {NULL, NULL}};
    lvt_new_class(L, LVT_TOKENIZER, methods);
    lua_pushcfunction(L, l_tokenizer);
    lua_setfield(L, -2, "tokenizer");
}
