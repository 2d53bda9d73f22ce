/*
 * main.c - the `vimo` executable: dispatches to registered subcommands.
 * Subcommands live in cmd_*.c and register themselves (see cli.h).
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <libgen.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "vimo/vimo.h"

static vimo_cmd *g_cmds;

void vimo_cli_register(vimo_cmd *cmd)
{
    /* Keep the list sorted by name so --help is stable. */
    vimo_cmd **p = &g_cmds;
    while (*p && strcmp((*p)->name, cmd->name) < 0) p = &(*p)->next;
    cmd->next = *p;
    *p = cmd;
}

static vimo_cmd *find_cmd(const char *name)
{
    for (vimo_cmd *c = g_cmds; c; c = c->next)
        if (strcmp(c->name, name) == 0) return c;
    return NULL;
}

const char *vimo_cli_opt(int argc, char **argv, const char *name)
{
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] != '-' || strncmp(a + 2, name, n) != 0) continue;
        if (a[2 + n] == '=') return a + 3 + n;
        if (a[2 + n] == '\0' && i + 1 < argc) return argv[i + 1];
    }
    return NULL;
}

int vimo_cli_flag(int argc, char **argv, const char *name)
{
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '-' && argv[i][1] == '-' && strcmp(argv[i] + 2, name) == 0) return 1;
    return 0;
}

const char *vimo_cli_pos(int argc, char **argv, const char *const *valued, int want)
{
    int k = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1] == '-' && a[2]) {
            int takes = 0;
            for (const char *const *v = valued; v && *v; v++)
                if (strcmp(a + 2, *v) == 0) takes = 1;
            if (takes) i++;
            continue;
        }
        if (k++ == want) return a;
    }
    return NULL;
}

#ifndef VIMO_SOURCE_DIR
#define VIMO_SOURCE_DIR ""
#endif

int vimo_cli_find_file(const char *rel, char *out, size_t n)
{
    if (VIMO_SOURCE_DIR[0] && (size_t)snprintf(out, n, "%s/%s", VIMO_SOURCE_DIR, rel) < n && access(out, R_OK) == 0)
        return 1;
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) return 0;
    exe[len] = '\0';
    return (size_t)snprintf(out, n, "%s/../share/vimo/%s", dirname(exe), rel) < n && access(out, R_OK) == 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: vimo [--version] [--help] <command> [args]\n\ncommands:\n");
    for (vimo_cmd *c = g_cmds; c; c = c->next) fprintf(f, "  %-12s %s\n", c->name, c->brief);
    fprintf(f, "  %-12s %s\n", "help", "show the full usage of a command");
    fprintf(f, "\n`vimo help COMMAND` for details.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("vimo %s (ABI %d.%d)\n", vimo_version(), VIMO_ABI_MAJOR, VIMO_ABI_MINOR);
        return 0;
    }
    if (strcmp(argv[1], "help") == 0) {
        if (argc < 3) { usage(stdout); return 0; }
        vimo_cmd *c = find_cmd(argv[2]);
        if (!c) { fprintf(stderr, "vimo: unknown command '%s'\n", argv[2]); return 2; }
        printf("%s\n", c->usage);
        return 0;
    }
    vimo_cmd *c = find_cmd(argv[1]);
    if (!c) {
        fprintf(stderr, "vimo: unknown command '%s' (see vimo --help)\n", argv[1]);
        return 2;
    }
    if (argc >= 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
        printf("%s\n", c->usage);
        return 0;
    }
    if (vimo_init() != VIMO_OK) {
        fprintf(stderr, "vimo: init failed: %s\n", vimo_last_error());
        return 1;
    }
    return c->fn(argc - 1, argv + 1);
}
