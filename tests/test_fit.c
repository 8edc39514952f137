/*
 * The training driver (recur_fit), the metrics and encoded data sets: a
 * resumed run is the straight run at every epoch, callbacks and the stop
 * flag end training where they should with the best model saved, and the
 * metrics match values computed by hand.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "test.h"

/* A toy task as a data folder: label A's texts start with 'a', B's with
 * 'b' and C's with 'c', followed by noise from "abc". */
static const char *toy_dir(void)
{
    static char dir[4200];
    snprintf(dir, sizeof dir, "%s/toy", test_tmpdir());
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    CHECK(system(cmd) == 0);
    const char *labels = "ABC";
    unsigned s = 7;
    for (int l = 0; l < 3; l++) {
        char p[4300];
        snprintf(p, sizeof p, "%s/%c.txt", dir, labels[l]);
        FILE *f = fopen(p, "w");
        CHECK(f != NULL);
        if (!f) return dir;
        for (int i = 0; i < 60 + 30 * l; i++) {
            fputc('a' + l, f);
            int len = 1 + i % 5;
            for (int k = 0; k < len; k++) {
                s = s * 1103515245u + 12345u;
                fputc('a' + (int)((s >> 16) % 3), f);
            }
            fputc('\n', f);
        }
        fclose(f);
    }
    return dir;
}

typedef struct toy {
    recur_dataset *ds;
    recur_vocab *v;
    recur_data *data;
    size_t *train, *valid, n_train, n_valid;
} toy;

static void toy_load(toy *t)
{
    recur_error err;
    memset(t, 0, sizeof *t);
    CHECK_OK(recur_dataset_load(toy_dir(), &t->ds, &err), &err);
    CHECK_OK(recur_vocab_create(RECUR_TEXT_UNICODE, &t->v, &err), &err);
    CHECK_OK(recur_vocab_add(t->v, "abc", 3, &err), &err);
    CHECK_OK(recur_data_encode(t->ds, t->v, NULL, 0, &t->data, &err), &err);
    CHECK_OK(recur_dataset_split(t->ds, 0.2, RECUR_SPLIT_RANDOM, 3, &t->train, &t->n_train, &t->valid, &t->n_valid,
                                 &err),
             &err);
}

static void toy_free(toy *t)
{
    recur_data_free(t->data);
    recur_vocab_free(t->v);
    recur_dataset_free(t->ds);
    free(t->train);
    free(t->valid);
}

static recur_model *toy_model(const toy *t, recur_task task)
{
    recur_model_config mc;
    recur_model_config_default(&mc);
    mc.task = task;
    mc.hidden = 8;
    mc.embed = 4;
    const char *labels[3] = {"A", "B", "C"};
    recur_model *m = NULL;
    recur_error err;
    CHECK_OK(recur_model_create(&mc, t->v, labels, 3, &m, &err), &err);
    return m;
}

static void toy_config(recur_fit_config *fc, int epochs, const char *out, const char *ckpt)
{
    recur_fit_config_default(fc);
    fc->epochs = epochs;
    fc->batch = 16;
    fc->train.lr = 0.05f;
    fc->token_dropout = 0.1;
    fc->balance = 0.5;
    fc->patience = 1;
    fc->model_path = out;
    fc->checkpoint_path = ckpt;
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    *n = b ? fread(b, 1, (size_t)len, f) : 0;
    fclose(f);
    return b;
}

