/*
 * checkpoint.c - the MessagePack checkpoint writer and validating reader
 * (format and contract in vimo/checkpoint.h), with msgpack-c.
 *
 * Reading is two passes over the file in memory: a structural walk that
 * only decodes headers (every object complete, every count bounded by the
 * bytes left, nesting and object count capped), then msgpack_unpack_next on
 * one record at a time, each at a known byte offset for error messages.
 * The first pass is what makes msgpack-c safe on hostile input: it allocates
 * an array's objects from the header count before reading the elements.
 *
 * Deliberately not here: dtypes other than f32, compression, checksums,
 * streaming reads of files larger than memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vimo/backend.h"
#include "vimo/checkpoint.h"
#include "vimo/safetensors.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoint.c stores tensor bytes as they are in memory: little-endian hosts only"
#endif

#define MP_MAX_DEPTH 16
#define MP_MAX_OBJECTS (1u << 22)
#define CK_MAX_NAME 4096 /* bytes of a tensor name or config key */

/* ======================================================================== */
/* writer                                                                   */
/* ======================================================================== */

typedef struct kv {
    char *key, *value;
} kv;

typedef struct kv_list {
    kv *e;
    int n, cap;
} kv_list;

typedef struct w_tensor {
    char *name;
    const vimo_tensor *t;
    vimo_tensor *owned; /* set when the writer made the tensor (safetensors) */
} w_tensor;

struct vimo_ckpt_writer {
    char *path;
    kv_list config, meta;
    w_tensor *t;
    int nt, capt;
    vimo_adamw *opt;
    int has_rng;
    vimo_rng rng;
    int64_t step;
};

static int grow(void **arr, int *cap, int n, size_t sz)
{
    if (n < *cap) return 1;
    int c = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, (size_t)c * sz);
    if (!p) return 0;
    *arr = p;
    *cap = c;
    return 1;
}

static void kv_free(kv_list *l)
{
    for (int i = 0; i < l->n; i++) free(l->e[i].key), free(l->e[i].value);
    free(l->e);
    memset(l, 0, sizeof *l);
}

static vimo_status kv_set(kv_list *l, const char *key, const char *value)
{
    if (!key || !value) return vimo_error(VIMO_ERR_INVALID, "ckpt: config/meta key or value is NULL");
    char *v = strdup(value);
    if (!v) return vimo_error(VIMO_ERR_NOMEM, "ckpt: out of memory");
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->e[i].key, key)) {
            free(l->e[i].value);
            l->e[i].value = v;
            return VIMO_OK;
        }
    char *k = strdup(key);
    if (!k || !grow((void **)&l->e, &l->cap, l->n, sizeof *l->e)) {
        free(k), free(v);
        return vimo_error(VIMO_ERR_NOMEM, "ckpt: out of memory");
    }
    l->e[l->n++] = (kv){k, v};
    return VIMO_OK;
}

vimo_status vimo_ckpt_writer_new(vimo_ckpt_writer **out, const char *path)
{
    if (!out || !path || !path[0]) return vimo_error(VIMO_ERR_INVALID, "ckpt_writer_new: NULL or empty path");
    *out = NULL;
    vimo_ckpt_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        return vimo_error(VIMO_ERR_NOMEM, "ckpt_writer_new: out of memory");
    }
    *out = w;
    return VIMO_OK;
}

void vimo_ckpt_writer_free(vimo_ckpt_writer *w)
{
    if (!w) return;
    for (int i = 0; i < w->nt; i++) {
        free(w->t[i].name);
        vimo_tensor_free(w->t[i].owned);
    }
    free(w->t);
    kv_free(&w->config);
    kv_free(&w->meta);
    free(w->path);
    free(w);
}

vimo_status vimo_ckpt_add_config(vimo_ckpt_writer *w, const char *key, const char *value)
{
    if (!w) return vimo_error(VIMO_ERR_INVALID, "ckpt_add_config: writer is NULL");
    return kv_set(&w->config, key, value);
}

vimo_status vimo_ckpt_add_meta(vimo_ckpt_writer *w, const char *key, const char *value)
{
    if (!w) return vimo_error(VIMO_ERR_INVALID, "ckpt_add_meta: writer is NULL");
    return kv_set(&w->meta, key, value);
}

vimo_status vimo_ckpt_add_options(vimo_ckpt_writer *w, const char *prefix, const vimo_options *o)
{
    vimo_status st = VIMO_OK;
    if (!w || !o) return vimo_error(VIMO_ERR_INVALID, "ckpt_add_options: NULL argument");
    for (int i = 0; i < vimo_options_count(o); i++) {
        char key[CK_MAX_NAME];
        snprintf(key, sizeof key, "%s%s%s", prefix ? prefix : "", prefix && prefix[0] ? "." : "",
                 vimo_options_name(o, i));
        VIMO_TRY(kv_set(&w->config, key, vimo_options_text(o, i)));
    }
fail:
    return st;
}

static vimo_status add_tensor(vimo_ckpt_writer *w, const char *name, const vimo_tensor *t, vimo_tensor *owned)
{
    if (!w || !name || !t) return vimo_error(VIMO_ERR_INVALID, "ckpt_add_tensor: NULL argument");
    size_t n = strlen(name);
    if (n == 0 || n > CK_MAX_NAME)
        return vimo_error(VIMO_ERR_INVALID, "ckpt_add_tensor: name must be 1..%d bytes", CK_MAX_NAME);
    if ((uint64_t)vimo_tensor_numel(t) * sizeof(float) > UINT32_MAX)
        return vimo_error(VIMO_ERR_UNSUPPORTED, "ckpt_add_tensor: '%s' is over 4 GiB (MessagePack bin limit)", name);
    for (int i = 0; i < w->nt; i++)
        if (!strcmp(w->t[i].name, name))
            return vimo_error(VIMO_ERR_INVALID, "ckpt_add_tensor: '%s' added twice", name);
    char *copy = strdup(name);
    if (!copy || !grow((void **)&w->t, &w->capt, w->nt, sizeof *w->t)) {
        free(copy);
        return vimo_error(VIMO_ERR_NOMEM, "ckpt_add_tensor: out of memory");
    }
    w->t[w->nt++] = (w_tensor){copy, t, owned};
    return VIMO_OK;
}

vimo_status vimo_ckpt_add_tensor(vimo_ckpt_writer *w, const char *name, const vimo_tensor *t)
{
    return add_tensor(w, name, t, NULL);
}

static void join_name(char *buf, size_t n, const char *prefix, const char *name)
{
    snprintf(buf, n, "%s%s%s", prefix ? prefix : "", prefix && prefix[0] ? "." : "", name ? name : "");
}

static const vimo_module_iface *module_of(const vimo_instance *inst, const char *op)
{
    const vimo_module_iface *m = inst ? vimo_instance_iface(inst, VIMO_IFACE_MODULE) : NULL;
    if (!m)
        vimo_error(VIMO_ERR_NOT_FOUND, "%s: %s has no %s interface", op,
                   inst ? vimo_instance_desc(inst)->id : "(null)", VIMO_IFACE_MODULE);
    return m;
}

vimo_status vimo_ckpt_add_module(vimo_ckpt_writer *w, const char *prefix, const vimo_instance *inst)
{
    vimo_status st = VIMO_OK;
    const vimo_module_iface *m = module_of(inst, "ckpt_add_module");
    if (!m) return VIMO_ERR_NOT_FOUND;
    void *h = vimo_instance_handle(inst);
    for (int i = 0; i < m->num_params(h); i++) {
        const char *pname = NULL;
        vimo_tensor *t = m->param(h, i, &pname);
        char name[CK_MAX_NAME + 1];
        join_name(name, sizeof name, prefix, pname);
        VIMO_TRY(add_tensor(w, name, t, NULL));
    }
fail:
    return st;
}

