/* recur_trainer: mini-batch training with SGD or Adam and gradient clipping. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/pass.h"
#include "model/trainer.h"
#include "nn/gemm.h" /* openblas_set_num_threads */
#include "optim/optim.h"

void recur_train_config_default(recur_train_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->optim = RECUR_OPTIM_ADAM;
    cfg->lr = 1e-3f;
    cfg->beta1 = 0.9f;
    cfg->beta2 = 0.999f;
    cfg->eps = 1e-8f;
    cfg->clip = 5.0f;
    cfg->max_batch = 64;
    cfg->seed = 1;
}

static recur_status check_config(const recur_train_config *c, recur_error *err)
{
    if (c->optim != RECUR_OPTIM_SGD && c->optim != RECUR_OPTIM_ADAM)
        return recur_fail(err, RECUR_ERR_ARG, "unknown optimiser %d", (int)c->optim);
    if (!(c->lr > 0.0f && c->lr < 1e3f)) return recur_fail(err, RECUR_ERR_ARG, "learning rate %g out of range (0, 1000)", (double)c->lr);
    if (!(c->momentum >= 0.0f && c->momentum < 1.0f)) return recur_fail(err, RECUR_ERR_ARG, "momentum %g out of range [0, 1)", (double)c->momentum);
    if (!(c->weight_decay >= 0.0f && c->weight_decay < 1.0f)) return recur_fail(err, RECUR_ERR_ARG, "weight decay %g out of range [0, 1)", (double)c->weight_decay);
    if (!(c->beta1 >= 0.0f && c->beta1 < 1.0f) || !(c->beta2 >= 0.0f && c->beta2 < 1.0f))
        return recur_fail(err, RECUR_ERR_ARG, "Adam betas must lie in [0, 1)");
    if (!(c->eps > 0.0f)) return recur_fail(err, RECUR_ERR_ARG, "Adam eps must be positive");
    if (!(c->clip >= 0.0f && c->clip < 1e30f)) return recur_fail(err, RECUR_ERR_ARG, "clip %g must be >= 0 (0 = off)", (double)c->clip);
    if (c->max_batch < 1 || c->max_batch > 1 << 20) return recur_fail(err, RECUR_ERR_ARG, "batch size %d out of range 1..%d", c->max_batch, 1 << 20);
    if (c->threads < 0 || c->threads > 256) return recur_fail(err, RECUR_ERR_ARG, "threads %d out of range 1..256", c->threads);
    return RECUR_OK;
}

recur_status recur_trainer_create(recur_model *m, const recur_train_config *cfg,
                                  recur_trainer **out, recur_error *err)
{
    *out = NULL;
    if (!m || !cfg) return recur_fail(err, RECUR_ERR_ARG, "trainer needs a model and a configuration");
    RECUR_TRY(check_config(cfg, err));
    recur_trainer *t = calloc(1, sizeof *t);
    if (!t) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    t->m = m;
    t->cfg = *cfg;
    recur_rng_seed(&t->rng, cfg->seed);
    t->state_a = calloc(m->n_weights, sizeof(float));
    t->state_b = cfg->optim == RECUR_OPTIM_ADAM ? calloc(m->n_weights, sizeof(float)) : NULL;
    recur_status s = RECUR_OK;
    if (!t->state_a || (cfg->optim == RECUR_OPTIM_ADAM && !t->state_b))
        s = recur_fail(err, RECUR_ERR_NOMEM, "out of memory for the optimiser state");
    if (!s) s = pass_init(&t->ps, m, 1, err);
    if (!s && cfg->threads > 1) {
        s = pool_create(cfg->threads, &t->pool, err);
        t->ps.pool = t->pool;
        if (!s) openblas_set_num_threads(1);
    }
    if (s) {
        pass_free(&t->ps);
        free(t->state_a);
        free(t->state_b);
        free(t);
        return s;
    }
    *out = t;
    return RECUR_OK;
}

