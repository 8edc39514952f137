/*
 * Whole models: training on a toy task, model files (round trip, damaged
 * files), checkpoints that resume bit for bit, the step API, and (when
 * PyTorch is importable) a recur model loaded into PyTorch.
 */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/rng.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "test.h"

/* Symbols a..f; a sequence's class is its first symbol (0..2): the rest is
 * noise, so the model must carry the first step through the sequence. */
enum { NSYM = 6, NCLS = 3, SEQ = 6, BATCH = 32 };

static recur_vocab *toy_vocab(void)
{
    recur_vocab *v = NULL;
    recur_error err;
    const char *syms[2 + NSYM] = {"", "", "a", "b", "c", "d", "e", "f"};
    CHECK_OK(recur_vocab_from_symbols(RECUR_TEXT_UNICODE, syms, 2 + NSYM, &v, &err), &err);
    return v;
}

/* A vocabulary of n symbols (U+0100 onwards): bigger than a batch's steps,
 * which makes the trainer embed steps instead of building tables. */
static recur_vocab *big_vocab(int n)
{
    const char **syms = calloc((size_t)n, sizeof *syms);
    char(*buf)[4] = calloc((size_t)n, sizeof *buf);
    for (int i = 2; i < n; i++) {
        int cp = 0x100 + i;
        buf[i][0] = (char)(0xC0 | (cp >> 6));
        buf[i][1] = (char)(0x80 | (cp & 0x3F));
        syms[i] = buf[i];
    }
    recur_vocab *v = NULL;
    recur_error err;
    CHECK_OK(recur_vocab_from_symbols(RECUR_TEXT_UNICODE, syms, n, &v, &err), &err);
    free(syms);
    free(buf);
    return v;
}

static recur_model *toy_model_vocab(recur_task task, recur_cell cell, const recur_vocab *v)
{
    recur_model_config cfg;
    recur_model_config_default(&cfg);
    cfg.task = task;
    cfg.cell = cell;
    cfg.hidden = 8;
    cfg.embed = 5;
    cfg.label_embed = 3;
    const char *labels[NCLS] = {"first-a", "first-b", "first-c"};
    recur_model *m = NULL;
    recur_error err;
    CHECK_OK(recur_model_create(&cfg, v, labels, NCLS, &m, &err), &err);
    return m;
}

static recur_model *toy_model(recur_task task, recur_cell cell, int bidir)
{
    recur_model_config cfg;
    recur_model_config_default(&cfg);
    cfg.task = task;
    cfg.cell = cell;
    cfg.hidden = 16;
    cfg.embed = 8;
    cfg.label_embed = 4;
    cfg.bidirectional = bidir;
    cfg.layers = bidir ? 2 : 1;
    cfg.dropout = bidir ? 0.1f : 0.0f;
    const char *labels[NCLS] = {"first-a", "first-b", "first-c"};
    recur_vocab *v = toy_vocab();
    recur_model *m = NULL;
    recur_error err;
    if (v) CHECK_OK(recur_model_create(&cfg, v, labels, NCLS, &m, &err), &err);
    recur_vocab_free(v);
    return m;
}

typedef struct toy_batch {
    int32_t tokens[BATCH * SEQ], offsets[BATCH + 1], labels[BATCH];
    recur_batch b;
} toy_batch;

static void make_batch(toy_batch *tb, recur_rng *r)
{
    tb->offsets[0] = 0;
    for (int i = 0; i < BATCH; i++) {
        int len = 1 + (int)recur_rng_below(r, SEQ);
        int cls = (int)recur_rng_below(r, NCLS);
        for (int t = 0; t < len; t++)
            tb->tokens[tb->offsets[i] + t] = 2 + (t == 0 ? cls : (int)recur_rng_below(r, NSYM));
        tb->offsets[i + 1] = tb->offsets[i] + len;
        tb->labels[i] = cls;
    }
    tb->b = (recur_batch){.n = BATCH, .tokens = tb->tokens, .offsets = tb->offsets, .labels = tb->labels};
}

