/*
 * ctx.c - contexts: a bump arena for op results plus the autograd tape.
 *
 * Every op result, its tape node and its gradient live in the arena and die
 * together at vimo_ctx_reset(). The arena keeps one chunk; allocations that
 * do not fit go to overflow blocks, and the next reset grows the chunk to the
 * step's total, so a training loop settles on one allocation per step.
 */
#include <stdlib.h>
#include <string.h>

#include "tensor_impl.h"

void vimo_storage_release(vimo_storage *s);
float *vt_heap_grad(vimo_tensor *t);

typedef struct vt_block {
    struct vt_block *next;
    void *mem;
} vt_block;

/* Views of caller-owned tensors hold a storage reference until reset. */
typedef struct vt_ref {
    struct vt_ref *next;
    vimo_storage *s;
} vt_ref;

/* A bump arena on one device: a chunk plus overflow blocks. Device 0 uses
 * aligned_alloc; other devices their backend's alloc (memory the host may
 * not touch: the arena never reads or writes it). */
typedef struct vt_arena {
    char *chunk;
    size_t cap, used;
    size_t step_total; /* bytes asked for since the last reset */
    vt_block *blocks;
} vt_arena;

struct vimo_ctx {
    vt_arena ar[VIMO_MAX_DEVICES]; /* [0]: host */
    vt_ref *refs;
    vimo_node *tape;
    int grad_on;
    int backward_done;
    uint64_t gen;
};

#define VT_ROUND(n) (((n) + VIMO_ALIGN - 1) / VIMO_ALIGN * VIMO_ALIGN)

static void *raw_alloc(int device, size_t n)
{
    if (device == 0) return aligned_alloc(VIMO_ALIGN, n);
    void *p = NULL;
    if (vt_backend(device)->alloc(&p, n)) return NULL;
    return p;
}

vimo_status vimo_ctx_new(vimo_ctx **out)
{
    if (!out) return vimo_error(VIMO_ERR_INVALID, "ctx_new: out is NULL");
    *out = calloc(1, sizeof **out);
    if (!*out) return vimo_error(VIMO_ERR_NOMEM, "ctx_new: out of memory");
    (*out)->grad_on = 1;
    return VIMO_OK;
}

static void arena_release(vt_arena *a, int device)
{
    for (vt_block *b = a->blocks, *n; b; b = n) {
        n = b->next;
        vt_device_free(device, b->mem);
        free(b);
    }
    a->blocks = NULL;
}

static void release_all(vimo_ctx *ctx)
{
    for (int d = 0; d < VIMO_MAX_DEVICES; d++) arena_release(&ctx->ar[d], d);
    for (vt_ref *r = ctx->refs, *n; r; r = n) {
        n = r->next;
        vimo_storage_release(r->s);
        free(r);
    }
    ctx->refs = NULL;
    ctx->tape = NULL;
    ctx->backward_done = 0;
    ctx->gen++;
}

/* Grows the chunk to hold a whole step next time if the step overflowed. */
static void arena_reset(vt_arena *a, int device, int overflowed)
{
    if (overflowed) {
        size_t want = VT_ROUND(a->step_total + a->step_total / 4);
        void *p = raw_alloc(device, want);
        if (p) {
            vt_device_free(device, a->chunk);
            a->chunk = p;
            a->cap = want;
        }
    }
    a->used = 0;
    a->step_total = 0;
}

void vimo_ctx_reset(vimo_ctx *ctx)
{
    if (!ctx) return;
    int overflowed[VIMO_MAX_DEVICES];
    for (int d = 0; d < VIMO_MAX_DEVICES; d++) overflowed[d] = ctx->ar[d].blocks != NULL;
    release_all(ctx);
    for (int d = 0; d < VIMO_MAX_DEVICES; d++) arena_reset(&ctx->ar[d], d, overflowed[d]);
}

void vimo_ctx_free(vimo_ctx *ctx)
{
    if (!ctx) return;
    release_all(ctx);
    for (int d = 0; d < VIMO_MAX_DEVICES; d++) vt_device_free(d, ctx->ar[d].chunk);
    free(ctx);
}

int vimo_ctx_set_grad(vimo_ctx *ctx, int on)
{
    if (!ctx) return 0;
    int prev = ctx->grad_on;
    ctx->grad_on = on != 0;
    return prev;
}

int vimo_ctx_grad_enabled(const vimo_ctx *ctx) { return ctx && ctx->grad_on; }
uint64_t vimo_ctx_generation(const vimo_ctx *ctx) { return ctx ? ctx->gen : 0; }

