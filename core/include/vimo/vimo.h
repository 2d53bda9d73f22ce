/*
 * vimo/vimo.h - umbrella header and library-wide setup.
 *
 * vimo: LLM-based understanding of human behaviour from motion and video
 * (MotionLLM, arXiv 2405.20340; ViMoNet, arXiv 2508.09818).
 *
 * Include this one header to get the core C API: status codes, tensors and
 * autograd, ops, optimisers, the RNG, kernels and the plugin ABI.
 */
#ifndef VIMO_VIMO_H
#define VIMO_VIMO_H

#include "vimo/status.h"
#include "vimo/tensor.h"
#include "vimo/ops.h"
#include "vimo/optim.h"
#include "vimo/rng.h"
#include "vimo/kernels.h"
#include "vimo/plugin.h"
#include "vimo/params.h"
#include "vimo/layers.h"
#include "vimo/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Library version string, e.g. "0.1.0". */
VIMO_API const char *vimo_version(void);

/* One-time setup, safe to call more than once and from any thread:
 * picks the GEMM kernel configuration for this CPU (see kernels.h) before
 * BLIS first runs, and sets the thread count from VIMO_NUM_THREADS or
 * OMP_NUM_THREADS (default: all cores). Every entry point that needs it calls
 * it; callers may call it early to see errors.
 * Errors: VIMO_ERR_INVALID when VIMO_BLIS_ARCH names an unknown config. */
VIMO_API vimo_status vimo_init(void);

#ifdef __cplusplus
}
#endif
#endif /* VIMO_VIMO_H */
