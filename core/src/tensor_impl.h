/*
 * tensor_impl.h - internal layout of tensors, contexts and tape nodes.
 * Private to libvimo (ops, autograd, serialization); never installed.
 * Plugins see only the opaque handles of vimo/tensor.h.
 */
#ifndef VIMO_TENSOR_IMPL_H
#define VIMO_TENSOR_IMPL_H

#include <stdint.h>

#include "vimo/backend.h"
#include "vimo/ops.h"
#include "vimo/tensor.h"

enum {
    VT_REQUIRES_GRAD = 1u << 0, /* leaf marked trainable, or produced on the tape */
    VT_CTX_OWNED = 1u << 1,     /* header lives in a context arena               */
};

/* Reference-counted heap storage of caller-owned tensors and their views.
 * Context tensors keep their data in the arena and have storage == NULL. */
typedef struct vimo_storage {
    float *data;
    int64_t refs;
    int device; /* 0 = host heap, else backend memory */
} vimo_storage;

struct vimo_node;

struct vimo_tensor {
    int ndim;
    unsigned flags;
    int device;                    /* 0 = CPU; data and grad live there */
    int64_t shape[VIMO_MAX_DIMS];
    int64_t stride[VIMO_MAX_DIMS]; /* elements */
    float *data;                   /* element 0 */
    float *grad;                   /* contiguous, numel; NULL until needed */
    vimo_storage *storage;
    vimo_ctx *ctx;                 /* owning context, NULL if caller-owned */
    struct vimo_node *node;        /* producing tape node, NULL for leaves */
    char *name;
};

typedef struct vimo_node vimo_node;
/* Backward of one op: reads n->out->grad, accumulates into the inputs'
 * grads (vt_grad allocates them lazily). */
typedef vimo_status (*vimo_backward_fn)(vimo_ctx *ctx, vimo_node *n);

#define VT_NODE_MAX_IN 6
struct vimo_node {
    const char *op;
    vimo_backward_fn backward;
    vimo_tensor *out;
    vimo_tensor *in[VT_NODE_MAX_IN];
    int n_in;
    int64_t i[8];   /* op-specific integer arguments */
    float f[4];     /* op-specific float arguments   */
    void *saved;    /* op-specific buffer in the arena */
    vimo_node *prev;
};

/* ---- devices (backend.c) ------------------------------------------------- */

/* The backend and kernel table of a registered device (index checked by
 * the callers: a tensor's device is always registered). */
const vimo_backend *vt_backend(int device);
const vimo_backend_kernels *vt_kern(int device); /* the table ops dispatch through (backend.c) */
/* All non-NULL tensors of t[0..n) on one device: *device gets it (0 when
 * every one is NULL). Else VIMO_ERR_INVALID "op: x on cuda, W on cpu",
 * with the names of the two first tensors that differ. */
vimo_status vt_same_device(const char *op, int *device, int n, vimo_tensor *const *t, const char *const *names);
/* Copies bytes of host memory into ctx's arena on device (host arena for
 * device 0) and returns the device pointer; NULL + error on failure. */
void *vt_upload(vimo_ctx *ctx, int device, const void *host, size_t bytes);
/* Frees memory of a device (free() for device 0). */
void vt_device_free(int device, void *p);

/* ---- helpers for op implementations (ctx.c) ------------------------------ */

/* Arena allocation, VIMO_ALIGN-aligned, uninitialised. NULL + error on OOM. */
void *vt_alloc(vimo_ctx *ctx, size_t bytes);
/* Arena allocation on a device (vt_alloc for device 0). */
void *vt_alloc_dev(vimo_ctx *ctx, int device, size_t bytes);
/* Uninitialised contiguous context tensor (the op writes every element). */
vimo_status vt_new_out(vimo_ctx *ctx, vimo_tensor **out, int ndim, const int64_t *shape);
/* The same on a device. */
vimo_status vt_new_out_on(vimo_ctx *ctx, vimo_tensor **out, int device, int ndim, const int64_t *shape);
/* A context-owned header sharing x's data (for views); strides set by caller. */
vimo_status vt_new_view(vimo_ctx *ctx, vimo_tensor **out, vimo_tensor *x);
/* True when grad mode is on and any of the n inputs requires a gradient. */
int vt_needs_grad(const vimo_ctx *ctx, vimo_tensor *const *in, int n);
/* Records a node producing out from in[0..n); marks out as requiring grad.
 * Call only when vt_needs_grad() is true. *node may be NULL. */
