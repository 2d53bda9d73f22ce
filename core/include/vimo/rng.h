/*
 * vimo/rng.h - the one seeded random number generator.
 *
 * xoshiro128** (Blackman & Vigna 2018, "Scrambled linear pseudorandom number
 * generators"), 128 bits of state seeded through splitmix64. Every random
 * choice in vimo (initialisation, dropout masks, data shuffling, sampling)
 * draws from a vimo_rng passed explicitly, so a seed reproduces a run bit for
 * bit. The state is plain data: save it in checkpoints to resume exactly.
 */
#ifndef VIMO_RNG_H
#define VIMO_RNG_H

#include <stdint.h>

#include "vimo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vimo_rng {
    uint32_t s[4];
} vimo_rng;

/* Seeds the generator (any 64-bit seed, including 0). */
VIMO_API void vimo_rng_seed(vimo_rng *r, uint64_t seed);
/* Next 32 random bits. */
VIMO_API uint32_t vimo_rng_u32(vimo_rng *r);
/* Uniform float in [0, 1) with 24 random bits. */
VIMO_API float vimo_rng_uniform(vimo_rng *r);
/* Standard normal (Box-Muller, one draw per call). */
VIMO_API float vimo_rng_normal(vimo_rng *r);
/* Uniform integer in [0, n), n >= 1 (Lemire's multiply-shift, unbiased). */
VIMO_API uint32_t vimo_rng_below(vimo_rng *r, uint32_t n);
/* Fills n floats with N(0, std^2) (std = 0 gives zeros). */
VIMO_API void vimo_rng_fill_normal(vimo_rng *r, float *x, int64_t n, float std);
/* Fills n floats uniformly in [lo, hi). */
VIMO_API void vimo_rng_fill_uniform(vimo_rng *r, float *x, int64_t n, float lo, float hi);

#ifdef __cplusplus
}
#endif
#endif /* VIMO_RNG_H */