vimo_status vimo_ckpt_add_safetensors(vimo_ckpt_writer *w, const char *path, const char *prefix)
{
    vimo_status st = VIMO_OK;
    vimo_safetensors *sf = NULL;
    vimo_tensor *t = NULL;
    if (!w || !path) return vimo_error(VIMO_ERR_INVALID, "ckpt_add_safetensors: NULL argument");
    VIMO_TRY(vimo_safetensors_open(path, &sf));
    for (size_t i = 0; i < vimo_safetensors_count(sf); i++) {
        const vimo_st_tensor *s = vimo_safetensors_at(sf, i);
        if (s->ndim > VIMO_MAX_DIMS) {
            st = vimo_error(VIMO_ERR_UNSUPPORTED, "ckpt: %s: tensor '%s' has %d dims, vimo tensors at most %d", path,
                            s->name, s->ndim, VIMO_MAX_DIMS);
            goto fail;
        }
        int64_t one = 1;
        VIMO_TRY(vimo_tensor_new(&t, s->ndim ? s->ndim : 1, s->ndim ? s->shape : &one));
        VIMO_TRY(vimo_safetensors_read_f32(sf, s->name, vimo_tensor_data(t), (size_t)vimo_tensor_numel(t)));
        char name[CK_MAX_NAME + 1];
        snprintf(name, sizeof name, "%s%s", prefix ? prefix : "", s->name);
        VIMO_TRY(add_tensor(w, name, t, t));
        t = NULL; /* the writer owns it now */
    }
fail:
    vimo_tensor_free(t);
    vimo_safetensors_close(sf);
    return st;
}

vimo_status vimo_ckpt_add_adamw(vimo_ckpt_writer *w, vimo_adamw *opt)
{
    if (!w || !opt) return vimo_error(VIMO_ERR_INVALID, "ckpt_add_adamw: NULL argument");
    w->opt = opt;
    return VIMO_OK;
}

vimo_status vimo_ckpt_add_rng(vimo_ckpt_writer *w, const vimo_rng *rng)
{
    if (!w || !rng) return vimo_error(VIMO_ERR_INVALID, "ckpt_add_rng: NULL argument");
    w->rng = *rng;
    w->has_rng = 1;
    return VIMO_OK;
}

vimo_status vimo_ckpt_set_step(vimo_ckpt_writer *w, int64_t step)
{
    if (!w || step < 0) return vimo_error(VIMO_ERR_INVALID, "ckpt_set_step: NULL writer or step %lld < 0",
                                          (long long)step);
    w->step = step;
    return VIMO_OK;
}

/* ---- packing to a FILE ---------------------------------------------------- */

typedef struct fsink {
    FILE *f;
    int err; /* errno of the first failed write */
} fsink;

