/*
 * plugin_options.c - a plugin's option schema and its resolved values (see
 * vimo/plugin.h): schema checks, text parsing, typed getters.
 *
 * Values are kept as the text they were given in (for saving the resolved
 * configuration next to a checkpoint) and as their parsed value. Does not
 * know any plugin's options: everything comes from the schema.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_impl.h"

typedef struct vp_value {
    const vimo_option_spec *spec;
    char *text; /* as given, or the default */
    int64_t i;
    double f;
    int b;
} vp_value;

struct vimo_options {
    const vimo_plugin_desc *desc;
    int n;
    vp_value *v; /* n, in schema order */
};

size_t vp_strnlen(const char *s, size_t max)
{
    size_t n = 0;
    while (n <= max && s[n]) n++;
    return n;
}

static const char *type_words(int type)
{
    static const struct { int type; const char *words; } k[] = {
        {VIMO_OPT_INT, "an int"}, {VIMO_OPT_FLOAT, "a float"},
        {VIMO_OPT_BOOL, "a bool (true/false/1/0)"}, {VIMO_OPT_STRING, "a string"}};
    for (size_t j = 0; j < sizeof k / sizeof k[0]; j++)
        if (k[j].type == type) return k[j].words;
    return NULL;
}

/* Parses text as the spec's type into *v (text itself is not stored). */
static int parse_text(int type, const char *text, vp_value *v)
{
    char *end = NULL;
    if (type == VIMO_OPT_STRING) return 1;
    if (type == VIMO_OPT_BOOL) {
        if (!strcmp(text, "true") || !strcmp(text, "1")) v->b = 1;
        else if (!strcmp(text, "false") || !strcmp(text, "0")) v->b = 0;
        else return 0;
        return 1;
    }
    /* strtoll/strtod skip leading blanks; a value with blanks is a typo. */
    if (!text[0] || isspace((unsigned char)text[0])) return 0;
    errno = 0;
    if (type == VIMO_OPT_INT) {
        long long x = strtoll(text, &end, 10);
        if (errno || *end) return 0;
        v->i = x;
        v->f = (double)x;
        return 1;
    }
    if (type == VIMO_OPT_FLOAT) {
        double x = strtod(text, &end);
        if (errno == ERANGE || *end || !isfinite(x)) return 0;
        v->f = x;
        return 1;
    }
    return 0;
}

static int name_ok(const char *s)
{
    size_t n = vp_strnlen(s, VP_MAX_NAME);
    if (n == 0 || n > VP_MAX_NAME) return 0;
    for (size_t j = 0; j < n; j++)
        if (!isalnum((unsigned char)s[j]) && s[j] != '_' && s[j] != '-' && s[j] != '.') return 0;
    return 1;
}

vimo_status vp_check_schema(const vimo_option_spec *opts, const char *where)
{
    if (!opts) return VIMO_OK;
    for (int i = 0; i < VP_MAX_OPTIONS; i++) {
        const vimo_option_spec *s = &opts[i];
        if (!s->name) return VIMO_OK;
        if (!name_ok(s->name))
            return vimo_error(VIMO_ERR_FORMAT, "%s: option %d: name must be 1-%d characters of [A-Za-z0-9_.-]",
                              where, i, VP_MAX_NAME);
        for (int j = 0; j < i; j++)
            if (!strcmp(opts[j].name, s->name))
                return vimo_error(VIMO_ERR_FORMAT, "%s: option '%s' is declared twice", where, s->name);
        if (!type_words(s->type))
            return vimo_error(VIMO_ERR_FORMAT, "%s: option '%s' has unknown type %d", where, s->name, s->type);
        if (!s->default_value)
            return vimo_error(VIMO_ERR_FORMAT, "%s: option '%s' has no default (use \"\" for none)", where,
                              s->name);
        vp_value v = {0};
        if (vp_strnlen(s->default_value, 4096) > 4096 || !parse_text(s->type, s->default_value, &v))
            return vimo_error(VIMO_ERR_FORMAT, "%s: option '%s' default '%.64s' is not %s", where, s->name,
                              s->default_value, type_words(s->type));
    }
    return vimo_error(VIMO_ERR_FORMAT, "%s: option schema has no {NULL} end within %d entries", where,
                      VP_MAX_OPTIONS);
}

