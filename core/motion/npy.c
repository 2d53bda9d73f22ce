/*
 * npy.c - NumPy .npy reader/writer for float arrays (see vimo/npy.h).
 *
 * The header dict is parsed by a tiny recursive-descent parser for the subset
 * of Python literals numpy writes: strings, True/False and tuples of ints.
 * Deliberately no support for other dtypes, .npz or memory mapping.
 */
#include "vimo/npy.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAX_HEADER (1u << 20) /* numpy itself caps headers far lower */
#define NPY_MAX_DATA ((int64_t)1 << 34)

typedef struct hdr {
    const char *path;
    const char *s; /* header text */
    size_t n, i;
    size_t base;   /* file offset of s[0], for messages */
} hdr;

static vimo_status hdr_err(const hdr *h, const char *what)
{
    return vimo_error(VIMO_ERR_FORMAT, "npy: %s: byte %zu: %s", h->path, h->base + h->i, what);
}

static void hdr_ws(hdr *h)
{
    while (h->i < h->n && (h->s[h->i] == ' ' || h->s[h->i] == '\t' || h->s[h->i] == '\n' ||
                           h->s[h->i] == '\r'))
        h->i++;
}

static int hdr_eat(hdr *h, char c)
{
    hdr_ws(h);
    if (h->i < h->n && h->s[h->i] == c) {
        h->i++;
        return 1;
    }
    return 0;
}

/* Quoted string (single or double quotes, no escapes: numpy never writes any). */
static vimo_status hdr_str(hdr *h, char *buf, size_t cap)
{
    hdr_ws(h);
    if (h->i >= h->n || (h->s[h->i] != '\'' && h->s[h->i] != '"'))
        return hdr_err(h, "expected a quoted string");
    char q = h->s[h->i++];
    size_t k = 0;
    while (h->i < h->n && h->s[h->i] != q) {
        if (h->s[h->i] == '\\') return hdr_err(h, "escapes in header strings are not supported");
        if (k + 1 >= cap) return hdr_err(h, "header string too long");
        buf[k++] = h->s[h->i++];
    }
    if (h->i >= h->n) return hdr_err(h, "unterminated string");
    h->i++;
    buf[k] = '\0';
    return VIMO_OK;
}

static vimo_status hdr_bool(hdr *h, int *out)
{
    hdr_ws(h);
    if (h->n - h->i >= 4 && memcmp(h->s + h->i, "True", 4) == 0) {
        h->i += 4;
        *out = 1;
        return VIMO_OK;
    }
    if (h->n - h->i >= 5 && memcmp(h->s + h->i, "False", 5) == 0) {
        h->i += 5;
        *out = 0;
        return VIMO_OK;
    }
    return hdr_err(h, "expected True or False");
}

static vimo_status hdr_shape(hdr *h, vimo_npy *a)
{
    if (!hdr_eat(h, '(')) return hdr_err(h, "expected '(' for shape");
    a->ndim = 0;
    for (;;) {
        if (hdr_eat(h, ')')) break;
        hdr_ws(h);
        if (h->i >= h->n || h->s[h->i] < '0' || h->s[h->i] > '9')
            return hdr_err(h, "expected a non-negative integer in shape");
        int64_t v = 0;
        while (h->i < h->n && h->s[h->i] >= '0' && h->s[h->i] <= '9') {
            if (v > (INT64_MAX - 9) / 10) return hdr_err(h, "shape entry too large");
            v = v * 10 + (h->s[h->i++] - '0');
        }
        if (h->i < h->n && h->s[h->i] == 'L') h->i++; /* Python 2 longs */
        if (a->ndim >= VIMO_NPY_MAX_DIMS) return hdr_err(h, "too many dimensions");
        a->shape[a->ndim++] = v;
        if (hdr_eat(h, ',')) continue;
        if (hdr_eat(h, ')')) break;
        return hdr_err(h, "expected ',' or ')' in shape");
    }
    return VIMO_OK;
}

