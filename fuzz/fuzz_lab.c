/*
 * fuzz_lab: libFuzzer harness for the .lab files of connected speech.
 *
 * bytes -> "a.lab" beside a fixed "a.wav" (0.5 s: quiet and a tone,
 * written once) in a private folder (under $TMPDIR, else /dev/shm, else
 * /tmp; removed at exit) -> recur_seqset_load_audio_tags. It checks
 * recur.h's promises and aborts when one is broken: a failure leaves no
 * set and is one line of valid UTF-8 naming a.lab with a documented
 * status; success is one sequence of the audio's frames, every frame a tag
 * of the set, tag names non-empty printable UTF-8 with "sil" among them
 * unless the spans cover every frame. The frame tags then go through
 * recur_smooth_runs (min_run from the input's length) and
 * recur_collapse_runs: no run shorter than min_run is left (unless it is
 * the whole sequence), and the string is no longer than the frames.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recur.h"

#define REQUIRE(cond)                                                                        \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "fuzz_lab: broken promise: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

enum { SAMPLES = 8000, FRAMES = 1 + (SAMPLES - 400) / 160 };

static char dir[64], wav[96], lab[96];

static void cleanup(void)
{
    unlink(lab);
    unlink(wav);
    rmdir(dir);
}

static void put32(FILE *f, uint32_t v) { fwrite(&v, 4, 1, f); }
static void put16(FILE *f, uint16_t v) { fwrite(&v, 2, 1, f); }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *t = getenv("TMPDIR");
    if (!t || !*t) t = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/fuzz-lab-XXXXXX", t);
    if (!mkdtemp(dir)) abort();
    snprintf(wav, sizeof wav, "%s/a.wav", dir);
    snprintf(lab, sizeof lab, "%s/a.lab", dir);
    FILE *f = fopen(wav, "wb");
    if (!f) abort();
    /* 16-bit PCM mono at 16 kHz (little-endian host) */
    fwrite("RIFF", 1, 4, f), put32(f, 36 + 2 * SAMPLES), fwrite("WAVEfmt ", 1, 8, f), put32(f, 16);
    put16(f, 1), put16(f, 1), put32(f, 16000), put32(f, 32000), put16(f, 2), put16(f, 16);
    fwrite("data", 1, 4, f), put32(f, 2 * SAMPLES);
    uint32_t s = 1;
    for (int i = 0; i < SAMPLES; i++) {
        s = s * 1664525u + 1013904223u;
        int v = (int)(s >> 27) - 16 + (i >= 2000 && i < 5000 ? ((i / 20) % 2 ? 6000 : -6000) : 0);
        put16(f, (uint16_t)(int16_t)v);
    }
    if (fclose(f) != 0) abort();
    atexit(cleanup);
    return 0;
}

static int valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2 : (*p & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0) return 0;
        p++;
        for (int k = 0; k < n; k++, p++)
            if ((*p & 0xC0) != 0x80) return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(lab, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    recur_error err;
    recur_seqset *s = (recur_seqset *)1;
    recur_status st = recur_seqset_load_audio_tags(dir, NULL, &s, &err);
    if (st) {
        REQUIRE(s == NULL);
        REQUIRE(st == RECUR_ERR_DATA || st == RECUR_ERR_IO || st == RECUR_ERR_NOMEM);
        REQUIRE(err.message[0] && !strchr(err.message, '\n') && valid_utf8(err.message));
        REQUIRE(st == RECUR_ERR_NOMEM || strstr(err.message, "a.lab"));
        return 0;
    }
    const recur_batch *b = recur_seqset_batch(s);
    int C = recur_seqset_num_tags(s), sil = -1;
    REQUIRE(recur_seqset_size(s) == 1 && b->n == 1 && b->offsets[0] == 0 && b->offsets[1] == FRAMES);
    REQUIRE(b->step_labels && b->features && C >= 1);
    for (int c = 0; c < C; c++) {
        const char *name = recur_seqset_tag_name(s, c);
        REQUIRE(name && name[0] && valid_utf8(name));
        for (const unsigned char *p = (const unsigned char *)name; *p; p++) REQUIRE(*p > 0x20 && *p != 0x7f);
        if (strcmp(name, "sil") == 0) sil = c;
    }
    int32_t x[FRAMES], out[FRAMES];
    for (int t = 0; t < FRAMES; t++) {
        REQUIRE(b->step_labels[t] >= 0 && b->step_labels[t] < C);
        x[t] = b->step_labels[t];
    }
    int min_run = 1 + (int)(size % 13);
    recur_smooth_runs(x, FRAMES, min_run);
    int runs = 0, shortest = FRAMES;
    for (int t = 0, len = 1; t < FRAMES; t++, len++) {
        REQUIRE(x[t] >= 0 && x[t] < C);
        if (t == FRAMES - 1 || x[t + 1] != x[t]) {
            runs++;
            if (len < shortest) shortest = len;
            len = 0;
        }
    }
    REQUIRE(runs == 1 || shortest >= min_run);
    int n = recur_collapse_runs(x, FRAMES, sil, out);
    REQUIRE(n >= 0 && n <= runs);
    for (int k = 0; k < n; k++) REQUIRE(out[k] != sil && out[k] >= 0 && out[k] < C);
    recur_seqset_free(s);
    return 0;
}
