/*
 * lua_llm.c - Lua bindings of "vimo.llm/1" (vimo/llm.h): methods of plugin
 * instances whose plugin is a language model.
 *
 *   inst:dim(), inst:vocab_size(), inst:max_seq(), inst:tokenizer()
 *   inst:embed(ctx, ids) -> (B, T, D)        ids (B, T) or (T) for B = 1
 *   inst:forward(ctx, x [, key_mask] [, rng]) -> logits (B, T, V)
 *   inst:forward_varlen(ctx, x, lens, rows [, rng]) -> logits (#rows, V)
 *       lens {B}: real positions per sequence; rows: 0-based flat
 *       positions b * T + t whose logits are wanted (vimo/llm.h)
 *   inst:has_varlen() -> whether the plugin has forward_varlen
 *   inst:generate{prompt = ids, prefix = tensor (N, D) | nil, temperature = 0,
 *                 top_p = 1, top_k = 0, seed = 0, max_new_tokens = 256,
 *                 stop_at_eos = true} -> {ids...}
 *   inst:lora_add{rank =, alpha =, dropout = 0, targets = "q,v", seed = 0}
 *   inst:lora_merge()
 * MotionLLM's splice (sec. 3.1) is plain Lua on top: embed the prompt,
 * vimo.concat the projected tokens along T, forward, and
 * vimo.cross_entropy with ignore_index on prompt positions. Does not run
 * any model code itself.
 */
#include <string.h>

#include "lvimo.h"

#define LVT_MAX_NEW_TOKENS (1 << 20)

static const vimo_llm_iface *need_llm(lua_State *L, lvt_instance *p)
{
    if (!p->llm) luaL_error(L, "%s is not a language model (no %s)", vimo_instance_desc(p->inst)->id, VIMO_IFACE_LLM);
    return p->llm;
}

static int m_dim(lua_State *L)
{
    lvt_instance *p = lvt_check_inst(L, 1);
    lua_pushinteger(L, need_llm(L, p)->dim(p->h));
    return 1;
}

static int m_vocab_size(lua_State *L)
{
    lvt_instance *p = lvt_check_inst(L, 1);
    lua_pushinteger(L, need_llm(L, p)->vocab_size(p->h));
    return 1;
}

static int m_max_seq(lua_State *L)
{
    lvt_instance *p = lvt_check_inst(L, 1);
    const vimo_llm_iface *m = need_llm(L, p);
    if (m->max_seq) lua_pushinteger(L, m->max_seq(p->h));
    else lua_pushnil(L);
    return 1;
}

/* inst:tokenizer() -> the model's tokenizer (lent), or nil */
static int m_tokenizer(lua_State *L)
{
    lvt_instance *p = lvt_check_inst(L, 1);
    const vimo_llm_iface *m = need_llm(L, p);
    const vimo_tokenizer *t = m->tokenizer ? m->tokenizer(p->h) : NULL;
    if (t) lvt_push_tokenizer(L, t, 1);
    else lua_pushnil(L);
    return 1;
}

static int m_embed(lua_State *L)
{
    lvt_instance *p = lvt_check_inst(L, 1);
    const vimo_llm_iface *m = need_llm(L, p);
    vimo_ctx *c = lvt_check_ctx(L, 2);
    lvt_ints *ids = lvt_to_ints(L, 3);
    if (ids->ndim > 2) luaL_argerror(L, 3, "ids must be (B, T) or (T)");
    int64_t b = ids->ndim == 2 ? ids->shape[0] : 1, t = ids->ndim == 2 ? ids->shape[1] : ids->shape[0];
    vimo_tensor *y = NULL;
    LVT_CHECK(L, m->embed(p->h, c, ids->v, b, t, &y));
    lvt_push_borrowed(L, y, 2);
    return 1;
}

static int m_forward(lua_State *L)
{
    lvt_instance *p = lvt_check_inst(L, 1);
    const vimo_llm_iface *m = need_llm(L, p);
    vimo_ctx *c = lvt_check_ctx(L, 2);
    vimo_tensor *x = lvt_check_tensor(L, 3), *y = NULL;
    vimo_rng *r = lvt_opt_rng(L, 5);
    if (vimo_tensor_ndim(x) != 3) luaL_argerror(L, 3, "x must be (B, T, D)");
    const uint8_t *mask = lvt_check_mask(L, 4, vimo_tensor_dim(x, 0) * vimo_tensor_dim(x, 1));
    LVT_CHECK(L, m->forward(p->h, c, x, mask, r, &y));
    lvt_push_result(L, y, 2, (int[]){3}, 1);
    return 1;
}

static int m_forward_varlen(lua_State *L)
{
    lvt_instance *p = lvt_check_inst(L, 1);
    const vimo_llm_iface *m = need_llm(L, p);
    if (!vimo_llm_has_varlen(m)) return luaL_error(L, "%s has no forward_varlen", vimo_instance_desc(p->inst)->id);
    vimo_ctx *c = lvt_check_ctx(L, 2);
    vimo_tensor *x = lvt_check_tensor(L, 3), *y = NULL;
    if (vimo_tensor_ndim(x) != 3) luaL_argerror(L, 3, "x must be (B, T, D)");
    lvt_ints *lens = lvt_to_ints(L, 4), *rows = lvt_to_ints(L, 5);
    if (lens->n != vimo_tensor_dim(x, 0)) luaL_argerror(L, 4, "lens must have one length per sequence (B)");
    vimo_rng *r = lvt_opt_rng(L, 6);
    LVT_CHECK(L, m->forward_varlen(p->h, c, x, lens->v, rows->v, rows->n, r, &y));
    lvt_push_result(L, y, 2, (int[]){3}, 1);
    return 1;
}