static int fsink_write(void *data, const char *buf, size_t len)
{
    fsink *s = data;
    if (s->err) return -1;
    errno = 0;
    if (len && fwrite(buf, 1, len, s->f) != len) {
        s->err = errno ? errno : EIO;
        return -1;
    }
    return 0;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pack_kv(msgpack_packer *pk, const kv_list *l)
{
    msgpack_pack_map(pk, (size_t)l->n);
    for (int i = 0; i < l->n; i++) {
        pack_str(pk, l->e[i].key);
        pack_str(pk, l->e[i].value);
    }
}

/* Tensor data as little-endian f32 bytes; views and tensors on a device
 * (no host pointer: vimo_tensor_data is NULL) go through a host copy. */
static vimo_status pack_floats(msgpack_packer *pk, const vimo_tensor *t)
{
    int64_t n = vimo_tensor_numel(t);
    size_t bytes = (size_t)n * sizeof(float);
    msgpack_pack_bin(pk, bytes);
    if (vimo_tensor_is_contiguous(t) && vimo_tensor_device(t) == VIMO_DEVICE_CPU) {
        msgpack_pack_bin_body(pk, vimo_tensor_data(t), bytes);
        return VIMO_OK;
    }
    float *tmp = malloc(bytes ? bytes : 1);
    if (!tmp) return vimo_error(VIMO_ERR_NOMEM, "ckpt: out of memory copying a view or device tensor");
    vimo_status st = vimo_tensor_copy_to(t, tmp, n);
    if (!st) msgpack_pack_bin_body(pk, tmp, bytes);
    free(tmp);
    return st;
}

static void pack_tensor(msgpack_packer *pk, const char *name, const vimo_tensor *t)
{
    msgpack_pack_map(pk, 4);
    pack_str(pk, "name");
    pack_str(pk, name);
    pack_str(pk, "dtype");
    pack_str(pk, "f32");
    pack_str(pk, "shape");
    msgpack_pack_array(pk, (size_t)vimo_tensor_ndim(t));
    for (int d = 0; d < vimo_tensor_ndim(t); d++) msgpack_pack_int64(pk, vimo_tensor_dim(t, d));
    pack_str(pk, "data");
}

/* The name an optimiser parameter is saved under (see "Names"). */
static const char *writer_name_of(const vimo_ckpt_writer *w, const vimo_tensor *p)
{
    for (int i = 0; i < w->nt; i++)
        if (w->t[i].t == p) return w->t[i].name;
    return vimo_tensor_name(p);
}

/* Checks every optimiser parameter has a unique name before writing. */
static vimo_status adamw_names_ok(const vimo_ckpt_writer *w)
{
    vimo_adamw *o = w->opt;
    for (int g = 0; g < vimo_adamw_num_groups(o); g++)
        for (int i = 0; i < vimo_adamw_group_size(o, g); i++) {
            vimo_tensor *p;
            vimo_adamw_moments(o, g, i, &p, NULL, NULL);
            const char *name = writer_name_of(w, p);
            if ((uint64_t)vimo_tensor_numel(p) * sizeof(float) > UINT32_MAX)
                return vimo_error(VIMO_ERR_UNSUPPORTED, "ckpt: %s: adamw parameter over 4 GiB", w->path);
            if (!name || !name[0])
                return vimo_error(VIMO_ERR_INVALID,
                                  "ckpt: %s: adamw group %d parameter %d has no name (add it with add_tensor)",
                                  w->path, g, i);
            for (int h = 0; h <= g; h++)
                for (int j = 0; j < (h == g ? i : vimo_adamw_group_size(o, h)); j++) {
                    vimo_tensor *q;
                    vimo_adamw_moments(o, h, j, &q, NULL, NULL);
                    const char *other = writer_name_of(w, q);
                    if (other && !strcmp(other, name))
                        return vimo_error(VIMO_ERR_INVALID, "ckpt: %s: adamw parameter name '%s' is used twice",
                                          w->path, name);
                }
        }
    return VIMO_OK;
}

static void pack_moment(msgpack_packer *pk, const float *x, int64_t n)
{
    size_t bytes = (size_t)n * sizeof(float);
    msgpack_pack_bin(pk, bytes);
    msgpack_pack_bin_body(pk, x, bytes);
}

/* Moments are copied to the host first (they may live on a device). */
static vimo_status pack_adamw(msgpack_packer *pk, const vimo_ckpt_writer *w)
{
    vimo_adamw *o = w->opt;
    int ng = vimo_adamw_num_groups(o), total = 0;
    msgpack_pack_map(pk, 3);
    pack_str(pk, "step");
    msgpack_pack_int64(pk, vimo_adamw_steps(o));
    pack_str(pk, "groups");
    msgpack_pack_array(pk, (size_t)ng);
    for (int g = 0; g < ng; g++) {
        msgpack_pack_map(pk, 1);
        pack_str(pk, "params");
        msgpack_pack_array(pk, (size_t)vimo_adamw_group_size(o, g));
        for (int i = 0; i < vimo_adamw_group_size(o, g); i++) {
            vimo_tensor *p;
            vimo_adamw_moments(o, g, i, &p, NULL, NULL);
            pack_str(pk, writer_name_of(w, p));
        }
        total += vimo_adamw_group_size(o, g);
    }
    pack_str(pk, "moments");
    msgpack_pack_array(pk, (size_t)total);
    for (int g = 0; g < ng; g++)
        for (int i = 0; i < vimo_adamw_group_size(o, g); i++) {
            vimo_tensor *p;
            vimo_adamw_moments(o, g, i, &p, NULL, NULL);
            int64_t n = vimo_tensor_numel(p);
            float *m = malloc(2 * (size_t)(n ? n : 1) * sizeof(float)), *v = m + n;
            if (!m) return vimo_error(VIMO_ERR_NOMEM, "ckpt: %s: out of memory copying AdamW moments", w->path);
            vimo_status st = vimo_adamw_moments_to_host(o, g, i, m, v);
            if (st) {
                free(m);
                return st;
            }
            msgpack_pack_map(pk, 3);
            pack_str(pk, "name");
            pack_str(pk, writer_name_of(w, p));
            pack_str(pk, "m");
            pack_moment(pk, m, n);
            pack_str(pk, "v");
            pack_moment(pk, v, n);
            free(m);
        }
    return VIMO_OK;
}

static vimo_status pack_all(msgpack_packer *pk, const vimo_ckpt_writer *w)
{
    vimo_status st = VIMO_OK;
    msgpack_pack_map(pk, (size_t)(6 + w->has_rng + (w->opt != NULL)));
    pack_str(pk, "magic");
    pack_str(pk, VIMO_CKPT_MAGIC);
    pack_str(pk, "version");
    msgpack_pack_int(pk, VIMO_CKPT_VERSION);
    pack_str(pk, "step");
    msgpack_pack_int64(pk, w->step);
    pack_str(pk, "config");
    pack_kv(pk, &w->config);
    pack_str(pk, "meta");
    pack_kv(pk, &w->meta);
    if (w->has_rng) {
        pack_str(pk, "rng");
        msgpack_pack_array(pk, 4);
        for (int i = 0; i < 4; i++) msgpack_pack_uint32(pk, w->rng.s[i]);
    }
    pack_str(pk, "tensors");
    msgpack_pack_array(pk, (size_t)w->nt);
    for (int i = 0; i < w->nt; i++) {
        pack_tensor(pk, w->t[i].name, w->t[i].t);
        VIMO_TRY(pack_floats(pk, w->t[i].t));
    }
    if (w->opt) {
        pack_str(pk, "adamw");
        VIMO_TRY(pack_adamw(pk, w));
    }
fail:
    return st;
}

/* fsync of the folder holding path, so the rename itself is durable. */
static int sync_dir(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int r = fsync(fd);
    if (r && (errno == EINVAL || errno == EROFS)) r = 0; /* folders that cannot be synced */
    close(fd);
    return r;
}

vimo_status vimo_ckpt_commit(vimo_ckpt_writer *w)
{
    static atomic_uint counter;
    vimo_status st = VIMO_OK;
    char tmp[PATH_MAX];
    FILE *f = NULL;
    int fd = -1, made = 0;
    if (!w) return vimo_error(VIMO_ERR_INVALID, "ckpt_commit: writer is NULL");
    if (w->opt) VIMO_TRY(adamw_names_ok(w));
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%u", w->path, (long)getpid(), atomic_fetch_add(&counter, 1)) >=
        (int)sizeof tmp)
        return vimo_error(VIMO_ERR_INVALID, "ckpt: %s: path too long", w->path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return vimo_error(VIMO_ERR_IO, "ckpt: %s: cannot create %s: %s", w->path, tmp, strerror(errno));
    made = 1;
    if (!(f = fdopen(fd, "wb"))) {
        st = vimo_error(VIMO_ERR_IO, "ckpt: %s: fdopen: %s", w->path, strerror(errno));
        close(fd);
        goto fail;
    }
    fsink sink = {f, 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sink, fsink_write);
    VIMO_TRY(pack_all(&pk, w));
    if (!sink.err && fflush(f)) sink.err = errno;
    if (sink.err) {
        st = vimo_error(VIMO_ERR_IO, "ckpt: %s: write %s: %s", w->path, tmp, strerror(sink.err));
        goto fail;
    }
    if (fsync(fileno(f))) {
        st = vimo_error(VIMO_ERR_IO, "ckpt: %s: fsync %s: %s", w->path, tmp, strerror(errno));
        goto fail;
    }
    int cr = fclose(f);
    f = NULL;
    if (cr) {
        st = vimo_error(VIMO_ERR_IO, "ckpt: %s: close %s: %s", w->path, tmp, strerror(errno));
        goto fail;
    }
    if (rename(tmp, w->path)) {
        st = vimo_error(VIMO_ERR_IO, "ckpt: %s: rename from %s: %s", w->path, tmp, strerror(errno));
        goto fail;
    }
    made = 0;
    if (sync_dir(w->path))
        return vimo_error(VIMO_ERR_IO, "ckpt: %s: written, but fsync of its folder failed: %s", w->path,
                          strerror(errno));
    return VIMO_OK;
fail:
    if (f) fclose(f);
    if (made) unlink(tmp);
    return st;
}

/* ======================================================================== */
/* reader                                                                   */
/* ======================================================================== */

typedef struct r_tensor {
    char *name;
    int ndim;
    int64_t shape[VIMO_MAX_DIMS];
    int64_t numel;
    size_t data; /* byte offset of the f32 data in the file */
    size_t at;   /* byte offset of the record               */
} r_tensor;

typedef struct r_moment {
    char *name;
    size_t m, v, bytes, at;
    int group; /* -1 until a group lists it */
} r_moment;

typedef struct r_bound { /* a tensor this reader filled: for restore_adamw */
    const vimo_tensor *t;
    int idx;
} r_bound;

struct vimo_ckpt {
    char *path;
    uint8_t *buf;
    size_t len;
    int64_t step;
    kv_list config, meta;
    r_tensor *t;
    int nt, capt;
    r_tensor **by_name; /* sorted by name */
    int has_rng;
    vimo_rng rng;
    int has_adamw;
    int64_t adamw_step;
    int ngroups;
    r_moment *mo;
    int nmo, capmo;
    r_bound *bound;
    int nbound, capbound;
};

/* ---- pass 1: structure only --------------------------------------------- */

enum { MP_BAD, MP_SCALAR, MP_STR, MP_BIN, MP_EXT, MP_ARRAY, MP_MAP };

typedef struct mp_hdr {
    int kind;
    uint64_t n;  /* payload bytes (scalar, str, bin, ext) or element count */
    size_t hlen; /* header bytes                                          */
} mp_hdr;

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

/* Decodes the header at off (MessagePack spec, "Formats"). 0 when the
 * header itself is cut off or the byte is never used (0xc1). */
static int mp_header(const uint8_t *b, size_t len, size_t off, mp_hdr *h)
{
    static const uint8_t fixed[] = {/* 0xca..0xd3: payload bytes of float/uint/int */
                                    4, 8, 1, 2, 4, 8, 1, 2, 4, 8};
    uint8_t c = b[off];
    size_t left = len - off;
    int lb = 0; /* bytes of a length/count field after the type byte */
    *h = (mp_hdr){MP_SCALAR, 0, 1};
    if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) return 1;
    if (c <= 0x8f) return h->kind = MP_MAP, h->n = c & 0x0f, 1;
    if (c <= 0x9f) return h->kind = MP_ARRAY, h->n = c & 0x0f, 1;
    if (c <= 0xbf) return h->kind = MP_STR, h->n = c & 0x1f, 1;
    if (c >= 0xca && c <= 0xd3) return h->n = fixed[c - 0xca], 1;
    if (c >= 0xd4 && c <= 0xd8) return h->kind = MP_EXT, h->n = 1u << (c - 0xd4), h->hlen = 2, left >= 2;
    switch (c) {
    case 0xc4: case 0xc5: case 0xc6: h->kind = MP_BIN, lb = 1 << (c - 0xc4); break;
    case 0xc7: case 0xc8: case 0xc9: h->kind = MP_EXT, lb = 1 << (c - 0xc7); break;
    case 0xd9: case 0xda: case 0xdb: h->kind = MP_STR, lb = 1 << (c - 0xd9); break;
    case 0xdc: case 0xdd: h->kind = MP_ARRAY, lb = 2 << (c - 0xdc); break;
    case 0xde: case 0xdf: h->kind = MP_MAP, lb = 2 << (c - 0xde); break;
    default: return h->kind = MP_BAD, 0; /* 0xc1 */
    }
    h->hlen = 1 + (size_t)lb + (h->kind == MP_EXT);
    if (left < h->hlen) return 0;
    h->n = be(b + off + 1, lb);
    return 1;
}

