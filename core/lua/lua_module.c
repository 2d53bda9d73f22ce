/*
 * lua_module.c - luaopen_vimo (the `vimo` Lua module) and the script runner
 * behind `vimo run`.
 *
 * Assembles the module from the per-concept files (lua_tensor.c, lua_ops.c,
 * ...), adds library-wide functions (version, threads, gemm_arch) and the
 * small host helpers the Lua library needs (isatty for the progress bar, a
 * monotonic clock for tokens/s, mkdir -p for result folders). Does not
 * contain any training logic: that is pure Lua under scripts/vimo/.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lualib.h>

#include "lvimo.h"
#include "vimo_lua.h"

#ifndef VIMO_SCRIPTS_DIR
#define VIMO_SCRIPTS_DIR ""
#endif

static int l_version(lua_State *L)
{
    lua_pushstring(L, vimo_version());
    return 1;
}

/* vimo.threads() -> n; vimo.threads(n) sets it (0 = all cores), returns n. */
static int l_threads(lua_State *L)
{
    if (!lua_isnoneornil(L, 1)) {
        lua_Integer n = luaL_checkinteger(L, 1);
        luaL_argcheck(L, n >= 0 && n <= 4096, 1, "thread count must be 0 (all cores) to 4096");
        vimo_set_num_threads((int)n);
    }
    lua_pushinteger(L, vimo_get_num_threads());
    return 1;
}

static int l_gemm_arch(lua_State *L)
{
    lua_pushstring(L, vimo_gemm_arch());
    return 1;
}

/* vimo.isatty("stderr" | "stdout" | "stdin" | fd) */
static int l_isatty(lua_State *L)
{
    int fd;
    if (lua_type(L, 1) == LUA_TSTRING) {
        static const char *const names[] = {"stdin", "stdout", "stderr", NULL};
        fd = luaL_checkoption(L, 1, NULL, names);
    } else {
        fd = (int)luaL_optinteger(L, 1, 2);
    }
    lua_pushboolean(L, isatty(fd));
    return 1;
}

/* vimo.now() -> seconds of a monotonic clock (for rates, not dates). */
static int l_now(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
    return 1;
}

/* vimo.mkdir(path): like mkdir -p. true, or nil, message (expected failure). */
static int l_mkdir(lua_State *L)
{
    size_t n;
    const char *path = luaL_checklstring(L, 1, &n);
    if (n == 0 || n >= PATH_MAX) luaL_argerror(L, 1, "path must have 1 to PATH_MAX-1 bytes");
    char buf[PATH_MAX];
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1;; p++) {
        char c = *p;
        if (c != '/' && c != '\0') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            lua_pushnil(L);
            lua_pushfstring(L, "mkdir: %s: %s", buf, strerror(errno));
            return 2;
        }
        if (c == '\0') break;
        *p = c;
    }
    struct stat sb;
    if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        lua_pushnil(L);
        lua_pushfstring(L, "mkdir: %s: exists and is not a folder", path);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