static float train_steps(recur_trainer *t, int steps, uint64_t seed)
{
    recur_rng r;
    recur_rng_seed(&r, seed);
    toy_batch tb;
    float loss = 0, avg = 0;
    recur_error err;
    for (int s = 0; s < steps; s++) {
        make_batch(&tb, &r);
        CHECK_OK(recur_trainer_step(t, &tb.b, &loss, &err), &err);
        avg = s == 0 ? loss : 0.9f * avg + 0.1f * loss;
    }
    return avg;
}

/* A trainer that evaluates before its first step must still train (its
 * workspace was once made for inference only: ASan caught the writes). */
static void evaluate_before_first_step(void)
{
    recur_model *m = toy_model(RECUR_TASK_CLASSIFY, RECUR_CELL_LSTM, 0);
    recur_train_config tc;
    recur_train_config_default(&tc);
    recur_trainer *t = NULL;
    recur_error err;
    CHECK_OK(recur_trainer_create(m, &tc, &t, &err), &err);
    recur_rng r;
    recur_rng_seed(&r, 9);
    toy_batch tb;
    make_batch(&tb, &r);
    double sum = 0;
    size_t terms = 0, correct = 0;
    CHECK_OK(recur_trainer_eval(t, &tb.b, &sum, &terms, &correct, &err), &err);
    CHECK(terms == BATCH && sum > 0);
    float loss = 0;
    CHECK_OK(recur_trainer_step(t, &tb.b, &loss, &err), &err);
    CHECK_MSG(fabs(loss - sum / BATCH) < 1e-4, "step loss %g, eval mean %g", (double)loss, sum / BATCH);
    recur_trainer_free(t);
    recur_model_free(m);
}

static void toy_training_reaches_low_loss(void)
{
    recur_cell cells[3] = {RECUR_CELL_LSTM, RECUR_CELL_GRU, RECUR_CELL_RNN_TANH};
    for (int c = 0; c < 3; c++) {
        recur_model *m = toy_model(RECUR_TASK_CLASSIFY, cells[c], 0);
        recur_train_config tc;
        recur_train_config_default(&tc);
        tc.lr = 0.01f;
        recur_trainer *t = NULL;
        recur_error err;
        CHECK_OK(recur_trainer_create(m, &tc, &t, &err), &err);
        float first = train_steps(t, 1, 5);
        float last = train_steps(t, 300, 6);
        /* Chance is ln 3 = 1.10; the task is easy for every cell at T <= 6. */
        CHECK_MSG(first > 0.9f && last < 0.05f, "%s: loss %.3f -> %.3f", recur_cell_name(cells[c]),
                  (double)first, (double)last);
        recur_trainer_free(t);
        recur_model_free(m);
    }
}

static void path_in_tmp(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", test_tmpdir(), name);
}

