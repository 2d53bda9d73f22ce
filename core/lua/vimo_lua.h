/*
 * vimo_lua.h - the Lua-free entry points of libvimo_lua, for the CLI.
 *
 * `vimo run` calls vimo_lua_run() so that no file outside core/lua includes
 * a Lua header (Torch7 layering). luaopen_vimo itself is declared in lvimo.h
 * and found by `require "vimo"` in a standalone lua5.4.
 */
#ifndef VIMO_LUA_H
#define VIMO_LUA_H

#include "vimo/status.h"

/* Runs the Lua 5.4 script `file` in a fresh state with the vimo module
 * preloaded and package.path covering, in order: the folders of
 * VIMO_LUA_PATH (':'-separated), the script's own folder, the source tree's
 * scripts/ (VIMO_SCRIPTS_DIR), <exe>/../share/vimo/scripts, Lua's default.
 * args[0..nargs) are "key=value" overrides, given to the script as the
 * typed table vimo.args (true/false -> boolean, numerals -> number, else
 * string); arguments without '=' go to vimo.args[1..] in order. The global
 * `arg` is set as by the lua(1) interpreter (arg[0] = file).
 * Returns 0 on success, 1 after printing "vimo run: file:line: message" and
 * a traceback to stderr. */
VIMO_API int vimo_lua_run(const char *file, int nargs, char **args);

#endif
