/* recur_trainer: mini-batch training with SGD or Adam and gradient clipping. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/pass.h"
#include "model/trainer.h"
#include "optim/optim.h"

/* Data parallelism: models with G*H up to this (LSTM 256, GRU 341), and
 * batches of at least this many sequences per thread. */
enum { DATA_PARALLEL_MAX_GH = 1, DATA_PARALLEL_MIN_SEQS = 8 };

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

static void free_replicas(recur_trainer *t)
{
    for (int k = 0; k < t->n_rep; k++) {
        pass_free(&t->rep[k].ps);
        free(t->rep[k].g);
        free(t->rep[k].offsets);
    }
    free(t->rep);
    t->rep = NULL;
    t->n_rep = 0;
}

static recur_status make_replicas(recur_trainer *t, int n, recur_error *err)
{
    t->rep = calloc((size_t)n, sizeof *t->rep);
    if (!t->rep) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    t->n_rep = n;
    for (int k = 0; k < n; k++) {
        replica *r = &t->rep[k];
        RECUR_TRY(pass_init(&r->ps, t->m, 1, err));
        if (k > 0 && !(r->g = malloc(t->m->n_weights * sizeof(float))))
            return recur_fail(err, RECUR_ERR_NOMEM, "out of memory for the gradients of thread %d", k);
    }
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
    t->sumsq = calloc(cfg->threads > 1 ? (size_t)cfg->threads : 1, sizeof(double));
    recur_status s = RECUR_OK;
    if (!t->state_a || (cfg->optim == RECUR_OPTIM_ADAM && !t->state_b) || !t->sumsq)
        s = recur_fail(err, RECUR_ERR_NOMEM, "out of memory for the optimiser state");
    if (!s) s = pass_init(&t->ps, m, 1, err);
    if (!s && cfg->threads > 1) {
        s = pool_create(cfg->threads, &t->pool, err);
        t->ps.pool = t->pool;
        if (!s) s = make_replicas(t, cfg->threads, err);
    }
    if (s) {
        recur_trainer_free(t);
        return s;
    }
    *out = t;
    return RECUR_OK;
}

void recur_trainer_free(recur_trainer *t)
{
    if (!t) return;
    free_replicas(t);
    free(t->part_off);
    pass_free(&t->ps);
    pool_free(t->pool);
    free(t->state_a);
    free(t->state_b);
    free(t->sumsq);
    free(t);
}

/* The range [*a, *b) of the weights that thread tid of nt takes: shares of
 * 16 floats, so that vector loops stay aligned to their ends. */
static void weight_share(const recur_trainer *t, int tid, int nt, size_t *a, size_t *b)
{
    int lo, hi;
    pool_split((int)((t->m->n_weights + 15) / 16), tid, nt, &lo, &hi);
    *a = (size_t)lo * 16;
    *b = (size_t)hi * 16 < t->m->n_weights ? (size_t)hi * 16 : t->m->n_weights;
    if (*b < *a) *b = *a;
}

/* One replica's forward and backward over its slice. */
static void replica_share(void *arg, int tid, int nt)
{
    recur_trainer *t = arg;
    replica *r = &t->rep[tid];
    (void)nt;
    r->status = pass_prepare(&r->ps, &r->view, &r->b, &r->err);
    if (r->status) return;
    memset(r->view.g, 0, t->m->n_weights * sizeof(float));
    r->loss = pass_forward(&r->ps, &r->view, tid == 0 ? &t->rng : &r->rng);
    if (!pass_stopped(&r->ps)) pass_backward(&r->ps, &r->view, t->dp_scale);
}

/* Sum the replicas' gradients into the model's, in replica order, and the
 * squares of the sum (for the gradient norm). */
static void reduce_share(void *arg, int tid, int nt)
{
    recur_trainer *t = arg;
    size_t a, b;
    weight_share(t, tid, nt, &a, &b);
    float *g = t->m->g;
    for (int k = 1; k < t->n_rep; k++) {
        const float *gk = t->rep[k].g;
        for (size_t i = a; i < b; i++) g[i] += gk[i];
    }
    t->sumsq[tid] = grad_sumsq(g + a, b - a);
}

