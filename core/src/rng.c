/* rng.c - xoshiro128** seeded by splitmix64 (see rng.h). */
#include <math.h>

#include "vimo/rng.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void vimo_rng_seed(vimo_rng *r, uint64_t seed)
{
    uint64_t a = splitmix64(&seed), b = splitmix64(&seed);
    r->s[0] = (uint32_t)a;
    r->s[1] = (uint32_t)(a >> 32);
    r->s[2] = (uint32_t)b;
    r->s[3] = (uint32_t)(b >> 32);
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3])) r->s[0] = 1; /* all-zero state is a fixed point */
}

static inline uint32_t rotl(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }

uint32_t vimo_rng_u32(vimo_rng *r)
{
    uint32_t *s = r->s;
    uint32_t out = rotl(s[1] * 5, 7) * 9;
    uint32_t t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return out;
}

float vimo_rng_uniform(vimo_rng *r) { return (float)(vimo_rng_u32(r) >> 8) * (1.0f / 16777216.0f); }

float vimo_rng_normal(vimo_rng *r)
{
    /* u1 in (0, 1] keeps log() finite. */
    float u1 = ((float)(vimo_rng_u32(r) >> 8) + 1.0f) * (1.0f / 16777216.0f);
    float u2 = vimo_rng_uniform(r);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530717958647692f * u2);
}

uint32_t vimo_rng_below(vimo_rng *r, uint32_t n)
{
    if (n <= 1) return 0;
    uint64_t m = (uint64_t)vimo_rng_u32(r) * n;
    uint32_t lo = (uint32_t)m;
    if (lo < n) {
        uint32_t thresh = (uint32_t)(-n) % n;
        while (lo < thresh) {
            m = (uint64_t)vimo_rng_u32(r) * n;
            lo = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

void vimo_rng_fill_normal(vimo_rng *r, float *x, int64_t n, float std)
{
    for (int64_t i = 0; i < n; i++) x[i] = std * vimo_rng_normal(r);
}

void vimo_rng_fill_uniform(vimo_rng *r, float *x, int64_t n, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * vimo_rng_uniform(r);
}