static void round_trip_keeps_predictions(void)
{
    recur_task tasks[2] = {RECUR_TASK_CLASSIFY, RECUR_TASK_GENERATE};
    for (int k = 0; k < 2; k++) {
        recur_model *m = toy_model(tasks[k], k ? RECUR_CELL_GRU : RECUR_CELL_LSTM, k == 0);
        recur_error err;
        char path[512];
        path_in_tmp(path, sizeof path, "round.safetensors");
        CHECK_OK(recur_model_set_meta(m, "epoch", "7", &err), &err);
        CHECK_OK(recur_model_save(m, path, &err), &err);
        recur_model *back = NULL;
        CHECK_OK(recur_model_load(path, &back, &err), &err);
        if (!back) {
            recur_model_free(m);
            return;
        }
        CHECK(recur_model_param_count(back) == recur_model_param_count(m));
        for (int i = 0; i < recur_model_param_count(m); i++) {
            recur_param a = recur_model_param(m, i), b = recur_model_param(back, i);
            size_t n = (size_t)a.shape[0] * (a.ndim == 2 ? a.shape[1] : 1);
            CHECK(strcmp(a.name, b.name) == 0 && memcmp(a.data, b.data, n * sizeof(float)) == 0);
        }
        CHECK(strcmp(recur_model_get_meta(back, "epoch"), "7") == 0);
        CHECK(strcmp(recur_model_label_name(back, 2), "first-c") == 0);
        CHECK(recur_vocab_size(recur_model_vocab(back)) == 2 + NSYM);
        recur_runner *r1 = NULL, *r2 = NULL;
        CHECK_OK(recur_runner_create(m, 4, &r1, &err), &err);
        CHECK_OK(recur_runner_create(back, 4, &r2, &err), &err);
        float a[16], b[16];
        if (k == 0) {
            const char *texts[2] = {"abcab", "c"};
            CHECK_OK(recur_runner_classify(r1, texts, NULL, 2, a, &err), &err);
            CHECK_OK(recur_runner_classify(r2, texts, NULL, 2, b, &err), &err);
            CHECK(memcmp(a, b, 2 * NCLS * sizeof(float)) == 0);
        } else {
            CHECK_OK(recur_runner_reset(r1, 1, &err), &err);
            CHECK_OK(recur_runner_reset(r2, 1, &err), &err);
            CHECK_OK(recur_runner_step(r1, RECUR_TOKEN_BOUNDARY, a, &err), &err);
            CHECK_OK(recur_runner_step(r2, RECUR_TOKEN_BOUNDARY, b, &err), &err);
            CHECK(memcmp(a, b, (2 + NSYM) * sizeof(float)) == 0);
        }
        recur_runner_free(r1);
        recur_runner_free(r2);
        recur_model_free(back);
        recur_model_free(m);
    }
}

static long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

/* Every truncation of a model file is refused with a clear error. */
static void damaged_files_are_refused(void)
{
    recur_model *m = toy_model(RECUR_TASK_CLASSIFY, RECUR_CELL_GRU, 0);
    recur_error err;
    char path[512], bad[512];
    path_in_tmp(path, sizeof path, "good.safetensors");
    path_in_tmp(bad, sizeof bad, "bad.safetensors");
    CHECK_OK(recur_model_save(m, path, &err), &err);
    long size = file_size(path);
    FILE *f = fopen(path, "rb");
    unsigned char *bytes = malloc((size_t)size);
    CHECK(f && fread(bytes, 1, (size_t)size, f) == (size_t)size);
    if (f) fclose(f);
    int refused = 0, tried = 0;
    for (long cut = 0; cut < size; cut += cut < 200 ? 1 : 37, tried++) {
        FILE *o = fopen(bad, "wb");
        fwrite(bytes, 1, (size_t)cut, o);
        fclose(o);
        recur_model *x = NULL;
        recur_status s = recur_model_load(bad, &x, &err);
        refused += s == RECUR_ERR_FORMAT && x == NULL && strstr(err.message, "bad.safetensors") != NULL;
        recur_model_free(x);
    }
    CHECK_MSG(refused == tried, "%d of %d truncations refused", refused, tried);
    /* One flipped data byte: the checksum catches it. */
    bytes[size - 3] ^= 0x40;
    FILE *o = fopen(bad, "wb");
    fwrite(bytes, 1, (size_t)size, o);
    fclose(o);
    recur_model *x = NULL;
    CHECK(recur_model_load(bad, &x, &err) == RECUR_ERR_FORMAT && strstr(err.message, "checksum"));
    CHECK(recur_model_load("/nonexistent/model.safetensors", &x, &err) == RECUR_ERR_IO && x == NULL);
    free(bytes);
    recur_model_free(m);
}

