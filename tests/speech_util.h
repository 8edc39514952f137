/* Tiny audio for the speech tests, made here: no test needs data/speech.
 * Two "words" are tones (low: 300 Hz, high: 2500 Hz) between quiet. */
#ifndef RECUR_TEST_SPEECH_UTIL_H
#define RECUR_TEST_SPEECH_UTIL_H
#include <stdint.h>
#include <stddef.h>

#include "recur.h"

/* A 16-bit PCM WAV file of frames x channels samples. */
void speech_write_wav(const char *path, int rate, int channels, const int16_t *x, size_t frames);
/* n samples at 16 kHz: quiet (noise of about -70 dBFS) with a tone of
 * frequency f from sample `from` to `to` (f 0: none). */
void speech_fill(int16_t *x, size_t n, double f, size_t from, size_t to, uint32_t seed);
/* A word classifier (LSTM-16, unidirectional or not) trained on 24 tone
 * files with quiet around them, its 40 log-mel features recorded; NULL
 * (and a failed check) when training fails. */
recur_model *speech_tone_model(int bidirectional);
/* 1.8 s: quiet, "low" at 0.30-0.60 s, quiet, "high" at 1.10-1.40 s, quiet. */
int16_t *speech_tone_stream(size_t *n);
#endif
