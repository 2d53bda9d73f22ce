/*
 * plugin.c - the host side of the plugin ABI (see vimo/plugin.h): the search
 * path, dlopen, the descriptor checks that run before any plugin code, the
 * registry (first id wins, later ones shadowed, refused files remembered)
 * and instances. Option schemas and values live in plugin_options.c.
 *
 * Deliberately not here: unloading (accepted plugins stay mapped until exit,
 * their descriptors are referenced everywhere), hot reload, and any
 * knowledge of particular kinds or ids (kinds are names for display only).
 */
#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plugin_impl.h"
#include "vimo/encoder.h"
#include "vimo/llm.h"
#include "vimo/projector.h"

#ifndef VIMO_PLUGIN_BUILD_DIR
#define VIMO_PLUGIN_BUILD_DIR ""
#endif
#ifndef VIMO_PLUGIN_INSTALL_DIR
#define VIMO_PLUGIN_INSTALL_DIR ""
#endif

/* Smallest descriptor each ABI minor promises: the fields it defines. A
 * minor that appends a field adds its entry here. */
static const uint32_t k_desc_min_size[VIMO_ABI_MINOR + 1] = {
    [0] = offsetof(vimo_plugin_desc, reserved),
    [1] = offsetof(vimo_plugin_desc, reserved), /* 1.1 appended vimo_llm_iface.forward_varlen only */
};

static const struct { uint32_t kind; const char *name; } k_kinds[] = {
    {VIMO_PLUGIN_ENCODER, "encoder"}, {VIMO_PLUGIN_PROJECTOR, "projector"},
    {VIMO_PLUGIN_LLM, "llm"},         {VIMO_PLUGIN_BACKEND, "backend"}};

/* What the host needs of the interfaces it knows: the vtable size of their
 * version 1 and the members it calls without checking. Other names are
 * passed through untouched. */
typedef struct iface_rule {
    const char *name;
    uint32_t min_size;
    int n_req;
    size_t req_off[4];
    const char *req_name[4];
} iface_rule;

static const iface_rule k_ifaces[] = {
    {VIMO_IFACE_MODULE, sizeof(vimo_module_iface), 3,
     {offsetof(vimo_module_iface, num_params), offsetof(vimo_module_iface, param),
      offsetof(vimo_module_iface, set_train)},
     {"num_params", "param", "set_train"}},
    {VIMO_IFACE_ENCODER, sizeof(vimo_encoder_iface), 3,
     {offsetof(vimo_encoder_iface, modality), offsetof(vimo_encoder_iface, out_dim),
      offsetof(vimo_encoder_iface, forward)},
     {"modality", "out_dim", "forward"}},
    {VIMO_IFACE_PROJECTOR, sizeof(vimo_projector_iface), 4,
     {offsetof(vimo_projector_iface, in_dim), offsetof(vimo_projector_iface, out_dim),
      offsetof(vimo_projector_iface, out_tokens), offsetof(vimo_projector_iface, forward)},
     {"in_dim", "out_dim", "out_tokens", "forward"}},
    {VIMO_IFACE_LLM, sizeof(vimo_llm_iface), 4,
     {offsetof(vimo_llm_iface, dim), offsetof(vimo_llm_iface, vocab_size), offsetof(vimo_llm_iface, embed),
      offsetof(vimo_llm_iface, forward)},
     {"dim", "vocab_size", "embed", "forward"}},
};

/* ---- the registry ---------------------------------------------------------- */

typedef struct vp_entry {
    const vimo_plugin_desc *desc;
    char *path; /* as found, "(static)" for static ones */
    char *real; /* realpath, NULL for static ones      */
} vp_entry;

typedef struct vp_note { /* a refused or shadowed file */
    char *path, *real, *text, *id;
} vp_note;

static struct {
    pthread_mutex_t lock;
    vp_entry *e;
    int n, cap;
    vp_note *fail, *shadow;
    int nfail, capfail, nshadow, capshadow;
    char **dirs;
    int ndirs, capdirs;
    int scanned, scanning;
} g;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* Recursive: a plugin's ELF constructor may call back into the registry
 * while dlopen runs under the lock. */
