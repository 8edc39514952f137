/*
 * The recur command-line tool, run as a program ($RECUR_BIN): flags and
 * their errors, data errors, damaged model files, a short training run on
 * the names data (accuracy floor, bit-for-bit repeatability, --resume,
 * Ctrl-C), and predictions of a saved model against in-process results.
 */
#define _DEFAULT_SOURCE
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"

static const char *new_dir(const char *name) { return tool_new_dir("cli", name); }

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static result run(const char *args) { return run_in(NULL, NULL, args, NULL); }

/* ------------------------------------------------------------------------ */

static void test_version_and_help(void)
{
    NEED_BIN();
    result r = run("--version");
    CHECK(r.code == 0);
    CHECK(strstr(r.out, "recur " RECUR_VERSION) != NULL);
    result_free(&r);
    r = run("--help");
    CHECK(r.code == 0 && strstr(r.out, "train") && strstr(r.out, "predict"));
    result_free(&r);
    const char *cmds[] = {"train", "eval", "predict", "info"};
    for (int i = 0; i < 4; i++) {
        char a[64];
        snprintf(a, sizeof a, "%s --help", cmds[i]);
        r = run(a);
        CHECK_MSG(r.code == 0 && strstr(r.out, "usage: recur ") && r.err[0] == '\0', "%s", a);
        result_free(&r);
    }
    r = run("frobnicate");
    CHECK_FAILS(r, 2, "unknown command");
    result_free(&r);
    r = run("");
    CHECK(r.code == 2);
    result_free(&r);
}