/* Files that are valid safetensors but not a consistent model. */
static void inconsistent_models_are_refused(void)
{
    recur_error err;
    char path[512];
    path_in_tmp(path, sizeof path, "odd.safetensors");
    float w[12] = {0};
    st_out t = {"rnn.weight_ih_l0", ST_F32, 2, {4, 3}, w}; /* should be [3, 4] */
    const char *meta[] = {"format", "recur-model", "format_version", "1", "task", "classify",
                          "cell", "gru", "hidden", "1", "layers", "1", "bidirectional", "0",
                          "embed", "0", "label_embed", "0", "dropout", "0", "text_mode", "unicode",
                          "vocab", "[\"a\",\"b\"]", "labels", "[\"x\",\"y\"]"};
    CHECK_OK(st_write(path, &t, 1, meta, 13, &err), &err);
    recur_model *m = NULL;
    CHECK(recur_model_load(path, &m, &err) == RECUR_ERR_FORMAT && !m);
    CHECK_MSG(strstr(err.message, "rnn.weight_ih_l0") != NULL, "%s", err.message);
    meta[7] = "bogus";
    CHECK_OK(st_write(path, &t, 1, meta, 13, &err), &err);
    CHECK(recur_model_load(path, &m, &err) == RECUR_ERR_FORMAT && strstr(err.message, "cell"));
    meta[7] = "gru";
    meta[9] = "-4";
    CHECK_OK(st_write(path, &t, 1, meta, 13, &err), &err);
    CHECK(recur_model_load(path, &m, &err) == RECUR_ERR_FORMAT && strstr(err.message, "hidden"));
    meta[1] = "something-else";
    CHECK_OK(st_write(path, &t, 1, meta, 13, &err), &err);
    CHECK(recur_model_load(path, &m, &err) == RECUR_ERR_FORMAT && strstr(err.message, "not a recur model"));
}

/* Stopping after 10 steps and resuming from the checkpoint ends exactly
 * where 20 uninterrupted steps end (with dropout, so the RNG is saved). */
/* With one thread and with two (whose replicas draw their dropout streams
 * from the trainer's, which the checkpoint keeps). */
static void checkpoint_resumes_bit_for_bit(void)
{
    for (int threads = 1; threads <= 2; threads++) {
        recur_error err;
        recur_train_config tc;
        recur_train_config_default(&tc);
        tc.threads = threads;
        recur_model *a = toy_model(RECUR_TASK_CLASSIFY, RECUR_CELL_LSTM, 1);
        recur_model *b = toy_model(RECUR_TASK_CLASSIFY, RECUR_CELL_LSTM, 1);
        recur_trainer *ta = NULL, *tb = NULL;
        CHECK_OK(recur_trainer_create(a, &tc, &ta, &err), &err);
        train_steps(ta, 10, 1);
        char path[512];
        path_in_tmp(path, sizeof path, "ckpt.safetensors");
        CHECK_OK(recur_trainer_save(ta, path, &err), &err);
        train_steps(ta, 10, 2);
        CHECK_OK(recur_trainer_create(b, &tc, &tb, &err), &err);
        CHECK_OK(recur_trainer_load(tb, path, &err), &err);
        CHECK(recur_trainer_steps(tb) == 10);
        train_steps(tb, 10, 2);
        for (int i = 0; i < recur_model_param_count(a); i++) {
            recur_param pa = recur_model_param(a, i), pb = recur_model_param(b, i);
            size_t n = (size_t)pa.shape[0] * (pa.ndim == 2 ? pa.shape[1] : 1);
            CHECK_MSG(memcmp(pa.data, pb.data, n * sizeof(float)) == 0, "%d thread(s): %s differs", threads,
                      pa.name);
        }
        /* A plain model file is not a checkpoint. */
        CHECK_OK(recur_model_save(a, path, &err), &err);
        CHECK(recur_trainer_load(tb, path, &err) == RECUR_ERR_FORMAT);
        recur_trainer_free(ta);
        recur_trainer_free(tb);
        recur_model_free(a);
        recur_model_free(b);
    }
}

