/*
 * cmd_describe.c - `vimo describe`: ask a trained model about one clip.
 * Parses the flags and hands over to scripts/vimo/describe.lua, which
 * rebuilds the model from the run's config.json and model.ckpt.
 */
#ifdef VIMO_HAVE_LUA

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "../lua/vimo_lua.h"

#define SCRIPT "scripts/vimo/describe.lua"

static int cmd_describe(int argc, char **argv)
{
    static const char *const valued[] = {"checkpoint", "motion", "video", "prompt", "max-tokens", NULL};
    const char *ckpt = vimo_cli_opt(argc, argv, "checkpoint");
    const char *motion = vimo_cli_opt(argc, argv, "motion"), *video = vimo_cli_opt(argc, argv, "video");
    const char *prompt = vimo_cli_opt(argc, argv, "prompt"), *max = vimo_cli_opt(argc, argv, "max-tokens");
    if (!ckpt || (!motion == !video) || vimo_cli_pos(argc, argv, valued, 0)) {
        fprintf(stderr, "vimo describe: need --checkpoint DIR and exactly one of --motion FILE / --video FILE "
                        "(see vimo help describe)\n");
        return 2;
    }
    char script[PATH_MAX];
    if (!vimo_cli_find_file(SCRIPT, script, sizeof script)) {
        fprintf(stderr, "vimo describe: cannot find %s in the source tree or the installation\n", SCRIPT);
        return 1;
    }
    static char buf[5][PATH_MAX + 32];
    char *args[5];
    int n = 0;
    snprintf(buf[n], sizeof buf[n], "checkpoint=%s", ckpt), args[n] = buf[n], n++;
    snprintf(buf[n], sizeof buf[n], "%s=%s", motion ? "motion" : "video", motion ? motion : video), args[n] = buf[n], n++;
    if (prompt) snprintf(buf[n], sizeof buf[n], "prompt=%s", prompt), args[n] = buf[n], n++;
    if (max) snprintf(buf[n], sizeof buf[n], "max_tokens=%s", max), args[n] = buf[n], n++;
    return vimo_lua_run(script, n, args);
}

VIMO_COMMAND(g_cmd_describe, "describe", "answer a question about one motion or video clip",
             "usage: vimo describe --checkpoint DIR (--motion FILE | --video FILE)\n"
             "                     [--prompt TEXT] [--max-tokens N]\n"
             "\n"
             "DIR is an experiment's run folder (results/<run>, or\n"
             "results/ablation/runs/<experiment>) holding config.json and model.ckpt.\n"
             "--motion takes a BVH (.bvh or .bvh.gz, any skeleton with a built-in\n"
             "map); --video any file FFmpeg reads. The prompt defaults to\n"
             "\"Describe the motion.\". Prints the model's greedy answer.\n"
             "\n"
             "example:\n"
             "  vimo describe --checkpoint results/ablation/runs/joint \\\n"
             "      --video data/video/mmaction2/demo.mp4 --prompt \"What is the person doing?\"",
             cmd_describe)

#else
typedef int vimo_cmd_describe_unavailable;
#endif
