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

const test_case tests_serve[] = {
    {"sample_api", test_sample_api},
    {"http", test_http},
    {NULL, NULL},
};
