/*
 * lua_batch.c - vimo.stack: batches equally shaped tensors into one, in C.
 *
 *   local x = vimo.stack(ctx, list, idx)   -- list of tensors (each S), idx
 *   -- optional 1-based indices into list -> context tensor (#idx, S...)
 * Stacking a video batch through Lua number tables would cost more than the
 * training step; this copies floats directly. The result is a plain input
 * (no gradient), owned by ctx until its reset, on the elements' device
 * (elements on a backend device are gathered through the host: cached
 * encoder tokens, not a hot path).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lvimo.h"

static vimo_tensor *elem(lua_State *L, int list, lua_Integer i)
{
    lua_geti(L, list, i);
    vimo_tensor *t = lvt_check_tensor(L, -1);
    lua_pop(L, 1); /* the list keeps the handle alive */
    return t;
}

static int l_stack(lua_State *L)
{
    vimo_ctx *ctx = lvt_check_ctx(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    int has_idx = lua_istable(L, 3);
    lua_Integer n = has_idx ? luaL_len(L, 3) : luaL_len(L, 2);
    if (n < 1) return luaL_error(L, "stack: nothing to stack");
    lua_Integer first = 1;
    if (has_idx) {
        lua_geti(L, 3, 1);
        first = luaL_checkinteger(L, -1);
        lua_pop(L, 1);
    }
    vimo_tensor *t0 = elem(L, 2, first);
    int nd = vimo_tensor_ndim(t0);
    if (nd >= VIMO_MAX_DIMS) return luaL_error(L, "stack: elements have %d dims; at most %d", nd, VIMO_MAX_DIMS - 1);
    int64_t shape[VIMO_MAX_DIMS];
    shape[0] = n;
    for (int d = 0; d < nd; d++) shape[d + 1] = vimo_tensor_dim(t0, d);
    int64_t per = vimo_tensor_numel(t0);
    vimo_tensor *out;
    LVT_CHECK(L, vimo_ctx_tensor(ctx, &out, nd + 1, shape));
    float *dst = vimo_tensor_data(out);
    for (lua_Integer k = 1; k <= n; k++) {
        lua_Integer i = k;
        if (has_idx) {
            lua_geti(L, 3, k);
            i = luaL_checkinteger(L, -1);
            lua_pop(L, 1);
        }
        vimo_tensor *t = elem(L, 2, i);
        if (vimo_tensor_ndim(t) != nd || vimo_tensor_numel(t) != per)
            return luaL_error(L, "stack: element %d has another shape than element %d", (int)i, (int)first);
        for (int d = 0; d < nd; d++)
            if (vimo_tensor_dim(t, d) != shape[d + 1])
                return luaL_error(L, "stack: element %d has another shape than element %d", (int)i, (int)first);
        if (vimo_tensor_device(t) != vimo_tensor_device(t0))
            return luaL_error(L, "stack: element %d is on another device than element %d", (int)i, (int)first);
        LVT_CHECK(L, vimo_tensor_copy_to(t, dst + (k - 1) * per, per));
    }
    if (vimo_tensor_device(t0) != VIMO_DEVICE_CPU) {
        vimo_tensor *dev;
        LVT_CHECK(L, vimo_to_device(ctx, &dev, out, vimo_tensor_device(t0)));
        out = dev;
    }
    lvt_push_result(L, out, 1, NULL, 0);
    return 1;
}

/* vimo.window(ctx, t, start, len [, pad]): rows start .. start+len-1 of t
 * (T, ...) as a contiguous context tensor (len, ...), start 0-based, so long
 * clips crop and short ones pad. Rows outside [0, T) are, by pad:
 *   "edge" (default): the first or last row repeated;
 *   "loop": row (start + r) mod T, the clip played again from its start (a
 *           periodic extension: a short clip's window has the statistics of
 *           the clip itself, not of its last frame held).
 * No gradient. */
static int l_window(lua_State *L)
{
    vimo_ctx *ctx = lvt_check_ctx(L, 1);
    vimo_tensor *t = lvt_check_tensor(L, 2);
    lua_Integer start = luaL_checkinteger(L, 3), len = luaL_checkinteger(L, 4);
    int nd = vimo_tensor_ndim(t);
    int64_t rows = vimo_tensor_dim(t, 0);
    static const char *const pads[] = {"edge", "loop", NULL};
    int loop = luaL_checkoption(L, 5, "edge", pads) == 1;
    if (len < 1 || len > (1 << 24)) return luaL_error(L, "window: len %d outside 1 .. 2^24", (int)len);
    if (rows < 1) return luaL_error(L, "window: the source has no rows");
    int64_t shape[VIMO_MAX_DIMS];
    shape[0] = len;
    for (int d = 1; d < nd; d++) shape[d] = vimo_tensor_dim(t, d);
    int64_t per = vimo_tensor_numel(t) / rows;
    if (vimo_tensor_device(t) != VIMO_DEVICE_CPU) /* no host pointer to read rows from */
        return luaL_error(L, "window: the source lives on %s; window works on cpu tensors (window before "
                             "vimo.to_device, or move the source to \"cpu\")",
                          vimo_device_name(vimo_tensor_device(t)));
    if (!vimo_tensor_is_contiguous(t)) return luaL_error(L, "window: the source must be contiguous");
    vimo_tensor *out;
    LVT_CHECK(L, vimo_ctx_tensor(ctx, &out, nd, shape));
    const float *src = vimo_tensor_data(t);
    float *dst = vimo_tensor_data(out);
    for (lua_Integer r = 0; r < len; r++) {
        int64_t s = start + r;
        if (loop)
            s = ((s % rows) + rows) % rows;
        else
            s = s < 0 ? 0 : (s >= rows ? rows - 1 : s);
        memcpy(dst + r * per, src + s * per, (size_t)per * sizeof(float));
    }
    lvt_push_result(L, out, 1, NULL, 0);
    return 1;
}

/* vimo.cat_rows(ctx, list): concatenation along dim 0 of tensors whose other
 * dims agree, e.g. F video frames (F, 3, S, S) of B clips -> (B F, 3, S, S).
 * No gradient. */
static int l_cat_rows(lua_State *L)
{
    vimo_ctx *ctx = lvt_check_ctx(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 2);
    if (n < 1) return luaL_error(L, "cat_rows: nothing to concatenate");
    vimo_tensor *t0 = elem(L, 2, 1);
    int nd = vimo_tensor_ndim(t0);
    int64_t shape[VIMO_MAX_DIMS], rows = 0;
    for (int d = 0; d < nd; d++) shape[d] = vimo_tensor_dim(t0, d);
    int64_t per = vimo_tensor_numel(t0) / shape[0];
    for (lua_Integer k = 1; k <= n; k++) {
        vimo_tensor *t = elem(L, 2, k);
        if (vimo_tensor_ndim(t) != nd || vimo_tensor_numel(t) / vimo_tensor_dim(t, 0) != per)
            return luaL_error(L, "cat_rows: element %d differs from element 1 outside dim 0", (int)k);
        rows += vimo_tensor_dim(t, 0);
    }
    shape[0] = rows;
    vimo_tensor *out;
    LVT_CHECK(L, vimo_ctx_tensor(ctx, &out, nd, shape));
    float *dst = vimo_tensor_data(out);
    for (lua_Integer k = 1; k <= n; k++) {
        vimo_tensor *t = elem(L, 2, k);
        int64_t cnt = vimo_tensor_numel(t);
        LVT_CHECK(L, vimo_tensor_copy_to(t, dst, cnt));
        dst += cnt;
    }
    lvt_push_result(L, out, 1, NULL, 0);
    return 1;
}

void lvt_open_batch(lua_State *L)
{
    static const luaL_Reg fns[] = {{"stack", l_stack}, {"window", l_window}, {"cat_rows", l_cat_rows}, {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
    /* The repository root (VIMO_SOURCE_DIR overrides the build's), where the
     * shipped data and weights are. */
    const char *env = getenv("VIMO_SOURCE_DIR");
    lua_pushstring(L, env && *env ? env : VIMO_REPO_DIR);
    lua_setfield(L, -2, "source_dir");
    /* This process's executable, so scripts can start child runs. */
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        lua_pushstring(L, exe);
        lua_setfield(L, -2, "executable");
    }
}