static int same_file(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    unsigned char *x = slurp(a, &na), *y = slurp(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

/* Interrupted after any epoch k and resumed, a run ends with the files of
 * the straight run, byte for byte (weights, optimiser, fit state). */
static void test_resume_any_epoch(void)
{
    enum { E = 6 };
    toy t;
    toy_load(&t);
    recur_error err;
    char out[4300], ckpt[4300];
    snprintf(out, sizeof out, "%s/straight.safetensors", test_tmpdir());
    snprintf(ckpt, sizeof ckpt, "%s/straight.ckpt", test_tmpdir());
    for (int task = 0; task < 2; task++) {
        recur_fit_config fc;
        toy_config(&fc, E, out, ckpt);
        if (task) fc.token_dropout = 0;
        fc.train.lr = task ? 0.05f : 0.3f;
        recur_model *m = toy_model(&t, task ? RECUR_TASK_GENERATE : RECUR_TASK_CLASSIFY);
        recur_fit_result res;
        CHECK_OK(recur_fit(m, &fc, recur_data_batch(t.data), t.train, t.n_train, t.valid, t.n_valid, &res, &err),
                 &err);
        CHECK(res.epochs_done == E && res.best_epoch >= 1 && res.best_saved);
        /* The schedule acted, so the resumed runs must restore it. */
        CHECK_MSG(strtod(recur_model_get_meta(m, "lr"), NULL) < 0.75 * fc.train.lr, "lr %s", recur_model_get_meta(m, "lr"));
        recur_model_free(m);
        for (int k = 1; k < E; k++) {
            char o2[4300], c2[4300];
            snprintf(o2, sizeof o2, "%s/part%d.safetensors", test_tmpdir(), k);
            snprintf(c2, sizeof c2, "%s/part%d.ckpt", test_tmpdir(), k);
            recur_fit_config f2;
            toy_config(&f2, k, o2, c2);
            f2.token_dropout = fc.token_dropout;
            f2.train.lr = fc.train.lr;
            m = toy_model(&t, task ? RECUR_TASK_GENERATE : RECUR_TASK_CLASSIFY);
            CHECK_OK(recur_fit(m, &f2, recur_data_batch(t.data), t.train, t.n_train, t.valid, t.n_valid, NULL, &err),
                     &err);
            recur_model_free(m);
            /* A fresh process would load the checkpoint's model. */
            CHECK_OK(recur_model_load(c2, &m, &err), &err);
            f2.epochs = E;
            f2.resume = c2;
            CHECK_OK(recur_fit(m, &f2, recur_data_batch(t.data), t.train, t.n_train, t.valid, t.n_valid, &res, &err),
                     &err);
            CHECK_MSG(same_file(ckpt, c2), "task %d, resumed after epoch %d: checkpoint differs", task, k);
            CHECK_MSG(same_file(out, o2), "task %d, resumed after epoch %d: best model differs", task, k);
            recur_model_free(m);
        }
    }
    toy_free(&t);
}

typedef struct stop_ctx {
    int stop_after_epoch, epochs_seen, steps_seen, stop_at_step;
    volatile sig_atomic_t flag;
    double best_acc;
} stop_ctx;

static int stop_epoch(const recur_fit_epoch *e, void *user)
{
    stop_ctx *c = user;
    c->epochs_seen++;
    if (e->improved) c->best_acc = e->valid_accuracy;
    return e->epoch >= c->stop_after_epoch;
}

static void count_step(const recur_fit_step *s, void *user)
{
    stop_ctx *c = user;
    c->steps_seen++;
    if (c->steps_seen == c->stop_at_step) c->flag = 1;
}

/* The epoch callback stops training; what model_path holds is the best
 * epoch's model, whose accuracy on the validation set is the one reported. */
static void test_callback_stops(void)
{
    toy t;
    toy_load(&t);
    recur_error err;
    char out[4300];
    snprintf(out, sizeof out, "%s/cb.safetensors", test_tmpdir());
    recur_fit_config fc;
    toy_config(&fc, 10, out, NULL);
    stop_ctx c = {.stop_after_epoch = 3};
    fc.on_epoch = stop_epoch;
    fc.user = &c;
    recur_model *m = toy_model(&t, RECUR_TASK_CLASSIFY);
    recur_fit_result res;
    CHECK_OK(recur_fit(m, &fc, recur_data_batch(t.data), t.train, t.n_train, t.valid, t.n_valid, &res, &err), &err);
    CHECK(c.epochs_seen == 3 && res.epochs_done == 3);
    recur_model *best = NULL;
    CHECK_OK(recur_model_load(out, &best, &err), &err);
    if (best) {
        recur_metrics met;
        CHECK_OK(recur_evaluate(best, recur_data_batch(t.data), t.valid, t.n_valid, 0, NULL, &met, &err), &err);
        CHECK_NEAR(recur_metrics_accuracy(&met), res.best_accuracy, 1e-12);
        CHECK_NEAR(res.best_accuracy, c.best_acc, 1e-12);
        CHECK(atoi(recur_model_get_meta(best, "epoch")) == res.best_epoch);
        recur_metrics_free(&met);
    }
    recur_model_free(best);
    recur_model_free(m);
    toy_free(&t);
}

/* The stop flag, set during step 5, ends training before step 6, and
 * evaluation returns at once when it is set. */
static void test_stop_flag(void)
{
    toy t;
    toy_load(&t);
    recur_error err;
    recur_fit_config fc;
    toy_config(&fc, 5, NULL, NULL);
    stop_ctx c = {.stop_at_step = 5};
    fc.on_step = count_step;
    fc.stop = &c.flag;
    fc.user = &c;
    recur_model *m = toy_model(&t, RECUR_TASK_CLASSIFY);
    recur_fit_result res;
    recur_status st = recur_fit(m, &fc, recur_data_batch(t.data), t.train, t.n_train, t.valid, t.n_valid, &res, &err);
    CHECK(st == RECUR_ERR_INTERRUPTED);
    CHECK_MSG(c.steps_seen == 5, "%d steps", c.steps_seen);
    CHECK(res.epochs_done == 0 && !res.best_saved && !res.saved_current);
    recur_metrics met;
    st = recur_evaluate(m, recur_data_batch(t.data), NULL, recur_data_size(t.data), 4, &c.flag, &met, &err);
    CHECK(st == RECUR_ERR_INTERRUPTED && met.n == 0);
    recur_metrics_free(&met);
    recur_model_free(m);
    toy_free(&t);
}

/* A confusion matrix of 3 labels worked out by hand. */
static void test_metrics_by_hand(void)
{
    recur_metrics m;
    recur_error err;
    CHECK_OK(recur_metrics_init(&m, 3, &err), &err);
    /* (true, predicted): (0,0) x3, (0,1), (1,1) x2, (1,2), (2,0); label 2
     * is predicted never right. */
    const int pairs[8][2] = {{0, 0}, {0, 0}, {0, 0}, {0, 1}, {1, 1}, {1, 1}, {1, 2}, {2, 0}};
    for (int i = 0; i < 8; i++) {
        float lp[3] = {logf(0.1f), logf(0.1f), logf(0.1f)};
        lp[pairs[i][1]] = logf(0.8f);
        int32_t y = pairs[i][0];
        recur_metrics_add(&m, lp, &y, 1);
    }
    CHECK(m.n == 8 && m.correct == 5 && m.confusion[0 * 3 + 1] == 1 && m.confusion[2 * 3 + 0] == 1);
    CHECK_NEAR(recur_metrics_accuracy(&m), 5.0 / 8, 1e-12);
    double p, r, f;
    recur_metrics_class(&m, 0, &p, &r, &f);
    CHECK_NEAR(p, 3.0 / 4, 1e-12); /* predicted 0: three right, one from label 2 */
    CHECK_NEAR(r, 3.0 / 4, 1e-12);
    CHECK_NEAR(f, 0.75, 1e-12);
    recur_metrics_class(&m, 1, &p, &r, &f);
    CHECK_NEAR(p, 2.0 / 3, 1e-12);
    CHECK_NEAR(r, 2.0 / 3, 1e-12);
    recur_metrics_class(&m, 2, &p, &r, &f);
    CHECK(p == 0 && r == 0 && f == 0);
    CHECK_NEAR(recur_metrics_macro_recall(&m), (0.75 + 2.0 / 3 + 0) / 3, 1e-12);
    /* -log p of the true label: 0.8 for the five right, 0.1 for three. */
    CHECK_NEAR(recur_metrics_loss(&m), (5 * -log(0.8) + 3 * -log(0.1)) / 8, 1e-6);
    CHECK(recur_metrics_support(&m, 1) == 3);
    recur_metrics_reset(&m);
    CHECK(m.n == 0 && m.confusion[0] == 0 && recur_metrics_accuracy(&m) == 0);
    recur_metrics_free(&m);
    recur_metrics_free(NULL);
}

/* Encoded data: labels by name, an unknown one refused. */
static void test_data_encode(void)
{
    toy t;
    toy_load(&t);
    recur_error err;
    const recur_batch *b = recur_data_batch(t.data);
    CHECK(b->n == 60 + 90 + 120 && recur_data_size(t.data) == (size_t)b->n);
    CHECK(b->labels[0] == 0 && b->labels[b->n - 1] == 2 && b->offsets[1] - b->offsets[0] == 2);
    const char *names[2] = {"C", "A"};
    recur_data *d = NULL;
    CHECK(recur_data_encode(t.ds, t.v, names, 2, &d, &err) == RECUR_ERR_DATA && d == NULL);
    CHECK(strstr(err.message, "'B'") != NULL);
    const char *all[3] = {"C", "B", "A"};
    CHECK_OK(recur_data_encode(t.ds, t.v, all, 3, &d, &err), &err);
    CHECK_OK(recur_data_append(d, t.ds, t.v, NULL, 0, &err), &err);
    b = recur_data_batch(d);
    CHECK(b && b->n == 2 * 270 && b->labels[0] == 2 && b->labels[270] == 0);
    recur_data_free(d);
    recur_data_free(NULL);
    toy_free(&t);
}

const test_case tests_fit[] = {
    {"metrics_by_hand", test_metrics_by_hand},
    {"data_encode", test_data_encode},
    {"resume_any_epoch", test_resume_any_epoch},
    {"callback_stops", test_callback_stops},
    {"stop_flag", test_stop_flag},
    {NULL, NULL},
};
