/*
 * cmd_data.c - `vimo data build|info`: the dataset of the shipped clips.
 *
 * A thin front over scripts/vimo/data/build.lua, run through the embedded
 * Lua of `vimo run` (vimo_lua_run): this file only finds the script and the
 * repository root and turns flags into key=value arguments. Building,
 * caching and reporting are in the Lua library. Built only with the Lua glue.
 */
#ifdef VIMO_HAVE_LUA

#include <limits.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "../lua/vimo_lua.h"

#ifndef VIMO_SOURCE_DIR
#define VIMO_SOURCE_DIR ""
#endif

#define SCRIPT "scripts/vimo/data/build.lua"
#define MAX_ARGS 64

static int cmd_data(int argc, char **argv)
{
    const char *action = argc > 1 ? argv[1] : NULL;
    if (!action || (strcmp(action, "build") != 0 && strcmp(action, "info") != 0)) {
        fprintf(stderr, "vimo data: expected `build` or `info` (see vimo help data)\n");
        return 2;
    }
    char script[PATH_MAX];
    if (!vimo_cli_find_file(SCRIPT, script, sizeof script)) {
        fprintf(stderr, "vimo data: cannot find %s in the source tree or the installation\n", SCRIPT);
        return 1;
    }
    static char buf[MAX_ARGS][PATH_MAX + 16];
    char *args[MAX_ARGS];
    int n = 0;
    snprintf(buf[n], sizeof buf[n], "action=%s", action);
    args[n] = buf[n], n++;
    if (VIMO_SOURCE_DIR[0] && !getenv("VIMO_ROOT")) {
        snprintf(buf[n], sizeof buf[n], "root=%s", VIMO_SOURCE_DIR);
        args[n] = buf[n], n++;
    }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (n >= MAX_ARGS - 1) {
            fprintf(stderr, "vimo data: too many arguments\n");
            return 2;
        }
        if (strcmp(a, "--force") == 0) snprintf(buf[n], sizeof buf[n], "force=true");
        else if (strcmp(a, "--markdown") == 0) snprintf(buf[n], sizeof buf[n], "markdown=true");
        else if (strcmp(a, "--quiet") == 0) snprintf(buf[n], sizeof buf[n], "quiet=true");
        else if (strcmp(a, "--out") == 0 && i + 1 < argc) snprintf(buf[n], sizeof buf[n], "cache=%s", argv[++i]);
        else if (strncmp(a, "--out=", 6) == 0) snprintf(buf[n], sizeof buf[n], "cache=%s", a + 6);
        else if (a[0] != '-' && strchr(a, '=') && strlen(a) < sizeof buf[n]) snprintf(buf[n], sizeof buf[n], "%s", a);
        else {
            fprintf(stderr, "vimo data: unknown argument '%s' (see vimo help data)\n", a);
            return 2;
        }
        args[n] = buf[n], n++;
    }
    return vimo_lua_run(script, n, args);
}

VIMO_COMMAND(g_cmd_data, "data", "build or describe the dataset of the shipped clips",
             "usage: vimo data build [--out DIR] [--force] [key=value ...]\n"
             "       vimo data info  [--out DIR] [--markdown] [key=value ...]\n"
             "\n"
             "build: for every clip under data/motion (Bandai-Namco 1 and 2, CMU):\n"
             "263-d HumanML3D features at 20 fps, a rendered MP4 and the model's F\n"
             "video frames read back from it, captions and QA pairs, fixed splits.\n"
             "Cached in MessagePack under DIR (default <repo>/.cache/vimo); a second\n"
             "run reports \"cached\" and does nothing; --force rebuilds.\n"
             "info: clips per split and source, QA counts and answers per category.\n"
             "\n"
             "options (key=value): F=8 frames, S=64 frame side, fps=20, render=128\n"
             "video side, threads=2, captions=5 per clip, limit=N clips (a subset\n"
             "spread over the list), match=TEXT[,TEXT] (clips whose id contains one).\n"
             "Changing an option builds another cache folder. See docs/data.md.\n"
             "\n"
             "examples:\n"
             "  vimo data build\n"
             "  vimo data build S=112 --force\n"
             "  vimo data info --markdown",
             cmd_data)

#else
/* Without the Lua glue there is no `data` command. */
typedef int vimo_cmd_data_unavailable;
#endif
