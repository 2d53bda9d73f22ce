/*
 * vimo/plugin.h - the stable plugin ABI: descriptors, options, interfaces.
 *
 * A plugin is a shared object (or a statically linked unit) that exports one
 * static, read-only descriptor. The host reads the descriptor as data, checks
 *   abi_major == VIMO_ABI_MAJOR, abi_minor <= VIMO_ABI_MINOR,
 *   size >= the size of the fields that minor promises, id/create/destroy set,
 * and only then calls any plugin function (GStreamer/LV2 style). Identity is
 * a string ("encoder.motion_tcn"), never a central enum: the core has no
 * switch on kinds or ids, and adding a plugin never edits the core.
 *
 * Capabilities are interfaces asked for by versioned name through
 * get_iface ("vimo.module/1", "vimo.encoder/1", "vimo.projector/1",
 * "vimo.llm/1"); each interface is a vtable that starts with its own size so
 * it can grow by appending. See encoder.h, projector.h, llm.h and
 * docs/plugins.md ("write your own plugin").
 *
 * Ownership: the host owns option values and passes them to create(); the
 * instance owns its parameters (caller-owned vimo_tensors) and frees them in
 * destroy(). Forward functions put their results on the vimo_ctx they are
 * given. Threads: an instance is used by one thread at a time.
 */
#ifndef VIMO_PLUGIN_H
#define VIMO_PLUGIN_H

#include <stdint.h>

#include "vimo/status.h"
#include "vimo/tensor.h"
#include "vimo/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef VIMO_ABI_MAJOR
#define VIMO_ABI_MAJOR 1
#define VIMO_ABI_MINOR 1
#endif

/* Kinds are informational (listing, filtering); values only ever appended. */
#define VIMO_PLUGIN_ENCODER 1u
#define VIMO_PLUGIN_PROJECTOR 2u
#define VIMO_PLUGIN_LLM 3u
#define VIMO_PLUGIN_BACKEND 4u

/* ---- options --------------------------------------------------------------- */

typedef enum vimo_opt_type {
    VIMO_OPT_INT = 1,    /* int64                      */
    VIMO_OPT_FLOAT = 2,  /* double                     */
    VIMO_OPT_BOOL = 3,   /* "true"/"false"/1/0         */
    VIMO_OPT_STRING = 4  /* UTF-8, e.g. a weights path */
} vimo_opt_type;

/* One entry of a plugin's option schema; the array ends with {NULL}. */
typedef struct vimo_option_spec {
    const char *name;          /* "width"                          */
    int type;                  /* vimo_opt_type                    */
    const char *default_value; /* as text: "512", "0.1", "true", "" */
    const char *help;          /* one line                         */
} vimo_option_spec;

/* Resolved options (opaque, host-owned): every schema entry has a value,
 * defaults filled in, types checked. */
typedef struct vimo_options vimo_options;

/* Getters for plugins. The name must be in the plugin's schema; an unknown
 * name returns 0 / 0.0 / "" (a bug in the plugin, caught by its tests). */
VIMO_API int64_t vimo_options_int(const vimo_options *o, const char *name);
VIMO_API double vimo_options_float(const vimo_options *o, const char *name);
VIMO_API int vimo_options_bool(const vimo_options *o, const char *name);
VIMO_API const char *vimo_options_string(const vimo_options *o, const char *name);

/* ---- the descriptor -------------------------------------------------------- */

