/*
 * train.h - the pieces of `recur train` shared by its files (private to
 * them): cmd_train.c reads the flags and prepares data and model,
 * train_loop.c runs the epochs through the library's recur_fit (and draws
 * progress, epoch lines and curves),
 * train_generate.c holds what differs for name generators (--generate).
 */
#ifndef RECUR_CLI_TRAIN_H
#define RECUR_CLI_TRAIN_H

#include "seq.h"

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
    double test_split, valid_split;
    const char *test_dir;
    int split, dedupe, text;
    const char *svg, *resume;
    int quiet;
    int generate, label_embed; /* --generate: a name generator */
    seq_flags sq;              /* sequence files (seq.h)          */
} train_opts;

/* The flags of names folders, then those of sequence data (stored with a
 * model only when it was trained on such data), then the end. */
enum { TRAIN_BASE_SPECS = 31, TRAIN_SEQ_SPECS = 13, TRAIN_N_SPECS = TRAIN_BASE_SPECS + TRAIN_SEQ_SPECS + 1 };

typedef struct run {
    train_opts o;
    arg_command cmd;
    arg_spec specs[TRAIN_N_SPECS];
    char data_dir[4096];
    char ckpt[4200];
    recur_dataset *ds, *test_ds;
    /* All sequences encoded (those of --test-dir after the training
     * folder's); the two index lists pick from them. */
    recur_data *data;
    size_t *train_idx, *valid_idx, *test_idx, n_train, n_valid, n_test;
    /* How the three parts were made (recorded in the model). */
    recur_split_plan plan;
    int old_split; /* resuming a checkpoint from before the record: its
                    * validation part is its test part */
    recur_model *model;
    char *stored_args; /* from a checkpoint */
    char *stored_data; /* the checkpoint's data folder */
    /* Generators: held-out bits per symbol of the trigram baselines, per
     * label and with all labels pooled. */
    double tri_bits, tri_pooled_bits; /* on the test part  */
    double tri_valid_bits;            /* on the validation part */
    /* Sequence data (train_seq.c): the set (and --test-dir's), the batch
     * recur_fit reads, the task, how the data were read. */
    recur_seqset *seq, *seq_test;
    const recur_batch *batch;
    recur_task task;
    seq_record rec;
} run;

/* train_flags.c: r->o and r->cmd from the defaults, then (with --resume)
 * the checkpoint's stored flags, then argv's; the positional arguments
 * into pos. 0, -1 after --help, or an exit code (printed). */
int train_parse_flags(run *r, int argc, char **argv, char **pos, int *npos);

/* train_loop.c: the epochs through recur_fit, with the progress bar, the
 * epoch lines, the curves and the closing line. */
int train_loop(run *r);
/* train_seq.c: train_loop's closing test of a model of sequence data. */
int train_seq_report(run *r, const recur_fit_result *res, double t_start);

/* Data parallelism (recur-mpi, cli/mpi/): what a launcher hands `recur
 * train` before cmd_train; `recur` itself sets none. reduce is
 * recur_fit_config's; agree(user, value, what, step) returns when every
 * rank holds the same value and otherwise ends the job with one line. */
typedef struct train_parallel {
    int rank, ranks;
    int check_every; /* steps between the checks that weights agree */
    void *user;
    int (*reduce)(void *user, float *grad, size_t n, double *sums, int n_sums);
    void (*agree)(void *user, uint64_t value, const char *what, uint64_t step);
} train_parallel;
void train_set_parallel(const train_parallel *p);
const train_parallel *train_parallel_get(void);
/* A rank other than 0: quiet, writes nothing. */
int train_follower(void);

/* ------------------------------------------------------------------------ */
/* train_generate.c                                                          */
/* ------------------------------------------------------------------------ */

/* The generators' defaults (chosen by measurement), over the classifier's. */
void gen_default_opts(train_opts *o);
/* Flags that make no sense for a generator; EXIT_USAGE (printed) or 0. */
int gen_check_opts(const run *r);
/* The trigram baselines on the held-out split, into r->tri_*; printed. */
int gen_baseline(run *r);

#endif
