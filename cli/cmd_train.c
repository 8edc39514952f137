/*
 * recur train: train a classifier on a folder of <Label>.txt files.
 *
 * Data: DATA, else $RECUR_DATA, else the tutorial's names fetched into the
 * cache. The held-out split (--test-split of the lines, or --test-dir) is
 * never trained on; the vocabulary comes from the training split only.
 * Each epoch: a seeded shuffle, names bucketed by length within chunks of
 * 50 batches (the batch order shuffled again), one optimiser step per
 * batch, then the held-out split is evaluated. The model with the best
 * held-out accuracy is written to -o (the library saves atomically), and a
 * checkpoint <out>.ckpt (weights, optimiser state, history) after every
 * epoch; --resume continues one bit for bit. The learning rate is halved
 * after --patience epochs without a better held-out loss (0 = constant).
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const char *const cell_choices[] = {"rnn", "rnn_relu", "lstm", "gru", "rnn_tanh", NULL};
static const recur_cell cell_values[] = {RECUR_CELL_RNN_TANH, RECUR_CELL_RNN_RELU, RECUR_CELL_LSTM,
                                         RECUR_CELL_GRU, RECUR_CELL_RNN_TANH};
static const char *const optim_choices[] = {"sgd", "adam", NULL};
static const char *const split_choices[] = {"random", "distinct", NULL};
static const char *const text_choices[] = {"unicode", "ascii", NULL};

typedef struct train_opts {
    const char *out;
    int cell, hidden, layers, bidirectional, embed;
    double dropout;
    int epochs, batch;
    double lr;
    int optim;
    double momentum, weight_decay, clip, balance, token_dropout;
    int patience;
    uint64_t seed;
    int threads;
    double test_split;
    const char *test_dir;
    int split, dedupe, text;
    const char *svg, *resume;
    int quiet;
} train_opts;

static void default_opts(train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->out = "model.safetensors";
    o->cell = 2; /* lstm */
    o->hidden = 128;
    o->layers = 1;
    o->embed = 64;
    o->dropout = 0;
    o->epochs = 12;
    o->batch = 64;
    o->lr = 3e-3;
    o->optim = 1; /* adam */
    o->clip = 5;
    o->patience = 2;
    o->seed = 1;
    o->threads = cli_default_threads();
    o->test_split = 0.15;
}


enum { N_SPECS = 28 };