static void sumsq_share(void *arg, int tid, int nt)
{
    recur_trainer *t = arg;
    size_t a, b;
    weight_share(t, tid, nt, &a, &b);
    t->sumsq[tid] = grad_sumsq(t->m->g + a, b - a);
}

/* Sequences lo.. of b as a batch of their own (n and offsets: the
 * caller's): every per-sequence and per-step field moved along. */
static recur_batch slice_batch(const recur_model *m, const recur_batch *b, int lo, const int32_t *offsets)
{
    size_t k = (size_t)b->offsets[lo], C = (size_t)m->C;
    recur_batch s = {.offsets = offsets};
    s.tokens = b->tokens ? b->tokens + k : NULL;
    s.labels = b->labels ? b->labels + lo : NULL;
    s.features = b->features ? b->features + k * (size_t)m->F : NULL;
    s.step_labels = b->step_labels ? b->step_labels + k : NULL;
    if (b->targets) s.targets = b->targets + (model_steps(m) ? k : (size_t)lo) * C;
    return s;
}

/* The stop flag was seen inside a pass: nothing of it is used. */
static recur_status interrupted(const recur_trainer *t, recur_error *err)
{
    return recur_fail(err, RECUR_ERR_INTERRUPTED, "interrupted in step %llu; weights not updated",
                      (unsigned long long)t->step + 1);
}

/* Forward and backward of a batch split over the replicas. */
static recur_status grad_data_parallel(recur_trainer *t, const recur_batch *b, size_t terms,
                                       double *sum, recur_error *err)
{
    recur_model *m = t->m;
    t->dp_scale = t->cfg.sum_loss ? 1.0f : 1.0f / (float)(terms ? terms : 1);
    /* Slices of about equal steps (the work), each of at least one sequence. */
    int64_t total = b->offsets[b->n];
    int lo = 0;
    for (int k = 0; k < t->n_rep; k++) {
        replica *r = &t->rep[k];
        int hi = lo + 1;
        int64_t want = total * (k + 1) / t->n_rep;
        while (hi < b->n - (t->n_rep - 1 - k) && b->offsets[hi] < want) hi++;
        if (k == t->n_rep - 1) hi = b->n;
        if (hi - lo + 1 > r->cap) {
            int32_t *o = realloc(r->offsets, (size_t)(hi - lo + 1) * sizeof *o);
            if (!o) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory for a batch of %d", b->n);
            r->offsets = o;
            r->cap = hi - lo + 1;
        }
        for (int i = lo; i <= hi; i++) r->offsets[i - lo] = b->offsets[i] - b->offsets[lo];
        r->b = slice_batch(m, b, lo, r->offsets);
        r->b.n = hi - lo;
        r->view = *m;
        r->view.g = k == 0 ? m->g : r->g;
        r->view.st.g = r->view.g + (m->st.g - m->g);
        if (k > 0) recur_rng_seed(&r->rng, recur_rng_next(&t->rng));
        r->ps.train = 1;
        lo = hi;
    }
    pool_run(t->pool, replica_share, t);
    *sum = 0;
    for (int k = 0; k < t->n_rep; k++) {
        if (t->rep[k].status) {
            *err = t->rep[k].err;
            return t->rep[k].status;
        }
        if (pass_stopped(&t->rep[k].ps)) return interrupted(t, err);
        *sum += t->rep[k].loss;
    }
    pool_run(t->pool, reduce_share, t);
    return RECUR_OK;
}

/* Gradients of the batch in m->g and, with norm != NULL, their L2 norm.
 * scale_terms > 0: the loss is the mean over that many terms (the whole
 * batch of which b is a part) rather than over b's own; *sum_out (may be
 * NULL): b's summed loss. */
