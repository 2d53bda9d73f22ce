/*
 * safetensors.c - safetensors reader (mmap, validated header) and atomic F32
 * writer. See vimo/safetensors.h for the contract and the format.
 *
 * Deliberately not here: dtypes other than F32 on write, big-endian hosts,
 * lazy/partial header parsing (the whole header is validated on open).
 */
#include "vimo/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_MAX_HEADER (100u * 1024u * 1024u) /* the reference reader's limit */

struct vimo_safetensors {
    char *path;
    void *map;
    size_t size;                 /* file size                        */
    size_t data_start;           /* 8 + N                            */
    cJSON *header;
    vimo_st_tensor *tensors;     /* (n), sorted by data offset       */
    const vimo_st_tensor **by_name; /* (n), sorted by name           */
    size_t n;
};

static const struct {
    const char *name;
    size_t size;
} g_dtypes[] = {
    [VIMO_ST_F32] = {"F32", 4},       [VIMO_ST_F16] = {"F16", 2},   [VIMO_ST_BF16] = {"BF16", 2},
    [VIMO_ST_F64] = {"F64", 8},       [VIMO_ST_I64] = {"I64", 8},   [VIMO_ST_I32] = {"I32", 4},
    [VIMO_ST_I16] = {"I16", 2},       [VIMO_ST_I8] = {"I8", 1},     [VIMO_ST_U64] = {"U64", 8},
    [VIMO_ST_U32] = {"U32", 4},       [VIMO_ST_U16] = {"U16", 2},   [VIMO_ST_U8] = {"U8", 1},
    [VIMO_ST_BOOL] = {"BOOL", 1},     [VIMO_ST_F8_E4M3] = {"F8_E4M3", 1},
    [VIMO_ST_F8_E5M2] = {"F8_E5M2", 1},
};
#define N_DTYPES (sizeof g_dtypes / sizeof g_dtypes[0])

const char *vimo_st_dtype_name(vimo_st_dtype dt)
{
    return (unsigned)dt < N_DTYPES ? g_dtypes[dt].name : "?";
}

size_t vimo_st_dtype_size(vimo_st_dtype dt)
{
    return (unsigned)dt < N_DTYPES ? g_dtypes[dt].size : 0;
}

static int dtype_from_name(const char *s, vimo_st_dtype *dt)
{
    for (size_t i = 0; i < N_DTYPES; i++)
        if (strcmp(s, g_dtypes[i].name) == 0) {
            *dt = (vimo_st_dtype)i;
            return 1;
        }
    return 0;
}

/* ---- conversion ---------------------------------------------------------- */

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31u, m = h & 1023u, bits;
    if (e == 0) { /* zero or subnormal: m * 2^-24, exact in float */
        float v = ldexpf((float)m, -24);
        return sign ? -v : v;
    }
    if (e == 31) bits = sign | 0x7F800000u | (m << 13); /* inf / NaN */
    else bits = sign | ((e + 112u) << 23) | (m << 13);  /* rebias 15 -> 127 */
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

vimo_status vimo_st_to_f32(vimo_st_dtype dt, const void *src, float *dst, size_t n)
{
    const unsigned char *p = src;
    switch (dt) {
    case VIMO_ST_F32: memcpy(dst, src, n * 4); return VIMO_OK;
    case VIMO_ST_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = half_to_float(h);
        }
        return VIMO_OK;
    case VIMO_ST_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            uint32_t bits = (uint32_t)h << 16;
            memcpy(dst + i, &bits, 4);
        }
        return VIMO_OK;
    default:
        return vimo_error(VIMO_ERR_UNSUPPORTED, "safetensors: cannot convert %s to F32",
                          vimo_st_dtype_name(dt));
    }
}

/* ---- reader -------------------------------------------------------------- */

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* A JSON number that is an integer in [0, 2^53]. */
static int json_uint(const cJSON *j, uint64_t *v)
{
    if (!cJSON_IsNumber(j)) return 0;
    double d = j->valuedouble;
    if (!(d >= 0.0 && d <= 9007199254740992.0) || d != floor(d)) return 0;
    *v = (uint64_t)d;
    return 1;
}

