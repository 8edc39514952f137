/*
 * recur train / eval / predict / info on sequence data (cli/seq.h), run as
 * a program: each task end to end on small data made here (a quality floor
 * on the held-out part), the flags' and files' errors (one line, nothing
 * written), and eval --held-out finding the split training tested on.
 */
#define _DEFAULT_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zip.h>

#include "tool.h"

static const char *new_dir(const char *name) { return tool_new_dir("seq", name); }

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static double meta_number(const char *model, const char *key)
{
    recur_model *m = NULL;
    recur_error err;
    double v = NAN;
    if (recur_model_load(model, &m, &err) == RECUR_OK) {
        const char *s = recur_model_get_meta(m, key);
        if (s) v = strtod(s, NULL);
    }
    recur_model_free(m);
    return v;
}

/* A deterministic generator for the data. */
static uint64_t rng_state = 1;
static double uniform(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Words of vowels and consonants, each letter tagged V or C: the tag is a
 * function of the step's own symbol, which one epoch or two learn. As CoNLL
 * (one letter a line) and as JSON Lines (the word, its tags). */
static void write_tagged(const char *dir)
{
    static const char letters[] = "abcdeiklmnostu";
    char path[600];
    snprintf(path, sizeof path, "%s/words.conll", dir);
    FILE *c = fopen(path, "w");
    snprintf(path, sizeof path, "%s/words.jsonl", dir);
    FILE *j = fopen(path, "w");
    CHECK(c && j);
    if (!c || !j) return;
    rng_state = 11;
    for (int i = 0; i < 300; i++) {
        int n = 3 + (int)(uniform() * 6);
        char w[16];
        for (int k = 0; k < n; k++) w[k] = letters[(int)(uniform() * 14)];
        w[n] = 0;
        fprintf(j, "{\"text\": \"%s\", \"tags\": [", w);
        for (int k = 0; k < n; k++) {
            const char *t = strchr("aeiou", w[k]) ? "V" : "C";
            fprintf(c, "%c\t%s\n", w[k], t);
            fprintf(j, "%s\"%s\"", k ? ", " : "", t);
        }
        fprintf(c, "\n");
        fprintf(j, "]}\n");
    }
    fclose(c);
    fclose(j);
    /* Sentences of whole words from a small lexicon, tagged by word. */
    static const char *const lex[][2] = {{"the", "D"}, {"a", "D"}, {"cat", "N"}, {"dog", "N"}, {"owl", "N"},
                                         {"runs", "V"}, {"sees", "V"}, {"big", "A"}, {"old", "A"}};
    snprintf(path, sizeof path, "%s/sentences.jsonl", dir);
    FILE *s = fopen(path, "w");
    CHECK(s);
    if (!s) return;
    for (int i = 0; i < 300; i++) {
        int n = 2 + (int)(uniform() * 5), w[8];
        for (int k = 0; k < n; k++) w[k] = (int)(uniform() * 9);
        fprintf(s, "{\"tokens\": [");
        for (int k = 0; k < n; k++) fprintf(s, "%s\"%s\"", k ? ", " : "", lex[w[k]][0]);
        fprintf(s, "], \"tags\": [");
        for (int k = 0; k < n; k++) fprintf(s, "%s\"%s\"", k ? ", " : "", lex[w[k]][1]);
        fprintf(s, "]}\n");
    }
    fclose(s);
}

/* Sequences of 6 values in [-1, 1]; the target of a sequence is its first
 * value plus its last (per_sequence), or each step's value plus the one
 * before (per step). */
static void write_series(const char *path, int per_sequence, int n)
{
    FILE *f = fopen(path, "w");
    CHECK(f);
    if (!f) return;
    rng_state = 5;
    fprintf(f, "id,x,noise,y\n");
    for (int i = 0; i < n; i++) {
        double x[6];
        for (int t = 0; t < 6; t++) x[t] = 2 * uniform() - 1;
        for (int t = 0; t < 6; t++)
            fprintf(f, "s%d,%.5f,%.5f,%.5f\n", i, x[t], uniform(),
                    per_sequence ? x[0] + x[5] : x[t] + (t ? x[t - 1] : 0));
    }
    fclose(f);
}

#define FAST "--hidden 16 --threads 1 --seed 3"

static void test_tag_conll(void)
{
    NEED_BIN();
    const char *d = new_dir("tag");
    write_tagged(d);
    result r = run_in(d, NULL, "train words.conll -o tag.safetensors --epochs 4 --lr 0.01 " FAST, NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(strstr(r.out, "task    tag: 2 tags") != NULL);
    CHECK(strstr(r.out, "step accuracy") != NULL);
    result_free(&r);
    char m[700];
    snprintf(m, sizeof m, "%s/tag.safetensors", d);
    double acc = meta_number(m, "step_accuracy");
    CHECK_MSG(acc >= 0.95, "held-out step accuracy %.4f is below 0.95", acc);
    CHECK(meta_number(m, "exact_match") >= 0.8);
    /* --task checks what the data hold: the same file, asked for tags. */
    r = run_in(d, NULL, "train words.conll -o tag2.safetensors --task tag --epochs 1 " FAST, NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    result_free(&r);
}

static void test_tag_jsonl_words(void)
{
    NEED_BIN();
    const char *d = new_dir("tagw");
    write_tagged(d);
    /* Characters of JSON Lines text. */
    result r = run_in(d, NULL, "train words.jsonl -o c.safetensors --epochs 4 --lr 0.01 " FAST, NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(strstr(r.out, "14 characters") != NULL);
    result_free(&r);
    char m[700];
    snprintf(m, sizeof m, "%s/c.safetensors", d);
    CHECK(meta_number(m, "step_accuracy") >= 0.95);
    /* Whole tokens: a vocabulary of the 9 words, stored in the model. */
    r = run_in(d, NULL, "train sentences.jsonl --tokens word -o w.safetensors --epochs 4 --lr 0.01 " FAST, NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(strstr(r.out, "9 tokens") != NULL);
    result_free(&r);
    snprintf(m, sizeof m, "%s/w.safetensors", d);
    CHECK(meta_number(m, "step_accuracy") >= 0.95);
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
    const char *d = new_dir("regress");
    char p[700], m[700];
    snprintf(p, sizeof p, "%s/series.csv", d);
    write_series(p, 1, 300);
    result r = run_in(d, NULL,
                      "train series.csv -o r.safetensors --task regress --id-col id --feature-cols x --target-cols y "
                      "--per-sequence --epochs 12 --lr 0.01 --batch 16 " FAST,
                      NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(strstr(r.out, "1 real target per sequence, mse loss") != NULL);
    result_free(&r);
    snprintf(m, sizeof m, "%s/r.safetensors", d);
    double r2 = meta_number(m, "test_r2");
    CHECK_MSG(r2 >= 0.9, "held-out R² %.4f is below 0.9", r2);
    /* Per step, with the Huber loss. */
    snprintf(p, sizeof p, "%s/steps.csv", d);
    write_series(p, 0, 200);
    r = run_in(d, NULL,
               "train steps.csv -o s.safetensors --id x --features x --targets y --id-col id --loss huber "
               "--huber-delta 0.5 --epochs 8 --lr 0.01 --batch 16 " FAST,
               NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(strstr(r.out, "1 real target per step, huber loss") != NULL);
    result_free(&r);
    snprintf(m, sizeof m, "%s/s.safetensors", d);
    r2 = meta_number(m, "test_r2");
    CHECK_MSG(r2 >= 0.8, "per-step held-out R² %.4f is below 0.8", r2);
}

/* The value after "key": in a JSON line, or NAN. */
static double json_number(const char *s, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = s ? strstr(s, k) : NULL;
    return p ? strtod(p + strlen(k), NULL) : NAN;
}

/* eval --held-out reads the data as recorded and scores exactly the
 * sequences training tested on; eval on the whole file sees all of them;
 * predict prints a line per sequence or per step; info tells the task. */
static void test_eval_predict_info(void)
{
    NEED_BIN();
    const char *d = new_dir("eval");
    write_tagged(d);
    char m[700];
    result r = run_in(d, NULL, "train words.conll -o tag.safetensors --epochs 4 --lr 0.01 " FAST, NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    result_free(&r);
    snprintf(m, sizeof m, "%s/tag.safetensors", d);
    r = run_in(d, NULL, "eval tag.safetensors words.conll --held-out --json", NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(json_number(r.out, "sequences") == meta_number(m, "test_sequences"));
    CHECK(fabs(json_number(r.out, "step_accuracy") - meta_number(m, "step_accuracy")) < 1e-6);
    CHECK(fabs(json_number(r.out, "exact_match") - meta_number(m, "exact_match")) < 1e-6);
    CHECK(strstr(r.out, "\"per_tag\":[{\"tag\":\"C\"") != NULL);
    result_free(&r);
    r = run_in(d, NULL, "eval tag.safetensors words.conll", NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(strstr(r.out, "300 sequences") && strstr(r.out, "step accuracy") && strstr(r.out, "exact match"));
    CHECK(strstr(r.out, "precision") && strstr(r.out, "confusion matrix"));
    result_free(&r);
    /* The same words as JSON Lines: the model's vocabulary and tags by name. */
    r = run_in(d, NULL, "eval tag.safetensors words.jsonl --json", NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(json_number(r.out, "sequences") == 300 && json_number(r.out, "step_accuracy") >= 0.9);
    result_free(&r);
    put(d, "few.conll", "a\nb\nc\n\no\nk\n", 11);
    r = run_in(d, NULL, "predict tag.safetensors few.conll", NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK_MSG(strcmp(r.out, "#1\tV C C\n#2\tV C\n") == 0, "predict: %s", r.out);
    result_free(&r);
    r = run_in(d, NULL, "predict tag.safetensors few.conll --steps", NULL);
    CHECK_MSG(r.code == 0 && strncmp(r.out, "#1\t0\ta\tV\n#1\t1\tb\tC\n", 18) == 0, "predict --steps: %s", r.out);
    result_free(&r);
    r = run_in(d, NULL, "predict tag.safetensors few.conll --steps --json", NULL);
    CHECK_MSG(r.code == 0 && strstr(r.out, "{\"sequence\":\"#2\",\"step\":1,\"symbol\":\"k\",\"tag\":\"C\""),
              "%s", r.out);
    result_free(&r);
    r = run_in(d, NULL, "info tag.safetensors", NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(strstr(r.out, "task        tag") && strstr(r.out, "every step's output") && strstr(r.out, "path"));
    result_free(&r);

    /* A regressor: eval --held-out gives the MSE training recorded. */
    char p[700];
    snprintf(p, sizeof p, "%s/series.csv", d);
    write_series(p, 1, 120);
    r = run_in(d, NULL, "train series.csv -o r.safetensors --id-col id --target-cols y --per-sequence --epochs 2 " FAST,
               NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    result_free(&r);
    snprintf(m, sizeof m, "%s/r.safetensors", d);
    r = run_in(d, NULL, "eval r.safetensors series.csv --held-out --json", NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(fabs(json_number(r.out, "mse") - meta_number(m, "test_mse")) < 1e-6 * (1 + meta_number(m, "test_mse")));
    CHECK(json_number(r.out, "sequences") == 18 && strstr(r.out, "\"per_target\":[{\"target\":\"y\""));
    result_free(&r);
    /* predict on rows without the target column: one value per sequence. */
    put(d, "new.csv", "id,x,noise\na,0.5,0.1\na,0.2,0.3\nb,-1,0\n", 38);
    r = run_in(d, NULL, "predict r.safetensors new.csv", NULL);
    CHECK_MSG(r.code == 0 && strncmp(r.out, "a\t", 2) == 0 && strstr(r.out, "\nb\t"), "exit %d: %s %s", r.code,
              r.out, r.err);
    result_free(&r);
    r = run_in(d, NULL, "predict r.safetensors new.csv --steps", NULL);
    CHECK_FAILS(r, 2, "reads the final state");
    result_free(&r);
    r = run_in(d, NULL, "predict r.safetensors", NULL);
    CHECK_FAILS(r, 2, "give one FILE");
    result_free(&r);
    r = run_in(d, NULL, "eval r.safetensors words.conll", NULL);
    CHECK_FAILS(r, 1, "words.conll");
    result_free(&r);
    r = run_in(d, NULL, "eval tag.safetensors series.csv", NULL);
    CHECK(r.code == 1 && r.err_lines == 1 && r.out[0] == 0);
    result_free(&r);
}

/* A classifier of dense sequences: the sign of a sequence's sum, a label
 * column of a CSV; eval shows accuracy, macro recall and the matrix. */
static void test_classify_dense(void)
{
    NEED_BIN();
    const char *d = new_dir("classify");
    char p[700];
    snprintf(p, sizeof p, "%s/signs.csv", d);
    FILE *f = fopen(p, "w");
    CHECK(f);
    if (!f) return;
    rng_state = 9;
    fprintf(f, "id,a,b,class\n");
    for (int i = 0; i < 300; i++) {
        double x[5], sum = 0;
        for (int t = 0; t < 5; t++) sum += x[t] = 2 * uniform() - 1;
        for (int t = 0; t < 5; t++) fprintf(f, "q%d,%.4f,%.4f,%s\n", i, x[t], uniform(), sum > 0 ? "up" : "down");
    }
    fclose(f);
    result r = run_in(d, NULL, "train signs.csv -o c.safetensors --id-col id --label-col class --epochs 6 --lr 0.01 "
                               "--batch 16 " FAST, NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(strstr(r.out, "task    classify: 2 labels") != NULL);
    result_free(&r);
    char m[700];
    snprintf(m, sizeof m, "%s/c.safetensors", d);
    double acc = meta_number(m, "accuracy");
    CHECK_MSG(acc >= 0.85, "held-out accuracy %.4f is below 0.85", acc);
    r = run_in(d, NULL, "eval c.safetensors signs.csv --held-out", NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(strstr(r.out, "macro recall") && strstr(r.out, "confusion matrix") && strstr(r.out, "45 sequences"));
    result_free(&r);
}

/* A .npy image (header padded to 64 bytes, then the data). */
static size_t npy_image(unsigned char *out, size_t cap, const char *shape, const float *data, size_t len)
{
    char h[256];
    int k = snprintf(h, sizeof h, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }", shape);
    size_t pad = (64 - (10 + (size_t)k + 1) % 64) % 64, hl = (size_t)k + pad + 1;
    if (10 + hl + len > cap) return 0;
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (unsigned char)(hl & 0xff);
    out[9] = (unsigned char)(hl >> 8);
    memcpy(out + 10, h, (size_t)k);
    memset(out + 10 + k, ' ', pad);
    out[10 + hl - 1] = '\n';
    memcpy(out + 10 + hl, data, len);
    return 10 + hl + len;
}

/* NumPy: an .npz of features [N][T][2] and targets [N][1] (the first
 * step's first value plus the last's, rescaled), stored members as np.savez writes
 * them; eval --held-out and predict on a .npy of features alone. */
static void test_regress_npz(void)
{
    NEED_BIN();
    const char *d = new_dir("npz");
    enum { N = 200, T = 6 };
    static float x[N][T][2], y[N][1];
    rng_state = 21;
    for (int i = 0; i < N; i++) {
        /* Far from 0 and wide: only standardised inputs learn this fast. */
        for (int t = 0; t < T; t++) x[i][t][0] = (float)(100 + 20 * uniform()), x[i][t][1] = (float)uniform();
        y[i][0] = (x[i][0][0] + x[i][T - 1][0] - 220) / 10;
    }
    static unsigned char fimg[sizeof x + 256], timg[sizeof y + 256];
    size_t fl = npy_image(fimg, sizeof fimg, "(200, 6, 2)", &x[0][0][0], sizeof x);
    size_t tl = npy_image(timg, sizeof timg, "(200, 1)", &y[0][0], sizeof y);
    char p[700];
    snprintf(p, sizeof p, "%s/sums.npz", d);
    int ze;
    zip_t *z = zip_open(p, ZIP_CREATE | ZIP_TRUNCATE, &ze);
    CHECK(z != NULL);
    if (!z) return;
    zip_int64_t a = zip_file_add(z, "features.npy", zip_source_buffer(z, fimg, fl, 0), ZIP_FL_OVERWRITE);
    zip_int64_t b = zip_file_add(z, "targets.npy", zip_source_buffer(z, timg, tl, 0), ZIP_FL_OVERWRITE);
    CHECK(a >= 0 && b >= 0);
    if (a >= 0) zip_set_file_compression(z, (zip_uint64_t)a, ZIP_CM_STORE, 0);
    if (b >= 0) zip_set_file_compression(z, (zip_uint64_t)b, ZIP_CM_STORE, 0);
    CHECK(zip_close(z) == 0);
    result r = run_in(d, NULL, "train sums.npz -o n.safetensors --epochs 12 --lr 0.01 --batch 16 " FAST, NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(strstr(r.out, "2 features per step") && strstr(r.out, "1 real target per sequence"));
    result_free(&r);
    char m[700];
    snprintf(m, sizeof m, "%s/n.safetensors", d);
    double r2 = meta_number(m, "test_r2");
    CHECK_MSG(r2 >= 0.9, "held-out R² %.4f is below 0.9", r2);
    r = run_in(d, NULL, "eval n.safetensors sums.npz --held-out --json", NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(fabs(json_number(r.out, "r2") - r2) < 1e-6 && json_number(r.out, "sequences") == 30);
    result_free(&r);
    size_t n3 = npy_image(fimg, sizeof fimg, "(3, 6, 2)", &x[0][0][0], 3 * sizeof x[0]);
    put(d, "three.npy", (const char *)fimg, n3);
    r = run_in(d, NULL, "predict n.safetensors three.npy", NULL);
    CHECK_MSG(r.code == 0 && strncmp(r.out, "#1\t", 3) == 0 && strstr(r.out, "\n#3\t"), "exit %d: %s %s", r.code,
              r.out, r.err);
    if (r.code == 0) {
        double v = strtod(r.out + 3, NULL);
        CHECK_MSG(fabs(v - y[0][0]) < 0.4, "prediction %.3f for a target of %.3f", v, (double)y[0][0]);
    }
    result_free(&r);
}

/* A names folder trains as it always did: its model records the flags
 * of names only (none of sequence data's), and those flags are refused. */
static void test_names_unchanged(void)
{
    NEED_BIN();
    const char *d = new_dir("names");
    char sub[700];
    snprintf(sub, sizeof sub, "%s/data", d);
    mkdir(sub, 0700);
    char a[4000] = "", b[4000] = "";
    rng_state = 2;
    for (int i = 0; i < 120; i++) {
        char w[12];
        int n = 3 + i % 4;
        for (int k = 0; k < n; k++) w[k] = "aeiou"[(int)(uniform() * 5)];
        w[n] = 0;
        strcat(a, w), strcat(a, "\n");
        for (int k = 0; k < n; k++) w[k] = "bcdfg"[(int)(uniform() * 5)];
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
    const char *d = new_dir("errors");
    write_tagged(d);
    char p[700];
    snprintf(p, sizeof p, "%s/series.csv", d);
    write_series(p, 1, 20);
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
        CHECK_MSG(!exists(p), "%s wrote a model", cases[i].args);
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