static void make_specs(arg_spec *s, train_opts *o)
{
    arg_spec specs[] = {
        {"--output", "-o", ARG_STRING, &o->out, 0, 0, 0, 0, NULL, "FILE", "where the best model goes; a checkpoint goes to FILE.ckpt", 0},
        {"--cell", NULL, ARG_CHOICE, &o->cell, 0, 0, 0, 0, cell_choices, NULL, "recurrent cell (rnn = tanh)", 0},
        {"--hidden", NULL, ARG_INT, &o->hidden, 1, 4096, 0, 0, NULL, "N", "hidden units per layer and direction", 0},
        {"--layers", NULL, ARG_INT, &o->layers, 1, 16, 0, 0, NULL, "N", "stacked recurrent layers", 0},
        {"--bidirectional", NULL, ARG_FLAG, &o->bidirectional, 0, 0, 0, 0, NULL, NULL, "read names both ways", 0},
        {"--embed", NULL, ARG_INT, &o->embed, 0, 4096, 0, 0, NULL, "N", "symbol embedding size; 0 = one-hot", 0},
        {"--dropout", NULL, ARG_FLOAT, &o->dropout, 0, 1, 0, 1, NULL, "F", "dropout between recurrent layers", 0},
        {"--epochs", NULL, ARG_INT, &o->epochs, 1, 100000, 0, 0, NULL, "N", "passes over the training split", 0},
        {"--batch", NULL, ARG_INT, &o->batch, 1, 4096, 0, 0, NULL, "N", "names per optimiser step", 0},
        {"--lr", NULL, ARG_FLOAT, &o->lr, 0, 10, 1, 0, NULL, "F", "learning rate", 0},
        {"--optim", NULL, ARG_CHOICE, &o->optim, 0, 0, 0, 0, optim_choices, NULL, "optimiser", 0},
        {"--momentum", NULL, ARG_FLOAT, &o->momentum, 0, 1, 0, 1, NULL, "F", "SGD momentum", 0},
        {"--weight-decay", NULL, ARG_FLOAT, &o->weight_decay, 0, 1, 0, 1, NULL, "F", "L2 penalty added to the gradient", 0},
        {"--clip", NULL, ARG_FLOAT, &o->clip, 0, 1e6, 0, 0, NULL, "F", "max gradient norm; 0 = no clipping", 0},
        {"--balance", NULL, ARG_FLOAT, &o->balance, 0, 1, 0, 0, NULL, "F", "draw each epoch's names from label l in proportion to count(l)^(1-F): 0 = as in the data, 1 = every label equally often", 0},
        {"--token-dropout", NULL, ARG_FLOAT, &o->token_dropout, 0, 1, 0, 1, NULL, "F", "replace each training symbol by the unknown symbol with probability F", 0},
        {"--patience", NULL, ARG_INT, &o->patience, 0, 1000, 0, 0, NULL, "N", "halve the learning rate after N epochs without a better test loss; 0 = never", 0},
        {"--seed", NULL, ARG_U64, &o->seed, 0, 0, 0, 0, NULL, "N", "seed of the split, the initial weights, the order and dropout", 0},
        {"--threads", NULL, ARG_INT, &o->threads, 1, 256, 0, 0, NULL, "N", "threads for matrix products", 0},
        {"--test-split", NULL, ARG_FLOAT, &o->test_split, 0, 1, 1, 1, NULL, "F", "share of the lines held out for testing", 0},
        {"--test-dir", NULL, ARG_STRING, &o->test_dir, 0, 0, 0, 0, NULL, "DIR", "held-out data in a folder of their own (instead of --test-split)", 0},
        {"--split", NULL, ARG_CHOICE, &o->split, 0, 0, 0, 0, split_choices, NULL, "random lines, or distinct spellings (none on both sides)", 0},
        {"--dedupe", NULL, ARG_FLAG, &o->dedupe, 0, 0, 0, 0, NULL, NULL, "drop repeated (name, label) lines first", 0},
        {"--text", NULL, ARG_CHOICE, &o->text, 0, 0, 0, 0, text_choices, NULL, "symbols: every character seen, or the tutorial's ASCII letters", 0},
        {"--svg", NULL, ARG_STRING, &o->svg, 0, 0, 0, 0, NULL, "FILE", "draw the loss and accuracy curves", 0},
        {"--resume", NULL, ARG_STRING, &o->resume, 0, 0, 0, 0, NULL, "CKPT", "continue from a checkpoint (its settings, unless given here)", 0},
        {"--quiet", "-q", ARG_FLAG, &o->quiet, 0, 0, 0, 0, NULL, NULL, "print errors only", 0},
        SPEC_END,
    };
    _Static_assert(sizeof specs == N_SPECS * sizeof specs[0], "N_SPECS");
    memcpy(s, specs, sizeof specs);
}

static const char summary[] =
    "Train a classifier of short texts on DATA, a folder of <Label>.txt files with one\n"
    "example per line (default: $RECUR_DATA, else the PyTorch tutorial's names, fetched\n"
    "into ~/.cache/recur). Part of the lines is held out; each epoch reports the held-out\n"
    "loss, accuracy and macro-averaged recall, and the model with the best held-out\n"
    "accuracy is kept in FILE. The learning rate is halved when the held-out loss has\n"
    "not improved for --patience epochs. Ctrl-C stops cleanly (exit 130) with the best\n"
    "model saved. The same seed and threads give the same model, bit for bit.";

