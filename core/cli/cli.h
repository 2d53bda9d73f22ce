/*
 * cli.h - how a `vimo` subcommand registers itself.
 *
 * Each cli/cmd_*.c file defines its subcommands with VIMO_COMMAND; a
 * constructor adds them to a list before main() runs, so adding a subcommand
 * never edits main.c. A command returns the process exit code (0 = success)
 * and prints its own errors to stderr as "vimo NAME: message".
 */
#ifndef VIMO_CLI_H
#define VIMO_CLI_H

#include <stddef.h>

typedef int (*vimo_cmd_fn)(int argc, char **argv); /* argv[0] = subcommand name */

typedef struct vimo_cmd {
    const char *name;  /* "bench", "motion", ...                           */
    const char *brief; /* one line for `vimo --help`                      */
    const char *usage; /* full text for `vimo help NAME`                  */
    vimo_cmd_fn fn;
    struct vimo_cmd *next;
} vimo_cmd;

void vimo_cli_register(vimo_cmd *cmd);

#define VIMO_COMMAND(ident, name_, brief_, usage_, fn_)                        \
    static vimo_cmd ident = {name_, brief_, usage_, fn_, 0};                    \
    __attribute__((constructor)) static void ident##_register(void)             \
    {                                                                           \
        vimo_cli_register(&ident);                                              \
    }

/* Small argument helpers shared by commands. */
/* Returns the value after `--name` (or of `--name=value`) in argv, else NULL. */
const char *vimo_cli_opt(int argc, char **argv, const char *name);
/* True when the flag `--name` is present. */
int vimo_cli_flag(int argc, char **argv, const char *name);
/* Positional arguments: skips argv[0], options with values (listed in
 * `valued`, NULL-terminated) and flags. Returns the i-th or NULL. */
const char *vimo_cli_pos(int argc, char **argv, const char *const *valued, int i);

/* Finds a file shipped with vimo (e.g. "scripts/vimo/describe.lua"): in
 * the source tree the executable was built from, else under
 * <exe>/../share/vimo. Returns 1 and the path in out, or 0. */
int vimo_cli_find_file(const char *rel, char *out, size_t n);

#endif