VIMO_API int luaopen_vimo(lua_State *L)
{
    if (vimo_init() != VIMO_OK) return lvt_raise(L);
    lua_newtable(L);
    static const luaL_Reg fns[] = {{"version", l_version}, {"threads", l_threads}, {"gemm_arch", l_gemm_arch},
                                   {"isatty", l_isatty},   {"now", l_now},         {"mkdir", l_mkdir},
                                   {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
    lvt_open_tensor(L);
    lvt_open_rng(L);
    lvt_open_ops(L);
    lvt_open_ops_nn(L);
    lvt_open_plugin(L);
    lvt_open_tokenizer(L);
    lvt_open_llm(L);
    lvt_open_json(L);
    lvt_open_optim(L);
    lvt_open_ckpt(L);
    lvt_open_media(L);
    lvt_open_batch(L);
    lvt_open_eval(L);
    lua_pushfstring(L, "%d.%d", VIMO_ABI_MAJOR, VIMO_ABI_MINOR);
    lua_setfield(L, -2, "abi");
    lua_newtable(L);
    lua_setfield(L, -2, "args");
    return 1;
}

/* ---- the runner ---------------------------------------------------------- */

/* Message handler: "file:line: message" plus a traceback. */
static int msgh(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) msg = lua_tostring(L, -1);
        else msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Appends "dir/?.lua;dir/?/init.lua;" for one folder to the buffer on top. */
static void add_dir(luaL_Buffer *b, const char *dir, size_t n)
{
    if (n == 0) return;
    luaL_addlstring(b, dir, n);
    luaL_addstring(b, "/?.lua;");
    luaL_addlstring(b, dir, n);
    luaL_addstring(b, "/?/init.lua;");
}

/* package.path = VIMO_LUA_PATH dirs; script dir; scripts/; installed; default. */
static int set_path(lua_State *L)
{
    const char *file = lua_tostring(L, 1);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    const char *env = getenv("VIMO_LUA_PATH");
    for (const char *p = env; p && *p;) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        add_dir(&b, p, n);
        p = e ? e + 1 : p + n;
    }
    const char *slash = strrchr(file, '/');
    if (slash) add_dir(&b, file, (size_t)(slash - file));
    else add_dir(&b, ".", 1);
    add_dir(&b, VIMO_SCRIPTS_DIR, strlen(VIMO_SCRIPTS_DIR));
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *dir = dirname(exe);
        lua_pushfstring(L, "%s/../share/vimo/scripts", dir);
        add_dir(&b, lua_tostring(L, -1), lua_rawlen(L, -1));
        lua_pop(L, 1);
    }
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    lua_remove(L, -2);
    luaL_addvalue(&b);
    luaL_pushresult(&b);
    lua_getglobal(L, "package");
    lua_insert(L, -2);
    lua_setfield(L, -2, "path");
    return 0;
}

/* Pushes the typed value of an override: booleans, numbers, else the text. */
static void push_typed(lua_State *L, const char *v)
{
    if (strcmp(v, "true") == 0) lua_pushboolean(L, 1);
    else if (strcmp(v, "false") == 0) lua_pushboolean(L, 0);
    else if (v[0] == '\0' || lua_stringtonumber(L, v) == 0) lua_pushstring(L, v);
}

/* Runs in protected mode: argv-like strings are light userdata args. */
static int run_protected(lua_State *L)
{
    const char *file = lua_touserdata(L, 1);
    int nargs = (int)lua_tointeger(L, 2);
    char **args = lua_touserdata(L, 3);
    lua_settop(L, 0);
    luaL_openlibs(L);
    lua_pushstring(L, file);
    set_path(L);
    lua_settop(L, 0);
    /* The module, preloaded and loaded, with the overrides in vimo.args. */
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_vimo);
    lua_setfield(L, -2, "vimo");
    lua_pop(L, 1);
    luaL_requiref(L, "vimo", luaopen_vimo, 0);
    lua_getfield(L, -1, "args");
    lua_createtable(L, nargs + 1, 0); /* the global arg, as lua(1) sets it */
    lua_pushstring(L, file);
    lua_rawseti(L, -2, 0);
    int pos = 1;
    for (int i = 0; i < nargs; i++) {
        lua_pushstring(L, args[i]);
        lua_rawseti(L, -2, i + 1);
        const char *eq = strchr(args[i], '=');
        if (!eq || eq == args[i]) {
            lua_pushstring(L, args[i]);
            lua_rawseti(L, -3, pos++);
            continue;
        }
        lua_pushlstring(L, args[i], (size_t)(eq - args[i]));
        push_typed(L, eq + 1);
        lua_settable(L, -4);
    }
    lua_setglobal(L, "arg");
    lua_settop(L, 0);
    /* Errors reach msgh of the pcall in vimo_lua_run, which adds the traceback. */
    if (luaL_loadfile(L, file) != LUA_OK) return lua_error(L);
    lua_call(L, 0, 0);
    return 0;
}

VIMO_API int vimo_lua_run(const char *file, int nargs, char **args)
{
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "vimo run: cannot create a Lua state (out of memory)\n");
        return 1;
    }
    lua_pushcfunction(L, msgh);
    lua_pushcfunction(L, run_protected);
    lua_pushlightuserdata(L, (void *)file);
    lua_pushinteger(L, nargs);
    lua_pushlightuserdata(L, args);
    int rc = lua_pcall(L, 3, 0, 1);
    if (rc != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        fprintf(stderr, "vimo run: %s\n", msg ? msg : "(error without message)");
    }
    fflush(stdout);
    lua_close(L);
    return rc == LUA_OK ? 0 : 1;
}
