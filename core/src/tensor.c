/*
 * tensor.c - caller-owned tensors: allocation, inspection, copies, grads.
 * Context-owned tensors and autograd live in ctx.c; ops in ops_*.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor_impl.h"

vimo_status vt_device_copy(const vimo_tensor *t, float *host, int to_device);
void vt_device_fill(vimo_tensor *t, float v);

/* Largest tensor vimo allocates: 2^34 floats (64 GiB) guards against
 * hostile shapes overflowing size computations. */
#define VT_MAX_NUMEL (INT64_C(1) << 34)

int64_t vt_numel(const vimo_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

int vt_is_contig(const vimo_tensor *t)
{
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s) return 0;
        s *= t->shape[i];
    }
    return 1;
}

void vt_set_contig_strides(vimo_tensor *t)
{
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        t->stride[i] = s;
        s *= t->shape[i];
    }
}

int64_t vt_offset(const vimo_tensor *t, int64_t i)
{
    int64_t off = 0;
    for (int d = t->ndim - 1; d >= 0; d--) {
        off += (i % t->shape[d]) * t->stride[d];
        i /= t->shape[d];
    }
    return off;
}

const char *vt_shape(const vimo_tensor *t)
{
    static _Thread_local char buf[4][64];
    static _Thread_local int k;
    char *b = buf[k++ & 3];
    return vimo_tensor_shape_str(t, b, sizeof buf[0]);
}

char *vimo_tensor_shape_str(const vimo_tensor *t, char *buf, size_t n)
{
    if (!buf || n == 0) return buf;
    if (!t) {
        snprintf(buf, n, "(null)");
        return buf;
    }
    size_t used = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < t->ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (used < n) snprintf(buf + used, n - used, ")");
    return buf;
}

static vimo_status check_shape(const char *op, int ndim, const int64_t *shape)
{
    if (ndim < 1 || ndim > VIMO_MAX_DIMS || !shape)
        return vimo_error(VIMO_ERR_SHAPE, "%s: ndim %d outside 1..%d", op, ndim, VIMO_MAX_DIMS);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1 || shape[i] > VT_MAX_NUMEL)
            return vimo_error(VIMO_ERR_SHAPE, "%s: dim %d has size %lld", op, i, (long long)shape[i]);
        n *= shape[i];
        if (n > VT_MAX_NUMEL) return vimo_error(VIMO_ERR_NOMEM, "%s: %lld+ elements is too large", op, (long long)n);
    }
    return VIMO_OK;
}

static void *aligned_zalloc(size_t bytes)
{
    size_t rounded = (bytes + VIMO_ALIGN - 1) / VIMO_ALIGN * VIMO_ALIGN;
    void *p = aligned_alloc(VIMO_ALIGN, rounded ? rounded : VIMO_ALIGN);
    if (p) memset(p, 0, rounded);
    return p;
}

/* Zeroed memory on a device (aligned_zalloc for the host); NULL on failure. */
static void *device_zalloc(int device, size_t bytes)
{
    if (device == 0) return aligned_zalloc(bytes);
    const vimo_backend *be = vt_backend(device);
    void *p = NULL;
    size_t n = bytes ? bytes : VIMO_ALIGN;
    if (be->alloc(&p, n)) return NULL;
    if (be->memset0(p, n)) {
        be->free(p);
        return NULL;
    }
    return p;
}

vimo_status vimo_tensor_new_on(vimo_tensor **out, int device, int ndim, const int64_t *shape)
{
    if (!out) return vimo_error(VIMO_ERR_INVALID, "tensor_new: out is NULL");
    *out = NULL;
    if (!vimo_backend_of(device)) return vimo_error(VIMO_ERR_INVALID, "tensor_new: unknown device %d", device);
    vimo_status st = check_shape("tensor_new", ndim, shape);
    if (st) return st;
    vimo_tensor *t = calloc(1, sizeof *t);
    vimo_storage *s = calloc(1, sizeof *s);
    if (!t || !s) goto oom;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    vt_set_contig_strides(t);
    s->data = device_zalloc(device, (size_t)vt_numel(t) * sizeof(float));
    if (!s->data) goto oom;
    s->refs = 1;
    s->device = device;
    t->device = device;
    t->storage = s;
    t->data = s->data;
    *out = t;
    return VIMO_OK;
oom:
    free(t);
    free(s);
    if (device == 0) return vimo_error(VIMO_ERR_NOMEM, "tensor_new: out of memory");
    return vimo_error(VIMO_ERR_NOMEM, "tensor_new: out of memory on %s", vimo_device_name(device));
}