static recur_status grad_of(recur_trainer *t, const recur_batch *b, size_t scale_terms, float *loss,
                            double *sum_out, double *norm, recur_error *err)
{
    recur_model *m = t->m;
    if (m->q)
        return recur_fail(err, RECUR_ERR_UNSUPPORTED,
                          "the model is quantized (%s): training needs fp32 weights; train the fp32 model and quantize it again",
                          recur_dtype_name(recur_model_dtype(m)));
    if (b && b->n > t->cfg.max_batch)
        return recur_fail(err, RECUR_ERR_ARG, "batch of %d exceeds max_batch %d", b->n, t->cfg.max_batch);
    size_t terms;
    RECUR_TRY(pass_check_batch(m, b, 1, NULL, &terms, err));
    if (scale_terms) terms = scale_terms;
    double sum = 0;
    int dp = t->rep && b->n >= DATA_PARALLEL_MIN_SEQS * t->n_rep;
    if (dp) {
        RECUR_TRY(grad_data_parallel(t, b, terms, &sum, err));
    } else {
        t->ps.train = 1;
        RECUR_TRY(pass_prepare(&t->ps, m, b, err));
        memset(m->g, 0, m->n_weights * sizeof(float));
        sum = pass_forward(&t->ps, m, &t->rng);
        if (pass_stopped(&t->ps)) return interrupted(t, err);
    }
    /* A batch whose steps are all unlabelled has no terms: loss 0. */
    size_t rows = terms ? terms : 1;
    float value = (float)(t->cfg.sum_loss ? sum : sum / (double)rows);
    if (loss) *loss = value;
    if (sum_out) *sum_out = sum;
    if (!isfinite(value) && !scale_terms)
        return recur_fail(err, RECUR_ERR_NUMERIC, "loss became %s at step %llu",
                          isnan(value) ? "NaN" : "infinite", (unsigned long long)t->step + 1);
    if (!dp) {
        pass_backward(&t->ps, m, t->cfg.sum_loss ? 1.0f : 1.0f / (float)rows);
        if (pass_stopped(&t->ps)) return interrupted(t, err);
        if (norm) pool_run(t->pool, sumsq_share, t);
    }
    if (norm) {
        double s = 0;
        for (int k = 0; k < pool_threads(t->pool); k++) s += t->sumsq[k];
        *norm = sqrt(s);
    }
    return RECUR_OK;
}

static recur_status compute_grad(recur_trainer *t, const recur_batch *b, float *loss, double *norm,
                                 recur_error *err)
{
    return grad_of(t, b, 0, loss, NULL, norm, err);
}

recur_status recur_trainer_grad(recur_trainer *t, const recur_batch *b, float *loss,
                                recur_error *err)
{
    return compute_grad(t, b, loss, NULL, err);
}

recur_status recur_trainer_grad_part(recur_trainer *t, const recur_batch *b, int lo, int hi, double *loss_sum,
                                     size_t *terms, recur_error *err)
{
    recur_model *m = t->m;
    size_t all;
    if (!b || lo < 0 || hi < lo || hi > b->n)
        return recur_fail(err, RECUR_ERR_ARG, "part %d..%d of a batch of %d sequences", lo, hi, b ? b->n : 0);
    RECUR_TRY(pass_check_batch(m, b, 1, NULL, &all, err));
    if (terms) *terms = all;
    if (loss_sum) *loss_sum = 0;
    if (lo == hi) {
        /* An empty share (fewer sequences than processes): adds nothing. */
        memset(m->g, 0, m->n_weights * sizeof(float));
        return RECUR_OK;
    }
    if (hi - lo + 1 > t->part_cap) {
        int32_t *o = realloc(t->part_off, (size_t)(hi - lo + 1) * sizeof *o);
        if (!o) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory for a part of %d sequences", hi - lo);
        t->part_off = o;
        t->part_cap = hi - lo + 1;
    }
    for (int i = lo; i <= hi; i++) t->part_off[i - lo] = b->offsets[i] - b->offsets[lo];
    recur_batch part = slice_batch(m, b, lo, t->part_off);
    part.n = hi - lo;
    /* A part's terms may be 0 (unlabelled steps) where the batch's are not. */
    return grad_of(t, &part, all ? all : 1, NULL, loss_sum, NULL, err);
}

