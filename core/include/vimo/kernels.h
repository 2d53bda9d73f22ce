/*
 * vimo/kernels.h - the compute kernels under the ops: GEMM and threads.
 *
 * GEMM goes through BLIS (Van Zee & van de Geijn 2015). Debian's BLIS 0.9
 * auto-detects some recent CPUs as "generic" (~35 GFLOP/s per core on Zen 5);
 * vimo_init() therefore chooses the kernel configuration itself before BLIS
 * first runs: the fastest one the CPU supports (skx for AVX-512, then zen3 /
 * haswell for AVX2+FMA), unless overridden by
 *     VIMO_BLIS_ARCH=auto|skx|zen3|zen2|zen|haswell|sandybridge|generic
 * or by BLIS's own BLIS_ARCH_TYPE when the user already set it.
 *
 * Threads: exactly one layer owns them. vimo's element-wise, norm and
 * attention kernels use OpenMP with a static, thread-count-independent work
 * split; BLIS gets the same count and is never called from inside an OpenMP
 * region (no oversubscription). Every reduction has a fixed order, so results
 * are bit-identical for any thread count (see docs/determinism.md).
 */
#ifndef VIMO_KERNELS_H
#define VIMO_KERNELS_H

#include <stdint.h>

#include "vimo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Row-major C (M, N) = alpha * op(A) @ op(B) + beta * C, where op(A) is
 * (M, K) and op(B) is (K, N); trans_a / trans_b select the transpose. lda,
 * ldb, ldc are row strides in elements. Runs on vimo's thread count.
 * Errors: VIMO_ERR_INVALID for negative sizes or strides too small. */
VIMO_API vimo_status vimo_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                                const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                                int64_t ldc);

/* Sets the number of threads for all kernels (n >= 1; 0 = all cores). */
VIMO_API void vimo_set_num_threads(int n);
VIMO_API int vimo_get_num_threads(void);

/* Name of the BLIS kernel configuration in use ("skx", "haswell", ...),
 * valid after vimo_init(). */
VIMO_API const char *vimo_gemm_arch(void);

#ifdef __cplusplus
}
#endif
#endif /* VIMO_KERNELS_H */
