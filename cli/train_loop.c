/*
 * The epoch loop of `recur train`, shared by classifiers and generators.
 *
 * Each epoch: a seeded shuffle (or --balance's draw per label), names
 * bucketed by length within chunks of 50 batches (the batch order shuffled
 * again), one optimiser step per batch, then the held-out split is
 * evaluated. The best model so far (held-out accuracy for a classifier,
 * held-out loss for a generator) is written to -o (the library saves
 * atomically), and a checkpoint <out>.ckpt (weights, optimiser state,
 * history) after every epoch, so that --resume continues bit for bit. The
 * learning rate is halved after --patience epochs without a better
 * held-out loss (0 = constant). Ctrl-C stops at the next batch.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"

/* ------------------------------------------------------------------------ */
/* History: "train,test,acc,recall;..." in the checkpoint's metadata         */
/* ------------------------------------------------------------------------ */

int history_push(history *h, double tl, double vl, double acc, double rec)
{
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 32;
        double *p[4];
        double **f[4] = {&h->train_loss, &h->test_loss, &h->acc, &h->recall};
        for (int i = 0; i < 4; i++) {
            p[i] = realloc(*f[i], (size_t)cap * sizeof(double));
            if (!p[i]) return -1;
            *f[i] = p[i];
        }
        h->cap = cap;
    }
    h->train_loss[h->n] = tl;
    h->test_loss[h->n] = vl;
    h->acc[h->n] = acc;
    h->recall[h->n] = rec;
    h->n++;
    return 0;
}

void history_free(history *h)
{
    free(h->train_loss);
    free(h->test_loss);
    free(h->acc);
    free(h->recall);
    memset(h, 0, sizeof *h);
}

char *history_format(const history *h)
{
    cli_buf b = {0};
    for (int i = 0; i < h->n; i++)
        cli_buf_printf(&b, "%s%.9g,%.9g,%.9g,%.9g", i ? ";" : "", h->train_loss[i], h->test_loss[i], h->acc[i],
                       h->recall[i]);
    cli_buf_put(&b, "", 1);
    if (b.failed) {
        cli_buf_free(&b);
        return NULL;
    }
    return b.data;
}

int history_parse(history *h, const char *s)
{
    while (s && *s) {
        double v[4];
        char *end;
        for (int i = 0; i < 4; i++) {
            v[i] = strtod(s, &end);
            if (end == s) return -1;
            s = end;
            if (i < 3) {
                if (*s != ',') return -1;
                s++;
            }
        }
        if (history_push(h, v[0], v[1], v[2], v[3])) return -1;
        if (*s == ';') s++;
        else if (*s) return -1;
    }
    return 0;
}

/* Seeded order of one epoch: shuffle, sort chunks of 50 batches by length,
 * cut batches, shuffle the batches. */
typedef struct len_key {
    int32_t len;
    size_t pos, item;
} len_key;