typedef struct walk {
    const uint8_t *b;
    size_t len, nobj, bad; /* bad: offset of the object at fault */
    const char *why;
} walk;

static int walk_fail(walk *w, size_t at, const char *why)
{
    w->bad = at;
    w->why = why;
    return 0;
}

/* Walks one object at *off: complete, counts within the bytes left. */
static int mp_walk(walk *w, size_t *off, int depth)
{
    mp_hdr h;
    size_t at = *off;
    if (at >= w->len) return walk_fail(w, at, "truncated: object expected");
    if (++w->nobj > MP_MAX_OBJECTS) return walk_fail(w, at, "more than 4M objects");
    if (!mp_header(w->b, w->len, at, &h))
        return walk_fail(w, at, h.kind == MP_BAD ? "byte 0xc1 is never used" : "truncated header");
    size_t left = w->len - at - h.hlen;
    if (h.kind == MP_ARRAY || h.kind == MP_MAP) {
        uint64_t items = h.kind == MP_MAP ? 2 * h.n : h.n;
        if (depth >= MP_MAX_DEPTH) return walk_fail(w, at, "nesting deeper than 16");
        if (items > left) return walk_fail(w, at, "container count larger than the bytes left");
        *off = at + h.hlen;
        for (uint64_t i = 0; i < items; i++)
            if (!mp_walk(w, off, depth + 1)) return 0;
        return 1;
    }
    if (h.n > left) return walk_fail(w, at, "truncated: length runs past the end of the file");
    *off = at + h.hlen + (size_t)h.n;
    return 1;
}

/* ---- pass 2: records ------------------------------------------------------ */

typedef struct rd {
    vimo_ckpt *c;
    size_t off;
    msgpack_unpacked u;
} rd;

static vimo_status rd_fail(const rd *r, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static vimo_status rd_fail(const rd *r, size_t at, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vimo_error(VIMO_ERR_FORMAT, "ckpt: %s: offset %zu: %s", r->c->path, at, msg);
}

/* The next complete object (already walked, so bounded); *at = its offset. */
static vimo_status rd_obj(rd *r, msgpack_object *o, size_t *at)
{
    *at = r->off;
    memset(o, 0, sizeof *o); /* defined on every path (gcc -O3 cannot tell) */
    msgpack_unpack_return ret =
        msgpack_unpack_next(&r->u, (const char *)r->c->buf, r->c->len, &r->off);
    if (ret == MSGPACK_UNPACK_NOMEM_ERROR) return vimo_error(VIMO_ERR_NOMEM, "ckpt: %s: out of memory", r->c->path);
    if (ret != MSGPACK_UNPACK_SUCCESS && ret != MSGPACK_UNPACK_EXTRA_BYTES)
        return rd_fail(r, *at, "malformed MessagePack object");
    *o = r->u.data;
    return VIMO_OK;
}

/* A container header of the wanted kind; leaves r->off at its first item. */
static vimo_status rd_container(rd *r, int kind, uint32_t *n, const char *what)
{
    mp_hdr h;
    size_t at = r->off;
    *n = 0;
    if (!mp_header(r->c->buf, r->c->len, at, &h) || h.kind != kind)
        return rd_fail(r, at, "%s must be %s", what, kind == MP_MAP ? "a map" : "an array");
    *n = (uint32_t)h.n;
    r->off += h.hlen;
    return VIMO_OK;
}

static int is_str(const msgpack_object *o, const char *s)
{
    size_t n = strlen(s);
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n && !memcmp(o->via.str.ptr, s, n);
}

/* A NUL-free string object as a new C string, or NULL (*oom set if so). */
static char *dup_str(const msgpack_object *o, int *oom)
{
    *oom = 0;
    if (o->type != MSGPACK_OBJECT_STR || memchr(o->via.str.ptr, 0, o->via.str.size)) return NULL;
    char *s = strndup(o->via.str.ptr, o->via.str.size);
    if (!s) *oom = 1;
    return s;
}

static int as_i64(const msgpack_object *o, int64_t *v)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) return *v = (int64_t)o->via.u64, 1;
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) return *v = o->via.i64, 1;
    return 0;
}

/* Field `key` of a record map; NULL if absent. Keys must be distinct strs. */
static const msgpack_object *field(const msgpack_object *rec, const char *key)
{
    for (uint32_t i = 0; i < rec->via.map.size; i++)
        if (is_str(&rec->via.map.ptr[i].key, key)) return &rec->via.map.ptr[i].val;
    return NULL;
}

static vimo_status check_record(const rd *r, const msgpack_object *rec, size_t at, const char *what)
{
    if (rec->type != MSGPACK_OBJECT_MAP) return rd_fail(r, at, "%s must be a map", what);
    for (uint32_t i = 0; i < rec->via.map.size; i++) {
        const msgpack_object *k = &rec->via.map.ptr[i].key;
        if (k->type != MSGPACK_OBJECT_STR) return rd_fail(r, at, "%s: keys must be strings", what);
        for (uint32_t j = 0; j < i; j++)
            if (k->via.str.size == rec->via.map.ptr[j].key.via.str.size &&
                !memcmp(k->via.str.ptr, rec->via.map.ptr[j].key.via.str.ptr, k->via.str.size))
                return rd_fail(r, at, "%s: key '%.*s' appears twice", what, (int)k->via.str.size, k->via.str.ptr);
    }
    return VIMO_OK;
}

/* Byte offset of a bin object's payload inside the file. */
static size_t bin_off(const rd *r, const msgpack_object *o)
{
    return (size_t)((const uint8_t *)o->via.bin.ptr - r->c->buf);
}

static vimo_status read_kv(rd *r, kv_list *l, const char *what)
{
    vimo_status st = VIMO_OK;
    msgpack_object o;
    size_t at;
    VIMO_TRY(rd_obj(r, &o, &at));
    if (o.type != MSGPACK_OBJECT_MAP) return rd_fail(r, at, "'%s' must be a map of strings", what);
    for (uint32_t i = 0; i < o.via.map.size; i++) {
        const msgpack_object *k = &o.via.map.ptr[i].key, *v = &o.via.map.ptr[i].val;
        int oom1, oom2;
        char *ks = dup_str(k, &oom1), *vs = dup_str(v, &oom2);
        if (!ks || !vs || k->via.str.size > CK_MAX_NAME) {
            free(ks), free(vs);
            if (oom1 || oom2) return vimo_error(VIMO_ERR_NOMEM, "ckpt: out of memory");
            return rd_fail(r, at, "'%s' entry %u: key and value must be strings without NUL (key <= %d bytes)",
                           what, i, CK_MAX_NAME);
        }
        for (int j = 0; j < l->n; j++)
            if (!strcmp(l->e[j].key, ks)) {
                st = rd_fail(r, at, "'%s': key '%s' appears twice", what, ks);
                free(ks), free(vs);
                return st;
            }
        if (!grow((void **)&l->e, &l->cap, l->n, sizeof *l->e)) {
            free(ks), free(vs);
            return vimo_error(VIMO_ERR_NOMEM, "ckpt: out of memory");
        }
        l->e[l->n++] = (kv){ks, vs};
    }
fail:
    return st;
}

