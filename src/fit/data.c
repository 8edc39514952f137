/*
 * recur_data: data sets encoded to token ids, held as one recur_batch of
 * all their sequences (the form the driver and the metrics read).
 */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "recur.h"

struct recur_data {
    int32_t *tok, *off, *lab;
    size_t n, n_tok, cap_tok, cap_seq;
    recur_batch view;
};

void recur_data_free(recur_data *d)
{
    if (!d) return;
    free(d->tok);
    free(d->off);
    free(d->lab);
    free(d);
}

size_t recur_data_size(const recur_data *d) { return d ? d->n : 0; }

const recur_batch *recur_data_batch(const recur_data *d) { return d ? &d->view : NULL; }

static int grow_tok(recur_data *d, size_t need)
{
    if (need <= d->cap_tok) return 0;
    size_t c = d->cap_tok ? d->cap_tok : 1 << 16;
    while (c < need) c *= 2;
    int32_t *t = realloc(d->tok, c * sizeof *t);
    if (!t) return -1;
    d->tok = t;
    d->cap_tok = c;
    return 0;
}

recur_status recur_data_append(recur_data *d, const recur_dataset *ds, const recur_vocab *v,
                               const char *const *labels, int num_labels, recur_error *err)
{
    if (!d || !ds || !v) return recur_fail(err, RECUR_ERR_ARG, "encoding needs data, a data set and a vocabulary");
    const size_t n = recur_dataset_size(ds);
    const int L = recur_dataset_num_labels(ds);
    int *map = malloc(((size_t)L + 1) * sizeof *map);
    if (!map) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    for (int l = 0; l < L; l++) {
        map[l] = labels ? -1 : l;
        for (int k = 0; labels && k < num_labels; k++)
            if (strcmp(recur_dataset_label_name(ds, l), labels[k]) == 0) map[l] = k;
        if (map[l] < 0) {
            recur_status s = recur_fail(err, RECUR_ERR_DATA, "%s.txt: label '%s' is not among the model's labels",
                                        recur_dataset_label_name(ds, l), recur_dataset_label_name(ds, l));
            free(map);
            return s;
        }
    }
    if (d->n + n + 1 > (size_t)INT32_MAX) {
        free(map);
        return recur_fail(err, RECUR_ERR_NOMEM, "too many sequences (%zu)", d->n + n);
    }
    if (d->n + n + 1 > d->cap_seq) {
        size_t c = d->n + n + 1;
        int32_t *o = realloc(d->off, c * sizeof *o);
        if (o) d->off = o;
        int32_t *l = o ? realloc(d->lab, c * sizeof *l) : NULL;
        if (l) d->lab = l;
        if (!o || !l) {
            free(map);
            return recur_fail(err, RECUR_ERR_NOMEM, "out of memory encoding %zu texts", n);
        }
        d->cap_seq = c;
    }
    const size_t n0 = d->n, t0 = d->n_tok;
    d->off[n0] = (int32_t)t0;
    recur_status s = RECUR_OK;
    size_t at = t0;
    for (size_t i = 0; !s && i < n; i++) {
        size_t len, need = 0;
        const char *txt = recur_dataset_text(ds, i, &len);
        if (grow_tok(d, at + len + 8)) {
            s = recur_fail(err, RECUR_ERR_NOMEM, "out of memory encoding %zu texts", n);
            break;
        }
        recur_error e;
        s = recur_vocab_encode(v, txt, len, d->tok + at, d->cap_tok - at, &need, &e);
        if (s == RECUR_ERR_ARG && need > d->cap_tok - at) {
            if (grow_tok(d, at + need + 8)) s = recur_fail(err, RECUR_ERR_NOMEM, "out of memory encoding");
            else s = recur_vocab_encode(v, txt, len, d->tok + at, d->cap_tok - at, &need, &e);
        }
        if (s) {
            if (s != RECUR_ERR_NOMEM)
                s = recur_fail(err, s, "%s.txt:%zu: %s", recur_dataset_label_name(ds, recur_dataset_label(ds, i)),
                               recur_dataset_line(ds, i), e.message);
            break;
        }
        if (need == 0) d->tok[at + need++] = RECUR_TOKEN_UNKNOWN;
        at += need;
        if (at > (size_t)INT32_MAX) {
            s = recur_fail(err, RECUR_ERR_NOMEM, "too many tokens (%zu)", at);
            break;
        }
        d->off[n0 + i + 1] = (int32_t)at;
        d->lab[n0 + i] = map[recur_dataset_label(ds, i)];
    }
    free(map);
    if (s) return s; /* the sequences held before are untouched */
    d->n = n0 + n;
    d->n_tok = at;
    d->view = (recur_batch){.n = (int)d->n, .tokens = d->tok, .offsets = d->off, .labels = d->lab};
    return RECUR_OK;
}

recur_status recur_data_encode(const recur_dataset *ds, const recur_vocab *v, const char *const *labels,
                               int num_labels, recur_data **out, recur_error *err)
{
    if (!out) return recur_fail(err, RECUR_ERR_ARG, "encoding needs an output pointer");
    *out = NULL;
    recur_data *d = calloc(1, sizeof *d);
    if (!d) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    recur_status s = recur_data_append(d, ds, v, labels, num_labels, err);
    if (s) {
        recur_data_free(d);
        return s;
    }
    *out = d;
    return RECUR_OK;
}
