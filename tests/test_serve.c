/*
 * recur serve: tests/serve_test.py drives the server over real HTTP on
 * loopback (every endpoint and error, batching, reload and shutdown under
 * load, the limits); the page in a headless Chromium when one is
 * installed (tests/serve_browser.py). And the library's sampling call the
 * server and `recur sample` share.
 */
#define _DEFAULT_SOURCE
#include <string.h>
#include <unistd.h>

#include "tool.h"

static const char *python(void)
{
    if (access("/usr/bin/python3", X_OK) == 0) return "/usr/bin/python3";
    return system("python3 -c '' >/dev/null 2>&1") == 0 ? "python3" : NULL;
}

static void test_http(void)
{
    NEED_BIN();
    const char *py = python();
    if (!py) {
        test_skip("python3 is not installed");
        return;
    }
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s tests/serve_test.py '%s' '%s/serve' >&2", py, bin(), test_tmpdir());
    CHECK_MSG(system(cmd) == 0, "tests/serve_test.py failed (its FAIL lines are above)");
}

/* The page in a headless Chromium (Debian's chromium; skipped without it).
 * Screenshots: build/test-output/page-*.png (the run's output folder). */
static void test_browser(void)
{
    NEED_BIN();
    const char *py = python(), *chrome = NULL;
    const char *cands[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0] && !chrome; i++)
        if (access(cands[i], X_OK) == 0) chrome = cands[i];
    if (!py || !chrome) {
        test_skip("chromium is not installed (apt-get install chromium): the page's browser test skips");
        return;
    }
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s tests/serve_browser.py '%s' '%s/browser' build/test-output '%s' >&2", py, bin(),
             test_tmpdir(), chrome);
    CHECK_MSG(system(cmd) == 0, "tests/serve_browser.py failed (its FAIL lines are above)");
}

/* A generation model of random weights over the symbols a..e. */
static recur_model *toy_generator(recur_task task)
{
    const char *syms[] = {"", "", "a", "b", "c", "d", "e"};
    const char *labels[] = {"X", "Y"};
    recur_vocab *v = NULL;
    recur_model *m = NULL;
    recur_error err;
    recur_model_config c;
    recur_model_config_default(&c);
    c.task = task;
    c.hidden = 8;
    c.embed = 4;
    c.bidirectional = 0;
    CHECK_OK(recur_vocab_from_symbols(RECUR_TEXT_UNICODE, syms, 7, &v, &err), &err);
    if (v) CHECK_OK(recur_model_create(&c, v, labels, 2, &m, &err), &err);
    recur_vocab_free(v);
    return m;
}