static vimo_status read_int(rd *r, int64_t *v, const char *what)
{
    vimo_status st = VIMO_OK;
    msgpack_object o;
    size_t at;
    VIMO_TRY(rd_obj(r, &o, &at));
    if (!as_i64(&o, v) || *v < 0) return rd_fail(r, at, "'%s' must be an integer >= 0", what);
fail:
    return st;
}

static vimo_status read_rng(rd *r)
{
    vimo_status st = VIMO_OK;
    msgpack_object o;
    size_t at;
    VIMO_TRY(rd_obj(r, &o, &at));
    if (o.type != MSGPACK_OBJECT_ARRAY || o.via.array.size != 4)
        return rd_fail(r, at, "'rng' must be an array of 4 uint32");
    for (int i = 0; i < 4; i++) {
        const msgpack_object *e = &o.via.array.ptr[i];
        if (e->type != MSGPACK_OBJECT_POSITIVE_INTEGER || e->via.u64 > UINT32_MAX)
            return rd_fail(r, at, "'rng'[%d] must be a uint32", i);
        r->c->rng.s[i] = (uint32_t)e->via.u64;
    }
    r->c->has_rng = 1;
fail:
    return st;
}

static vimo_status read_tensor(rd *r)
{
    vimo_status st = VIMO_OK;
    msgpack_object o;
    size_t at;
    int oom;
    VIMO_TRY(rd_obj(r, &o, &at));
    VIMO_TRY(check_record(r, &o, at, "tensor record"));
    const msgpack_object *name = field(&o, "name"), *dtype = field(&o, "dtype"), *shape = field(&o, "shape"),
                         *data = field(&o, "data");
    if (!name || name->type != MSGPACK_OBJECT_STR || name->via.str.size == 0 || name->via.str.size > CK_MAX_NAME)
        return rd_fail(r, at, "tensor record: 'name' must be a string of 1..%d bytes", CK_MAX_NAME);
    const char *nm = name->via.str.ptr;
    int nl = (int)name->via.str.size;
    if (!dtype || dtype->type != MSGPACK_OBJECT_STR)
        return rd_fail(r, at, "tensor '%.*s': 'dtype' must be a string", nl, nm);
    if (!is_str(dtype, "f32"))
        return vimo_error(VIMO_ERR_UNSUPPORTED, "ckpt: %s: offset %zu: tensor '%.*s': dtype '%.*s' (this reader reads f32)",
                          r->c->path, at, nl, nm, (int)dtype->via.str.size, dtype->via.str.ptr);
    if (!shape || shape->type != MSGPACK_OBJECT_ARRAY || shape->via.array.size < 1 ||
        shape->via.array.size > VIMO_MAX_DIMS)
        return rd_fail(r, at, "tensor '%.*s': 'shape' must be an array of 1..%d ints", nl, nm, VIMO_MAX_DIMS);
    r_tensor t = {.ndim = (int)shape->via.array.size, .numel = 1, .at = at};
    for (int d = 0; d < t.ndim; d++) {
        int64_t v;
        if (!as_i64(&shape->via.array.ptr[d], &v) || v < 1 || v > (int64_t)(r->c->len / 4 + 1))
            return rd_fail(r, at, "tensor '%.*s': shape[%d] must be an int in 1..(file size / 4)", nl, nm, d);
        t.shape[d] = v;
        if (t.numel > (int64_t)(r->c->len / 4 + 1) / v) /* also guards the product against overflow */
            return rd_fail(r, at, "tensor '%.*s': shape has more elements than the file has bytes", nl, nm);
        t.numel *= v;
    }
    if (!data || data->type != MSGPACK_OBJECT_BIN)
        return rd_fail(r, at, "tensor '%.*s': 'data' must be bin", nl, nm);
    if ((uint64_t)data->via.bin.size != (uint64_t)t.numel * 4)
        return rd_fail(r, at, "tensor '%.*s': shape needs %lld bytes of f32, data has %u", nl, nm,
                       (long long)t.numel * 4, data->via.bin.size);
    t.data = bin_off(r, data);
    if (!(t.name = dup_str(name, &oom)))
        return oom ? vimo_error(VIMO_ERR_NOMEM, "ckpt: out of memory")
                   : rd_fail(r, at, "tensor record: 'name' contains NUL");
    if (!grow((void **)&r->c->t, &r->c->capt, r->c->nt, sizeof *r->c->t)) {
        free(t.name);
        return vimo_error(VIMO_ERR_NOMEM, "ckpt: out of memory");
    }
    r->c->t[r->c->nt++] = t;
fail:
    return st;
}

static vimo_status read_tensors(rd *r)
{
    vimo_status st = VIMO_OK;
    uint32_t n;
    VIMO_TRY(rd_container(r, MP_ARRAY, &n, "'tensors'"));
    for (uint32_t i = 0; i < n; i++) VIMO_TRY(read_tensor(r));
fail:
    return st;
}

static r_moment *find_moment(const vimo_ckpt *c, const char *name)
{
    for (int i = 0; i < c->nmo; i++)
        if (!strcmp(c->mo[i].name, name)) return &c->mo[i];
    return NULL;
}

static vimo_status read_moment(rd *r)
{
    vimo_status st = VIMO_OK;
    msgpack_object o;
    size_t at;
    int oom;
    VIMO_TRY(rd_obj(r, &o, &at));
    VIMO_TRY(check_record(r, &o, at, "moments record"));
    const msgpack_object *name = field(&o, "name"), *m = field(&o, "m"), *v = field(&o, "v");
    if (!name || name->type != MSGPACK_OBJECT_STR || !name->via.str.size || name->via.str.size > CK_MAX_NAME)
        return rd_fail(r, at, "moments record: 'name' must be a string of 1..%d bytes", CK_MAX_NAME);
    if (!m || !v || m->type != MSGPACK_OBJECT_BIN || v->type != MSGPACK_OBJECT_BIN ||
        m->via.bin.size != v->via.bin.size || m->via.bin.size % 4)
        return rd_fail(r, at, "moments '%.*s': 'm' and 'v' must be bins of equal length, a multiple of 4",
                       (int)name->via.str.size, name->via.str.ptr);
    r_moment e = {.m = bin_off(r, m), .v = bin_off(r, v), .bytes = m->via.bin.size, .at = at, .group = -1};
    if (!(e.name = dup_str(name, &oom)))
        return oom ? vimo_error(VIMO_ERR_NOMEM, "ckpt: out of memory")
                   : rd_fail(r, at, "moments record: 'name' contains NUL");
    if (find_moment(r->c, e.name)) {
        st = rd_fail(r, at, "moments '%s' appear twice", e.name);
        free(e.name);
        return st;
    }
    if (!grow((void **)&r->c->mo, &r->c->capmo, r->c->nmo, sizeof *r->c->mo)) {
        free(e.name);
        return vimo_error(VIMO_ERR_NOMEM, "ckpt: out of memory");
    }
    r->c->mo[r->c->nmo++] = e;
fail:
    return st;
}

