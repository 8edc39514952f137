/*
 * Limits and faults of the recur tool, run as a program ($RECUR_BIN, words
 * passed straight to exec, so that any byte can be tested): absurd flag
 * values are refused in one line with nothing written; a loss that becomes
 * NaN stops training naming the step, with the last checkpoint kept; a line
 * of 1 MB, empty names and symbols the model never saw; and the regressions
 * of what fuzz_cli found (fuzz/README.md). The data are made up here, so
 * that these tests need no RECUR_DATA.
 */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <string.h>

#include "tool.h"

static const char *new_dir(const char *name) { return tool_new_dir("limits", name); }

/* Entries of a folder, . and .. aside. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d) closedir(d);
    return n;
}

/* Two labels of made-up names that an RNN tells apart in a few epochs. */
static const char *make_data(void)
{
    const char *dir = new_dir("data");
    static const char *const syl[2][7] = {{"ka", "ri", "to", "mu", "sa", "ne", "yo"},
                                          {"sch", "berg", "stein", "mann", "el", "ov", "ic"}};
    uint64_t s = 12345;
    for (int l = 0; l < 2; l++) {
        char text[200 * 24], *p = text;
        for (int i = 0; i < 200; i++) {
            int parts = 2 + (int)((s >> 33) % 3);
            for (int k = 0; k < parts; k++) {
                s = s * 6364136223846793005ULL + 1442695040888963407ULL;
                p += sprintf(p, "%s", syl[l][(s >> 33) % 7]);
            }
            *p++ = '\n';
        }
        put(dir, l ? "Beta.txt" : "Alpha.txt", text, (size_t)(p - text));
    }
    return dir;
}

/* ------------------------------------------------------------------------ */

