/*
 * The epochs of `recur train`, run by the library's recur_fit (src/fit/:
 * order, balance, token dropout, schedule, selection, checkpoints, resume).
 * What stays here is what a terminal shows: the progress bar, one line per
 * epoch, the curves (--svg) and the closing line; Ctrl-C reaches the driver
 * as its stop flag.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"

typedef struct loop {
    run *r;
    cli_progress pg;
    double t_epoch, names_done, train_time; /* over this invocation */
} loop;

/* Set by recur-mpi before cmd_train (a program-wide setting of the CLI,
 * not of the library); NULL in `recur`. */
static const train_parallel *parallel;

void train_set_parallel(const train_parallel *p) { parallel = p; }
const train_parallel *train_parallel_get(void) { return parallel; }
int train_follower(void) { return parallel && parallel->rank > 0; }

/* A 64-bit digest of n bytes, 8 at a time (FNV-style, multiply-xorshift):
 * what ranks compare, not a cryptographic hash. */
static uint64_t digest(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t w = 0;
        memcpy(&w, b + i, n - i < 8 ? n - i : 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    return (h ^ n) * 0x9e3779b97f4a7c15ULL;
}

/* The data this rank trains on: every field of the encoded sequences and
 * the two index lists. */
static uint64_t data_digest(const run *r)
{
    const recur_batch *b = r->batch ? r->batch : recur_data_batch(r->data);
    size_t steps = (size_t)b->offsets[b->n];
    uint64_t h = digest(0xcbf29ce484222325ULL, b->offsets, ((size_t)b->n + 1) * sizeof *b->offsets);
    if (b->tokens) h = digest(h, b->tokens, steps * sizeof *b->tokens);
    if (b->features) h = digest(h, b->features, steps * (size_t)recur_seqset_input_size(r->seq) * sizeof *b->features);
    if (b->labels) h = digest(h, b->labels, (size_t)b->n * sizeof *b->labels);
    if (b->step_labels) h = digest(h, b->step_labels, steps * sizeof *b->step_labels);
    if (b->targets) {
        const recur_model_config *mc = recur_model_get_config(r->model);
        size_t rows = mc->head == RECUR_HEAD_STEPS ? steps : (size_t)b->n;
        h = digest(h, b->targets, rows * (size_t)mc->outputs * sizeof *b->targets);
    }
    h = digest(h, r->train_idx, r->n_train * sizeof *r->train_idx);
    return digest(h, r->valid_idx, r->n_valid * sizeof *r->valid_idx);
}

static uint64_t weights_digest(const recur_model *m)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < recur_model_param_count(m); i++) {
        recur_param p = recur_model_param(m, i);
        h = digest(h, p.data, (size_t)p.shape[0] * (size_t)(p.ndim > 1 ? p.shape[1] : 1) * sizeof(float));
    }
    return h;
}

/* The score -o keeps the best of, in words. */
static const char *score_text(const run *r, double score, char *buf, size_t cap)
{
    if (r->o.generate) snprintf(buf, cap, "%.3f bits/char", -score / log(2));
    else if (r->seq && r->task == RECUR_TASK_REGRESS) snprintf(buf, cap, "validation loss %.4g", -score);
    else if (r->seq && r->task == RECUR_TASK_TAG) snprintf(buf, cap, "step accuracy %.1f%%", 100 * score);
    else snprintf(buf, cap, "accuracy %.1f%%", 100 * score);
    return buf;
}

static void on_step(const recur_fit_step *s, void *user)
{
    loop *L = user;
    const run *r = L->r;
    if (parallel && parallel->check_every > 0 && s->step % (uint64_t)parallel->check_every == 0)
        parallel->agree(parallel->user, weights_digest(r->model), "the weights", s->step);
    if (!L->pg.tty) return;
    double el = s->seconds, rate = (L->names_done + (double)s->done) /
                                   (L->train_time + el > 0 ? L->train_time + el : 1);
    double left = (double)(s->total - s->done) + (double)s->total * (s->epochs - s->epoch);
    progress_update(&L->pg, s->epoch, s->epochs, s->done, r->n_train, (double)s->done / (el > 0 ? el : 1),
                    s->loss, left / rate, 0);
}

