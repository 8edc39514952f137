/*
 * Tasks as combinations (issue 16): dense input, a head on every step,
 * real targets, MSE and Huber. Finite-difference gradient checks of the
 * new heads and losses through the trainer, thread splits, the runner
 * against the trainer, the step API, input standardisation, model files
 * of version 2 and version 1, configuration errors and the task metrics.
 */
#include <string.h>

#include "core/rng.h"
#include "io/safetensors.h"
#include "test.h"

enum { NSEQ = 4, F = 3, NCLS = 3, K = 2 };
static const int32_t lens4[NSEQ] = {3, 1, 4, 2};

/* A ragged batch of NSEQ sequences with every field filled (so any model
 * finds what it reads); arrays sized for up to 32 sequences of <= 4. */
typedef struct data {
    int32_t offsets[33], tokens[128], labels[32], step_labels[128];
    float features[128 * F], targets[128 * K];
    recur_batch b;
} data;

static void make_data(data *d, int n, uint64_t seed, int per_step_targets)
{
    recur_rng r;
    recur_rng_seed(&r, seed);
    d->offsets[0] = 0;
    for (int i = 0; i < n; i++) d->offsets[i + 1] = d->offsets[i] + lens4[i % NSEQ];
    int S = d->offsets[n];
    for (int k = 0; k < S; k++) {
        d->tokens[k] = 2 + (int)(recur_rng_uniform(&r) * 5) % 5;
        d->step_labels[k] = (int)(recur_rng_uniform(&r) * NCLS) % NCLS;
        for (int f = 0; f < F; f++) d->features[k * F + f] = 3.0f * recur_rng_uniform(&r) - 1.0f + (float)f;
    }
    d->step_labels[1] = -1; /* not scored, as ignore_index */
    for (int i = 0; i < n; i++) d->labels[i] = i % NCLS;
    int rows = per_step_targets ? S : n;
    for (int k = 0; k < rows * K; k++) d->targets[k] = 2.0f * recur_rng_uniform(&r) - 1.0f;
    d->b = (recur_batch){.n = n, .tokens = d->tokens, .offsets = d->offsets, .labels = d->labels,
                         .features = d->features, .step_labels = d->step_labels, .targets = d->targets};
}

static const char *const class_names[] = {"A", "B", "C"};

static recur_vocab *small_vocab(void)
{
    const char *syms[] = {"", "", "a", "b", "c", "d", "e"};
    recur_vocab *v = NULL;
    recur_error err;
    CHECK_OK(recur_vocab_from_symbols(RECUR_TEXT_UNICODE, syms, 7, &v, &err), &err);
    return v;
}

/* A model of a task: dense (F features) or tokens, cell, layers, D. */
static recur_model *make_model(recur_task task, int dense, recur_cell cell, int layers, int bi, int steps,
                               recur_loss loss)
{
    recur_model_config c;
    recur_model_config_default(&c);
    recur_model_config_task(&c, task);
    c.cell = cell;
    c.hidden = 3;
    c.layers = layers;
    c.bidirectional = bi;
    c.embed = 2;
    c.seed = 11;
    if (dense) {
        c.input = RECUR_INPUT_DENSE;
        c.input_size = F;
    }
    if (task == RECUR_TASK_REGRESS) {
        c.outputs = K;
        c.head = steps ? RECUR_HEAD_STEPS : RECUR_HEAD_FINAL;
        c.loss = loss;
        c.huber_delta = 0.5f;
    }
    recur_vocab *v = dense ? NULL : small_vocab();
    recur_model *m = NULL;
    recur_error err;
    int nl = task == RECUR_TASK_REGRESS ? 0 : NCLS;
    CHECK_OK(recur_model_create(&c, v, nl ? class_names : NULL, nl, &m, &err), &err);
    recur_vocab_free(v);
    if (m && dense) {
        /* A non-trivial standardisation, so that it is part of the check. */
        float mean[F] = {0.5f, 1.0f, -0.25f}, sd[F] = {2.0f, 0.5f, 1.5f};
        CHECK_OK(recur_model_set_input_norm(m, mean, sd, &err), &err);
    }
    return m;
}

static recur_trainer *make_trainer(recur_model *m, int threads)
{
    recur_train_config tc;
    recur_train_config_default(&tc);
    tc.sum_loss = 1;
    tc.clip = 0;
    tc.threads = threads;
    recur_trainer *t = NULL;
    recur_error err;
    CHECK_OK(recur_trainer_create(m, &tc, &t, &err), &err);
    return t;
}

static double eval_sum(recur_trainer *t, const recur_batch *b, size_t *terms)
{
    double s = 0;
    recur_error err;
    CHECK_OK(recur_trainer_eval(t, b, &s, terms, NULL, &err), &err);
    return s;
}

/* Every weight: central differences of the summed loss against the
 * trainer's gradient. Huber (is_huber) is not twice differentiable at
 * |residual| = delta: a coordinate whose one-sided slopes disagree there
 * is skipped and counted, as the relu kink is in test_gradcheck.c. */
static void gradcheck_model(recur_model *m, const recur_batch *b, int is_huber, const char *what)
{
    recur_trainer *t = make_trainer(m, 1);
    if (!t) return;
    recur_error err;
    float loss;
    CHECK_OK(recur_trainer_grad(t, b, &loss, &err), &err);
    size_t terms = 0;
    double l0 = eval_sum(t, b, &terms);
    CHECK_NEAR(loss, l0, 1e-4 * (1 + fabs(l0)));
    CHECK(terms > 0);
    int bad = 0, checked = 0, skipped = 0;
    const float eps = 1e-2f;
    for (int k = 0; k < recur_model_param_count(m); k++) {
        recur_param p = recur_model_param(m, k);
        size_t n = (size_t)p.shape[0] * (p.ndim == 2 ? (size_t)p.shape[1] : 1);
        float *g = malloc(n * sizeof *g);
        memcpy(g, p.grad, n * sizeof *g);
        for (size_t i = 0; i < n; i++) {
            float keep = p.data[i];
            p.data[i] = keep + eps;
            double lp = eval_sum(t, b, NULL);
            p.data[i] = keep - eps;
            double lm = eval_sum(t, b, NULL);
            p.data[i] = keep;
            double num = (lp - lm) / (2.0 * eps), tol = 2e-3 * (1.0 + fabs(num));
            if (is_huber && fabs((lp - l0) - (l0 - lm)) / eps > 10 * tol) {
                skipped++;
                continue;
            }
            checked++;
            if (fabs(num - g[i]) > tol && bad++ < 5)
                fprintf(stderr, "    %s %s[%zu]: numeric %.6g analytic %.6g\n", what, p.name, i, num, (double)g[i]);
        }
        free(g);
    }
    CHECK_MSG(bad == 0, "%s: %d of %d gradients differ", what, bad, checked);
    CHECK(checked > 100);
    if (is_huber) fprintf(stderr, "    %s: %d checked, %d skipped at Huber's kink\n", what, checked, skipped);
    recur_trainer_free(t);
}