static void test_absurd_flags(void)
{
    NEED_BIN();
    const char *data = make_data(), *dir = new_dir("flags");
    static const struct {
        const char *args, *want;
    } cases[] = {
        {"train --hidden 1000000000", "--hidden: 1000000000 is out of range 1..4096"},
        {"train --hidden 99999999999999999999", "--hidden: 99999999999999999999 is out of range"},
        {"train --hidden -2147483649", "--hidden: -2147483649 is out of range"},
        {"train --epochs -1", "--epochs: -1 is out of range 1..100000"},
        {"train --epochs 100001", "--epochs: 100001 is out of range"},
        {"train --batch 0", "--batch: 0 is out of range 1..4096"},
        {"train --batch 1000000", "--batch: 1000000 is out of range"},
        {"train --lr nan", "--lr: 'nan' is not a number"},
        {"train --lr inf", "--lr: 'inf' is not a number"},
        {"train --lr -inf", "--lr: '-inf' is not a number"},
        {"train --lr 1e309", "--lr: '1e309' is not a number"},
        {"train --lr 1e30", "--lr: 1e30 is out of range (0, 10]"},
        {"train --lr -0.1", "--lr: -0.1 is out of range"},
        {"train --threads 100000", "--threads: 100000 is out of range 1..256"},
        {"train --threads -1", "--threads: -1 is out of range"},
        {"train --layers 17", "--layers: 17 is out of range 1..16"},
        {"train --layers 0", "--layers: 0 is out of range"},
        {"train --embed -1", "--embed: -1 is out of range 0..4096"},
        {"train --embed 1000000", "--embed: 1000000 is out of range"},
        {"train --dropout -0.1", "--dropout: -0.1 is out of range [0, 1)"},
        {"train --clip 1e7", "--clip: 1e7 is out of range [0, 1000000]"},
        {"train --momentum 1", "--momentum: 1 is out of range [0, 1)"},
        {"train --patience 1001", "--patience: 1001 is out of range"},
        {"train --seed 18446744073709551616", "--seed: 18446744073709551616 is out of range"},
        {"train --test-split 0", "--test-split: 0 is out of range (0, 1)"},
        {"train --balance 2", "--balance: 2 is out of range [0, 1]"},
        {"train --token-dropout 1", "--token-dropout: 1 is out of range [0, 1)"},
        {"train --output=", "--output: the value is empty"},
        {"train --hidden=", "--hidden: '' is not an integer"},
        {"train --hidden 0x20", "--hidden: '0x20' is not an integer"},
        {"eval m d --threads 100000", "--threads: 100000 is out of range"},
        {"predict m --top 0", "--top: 0 is out of range"},
        {"predict m --top 1000000", "--top: 1000000 is out of range"},
        {"predict m --threads 0", "--threads: 0 is out of range"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* Were a flag accepted by mistake, training would write in dir. */
        char line[400];
        const char *w[40];
        int n = 0, train = strncmp(cases[i].args, "train", 5) == 0;
        snprintf(line, sizeof line, "%s", cases[i].args);
        for (char *t = strtok(line, " "); t && n < 30; t = strtok(NULL, " ")) w[n++] = t;
        if (train) {
            w[n++] = data;
            w[n++] = "-o";
            w[n++] = "model.safetensors";
            w[n++] = "--epochs=1"; /* a second --epochs: the last wins */
        }
        if (train && strstr(cases[i].args, "--epochs")) n--;
        w[n] = NULL;
        result r = runv(dir, NULL, w);
        CHECK_FAILS(r, 2, cases[i].want);
        result_free(&r);
    }
    CHECK_MSG(count_entries(dir) == 0, "%d files written in %s", count_entries(dir), dir);
}

/* Every size within its range, their product far beyond memory: refused
 * in one line before anything is allocated or written. */
static void test_model_too_large(void)
{
    NEED_BIN();
    const char *data = make_data(), *dir = new_dir("too_large");
    const char *w[] = {"train", data, "-o", "m.safetensors", "--hidden", "4096", "--layers", "16",
                       "--bidirectional", "--embed", "4096", "-q", NULL};
    result r = runv(dir, NULL, w);
    CHECK_FAILS(r, 1, "is too large: the limit is 1073741824 weights");
    result_free(&r);
    CHECK_MSG(count_entries(dir) == 0, "%d files written in %s", count_entries(dir), dir);
}

/* The classifier reads both ways by default; --unidirectional (wherever it
 * stands) makes it one-way; a generator is one-way and refuses
 * --bidirectional. */
static void test_direction_flags(void)
{
    NEED_BIN();
    const char *data = make_data(), *dir = new_dir("direction");
    static const struct {
        const char *flag, *want;
    } cases[] = {{"--seed=1", "direction   bidirectional"},
                 {"--unidirectional", "direction   forward"},
                 {"--bidirectional", "direction   bidirectional"}};
    for (int i = 0; i < 3; i++) {
        const char *w[] = {"train", data, "-o", "m.safetensors", "--epochs", "1", "--hidden", "8", "--embed", "4",
                           "--threads", "1", "-q", cases[i].flag, i == 2 ? "--unidirectional" : NULL, NULL};
        result r = runv(dir, NULL, w);
        CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
        result_free(&r);
        const char *info[] = {"info", "m.safetensors", NULL};
        r = runv(dir, NULL, info);
        const char *want = i == 2 ? "direction   forward" : cases[i].want;
        CHECK_MSG(r.code == 0 && strstr(r.out, want), "%s: want '%s' in: %.300s", cases[i].flag, want, r.out);
        result_free(&r);
    }
    const char *g[] = {"train", data, "-o", "g.safetensors", "--generate", "--bidirectional", NULL};
    result r = runv(dir, NULL, g);
    CHECK_FAILS(r, 2, "--bidirectional does not apply to --generate");
    result_free(&r);
}

/* A resumed run keeps the checkpoint's architecture: a flag that would
 * change it is refused in one line, with nothing written. */
static void test_resume_keeps_architecture(void)
{
    NEED_BIN();
    const char *data = make_data(), *dir = new_dir("resume_arch");
    const char *w[] = {"train", data, "-o", "m.safetensors", "--epochs", "1", "--hidden", "8", "--embed", "4",
                       "--threads", "1", "--unidirectional", "-q", NULL};
    result r = runv(dir, NULL, w);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    result_free(&r);
    const char *bad[][4] = {{"--hidden", "16"}, {"--layers", "2"}, {"--bidirectional", NULL}, {"--cell", "gru"}};
    for (int i = 0; i < 4; i++) {
        const char *rw[] = {"train", data, "--resume", "m.safetensors.ckpt", "--epochs", "2", bad[i][0], bad[i][1], NULL};
        r = runv(dir, NULL, rw);
        char want[80];
        snprintf(want, sizeof want, "%s does not match the model", bad[i][0]);
        CHECK_FAILS(r, 1, want);
        result_free(&r);
    }
    CHECK_MSG(count_entries(dir) == 2, "%d files in %s (want the model and its checkpoint)", count_entries(dir), dir);
    const char *ok[] = {"train", data, "--resume", "m.safetensors.ckpt", "--epochs", "2", "--hidden=8", "-q", NULL};
    r = runv(dir, NULL, ok);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    result_free(&r);
    const char *info[] = {"info", "m.safetensors", NULL};
    r = runv(dir, NULL, info);
    CHECK_MSG(strstr(r.out, "--hidden 8 ") && strstr(r.out, "--unidirectional"), "stored flags: %.600s", r.out);
    result_free(&r);
}

/* Log-probability of label in a predict --json line, or 1 when absent. */
static double json_logprob(const char *line, const char *label)
{
    char key[64];
    snprintf(key, sizeof key, "\"label\":\"%s\",\"logprob\":", label);
    const char *p = strstr(line, key);
    return p ? strtod(p + strlen(key), NULL) : 1;
}

/* --prior-correction divides the training prior out: on unbalanced labels
 * the small label gains probability as tau grows, each answer stays a
 * distribution, and the counts it uses are those training stored. */
static void test_prior_correction(void)
{
    NEED_BIN();
    const char *data = make_data(), *dir = new_dir("prior"), *lop = new_dir("prior_data");
    char src[700], *text = NULL;
    snprintf(src, sizeof src, "%s/Beta.txt", data);
    FILE *f = fopen(src, "rb");
    text = malloc(1 << 16);
    size_t len = f && text ? fread(text, 1, 1 << 16, f) : 0;
    if (f) fclose(f);
    size_t cut = 0;
    for (int lines = 0; cut < len && lines < 20; cut++) lines += text[cut] == '\n';
    put(lop, "Beta.txt", text, cut); /* 20 Beta names against 200 Alpha */
    snprintf(src, sizeof src, "%s/Alpha.txt", data);
    f = fopen(src, "rb");
    len = f ? fread(text, 1, 1 << 16, f) : 0;
    if (f) fclose(f);
    put(lop, "Alpha.txt", text, len);
    free(text);
    const char *w[] = {"train", lop, "-o", "m.safetensors", "--epochs", "2", "--hidden", "8", "--embed", "4",
                       "--threads", "1", "--test-split", "0.2", "-q", NULL};
    result r = runv(dir, NULL, w);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    result_free(&r);
    const char *info[] = {"info", "m.safetensors", NULL};
    r = runv(dir, NULL, info);
    const char *lc = strstr(r.out, "label_counts");
    long a = 0, b = 0;
    if (lc) sscanf(lc + strlen("label_counts"), " %ld,%ld", &a, &b);
    /* 220 lines: 44 for testing, 22 for validation, 154 trained on. */
    CHECK_MSG(a + b == 154 && a > b && b > 0, "label_counts %ld,%ld in: %.400s", a, b, lc ? lc : r.out);
    result_free(&r);
    double beta[3];
    const char *taus[3] = {"0", "1", "3"};
    for (int i = 0; i < 3; i++) {
        const char *p[] = {"predict", "m.safetensors", "kasaberg", "--json", "--top", "2", "--prior-correction",
                           taus[i], NULL};
        r = runv(dir, NULL, p);
        CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
        double la = json_logprob(r.out, "Alpha");
        beta[i] = json_logprob(r.out, "Beta");
        CHECK_MSG(la <= 0 && beta[i] <= 0 && fabs(exp(la) + exp(beta[i]) - 1) < 1e-3, "tau %s: %s", taus[i], r.out);
        result_free(&r);
    }
    CHECK_MSG(beta[0] < beta[1] && beta[1] < beta[2], "Beta's log-probability %g, %g, %g as tau grows", beta[0],
              beta[1], beta[2]);
    const char *e[] = {"eval", "m.safetensors", lop, "--json", "--prior-correction", "1", NULL};
    r = runv(dir, NULL, e);
    CHECK_MSG(r.code == 0 && strstr(r.out, "\"prior_correction\":1,"), "exit %d: %.300s %s", r.code, r.out, r.err);
    const char *p1 = strstr(r.out, "\"accuracy\":"), *q1 = strstr(r.out, "\"macro_recall\":");
    double acc1 = p1 ? strtod(p1 + 11, NULL) : -1, rec1 = q1 ? strtod(q1 + 15, NULL) : -1;
    result_free(&r);
    /* Without a correction, eval shows what each tau would give: its tau 0
     * row is the plain figures and its tau 1 row those of the run above. */
    const char *e0[] = {"eval", "m.safetensors", lop, "--json", NULL};
    r = runv(dir, NULL, e0);
    const char *p0 = strstr(r.out, "\"accuracy\":"), *s0 = strstr(r.out, "{\"tau\":0,\"accuracy\":"),
               *s1 = strstr(r.out, "{\"tau\":1,\"accuracy\":");
    CHECK_MSG(r.code == 0 && p0 && s0 && s1, "exit %d: %.400s", r.code, r.out);
    if (p0 && s0 && s1) {
        CHECK(strtod(p0 + 11, NULL) == strtod(s0 + 20, NULL));
        const char *q = strstr(s1, "\"macro_recall\":");
        CHECK_MSG(strtod(s1 + 20, NULL) == acc1 && q && strtod(q + 15, NULL) == rec1, "tau 1: %.120s vs %g %g", s1,
                  acc1, rec1);
    }
    result_free(&r);
    const char *e2[] = {"eval", "m.safetensors", lop, NULL};
    r = runv(dir, NULL, e2);
    CHECK_MSG(r.code == 0 && strstr(r.out, "what --prior-correction TAU trades") &&
                  strstr(r.out, "--prior-correction       0    0.25     0.5    0.75       1"),
              "exit %d: %.2000s", r.code, r.out);
    result_free(&r);
}

/* SGD at --lr 10 without clipping makes a ReLU RNN's loss NaN: training
 * stops at once naming the epoch and the step; the model and the
 * checkpoint of the last finished epoch stay as they were. */
static void test_numeric_fault(void)
{
    NEED_BIN();
    const char *data = make_data(), *dir = new_dir("nan");
    const char *w[] = {"train", data, "-o", "m.safetensors", "--cell", "rnn_relu", "--optim", "sgd", "--lr", "0.05",
                       "--epochs", "2", "--hidden", "16", "--embed", "8", "--threads", "1", "-q", NULL};
    result r = runv(dir, NULL, w);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    result_free(&r);
    char ck[700], model[700], ck0[700], model0[700];
    snprintf(ck, sizeof ck, "%s/m.safetensors.ckpt", dir);
    snprintf(model, sizeof model, "%s/m.safetensors", dir);
    snprintf(ck0, sizeof ck0, "%s/epoch2.ckpt", dir);
    snprintf(model0, sizeof model0, "%s/epoch2.safetensors", dir);
    size_t n1, n2;
    char *a = slurp(ck, &n1), *b = slurp(model, &n2);
    CHECK(a && b);
    if (!a || !b) {
        free(a);
        free(b);
        return;
    }
    put(dir, "epoch2.ckpt", a, n1);
    put(dir, "epoch2.safetensors", b, n2);
    free(a);
    free(b);
    const char *w2[] = {"train", "--resume", "m.safetensors.ckpt", "--lr", "10", "--clip", "0", "--epochs", "50", "-q",
                        NULL};
    r = runv(dir, NULL, w2);
    CHECK_FAILS(r, 1, "loss became NaN at step ");
    CHECK(strstr(r.err, "epoch 3") && strstr(r.err, "m.safetensors.ckpt still holds epoch 2"));
    result_free(&r);
    CHECK_MSG(same_file(ck, ck0), "the checkpoint changed");
    CHECK_MSG(same_file(model, model0), "the model changed");
    CHECK_MSG(count_entries(dir) == 4, "%d files in %s (temporary files left?)", count_entries(dir), dir);
    /* What is kept still resumes, at a sane rate. */
    const char *w3[] = {"train", "--resume", "m.safetensors.ckpt", "--epochs", "3", "-q", NULL};
    r = runv(dir, NULL, w3);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    result_free(&r);
}

/* A line of 1 MB in a data file, on stdin and as an argument (where the
 * system allows 128 KB at most: 5,000 bytes here). */
static void test_long_lines(void)
{
    NEED_BIN();
    const char *data = new_dir("long"), *dir = new_dir("long-out");
    enum { MB = 1 << 20 };
    char *big = malloc(MB + 64);
    if (!big) return;
    strcpy(big, "Ivanov\nPetrov\n");
    size_t at = strlen(big);
    memset(big + at, 'a', MB);
    at += MB;
    memcpy(big + at, "\nSidorov\n", 9);
    put(data, "Alpha.txt", "Adams\nBrown\n", 12);
    put(data, "Beta.txt", big, at + 9);
    const char *w[] = {"train", data, "-o", "m.safetensors", "-q", NULL};
    result r = runv(dir, NULL, w);
    CHECK_FAILS(r, 1, "Beta.txt:3: line of 1048576 bytes is longer than the limit of 1024 bytes");
    result_free(&r);
    CHECK(count_entries(dir) == 0);
    /* stdin and arguments, against a small model. */
    const char *small = make_data();
    const char *wt[] = {"train", small, "-o", "m.safetensors", "--epochs", "1", "--hidden", "8", "--embed", "4",
                        "--threads", "1", "-q", NULL};
    r = runv(dir, NULL, wt);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    result_free(&r);
    char in[700];
    snprintf(in, sizeof in, "%s/in.txt", dir);
    put(dir, "in.txt", big, at + 9);
    const char *wp[] = {"predict", "m.safetensors", NULL};
    r = runv(dir, in, wp);
    CHECK_MSG(r.code == 1 && r.err_lines == 1 && strstr(r.err, "stdin:3: line of 1048576 bytes"), "exit %d: %s",
              r.code, r.err);
    result_free(&r);
    big[at - MB + 5000] = '\0';
    const char *wa[] = {"predict", "m.safetensors", "Adams", big + at - MB, NULL};
    r = runv(dir, NULL, wa);
    CHECK_FAILS(r, 1, "name 2: 5000 bytes is longer than the limit of 1024 bytes");
    result_free(&r);
    free(big);
}

/* Blank lines in data are skipped; an empty name is refused as an argument
 * and skipped on stdin; names of symbols the model never saw are
 * classified (as unknown symbols). */
static void test_empty_and_unknown_names(void)
{
    NEED_BIN();
    const char *data = new_dir("blank"), *dir = new_dir("blank-out");
    const char *src = make_data();
    char p[700];
    snprintf(p, sizeof p, "%s/Alpha.txt", src);
    size_t n;
    char *alpha = slurp(p, &n);
    if (!alpha) return;
    put(data, "Alpha.txt", alpha, n);
    free(alpha);
    snprintf(p, sizeof p, "%s/Beta.txt", src);
    char *beta = slurp(p, &n), *more = beta ? malloc(n + 16) : NULL;
    if (!more) {
        free(beta);
        return;
    }
    memcpy(more, "\n \t \r\n", 6);
    memcpy(more + 6, beta, n);
    memcpy(more + 6 + n, "\n\n", 2);
    put(data, "Beta.txt", more, n + 8);
    free(beta);
    free(more);
    const char *wt[] = {"train", data, "-o", "m.safetensors", "--epochs", "1", "--hidden", "8", "--embed", "4",
                        "--threads", "1", NULL};
    result r = runv(dir, NULL, wt);
    CHECK_MSG(r.code == 0 && strstr(r.out, "4 blank lines skipped"), "exit %d: %s%s", r.code, r.out, r.err);
    result_free(&r);
    const char *w1[] = {"predict", "m.safetensors", "Kamura", "", NULL};
    r = runv(dir, NULL, w1);
    CHECK_FAILS(r, 1, "name 2 is empty");
    result_free(&r);
    const char *w2[] = {"predict", "m.safetensors", " \t ", NULL};
    r = runv(dir, NULL, w2);
    CHECK_FAILS(r, 1, "name 1 is empty");
    result_free(&r);
    char in[700];
    snprintf(in, sizeof in, "%s/in.txt", dir);
    put(dir, "in.txt", "\n  \nKamura\n\n", 12);
    const char *w3[] = {"predict", "m.safetensors", "--top", "1", NULL};
    r = runv(dir, in, w3);
    CHECK_MSG(r.code == 0 && strncmp(r.out, "> Kamura\n(", 10) == 0 && r.err[0] == '\0', "exit %d: %s%s", r.code,
              r.out, r.err);
    result_free(&r);
    /* Unknown symbols only, unknown and known mixed, a control character. */
    const char *w4[] = {"predict", "m.safetensors", "--json", "\xe6\x97\xa5\xe6\x9c\xac", "\xce\xa9kamura", "ka\x01ri",
                        NULL};
    r = runv(dir, NULL, w4);
    int lines = 0;
    for (const char *q = r.out; *q; q++) lines += *q == '\n';
    CHECK_MSG(r.code == 0 && lines == 3 && !strstr(r.out, "nan") && r.err[0] == '\0', "exit %d: %s%s", r.code,
              r.out, r.err);
    result_free(&r);
}

/*
 * fuzz_cli: flags stored as --output "--x" read back as "--output needs a
 * value", so a model written with --output=--x could not be resumed; and
 * stored flags holding --help (fuzz/crashes/cli-stored-help) printed the
 * help on stdout, and any bad stored flag made two error lines.
 */
static void test_regress_stored_flags(void)
{
    NEED_BIN();
    const char *data = make_data(), *dir = new_dir("stored");
    const char *w1[] = {"train", data, "--output=--m.safetensors", "--svg=--loss.svg", "--epochs", "1", "--hidden",
                        "8", "--embed", "4", "--threads", "1", "-q", NULL};
    result r = runv(dir, NULL, w1);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    result_free(&r);
    const char *w2[] = {"train", "--resume=--m.safetensors.ckpt", "--epochs", "2", "-q", NULL};
    r = runv(dir, NULL, w2);
    CHECK_MSG(r.code == 0 && r.err[0] == '\0', "exit %d: %s", r.code, r.err);
    result_free(&r);
    /* Checkpoints whose stored flags are bad: the reproducer's, and more. */
    size_t n = 0;
    char *repro = slurp("fuzz/crashes/cli-stored-help", &n);
    const char *flags[] = {repro && memchr(repro, 0, n) ? repro + strlen(repro) + 1 : "--help", "--frobnicate 3",
                           "--hidden \"12", "-h", "--hidden 1000000000"};
    char ck[700];
    snprintf(ck, sizeof ck, "%s/--m.safetensors.ckpt", dir);
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        recur_model *m = NULL;
        recur_error err;
        char bad[700];
        snprintf(bad, sizeof bad, "%s/bad.ckpt", dir);
        CHECK_OK(recur_model_load(ck, &m, &err), &err);
        if (!m) break;
        CHECK_OK(recur_model_set_meta(m, "train_args", flags[i], &err), &err);
        CHECK_OK(recur_model_save(m, bad, &err), &err);
        recur_model_free(m);
        const char *w3[] = {"train", "--resume", "bad.ckpt", NULL};
        r = runv(dir, NULL, w3);
        CHECK_FAILS(r, 1, "bad.ckpt holds training flags this version cannot read: ");
        result_free(&r);
    }
    free(repro);
}

const test_case tests_limits[] = {
    {"absurd_flags", test_absurd_flags},
    {"model_too_large", test_model_too_large},
    {"direction_flags", test_direction_flags},
    {"resume_keeps_architecture", test_resume_keeps_architecture},
    {"prior_correction", test_prior_correction},
    {"numeric_fault", test_numeric_fault},
    {"long_lines", test_long_lines},
    {"empty_and_unknown_names", test_empty_and_unknown_names},
    {"regress_stored_flags", test_regress_stored_flags},
    {NULL, NULL},
};