static void init_lock(void)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&g.lock, &a);
    pthread_mutexattr_destroy(&a);
}

static void lock(void)
{
    pthread_once(&g_once, init_lock);
    pthread_mutex_lock(&g.lock);
}

static void unlock(void) { pthread_mutex_unlock(&g.lock); }

/* Makes room for one more element of size sz in *arr. 0 on OOM. */
static int grow(void **arr, int *cap, int n, size_t sz)
{
    if (n < *cap) return 1;
    int c = *cap ? *cap * 2 : 8;
    void *p = realloc(*arr, (size_t)c * sz);
    if (!p) return 0;
    *arr = p;
    *cap = c;
    return 1;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static vimo_status add_note(vp_note **arr, int *n, int *cap, const char *path, const char *real, const char *text,
                            const char *id)
{
    if (!grow((void **)arr, cap, *n, sizeof **arr)) return vimo_error(VIMO_ERR_NOMEM, "plugin: out of memory");
    vp_note nt = {strdup(path), dup_or_null(real), strdup(text), dup_or_null(id)};
    if (!nt.path || !nt.text || (real && !nt.real) || (id && !nt.id)) {
        free(nt.path), free(nt.real), free(nt.text), free(nt.id);
        return vimo_error(VIMO_ERR_NOMEM, "plugin: out of memory");
    }
    (*arr)[(*n)++] = nt;
    return VIMO_OK;
}

static vp_entry *find_id(const char *id)
{
    for (int i = 0; i < g.n; i++)
        if (!strcmp(g.e[i].desc->id, id)) return &g.e[i];
    return NULL;
}

static int seen_real(const char *real)
{
    for (int i = 0; i < g.n; i++)
        if (g.e[i].real && !strcmp(g.e[i].real, real)) return 1;
    for (int i = 0; i < g.nfail; i++)
        if (g.fail[i].real && !strcmp(g.fail[i].real, real)) return 1;
    for (int i = 0; i < g.nshadow; i++)
        if (g.shadow[i].real && !strcmp(g.shadow[i].real, real)) return 1;
    return 0;
}

static vimo_status add_entry(const vimo_plugin_desc *d, const char *path, const char *real)
{
    if (!grow((void **)&g.e, &g.cap, g.n, sizeof *g.e)) return vimo_error(VIMO_ERR_NOMEM, "plugin: out of memory");
    vp_entry e = {d, strdup(path), dup_or_null(real)};
    if (!e.path || (real && !e.real)) {
        free(e.path), free(e.real);
        return vimo_error(VIMO_ERR_NOMEM, "plugin: out of memory");
    }
    g.e[g.n++] = e;
    return VIMO_OK;
}

/* ---- descriptor checks (data only: no plugin code runs) -------------------- */

const char *vimo_plugin_kind_name(uint32_t kind)
{
    for (size_t i = 0; i < sizeof k_kinds / sizeof k_kinds[0]; i++)
        if (k_kinds[i].kind == kind) return k_kinds[i].name;
    return "other";
}

static int id_ok(const char *id)
{
    size_t n = vp_strnlen(id, VP_MAX_NAME), dot = 0;
    if (n < 3 || n > VP_MAX_NAME) return 0;
    while (dot < n && id[dot] != '.') dot++;
    if (dot == 0 || dot + 1 >= n) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || (i > dot && (c == '.' || c == '-'));
        if (!ok && i != dot) return 0;
    }
    return 1;
}