static void test_sample_api(void)
{
    recur_model *m = toy_generator(RECUR_TASK_GENERATE), *cls = toy_generator(RECUR_TASK_CLASSIFY);
    recur_runner *r = NULL, *rc = NULL;
    recur_error err;
    if (!m || !cls) return;
    CHECK_OK(recur_runner_create(m, 1, &r, &err), &err);
    CHECK_OK(recur_runner_create(cls, 1, &rc, &err), &err);
    CHECK(recur_runner_model(r) == m);
    recur_sample_config sc = {1.0, 0, 12};
    int32_t a[12], b[12], pre[1] = {3};
    int na = 0, nb = 0;
    double lpa = 0, lpb = 0;
    /* The same state draws the same sequence; the prefix comes first. */
    uint64_t s1 = recur_sample_seed(7, 1), s2 = recur_sample_seed(7, 1);
    CHECK(s1 != recur_sample_seed(7, 0) && s1 != recur_sample_seed(8, 1));
    CHECK_OK(recur_runner_sample(r, 1, pre, 1, &sc, &s1, a, &na, &lpa, &err), &err);
    CHECK_OK(recur_runner_sample(r, 1, pre, 1, &sc, &s2, b, &nb, &lpb, &err), &err);
    CHECK(na >= 1 && na <= 12 && na == nb && memcmp(a, b, (size_t)na * sizeof *a) == 0 && lpa == lpb && lpa < 0);
    CHECK(a[0] == 3);
    for (int i = 0; i < na; i++) CHECK(a[i] >= 2 && a[i] < 7);
    /* top_k 1: the most likely symbol every time, whatever the state. */
    recur_sample_config greedy = {1.0, 1, 12};
    s1 = 1, s2 = 99;
    CHECK_OK(recur_runner_sample(r, 0, NULL, 0, &greedy, &s1, a, &na, NULL, &err), &err);
    CHECK_OK(recur_runner_sample(r, 0, NULL, 0, &greedy, &s2, b, &nb, NULL, &err), &err);
    CHECK(na == nb && memcmp(a, b, (size_t)na * sizeof *a) == 0);
    /* Errors: one clear line each. */
    recur_sample_config cold = {0, 0, 12}, none = {1, 0, 0};
    int32_t bad[1] = {RECUR_TOKEN_BOUNDARY};
    CHECK(recur_runner_sample(rc, 0, NULL, 0, &sc, &s1, a, &na, NULL, &err) == RECUR_ERR_UNSUPPORTED &&
          strstr(err.message, "classifier"));
    CHECK(recur_runner_sample(r, 0, NULL, 0, &cold, &s1, a, &na, NULL, &err) == RECUR_ERR_ARG &&
          strstr(err.message, "temperature"));
    CHECK(recur_runner_sample(r, 0, NULL, 0, &none, &s1, a, &na, NULL, &err) == RECUR_ERR_ARG);
    CHECK(recur_runner_sample(r, 0, bad, 1, &sc, &s1, a, &na, NULL, &err) == RECUR_ERR_ARG &&
          strstr(err.message, "prefix"));
    CHECK(recur_runner_sample(r, 5, NULL, 0, &sc, &s1, a, &na, NULL, &err) == RECUR_ERR_ARG &&
          strstr(err.message, "label 5"));
    recur_runner_free(r);
    recur_runner_free(rc);
    recur_model_free(m);
    recur_model_free(cls);
}

static recur_model *toy_model(recur_task task, recur_cell cell, int bidirectional, int layers)
{
    const char *syms[] = {"", "", "a", "b", "c", "d", "e"};
    const char *labels[] = {"X", "Y", "Z"};
    recur_vocab *v = NULL;
    recur_model *m = NULL;
    recur_error err;
    recur_model_config c;
    recur_model_config_default(&c);
    c.task = task;
    c.cell = cell;
    c.hidden = 6;
    c.embed = 4;
    c.layers = layers;
    c.bidirectional = bidirectional;
    c.seed = 5;
    CHECK_OK(recur_vocab_from_symbols(RECUR_TEXT_UNICODE, syms, 7, &v, &err), &err);
    if (v) CHECK_OK(recur_model_create(&c, v, labels, 3, &m, &err), &err);
    recur_vocab_free(v);
    return m;
}

/* The inspection agrees with the step API (a one-way model, step by step)
 * and with the batched pass (a bidirectional one, on each prefix); gates
 * lie in 0..1, and an LSTM's h is o * tanh(c). */
