/*
 * fuzz_model: libFuzzer harness for model files.
 *
 * bytes -> an anonymous in-memory file (memfd, opened by recur through
 * /proc/self/fd/N: nothing touches the disk) -> recur_model_load -> when it
 * loads: every accessor, a runner, a batch through recur_runner_predict
 * (any kind), then classify a few texts (token classifiers) or reset and
 * step a few tokens or feature vectors (unidirectional models); a
 * checkpoint also resumes into a trainer that takes one step -> free.
 * A loaded model must keep the promises of include/recur.h; the harness
 * aborts when one is broken.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "recur.h"

#define REQUIRE(cond)                                                          \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_model: broken promise: %s (%s:%d)\n", #cond, \
                    __FILE__, __LINE__);                                       \
            abort();                                                           \
        }                                                                      \
    } while (0)

static int mem_fd = -1;
static char mem_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    recur_set_threads(1);
    mem_fd = memfd_create("fuzz_model", MFD_CLOEXEC);
    if (mem_fd < 0) {
        perror("fuzz_model: memfd_create");
        exit(2);
    }
    snprintf(mem_path, sizeof mem_path, "/proc/self/fd/%d", mem_fd);
    return 0;
}

static void put_bytes(const uint8_t *data, size_t size)
{
    if (ftruncate(mem_fd, 0) != 0) {
        perror("fuzz_model: ftruncate");
        exit(2);
    }
    size_t done = 0;
    while (done < size) {
        ssize_t k = pwrite(mem_fd, data + done, size - done, (off_t)done);
        if (k <= 0) {
            perror("fuzz_model: pwrite");
            exit(2);
        }
        done += (size_t)k;
    }
}

static void check_logprobs(const float *lp, int n)
{
    /* Weights from the file may be NaN or huge: only look at every value
     * (MSan/ASan see an uninitialised or out-of-range read). */
    volatile float sum = 0;
    for (int i = 0; i < n; i++) sum += lp[i];
    (void)sum;
}

static void exercise(recur_model *m)
{
    recur_error err;
    const recur_model_config *cfg = recur_model_get_config(m);
    REQUIRE(cfg != NULL);
    const recur_vocab *v = recur_model_vocab(m);
    const int dense = cfg->input == RECUR_INPUT_DENSE, Fs = cfg->input_size;
    REQUIRE(v != NULL || dense);
    int V = v ? recur_vocab_size(v) : 0, C = recur_model_num_labels(m), W = recur_model_output_size(m);
    REQUIRE((dense || V >= 2) && (C >= 1 || cfg->task == RECUR_TASK_REGRESS) && W >= 1);
    REQUIRE(!dense || (Fs >= 1 && recur_model_input_mean(m) && recur_model_input_std(m)));
    for (int f = 0; f < (dense ? Fs : 0); f++) REQUIRE(recur_model_input_std(m)[f] > 0);
    for (int i = 0; i < V; i++) REQUIRE(recur_vocab_symbol(v, i) != NULL);
    for (int i = 0; i < C; i++) {
        const char *name = recur_model_label_name(m, i);
        REQUIRE(name != NULL);
        int found = recur_model_label_find(m, name);
        REQUIRE(found >= 0 && found < C);
    }
    size_t weights = 0;
    for (int i = 0; i < recur_model_param_count(m); i++) {
        recur_param p = recur_model_param(m, i);
        REQUIRE(p.name && p.data && (p.ndim == 1 || p.ndim == 2));
        weights += (size_t)p.shape[0] * (size_t)(p.ndim == 2 ? p.shape[1] : 1);
    }
    REQUIRE(weights == recur_model_num_weights(m));
    (void)recur_model_get_meta(m, "note");

    recur_runner *r = NULL;
    if (recur_runner_create(m, 4, &r, &err) != RECUR_OK) return;
    int wide = V > W ? V : W;
    float *lp = malloc((size_t)wide * 8 * sizeof *lp);
    REQUIRE(lp != NULL);
    /* Any kind through the batch API: two sequences of 2 and 3 steps. */
    {
        float x[5 * 8] = {0};
        int32_t tokens[5] = {2 % (V ? V : 1), 1, V ? V - 1 : 0, 0, 1}, offsets[3] = {0, 2, 5}, labels[2] = {0, 0};
        recur_batch b = {.n = 2, .offsets = offsets, .labels = labels};
        if (dense && Fs <= 8) b.features = x;
        if (!dense) b.tokens = tokens;
        recur_status s = recur_runner_predict(r, &b, lp, &err);
        REQUIRE(s == RECUR_OK || (dense && Fs > 8 && s == RECUR_ERR_ARG));
        if (s == RECUR_OK) {
            REQUIRE(recur_runner_rows(r, &b) <= 8);
            check_logprobs(lp, (int)recur_runner_rows(r, &b) * W);
        }
    }
    if (cfg->task == RECUR_TASK_CLASSIFY && !dense) {
        const char *texts[4] = {"Dovesky", "\xc3\x89lodie", "a", "Nguy\xe1\xbb\x85n Th\xe1\xbb\x8b"};
        recur_status s = recur_runner_classify(r, texts, NULL, 4, lp, &err);
        REQUIRE(s == RECUR_OK || s == RECUR_ERR_ARG);
        if (s == RECUR_OK) check_logprobs(lp, 4 * C);
        int32_t tokens[5] = {2 % V, 1, (V - 1), 0, 1};
        int32_t offsets[3] = {0, 2, 5};
        s = recur_runner_classify_ids(r, tokens, offsets, 2, lp, &err);
        REQUIRE(s == RECUR_OK);
        check_logprobs(lp, 2 * C);
    }
    if (!cfg->bidirectional && dense) {
        REQUIRE(recur_runner_reset(r, 0, &err) == RECUR_OK);
        float *x = calloc((size_t)Fs, sizeof *x);
        REQUIRE(x != NULL);
        for (int k = 0; k < 3; k++) {
            REQUIRE(recur_runner_step_features(r, x, lp, &err) == RECUR_OK);
            check_logprobs(lp, W);
            x[k % Fs] = 1.5f;
        }
        REQUIRE(recur_runner_step(r, 1, lp, &err) == RECUR_ERR_UNSUPPORTED);
        free(x);
    } else if (!cfg->bidirectional) {
        REQUIRE(recur_runner_reset(r, 0, &err) == RECUR_OK);
        int32_t tok = RECUR_TOKEN_BOUNDARY;
        int n = cfg->task == RECUR_TASK_GENERATE ? C : 1;
        for (int k = 0; k < 3; k++) {
            REQUIRE(recur_runner_step(r, tok, lp, &err) == RECUR_OK);
            check_logprobs(lp, W);
            tok = (tok + 1 + k) % V;
        }
        REQUIRE(recur_runner_step(r, V, lp, &err) == RECUR_ERR_ARG);
        if (cfg->task == RECUR_TASK_GENERATE)
            REQUIRE(recur_runner_reset(r, n, &err) == RECUR_ERR_ARG);
    } else {
        REQUIRE(recur_runner_reset(r, 0, &err) == RECUR_ERR_UNSUPPORTED);
    }
    free(lp);
    recur_runner_free(r);
}

