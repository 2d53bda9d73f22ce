/*
 * vimo/optim.h - AdamW, gradient clipping and learning-rate schedules.
 *
 * AdamW follows Loshchilov & Hutter 2019 (decoupled weight decay, their
 * Algorithm 2) with PyTorch's torch.optim.AdamW defaults and bias correction:
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p -= lr * (wd * p + (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps))
 * Parameters sit in groups, each with its own learning rate and weight
 * decay (e.g. projectors at 1e-3, LoRA adapters at 2e-4). The optimiser does
 * not own the parameter tensors; they must outlive it.
 */
#ifndef VIMO_OPTIM_H
#define VIMO_OPTIM_H

#include <stdint.h>

#include "vimo/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vimo_adamw vimo_adamw; /* opaque */

typedef struct vimo_adamw_config {
    float beta1;  /* 0.9   */
    float beta2;  /* 0.999 */
    float eps;    /* 1e-8  */
} vimo_adamw_config;

/* cfg NULL: the defaults above. Errors: VIMO_ERR_INVALID, VIMO_ERR_NOMEM. */
VIMO_API vimo_status vimo_adamw_new(vimo_adamw **out, const vimo_adamw_config *cfg);
VIMO_API void vimo_adamw_free(vimo_adamw *opt);
/* Adds a group of n parameters (caller-owned, requires_grad on) with learning
 * rate lr and weight decay wd; returns its index in *group (may be NULL).
 * Errors: VIMO_ERR_STATE if a tensor has no gradient buffer. */
VIMO_API vimo_status vimo_adamw_add_group(vimo_adamw *opt, vimo_tensor *const *params, int n, float lr, float wd,
                                          int *group);
/* One update of every group with lr = group lr * lr_scale (the schedule's
 * factor). Gradients are read, not cleared. */
VIMO_API vimo_status vimo_adamw_step(vimo_adamw *opt, float lr_scale);
/* Zeroes the gradients of every parameter in every group. */
VIMO_API void vimo_adamw_zero_grad(vimo_adamw *opt);
/* Number of steps taken (t in the bias correction). */
VIMO_API int64_t vimo_adamw_steps(const vimo_adamw *opt);

/* Optimiser state for checkpoints: the moment buffers of parameter i of group
 * g (numel floats each) and the step count. Moments live on their
 * parameter's device (vimo/backend.h); the step runs there too.
 * Errors: VIMO_ERR_INVALID, VIMO_ERR_UNSUPPORTED when m or v is asked for
 * a parameter on a device other than the CPU (no host pointer). */
VIMO_API int vimo_adamw_num_groups(const vimo_adamw *opt);
VIMO_API int vimo_adamw_group_size(const vimo_adamw *opt, int g);
VIMO_API vimo_status vimo_adamw_moments(vimo_adamw *opt, int g, int i, vimo_tensor **param, float **m, float **v);
/* Copies parameter i of group g's moments (numel floats each) to host
 * memory m and v, or from it into the optimiser, wherever they live (the
 * device the parameter was on when it was added): what checkpoints use.
 * m or v may be NULL (not copied). Errors: VIMO_ERR_INVALID, the backend's
 * copy errors. */
VIMO_API vimo_status vimo_adamw_moments_to_host(const vimo_adamw *opt, int g, int i, float *m, float *v);
VIMO_API vimo_status vimo_adamw_moments_from_host(vimo_adamw *opt, int g, int i, const float *m, const float *v);
VIMO_API void vimo_adamw_set_steps(vimo_adamw *opt, int64_t steps);

/* Scales every gradient of the n tensors so that their global L2 norm is at
 * most max_norm (as torch.nn.utils.clip_grad_norm_); writes the norm before
 * clipping to *norm (may be NULL). */
VIMO_API vimo_status vimo_clip_grad_norm(vimo_tensor *const *params, int n, float max_norm, float *norm);

/* Learning-rate factor in [min_factor, 1]: linear warmup from 0 over
 * `warmup` steps, then cosine decay to min_factor at step `total`. */
VIMO_API float vimo_lr_warmup_cosine(int64_t step, int64_t warmup, int64_t total, float min_factor);

#ifdef __cplusplus
}
#endif
#endif /* VIMO_OPTIM_H */