vimo_status vimo_tensor_new(vimo_tensor **out, int ndim, const int64_t *shape)
{
    return vimo_tensor_new_on(out, 0, ndim, shape);
}

vimo_status vimo_tensor_new1(vimo_tensor **out, int64_t d0) { return vimo_tensor_new(out, 1, (int64_t[]){d0}); }
vimo_status vimo_tensor_new2(vimo_tensor **out, int64_t d0, int64_t d1)
{
    return vimo_tensor_new(out, 2, (int64_t[]){d0, d1});
}
vimo_status vimo_tensor_new3(vimo_tensor **out, int64_t d0, int64_t d1, int64_t d2)
{
    return vimo_tensor_new(out, 3, (int64_t[]){d0, d1, d2});
}

vimo_status vimo_tensor_clone(vimo_tensor **out, const vimo_tensor *t)
{
    if (!out || !t) return vimo_error(VIMO_ERR_INVALID, "tensor_clone: NULL argument");
    if (t->device) return vimo_tensor_to(out, t, t->device);
    vimo_status st = vimo_tensor_new(out, t->ndim, t->shape);
    if (st) return st;
    return vimo_tensor_copy_to(t, (*out)->data, vt_numel(t));
}

void vimo_storage_release(vimo_storage *s)
{
    if (s && --s->refs == 0) {
        vt_device_free(s->device, s->data);
        free(s);
    }
}

void vimo_tensor_free(vimo_tensor *t)
{
    if (!t || (t->flags & VT_CTX_OWNED)) return;
    vimo_storage_release(t->storage);
    vt_device_free(t->device, t->grad);
    free(t->name);
    free(t);
}

int vimo_tensor_ndim(const vimo_tensor *t) { return t ? t->ndim : 0; }
int64_t vimo_tensor_dim(const vimo_tensor *t, int i)
{
    if (!t) return 0;
    if (i < 0) i += t->ndim;
    return (i >= 0 && i < t->ndim) ? t->shape[i] : 0;
}
int64_t vimo_tensor_stride(const vimo_tensor *t, int i)
{
    if (!t) return 0;
    if (i < 0) i += t->ndim;
    return (i >= 0 && i < t->ndim) ? t->stride[i] : 0;
}
int64_t vimo_tensor_numel(const vimo_tensor *t) { return t ? vt_numel(t) : 0; }
int vimo_tensor_is_contiguous(const vimo_tensor *t) { return t ? vt_is_contig(t) : 0; }
float *vimo_tensor_data(const vimo_tensor *t)
{
    if (t && t->device) {
        vimo_error(VIMO_ERR_STATE, "tensor_data: %s lives on %s: no host pointer (copy it with vimo_tensor_copy_to)",
                   vt_shape(t), vimo_device_name(t->device));
        return NULL;
    }
    return t ? t->data : NULL;
}
float *vimo_tensor_grad(const vimo_tensor *t)
{
    if (t && t->device) {
        vimo_error(VIMO_ERR_STATE, "tensor_grad: %s lives on %s: no host pointer (use vimo_tensor_grad_to_host)",
                   vt_shape(t), vimo_device_name(t->device));
        return NULL;
    }
    return t ? t->grad : NULL;
}
const char *vimo_tensor_name(const vimo_tensor *t) { return t && t->name ? t->name : ""; }

vimo_status vimo_tensor_set_name(vimo_tensor *t, const char *name)
{
    if (!t || !name) return vimo_error(VIMO_ERR_INVALID, "tensor_set_name: NULL argument");
    if (t->flags & VT_CTX_OWNED) return vimo_error(VIMO_ERR_STATE, "tensor_set_name: only caller-owned tensors are named");
    char *copy = strdup(name);
    if (!copy) return vimo_error(VIMO_ERR_NOMEM, "tensor_set_name: out of memory");
    free(t->name);
    t->name = copy;
    return VIMO_OK;
}