/* A checkpoint resumes into a trainer (Adam, else SGD), which then takes
 * one step: weights and optimiser state from the file may be anything. */
static void resume(recur_model *m)
{
    recur_error err;
    recur_status s = RECUR_ERR_ARG;
    recur_trainer *t = NULL;
    for (int optim = RECUR_OPTIM_ADAM; optim >= RECUR_OPTIM_SGD && s == RECUR_ERR_ARG; optim--) {
        recur_train_config tc;
        recur_train_config_default(&tc);
        tc.optim = (recur_optim)optim;
        tc.momentum = 0.5f;
        recur_trainer_free(t);
        t = NULL;
        if (recur_trainer_create(m, &tc, &t, &err) != RECUR_OK) return;
        s = recur_trainer_load(t, mem_path, &err);
    }
    if (s == RECUR_OK) {
        const recur_model_config *cfg = recur_model_get_config(m);
        const recur_vocab *v = recur_model_vocab(m);
        int V = v ? recur_vocab_size(v) : 1, C = recur_model_num_labels(m), W = recur_model_output_size(m);
        int32_t tokens[4] = {2 % V, 3 % V, 0, 1}, offsets[3] = {0, 1, 4}, labels[2] = {0, C > 0 ? C - 1 : 0};
        int32_t steps[4] = {0, C - 1, -1, 0};
        recur_batch b = {.n = 2, .tokens = tokens, .offsets = offsets, .labels = labels, .step_labels = steps};
        /* Dense features and real targets, zero-filled, when the model reads them. */
        float *x = calloc((size_t)4 * (cfg->input_size > 0 ? cfg->input_size : 1), sizeof *x);
        float *y = calloc((size_t)4 * (W > 0 ? W : 1), sizeof *y);
        REQUIRE(x && y);
        if (cfg->input == RECUR_INPUT_DENSE) {
            b.tokens = NULL;
            b.features = x;
        }
        b.targets = y;
        float loss = 0;
        s = recur_trainer_step(t, &b, &loss, &err);
        REQUIRE(s == RECUR_OK || s == RECUR_ERR_NUMERIC);
        free(x);
        free(y);
    }
    recur_trainer_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    put_bytes(data, size);
    recur_model *m = NULL;
    recur_error err;
    memset(&err, 0, sizeof err);
    recur_status s = recur_model_load(mem_path, &m, &err);
    if (s != RECUR_OK) {
        REQUIRE(m == NULL);
        REQUIRE(s == RECUR_ERR_FORMAT || s == RECUR_ERR_NOMEM);
        REQUIRE(memchr(err.message, '\0', sizeof err.message) != NULL);
        REQUIRE(strchr(err.message, '\n') == NULL);
        /* The path once at most (unless the file itself holds it): a
         * message built from itself comes out garbled or doubled. */
        const char *at = strstr(err.message, mem_path);
        if (at && !memmem(data, size, mem_path, strlen(mem_path)))
            REQUIRE(strstr(at + 1, mem_path) == NULL);
        return 0;
    }
    REQUIRE(m != NULL);
    /* A speech-features record from the file: read back or refused in one line. */
    recur_features_config fc;
    recur_status fs = recur_model_get_features(m, &fc, &err);
    REQUIRE(fs == RECUR_OK || fs == RECUR_ERR_UNSUPPORTED || fs == RECUR_ERR_FORMAT);
    if (fs != RECUR_OK) REQUIRE(strchr(err.message, '\n') == NULL);
    exercise(m);
    resume(m);
    recur_model_free(m);
    return 0;
}