static vimo_status parse_entry(vimo_safetensors *sf, const cJSON *e, vimo_st_tensor *t)
{
    const char *f = base_name(sf->path), *name = e->string;
    if (!cJSON_IsObject(e))
        return vimo_error(VIMO_ERR_FORMAT, "safetensors: %s: tensor '%s': entry is not an object", f, name);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(jd) || !dtype_from_name(jd->valuestring, &t->dtype))
        return vimo_error(VIMO_ERR_FORMAT, "safetensors: %s: tensor '%s': missing or unknown dtype%s%s", f,
                          name, cJSON_IsString(jd) ? " " : "", cJSON_IsString(jd) ? jd->valuestring : "");
    if (!cJSON_IsArray(js) || cJSON_GetArraySize(js) > VIMO_ST_MAX_DIMS)
        return vimo_error(VIMO_ERR_FORMAT, "safetensors: %s: tensor '%s': shape missing or over %d dims", f,
                          name, VIMO_ST_MAX_DIMS);
    t->name = name;
    t->ndim = 0;
    uint64_t numel = 1;
    const cJSON *d;
    cJSON_ArrayForEach(d, js)
    {
        uint64_t v;
        if (!json_uint(d, &v))
            return vimo_error(VIMO_ERR_FORMAT, "safetensors: %s: tensor '%s': shape has a bad dim", f, name);
        if (v && numel > (UINT64_MAX / 16) / v)
            return vimo_error(VIMO_ERR_FORMAT, "safetensors: %s: tensor '%s': shape too large", f, name);
        numel *= v;
        t->shape[t->ndim++] = (int64_t)v;
    }
    uint64_t b, en;
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 || !json_uint(cJSON_GetArrayItem(jo, 0), &b) ||
        !json_uint(cJSON_GetArrayItem(jo, 1), &en) || b > en)
        return vimo_error(VIMO_ERR_FORMAT, "safetensors: %s: tensor '%s': bad data_offsets", f, name);
    size_t data_size = sf->size - sf->data_start;
    if (en > data_size)
        return vimo_error(VIMO_ERR_FORMAT,
                          "safetensors: %s: tensor '%s': data_offsets [%llu, %llu] outside the data buffer "
                          "(%zu bytes; file %zu bytes)",
                          f, name, (unsigned long long)b, (unsigned long long)en, data_size, sf->size);
    uint64_t want = numel * vimo_st_dtype_size(t->dtype);
    if (en - b != want)
        return vimo_error(VIMO_ERR_FORMAT,
                          "safetensors: %s: tensor '%s': %llu bytes in data_offsets but %s x %llu elements "
                          "needs %llu",
                          f, name, (unsigned long long)(en - b), vimo_st_dtype_name(t->dtype),
                          (unsigned long long)numel, (unsigned long long)want);
    t->numel = (int64_t)numel;
    t->nbytes = (size_t)want;
    t->file_offset = sf->data_start + (size_t)b;
    t->data = (const unsigned char *)sf->map + t->file_offset;
    return VIMO_OK;
}

static int cmp_offset(const void *a, const void *b)
{
    const vimo_st_tensor *x = a, *y = b;
    return (x->file_offset > y->file_offset) - (x->file_offset < y->file_offset);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp((*(const vimo_st_tensor *const *)a)->name, (*(const vimo_st_tensor *const *)b)->name);
}

/* Sorted by offset: each tensor starts where the previous ended, the first at
 * 0 and the last ends at the end of the file (no overlap, no hole). */
static vimo_status check_layout(vimo_safetensors *sf)
{
    const char *f = base_name(sf->path);
    size_t at = sf->data_start;
    for (size_t i = 0; i < sf->n; i++) {
        const vimo_st_tensor *t = &sf->tensors[i];
        if (t->file_offset < at)
            return vimo_error(VIMO_ERR_FORMAT, "safetensors: %s: tensor '%s' overlaps tensor '%s'", f, t->name,
                              sf->tensors[i - 1].name);
        if (t->file_offset > at)
            return vimo_error(VIMO_ERR_FORMAT, "safetensors: %s: tensor '%s': %zu unused bytes before it", f,
                              t->name, t->file_offset - at);
        at += t->nbytes;
    }
    if (at != sf->size)
        return vimo_error(VIMO_ERR_FORMAT, "safetensors: %s: %zu bytes after the last tensor", f, sf->size - at);
    for (size_t i = 0; i < sf->n; i++) sf->by_name[i] = &sf->tensors[i];
    qsort(sf->by_name, sf->n, sizeof *sf->by_name, cmp_name);
    for (size_t i = 1; i < sf->n; i++)
        if (strcmp(sf->by_name[i - 1]->name, sf->by_name[i]->name) == 0)
            return vimo_error(VIMO_ERR_FORMAT, "safetensors: %s: tensor '%s' appears twice", f,
                              sf->by_name[i]->name);
    return VIMO_OK;
}