void recur_trainer_free(recur_trainer *t)
{
    if (!t) return;
    pass_free(&t->ps);
    pool_free(t->pool);
    free(t->state_a);
    free(t->state_b);
    free(t);
}

recur_status recur_trainer_grad(recur_trainer *t, const recur_batch *b, float *loss,
                                recur_error *err)
{
    recur_model *m = t->m;
    if (b && b->n > t->cfg.max_batch)
        return recur_fail(err, RECUR_ERR_ARG, "batch of %d exceeds max_batch %d", b->n, t->cfg.max_batch);
    t->ps.train = 1;
    RECUR_TRY(pass_prepare(&t->ps, m, b, err));
    memset(m->g, 0, m->n_weights * sizeof(float));
    double sum = pass_forward(&t->ps, m, &t->rng);
    float value = (float)(t->cfg.sum_loss ? sum : sum / t->ps.rows);
    if (loss) *loss = value;
    if (!isfinite(value))
        return recur_fail(err, RECUR_ERR_NUMERIC, "loss became %s at step %llu",
                          isnan(value) ? "NaN" : "infinite", (unsigned long long)t->step + 1);
    pass_backward(&t->ps, m, t->cfg.sum_loss);
    return RECUR_OK;
}

/* The optimiser update of one thread's share of the weights. */
static void update_share(void *arg, int tid, int nt)
{
    recur_trainer *t = arg;
    recur_model *m = t->m;
    const recur_train_config *c = &t->cfg;
    /* Shares of 16 floats, so vector loops stay aligned to their ends. */
    int lo, hi;
    pool_split((int)((m->n_weights + 15) / 16), tid, nt, &lo, &hi);
    size_t a = (size_t)lo * 16, b = (size_t)hi * 16 < m->n_weights ? (size_t)hi * 16 : m->n_weights;
    if (a >= b) return;
    if (c->optim == RECUR_OPTIM_ADAM)
        adam_step(m->w + a, m->g + a, t->state_a + a, t->state_b + a, b - a, c->lr, c->beta1, c->beta2, c->eps,
                  c->weight_decay, t->step);
    else
        sgd_step(m->w + a, m->g + a, t->state_a + a, b - a, c->lr, c->momentum, c->weight_decay, t->step);
}

recur_status recur_trainer_step(recur_trainer *t, const recur_batch *b, float *loss,
                                recur_error *err)
{
    RECUR_TRY(recur_trainer_grad(t, b, loss, err));
    recur_model *m = t->m;
    const recur_train_config *c = &t->cfg;
    double norm = c->clip > 0.0f ? clip_grad_norm(m->g, m->n_weights, c->clip)
                                 : grad_norm(m->g, m->n_weights);
    if (!isfinite(norm))
        return recur_fail(err, RECUR_ERR_NUMERIC, "gradient norm became %s at step %llu; weights not updated",
                          isnan(norm) ? "NaN" : "infinite", (unsigned long long)t->step + 1);
    t->step++;
    pool_run(t->pool, update_share, t);
    return RECUR_OK;
}

recur_status recur_trainer_eval(recur_trainer *t, const recur_batch *b, double *loss_sum,
                                size_t *terms, size_t *correct, recur_error *err)
{
    if (b && b->n > t->cfg.max_batch)
        return recur_fail(err, RECUR_ERR_ARG, "batch of %d exceeds max_batch %d", b->n, t->cfg.max_batch);
    t->ps.train = 0;
    recur_status s = pass_prepare(&t->ps, t->m, b, err);
    if (!s) {
        double sum = pass_forward(&t->ps, t->m, &t->rng);
        if (loss_sum) *loss_sum = sum;
        if (terms) *terms = (size_t)t->ps.rows;
        if (correct) *correct = pass_correct(&t->ps, t->m);
    }
    t->ps.train = 1;
    return s;
}

void recur_trainer_set_lr(recur_trainer *t, float lr)
{
    if (lr > 0.0f) t->cfg.lr = lr;
}

uint64_t recur_trainer_steps(const recur_trainer *t) { return t->step; }
