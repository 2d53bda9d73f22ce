/*
 * cuda_backend.h - the functions of the CUDA backend (cuda_kernels.cu) that
 * cuda_plugin.c puts into its vimo_backend descriptor. Signatures are those
 * of vimo/backend.h; private to the plugin.
 */
#ifndef VIMO_CUDA_BACKEND_H
#define VIMO_CUDA_BACKEND_H

#include "vimo/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

vimo_status vcu_init(void);
vimo_status vcu_alloc(void **out, size_t bytes);
void vcu_free(void *p);
vimo_status vcu_h2d(void *dst, const void *src, size_t bytes);
vimo_status vcu_d2h(void *dst, const void *src, size_t bytes);
vimo_status vcu_d2d(void *dst, const void *src, size_t bytes);
vimo_status vcu_memset0(void *dst, size_t bytes);
vimo_status vcu_sync(void);
extern const vimo_backend_kernels vcu_kernels;

#ifdef __cplusplus
}
#endif
#endif