/* ------------------------------------------------------------------------ */

typedef struct history {
    int n, cap;
    double *train_loss, *test_loss, *acc, *recall;
} history;

static int history_push(history *h, double tl, double vl, double acc, double rec)
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

static void history_free(history *h)
{
    free(h->train_loss);
    free(h->test_loss);
    free(h->acc);
    free(h->recall);
    memset(h, 0, sizeof *h);
}

static char *history_format(const history *h)
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

static int history_parse(history *h, const char *s)
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

/* ------------------------------------------------------------------------ */

typedef struct run {
    train_opts o;
    arg_command cmd;
    arg_spec specs[N_SPECS];
    char data_dir[4096];
    char ckpt[4200];
    recur_dataset *ds, *test_ds;
    size_t *train_idx, *test_idx, n_train, n_test;
    int32_t *train_y;
    int *test_y;
    cli_encoded train, test;
    recur_model *model;
    recur_trainer *trainer;
    cli_metrics met;
    history hist;
    char *stored_args; /* from a checkpoint */
    char *stored_data; /* the checkpoint's data folder */
    /* State that a checkpoint carries. */
    int epochs_done, best_epoch, bad_epochs;
    double best_acc, best_loss_seen;
    float lr;
    int best_saved; /* -o holds a model of this run (or of the resumed one) */
    /* Batches. */
    size_t *order;
    size_t *by_class, *class_start; /* training items grouped by label */
    size_t (*batches)[2];
    size_t n_batches;
    int32_t *btok, *boff, *blab;
    size_t btok_cap;
} run;

static void run_free(run *r)
{
    recur_dataset_free(r->ds);
    recur_dataset_free(r->test_ds);
    free(r->train_idx);
    free(r->test_idx);
    free(r->train_y);
    free(r->test_y);
    cli_encoded_free(&r->train);
    cli_encoded_free(&r->test);
    recur_trainer_free(r->trainer);
    recur_model_free(r->model);
    cli_metrics_free(&r->met);
    history_free(&r->hist);
    free(r->stored_args);
    free(r->stored_data);
    free(r->order);
    free(r->by_class);
    free(r->class_start);
    free(r->batches);
    free(r->btok);
    free(r->boff);
    free(r->blab);
}

