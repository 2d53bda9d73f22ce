/*
 * lua_plugin.c - Lua bindings of the plugin host (vimo/plugin.h) and the
 * model interfaces "vimo.module/1", "vimo.encoder/1", "vimo.projector/1".
 *
 * vimo.plugin(id, {opt = value}) checks every option against the plugin's
 * schema (Lua type first, then the host's text parser) and raises an error
 * naming the option; the instance's parameters are lent to Lua as tensors
 * anchored to the instance. Does not load, list or validate plugins itself:
 * that is core/src/plugin.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lvimo.h"

lvt_instance *lvt_check_inst(lua_State *L, int idx)
{
    lvt_instance *p = luaL_checkudata(L, idx, LVT_INSTANCE);
    if (p->a.dead) luaL_argerror(L, idx, "plugin instance was closed");
    return p;
}

const vimo_instance *lvt_check_instance(lua_State *L, int idx) { return lvt_check_inst(L, idx)->inst; }

static const char *type_name(int type)
{
    switch (type) {
    case VIMO_OPT_INT: return "int";
    case VIMO_OPT_FLOAT: return "float";
    case VIMO_OPT_BOOL: return "bool";
    case VIMO_OPT_STRING: return "string";
    default: return "unknown";
    }
}

static const vimo_plugin_desc *find_desc(lua_State *L, const char *id)
{
    const vimo_plugin_desc *d = NULL;
    LVT_CHECK(L, vimo_plugin_find(id, &d));
    return d;
}

/* ---- listing ------------------------------------------------------------- */

static void push_desc_fields(lua_State *L, const vimo_plugin_desc *d, const char *path)
{
    lua_pushstring(L, d->id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, vimo_plugin_kind_name(d->kind));
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, d->version ? d->version : "");
    lua_setfield(L, -2, "version");
    lua_pushstring(L, d->license ? d->license : "");
    lua_setfield(L, -2, "license");
    lua_pushstring(L, d->summary ? d->summary : "");
    lua_setfield(L, -2, "summary");
    if (path) {
        lua_pushstring(L, path);
        lua_setfield(L, -2, "path");
    }
}

/* vimo.plugins() -> { {id=, kind=, version=, license=, summary=, path=}, ... } */
static int l_plugins(lua_State *L)
{
    LVT_CHECK(L, vimo_plugin_scan());
    int n = vimo_plugin_count();
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        const char *path = NULL;
        const vimo_plugin_desc *d = vimo_plugin_at(i, &path);
        if (!d) continue;
        lua_createtable(L, 0, 6);
        push_desc_fields(L, d, path);
        lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    }
    return 1;
}

/* vimo.plugin_info(id) -> descriptor fields plus
 * options = { {name=, type="int"|..., default=, help=}, ... } */
static int l_plugin_info(lua_State *L)
{
    const vimo_plugin_desc *d = find_desc(L, luaL_checkstring(L, 1));
    lua_createtable(L, 0, 7);
    push_desc_fields(L, d, NULL);
    lua_newtable(L);
    for (const vimo_option_spec *s = d->options; s && s->name; s++) {
        lua_createtable(L, 0, 4);
        lua_pushstring(L, s->name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, type_name(s->type));
        lua_setfield(L, -2, "type");
        lua_pushstring(L, s->default_value ? s->default_value : "");
        lua_setfield(L, -2, "default");
        lua_pushstring(L, s->help ? s->help : "");
        lua_setfield(L, -2, "help");
        lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    }
    lua_setfield(L, -2, "options");
    return 1;
}

/* ---- options ------------------------------------------------------------- */

static const vimo_option_spec *find_spec(const vimo_plugin_desc *d, const char *name)
{
    for (const vimo_option_spec *s = d->options; s && s->name; s++)
        if (strcmp(s->name, name) == 0) return s;
    return NULL;
}

/* Text of the Lua value on top of the stack for option spec s (pushed), or
 * a raise naming the option when the Lua type does not fit. */
