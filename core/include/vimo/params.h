/*
 * vimo/params.h - named parameter sets and standard initialisers for plugins.
 *
 * A model plugin keeps its parameters in one vimo_params: caller-owned
 * tensors with stable Hugging Face style names ("layers.0.fc1.weight"),
 * created trainable, enumerable in creation order (which is what
 * "vimo.module/1" exposes to optimisers and checkpoints). Freeing the set
 * frees the tensors.
 *
 * Initialisers follow PyTorch's defaults so that results are comparable:
 * nn.Linear / nn.Conv*d weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))
 * (kaiming_uniform with a = sqrt(5)), nn.Embedding ~ N(0, 1), norms w = 1, b = 0.
 */
#ifndef VIMO_PARAMS_H
#define VIMO_PARAMS_H

#include "vimo/rng.h"
#include "vimo/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vimo_params vimo_params; /* opaque */

VIMO_API vimo_status vimo_params_new(vimo_params **out);
/* Frees the set and every tensor in it (NULL: no-op). */
VIMO_API void vimo_params_free(vimo_params *p);
/* Adds a zeroed trainable tensor named `name` (printf format) of shape
 * shape[ndim]. Errors: VIMO_ERR_INVALID for a duplicate name, VIMO_ERR_SHAPE,
 * VIMO_ERR_NOMEM. */
VIMO_API vimo_status vimo_params_add(vimo_params *p, vimo_tensor **out, int ndim, const int64_t *shape,
                                     const char *name_fmt, ...) __attribute__((format(printf, 5, 6)));
VIMO_API int vimo_params_count(const vimo_params *p);
/* The i-th tensor (creation order) and its name; NULL when out of range. */
VIMO_API vimo_tensor *vimo_params_at(const vimo_params *p, int i, const char **name);
/* The tensor named `name`, or NULL. */
VIMO_API vimo_tensor *vimo_params_find(const vimo_params *p, const char *name);
/* Marks every tensor trainable (1) or frozen (0). */
VIMO_API vimo_status vimo_params_set_trainable(vimo_params *p, int trainable);

/* A linear layer y = x W^T + b (nn.Linear): W (out, in), b (out) or none. */
typedef struct vimo_linear {
    vimo_tensor *w; /* (out, in) */
    vimo_tensor *b; /* (out) or NULL */
} vimo_linear;

/* Adds "<prefix>.weight" and (bias != 0) "<prefix>.bias" to p, initialised
 * as nn.Linear from rng. */
VIMO_API vimo_status vimo_linear_init(vimo_params *p, vimo_rng *rng, vimo_linear *l, int64_t in, int64_t out,
                                      int bias, const char *prefix);
/* Fills t ~ U(-bound, bound), bound = 1/sqrt(fan_in) (PyTorch default). A
 * tensor on a device gets the same draws through a host copy; NULL
 * arguments or a failed copy leave t unchanged with vimo_last_error set. */
VIMO_API void vimo_init_fan_in(vimo_tensor *t, vimo_rng *rng, int64_t fan_in);

/* Shared "vimo.module/1" for plugins whose instance struct starts with a
 * vimo_module_base: parameters come from `params`, set_train stores `train`.
 * Saves every plugin the same boilerplate:
 *     typedef struct { vimo_module_base base; ... } my_encoder;
 *     if (!strcmp(name, VIMO_IFACE_MODULE)) return &vimo_module_base_iface; */
typedef struct vimo_module_base {
    vimo_params *params;
    int train;
} vimo_module_base;
struct vimo_module_iface;
VIMO_API extern const struct vimo_module_iface vimo_module_base_iface;

#ifdef __cplusplus
}
#endif
#endif
