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
#include "tool.h"

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

/* Stopped before the first epoch ends, the current weights are saved,
 * scored on the first RECUR_FIT_QUICK_SCORE validation sequences only (a
 * full pass over a large validation set made Ctrl-C wait 10 s). The list
 * is sequence A that many times, then B: the stored loss must be A's. */
static void test_stop_scores_quickly(void)
{
    toy t;
    toy_load(&t);
    recur_error err;
    char out[600];
    snprintf(out, sizeof out, "%s/quick.safetensors", test_tmpdir());
    recur_fit_config fc;
    toy_config(&fc, 5, out, NULL);
    stop_ctx c = {.stop_at_step = 3};
    fc.on_step = count_step;
    fc.stop = &c.flag;
    fc.user = &c;
    size_t nv = RECUR_FIT_QUICK_SCORE + 900, *valid = malloc(nv * sizeof *valid);
    for (size_t i = 0; i < nv; i++) valid[i] = i < RECUR_FIT_QUICK_SCORE ? t.valid[0] : t.valid[1];
    recur_model *m = toy_model(&t, RECUR_TASK_CLASSIFY);
    recur_fit_result res;
    recur_status st = recur_fit(m, &fc, recur_data_batch(t.data), t.train, t.n_train, valid, nv, &res, &err);
    CHECK(st == RECUR_ERR_INTERRUPTED && res.saved_current);
    recur_model *saved = NULL;
    CHECK_OK(recur_model_load(out, &saved, &err), &err);
    if (saved) {
        recur_metrics a, all;
        CHECK_OK(recur_evaluate(saved, recur_data_batch(t.data), valid, 1, 0, NULL, &a, &err), &err);
        CHECK_OK(recur_evaluate(saved, recur_data_batch(t.data), valid, nv, 0, NULL, &all, &err), &err);
        double stored = atof(recur_model_get_meta(saved, "valid_loss"));
        CHECK_NEAR(stored, recur_metrics_loss(&a), 2e-6);
        CHECK(fabs(recur_metrics_loss(&a) - recur_metrics_loss(&all)) > 1e-5);
        recur_metrics_free(&a);
        recur_metrics_free(&all);
    }
    recur_model_free(saved);
    recur_model_free(m);
    free(valid);
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


/* The three parts are disjoint and cover the data; the test part is
 * recur_dataset_split's (the lines older models were tested on); the plan
 * survives a save and a load and rebuilds the same parts. */
static void test_split_record(void)
{
    toy t;
    toy_load(&t);
    recur_error err;
    for (int how = 0; how < 3; how++) {
        recur_split_plan p;
        recur_split_plan_default(&p);
        p.method = (recur_split)how;
        p.seed = 11;
        p.valid_fraction = 0.2;
        p.test_fraction = 0.25;
        size_t *tr, *va, *te, ntr, nva, nte, *old_tr, *old_te, on_tr, on_te;
        CHECK_OK(recur_split_apply(t.ds, &p, &tr, &ntr, &va, &nva, &te, &nte, &err), &err);
        CHECK_OK(recur_dataset_split(t.ds, 0.25, p.method, 11, &old_tr, &on_tr, &old_te, &on_te, &err), &err);
        CHECK(nte == on_te && memcmp(te, old_te, nte * sizeof *te) == 0);
        CHECK(ntr + nva + nte == recur_dataset_size(t.ds) && nva > 0 && ntr > nva);
        unsigned char *seen = calloc(recur_dataset_size(t.ds), 1);
        size_t *parts[3] = {tr, va, te}, counts[3] = {ntr, nva, nte};
        int twice = 0;
        for (int k = 0; k < 3; k++)
            for (size_t i = 0; i < counts[k]; i++) twice |= seen[parts[k][i]]++;
        CHECK_MSG(!twice, "method %d: a line in two parts", how);
        if (how == RECUR_SPLIT_DISTINCT)
            for (size_t i = 0; i < nva; i++)
                for (size_t j = 0; j < ntr; j++)
                    CHECK(strcmp(recur_dataset_text(t.ds, va[i], NULL), recur_dataset_text(t.ds, tr[j], NULL)) != 0);
        free(seen);
        /* The record, through a file. */
        recur_model *m = toy_model(&t, RECUR_TASK_CLASSIFY), *back = NULL;
        char path[4300];
        snprintf(path, sizeof path, "%s/split%d.safetensors", test_tmpdir(), how);
        recur_split_plan got;
        CHECK(recur_model_get_split(m, &got, &err) == RECUR_ERR_UNSUPPORTED);
        CHECK_OK(recur_model_set_split(m, &p, &err), &err);
        CHECK_OK(recur_model_save(m, path, &err), &err);
        CHECK_OK(recur_model_load(path, &back, &err), &err);
        CHECK_OK(recur_model_get_split(back, &got, &err), &err);
        CHECK(got.method == p.method && got.valid_fraction == p.valid_fraction &&
              got.test_fraction == p.test_fraction && got.seed == p.seed && !got.dedupe && !got.test_dir);
        size_t *tr2, *te2, ntr2, nte2;
        CHECK_OK(recur_split_apply(t.ds, &got, &tr2, &ntr2, NULL, NULL, &te2, &nte2, &err), &err);
        CHECK(ntr2 == ntr && nte2 == nte && memcmp(tr2, tr, ntr * sizeof *tr) == 0);
        /* A damaged record is an error, not a guess. */
        CHECK_OK(recur_model_set_meta(back, "split.seed", "12x", &err), &err);
        CHECK(recur_model_get_split(back, &got, &err) == RECUR_ERR_FORMAT);
        recur_model_free(m);
        recur_model_free(back);
        free(tr), free(va), free(te), free(old_tr), free(old_te), free(tr2), free(te2);
    }
    toy_free(&t);
}

/* A model written before the split was recorded (only its training flags
 * say how) still evaluates its held-out lines. */
static void test_old_model_held_out(void)
{
    NEED_BIN();
    toy t;
    toy_load(&t);
    recur_error err;
    recur_model *m = toy_model(&t, RECUR_TASK_CLASSIFY);
    char path[4300], args[9000];
    snprintf(path, sizeof path, "%s/old.safetensors", test_tmpdir());
    CHECK_OK(recur_model_set_meta(m, "train_args", "--seed 5 --test-split 0.3 --split stratified --hidden 8", &err),
             &err);
    CHECK_OK(recur_model_save(m, path, &err), &err);
    size_t *tr, *te, ntr, nte;
    CHECK_OK(recur_dataset_split(t.ds, 0.3, RECUR_SPLIT_STRATIFIED, 5, &tr, &ntr, &te, &nte, &err), &err);
    snprintf(args, sizeof args, "eval '%s' '%s' --held-out --json", path, toy_dir());
    result r = run_in(test_tmpdir(), NULL, args, NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    const char *e = strstr(r.out, "\"examples\":");
    CHECK_MSG(e && (size_t)atol(e + 11) == nte, "%zu held out, got: %.200s", nte, r.out);
    result_free(&r);
    free(tr);
    free(te);
    recur_model_free(m);
    toy_free(&t);
}


/* examples/train_names.c, the library alone, reaches recur train's test
 * accuracy with the same settings (the same figure to the last digit). */
static void test_example_matches_train(void)
{
    NEED_DATA();
    char ex[4300], args[9000];
    snprintf(ex, sizeof ex, "%s", bin());
    char *slash = strrchr(ex, '/');
    if (slash) snprintf(slash + 1, sizeof ex - (size_t)(slash + 1 - ex), "examples/train_names");
    const char *dir = tool_new_dir("fit", "example");
    snprintf(args, sizeof args, "cd '%s' && '%s' '%s' 1 16 ex.safetensors", dir, ex, test_data_dir());
    FILE *p = popen(args, "r");
    char line[512] = "";
    CHECK(p && fgets(line, sizeof line, p));
    if (p) CHECK(pclose(p) == 0);
    const char *a = strstr(line, "test accuracy ");
    double ex_acc = a ? strtod(a + 14, NULL) : -1;
    snprintf(args, sizeof args, "train '%s' --epochs 1 --hidden 16 --threads 1 -q -o cli.safetensors", test_data_dir());
    result r = run_in(dir, NULL, args, NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    result_free(&r);
    snprintf(args, sizeof args, "eval cli.safetensors '%s' --held-out --json", test_data_dir());
    r = run_in(dir, NULL, args, NULL);
    const char *j = strstr(r.out, "\"accuracy\":");
    double cli_acc = j ? strtod(j + 11, NULL) : -2;
    CHECK_MSG(fabs(ex_acc - cli_acc) < 1e-4 && ex_acc > 0.5, "example %.4f, recur train %.4f (%s)", ex_acc, cli_acc,
              line);
    result_free(&r);
}


/* A trainer leaves OpenBLAS's process-wide thread count alone. */
static void test_no_blas_side_effect(void)
{
    toy t;
    toy_load(&t);
    recur_error err;
    int saved = recur_get_threads();
    recur_set_threads(2);
    int before = recur_get_threads();
    recur_model *m = toy_model(&t, RECUR_TASK_CLASSIFY);
    recur_train_config tc;
    recur_train_config_default(&tc);
    tc.threads = 3;
    recur_trainer *tr = NULL;
    CHECK_OK(recur_trainer_create(m, &tc, &tr, &err), &err);
    CHECK_MSG(recur_get_threads() == before, "%d threads, was %d", recur_get_threads(), before);
    recur_trainer_free(tr);
    recur_model_free(m);
    recur_set_threads(saved);
    toy_free(&t);
}


/* A checkpoint keeps its split: resuming with other split flags is refused,
 * with the same ones it goes on. */
static void test_resume_keeps_split(void)
{
    NEED_BIN();
    const char *dir = tool_new_dir("fit", "resume-split");
    char args[9000];
    snprintf(args, sizeof args, "train '%s' -q --epochs 1 --hidden 8 --embed 4 --threads 1 -o m.safetensors", toy_dir());
    result r = run_in(dir, NULL, args, NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    result_free(&r);
    r = run_in(dir, NULL, "train -q --resume m.safetensors.ckpt --epochs 2 --valid-split 0.3", NULL);
    CHECK_MSG(r.code != 0 && strstr(r.err, "keeps its split"), "exit %d: %s", r.code, r.err);
    result_free(&r);
    r = run_in(dir, NULL, "train -q --resume m.safetensors.ckpt --epochs 2", NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    result_free(&r);
}

/* in_order: every epoch trains on consecutive batches of the training list
 * as given (an index may repeat), bit for bit what a loop of
 * recur_trainer_step over those batches does; step_loss is each step's
 * loss; with balance it is refused. The experiments and bench/ rely on it. */
typedef struct loss_log {
    int n;
    double loss[64];
} loss_log;

static void log_step(const recur_fit_step *s, void *user)
{
    loss_log *l = user;
    if (l->n < 64) l->loss[l->n++] = s->step_loss;
}

static void test_in_order(void)
{
    toy t;
    toy_load(&t);
    recur_error err;
    const recur_batch *all = recur_data_batch(t.data);
    enum { B = 16, E = 2 };
    size_t n = t.n_train - t.n_train % B + 5; /* a short last batch */
    size_t *list = malloc(n * sizeof *list);
    for (size_t i = 0; i < n; i++) list[i] = t.train[(i * 7) % t.n_train];
    recur_fit_config fc;
    toy_config(&fc, E, NULL, NULL);
    fc.balance = 0;
    fc.token_dropout = 0;
    fc.patience = 0;
    fc.batch = B;
    fc.in_order = 1;
    loss_log log = {0};
    fc.on_step = log_step;
    fc.user = &log;
    recur_model *a = toy_model(&t, RECUR_TASK_CLASSIFY), *b = toy_model(&t, RECUR_TASK_CLASSIFY);
    CHECK_OK(recur_fit(a, &fc, all, list, n, t.valid, t.n_valid, NULL, &err), &err);
    recur_train_config tc = fc.train;
    tc.max_batch = B;
    recur_trainer *tr = NULL;
    CHECK_OK(recur_trainer_create(b, &tc, &tr, &err), &err);
    int32_t tok[B * 8], off[B + 1], lab[B];
    int k = 0, same_loss = 1;
    for (int e = 0; e < E && tr; e++)
        for (size_t i0 = 0; i0 < n; i0 += B, k++) {
            int m = n - i0 < B ? (int)(n - i0) : B;
            off[0] = 0;
            for (int j = 0; j < m; j++) {
                size_t s = list[i0 + j];
                int len = all->offsets[s + 1] - all->offsets[s];
                memcpy(tok + off[j], all->tokens + all->offsets[s], (size_t)len * sizeof *tok);
                off[j + 1] = off[j] + len;
                lab[j] = all->labels[s];
            }
            recur_batch bt = {.n = m, .tokens = tok, .offsets = off, .labels = lab};
            float loss;
            CHECK_OK(recur_trainer_step(tr, &bt, &loss, &err), &err);
            same_loss &= k < log.n && log.loss[k] == (double)loss;
        }
    CHECK_MSG(log.n == k && same_loss, "%d steps logged of %d", log.n, k);
    for (int i = 0; i < recur_model_param_count(a); i++) {
        recur_param pa = recur_model_param(a, i), pb = recur_model_param(b, i);
        size_t count = 1;
        for (int d = 0; d < pa.ndim; d++) count *= (size_t)pa.shape[d];
        CHECK_MSG(memcmp(pa.data, pb.data, count * sizeof(float)) == 0, "%s differs", pa.name);
    }
    fc.balance = 0.5;
    CHECK(recur_fit(a, &fc, all, list, n, t.valid, t.n_valid, NULL, &err) == RECUR_ERR_ARG &&
          strstr(err.message, "balance"));
    recur_trainer_free(tr);
    recur_model_free(a);
    recur_model_free(b);
    free(list);
    toy_free(&t);
}

const test_case tests_fit[] = {
    {"metrics_by_hand", test_metrics_by_hand},
    {"data_encode", test_data_encode},
    {"resume_any_epoch", test_resume_any_epoch},
    {"callback_stops", test_callback_stops},
    {"stop_flag", test_stop_flag},
    {"stop_scores_quickly", test_stop_scores_quickly},
    {"split_record", test_split_record},
    {"old_model_held_out", test_old_model_held_out},
    {"example_matches_train", test_example_matches_train},
    {"no_blas_side_effect", test_no_blas_side_effect},
    {"resume_keeps_split", test_resume_keeps_split},
    {"in_order", test_in_order},
    {NULL, NULL},
};