static const char *option_text(lua_State *L, const vimo_plugin_desc *d, const vimo_option_spec *s)
{
    int t = lua_type(L, -1);
    switch (s->type) {
    case VIMO_OPT_INT: {
        int ok;
        lua_Integer v = lua_tointegerx(L, -1, &ok);
        if (t == LUA_TNUMBER && ok) return lua_pushfstring(L, "%I", v);
        break;
    }
    case VIMO_OPT_FLOAT:
        if (t == LUA_TNUMBER) {
            char buf[64];
            snprintf(buf, sizeof buf, "%.17g", (double)lua_tonumber(L, -1));
            return lua_pushstring(L, buf);
        }
        break;
    case VIMO_OPT_BOOL:
        if (t == LUA_TBOOLEAN) return lua_pushstring(L, lua_toboolean(L, -1) ? "true" : "false");
        break;
    case VIMO_OPT_STRING:
        if (t == LUA_TSTRING) return lua_pushvalue(L, -1), lua_tostring(L, -1);
        break;
    }
    const char *got = lua_typename(L, t);
    if (t == LUA_TNUMBER || t == LUA_TSTRING || t == LUA_TBOOLEAN)
        got = lua_pushfstring(L, t == LUA_TSTRING ? "%s '%s'" : "%s %s", got, luaL_tolstring(L, -1, NULL));
    luaL_error(L, "%s: option '%s' wants %s %s, got %s", d->id, s->name, s->type == VIMO_OPT_INT ? "an" : "a",
               type_name(s->type), got);
    return NULL;
}

/* Applies the option table at idx to o. */
static void apply_options(lua_State *L, int idx, const vimo_plugin_desc *d, vimo_options *o)
{
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "%s: option names must be strings", d->id);
        const char *name = lua_tostring(L, -2);
        const vimo_option_spec *s = find_spec(d, name);
        if (!s) { /* the host's message names it and lists the options */
            if (vimo_options_set(o, name, "") == VIMO_OK)
                vimo_error(VIMO_ERR_NOT_FOUND, "%s: unknown option '%s'", d->id, name);
            lvt_raise(L);
        }
        const char *text = option_text(L, d, s);
        LVT_CHECK(L, vimo_options_set(o, name, text));
        lua_pop(L, 2); /* text, value */
    }
}

/* ---- instances ----------------------------------------------------------- */

/* An interface of the new instance; raises when the plugin offers one that
 * the host refuses (size or required function missing). */
static const void *get_iface(lua_State *L, lvt_instance *p, const char *name)
{
    vimo_error_clear();
    const void *vt = vimo_instance_iface(p->inst, name);
    if (!vt && vimo_last_error()[0]) lvt_raise(L);
    return vt;
}

/* vimo.plugin(id [, {option = value, ...}]) -> instance */
static int l_plugin(lua_State *L)
{
    const char *id = luaL_checkstring(L, 1);
    if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
    const vimo_plugin_desc *d = find_desc(L, id);
    lvt_instance *p = lua_newuserdatauv(L, sizeof *p, 0);
    memset(p, 0, sizeof *p);
    p->a.what = "instance";
    p->a.dead = 1; /* until created */
    luaL_setmetatable(L, LVT_INSTANCE);
    LVT_CHECK(L, vimo_options_new(&p->opts, d));
    if (lua_istable(L, 2)) apply_options(L, 2, d, p->opts);
    LVT_CHECK(L, vimo_instance_new(&p->inst, id, p->opts));
    p->h = vimo_instance_handle(p->inst);
    p->a.dead = 0;
    p->mod = get_iface(L, p, VIMO_IFACE_MODULE);
    p->enc = get_iface(L, p, VIMO_IFACE_ENCODER);
    p->proj = get_iface(L, p, VIMO_IFACE_PROJECTOR);
    p->llm = get_iface(L, p, VIMO_IFACE_LLM);
    return 1;
}

static int i_gc(lua_State *L)
{
    lvt_instance *p = luaL_checkudata(L, 1, LVT_INSTANCE);
    vimo_instance_free(p->inst);
    vimo_options_free(p->opts);
    p->inst = NULL;
    p->opts = NULL;
    p->a.dead = 1;
    return 0;
}

static int i_id(lua_State *L)
{
    lua_pushstring(L, vimo_instance_desc(lvt_check_inst(L, 1)->inst)->id);
    return 1;
}

static int i_kind(lua_State *L)
{
    lua_pushstring(L, vimo_plugin_kind_name(vimo_instance_desc(lvt_check_inst(L, 1)->inst)->kind));
    return 1;
}

