#include "core/rng.h"
#include "recur.h" /* recur_splitmix64 and friends: exported */

#include <math.h>
#include <stddef.h>

/* splitmix64 (Steele, Lea, Flood 2014): the one copy in the repository. */
uint64_t recur_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t recur_splitmix_seed(uint64_t seed) { return seed ^ 0x6a09e667f3bcc909ULL; }

uint64_t recur_splitmix_below(uint64_t *state, uint64_t n)
{
    if (n <= 1) return 0;
    /* Rejection sampling: no modulo bias. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    for (;;) {
        uint64_t x = recur_splitmix64(state);
        if (x < limit) return x % n;
    }
}

void recur_rng_seed(recur_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = recur_splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t recur_rng_next(recur_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float recur_rng_uniform(recur_rng *r)
{
    return (float)(recur_rng_next(r) >> 40) * (1.0f / 16777216.0f);
}

uint64_t recur_rng_below(recur_rng *r, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = recur_rng_next(r);
    while (x >= limit);
    return x % n;
}

float recur_rng_normal(recur_rng *r)
{
    double u1 = ((double)(recur_rng_next(r) >> 11) + 1.0) * 0x1.0p-53;
    double u2 = (double)(recur_rng_next(r) >> 11) * 0x1.0p-53;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void recur_rng_shuffle(recur_rng *r, size_t *v, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)recur_rng_below(r, i);
        size_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}