static int cmp_len(const void *a, const void *b)
{
    const len_key *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static void shuffle(cli_rng *rng, size_t *a, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)cli_rng_below(rng, i);
        size_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* --balance: the epoch's n draws, m(l) of label l in proportion to
 * count(l)^(1-F) (largest remainders), each label's names taken in
 * shuffled passes. */
static int balanced_order(run *r, cli_rng *rng)
{
    size_t n = r->n_train;
    int C = r->met.C;
    if (!r->by_class) {
        r->by_class = malloc(n * sizeof *r->by_class);
        r->class_start = calloc((size_t)C + 1, sizeof *r->class_start);
        if (!r->by_class || !r->class_start) return -1;
        for (size_t i = 0; i < n; i++) r->class_start[r->train_y[i] + 1]++;
        for (int c = 0; c < C; c++) r->class_start[c + 1] += r->class_start[c];
    }
    /* Each epoch starts from the items in index order: the shuffles below
     * work in place, and an order carried over from the previous epoch is
     * not in the checkpoint, so --resume would not continue bit for bit. */
    size_t *fill = malloc((size_t)C * sizeof *fill);
    if (!fill) return -1;
    memcpy(fill, r->class_start, (size_t)C * sizeof *fill);
    for (size_t i = 0; i < n; i++) r->by_class[fill[r->train_y[i]]++] = i;
    free(fill);
    double *w = malloc((size_t)C * sizeof *w), W = 0;
    size_t *m = malloc((size_t)C * sizeof *m), given = 0;
    if (!w || !m) {
        free(w);
        free(m);
        return -1;
    }
    for (int c = 0; c < C; c++) {
        size_t nc = r->class_start[c + 1] - r->class_start[c];
        w[c] = nc ? pow((double)nc, 1.0 - r->o.balance) : 0;
        W += w[c];
    }
    for (int c = 0; c < C; c++) {
        w[c] = (double)n * w[c] / W;
        m[c] = (size_t)floor(w[c]);
        w[c] -= (double)m[c];
        given += m[c];
    }
    while (given < n) {
        int best = -1;
        for (int c = 0; c < C; c++)
            if (r->class_start[c + 1] > r->class_start[c] && (best < 0 || w[c] > w[best])) best = c;
        m[best]++;
        w[best] = -1;
        given++;
    }
    size_t at = 0;
    for (int c = 0; c < C; c++) {
        size_t *items = r->by_class + r->class_start[c], nc = r->class_start[c + 1] - r->class_start[c];
        for (size_t left = m[c]; left > 0;) {
            shuffle(rng, items, nc);
            size_t take = left < nc ? left : nc;
            memcpy(r->order + at, items, take * sizeof *items);
            at += take;
            left -= take;
        }
    }
    free(w);
    free(m);
    shuffle(rng, r->order, n);
    return 0;
}

static int make_batches(run *r, int epoch)
{
    size_t n = r->n_train, B = (size_t)r->o.batch;
    if (!r->order) {
        r->order = malloc(n * sizeof *r->order);
        r->batches = malloc((n / B + 2) * sizeof *r->batches);
        if (!r->order || !r->batches) return -1;
    }
    cli_rng rng;
    cli_rng_seed(&rng, r->o.seed * 0x9e3779b97f4a7c15ULL + (uint64_t)epoch);
    if (r->o.balance > 0) {
        if (balanced_order(r, &rng)) return -1;
    } else {
        for (size_t i = 0; i < n; i++) r->order[i] = i;
        shuffle(&rng, r->order, n);
    }
    size_t chunk = 50 * B;
    len_key *keys = malloc((chunk < n ? chunk : n) * sizeof *keys);
    if (!keys) return -1;
    r->n_batches = 0;
    for (size_t c0 = 0; c0 < n; c0 += chunk) {
        size_t m = n - c0 < chunk ? n - c0 : chunk;
        for (size_t i = 0; i < m; i++) {
            size_t it = r->order[c0 + i];
            keys[i] = (len_key){(int32_t)(r->train.off[it + 1] - r->train.off[it]), i, it};
        }
        qsort(keys, m, sizeof *keys, cmp_len);
        for (size_t i = 0; i < m; i++) r->order[c0 + i] = keys[i].item;
        for (size_t b0 = 0; b0 < m; b0 += B) {
            r->batches[r->n_batches][0] = c0 + b0;
            r->batches[r->n_batches][1] = m - b0 < B ? m - b0 : B;
            r->n_batches++;
        }
    }
    free(keys);
    for (size_t i = r->n_batches; i > 1; i--) {
        size_t j = (size_t)cli_rng_below(&rng, i);
        size_t t0 = r->batches[i - 1][0], t1 = r->batches[i - 1][1];
        r->batches[i - 1][0] = r->batches[j][0];
        r->batches[i - 1][1] = r->batches[j][1];
        r->batches[j][0] = t0;
        r->batches[j][1] = t1;
    }
    return 0;
}

static int fill_batch(run *r, size_t start, size_t count, recur_batch *b, cli_rng *rng)
{
    size_t need = 0;
    for (size_t k = 0; k < count; k++) {
        size_t it = r->order[start + k];
        need += r->train.off[it + 1] - r->train.off[it];
    }
    if (need > r->btok_cap) {
        int32_t *t = realloc(r->btok, need * 2 * sizeof *t);
        if (!t) return -1;
        r->btok = t;
        r->btok_cap = need * 2;
    }
    if (!r->boff) {
        r->boff = malloc(((size_t)r->o.batch + 1) * sizeof *r->boff);
        r->blab = malloc((size_t)r->o.batch * sizeof *r->blab);
        if (!r->boff || !r->blab) return -1;
    }
    r->boff[0] = 0;
    for (size_t k = 0; k < count; k++) {
        size_t it = r->order[start + k], len = r->train.off[it + 1] - r->train.off[it];
        memcpy(r->btok + r->boff[k], r->train.tok + r->train.off[it], len * sizeof *r->btok);
        r->boff[k + 1] = r->boff[k] + (int32_t)len;
        r->blab[k] = r->train_y[it];
    }
    if (r->o.token_dropout > 0) {
        uint64_t thr = (uint64_t)(r->o.token_dropout * 18446744073709551615.0);
        for (int32_t j = 0; j < r->boff[count]; j++)
            if (cli_rng_next(rng) < thr) r->btok[j] = RECUR_TOKEN_UNKNOWN;
    }
    *b = (recur_batch){.n = (int)count, .tokens = r->btok, .offsets = r->boff, .labels = r->blab};
    return 0;
}

/* Held-out scores of the current weights: the mean loss per name
 * (classifier; accuracy and recall in r->met) or per predicted symbol
 * (generator). */
static int evaluate(run *r, double *loss)
{
    if (r->o.generate) return gen_evaluate(r, loss);
    recur_error err;
    recur_runner *rn = NULL;
    enum { EB = 256 };
    if (recur_runner_create(r->model, EB, &rn, &err)) {
        cli_lib_error("evaluation", &err);
        return EXIT_RUNTIME;
    }
    int C = r->met.C;
    float *lp = malloc((size_t)EB * C * sizeof *lp);
    int32_t off[EB + 1];
    if (!lp) {
        recur_runner_free(rn);
        return EXIT_RUNTIME;
    }
    cli_metrics_reset(&r->met);
    for (size_t s = 0; s < r->n_test; s += EB) {
        int n = (int)(r->n_test - s < EB ? r->n_test - s : EB);
        for (int j = 0; j <= n; j++) off[j] = (int32_t)(r->test.off[s + j] - r->test.off[s]);
        if (recur_runner_classify_ids(rn, r->test.tok + r->test.off[s], off, n, lp, &err)) {
            cli_lib_error("evaluation", &err);
            free(lp);
            recur_runner_free(rn);
            return EXIT_RUNTIME;
        }
        cli_metrics_add(&r->met, lp, r->test_y + s, n);
    }
    free(lp);
    recur_runner_free(rn);
    *loss = cli_metrics_loss(&r->met);
    return 0;
}

/* The score of the current weights that -o keeps the best of, in words. */
static const char *score_text(const run *r, double score, char *buf, size_t cap)
{
    if (r->o.generate) snprintf(buf, cap, "%.3f bits/char", -score / log(2));
    else snprintf(buf, cap, "accuracy %.1f%%", 100 * score);
    return buf;
}

static int set_meta(run *r, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int set_meta(run *r, const char *key, const char *fmt, ...)
{
    char v[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    recur_error err;
    if (recur_model_set_meta(r->model, key, v, &err)) {
        cli_lib_error("metadata", &err);
        return -1;
    }
    return 0;
}

/* The training names of each label, "n0,n1,...": the prior that `eval` and
 * `predict --prior-correction` divide out. */
static int label_counts(run *r)
{
    const int C = recur_model_num_labels(r->model);
    size_t *n = calloc((size_t)C, sizeof *n);
    char *text = malloc((size_t)C * 21 + 1);
    int bad = !n || !text;
    if (!bad) {
        for (size_t i = 0; i < r->n_train; i++) n[r->train_y[i]]++;
        size_t at = 0;
        for (int c = 0; c < C; c++) at += (size_t)sprintf(text + at, "%s%zu", c ? "," : "", n[c]);
        recur_error err;
        bad = recur_model_set_meta(r->model, "label_counts", text, &err) != RECUR_OK;
    }
    if (bad) cli_error("out of memory describing the model");
    free(n);
    free(text);
    return bad ? -1 : 0;
}

/* Metadata of the weights now in the model; written with both files. */
static int describe(run *r, int epoch, double train_loss, double test_loss)
{
    /* --resume and --quiet describe this invocation, not the model. */
    const char *resume = r->o.resume;
    int quiet = r->o.quiet;
    r->o.resume = NULL;
    r->o.quiet = 0;
    char *args = args_format(&r->cmd, 1);
    r->o.resume = resume;
    r->o.quiet = quiet;
    char *hist = history_format(&r->hist);
    recur_error err;
    int bad = !args || !hist;
    if (!bad && recur_model_set_meta(r->model, "train_args", args, &err)) bad = 1;
    if (!bad && recur_model_set_meta(r->model, "history", hist, &err)) bad = 1;
    free(args);
    free(hist);
    if (bad) {
        cli_error("out of memory describing the model");
        return -1;
    }
    bad |= set_meta(r, "recur_version", "%s", RECUR_VERSION);
    bad |= set_meta(r, "data", "%s", r->data_dir);
    bad |= set_meta(r, "train_names", "%zu", r->n_train);
    bad |= set_meta(r, "test_names", "%zu", r->n_test);
    bad |= set_meta(r, "epoch", "%d", epoch);
    bad |= set_meta(r, "epochs_done", "%d", r->epochs_done);
    if (r->o.generate) {
        /* Bits per predicted symbol: each character and the end of the name. */
        bad |= set_meta(r, "test_bits_per_char", "%.6f", test_loss / log(2));
        bad |= set_meta(r, "trigram_bits_per_char", "%.6f", r->tri_bits);
        bad |= set_meta(r, "trigram_pooled_bits_per_char", "%.6f", r->tri_pooled_bits);
    } else {
        bad |= set_meta(r, "accuracy", "%.6f", cli_metrics_accuracy(&r->met));
        bad |= set_meta(r, "macro_recall", "%.6f", cli_metrics_macro_recall(&r->met));
        bad |= label_counts(r);
    }
    bad |= set_meta(r, "test_loss", "%.6f", test_loss);
    bad |= set_meta(r, "train_loss", "%.6f", train_loss);
    bad |= set_meta(r, "best_epoch", "%d", r->best_epoch);
    if (r->o.generate) bad |= set_meta(r, "best_bits_per_char", "%.9g", -r->best_score / log(2));
    else bad |= set_meta(r, "best_accuracy", "%.9g", r->best_score);
    bad |= set_meta(r, "best_test_loss", "%.9g", r->best_loss_seen);
    bad |= set_meta(r, "bad_epochs", "%d", r->bad_epochs);
    bad |= set_meta(r, "lr", "%.9g", (double)r->lr);
    return bad ? -1 : 0;
}

static void write_svg(run *r)
{
    if (!r->o.svg || r->hist.n == 0) return;
    cli_buf b = {0};
    char title[300], msg[600], score[64];
    snprintf(title, sizeof title, "recur train%s: %s, hidden %d (best %s, epoch %d)",
             r->o.generate ? " --generate" : "", recur_cell_name(train_cell_values[r->o.cell]), r->o.hidden,
             score_text(r, r->best_score, score, sizeof score), r->best_epoch);
    int fail;
    if (r->o.generate) {
        /* Bits per character read more easily than nats, and the trigram
         * baseline is the line to beat. */
        int n = r->hist.n;
        double *y = malloc((size_t)3 * n * sizeof *y);
        if (!y) {
            cli_error("--svg: out of memory");
            return;
        }
        for (int i = 0; i < n; i++) {
            y[i] = r->hist.train_loss[i] / log(2);
            y[n + i] = r->hist.test_loss[i] / log(2);
            y[2 * n + i] = r->tri_bits;
        }
        svg_series s[3] = {
            {"train", y, 0, "#1f77b4", 0},
            {"test", y + n, 0, "#ff7f0e", 0},
            {"trigram baseline (test)", y + 2 * n, 0, "#7f7f7f", 1},
        };
        fail = svg_line_plot(&b, title, "epoch", "bits per character", NULL, 0, s, 3, n);
        free(y);
    } else {
        svg_series s[3] = {
            {"train loss", r->hist.train_loss, 0, "#1f77b4", 0},
            {"test loss", r->hist.test_loss, 0, "#ff7f0e", 0},
            {"test accuracy (right axis)", r->hist.acc, 1, "#2ca02c", 1},
        };
        fail = svg_line_plot(&b, title, "epoch", "loss (mean negative log-likelihood)", "accuracy", 1, s, 3,
                             r->hist.n);
    }
    if (fail || cli_write_file_atomic(r->o.svg, b.data, b.len, msg, sizeof msg))
        cli_error("--svg: %s", b.failed ? "out of memory" : msg);
    cli_buf_free(&b);
}

static void print_epoch(const run *r, int epoch, double train_loss, double tl, size_t seen, double t_train,
                        double t0, int improved, int halved)
{
    const train_opts *o = &r->o;
    printf("epoch %*d/%d  loss %.4f  test loss %.4f  ", o->epochs >= 10 ? 2 : 1, epoch, o->epochs, train_loss, tl);
    if (o->generate)
        printf("%.3f bits/char (trigram %.3f)  ", tl / log(2), r->tri_bits);
    else
        printf("accuracy %5.1f%%  macro recall %5.1f%%  ", 100 * cli_metrics_accuracy(&r->met),
               100 * cli_metrics_macro_recall(&r->met));
    printf("%6.0f names/s  %5.1f s%s%s\n", (double)seen / (t_train > 0 ? t_train : 1), cli_now() - t0,
           improved ? "  saved" : "", halved ? "  lr halved" : "");
    fflush(stdout);
}

int train_loop(run *r)
{
    train_opts *o = &r->o;
    recur_error err;
    cli_progress pg;
    progress_init(&pg, o->quiet);
    double t_start = cli_now(), names_done_total = 0, train_time_total = 0;
    int first_epoch = r->epochs_done + 1;
    char score[64];
    for (int epoch = first_epoch; epoch <= o->epochs; epoch++) {
        double t0 = cli_now();
        if (make_batches(r, epoch)) {
            cli_error("out of memory ordering the batches");
            return EXIT_RUNTIME;
        }
        /* The mean loss per name (classifier) or per predicted symbol
         * (generator): the unit the library averages over. */
        double loss_sum = 0, terms = 0;
        size_t seen = 0;
        cli_rng noise;
        cli_rng_seed(&noise, r->o.seed * 0xd1342543de82ef95ULL + (uint64_t)epoch);
        for (size_t k = 0; k < r->n_batches; k++) {
            if (cli_interrupted()) goto interrupted;
            recur_batch b;
            if (fill_batch(r, r->batches[k][0], r->batches[k][1], &b, &noise)) {
                cli_error("out of memory filling a batch");
                return EXIT_RUNTIME;
            }
            float loss;
            if (recur_trainer_step(r->trainer, &b, &loss, &err)) {
                progress_clear(&pg);
                /* Say what is kept: the files of the last finished epoch. */
                char kept[4300] = "";
                if (r->epochs_done > 0)
                    snprintf(kept, sizeof kept, "; %s still holds epoch %d", r->ckpt, r->epochs_done);
                cli_error("epoch %d: %s%s%s", epoch, err.message, kept,
                          err.status == RECUR_ERR_NUMERIC ? "; try a lower --lr or a --clip" : "");
                return EXIT_RUNTIME;
            }
            double w = o->generate ? (double)(b.offsets[b.n] + b.n) : (double)b.n;
            loss_sum += (double)loss * w;
            terms += w;
            seen += (size_t)b.n;
            if (pg.tty) {
                double el = cli_now() - t0, rate = (names_done_total + (double)seen) /
                                                    (train_time_total + el > 0 ? train_time_total + el : 1);
                double left = (double)(r->n_train - seen) + (double)r->n_train * (o->epochs - epoch);
                progress_update(&pg, epoch, o->epochs, seen, r->n_train, (double)seen / (el > 0 ? el : 1),
                                loss_sum / terms, left / rate, 0);
            }
        }
        double t_train = cli_now() - t0;
        names_done_total += (double)seen;
        train_time_total += t_train;
        double train_loss = loss_sum / (terms > 0 ? terms : 1), tl;
        int rc = evaluate(r, &tl);
        if (rc) return rc;
        double acc = o->generate ? NAN : cli_metrics_accuracy(&r->met),
               rec = o->generate ? NAN : cli_metrics_macro_recall(&r->met);
        r->epochs_done = epoch;
        if (history_push(&r->hist, train_loss, tl, acc, rec)) {
            cli_error("out of memory");
            return EXIT_RUNTIME;
        }
        /* Plateau schedule on the held-out loss. */
        int halved = 0;
        if (tl < r->best_loss_seen) {
            r->best_loss_seen = tl;
            r->bad_epochs = 0;
        } else if (o->patience > 0 && ++r->bad_epochs >= o->patience) {
            r->lr *= 0.5f;
            r->bad_epochs = 0;
            halved = 1;
            recur_trainer_set_lr(r->trainer, r->lr);
        }
        double sc = o->generate ? -tl : acc;
        int improved = sc > r->best_score;
        if (improved) {
            r->best_score = sc;
            r->best_epoch = epoch;
        }
        if (describe(r, epoch, train_loss, tl)) return EXIT_RUNTIME;
        if (improved) {
            if (recur_model_save(r->model, o->out, &err)) {
                progress_clear(&pg);
                cli_lib_error(NULL, &err);
                return EXIT_RUNTIME;
            }
            r->best_saved = 1;
        }
        if (recur_trainer_save(r->trainer, r->ckpt, &err)) {
            progress_clear(&pg);
            cli_lib_error(NULL, &err);
            return EXIT_RUNTIME;
        }
        write_svg(r);
        progress_clear(&pg);
        if (!o->quiet) print_epoch(r, epoch, train_loss, tl, seen, t_train, t0, improved, halved);
    }
    if (!o->quiet) {
        if (o->generate)
            printf("best    epoch %d: %.3f bits/char on the test names (trigram %.3f, pooled trigram %.3f) "
                   "-> %s (%.1f s)\n",
                   r->best_epoch, -r->best_score / log(2), r->tri_bits, r->tri_pooled_bits, o->out,
                   cli_now() - t_start);
        else
            printf("best    epoch %d: accuracy %.1f%%, macro recall %.1f%% -> %s (%.1f s)\n", r->best_epoch,
                   100 * r->best_score, 100 * r->hist.recall[r->best_epoch - 1], o->out, cli_now() - t_start);
        fflush(stdout);
    }
    return 0;

interrupted:
    progress_clear(&pg);
    if (!r->best_saved) {
        /* No epoch finished: keep what there is rather than nothing. */
        double tl;
        if (evaluate(r, &tl) == 0 && describe(r, 0, NAN, tl) == 0 &&
            recur_model_save(r->model, o->out, &err) == 0)
            cli_error("interrupted in epoch %d before any epoch finished; saved the current weights "
                      "(%s) to %s",
                      r->epochs_done + 1,
                      score_text(r, o->generate ? -tl : cli_metrics_accuracy(&r->met), score, sizeof score),
                      o->out);
        else
            cli_error("interrupted in epoch %d; nothing saved", r->epochs_done + 1);
    } else {
        cli_error("interrupted in epoch %d; the best model (epoch %d, %s) is in %s; continue with --resume %s",
                  r->epochs_done + 1, r->best_epoch, score_text(r, r->best_score, score, sizeof score), o->out,
                  r->ckpt);
    }
    return EXIT_INTERRUPTED;
}
