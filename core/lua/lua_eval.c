/*
 * lua_eval.c - Lua bindings of the benchmark metrics (vimo/eval.h).
 *
 *   vimo.caption_scores(cands, refs) -> {bleu = {b1, b2, b3, b4}, rouge_l =,
 *       cider_d =, n =}; cands: list of strings, refs: list of lists.
 *   local ev = vimo.qa_eval()
 *   ev:add_train(category, answer)          -- for the majority baseline
 *   ev:add(category, predicted, gold)
 *   ev:results() -> {overall = row, categories = {row...}} with row =
 *       {category, n, correct, accuracy, majority, majority_accuracy}
 *   vimo.qa_match(predicted, gold) -> boolean
 * The metric definitions live in C (core/eval); this only converts tables.
 */
#include <stdlib.h>

#include "lvimo.h"
#include "vimo/eval.h"

#define LVT_QA "vimo.qa_eval"

static int l_caption_scores(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 1);
    if (n != luaL_len(L, 2)) return luaL_error(L, "caption_scores: %d candidates but %d reference lists", (int)n,
                                               (int)luaL_len(L, 2));
    if (n < 1 || n > (1 << 22)) return luaL_error(L, "caption_scores: need 1 .. 2^22 items");
    /* Scratch as userdata, so a raise frees it (no C resource is held). */
    const char **cands = lua_newuserdatauv(L, (size_t)n * sizeof *cands, 0);
    const char ***refs = lua_newuserdatauv(L, (size_t)n * sizeof *refs, 0);
    int *nrefs = lua_newuserdatauv(L, (size_t)n * sizeof *nrefs, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        cands[i - 1] = luaL_checkstring(L, -1); /* the table keeps the string alive */
        lua_pop(L, 1);
        lua_geti(L, 2, i);
        luaL_checktype(L, -1, LUA_TTABLE);
        lua_Integer k = luaL_len(L, -1);
        if (k < 1 || k > 1024) return luaL_error(L, "caption_scores: item %d has %d references", (int)i, (int)k);
        const char **r = lua_newuserdatauv(L, (size_t)k * sizeof *r, 0);
        for (lua_Integer j = 1; j <= k; j++) {
            lua_geti(L, -2, j);
            r[j - 1] = luaL_checkstring(L, -1);
            lua_pop(L, 1);
        }
        refs[i - 1] = r;
        nrefs[i - 1] = (int)k;
        lua_rawseti(L, 2, -i); /* anchor the pointer array in the refs table */
        lua_pop(L, 1);
    }
    vimo_caption_result res;
    vimo_status st = vimo_caption_scores(cands, (const char *const *const *)refs, nrefs, (int)n, &res);
    for (lua_Integer i = 1; i <= n; i++) { /* drop the anchors again */
        lua_pushnil(L);
        lua_rawseti(L, 2, -i);
    }
    if (st) return lvt_raise(L);
    lua_createtable(L, 0, 4);
    lua_createtable(L, 4, 0);
    for (int i = 0; i < 4; i++) {
        lua_pushnumber(L, res.bleu[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "bleu");
    lua_pushnumber(L, res.rouge_l);
    lua_setfield(L, -2, "rouge_l");
    lua_pushnumber(L, res.cider_d);
    lua_setfield(L, -2, "cider_d");
    lua_pushinteger(L, res.n_items);
    lua_setfield(L, -2, "n");
    return 1;
}

typedef struct {
    vimo_qa_eval *ev;
} lvt_qa;

static vimo_qa_eval *check_qa(lua_State *L)
{
    lvt_qa *q = luaL_checkudata(L, 1, LVT_QA);
    if (!q->ev) luaL_error(L, "qa_eval: closed");
    return q->ev;
}

static int l_qa_eval(lua_State *L)
{
    lvt_qa *q = lua_newuserdatauv(L, sizeof *q, 0);
    q->ev = NULL;
    luaL_setmetatable(L, LVT_QA);
    LVT_CHECK(L, vimo_qa_eval_new(&q->ev));
    return 1;
}

static int m_qa_gc(lua_State *L)
{
    lvt_qa *q = luaL_checkudata(L, 1, LVT_QA);
    vimo_qa_eval_free(q->ev);
    q->ev = NULL;
    return 0;
}

static int m_add_train(lua_State *L)
{
    vimo_qa_eval *ev = check_qa(L);
    LVT_CHECK(L, vimo_qa_eval_add_train(ev, luaL_checkstring(L, 2), luaL_checkstring(L, 3)));
    return 0;
}

static int m_add(lua_State *L)
{
    vimo_qa_eval *ev = check_qa(L);
    LVT_CHECK(L, vimo_qa_eval_add(ev, luaL_checkstring(L, 2), luaL_checkstring(L, 3), luaL_checkstring(L, 4)));
    return 0;
}

static void push_row(lua_State *L, const vimo_qa_result *r)
{
    lua_createtable(L, 0, 7);
    lua_pushstring(L, r->category ? r->category : "overall");
    lua_setfield(L, -2, "category");
    lua_pushinteger(L, r->n);
    lua_setfield(L, -2, "n");
    lua_pushinteger(L, r->correct);
    lua_setfield(L, -2, "correct");
    lua_pushnumber(L, r->accuracy);
    lua_setfield(L, -2, "accuracy");
    lua_pushstring(L, r->majority ? r->majority : "");
    lua_setfield(L, -2, "majority");
    lua_pushnumber(L, r->majority_accuracy);
    lua_setfield(L, -2, "majority_accuracy");
    lua_pushboolean(L, r->majority_is_fallback);
    lua_setfield(L, -2, "majority_is_fallback");
}

static int m_results(lua_State *L)
{
    vimo_qa_eval *ev = check_qa(L);
    vimo_qa_result r;
    lua_createtable(L, 0, 2);
    LVT_CHECK(L, vimo_qa_eval_overall(ev, &r));
    push_row(L, &r);
    lua_setfield(L, -2, "overall");
    size_t n = vimo_qa_eval_n_categories(ev);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        LVT_CHECK(L, vimo_qa_eval_category(ev, i, &r));
        push_row(L, &r);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "categories");
    return 1;
}

static int l_qa_match(lua_State *L)
{
    lua_pushboolean(L, vimo_qa_match(luaL_checkstring(L, 1), luaL_checkstring(L, 2)));
    return 1;
}

void lvt_open_eval(lua_State *L)
{
    static const luaL_Reg methods[] = {{"add_train", m_add_train}, {"add", m_add},     {"results", m_results},
                                       {"__gc", m_qa_gc},          {"__close", m_qa_gc}, {NULL, NULL}};
    lvt_new_class(L, LVT_QA, methods);
    static const luaL_Reg fns[] = {{"caption_scores", l_caption_scores}, {"qa_eval", l_qa_eval},
                                   {"qa_match", l_qa_match}, {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