static void write_svg(const run *r, const recur_fit_epoch *e)
{
    if (!r->o.svg || e->history_n == 0) return;
    cli_buf b = {0};
    char title[300], msg[600], score[64];
    snprintf(title, sizeof title, "recur train%s: %s, hidden %d (best %s, epoch %d)",
             r->o.generate ? " --generate" : "", recur_cell_name(train_cell_values[r->o.cell]), r->o.hidden,
             score_text(r, e->best_score, score, sizeof score), e->best_epoch);
    int fail, n = e->history_n;
    if (r->o.generate) {
        /* Bits per character read more easily than nats, and the trigram
         * baseline is the line to beat. */
        double *y = malloc((size_t)3 * n * sizeof *y);
        if (!y) {
            cli_error("--svg: out of memory");
            return;
        }
        for (int i = 0; i < n; i++) {
            y[i] = e->history_train_loss[i] / log(2);
            y[n + i] = e->history_valid_loss[i] / log(2);
            y[2 * n + i] = r->tri_valid_bits;
        }
        svg_series s[3] = {
            {"train", y, 0, "#1f77b4", 0},
            {"validation", y + n, 0, "#ff7f0e", 0},
            {"trigram baseline (validation)", y + 2 * n, 0, "#7f7f7f", 1},
        };
        fail = svg_line_plot(&b, title, "epoch", "bits per character", NULL, 0, s, 3, n);
        free(y);
    } else {
        svg_series s[3] = {
            {"train loss", e->history_train_loss, 0, "#1f77b4", 0},
            {"validation loss", e->history_valid_loss, 0, "#ff7f0e", 0},
            {"validation accuracy (right axis)", e->history_accuracy, 1, "#2ca02c", 1},
        };
        fail = svg_line_plot(&b, title, "epoch", "loss (mean negative log-likelihood)", "accuracy", 1, s, 3, n);
    }
    if (fail || cli_write_file_atomic(r->o.svg, b.data, b.len, msg, sizeof msg))
        cli_error("--svg: %s", b.failed ? "out of memory" : msg);
    cli_buf_free(&b);
}

static int on_epoch(const recur_fit_epoch *e, void *user)
{
    loop *L = user;
    const run *r = L->r;
    const train_opts *o = &r->o;
    L->names_done += (double)e->sequences;
    L->train_time += e->train_seconds;
    write_svg(r, e);
    progress_clear(&L->pg);
    if (!o->quiet) {
        double tl = e->valid_loss;
        printf("epoch %*d/%d  loss %.4f  valid loss %.4f  ", o->epochs >= 10 ? 2 : 1, e->epoch, o->epochs,
               e->train_loss, tl);
        if (o->generate) printf("%.3f bits/char (trigram %.3f)  ", tl / log(2), r->tri_valid_bits);
        else if (r->seq && r->task == RECUR_TASK_TAG) printf("step accuracy %5.1f%%  ", 100 * e->valid_accuracy);
        else if (r->seq && r->task == RECUR_TASK_REGRESS) {
            /* the loss is the score */
        }
        else
            printf("accuracy %5.1f%%  macro recall %5.1f%%  ", 100 * e->valid_accuracy,
                   100 * e->valid_macro_recall);
        printf("%6.0f %s/s  %5.1f s%s%s\n", (double)e->sequences / (e->train_seconds > 0 ? e->train_seconds : 1),
               r->seq ? "seqs" : "names",
               cli_now() - L->t_epoch, e->improved ? "  saved" : "", e->lr_halved ? "  lr halved" : "");
        fflush(stdout);
    }
    L->t_epoch = cli_now();
    return 0;
}

/* Closing: the best model scored once on the test part, which nothing in
 * training looked at; the scores go into -o (what eval --held-out gives). */
