/* params.c - named parameter sets and PyTorch-default initialisers. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vimo/backend.h"
#include "vimo/params.h"
#include "vimo/plugin.h"

typedef struct {
    char *name;
    vimo_tensor *t;
} entry;

struct vimo_params {
    entry *e;
    int n, cap;
};

vimo_status vimo_params_new(vimo_params **out)
{
    if (!out) return vimo_error(VIMO_ERR_INVALID, "params_new: out is NULL");
    *out = calloc(1, sizeof **out);
    return *out ? VIMO_OK : vimo_error(VIMO_ERR_NOMEM, "params_new: out of memory");
}

void vimo_params_free(vimo_params *p)
{
    if (!p) return;
    for (int i = 0; i < p->n; i++) {
        vimo_tensor_free(p->e[i].t);
        free(p->e[i].name);
    }
    free(p->e);
    free(p);
}

vimo_status vimo_params_add(vimo_params *p, vimo_tensor **out, int ndim, const int64_t *shape, const char *fmt, ...)
{
    if (!p || !out || !fmt) return vimo_error(VIMO_ERR_INVALID, "params_add: NULL argument");
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (vimo_params_find(p, name)) return vimo_error(VIMO_ERR_INVALID, "params_add: duplicate name '%s'", name);
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 16;
        entry *e = realloc(p->e, (size_t)cap * sizeof *e);
        if (!e) return vimo_error(VIMO_ERR_NOMEM, "params_add: out of memory");
        p->e = e;
        p->cap = cap;
    }
    vimo_tensor *t = NULL;
    vimo_status st = vimo_tensor_new(&t, ndim, shape);
    if (st) return st;
    char *copy = strdup(name);
    if (!copy || (st = vimo_tensor_set_name(t, name)) || (st = vimo_tensor_set_requires_grad(t, 1))) {
        free(copy);
        vimo_tensor_free(t);
        return st ? st : vimo_error(VIMO_ERR_NOMEM, "params_add: out of memory");
    }
    p->e[p->n++] = (entry){copy, t};
    *out = t;
    return VIMO_OK;
}

int vimo_params_count(const vimo_params *p) { return p ? p->n : 0; }

vimo_tensor *vimo_params_at(const vimo_params *p, int i, const char **name)
{
    if (!p || i < 0 || i >= p->n) return NULL;
    if (name) *name = p->e[i].name;
    return p->e[i].t;
}

vimo_tensor *vimo_params_find(const vimo_params *p, const char *name)
{
    for (int i = 0; p && name && i < p->n; i++)
        if (strcmp(p->e[i].name, name) == 0) return p->e[i].t;
    return NULL;
}

vimo_status vimo_params_set_trainable(vimo_params *p, int trainable)
{
    for (int i = 0; p && i < p->n; i++) {
        vimo_status st = vimo_tensor_set_requires_grad(p->e[i].t, trainable);
        if (st) return st;
    }
    return VIMO_OK;
}

void vimo_init_fan_in(vimo_tensor *t, vimo_rng *rng, int64_t fan_in)
{
    float bound = 1.0f / sqrtf((float)(fan_in > 0 ? fan_in : 1));
    if (!t || !rng) {
        vimo_error(VIMO_ERR_INVALID, "init_fan_in: NULL argument");
        return;
    }
    int64_t n = vimo_tensor_numel(t);
    if (vimo_tensor_device(t) == VIMO_DEVICE_CPU) {
        vimo_rng_fill_uniform(rng, vimo_tensor_data(t), n, -bound, bound);
        return;
    }
    /* On a device (no host pointer): the same draws on the host, copied over. */
    float *h = malloc((size_t)(n ? n : 1) * sizeof(float));
    if (!h) {
        vimo_error(VIMO_ERR_NOMEM, "init_fan_in: out of memory for %lld floats", (long long)n);
        return;
    }
    vimo_rng_fill_uniform(rng, h, n, -bound, bound);
    vimo_tensor_copy_from(t, h, n); /* sets the error message on failure */
    free(h);
}

vimo_status vimo_linear_init(vimo_params *p, vimo_rng *rng, vimo_linear *l, int64_t in, int64_t out, int bias,
                             const char *prefix)
{
    if (!l || !rng) return vimo_error(VIMO_ERR_INVALID, "linear_init: NULL argument");
    l->b = NULL;
    vimo_status st = vimo_params_add(p, &l->w, 2, (int64_t[]){out, in}, "%s.weight", prefix);
    if (st) return st;
    vimo_init_fan_in(l->w, rng, in);
    if (bias) {
        if ((st = vimo_params_add(p, &l->b, 1, (int64_t[]){out}, "%s.bias", prefix))) return st;
        vimo_init_fan_in(l->b, rng, in);
    }
    return VIMO_OK;
}

/* ---- the shared module interface ---------------------------------------- */

static int base_num_params(void *inst) { return vimo_params_count(((vimo_module_base *)inst)->params); }
static vimo_tensor *base_param(void *inst, int i, const char **name)
{
    return vimo_params_at(((vimo_module_base *)inst)->params, i, name);
}
static void base_set_train(void *inst, int train) { ((vimo_module_base *)inst)->train = train != 0; }
static vimo_status base_set_trainable(void *inst, int on)
{
    return vimo_params_set_trainable(((vimo_module_base *)inst)->params, on);
}

const vimo_module_iface vimo_module_base_iface = {
    .size = sizeof(vimo_module_iface),
    .num_params = base_num_params,
    .param = base_param,
    .set_train = base_set_train,
    .set_trainable = base_set_trainable,
};