/* Parses the dict; sets *elem_bytes to 4 or 8. */
static vimo_status hdr_parse(hdr *h, vimo_npy *a, int *elem_bytes)
{
    vimo_status st = VIMO_OK;
    int seen_descr = 0, seen_fortran = 0, seen_shape = 0, fortran = 0;
    char key[32], descr[32];
    if (!hdr_eat(h, '{')) return hdr_err(h, "header does not start with '{'");
    for (;;) {
        if (hdr_eat(h, '}')) break;
        VIMO_TRY(hdr_str(h, key, sizeof key));
        if (!hdr_eat(h, ':')) return hdr_err(h, "expected ':'");
        size_t at = h->i;
        if (strcmp(key, "descr") == 0 && !seen_descr) {
            hdr_ws(h);
            at = h->i;
            VIMO_TRY(hdr_str(h, descr, sizeof descr));
            seen_descr = 1;
            if (descr[0] == '>') {
                h->i = at;
                return hdr_err(h, "big-endian data is not supported");
            }
            if (strcmp(descr, "<f4") == 0 || strcmp(descr, "|f4") == 0) {
                *elem_bytes = 4;
            } else if (strcmp(descr, "<f8") == 0 || strcmp(descr, "|f8") == 0) {
                *elem_bytes = 8;
            } else {
                h->i = at;
                char msg[96];
                snprintf(msg, sizeof msg, "dtype '%s' is not supported (only <f4, <f8)", descr);
                return hdr_err(h, msg);
            }
        } else if (strcmp(key, "fortran_order") == 0 && !seen_fortran) {
            VIMO_TRY(hdr_bool(h, &fortran));
            seen_fortran = 1;
            if (fortran) {
                h->i = at;
                hdr_ws(h);
                return hdr_err(h, "fortran_order True is not supported");
            }
        } else if (strcmp(key, "shape") == 0 && !seen_shape) {
            VIMO_TRY(hdr_shape(h, a));
            seen_shape = 1;
        } else {
            h->i = at;
            return hdr_err(h, "unexpected or repeated key in header dict");
        }
        if (hdr_eat(h, ',')) continue;
        if (hdr_eat(h, '}')) break;
        return hdr_err(h, "expected ',' or '}'");
    }
    if (!seen_descr || !seen_fortran || !seen_shape)
        return hdr_err(h, "header lacks one of 'descr', 'fortran_order', 'shape'");
    hdr_ws(h);
    if (h->i != h->n) return hdr_err(h, "trailing characters after header dict");
fail:
    return st;
}

static uint32_t rd_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Decodes n little-endian elements of elem_bytes each into float32. */
static void decode(float *dst, const unsigned char *src, int64_t n, int elem_bytes)
{
    for (int64_t i = 0; i < n; i++) {
        if (elem_bytes == 4) {
            uint32_t u = rd_le32(src + 4 * i);
            memcpy(&dst[i], &u, 4);
        } else {
            uint64_t u = (uint64_t)rd_le32(src + 8 * i) | (uint64_t)rd_le32(src + 8 * i + 4) << 32;
            double d;
            memcpy(&d, &u, 8);
            dst[i] = (float)d;
        }
    }
}

void vimo_npy_free(vimo_npy *a)
{
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

vimo_status vimo_npy_load(const char *path, vimo_npy *out)
{
    vimo_status st = VIMO_OK;
    FILE *f = NULL;
    char *text = NULL;
    unsigned char *raw = NULL;
    if (!path || !out) return vimo_error(VIMO_ERR_INVALID, "npy: NULL argument");
    memset(out, 0, sizeof *out);

    f = fopen(path, "rb");
    if (!f) return vimo_error(VIMO_ERR_IO, "npy: %s: %s", path, strerror(errno));
    if (fseeko(f, 0, SEEK_END) != 0) {
        st = vimo_error(VIMO_ERR_IO, "npy: %s: cannot seek", path);
        goto fail;
    }
    int64_t fsize = (int64_t)ftello(f);
    rewind(f);

    unsigned char pre[12];
    size_t got = fread(pre, 1, 10, f);
    if (got < 10 || memcmp(pre, NPY_MAGIC, 6) != 0) {
        st = vimo_error(VIMO_ERR_FORMAT, "npy: %s: byte 0: not an .npy file (bad magic)", path);
        goto fail;
    }
    int major = pre[6], minor = pre[7];
    size_t hlen, hstart;
    if (major == 1 && minor == 0) {
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
        hstart = 10;
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            st = vimo_error(VIMO_ERR_FORMAT, "npy: %s: byte 10: truncated header length", path);
            goto fail;
        }
        hlen = rd_le32(pre + 8);
        hstart = 12;
    } else {
        st = vimo_error(VIMO_ERR_FORMAT, "npy: %s: byte 6: unsupported format version %d.%d", path,
                        major, minor);
        goto fail;
    }
    if (hlen > NPY_MAX_HEADER || (int64_t)(hstart + hlen) > fsize) {
        st = vimo_error(VIMO_ERR_FORMAT, "npy: %s: byte 8: header length %zu exceeds the file (%lld bytes)",
                        path, hlen, (long long)fsize);
        goto fail;
    }
    text = malloc(hlen + 1);
    if (!text) {
        st = vimo_error(VIMO_ERR_NOMEM, "npy: %s: out of memory", path);
        goto fail;
    }
    if (fread(text, 1, hlen, f) != hlen) {
        st = vimo_error(VIMO_ERR_IO, "npy: %s: short read in header", path);
        goto fail;
    }
    text[hlen] = '\0';
    for (size_t k = 0; k < hlen; k++) {
        if (text[k] == '\0') {
            st = vimo_error(VIMO_ERR_FORMAT, "npy: %s: byte %zu: NUL byte in header", path, hstart + k);
            goto fail;
        }
    }
    int elem = 0;
    hdr h = {path, text, hlen, 0, hstart};
    VIMO_TRY(hdr_parse(&h, out, &elem));

    int64_t count = 1;
    for (int d = 0; d < out->ndim; d++) {
        if (out->shape[d] != 0 && count > NPY_MAX_DATA / out->shape[d]) {
            st = vimo_error(VIMO_ERR_FORMAT, "npy: %s: byte %zu: shape too large", path, hstart);
            goto fail;
        }
        count *= out->shape[d];
    }
    int64_t dbytes = count * elem;
    int64_t have = fsize - (int64_t)(hstart + hlen);
    if (dbytes != have) {
        st = vimo_error(VIMO_ERR_FORMAT,
                        "npy: %s: byte %zu: shape needs %lld data bytes but the file holds %lld", path,
                        hstart + hlen, (long long)dbytes, (long long)have);
        goto fail;
    }
    out->count = count;
    out->file_dtype_bytes = elem;
    out->data = malloc(count > 0 ? (size_t)count * sizeof(float) : 1);
    raw = malloc(dbytes > 0 ? (size_t)dbytes : 1);
    if (!out->data || !raw) {
        st = vimo_error(VIMO_ERR_NOMEM, "npy: %s: out of memory for %lld elements", path, (long long)count);
        goto fail;
    }
    if (fread(raw, 1, (size_t)dbytes, f) != (size_t)dbytes) {
        st = vimo_error(VIMO_ERR_IO, "npy: %s: byte %zu: short read in data", path, hstart + hlen);
        goto fail;
    }
    decode(out->data, raw, count, elem);
    free(raw);
    free(text);
    fclose(f);
    return VIMO_OK;
fail:
    free(raw);
    free(text);
    if (f) fclose(f);
    vimo_npy_free(out);
    return st;
}