/* A generator learns a tiny language: "abc" for label 0, "fed" for 1. */
static void generator_learns_and_steps(void)
{
    recur_model *m = toy_model(RECUR_TASK_GENERATE, RECUR_CELL_GRU, 0);
    recur_error err;
    recur_train_config tc;
    recur_train_config_default(&tc);
    tc.lr = 0.02f;
    recur_trainer *t = NULL;
    CHECK_OK(recur_trainer_create(m, &tc, &t, &err), &err);
    int32_t tokens[6] = {2, 3, 4, 7, 6, 5}, offsets[3] = {0, 3, 6}, labels[2] = {0, 1};
    recur_batch b = {.n = 2, .tokens = tokens, .offsets = offsets, .labels = labels};
    float loss = 0;
    for (int s = 0; s < 200; s++) CHECK_OK(recur_trainer_step(t, &b, &loss, &err), &err);
    CHECK_MSG(loss < 0.05f, "loss %.3f", (double)loss);
    recur_runner *r = NULL;
    CHECK_OK(recur_runner_create(m, 1, &r, &err), &err);
    for (int lab = 0; lab < 2; lab++) {
        CHECK_OK(recur_runner_reset(r, lab, &err), &err);
        int32_t tok = RECUR_TOKEN_BOUNDARY;
        float lp[2 + NSYM];
        for (int k = 0; k < 4; k++) {
            CHECK_OK(recur_runner_step(r, tok, lp, &err), &err);
            int best = 0;
            for (int j = 1; j < 2 + NSYM; j++)
                if (lp[j] > lp[best]) best = j;
            int want = k < 3 ? tokens[offsets[lab] + k] : RECUR_TOKEN_BOUNDARY;
            CHECK_MSG(best == want, "label %d step %d: %d, want %d", lab, k, best, want);
            tok = best;
        }
    }
    CHECK(recur_runner_reset(r, 5, &err) == RECUR_ERR_ARG);
    CHECK(recur_runner_step(r, 99, NULL, &err) == RECUR_ERR_ARG);
    recur_runner_free(r);
    recur_trainer_free(t);
    recur_model_free(m);
}

/* Write a recur model and the inputs/outputs recur computes; PyTorch
 * loads the model with load_state_dict and must agree. */
static void pytorch_loads_recur_models(void)
{
    if (system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
        test_skip("python3-torch is not installed");
        return;
    }
    for (int k = 0; k < 3; k++) {
        recur_task task = k == 2 ? RECUR_TASK_GENERATE : RECUR_TASK_CLASSIFY;
        recur_model *m = toy_model(task, k == 0 ? RECUR_CELL_LSTM : RECUR_CELL_GRU, k == 1);
        recur_error err;
        recur_rng rr;
        recur_rng_seed(&rr, 4);
        toy_batch tb;
        make_batch(&tb, &rr);
        int n = 6, C = task == RECUR_TASK_GENERATE ? 2 + NSYM : NCLS;
        float lp[6 * (SEQ + 1) * (2 + NSYM)];
        int rows = 0;
        recur_runner *r = NULL;
        CHECK_OK(recur_runner_create(m, n, &r, &err), &err);
        if (task == RECUR_TASK_CLASSIFY) {
            CHECK_OK(recur_runner_classify_ids(r, tb.tokens, tb.offsets, n, lp, &err), &err);
            rows = n;
        } else {
            for (int i = 0; i < n; i++) {
                CHECK_OK(recur_runner_reset(r, tb.labels[i], &err), &err);
                for (int t = tb.offsets[i]; t <= tb.offsets[i + 1]; t++, rows++)
                    CHECK_OK(recur_runner_step(r, t == tb.offsets[i] ? RECUR_TOKEN_BOUNDARY : tb.tokens[t - 1],
                                               lp + (size_t)rows * C, &err), &err);
            }
        }
        char model[512], expect[512], cmd[1200];
        path_in_tmp(model, sizeof model, "torch_model.safetensors");
        path_in_tmp(expect, sizeof expect, "torch_expect.safetensors");
        CHECK_OK(recur_model_save(m, model, &err), &err);
        st_out o[4] = {
            {"input.tokens", ST_I32, 1, {tb.offsets[n]}, tb.tokens},
            {"input.offsets", ST_I32, 1, {n + 1}, tb.offsets},
            {"input.labels", ST_I32, 1, {n}, tb.labels},
            {"expect.logprobs", ST_F32, 2, {rows, C}, lp},
        };
        CHECK_OK(st_write(expect, o, 4, NULL, 0, &err), &err);
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/parity/torch_check.py '%s' '%s' >&2", model, expect);
        CHECK_MSG(system(cmd) == 0, "torch_check disagrees (model %d)", k);
        recur_runner_free(r);
        recur_model_free(m);
    }
}

/* Finite differences through a whole model: embedding, label embedding,
 * recurrent stack, linear head and loss, in both reductions. */
