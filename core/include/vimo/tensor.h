/*
 * vimo/tensor.h - float32 tensors, contexts and reverse-mode autograd.
 *
 * Tensors are float32, 1 to 4 dimensions, with shape and strides in
 * elements. Storage is 64-byte aligned (VIMO_ALIGN) and reference-counted, so
 * views (reshape, permute, slice) share it safely.
 *
 * Ownership, the one rule:
 *   - a tensor made with vimo_tensor_new() belongs to the caller, who frees it
 *     with vimo_tensor_free() (parameters, datasets, KV caches);
 *   - a tensor returned by an op belongs to the vimo_ctx the op was given and
 *     lives until vimo_ctx_reset() or vimo_ctx_free() on that context.
 *   Views keep their storage alive, so freeing a base tensor while a view of
 *   it lives is safe.
 *
 * Autograd (tape-based, as Torch7/PyTorch eager): when the context has grad
 * mode on and an op input requires a gradient, the op records a node on the
 * context's tape. vimo_backward() walks the tape in reverse and accumulates
 * d(loss)/d(t) into t's grad buffer for every tensor that requires a
 * gradient. Gradients accumulate across backward calls until
 * vimo_tensor_zero_grad(). Frozen parameters (requires_grad = 0) get none,
 * which is how a frozen LLM with LoRA adapters trains.
 *
 * Threads: a context is used by one thread at a time. Kernels parallelise
 * inside themselves (see kernels.h).
 */
#ifndef VIMO_TENSOR_H
#define VIMO_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "vimo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VIMO_MAX_DIMS 4
#define VIMO_ALIGN 64 /* bytes; every storage starts on this boundary */

typedef struct vimo_tensor vimo_tensor; /* opaque */
typedef struct vimo_ctx vimo_ctx;       /* opaque: arena + tape */

/* ---- caller-owned tensors ------------------------------------------------ */

/* New zero-filled contiguous tensor of shape[ndim] (1 <= ndim <= 4, every
 * dim >= 1). Errors: VIMO_ERR_SHAPE (bad ndim/dim), VIMO_ERR_NOMEM. */
VIMO_API vimo_status vimo_tensor_new(vimo_tensor **out, int ndim, const int64_t *shape);
/* Convenience forms of vimo_tensor_new. */
VIMO_API vimo_status vimo_tensor_new1(vimo_tensor **out, int64_t d0);
VIMO_API vimo_status vimo_tensor_new2(vimo_tensor **out, int64_t d0, int64_t d1);
VIMO_API vimo_status vimo_tensor_new3(vimo_tensor **out, int64_t d0, int64_t d1, int64_t d2);
/* A caller-owned contiguous copy of any tensor (its data only, no grad). */
VIMO_API vimo_status vimo_tensor_clone(vimo_tensor **out, const vimo_tensor *t);
/* Frees a caller-owned tensor (NULL is a no-op). Context-owned tensors are
 * ignored: their context frees them. */
VIMO_API void vimo_tensor_free(vimo_tensor *t);

/* ---- inspection ---------------------------------------------------------- */

VIMO_API int vimo_tensor_ndim(const vimo_tensor *t);
/* Size of dimension i; negative i counts from the end (-1 = last). */
VIMO_API int64_t vimo_tensor_dim(const vimo_tensor *t, int i);
VIMO_API int64_t vimo_tensor_stride(const vimo_tensor *t, int i);
VIMO_API int64_t vimo_tensor_numel(const vimo_tensor *t);
VIMO_API int vimo_tensor_is_contiguous(const vimo_tensor *t);
/* Pointer to element 0 (follow the strides for views). Host memory: for a
 * tensor on another device (vimo/backend.h) it returns NULL and sets
 * VIMO_ERR_STATE's message, never a device pointer. */
VIMO_API float *vimo_tensor_data(const vimo_tensor *t);
/* Gradient buffer, contiguous with t's shape, or NULL if none yet (and
 * NULL, with a message, for a tensor on another device). */
