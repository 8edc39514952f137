/*
 * What `recur train --generate` does differently from a classifier: its
 * defaults, the flags it refuses, the trigram baseline it reports, and the
 * held-out loss per predicted symbol that picks the model kept in -o.
 *
 * A generator reads BOUNDARY s_0 .. s_{n-1} with the label fed at every
 * step and predicts s_0 .. s_{n-1} BOUNDARY, so a name of n characters
 * makes n + 1 predictions; "bits per character" counts all of them (the
 * end of the name is a symbol to predict like any other), for the model and
 * the trigram alike.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"

/*
 * Defaults, measured on the names data (cli/USAGE.md has the table): among
 * one- and two-layer LSTMs and GRUs of 128 to 320 units, one-hot or
 * embedded labels, and label balancing from 0 to 1, this one reached the
 * lowest held-out bits per character but one (3.02; the best, 3.00, came
 * from 192 units, whose names the classifier recognised less often) with
 * at least 70% of its names at temperature 0.8 assigned to the label asked
 * for, in about 8 epochs (under a minute on 2 threads).
 */
void gen_default_opts(train_opts *o)
{
    o->cell = 2; /* lstm */
    o->hidden = 256;
    o->layers = 2;
    o->dropout = 0.2;
    o->bidirectional = 0; /* it reads left to right, and its inputs are its targets */
    o->token_dropout = 0;
    o->embed = 64;
    o->label_embed = 64;
    o->epochs = 8;
    o->batch = 64;
    o->lr = 3e-3;
    o->patience = 1;
    /* Every label as often: names of the small ones (73 Vietnamese, 100
     * Scottish) become recognisable rather than English-looking. */
    o->balance = 1;
    /* No spelling on both sides: "new names" and held-out bits per
     * character then mean names the model has never seen. */
    o->split = RECUR_SPLIT_DISTINCT;
}

int gen_check_opts(const run *r)
{
    const train_opts *o = &r->o;
    const char *bad = o->bidirectional ? "--bidirectional" : o->token_dropout > 0 ? "--token-dropout" : NULL;
    if (bad) {
        /* A generator reads left to right, and its inputs are its targets. */
        cli_error("%s does not apply to --generate (see 'recur train --help')", bad);
        return EXIT_USAGE;
    }
    return 0;
}

/* Bits per predicted symbol of the sequences idx[0..n) under trigram t,
 * with each label's counts and with all labels pooled. */
static size_t trigram_part(const cli_trigram *t, const recur_batch *d, const size_t *idx, size_t n, double *own,
                           double *pooled)
{
    size_t terms = 0;
    *own = *pooled = 0;
    for (size_t i = 0; i < n; i++) {
        size_t it = idx[i], len = (size_t)(d->offsets[it + 1] - d->offsets[it]);
        const int32_t *tok = d->tokens + d->offsets[it];
        *own += trigram_bits(t, tok, len, d->labels[it]);
        *pooled += trigram_bits(t, tok, len, -1);
        terms += len + 1;
    }
    *own /= (double)(terms ? terms : 1);
    *pooled /= (double)(terms ? terms : 1);
    return terms;
}

int gen_baseline(run *r)
{
    int V = recur_vocab_size(recur_model_vocab(r->model)), C = recur_model_num_labels(r->model);
    cli_trigram *t = trigram_create(V, C);
    const recur_batch *d = recur_data_batch(r->data);
    int bad = !t;
    for (size_t i = 0; !bad && i < r->n_train; i++) {
        size_t it = r->train_idx[i];
        bad = trigram_add(t, d->tokens + d->offsets[it], (size_t)(d->offsets[it + 1] - d->offsets[it]), d->labels[it]);
    }
    if (bad) {
        trigram_free(t);
        cli_error("out of memory counting trigrams");
        return EXIT_RUNTIME;
    }
    double unused;
    trigram_part(t, d, r->valid_idx, r->n_valid, &r->tri_valid_bits, &unused);
    size_t terms = trigram_part(t, d, r->test_idx, r->n_test, &r->tri_bits, &r->tri_pooled_bits);
    trigram_free(t);
    if (!r->o.quiet) {
        char a[32];
        printf("baseline character trigrams, add-one smoothing, counted on the training names: %.3f bits/char "
               "on the %s test characters and ends of names (per label; all labels pooled: %.3f); %.3f on the "
               "validation names\n",
               r->tri_bits, cli_count(a, terms), r->tri_pooled_bits, r->tri_valid_bits);
        fflush(stdout);
    }
    return 0;
}
