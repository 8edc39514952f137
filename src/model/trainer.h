/* The inside of a recur_trainer (shared with the checkpoint code). */
#ifndef RECUR_MODEL_TRAINER_H
#define RECUR_MODEL_TRAINER_H
#include "core/pool.h"
#include "core/rng.h"
#include "model/pass.h"

/* One thread's share of a data-parallel step: a view of the model whose
 * gradients go to a buffer of its own (replica 0: the model's), its own
 * workspace, dropout stream and slice of the batch. */
typedef struct replica {
    recur_model view;  /* shallow copy of the trainer's model; g replaced  */
    float *g;          /* owned gradient buffer (NULL for replica 0)       */
    pass ps;
    recur_rng rng;
    int32_t *offsets;  /* the slice's offsets, rebased to 0                */
    int cap;
    recur_batch b;
    double loss;
    recur_status status;
    recur_error err;
} replica;

struct recur_trainer {
    recur_model *m;
    recur_train_config cfg;
    uint64_t step;
    float *state_a; /* SGD momentum buffer, or Adam's exp_avg       */
    float *state_b; /* Adam's exp_avg_sq (NULL for SGD)             */
    recur_rng rng;  /* dropout                                      */
    pass ps;
    pool *pool;     /* NULL with one thread                          */
    /* Data parallelism (threads > 1, small models): each thread runs the
     * whole pass over its slice of the batch, gradients summed after. */
    replica *rep;   /* [threads], NULL when steps split per time step  */
    int n_rep;
    double *sumsq;  /* [threads] partial squared gradient norms         */
    float dp_scale; /* the loss gradient's scale in this step           */
    double clip_coef; /* this step's clipping factor (>= 1: none)       */
    int32_t *part_off; /* recur_trainer_grad_part's rebased offsets      */
    int part_cap;
    const volatile sig_atomic_t *stop; /* recur_trainer_set_stop        */
};

#endif
