/*
 * fuzz_spotter: libFuzzer harness for the word spotter's input (what
 * `recur listen` hands it from stdin).
 *
 * byte 0: bit 0 the model (a unidirectional LSTM read through the step
 * API, or a bidirectional one read whole at the word's end), bits 1-3 the
 * chunk size of each push (1..8 hops); then little-endian s16 samples at
 * 16 kHz, pushed chunk by chunk and flushed at the end. The models are
 * tiny word classifiers (40 log-mel features, hidden 4, 3 labels, seeded
 * weights) made once. It checks recur.h's promises and aborts when one is
 * broken: every push and flush succeeds, returns at most cap spots, each
 * with a label of the model, a finite log-probability <= 0, `confident`
 * as exp(logprob) >= the confidence, frames > 0, and a span inside the
 * stream (start <= end <= the samples pushed, in seconds), spots in order.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recur.h"

#define REQUIRE(cond)                                                                            \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            fprintf(stderr, "fuzz_spotter: broken promise: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                             \
        }                                                                                        \
    } while (0)

static recur_model *models[2];
static recur_spotter *spotters[2];

static void cleanup(void)
{
    for (int k = 0; k < 2; k++) recur_spotter_free(spotters[k]), recur_model_free(models[k]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    recur_error err;
    const char *labels[3] = {"a", "b", "c"};
    recur_features_config fc;
    recur_features_config_default(&fc);
    for (int k = 0; k < 2; k++) {
        recur_model_config mc;
        recur_model_config_default(&mc);
        mc.input = RECUR_INPUT_DENSE;
        mc.input_size = 40;
        mc.hidden = 4;
        mc.bidirectional = k;
        mc.seed = 7 + (uint64_t)k;
        if (recur_model_create(&mc, NULL, labels, 3, &models[k], &err) ||
            recur_model_set_features(models[k], &fc, &err) ||
            recur_spotter_create(models[k], NULL, &spotters[k], &err)) {
            fprintf(stderr, "fuzz_spotter: %s\n", err.message);
            abort();
        }
    }
    atexit(cleanup);
    return 0;
}

enum { CAP = 8 };

static double check(const recur_spot *sp, int n, double pushed_s, double last_end)
{
    recur_spotter_config cfg;
    recur_spotter_config_default(&cfg);
    REQUIRE(n >= 0 && n <= CAP);
    for (int i = 0; i < n; i++) {
        REQUIRE(sp[i].label >= 0 && sp[i].label < 3);
        REQUIRE(isfinite(sp[i].logprob) && sp[i].logprob <= 1e-6f);
        REQUIRE(sp[i].confident == (expf(sp[i].logprob) >= cfg.confidence) || fabsf(expf(sp[i].logprob) - cfg.confidence) < 1e-6f);
        REQUIRE(sp[i].frames > 0);
        REQUIRE(sp[i].start_s >= 0 && sp[i].start_s <= sp[i].end_s && sp[i].end_s <= pushed_s + 1e-9);
        REQUIRE(sp[i].start_s >= last_end - 1e-9);
        last_end = sp[i].end_s;
    }
    return last_end;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    recur_spotter *sp = spotters[data[0] & 1];
    size_t chunk = 160 * (size_t)(1 + ((data[0] >> 1) & 7)), n = (size - 1) / 2;
    float *x = malloc((n ? n : 1) * sizeof *x);
    if (!x) return 0;
    for (size_t i = 0; i < n; i++) x[i] = (float)(int16_t)(data[1 + 2 * i] | (data[2 + 2 * i] << 8)) / 32768.0f;
    recur_error err;
    recur_spot spots[CAP];
    double last_end = 0;
    for (size_t at = 0; at < n; at += chunk) {
        size_t k = n - at < chunk ? n - at : chunk;
        int got = -1;
        REQUIRE(recur_spotter_push(sp, x + at, k, spots, CAP, &got, &err) == RECUR_OK);
        last_end = check(spots, got, (double)(at + k) / 16000.0, last_end);
        /* cap reached: the rest stays queued until pushed on with n = 0 */
        while (got == CAP) {
            REQUIRE(recur_spotter_push(sp, NULL, 0, spots, CAP, &got, &err) == RECUR_OK);
            last_end = check(spots, got, (double)(at + k) / 16000.0, last_end);
        }
    }
    int got = -1;
    REQUIRE(recur_spotter_flush(sp, spots, CAP, &got, &err) == RECUR_OK);
    check(spots, got, (double)n / 16000.0, last_end);
    free(x);
    return 0;
}
