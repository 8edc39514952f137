/*
 * The speech section (issue 21): features plus inference as a multiple of
 * real time on one core, target 200x (an hour of audio in under 18 s).
 * One trial: 60 s of synthetic audio (a chirp in noise, the content does
 * not change the cost) through recur_featurizer_run (40 log-mel bands,
 * docs/SPEECH.md), cut into 60 one-second words of 98 frames, and a
 * bidirectional LSTM-128 word classifier (the examples/speech_words model;
 * untrained weights cost the same) on all 60 in one recur_runner_predict.
 * The figure is seconds of audio per second of the thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID, which a shared machine's time-slicing does not
 * inflate), median and range of o->trials trials; wall time beside it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"

enum { AUDIO_S = 60, RATE = 16000, WORD_FRAMES = 98 };

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void speech_section(const bench_opts *o)
{
    recur_error err = {0};
    size_t n = (size_t)AUDIO_S * RATE, frames = 0;
    float *x = malloc(n * sizeof *x), *feats = NULL, *lp = NULL;
    recur_featurizer *fz = NULL;
    recur_model *m = NULL;
    recur_runner *rn = NULL;
    int32_t off[AUDIO_S + 1];
    double rtf[MAX_TRIALS], wall[MAX_TRIALS];
    int trials = o->trials < MAX_TRIALS ? o->trials : MAX_TRIALS, ok = x != NULL;
    uint32_t seed = 1;
    for (size_t i = 0; ok && i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        double t = (double)i / RATE;
        x[i] = (float)(0.3 * sin(6.283185307 * (200.0 + 50.0 * fmod(t, 4.0)) * t) +
                       0.02 * ((double)(seed >> 8) / 16777216.0 - 0.5));
    }
    recur_model_config mc;
    recur_model_config_default(&mc);
    mc.input = RECUR_INPUT_DENSE;
    mc.input_size = 40;
    mc.hidden = 128;
    mc.bidirectional = 1;
    const char *labels[18] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                              "nine", "yes",  "no",  "up",  "down", "left", "right", "stop", "go"};
    recur_set_threads(1);
    ok = ok && !recur_featurizer_create(NULL, &fz, &err) && !recur_model_create(&mc, NULL, labels, 18, &m, &err) &&
         !recur_runner_create(m, AUDIO_S, &rn, &err) && (lp = malloc((size_t)AUDIO_S * 18 * sizeof *lp));
    for (int k = -1; ok && k < trials; k++) { /* k = -1: the warm-up */
        double c0 = cpu_s(), w0 = now_s();
        free(feats);
        feats = NULL;
        ok = !recur_featurizer_run(fz, x, n, &feats, &frames, &err) && frames >= (size_t)AUDIO_S * WORD_FRAMES;
        for (int w = 0; ok && w <= AUDIO_S; w++) off[w] = w * WORD_FRAMES;
        recur_batch b = {AUDIO_S, NULL, off, NULL, feats, NULL, NULL};
        ok = ok && !recur_runner_predict(rn, &b, lp, &err);
        if (ok && k >= 0) {
            rtf[k] = AUDIO_S / (cpu_s() - c0);
            wall[k] = AUDIO_S / (now_s() - w0);
        }
    }
    if (!ok) {
        printf("\nspeech: not measured: %s\n", err.message[0] ? err.message : "out of memory");
    } else {
        qsort(rtf, (size_t)trials, sizeof *rtf, cmp);
        qsort(wall, (size_t)trials, sizeof *wall, cmp);
        double med = rtf[trials / 2];
        printf("\n## Speech (features + inference, one core)\n\n");
        printf("| row | x real time (CPU) | min-max | x real time (wall) | target | status |\n|---|--:|--:|--:|--:|---|\n");
        printf("| 40 log-mel + bi-LSTM-128 on 60 words of 1 s | %.0f | %.0f-%.0f | %.0f | 200 | %s |\n", med, rtf[0],
               rtf[trials - 1], wall[trials / 2], med >= 200 ? "met" : "MISSED");
        printf("(an hour of audio in %.1f s of CPU; %d trials of %d s of audio)\n", 3600.0 / med, trials, AUDIO_S);
    }
    free(x), free(feats), free(lp);
    recur_runner_free(rn), recur_model_free(m), recur_featurizer_free(fz);
}
