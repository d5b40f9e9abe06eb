/* rng.h - a small, fast, deterministic pseudo-random generator for synthetic data (xoshiro256**
 * seeded by splitmix64): the same seed gives the same sequence on every machine. Not for secrets:
 * keys, tokens and salts come from crypto/. Header-only; one socle_rng per thread of use. */
#ifndef SOCLE_BASE_RNG_H
#define SOCLE_BASE_RNG_H

#include <stdint.h>

typedef struct socle_rng {
    uint64_t s[4];
} socle_rng;

/* rng_splitmix64 - the next value of the splitmix64 sequence whose state is *x (also a good
 * 64-bit mixing function). */
static inline uint64_t rng_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rng_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* rng_seed - the state for a seed (any value, 0 included). */
static inline void rng_seed(socle_rng *r, uint64_t seed)
{
    uint64_t sm = seed;
    for (int i = 0; i < 4; i++) r->s[i] = rng_splitmix64(&sm);
}

/* rng_next - the next 64 random bits. */
static inline uint64_t rng_next(socle_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rng_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rng_rotl(s[3], 45);
    return result;
}

/* rng_below - a uniform integer in [0, n), n < 2^32 (multiply-shift; the bias is negligible here). */
static inline uint32_t rng_below(socle_rng *r, uint32_t n) { return (uint32_t)(((rng_next(r) >> 32) * n) >> 32); }

/* rng_unit - a uniform double in [0, 1). */
static inline double rng_unit(socle_rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

/* rng_chance - 1 with probability per_mille / 1000. */
static inline int rng_chance(socle_rng *r, uint32_t per_mille) { return rng_below(r, 1000) < per_mille; }

#endif