VIMO_API float *vimo_tensor_grad(const vimo_tensor *t);
/* Writes "(4, 7)" into buf (always NUL-terminated); returns buf. */
VIMO_API char *vimo_tensor_shape_str(const vimo_tensor *t, char *buf, size_t n);
/* Optional name (parameters carry their Hugging Face style name). */
VIMO_API const char *vimo_tensor_name(const vimo_tensor *t);
VIMO_API vimo_status vimo_tensor_set_name(vimo_tensor *t, const char *name);

/* ---- data movement ------------------------------------------------------- */

/* Copies n = numel floats from src (contiguous, row-major, host memory) into
 * t, which may be a strided view on any device. Errors: VIMO_ERR_SHAPE if
 * n != numel; a backend's copy errors. */
VIMO_API vimo_status vimo_tensor_copy_from(vimo_tensor *t, const float *src, int64_t n);
/* Copies t (any strides, any device) into host dst as contiguous row-major
 * floats (synchronises with the device). */
VIMO_API vimo_status vimo_tensor_copy_to(const vimo_tensor *t, float *dst, int64_t n);
VIMO_API void vimo_tensor_fill(vimo_tensor *t, float v);

/* ---- gradients ----------------------------------------------------------- */

/* Marks t (caller-owned leaf) as trainable (on = 1) or frozen (on = 0).
 * Trainable tensors get a zeroed grad buffer; freezing frees it. Errors: VIMO_ERR_STATE for a
 * tensor produced by an op (only leaves are set by hand), VIMO_ERR_NOMEM. */
VIMO_API vimo_status vimo_tensor_set_requires_grad(vimo_tensor *t, int on);
VIMO_API int vimo_tensor_requires_grad(const vimo_tensor *t);
/* Sets t's gradient to zero (no-op if it has none). */
VIMO_API void vimo_tensor_zero_grad(vimo_tensor *t);

/* ---- contexts ------------------------------------------------------------ */

/* New context with grad mode on. Errors: VIMO_ERR_NOMEM. */
VIMO_API vimo_status vimo_ctx_new(vimo_ctx **out);
/* Frees every tensor the context owns and the context (NULL: no-op). */
VIMO_API void vimo_ctx_free(vimo_ctx *ctx);
/* Frees every tensor the context owns and clears its tape, keeping its
 * memory for reuse: call once per training or decoding step. */
VIMO_API void vimo_ctx_reset(vimo_ctx *ctx);
/* Grad mode: when off (inference) ops record nothing. Returns the previous
 * mode so callers can restore it. */
VIMO_API int vimo_ctx_set_grad(vimo_ctx *ctx, int on);
VIMO_API int vimo_ctx_grad_enabled(const vimo_ctx *ctx);
/* Bytes of arena memory the context holds (for benchmarks and leak checks). */
VIMO_API size_t vimo_ctx_bytes(const vimo_ctx *ctx);
/* Incremented by every reset: lets bindings detect stale tensor handles. */
VIMO_API uint64_t vimo_ctx_generation(const vimo_ctx *ctx);
/* A context-owned zeroed tensor (scratch for ops and plugins). */
VIMO_API vimo_status vimo_ctx_tensor(vimo_ctx *ctx, vimo_tensor **out, int ndim, const int64_t *shape);

/* Reverse pass from a scalar loss (numel 1) recorded on ctx: seeds
 * d(loss)/d(loss) = 1 and accumulates gradients into every tensor on the tape
 * that requires one. The tape stays until vimo_ctx_reset (backward once per
 * forward). Errors: VIMO_ERR_SHAPE if loss is not a scalar, VIMO_ERR_STATE if
 * loss does not require a gradient or was not made on ctx. */
VIMO_API vimo_status vimo_backward(vimo_ctx *ctx, vimo_tensor *loss);

#ifdef __cplusplus
}
#endif
#endif /* VIMO_TENSOR_H */
