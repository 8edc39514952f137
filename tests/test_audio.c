/* Audio files and speech features: streaming gives the whole file's frames
 * bit for bit, the features match an independent NumPy implementation
 * (tests/audio/features_ref.py), and bad audio gets one clear line. */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

/* A 16-bit PCM WAV; data_frames_claimed > 0 writes a header that claims
 * more frames than follow (a truncated or lying file). */
static void write_wav(const char *path, int rate, int channels, const int16_t *x, uint32_t frames,
                      uint32_t data_frames_claimed)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    uint32_t claimed = data_frames_claimed ? data_frames_claimed : frames;
    uint32_t data = claimed * 2u * (uint32_t)channels, byte_rate = (uint32_t)rate * 2u * (uint32_t)channels;
    uint32_t riff = 36 + data, fmt = 16, r = (uint32_t)rate;
    uint16_t pcm = 1, ch = (uint16_t)channels, align = (uint16_t)(2 * channels), bits = 16;
    fwrite("RIFF", 1, 4, f);
    fwrite(&riff, 4, 1, f);
    fwrite("WAVEfmt ", 1, 8, f);
    fwrite(&fmt, 4, 1, f);
    fwrite(&pcm, 2, 1, f);
    fwrite(&ch, 2, 1, f);
    fwrite(&r, 4, 1, f);
    fwrite(&byte_rate, 4, 1, f);
    fwrite(&align, 2, 1, f);
    fwrite(&bits, 2, 1, f);
    fwrite("data", 1, 4, f);
    fwrite(&data, 4, 1, f);
    fwrite(x, 2, (size_t)frames * (size_t)channels, f);
    fclose(f);
}

static float *test_signal(size_t n, uint32_t seed)
{
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = 0.3f * sinf(0.05f * (float)i + 0.00002f * (float)i * (float)i) + 0.05f * ((float)(seed >> 8) / 16777216.0f - 0.5f);
    }
    return x;
}

static void stream_equals_whole_signal(void)
{
    recur_error err;
    for (int deltas = 0; deltas <= 2; deltas++)
        for (int mfcc = 0; mfcc <= 13; mfcc += 13) {
            recur_features_config c;
            recur_features_config_default(&c);
            c.deltas = deltas;
            c.mfcc = mfcc;
            recur_featurizer *f = NULL;
            CHECK_OK(recur_featurizer_create(&c, &f, &err), &err);
            if (!f) return;
            size_t n = 16000 + 123;
            float *x = test_signal(n, 5), *whole = NULL;
            size_t frames = 0;
            CHECK_OK(recur_featurizer_run(f, x, n, &whole, &frames, &err), &err);
            CHECK(frames == recur_featurizer_frames(f, n));
            CHECK(frames == 1 + (n - 400) / 160);
            int dim = recur_featurizer_dim(f);
            CHECK(dim == (mfcc ? 13 : 40) * (1 + deltas));
            CHECK(recur_featurizer_delay(f) == 2 * deltas);
            /* The same signal pushed in uneven chunks, with a small output
             * buffer, then flushed. */
            recur_featurizer_reset(f);
            float *streamed = malloc((frames + 8) * (size_t)dim * sizeof(float));
            size_t got = 0, at = 0, k;
            uint32_t seed = 9;
            while (at < n) {
                seed = seed * 1664525u + 1013904223u;
                size_t take = 1 + (seed >> 16) % 700;
                if (take > n - at) take = n - at;
                CHECK_OK(recur_featurizer_push(f, x + at, take, streamed + got * (size_t)dim, 3, &k, &err), &err);
                got += k;
                at += take;
                /* Samples queued when the buffer filled come out on the next push. */
                while (k == 3) {
                    CHECK_OK(recur_featurizer_push(f, NULL, 0, streamed + got * (size_t)dim, 3, &k, &err), &err);
                    got += k;
                }
            }
            CHECK_OK(recur_featurizer_flush(f, streamed + got * (size_t)dim, frames + 8 - got, &k, &err), &err);
            got += k;
            CHECK_MSG(got == frames, "deltas %d mfcc %d: streamed %zu frames, whole %zu", deltas, mfcc, got, frames);
            if (got == frames)
                CHECK_MSG(memcmp(streamed, whole, frames * (size_t)dim * sizeof(float)) == 0,
                          "deltas %d mfcc %d: streamed frames differ from the whole signal's", deltas, mfcc);
            free(streamed);
            free(whole);
            free(x);
            recur_featurizer_free(f);
        }
}

static void features_match_numpy_reference(void)
{
    const char *bin = getenv("RECUR_BIN");
    if (!bin || access(bin, X_OK) != 0 || system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0) {
        test_skip("needs RECUR_BIN and /usr/bin/python3 with NumPy");
        return;
    }
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/audio/features_ref.py '%s' '%s' >&2", bin, test_tmpdir());
    CHECK(system(cmd) == 0);
}

