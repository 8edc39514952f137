/*
 * recur train on sequence data (cli/seq.h), run as a program: each task end
 * to end on small text files made here (a quality floor on the held-out
 * part), a names folder training as before, and the flags' and files'
 * errors (one line, nothing written). The suite's other tests are in
 * test_cli_seq_eval.c and test_cli_dense.c (tests/cli_seq.h).
 */
#define _DEFAULT_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_seq.h"

static void test_tag_conll(void)
{
    NEED_BIN();
    const char *d = seq_dir("tag");
    seq_write_tagged(d);
    result r = run_in(d, NULL, "train words.conll -o tag.safetensors --epochs 4 --lr 0.01 " FAST, NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(strstr(r.out, "task    tag: 2 tags") != NULL);
    CHECK(strstr(r.out, "step accuracy") != NULL);
    result_free(&r);
    char m[700];
    snprintf(m, sizeof m, "%s/tag.safetensors", d);
    double acc = seq_meta_number(m, "step_accuracy");
    CHECK_MSG(acc >= 0.95, "held-out step accuracy %.4f is below 0.95", acc);
    CHECK(seq_meta_number(m, "exact_match") >= 0.8);
    /* --task checks what the data hold: the same file, asked for tags. */
    r = run_in(d, NULL, "train words.conll -o tag2.safetensors --task tag --epochs 1 " FAST, NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    result_free(&r);
}

static void test_tag_jsonl_words(void)
{
    NEED_BIN();
    const char *d = seq_dir("tagw");
    seq_write_tagged(d);
    /* Characters of JSON Lines text. */
    result r = run_in(d, NULL, "train words.jsonl -o c.safetensors --epochs 4 --lr 0.01 " FAST, NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(strstr(r.out, "14 characters") != NULL);
    result_free(&r);
    char m[700];
    snprintf(m, sizeof m, "%s/c.safetensors", d);
    CHECK(seq_meta_number(m, "step_accuracy") >= 0.95);
    /* Whole tokens: a vocabulary of the 9 words, stored in the model. */
    r = run_in(d, NULL, "train sentences.jsonl --tokens word -o w.safetensors --epochs 4 --lr 0.01 " FAST, NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(strstr(r.out, "9 tokens") != NULL);
    result_free(&r);
    snprintf(m, sizeof m, "%s/w.safetensors", d);
    CHECK(seq_meta_number(m, "step_accuracy") >= 0.95);
    recur_model *wm = NULL;
    recur_error err;
    CHECK_OK(recur_model_load(m, &wm, &err), &err);
    const char *toks = wm ? recur_model_get_meta(wm, "tokens") : NULL;
    CHECK(toks && strstr(toks, "\"owl\"") && strstr(toks, "\"the\""));
    recur_model_free(wm);
}

static void test_regress_csv(void)
{
    NEED_BIN();
    const char *d = seq_dir("regress");
    char p[700], m[700];
    snprintf(p, sizeof p, "%s/series.csv", d);
    seq_write_series(p, 1, 300);
    result r = run_in(d, NULL,
                      "train series.csv -o r.safetensors --task regress --id-col id --feature-cols x --target-cols y "
                      "--per-sequence --epochs 12 --lr 0.01 --batch 16 " FAST,
                      NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(strstr(r.out, "1 real target per sequence, mse loss") != NULL);
    result_free(&r);
    snprintf(m, sizeof m, "%s/r.safetensors", d);
    double r2 = seq_meta_number(m, "test_r2");
    CHECK_MSG(r2 >= 0.9, "held-out R² %.4f is below 0.9", r2);
    /* Per step, with the Huber loss. */
    snprintf(p, sizeof p, "%s/steps.csv", d);
    seq_write_series(p, 0, 200);
    r = run_in(d, NULL,
               "train steps.csv -o s.safetensors --id x --features x --targets y --id-col id --loss huber "
               "--huber-delta 0.5 --epochs 8 --lr 0.01 --batch 16 " FAST,
               NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(strstr(r.out, "1 real target per step, huber loss") != NULL);
    result_free(&r);
    snprintf(m, sizeof m, "%s/s.safetensors", d);
    r2 = seq_meta_number(m, "test_r2");
    CHECK_MSG(r2 >= 0.8, "per-step held-out R² %.4f is below 0.8", r2);
}

/* A names folder trains as it always did: its model records the flags
 * of names only (none of sequence data's), and those flags are refused. */
static void test_names_unchanged(void)
{
    NEED_BIN();
    const char *d = seq_dir("names");
    char sub[700];
    snprintf(sub, sizeof sub, "%s/data", d);
    mkdir(sub, 0700);
    char a[4000] = "", b[4000] = "";
    seq_seed(2);
    for (int i = 0; i < 120; i++) {
        char w[12];
        int n = 3 + i % 4;
        for (int k = 0; k < n; k++) w[k] = "aeiou"[(int)(seq_uniform() * 5)];
        w[n] = 0;
        strcat(a, w), strcat(a, "\n");
        for (int k = 0; k < n; k++) w[k] = "bcdfg"[(int)(seq_uniform() * 5)];
        strcat(b, w), strcat(b, "\n");
    }
    put(sub, "Soft.txt", a, strlen(a));
    put(sub, "Hard.txt", b, strlen(b));
    result r = run_in(d, NULL, "train data -o names.safetensors --epochs 1 --hidden 8 --embed 4 --threads 1", NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(strstr(r.out, "names/s") != NULL);
    result_free(&r);
    char m[700];
    snprintf(m, sizeof m, "%s/names.safetensors", d);
    recur_model *nm = NULL;
    recur_error err;
    CHECK_OK(recur_model_load(m, &nm, &err), &err);
    const char *args = nm ? recur_model_get_meta(nm, "train_args") : NULL;
    CHECK(args && strstr(args, "--hidden 8") && !strstr(args, "--task") && !strstr(args, "--tokens"));
    CHECK(nm && !recur_model_get_meta(nm, "data.kind"));
    recur_model_free(nm);
    r = run_in(d, NULL, "train data -o x.safetensors --step-tags t", NULL);
    CHECK_FAILS(r, 2, "--step-tags is for sequence data");
    result_free(&r);
}

static void test_errors(void)
{
    NEED_BIN();
    const char *d = seq_dir("errors");
    seq_write_tagged(d);
    char p[700];
    snprintf(p, sizeof p, "%s/series.csv", d);
    seq_write_series(p, 1, 20);
    put(d, "bad.csv", "id,x,y\ns1,1,2\ns1,oops,3\n", 25);
    put(d, "empty.jsonl", "", 0);
    static const struct {
        const char *args, *want;
        int code;
    } cases[] = {
        {"train words.conll --task regress", "holds no real targets", 1},
        {"train words.conll --task classify", "holds no label per sequence", 1},
        {"train words.conll --loss mse", "--loss mse does not fit --task tag", 2},
        {"train words.conll --huber-delta 2", "--huber-delta needs --loss huber", 2},
        {"train words.conll --split distinct", "--split distinct is for folders of names", 2},
        {"train words.conll --generate", "--generate is for folders of names", 2},
        {"train words.conll --task frob", "--task", 2},
        {"train words.conll --tokens bytes", "--tokens", 2},
        {"train series.csv --id-col nope --target-cols y", "no column named 'nope'", 1},
        {"train series.csv --id-col id", "holds no tags per step, real targets or labels", 1},
        {"train bad.csv --id-col id --target-cols y", "bad.csv", 1},
        {"train missing.npz", "missing.npz", 1},
        {"train empty.jsonl", "empty.jsonl", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char a[400];
        snprintf(a, sizeof a, "%s -o out.safetensors --epochs 1", cases[i].args);
        result r = run_in(d, NULL, a, NULL);
        CHECK_FAILS(r, cases[i].code, cases[i].want);
        result_free(&r);
        snprintf(p, sizeof p, "%s/out.safetensors", d);
        CHECK_MSG(!seq_exists(p), "%s wrote a model", cases[i].args);
    }
}

const test_case tests_cli_seq[] = {
    {"tag_conll", test_tag_conll},
    {"tag_jsonl_words", test_tag_jsonl_words},
    {"regress_csv", test_regress_csv},
    {"eval_predict_info", test_eval_predict_info},
    {"classify_dense", test_classify_dense},
    {"regress_npz", test_regress_npz},
    {"names_unchanged", test_names_unchanged},
    {"errors", test_errors},
    {NULL, NULL},
};