static vimo_status parse_header(vimo_safetensors *sf)
{
    const char *f = base_name(sf->path);
    const unsigned char *p = sf->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | p[i];
    if (hlen > ST_MAX_HEADER || hlen + 8 > sf->size)
        return vimo_error(VIMO_ERR_FORMAT, "safetensors: %s: header length %llu beyond the file (%zu bytes)%s", f,
                          (unsigned long long)hlen, sf->size, hlen > ST_MAX_HEADER ? " or over 100 MB" : "");
    sf->data_start = 8 + (size_t)hlen;
    const char *json = (const char *)p + 8, *end = NULL;
    sf->header = cJSON_ParseWithLengthOpts(json, (size_t)hlen, &end, 0);
    if (!sf->header || !cJSON_IsObject(sf->header))
        return vimo_error(VIMO_ERR_FORMAT, "safetensors: %s: offset %zu: header is not a JSON object", f,
                          (size_t)(8 + (end && end >= json ? end - json : 0)));
    for (const char *q = end; q && q < json + hlen; q++) /* only padding may follow */
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r' && *q != '\0')
            return vimo_error(VIMO_ERR_FORMAT, "safetensors: %s: offset %zu: bytes after the JSON header", f,
                              (size_t)(8 + (q - json)));
    size_t n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, sf->header) n += strcmp(e->string, "__metadata__") != 0;
    sf->tensors = calloc(n ? n : 1, sizeof *sf->tensors);
    sf->by_name = calloc(n ? n : 1, sizeof *sf->by_name);
    if (!sf->tensors || !sf->by_name) return vimo_error(VIMO_ERR_NOMEM, "safetensors: %s: out of memory", f);
    cJSON_ArrayForEach(e, sf->header)
    {
        if (strcmp(e->string, "__metadata__") == 0) {
            const cJSON *m;
            if (!cJSON_IsObject(e))
                return vimo_error(VIMO_ERR_FORMAT, "safetensors: %s: __metadata__ is not an object", f);
            cJSON_ArrayForEach(m, e)
            {
                if (!cJSON_IsString(m))
                    return vimo_error(VIMO_ERR_FORMAT, "safetensors: %s: __metadata__ value '%s' is not a string",
                                      f, m->string);
            }
            continue;
        }
        vimo_status s = parse_entry(sf, e, &sf->tensors[sf->n]);
        if (s) return s;
        sf->n++;
    }
    qsort(sf->tensors, sf->n, sizeof *sf->tensors, cmp_offset);
    return check_layout(sf);
}

vimo_status vimo_safetensors_open(const char *path, vimo_safetensors **out)
{
    vimo_status st = VIMO_OK;
    vimo_safetensors *sf = NULL;
    int fd = -1;
    struct stat sb;
    if (!path || !out) return vimo_error(VIMO_ERR_INVALID, "safetensors: NULL argument");
    *out = NULL;
    sf = calloc(1, sizeof *sf);
    if (!sf || !(sf->path = strdup(path))) {
        st = vimo_error(VIMO_ERR_NOMEM, "safetensors: out of memory");
        goto fail;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0) {
        st = vimo_error(errno == ENOENT ? VIMO_ERR_NOT_FOUND : VIMO_ERR_IO, "safetensors: %s: %s", path,
                        strerror(errno));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode) || sb.st_size < 8) {
        st = vimo_error(VIMO_ERR_FORMAT, "safetensors: %s: %s", path,
                        S_ISREG(sb.st_mode) ? "shorter than the 8-byte header length" : "not a regular file");
        goto fail;
    }
    sf->size = (size_t)sb.st_size;
    sf->map = mmap(NULL, sf->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (sf->map == MAP_FAILED) {
        sf->map = NULL;
        st = vimo_error(VIMO_ERR_IO, "safetensors: %s: mmap: %s", path, strerror(errno));
        goto fail;
    }
    VIMO_TRY(parse_header(sf));
    close(fd);
    *out = sf;
    return VIMO_OK;
fail:
    if (fd >= 0) close(fd);
    vimo_safetensors_close(sf);
    return st;
}