typedef struct vimo_plugin_desc {
    uint16_t abi_major; /* VIMO_ABI_MAJOR at the plugin's build: first, always  */
    uint16_t abi_minor; /* VIMO_ABI_MINOR at the plugin's build                 */
    uint32_t size;      /* sizeof(vimo_plugin_desc) at the plugin's build       */
    uint32_t kind;      /* VIMO_PLUGIN_ENCODER, ...                             */
    uint32_t flags;     /* reserved, 0                                          */
    const char *id;      /* "encoder.motion_tcn": kind prefix, dot, name         */
    const char *version; /* the plugin's own version, "1.0.0"                    */
    const char *license; /* SPDX identifier, "MIT"                               */
    const char *summary; /* one line for `vimo plugins`                          */
    const vimo_option_spec *options; /* schema, {NULL}-terminated; may be NULL  */
    /* Makes an instance from resolved options. Errors: any vimo_status with a
     * message naming the plugin and option. */
    vimo_status (*create)(const vimo_options *opts, void **instance);
    void (*destroy)(void *instance);
    /* Returns the vtable of a named, versioned interface, or NULL. */
    const void *(*get_iface)(const char *name);
    void *reserved[8]; /* zero: room for ABI minor additions */
} vimo_plugin_desc;

/* Every shared-object plugin exports this data symbol (no code runs to find
 * it). A statically linked plugin is found through its per-name symbol
 * vimo_plugin_<name>, registered with vimo_plugin_register_static(). */
#define VIMO_PLUGIN_SYMBOL "vimo_plugin_descriptor"

/* Declares a plugin's descriptor under both names:
 *   VIMO_PLUGIN_DEFINE(motion_tcn) = { VIMO_PLUGIN_HEADER, .kind = ..., ... };
 * Define VIMO_PLUGIN_STATIC when linking several plugins into one binary. */
#define VIMO_PLUGIN_HEADER .abi_major = VIMO_ABI_MAJOR, .abi_minor = VIMO_ABI_MINOR, \
                           .size = sizeof(vimo_plugin_desc)