/* One gradient check: data whose targets are per step exactly when the
 * model's outputs are, a model of that shape, and Huber's kink skipped
 * when Huber is the loss. */
static void gradcheck_case(uint64_t seed, recur_task task, int dense, recur_cell cell, int layers, int bi,
                           int steps, recur_loss loss, const char *what)
{
    data d;
    make_data(&d, NSEQ, seed, steps);
    recur_model *m = make_model(task, dense, cell, layers, bi, steps, loss);
    if (m) gradcheck_model(m, &d.b, loss == RECUR_LOSS_HUBER, what);
    recur_model_free(m);
}

static void gradcheck_tag_dense_bi(void)
{
    gradcheck_case(1, RECUR_TASK_TAG, 1, RECUR_CELL_LSTM, 2, 1, 1, 0, "tag dense lstm L2 bi");
}

static void gradcheck_tag_tokens_bi(void)
{
    gradcheck_case(2, RECUR_TASK_TAG, 0, RECUR_CELL_GRU, 2, 1, 1, 0, "tag tokens gru L2 bi");
}

static void gradcheck_regress_final(void)
{
    gradcheck_case(3, RECUR_TASK_REGRESS, 1, RECUR_CELL_GRU, 2, 1, 0, RECUR_LOSS_MSE, "regress final gru L2 bi mse");
}

static void gradcheck_regress_steps(void)
{
    gradcheck_case(4, RECUR_TASK_REGRESS, 1, RECUR_CELL_LSTM, 2, 0, 1, RECUR_LOSS_MSE, "regress steps lstm L2 mse");
}

static void gradcheck_regress_huber(void)
{
    gradcheck_case(5, RECUR_TASK_REGRESS, 1, RECUR_CELL_RNN_TANH, 2, 1, 1, RECUR_LOSS_HUBER,
                   "regress steps rnn_tanh L2 bi huber");
}

static void gradcheck_regress_tokens(void)
{
    gradcheck_case(6, RECUR_TASK_REGRESS, 0, RECUR_CELL_LSTM, 1, 1, 0, RECUR_LOSS_HUBER,
                   "regress final tokens lstm bi huber");
}

/* The mean loss is the sum over the terms the trainer counts: labelled
 * steps (tag) or elements (regress). */
static void loss_terms_are_counted(void)
{
    data d;
    make_data(&d, NSEQ, 7, 1);
    int S = d.offsets[NSEQ];
    recur_model *tag = make_model(RECUR_TASK_TAG, 1, RECUR_CELL_LSTM, 1, 1, 1, 0);
    recur_model *reg = make_model(RECUR_TASK_REGRESS, 1, RECUR_CELL_LSTM, 1, 0, 1, RECUR_LOSS_MSE);
    recur_model *fin = make_model(RECUR_TASK_REGRESS, 1, RECUR_CELL_LSTM, 1, 0, 0, RECUR_LOSS_MSE);
    recur_model *ms[3] = {tag, reg, fin};
    size_t want[3] = {(size_t)S - 1, (size_t)S * K, (size_t)NSEQ * K};
    for (int i = 0; i < 3; i++) {
        if (!ms[i]) continue;
        recur_train_config tc;
        recur_train_config_default(&tc);
        recur_trainer *t = NULL;
        recur_error err;
        CHECK_OK(recur_trainer_create(ms[i], &tc, &t, &err), &err);
        if (!t) continue;
        size_t terms = 0;
        double sum = eval_sum(t, &d.b, &terms);
        CHECK(terms == want[i]);
        float loss = 0;
        CHECK_OK(recur_trainer_grad(t, &d.b, &loss, &err), &err);
        CHECK_NEAR(loss, sum / (double)terms, 1e-5 * (1 + fabs(loss)));
        recur_trainer_free(t);
    }
    /* Every step unlabelled: no terms, loss 0, no NaN. */
    if (tag) {
        recur_trainer *t = make_trainer(tag, 1);
        int32_t none[128];
        for (int k = 0; k < S; k++) none[k] = -1;
        recur_batch b = d.b;
        b.step_labels = none;
        float loss = 1;
        recur_error err;
        CHECK_OK(recur_trainer_grad(t, &b, &loss, &err), &err);
        CHECK(loss == 0.0f);
        recur_trainer_free(t);
    }
    for (int i = 0; i < 3; i++) recur_model_free(ms[i]);
}

/* Data-parallel slices carry features, step labels and targets: two and
 * three threads give one thread's gradients up to rounding. */
static void threads_split_new_fields(void)
{
    data d;
    recur_task tasks[3] = {RECUR_TASK_TAG, RECUR_TASK_REGRESS, RECUR_TASK_REGRESS};
    int steps[3] = {1, 1, 0};
    for (int c = 0; c < 3; c++) {
        make_data(&d, 32, 8 + c, steps[c]);
        recur_model *m = make_model(tasks[c], 1, RECUR_CELL_GRU, 2, 1, steps[c], RECUR_LOSS_HUBER);
        if (!m) continue;
        size_t nw = recur_model_num_weights(m);
        float *g1 = malloc(nw * sizeof *g1);
        float l1 = 0;
        recur_error err;
        for (int th = 1; th <= 3; th++) {
            recur_trainer *t = make_trainer(m, th);
            float l = 0;
            CHECK_OK(recur_trainer_grad(t, &d.b, &l, &err), &err);
            const float *g = recur_model_param(m, 0).grad; /* the flat block starts here */
            if (th == 1) {
                memcpy(g1, g, nw * sizeof *g1);
                l1 = l;
            } else {
                double worst = 0;
                for (size_t i = 0; i < nw; i++) {
                    double e = fabs((double)g[i] - g1[i]) / (1 + fabs(g1[i]));
                    if (e > worst) worst = e;
                }
                CHECK_MSG(worst < 1e-5, "task %d, %d threads: gradient differs by %g", c, th, worst);
                CHECK_NEAR(l, l1, 1e-5 * (1 + fabs(l1)));
            }
            recur_trainer_free(t);
        }
        free(g1);
        recur_model_free(m);
    }
}