static void model_gradients_match_finite_differences(void)
{
    recur_task tasks[4] = {RECUR_TASK_CLASSIFY, RECUR_TASK_GENERATE, RECUR_TASK_CLASSIFY, RECUR_TASK_GENERATE};
    recur_vocab *big = big_vocab(300);
    for (int k = 0; k < 4; k++) {
        /* Unidirectional toy models have no dropout, which would differ
         * between the training pass and the evaluations. k >= 2: a large
         * vocabulary (embedded steps in training, tables in evaluation). */
        recur_model *m = k < 2 ? toy_model(tasks[k], k ? RECUR_CELL_LSTM : RECUR_CELL_GRU, 0)
                               : toy_model_vocab(tasks[k], RECUR_CELL_GRU, big);
        recur_error err;
        recur_train_config tc;
        recur_train_config_default(&tc);
        tc.sum_loss = k == 1;
        recur_trainer *t = NULL;
        CHECK_OK(recur_trainer_create(m, &tc, &t, &err), &err);
        int32_t tokens[7] = {2, 5, 3, 7, 4, 4, 6}, offsets[4] = {0, 3, 4, 7}, labels[3] = {1, 0, 2};
        recur_batch b = {.n = 3, .tokens = tokens, .offsets = offsets, .labels = labels};
        float loss;
        CHECK_OK(recur_trainer_grad(t, &b, &loss, &err), &err);
        int bad = 0, checked = 0;
        for (int i = 0; i < recur_model_param_count(m); i++) {
            recur_param p = recur_model_param(m, i);
            size_t n = (size_t)p.shape[0] * (p.ndim == 2 ? p.shape[1] : 1);
            float *g = malloc(n * sizeof *g);
            memcpy(g, p.grad, n * sizeof *g);
            for (size_t j = 0; j < n; j += 3, checked++) {
                float keep = p.data[j];
                double l[2];
                for (int s = 0; s < 2; s++) {
                    p.data[j] = keep + (s ? -1e-2f : 1e-2f);
                    double sum;
                    size_t terms;
                    CHECK_OK(recur_trainer_eval(t, &b, &sum, &terms, NULL, &err), &err);
                    l[s] = k == 1 ? sum : sum / (double)terms;
                }
                p.data[j] = keep;
                double num = (l[0] - l[1]) / 2e-2;
                if (fabs(num - g[j]) > 2e-3 * (1 + fabs(num))) {
                    if (bad < 5) fprintf(stderr, "    %s[%zu]: numeric %.6g analytic %.6g\n", p.name, j, num, (double)g[j]);
                    bad++;
                }
            }
            free(g);
        }
        CHECK_MSG(bad == 0 && checked > 100, "model %d: %d of %d disagree", k, bad, checked);
        recur_trainer_free(t);
        recur_model_free(m);
    }
    recur_vocab_free(big);
}

/* Threads split a batch by sequences, each through its own replica of the
 * pass, and sum the gradients: the loss, gradients and the clipped Adam
 * update must equal one thread's up to rounding (2 and 3 threads, both
 * tasks, a 2-layer bidirectional classifier; the gradient is clipped). */
