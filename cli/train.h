/*
 * train.h - the pieces of `recur train` shared by its files (private to
 * them): cmd_train.c reads the flags and prepares data and model,
 * train_loop.c runs the epochs (batches, progress, checkpoints, curves),
 * train_generate.c holds what differs for name generators (--generate).
 */
#ifndef RECUR_CLI_TRAIN_H
#define RECUR_CLI_TRAIN_H

#include "cli.h"

extern const char *const train_optim_choices[];
extern const recur_cell train_cell_values[];

typedef struct train_opts {
    const char *out;
    int cell, hidden, layers, bidirectional, unidirectional, embed;
    double dropout;
    int epochs, batch;
    double lr;
    int optim;
    double momentum, weight_decay, clip, balance, token_dropout;
    int patience;
    uint64_t seed;
    int threads;
    double test_split;
    const char *test_dir;
    int split, dedupe, text;
    const char *svg, *resume;
    int quiet;
    int generate, label_embed; /* --generate: a name generator */
} train_opts;

/* Per-epoch curves, kept in the checkpoint so that --resume draws them all.
 * Generators have no accuracy: their acc and recall entries are NaN. */
typedef struct history {
    int n, cap;
    double *train_loss, *test_loss, *acc, *recall;
} history;

int history_push(history *h, double tl, double vl, double acc, double rec);
void history_free(history *h);
char *history_format(const history *h);
int history_parse(history *h, const char *s);

enum { TRAIN_N_SPECS = 31 };

typedef struct run {
    train_opts o;
    arg_command cmd;
    arg_spec specs[TRAIN_N_SPECS];
    char data_dir[4096];
    char ckpt[4200];
    recur_dataset *ds, *test_ds;
    size_t *train_idx, *test_idx, n_train, n_test;
    int32_t *train_y;
    int *test_y;
    cli_encoded train, test;
    recur_model *model;
    recur_trainer *trainer;
    cli_metrics met;
    history hist;
    char *stored_args; /* from a checkpoint */
    char *stored_data; /* the checkpoint's data folder */
    /* State that a checkpoint carries. best_score decides which model -o
     * keeps: the held-out accuracy of a classifier, minus the held-out
     * loss of a generator (higher is better for both). */
    int epochs_done, best_epoch, bad_epochs;
    double best_score, best_loss_seen;
    float lr;
    int best_saved; /* -o holds a model of this run (or of the resumed one) */
    /* Batches. */
    size_t *order;
    size_t *by_class, *class_start; /* training items grouped by label */
    size_t (*batches)[2];
    size_t n_batches;
    int32_t *btok, *boff, *blab;
    size_t btok_cap;
    /* Generators: held-out bits per symbol of the trigram baselines, per
     * label and with all labels pooled. */
    double tri_bits, tri_pooled_bits;
} run;

/* train_loop.c: the epochs, from r->epochs_done + 1 to --epochs. */
int train_loop(run *r);

/* ------------------------------------------------------------------------ */
/* train_generate.c                                                          */
/* ------------------------------------------------------------------------ */

/* The generators' defaults (chosen by measurement), over the classifier's. */
void gen_default_opts(train_opts *o);
/* Flags that make no sense for a generator; EXIT_USAGE (printed) or 0. */
int gen_check_opts(const run *r);
/* The trigram baselines on the held-out split, into r->tri_*; printed. */
int gen_baseline(run *r);
/* Held-out mean loss per predicted symbol (nats) into *loss. 0 or
 * EXIT_RUNTIME (printed). */
int gen_evaluate(run *r, double *loss);

#endif