/* Groups are checked after the moments (either order in the file). */
static vimo_status check_groups(rd *r, const msgpack_object *groups, size_t at)
{
    vimo_ckpt *c = r->c;
    if (groups->type != MSGPACK_OBJECT_ARRAY) return rd_fail(r, at, "adamw 'groups' must be an array");
    for (uint32_t g = 0; g < groups->via.array.size; g++) {
        const msgpack_object *grp = &groups->via.array.ptr[g], *ps;
        vimo_status st = check_record(r, grp, at, "adamw group");
        if (st) return st;
        if (!(ps = field(grp, "params")) || ps->type != MSGPACK_OBJECT_ARRAY)
            return rd_fail(r, at, "adamw group %u: 'params' must be an array of names", g);
        for (uint32_t i = 0; i < ps->via.array.size; i++) {
            const msgpack_object *p = &ps->via.array.ptr[i];
            r_moment *mo = NULL;
            for (int k = 0; p->type == MSGPACK_OBJECT_STR && k < c->nmo; k++)
                if (strlen(c->mo[k].name) == p->via.str.size && !memcmp(c->mo[k].name, p->via.str.ptr, p->via.str.size))
                    mo = &c->mo[k];
            if (!mo) return rd_fail(r, at, "adamw group %u parameter %u: not a name with moments", g, i);
            if (mo->group >= 0) return rd_fail(r, at, "adamw: '%s' is listed in two groups", mo->name);
            mo->group = (int)g;
        }
    }
    for (int k = 0; k < c->nmo; k++)
        if (c->mo[k].group < 0) return rd_fail(r, c->mo[k].at, "adamw: moments '%s' belong to no group", c->mo[k].name);
    c->ngroups = (int)groups->via.array.size;
    return VIMO_OK;
}

static vimo_status read_adamw(rd *r)
{
    vimo_status st = VIMO_OK;
    uint32_t n;
    size_t groups_at = 0, at_map = r->off;
    int seen_step = 0, seen_moments = 0;
    VIMO_TRY(rd_container(r, MP_MAP, &n, "'adamw'"));
    for (uint32_t i = 0; i < n; i++) {
        msgpack_object k;
        size_t at;
        VIMO_TRY(rd_obj(r, &k, &at));
        if (is_str(&k, "step") && !seen_step++) {
            VIMO_TRY(read_int(r, &r->c->adamw_step, "adamw step"));
        } else if (is_str(&k, "moments") && !seen_moments++) {
            uint32_t m;
            VIMO_TRY(rd_container(r, MP_ARRAY, &m, "adamw 'moments'"));
            for (uint32_t j = 0; j < m; j++) VIMO_TRY(read_moment(r));
        } else if (is_str(&k, "groups") && !groups_at) {
            groups_at = r->off; /* checked once the moments are known */
            walk w = {r->c->buf, r->c->len, 0, 0, NULL};
            mp_walk(&w, &r->off, 0);
        } else if (is_str(&k, "step") || is_str(&k, "moments") || is_str(&k, "groups")) {
            return rd_fail(r, at, "adamw: key '%.*s' appears twice", (int)k.via.str.size, k.via.str.ptr);
        } else {
            walk w = {r->c->buf, r->c->len, 0, 0, NULL}; /* unknown key: skip its value */
            mp_walk(&w, &r->off, 0);
        }
    }
    if (!seen_step || !seen_moments || !groups_at)
        return rd_fail(r, at_map, "'adamw' needs 'step', 'groups' and 'moments'");
    size_t end = r->off, at;
    msgpack_object groups;
    r->off = groups_at;
    VIMO_TRY(rd_obj(r, &groups, &at));
    VIMO_TRY(check_groups(r, &groups, at));
    r->off = end;
    r->c->has_adamw = 1;
fail:
    return st;
}

static const char *k_names_of_sections[] = {"step", "config", "meta", "rng", "tensors", "adamw"};

static vimo_status read_top(rd *r)
{
    vimo_status st = VIMO_OK;
    uint32_t n;
    msgpack_object k, v;
    size_t at, vat;
    unsigned seen = 0;
    if (rd_container(r, MP_MAP, &n, "the top level") != VIMO_OK || n < 2)
        return rd_fail(r, 0, "not a vimo checkpoint (top level is not a map with '%s')", VIMO_CKPT_MAGIC);
    VIMO_TRY(rd_obj(r, &k, &at));
    VIMO_TRY(rd_obj(r, &v, &vat));
    if (!is_str(&k, "magic") || !is_str(&v, VIMO_CKPT_MAGIC))
        return rd_fail(r, at, "not a vimo checkpoint (first key must be \"magic\": \"%s\")", VIMO_CKPT_MAGIC);
    VIMO_TRY(rd_obj(r, &k, &at));
    int64_t version;
    VIMO_TRY(rd_obj(r, &v, &vat));
    if (!is_str(&k, "version") || !as_i64(&v, &version))
        return rd_fail(r, at, "second key must be \"version\" with an integer");
    if (version != VIMO_CKPT_VERSION)
        return vimo_error(VIMO_ERR_UNSUPPORTED, "ckpt: %s: offset %zu: format version %lld, this reader reads %d",
                          r->c->path, vat, (long long)version, VIMO_CKPT_VERSION);
    for (uint32_t i = 2; i < n; i++) {
        VIMO_TRY(rd_obj(r, &k, &at));
        if (k.type != MSGPACK_OBJECT_STR) return rd_fail(r, at, "top-level keys must be strings");
        int s = -1;
        for (int j = 0; j < (int)(sizeof k_names_of_sections / sizeof *k_names_of_sections); j++)
            if (is_str(&k, k_names_of_sections[j])) s = j;
        if (is_str(&k, "magic") || is_str(&k, "version") || (s >= 0 && (seen & (1u << s))))
            return rd_fail(r, at, "key '%.*s' appears twice", (int)k.via.str.size, k.via.str.ptr);
        if (s >= 0) seen |= 1u << s;
        switch (s) {
        case 0: VIMO_TRY(read_int(r, &r->c->step, "step")); break;
        case 1: VIMO_TRY(read_kv(r, &r->c->config, "config")); break;
        case 2: VIMO_TRY(read_kv(r, &r->c->meta, "meta")); break;
        case 3: VIMO_TRY(read_rng(r)); break;
        case 4: VIMO_TRY(read_tensors(r)); break;
        case 5: VIMO_TRY(read_adamw(r)); break;
        default: { /* a later addition: skip */
            walk w = {r->c->buf, r->c->len, 0, 0, NULL};
            mp_walk(&w, &r->off, 0);
        }
        }
    }
    if (!(seen & 1u) || !(seen & (1u << 4)))
        return rd_fail(r, 0, "'step' and 'tensors' are required");
fail:
    return st;
}

static int find_tensor(const vimo_ckpt *c, const char *name);

static int by_name_cmp(const void *a, const void *b)
{
    return strcmp((*(const r_tensor *const *)a)->name, (*(const r_tensor *const *)b)->name);
}

/* Sorted index for lookups; also finds duplicate names. */
static vimo_status index_tensors(rd *r)
{
    vimo_ckpt *c = r->c;
    c->by_name = malloc(((size_t)c->nt + 1) * sizeof *c->by_name);
    if (!c->by_name) return vimo_error(VIMO_ERR_NOMEM, "ckpt: out of memory");
    for (int i = 0; i < c->nt; i++) c->by_name[i] = &c->t[i];
    qsort(c->by_name, (size_t)c->nt, sizeof *c->by_name, by_name_cmp);
    for (int i = 1; i < c->nt; i++) {
        const r_tensor *a = c->by_name[i - 1], *b = c->by_name[i];
        if (!strcmp(a->name, b->name))
            return rd_fail(r, a->at > b->at ? a->at : b->at, "tensor '%s' appears twice", a->name);
    }
    /* Moments of a stored tensor must have its size. */
    for (int k = 0; k < c->nmo; k++) {
        int i = find_tensor(c, c->mo[k].name);
        if (i >= 0 && (uint64_t)c->t[i].numel * 4 != c->mo[k].bytes)
            return rd_fail(r, c->mo[k].at, "moments '%s' have %zu bytes, the tensor %lld", c->mo[k].name,
                           c->mo[k].bytes, (long long)c->t[i].numel * 4);
    }
    return VIMO_OK;
}