/* The runner's rows, put through the loss by hand, give the trainer's
 * evaluation; the step API gives the same rows one step at a time. */
static void runner_agrees_with_trainer(void)
{
    data d;
    struct { recur_task task; int dense, steps, bi; } cases[] = {
        {RECUR_TASK_TAG, 1, 1, 1}, {RECUR_TASK_TAG, 0, 1, 0}, {RECUR_TASK_REGRESS, 1, 1, 0},
        {RECUR_TASK_REGRESS, 1, 0, 1}, {RECUR_TASK_REGRESS, 1, 0, 0}, {RECUR_TASK_CLASSIFY, 1, 0, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        make_data(&d, NSEQ, 20 + c, cases[c].steps);
        recur_model *m = make_model(cases[c].task, cases[c].dense, RECUR_CELL_LSTM, 2, cases[c].bi, cases[c].steps,
                                    RECUR_LOSS_MSE);
        if (!m) continue;
        recur_trainer *t = make_trainer(m, 1);
        size_t terms;
        double want = eval_sum(t, &d.b, &terms);
        recur_runner *r = NULL;
        recur_error err;
        CHECK_OK(recur_runner_create(m, 8, &r, &err), &err);
        size_t rows = recur_runner_rows(r, &d.b);
        int W = recur_model_output_size(m);
        CHECK(rows == (cases[c].steps ? (size_t)d.offsets[NSEQ] : (size_t)NSEQ));
        float *out = calloc(rows * W, sizeof *out), step[16];
        CHECK_OK(recur_runner_predict(r, &d.b, out, &err), &err);
        double got = 0;
        for (size_t k = 0; k < rows; k++) {
            if (cases[c].task == RECUR_TASK_REGRESS) {
                for (int j = 0; j < W; j++) {
                    double e = out[k * W + j] - d.targets[k * W + j];
                    got += e * e;
                }
            } else {
                int y = cases[c].task == RECUR_TASK_TAG ? d.step_labels[k] : d.labels[k];
                if (y >= 0) got -= out[k * W + y];
            }
        }
        CHECK_MSG(fabs(got - want) < 1e-4 * (1 + fabs(want)), "case %zu: runner %.9g, trainer %.9g", c, got, want);
        /* Step API (unidirectional): row by row. */
        for (int i = 0; !cases[c].bi && i < NSEQ; i++) {
            CHECK_OK(recur_runner_reset(r, 0, &err), &err);
            for (int k = d.offsets[i]; k < d.offsets[i + 1]; k++) {
                if (cases[c].dense) CHECK_OK(recur_runner_step_features(r, d.features + k * F, step, &err), &err);
                else CHECK_OK(recur_runner_step(r, d.tokens[k], step, &err), &err);
                const float *row = cases[c].steps ? out + (size_t)k * W : k + 1 == d.offsets[i + 1] ? out + (size_t)i * W : NULL;
                for (int j = 0; row && j < W; j++) CHECK_NEAR(step[j], row[j], 1e-5);
            }
        }
        if (cases[c].bi) CHECK(recur_runner_reset(r, 0, &err) == RECUR_ERR_UNSUPPORTED);
        free(out);
        recur_runner_free(r);
        recur_trainer_free(t);
        recur_model_free(m);
    }
}

/* Token taggers take texts: one row per symbol. */
static void runner_tags_texts(void)
{
    recur_model *m = make_model(RECUR_TASK_TAG, 0, RECUR_CELL_GRU, 1, 1, 1, 0);
    if (!m) return;
    recur_runner *r = NULL;
    recur_error err;
    CHECK_OK(recur_runner_create(m, 4, &r, &err), &err);
    const char *texts[] = {"abc", "d", "eeab"};
    float out[16 * NCLS], ref[16 * NCLS];
    int32_t off[4];
    CHECK_OK(recur_runner_predict_texts(r, texts, NULL, 3, out, 16, off, &err), &err);
    CHECK(off[0] == 0 && off[1] == 3 && off[2] == 4 && off[3] == 8);
    int32_t ids[] = {2, 3, 4, 5, 6, 6, 2, 3};
    recur_batch b = {.n = 3, .tokens = ids, .offsets = off};
    CHECK_OK(recur_runner_predict(r, &b, ref, &err), &err);
    CHECK(memcmp(out, ref, 8 * NCLS * sizeof(float)) == 0);
    CHECK(recur_runner_predict_texts(r, texts, NULL, 3, out, 7, off, &err) == RECUR_ERR_ARG && off[3] == 8);
    CHECK(recur_runner_classify(r, texts, NULL, 3, out, &err) == RECUR_ERR_UNSUPPORTED);
    recur_runner_free(r);
    recur_model_free(m);
}

static void input_norm_is_fitted(void)
{
    recur_model *m = make_model(RECUR_TASK_TAG, 1, RECUR_CELL_LSTM, 1, 0, 1, 0);
    if (!m) return;
    /* Two sequences (2 steps, 1 step); feature 1 is constant. */
    float x[3 * F] = {1, 5, 0, 3, 5, 10, 8, 5, -4};
    int32_t off[3] = {0, 2, 3};
    recur_batch b = {.n = 2, .offsets = off, .features = x};
    recur_error err;
    CHECK_OK(recur_model_fit_input_norm(m, &b, NULL, 0, &err), &err);
    const float *mu = recur_model_input_mean(m), *sd = recur_model_input_std(m);
    CHECK_NEAR(mu[0], 4.0, 1e-6);
    CHECK_NEAR(sd[0], sqrt((9.0 + 1 + 16) / 3), 1e-6);
    CHECK_NEAR(mu[1], 5.0, 1e-6);
    CHECK(sd[1] == 1.0f);
    CHECK_NEAR(mu[2], 2.0, 1e-6);
    /* Only the chosen sequences count. */
    size_t idx[1] = {1};
    CHECK_OK(recur_model_fit_input_norm(m, &b, idx, 1, &err), &err);
    CHECK_NEAR(mu[0], 8.0, 1e-6);
    CHECK(sd[0] == 1.0f);
    idx[0] = 2;
    CHECK(recur_model_fit_input_norm(m, &b, idx, 1, &err) == RECUR_ERR_ARG);
    x[4] = NAN;
    CHECK(recur_model_fit_input_norm(m, &b, NULL, 0, &err) == RECUR_ERR_DATA && strstr(err.message, "sequence 0, step 1"));
    float bad_sd[F] = {1, 0, 1};
    CHECK(recur_model_set_input_norm(m, mu, bad_sd, &err) == RECUR_ERR_ARG);
    /* The statistics are applied: shifting the data and the mean alike
     * changes nothing. */
    float x2[3 * F] = {1, 5, 0, 3, 5, 10, 8, 5, -4}, y1[3 * NCLS], y2[3 * NCLS];
    recur_batch b2 = {.n = 2, .offsets = off, .features = x2};
    recur_runner *r = NULL;
    CHECK_OK(recur_runner_create(m, 4, &r, &err), &err);
    CHECK_OK(recur_runner_predict(r, &b2, y1, &err), &err);
    recur_runner_free(r);
    float mean2[F], sd2[F];
    for (int f = 0; f < F; f++) {
        mean2[f] = mu[f] + 100.0f;
        sd2[f] = sd[f];
    }
    for (int k = 0; k < 3 * F; k++) x2[k] += 100.0f;
    CHECK_OK(recur_model_set_input_norm(m, mean2, sd2, &err), &err);
    CHECK_OK(recur_runner_create(m, 4, &r, &err), &err);
    CHECK_OK(recur_runner_predict(r, &b2, y2, &err), &err);
    for (int k = 0; k < 3 * NCLS; k++) CHECK_NEAR(y1[k], y2[k], 1e-5);
    recur_runner_free(r);
    recur_model_free(m);
}

static void configurations_are_checked(void)
{
    recur_model_config c;
    recur_error err;
    recur_model *m = NULL;
    recur_vocab *v = small_vocab();
    /* A task that its properties contradict. */
    recur_model_config_default(&c);
    c.task = RECUR_TASK_TAG;
    CHECK(recur_model_create(&c, v, class_names, 3, &m, &err) == RECUR_ERR_ARG && strstr(err.message, "make classify"));
    /* Old callers: task GENERATE alone still makes a generator. */
    recur_model_config_default(&c);
    c.task = RECUR_TASK_GENERATE;
    CHECK_OK(recur_model_create(&c, v, class_names, 3, &m, &err), &err);
    CHECK(m && recur_model_get_config(m)->head == RECUR_HEAD_STEPS && recur_model_output_size(m) == 7);
    recur_model_free(m);
    /* The properties alone make a tagger; the model reports the task. */
    recur_model_config_default(&c);
    c.head = RECUR_HEAD_STEPS;
    CHECK_OK(recur_model_create(&c, v, class_names, 3, &m, &err), &err);
    CHECK(m && recur_model_get_config(m)->task == RECUR_TASK_TAG && recur_model_get_config(m)->loss == RECUR_LOSS_NLL);
    recur_model_free(m);
    recur_model_config_default(&c);
    recur_model_config_task(&c, RECUR_TASK_REGRESS);
    c.loss = RECUR_LOSS_NLL;
    CHECK(recur_model_create(&c, v, NULL, 0, &m, &err) == RECUR_ERR_ARG && strstr(err.message, "MSE or Huber"));
    c.loss = RECUR_LOSS_HUBER;
    c.huber_delta = -1;
    CHECK(recur_model_create(&c, v, NULL, 0, &m, &err) == RECUR_ERR_ARG);
    c.huber_delta = 0;
    CHECK_OK(recur_model_create(&c, v, NULL, 0, &m, &err), &err);
    CHECK(m && recur_model_get_config(m)->huber_delta == 1.0f && recur_model_output_size(m) == 1);
    recur_model_free(m);
    CHECK(recur_model_create(&c, v, class_names, 3, &m, &err) == RECUR_ERR_ARG && strstr(err.message, "no labels"));
    recur_model_config_default(&c);
    recur_model_config_task(&c, RECUR_TASK_GENERATE);
    c.input = RECUR_INPUT_DENSE;
    c.input_size = 4;
    CHECK(recur_model_create(&c, NULL, class_names, 3, &m, &err) == RECUR_ERR_ARG);
    recur_model_config_default(&c);
    c.input = RECUR_INPUT_DENSE;
    c.input_size = 0;
    CHECK(recur_model_create(&c, NULL, class_names, 3, &m, &err) == RECUR_ERR_ARG);
    c.input = RECUR_INPUT_TOKENS;
    CHECK(recur_model_create(&c, NULL, class_names, 3, &m, &err) == RECUR_ERR_ARG && strstr(err.message, "vocabulary"));
    recur_vocab_free(v);
    CHECK(recur_task_parse("tag") == RECUR_TASK_TAG && recur_task_parse("x") == -1);
    CHECK(strcmp(recur_task_name(RECUR_TASK_REGRESS), "regress") == 0);
}

/* Batches that lack what the model reads, or carry bad values. */
static void bad_batches_are_refused(void)
{
    data d;
    make_data(&d, NSEQ, 30, 1);
    recur_model *m = make_model(RECUR_TASK_REGRESS, 1, RECUR_CELL_GRU, 1, 0, 1, RECUR_LOSS_MSE);
    recur_model *tg = make_model(RECUR_TASK_TAG, 1, RECUR_CELL_GRU, 1, 0, 1, 0);
    if (!m || !tg) return;
    recur_trainer *t = make_trainer(m, 1), *tt = make_trainer(tg, 1);
    recur_error err;
    float loss;
    recur_batch b = d.b;
    b.targets = NULL;
    CHECK(recur_trainer_step(t, &b, &loss, &err) == RECUR_ERR_ARG && strstr(err.message, "targets"));
    b = d.b;
    b.features = NULL;
    CHECK(recur_trainer_step(t, &b, &loss, &err) == RECUR_ERR_ARG && strstr(err.message, "features"));
    d.features[5] = INFINITY;
    CHECK(recur_trainer_step(t, &d.b, &loss, &err) == RECUR_ERR_ARG && strstr(err.message, "step 1"));
    d.features[5] = 0;
    d.targets[3] = NAN;
    CHECK(recur_trainer_step(t, &d.b, &loss, &err) == RECUR_ERR_ARG && strstr(err.message, "target"));
    b = d.b;
    b.step_labels = NULL;
    CHECK(recur_trainer_step(tt, &b, &loss, &err) == RECUR_ERR_ARG && strstr(err.message, "step labels"));
    d.step_labels[2] = NCLS;
    CHECK(recur_trainer_step(tt, &d.b, &loss, &err) == RECUR_ERR_ARG && strstr(err.message, "label 3"));
    recur_runner *r = NULL;
    CHECK_OK(recur_runner_create(m, 2, &r, &err), &err);
    float out[64];
    CHECK(recur_runner_predict(r, &d.b, out, &err) == RECUR_ERR_ARG); /* 4 > max_batch */
    CHECK(recur_runner_step(r, 2, out, &err) == RECUR_ERR_ARG);        /* before reset */
    CHECK_OK(recur_runner_reset(r, 0, &err), &err);
    CHECK(recur_runner_step(r, 2, out, &err) == RECUR_ERR_UNSUPPORTED);
    float x[F] = {1, NAN, 0};
    CHECK(recur_runner_step_features(r, x, out, &err) == RECUR_ERR_ARG);
    CHECK(recur_runner_classify_ids(r, d.tokens, d.offsets, 2, out, &err) == RECUR_ERR_UNSUPPORTED);
    recur_runner_free(r);
    recur_trainer_free(t);
    recur_trainer_free(tt);
    recur_model_free(m);
    recur_model_free(tg);
}

/* A dense regressor learns the sum of its inputs' first feature. */
static void regression_learns(void)
{
    recur_model_config c;
    recur_model_config_default(&c);
    recur_model_config_task(&c, RECUR_TASK_REGRESS);
    c.input = RECUR_INPUT_DENSE;
    c.input_size = 2;
    c.hidden = 16;
    c.cell = RECUR_CELL_GRU;
    recur_model *m = NULL;
    recur_error err;
    CHECK_OK(recur_model_create(&c, NULL, NULL, 0, &m, &err), &err);
    if (!m) return;
    enum { N = 64, L = 5 };
    float x[N * L * 2], y[N];
    int32_t off[N + 1];
    recur_rng r;
    recur_rng_seed(&r, 3);
    off[0] = 0;
    for (int i = 0; i < N; i++) {
        int n = 1 + i % L;
        off[i + 1] = off[i] + n;
        y[i] = 0;
        for (int k = off[i]; k < off[i + 1]; k++) {
            x[2 * k] = recur_rng_uniform(&r);
            x[2 * k + 1] = 10.0f + 5.0f * recur_rng_uniform(&r); /* noise, far from 0 */
            y[i] += x[2 * k];
        }
    }
    recur_batch b = {.n = N, .offsets = off, .features = x, .targets = y};
    CHECK_OK(recur_model_fit_input_norm(m, &b, NULL, 0, &err), &err);
    recur_train_config tc;
    recur_train_config_default(&tc);
    tc.lr = 1e-2f;
    recur_trainer *t = NULL;
    CHECK_OK(recur_trainer_create(m, &tc, &t, &err), &err);
    float first = 0, loss = 0;
    for (int s = 0; s < 300 && t; s++) {
        CHECK_OK(recur_trainer_step(t, &b, &loss, &err), &err);
        if (s == 0) first = loss;
    }
    CHECK_MSG(loss < 0.05f * first, "loss %g after 300 steps, %g at the first", (double)loss, (double)first);
    recur_runner *run = NULL;
    CHECK_OK(recur_runner_create(m, N, &run, &err), &err);
    float pred[N];
    CHECK_OK(recur_runner_predict(run, &b, pred, &err), &err);
    recur_regress_metrics rm;
    CHECK_OK(recur_regress_metrics_init(&rm, 1, &err), &err);
    recur_regress_metrics_add(&rm, pred, y, N);
    CHECK(recur_regress_metrics_r2(&rm) > 0.9);
    CHECK_NEAR(recur_regress_metrics_mse(&rm), loss, 0.05 * loss + 1e-4);
    recur_regress_metrics_free(&rm);
    recur_runner_free(run);
    recur_trainer_free(t);
    recur_model_free(m);
}

/* Version 2 files hold the task, the input kind and the statistics. */
static void model_file_v2_round_trip(void)
{
    data d;
    make_data(&d, NSEQ, 40, 1);
    recur_model *ms[3] = {make_model(RECUR_TASK_TAG, 1, RECUR_CELL_LSTM, 2, 1, 1, 0),
                          make_model(RECUR_TASK_REGRESS, 1, RECUR_CELL_GRU, 1, 0, 1, RECUR_LOSS_HUBER),
                          make_model(RECUR_TASK_TAG, 0, RECUR_CELL_RNN_TANH, 1, 0, 1, 0)};
    for (int i = 0; i < 3; i++) {
        recur_model *m = ms[i], *back = NULL;
        if (!m) continue;
        char path[600];
        snprintf(path, sizeof path, "%s/v2_%d.safetensors", test_tmpdir(), i);
        recur_error err;
        CHECK_OK(recur_model_save(m, path, &err), &err);
        CHECK_OK(recur_model_load(path, &back, &err), &err);
        if (!back) continue;
        const recur_model_config *a = recur_model_get_config(m), *b = recur_model_get_config(back);
        CHECK(a->task == b->task && a->input == b->input && a->input_size == b->input_size && a->head == b->head &&
              a->target == b->target && a->outputs == b->outputs && a->loss == b->loss &&
              a->huber_delta == b->huber_delta);
        CHECK((recur_model_vocab(back) != NULL) == (a->input == RECUR_INPUT_TOKENS));
        if (a->input == RECUR_INPUT_DENSE)
            CHECK(memcmp(recur_model_input_std(m), recur_model_input_std(back), F * sizeof(float)) == 0 &&
                  memcmp(recur_model_input_mean(m), recur_model_input_mean(back), F * sizeof(float)) == 0);
        recur_runner *r1 = NULL, *r2 = NULL;
        CHECK_OK(recur_runner_create(m, 8, &r1, &err), &err);
        CHECK_OK(recur_runner_create(back, 8, &r2, &err), &err);
        float y1[64], y2[64];
        CHECK_OK(recur_runner_predict(r1, &d.b, y1, &err), &err);
        CHECK_OK(recur_runner_predict(r2, &d.b, y2, &err), &err);
        CHECK(memcmp(y1, y2, recur_runner_rows(r1, &d.b) * recur_model_output_size(m) * sizeof(float)) == 0);
        recur_runner_free(r1);
        recur_runner_free(r2);
        /* A checkpoint of a dense model resumes with its statistics. */
        recur_trainer *t = make_trainer(m, 1), *t2 = make_trainer(back, 1);
        float loss;
        CHECK_OK(recur_trainer_step(t, &d.b, &loss, &err), &err);
        snprintf(path, sizeof path, "%s/v2_%d.ckpt", test_tmpdir(), i);
        CHECK_OK(recur_trainer_save(t, path, &err), &err);
        CHECK_OK(recur_trainer_load(t2, path, &err), &err);
        recur_trainer_free(t);
        recur_trainer_free(t2);
        recur_model_free(back);
    }
    /* A file whose task disagrees with its head and target. */
    recur_model *m = ms[0];
    if (m) {
        char path[600];
        snprintf(path, sizeof path, "%s/v2_0.safetensors", test_tmpdir());
        FILE *f = fopen(path, "rb");
        char *buf = malloc(1 << 16);
        size_t n = f ? fread(buf, 1, 1 << 16, f) : 0;
        if (f) fclose(f);
        char *t = NULL;
        for (size_t k = 0; k + 12 <= n && !t; k++)
            if (memcmp(buf + k, "\"task\":\"tag\"", 12) == 0) t = buf + k;
        CHECK(t != NULL);
        if (t) memcpy(t, "\"task\":\"reg\"", 12);
        f = fopen(path, "wb");
        if (f) {
            fwrite(buf, 1, n, f);
            fclose(f);
        }
        recur_model *back = NULL;
        recur_error err;
        CHECK(recur_model_load(path, &back, &err) == RECUR_ERR_FORMAT && strstr(err.message, "\"task\""));
        free(buf);
    }
    for (int i = 0; i < 3; i++) recur_model_free(ms[i]);
}

/* Files written by recur 0.2 (format version 1, committed in
 * tests/fixtures) still load and give what they gave then. */
static void model_file_v1_loads(void)
{
    const char *names[2] = {"tests/fixtures/model_v1_classify.safetensors", "tests/fixtures/model_v1_generate.safetensors"};
    for (int i = 0; i < 2; i++) {
        recur_model *m = NULL;
        recur_error err;
        CHECK_OK(recur_model_load(names[i], &m, &err), &err);
        if (!m) continue;
        const recur_model_config *c = recur_model_get_config(m);
        CHECK(c->task == (i ? RECUR_TASK_GENERATE : RECUR_TASK_CLASSIFY) && c->input == RECUR_INPUT_TOKENS &&
              c->head == (i ? RECUR_HEAD_STEPS : RECUR_HEAD_FINAL) && c->loss == RECUR_LOSS_NLL);
        CHECK(c->hidden == 5 && c->layers == 2 && c->bidirectional == !i);
        const char *want = recur_model_get_meta(m, "expect_logprobs");
        CHECK(want != NULL);
        recur_runner *r = NULL;
        CHECK_OK(recur_runner_create(m, 4, &r, &err), &err);
        float lp[32];
        if (i == 0) {
            const char *t[] = {"abc", "\xc3\xa9" "a"};
            CHECK_OK(recur_runner_classify(r, t, NULL, 2, lp, &err), &err);
        } else {
            CHECK_OK(recur_runner_reset(r, 1, &err), &err);
            CHECK_OK(recur_runner_step(r, RECUR_TOKEN_BOUNDARY, lp, &err), &err);
            CHECK_OK(recur_runner_step(r, 3, lp, &err), &err);
        }
        for (int k = 0; want && k < 6; k++) {
            CHECK_NEAR(lp[k], strtod(want, NULL), 1e-6);
            want = strchr(want, ',');
            if (want) want++;
        }
        recur_runner_free(r);
        recur_model_free(m);
    }
}

static void tag_metrics_count(void)
{
    recur_tag_metrics tm;
    recur_error err;
    CHECK_OK(recur_tag_metrics_init(&tm, 3, &err), &err);
    /* Two sequences: [0 1 2] predicted [0 1 1]; [2 -1] predicted [2 x]. */
    int32_t off[3] = {0, 3, 5}, truth[5] = {0, 1, 2, 2, -1};
    float lp[5 * 3] = {0, -9, -9, -9, 0, -9, -9, 0, -1, -9, -9, 0, 0, -9, -9};
    recur_batch b = {.n = 2, .offsets = off, .step_labels = truth};
    CHECK_OK(recur_tag_metrics_add(&tm, &b, lp, &err), &err);
    CHECK(tm.steps == 4 && tm.correct == 3 && tm.sequences == 2 && tm.exact == 1);
    CHECK_NEAR(recur_tag_metrics_accuracy(&tm), 0.75, 1e-12);
    CHECK_NEAR(recur_tag_metrics_exact_match(&tm), 0.5, 1e-12);
    double p, r, f;
    recur_tag_metrics_class(&tm, 1, &p, &r, &f); /* predicted twice, right once */
    CHECK_NEAR(p, 0.5, 1e-12);
    CHECK_NEAR(r, 1.0, 1e-12);
    CHECK_NEAR(f, 2.0 / 3, 1e-12);
    recur_tag_metrics_class(&tm, 2, &p, &r, &f);
    CHECK_NEAR(p, 1.0, 1e-12);
    CHECK_NEAR(r, 0.5, 1e-12);
    truth[0] = 3;
    CHECK(recur_tag_metrics_add(&tm, &b, lp, &err) == RECUR_ERR_ARG && tm.steps == 4);
    recur_tag_metrics_reset(&tm);
    CHECK(tm.steps == 0 && recur_tag_metrics_accuracy(&tm) == 0);
    recur_tag_metrics_free(&tm);
}

static void regress_metrics_count(void)
{
    recur_regress_metrics rm;
    recur_error err;
    CHECK_OK(recur_regress_metrics_init(&rm, 2, &err), &err);
    /* Output 0: targets 1,2,3 predicted 1,2,4; output 1: constant 5,
     * predicted exactly. */
    float t[6] = {1, 5, 2, 5, 3, 5}, p[6] = {1, 5, 2, 5, 4, 5};
    recur_regress_metrics_add(&rm, p, t, 2);
    recur_regress_metrics_add(&rm, p + 4, t + 4, 1);
    CHECK_NEAR(recur_regress_metrics_mse(&rm), 1.0 / 6, 1e-12);
    CHECK_NEAR(recur_regress_metrics_mae(&rm), 1.0 / 6, 1e-12);
    /* R² of output 0: 1 - 1/2; of output 1: 1 (constant, exact). */
    CHECK_NEAR(recur_regress_metrics_r2(&rm), (0.5 + 1.0) / 2, 1e-12);
    recur_regress_metrics_free(&rm);
    CHECK(recur_regress_metrics_init(&rm, 0, &err) == RECUR_ERR_ARG);
    recur_regress_metrics_free(&rm);
}

/* ------------------------------------------------------------------------ */
/* PyTorch parity (fixtures task_*.safetensors of make_fixtures.py)         */
/* ------------------------------------------------------------------------ */

static const float *fx_tensor(const st_file *f, const char *name, size_t *n)
{
    const st_tensor *t = st_find(f, name);
    if (!t) return NULL;
    if (n) *n = t->nbytes / 4;
    return (const float *)t->data;
}

static int fx_int(const st_file *f, const char *key)
{
    const char *v = st_meta(f, key);
    return v ? atoi(v) : -1;
}

/* Largest |a - b| / (1 + |b|). */
static double rel_err(const float *a, const float *b, size_t n)
{
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / (1.0 + fabs(b[i]));
        if (d > e) e = d;
    }
    return e;
}