static void test_inspect(void)
{
    const recur_cell cells[] = {RECUR_CELL_LSTM, RECUR_CELL_GRU, RECUR_CELL_RNN_TANH};
    const char *text = "abcadeb";
    for (int k = 0; k < 3; k++)
        for (int variant = 0; variant < 3; variant++) {
            /* variant 0: classify one-way, 2 layers; 1: classify two-way, 2 layers; 2: generate */
            recur_task task = variant == 2 ? RECUR_TASK_GENERATE : RECUR_TASK_CLASSIFY;
            recur_model *m = toy_model(task, cells[k], variant == 1, variant == 2 ? 1 : 2);
            recur_runner *r = NULL;
            recur_inspection *x = NULL;
            recur_error err;
            if (!m) return;
            CHECK_OK(recur_runner_create(m, 8, &r, &err), &err);
            int label = task == RECUR_TASK_GENERATE ? 2 : 0;
            CHECK_OK(recur_model_inspect(m, text, strlen(text), label, &x, &err), &err);
            if (!x || !r) return;
            int T = x->steps, C = x->outputs, H = x->hidden, lead = task == RECUR_TASK_GENERATE;
            CHECK(T == 7 + lead && H == 6 && x->layers == (variant == 2 ? 1 : 2) && x->directions == 1 + (variant == 1));
            CHECK(x->n_series == (k == 0 ? 5 : k == 1 ? 3 : 1));
            float lp[16];
            if (variant != 1) {
                CHECK_OK(recur_runner_reset(r, label, &err), &err);
                double worst = 0;
                for (int t = 0; t < T; t++) {
                    CHECK_OK(recur_runner_step(r, x->tokens[t], lp, &err), &err);
                    for (int c = 0; c < C; c++) worst = fmax(worst, fabs(lp[c] - x->logprobs[(size_t)t * C + c]));
                }
                CHECK_MSG(worst < 1e-5, "cell %d variant %d: inspect differs from the step API by %g", k, variant, worst);
            } else {
                const char *pre[7];
                size_t lens[7];
                float all[7 * 3];
                for (int t = 0; t < 7; t++) pre[t] = text, lens[t] = (size_t)t + 1;
                CHECK_OK(recur_runner_classify(r, pre, lens, 7, all, &err), &err);
                double worst = 0;
                for (int i = 0; i < 7 * 3; i++) worst = fmax(worst, fabs(all[i] - x->logprobs[i]));
                CHECK_MSG(worst < 1e-5, "cell %d: bidirectional prefixes differ by %g", k, worst);
                /* The head on [forward state at the end, reverse state at
                 * step 0] of the top layer is the whole text's answer. */
                const float *W = NULL, *B = NULL;
                for (int i = 0; i < recur_model_param_count(m); i++) {
                    recur_param p = recur_model_param(m, i);
                    if (strcmp(p.name, "out.weight") == 0) W = p.data;
                    if (strcmp(p.name, "out.bias") == 0) B = p.data;
                }
                const float *hid = x->values + (size_t)(x->n_series - 1) * x->layers * 2 * T * H;
                const float *fw = hid + ((size_t)(x->layers - 1) * 2 + 0) * T * H + (size_t)(T - 1) * H;
                const float *rv = hid + ((size_t)(x->layers - 1) * 2 + 1) * T * H;
                double z[3], mx = -1e30, sum = 0;
                for (int c = 0; W && B && c < 3; c++) {
                    z[c] = B[c];
                    for (int j = 0; j < H; j++) z[c] += W[c * 2 * H + j] * fw[j] + W[c * 2 * H + H + j] * rv[j];
                    mx = fmax(mx, z[c]);
                }
                for (int c = 0; c < 3; c++) sum += exp(z[c] - mx);
                CHECK(W && B);
                for (int c = 0; W && B && c < 3; c++)
                    CHECK_MSG(fabs(z[c] - mx - log(sum) - all[6 * 3 + c]) < 1e-5, "cell %d: head on the states", k);
            }
            size_t ss = (size_t)x->layers * x->directions * T * H;
            int gates = k == 0 ? 3 : k == 1 ? 2 : 0;
            for (size_t i = 0; i < (size_t)gates * ss; i++) CHECK(x->values[i] >= 0 && x->values[i] <= 1);
            const float *hid = x->values + (size_t)(x->n_series - 1) * ss;
            for (size_t i = 0; i < ss; i++) CHECK(hid[i] >= -1 && hid[i] <= 1);
            if (k == 0)
                for (size_t i = 0; i < ss; i++)
                    CHECK(fabsf(hid[i] - x->values[2 * ss + i] * tanhf(x->values[3 * ss + i])) < 1e-5f);
            recur_inspection_free(x);
            recur_runner_free(r);
            recur_model_free(m);
        }
    /* Errors. */
    recur_model *g = toy_model(RECUR_TASK_GENERATE, RECUR_CELL_LSTM, 0, 1);
    recur_inspection *x = NULL;
    recur_error err;
    CHECK(recur_model_inspect(g, "ab", 2, 7, &x, &err) == RECUR_ERR_ARG && strstr(err.message, "label 7") && !x);
    CHECK(recur_model_inspect(g, "\xff", 1, 0, &x, &err) == RECUR_ERR_DATA && !x);
    recur_model_free(g);
    recur_inspection_free(NULL);
}

const test_case tests_serve[] = {
    {"inspect", test_inspect},
    {"sample_api", test_sample_api},
    {"http", test_http},
    {"browser", test_browser},
    {NULL, NULL},
};
