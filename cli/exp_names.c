/*
 * The names part of `recur experiment cost`: what a cell's cost buys. Each
 * cell is trained on the names data as `recur train` does by default
 * (embedding 64, Adam lr 3e-3, clip 5, batches of 64, 15% held out), and
 * its held-out accuracy is measured several times an epoch against the
 * training time spent so far (the evaluations are not counted).
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
    free(d->train_idx);
    free(d->test_idx);
    free(d->train_y);
    free(d->test_y);
    cli_encoded_free(&d->train);
    cli_encoded_free(&d->test);
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
    d->train_y = malloc((d->n_train + 1) * sizeof *d->train_y);
    d->test_y = malloc((d->n_test + 1) * sizeof *d->test_y);
    if (!d->train_y || !d->test_y) {
        cli_error("out of memory");
        goto fail;
    }
    for (size_t i = 0; i < d->n_train; i++) d->train_y[i] = recur_dataset_label(d->ds, d->train_idx[i]);
    for (size_t i = 0; i < d->n_test; i++) d->test_y[i] = recur_dataset_label(d->ds, d->test_idx[i]);
    if ((rc = cli_encode(d->vocab, d->ds, d->train_idx, d->n_train, &d->train, d->dir)) ||
        (rc = cli_encode(d->vocab, d->ds, d->test_idx, d->n_test, &d->test, d->dir)))
        goto fail;
    *out = d;
    return 0;
fail:
    exp_names_free(d);
    return rc ? rc : EXIT_RUNTIME;
}

/* Sequences idx[0..n) of e (labels y) into one batch in the buffers. */
static recur_batch fill(const cli_encoded *e, const int32_t *y, const size_t *idx, int n, int32_t *tok, int32_t *off,
                        int32_t *lab)
{
    off[0] = 0;
    for (int k = 0; k < n; k++) {
        size_t it = idx ? idx[k] : (size_t)k, len = e->off[it + 1] - e->off[it];
        memcpy(tok + off[k], e->tok + e->off[it], len * sizeof *tok);
        off[k + 1] = off[k] + (int32_t)len;
        lab[k] = y[it];
    }
    return (recur_batch){.n = n, .tokens = tok, .offsets = off, .labels = lab};
}

/* Held-out accuracy of the model's current weights. Through a runner made
 * for each evaluation (it packs the weights once): a trainer's own
 * recur_trainer_eval before its first step would plan its workspace for
 * inference only. */
static recur_status held_out(const recur_model *m, const exp_names_data *d, double *acc, recur_error *err)
{
    enum { EB = 256 };
    const int C = recur_model_num_labels(m);
    recur_runner *rn = NULL;
    float *lp = malloc((size_t)EB * C * sizeof *lp);
    int32_t off[EB + 1];
    if (!lp) {
        snprintf(err->message, sizeof err->message, "out of memory evaluating");
        return RECUR_ERR_NOMEM;
    }
    recur_status st = recur_runner_create(m, EB, &rn, err);
    size_t correct = 0;
    for (size_t s = 0; !st && s < d->n_test; s += EB) {
        int n = (int)(d->n_test - s < EB ? d->n_test - s : EB);
        for (int j = 0; j <= n; j++) off[j] = (int32_t)(d->test.off[s + j] - d->test.off[s]);
        st = recur_runner_classify_ids(rn, d->test.tok + d->test.off[s], off, n, lp, err);
        for (int j = 0; !st && j < n; j++) {
            int best = 0;
            for (int c = 1; c < C; c++)
                if (lp[(size_t)j * C + c] > lp[(size_t)j * C + best]) best = c;
            correct += best == d->test_y[s + j];
        }
    }
    *acc = d->n_test ? (double)correct / (double)d->n_test : 0;
    free(lp);
    recur_runner_free(rn);
    return st;
}