static void bad_config_is_refused(void)
{
    recur_error err;
    recur_features_config c;
    recur_featurizer *f = NULL;
    recur_features_config_default(&c);
    c.mfcc = 41;
    CHECK(recur_featurizer_create(&c, &f, &err) == RECUR_ERR_ARG && f == NULL);
    CHECK(strstr(err.message, "cepstra") != NULL);
    recur_features_config_default(&c);
    c.fmax = 9000;
    CHECK(recur_featurizer_create(&c, &f, &err) == RECUR_ERR_ARG);
    recur_features_config_default(&c);
    c.hop_ms = 30;
    CHECK(recur_featurizer_create(&c, &f, &err) == RECUR_ERR_ARG);
    CHECK_OK(recur_featurizer_create(NULL, &f, &err), &err);
    float *out = NULL;
    size_t frames = 9;
    float tiny[100] = {0};
    CHECK(recur_featurizer_run(f, tiny, 100, &out, &frames, &err) == RECUR_ERR_DATA && !out && frames == 0);
    CHECK(strstr(err.message, "shorter than one") != NULL);
    recur_featurizer_free(f);
}

static void bad_audio_gets_one_clear_line(void)
{
    const char *dir = test_tmpdir();
    char path[512];
    recur_error err;
    float *x = NULL;
    size_t n = 0;
    int16_t pcm[32000];
    for (int i = 0; i < 32000; i++) pcm[i] = (int16_t)(i % 200 * 50 - 5000);
    struct {
        const char *name, *expect;
    } cases[] = {{"empty.wav", "empty file"}, {"text.wav", "not an audio file"}, {"header.wav", "not an audio file"},
                 {"rate8k.wav", "8000 Hz audio"}, {"hours.wav", "longer than the limit"}, {"folder.wav", "is a folder"},
                 {"missing.wav", "No such file"}};
    snprintf(path, sizeof path, "%s/empty.wav", dir);
    fclose(fopen(path, "wb"));
    snprintf(path, sizeof path, "%s/text.wav", dir);
    FILE *f = fopen(path, "wb");
    fputs("Dovesky\nJackson\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/whole.wav", dir);
    write_wav(path, 16000, 1, pcm, 16000, 0);
    /* The first 20 bytes of a real WAV: a header cut short. */
    char head[20];
    f = fopen(path, "rb");
    CHECK(fread(head, 1, 20, f) == 20);
    fclose(f);
    snprintf(path, sizeof path, "%s/header.wav", dir);
    f = fopen(path, "wb");
    fwrite(head, 1, 20, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/rate8k.wav", dir);
    write_wav(path, 8000, 1, pcm, 8000, 0);
    /* Longer than the cap: the check is on the header's frame count, before
     * anything is read, so 2 s against a 1 s cap stands for 10 hours against
     * the CLI's 3600 s (a 10-hour file would be 1.2 GB in a test). */
    snprintf(path, sizeof path, "%s/hours.wav", dir);
    write_wav(path, 16000, 1, pcm, 32000, 0);
    snprintf(path, sizeof path, "%s/folder.wav", dir);
    CHECK(mkdir(path, 0777) == 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, cases[i].name);
        recur_status s = recur_audio_load(path, 16000, strcmp(cases[i].name, "hours.wav") ? 3600 : 1, &x, &n, &err);
        CHECK_MSG(s != RECUR_OK && x == NULL && n == 0, "%s loaded", cases[i].name);
        CHECK_MSG(strstr(err.message, cases[i].expect) != NULL && strstr(err.message, cases[i].name) != NULL &&
                      !strchr(err.message, '\n'),
                  "%s: '%s'", cases[i].name, err.message);
    }
    /* A WAV whose data stop before the header's count: libsndfile takes the
     * frames that are there (documented in docs/SPEECH.md). */
    snprintf(path, sizeof path, "%s/cut.wav", dir);
    write_wav(path, 16000, 1, pcm, 1000, 16000);
    CHECK_OK(recur_audio_load(path, 16000, 3600, &x, &n, &err), &err);
    CHECK(n == 1000);
    free(x);
    /* Stereo is mixed down to the mean of the channels. */
    int16_t st[2000];
    for (int i = 0; i < 1000; i++) st[2 * i] = 1000, st[2 * i + 1] = 3000;
    snprintf(path, sizeof path, "%s/stereo.wav", dir);
    write_wav(path, 16000, 2, st, 1000, 0);
    CHECK_OK(recur_audio_load(path, 16000, 3600, &x, &n, &err), &err);
    CHECK(n == 1000 && x && x[0] == 2000.0f / 32768.0f && x[999] == 2000.0f / 32768.0f);
    free(x);
    /* Rate 0 accepts any rate. */
    snprintf(path, sizeof path, "%s/rate8k.wav", dir);
    CHECK_OK(recur_audio_load(path, 0, 0, &x, &n, &err), &err);
    CHECK(n == 8000);
    free(x);
}

