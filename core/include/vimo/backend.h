/*
 * vimo/backend.h - compute backends: where a tensor's memory lives and which
 * kernels run the ops on it (the versioned backend ABI).
 *
 * Every tensor has a device: 0 is the CPU (host memory, OpenMP + BLIS
 * kernels), and every other id is a backend registered in this process
 * (vimo_backend_get("cuda") loads plugins/cuda on first use). An op checks
 * that all its tensor inputs live on one device ("matmul: x on cuda, W on
 * cpu" otherwise), allocates its result there and runs that device's
 * kernel from the table below; its backward runs the same way. Model
 * plugins call the ops and never see a device pointer, so they stay
 * device-agnostic (docs/cuda.md).
 *
 * A backend is a static descriptor: ABI major/minor first, then its size,
 * name, memory functions and the kernel table. The host accepts
 * abi_major == VIMO_BACKEND_ABI_MAJOR and abi_minor <= VIMO_BACKEND_ABI_MINOR,
 * checks size and that every function pointer is set, and only then calls
 * backend code (init first). A minor adds kernels only at the end of the
 * table, so a backend built for an older minor has a smaller kernels->size:
 * it is accepted, the entries it has must be set, and the trailing ones it
 * lacks are absent: an op that needs one fails with VIMO_ERR_UNSUPPORTED
 * ("layernorm_fwd: backend X has no layernorm_fwd kernel ..."). A shared-object backend is a vimo plugin of
 * kind VIMO_PLUGIN_BACKEND with id "backend.<name>" whose get_iface returns
 * the descriptor for VIMO_IFACE_BACKEND.
 *
 * Kernels work on raw, contiguous device pointers (strides are explicit
 * where an argument may be a view), accumulate into gradients (+=) and
 * return a vimo_status with a message; they never abort. The ctx argument
 * gives scratch memory on the kernel's device (vimo_ctx_device_alloc) that
 * lives until the context is reset. Kernels may run asynchronously with
 * respect to the host (a CUDA stream): copies to the host synchronise.
 * The CPU backend (vimo_backend_cpu) exposes vimo's own kernels through
 * the same table; tests use it to build a fake device.
 */
#ifndef VIMO_BACKEND_H
#define VIMO_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "vimo/status.h"
#include "vimo/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VIMO_BACKEND_ABI_MAJOR 1
#define VIMO_BACKEND_ABI_MINOR 0
#define VIMO_IFACE_BACKEND "vimo.backend/1"
#define VIMO_DEVICE_CPU 0
#define VIMO_MAX_DEVICES 8 /* device ids 0 .. 7 */

/* Kinds of the element-wise kernels (values fixed by the ABI). */
enum { VIMO_BIN_ADD = 0, VIMO_BIN_SUB = 1, VIMO_BIN_MUL = 2 };
enum { VIMO_UN_SCALE = 0, VIMO_UN_RELU = 1, VIMO_UN_SILU = 2, VIMO_UN_GELU_ERF = 3, VIMO_UN_GELU_TANH = 4 };

/* Attention sizes. q (B, Tq, Hq, Dh), k and v (B, Tk, Hkv, Dh), Dh
 * contiguous; qs/ks/vs are the element strides of (batch, time, head) (the
 * CPU reads a KV cache view in place). y and the gradients are contiguous
 * (B, Tq, Hq, Dh) / (B, Tk, Hkv, Dh); lse is (B, Hq, Tq); mask (B, Tk) bytes
 * or NULL, 0 = padding key. Query i sees key j <= i + Tk - Tq when causal. */
typedef struct vimo_attn_dims {
    int64_t b, tq, tk, hq, hkv, dh;
    int64_t qs[3], ks[3], vs[3];
    int causal;
    float scale;
} vimo_attn_dims;

/* Convolution geometry, PyTorch layouts: x (B, Cin, H, W), w (Cout, Cin,
 * KH, KW), y (B, Cout, Ho, Wo); stride s, padding p, dilation d per axis
 * (conv1d is H = KH = Ho = 1). */
typedef struct vimo_conv_dims {
    int64_t b, cin, h, w, cout, kh, kw, ho, wo;
    int64_t sh, sw, ph, pw, dh, dw;
} vimo_conv_dims;

/* The kernel table. Shapes in comments; every pointer is device memory of
 * the backend, contiguous unless strides are given. "g" arguments are
 * gradients accumulated into (+=) and may be NULL (not wanted). */