/* symsize: the ELF size of the descriptor symbol, 0 when unknown (static). */
static vimo_status check_desc(const vimo_plugin_desc *d, const char *where, size_t symsize)
{
    if (symsize && symsize < offsetof(vimo_plugin_desc, kind))
        return vimo_error(VIMO_ERR_FORMAT, "%s: descriptor symbol is %zu bytes, too small for the ABI header", where,
                          symsize);
    if (d->abi_major != VIMO_ABI_MAJOR || d->abi_minor > VIMO_ABI_MINOR)
        return vimo_error(VIMO_ERR_ABI, "%s: plugin ABI %u.%u, host ABI %d.%d (%s)", where, d->abi_major,
                          d->abi_minor, VIMO_ABI_MAJOR, VIMO_ABI_MINOR,
                          d->abi_major == VIMO_ABI_MAJOR ? "the plugin needs a newer vimo"
                                                         : "rebuild the plugin against this vimo");
    uint32_t need = k_desc_min_size[d->abi_minor];
    if (d->size < need)
        return vimo_error(VIMO_ERR_FORMAT, "%s: descriptor size %u, ABI %u.%u promises at least %u bytes", where,
                          d->size, d->abi_major, d->abi_minor, need);
    if (symsize && symsize < d->size)
        return vimo_error(VIMO_ERR_FORMAT, "%s: descriptor says %u bytes but its symbol has %zu", where, d->size,
                          symsize);
    if (d->flags) return vimo_error(VIMO_ERR_FORMAT, "%s: flags 0x%x are reserved and must be 0", where, d->flags);
    if (!d->id || !id_ok(d->id))
        return vimo_error(VIMO_ERR_FORMAT, "%s: id must be 'kind.name' of [a-z0-9_] (name also '.', '-'), got '%.64s'",
                          where, d->id ? d->id : "(null)");
    const char *kname = vimo_plugin_kind_name(d->kind);
    size_t klen = strlen(kname);
    if (strcmp(kname, "other") && (strncmp(d->id, kname, klen) || d->id[klen] != '.'))
        return vimo_error(VIMO_ERR_FORMAT, "%s: id '%s' does not start with its kind '%s.'", where, d->id, kname);
    if (!d->create || !d->destroy)
        return vimo_error(VIMO_ERR_FORMAT, "%s: %s: create and destroy must be set", where, d->id);
    /* ABI x.0 defines no reserved slot: all must be zero. */
    if (d->size >= sizeof *d)
        for (int i = 0; i < 8; i++)
            if (d->reserved[i])
                return vimo_error(VIMO_ERR_FORMAT, "%s: %s: reserved[%d] must be NULL in ABI %u.%u", where, d->id, i,
                                  d->abi_major, d->abi_minor);
    return vp_check_schema(d->options, where);
}

/* The descriptor must be a data object defined by this very file, not a
 * function or a symbol found in one of its dependencies. */
static vimo_status check_symbol(void *dl, const void *sym, const char *where, size_t *size)
{
    Dl_info info;
    const ElfW(Sym) *es = NULL;
    struct link_map *lm = NULL;
    *size = 0;
    if (!dladdr1(sym, &info, (void **)&es, RTLD_DL_SYMENT) || !es) return VIMO_OK; /* no ELF info: size unknown */
    if (ELF64_ST_TYPE(es->st_info) != STT_OBJECT) /* same macro body for ELF32 */
        return vimo_error(VIMO_ERR_FORMAT, "%s: %s is not a data object (declare it with VIMO_PLUGIN_DEFINE)", where,
                          VIMO_PLUGIN_SYMBOL);
    if (dlinfo(dl, RTLD_DI_LINKMAP, &lm) == 0 && lm && info.dli_fname && strcmp(info.dli_fname, lm->l_name))
        return vimo_error(VIMO_ERR_NOT_FOUND, "%s: %s comes from %s, not from this file", where, VIMO_PLUGIN_SYMBOL,
                          info.dli_fname);
    *size = es->st_size;
    return VIMO_OK;
}

/* dlopen + every check; on success the library stays open (never closed). */
static vimo_status open_checked(const char *path, const vimo_plugin_desc **out, void **dl_out)
{
    char where[PATH_MAX + 16];
    snprintf(where, sizeof where, "plugin: %s", path);
    dlerror();
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *e = dlerror();
        return vimo_error(VIMO_ERR_IO, "%s: dlopen failed: %s", where, e ? e : "unknown error");
    }
    vimo_status st = VIMO_OK;
    size_t symsize = 0;
    const vimo_plugin_desc *d = dlsym(dl, VIMO_PLUGIN_SYMBOL);
    if (!d) {
        st = vimo_error(VIMO_ERR_NOT_FOUND, "%s: no '%s' symbol (not a vimo plugin? see docs/plugins.md)", where,
                        VIMO_PLUGIN_SYMBOL);
        goto fail;
    }
    VIMO_TRY(check_symbol(dl, d, where, &symsize));
    VIMO_TRY(check_desc(d, where, symsize));
    *out = d;
    *dl_out = dl;
    return VIMO_OK;