static int test_report(run *r, const recur_fit_result *res, double t_start)
{
    const train_opts *o = &r->o;
    recur_error err;
    recur_model *best = NULL;
    recur_metrics met = {0};
    char v[6][32];
    recur_status st = recur_model_load(o->out, &best, &err);
    if (!st)
        st = recur_evaluate(best, recur_data_batch(r->data), r->test_idx, r->n_test, o->generate ? o->batch : 256,
                            cli_interrupt_flag(), &met, &err);
    if (st == RECUR_ERR_INTERRUPTED) {
        cli_error("interrupted while testing; the best model (epoch %d) is in %s", res->best_epoch, o->out);
        recur_metrics_free(&met);
        recur_model_free(best);
        return EXIT_INTERRUPTED;
    }
    double loss = recur_metrics_loss(&met), acc = recur_metrics_accuracy(&met),
           rec = recur_metrics_macro_recall(&met);
    snprintf(v[0], sizeof v[0], "%zu", r->n_test);
    snprintf(v[1], sizeof v[1], "%.6f", loss);
    snprintf(v[2], sizeof v[2], "%.6f", o->generate ? loss / log(2) : acc);
    snprintf(v[3], sizeof v[3], "%.6f", rec);
    const char *keys[4] = {"test_names", "test_loss", o->generate ? "test_bits_per_char" : "accuracy",
                           "macro_recall"};
    for (int k = 0; !st && k < (o->generate ? 3 : 4); k++) st = recur_model_set_meta(best, keys[k], v[k], &err);
    if (!st) st = recur_model_save(best, o->out, &err);
    recur_metrics_free(&met);
    recur_model_free(best);
    if (st) {
        cli_lib_error("testing the best model", &err);
        return EXIT_RUNTIME;
    }
    if (!o->quiet) {
        char n[32];
        if (o->generate)
            printf("best    epoch %d: %.3f bits/char on the validation names; on the %s test names %.3f bits/char "
                   "(trigram %.3f, pooled trigram %.3f) -> %s (%.1f s)\n",
                   res->best_epoch, -res->best_score / log(2), cli_count(n, r->n_test), loss / log(2), r->tri_bits,
                   r->tri_pooled_bits, o->out, cli_now() - t_start);
        else
            printf("best    epoch %d: validation accuracy %.1f%%; on the %s test names accuracy %.1f%%, macro "
                   "recall %.1f%% -> %s (%.1f s)\n",
                   res->best_epoch, 100 * res->best_accuracy, cli_count(n, r->n_test), 100 * acc, 100 * rec, o->out,
                   cli_now() - t_start);
        fflush(stdout);
    }
    return 0;
}

/* recur_fit's user is the loop; the launcher's reduce has its own. */
static int reduce_through(void *user, float *grad, size_t n, double *sums, int n_sums)
{
    (void)user;
    return parallel->reduce(parallel->user, grad, n, sums, n_sums);
}

