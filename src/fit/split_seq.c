/*
 * Train / validation / test parts of a data set that is not a names folder
 * (a recur_seqset: CoNLL, JSON Lines, CSV, NumPy, audio), under the same
 * recur_split_plan that recur_split_apply takes and recur_model_set_split
 * records, so that a model trained on such a set can be tested again on
 * exactly its held-out sequences. Sizes follow recur_split_apply: the test
 * part is round(test_fraction * n) sequences, kept in [1, n-1] when n >= 2;
 * validation round(valid_fraction * n) of the rest, at most all but one.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "recur.h"

static size_t share(size_t n, double fraction)
{
    double t = floor(fraction * (double)n + 0.5);
    return t <= 0 ? 0 : t >= (double)n ? n : (size_t)t;
}

/* Mark side[v[k]] = mark for `take` of the n items v (shuffled in place),
 * or, with labels, each label's share of them, never all of a label. */
static recur_status mark(size_t *v, size_t n, size_t take, double frac, const int32_t *labels, recur_rng *rng,
                         unsigned char *side, unsigned char markv, recur_error *err)
{
    if (!labels) {
        recur_rng_shuffle(rng, v, n);
        for (size_t k = 0; k < take && k < n; k++) side[v[k]] = markv;
        return RECUR_OK;
    }
    /* By label: a stable pass per label keeps the draw independent of the
     * order in which labels first appear. */
    int32_t lo = 0, hi = -1;
    for (size_t k = 0; k < n; k++) {
        if (k == 0 || labels[v[k]] < lo) lo = labels[v[k]];
        if (k == 0 || labels[v[k]] > hi) hi = labels[v[k]];
    }
    size_t *run = malloc((n ? n : 1) * sizeof *run);
    if (!run) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory splitting the data set");
    size_t marked = 0;
    for (int64_t l = lo; l <= hi; l++) {
        size_t c = 0;
        for (size_t k = 0; k < n; k++)
            if (labels[v[k]] == l) run[c++] = v[k];
        if (c < 2) continue;
        recur_rng_shuffle(rng, run, c);
        size_t t = share(c, frac);
        if (t > c - 1) t = c - 1;
        for (size_t k = 0; k < t; k++) side[run[k]] = markv;
        marked += t;
    }
    if (marked == 0 && take > 0 && n >= 2) side[v[recur_rng_below(rng, n)]] = markv;
    free(run);
    return RECUR_OK;
}

recur_status recur_split_indices(size_t n, const int32_t *labels, const recur_split_plan *p, size_t **train,
                                 size_t *n_train, size_t **valid, size_t *n_valid, size_t **test, size_t *n_test,
                                 recur_error *err)
{
    size_t **outs[3] = {train, valid, test};
    size_t *counts[3] = {n_train, n_valid, n_test};
    for (int k = 0; k < 3; k++) {
        if (outs[k]) *outs[k] = NULL;
        if (counts[k]) *counts[k] = 0;
    }
    if (!p) return recur_fail(err, RECUR_ERR_ARG, "split needs a plan");
    if (p->method == RECUR_SPLIT_DISTINCT)
        return recur_fail(err, RECUR_ERR_UNSUPPORTED, "a split by distinct spelling needs a folder of names");
    if (p->method != RECUR_SPLIT_RANDOM && p->method != RECUR_SPLIT_STRATIFIED)
        return recur_fail(err, RECUR_ERR_ARG, "unknown split method %d", (int)p->method);
    if (p->method == RECUR_SPLIT_STRATIFIED && !labels)
        return recur_fail(err, RECUR_ERR_ARG, "a stratified split needs a label per sequence");
    if (p->dedupe) return recur_fail(err, RECUR_ERR_UNSUPPORTED, "dedupe needs a folder of names");
    if (!(p->valid_fraction >= 0 && p->valid_fraction < 1))
        return recur_fail(err, RECUR_ERR_ARG, "validation fraction %g is not in [0, 1)", p->valid_fraction);
    if (!p->test_dir && !(p->test_fraction > 0 && p->valid_fraction + p->test_fraction < 1))
        return recur_fail(err, RECUR_ERR_ARG, "validation %g and test %g leave nothing to train on",
                          p->valid_fraction, p->test_fraction);
    const int32_t *by = p->method == RECUR_SPLIT_STRATIFIED ? labels : NULL;
    size_t *v = malloc((n ? n : 1) * sizeof *v), *lists[3];
    unsigned char *side = calloc(n ? n : 1, 1); /* 0 train, 1 valid, 2 test */
    for (int k = 0; k < 3; k++) lists[k] = malloc((n ? n : 1) * sizeof **lists);
    recur_status st = v && side && lists[0] && lists[1] && lists[2]
                          ? RECUR_OK
                          : recur_fail(err, RECUR_ERR_NOMEM, "out of memory splitting the data set");
    recur_rng rng;
    recur_rng_seed(&rng, p->seed);
    for (size_t i = 0; !st && i < n; i++) v[i] = i;
    if (!st && !p->test_dir) {
        size_t t = share(n, p->test_fraction);
        if (n >= 2 && t < 1) t = 1;
        if (n >= 2 && t > n - 1) t = n - 1;
        st = mark(v, n, t, p->test_fraction, by, &rng, side, 2, err);
    }
    size_t nr = 0;
    for (size_t i = 0; !st && i < n; i++)
        if (side[i] == 0) v[nr++] = i;
    size_t target = share(n, p->valid_fraction);
    if (target >= nr) target = nr ? nr - 1 : 0;
    recur_rng_seed(&rng, p->seed ^ 0x243f6a8885a308d3ULL);
    if (!st && p->valid_fraction > 0 && target > 0)
        st = mark(v, nr, target, p->valid_fraction * (double)n / (double)(nr ? nr : 1), by, &rng, side, 1, err);
    size_t c[3] = {0, 0, 0};
    for (size_t i = 0; !st && i < n; i++) lists[side[i]][c[side[i]]++] = i;
    free(v);
    free(side);
    for (int k = 0; k < 3; k++) {
        if (!st && outs[k]) *outs[k] = lists[k];
        else free(lists[k]);
        if (!st && counts[k]) *counts[k] = c[k];
    }
    return st;
}
