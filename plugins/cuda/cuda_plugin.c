/*
 * cuda_plugin.c - backend.cuda: the plugin descriptor and the vimo_backend
 * it hands out for "vimo.backend/1" (vimo/backend.h). The kernels and the
 * memory functions live in cuda_kernels.cu; nothing here touches CUDA, so
 * loading the plugin on a machine without a GPU is harmless: init (called
 * by vimo_backend_get("cuda")) is where "no CUDA device" is reported.
 */
#include <string.h>

#include "cuda_backend.h"
#include "vimo/plugin.h"

static const vimo_backend k_cuda = {
    VIMO_BACKEND_HEADER,
    .name = "cuda",
    .init = vcu_init,
    .alloc = vcu_alloc,
    .free = vcu_free,
    .copy_h2d = vcu_h2d,
    .copy_d2h = vcu_d2h,
    .copy_d2d = vcu_d2d,
    .memset0 = vcu_memset0,
    .synchronize = vcu_sync,
    .kernels = &vcu_kernels,
};

/* A backend has no instances: create/destroy exist for the loader's checks. */
static vimo_status create(const vimo_options *opts, void **inst)
{
    (void)opts;
    *inst = (void *)&k_cuda;
    return VIMO_OK;
}
static void destroy(void *inst) { (void)inst; }

static const void *get_iface(const char *name)
{
    return strcmp(name, VIMO_IFACE_BACKEND) ? NULL : (const void *)&k_cuda;
}

VIMO_PLUGIN_DEFINE(cuda) = {
    VIMO_PLUGIN_HEADER,
    .kind = VIMO_PLUGIN_BACKEND,
    .id = "backend.cuda",
    .version = "0.1.0",
    .license = "MIT",
    .summary = "CUDA backend: cuBLAS GEMM (fp32, or TF32/BF16 via VIMO_CUDA_GEMM) and CUDA kernels for every op",
    .options = NULL,
    .create = create,
    .destroy = destroy,
    .get_iface = get_iface,
};
