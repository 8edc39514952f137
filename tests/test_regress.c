/*
 * Regression tests for what the fuzzers (fuzz/, fuzz/README.md) found. Each
 * test loads the reproducer saved under fuzz/crashes/ (paths are relative
 * to the repository root, where `make test` runs) and checks the behaviour
 * the fix promises.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "model/model.h"
#include "test.h"

#define CRASHES "fuzz/crashes/"

/* Resident set of this process in KiB (from /proc/self/statm), 0 if unknown. */
static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/*
 * fuzz_model: a 1.7 KB model file whose metadata claims hidden 1024 and 8
 * layers made recur_model_load allocate and initialise the whole model
 * (250 MB here; 4 GB and 30 s for hidden 4096, the fuzzer's reproducer
 * model-oom-metadata-before-tensors.safetensors) before finding that the
 * file holds none of those tensors. The load must fail with a format
 * error without growing the process by more than a few MB: it runs in a
 * child whose peak resident set is compared with ours at the fork.
 */
static void model_metadata_cannot_force_huge_allocations(void)
{
    const char *path = CRASHES "model-oom-metadata-before-tensors-1024.safetensors";
    if (access(path, R_OK) != 0) {
        test_skip("no fuzz/crashes/ here (run the tests from the repository root)");
        return;
    }
    fflush(NULL);
    long before = rss_kib();
    pid_t pid = fork();
    if (pid < 0) {
        test_skip("fork failed");
        return;
    }
    if (pid == 0) {
        recur_model *m = NULL;
        recur_error err = {0};
        recur_status s = recur_model_load(path, &m, &err);
        if (s != RECUR_ERR_FORMAT) fprintf(stderr, "    load: %s: %s\n", recur_status_string(s), err.message);
        recur_model_free(m);
        _exit(s == RECUR_ERR_FORMAT ? 0 : 1);
    }
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    pid_t w;
    do w = wait4(pid, &status, 0, &ru);
    while (w < 0 && errno == EINTR);
    CHECK(w == pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the load did not fail with a format error");
    long grown = ru.ru_maxrss - before;
    CHECK_MSG(grown < 64 * 1024, "loading a 1.7 KB file grew the process by %ld MiB", grown / 1024);
}

/*
 * fuzz_model (clang UBSan): creating or loading any model computed
 * parameter offsets as pointers from a NULL base before the weights were
 * allocated (src/nn/stack.c, stack_w_ih via stack_tensor from
 * recur_model_create): "applying zero offset to null pointer". GCC's
 * UBSan (make check) does not report it; clang's does (make fuzz, whose
 * seeds load this model, or the tests built with clang -fsanitize=undefined).
 */
static void model_create_has_no_null_pointer_arithmetic(void)
{
    const char *path = CRASHES "model-ubsan-null-offset-stack_tensor.safetensors";
    if (access(path, R_OK) != 0) {
        test_skip("no fuzz/crashes/ here (run the tests from the repository root)");
        return;
    }
    recur_model *m = NULL;
    recur_error err = {0};
    CHECK_OK(recur_model_load(path, &m, &err), &err);
    if (!m) return;
    recur_runner *r = NULL;
    CHECK_OK(recur_runner_create(m, 2, &r, &err), &err);
    if (r) {
        const char *texts[2] = {"Dovesky", "\xc3\x89lodie"};
        float lp[2 * 3];
        CHECK_OK(recur_runner_classify(r, texts, NULL, 2, lp, &err), &err);
        for (int i = 0; i < 6; i++) CHECK(lp[i] <= 0.0f);
    }
    recur_runner_free(r);
    recur_model_free(m);
}

/* The loader sizes its allocation check with model_param_count, a formula
 * apart from the tensor table recur_model_create builds: the two must
 * agree for every task, cell, input kind and shape. */
static void param_count_matches_created_models(void)
{
    const char *syms[] = {"", "", "a", "b", "c", "d"};
    const char *labels[] = {"x", "y", "z"};
    recur_vocab *v = NULL;
    recur_error err = {0};
    CHECK_OK(recur_vocab_from_symbols(RECUR_TEXT_UNICODE, syms, 6, &v, &err), &err);
    if (!v) return;
    for (int k = 0; k < 48; k++) {
        recur_model_config c;
        recur_model_config_default(&c);
        c.task = k & 1 ? RECUR_TASK_GENERATE : RECUR_TASK_CLASSIFY;
        c.cell = (recur_cell)(k / 2 % 4);
        c.embed = k / 8 % 2 ? 5 : 0;
        c.label_embed = k / 16 % 2 ? 3 : 0;
        c.hidden = 7;
        c.layers = 1 + k % 3;
        c.bidirectional = c.task == RECUR_TASK_CLASSIFY && k % 5 == 0;
        recur_model *m = NULL;
        CHECK_OK(recur_model_create(&c, v, labels, 3, &m, &err), &err);
        if (!m) continue;
        CHECK_MSG(model_param_count(&c, recur_vocab_size(v), 3) == recur_model_num_weights(m),
                  "case %d: formula %zu, model %zu", k, model_param_count(&c, recur_vocab_size(v), 3),
                  recur_model_num_weights(m));
        recur_model_free(m);
    }
    recur_vocab_free(v);
}

/* How many times needle occurs in hay. */
static int occurrences(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

/*
 * fuzz_model: when the vocabulary or the labels of a model file were
 * refused, model_from_file (src/io/model_file.c) wrapped the message with
 * recur_fail(err, ..., "%s: %s", what, err->message): vsnprintf reading the
 * buffer it writes (overlapping arguments, undefined behaviour), which came
 * out garbled ("model: ice" for "label "a" appears twice") or doubled.
 */
static void load_errors_are_not_formatted_from_themselves(void)
{
    struct { const char *file, *want; } cases[] = {
        {CRASHES "model-overlapping-error-message-labels.safetensors", "label \"a\" appears twice"},
        {CRASHES "model-overlapping-error-message-vocab.safetensors", "repeats symbol 2"},
    };
    for (int i = 0; i < 2; i++) {
        if (access(cases[i].file, R_OK) != 0) {
            test_skip("no fuzz/crashes/ here (run the tests from the repository root)");
            return;
        }
        recur_model *m = NULL;
        recur_error err = {0};
        recur_status s = recur_model_load(cases[i].file, &m, &err);
        CHECK(s == RECUR_ERR_FORMAT && m == NULL);
        CHECK_MSG(strstr(err.message, cases[i].want) != NULL, "\"%s\" lacks \"%s\"", err.message, cases[i].want);
        CHECK_MSG(occurrences(err.message, cases[i].file) == 1, "\"%s\" should name the file once", err.message);
        recur_model_free(m);
    }
}

const test_case tests_regress[] = {
    {"param_count_matches_created_models", param_count_matches_created_models},
    {"model_metadata_cannot_force_huge_allocations", model_metadata_cannot_force_huge_allocations},
    {"model_create_has_no_null_pointer_arithmetic", model_create_has_no_null_pointer_arithmetic},
    {"load_errors_are_not_formatted_from_themselves", load_errors_are_not_formatted_from_themselves},
    {NULL, NULL},
};
