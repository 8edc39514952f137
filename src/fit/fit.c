/*
 * recur_fit: the training loop every front end shares.
 *
 * Each epoch: the seeded order of batches (order.c), the sequences of each
 * batch gathered (gather.c) with token dropout applied to the copy, one
 * optimiser step per batch, then the validation scores (metrics.c). The
 * learning rate is halved after `patience` epochs without a better
 * validation loss; the best model so far (validation accuracy or loss) is
 * saved to model_path and a checkpoint after every epoch. The fit state
 * (epochs done, best epoch and score, best loss, bad epochs, learning rate,
 * curves) lives in the model's metadata under the keys of docs/FORMAT.md,
 * so the checkpoint carries it; the order and dropout of an epoch are drawn
 * from (seed, epoch) alone. A resumed run is therefore the straight run.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/error.h"
#include "fit/fit.h"
#include "model/trainer.h"

void recur_fit_config_default(recur_fit_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    recur_train_config_default(&cfg->train);
    cfg->epochs = 10;
    cfg->batch = 64;
    cfg->bucket = 50;
    cfg->patience = 2;
    cfg->select = RECUR_FIT_SELECT_AUTO;
    cfg->seed = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The state of one call. */
typedef struct fit_run {
    recur_model *m;
    const recur_fit_config *cfg;
    const recur_batch *data;
    const size_t *train, *valid;
    size_t n_train, n_valid;
    int classify, tag, by_loss, C; /* tag: selected by per-step accuracy */
    int par, lead; /* data-parallel (cfg->reduce); rank 0 (or no ranks) */
    recur_trainer *t;
    int32_t *lens, *labels; /* [n_train] of each training position */
    fit_order ord;
    fit_gather_buf gb;
    size_t *pick;
    fit_history hist;
    recur_metrics met;
    /* Fit state (what a checkpoint carries). best_score: higher is better
     * (accuracy, or minus the loss). */
    int epochs_done, best_epoch, bad_epochs, best_saved;
    double best_score, best_loss_seen;
    float lr;
} fit_run;

static double initial_score(const fit_run *r) { return r->by_loss ? -INFINITY : -1; }

/* Validation accuracy of classifiers (sequences) and taggers (labelled
 * steps: recur_evaluate counts them in terms and correct); NaN otherwise. */
static double valid_accuracy(const fit_run *r)
{
    if (r->classify) return recur_metrics_accuracy(&r->met);
    if (r->tag) return r->met.terms ? (double)r->met.correct / (double)r->met.terms : 0.0;
    return NAN;
}

/* The metadata key of the best score (exact in %.17g: the accuracy, or
 * the loss, whose negation is the score). */
static const char *best_key(const fit_run *r) { return r->by_loss ? "best_loss" : "best_accuracy"; }

static double best_from_meta(const fit_run *r, double v) { return r->by_loss ? -v : v; }