static void task_parity(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/%s.safetensors", name);
    st_file *f = NULL;
    recur_error err;
    CHECK_OK(st_read(path, &f, &err), &err);
    if (!f) return;
    recur_model_config c;
    recur_model_config_default(&c);
    const char *head = st_meta(f, "head"), *target = st_meta(f, "target"), *loss = st_meta(f, "loss");
    int dense = strcmp(st_meta(f, "input"), "dense") == 0, real = strcmp(target, "real") == 0;
    c.cell = (recur_cell)recur_cell_parse(st_meta(f, "cell"));
    c.hidden = fx_int(f, "hidden");
    c.layers = fx_int(f, "layers");
    c.bidirectional = fx_int(f, "bidirectional");
    c.embed = fx_int(f, "embed");
    c.input = dense ? RECUR_INPUT_DENSE : RECUR_INPUT_TOKENS;
    c.input_size = fx_int(f, "input_size");
    c.head = strcmp(head, "steps") == 0 ? RECUR_HEAD_STEPS : RECUR_HEAD_FINAL;
    c.target = real ? RECUR_TARGET_REAL : RECUR_TARGET_CLASS;
    c.outputs = fx_int(f, "outputs");
    c.loss = strcmp(loss, "huber") == 0 ? RECUR_LOSS_HUBER : strcmp(loss, "mse") == 0 ? RECUR_LOSS_MSE : RECUR_LOSS_NLL;
    c.huber_delta = (float)atof(st_meta(f, "huber_delta"));
    recur_vocab *v = dense ? NULL : small_vocab();
    recur_model *m = NULL;
    int nl = real ? 0 : 3;
    CHECK_OK(recur_model_create(&c, v, nl ? class_names : NULL, nl, &m, &err), &err);
    recur_vocab_free(v);
    if (!m) {
        st_free(f);
        return;
    }
    for (int k = 0; k < recur_model_param_count(m); k++) {
        recur_param p = recur_model_param(m, k);
        size_t n;
        const float *w = fx_tensor(f, p.name, &n);
        CHECK_MSG(w && n == (size_t)p.shape[0] * (p.ndim == 2 ? p.shape[1] : 1), "%s: %s", name, p.name);
        if (w) memcpy(p.data, w, n * sizeof(float));
    }
    if (dense)
        CHECK_OK(recur_model_set_input_norm(m, fx_tensor(f, "input_norm.mean", NULL), fx_tensor(f, "input_norm.std", NULL),
                                            &err), &err);
    size_t no = 0;
    const float *want = fx_tensor(f, "expect.outputs", &no);
    const st_tensor *to = st_find(f, "input.offsets"), *tt = st_find(f, "input.tokens");
    const st_tensor *tl = st_find(f, "input.labels"), *ts = st_find(f, "input.step_labels");
    recur_batch b = {.n = (int)(to->nbytes / 4) - 1, .offsets = (const int32_t *)to->data};
    b.tokens = tt ? (const int32_t *)tt->data : NULL;
    b.labels = tl ? (const int32_t *)tl->data : NULL;
    b.step_labels = ts ? (const int32_t *)ts->data : NULL;
    b.features = fx_tensor(f, "input.features", NULL);
    b.targets = fx_tensor(f, "input.targets", NULL);
    recur_train_config tc;
    recur_train_config_default(&tc);
    recur_trainer *t = NULL;
    CHECK_OK(recur_trainer_create(m, &tc, &t, &err), &err);
    float lv = 0;
    CHECK_OK(recur_trainer_grad(t, &b, &lv, &err), &err);
    double worst = rel_err(&lv, fx_tensor(f, "expect.loss", NULL), 1);
    for (int k = 0; k < recur_model_param_count(m); k++) {
        recur_param p = recur_model_param(m, k);
        char g[96];
        snprintf(g, sizeof g, "expect.grad.%s", p.name);
        size_t n;
        const float *e = fx_tensor(f, g, &n);
        CHECK_MSG(e != NULL, "%s lacks %s", name, g);
        if (e) {
            double d = rel_err(p.grad, e, n);
            if (d > worst) worst = d;
        }
    }
    recur_runner *r = NULL;
    CHECK_OK(recur_runner_create(m, 8, &r, &err), &err);
    float *out = calloc(no, sizeof *out);
    CHECK(recur_runner_rows(r, &b) * recur_model_output_size(m) == no);
    CHECK_OK(recur_runner_predict(r, &b, out, &err), &err);
    double d = rel_err(out, want, no);
    if (d > worst) worst = d;
    /* The step API of one-way models: row by row. */
    if (!c.bidirectional) {
        int W = recur_model_output_size(m);
        float step[16];
        for (int i = 0; i < b.n; i++) {
            CHECK_OK(recur_runner_reset(r, 0, &err), &err);
            for (int k = b.offsets[i]; k < b.offsets[i + 1]; k++) {
                if (dense) CHECK_OK(recur_runner_step_features(r, b.features + (size_t)k * c.input_size, step, &err), &err);
                else CHECK_OK(recur_runner_step(r, b.tokens[k], step, &err), &err);
                const float *row = c.head == RECUR_HEAD_STEPS ? want + (size_t)k * W
                                   : k + 1 == b.offsets[i + 1] ? want + (size_t)i * W : NULL;
                if (row) {
                    d = rel_err(step, row, (size_t)W);
                    if (d > worst) worst = d;
                }
            }
        }
    }
    CHECK_MSG(worst < 2e-5, "%s: error %.3g", name, worst);
    fprintf(stderr, "    %s: largest relative error %.2e\n", name, worst);
    free(out);
    recur_runner_free(r);
    recur_trainer_free(t);
    recur_model_free(m);
    st_free(f);
}

