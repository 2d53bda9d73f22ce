/*
 * cmd_plugins.c - `vimo plugins`: every plugin the loader finds (kind, id,
 * version, ABI, path), the files it refused and why, shadowed files and the
 * search path; `vimo plugins ID` shows one plugin with its options.
 * Text or --json (cJSON). Loads descriptors only: no plugin code runs.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "vimo/vimo.h"

static const char *type_name(int t)
{
    static const char *k[] = {"?", "int", "float", "bool", "string"};
    return t >= 1 && t <= 4 ? k[t] : "?";
}

static const char *s_or(const char *s, const char *dflt) { return s ? s : dflt; }

static cJSON *plugin_json(const vimo_plugin_desc *d, const char *path)
{
    char abi[32];
    snprintf(abi, sizeof abi, "%u.%u", d->abi_major, d->abi_minor);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", vimo_plugin_kind_name(d->kind));
    cJSON_AddStringToObject(o, "id", d->id);
    cJSON_AddStringToObject(o, "version", s_or(d->version, ""));
    cJSON_AddStringToObject(o, "abi", abi);
    cJSON_AddStringToObject(o, "license", s_or(d->license, ""));
    cJSON_AddStringToObject(o, "summary", s_or(d->summary, ""));
    cJSON_AddStringToObject(o, "path", path);
    cJSON *opts = cJSON_AddArrayToObject(o, "options");
    for (const vimo_option_spec *s = d->options; s && s->name; s++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", s->name);
        cJSON_AddStringToObject(e, "type", type_name(s->type));
        cJSON_AddStringToObject(e, "default", s->default_value);
        cJSON_AddStringToObject(e, "help", s_or(s->help, ""));
        cJSON_AddItemToArray(opts, e);
    }
    return o;
}

static int print_json(void)
{
    char abi[32];
    snprintf(abi, sizeof abi, "%d.%d", VIMO_ABI_MAJOR, VIMO_ABI_MINOR);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "host_abi", abi);
    cJSON *pl = cJSON_AddArrayToObject(root, "plugins");
    for (int i = 0; i < vimo_plugin_count(); i++) {
        const char *path = NULL;
        const vimo_plugin_desc *d = vimo_plugin_at(i, &path);
        cJSON_AddItemToArray(pl, plugin_json(d, path));
    }
    cJSON *fl = cJSON_AddArrayToObject(root, "failures");
    for (int i = 0; i < vimo_plugin_failure_count(); i++) {
        const char *err = NULL, *path = vimo_plugin_failure_at(i, &err);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "path", path);
        cJSON_AddStringToObject(e, "error", err);
        cJSON_AddItemToArray(fl, e);
    }
    cJSON *sh = cJSON_AddArrayToObject(root, "shadowed");
    for (int i = 0; i < vimo_plugin_shadowed_count(); i++) {
        const char *id = NULL, *winner = NULL, *path = vimo_plugin_shadowed_at(i, &id, &winner);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "path", path);
        cJSON_AddStringToObject(e, "id", id);
        cJSON_AddStringToObject(e, "winner", winner);
        cJSON_AddItemToArray(sh, e);
    }
    cJSON *sp = cJSON_AddArrayToObject(root, "search_path");
    for (int i = 0; i < vimo_plugin_search_dir_count(); i++)
        cJSON_AddItemToArray(sp, cJSON_CreateString(vimo_plugin_search_dir(i)));
    char *text = cJSON_Print(root);
    int rc = text ? 0 : 1;
    if (text) printf("%s\n", text);
    else fprintf(stderr, "vimo plugins: out of memory\n");
    cJSON_free(text);
    cJSON_Delete(root);
    return rc;
}

static void print_text(void)
{
    printf("%-10s %-30s %-9s %-5s %s\n", "KIND", "ID", "VERSION", "ABI", "PATH");
    for (int i = 0; i < vimo_plugin_count(); i++) {
        const char *path = NULL;
        const vimo_plugin_desc *d = vimo_plugin_at(i, &path);
        char abi[32];
        snprintf(abi, sizeof abi, "%u.%u", d->abi_major, d->abi_minor);
        printf("%-10s %-30s %-9s %-5s %s\n", vimo_plugin_kind_name(d->kind), d->id, s_or(d->version, "-"), abi,
               path);
    }
    if (vimo_plugin_count() == 0) printf("(no plugins found)\n");
    if (vimo_plugin_failure_count()) printf("\nrefused:\n");
    for (int i = 0; i < vimo_plugin_failure_count(); i++) {
        const char *err = NULL;
        vimo_plugin_failure_at(i, &err);
        printf("  %s\n", err);
    }
    if (vimo_plugin_shadowed_count()) printf("\nshadowed (a file earlier in the search path provides the id):\n");
    for (int i = 0; i < vimo_plugin_shadowed_count(); i++) {
        const char *id = NULL, *winner = NULL, *path = vimo_plugin_shadowed_at(i, &id, &winner);
        printf("  %s: %s (using %s)\n", path, id, winner);
    }
    printf("\nsearch path (VIMO_PLUGIN_PATH first), host ABI %d.%d:\n", VIMO_ABI_MAJOR, VIMO_ABI_MINOR);
    for (int i = 0; i < vimo_plugin_search_dir_count(); i++) {
        struct stat sb;
        const char *dir = vimo_plugin_search_dir(i);
        printf("  %s%s\n", dir, stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) ? "" : " (missing)");
    }
}

static int show_one(const char *id, int json)
{
    const vimo_plugin_desc *d = NULL;
    if (vimo_plugin_find(id, &d) != VIMO_OK) {
        fprintf(stderr, "vimo plugins: %s\n", vimo_last_error());
        return 1;
    }
    const char *path = "";
    for (int i = 0; i < vimo_plugin_count(); i++)
        if (vimo_plugin_at(i, &path) == d) break;
    if (json) {
        cJSON *o = plugin_json(d, path);
        char *text = cJSON_Print(o);
        if (text) printf("%s\n", text);
        cJSON_free(text);
        cJSON_Delete(o);
        return text ? 0 : 1;
    }
    printf("%s %s (%s, ABI %u.%u, %s)\n  %s\n  %s\n", d->id, s_or(d->version, "-"), vimo_plugin_kind_name(d->kind),
           d->abi_major, d->abi_minor, s_or(d->license, "no licence given"), s_or(d->summary, ""), path);
    printf("options:\n");
    if (!d->options || !d->options[0].name) printf("  (none)\n");
    for (const vimo_option_spec *s = d->options; s && s->name; s++)
        printf("  %-16s %-6s %-12s %s\n", s->name, type_name(s->type), s->default_value[0] ? s->default_value : "\"\"",
               s_or(s->help, ""));
    return 0;
}

static int cmd_plugins(int argc, char **argv)
{
    int json = vimo_cli_flag(argc, argv, "json");
    const char *id = vimo_cli_pos(argc, argv, NULL, 0);
    if (vimo_plugin_scan() != VIMO_OK) {
        fprintf(stderr, "vimo plugins: %s\n", vimo_last_error());
        return 1;
    }
    if (id) return show_one(id, json);
    if (json) return print_json();
    print_text();
    return 0;
}

VIMO_COMMAND(g_cmd_plugins, "plugins", "list the plugins found, refused and shadowed",
             "usage: vimo plugins [--json] [ID]\n"
             "\n"
             "Lists every plugin the loader finds (kind, id, version, ABI, path), the\n"
             "files it refused with the reason (e.g. \"plugin ABI 2.0, host ABI 1.0\"),\n"
             "files shadowed by an earlier folder with the same id, and the search path:\n"
             "VIMO_PLUGIN_PATH (':'-separated, searched first), the build tree's plugins\n"
             "folder, then <libdir>/vimo/plugins. With ID, shows that plugin's options.\n"
             "Only descriptors are read: no plugin code runs.\n"
             "\n"
             "  --json   machine-readable output",
             cmd_plugins)