static recur_status set_meta(fit_run *r, recur_error *err, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static recur_status set_meta(fit_run *r, recur_error *err, const char *key, const char *fmt, ...)
{
    char v[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    return recur_model_set_meta(r->m, key, v, err);
}

/* The training sequences of each label, "n0,n1,...": the prior that a
 * prior correction divides out. */
static recur_status label_counts(fit_run *r, recur_error *err)
{
    size_t *n = calloc((size_t)r->C, sizeof *n);
    char *text = malloc((size_t)r->C * 21 + 1);
    recur_status s = RECUR_OK;
    if (!n || !text) s = recur_fail(err, RECUR_ERR_NOMEM, "out of memory describing the model");
    if (!s) {
        for (size_t i = 0; i < r->n_train; i++) n[r->labels[i]]++;
        size_t at = 0;
        for (int c = 0; c < r->C; c++) at += (size_t)sprintf(text + at, "%s%zu", c ? "," : "", n[c]);
        s = recur_model_set_meta(r->m, "label_counts", text, err);
    }
    free(n);
    free(text);
    return s;
}

/* Metadata of the weights now in the model: the caller's, then the fit
 * state and the scores of epoch `epoch` (0: before any epoch finished). */
static recur_status describe(fit_run *r, int epoch, double train_loss, double valid_loss, recur_error *err)
{
    const recur_fit_config *c = r->cfg;
    for (int i = 0; i < c->n_meta; i++) RECUR_TRY(recur_model_set_meta(r->m, c->meta[2 * i], c->meta[2 * i + 1], err));
    char *hist = fit_history_format(&r->hist);
    if (!hist) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory describing the model");
    recur_status s = recur_model_set_meta(r->m, "history", hist, err);
    free(hist);
    RECUR_TRY(s);
    RECUR_TRY(set_meta(r, err, "recur_version", "%s", RECUR_VERSION));
    RECUR_TRY(set_meta(r, err, "train_names", "%zu", r->n_train));
    RECUR_TRY(set_meta(r, err, "valid_names", "%zu", r->n_valid));
    RECUR_TRY(set_meta(r, err, "epoch", "%d", epoch));
    RECUR_TRY(set_meta(r, err, "epochs_done", "%d", r->epochs_done));
    if (r->classify) {
        RECUR_TRY(set_meta(r, err, "valid_accuracy", "%.6f", recur_metrics_accuracy(&r->met)));
        RECUR_TRY(set_meta(r, err, "valid_macro_recall", "%.6f", recur_metrics_macro_recall(&r->met)));
        RECUR_TRY(label_counts(r, err));
    } else if (r->tag) {
        RECUR_TRY(set_meta(r, err, "valid_accuracy", "%.6f", valid_accuracy(r)));
    } else if (recur_model_get_config(r->m)->task == RECUR_TASK_GENERATE) {
        /* Bits per predicted symbol: each character and the end of the name. */
        RECUR_TRY(set_meta(r, err, "valid_bits_per_char", "%.6f", valid_loss / log(2)));
    }
    RECUR_TRY(set_meta(r, err, "valid_loss", "%.6f", valid_loss));
    RECUR_TRY(set_meta(r, err, "train_loss", "%.6f", train_loss));
    RECUR_TRY(set_meta(r, err, "best_epoch", "%d", r->best_epoch));
    RECUR_TRY(set_meta(r, err, best_key(r), "%.17g", r->by_loss ? -r->best_score : r->best_score));
    if (recur_model_get_config(r->m)->task == RECUR_TASK_GENERATE)
        RECUR_TRY(set_meta(r, err, "best_bits_per_char", "%.9g", -r->best_score / log(2)));
    RECUR_TRY(set_meta(r, err, "best_valid_loss", "%.17g", r->best_loss_seen));
    RECUR_TRY(set_meta(r, err, "bad_epochs", "%d", r->bad_epochs));
    RECUR_TRY(set_meta(r, err, "lr", "%.9g", (double)r->lr));
    return RECUR_OK;
}

/* The validation scores of the current weights into r->met; *loss: the
 * mean per loss term. */
static recur_status evaluate(fit_run *r, const volatile sig_atomic_t *stop, double *loss, recur_error *err)
{
    recur_metrics_free(&r->met);
    int eb = r->cfg->eval_batch > 0 ? r->cfg->eval_batch : 256;
    RECUR_TRY(recur_evaluate(r->m, r->data, r->valid, r->n_valid, eb, stop, &r->met, err));
    *loss = recur_metrics_loss(&r->met);
    return RECUR_OK;
}

static int file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* Continue from a checkpoint: weights, optimiser state, fit state. */
static recur_status resume(fit_run *r, recur_error *err)
{
    const recur_fit_config *c = r->cfg;
    RECUR_TRY(recur_trainer_load(r->t, c->resume, err));
    const char *v;
    r->epochs_done = (v = recur_model_get_meta(r->m, "epochs_done")) ? atoi(v) : 0;
    r->best_epoch = (v = recur_model_get_meta(r->m, "best_epoch")) ? atoi(v) : 0;
    r->bad_epochs = (v = recur_model_get_meta(r->m, "bad_epochs")) ? atoi(v) : 0;
    if ((v = recur_model_get_meta(r->m, best_key(r)))) r->best_score = best_from_meta(r, strtod(v, NULL));
    else if (!r->classify && (v = recur_model_get_meta(r->m, "best_bits_per_char")))
        r->best_score = -strtod(v, NULL) * log(2); /* checkpoints of before */
    /* (best_test_loss: checkpoints written before validation had a part
     * of its own) */
    if ((v = recur_model_get_meta(r->m, "best_valid_loss")) || (v = recur_model_get_meta(r->m, "best_test_loss")))
        r->best_loss_seen = strtod(v, NULL);
    if ((v = recur_model_get_meta(r->m, "lr"))) r->lr = strtof(v, NULL);
    if (!(r->lr > 0) || c->resume_lr) r->lr = c->train.lr;
    recur_trainer_set_lr(r->t, r->lr);
    if (fit_history_parse(&r->hist, recur_model_get_meta(r->m, "history")) || r->hist.n != r->epochs_done)
        return recur_fail(err, RECUR_ERR_FORMAT, "%s has a damaged training history", c->resume);
    if (r->epochs_done >= c->epochs)
        return recur_fail(err, RECUR_ERR_ARG, "%s has already trained %d of %d epochs", c->resume, r->epochs_done,
                          c->epochs);
    /* The best model so far is in model_path only if it is there. */
    r->best_saved = c->model_path && file_exists(c->model_path);
    if (!r->best_saved) r->best_score = initial_score(r);
    return RECUR_OK;
}

static recur_status check_args(const recur_model *m, const recur_fit_config *c, const recur_batch *data,
                               const size_t *train, size_t n_train, const size_t *valid, size_t n_valid,
                               recur_error *err)
{
    if (!m || !c || !data || !data->offsets || !train || !valid)
        return recur_fail(err, RECUR_ERR_ARG, "fit needs a model, a configuration, data and index lists");
    if (c->epochs < 1) return recur_fail(err, RECUR_ERR_ARG, "epochs %d must be >= 1", c->epochs);
    if (c->batch < 1 || c->batch > 1 << 20) return recur_fail(err, RECUR_ERR_ARG, "batch %d out of range", c->batch);
    if (c->bucket < 0) return recur_fail(err, RECUR_ERR_ARG, "bucket %d must be >= 0", c->bucket);
    if (!(c->balance >= 0 && c->balance <= 1)) return recur_fail(err, RECUR_ERR_ARG, "balance must lie in [0, 1]");
    if (!(c->token_dropout >= 0 && c->token_dropout < 1))
        return recur_fail(err, RECUR_ERR_ARG, "token dropout must lie in [0, 1)");
    if (c->in_order && c->balance > 0)
        return recur_fail(err, RECUR_ERR_ARG, "in_order training draws no balance: set balance 0");
    if (c->patience < 0) return recur_fail(err, RECUR_ERR_ARG, "patience %d must be >= 0", c->patience);
    if (c->select < RECUR_FIT_SELECT_AUTO || c->select > RECUR_FIT_SELECT_LOSS)
        return recur_fail(err, RECUR_ERR_ARG, "unknown selection %d", (int)c->select);
    if (c->n_meta < 0 || (c->n_meta > 0 && !c->meta)) return recur_fail(err, RECUR_ERR_ARG, "bad metadata list");
    if (c->reduce && (c->ranks < 1 || c->rank < 0 || c->rank >= c->ranks))
        return recur_fail(err, RECUR_ERR_ARG, "rank %d of %d processes", c->rank, c->ranks);
    if (n_train < 1 || n_valid < 1)
        return recur_fail(err, RECUR_ERR_ARG, "fit needs training and validation sequences (%zu and %zu)", n_train,
                          n_valid);
    const size_t *lists[2] = {train, valid};
    const size_t counts[2] = {n_train, n_valid};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < counts[k]; i++)
            if (lists[k][i] >= (size_t)data->n)
                return recur_fail(err, RECUR_ERR_ARG, "index %zu past the %d sequences", lists[k][i], data->n);
    if (recur_model_get_config(m)->task == RECUR_TASK_CLASSIFY || c->balance > 0) {
        if (!data->labels) return recur_fail(err, RECUR_ERR_ARG, "fit: data without labels");
        for (size_t i = 0; i < n_train; i++)
            if (data->labels[train[i]] < 0 || data->labels[train[i]] >= recur_model_num_labels(m))
                return recur_fail(err, RECUR_ERR_ARG, "label %d of sequence %zu out of range",
                                  data->labels[train[i]], train[i]);
    }
    return RECUR_OK;
}

/* Interrupted: with nothing saved yet, the current weights rather than
 * nothing (their validation scores, epoch 0). */
static void save_current(fit_run *r, recur_fit_result *res)
{
    recur_error e;
    double vl;
    if (!r->cfg->model_path || r->best_saved || !r->lead) return;
    /* The caller asked to stop: score on a bounded part of the validation
     * set (the first RECUR_FIT_QUICK_SCORE of it), not all of it, which on
     * 600k sequences took 10 s after Ctrl-C. */
    size_t n_valid = r->n_valid;
    if (r->n_valid > RECUR_FIT_QUICK_SCORE) r->n_valid = RECUR_FIT_QUICK_SCORE;
    /* And as many of those as a forward pass of RECUR_FIT_QUICK_FLOPS
     * scores: 900 lines of 60 characters through an LSTM-256 took 4 s. */
    const recur_model_config *mc = recur_model_get_config(r->m);
    const double D = mc->bidirectional ? 2 : 1, GH = recur_cell_gates(mc->cell) * (double)mc->hidden;
    double per_step = 0; /* nominal FLOPs of one step of every layer */
    for (int l = 0; l < mc->layers; l++)
        per_step += 2 * D * GH * (mc->hidden + (l ? D * mc->hidden : mc->input == RECUR_INPUT_DENSE ? mc->input_size : 0));
    double cost = 0;
    for (size_t k = 0; k < r->n_valid; k++) {
        size_t i = r->valid[k];
        cost += per_step * (r->data->offsets[i + 1] - r->data->offsets[i]);
        if (cost > RECUR_FIT_QUICK_FLOPS && k > 0) {
            r->n_valid = k;
            break;
        }
    }
    recur_status s = evaluate(r, NULL, &vl, &e);
    r->n_valid = n_valid;
    if (s || describe(r, 0, NAN, vl, &e) || recur_model_save(r->m, r->cfg->model_path, &e)) return;
    res->saved_current = 1;
    res->current_score = r->by_loss ? -vl : valid_accuracy(r);
}

/* Data parallelism: rank k's share of b, sequences [*lo, *hi): the cuts
 * fall at the sequence boundaries nearest to k/ranks of b's steps, so the
 * shares carry about equal work (a share may be empty). */
static void share_of(const recur_batch *b, int rank, int ranks, int *lo, int *hi)
{
    int cut[2];
    int64_t total = b->offsets[b->n];
    for (int e = 0; e < 2; e++) {
        int k = rank + e, i = 0;
        int64_t want = total * k / ranks;
        if (k == ranks) {
            cut[e] = b->n;
            continue;
        }
        while (i < b->n && b->offsets[i + 1] <= want) i++;
        /* offsets[i] <= want < offsets[i + 1]: the nearer of the two. */
        if (i < b->n && b->offsets[i + 1] - want < want - b->offsets[i]) i++;
        cut[e] = k == 0 ? 0 : i;
    }
    *lo = cut[0];
    *hi = cut[1];
}

/* One data-parallel step: this process's share, the sums over all of
 * them (gradients, loss, the stop flag), the update every process takes.
 * *stopped: some process was asked to stop (no update then). */
static recur_status par_step(fit_run *r, const recur_batch *b, float *loss, int *stopped, recur_error *err)
{
    const recur_fit_config *c = r->cfg;
    int lo, hi;
    share_of(b, c->rank, c->ranks, &lo, &hi);
    double part;
    size_t terms;
    RECUR_TRY(recur_trainer_grad_part(r->t, b, lo, hi, &part, &terms, err));
    double sums[2] = {part, c->stop && *c->stop ? 1 : 0};
    if (c->reduce(c->user, recur_model_grads(r->m), recur_model_num_weights(r->m), sums, 2))
        return recur_fail(err, RECUR_ERR_IO, "combining the gradients of the %d processes failed", c->ranks);
    *stopped = sums[1] > 0;
    if (*stopped) return RECUR_OK;
    *loss = (float)(c->train.sum_loss ? sums[0] : sums[0] / (double)(terms ? terms : 1));
    if (!isfinite(*loss))
        return recur_fail(err, RECUR_ERR_NUMERIC, "loss became %s at step %llu", isnan(*loss) ? "NaN" : "infinite",
                          (unsigned long long)recur_trainer_steps(r->t) + 1);
    return recur_trainer_apply(r->t, err);
}

/* Rank 0's values v[0..n) on every process (the others' are replaced). */
static recur_status share_lead(fit_run *r, double *v, int n, recur_error *err)
{
    if (!r->par) return RECUR_OK;
    if (!r->lead)
        for (int i = 0; i < n; i++) v[i] = 0;
    if (r->cfg->reduce(r->cfg->user, NULL, 0, v, n))
        return recur_fail(err, RECUR_ERR_IO, "sharing rank 0's scores with the %d processes failed", r->cfg->ranks);
    return RECUR_OK;
}

static void fill_result(const fit_run *r, recur_fit_result *res)
{
    res->epochs_done = r->epochs_done;
    res->best_epoch = r->best_epoch;
    res->best_score = r->best_score;
    res->best_saved = r->best_saved;
    res->best_loss = res->best_accuracy = res->best_macro_recall = NAN;
    if (r->best_epoch >= 1 && r->best_epoch <= r->hist.n) {
        res->best_loss = r->hist.valid_loss[r->best_epoch - 1];
        res->best_accuracy = r->hist.acc[r->best_epoch - 1];
        res->best_macro_recall = r->hist.recall[r->best_epoch - 1];
    }
}

static recur_status train_epochs(fit_run *r, recur_fit_result *res, recur_error *err)
{
    const recur_fit_config *c = r->cfg;
    recur_status s;
    for (int epoch = r->epochs_done + 1; epoch <= c->epochs; epoch++) {
        double t0 = now_s();
        RECUR_TRY(fit_order_epoch(&r->ord, r->lens, r->labels, r->C, r->n_train, c->batch, c->bucket, c->balance,
                                  c->seed, epoch, c->in_order, err));
        /* The mean loss per sequence (classify) or per predicted symbol
         * (generate): the unit the trainer averages over. */
        double loss_sum = 0, terms = 0;
        size_t seen = 0;
        uint64_t noise = recur_splitmix_seed(c->seed * 0xd1342543de82ef95ULL + (uint64_t)epoch);
        const uint64_t thr = (uint64_t)(c->token_dropout * 18446744073709551615.0);
        for (size_t k = 0; k < r->ord.n_batches; k++) {
            if (!r->par && c->stop && *c->stop) goto interrupted;
            size_t start = r->ord.batches[k][0], count = r->ord.batches[k][1];
            for (size_t j = 0; j < count; j++) r->pick[j] = r->train[r->ord.order[start + j]];
            recur_batch b;
            RECUR_TRY(fit_gather(r->data, r->pick, count, &r->gb, &b, err));
            if (c->token_dropout > 0 && b.tokens)
                for (int32_t j = 0; j < b.offsets[b.n]; j++)
                    if (recur_splitmix64(&noise) < thr) r->gb.tok[j] = RECUR_TOKEN_UNKNOWN;
            float loss;
            recur_error e;
            int stopped = 0;
            if (r->par) s = par_step(r, &b, &loss, &stopped, &e);
            else s = recur_trainer_step(r->t, &b, &loss, &e);
            /* Stopped inside the step: the weights are those of the last. */
            if (s == RECUR_ERR_INTERRUPTED && !r->par) goto interrupted;
            if (s) return recur_fail(err, s, "epoch %d: %s", epoch, e.message);
            if (stopped) goto interrupted;
            double w = r->classify ? (double)b.n : (double)(b.offsets[b.n] + b.n);
            if (r->tag) { /* the trainer's terms: labelled steps */
                w = 0;
                for (int32_t j = 0; j < b.offsets[b.n]; j++) w += b.step_labels[j] >= 0;
            } else if (b.targets) { /* rows of targets (each of `outputs` elements) */
                w = recur_model_get_config(r->m)->head == RECUR_HEAD_STEPS ? (double)b.offsets[b.n] : (double)b.n;
            }
            loss_sum += (double)loss * w;
            terms += w;
            seen += (size_t)b.n;
            if (c->on_step) {
                recur_fit_step st = {epoch,        c->epochs,       recur_trainer_steps(r->t), seen, r->n_train,
                                     now_s() - t0, loss_sum / terms, (double)loss};
                c->on_step(&st, c->user);
            }
        }
        double t_train = now_s() - t0;
        double train_loss = loss_sum / (terms > 0 ? terms : 1), vl = 0;
        s = r->lead ? evaluate(r, c->stop, &vl, err) : RECUR_OK;
        if (s && s != RECUR_ERR_INTERRUPTED) return s;
        double sc4[4] = {vl, valid_accuracy(r),
                         r->classify ? recur_metrics_macro_recall(&r->met) : NAN, s == RECUR_ERR_INTERRUPTED};
        RECUR_TRY(share_lead(r, sc4, 4, err));
        if (sc4[3] > 0) goto interrupted;
        vl = sc4[0];
        double acc = sc4[1], rec = sc4[2];
        r->epochs_done = epoch;
        if (fit_history_push(&r->hist, train_loss, vl, acc, rec))
            return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
        /* Plateau schedule on the validation loss. */
        int halved = 0;
        if (vl < r->best_loss_seen) {
            r->best_loss_seen = vl;
            r->bad_epochs = 0;
        } else if (c->patience > 0 && ++r->bad_epochs >= c->patience) {
            r->lr *= 0.5f;
            r->bad_epochs = 0;
            halved = 1;
            recur_trainer_set_lr(r->t, r->lr);
        }
        double sc = r->by_loss ? -vl : acc;
        int improved = sc > r->best_score;
        if (improved) {
            r->best_score = sc;
            r->best_epoch = epoch;
        }
        if (r->lead) RECUR_TRY(describe(r, epoch, train_loss, vl, err));
        int stop_here = 0;
        if (c->on_epoch && r->lead) {
            recur_fit_epoch ep = {.epoch = epoch,
                                  .epochs = c->epochs,
                                  .train_loss = train_loss,
                                  .train_seconds = t_train,
                                  .sequences = seen,
                                  .valid = &r->met,
                                  .valid_loss = vl,
                                  .valid_accuracy = acc,
                                  .valid_macro_recall = rec,
                                  .improved = improved,
                                  .lr_halved = halved,
                                  .lr = r->lr,
                                  .best_epoch = r->best_epoch,
                                  .best_score = r->best_score,
                                  .history_n = r->hist.n,
                                  .history_train_loss = r->hist.train_loss,
                                  .history_valid_loss = r->hist.valid_loss,
                                  .history_accuracy = r->hist.acc,
                                  .history_macro_recall = r->hist.recall};
            stop_here = c->on_epoch(&ep, c->user);
        }
        double sh = stop_here;
        RECUR_TRY(share_lead(r, &sh, 1, err));
        stop_here = sh != 0;
        if (improved && c->model_path) {
            if (r->lead) RECUR_TRY(recur_model_save(r->m, c->model_path, err));
            r->best_saved = 1;
        }
        if (c->checkpoint_path && r->lead) RECUR_TRY(recur_trainer_save(r->t, c->checkpoint_path, err));
        if (stop_here) break;
    }
    return RECUR_OK;
interrupted:
    save_current(r, res);
    return recur_fail(err, RECUR_ERR_INTERRUPTED, "interrupted in epoch %d", r->epochs_done + 1);
}

recur_status recur_fit(recur_model *m, const recur_fit_config *cfg, const recur_batch *data, const size_t *train,
                       size_t n_train, const size_t *valid, size_t n_valid, recur_fit_result *res, recur_error *err)
{
    recur_fit_result local;
    if (!res) res = &local;
    memset(res, 0, sizeof *res);
    RECUR_TRY(check_args(m, cfg, data, train, n_train, valid, n_valid, err));
    fit_run r = {.m = m, .cfg = cfg, .data = data, .train = train, .valid = valid, .n_train = n_train,
                 .n_valid = n_valid};
    fit_gather_init(&r.gb, m);
    r.par = cfg->reduce != NULL;
    r.lead = !r.par || cfg->rank == 0;
    r.classify = recur_model_get_config(m)->task == RECUR_TASK_CLASSIFY;
    r.tag = recur_model_get_config(m)->task == RECUR_TASK_TAG;
    r.by_loss = cfg->select == RECUR_FIT_SELECT_LOSS || (cfg->select == RECUR_FIT_SELECT_AUTO && !r.classify && !r.tag);
    r.C = recur_model_num_labels(m);
    r.best_score = initial_score(&r);
    r.best_loss_seen = INFINITY;
    recur_train_config tc = cfg->train;
    if (tc.max_batch < cfg->batch) tc.max_batch = cfg->batch;
    r.lr = tc.lr;
    recur_status s = recur_trainer_create(m, &tc, &r.t, err);
    /* Inside a step too, except across processes: they agree on a stop
     * after each step, and a share cut short would leave them apart. */
    if (!s && !r.par) recur_trainer_set_stop(r.t, cfg->stop);
    if (!s) {
        r.lens = malloc(n_train * sizeof *r.lens);
        r.labels = malloc(n_train * sizeof *r.labels);
        r.pick = malloc((size_t)cfg->batch * sizeof *r.pick);
        if (!r.lens || !r.labels || !r.pick) s = recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; !s && i < n_train; i++) {
        r.lens[i] = data->offsets[train[i] + 1] - data->offsets[train[i]];
        r.labels[i] = data->labels ? data->labels[train[i]] : 0;
    }
    if (!s && cfg->resume) s = resume(&r, err);
    /* Each process its own dropout stream, derived from rank 0's (the one
     * a checkpoint carries), so that shares do not repeat one another's
     * masks. */
    if (!s && r.par && cfg->rank > 0) recur_rng_seed(&r.t->rng, recur_rng_next(&r.t->rng) + (uint64_t)cfg->rank);
    if (!s) s = train_epochs(&r, res, err);
    fill_result(&r, res);
    recur_trainer_free(r.t);
    free(r.lens);
    free(r.labels);
    free(r.pick);
    fit_order_free(&r.ord);
    fit_gather_free(&r.gb);
    fit_history_free(&r.hist);
    recur_metrics_free(&r.met);
    return s;
}