#define TP(fn) \
    static void fn(void) { task_parity(#fn); }
TP(task_tag_lstm_dense_bi2)
TP(task_tag_gru_tokens_bi)
TP(task_regress_gru_dense_final_bi2)
TP(task_regress_lstm_dense_steps_l2)
TP(task_regress_rnn_tanh_dense_steps_huber_bi2)
TP(task_classify_lstm_dense)

/* recur's files of every new kind load into PyTorch (load_state_dict,
 * strict) and give recur's outputs. */
static void pytorch_loads_task_models(void)
{
    if (system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
        test_skip("python3-torch is not installed");
        return;
    }
    data d;
    struct { recur_task task; int dense, steps, bi; recur_loss loss; } cases[] = {
        /* Each run imports torch (seconds): three kinds cover the new
         * paths of torch_check.py; the fixtures above cover the rest. */
        {RECUR_TASK_TAG, 1, 1, 1, 0}, {RECUR_TASK_TAG, 0, 1, 0, 0}, {RECUR_TASK_REGRESS, 1, 0, 0, RECUR_LOSS_MSE},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        make_data(&d, NSEQ, 50 + k, cases[k].steps);
        recur_model *m = make_model(cases[k].task, cases[k].dense, RECUR_CELL_GRU, 2, cases[k].bi, cases[k].steps,
                                    cases[k].loss);
        if (!m) continue;
        recur_error err;
        recur_runner *r = NULL;
        CHECK_OK(recur_runner_create(m, 8, &r, &err), &err);
        size_t rows = recur_runner_rows(r, &d.b);
        int W = recur_model_output_size(m);
        float out[128 * 4];
        CHECK_OK(recur_runner_predict(r, &d.b, out, &err), &err);
        char model[600], expect[600], cmd[1400];
        snprintf(model, sizeof model, "%s/torch_task.safetensors", test_tmpdir());
        snprintf(expect, sizeof expect, "%s/torch_task_expect.safetensors", test_tmpdir());
        CHECK_OK(recur_model_save(m, model, &err), &err);
        int S = d.offsets[NSEQ];
        st_out o[3] = {
            {"input.offsets", ST_I32, 1, {NSEQ + 1}, d.offsets},
            {"expect.outputs", ST_F32, 2, {(int64_t)rows, W}, out},
            cases[k].dense ? (st_out){"input.features", ST_F32, 2, {S, F}, d.features}
                           : (st_out){"input.tokens", ST_I32, 1, {S}, d.tokens},
        };
        CHECK_OK(st_write(expect, o, 3, NULL, 0, &err), &err);
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/parity/torch_check.py '%s' '%s' >&2", model, expect);
        CHECK_MSG(system(cmd) == 0, "torch_check disagrees (case %zu)", k);
        recur_runner_free(r);
        recur_model_free(m);
    }
}

const test_case tests_task[] = {
    {"gradcheck_tag_dense_bi", gradcheck_tag_dense_bi},
    {"gradcheck_tag_tokens_bi", gradcheck_tag_tokens_bi},
    {"gradcheck_regress_final", gradcheck_regress_final},
    {"gradcheck_regress_steps", gradcheck_regress_steps},
    {"gradcheck_regress_huber", gradcheck_regress_huber},
    {"gradcheck_regress_tokens", gradcheck_regress_tokens},
    {"loss_terms_are_counted", loss_terms_are_counted},
    {"threads_split_new_fields", threads_split_new_fields},
    {"runner_agrees_with_trainer", runner_agrees_with_trainer},
    {"runner_tags_texts", runner_tags_texts},
    {"input_norm_is_fitted", input_norm_is_fitted},
    {"configurations_are_checked", configurations_are_checked},
    {"bad_batches_are_refused", bad_batches_are_refused},
    {"regression_learns", regression_learns},
    {"model_file_v2_round_trip", model_file_v2_round_trip},
    {"model_file_v1_loads", model_file_v1_loads},
    {"tag_metrics_count", tag_metrics_count},
    {"regress_metrics_count", regress_metrics_count},
    {"task_tag_lstm_dense_bi2", task_tag_lstm_dense_bi2},
    {"task_tag_gru_tokens_bi", task_tag_gru_tokens_bi},
    {"task_regress_gru_dense_final_bi2", task_regress_gru_dense_final_bi2},
    {"task_regress_lstm_dense_steps_l2", task_regress_lstm_dense_steps_l2},
    {"task_regress_rnn_tanh_dense_steps_huber_bi2", task_regress_rnn_tanh_dense_steps_huber_bi2},
    {"task_classify_lstm_dense", task_classify_lstm_dense},
    {"pytorch_loads_task_models", pytorch_loads_task_models},
    {NULL, NULL},
};
