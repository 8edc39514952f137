/*
 * The names part of `recur experiment cost`: what a cell's cost buys. Each
 * cell is trained on the names data through recur_fit, the loop of `recur
 * train` (length buckets, token dropout 0.1, the plateau schedule; a
 * one-way model with embedding 64, Adam lr 3e-3, clip 5, batches of 64,
 * 15% held out), and its held-out accuracy is measured several times an
 * epoch against the training time spent so far (the evaluations are not
 * counted).
 */
#include <stdlib.h>
#include <string.h>

#include "exp_common.h"
#include "exp_names.h"

void exp_names_free(exp_names_data *d)
{
    if (!d) return;
    recur_dataset_free(d->ds);
    recur_vocab_free(d->vocab);
    recur_data_free(d->data);
    free(d->train_idx);
    free(d->test_idx);
    free(d);
}

int exp_names_load(const char *given, uint64_t seed, exp_names_data **out)
{
    *out = NULL;
    exp_names_data *d = calloc(1, sizeof *d);
    if (!d) {
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    int rc = cli_resolve_data(given, d->dir, sizeof d->dir);
    if (!rc) rc = cli_load_data(d->dir, &d->ds);
    if (rc) goto fail;
    recur_error err;
    rc = EXIT_RUNTIME;
    if (recur_dataset_num_labels(d->ds) < 2) {
        cli_error("%s: a classifier needs at least 2 labels (files)", d->dir);
        goto fail;
    }
    if (recur_dataset_split(d->ds, 0.15, 0, seed, &d->train_idx, &d->n_train, &d->test_idx, &d->n_test, &err) ||
        recur_vocab_create(RECUR_TEXT_UNICODE, &d->vocab, &err)) {
        cli_lib_error(d->dir, &err);
        goto fail;
    }
    /* The vocabulary of the training lines only, as recur train builds it. */
    for (size_t i = 0; i < d->n_train; i++) {
        size_t len;
        const char *s = recur_dataset_text(d->ds, d->train_idx[i], &len);
        if (recur_vocab_add(d->vocab, s, len, &err)) {
            cli_lib_error(d->dir, &err);
            goto fail;
        }
    }
    if (recur_data_encode(d->ds, d->vocab, NULL, 0, &d->data, &err)) {
        cli_error("%s/%s", d->dir, err.message);
        goto fail;
    }
    *out = d;
    return 0;
fail:
    exp_names_free(d);
    return rc ? rc : EXIT_RUNTIME;
}

/* What the callbacks of one cell's training keep. */
typedef struct names_run {
    const exp_names_data *d;
    const exp_names_spec *sp;
    recur_model *m;
    exp_progress *pg;
    exp_names_result *res;
    int part;           /* evaluations done in this epoch */
    size_t done;        /* sequences of this epoch reported */
    double trained, last; /* training time so far; the clock at the last step */
    recur_status st;
    recur_error err;
} names_run;

static void on_step(const recur_fit_step *s, void *user)
{
    names_run *r = user;
    double now = exp_clock(r->sp->threads == 1);
    r->trained += now - r->last;
    exp_progress_add(r->pg, (double)(s->done - r->done), 0);
    exp_progress_draw(r->pg, 0);
    r->done = s->done;
    /* The evaluations within the epoch; the last one is the driver's. */
    if (r->st || r->part + 1 >= r->sp->evals || s->done * (size_t)r->sp->evals < s->total * (size_t)(r->part + 1)) {
        r->last = now;
        return;
    }
    recur_metrics met;
    r->st = recur_evaluate(r->m, recur_data_batch(r->d->data), r->d->test_idx, r->d->n_test, 256, NULL, &met,
                           &r->err);
    r->res->seconds[r->res->points] = r->trained;
    r->res->accuracy[r->res->points++] = recur_metrics_accuracy(&met);
    recur_metrics_free(&met);
    r->part++;
    r->last = exp_clock(r->sp->threads == 1);
}

static int on_epoch(const recur_fit_epoch *e, void *user)
{
    names_run *r = user;
    r->res->seconds[r->res->points] = r->trained;
    r->res->accuracy[r->res->points++] = e->valid_accuracy;
    r->part = 0;
    r->done = 0;
    r->last = exp_clock(r->sp->threads == 1);
    return r->st != RECUR_OK;
}

int exp_names_train(const exp_names_data *d, recur_cell cell, const exp_names_spec *sp, exp_progress *pg,
                    exp_names_result *res)
{
    memset(res, 0, sizeof *res);
    const int P = sp->epochs * sp->evals + 1;
    const char **labels = malloc((size_t)recur_dataset_num_labels(d->ds) * sizeof *labels);
    res->seconds = malloc((size_t)P * sizeof *res->seconds);
    res->accuracy = malloc((size_t)P * sizeof *res->accuracy);
    names_run r = {.d = d, .sp = sp, .pg = pg, .res = res};
    int rc = EXIT_RUNTIME;
    if (!labels || !res->seconds || !res->accuracy) {
        cli_error("out of memory");
        goto done;
    }
    for (int l = 0; l < recur_dataset_num_labels(d->ds); l++) labels[l] = recur_dataset_label_name(d->ds, l);
    recur_model_config mc;
    recur_model_config_default(&mc);
    mc.cell = cell;
    mc.hidden = sp->hidden;
    mc.embed = sp->embed;
    mc.seed = sp->seed;
    recur_fit_config fc;
    recur_fit_config_default(&fc);
    fc.train.lr = (float)sp->lr;
    fc.train.clip = (float)sp->clip;
    fc.train.threads = sp->threads;
    fc.train.seed = sp->seed;
    fc.epochs = sp->epochs;
    fc.batch = sp->batch;
    fc.token_dropout = 0.1;
    fc.seed = sp->seed;
    fc.stop = cli_interrupt_flag();
    fc.on_step = on_step;
    fc.on_epoch = on_epoch;
    fc.user = &r;
    recur_metrics met;
    if (recur_model_create(&mc, d->vocab, labels, recur_dataset_num_labels(d->ds), &r.m, &r.err) ||
        recur_evaluate(r.m, recur_data_batch(d->data), d->test_idx, d->n_test, 256, NULL, &met, &r.err))
        goto lib_error;
    res->weights = recur_model_num_weights(r.m);
    res->seconds[0] = 0;
    res->accuracy[0] = recur_metrics_accuracy(&met);
    res->points = 1;
    recur_metrics_free(&met);
    r.last = exp_clock(sp->threads == 1);
    /* The held-out lines are the validation set: nothing is selected here. */
    recur_status st = recur_fit(r.m, &fc, recur_data_batch(d->data), d->train_idx, d->n_train, d->test_idx,
                                d->n_test, NULL, &r.err);
    if (st == RECUR_ERR_INTERRUPTED) {
        rc = EXIT_INTERRUPTED;
        goto done;
    }
    if (st || r.st) goto lib_error;
    res->epoch_seconds = r.trained / sp->epochs;
    rc = 0;
    goto done;
lib_error:
    cli_lib_error(recur_cell_name(cell), &r.err);
done:
    recur_model_free(r.m);
    free(labels);
    return rc;
}

void exp_names_result_free(exp_names_result *r)
{
    free(r->seconds);
    free(r->accuracy);
    memset(r, 0, sizeof *r);
}