vimo_status vimo_tensor_copy_from(vimo_tensor *t, const float *src, int64_t n)
{
    if (!t || (!src && n)) return vimo_error(VIMO_ERR_INVALID, "tensor_copy_from: NULL argument");
    if (n != vt_numel(t))
        return vimo_error(VIMO_ERR_SHAPE, "tensor_copy_from: %lld floats into %s", (long long)n, vt_shape(t));
    if (t->device) return vt_device_copy(t, (float *)src, 1);
    if (vt_is_contig(t)) {
        memcpy(t->data, src, (size_t)n * sizeof(float));
    } else {
        float *d = t->data;
        VT_FOR_STRIDED(t->ndim, t->shape, t->stride, 0, i, off, d[off] = src[i]);
    }
    return VIMO_OK;
}

vimo_status vimo_tensor_copy_to(const vimo_tensor *t, float *dst, int64_t n)
{
    if (!t || (!dst && n)) return vimo_error(VIMO_ERR_INVALID, "tensor_copy_to: NULL argument");
    if (n != vt_numel(t))
        return vimo_error(VIMO_ERR_SHAPE, "tensor_copy_to: %s into %lld floats", vt_shape(t), (long long)n);
    if (t->device) return vt_device_copy(t, dst, 0);
    if (vt_is_contig(t)) {
        memcpy(dst, t->data, (size_t)n * sizeof(float));
    } else {
        const float *s = t->data;
        VT_FOR_STRIDED(t->ndim, t->shape, t->stride, 0, i, off, dst[i] = s[off]);
    }
    return VIMO_OK;
}

void vimo_tensor_fill(vimo_tensor *t, float v)
{
    if (!t) return;
    if (t->device) {
        vt_device_fill(t, v);
        return;
    }
    float *d = t->data;
    VT_FOR_STRIDED(t->ndim, t->shape, t->stride, 0, i, off, ((void)i, d[off] = v));
}

vimo_status vimo_tensor_set_requires_grad(vimo_tensor *t, int on)
{
    if (!t) return vimo_error(VIMO_ERR_INVALID, "set_requires_grad: NULL tensor");
    if (t->node) return vimo_error(VIMO_ERR_STATE, "set_requires_grad: %s is an op result, not a leaf", vt_shape(t));
    if (!on) {
        /* A frozen leaf needs no gradient: free it (a frozen 7B base would
         * otherwise carry a full-size buffer of zeros). */
        t->flags &= ~VT_REQUIRES_GRAD;
        if (!(t->flags & VT_CTX_OWNED)) {
            vt_device_free(t->device, t->grad);
            t->grad = NULL;
        }
        return VIMO_OK;
    }
    if (!t->grad && !(t->flags & VT_CTX_OWNED)) {
        t->grad = device_zalloc(t->device, (size_t)vt_numel(t) * sizeof(float));
        if (!t->grad) return vimo_error(VIMO_ERR_NOMEM, "set_requires_grad: cannot allocate grad %s", vt_shape(t));
    }
    t->flags |= VT_REQUIRES_GRAD;
    return VIMO_OK;
}

int vimo_tensor_requires_grad(const vimo_tensor *t) { return vt_requires_grad(t); }

void vimo_tensor_zero_grad(vimo_tensor *t)
{
    if (!t || !t->grad) return;
    size_t bytes = (size_t)vt_numel(t) * sizeof(float);
    if (t->device)
        vt_backend(t->device)->memset0(t->grad, bytes);
    else
        memset(t->grad, 0, bytes);
}

/* Exposed for ctx.c: heap (or device) grad buffer for a caller-owned leaf. */
float *vt_heap_grad(vimo_tensor *t)
{
    if (!t->grad) t->grad = device_zalloc(t->device, (size_t)vt_numel(t) * sizeof(float));
    return t->grad;
}

/* Exposed for backend.c: zeroed memory on a device. */
void *vt_device_zalloc(int device, size_t bytes) { return device_zalloc(device, bytes); }
