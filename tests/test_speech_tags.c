/* Connected speech on the command line, with audio made here: tone
 * "digits" (1: 300 Hz, 2: 1 kHz, 3: 2.5 kHz) strung together with quiet
 * between them and a .lab of exact sample spans beside each file. recur
 * train on such a folder trains a frame tagger that records its features;
 * eval scores frames and the strings they spell; predict prints a file's
 * string; short flickers are smoothed away (recur_smooth_runs); hostile
 * .lab files are one line naming them. */
#define _DEFAULT_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "speech_util.h"
#include "tool.h"

/* ------------------------------------------------------------------------ */
/* recur_smooth_runs                                                         */
/* ------------------------------------------------------------------------ */

static int same(const int32_t *a, const int32_t *b, int n) { return memcmp(a, b, (size_t)n * sizeof *a) == 0; }

static void smooth_runs_remove_flicker(void)
{
    int32_t a[] = {7, 7, 7, 3, 7, 7}, a_want[] = {7, 7, 7, 7, 7, 7};
    CHECK(recur_smooth_runs(a, 6, 2) == 1 && same(a, a_want, 6));
    /* 9 = silence: a digit's one-frame flicker goes, the two runs of 4
     * apart by three silent frames stay apart. */
    int32_t b[] = {9, 9, 9, 4, 4, 4, 1, 4, 4, 9, 9, 9, 4, 4, 4, 9, 9, 9},
            b_want[] = {9, 9, 9, 4, 4, 4, 4, 4, 4, 9, 9, 9, 4, 4, 4, 9, 9, 9};
    CHECK(recur_smooth_runs(b, 18, 3) == 1 && same(b, b_want, 18));
    int32_t spell[18];
    CHECK(recur_collapse_runs(b, 18, 9, spell) == 2 && spell[0] == 4 && spell[1] == 4);
    /* The longer neighbour wins, the one before on a tie; the first and
     * last runs have one neighbour; a sequence of one run stays. */
    int32_t c[] = {1, 1, 2, 3, 3, 3}, c_want[] = {1, 1, 3, 3, 3, 3};
    CHECK(recur_smooth_runs(c, 6, 2) == 1 && same(c, c_want, 6));
    int32_t d[] = {1, 1, 1, 2, 3, 3, 3}, d_want[] = {1, 1, 1, 1, 3, 3, 3};
    CHECK(recur_smooth_runs(d, 7, 2) == 1 && same(d, d_want, 7));
    int32_t e[] = {5, 6, 6, 6, 6, 5}, e_want[] = {6, 6, 6, 6, 6, 6};
    CHECK(recur_smooth_runs(e, 6, 2) == 2 && same(e, e_want, 6));
    int32_t f[] = {3, 3}, f_want[] = {3, 3};
    CHECK(recur_smooth_runs(f, 2, 5) == 0 && same(f, f_want, 2));
    /* Two short runs in a row: each joins once the one before is final. */
    int32_t g[] = {1, 1, 1, 1, 2, 3, 1, 1, 1, 1}, g_want[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK(recur_smooth_runs(g, 10, 2) == 2 && same(g, g_want, 10));
    int32_t h[] = {4, 2, 4}, h_want[] = {4, 2, 4};
    CHECK(recur_smooth_runs(h, 3, 1) == 0 && recur_smooth_runs(h, 3, 0) == 0 && same(h, h_want, 3));
    CHECK(recur_smooth_runs(NULL, 3, 4) == 0 && recur_smooth_runs(h, 0, 4) == 0);
}

/* Random labels: afterwards every run but a whole-sequence one is at least
 * min_run long, and a frame only takes a label the sequence had. */
static void smooth_runs_leave_no_short_run(void)
{
    uint64_t s = 0x5eed;
    int32_t x[300];
    for (int trial = 0; trial < 400; trial++) {
        int n = 1 + (int)(recur_splitmix64(&s) % 300), min_run = 1 + (int)(recur_splitmix64(&s) % 12), had[4] = {0};
        for (int t = 0; t < n; t++) {
            /* runs of 1..6 frames of 4 labels */
            if (t == 0 || recur_splitmix64(&s) % 3 == 0) x[t] = (int32_t)(recur_splitmix64(&s) % 4);
            else x[t] = x[t - 1];
            had[x[t]] = 1;
        }
        recur_smooth_runs(x, n, min_run);
        int runs = 0, shortest = n;
        for (int t = 0, len = 1; t < n; t++, len++) {
            CHECK(had[x[t]]);
            if (t == n - 1 || x[t + 1] != x[t]) {
                runs++;
                if (len < shortest) shortest = len;
                len = 0;
            }
        }
        CHECK_MSG(runs == 1 || shortest >= min_run, "trial %d: a run of %d frames, min_run %d", trial, shortest,
                  min_run);
        if (runs > 1 && shortest < min_run) break; /* one report is enough */
    }
}

/* ------------------------------------------------------------------------ */
/* Tone strings                                                              */
/* ------------------------------------------------------------------------ */

static const double tone_hz[3] = {300.0, 1000.0, 2500.0};

/* dir/<name>.wav: 1 s, three tones ("1".."3": digits[k] - '1') with quiet
 * before, between and after; dir/<name>.lab their spans. */
static void tone_string(const char *dir, const char *name, const char *digits, uint32_t seed)
{
    enum { N = 16000 };
    int16_t pcm[N];
    speech_fill(pcm, N, 0, 0, 0, seed);
    char path[700], lab[256];
    int at = 1600 + (int)(seed % 5) * 100, used = 0; /* at most 2000 + 3 x 3300 + 2 x 1800 */
    for (int k = 0; k < 3; k++) {
        int len = 2800 + (int)((seed + 7u * (unsigned)k) % 6) * 100, d = digits[k] - '1';
        for (int i = at; i < at + len; i++) pcm[i] = (int16_t)(pcm[i] + 7000.0 * sin(6.283185307179586 * tone_hz[d] * i / 16000.0));
        used += snprintf(lab + used, sizeof lab - (size_t)used, "%d %d %c\n", at, at + len, digits[k]);
        at += len + 1500 + (int)((seed + (unsigned)k) % 4) * 100;
    }
    snprintf(path, sizeof path, "%s/%s.wav", dir, name);
    speech_write_wav(path, 16000, 1, pcm, N);
    snprintf(path, sizeof path, "%s/%s.lab", dir, name);
    put_file(path, lab, (size_t)used);
}

/* n strings under dir (made), the digits drawn from seed. */
static void tone_strings(const char *dir, int n, uint32_t seed)
{
    CHECK(mkdir(dir, 0777) == 0);
    for (int i = 0; i < n; i++) {
        char digits[4], name[32];
        for (int k = 0; k < 3; k++) digits[k] = (char)('1' + (seed = seed * 1664525u + 1013904223u) % 3u);
        digits[3] = '\0';
        snprintf(name, sizeof name, "s%02d_%s", i, digits);
        tone_string(dir, name, digits, seed >> 8);
    }
}

/* ------------------------------------------------------------------------ */
/* train, eval, predict                                                      */
/* ------------------------------------------------------------------------ */

static double json_num(const char *json, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(json, k);
    return p ? strtod(p + strlen(k), NULL) : -1.0;
}

static void train_eval_predict_tone_strings(void)
{
    NEED_BIN();
    char root[600], tr[700], te[700];
    snprintf(root, sizeof root, "%s/tonestr", test_tmpdir());
    CHECK(mkdir(root, 0777) == 0);
    snprintf(tr, sizeof tr, "%s/train", root);
    snprintf(te, sizeof te, "%s/test", root);
    tone_strings(tr, 24, 11);
    tone_strings(te, 8, 99);
    /* The parent of train/ and test/ is named for what it is. */
    result r = runv(root, NULL, (const char *const[]){"train", root, "-o", "m.safetensors", NULL});
    CHECK_FAILS(r, 1, "train/ and test/");
    result_free(&r);
    r = runv(root, NULL,
             (const char *const[]){"train", "train", "--test-dir", "test", "-o", "m.safetensors", "--hidden", "16",
                                   "--bidirectional", "--epochs", "12", "--batch", "4", "--lr", "0.01", "--threads",
                                   "1", NULL});
    CHECK_MSG(r.code == 0 && strstr(r.out, "task    tag: 4 tags, one per step") && strstr(r.out, "40 features per step") &&
                  strstr(r.out, ", string error "),
              "exit %d: %s%s", r.code, r.out, r.err);
    result_free(&r);
    /* eval from the audio: frames and strings (floors the tones clear). */
    r = runv(root, NULL, (const char *const[]){"eval", "m.safetensors", "test", "--json", NULL});
    double acc = json_num(r.out, "step_accuracy"), ser = json_num(r.out, "string_error_rate"),
           ter = json_num(r.out, "token_error_rate"), raw = json_num(r.out, "raw_string_error_rate");
    CHECK_MSG(r.code == 0 && strstr(r.out, "\"strings\":{\"min_run\":8,\"strings\":8,\"reference_tokens\":24"),
              "exit %d: %s%s", r.code, r.out, r.err);
    CHECK_MSG(acc >= 0.9 && ser >= 0 && ser <= 0.25 && ter >= 0 && ter <= 0.1 && raw >= ser,
              "step accuracy %.3f, string error %.3f (raw %.3f), digit error %.3f", acc, ser, raw, ter);
    result_free(&r);
    r = runv(root, NULL, (const char *const[]){"eval", "m.safetensors", "test", "--min-run", "1", NULL});
    CHECK_MSG(r.code == 0 && strstr(r.out, "strings: string error rate ") && strstr(r.out, "digit error rate") &&
                  strstr(r.out, "(runs shorter than 1 frame smoothed away"),
              "exit %d: %s%s", r.code, r.out, r.err);
    result_free(&r);
    /* predict: the string a file's frames spell, as text and JSON (the
     * first test file's digits, drawn as tone_strings draws them). */
    uint32_t seed = 99;
    char first[4], name[64];
    for (int k = 0; k < 3; k++) first[k] = (char)('1' + (seed = seed * 1664525u + 1013904223u) % 3u);
    first[3] = '\0';
    snprintf(name, sizeof name, "test/s00_%s.wav", first);
    r = runv(root, NULL, (const char *const[]){"predict", "m.safetensors", name, NULL});
    const char *close = strchr(r.out, ')');
    CHECK_MSG(r.code == 0 && r.out[0] == '(' && close && strncmp(close + 2, first, 3) == 0 && close[5] == '\n',
              "exit %d, want %s: %s%s", r.code, first, r.out, r.err);
    result_free(&r);
    r = runv(root, NULL, (const char *const[]){"predict", "m.safetensors", name, "--json", NULL});
    char want[128];
    snprintf(want, sizeof want, "\"string\":\"%s\",\"logprob\":", first);
    CHECK_MSG(r.code == 0 && strstr(r.out, want) && strstr(r.out, "\"frames\":98}"), "%s%s", r.out, r.err);
    result_free(&r);
}

/* ------------------------------------------------------------------------ */
/* Hostile .lab files                                                        */
/* ------------------------------------------------------------------------ */

static void hostile_lab_one_line_each(void)
{
    NEED_BIN();
    struct {
        const char *lab, *want; /* NULL lab: no .lab at all */
    } cases[] = {
        {"", "no segments"},
        {"\n  \n", "no segments"},
        {"100 3000 1\n2000 4000 2\n", "a.lab:2: want"},         /* overlaps */
        {"100 3000\n", "a.lab:1: want"},                        /* no label */
        {"start 3000 1\n", "a.lab:1: want"},                    /* not a number */
        {"3000 100 1\n", "a.lab:1: want"},                      /* ends before it starts */
        {"-5 100 1\n", "a.lab:1: want"},                        /* negative */
        {"100 3000 1 2\n", "a.lab:1: want"},                    /* a fourth field */
        {"100 3000 a\x01" "b\n", "a.lab:1: the label holds a control byte"},
        {"100 3000 \xff\xfe\n", "a.lab:1:10: invalid UTF-8"},
        {"100 3000 1\n9000 16001 2\n", "after the audio's 16000 samples"}, /* longer than the audio */
        {"100 3000 1\n9000 99999999999999999999 2\n", "after the audio's 16000 samples"},
        {NULL, "a.lab"},                                        /* missing */
    };
    int16_t pcm[16000];
    speech_fill(pcm, 16000, 300.0, 100, 3000, 3);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *dir = tool_new_dir("lab", "hostile");
        char path[700];
        snprintf(path, sizeof path, "%s/a.wav", dir);
        speech_write_wav(path, 16000, 1, pcm, 16000);
        snprintf(path, sizeof path, "%s/a.lab", dir);
        if (cases[i].lab) put_file(path, cases[i].lab, strlen(cases[i].lab));
        else {
            /* seq_data_kind needs a .lab to see connected speech: another
             * file's, so that a.wav is the one without. */
            snprintf(path, sizeof path, "%s/b.wav", dir);
            speech_write_wav(path, 16000, 1, pcm, 16000);
            snprintf(path, sizeof path, "%s/b.lab", dir);
            put_file(path, "100 3000 1\n", 11);
        }
        result r = runv(dir, NULL, (const char *const[]){"train", dir, "-o", "m.safetensors", NULL});
        CHECK_FAILS(r, 1, cases[i].want);
        CHECK_MSG(strstr(r.err, "a.lab") != NULL, "case %zu: %s", i, r.err);
        result_free(&r);
    }
    /* Spans that end before the audio does: the rest is silence. */
    const char *dir = tool_new_dir("lab", "short");
    char path[700];
    snprintf(path, sizeof path, "%s/a.wav", dir);
    speech_write_wav(path, 16000, 1, pcm, 16000);
    snprintf(path, sizeof path, "%s/a.lab", dir);
    put_file(path, "100 3000 1\n", 11);
    recur_error err;
    recur_seqset *s = NULL;
    CHECK_OK(recur_seqset_load_audio_tags(dir, NULL, &s, &err), &err);
    if (s) {
        const recur_batch *b = recur_seqset_batch(s);
        int T = b->offsets[1], sil = strcmp(recur_seqset_tag_name(s, 0), "sil") == 0 ? 0 : 1;
        CHECK(T == 98 && recur_seqset_num_tags(s) == 2 && b->step_labels[T - 1] == sil && b->step_labels[5] != sil);
        recur_seqset_free(s);
    }
}

const test_case tests_speech_tags[] = {
    {"smooth_runs_remove_flicker", smooth_runs_remove_flicker},
    {"smooth_runs_leave_no_short_run", smooth_runs_leave_no_short_run},
    {"train_eval_predict_tone_strings", train_eval_predict_tone_strings},
    {"hostile_lab_one_line_each", hostile_lab_one_line_each},
    {NULL, NULL},
};