size_t vimo_ctx_bytes(const vimo_ctx *ctx)
{
    if (!ctx) return 0;
    const vt_arena *a = &ctx->ar[0];
    return a->cap + (a->step_total > a->used ? a->step_total - a->used : 0);
}

void *vt_alloc_dev(vimo_ctx *ctx, int device, size_t bytes)
{
    vt_arena *a = &ctx->ar[device];
    size_t n = VT_ROUND(bytes ? bytes : 1);
    a->step_total += n;
    if (a->used + n <= a->cap) {
        void *p = a->chunk + a->used;
        a->used += n;
        return p;
    }
    vt_block *b = malloc(sizeof *b);
    void *mem = b ? raw_alloc(device, n) : NULL;
    if (!mem) {
        free(b);
        if (device == 0) vimo_error(VIMO_ERR_NOMEM, "ctx: cannot allocate %zu bytes", n);
        else vimo_error(VIMO_ERR_NOMEM, "ctx: cannot allocate %zu bytes on %s", n, vimo_device_name(device));
        return NULL;
    }
    b->mem = mem;
    b->next = a->blocks;
    a->blocks = b;
    return mem;
}

void *vt_alloc(vimo_ctx *ctx, size_t bytes) { return vt_alloc_dev(ctx, 0, bytes); }

void *vimo_ctx_device_alloc(vimo_ctx *ctx, int device, size_t bytes)
{
    if (!ctx || !vimo_backend_of(device)) {
        vimo_error(VIMO_ERR_INVALID, "ctx_device_alloc: NULL context or unknown device %d", device);
        return NULL;
    }
    return vt_alloc_dev(ctx, device, bytes);
}

void *vt_upload(vimo_ctx *ctx, int device, const void *host, size_t bytes)
{
    void *p = vt_alloc_dev(ctx, device, bytes);
    if (!p) return NULL;
    if (device == 0) {
        memcpy(p, host, bytes);
    } else if (bytes && vt_backend(device)->copy_h2d(p, host, bytes)) {
        return NULL;
    }
    return p;
}

static vimo_tensor *new_header(vimo_ctx *ctx)
{
    vimo_tensor *t = vt_alloc(ctx, sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->flags = VT_CTX_OWNED;
    t->ctx = ctx;
    return t;
}

vimo_status vt_new_out(vimo_ctx *ctx, vimo_tensor **out, int ndim, const int64_t *shape)
{
    return vt_new_out_on(ctx, out, 0, ndim, shape);
}

vimo_status vt_new_out_on(vimo_ctx *ctx, vimo_tensor **out, int device, int ndim, const int64_t *shape)
{
    *out = NULL;
    if (ndim < 1 || ndim > VIMO_MAX_DIMS) return vimo_error(VIMO_ERR_SHAPE, "ctx: ndim %d outside 1..4", ndim);
    vimo_tensor *t = new_header(ctx);
    if (!t) return VIMO_ERR_NOMEM;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 1) return vimo_error(VIMO_ERR_SHAPE, "ctx: dim %d has size %lld", i, (long long)shape[i]);
    vt_set_contig_strides(t);
    t->device = device;
    t->data = vt_alloc_dev(ctx, device, (size_t)vt_numel(t) * sizeof(float));
    if (!t->data) return VIMO_ERR_NOMEM;
    *out = t;
    return VIMO_OK;
}

vimo_status vimo_ctx_tensor_on(vimo_ctx *ctx, vimo_tensor **out, int device, int ndim, const int64_t *shape)
{
    if (!ctx || !out || !shape) return vimo_error(VIMO_ERR_INVALID, "ctx_tensor: NULL argument");
    if (!vimo_backend_of(device)) return vimo_error(VIMO_ERR_INVALID, "ctx_tensor: unknown device %d", device);
    vimo_status st = vt_new_out_on(ctx, out, device, ndim, shape);
    if (st) return st;
    size_t bytes = (size_t)vt_numel(*out) * sizeof(float);
    if (device == 0) {
        memset((*out)->data, 0, bytes);
        return VIMO_OK;
    }
    return vt_backend(device)->memset0((*out)->data, bytes);
}

vimo_status vimo_ctx_tensor(vimo_ctx *ctx, vimo_tensor **out, int ndim, const int64_t *shape)
{
    return vimo_ctx_tensor_on(ctx, out, 0, ndim, shape);
}