int train_loop(run *r)
{
    train_opts *o = &r->o;
    loop L = {.r = r};
    progress_init(&L.pg, o->quiet);
    if (r->seq) L.pg.unit = "seqs";
    double t_start = cli_now();
    L.t_epoch = t_start;
    /* Recorded with every file: the flags (--resume and --quiet describe
     * this invocation, not the model), the data and the baselines. */
    const char *resume = o->resume;
    int quiet = o->quiet;
    o->resume = NULL;
    o->quiet = 0;
    /* A names model records the flags of names folders only (as before
     * sequence data existed): the table ends there while formatting. */
    arg_spec first_seq = r->specs[TRAIN_BASE_SPECS];
    if (!r->seq) r->specs[TRAIN_BASE_SPECS] = (arg_spec)SPEC_END;
    char *args = args_format(&r->cmd, 1);
    r->specs[TRAIN_BASE_SPECS] = first_seq;
    o->resume = resume;
    o->quiet = quiet;
    if (!args) {
        cli_error("out of memory describing the model");
        return EXIT_RUNTIME;
    }
    char tri[2][32];
    snprintf(tri[0], sizeof tri[0], "%.6f", r->tri_bits);
    snprintf(tri[1], sizeof tri[1], "%.6f", r->tri_pooled_bits);
    const char *meta[8 + 2 * SEQ_RECORD_MAX] = {"train_args", args, "data", r->data_dir, "trigram_bits_per_char",
                                                 tri[0], "trigram_pooled_bits_per_char", tri[1]};
    /* Sequence data: how they were read, in place of the baselines. */
    for (int k = 0; r->seq && k < 2 * r->rec.n; k++) meta[4 + k] = r->rec.kv[k];

    recur_error err;
    if (recur_model_set_split(r->model, &r->plan, &err)) {
        free(args);
        cli_lib_error("split", &err);
        return EXIT_RUNTIME;
    }
    recur_fit_config fc;
    recur_fit_config_default(&fc);
    recur_train_config *tc = &fc.train;
    tc->optim = o->optim == 1 ? RECUR_OPTIM_ADAM : RECUR_OPTIM_SGD;
    tc->lr = (float)o->lr;
    tc->momentum = (float)o->momentum;
    tc->weight_decay = (float)o->weight_decay;
    tc->clip = (float)o->clip;
    tc->max_batch = o->batch;
    tc->threads = o->threads;
    tc->seed = o->seed ^ 0x5851f42d4c957f2dULL;
    fc.epochs = o->epochs;
    fc.batch = o->batch;
    fc.balance = o->balance;
    fc.token_dropout = o->token_dropout;
    fc.patience = o->patience;
    fc.seed = o->seed;
    fc.eval_batch = o->generate ? o->batch : 256;
    fc.model_path = o->out;
    fc.checkpoint_path = r->ckpt;
    fc.resume = o->resume;
    fc.resume_lr = o->resume && args_find(&r->cmd, "--lr")->seen;
    fc.meta = meta;
    fc.n_meta = o->generate ? 4 : r->seq ? 2 + r->rec.n : 2;
    fc.stop = cli_interrupt_flag();
    fc.on_step = on_step;
    fc.on_epoch = on_epoch;
    fc.user = &L;
    if (parallel) {
        /* Every rank trains on the same data from the same weights (a
         * resumed checkpoint included), or none does. */
        parallel->agree(parallel->user, data_digest(r), "the training data (the sequences and the split)", 0);
        parallel->agree(parallel->user, weights_digest(r->model), "the initial weights", 0);
        fc.rank = parallel->rank;
        fc.ranks = parallel->ranks;
        fc.reduce = reduce_through;
    }
    recur_fit_result res;
    recur_status st = recur_fit(r->model, &fc, r->batch ? r->batch : recur_data_batch(r->data), r->train_idx, r->n_train, r->valid_idx,
                                r->n_valid, &res, &err);
    free(args);
    progress_clear(&L.pg);
    char score[64];
    if (st == RECUR_ERR_INTERRUPTED && train_follower()) return EXIT_INTERRUPTED; /* rank 0 says what is kept */
    if (st == RECUR_ERR_INTERRUPTED) {
        if (res.best_saved)
            cli_error("interrupted in epoch %d; the best model (epoch %d, %s) is in %s; continue with --resume %s",
                      res.epochs_done + 1, res.best_epoch, score_text(r, res.best_score, score, sizeof score),
                      o->out, r->ckpt);
        else if (res.saved_current)
            cli_error("interrupted in epoch %d before any epoch finished; saved the current weights (%s) to %s",
                      res.epochs_done + 1, score_text(r, res.current_score, score, sizeof score), o->out);
        else cli_error("interrupted in epoch %d; nothing saved", res.epochs_done + 1);
        return EXIT_INTERRUPTED;
    }
    if (st) {
        /* Say what is kept: the files of the last finished epoch. */
        char kept[4300] = "";
        if (res.epochs_done > 0) snprintf(kept, sizeof kept, "; %s still holds epoch %d", r->ckpt, res.epochs_done);
        cli_error("%s%s%s", err.message, kept, st == RECUR_ERR_NUMERIC ? "; try a lower --lr or a --clip" : "");
        return EXIT_RUNTIME;
    }
    if (train_follower()) return 0; /* rank 0 tests and reports */
    return r->seq ? train_seq_report(r, &res, t_start) : test_report(r, &res, t_start);
}