fail:
    dlclose(dl);
    return st;
}

/* ---- the search path ------------------------------------------------------- */

static vimo_status add_dir(const char *dir, size_t n)
{
    if (n == 0) return VIMO_OK;
    for (int i = 0; i < g.ndirs; i++)
        if (strlen(g.dirs[i]) == n && !strncmp(g.dirs[i], dir, n)) return VIMO_OK;
    if (!grow((void **)&g.dirs, &g.capdirs, g.ndirs, sizeof *g.dirs) || !(g.dirs[g.ndirs] = strndup(dir, n)))
        return vimo_error(VIMO_ERR_NOMEM, "plugin: out of memory");
    g.ndirs++;
    return VIMO_OK;
}

/* True when path is dir itself or inside it (both made real first). */
static int is_under(const char *path, const char *dir)
{
    char rd[PATH_MAX];
    if (!realpath(dir, rd)) return 0;
    size_t n = strlen(rd);
    return !strncmp(path, rd, n) && (path[n] == '/' || path[n] == '\0');
}

static const char k_anchor = 0; /* an address inside libvimo for dladdr */

static vimo_status build_search_path(void)
{
    vimo_status st = VIMO_OK;
    const char *env = getenv("VIMO_PLUGIN_PATH");
    for (const char *p = env; p && *p;) {
        const char *c = strchr(p, ':');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        VIMO_TRY(add_dir(p, n));
        p = c ? c + 1 : p + n;
    }
    char lib[PATH_MAX] = "";
    Dl_info info;
    if (dladdr(&k_anchor, &info) && info.dli_fname && !realpath(info.dli_fname, lib)) lib[0] = '\0';
    /* The build tree's plugins only for a libvimo inside that tree (an
     * installed vimo must not pick up a stale build); otherwise the
     * plugins next to wherever libvimo was installed (--prefix at install
     * time differs from the configured one). */
    const char *bd = VIMO_PLUGIN_BUILD_DIR;
    const char *slash = strrchr(bd, '/');
    int in_tree = 0;
    if (bd[0] && slash && lib[0]) {
        char root[PATH_MAX];
        snprintf(root, sizeof root, "%.*s", (int)(slash - bd), bd);
        in_tree = is_under(lib, root);
    }
    if (in_tree) {
        VIMO_TRY(add_dir(bd, strlen(bd)));
    } else if (lib[0] && strrchr(lib, '/')) {
        char reloc[PATH_MAX + 32];
        snprintf(reloc, sizeof reloc, "%.*s/vimo/plugins", (int)(strrchr(lib, '/') - lib), lib);
        VIMO_TRY(add_dir(reloc, strlen(reloc)));
    }
    VIMO_TRY(add_dir(VIMO_PLUGIN_INSTALL_DIR, strlen(VIMO_PLUGIN_INSTALL_DIR)));
fail:
    return st;
}

static int so_filter(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 3 && !strcmp(d->d_name + n - 3, ".so");
}

static vimo_status scan_dir(const char *dir)
{
    vimo_status st = VIMO_OK;
    struct dirent **names = NULL;
    int n = scandir(dir, &names, so_filter, alphasort);
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX], real[PATH_MAX];
        struct stat sb;
        const vimo_plugin_desc *d = NULL;
        void *dl = NULL;
        if (st == VIMO_OK && snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name) < (int)sizeof path &&
            stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && realpath(path, real) && !seen_real(real)) {
            if (open_checked(path, &d, &dl) != VIMO_OK) {
                st = add_note(&g.fail, &g.nfail, &g.capfail, path, real, vimo_last_error(), NULL);
            } else if (find_id(d->id)) {
                char text[PATH_MAX + 64];
                snprintf(text, sizeof text, "%s", find_id(d->id)->path);
                st = add_note(&g.shadow, &g.nshadow, &g.capshadow, path, real, text, d->id);
                dlclose(dl); /* nothing of it is referenced */
            } else {
                st = add_entry(d, path, real);
            }
        }
        free(names[i]);
    }
    free(names);
    return st;
}