vimo_status vt_new_view(vimo_ctx *ctx, vimo_tensor **out, vimo_tensor *x)
{
    *out = NULL;
    vimo_tensor *t = new_header(ctx);
    if (!t) return VIMO_ERR_NOMEM;
    t->ndim = x->ndim;
    t->device = x->device;
    memcpy(t->shape, x->shape, sizeof t->shape);
    memcpy(t->stride, x->stride, sizeof t->stride);
    t->data = x->data;
    if (x->storage) {
        vt_ref *r = malloc(sizeof *r);
        if (!r) return vimo_error(VIMO_ERR_NOMEM, "ctx: out of memory");
        r->s = x->storage;
        r->s->refs++;
        r->next = ctx->refs;
        ctx->refs = r;
        t->storage = x->storage;
    }
    *out = t;
    return VIMO_OK;
}

int vt_needs_grad(const vimo_ctx *ctx, vimo_tensor *const *in, int n)
{
    if (!ctx->grad_on) return 0;
    for (int i = 0; i < n; i++)
        if (vt_requires_grad(in[i])) return 1;
    return 0;
}

vimo_status vt_record(vimo_ctx *ctx, vimo_tensor *out, const char *op, vimo_backward_fn fn,
                      vimo_tensor *const *in, int n, vimo_node **node)
{
    if (n > VT_NODE_MAX_IN) return vimo_error(VIMO_ERR_INTERNAL, "%s: too many inputs for a tape node", op);
    vimo_node *nd = vt_alloc(ctx, sizeof *nd);
    if (!nd) return VIMO_ERR_NOMEM;
    memset(nd, 0, sizeof *nd);
    nd->op = op;
    nd->backward = fn;
    nd->out = out;
    nd->n_in = n;
    for (int i = 0; i < n; i++) nd->in[i] = in[i];
    nd->prev = ctx->tape;
    ctx->tape = nd;
    out->node = nd;
    out->flags |= VT_REQUIRES_GRAD;
    if (node) *node = nd;
    return VIMO_OK;
}

float *vt_grad_fresh(vimo_ctx *ctx, vimo_tensor *t, int *fresh)
{
    *fresh = 0;
    if (t->grad || !(t->flags & VT_CTX_OWNED)) return vt_grad(ctx, t);
    t->grad = vt_alloc_dev(ctx, t->device, (size_t)vt_numel(t) * sizeof(float));
    *fresh = t->grad != NULL;
    return t->grad;
}

float *vt_grad(vimo_ctx *ctx, vimo_tensor *t)
{
    if (t->grad) return t->grad;
    size_t bytes = (size_t)vt_numel(t) * sizeof(float);
    if (t->flags & VT_CTX_OWNED) {
        int fresh;
        if (!vt_grad_fresh(ctx, t, &fresh)) return NULL;
        if (t->device == 0) memset(t->grad, 0, bytes);
        if (t->device && vt_backend(t->device)->memset0(t->grad, bytes)) t->grad = NULL;
    } else {
        t->grad = vt_heap_grad(t);
        if (!t->grad) vimo_error(VIMO_ERR_NOMEM, "backward: cannot allocate grad %s", vt_shape(t));
    }
    return t->grad;
}

vimo_status vt_check_args(const char *op, vimo_ctx *ctx, vimo_tensor **out)
{
    if (!ctx || !out) return vimo_error(VIMO_ERR_INVALID, "%s: NULL context or output", op);
    *out = NULL;
    return VIMO_OK;
}

vimo_status vimo_backward(vimo_ctx *ctx, vimo_tensor *loss)
{
    if (!ctx || !loss) return vimo_error(VIMO_ERR_INVALID, "backward: NULL argument");
    if (vt_numel(loss) != 1)
        return vimo_error(VIMO_ERR_SHAPE, "backward: loss %s is not a scalar", vt_shape(loss));
    if (!loss->node || loss->ctx != ctx)
        return vimo_error(VIMO_ERR_STATE, "backward: loss was not recorded on this context (grad mode off, or "
                                          "nothing requires a gradient)");
    if (ctx->backward_done)
        return vimo_error(VIMO_ERR_STATE, "backward: already run on this tape; reset the context first");
    ctx->backward_done = 1;
    float *g = vt_grad(ctx, loss);
    if (!g) return VIMO_ERR_NOMEM;
    if (loss->device == 0) {
        g[0] += 1.0f;
    } else {
        const vimo_backend *be = vt_backend(loss->device);
        float one;
        vimo_status st = be->copy_d2h(&one, g, sizeof one);
        one += 1.0f;
        if (st || (st = be->copy_h2d(g, &one, sizeof one))) return st;
    }
    /* Recording order is a topological order: walk it backwards. */
    for (vimo_node *n = loss->node; n; n = n->prev) {
        if (!n->out->grad) continue; /* no gradient reached this node */
        vimo_status st = n->backward(ctx, n);
        if (st) return st;
    }
    return VIMO_OK;
}