void vimo_ckpt_close(vimo_ckpt *c)
{
    if (!c) return;
    for (int i = 0; i < c->nt; i++) free(c->t[i].name);
    for (int i = 0; i < c->nmo; i++) free(c->mo[i].name);
    free(c->t);
    free(c->mo);
    free(c->by_name);
    free(c->bound);
    kv_free(&c->config);
    kv_free(&c->meta);
    free(c->buf);
    free(c->path);
    free(c);
}

static vimo_status read_file(vimo_ckpt *c)
{
    vimo_status st = VIMO_OK;
    int fd = open(c->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vimo_error(errno == ENOENT ? VIMO_ERR_NOT_FOUND : VIMO_ERR_IO, "ckpt: %s: %s", c->path,
                          strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        st = vimo_error(VIMO_ERR_IO, "ckpt: %s: not a regular file", c->path);
        goto fail;
    }
    c->len = (size_t)sb.st_size;
    if (!(c->buf = malloc(c->len ? c->len : 1))) {
        st = vimo_error(VIMO_ERR_NOMEM, "ckpt: %s: cannot hold %zu bytes", c->path, c->len);
        goto fail;
    }
    for (size_t got = 0; got < c->len;) {
        ssize_t k = read(fd, c->buf + got, c->len - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            st = vimo_error(VIMO_ERR_IO, "ckpt: %s: read at %zu: %s", c->path, got, k ? strerror(errno) : "file shrank");
            goto fail;
        }
        got += (size_t)k;
    }
fail:
    close(fd);
    return st;
}

vimo_status vimo_ckpt_open(vimo_ckpt **out, const char *path)
{
    vimo_status st = VIMO_OK;
    if (!out || !path) return vimo_error(VIMO_ERR_INVALID, "ckpt_open: NULL argument");
    *out = NULL;
    vimo_ckpt *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(path))) {
        free(c);
        return vimo_error(VIMO_ERR_NOMEM, "ckpt_open: out of memory");
    }
    rd r = {c, 0, {0}};
    msgpack_unpacked_init(&r.u);
    VIMO_TRY(read_file(c));
    walk w = {c->buf, c->len, 0, 0, NULL};
    size_t end = 0;
    if (c->len == 0) {
        st = rd_fail(&r, 0, "empty file");
        goto fail;
    }
    if (!mp_walk(&w, &end, 0)) {
        st = rd_fail(&r, w.bad, "%s", w.why);
        goto fail;
    }
    if (end != c->len) {
        st = rd_fail(&r, end, "%zu bytes after the checkpoint", c->len - end);
        goto fail;
    }
    VIMO_TRY(read_top(&r));
    VIMO_TRY(index_tensors(&r));
    msgpack_unpacked_destroy(&r.u);
    *out = c;
    return VIMO_OK;
fail:
    msgpack_unpacked_destroy(&r.u);
    vimo_ckpt_close(c);
    return st;
}

/* ---- queries -------------------------------------------------------------- */

const char *vimo_ckpt_path(const vimo_ckpt *c) { return c ? c->path : NULL; }
int64_t vimo_ckpt_step(const vimo_ckpt *c) { return c ? c->step : 0; }

static const char *kv_get(const kv_list *l, const char *key)
{
    for (int i = 0; key && i < l->n; i++)
        if (!strcmp(l->e[i].key, key)) return l->e[i].value;
    return NULL;
}

int vimo_ckpt_config_count(const vimo_ckpt *c) { return c ? c->config.n : 0; }
const char *vimo_ckpt_config_key(const vimo_ckpt *c, int i)
{
    return c && i >= 0 && i < c->config.n ? c->config.e[i].key : NULL;
}
const char *vimo_ckpt_config_value(const vimo_ckpt *c, int i)
{
    return c && i >= 0 && i < c->config.n ? c->config.e[i].value : NULL;
}
const char *vimo_ckpt_config_get(const vimo_ckpt *c, const char *key) { return c ? kv_get(&c->config, key) : NULL; }
int vimo_ckpt_meta_count(const vimo_ckpt *c) { return c ? c->meta.n : 0; }
const char *vimo_ckpt_meta_key(const vimo_ckpt *c, int i)
{
    return c && i >= 0 && i < c->meta.n ? c->meta.e[i].key : NULL;
}
const char *vimo_ckpt_meta_value(const vimo_ckpt *c, int i)
{
    return c && i >= 0 && i < c->meta.n ? c->meta.e[i].value : NULL;
}
const char *vimo_ckpt_meta_get(const vimo_ckpt *c, const char *key) { return c ? kv_get(&c->meta, key) : NULL; }

int vimo_ckpt_num_tensors(const vimo_ckpt *c) { return c ? c->nt : 0; }
const char *vimo_ckpt_tensor_name(const vimo_ckpt *c, int i)
{
    return c && i >= 0 && i < c->nt ? c->t[i].name : NULL;
}

int vimo_ckpt_tensor_shape(const vimo_ckpt *c, int i, int64_t shape[VIMO_MAX_DIMS])
{
    if (!c || i < 0 || i >= c->nt) return 0;
    if (shape) memcpy(shape, c->t[i].shape, sizeof c->t[i].shape);
    return c->t[i].ndim;
}