void vimo_safetensors_close(vimo_safetensors *sf)
{
    if (!sf) return;
    if (sf->map) munmap(sf->map, sf->size);
    cJSON_Delete(sf->header);
    free(sf->tensors);
    free(sf->by_name);
    free(sf->path);
    free(sf);
}

const char *vimo_safetensors_path(const vimo_safetensors *sf) { return sf ? sf->path : ""; }

size_t vimo_safetensors_count(const vimo_safetensors *sf) { return sf ? sf->n : 0; }

const vimo_st_tensor *vimo_safetensors_at(const vimo_safetensors *sf, size_t i)
{
    return sf && i < sf->n ? &sf->tensors[i] : NULL;
}

const vimo_st_tensor *vimo_safetensors_get(const vimo_safetensors *sf, const char *name)
{
    if (!sf || !name) return NULL;
    size_t lo = 0, hi = sf->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(sf->by_name[mid]->name, name);
        if (c == 0) return sf->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const char *vimo_safetensors_metadata(const vimo_safetensors *sf, const char *key)
{
    if (!sf || !key) return NULL;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(sf->header, "__metadata__");
    const cJSON *v = m ? cJSON_GetObjectItemCaseSensitive(m, key) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

vimo_status vimo_safetensors_read_f32(const vimo_safetensors *sf, const char *name, float *dst, size_t n)
{
    if (!sf || !name || (!dst && n)) return vimo_error(VIMO_ERR_INVALID, "safetensors: NULL argument");
    const vimo_st_tensor *t = vimo_safetensors_get(sf, name);
    if (!t)
        return vimo_error(VIMO_ERR_NOT_FOUND, "safetensors: %s: no tensor '%s'", base_name(sf->path), name);
    if ((size_t)t->numel != n)
        return vimo_error(VIMO_ERR_SHAPE, "safetensors: %s: tensor '%s' has %lld elements, caller expects %zu",
                          base_name(sf->path), name, (long long)t->numel, n);
    if (t->dtype != VIMO_ST_F32 && t->dtype != VIMO_ST_F16 && t->dtype != VIMO_ST_BF16)
        return vimo_error(VIMO_ERR_UNSUPPORTED, "safetensors: %s: tensor '%s' is %s, not F32/F16/BF16",
                          base_name(sf->path), name, vimo_st_dtype_name(t->dtype));
    return vimo_st_to_f32(t->dtype, t->data, dst, n);
}

/* ---- writer -------------------------------------------------------------- */

static vimo_status check_write_args(const char *path, const vimo_st_write_tensor *t, size_t n)
{
    if (!path || (!t && n)) return vimo_error(VIMO_ERR_INVALID, "safetensors: write: NULL argument");
    for (size_t i = 0; i < n; i++) {
        if (!t[i].name || !t[i].name[0] || strcmp(t[i].name, "__metadata__") == 0)
            return vimo_error(VIMO_ERR_INVALID, "safetensors: write %s: tensor %zu has a bad name", path, i);
        if (t[i].ndim < 0 || t[i].ndim > VIMO_ST_MAX_DIMS || (t[i].ndim && !t[i].shape))
            return vimo_error(VIMO_ERR_INVALID, "safetensors: write %s: tensor '%s': bad ndim %d", path,
                              t[i].name, t[i].ndim);
        uint64_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) {
            if (t[i].shape[d] < 0 || (t[i].shape[d] && numel > (UINT64_MAX / 16) / (uint64_t)t[i].shape[d]))
                return vimo_error(VIMO_ERR_INVALID, "safetensors: write %s: tensor '%s': bad shape", path,
                                  t[i].name);
            numel *= (uint64_t)t[i].shape[d];
        }
        if (numel && !t[i].data)
            return vimo_error(VIMO_ERR_INVALID, "safetensors: write %s: tensor '%s': NULL data", path, t[i].name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(t[i].name, t[j].name) == 0)
                return vimo_error(VIMO_ERR_INVALID, "safetensors: write %s: tensor '%s' given twice", path,
                                  t[i].name);
    }
    return VIMO_OK;
}

static size_t numel_of(const vimo_st_write_tensor *t)
{
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
    return n;
}

/* The JSON header, padded with spaces so that 8 + its length is a multiple of 8. */
static char *build_header(const vimo_st_write_tensor *t, size_t n, const char *const *meta, size_t *len)
{
    cJSON *root = cJSON_CreateObject(), *m;
    char *txt = NULL, *padded = NULL;
    if (!root) return NULL;
    if (meta && meta[0]) {
        if (!(m = cJSON_AddObjectToObject(root, "__metadata__"))) goto done;
        for (size_t i = 0; meta[i] && meta[i + 1]; i += 2)
            if (!cJSON_AddStringToObject(m, meta[i], meta[i + 1])) goto done;
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(root, t[i].name), *sh, *of;
        if (!e || !cJSON_AddStringToObject(e, "dtype", "F32") || !(sh = cJSON_AddArrayToObject(e, "shape")))
            goto done;
        for (int d = 0; d < t[i].ndim; d++)
            if (!cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t[i].shape[d]))) goto done;
        size_t nb = numel_of(&t[i]) * 4;
        if (!(of = cJSON_AddArrayToObject(e, "data_offsets")) ||
            !cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off)) ||
            !cJSON_AddItemToArray(of, cJSON_CreateNumber((double)(off + nb))))
            goto done;
        off += nb;
    }
    if (!(txt = cJSON_PrintUnformatted(root))) goto done;
    size_t l = strlen(txt), pl = (l + 7) & ~(size_t)7;
    if ((padded = malloc(pl + 1))) {
        memcpy(padded, txt, l);
        memset(padded + l, ' ', pl - l);
        padded[pl] = '\0';
        *len = pl;
    }