static int file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* Flags: defaults, then (when resuming) the checkpoint's, then argv's. */
static int parse_flags(run *r, int argc, char **argv, char **pos, int *npos)
{
    default_opts(&r->o);
    make_specs(r->specs, &r->o);
    r->cmd = (arg_command){"train", "recur train [DATA] [-o FILE] [options]", summary, r->specs, 0, 1};
    int rc = args_parse(&r->cmd, argc, argv, pos, npos);
    if (rc) return rc == 1 ? -1 : rc;
    if (!r->o.resume) return 0;
    recur_model *ck = NULL;
    recur_error err;
    if (recur_model_load(r->o.resume, &ck, &err) != RECUR_OK) {
        cli_lib_error("--resume", &err);
        return EXIT_RUNTIME;
    }
    const char *a = recur_model_get_meta(ck, "train_args"), *done = recur_model_get_meta(ck, "epochs_done");
    if (!a || !done) {
        cli_error("--resume: %s was not written by recur train (no training state in it)", r->o.resume);
        recur_model_free(ck);
        return EXIT_RUNTIME;
    }
    int epochs_done = atoi(done);
    /* The options will point into this copy: it lives as long as the run. */
    r->stored_args = strdup(a);
    const char *data = recur_model_get_meta(ck, "data");
    r->stored_data = data ? strdup(data) : NULL;
    recur_model_free(ck);
    if (!r->stored_args || (data && !r->stored_data)) {
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    const char *resume = r->o.resume;
    default_opts(&r->o);
    rc = args_parse_string(&r->cmd, r->stored_args);
    if (rc) {
        cli_error("--resume: %s holds training flags this version cannot read", resume);
        return EXIT_RUNTIME;
    }
    rc = args_parse(&r->cmd, argc, argv, pos, npos);
    r->o.resume = resume;
    if (rc) return EXIT_USAGE;
    if (epochs_done >= r->o.epochs) {
        cli_error("--resume: %s has already trained %d of %d epochs; give --epochs N to train more", resume,
                  epochs_done, r->o.epochs);
        return EXIT_RUNTIME;
    }
    return 0;
}

/* Labels of one data set by name in another's; -1 entries are unknown. */
static int map_labels(const recur_dataset *from, const recur_dataset *to, int *map, const char *from_dir)
{
    for (int l = 0; l < recur_dataset_num_labels(from); l++) {
        map[l] = -1;
        for (int k = 0; k < recur_dataset_num_labels(to); k++)
            if (strcmp(recur_dataset_label_name(from, l), recur_dataset_label_name(to, k)) == 0) map[l] = k;
        if (map[l] < 0) {
            cli_error("%s/%s.txt: label '%s' is not in the training data", from_dir,
                      recur_dataset_label_name(from, l), recur_dataset_label_name(from, l));
            return EXIT_RUNTIME;
        }
    }
    return 0;
}

static int prepare_data(run *r, const char *given)
{
    train_opts *o = &r->o;
    int rc = cli_resolve_data(given, r->data_dir, sizeof r->data_dir);
    if (rc) return rc;
    if ((rc = cli_load_data(r->data_dir, &r->ds))) return rc;
    recur_error err;
    if (o->test_dir && (rc = cli_load_data(o->test_dir, &r->test_ds))) return rc;
    if (!o->quiet) cli_print_data_summary(stdout, r->data_dir, r->ds);
    if (o->dedupe) {
        if (recur_dataset_dedupe(r->ds, &err) || (r->test_ds && recur_dataset_dedupe(r->test_ds, &err))) {
            cli_lib_error("--dedupe", &err);
            return EXIT_RUNTIME;
        }
        if (!o->quiet) {
            char a[32];
            printf("dedupe  %s names left\n", cli_count(a, recur_dataset_size(r->ds)));
        }
    }
    if (recur_dataset_num_labels(r->ds) < 2) {
        cli_error("%s: a classifier needs at least 2 labels (files), found 1", r->data_dir);
        return EXIT_RUNTIME;
    }
    int C = recur_dataset_num_labels(r->ds);
    if (r->test_ds) {
        int *map = malloc((size_t)recur_dataset_num_labels(r->test_ds) * sizeof *map);
        if (!map) return EXIT_RUNTIME;
        rc = map_labels(r->test_ds, r->ds, map, o->test_dir);
        if (rc) {
            free(map);
            return rc;
        }
        r->n_train = recur_dataset_size(r->ds);
        r->n_test = recur_dataset_size(r->test_ds);
        r->train_idx = malloc((r->n_train ? r->n_train : 1) * sizeof *r->train_idx);
        r->test_y = malloc((r->n_test ? r->n_test : 1) * sizeof *r->test_y);
        if (!r->train_idx || !r->test_y) {
            free(map);
            return EXIT_RUNTIME;
        }
        for (size_t i = 0; i < r->n_train; i++) r->train_idx[i] = i;
        for (size_t i = 0; i < r->n_test; i++) r->test_y[i] = map[recur_dataset_label(r->test_ds, i)];
        free(map);
    } else {
        if (recur_dataset_split(r->ds, o->test_split, o->split == 1, o->seed, &r->train_idx, &r->n_train,
                                &r->test_idx, &r->n_test, &err)) {
            cli_lib_error("split", &err);
            return EXIT_RUNTIME;
        }
        r->test_y = malloc((r->n_test ? r->n_test : 1) * sizeof *r->test_y);
        if (!r->test_y) return EXIT_RUNTIME;
        for (size_t i = 0; i < r->n_test; i++) r->test_y[i] = recur_dataset_label(r->ds, r->test_idx[i]);
    }
    if (r->n_train == 0 || r->n_test == 0) {
        cli_error("%s: too few names to hold some out for testing (%zu)", r->data_dir, recur_dataset_size(r->ds));
        return EXIT_RUNTIME;
    }
    r->train_y = malloc(r->n_train * sizeof *r->train_y);
    if (!r->train_y || cli_metrics_init(&r->met, C)) {
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    for (size_t i = 0; i < r->n_train; i++) r->train_y[i] = recur_dataset_label(r->ds, r->train_idx[i]);
    return 0;
}

static int prepare_model(run *r)
{
    train_opts *o = &r->o;
    recur_error err;
    int C = recur_dataset_num_labels(r->ds);
    const char **labels = malloc((size_t)C * sizeof *labels);
    if (!labels) return EXIT_RUNTIME;
    for (int l = 0; l < C; l++) labels[l] = recur_dataset_label_name(r->ds, l);
    recur_status st = RECUR_OK;
    if (o->resume) {
        st = recur_model_load(o->resume, &r->model, &err);
        if (!st) {
            int same = recur_model_num_labels(r->model) == C;
            for (int l = 0; same && l < C; l++) same = strcmp(recur_model_label_name(r->model, l), labels[l]) == 0;
            if (!same) {
                cli_error("--resume: the labels of %s differ from those of %s", o->resume, r->data_dir);
                free(labels);
                return EXIT_RUNTIME;
            }
        }
    } else {
        recur_vocab *v = NULL;
        st = recur_vocab_create(o->text == 1 ? RECUR_TEXT_ASCII : RECUR_TEXT_UNICODE, &v, &err);
        for (size_t i = 0; !st && i < r->n_train; i++) {
            size_t len;
            const char *s = recur_dataset_text(r->ds, r->train_idx[i], &len);
            st = recur_vocab_add(v, s, len, &err);
        }
        recur_model_config cfg;
        recur_model_config_default(&cfg);
        cfg.task = RECUR_TASK_CLASSIFY;
        cfg.cell = cell_values[o->cell];
        cfg.hidden = o->hidden;
        cfg.layers = o->layers;
        cfg.bidirectional = o->bidirectional;
        cfg.embed = o->embed;
        cfg.dropout = (float)o->dropout;
        cfg.seed = o->seed;
        if (!st) st = recur_model_create(&cfg, v, labels, C, &r->model, &err);
        recur_vocab_free(v);
    }
    free(labels);
    if (st) {
        cli_lib_error(o->resume ? "--resume" : "model", &err);
        return EXIT_RUNTIME;
    }
    recur_train_config tc;
    recur_train_config_default(&tc);
    tc.optim = o->optim == 1 ? RECUR_OPTIM_ADAM : RECUR_OPTIM_SGD;
    tc.lr = (float)o->lr;
    tc.momentum = (float)o->momentum;
    tc.weight_decay = (float)o->weight_decay;
    tc.clip = (float)o->clip;
    tc.max_batch = o->batch;
    tc.threads = o->threads;
    tc.seed = o->seed ^ 0x5851f42d4c957f2dULL;
    if ((st = recur_trainer_create(r->model, &tc, &r->trainer, &err))) {
        cli_lib_error("trainer", &err);
        return EXIT_RUNTIME;
    }
    r->lr = tc.lr;
    r->best_acc = -1;
    r->best_loss_seen = INFINITY;
    if (o->resume) {
        if ((st = recur_trainer_load(r->trainer, o->resume, &err))) {
            cli_lib_error("--resume", &err);
            return EXIT_RUNTIME;
        }
        const char *v;
        r->epochs_done = (v = recur_model_get_meta(r->model, "epochs_done")) ? atoi(v) : 0;
        r->best_epoch = (v = recur_model_get_meta(r->model, "best_epoch")) ? atoi(v) : 0;
        r->bad_epochs = (v = recur_model_get_meta(r->model, "bad_epochs")) ? atoi(v) : 0;
        if ((v = recur_model_get_meta(r->model, "best_accuracy"))) r->best_acc = strtod(v, NULL);
        if ((v = recur_model_get_meta(r->model, "best_test_loss"))) r->best_loss_seen = strtod(v, NULL);
        if ((v = recur_model_get_meta(r->model, "lr"))) r->lr = strtof(v, NULL);
        if (!(r->lr > 0)) r->lr = tc.lr;
        /* A learning rate given on this command line wins over the stored one. */
        if (args_find(&r->cmd, "--lr")->seen) r->lr = tc.lr;
        recur_trainer_set_lr(r->trainer, r->lr);
        if (history_parse(&r->hist, recur_model_get_meta(r->model, "history")) || r->hist.n != r->epochs_done) {
            cli_error("--resume: %s has a damaged training history", o->resume);
            return EXIT_RUNTIME;
        }
        if (r->epochs_done >= o->epochs) {
            cli_error("--resume: %s has already trained %d of %d epochs; give --epochs N to train more",
                      o->resume, r->epochs_done, o->epochs);
            return EXIT_RUNTIME;
        }
        /* The best model so far is in -o only if it is there. */
        r->best_saved = file_exists(o->out);
        if (!r->best_saved) r->best_acc = -1;
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
        size_t *fill = malloc((size_t)C * sizeof *fill);
        if (!fill) return -1;
        memcpy(fill, r->class_start, (size_t)C * sizeof *fill);
        for (size_t i = 0; i < n; i++) r->by_class[fill[r->train_y[i]]++] = i;
        free(fill);
    }
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
    *b = (recur_batch){(int)count, r->btok, r->boff, r->blab};
    return 0;
}

/* Held-out metrics of the current weights into r->met. */
static int evaluate(run *r)
{
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
    return 0;
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

/* Metadata of the weights now in the model; written with both files. */
static int describe(run *r, int epoch, double train_loss)
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
    bad |= set_meta(r, "accuracy", "%.6f", cli_metrics_accuracy(&r->met));
    bad |= set_meta(r, "macro_recall", "%.6f", cli_metrics_macro_recall(&r->met));
    bad |= set_meta(r, "test_loss", "%.6f", cli_metrics_loss(&r->met));
    bad |= set_meta(r, "train_loss", "%.6f", train_loss);
    bad |= set_meta(r, "best_epoch", "%d", r->best_epoch);
    bad |= set_meta(r, "best_accuracy", "%.9g", r->best_acc);
    bad |= set_meta(r, "best_test_loss", "%.9g", r->best_loss_seen);
    bad |= set_meta(r, "bad_epochs", "%d", r->bad_epochs);
    bad |= set_meta(r, "lr", "%.9g", (double)r->lr);
    return bad ? -1 : 0;
}

static void write_svg(run *r)
{
    if (!r->o.svg || r->hist.n == 0) return;
    svg_series s[3] = {
        {"train loss", r->hist.train_loss, 0, "#1f77b4", 0},
        {"test loss", r->hist.test_loss, 0, "#ff7f0e", 0},
        {"test accuracy (right axis)", r->hist.acc, 1, "#2ca02c", 1},
    };
    cli_buf b = {0};
    char title[300], msg[600];
    snprintf(title, sizeof title, "recur train: %s, hidden %d (best accuracy %.1f%%, epoch %d)",
             recur_cell_name(cell_values[r->o.cell]), r->o.hidden, 100 * r->best_acc, r->best_epoch);
    if (svg_line_plot(&b, title, "epoch", "loss (mean negative log-likelihood)", "accuracy", 1, s, 3, r->hist.n) ||
        cli_write_file_atomic(r->o.svg, b.data, b.len, msg, sizeof msg))
        cli_error("--svg: %s", b.failed ? "out of memory" : msg);
    cli_buf_free(&b);
}

static int train_loop(run *r)
{
    train_opts *o = &r->o;
    recur_error err;
    cli_progress pg;
    progress_init(&pg, o->quiet);
    double t_start = cli_now(), names_done_total = 0, train_time_total = 0;
    int first_epoch = r->epochs_done + 1;
    for (int epoch = first_epoch; epoch <= o->epochs; epoch++) {
        double t0 = cli_now();
        if (make_batches(r, epoch)) {
            cli_error("out of memory ordering the batches");
            return EXIT_RUNTIME;
        }
        double loss_sum = 0;
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
                cli_error("epoch %d: %s%s", epoch, err.message,
                          err.status == RECUR_ERR_NUMERIC ? "; try a lower --lr or a --clip" : "");
                return EXIT_RUNTIME;
            }
            loss_sum += (double)loss * b.n;
            seen += (size_t)b.n;
            if (pg.tty) {
                double el = cli_now() - t0, rate = (names_done_total + (double)seen) /
                                                    (train_time_total + el > 0 ? train_time_total + el : 1);
                double left = (double)(r->n_train - seen) + (double)r->n_train * (o->epochs - epoch);
                progress_update(&pg, epoch, o->epochs, seen, r->n_train, (double)seen / (el > 0 ? el : 1),
                                loss_sum / (double)seen, left / rate, 0);
            }
        }
        double t_train = cli_now() - t0;
        names_done_total += (double)seen;
        train_time_total += t_train;
        double train_loss = loss_sum / (double)(seen ? seen : 1);
        int rc = evaluate(r);
        if (rc) return rc;
        double acc = cli_metrics_accuracy(&r->met), rec = cli_metrics_macro_recall(&r->met),
               tl = cli_metrics_loss(&r->met);
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
        int improved = acc > r->best_acc;
        if (improved) {
            r->best_acc = acc;
            r->best_epoch = epoch;
        }
        if (describe(r, epoch, train_loss)) return EXIT_RUNTIME;
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
        if (!o->quiet) {
            printf("epoch %*d/%d  loss %.4f  test loss %.4f  accuracy %5.1f%%  macro recall %5.1f%%  "
                   "%6.0f names/s  %5.1f s%s%s\n",
                   o->epochs >= 10 ? 2 : 1, epoch, o->epochs, train_loss, tl, 100 * acc, 100 * rec,
                   (double)seen / (t_train > 0 ? t_train : 1), cli_now() - t0, improved ? "  saved" : "",
                   halved ? "  lr halved" : "");
            fflush(stdout);
        }
    }
    if (!o->quiet) {
        printf("best    epoch %d: accuracy %.1f%%, macro recall %.1f%% -> %s (%.1f s)\n", r->best_epoch,
               100 * r->best_acc, 100 * r->hist.recall[r->best_epoch - 1], o->out, cli_now() - t_start);
        fflush(stdout);
    }
    return 0;

interrupted:
    progress_clear(&pg);
    if (!r->best_saved) {
        /* No epoch finished: keep what there is rather than nothing. */
        if (evaluate(r) == 0 && describe(r, 0, NAN) == 0 && recur_model_save(r->model, o->out, &err) == 0)
            cli_error("interrupted in epoch %d before any epoch finished; saved the current weights "
                      "(accuracy %.1f%%) to %s",
                      r->epochs_done + 1, 100 * cli_metrics_accuracy(&r->met), o->out);
        else
            cli_error("interrupted in epoch %d; nothing saved", r->epochs_done + 1);
    } else {
        cli_error("interrupted in epoch %d; the best model (epoch %d, accuracy %.1f%%) is in %s; "
                  "continue with --resume %s",
                  r->epochs_done + 1, r->best_epoch, 100 * r->best_acc, o->out, r->ckpt);
    }
    return EXIT_INTERRUPTED;
}

