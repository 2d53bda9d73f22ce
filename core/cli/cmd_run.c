/*
 * cmd_run.c - `vimo run FILE.lua key=value ...`: run an experiment script.
 *
 * A thin front: the embedded Lua 5.4 state, module preloading, package.path
 * and error reporting live in libvimo_lua (core/lua/lua_module.c), so this
 * file includes no Lua header. Built only when the Lua glue is.
 */
#ifdef VIMO_HAVE_LUA

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "../lua/vimo_lua.h"

static int cmd_run(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "vimo run: missing script (usage: vimo run FILE.lua [key=value ...])\n");
        return 2;
    }
    return vimo_lua_run(argv[1], argc - 2, argv + 2);
}

VIMO_COMMAND(g_cmd_run, "run", "run a Lua experiment script (key=value overrides)",
             "usage: vimo run FILE.lua [key=value ...]\n"
             "\n"
             "Runs FILE.lua in an embedded Lua 5.4 with `require \"vimo\"` available and\n"
             "package.path covering VIMO_LUA_PATH (':'-separated folders), the script's\n"
             "folder, the source tree's scripts/ and <prefix>/share/vimo/scripts.\n"
             "Overrides reach the script as the table vimo.args, typed: true/false are\n"
             "booleans, numerals are numbers, anything else a string; arguments without\n"
             "'=' are vimo.args[1], [2], ... A Lua error prints file:line: message and a\n"
             "traceback to stderr and exits with status 1.\n"
             "\n"
             "examples:\n"
             "  vimo run experiments/toy_resume.lua steps=40 seed=3\n"
             "  vimo run experiments/toy_resume.lua resume=true",
             cmd_run)

#else
/* Without the Lua glue there is no `run` command. */
typedef int vimo_cmd_run_unavailable;
#endif