int exp_names_train(const exp_names_data *d, recur_cell cell, const exp_names_spec *sp, exp_progress *pg,
                    exp_names_result *res)
{
    memset(res, 0, sizeof *res);
    const int B = sp->batch, P = sp->epochs * sp->evals + 1;
    const char **labels = malloc((size_t)recur_dataset_num_labels(d->ds) * sizeof *labels);
    size_t max_len = 1, *order = malloc((d->n_train + 1) * sizeof *order);
    for (size_t i = 0; i < d->n_train; i++)
        if (d->train.off[i + 1] - d->train.off[i] > max_len) max_len = d->train.off[i + 1] - d->train.off[i];
    int32_t *tok = malloc((size_t)B * max_len * sizeof *tok), *off = malloc(((size_t)B + 1) * sizeof *off),
            *lab = malloc((size_t)B * sizeof *lab);
    res->seconds = malloc((size_t)P * sizeof *res->seconds);
    res->accuracy = malloc((size_t)P * sizeof *res->accuracy);
    recur_model *m = NULL;
    recur_trainer *t = NULL;
    recur_error err;
    int rc = EXIT_RUNTIME;
    if (!labels || !order || !tok || !off || !lab || !res->seconds || !res->accuracy) {
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
    recur_train_config tc;
    recur_train_config_default(&tc);
    tc.lr = (float)sp->lr;
    tc.clip = (float)sp->clip;
    tc.max_batch = B;
    tc.threads = sp->threads;
    tc.seed = sp->seed;
    if (recur_model_create(&mc, d->vocab, labels, recur_dataset_num_labels(d->ds), &m, &err) ||
        recur_trainer_create(m, &tc, &t, &err)) {
        cli_lib_error(recur_cell_name(cell), &err);
        goto done;
    }
    res->weights = recur_model_num_weights(m);
    double trained = 0, acc;
    if (held_out(m, d, &acc, &err)) goto lib_error;
    res->seconds[0] = 0;
    res->accuracy[0] = acc;
    res->points = 1;
    cli_rng rng;
    cli_rng_seed(&rng, sp->seed);
    size_t nb = (d->n_train + (size_t)B - 1) / (size_t)B;
    for (int ep = 0; ep < sp->epochs; ep++) {
        for (size_t i = 0; i < d->n_train; i++) order[i] = i;
        for (size_t i = d->n_train; i > 1; i--) {
            size_t j = (size_t)cli_rng_below(&rng, i), tmp = order[i - 1];
            order[i - 1] = order[j];
            order[j] = tmp;
        }
        for (int part = 0; part < sp->evals; part++) {
            size_t b0 = nb * (size_t)part / (size_t)sp->evals, b1 = nb * (size_t)(part + 1) / (size_t)sp->evals;
            double t0 = exp_clock(sp->threads == 1);
            for (size_t k = b0; k < b1; k++) {
                if (cli_interrupted()) {
                    rc = EXIT_INTERRUPTED;
                    goto done;
                }
                size_t s = k * (size_t)B;
                int n = (int)(d->n_train - s < (size_t)B ? d->n_train - s : (size_t)B);
                recur_batch b = fill(&d->train, d->train_y, order + s, n, tok, off, lab);
                float loss;
                if (recur_trainer_step(t, &b, &loss, &err)) goto lib_error;
                exp_progress_add(pg, n, 0);
                exp_progress_draw(pg, 0);
            }
            trained += exp_clock(sp->threads == 1) - t0;
            if (held_out(m, d, &acc, &err)) goto lib_error;
            res->seconds[res->points] = trained;
            res->accuracy[res->points++] = acc;
        }
    }
    res->epoch_seconds = trained / sp->epochs;
    rc = 0;
    goto done;
lib_error:
    cli_lib_error(recur_cell_name(cell), &err);
done:
    recur_trainer_free(t);
    recur_model_free(m);
    free(labels);
    free(order);
    free(tok);
    free(off);
    free(lab);
    return rc;
}

void exp_names_result_free(exp_names_result *r)
{
    free(r->seconds);
    free(r->accuracy);
    memset(r, 0, sizeof *r);
}