static int find_tensor(const vimo_ckpt *c, const char *name)
{
    int lo = 0, hi = c->nt - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, k = strcmp(c->by_name[mid]->name, name);
        if (!k) return (int)(c->by_name[mid] - c->t);
        if (k < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static vimo_status lookup(const vimo_ckpt *c, const char *name, const char *op, int *idx)
{
    if (!c || !name) return vimo_error(VIMO_ERR_INVALID, "%s: NULL argument", op);
    if ((*idx = find_tensor(c, name)) < 0)
        return vimo_error(VIMO_ERR_NOT_FOUND, "ckpt: %s: no tensor '%s' (%d stored)", c->path, name, c->nt);
    return VIMO_OK;
}

vimo_status vimo_ckpt_read_f32(const vimo_ckpt *c, const char *name, float *dst, int64_t n)
{
    int i;
    vimo_status st = lookup(c, name, "ckpt_read_f32", &i);
    if (st) return st;
    if (!dst || n != c->t[i].numel)
        return vimo_error(VIMO_ERR_SHAPE, "ckpt: %s: tensor '%s' has %lld elements, asked for %lld", c->path, name,
                          (long long)c->t[i].numel, (long long)n);
    memcpy(dst, c->buf + c->t[i].data, (size_t)n * sizeof(float));
    return VIMO_OK;
}

static vimo_status bind_tensor(vimo_ckpt *c, const vimo_tensor *t, int idx)
{
    for (int i = 0; i < c->nbound; i++)
        if (c->bound[i].t == t) return c->bound[i].idx = idx, VIMO_OK;
    if (!grow((void **)&c->bound, &c->capbound, c->nbound, sizeof *c->bound))
        return vimo_error(VIMO_ERR_NOMEM, "ckpt: out of memory");
    c->bound[c->nbound++] = (r_bound){t, idx};
    return VIMO_OK;
}

vimo_status vimo_ckpt_get_tensor(vimo_ckpt *c, const char *name, vimo_tensor *dst)
{
    int i;
    vimo_status st = lookup(c, name, "ckpt_get_tensor", &i);
    if (st) return st;
    const r_tensor *t = &c->t[i];
    int same = dst && vimo_tensor_ndim(dst) == t->ndim;
    for (int d = 0; same && d < t->ndim; d++) same = vimo_tensor_dim(dst, d) == t->shape[d];
    if (!same) {
        char want[96] = "(", got[64];
        size_t u = 1;
        for (int d = 0; d < t->ndim; d++)
            u += (size_t)snprintf(want + u, sizeof want - u, d ? ", %lld" : "%lld", (long long)t->shape[d]);
        snprintf(want + u, sizeof want - u, t->ndim == 1 ? ",)" : ")");
        return vimo_error(VIMO_ERR_SHAPE, "ckpt: %s: tensor '%s' is %s, destination is %s", c->path, name, want,
                          dst ? vimo_tensor_shape_str(dst, got, sizeof got) : "NULL");
    }
    if (vimo_tensor_is_contiguous(dst) && vimo_tensor_device(dst) == VIMO_DEVICE_CPU) {
        memcpy(vimo_tensor_data(dst), c->buf + t->data, (size_t)t->numel * sizeof(float));
    } else { /* a view, or a tensor on a device: through a host copy */
        float *tmp = malloc((size_t)t->numel * sizeof(float));
        if (!tmp) return vimo_error(VIMO_ERR_NOMEM, "ckpt: out of memory");
        memcpy(tmp, c->buf + t->data, (size_t)t->numel * sizeof(float));
        st = vimo_tensor_copy_from(dst, tmp, t->numel);
        free(tmp);
        if (st) return st;
    }
    return bind_tensor(c, dst, i);
}

vimo_status vimo_ckpt_load_tensor(vimo_ckpt *c, const char *name, vimo_tensor **out)
{
    vimo_status st = VIMO_OK;
    vimo_tensor *t = NULL;
    int i;
    if (!out) return vimo_error(VIMO_ERR_INVALID, "ckpt_load_tensor: out is NULL");
    *out = NULL;
    VIMO_TRY(lookup(c, name, "ckpt_load_tensor", &i));
    VIMO_TRY(vimo_tensor_new(&t, c->t[i].ndim, c->t[i].shape));
    VIMO_TRY(vimo_tensor_set_name(t, name));
    VIMO_TRY(vimo_ckpt_get_tensor(c, name, t));
    *out = t;
    return VIMO_OK;
fail:
    vimo_tensor_free(t);
    return st;
}

vimo_status vimo_ckpt_load_module(vimo_ckpt *c, const char *prefix, const vimo_instance *inst)
{
    vimo_status st = VIMO_OK;
    if (!c) return vimo_error(VIMO_ERR_INVALID, "ckpt_load_module: NULL checkpoint");
    const vimo_module_iface *m = module_of(inst, "ckpt_load_module");
    if (!m) return VIMO_ERR_NOT_FOUND;
    void *h = vimo_instance_handle(inst);
    for (int i = 0; i < m->num_params(h); i++) {
        const char *pname = NULL;
        vimo_tensor *t = m->param(h, i, &pname);
        char name[CK_MAX_NAME + 1];
        join_name(name, sizeof name, prefix, pname);
        VIMO_TRY(vimo_ckpt_get_tensor(c, name, t));
    }
fail:
    return st;
}

int vimo_ckpt_has_rng(const vimo_ckpt *c) { return c ? c->has_rng : 0; }

vimo_status vimo_ckpt_get_rng(const vimo_ckpt *c, vimo_rng *rng)
{
    if (!c || !rng) return vimo_error(VIMO_ERR_INVALID, "ckpt_get_rng: NULL argument");
    if (!c->has_rng) return vimo_error(VIMO_ERR_NOT_FOUND, "ckpt: %s: no RNG state stored", c->path);
    *rng = c->rng;
    return VIMO_OK;
}

int vimo_ckpt_has_adamw(const vimo_ckpt *c) { return c ? c->has_adamw : 0; }

/* The name an optimiser parameter has in this checkpoint (see "Names"). */
static const char *reader_name_of(const vimo_ckpt *c, const vimo_tensor *p)
{
    for (int i = 0; i < c->nbound; i++)
        if (c->bound[i].t == p) return c->t[c->bound[i].idx].name;
    return vimo_tensor_name(p);
}

vimo_status vimo_ckpt_restore_adamw(vimo_ckpt *c, vimo_adamw *opt)
{
    if (!c || !opt) return vimo_error(VIMO_ERR_INVALID, "ckpt_restore_adamw: NULL argument");
    if (!c->has_adamw) return vimo_error(VIMO_ERR_NOT_FOUND, "ckpt: %s: no AdamW state stored", c->path);
    /* Pass 0 checks everything, pass 1 copies: all or nothing. */
    for (int pass = 0; pass < 2; pass++)
        for (int g = 0; g < vimo_adamw_num_groups(opt); g++)
            for (int i = 0; i < vimo_adamw_group_size(opt, g); i++) {
                vimo_tensor *p;
                vimo_adamw_moments(opt, g, i, &p, NULL, NULL);
                const char *name = reader_name_of(c, p);
                if (!name)
                    return vimo_error(VIMO_ERR_INVALID, "ckpt: %s: adamw group %d parameter %d has no name", c->path,
                                      g, i);
                const r_moment *mo = find_moment(c, name);
                if (!mo) return vimo_error(VIMO_ERR_NOT_FOUND, "ckpt: %s: no AdamW moments for '%s'", c->path, name);
                size_t bytes = (size_t)vimo_tensor_numel(p) * sizeof(float);
                if (mo->bytes != bytes)
                    return vimo_error(VIMO_ERR_SHAPE, "ckpt: %s: AdamW moments of '%s' have %zu bytes, parameter %zu",
                                      c->path, name, mo->bytes, bytes);
                if (mo->group != g)
                    return vimo_error(VIMO_ERR_INVALID, "ckpt: %s: '%s' was saved in AdamW group %d, is now in %d",
                                      c->path, name, mo->group, g);
                if (pass) { /* into host or device memory, wherever the moments live */
                    vimo_status st = vimo_adamw_moments_from_host(opt, g, i, (const float *)(c->buf + mo->m),
                                                                  (const float *)(c->buf + mo->v));
                    if (st) return st;
                }
            }
    vimo_adamw_set_steps(opt, c->adamw_step);
    return VIMO_OK;
}

vimo_status vimo_ckpt_export_safetensors(const vimo_ckpt *c, const char *path)
{
    vimo_status st = VIMO_OK;
    if (!c || !path) return vimo_error(VIMO_ERR_INVALID, "ckpt_export_safetensors: NULL argument");
    int64_t total = 0;
    for (int i = 0; i < c->nt; i++) total += c->t[i].numel;
    vimo_st_write_tensor *t = calloc((size_t)c->nt + 1, sizeof *t);
    float *data = malloc(((size_t)total + 1) * sizeof(float)); /* aligned copies of the file's bytes */
    const char **meta = calloc(2 * (size_t)c->meta.n + 3, sizeof *meta);
    char step[32];
    if (!t || !data || !meta) {
        st = vimo_error(VIMO_ERR_NOMEM, "ckpt_export_safetensors: out of memory");
        goto fail;
    }
    int64_t at = 0;
    for (int i = 0; i < c->nt; i++) {
        memcpy(data + at, c->buf + c->t[i].data, (size_t)c->t[i].numel * sizeof(float));
        t[i] = (vimo_st_write_tensor){c->t[i].name, c->t[i].ndim, c->t[i].shape, data + at};
        at += c->t[i].numel;
    }
    int k = 0;
    for (int i = 0; i < c->meta.n; i++)
        if (strcmp(c->meta.e[i].key, "vimo.step")) meta[k++] = c->meta.e[i].key, meta[k++] = c->meta.e[i].value;
    snprintf(step, sizeof step, "%lld", (long long)c->step);
    meta[k++] = "vimo.step";
    meta[k++] = step;
    st = vimo_safetensors_write_f32(path, t, (size_t)c->nt, meta);
fail:
    free(t);
    free(data);
    free(meta);
    return st;
}
