/* The inside of a recur_trainer (shared with the checkpoint code). */
#ifndef RECUR_MODEL_TRAINER_H
#define RECUR_MODEL_TRAINER_H
#include "core/pool.h"
#include "core/rng.h"
#include "model/pass.h"

struct recur_trainer {
    recur_model *m;
    recur_train_config cfg;
    uint64_t step;
    float *state_a; /* SGD momentum buffer, or Adam's exp_avg       */
    float *state_b; /* Adam's exp_avg_sq (NULL for SGD)             */
    recur_rng rng;  /* dropout                                      */
    pass ps;
    pool *pool;     /* NULL with one thread                          */
};

#endif