vimo_status vt_record(vimo_ctx *ctx, vimo_tensor *out, const char *op, vimo_backward_fn fn,
                      vimo_tensor *const *in, int n, vimo_node **node);
/* Gradient buffer of t on t's device, allocated zeroed on first use (arena
 * for context tensors, heap or backend memory for leaves). NULL + error on
 * OOM. */
float *vt_grad(vimo_ctx *ctx, vimo_tensor *t);
/* vt_grad without the zeroing where that is safe to skip: *fresh = 1 when
 * the buffer was just taken from the context's arena (uninitialised), and
 * the caller must then overwrite all of it (sgemm with beta = 0, a copy)
 * instead of accumulating; 0 when it holds gradients already, or is a
 * leaf's (zeroed, and kept across steps for accumulation). Saves a pass
 * over every activation gradient that an op writes first. */
float *vt_grad_fresh(vimo_ctx *ctx, vimo_tensor *t, int *fresh);
/* True when t participates in autograd (leaf with grad or tape output). */
static inline int vt_requires_grad(const vimo_tensor *t) { return t && (t->flags & VT_REQUIRES_GRAD); }

/* ---- plain helpers (tensor.c) -------------------------------------------- */

int64_t vt_numel(const vimo_tensor *t);
int vt_is_contig(const vimo_tensor *t);
void vt_set_contig_strides(vimo_tensor *t);
/* "(4, 7)" for messages; returns a thread-local buffer (one of 4 rotating). */
const char *vt_shape(const vimo_tensor *t);
/* Element offset of the i-th element in row-major logical order. */
int64_t vt_offset(const vimo_tensor *t, int64_t i);
/* Number of rows when the last dim is the row length: numel / dim(-1). */
static inline int64_t vt_rows(const vimo_tensor *t) { return vt_numel(t) / t->shape[t->ndim - 1]; }
static inline int64_t vt_last(const vimo_tensor *t) { return t->shape[t->ndim - 1]; }

/* Strided element loops without per-element division: calls
 * body(dst_index_in_logical_order, src_offset) for every element of a tensor
 * of `shape` (ndim <= 4) whose element offsets follow `stride` from `base`.
 * Used by copies and by the backward of views. */
#define VT_FOR_STRIDED(ndim, shape, stride, base, IDX, OFF, BODY)                                   \
    do {                                                                                            \
        int64_t s_[4] = {1, 1, 1, 1}, st_[4] = {0, 0, 0, 0};                                        \
        for (int d_ = 0; d_ < (ndim); d_++) {                                                       \
            s_[4 - (ndim) + d_] = (shape)[d_];                                                      \
            st_[4 - (ndim) + d_] = (stride)[d_];                                                    \
        }                                                                                           \
        int64_t IDX = 0;                                                                            \
        for (int64_t i0_ = 0; i0_ < s_[0]; i0_++)                                                   \
            for (int64_t i1_ = 0; i1_ < s_[1]; i1_++)                                               \
                for (int64_t i2_ = 0; i2_ < s_[2]; i2_++) {                                         \
                    int64_t o_ = (base) + i0_ * st_[0] + i1_ * st_[1] + i2_ * st_[2];               \
                    for (int64_t i3_ = 0; i3_ < s_[3]; i3_++, IDX++) {                              \
                        int64_t OFF = o_ + i3_ * st_[3];                                            \
                        BODY;                                                                       \
                    }                                                                               \
                }                                                                                   \
    } while (0)

/* Contiguous input for compute kernels: x itself or a recorded copy. */
vimo_status vt_contig(vimo_ctx *ctx, vimo_tensor *x, vimo_tensor **out);
/* NULL-argument guard used at the top of every op. */
vimo_status vt_check_args(const char *op, vimo_ctx *ctx, vimo_tensor **out);

#endif
