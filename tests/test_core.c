/* Core utilities: RNG determinism and range, status strings. */
#include <string.h>

#include "core/rng.h"
#include "test.h"

static void rng_is_deterministic_and_in_range(void)
{
    recur_rng a, b;
    recur_rng_seed(&a, 42);
    recur_rng_seed(&b, 42);
    double sum = 0;
    for (int i = 0; i < 10000; i++) {
        float u = recur_rng_uniform(&a);
        CHECK(u == recur_rng_uniform(&b));
        CHECK(u >= 0.0f && u < 1.0f);
        sum += u;
    }
    CHECK_NEAR(sum / 10000, 0.5, 0.02);
    recur_rng_seed(&b, 43);
    CHECK(recur_rng_next(&a) != recur_rng_next(&b));
}

static void rng_below_covers_range(void)
{
    recur_rng r;
    recur_rng_seed(&r, 1);
    int seen[7] = {0};
    for (int i = 0; i < 7000; i++) seen[recur_rng_below(&r, 7)]++;
    for (int i = 0; i < 7; i++) CHECK(seen[i] > 800 && seen[i] < 1200);
}

static void status_strings_are_distinct(void)
{
    CHECK(strcmp(recur_status_string(RECUR_OK), "ok") == 0);
    CHECK(strcmp(recur_status_string(RECUR_ERR_FORMAT), recur_status_string(RECUR_ERR_DATA)) != 0);
}

const test_case tests_core[] = {
    {"rng_is_deterministic_and_in_range", rng_is_deterministic_and_in_range},
    {"rng_below_covers_range", rng_below_covers_range},
    {"status_strings_are_distinct", status_strings_are_distinct},
    {NULL, NULL},
};