vimo_status vimo_plugin_scan(void)
{
    vimo_status st = VIMO_OK;
    lock();
    if (g.scanned || g.scanning) goto done;
    g.scanning = 1;
    /* Refused files set the thread's message; the caller's survives. */
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", vimo_last_error());
    st = build_search_path();
    for (int i = 0; st == VIMO_OK && i < g.ndirs; i++) st = scan_dir(g.dirs[i]);
    if (st == VIMO_OK) vimo_error(VIMO_OK, "%s", saved);
    g.scanning = 0;
    g.scanned = 1;
done:
    unlock();
    return st;
}

vimo_status vimo_plugin_load_file(const char *path, const vimo_plugin_desc **desc)
{
    vimo_status st = VIMO_OK;
    char real[PATH_MAX];
    const vimo_plugin_desc *d = NULL;
    void *dl = NULL;
    if (!path) return vimo_error(VIMO_ERR_INVALID, "plugin_load_file: path is NULL");
    if (desc) *desc = NULL;
    if (!realpath(path, real)) return vimo_error(VIMO_ERR_IO, "plugin: %s: no such file", path);
    lock();
    for (int i = 0; i < g.n; i++)
        if (g.e[i].real && !strcmp(g.e[i].real, real)) {
            d = g.e[i].desc; /* already loaded */
            goto done;
        }
    VIMO_TRY(open_checked(path, &d, &dl));
    const vp_entry *prev = find_id(d->id);
    if (prev) {
        st = vimo_error(VIMO_ERR_STATE, "plugin: %s: id '%s' is already provided by %s", path, d->id, prev->path);
        dlclose(dl);
        d = NULL;
        goto fail;
    }
    VIMO_TRY(add_entry(d, path, real));
done:
    if (desc) *desc = d;
fail:
    unlock();
    return st;
}

vimo_status vimo_plugin_register_static(const vimo_plugin_desc *desc)
{
    vimo_status st = VIMO_OK;
    if (!desc) return vimo_error(VIMO_ERR_INVALID, "plugin_register_static: desc is NULL");
    VIMO_TRY(check_desc(desc, "plugin: (static)", 0));
    lock();
    const vp_entry *prev = find_id(desc->id);
    if (prev && prev->desc != desc)
        st = vimo_error(VIMO_ERR_STATE, "plugin: (static) %s: id already provided by %s", desc->id, prev->path);
    else if (!prev)
        st = add_entry(desc, "(static)", NULL);
    unlock();
fail:
    return st;
}

/* ---- queries --------------------------------------------------------------- */

int vimo_plugin_count(void)
{
    vimo_plugin_scan();
    lock();
    int n = g.n;
    unlock();
    return n;
}

const vimo_plugin_desc *vimo_plugin_at(int i, const char **path)
{
    const vimo_plugin_desc *d = NULL;
    vimo_plugin_scan();
    lock();
    if (i >= 0 && i < g.n) {
        d = g.e[i].desc;
        if (path) *path = g.e[i].path;
    }
    unlock();
    return d;
}

vimo_status vimo_plugin_find(const char *id, const vimo_plugin_desc **desc)
{
    if (!id || !desc) return vimo_error(VIMO_ERR_INVALID, "plugin_find: NULL argument");
    *desc = NULL;
    vimo_status st = vimo_plugin_scan();
    if (st) return st;
    lock();
    const vp_entry *e = find_id(id);
    if (e) {
        *desc = e->desc;
    } else {
        char known[768] = "";
        size_t used = 0;
        for (int i = 0; i < g.n && used < sizeof known; i++)
            used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "", g.e[i].desc->id);
        st = vimo_error(VIMO_ERR_NOT_FOUND, "plugin: no plugin '%s' (known: %s; %d file(s) refused; see `vimo plugins`)",
                        id, g.n ? known : "none", g.nfail);
    }
    unlock();
    return st;
}

int vimo_plugin_failure_count(void)
{
    vimo_plugin_scan();
    lock();
    int n = g.nfail;
    unlock();
    return n;
}