static void threads_split_batches_exactly(void)
{
    for (int task = 0; task < 2; task++)
        for (int nt = 2; nt <= 3; nt++) {
            recur_model *m[2];
            for (int k = 0; k < 2; k++) {
                m[k] = toy_model(task ? RECUR_TASK_GENERATE : RECUR_TASK_CLASSIFY, RECUR_CELL_GRU, !task);
                m[k]->cfg.dropout = m[k]->st.dropout = 0.0f; /* one dropout stream per thread */
            }
            recur_trainer *t[2] = {NULL, NULL};
            recur_error err;
            recur_train_config tc;
            recur_train_config_default(&tc);
            tc.clip = 0.05f;
            for (int k = 0; k < 2; k++) {
                tc.threads = k ? nt : 1;
                CHECK_OK(recur_trainer_create(m[k], &tc, &t[k], &err), &err);
            }
            recur_rng r;
            recur_rng_seed(&r, 11);
            toy_batch tb;
            make_batch(&tb, &r);
            float loss[2];
            for (int k = 0; k < 2; k++) CHECK_OK(recur_trainer_grad(t[k], &tb.b, &loss[k], &err), &err);
            CHECK_MSG(fabsf(loss[0] - loss[1]) <= 1e-6f * loss[0], "loss %.9g vs %.9g", (double)loss[0],
                      (double)loss[1]);
            size_t n = m[0]->n_weights;
            const float *g0 = m[0]->g, *g1 = m[1]->g;
            double worst = 0, scale = 0;
            for (size_t i = 0; i < n; i++) {
                scale = fmax(scale, fabs(g0[i]));
                worst = fmax(worst, fabs(g0[i] - g1[i]));
            }
            CHECK_MSG(scale > 0 && worst <= 1e-5 * scale, "task %d, %d threads: gradients differ by %g (largest %g)",
                      task, nt, worst, scale);
            for (int k = 0; k < 2; k++) CHECK_OK(recur_trainer_step(t[k], &tb.b, &loss[k], &err), &err);
            const float *w0 = m[0]->w, *w1 = m[1]->w;
            worst = 0;
            for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(w0[i] - w1[i]));
            CHECK_MSG(worst <= 1e-6, "task %d, %d threads: weights after a step differ by %g", task, nt, worst);
            for (int k = 0; k < 2; k++) {
                recur_trainer_free(t[k]);
                recur_model_free(m[k]);
            }
        }
}

/* A batch of long texts goes through the pass in groups of at most 8,192
 * symbols (a longer text alone); each text gets the answer it gets alone. */
static void runner_groups_long_batches(void)
{
    enum { N = 8, LONGEST = 9000 };
    static const int lens[N] = {1, 2999, 5, 3000, 9000, 700, 2500, 4};
    recur_model *m = toy_model(RECUR_TASK_CLASSIFY, RECUR_CELL_GRU, 1);
    recur_runner *r = NULL;
    recur_error err;
    if (m) CHECK_OK(recur_runner_create(m, N, &r, &err), &err);
    char *buf = malloc((size_t)N * (LONGEST + 1));
    if (!r || !buf) {
        free(buf);
        recur_runner_free(r);
        recur_model_free(m);
        return;
    }
    const char *texts[N];
    for (int i = 0; i < N; i++) {
        char *t = buf + (size_t)i * (LONGEST + 1);
        for (int j = 0; j < lens[i]; j++) t[j] = (char)('a' + (i * 7 + j * 3 + j / 5) % NSYM);
        t[lens[i]] = 0;
        texts[i] = t;
    }
    float all[N * NCLS], one[NCLS];
    CHECK_OK(recur_runner_classify(r, texts, NULL, N, all, &err), &err);
    for (int i = 0; i < N; i++) {
        CHECK_OK(recur_runner_classify(r, texts + i, NULL, 1, one, &err), &err);
        for (int c = 0; c < NCLS; c++) CHECK_NEAR(all[i * NCLS + c], one[c], 1e-5);
    }
    free(buf);
    recur_runner_free(r);
    recur_model_free(m);
}

/* recur_trainer_set_stop: with the flag at 0, a step whose products run in
 * chunks (2 layers of LSTM-64 over 2,560 rows: each weight gradient is cut
 * along its rows, layer 1's input gradient along its own) gives the same
 * bits as a trainer without a flag; once the flag is set, step, grad and
 * eval return RECUR_ERR_INTERRUPTED inside the pass and leave weights,
 * optimiser state and step count as they were (on one thread and split
 * over two), so that training continues exactly as if never interrupted. */