/* A folder of <word>/ subfolders of audio: one sequence of features per
 * file, labelled by folder, in bytewise order; and the training driver
 * learns the two words (two tones) from those dense sequences. */
static void audio_folder_trains_a_word_classifier(void)
{
    char dir[512], sub[600], path[700];
    snprintf(dir, sizeof dir, "%s/words", test_tmpdir());
    CHECK(mkdir(dir, 0777) == 0);
    const char *words[2] = {"low", "high"};
    int16_t pcm[8000];
    for (int w = 0; w < 2; w++) {
        snprintf(sub, sizeof sub, "%s/%s", dir, words[w]);
        CHECK(mkdir(sub, 0777) == 0);
        for (int k = 0; k < 12; k++) {
            uint32_t seed = (uint32_t)(w * 100 + k) * 2654435761u;
            int n = 4000 + 300 * k;
            for (int i = 0; i < n; i++) {
                seed = seed * 1664525u + 1013904223u;
                double f = w ? 2500.0 + 40 * k : 300.0 + 10 * k;
                pcm[i] = (int16_t)(8000 * sin(6.283185307 * f * i / 16000.0) + (int)(seed >> 24) * 8 - 1024);
            }
            snprintf(path, sizeof path, "%s/v%02d.wav", sub, k);
            write_wav(path, 16000, 1, pcm, (uint32_t)n, 0);
        }
    }
    recur_error err;
    recur_seqset *s = NULL;
    CHECK_OK(recur_seqset_load_audio(dir, NULL, &s, &err), &err);
    if (!s) return;
    CHECK(recur_seqset_size(s) == 24);
    CHECK(recur_seqset_input_size(s) == 40);
    CHECK(recur_seqset_num_labels(s) == 2 && strcmp(recur_seqset_label_name(s, 0), "high") == 0);
    CHECK(strcmp(recur_seqset_name(s, 0), "high/v00.wav") == 0 && strcmp(recur_seqset_name(s, 23), "low/v11.wav") == 0);
    const recur_batch *b = recur_seqset_batch(s);
    CHECK(b->features && b->labels && !b->tokens && b->labels[0] == 0 && b->labels[23] == 1);
    CHECK(b->offsets[1] - b->offsets[0] == (int32_t)(1 + (4000 - 400) / 160));
    recur_model_config mc;
    recur_model_config_default(&mc);
    mc.input = RECUR_INPUT_DENSE;
    mc.input_size = 40;
    mc.hidden = 16;
    const char *labels[2] = {recur_seqset_label_name(s, 0), recur_seqset_label_name(s, 1)};
    recur_model *m = NULL;
    CHECK_OK(recur_model_create(&mc, NULL, labels, 2, &m, &err), &err);
    size_t train[16], valid[8];
    for (int i = 0; i < 16; i++) train[i] = (size_t)(i < 8 ? i : i + 4);       /* v00..v07 of each word */
    for (int i = 0; i < 8; i++) valid[i] = (size_t)(i < 4 ? 8 + i : 20 + i - 4); /* v08..v11 */
    CHECK_OK(recur_model_fit_input_norm(m, b, train, 16, &err), &err);
    recur_fit_config fc;
    recur_fit_config_default(&fc);
    fc.epochs = 15;
    fc.batch = 4;
    fc.train.lr = 1e-2f;
    recur_fit_result res;
    CHECK_OK(recur_fit(m, &fc, b, train, 16, valid, 8, &res, &err), &err);
    recur_metrics met;
    CHECK_OK(recur_evaluate(m, b, valid, 8, 8, NULL, &met, &err), &err);
    CHECK_MSG(recur_metrics_accuracy(&met) == 1.0, "held-out accuracy %.3f", recur_metrics_accuracy(&met));
    recur_metrics_free(&met);
    recur_model_free(m);
    recur_seqset_free(s);
    /* A file that is not audio stops the load with a line naming it. */
    snprintf(path, sizeof path, "%s/low/zz.wav", dir);
    FILE *f = fopen(path, "w");
    fputs("not audio\n", f);
    fclose(f);
    CHECK(recur_seqset_load_audio(dir, NULL, &s, &err) == RECUR_ERR_DATA && s == NULL);
    CHECK_MSG(strstr(err.message, "low/zz.wav") && strstr(err.message, "not an audio file"), "'%s'", err.message);
    /* One word is not a classifier. */
    snprintf(path, sizeof path, "%s/low", dir);
    CHECK(recur_seqset_load_audio(path, NULL, &s, &err) != RECUR_OK && s == NULL);
}

const test_case tests_audio[] = {
    {"stream_equals_whole_signal", stream_equals_whole_signal},
    {"features_match_numpy_reference", features_match_numpy_reference},
    {"bad_config_is_refused", bad_config_is_refused},
    {"bad_audio_gets_one_clear_line", bad_audio_gets_one_clear_line},
    {"audio_folder_trains_a_word_classifier", audio_folder_trains_a_word_classifier},
    {NULL, NULL},
};
