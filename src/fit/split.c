/*
 * Train / validation / test splits and their record in a model.
 *
 * The test part is recur_dataset_split's held-out side (so it is the same
 * lines that models trained before validation existed were tested on), or
 * another folder. The validation part is then drawn from the rest by the
 * same method: random lines, whole groups of one spelling (none of them on
 * another side), or each label in proportion.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "data/dataset.h"

void recur_split_plan_default(recur_split_plan *p)
{
    memset(p, 0, sizeof *p);
    p->method = RECUR_SPLIT_RANDOM;
    p->valid_fraction = 0.1;
    p->test_fraction = 0.15;
    p->seed = 1;
}

static size_t share(size_t n, double fraction)
{
    double t = floor(fraction * (double)n + 0.5);
    return t <= 0 ? 0 : t >= (double)n ? n : (size_t)t;
}

/* Mark pick[k] = 1 for the items rest[k] that go to validation: `target`
 * of them (lines or whole groups), or each label's share. */
static recur_status mark_valid(const recur_dataset *ds, const size_t *rest, size_t n, size_t target, double frac,
                               recur_split how, uint64_t seed, unsigned char *pick, recur_error *err)
{
    recur_rng rng;
    recur_rng_seed(&rng, seed);
    size_t *perm = malloc((n ? n : 1) * sizeof *perm);
    if (!perm) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory splitting the data set");
    for (size_t k = 0; k < n; k++) perm[k] = k;
    recur_status st = RECUR_OK;
    if (how == RECUR_SPLIT_RANDOM) {
        recur_rng_shuffle(&rng, perm, n);
        for (size_t k = 0; k < target && k < n; k++) pick[perm[k]] = 1;
    } else if (how == RECUR_SPLIT_STRATIFIED) {
        /* rest is in index order, so each label is one run of it. */
        for (size_t a = 0; a < n;) {
            size_t b = a;
            while (b < n && ds->ex[rest[b]].label == ds->ex[rest[a]].label) b++;
            size_t count = b - a, k = share(count, frac * (double)ds->n / (double)(n ? n : 1));
            recur_rng_shuffle(&rng, perm + a, count);
            for (size_t i = 0; i < k && i + 1 < count; i++) pick[perm[a + i]] = 1;
            a = b;
        }
    } else {
        /* Groups of one spelling, in a seeded order, while fewer than the
         * target lines are taken. */
        size_t G = ds->ngroups;
        size_t *order = malloc((G ? G : 1) * sizeof *order), *size = calloc(G ? G : 1, sizeof *size);
        unsigned char *take = calloc(G ? G : 1, 1);
        if (!order || !size || !take) st = recur_fail(err, RECUR_ERR_NOMEM, "out of memory splitting the data set");
        if (!st) {
            for (size_t k = 0; k < n; k++) size[ds->ex[rest[k]].group]++;
            size_t ng = 0;
            for (size_t g = 0; g < G; g++)
                if (size[g]) order[ng++] = g;
            recur_rng_shuffle(&rng, order, ng);
            size_t count = 0;
            for (size_t k = 0; k + 1 < ng && count < target; k++) {
                take[order[k]] = 1;
                count += size[order[k]];
            }
            for (size_t k = 0; k < n; k++) pick[k] = take[ds->ex[rest[k]].group];
        }
        free(order);
        free(size);
        free(take);
    }
    free(perm);
    return st;
}

static void give(size_t **out, size_t *n_out, size_t *list, size_t n)
{
    if (out) *out = list;
    else free(list);
    if (n_out) *n_out = n;
}

recur_status recur_split_apply(recur_dataset *ds, const recur_split_plan *p, size_t **train, size_t *n_train,
                               size_t **valid, size_t *n_valid, size_t **test, size_t *n_test, recur_error *err)
{
    size_t **outs[3] = {train, valid, test};
    size_t *counts[3] = {n_train, n_valid, n_test};
    for (int k = 0; k < 3; k++) {
        if (outs[k]) *outs[k] = NULL;
        if (counts[k]) *counts[k] = 0;
    }
    if (!ds || !p) return recur_fail(err, RECUR_ERR_ARG, "split needs a data set and a plan");
    if (!(p->valid_fraction >= 0 && p->valid_fraction < 1))
        return recur_fail(err, RECUR_ERR_ARG, "validation fraction %g is not in [0, 1)", p->valid_fraction);
    if (!p->test_dir && !(p->valid_fraction + p->test_fraction < 1))
        return recur_fail(err, RECUR_ERR_ARG, "validation %g and test %g leave nothing to train on",
                          p->valid_fraction, p->test_fraction);
    if (p->dedupe) RECUR_TRY(recur_dataset_dedupe(ds, err));
    size_t *rest = NULL, *held = NULL, n_rest = 0, n_held = 0;
    if (p->test_dir) {
        rest = malloc((ds->n ? ds->n : 1) * sizeof *rest);
        held = malloc(sizeof *held);
        if (!rest || !held) {
            free(rest);
            free(held);
            return recur_fail(err, RECUR_ERR_NOMEM, "out of memory splitting the data set");
        }
        for (size_t i = 0; i < ds->n; i++) rest[i] = i;
        n_rest = ds->n;
    } else {
        RECUR_TRY(recur_dataset_split(ds, p->test_fraction, p->method, p->seed, &rest, &n_rest, &held, &n_held, err));
    }
    size_t *tr = malloc((n_rest ? n_rest : 1) * sizeof *tr), *va = malloc((n_rest ? n_rest : 1) * sizeof *va);
    unsigned char *pick = calloc(n_rest ? n_rest : 1, 1);
    recur_status st = tr && va && pick ? RECUR_OK : recur_fail(err, RECUR_ERR_NOMEM, "out of memory splitting");
    size_t target = share(ds->n, p->valid_fraction);
    if (target >= n_rest) target = n_rest ? n_rest - 1 : 0;
    if (!st && p->valid_fraction > 0)
        st = mark_valid(ds, rest, n_rest, target, p->valid_fraction, p->method, p->seed ^ 0x243f6a8885a308d3ULL,
                        pick, err);
    size_t nt = 0, nv = 0;
    for (size_t k = 0; !st && k < n_rest; k++) {
        if (pick[k]) va[nv++] = rest[k];
        else tr[nt++] = rest[k];
    }
    free(pick);
    free(rest);
    if (st) {
        free(tr);
        free(va);
        free(held);
        return st;
    }
    give(train, n_train, tr, nt);
    give(valid, n_valid, va, nv);
    give(test, n_test, held, n_held);
    return RECUR_OK;
}