/* The optimiser update of one thread's share of the weights, after the
 * clipping factor (torch.nn.utils.clip_grad_norm_'s) if it is below 1. */
static void update_share(void *arg, int tid, int nt)
{
    recur_trainer *t = arg;
    recur_model *m = t->m;
    const recur_train_config *c = &t->cfg;
    size_t a, b;
    weight_share(t, tid, nt, &a, &b);
    if (a >= b) return;
    if (t->clip_coef < 1.0) {
        float k = (float)t->clip_coef;
        for (size_t i = a; i < b; i++) m->g[i] *= k;
    }
    if (c->optim == RECUR_OPTIM_ADAM)
        adam_step(m->w + a, m->g + a, t->state_a + a, t->state_b + a, b - a, c->lr, c->beta1, c->beta2, c->eps,
                  c->weight_decay, t->step);
    else
        sgd_step(m->w + a, m->g + a, t->state_a + a, b - a, c->lr, c->momentum, c->weight_decay, t->step);
}

/* Clip to the global norm and take the optimiser step. */
static recur_status update(recur_trainer *t, double norm, recur_error *err)
{
    const recur_train_config *c = &t->cfg;
    if (!isfinite(norm))
        return recur_fail(err, RECUR_ERR_NUMERIC, "gradient norm became %s at step %llu; weights not updated",
                          isnan(norm) ? "NaN" : "infinite", (unsigned long long)t->step + 1);
    t->clip_coef = c->clip > 0.0f ? clip_coefficient(norm, c->clip) : 1.0;
    t->step++;
    pool_run(t->pool, update_share, t);
    return RECUR_OK;
}

recur_status recur_trainer_step(recur_trainer *t, const recur_batch *b, float *loss,
                                recur_error *err)
{
    double norm;
    RECUR_TRY(compute_grad(t, b, loss, &norm, err));
    return update(t, norm, err);
}

recur_status recur_trainer_apply(recur_trainer *t, recur_error *err)
{
    if (t->m->q)
        return recur_fail(err, RECUR_ERR_UNSUPPORTED, "the model is quantized: training needs fp32 weights");
    pool_run(t->pool, sumsq_share, t);
    double s = 0;
    for (int k = 0; k < pool_threads(t->pool); k++) s += t->sumsq[k];
    return update(t, sqrt(s), err);
}

recur_status recur_trainer_eval(recur_trainer *t, const recur_batch *b, double *loss_sum,
                                size_t *terms, size_t *correct, recur_error *err)
{
    if (b && b->n > t->cfg.max_batch)
        return recur_fail(err, RECUR_ERR_ARG, "batch of %d exceeds max_batch %d", b->n, t->cfg.max_batch);
    t->ps.train = 0;
    recur_status s = pass_prepare(&t->ps, t->m, b, err);
    double sum = 0;
    if (!s) {
        sum = pass_forward(&t->ps, t->m, &t->rng);
        if (pass_stopped(&t->ps)) s = interrupted(t, err);
    }
    if (!s) {
        if (loss_sum) *loss_sum = sum;
        if (terms) *terms = t->ps.terms;
        if (correct) *correct = pass_correct(&t->ps, t->m);
    }
    t->ps.train = 1;
    return s;
}

void recur_trainer_set_stop(recur_trainer *t, const volatile sig_atomic_t *stop)
{
    t->stop = stop;
    t->ps.stop = stop;
    for (int k = 0; k < t->n_rep; k++) t->rep[k].ps.stop = stop;
}

void recur_trainer_set_lr(recur_trainer *t, float lr)
{
    if (lr > 0.0f) t->cfg.lr = lr;
}

uint64_t recur_trainer_steps(const recur_trainer *t) { return t->step; }
