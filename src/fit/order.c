/*
 * Each epoch's order of training batches: a seeded shuffle of the training
 * positions (or, with balance, a draw per label), then chunks of `bucket`
 * batches sorted by length so that a batch holds names of similar length
 * (less padding), cut into batches whose order is shuffled again. The
 * generator is seeded from (seed, epoch) alone, and each epoch starts from
 * the positions in index order, so an epoch's order depends on nothing a
 * checkpoint would have to carry.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "fit/fit.h"

static void shuffle(uint64_t *rng, size_t *a, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)recur_splitmix_below(rng, i);
        size_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

typedef struct len_key {
    int32_t len;
    size_t pos, item;
} len_key;

static int cmp_len(const void *a, const void *b)
{
    const len_key *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* The epoch's n draws: m(l) of label l in proportion to count(l)^(1-F)
 * (largest remainders), each label's positions taken in shuffled passes. */
static int balanced(fit_order *o, const int32_t *labels, int C, double F, uint64_t *rng)
{
    size_t n = o->n;
    if (!o->by_class) {
        o->by_class = malloc((n ? n : 1) * sizeof *o->by_class);
        o->class_start = calloc((size_t)C + 1, sizeof *o->class_start);
        if (!o->by_class || !o->class_start) return -1;
        for (size_t i = 0; i < n; i++) o->class_start[labels[i] + 1]++;
        for (int c = 0; c < C; c++) o->class_start[c + 1] += o->class_start[c];
    }
    size_t *fill = malloc((size_t)C * sizeof *fill);
    if (!fill) return -1;
    memcpy(fill, o->class_start, (size_t)C * sizeof *fill);
    for (size_t i = 0; i < n; i++) o->by_class[fill[labels[i]]++] = i;
    free(fill);
    double *w = malloc((size_t)C * sizeof *w), W = 0;
    size_t *m = malloc((size_t)C * sizeof *m), given = 0;
    if (!w || !m) {
        free(w);
        free(m);
        return -1;
    }
    for (int c = 0; c < C; c++) {
        size_t nc = o->class_start[c + 1] - o->class_start[c];
        w[c] = nc ? pow((double)nc, 1.0 - F) : 0;
        W += w[c];
    }
    for (int c = 0; c < C; c++) {
        w[c] = (double)n * w[c] / W;
        m[c] = (size_t)floor(w[c]);
        w[c] -= (double)m[c];
        given += m[c];
    }
    while (given < n) {
        int best = -1;
        for (int c = 0; c < C; c++)
            if (o->class_start[c + 1] > o->class_start[c] && (best < 0 || w[c] > w[best])) best = c;
        m[best]++;
        w[best] = -1;
        given++;
    }
    size_t at = 0;
    for (int c = 0; c < C; c++) {
        size_t *items = o->by_class + o->class_start[c], nc = o->class_start[c + 1] - o->class_start[c];
        for (size_t left = m[c]; left > 0;) {
            shuffle(rng, items, nc);
            size_t take = left < nc ? left : nc;
            memcpy(o->order + at, items, take * sizeof *items);
            at += take;
            left -= take;
        }
    }
    free(w);
    free(m);
    shuffle(rng, o->order, n);
    return 0;
}

recur_status fit_order_epoch(fit_order *o, const int32_t *lens, const int32_t *labels, int C, size_t n,
                             int batch, int bucket, double balance, uint64_t seed, int epoch,
                             int in_order, recur_error *err)
{
    size_t B = (size_t)batch;
    if (!o->order) {
        o->n = n;
        o->order = malloc((n ? n : 1) * sizeof *o->order);
        o->batches = malloc((n / B + 2) * sizeof *o->batches);
        if (!o->order || !o->batches) goto nomem;
    }
    if (in_order) {
        /* Consecutive batches of the positions as given. */
        for (size_t i = 0; i < n; i++) o->order[i] = i;
        o->n_batches = 0;
        for (size_t b0 = 0; b0 < n; b0 += B) {
            o->batches[o->n_batches][0] = b0;
            o->batches[o->n_batches][1] = n - b0 < B ? n - b0 : B;
            o->n_batches++;
        }
        return RECUR_OK;
    }
    /* The stream of one epoch (recur_splitmix64, recur.h). */
    uint64_t rng = recur_splitmix_seed(seed * 0x9e3779b97f4a7c15ULL + (uint64_t)epoch);
    if (balance > 0) {
        if (balanced(o, labels, C, balance, &rng)) goto nomem;
    } else {
        for (size_t i = 0; i < n; i++) o->order[i] = i;
        shuffle(&rng, o->order, n);
    }
    /* bucket 0: one chunk per batch, in the shuffled order. */
    size_t chunk = bucket > 0 ? (size_t)bucket * B : B;
    len_key *keys = malloc((chunk < n ? chunk : n ? n : 1) * sizeof *keys);
    if (!keys) goto nomem;
    o->n_batches = 0;
    for (size_t c0 = 0; c0 < n; c0 += chunk) {
        size_t m = n - c0 < chunk ? n - c0 : chunk;
        if (bucket > 0) {
            for (size_t i = 0; i < m; i++) {
                size_t it = o->order[c0 + i];
                keys[i] = (len_key){lens[it], i, it};
            }
            qsort(keys, m, sizeof *keys, cmp_len);
            for (size_t i = 0; i < m; i++) o->order[c0 + i] = keys[i].item;
        }
        for (size_t b0 = 0; b0 < m; b0 += B) {
            o->batches[o->n_batches][0] = c0 + b0;
            o->batches[o->n_batches][1] = m - b0 < B ? m - b0 : B;
            o->n_batches++;
        }
    }
    free(keys);
    for (size_t i = o->n_batches; i > 1; i--) {
        size_t j = (size_t)recur_splitmix_below(&rng, i);
        size_t t0 = o->batches[i - 1][0], t1 = o->batches[i - 1][1];
        o->batches[i - 1][0] = o->batches[j][0];
        o->batches[i - 1][1] = o->batches[j][1];
        o->batches[j][0] = t0;
        o->batches[j][1] = t1;
    }
    return RECUR_OK;
nomem:
    return recur_fail(err, RECUR_ERR_NOMEM, "out of memory ordering %zu sequences", n);
}

void fit_order_free(fit_order *o)
{
    free(o->order);
    free(o->batches);
    free(o->by_class);
    free(o->class_start);
    memset(o, 0, sizeof *o);
}
