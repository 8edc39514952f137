/*
 * One forward (and backward) pass of a model over a batch of token
 * sequences: packing, layer-0 lookups, the recurrent stack, the head and
 * the loss. Shared by the trainer (train mode) and the runner (inference,
 * with the lookup tables computed once).
 */
#ifndef RECUR_MODEL_PASS_H
#define RECUR_MODEL_PASS_H
#include "model/model.h"

typedef struct pass {
    int train;        /* this pass keeps what backward needs (a trainer
                       * clears it around an evaluation)                  */
    int for_training; /* set once by pass_init: the workspace is made for
                       * training even if the first pass evaluates        */
    int tables_fixed; /* inference: tables computed once and kept        */
    int tables_ready;
    unsigned wgen;    /* the model's wgen the tables and packs were made at */
    pack pk;
    stack_ws *ws;
    int rows;       /* head rows: B (head FINAL) or N (head STEPS)        */
    size_t terms;   /* loss terms of the batch (see recur_trainer_step)   */
    int has_targets; /* real targets: the batch has them (loss computed) */
    int *tok;       /* [N] input token of each packed row                 */
    int *row_seq;   /* [N] sorted sequence of each packed row             */
    int *target;    /* [rows] target class of each head row (-1: none)    */
    int *dest;      /* [rows] the head row's place among the caller's rows
                     * (see recur_runner_predict)                         */
    int *seq_label; /* [B] label of each sorted sequence (-1: none)       */
    int32_t *lens;  /* [B] lengths fed to the stack                       */
    float *P_sym[2], *P_lab[2], *dP_sym[2], *dP_lab[2];
    float *hn, *dhn; /* [L*D][B][H] */
    float *feat;     /* [B][D*H] classify features                         */
    float *logp;     /* [rows][C] log-probabilities (real targets: the
                      * head's values), then their gradient               */
    float *ytgt;     /* [rows][C] real targets in head-row order           */
    float *dfeat;    /* [rows][D*H]                                        */
    int cap_N, cap_B;
    /* Layer 0 reads rows X0 [N][I] through a product instead of lookup
     * tables: always for dense input (the standardised features), and in
     * training for large vocabularies (embedded rows, when the vocabulary
     * has more symbols than the batch has steps; dX0 then goes back into
     * the embedding). */
    int dense_input;
    float *X0, *dX0;
    size_t cap_X0;
    struct pool *pool; /* threads for the stack (not owned)          */
    /* The trainer's stop flag (recur_trainer_set_stop), handed to the
     * stack by pass_prepare; NULL: none. */
    const volatile sig_atomic_t *stop;
} pass;

recur_status pass_init(pass *ps, const recur_model *m, int train, recur_error *err);
void pass_free(pass *ps);
/* Check a batch against the model (see recur_batch); with train the
 * targets the task needs are required. *steps, *terms (may be NULL): the
 * packed rows it makes and its loss terms. */
recur_status pass_check_batch(const recur_model *m, const recur_batch *b, int train, size_t *steps,
                              size_t *terms, recur_error *err);
/* Inference: if the model's weights changed since the tables and packed
 * weights were made (recur_model_weights_changed), make them again now. */
void pass_sync_weights(pass *ps, const recur_model *m);
/* Validate and pack a batch. */
recur_status pass_prepare(pass *ps, const recur_model *m, const recur_batch *b,
                          recur_error *err);
/* Forward: ps->logp [rows][C] in sorted order; returns the summed loss. */
double pass_forward(pass *ps, const recur_model *m, recur_rng *rng);
/* Backward of scale * the summed loss (1 / rows for the mean): gradients
 * added to m->g. */
void pass_backward(pass *ps, recur_model *m, float scale);
/* The stop flag was seen set: the last forward or backward ended early and
 * its results mean nothing. */
int pass_stopped(const pass *ps);
/* Head rows whose argmax equals the target (0 for real targets). */
size_t pass_correct(const pass *ps, const recur_model *m);


#endif
