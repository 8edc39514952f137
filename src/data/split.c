/*
 * Train/test splits, deterministic in the seed (core/rng.h is portable).
 *
 * The test side gets round(test_fraction * n) examples, kept within
 * [1, n-1] when n >= 2 so that neither side is empty.
 *  - Random: shuffle the indices; the first ones go to test.
 *  - By distinct text: shuffle the groups of equal texts (numbered in order
 *    of first appearance); whole groups go to test while it holds fewer
 *    than the target (so it may overshoot by less than one group), never
 *    the last group.
 *  - Stratified: each label is shuffled on its own and gives
 *    test_target(count of the label) of its lines, so that a small label
 *    is held out in proportion and macro recall does not hinge on a label
 *    that drew 2 test lines out of 74 (a random split of the names data
 *    does that). If every label has a single line, one line goes to test.
 * Both lists come back in increasing index order.
 */
#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/rng.h"
#include "data/dataset.h"

static size_t test_target(size_t n, double fraction)
{
    double t = floor(fraction * (double)n + 0.5);
    size_t k = t <= 0 ? 0 : t >= (double)n ? n : (size_t)t;
    if (n >= 2) {
        if (k < 1) k = 1;
        if (k > n - 1) k = n - 1;
    }
    return k;
}

/* Mark side[i] = 1 for the examples that go to test. */
static recur_status mark_random(const recur_dataset *ds, size_t target, recur_rng *rng,
                                unsigned char *side, recur_error *err)
{
    size_t *perm = malloc((ds->n ? ds->n : 1) * sizeof *perm);
    if (!perm) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory splitting the data set");
    for (size_t i = 0; i < ds->n; i++) perm[i] = i;
    recur_rng_shuffle(rng, perm, ds->n);
    for (size_t i = 0; i < target; i++) side[perm[i]] = 1;
    free(perm);
    return RECUR_OK;
}

static recur_status mark_stratified(const recur_dataset *ds, double fraction, recur_rng *rng,
                                    unsigned char *side, recur_error *err)
{
    size_t *idx = malloc((ds->n ? ds->n : 1) * sizeof *idx);
    if (!idx) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory splitting the data set");
    size_t marked = 0;
    /* Examples are ordered by label: each label is one run of them. */
    for (size_t start = 0; start < ds->n;) {
        size_t end = start;
        while (end < ds->n && ds->ex[end].label == ds->ex[start].label) end++;
        size_t count = end - start;
        for (size_t i = 0; i < count; i++) idx[i] = start + i;
        recur_rng_shuffle(rng, idx, count);
        size_t k = count >= 2 ? test_target(count, fraction) : 0;
        for (size_t i = 0; i < k; i++) side[idx[i]] = 1;
        marked += k;
        start = end;
    }
    if (marked == 0 && ds->n >= 2) side[recur_rng_below(rng, ds->n)] = 1;
    free(idx);
    return RECUR_OK;
}

static recur_status mark_distinct(const recur_dataset *ds, size_t target, recur_rng *rng,
                                  unsigned char *side, recur_error *err)
{
    size_t G = ds->ngroups;
    size_t *order = malloc((G ? G : 1) * sizeof *order);
    size_t *size = calloc(G ? G : 1, sizeof *size);
    unsigned char *to_test = calloc(G ? G : 1, 1);
    recur_status st = RECUR_OK;
    if (!order || !size || !to_test) {
        st = recur_fail(err, RECUR_ERR_NOMEM, "out of memory splitting the data set");
        goto done;
    }
    for (size_t i = 0; i < ds->n; i++) size[ds->ex[i].group]++;
    for (size_t g = 0; g < G; g++) order[g] = g;
    recur_rng_shuffle(rng, order, G);
    size_t count = 0;
    for (size_t k = 0; k + 1 < G && count < target; k++) {
        to_test[order[k]] = 1;
        count += size[order[k]];
    }
    for (size_t i = 0; i < ds->n; i++) side[i] = to_test[ds->ex[i].group];
done:
    free(order);
    free(size);
    free(to_test);
    return st;
}

recur_status recur_dataset_split(const recur_dataset *ds, double test_fraction, recur_split how,
                                 uint64_t seed, size_t **train, size_t *n_train, size_t **test,
                                 size_t *n_test, recur_error *err)
{
    if (train) *train = NULL;
    if (test) *test = NULL;
    if (n_train) *n_train = 0;
    if (n_test) *n_test = 0;
    if (!ds || !train || !n_train || !test || !n_test)
        return recur_fail(err, RECUR_ERR_ARG, "recur_dataset_split: a required argument is NULL");
    if (!(test_fraction > 0.0 && test_fraction < 1.0))
        return recur_fail(err, RECUR_ERR_ARG, "test fraction %g is not between 0 and 1",
                          test_fraction);
    if (how != RECUR_SPLIT_RANDOM && how != RECUR_SPLIT_DISTINCT && how != RECUR_SPLIT_STRATIFIED)
        return recur_fail(err, RECUR_ERR_ARG, "recur_dataset_split: unknown split %d", (int)how);
    size_t n = ds->n, target = test_target(n, test_fraction);
    unsigned char *side = calloc(n ? n : 1, 1);
    size_t *a = malloc((n ? n : 1) * sizeof *a), *b = malloc((n ? n : 1) * sizeof *b);
    recur_status st = RECUR_OK;
    if (!side || !a || !b) {
        st = recur_fail(err, RECUR_ERR_NOMEM, "out of memory splitting the data set");
        goto fail;
    }
    recur_rng rng;
    recur_rng_seed(&rng, seed);
    st = how == RECUR_SPLIT_DISTINCT     ? mark_distinct(ds, target, &rng, side, err)
         : how == RECUR_SPLIT_STRATIFIED ? mark_stratified(ds, test_fraction, &rng, side, err)
                                         : mark_random(ds, target, &rng, side, err);
    if (st != RECUR_OK) goto fail;
    size_t na = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        if (side[i]) b[nb++] = i;
        else a[na++] = i;
    }
    free(side);
    *train = a;
    *n_train = na;
    *test = b;
    *n_test = nb;
    return RECUR_OK;
fail:
    free(side);
    free(a);
    free(b);
    return st;
}