/* ------------------------------------------------------------------------ */
/* The record: user metadata "split.*"                                      */
/* ------------------------------------------------------------------------ */

static const char *const method_names[] = {"random", "distinct", "stratified"};

/* The shortest of %.15g and %.17g that reads back as the same double. */
static void exact(char *v, size_t cap, double x)
{
    snprintf(v, cap, "%.15g", x);
    if (strtod(v, NULL) != x) snprintf(v, cap, "%.17g", x);
}

recur_status recur_model_set_split(recur_model *m, const recur_split_plan *p, recur_error *err)
{
    if (!m || !p) return recur_fail(err, RECUR_ERR_ARG, "set_split needs a model and a plan");
    if (p->method < RECUR_SPLIT_RANDOM || p->method > RECUR_SPLIT_STRATIFIED)
        return recur_fail(err, RECUR_ERR_ARG, "unknown split method %d", (int)p->method);
    char v[64];
    RECUR_TRY(recur_model_set_meta(m, "split.method", method_names[p->method], err));
    exact(v, sizeof v, p->valid_fraction);
    RECUR_TRY(recur_model_set_meta(m, "split.valid_fraction", v, err));
    exact(v, sizeof v, p->test_dir ? 0.0 : p->test_fraction);
    RECUR_TRY(recur_model_set_meta(m, "split.test_fraction", v, err));
    snprintf(v, sizeof v, "%llu", (unsigned long long)p->seed);
    RECUR_TRY(recur_model_set_meta(m, "split.seed", v, err));
    RECUR_TRY(recur_model_set_meta(m, "split.dedupe", p->dedupe ? "1" : "0", err));
    return recur_model_set_meta(m, "split.test_dir", p->test_dir ? p->test_dir : "", err);
}

recur_status recur_model_get_split(const recur_model *m, recur_split_plan *p, recur_error *err)
{
    if (!m || !p) return recur_fail(err, RECUR_ERR_ARG, "get_split needs a model and a plan");
    recur_split_plan_default(p);
    const char *me = recur_model_get_meta(m, "split.method"), *vf = recur_model_get_meta(m, "split.valid_fraction"),
               *tf = recur_model_get_meta(m, "split.test_fraction"), *sd = recur_model_get_meta(m, "split.seed"),
               *dd = recur_model_get_meta(m, "split.dedupe"), *td = recur_model_get_meta(m, "split.test_dir");
    if (!me) return recur_fail(err, RECUR_ERR_UNSUPPORTED, "the model records no split");
    if (!vf || !tf || !sd || !dd || !td) return recur_fail(err, RECUR_ERR_FORMAT, "the model's split record is incomplete");
    int how = -1;
    for (int k = 0; k < 3; k++)
        if (strcmp(me, method_names[k]) == 0) how = k;
    char *e1, *e2, *e3;
    double v = strtod(vf, &e1), t = strtod(tf, &e2);
    unsigned long long s = strtoull(sd, &e3, 10);
    if (how < 0) return recur_fail(err, RECUR_ERR_FORMAT, "split method \"%.40s\" is not known here", me);
    if (*e1 || *e2 || *e3 || e1 == vf || e2 == tf || e3 == sd || !(v >= 0 && v < 1) || !(t >= 0 && t < 1) ||
        (strcmp(dd, "0") && strcmp(dd, "1")) || (!*td && !(t > 0)))
        return recur_fail(err, RECUR_ERR_FORMAT, "the model's split record is damaged");
    p->method = (recur_split)how;
    p->valid_fraction = v;
    p->test_fraction = t;
    p->seed = s;
    p->dedupe = dd[0] == '1';
    p->test_dir = *td ? td : NULL;
    return RECUR_OK;
}
