/* exp_names.h - accuracy against training time on the names data, for
 * `recur experiment cost` (exp_names.c). */
#ifndef RECUR_EXP_NAMES_H
#define RECUR_EXP_NAMES_H

#include "exp_common.h"

/* The data, split (15% held out, random lines) and encoded once for all cells. */
typedef struct exp_names_data {
    char dir[4096];
    recur_dataset *ds;
    recur_vocab *vocab; /* of the training lines */
    recur_data *data; /* every line, encoded */
    size_t *train_idx, *test_idx, n_train, n_test;
} exp_names_data;

typedef struct exp_names_spec {
    int hidden, embed, epochs, evals, batch, threads; /* evals: held-out accuracies per epoch */
    double lr, clip;
    uint64_t seed;
} exp_names_spec;

typedef struct exp_names_result {
    int points;                 /* held-out evaluations, the first before training */
    double *seconds, *accuracy; /* [points]: training time so far, held-out accuracy */
    size_t weights;
    double epoch_seconds;       /* training time of an epoch, on average */
} exp_names_result;

/* DATA, else $RECUR_DATA, else the tutorial's names; 0 or an exit code (printed). */
int exp_names_load(const char *given, uint64_t seed, exp_names_data **out);
void exp_names_free(exp_names_data *d);
/* Train one cell; progress in names. 0 or an exit code (printed). */
int exp_names_train(const exp_names_data *d, recur_cell cell, const exp_names_spec *sp, exp_progress *pg,
                    exp_names_result *res);
void exp_names_result_free(exp_names_result *r);

#endif