/* inst:options() -> {name = typed value}: the resolved configuration. */
static int i_options(lua_State *L)
{
    lvt_instance *p = lvt_check_inst(L, 1);
    const vimo_plugin_desc *d = vimo_instance_desc(p->inst);
    lua_newtable(L);
    for (const vimo_option_spec *s = d->options; s && s->name; s++) {
        switch (s->type) {
        case VIMO_OPT_INT: lua_pushinteger(L, vimo_options_int(p->opts, s->name)); break;
        case VIMO_OPT_FLOAT: lua_pushnumber(L, vimo_options_float(p->opts, s->name)); break;
        case VIMO_OPT_BOOL: lua_pushboolean(L, vimo_options_bool(p->opts, s->name)); break;
        default: lua_pushstring(L, vimo_options_string(p->opts, s->name)); break;
        }
        lua_setfield(L, -2, s->name);
    }
    return 1;
}

/* inst:params() -> { {name=, tensor=}, ... } in the plugin's order. */
static int i_params(lua_State *L)
{
    lvt_instance *p = lvt_check_inst(L, 1);
    int n = p->mod ? p->mod->num_params(p->h) : 0;
    lua_createtable(L, n > 0 ? n : 0, 0);
    for (int i = 0; i < n; i++) {
        const char *name = NULL;
        vimo_tensor *t = p->mod->param(p->h, i, &name);
        if (!t) return luaL_error(L, "%s: parameter %d of %d is NULL", vimo_instance_desc(p->inst)->id, i, n);
        lua_createtable(L, 0, 2);
        lua_pushstring(L, name ? name : "");
        lua_setfield(L, -2, "name");
        lvt_push_borrowed(L, t, 1);
        lua_setfield(L, -2, "tensor");
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* inst:train(on): train (true) or eval (false) mode. */
static int i_train(lua_State *L)
{
    lvt_instance *p = lvt_check_inst(L, 1);
    int on = lua_isnone(L, 2) ? 1 : (luaL_checktype(L, 2, LUA_TBOOLEAN), lua_toboolean(L, 2));
    if (p->mod && p->mod->set_train) p->mod->set_train(p->h, on);
    lua_settop(L, 1);
    return 1;
}

/* Freeze (0) / unfreeze (1): the plugin's own hook, else every parameter. */
static int set_trainable(lua_State *L, int on)
{
    lvt_instance *p = lvt_check_inst(L, 1);
    if (p->mod && p->mod->set_trainable) {
        LVT_CHECK(L, p->mod->set_trainable(p->h, on));
    } else if (p->mod) {
        int n = p->mod->num_params(p->h);
        for (int i = 0; i < n; i++) LVT_CHECK(L, vimo_tensor_set_requires_grad(p->mod->param(p->h, i, NULL), on));
    }
    lua_settop(L, 1);
    return 1;
}

static int i_freeze(lua_State *L) { return set_trainable(L, 0); }
static int i_unfreeze(lua_State *L) { return set_trainable(L, 1); }

static const vimo_encoder_iface *need_enc(lua_State *L, lvt_instance *p)
{
    if (!p->enc) luaL_error(L, "%s is not an encoder (no %s)", vimo_instance_desc(p->inst)->id, VIMO_IFACE_ENCODER);
    return p->enc;
}

static const vimo_projector_iface *need_proj(lua_State *L, lvt_instance *p)
{
    if (!p->proj)
        luaL_error(L, "%s is not a projector (no %s)", vimo_instance_desc(p->inst)->id, VIMO_IFACE_PROJECTOR);
    return p->proj;
}

/* inst:encode(ctx, x [, batch = x's first dim] [, rng]) -> tokens (B, N, D) */
static int i_encode(lua_State *L)
{
    lvt_instance *p = lvt_check_inst(L, 1);
    const vimo_encoder_iface *e = need_enc(L, p);
    vimo_ctx *c = lvt_check_ctx(L, 2);
    vimo_tensor *x = lvt_check_tensor(L, 3), *y = NULL;
    int64_t batch = lua_isnoneornil(L, 4) ? vimo_tensor_dim(x, 0) : luaL_checkinteger(L, 4);
    vimo_rng *r = lvt_opt_rng(L, 5);
    LVT_CHECK(L, e->forward(p->h, c, x, batch, r, &y));
    lvt_push_result(L, y, 2, (int[]){3}, 1);
    return 1;
}

/* inst:pretrain_loss(ctx, x [, batch] [, rng]) -> (1) */
static int i_pretrain_loss(lua_State *L)
{
    lvt_instance *p = lvt_check_inst(L, 1);
    const vimo_encoder_iface *e = need_enc(L, p);
    if (!e->pretrain_loss) return luaL_error(L, "%s has no pretraining loss", vimo_instance_desc(p->inst)->id);
    vimo_ctx *c = lvt_check_ctx(L, 2);
    vimo_tensor *x = lvt_check_tensor(L, 3), *y = NULL;
    int64_t batch = lua_isnoneornil(L, 4) ? vimo_tensor_dim(x, 0) : luaL_checkinteger(L, 4);
    vimo_rng *r = lvt_opt_rng(L, 5);
    LVT_CHECK(L, e->pretrain_loss(p->h, c, x, batch, r, &y));
    lvt_push_result(L, y, 2, (int[]){3}, 1);
    return 1;
}

/* inst:project(ctx, tokens [, rng]) -> (B, M, Dout) */
static int i_project(lua_State *L)
{
    lvt_instance *p = lvt_check_inst(L, 1);
    const vimo_projector_iface *pr = need_proj(L, p);
    vimo_ctx *c = lvt_check_ctx(L, 2);
    vimo_tensor *x = lvt_check_tensor(L, 3), *y = NULL;
    vimo_rng *r = lvt_opt_rng(L, 4);
    LVT_CHECK(L, pr->forward(p->h, c, x, r, &y));
    lvt_push_result(L, y, 2, (int[]){3}, 1);
    return 1;
}

/* inst:out_dim(): encoder token width or projector output width. */
static int i_out_dim(lua_State *L)
{
    lvt_instance *p = lvt_check_inst(L, 1);
    if (p->enc) lua_pushinteger(L, p->enc->out_dim(p->h));
    else lua_pushinteger(L, need_proj(L, p)->out_dim(p->h));
    return 1;
}

static int i_in_dim(lua_State *L)
{
    lvt_instance *p = lvt_check_inst(L, 1);
    lua_pushinteger(L, need_proj(L, p)->in_dim(p->h));
    return 1;
}

/* inst:out_tokens(n): projector output token count for n input tokens. */
static int i_out_tokens(lua_State *L)
{
    lvt_instance *p = lvt_check_inst(L, 1);
    const vimo_projector_iface *pr = need_proj(L, p);
    lua_pushinteger(L, pr->out_tokens(p->h, luaL_checkinteger(L, 2)));
    return 1;
}

static int i_modality(lua_State *L)
{
    lvt_instance *p = lvt_check_inst(L, 1);
    lua_pushstring(L, need_enc(L, p)->modality);
    return 1;
}

/* inst:has(iface_name) -> bool, e.g. inst:has("vimo.encoder/1") */
static int i_has(lua_State *L)
{
    lvt_instance *p = lvt_check_inst(L, 1);
    lua_pushboolean(L, vimo_instance_iface(p->inst, luaL_checkstring(L, 2)) != NULL);
    return 1;
}

static int i_tostring(lua_State *L)
{
    lvt_instance *p = luaL_checkudata(L, 1, LVT_INSTANCE);
    if (p->a.dead) lua_pushliteral(L, "vimo.instance (closed)");
    else lua_pushfstring(L, "vimo.instance %s", vimo_instance_desc(p->inst)->id);
    return 1;
}

void lvt_open_plugin(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"id", i_id},           {"kind", i_kind},         {"options", i_options},
        {"params", i_params},   {"train", i_train},       {"freeze", i_freeze},
        {"unfreeze", i_unfreeze}, {"encode", i_encode},   {"pretrain_loss", i_pretrain_loss},
        {"project", i_project}, {"out_dim", i_out_dim},   {"in_dim", i_in_dim},
        {"out_tokens", i_out_tokens}, {"modality", i_modality}, {"has", i_has},
        {"close", i_gc},        {"__gc", i_gc},           {"__close", i_gc},
        {"__tostring", i_tostring}, {NULL, NULL}};
    lvt_new_class(L, LVT_INSTANCE, methods);
    static const luaL_Reg fns[] = {
        {"plugins", l_plugins}, {"plugin_info", l_plugin_info}, {"plugin", l_plugin}, {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