int cmd_train(int argc, char **argv)
{
    run *r = calloc(1, sizeof *r);
    if (!r) {
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    int npos = 0, rc = pos ? parse_flags(r, argc, argv, pos, &npos) : EXIT_RUNTIME;
    if (rc < 0) {
        rc = 0; /* --help */
        goto done;
    }
    if (rc) goto done;
    train_opts *o = &r->o;
    snprintf(r->ckpt, sizeof r->ckpt, "%s.ckpt", o->out);
    if (o->svg && strcmp(o->svg, o->out) == 0) {
        cli_error("--svg and -o name the same file %s", o->out);
        rc = EXIT_USAGE;
        goto done;
    }
    if (cli_check_writable(o->out, "-o") || (o->svg && cli_check_writable(o->svg, "--svg"))) {
        rc = EXIT_RUNTIME;
        goto done;
    }
    recur_set_threads(o->threads);
    /* From here on Ctrl-C stops at the next batch, with the best model kept. */
    cli_catch_interrupts();
    /* DATA, else (resuming) the checkpoint's, else $RECUR_DATA or the cache. */
    if ((rc = prepare_data(r, npos ? pos[0] : r->stored_data))) goto done;
    if ((rc = prepare_model(r))) goto done;
    const recur_vocab *v = recur_model_vocab(r->model);
    if ((rc = cli_encode(v, r->ds, r->train_idx, r->n_train, &r->train, r->data_dir))) goto done;
    if (r->test_ds) rc = cli_encode(v, r->test_ds, NULL, r->n_test, &r->test, o->test_dir);
    else rc = cli_encode(v, r->ds, r->test_idx, r->n_test, &r->test, r->data_dir);
    if (rc) goto done;
    if (!o->quiet) {
        char a[32], b[32], c[32];
        if (r->test_ds)
            printf("split   %s training names from %s, %s test names from %s\n", cli_count(a, r->n_train),
                   r->data_dir, cli_count(b, r->n_test), o->test_dir);
        else
            printf("split   %s, seed %llu: %s training names, %s test names (%.0f%%)\n",
                   o->split ? "by distinct spelling (none on both sides)" : "random lines",
                   (unsigned long long)o->seed, cli_count(a, r->n_train), cli_count(b, r->n_test),
                   100.0 * (double)r->n_test / (double)(r->n_train + r->n_test));
        const recur_model_config *mc = recur_model_get_config(r->model);
        if (mc->embed) snprintf(c, sizeof c, "embedding %d", mc->embed);
        else snprintf(c, sizeof c, "one-hot input");
        printf("model   %s, hidden %d, %d layer%s%s, %s, %d symbols (%s), %s weights\n",
               recur_cell_name(mc->cell), mc->hidden, mc->layers, mc->layers > 1 ? "s" : "",
               mc->bidirectional ? ", bidirectional" : "", c,
               recur_vocab_size(v), recur_vocab_mode(v) == RECUR_TEXT_ASCII ? "ascii" : "unicode",
               cli_count(a, recur_model_num_weights(r->model)));
        printf("train   %s, lr %g, batch %d, clip %g, %d epochs, %d thread%s%s\n", optim_choices[o->optim], r->lr,
               o->batch, o->clip, o->epochs, o->threads, o->threads > 1 ? "s" : "",
               o->resume ? ", resumed" : "");
        if (o->resume) printf("resume  %s: %d epochs done, best accuracy %.1f%% (epoch %d)\n", o->resume,
                              r->epochs_done, 100 * (r->best_acc > 0 ? r->best_acc : 0), r->best_epoch);
        fflush(stdout);
    }
    if (cli_interrupted()) {
        cli_error("interrupted before training began; nothing written");
        rc = EXIT_INTERRUPTED;
        goto done;
    }
    rc = train_loop(r);
done:
    free(pos);
    run_free(r);
    free(r);
    return rc;
}
