/*
 * fuzz_audio: libFuzzer harness for audio files and the feature extractor.
 *
 * bytes -> "fuzz.wav" in a private temporary folder (under $TMPDIR, else
 * /dev/shm, else /tmp; removed at exit) -> recur_audio_load (any rate,
 * capped at 60 s) -> recur_featurizer_run with MFCC and deltas. It checks
 * recur.h's promises and aborts when one is broken: a failure leaves no
 * samples and a one-line message; success gives finite samples in range
 * and finite features of the announced frame count.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recur.h"

#define REQUIRE(cond)                                                                          \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "fuzz_audio: broken promise: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

static char dir[64];
static char path[96];
static recur_featurizer *feat;

static void cleanup(void)
{
    unlink(path);
    rmdir(dir);
    recur_featurizer_free(feat);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *t = getenv("TMPDIR");
    if (!t || !*t) t = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/fuzz-audio-XXXXXX", t);
    if (!mkdtemp(dir)) abort();
    snprintf(path, sizeof path, "%s/fuzz.wav", dir);
    recur_features_config c;
    recur_features_config_default(&c);
    c.mfcc = 13;
    c.deltas = 2;
    recur_error err;
    if (recur_featurizer_create(&c, &feat, &err)) abort();
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    recur_error err;
    float *x = (float *)1;
    size_t n = 7;
    recur_status s = recur_audio_load(path, 0, 60, &x, &n, &err);
    if (s) {
        REQUIRE(x == NULL && n == 0);
        REQUIRE(err.message[0] && !strchr(err.message, '\n'));
        return 0;
    }
    REQUIRE(x && n > 0);
    for (size_t i = 0; i < n; i++) REQUIRE(isfinite(x[i]));
    float *out = NULL;
    size_t frames = 0;
    s = recur_featurizer_run(feat, x, n, &out, &frames, &err);
    if (s == RECUR_OK) {
        REQUIRE(frames == recur_featurizer_frames(feat, n));
        for (size_t i = 0; i < frames * (size_t)recur_featurizer_dim(feat); i++) REQUIRE(isfinite(out[i]));
    } else {
        REQUIRE(out == NULL && frames == 0);
    }
    free(out);
    free(x);
    return 0;
}