static int m_has_varlen(lua_State *L)
{
    lvt_instance *p = lvt_check_inst(L, 1);
    lua_pushboolean(L, vimo_llm_has_varlen(need_llm(L, p)));
    return 1;
}

static lua_Number num_field(lua_State *L, int idx, const char *k, lua_Number def)
{
    lua_getfield(L, idx, k);
    lua_Number v = def;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER) luaL_error(L, "generate: '%s' must be a number", k);
        v = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

static lua_Integer int_field(lua_State *L, int idx, const char *k, lua_Integer def)
{
    lua_getfield(L, idx, k);
    lua_Integer v = def;
    if (!lua_isnil(L, -1)) {
        int ok;
        v = lua_tointegerx(L, -1, &ok);
        if (!ok) luaL_error(L, "generate: '%s' must be an integer", k);
    }
    lua_pop(L, 1);
    return v;
}

static int m_generate(lua_State *L)
{
    lvt_instance *p = lvt_check_inst(L, 1);
    const vimo_llm_iface *m = need_llm(L, p);
    if (!m->generate) return luaL_error(L, "%s cannot generate", vimo_instance_desc(p->inst)->id);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    vimo_sample_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.temperature = (float)num_field(L, 2, "temperature", 0.0);
    cfg.top_p = (float)num_field(L, 2, "top_p", 1.0);
    cfg.top_k = (int32_t)int_field(L, 2, "top_k", 0);
    cfg.seed = (uint64_t)int_field(L, 2, "seed", 0);
    lua_Integer max_new = int_field(L, 2, "max_new_tokens", 256);
    if (max_new < 0 || max_new > LVT_MAX_NEW_TOKENS) return luaL_error(L, "generate: max_new_tokens out of range");
    cfg.max_new_tokens = (int32_t)max_new;
    lua_getfield(L, 2, "stop_at_eos");
    cfg.stop_at_eos = lua_isnil(L, -1) ? 1 : lua_toboolean(L, -1);
    lua_pop(L, 1);
    /* The prompt ids (3) and the prefix floats (4 or nil). */
    lua_getfield(L, 2, "prompt");
    lvt_ints *prompt = lua_isnil(L, -1) ? NULL : lvt_to_ints(L, lua_gettop(L));
    const float *prefix = NULL;
    int64_t n_prefix = 0, d = m->dim(p->h);
    lua_getfield(L, 2, "prefix");
    if (!lua_isnil(L, -1)) {
        vimo_tensor *pt = lvt_check_tensor(L, lua_gettop(L));
        int64_t n = vimo_tensor_numel(pt);
        if (d < 1 || n % d != 0 || vimo_tensor_dim(pt, -1) != d)
            return luaL_error(L, "generate: prefix must be (N, %d) embeddings", (int)d);
        float *buf = lua_newuserdatauv(L, (size_t)n * sizeof(float), 0);
        LVT_CHECK(L, vimo_tensor_copy_to(pt, buf, n));
        prefix = buf;
        n_prefix = n / d;
    }
    int32_t *out = lua_newuserdatauv(L, (size_t)(max_new ? max_new : 1) * sizeof *out, 0);
    int64_t n_out = 0;
    LVT_CHECK(L, m->generate(p->h, prefix, n_prefix, prompt ? prompt->v : NULL, prompt ? prompt->n : 0, &cfg, out,
                             max_new, &n_out));
    lua_createtable(L, (int)n_out, 0);
    for (int64_t i = 0; i < n_out && i < max_new; i++) {
        lua_pushinteger(L, out[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int m_lora_add(lua_State *L)
{
    lvt_instance *p = lvt_check_inst(L, 1);
    const vimo_llm_iface *m = need_llm(L, p);
    if (!m->lora_add) return luaL_error(L, "%s has no LoRA support", vimo_instance_desc(p->inst)->id);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer rank = int_field(L, 2, "rank", 8);
    if (rank < 1 || rank > 4096) return luaL_error(L, "lora_add: rank must be 1..4096");
    float alpha = (float)num_field(L, 2, "alpha", (lua_Number)rank);
    float dropout = (float)num_field(L, 2, "dropout", 0.0);
    lua_Integer seed = int_field(L, 2, "seed", 0);
    lua_getfield(L, 2, "targets");
    const char *targets = lua_isnil(L, -1) ? "q,v" : luaL_checkstring(L, -1);
    LVT_CHECK(L, m->lora_add(p->h, (int)rank, alpha, dropout, targets, (uint64_t)seed));
    lua_settop(L, 1);
    return 1;
}

static int m_lora_merge(lua_State *L)
{
    lvt_instance *p = lvt_check_inst(L, 1);
    const vimo_llm_iface *m = need_llm(L, p);
    if (!m->lora_merge) return luaL_error(L, "%s has no LoRA support", vimo_instance_desc(p->inst)->id);
    LVT_CHECK(L, m->lora_merge(p->h));
    lua_settop(L, 1);
    return 1;
}

void lvt_open_llm(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"dim", m_dim},           {"vocab_size", m_vocab_size}, {"max_seq", m_max_seq},
        {"tokenizer", m_tokenizer}, {"embed", m_embed},         {"forward", m_forward},
        {"generate", m_generate}, {"lora_add", m_lora_add},     {"lora_merge", m_lora_merge},
        {"forward_varlen", m_forward_varlen}, {"has_varlen", m_has_varlen}, {NULL, NULL}};
    luaL_getmetatable(L, LVT_INSTANCE);
    luaL_setfuncs(L, methods, 0);
    lua_pop(L, 1);
}