static void stop_flag_interrupts_a_step_and_changes_no_bit(void)
{
    enum { B = 64, T = 40, H = 64 };
    recur_error err;
    recur_vocab *v = toy_vocab();
    recur_model_config cfg;
    recur_model_config_default(&cfg);
    cfg.cell = RECUR_CELL_LSTM;
    cfg.hidden = H;
    cfg.layers = 2;
    cfg.embed = 16;
    const char *labels[NCLS] = {"first-a", "first-b", "first-c"};
    recur_model *m[3] = {NULL, NULL, NULL};
    recur_trainer *t[3] = {NULL, NULL, NULL};
    for (int k = 0; k < 3; k++) {
        CHECK_OK(recur_model_create(&cfg, v, labels, NCLS, &m[k], &err), &err);
        recur_train_config tc;
        recur_train_config_default(&tc);
        tc.max_batch = B;
        tc.threads = k == 2 ? 2 : 1;
        CHECK_OK(recur_trainer_create(m[k], &tc, &t[k], &err), &err);
    }
    if (!t[0] || !t[1] || !t[2]) goto out;
    volatile sig_atomic_t flag = 0;
    recur_trainer_set_stop(t[1], &flag);
    recur_trainer_set_stop(t[2], &flag);
    static int32_t tok[B * T], off[B + 1], lab[B];
    for (int i = 0; i < B * T; i++) tok[i] = 2 + (i * 7 + i / 13) % NSYM;
    for (int i = 0; i <= B; i++) off[i] = i * T;
    for (int i = 0; i < B; i++) lab[i] = i % NCLS;
    recur_batch b = {.n = B, .tokens = tok, .offsets = off, .labels = lab};
    const size_t bytes = m[0]->n_weights * sizeof(float);
    float loss[2];
    CHECK_OK(recur_trainer_step(t[0], &b, &loss[0], &err), &err);
    CHECK_OK(recur_trainer_step(t[1], &b, &loss[1], &err), &err);
    CHECK(memcmp(m[0]->w, m[1]->w, bytes) == 0 && loss[0] == loss[1]);
    float *before = malloc(bytes);
    flag = 1;
    for (int k = 1; k < 3; k++) {
        memcpy(before, m[k]->w, bytes);
        uint64_t steps = recur_trainer_steps(t[k]);
        CHECK(recur_trainer_step(t[k], &b, &loss[0], &err) == RECUR_ERR_INTERRUPTED &&
              strstr(err.message, "not updated"));
        CHECK(recur_trainer_grad(t[k], &b, &loss[0], &err) == RECUR_ERR_INTERRUPTED);
        double sum;
        size_t terms;
        CHECK(recur_trainer_eval(t[k], &b, &sum, &terms, NULL, &err) == RECUR_ERR_INTERRUPTED);
        CHECK(memcmp(before, m[k]->w, bytes) == 0 && recur_trainer_steps(t[k]) == steps);
    }
    flag = 0;
    CHECK_OK(recur_trainer_step(t[0], &b, &loss[0], &err), &err);
    CHECK_OK(recur_trainer_step(t[1], &b, &loss[1], &err), &err);
    CHECK(memcmp(m[0]->w, m[1]->w, bytes) == 0 && loss[0] == loss[1]);
    CHECK_OK(recur_trainer_step(t[2], &b, &loss[0], &err), &err);
    CHECK(recur_trainer_steps(t[2]) == 1);
    free(before);
out:
    for (int k = 0; k < 3; k++) {
        recur_trainer_free(t[k]);
        recur_model_free(m[k]);
    }
    recur_vocab_free(v);
}

const test_case tests_model[] = {
    {"runner_groups_long_batches", runner_groups_long_batches},
    {"model_gradients_match_finite_differences", model_gradients_match_finite_differences},
    {"toy_training_reaches_low_loss", toy_training_reaches_low_loss},
    {"evaluate_before_first_step", evaluate_before_first_step},
    {"threads_split_batches_exactly", threads_split_batches_exactly},
    {"round_trip_keeps_predictions", round_trip_keeps_predictions},
    {"damaged_files_are_refused", damaged_files_are_refused},
    {"inconsistent_models_are_refused", inconsistent_models_are_refused},
    {"checkpoint_resumes_bit_for_bit", checkpoint_resumes_bit_for_bit},
    {"generator_learns_and_steps", generator_learns_and_steps},
    {"pytorch_loads_recur_models", pytorch_loads_recur_models},
    {"stop_flag_interrupts_a_step_and_changes_no_bit", stop_flag_interrupts_a_step_and_changes_no_bit},
    {NULL, NULL},
};