typedef struct vimo_backend_kernels {
    uint32_t size; /* sizeof(vimo_backend_kernels) at the backend's build */
    /* C (M, N) = alpha op(A) op(B) + beta C, exactly vimo_sgemm's contract. */
    vimo_status (*sgemm)(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                         int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
    /* dst[i] (+)= src[i] over a strided (ndim <= 4) index space of shape;
     * strides in elements, 0 allowed for src (broadcast). */
    vimo_status (*copy)(vimo_ctx *ctx, float *dst, const int64_t *dst_stride, const float *src,
                        const int64_t *src_stride, int ndim, const int64_t *shape, int accumulate);
    vimo_status (*fill)(vimo_ctx *ctx, float *x, int64_t n, float value);
    /* y (n) = a (n) op b (period), b repeated every period elements. */
    vimo_status (*binary_fwd)(vimo_ctx *ctx, int kind, const float *a, const float *b, float *y, int64_t n,
                              int64_t period);
    vimo_status (*binary_bwd)(vimo_ctx *ctx, int kind, const float *a, const float *b, const float *dy, float *ga,
                              float *gb, int64_t n, int64_t period);
    /* gb (n) += column sums of dy (rows, n) (bias gradients). */
    vimo_status (*colsum_add)(vimo_ctx *ctx, const float *dy, float *gb, int64_t rows, int64_t n);
    vimo_status (*unary_fwd)(vimo_ctx *ctx, int kind, const float *x, float *y, int64_t n, float s);
    vimo_status (*unary_bwd)(vimo_ctx *ctx, int kind, const float *x, const float *dy, float *gx, int64_t n,
                             float s);
    vimo_status (*swiglu_fwd)(vimo_ctx *ctx, const float *gate, const float *up, float *y, int64_t n);
    vimo_status (*swiglu_bwd)(vimo_ctx *ctx, const float *gate, const float *up, const float *dy, float *gg,
                              float *gu, int64_t n);
    /* y (1) = sum x (n); gx += dy[0]. */
    vimo_status (*sum_fwd)(vimo_ctx *ctx, const float *x, float *y, int64_t n);
    vimo_status (*sum_bwd)(vimo_ctx *ctx, const float *dy, float *gx, int64_t n);
    /* x (outer, len, inner) -> y (outer, inner) mean over len. */
    vimo_status (*mean_fwd)(vimo_ctx *ctx, const float *x, float *y, int64_t outer, int64_t len, int64_t inner);
    vimo_status (*mean_bwd)(vimo_ctx *ctx, const float *dy, float *gx, int64_t outer, int64_t len, int64_t inner);
    /* x (rows, d), w (d); rstd (rows) saved for backward. */
    vimo_status (*rmsnorm_fwd)(vimo_ctx *ctx, const float *x, const float *w, float *y, float *rstd, int64_t rows,
                               int64_t d, float eps);
    vimo_status (*rmsnorm_bwd)(vimo_ctx *ctx, const float *x, const float *w, const float *rstd, const float *dy,
                               float *gx, float *gw, int64_t rows, int64_t d);
    /* b may be NULL; stats (2 rows): mean then rstd. */
    vimo_status (*layernorm_fwd)(vimo_ctx *ctx, const float *x, const float *w, const float *b, float *y,
                                 float *stats, int64_t rows, int64_t d, float eps);
    vimo_status (*layernorm_bwd)(vimo_ctx *ctx, const float *x, const float *w, const float *stats, const float *dy,
                                 float *gx, float *gw, float *gb, int64_t rows, int64_t d);
    vimo_status (*softmax_fwd)(vimo_ctx *ctx, const float *x, float *y, int64_t rows, int64_t d);
    vimo_status (*softmax_bwd)(vimo_ctx *ctx, const float *y, const float *dy, float *gx, int64_t rows, int64_t d);
    /* table (V, d), ids (cnt) int32 in [0, V) (checked by the op) -> y (cnt, d). */
    vimo_status (*embedding_fwd)(vimo_ctx *ctx, const float *table, const int32_t *ids, float *y, int64_t cnt,
                                 int64_t d);
    vimo_status (*embedding_bwd)(vimo_ctx *ctx, const int32_t *ids, const float *dy, float *gtable, int64_t cnt,
                                 int64_t d);
    /* x, y (rows = B T H, dh); cs: cos then sin tables, (T, dh/2) each,
     * computed by the op on the host. backward = 1: y += rotate(x, -angle). */
    vimo_status (*rope)(vimo_ctx *ctx, float *y, const float *x, const float *cs, int64_t rows, int64_t t_len,
                        int64_t h, int64_t dh, int mode, int backward);
    /* keep (n) bytes, drawn by the op on the host from the caller's rng. */
    vimo_status (*dropout_fwd)(vimo_ctx *ctx, const float *x, const uint8_t *keep, float *y, int64_t n,
                               float scale);
    vimo_status (*dropout_bwd)(vimo_ctx *ctx, const uint8_t *keep, const float *dy, float *gx, int64_t n,
                               float scale);
    /* logits (rows, v), targets (rows); count = rows not ignored (> 0 or
     * the loss is 0); lse (rows) saved; loss (1). */
    vimo_status (*ce_fwd)(vimo_ctx *ctx, const float *x, const int32_t *targets, int32_t ignore, int64_t count,
                          float *lse, float *loss, int64_t rows, int64_t v);
    vimo_status (*ce_bwd)(vimo_ctx *ctx, const float *x, const int32_t *targets, int32_t ignore, int64_t count,
                          const float *lse, const float *dloss, float *gx, int64_t rows, int64_t v);
    vimo_status (*mse_fwd)(vimo_ctx *ctx, const float *a, const float *b, float *loss, int64_t n);
    vimo_status (*mse_bwd)(vimo_ctx *ctx, const float *a, const float *b, const float *dloss, float *ga, float *gb,
                           int64_t n);
    /* Fused attention (vimo_attention): no (Tq, Tk) matrix. */
    vimo_status (*attention_fwd)(vimo_ctx *ctx, const vimo_attn_dims *a, const float *q, const float *k,
                                 const float *v, const uint8_t *mask, float *y, float *lse);
    vimo_status (*attention_bwd)(vimo_ctx *ctx, const vimo_attn_dims *a, const float *q, const float *k,
                                 const float *v, const uint8_t *mask, const float *y, const float *lse,
                                 const float *dy, float *gq, float *gk, float *gv);
    /* b and gb may be NULL. */
    vimo_status (*conv_fwd)(vimo_ctx *ctx, const vimo_conv_dims *g, const float *x, const float *w, const float *b,
                            float *y);
    vimo_status (*conv_bwd)(vimo_ctx *ctx, const vimo_conv_dims *g, const float *x, const float *w, const float *dy,
                            float *gx, float *gw, float *gb);
    /* One AdamW update of n elements (vimo_adamw_step's arithmetic). */
    vimo_status (*adamw)(float *p, const float *g, float *m, float *v, int64_t n, float decay, float b1c, float b2,
                         float b2c, float step_size, float bc2_sqrt, float eps);
    /* *out (host) = sum of x[i]^2 in double. */
    vimo_status (*sumsq)(const float *x, int64_t n, double *out);
} vimo_backend_kernels;

typedef struct vimo_backend {
    uint16_t abi_major; /* VIMO_BACKEND_ABI_MAJOR at the backend's build: first */
    uint16_t abi_minor;
    uint32_t size;    /* sizeof(vimo_backend) at the backend's build */
    const char *name; /* "cuda": what vimo_backend_get and messages use */
    /* Called once before any other function; an error keeps the backend
     * unregistered and is passed on (init may be called again later, so it
     * cleans up after itself). VIMO_ERR_UNSUPPORTED is reserved for "no
     * usable device on this machine" (no GPU, driver too old): callers and
     * tests treat exactly that status as "skip"; every other failure
     * (library initialisation, bad settings) uses another status. */
    vimo_status (*init)(void);
    /* Device memory: bytes > 0; free(NULL) is a no-op. Work may still be
     * queued when the host frees memory (a context reset, a tensor freed
     * after its last op): free must not hand memory back while queued work
     * still uses it (CUDA's cudaFree waits for the device). A temporary the
     * host allocates for one copy or kernel it queues is freed only after
     * synchronize. */
    vimo_status (*alloc)(void **out, size_t bytes);
    void (*free)(void *p);
    vimo_status (*copy_h2d)(void *dst, const void *src, size_t bytes);
    vimo_status (*copy_d2h)(void *dst, const void *src, size_t bytes); /* synchronises */
    vimo_status (*copy_d2d)(void *dst, const void *src, size_t bytes);
    vimo_status (*memset0)(void *dst, size_t bytes);
    vimo_status (*synchronize)(void);
    const vimo_backend_kernels *kernels;
    void *reserved[8];
} vimo_backend;

#define VIMO_BACKEND_HEADER .abi_major = VIMO_BACKEND_ABI_MAJOR, .abi_minor = VIMO_BACKEND_ABI_MINOR, \
                            .size = sizeof(vimo_backend)

/* ---- registry -------------------------------------------------------------- */

/* Registers a backend after checking its ABI, size and functions and
 * running its init; *device gets its id (1 .. VIMO_MAX_DEVICES - 1).
 * Registering the same descriptor again returns its id.
 * Errors: VIMO_ERR_ABI, VIMO_ERR_FORMAT (a NULL function or name),
 * VIMO_ERR_STATE (another backend has the name, or no free id), init's
 * (VIMO_ERR_UNSUPPORTED: no device). */
VIMO_API vimo_status vimo_backend_register(const vimo_backend *be, int *device);
/* Device id of backend `name` ("cpu" is 0). A name not yet registered is
 * looked for as the plugin "backend.<name>" (vimo_plugin_find) and
 * registered; its descriptor's ABI and name are checked first, so a plugin
 * whose backend has another name registers nothing. Errors:
 * VIMO_ERR_NOT_FOUND ("cuda: no backend plugin backend.cuda; build with
 * -DVIMO_CUDA=ON"), VIMO_ERR_ABI / VIMO_ERR_FORMAT (a broken plugin), the
 * plugin's init errors: VIMO_ERR_UNSUPPORTED means only "no device here"
 * ("cuda: no CUDA device"), anything else is a real failure. */
VIMO_API vimo_status vimo_backend_get(const char *name, int *device);
/* Name of a device ("cpu", "cuda"), or "?" for an unknown id. */
VIMO_API const char *vimo_device_name(int device);
/* The descriptor of a device (NULL for an unknown id). */
VIMO_API const vimo_backend *vimo_backend_of(int device);
/* vimo's CPU kernels as a backend table (device 0). */
VIMO_API const vimo_backend *vimo_backend_cpu(void);
/* The kernel table ops dispatch through for a device (NULL for an unknown
 * id): the backend's own table, or for one built for an older ABI minor a
 * host-sized copy whose missing entries return VIMO_ERR_UNSUPPORTED. Every
 * entry is set; call kernels through this, not vimo_backend_of()->kernels. */
VIMO_API const vimo_backend_kernels *vimo_backend_kernels_of(int device);

/* ---- tensors on devices ------------------------------------------------------ */

/* Device of t (0 = CPU). */
VIMO_API int vimo_tensor_device(const vimo_tensor *t);
/* Raw pointer to element 0 of t's memory on its device (vimo_tensor_data
 * returns NULL for a device tensor: device memory is never handed out as
 * host memory). For backends and tests. */
VIMO_API float *vimo_tensor_device_data(const vimo_tensor *t);
/* New zero-filled caller-owned tensor on a device. Errors: those of
 * vimo_tensor_new, VIMO_ERR_INVALID for an unknown device. */
VIMO_API vimo_status vimo_tensor_new_on(vimo_tensor **out, int device, int ndim, const int64_t *shape);
/* A caller-owned contiguous copy of t (data only) on `device`. */
VIMO_API vimo_status vimo_tensor_to(vimo_tensor **out, const vimo_tensor *t, int device);
/* Moves a caller-owned, contiguous, unshared tensor to `device` in place:
 * same handle (a plugin's parameter pointers stay valid), data copied, a
 * gradient buffer moved with it. Errors: VIMO_ERR_STATE for a context
 * tensor or one that views share, VIMO_ERR_SHAPE if not contiguous. */
VIMO_API vimo_status vimo_tensor_move(vimo_tensor *t, int device);
/* Copies t's gradient (contiguous, numel floats) to host memory dst.
 * Errors: VIMO_ERR_STATE when t has no gradient. */
VIMO_API vimo_status vimo_tensor_grad_to_host(const vimo_tensor *t, float *dst, int64_t n);

/* ---- ops and context memory ------------------------------------------------- */

/* y = x on `device` (a context-owned copy; x itself when it is already
 * there). Differentiable: the gradient flows back to x's device. */
VIMO_API vimo_status vimo_to_device(vimo_ctx *ctx, vimo_tensor **y, vimo_tensor *x, int device);
/* Scratch memory on `device` from ctx's arena for that device, aligned to
 * VIMO_ALIGN, uninitialised, freed at reset. NULL + error on failure. */
VIMO_API void *vimo_ctx_device_alloc(vimo_ctx *ctx, int device, size_t bytes);
/* A context-owned zeroed tensor on `device`. */
VIMO_API vimo_status vimo_ctx_tensor_on(vimo_ctx *ctx, vimo_tensor **out, int device, int ndim,
                                        const int64_t *shape);

#ifdef __cplusplus
}
#endif
#endif /* VIMO_BACKEND_H */
