/*
 * recur experiment, run as a program ($RECUR_BIN) in its quick modes with
 * fixed seeds: the qualitative results that hold robustly (see
 * docs/EXPERIMENTS.md), read from --json; the plots; the usage errors.
 */
#define _DEFAULT_SOURCE
#include <cJSON.h>
#include <string.h>

#include "tool.h"

/* RECUR_BIN experiment <args>, stdout and stderr kept apart. */
static result run(const char *args)
{
    char a[2048];
    snprintf(a, sizeof a, "experiment %s", args);
    return run_in(NULL, NULL, a, NULL);
}

/* The JSON an experiment printed, or NULL (a failed check). */
static cJSON *run_json(const char *args)
{
    result o = run(args);
    CHECK_MSG(o.code == 0, "experiment %s: exit %d: %s", args, o.code, o.err);
    cJSON *j = o.code == 0 ? cJSON_Parse(o.out) : NULL;
    CHECK_MSG(o.code != 0 || j != NULL, "experiment %s: stdout is not JSON: %.300s", args, o.out);
    result_free(&o);
    return j;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* Accuracy of `cell` at length T in the memory experiment's results. */
static double memory_acc(const cJSON *j, const char *cell, int T)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(j, "results"))
        if (strcmp(str(r, "cell"), cell) == 0 && (int)num(r, "T") == T) return num(r, "accuracy");
    return NAN;
}

static void memory_quick(void)
{
    NEED_BIN();
    char args[700];
    /* Only the runs the checks read: the whole --quick grid (T 5,20,50 for
     * five cells) spends about 60% of its CPU time on runs nothing here reads,
     * mostly lstm and gru at T=50 using up their step budget. The plain
     * gated cells at T=5 are a run of their own (a few hundred steps). */
    cJSON *j = run_json("memory --quick --seed 1 --json --cells lstm,gru --lengths 5");
    if (!j) return;
    CHECK_MSG(memory_acc(j, "lstm", 5) >= 0.9, "lstm at T=5");
    CHECK_MSG(memory_acc(j, "gru", 5) >= 0.9, "gru at T=5");
    cJSON_Delete(j);
    snprintf(args, sizeof args,
             "memory --quick --seed 1 --json --cells rnn,lstm-chrono,gru-chrono --lengths 5,50 --svg '%s/memory.svg'",
             test_tmpdir());
    j = run_json(args);
    if (!j) return;
    CHECK_NEAR(num(j, "chance"), 0.25, 1e-9);
    /* Every cell learns the shortest sequences. */
    const char *cells[] = {"rnn", "lstm-chrono", "gru-chrono"};
    for (int c = 0; c < 3; c++) CHECK_MSG(memory_acc(j, cells[c], 5) >= 0.9, "%s at T=5", cells[c]);
    /* At the longest quick T (50) the RNN is at chance, and the gated cells
     * whose gates start open keep the symbol: a gap of 40 points or more. */
    double rnn = memory_acc(j, "rnn", 50), lstm = memory_acc(j, "lstm-chrono", 50), gru = memory_acc(j, "gru-chrono", 50);
    CHECK_MSG(rnn < 0.45, "rnn at T=50: %g", rnn);
    CHECK_MSG(gru >= 0.9 && gru - rnn >= 0.4, "gru-chrono %g against rnn %g at T=50", gru, rnn);
    CHECK_MSG(lstm >= 0.8 && lstm - rnn >= 0.4, "lstm-chrono %g against rnn %g at T=50", lstm, rnn);
    cJSON_Delete(j);
    char path[600];
    snprintf(path, sizeof path, "%s/memory.svg", test_tmpdir());
    CHECK_SVG_FITS(path);
    char *svg = slurp(path, NULL);
    CHECK_MSG(svg && strstr(svg, "<svg") && strstr(svg, "</svg>") && strstr(svg, "lstm-chrono") &&
                  strstr(svg, "chance"),
              "memory.svg");
    free(svg);
}

static const cJSON *grad_cell(const cJSON *j, const char *cell)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(j, "cells"))
        if (strcmp(str(c, "cell"), cell) == 0) return c;
    return NULL;
}