vimo_status vimo_npy_save(const char *path, const float *data, int ndim, const int64_t *shape)
{
    vimo_status st = VIMO_OK;
    FILE *f = NULL;
    char *tmp = NULL;
    if (!path || ndim < 0 || ndim > VIMO_NPY_MAX_DIMS || (ndim > 0 && !shape))
        return vimo_error(VIMO_ERR_INVALID, "npy: save: bad arguments");
    int64_t count = 1;
    char shp[256];
    size_t k = 0;
    shp[k++] = '(';
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) return vimo_error(VIMO_ERR_INVALID, "npy: save: negative dimension");
        if (shape[d] != 0 && count > NPY_MAX_DATA / shape[d])
            return vimo_error(VIMO_ERR_INVALID, "npy: save: shape too large");
        count *= shape[d];
        k += (size_t)snprintf(shp + k, sizeof shp - k, "%lld,%s", (long long)shape[d],
                              (ndim > 1 && d + 1 < ndim) ? " " : "");
    }
    if (ndim > 1) k--; /* numpy writes (2, 3) but (5,) */
    snprintf(shp + k, sizeof shp - k, ")");
    if (count > 0 && !data) return vimo_error(VIMO_ERR_INVALID, "npy: save: NULL data");

    char header[512];
    int n = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }",
                     shp);
    size_t total = 10 + (size_t)n + 1;
    size_t pad = (64 - total % 64) % 64;
    memset(header + n, ' ', pad);
    header[n + pad] = '\n';
    size_t hlen = (size_t)n + pad + 1;

    size_t plen = strlen(path);
    tmp = malloc(plen + 5);
    if (!tmp) return vimo_error(VIMO_ERR_NOMEM, "npy: save: out of memory");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    f = fopen(tmp, "wb");
    if (!f) {
        st = vimo_error(VIMO_ERR_IO, "npy: %s: %s", tmp, strerror(errno));
        goto fail;
    }
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(header, 1, hlen, f) == hlen;
    unsigned char buf[4096];
    for (int64_t i = 0; ok && i < count;) {
        size_t m = 0;
        for (; m < sizeof buf && i < count; m += 4, i++) {
            uint32_t u;
            memcpy(&u, &data[i], 4);
            buf[m] = (unsigned char)u;
            buf[m + 1] = (unsigned char)(u >> 8);
            buf[m + 2] = (unsigned char)(u >> 16);
            buf[m + 3] = (unsigned char)(u >> 24);
        }
        ok = fwrite(buf, 1, m, f) == m;
    }
    if (fclose(f) != 0) ok = 0;
    f = NULL;
    if (!ok) {
        st = vimo_error(VIMO_ERR_IO, "npy: %s: write failed", tmp);
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        st = vimo_error(VIMO_ERR_IO, "npy: rename %s -> %s: %s", tmp, path, strerror(errno));
        goto fail;
    }
    free(tmp);
    return VIMO_OK;
fail:
    if (f) fclose(f);
    if (tmp) {
        remove(tmp);
        free(tmp);
    }
    return st;
}
