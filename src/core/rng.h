/* A small, portable, seedable random generator (xoshiro256** seeded by
 * splitmix64): the same seed gives the same numbers on every machine.
 *
 * Two streams, kept apart on purpose: xoshiro256** draws the initial
 * weights and dropout masks, the public splitmix64 of recur.h
 * (recur_splitmix64) the driver's orders and token dropout, sampling and
 * the CLI's synthetic data. They are not one generator because every model
 * made with an existing seed depends on each stream as it is: replacing
 * either by the other would change those models. */
#ifndef RECUR_CORE_RNG_H
#define RECUR_CORE_RNG_H
#include <stddef.h>
#include <stdint.h>

typedef struct recur_rng { uint64_t s[4]; } recur_rng;

void recur_rng_seed(recur_rng *r, uint64_t seed);
uint64_t recur_rng_next(recur_rng *r);
/* Uniform in [0, 1) with 24 random bits (exact in float). */
float recur_rng_uniform(recur_rng *r);
/* Uniform integer in [0, n), n > 0, without modulo bias. */
uint64_t recur_rng_below(recur_rng *r, uint64_t n);
/* Standard normal (Box-Muller). */
float recur_rng_normal(recur_rng *r);
/* Fisher-Yates shuffle of n size_t values. */
void recur_rng_shuffle(recur_rng *r, size_t *v, size_t n);

#endif
