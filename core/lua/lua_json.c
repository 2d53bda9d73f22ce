/*
 * lua_json.c - vimo.json_encode / vimo.json_decode through cJSON, for the
 * Lua library's results and configuration files.
 *
 * Lua tables with keys 1..n become arrays, others objects with their keys
 * sorted (stable files that diff well). Integral numbers decode as Lua
 * integers. The cJSON tree lives in a boxed userdata while Lua code runs, so
 * an error never leaks it. Not a general serializer: functions, userdata
 * and cycles are errors; nesting is capped at LVT_JSON_DEPTH.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lvimo.h"

#define LVT_JSON_BOX "vimo.json_box"
#define LVT_JSON_DEPTH 64

typedef struct json_box {
    cJSON *root;
} json_box;

static int box_gc(lua_State *L)
{
    json_box *b = luaL_checkudata(L, 1, LVT_JSON_BOX);
    cJSON_Delete(b->root);
    b->root = NULL;
    return 0;
}

static json_box *new_box(lua_State *L)
{
    json_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->root = NULL;
    if (luaL_newmetatable(L, LVT_JSON_BOX)) {
        lua_pushcfunction(L, box_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return b;
}

/* Adds item to parent (array when key == NULL) or frees it on failure. */
static void attach(lua_State *L, cJSON *parent, const char *key, cJSON *item)
{
    if (!item) luaL_error(L, "json_encode: out of memory");
    cJSON_bool ok = key ? cJSON_AddItemToObject(parent, key, item) : cJSON_AddItemToArray(parent, item);
    if (!ok) {
        cJSON_Delete(item);
        luaL_error(L, "json_encode: out of memory");
    }
}

static int is_array(lua_State *L, int idx, lua_Integer *n)
{
    *n = (lua_Integer)lua_rawlen(L, idx);
    lua_Integer count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        count++;
    }
    return *n > 0 && count == *n;
}

static int cmp_keys(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static void encode_value(lua_State *L, int idx, cJSON *parent, const char *key, int depth);

/* Encodes the table at idx into a new array/object attached to parent. */
static void encode_table(lua_State *L, int idx, cJSON *parent, const char *key, int depth)
{
    lua_Integer n;
    if (is_array(L, idx, &n)) {
        cJSON *arr = cJSON_CreateArray();
        attach(L, parent, key, arr);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, i);
            encode_value(L, lua_gettop(L), arr, NULL, depth + 1);
            lua_pop(L, 1);
        }
        return;
    }
    cJSON *obj = cJSON_CreateObject();
    attach(L, parent, key, obj);
    /* Sorted string keys: the key strings stay referenced by the table. */
    lua_Integer count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "json_encode: object keys must be strings (mixed table?)");
        count++;
    }
    const char **keys = lua_newuserdatauv(L, (size_t)(count ? count : 1) * sizeof *keys, 0);
    int kpos = lua_gettop(L);
    lua_Integer k = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        keys[k++] = lua_tostring(L, -1);
    }
    qsort(keys, (size_t)count, sizeof *keys, cmp_keys);
    for (lua_Integer i = 0; i < count; i++) {
        lua_getfield(L, idx, keys[i]);
        encode_value(L, lua_gettop(L), obj, keys[i], depth + 1);
        lua_pop(L, 1);
    }
    lua_remove(L, kpos);
}

static void encode_value(lua_State *L, int idx, cJSON *parent, const char *key, int depth)
{
    if (depth > LVT_JSON_DEPTH) luaL_error(L, "json_encode: nested deeper than %d (a cycle?)", LVT_JSON_DEPTH);
    luaL_checkstack(L, 4, "json_encode");
    switch (lua_type(L, idx)) {
    case LUA_TNIL: attach(L, parent, key, cJSON_CreateNull()); break;
    case LUA_TBOOLEAN: attach(L, parent, key, cJSON_CreateBool(lua_toboolean(L, idx))); break;
    case LUA_TNUMBER: {
        double v = (double)lua_tonumber(L, idx);
        attach(L, parent, key, isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull());
        break;
    }
    case LUA_TSTRING: attach(L, parent, key, cJSON_CreateString(lua_tostring(L, idx))); break;
    case LUA_TTABLE: encode_table(L, idx, parent, key, depth); break;
    default: luaL_error(L, "json_encode: cannot encode a %s", luaL_typename(L, idx));
    }
}

/* vimo.json_encode(value [, pretty = false]) -> string */
static int l_json_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    int pretty = lua_toboolean(L, 2);
    lua_settop(L, 1);
    json_box *b = new_box(L); /* 2 */
    b->root = cJSON_CreateArray(); /* a holder: the value is its only item */
    if (!b->root) return luaL_error(L, "json_encode: out of memory");
    encode_value(L, 1, b->root, NULL, 0);
    char *text = pretty ? cJSON_Print(b->root->child) : cJSON_PrintUnformatted(b->root->child);
    if (!text) return luaL_error(L, "json_encode: out of memory");
    lua_pushstring(L, text); /* may raise on OOM: text would leak, a byte count at worst */
    cJSON_free(text);
    return 1;
}

static void push_json(lua_State *L, const cJSON *j, int depth)
{
    if (depth > LVT_JSON_DEPTH) luaL_error(L, "json_decode: nested deeper than %d", LVT_JSON_DEPTH);
    luaL_checkstack(L, 4, "json_decode");
    if (cJSON_IsNull(j)) lua_pushnil(L);
    else if (cJSON_IsBool(j)) lua_pushboolean(L, cJSON_IsTrue(j));
    else if (cJSON_IsNumber(j)) {
        double v = j->valuedouble;
        if (v == floor(v) && fabs(v) < 9007199254740992.0) lua_pushinteger(L, (lua_Integer)v);
        else lua_pushnumber(L, v);
    } else if (cJSON_IsString(j)) lua_pushstring(L, j->valuestring);
    else if (cJSON_IsArray(j)) {
        lua_createtable(L, cJSON_GetArraySize(j), 0);
        lua_Integer i = 1;
        for (const cJSON *c = j->child; c; c = c->next) {
            push_json(L, c, depth + 1);
            lua_rawseti(L, -2, i++);
        }
    } else if (cJSON_IsObject(j)) {
        lua_newtable(L);
        for (const cJSON *c = j->child; c; c = c->next) {
            push_json(L, c, depth + 1);
            lua_setfield(L, -2, c->string);
        }
    } else {
        luaL_error(L, "json_decode: unsupported value");
    }
}

/* vimo.json_decode(text) -> value, or nil, message for malformed text */
static int l_json_decode(lua_State *L)
{
    size_t n;
    const char *text = luaL_checklstring(L, 1, &n);
    json_box *b = new_box(L);
    const char *end = NULL;
    b->root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
    if (!b->root) {
        lua_pushnil(L);
        lua_pushfstring(L, "json_decode: malformed JSON at byte %d", end ? (int)(end - text) : 0);
        return 2;
    }
    push_json(L, b->root, 0);
    return 1;
}

void lvt_open_json(lua_State *L)
{
    static const luaL_Reg fns[] = {{"json_encode", l_json_encode}, {"json_decode", l_json_decode}, {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