done:
    free(txt);
    cJSON_Delete(root);
    return padded;
}

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int fsync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy) return -1;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = -1;
    if (fd >= 0) {
        rc = fsync(fd);
        close(fd);
    }
    free(copy);
    return rc;
}

vimo_status vimo_safetensors_write_f32(const char *path, const vimo_st_write_tensor *t, size_t n,
                                       const char *const *meta)
{
    vimo_status st = VIMO_OK;
    char *hdr = NULL, *tmp = NULL;
    int fd = -1;
    size_t hlen = 0;
    VIMO_TRY(check_write_args(path, t, n));
    if (!(hdr = build_header(t, n, meta, &hlen)) || !(tmp = malloc(strlen(path) + 16))) {
        st = vimo_error(VIMO_ERR_NOMEM, "safetensors: write %s: out of memory", path);
        goto fail;
    }
    sprintf(tmp, "%s.tmp.XXXXXX", path);
    if ((fd = mkstemp(tmp)) < 0) {
        st = vimo_error(VIMO_ERR_IO, "safetensors: write %s: %s", tmp, strerror(errno));
        free(tmp);
        tmp = NULL;
        goto fail;
    }
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    int bad = write_all(fd, le, 8) || write_all(fd, hdr, hlen);
    for (size_t i = 0; i < n && !bad; i++) bad = write_all(fd, t[i].data, numel_of(&t[i]) * 4);
    if (bad || fsync(fd) != 0 || close(fd) != 0) {
        fd = -1;
        st = vimo_error(VIMO_ERR_IO, "safetensors: write %s: %s", tmp, strerror(errno));
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        st = vimo_error(VIMO_ERR_IO, "safetensors: rename %s -> %s: %s", tmp, path, strerror(errno));
        goto fail;
    }
    free(tmp);
    tmp = NULL;
    if (fsync_dir_of(path) != 0) {
        st = vimo_error(VIMO_ERR_IO, "safetensors: write %s: fsync of its folder: %s", path, strerror(errno));
        goto fail;
    }
    free(hdr);
    return VIMO_OK;
fail:
    if (fd >= 0) close(fd);
    if (tmp) unlink(tmp);
    free(tmp);
    free(hdr);
    return st;
}
