/*
 * vimo/kernels.h - the compute kernels under the ops: GEMM and threads.
 *
 * GEMM goes through BLIS (Van Zee & van de Geijn 2015, "BLIS: A Framework for
 * Rapidly Instantiating BLAS Functionality", ACM TOMS 41(3)). Debian's BLIS
 * 0.9 picks its kernel configuration from CPUID and misjudges recent CPUs
 * (Sapphire/Emerald Rapids -> haswell, Zen 5 -> generic: 2-5x slower than
 * its AVX-512 "skx" kernels). vimo_init() therefore chooses the configuration
 * itself, before BLIS first runs (BLIS reads its choice once, at its own
 * initialisation, and can not switch later in the process):
 *
 *   1. VIMO_BLIS_ARCH=skx|zen3|haswell|zen2|zen|sandybridge|generic names a
 *      configuration (unset or "auto": go on with 2);
 *   2. else BLIS_ARCH_TYPE=<id>, BLIS's own variable, if the user set it
 *      (numeric id of BLIS 0.9's arch_t: skx=0, haswell=3, zen3=6, ...);
 *   3. else the first of skx (AVX-512 F/DQ/BW/VL), zen3, haswell, zen2, zen
 *      (AVX2+FMA), sandybridge (AVX), generic that the CPU supports.
 * An unknown name or id, or one the CPU can not run, is an error from
 * vimo_init() (BLIS itself would abort or fault). docs/kernels.md has the
 * measurements behind the order and why it is chosen by CPU flags rather than
 * by timing candidates at start-up.
 *
 * Small M: x @ W^T with M <= VIMO_GEMM_SMALL_M rows (decoding) and a @ B with
 * M = 1 run on vimo's own vectorised kernels (AVX-512, AVX2 or portable C,
 * chosen from the CPU flags; VIMO_GEMM_SMALL_KERNEL=avx512|avx2|portable
 * forces one, for tests and benchmarks), since BLIS's sgemm packs W for a
 * single use there and reaches 2-4 GFLOP/s. Results of different kernels
 * may differ in the last bits (FMA or not); results of one kernel do not
 * depend on the thread count or on M.
 *
 * Threads: exactly one layer owns them. vimo's thread count (vimo_init():
 * VIMO_NUM_THREADS, else OMP_NUM_THREADS, else all cores; or
 * vimo_set_num_threads) is given both to OpenMP and to BLIS, and every BLIS
 * call passes it explicitly. A vimo_sgemm called inside an OpenMP parallel
 * region runs single-threaded (BLIS and the small kernels), so nothing is
 * oversubscribed. Every output element of vimo_sgemm is computed by one
 * thread in an order that does not depend on the thread count, so results
 * are bit-identical for any thread count (tests/kernels).
 */
#ifndef VIMO_KERNELS_H
#define VIMO_KERNELS_H

#include <stdint.h>

#include "vimo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* x @ W^T with at most this many rows uses the small-M kernel. */
#define VIMO_GEMM_SMALL_M 32

/* Row-major C (M, N) = alpha * op(A) @ op(B) + beta * C, where op(A) is
 * (M, K) and op(B) is (K, N); trans_a / trans_b select the transpose (A is
 * then stored (K, M), B stored (N, K)). lda, ldb, ldc are row strides in
 * elements: lda >= (trans_a ? M : K), ldb >= (trans_b ? K : N), ldc >= N.
 * beta = 0 never reads C (it may hold NaN); K = 0 gives C = beta * C.
 * C must not overlap A or B. Runs on vimo's thread count (fewer for small
 * products; one inside an OpenMP parallel region). Calls vimo_init() if
 * needed.
 * Errors: VIMO_ERR_INVALID for negative sizes, strides too small or NULL
 * matrices; vimo_init()'s errors. */
VIMO_API vimo_status vimo_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                                const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                                int64_t ldc);

/* Sets the number of threads for all kernels, OpenMP and BLIS alike (n >= 1;
 * n <= 0 = all cores; capped at 512). Call it between steps from the thread
 * that runs vimo, outside any parallel region: OpenMP's count is a property
 * of the calling thread. Does nothing if vimo_init() fails. */
VIMO_API void vimo_set_num_threads(int n);
VIMO_API int vimo_get_num_threads(void);

/* Name of the BLIS kernel configuration in use ("skx", "haswell", ...), as
 * BLIS itself reports it after initialising (bli_arch_query_id). */
VIMO_API const char *vimo_gemm_arch(void);
/* The configuration vimo asked BLIS for, and why: "auto", "VIMO_BLIS_ARCH"
 * or "BLIS_ARCH_TYPE". It differs from vimo_gemm_arch() only when BLIS was
 * initialised by someone else before vimo_init(). */
VIMO_API const char *vimo_gemm_arch_requested(void);
VIMO_API const char *vimo_gemm_arch_source(void);
/* Instruction set of the small-M kernels: "avx512", "avx2" or "portable". */
VIMO_API const char *vimo_gemm_small_kernel(void);

#ifdef __cplusplus
}
#endif
#endif /* VIMO_KERNELS_H */