void vimo_options_free(vimo_options *o)
{
    if (!o) return;
    for (int i = 0; i < o->n; i++) free(o->v[i].text);
    free(o->v);
    free(o);
}

vimo_status vimo_options_new(vimo_options **out, const vimo_plugin_desc *desc)
{
    vimo_status st = VIMO_OK;
    if (!out || !desc || !desc->id) return vimo_error(VIMO_ERR_INVALID, "options_new: NULL argument");
    *out = NULL;
    /* Descriptors from the loader are checked already; this also covers
     * ones a caller builds by hand. */
    VIMO_TRY(vp_check_schema(desc->options, desc->id));
    vimo_options *o = calloc(1, sizeof *o);
    if (!o) return vimo_error(VIMO_ERR_NOMEM, "options_new: out of memory");
    o->desc = desc;
    while (desc->options && desc->options[o->n].name) o->n++;
    o->v = calloc((size_t)o->n + 1, sizeof *o->v);
    if (!o->v) goto oom;
    for (int i = 0; i < o->n; i++) {
        o->v[i].spec = &desc->options[i];
        o->v[i].text = strdup(desc->options[i].default_value);
        if (!o->v[i].text) goto oom;
        parse_text(o->v[i].spec->type, o->v[i].text, &o->v[i]);
    }
    *out = o;
    return VIMO_OK;
oom:
    vimo_options_free(o);
    return vimo_error(VIMO_ERR_NOMEM, "options_new: out of memory");
fail:
    return st;
}

static vp_value *find(const vimo_options *o, const char *name)
{
    if (!o || !name) return NULL;
    for (int i = 0; i < o->n; i++)
        if (!strcmp(o->v[i].spec->name, name)) return &o->v[i];
    return NULL;
}

vimo_status vimo_options_set(vimo_options *o, const char *name, const char *value)
{
    if (!o || !name || !value) return vimo_error(VIMO_ERR_INVALID, "options_set: NULL argument");
    vp_value *v = find(o, name);
    if (!v) {
        char known[512] = "";
        size_t used = 0;
        for (int i = 0; i < o->n && used < sizeof known; i++)
            used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "", o->v[i].spec->name);
        return vimo_error(VIMO_ERR_NOT_FOUND, "%s: unknown option '%s' (options: %s)", o->desc->id, name,
                          o->n ? known : "none");
    }
    vp_value parsed = *v;
    if (!parse_text(v->spec->type, value, &parsed))
        return vimo_error(VIMO_ERR_INVALID, "%s: option '%s' wants %s, got '%s'", o->desc->id, name,
                          type_words(v->spec->type), value);
    char *copy = strdup(value);
    if (!copy) return vimo_error(VIMO_ERR_NOMEM, "options_set: out of memory");
    free(v->text);
    parsed.text = copy;
    *v = parsed;
    return VIMO_OK;
}

int64_t vimo_options_int(const vimo_options *o, const char *name)
{
    const vp_value *v = find(o, name);
    return v && v->spec->type == VIMO_OPT_INT ? v->i : 0;
}

double vimo_options_float(const vimo_options *o, const char *name)
{
    const vp_value *v = find(o, name);
    return v && (v->spec->type == VIMO_OPT_FLOAT || v->spec->type == VIMO_OPT_INT) ? v->f : 0.0;
}

int vimo_options_bool(const vimo_options *o, const char *name)
{
    const vp_value *v = find(o, name);
    return v && v->spec->type == VIMO_OPT_BOOL ? v->b : 0;
}

const char *vimo_options_string(const vimo_options *o, const char *name)
{
    const vp_value *v = find(o, name);
    return v ? v->text : "";
}

int vimo_options_count(const vimo_options *o) { return o ? o->n : 0; }

const char *vimo_options_name(const vimo_options *o, int i)
{
    return o && i >= 0 && i < o->n ? o->v[i].spec->name : NULL;
}

const char *vimo_options_text(const vimo_options *o, int i)
{
    return o && i >= 0 && i < o->n ? o->v[i].text : NULL;
}

const vimo_plugin_desc *vp_options_desc(const vimo_options *o) { return o ? o->desc : NULL; }