#ifdef VIMO_PLUGIN_STATIC
#define VIMO_PLUGIN_DEFINE(name) VIMO_API const vimo_plugin_desc vimo_plugin_##name
#else
#define VIMO_PLUGIN_DEFINE(name)                                                        \
    extern VIMO_API const vimo_plugin_desc vimo_plugin_descriptor                       \
        __attribute__((alias("vimo_plugin_" #name)));                                   \
    VIMO_API const vimo_plugin_desc vimo_plugin_##name
#endif

/* ---- "vimo.module/1": trainable state, implemented by every model plugin --- */

#define VIMO_IFACE_MODULE "vimo.module/1"
typedef struct vimo_module_iface {
    uint32_t size; /* sizeof(vimo_module_iface) at the plugin's build */
    /* Parameters, enumerable by name (for optimisers and checkpoints). The
     * tensors are caller-owned by the instance; names are stable, Hugging
     * Face style ("layers.0.conv.weight"). */
    int (*num_params)(void *inst);
    vimo_tensor *(*param)(void *inst, int i, const char **name);
    /* Train (1) or eval (0) mode: dropout, EMA codebook updates, ... */
    void (*set_train)(void *inst, int train);
    /* Freeze (0) or unfreeze (1) all parameters; may be NULL. */
    vimo_status (*set_trainable)(void *inst, int trainable);
} vimo_module_iface;

/* ---- the host side: loading, finding, instantiating ------------------------ */

typedef struct vimo_instance vimo_instance; /* a created plugin instance */

/* Search path, in order (first match of an id wins, later ones are
 * recorded as shadowed):
 *   1. the ':'-separated folders of VIMO_PLUGIN_PATH (users override);
 *   2. the build tree's plugin folder when libvimo runs from that tree,
 *      else <folder of libvimo.so>/vimo/plugins (an install, wherever its
 *      prefix was put);
 *   3. the configured install folder (<libdir>/vimo/plugins).
 * Every regular "*.so" file of a folder is tried, in name order; a file met
 * twice (same real path) is tried once. Scans once (later calls are free,
 * thread-safe); files that fail the checks are remembered with their error
 * for `vimo plugins`. count/at/find/instance_new scan on first use. */
VIMO_API vimo_status vimo_plugin_scan(void);
/* Loads one file: dlopen(RTLD_NOW | RTLD_LOCAL), reads VIMO_PLUGIN_SYMBOL,
 * checks the ABI and descriptor before calling any plugin code.
 * Errors: VIMO_ERR_IO (dlopen failed), VIMO_ERR_NOT_FOUND (no descriptor
 * symbol), VIMO_ERR_ABI ("x.so: plugin ABI 2.0, host ABI 1.0"),
 * VIMO_ERR_FORMAT (descriptor fields missing or malformed: docs/plugins.md
 * sec. 2 lists every check), VIMO_ERR_STATE (another file already provides
 * the id). Loading a file already loaded returns its descriptor. */
VIMO_API vimo_status vimo_plugin_load_file(const char *path, const vimo_plugin_desc **desc);
/* Registers a statically linked plugin (same checks; path "(static)").
 * Errors: those of the checks, VIMO_ERR_STATE when another descriptor
 * already has the id (the same descriptor twice is fine). */
VIMO_API vimo_status vimo_plugin_register_static(const vimo_plugin_desc *desc);
/* Number of plugins known after the scan, and the i-th with its path
 * ("(static)" for static ones). */
VIMO_API int vimo_plugin_count(void);
VIMO_API const vimo_plugin_desc *vimo_plugin_at(int i, const char **path);
/* Finds a plugin by id. Errors: VIMO_ERR_NOT_FOUND listing known ids. */
VIMO_API vimo_status vimo_plugin_find(const char *id, const vimo_plugin_desc **desc);
/* Files the scan refused, with the reason (the message load_file would
 * give): returns the i-th path and sets *error. For `vimo plugins`. */
VIMO_API int vimo_plugin_failure_count(void);
VIMO_API const char *vimo_plugin_failure_at(int i, const char **error);
/* Files whose id an earlier file in the search path already provided
 * (first match wins): returns the i-th path, sets *id and *winner (its path). */
VIMO_API int vimo_plugin_shadowed_count(void);
VIMO_API const char *vimo_plugin_shadowed_at(int i, const char **id, const char **winner);
/* The folders scanned, in search order (after vimo_plugin_scan). */
VIMO_API int vimo_plugin_search_dir_count(void);
VIMO_API const char *vimo_plugin_search_dir(int i);
/* Display name of a kind ("encoder", ...; "other" for kinds this host does
 * not know). A table lookup: nothing in the core depends on kinds. */
VIMO_API const char *vimo_plugin_kind_name(uint32_t kind);

/* Options for a plugin from its schema: defaults, then key/value text pairs.
 * Errors: VIMO_ERR_NOT_FOUND "encoder.motion_tcn: unknown option 'widht'",
 * VIMO_ERR_INVALID "encoder.motion_tcn: option 'width' wants an int, got 'x'". */
VIMO_API vimo_status vimo_options_new(vimo_options **out, const vimo_plugin_desc *desc);
VIMO_API vimo_status vimo_options_set(vimo_options *o, const char *name, const char *value);
VIMO_API void vimo_options_free(vimo_options *o);
/* Number of schema entries and the i-th name/value as text (for saving the
 * resolved configuration next to a checkpoint). */
VIMO_API int vimo_options_count(const vimo_options *o);
VIMO_API const char *vimo_options_name(const vimo_options *o, int i);
VIMO_API const char *vimo_options_text(const vimo_options *o, int i);

/* Creates an instance of plugin `id` with options (NULL: all defaults). */
VIMO_API vimo_status vimo_instance_new(vimo_instance **out, const char *id, const vimo_options *opts);
VIMO_API void vimo_instance_free(vimo_instance *inst);
VIMO_API const vimo_plugin_desc *vimo_instance_desc(const vimo_instance *inst);
/* The plugin's own instance pointer, passed to every interface function. */
VIMO_API void *vimo_instance_handle(const vimo_instance *inst);
/* An interface of the instance's plugin, or NULL when it has none. Checks
 * the vtable's size field against the minimum the host needs. */
VIMO_API const void *vimo_instance_iface(const vimo_instance *inst, const char *name);

#ifdef __cplusplus
}
#endif
#endif /* VIMO_PLUGIN_H */