static void test_bad_flags(void)
{
    NEED_BIN();
    const char *dir = new_dir("flags");
    static const struct {
        const char *args, *want;
    } cases[] = {
        {"train --hidden 1000000000", "--hidden: 1000000000 is out of range 1..4096"},
        {"train --epochs -3", "--epochs: -3 is out of range"},
        {"train --lr 0", "--lr: 0 is out of range (0, 10]"},
        {"train --test-split 1.5", "--test-split: 1.5 is out of range (0, 1)"},
        {"train --batch 0", "--batch: 0 is out of range"},
        {"train --threads 0", "--threads: 0 is out of range 1..256"},
        {"train --threads 10000", "--threads: 10000 is out of range"},
        {"train --hidden 12abc", "--hidden: '12abc' is not an integer"},
        {"train --lr fast", "--lr: 'fast' is not a number"},
        {"train --lr nan", "--lr: 'nan' is not a number"},
        {"train --dropout 1", "--dropout: 1 is out of range [0, 1)"},
        {"train --seed -1", "--seed: '-1' is not a non-negative integer"},
        {"train --cell transformer", "--cell: 'transformer' is not one of rnn, rnn_relu, lstm, gru"},
        {"train --optim lion", "--optim: 'lion' is not one of sgd, adam"},
        {"train --frobnicate", "unknown flag --frobnicate"},
        {"train --hidden", "--hidden needs a value"},
        {"train --hidden --layers 2", "--hidden needs a value"},
        {"train --quiet=yes", "--quiet takes no value"},
        {"train a b", "unexpected argument 'b'"},
        {"eval", "missing arguments"},
        {"eval model.safetensors", "missing arguments"},
        {"eval m d --color pink", "--color: 'pink' is not one of auto, always, never"},
        {"predict", "missing arguments"},
        {"predict m --top 0", "--top: 0 is out of range"},
        {"info", "missing arguments"},
        {"info a b", "unexpected argument 'b'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[300];
        /* Were a flag accepted by mistake, training would write here. */
        int train = strncmp(cases[i].args, "train", 5) == 0;
        snprintf(args, sizeof args, "%s%s", train ? "train -o never.safetensors" : "",
                 cases[i].args + (train ? 5 : 0));
        result r = run_in(dir, NULL, args, NULL);
        CHECK_FAILS(r, 2, cases[i].want);
        result_free(&r);
    }
    char p[700];
    snprintf(p, sizeof p, "%s/never.safetensors", dir);
    CHECK(!exists(p));
}

static void test_data_errors(void)
{
    NEED_BIN();
    const char *dir = new_dir("data");
    /* A folder that is not there. */
    result r = run_in(dir, NULL, "train /no/such/folder -o m.safetensors", NULL);
    CHECK_FAILS(r, 1, "/no/such/folder");
    result_free(&r);
    /* An empty folder. */
    const char *empty = new_dir("empty");
    char args[1200];
    snprintf(args, sizeof args, "train '%s' -o m.safetensors", empty);
    r = run_in(dir, NULL, args, NULL);
    CHECK_FAILS(r, 1, "no .txt files");
    result_free(&r);
    /* A file that is not UTF-8, on its line 3. */
    const char *bad = new_dir("badutf8");
    put(bad, "Alpha.txt", "Adams\nBrown\n", 12);
    put(bad, "Beta.txt", "Ivanov\nPetrov\nSid\xff\xfeov\n", 23);
    snprintf(args, sizeof args, "train '%s' -o m.safetensors", bad);
    r = run_in(dir, NULL, args, NULL);
    CHECK_FAILS(r, 1, "Beta.txt:3");
    CHECK(strstr(r.err, "UTF-8") != NULL);
    result_free(&r);
    /* A label with no names. */
    const char *blank = new_dir("blank");
    put(blank, "Alpha.txt", "Adams\nBrown\n", 12);
    put(blank, "Beta.txt", "\n  \n", 4);
    snprintf(args, sizeof args, "train '%s' -o m.safetensors", blank);
    r = run_in(dir, NULL, args, NULL);
    CHECK_FAILS(r, 1, "Beta.txt");
    result_free(&r);
    /* Output into a folder that is not there: refused before any work. */
    r = run_in(dir, NULL, "train /no/such/folder -o /no/such/dir/m.safetensors", NULL);
    CHECK_FAILS(r, 1, "/no/such/dir");
    result_free(&r);
    /* No DATA and no RECUR_DATA: the fetch fails offline with one line. */
    char env[1400];
    snprintf(env, sizeof env, "RECUR_DATA= XDG_CACHE_HOME='%s/cache' RECUR_DATA_URL=file:///no/such/data.zip", dir);
    r = run_in(dir, env, "train -o m.safetensors", NULL);
    CHECK_FAILS(r, 1, "fetching the tutorial's names");
    result_free(&r);
    char p[700];
    snprintf(p, sizeof p, "%s/m.safetensors", dir);
    CHECK(!exists(p));
    snprintf(p, sizeof p, "%s/m.safetensors.ckpt", dir);
    CHECK(!exists(p));
}

static void test_bad_model_files(void)
{
    NEED_BIN();
    const char *dir = new_dir("badmodel");
    /* A real model file, cut short; and a file of text. */
    recur_error err;
    recur_vocab *v = NULL;
    recur_model *m = NULL;
    const char *syms[] = {"", "", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o",
                          "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z", "A", "B", "D", "J", "S"};
    const char *labels[] = {"Alpha", "Beta", "Gamma"};
    recur_model_config cfg;
    recur_model_config_default(&cfg);
    cfg.hidden = 8;
    cfg.embed = 4;
    char path[700];
    snprintf(path, sizeof path, "%s/whole.safetensors", dir);
    CHECK_OK(recur_vocab_from_symbols(RECUR_TEXT_UNICODE, syms, (int)(sizeof syms / sizeof syms[0]), &v, &err),
             &err);
    if (v) CHECK_OK(recur_model_create(&cfg, v, labels, 3, &m, &err), &err);
    if (m) CHECK_OK(recur_model_save(m, path, &err), &err);
    recur_model_free(m);
    recur_vocab_free(v);
    size_t len = 0;
    char *whole = slurp(path, &len);
    if (!whole) return;
    put(dir, "cut.safetensors", whole, len / 2);
    put(dir, "head.safetensors", whole, 7);
    put(dir, "text.safetensors", "hello, world\n", 13);
    free(whole);
    const char *names[] = {"missing.safetensors", "cut.safetensors", "head.safetensors", "text.safetensors"};
    for (int i = 0; i < 4; i++) {
        char args[300];
        snprintf(args, sizeof args, "predict %s Dovesky", names[i]);
        result r = run_in(dir, NULL, args, NULL);
        CHECK_FAILS(r, 1, names[i]);
        result_free(&r);
        snprintf(args, sizeof args, "info %s", names[i]);
        r = run_in(dir, NULL, args, NULL);
        CHECK_FAILS(r, 1, names[i]);
        result_free(&r);
        snprintf(args, sizeof args, "eval %s .", names[i]);
        r = run_in(dir, NULL, args, NULL);
        CHECK_FAILS(r, 1, names[i]);
        result_free(&r);
    }
    /* The whole file works. */
    result r = run_in(dir, NULL, "info whole.safetensors", NULL);
    CHECK_MSG(r.code == 0 && strstr(r.out, "lstm") && strstr(r.out, "Gamma"), "info: %s", r.err);
    result_free(&r);
    /* A name that is not UTF-8 on stdin: its line number. */
    put(dir, "names.txt", "Adams\n\nBro\xffwn\n", 13);
    char in[700];
    snprintf(in, sizeof in, "%s/names.txt", dir);
    r = run_in(dir, NULL, "predict whole.safetensors", in);
    CHECK_MSG(r.code == 1 && strstr(r.err, "stdin:3") && r.err_lines == 1, "exit %d: %s", r.code, r.err);
    result_free(&r);
}

/* predict, the runner and the loader trim alike: Unicode white space
 * (U+00A0, U+2003, U+3000, ...) at the ends of a name is not part of it. */
static void test_predict_trims_like_the_loader(void)
{
    NEED_BIN();
    const char *dir = new_dir("trim");
    recur_error err;
    recur_vocab *v = NULL;
    recur_model *m = NULL;
    recur_runner *rn = NULL;
    const char *syms[] = {"", "", "D", "o", "v", "e", "s", "k", "y"};
    const char *labels[] = {"Alpha", "Beta", "Gamma"};
    recur_model_config cfg;
    recur_model_config_default(&cfg);
    cfg.hidden = 8;
    cfg.embed = 4;
    char path[700];
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    CHECK_OK(recur_vocab_from_symbols(RECUR_TEXT_UNICODE, syms, 9, &v, &err), &err);
    if (v) CHECK_OK(recur_model_create(&cfg, v, labels, 3, &m, &err), &err);
    if (m) CHECK_OK(recur_model_save(m, path, &err), &err);
    if (m) CHECK_OK(recur_runner_create(m, 2, &rn, &err), &err);
    if (rn) {
        const char *texts[] = {"Dovesky", "\xc2\xa0" "Dovesky\xe3\x80\x80"};
        float lp[6];
        CHECK_OK(recur_runner_classify(rn, texts, NULL, 2, lp, &err), &err);
        CHECK(memcmp(lp, lp + 3, 3 * sizeof *lp) == 0);
    }
    recur_runner_free(rn);
    recur_model_free(m);
    recur_vocab_free(v);
    const char *lines = "Dovesky\n\xc2\xa0" "Dovesky\xe2\x80\x83\r\n";
    put(dir, "in.txt", lines, strlen(lines));
    char in[700];
    snprintf(in, sizeof in, "%s/in.txt", dir);
    result r = run_in(dir, NULL, "predict m.safetensors --json", in);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    const char *second = strchr(r.out, '\n');
    CHECK_MSG(second && strncmp(r.out, "{\"name\":\"Dovesky\"", 17) == 0 &&
                  strncmp(r.out, second + 1, (size_t)(second - r.out)) == 0,
              "%s", r.out);
    const char *words[] = {"predict", "m.safetensors", "--json", "\xe3\x80\x80" "Dovesky\xc2\xa0", NULL};
    result r2 = runv(dir, NULL, words);
    CHECK_MSG(r2.code == 0 && second && strncmp(r2.out, r.out, (size_t)(second - r.out) + 1) == 0, "%s", r2.out);
    result_free(&r2);
    result_free(&r);
}

/* ------------------------------------------------------------------------ */
/* Training on the names data                                                */
/* ------------------------------------------------------------------------ */

#define SMALL "--hidden 32 --embed 16 --threads 1 --seed 7"
/* Measured: 2 epochs of SMALL reach 73.2% held-out accuracy (67.1% after
 * one); a model that learns nothing scores 46.8% (all Russian). */
#define ACCURACY_FLOOR 0.68

static double meta_number(const char *model, const char *key)
{
    recur_model *m = NULL;
    recur_error err;
    double v = -1;
    if (recur_model_load(model, &m, &err) == RECUR_OK) {
        const char *s = recur_model_get_meta(m, key);
        if (s) v = strtod(s, NULL);
    } else {
        fprintf(stderr, "    %s\n", err.message);
    }
    recur_model_free(m);
    return v;
}

static void test_train_small(void)
{
    NEED_DATA();
    const char *a = new_dir("train-a"), *b = new_dir("train-b");
    char args[1200], pa[700], pb[700];
    snprintf(args, sizeof args, "train '%s' -o model.safetensors --epochs 2 " SMALL " --svg loss.svg",
             test_data_dir());
    result r = run_in(a, NULL, args, NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(strstr(r.out, "epoch 2/2") != NULL);
    CHECK(strstr(r.out, "spellings under several labels") != NULL);
    result_free(&r);
    snprintf(pa, sizeof pa, "%s/model.safetensors", a);
    double acc = meta_number(pa, "accuracy");
    CHECK_MSG(acc >= ACCURACY_FLOOR, "held-out accuracy %.4f is below the floor %.2f", acc, ACCURACY_FLOOR);
    CHECK(meta_number(pa, "epochs_done") == 2);
    snprintf(pa, sizeof pa, "%s/loss.svg", a);
    char *svg = slurp(pa, NULL);
    CHECK(svg && strstr(svg, "<svg") && strstr(svg, "</svg>") && strstr(svg, "validation loss"));
    free(svg);
    CHECK_SVG_FITS(pa);
    /* Same seed and threads, another folder: the same bytes. */
    r = run_in(b, NULL, args, NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    result_free(&r);
    snprintf(pa, sizeof pa, "%s/model.safetensors", a);
    snprintf(pb, sizeof pb, "%s/model.safetensors", b);
    CHECK_MSG(same_file(pa, pb), "two runs with seed 7 differ: %s %s", pa, pb);
    snprintf(pa, sizeof pa, "%s/model.safetensors.ckpt", a);
    snprintf(pb, sizeof pb, "%s/model.safetensors.ckpt", b);
    CHECK(same_file(pa, pb));

    /* eval --held-out sees exactly the split that training tested on. */
    snprintf(args, sizeof args, "eval model.safetensors '%s' --held-out --json", test_data_dir());
    r = run_in(a, NULL, args, NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    const char *p = strstr(r.out, "\"accuracy\":");
    snprintf(pa, sizeof pa, "%s/model.safetensors", a);
    CHECK(p && fabs(strtod(p + 11, NULL) - meta_number(pa, "accuracy")) < 1e-5);
    p = strstr(r.out, "\"examples\":");
    CHECK(p && strtod(p + 11, NULL) == meta_number(pa, "test_names"));
    CHECK(strstr(r.out, "\"confusion\":[[") != NULL);
    result_free(&r);
    /* The terminal report: the table and the heat map, and an SVG. */
    snprintf(args, sizeof args, "eval model.safetensors '%s' --svg confusion.svg", test_data_dir());
    r = run_in(a, NULL, args, NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(strstr(r.out, "macro recall") && strstr(r.out, "precision") && strstr(r.out, "confusion matrix"));
    CHECK(strstr(r.out, "Vietnamese") != NULL);
    result_free(&r);
    char svgpath[700];
    snprintf(svgpath, sizeof svgpath, "%s/confusion.svg", a);
    svg = slurp(svgpath, NULL);
    CHECK(svg && strstr(svg, "</svg>") && strstr(svg, "Vietnamese"));
    free(svg);
    CHECK_SVG_FITS(svgpath);
    /* A data folder named by a long path: the title (model, folder, accuracy,
     * macro recall) wraps and stays inside the picture. */
    char deep[700];
    snprintf(deep, sizeof deep, "%s/a-data-folder-with-a-rather-long-name-as-real-paths-often-have", a);
    CHECK(mkdir(deep, 0777) == 0);
    snprintf(deep + strlen(deep), sizeof deep - strlen(deep), "/and-one-more-level-of-folders-below-it-names");
    CHECK(symlink(test_data_dir(), deep) == 0);
    snprintf(args, sizeof args, "eval model.safetensors '%s' --svg long.svg", deep);
    r = run_in(a, NULL, args, NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    result_free(&r);
    snprintf(svgpath, sizeof svgpath, "%s/long.svg", a);
    CHECK_SVG_FITS(svgpath);
    svg = slurp(svgpath, NULL);
    CHECK(svg && strstr(svg, "macro recall") && strstr(svg, "model.safetensors"));
    free(svg);
    /* A label the model does not know. */
    const char *odd = new_dir("odd-label");
    put(odd, "Russian.txt", "Ivanov\n", 7);
    put(odd, "Klingon.txt", "Worf\n", 5);
    snprintf(args, sizeof args, "eval model.safetensors '%s'", odd);
    r = run_in(a, NULL, args, NULL);
    CHECK_FAILS(r, 1, "Klingon");
    result_free(&r);

    /* Predictions: the tutorial's format, then against the library. */
    r = run_in(a, NULL, "predict model.safetensors Dovesky Jackson Satoshi", NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(strncmp(r.out, "> Dovesky\n(-", 12) == 0);
    int lines = 0;
    for (const char *q = r.out; *q; q++) lines += *q == '\n';
    CHECK(lines == 12);
    result_free(&r);

    const char *names[] = {"Dovesky", "Jackson", "Satoshi", "Nguyen", "O'Neill", "Müller"};
    enum { NN = 6 };
    char inpath[700];
    snprintf(inpath, sizeof inpath, "%s/names.txt", a);
    FILE *f = fopen(inpath, "w");
    for (int i = 0; f && i < NN; i++) fprintf(f, "%s\r\n", names[i]);
    if (f) fclose(f);
    result rj = run_in(a, NULL, "predict model.safetensors --json --top 18", inpath);
    CHECK_MSG(rj.code == 0, "exit %d: %s", rj.code, rj.err);
    recur_model *m = NULL;
    recur_runner *rn = NULL;
    recur_error err;
    float lp[NN * 18];
    CHECK_OK(recur_model_load(pa, &m, &err), &err);
    if (m) CHECK_OK(recur_runner_create(m, NN, &rn, &err), &err);
    if (rn) CHECK_OK(recur_runner_classify(rn, names, NULL, NN, lp, &err), &err);
    /* Each line: {"name":"...","predictions":[{"label":"L","logprob":x},...]} */
    const char *line = rj.out;
    for (int i = 0; m && rn && i < NN; i++) {
        char want[64];
        snprintf(want, sizeof want, "{\"name\":\"%s\"", strcmp(names[i], "O'Neill") ? names[i] : "O'Neill");
        CHECK_MSG(strncmp(line, want, strlen(want)) == 0, "line %d: %.80s", i, line);
        const char *end = strchr(line, '\n');
        int k = 0;
        for (const char *q = strstr(line, "\"label\":\""); q && (!end || q < end); q = strstr(q + 1, "\"label\":\"")) {
            const char *lab = q + 9, *close = strchr(lab, '"');
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(close - lab), lab);
            int c = recur_model_label_find(m, name);
            const char *v = strstr(close, "\"logprob\":");
            CHECK_MSG(c >= 0 && v && fabs(strtod(v + 10, NULL) - lp[i * 18 + c]) < 1e-3, "%s: %s", names[i], name);
            k++;
        }
        CHECK_MSG(k == 18, "%s: %d labels", names[i], k);
        line = end ? end + 1 : line + strlen(line);
    }
    recur_runner_free(rn);
    recur_model_free(m);
    /* Twice, and through more threads: the same output. */
    result r2 = run_in(a, NULL, "predict model.safetensors --json --top 18 --threads 2", inpath);
    CHECK(r2.code == 0 && strcmp(rj.out, r2.out) == 0);
    result_free(&r2);
    result_free(&rj);

    /* info shows the training flags and the held-out accuracy. */
    r = run_in(a, NULL, "info model.safetensors", NULL);
    CHECK(r.code == 0 && strstr(r.out, "--hidden 32") && strstr(r.out, "accuracy") && strstr(r.out, "[128, 16]"));
    result_free(&r);
}

/* --split stratified: each label gives its share to the test side, and
 * eval --held-out derives the very same lines from the stored flags. */
static void test_train_stratified(void)
{
    NEED_BIN();
    const char *dir = new_dir("stratified"), *data = new_dir("stratified-data");
    char alpha[400] = "", beta[100] = "";
    for (int i = 0; i < 20; i++) snprintf(alpha + strlen(alpha), sizeof alpha - strlen(alpha), "Ab%c%c\n", 'a' + i % 7, 'a' + i);
    for (int i = 0; i < 5; i++) snprintf(beta + strlen(beta), sizeof beta - strlen(beta), "Zy%c\n", 'a' + i);
    put(data, "Alpha.txt", alpha, strlen(alpha));
    put(data, "Beta.txt", beta, strlen(beta));
    char args[1200];
    snprintf(args, sizeof args, "train '%s' -o m.safetensors --split stratified --test-split 0.2 --epochs 1 "
             "--hidden 8 --embed 4 --threads 1", data);
    result r = run_in(dir, NULL, args, NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    /* Test: Alpha gives round(4.0) = 4 and Beta round(1.0) = 1; validation
     * (10% of 25 lines, drawn from the 20 left): Alpha round(16 x 0.125) =
     * 2, Beta round(4 x 0.125) = 1. */
    CHECK_MSG(strstr(r.out, "random lines, stratified by label") &&
                  strstr(r.out, "17 training names, 3 validation names (10%), 5 test names"),
              "%s", r.out);
    result_free(&r);
    snprintf(args, sizeof args, "eval m.safetensors '%s' --held-out --json", data);
    r = run_in(dir, NULL, args, NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK_MSG(strstr(r.out, "\"examples\":5,") != NULL, "%s", r.out);
    CHECK_MSG(strstr(r.out, "\"support\":4") && strstr(r.out, "\"support\":1"), "%s", r.out);
    result_free(&r);
    r = run_in(dir, NULL, "train x --split halves", NULL);
    CHECK_FAILS(r, 2, "--split: 'halves' is not one of random, distinct, stratified");
    result_free(&r);
}

/* Three epochs straight, or two then --resume to three: the same bytes. */
static void test_resume(void)
{
    NEED_DATA();
    const char *a = new_dir("resume-a"), *b = new_dir("resume-b");
    char args[1200], pa[700], pb[700];
    snprintf(args, sizeof args, "train '%s' -o model.safetensors --epochs 3 -q " SMALL, test_data_dir());
    result r = run_in(a, NULL, args, NULL);
    CHECK_MSG(r.code == 0 && r.out[0] == '\0', "exit %d: %s", r.code, r.err);
    result_free(&r);
    snprintf(args, sizeof args, "train '%s' -o model.safetensors --epochs 2 -q " SMALL, test_data_dir());
    r = run_in(b, NULL, args, NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    result_free(&r);
    /* The checkpoint knows its flags and data: only the epochs are given. */
    r = run_in(b, "RECUR_DATA=", "train --resume model.safetensors.ckpt --epochs 3", NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(strstr(r.out, "epoch 3/3") != NULL && strstr(r.out, "epoch 1/3") == NULL);
    result_free(&r);
    snprintf(pa, sizeof pa, "%s/model.safetensors.ckpt", a);
    snprintf(pb, sizeof pb, "%s/model.safetensors.ckpt", b);
    CHECK_MSG(same_file(pa, pb), "resumed checkpoint differs: %s %s", pa, pb);
    snprintf(pa, sizeof pa, "%s/model.safetensors", a);
    snprintf(pb, sizeof pb, "%s/model.safetensors", b);
    CHECK_MSG(same_file(pa, pb), "resumed model differs: %s %s", pa, pb);
    /* Nothing left to do: one line, exit 1. */
    r = run_in(b, NULL, "train --resume model.safetensors.ckpt", NULL);
    CHECK_FAILS(r, 1, "already trained 3 of 3 epochs");
    result_free(&r);
    /* A model file is not a checkpoint. */
    snprintf(args, sizeof args, "train '%s' --resume %s/cli-badmodel-missing", test_data_dir(), test_tmpdir());
    r = run_in(b, NULL, args, NULL);
    CHECK(r.code == 1 && r.err_lines == 1);
    result_free(&r);
}

/* SIGINT during training: exit 130, a loadable model, a message saying where. */
static void test_interrupt(void)
{
    NEED_DATA();
    const char *dir = new_dir("sigint");
    char out[700], errp[700], model[700];
    snprintf(out, sizeof out, "%s/out.txt", dir);
    snprintf(errp, sizeof errp, "%s/err.txt", dir);
    snprintf(model, sizeof model, "%s/model.safetensors", dir);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(out, "w", stdout) || !freopen(errp, "w", stderr)) _exit(99);
        execl(bin(), bin(), "train", test_data_dir(), "-o", model, "--epochs", "1000", "--hidden", "64",
              "--threads", "1", (char *)NULL);
        _exit(98);
    }
    CHECK(pid > 0);
    if (pid <= 0) return;
    /* Signal once training runs: its "train" line is flushed before the
     * first batch. A fixed delay raced the start-up under sanitizers on a
     * loaded machine (the signal came before the handler). */
    struct timespec tick = {0, 50000000};
    for (int k = 0; k < 1200; k++) {
        char *o = slurp(out, NULL);
        int started = o && strstr(o, "\ntrain   ");
        free(o);
        if (started) break;
        nanosleep(&tick, NULL);
    }
    struct timespec ts = {0, 300000000};
    nanosleep(&ts, NULL);
    kill(pid, SIGINT);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 130, "status %d", st);
    char *e = slurp(errp, NULL);
    CHECK_MSG(e && strstr(e, "interrupted") && strstr(e, model), "stderr: %s", e ? e : "");
    free(e);
    recur_model *m = NULL;
    recur_error err;
    CHECK_OK(recur_model_load(model, &m, &err), &err);
    recur_model_free(m);
}

/* SIGTERM while a large folder loads: exit 130 soon after, one line saying
 * so, nothing written. 4 million lines take about a second to load, so a
 * signal 0.15 s after the start lands in the loader, which looks at the
 * flag every few thousand lines (it looked at none before: train acted on
 * the signal only once the whole folder was loaded). */
static void test_interrupt_while_loading(void)
{
    NEED_BIN();
    const char *dir = new_dir("sigterm-load"), *data = new_dir("sigterm-data");
    char path[700], model[700], errp[700];
    snprintf(path, sizeof path, "%s/Big.txt", data);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    for (int i = 0; i < 4000000; i++) fprintf(f, "Nm%07d\n", i);
    fclose(f);
    put(data, "Small.txt", "Ab\nCd\n", 6);
    snprintf(model, sizeof model, "%s/m.safetensors", dir);
    snprintf(errp, sizeof errp, "%s/err.txt", dir);
    long delay_ms = 150;
    for (int attempt = 0; attempt < 4; attempt++, delay_ms *= 2) {
        pid_t pid = fork();
        if (pid == 0) {
            if (!freopen("/dev/null", "w", stdout) || !freopen(errp, "w", stderr)) _exit(99);
            execl(bin(), bin(), "train", data, "-o", model, "--epochs", "1", "--threads", "1", (char *)NULL);
            _exit(98);
        }
        CHECK(pid > 0);
        if (pid <= 0) return;
        struct timespec ts = {0, delay_ms * 1000000L}, t0, t1;
        nanosleep(&ts, NULL);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        kill(pid, SIGTERM);
        int st = 0;
        waitpid(pid, &st, 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        /* Killed before its handler was set up (a slow start): later. */
        if (WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM) continue;
        double waited = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 130, "status %d", st);
        char *e = slurp(errp, NULL);
        CHECK_MSG(e && strstr(e, "interrupted while loading"), "stderr: %s", e ? e : "");
        free(e);
        CHECK(!exists(model));
        /* Generous for a shared machine: the loader reacts within a millisecond. */
        CHECK_MSG(waited < 5.0, "exited %.2f s after SIGTERM", waited);
        return;
    }
    CHECK_MSG(0, "recur train never got as far as loading before SIGTERM");
}

const test_case tests_cli[] = {
    {"version_and_help", test_version_and_help},
    {"bad_flags", test_bad_flags},
    {"data_errors", test_data_errors},
    {"bad_model_files", test_bad_model_files},
    {"predict_trims_like_the_loader", test_predict_trims_like_the_loader},
    {"train_small", test_train_small},
    {"train_stratified", test_train_stratified},
    {"resume", test_resume},
    {"interrupt", test_interrupt},
    {"interrupt_while_loading", test_interrupt_while_loading},
    {NULL, NULL},
};