static void gradients_quick(void)
{
    NEED_BIN();
    char args[700];
    snprintf(args, sizeof args, "gradients --quick --seed 1 --json --svg '%s/gradients.svg'", test_tmpdir());
    cJSON *j = run_json(args);
    if (!j) return;
    int T = (int)num(cJSON_GetObjectItemCaseSensitive(j, "settings"), "T");
    CHECK(T == 50);
    const cJSON *rnn = grad_cell(j, "rnn"), *gru = grad_cell(j, "gru-chrono");
    CHECK(rnn && gru && grad_cell(j, "lstm") && grad_cell(j, "gru") && grad_cell(j, "lstm-chrono"));
    if (rnn && gru) {
        const cJSON *ri = cJSON_GetObjectItemCaseSensitive(rnn, "init"), *gi = cJSON_GetObjectItemCaseSensitive(gru, "init");
        const cJSON *norms = cJSON_GetObjectItemCaseSensitive(ri, "norms");
        CHECK(cJSON_GetArraySize(norms) == T);
        double first = cJSON_GetArrayItem(norms, 0)->valuedouble, last = cJSON_GetArrayItem(norms, T - 1)->valuedouble;
        /* The RNN's gradient at step 1 is orders of magnitude below the last step's. */
        CHECK_MSG(last > 0 && first < 1e-4 * last, "rnn: |dL/dh_1| %g, |dL/dh_T| %g", first, last);
        CHECK_MSG(num(ri, "decay_per_step") < 0.8, "rnn decays by %g per step", num(ri, "decay_per_step"));
        CHECK_MSG(num(ri, "log10_first_over_last") < -4, "rnn: %g decades", num(ri, "log10_first_over_last"));
        /* A GRU whose update gate starts open passes it back almost whole. */
        CHECK_MSG(num(gi, "decay_per_step") > 0.9, "gru-chrono decays by %g per step", num(gi, "decay_per_step"));
        CHECK(num(gi, "log10_first_over_last") > -2);
    }
    cJSON_Delete(j);
    char path[600];
    snprintf(path, sizeof path, "%s/gradients.svg", test_tmpdir());
    CHECK_SVG_FITS(path);
    char *svg = slurp(path, NULL);
    CHECK_MSG(svg && strstr(svg, "<svg") && strstr(svg, "at initialisation") && strstr(svg, "</svg>"), "gradients.svg");
    free(svg);
}

static void cost_quick(void)
{
    NEED_BIN();
    /* The names part only where the data are; the timing part always. */
    int names = test_data_dir() != NULL;
    char args[700];
    snprintf(args, sizeof args, "cost --quick --seed 1 --json --min-time 0.06%s --svg '%s/cost.svg'",
             names ? " --names-hidden 64" : " --no-names", test_tmpdir());
    cJSON *j = run_json(args);
    if (!j) return;
    const cJSON *r;
    int seen = 0;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(j, "gru_over_lstm")) {
        /* The gate count, exactly: 3 gates against 4. */
        CHECK_NEAR(num(r, "params"), 0.75, 1e-9);
        CHECK_NEAR(num(r, "flops"), 0.75, 1e-9);
        CHECK_MSG(num(r, "train_time") > 0.3 && num(r, "train_time") < 1.5, "GRU/LSTM training time %g",
                  num(r, "train_time"));
        seen++;
    }
    CHECK(seen == 2);
    double rnn_flops = NAN, lstm_flops = NAN, rnn_t = NAN, lstm_t = NAN;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(j, "timing")) {
        CHECK(num(r, "train_us_per_step") > num(r, "infer_us_per_step") && num(r, "infer_us_per_step") > 0);
        if ((int)num(r, "hidden") != 128) continue;
        if (strcmp(str(r, "cell"), "rnn") == 0) rnn_flops = num(r, "flops_per_step"), rnn_t = num(r, "train_us_per_step");
        if (strcmp(str(r, "cell"), "lstm") == 0) lstm_flops = num(r, "flops_per_step"), lstm_t = num(r, "train_us_per_step");
    }
    CHECK_NEAR(rnn_flops / lstm_flops, 0.25, 1e-9);
    CHECK_MSG(lstm_t > 1.5 * rnn_t, "LSTM %g us, RNN %g us per training step", lstm_t, rnn_t);
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(j, "names");
    if (names) {
        const cJSON *c;
        int n = 0;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(nm, "cells")) {
            CHECK_MSG(num(c, "best_accuracy") > 0.6, "%s: %g on the names after one epoch", str(c, "cell"),
                      num(c, "best_accuracy"));
            n++;
        }
        CHECK(n == 3);
    } else
        CHECK(cJSON_IsNull(nm));
    cJSON_Delete(j);
    char path[700];
    snprintf(path, sizeof path, "%s/cost.svg", test_tmpdir());
    CHECK_SVG_FITS(path);
}

/* A field of the adding experiment's result for (cell, T). */
static double adding_result(const cJSON *j, const char *cell, int T, const char *key)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(j, "results"))
        if (strcmp(str(r, "cell"), cell) == 0 && (int)num(r, "T") == T) return num(r, key);
    return NAN;
}