const char *vimo_plugin_failure_at(int i, const char **error)
{
    const char *p = NULL;
    lock();
    if (i >= 0 && i < g.nfail) {
        p = g.fail[i].path;
        if (error) *error = g.fail[i].text;
    }
    unlock();
    return p;
}

int vimo_plugin_shadowed_count(void)
{
    vimo_plugin_scan();
    lock();
    int n = g.nshadow;
    unlock();
    return n;
}

const char *vimo_plugin_shadowed_at(int i, const char **id, const char **winner)
{
    const char *p = NULL;
    lock();
    if (i >= 0 && i < g.nshadow) {
        p = g.shadow[i].path;
        if (id) *id = g.shadow[i].id;
        if (winner) *winner = g.shadow[i].text;
    }
    unlock();
    return p;
}

int vimo_plugin_search_dir_count(void)
{
    vimo_plugin_scan();
    lock();
    int n = g.ndirs;
    unlock();
    return n;
}

const char *vimo_plugin_search_dir(int i)
{
    lock();
    const char *d = i >= 0 && i < g.ndirs ? g.dirs[i] : NULL;
    unlock();
    return d;
}

/* ---- instances ------------------------------------------------------------- */

struct vimo_instance {
    const vimo_plugin_desc *desc;
    void *handle;
};

vimo_status vimo_instance_new(vimo_instance **out, const char *id, const vimo_options *opts)
{
    vimo_status st = VIMO_OK;
    const vimo_plugin_desc *d = NULL;
    vimo_options *own = NULL;
    vimo_instance *inst = NULL;
    if (!out || !id) return vimo_error(VIMO_ERR_INVALID, "instance_new: NULL argument");
    *out = NULL;
    VIMO_TRY(vimo_plugin_find(id, &d));
    if (opts && vp_options_desc(opts) != d) {
        st = vimo_error(VIMO_ERR_INVALID, "instance_new: options made for %s given to %s", vp_options_desc(opts)->id,
                        id);
        goto fail;
    }
    if (!opts) VIMO_TRY(vimo_options_new(&own, d));
    inst = calloc(1, sizeof *inst);
    if (!inst) {
        st = vimo_error(VIMO_ERR_NOMEM, "instance_new: out of memory");
        goto fail;
    }
    inst->desc = d;
    vimo_error_clear();
    st = d->create(opts ? opts : own, &inst->handle);
    if (st != VIMO_OK) {
        if (!vimo_last_error()[0]) vimo_error(st, "%s: create failed (%s)", id, vimo_status_str(st));
        goto fail;
    }
    vimo_options_free(own);
    *out = inst;
    return VIMO_OK;
fail:
    free(inst);
    vimo_options_free(own);
    return st;
}

void vimo_instance_free(vimo_instance *inst)
{
    if (!inst) return;
    if (inst->handle) inst->desc->destroy(inst->handle);
    free(inst);
}

const vimo_plugin_desc *vimo_instance_desc(const vimo_instance *inst) { return inst ? inst->desc : NULL; }

void *vimo_instance_handle(const vimo_instance *inst) { return inst ? inst->handle : NULL; }

const void *vimo_instance_iface(const vimo_instance *inst, const char *name)
{
    if (!inst || !name || !inst->desc->get_iface) return NULL;
    const void *vt = inst->desc->get_iface(name);
    if (!vt) return NULL;
    for (size_t r = 0; r < sizeof k_ifaces / sizeof k_ifaces[0]; r++) {
        const iface_rule *k = &k_ifaces[r];
        if (strcmp(k->name, name)) continue;
        uint32_t size;
        memcpy(&size, vt, sizeof size);
        if (size < k->min_size) {
            vimo_error(VIMO_ERR_ABI, "%s: interface %s is %u bytes, host needs %u", inst->desc->id, name, size,
                       k->min_size);
            return NULL;
        }
        for (int i = 0; i < k->n_req; i++) {
            void *fp;
            memcpy(&fp, (const char *)vt + k->req_off[i], sizeof fp);
            if (!fp) {
                vimo_error(VIMO_ERR_FORMAT, "%s: interface %s: %s is NULL", inst->desc->id, name, k->req_name[i]);
                return NULL;
            }
        }
    }
    return vt;
}
