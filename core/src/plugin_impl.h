/*
 * plugin_impl.h - what plugin.c and plugin_options.c share: the option
 * schema check and the option value parsers. Private to libvimo.
 */
#ifndef VIMO_PLUGIN_IMPL_H
#define VIMO_PLUGIN_IMPL_H

#include "vimo/plugin.h"

/* Most entries an option schema may have before its {NULL} end; a schema
 * longer than this is treated as unterminated. */
#define VP_MAX_OPTIONS 256
/* Longest plugin id and option name, in bytes. */
#define VP_MAX_NAME 128

/* Checks a schema as data (no plugin code runs): names well-formed and
 * unique, types valid, defaults parse as their type. `where` prefixes the
 * message ("plugin: x.so" or the id). Errors: VIMO_ERR_FORMAT. */
vimo_status vp_check_schema(const vimo_option_spec *opts, const char *where);

/* Bounded strlen: the length of s, or max + 1 if s is longer than max. */
size_t vp_strnlen(const char *s, size_t max);

/* The descriptor options were made for (options for another plugin given
 * to vimo_instance_new are a caller bug). */
const vimo_plugin_desc *vp_options_desc(const vimo_options *o);

#endif
