/* Tiny tone audio and a tone-word model for the speech tests. */
#define _DEFAULT_SOURCE
#include "speech_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "test.h"

void speech_write_wav(const char *path, int rate, int channels, const int16_t *x, size_t frames)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    uint32_t data = (uint32_t)(frames * 2u * (uint32_t)channels), byte_rate = (uint32_t)rate * 2u * (uint32_t)channels;
    uint32_t riff = 36 + data, fmt = 16, r = (uint32_t)rate;
    uint16_t pcm = 1, ch = (uint16_t)channels, align = (uint16_t)(2 * channels), bits = 16;
    fwrite("RIFF", 1, 4, f), fwrite(&riff, 4, 1, f), fwrite("WAVEfmt ", 1, 8, f), fwrite(&fmt, 4, 1, f);
    fwrite(&pcm, 2, 1, f), fwrite(&ch, 2, 1, f), fwrite(&r, 4, 1, f), fwrite(&byte_rate, 4, 1, f);
    fwrite(&align, 2, 1, f), fwrite(&bits, 2, 1, f), fwrite("data", 1, 4, f), fwrite(&data, 4, 1, f);
    fwrite(x, 2, frames * (size_t)channels, f);
    fclose(f);
}

void speech_fill(int16_t *x, size_t n, double f, size_t from, size_t to, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        double v = (double)(seed >> 27) - 16.0; /* quiet: about -70 dBFS */
        if (f > 0 && i >= from && i < to) v += 8000.0 * sin(6.283185307179586 * f * (double)i / 16000.0);
        x[i] = (int16_t)v;
    }
}

recur_model *speech_tone_model(int bidirectional)
{
    char dir[512], sub[600], path[700];
    snprintf(dir, sizeof dir, "%s/tones-%d", test_tmpdir(), bidirectional);
    mkdir(dir, 0777);
    const char *words[2] = {"low", "high"};
    int16_t pcm[12000];
    for (int w = 0; w < 2; w++) {
        snprintf(sub, sizeof sub, "%s/%s", dir, words[w]);
        mkdir(sub, 0777);
        for (int k = 0; k < 12; k++) {
            /* 0.15 s quiet, 0.25-0.36 s of tone, 0.2 s quiet: as the spotter cuts words */
            size_t tone = 4000 + 160 * (size_t)k, n = 2400 + tone + 3200;
            speech_fill(pcm, n, w ? 2500.0 + 40 * k : 300.0 + 10 * k, 2400, 2400 + tone, (uint32_t)(w * 100 + k + 1));
            snprintf(path, sizeof path, "%s/v%02d.wav", sub, k);
            speech_write_wav(path, 16000, 1, pcm, n);
        }
    }
    recur_error err;
    recur_seqset *s = NULL;
    CHECK_OK(recur_seqset_load_audio(dir, NULL, &s, &err), &err);
    if (!s) return NULL;
    recur_model_config mc;
    recur_model_config_default(&mc);
    mc.input = RECUR_INPUT_DENSE;
    mc.input_size = 40;
    mc.hidden = 16;
    mc.bidirectional = bidirectional;
    const char *labels[2] = {recur_seqset_label_name(s, 0), recur_seqset_label_name(s, 1)};
    recur_model *m = NULL;
    recur_features_config fc;
    recur_features_config_default(&fc);
    CHECK_OK(recur_model_create(&mc, NULL, labels, 2, &m, &err), &err);
    size_t all[24];
    for (int i = 0; i < 24; i++) all[i] = (size_t)i;
    const recur_batch *b = recur_seqset_batch(s);
    recur_fit_config fit;
    recur_fit_config_default(&fit);
    fit.epochs = 15;
    fit.batch = 4;
    fit.train.lr = 1e-2f;
    recur_fit_result res;
    recur_metrics met = {0};
    if (m) CHECK_OK(recur_model_fit_input_norm(m, b, all, 24, &err), &err);
    if (m) CHECK_OK(recur_model_set_features(m, &fc, &err), &err);
    if (m) CHECK_OK(recur_fit(m, &fit, b, all, 24, all, 24, &res, &err), &err);
    if (m) CHECK_OK(recur_evaluate(m, b, NULL, 24, 24, NULL, &met, &err), &err);
    CHECK_MSG(recur_metrics_accuracy(&met) == 1.0, "tone model accuracy %.3f", recur_metrics_accuracy(&met));
    recur_metrics_free(&met);
    recur_seqset_free(s);
    return m;
}

int16_t *speech_tone_stream(size_t *n)
{
    *n = 16000 * 18 / 10;
    int16_t *x = malloc(*n * sizeof *x), *hi = malloc(*n * sizeof *hi);
    speech_fill(x, *n, 300.0, 4800, 9600, 7);
    speech_fill(hi, *n, 2500.0, 17600, 22400, 7);
    for (size_t i = 17600; i < 22400; i++) x[i] = hi[i];
    free(hi);
    return x;
}