static void adding_quick(void)
{
    NEED_BIN();
    char args[700];
    snprintf(args, sizeof args, "adding --quick --seed 1 --threads 2 --json --svg '%s/adding.svg'", test_tmpdir());
    cJSON *j = run_json(args);
    if (!j) return;
    /* The table's shape: three cells at the one quick length, T=50. */
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(j, "settings");
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(set, "cells")) == 3);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "results")) == 3);
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(j, "baseline");
    CHECK(cJSON_GetArraySize(base) == 1);
    /* Always 1.0 scores the variance of a sum of two uniforms, 1/6, on
     * 500 test sequences: within a few standard errors of it. */
    double b = cJSON_IsNumber(cJSON_GetArrayItem(base, 0)) ? cJSON_GetArrayItem(base, 0)->valuedouble : NAN;
    CHECK_MSG(b > 0.13 && b < 0.2, "baseline %g", b);
    const char *cells[] = {"rnn", "lstm", "gru"};
    for (int c = 0; c < 3; c++) {
        double mse = adding_result(j, cells[c], 50, "mse");
        CHECK_MSG(mse >= 0 && mse < 0.3, "%s: test MSE %g", cells[c], mse);
        CHECK(adding_result(j, cells[c], 50, "epochs") >= 1);
    }
    /* The gated cells carry the first marked value across 50 steps: MSE at
     * most a fifth of the baseline (it measures about 0.008). */
    double lstm = adding_result(j, "lstm", 50, "mse"), gru = adding_result(j, "gru", 50, "mse");
    CHECK_MSG(lstm < 0.2 * b, "lstm at T=50: MSE %g against %g", lstm, b);
    CHECK_MSG(gru < 0.2 * b, "gru at T=50: MSE %g against %g", gru, b);
    cJSON_Delete(j);
    char path[600];
    snprintf(path, sizeof path, "%s/adding.svg", test_tmpdir());
    CHECK_SVG_FITS(path);
    char *svg = slurp(path, NULL);
    CHECK_MSG(svg && strstr(svg, "<svg") && strstr(svg, "always 1.0") && strstr(svg, "</svg>"), "adding.svg");
    free(svg);
}

static void usage_errors(void)
{
    NEED_BIN();
    static const struct {
        const char *args, *want;
        int code;
    } cases[] = {
        {"", "usage: recur experiment", 2},
        {"nope", "recur: unknown experiment 'nope'", 2},
        {"memory --cells rnn,cnn", "recur: --cells: 'cnn' is not a cell", 2},
        {"memory --cells rnn,rnn", "recur: --cells: rnn is listed twice", 2},
        {"memory --lengths 10,5", "recur: --lengths: the values must increase", 2},
        {"memory --lengths 5,x", "recur: --lengths: '5,x' is not a list", 2},
        {"memory --steps 0", "recur: --steps: 0 is out of range", 2},
        {"adding --lengths 1", "recur: --lengths: 1 is out of range", 2},
        {"adding --cells lstm,cnn", "recur: --cells: 'cnn' is not a cell", 2},
        {"adding --solved 2", "recur: --solved: ", 2},
        {"gradients --length 1", "recur: --length: 1 is out of range", 2},
        {"cost --hidden-sizes 0", "recur: --hidden-sizes: 0 is out of range", 2},
        {"cost --no-names somewhere", "recur: DATA is for the names training", 2},
        {"memory --quick --svg /nonexistent/dir/m.svg", "recur: --svg: cannot write into folder /nonexistent/dir", 1},
        {"cost --quick /nonexistent/names", "recur: ", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        result o = run(cases[i].args);
        int lines = 0;
        for (const char *p = o.err; *p; p++) lines += *p == '\n';
        CHECK_MSG(o.code == cases[i].code && strstr(o.err, cases[i].want) && o.out[0] == '\0',
                  "experiment %s: exit %d, stderr: %s", cases[i].args, o.code, o.err);
        if (strncmp(cases[i].want, "recur: ", 7) == 0)
            CHECK_MSG(lines == 1, "experiment %s: %d lines on stderr", cases[i].args, lines);
        result_free(&o);
    }
    result o = run("memory --help");
    CHECK(o.code == 0 && strstr(o.out, "usage: recur experiment memory") && strstr(o.out, "--quick"));
    result_free(&o);
    o = run("adding --help");
    CHECK(o.code == 0 && strstr(o.out, "usage: recur experiment adding") && strstr(o.out, "--solved"));
    result_free(&o);
}

const test_case tests_experiment[] = {
    {"usage_errors", usage_errors},
    {"memory_quick", memory_quick},
    {"gradients_quick", gradients_quick},
    {"adding_quick", adding_quick},
    {"cost_quick", cost_quick},
    {NULL, NULL},
};
