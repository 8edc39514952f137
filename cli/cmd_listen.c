/*
 * recur listen MODEL: spoken words from a live stream. Raw signed 16-bit
 * little-endian mono samples at the model's rate (16 kHz) come on stdin,
 *   sox in.wav -t raw -r 16000 -e signed -b 16 -c 1 - | recur listen m
 *   arecord -f S16_LE -r 16000 -c 1 -t raw | recur listen m
 * and go one 10 ms hop at a time into the library's spotter (features,
 * then the model's step API), which says when a word ends and what it was
 * (the rule: recur.h, recur_spotter; docs/SPEECH.md). A confident word is
 * printed at once, one line each (flushed); the end of stdin decides the
 * word in progress. SIGINT or SIGTERM stops within one read (exit 130).
 * --stats measures the compute each hop costs (thread CPU time, so that a
 * busy machine does not inflate it) and prints its median and p99.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "speech.h"

typedef struct listen_opts {
    double confidence;
    int json, all, stats;
} listen_opts;

static const char summary[] =
    "Print the words a speech model hears in raw audio on stdin: signed 16-bit\n"
    "little-endian mono at the model's rate (16 kHz), e.g.\n"
    "  sox word.wav -t raw -r 16000 -e signed -b 16 -c 1 - | recur listen model.safetensors\n"
    "A word starts 9 dB above the tracked noise floor and ends after 200 ms of quiet;\n"
    "it is printed when the model's top label has at least --confidence probability:\n"
    "  (-0.02) seven  0.42-1.03 s";

enum { LISTEN_SPECS = 5 };

static void listen_table(arg_command *cmd, arg_spec *s, listen_opts *o)
{
    *o = (listen_opts){0.5, 0, 0, 0};
    arg_spec specs[] = {
        {"--confidence", NULL, ARG_FLOAT, &o->confidence, 0, 1, 0, 0, NULL, "P", "probability a word's top label needs to be printed", 0},
        {"--json", NULL, ARG_FLAG, &o->json, 0, 0, 0, 0, NULL, NULL, "one JSON object per word and line", 0},
        {"--all", NULL, ARG_FLAG, &o->all, 0, 0, 0, 0, NULL, NULL, "print the words below --confidence too, marked '?'", 0},
        {"--stats", NULL, ARG_FLAG, &o->stats, 0, 0, 0, 0, NULL, NULL, "at the end, the compute per 10 ms hop on stderr (median, p99)", 0},
        SPEC_END,
    };
    _Static_assert(sizeof specs == LISTEN_SPECS * sizeof specs[0], "LISTEN_SPECS");
    memcpy(s, specs, sizeof specs);
    *cmd = (arg_command){"listen", "recur listen MODEL [--confidence P] [--json] [--stats] < raw-s16le-16k-mono", summary, s, 1, 1};
}

static double thread_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void print_spots(const recur_model *m, const recur_spot *sp, int n, const listen_opts *o)
{
    for (int k = 0; k < n; k++) {
        if (!sp[k].confident && !o->all) continue;
        const char *l = recur_model_label_name(m, sp[k].label);
        if (o->json) {
            fputs("{\"label\":", stdout);
            cli_json_string(stdout, l);
            printf(",\"logprob\":%.4f,\"confident\":%s,\"start\":%.2f,\"end\":%.2f}\n", (double)sp[k].logprob,
                   sp[k].confident ? "true" : "false", sp[k].start_s, sp[k].end_s);
        } else {
            printf("(%.2f) %s%s  %.2f-%.2f s\n", (double)sp[k].logprob, l, sp[k].confident ? "" : " ?",
                   sp[k].start_s, sp[k].end_s);
        }
    }
    if (n) fflush(stdout);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int cmd_listen(int argc, char **argv)
{
    listen_opts o;
    arg_spec specs[LISTEN_SPECS];
    arg_command cmd;
    listen_table(&cmd, specs, &o);
    int npos, rc;
    char **pos = cli_parse_command(&cmd, argc, argv, &npos, &rc);
    if (!pos) return rc;
    rc = EXIT_RUNTIME;
    recur_error err;
    recur_model *m = NULL;
    recur_spotter *sp = NULL;
    double *cost = NULL;
    size_t n_cost = 0, cap_cost = 0, hops = 0;
    recur_features_config fc;
    if (recur_model_load(pos[0], &m, &err)) {
        cli_lib_error(NULL, &err);
        goto done;
    }
    if (recur_model_get_features(m, &fc, &err)) {
        cli_error("%s: %s", pos[0], err.message);
        goto done;
    }
    recur_spotter_config sc;
    recur_spotter_config_default(&sc);
    sc.confidence = (float)o.confidence;
    if (recur_spotter_create(m, &sc, &sp, &err)) {
        cli_error("%s: %s", pos[0], err.message);
        goto done;
    }
    recur_set_threads(1); /* one stream, one core */
    cli_catch_interrupts();
    int hop = (int)(fc.sample_rate * fc.hop_ms / 1000.0f + 0.5f);
    if (hop < 1) hop = 1;
    unsigned char *raw = malloc((size_t)hop * 2);
    float *x = malloc((size_t)hop * sizeof *x);
    if (!raw || !x) {
        free(raw), free(x);
        cli_error("out of memory");
        goto done;
    }
    size_t have = 0;
    recur_spot spots[4];
    int n;
    for (;;) {
        /* Wait in slices: a signal may land on another thread (the
         * library's or BLAS's) or just before read(), and then would not
         * interrupt it; polling bounds the stop to 100 ms either way. */
        struct pollfd pf = {0, POLLIN, 0};
        int ready = poll(&pf, 1, 100);
        if (cli_interrupted()) break;
        if (ready == 0 || (ready < 0 && errno == EINTR)) continue;
        ssize_t k = read(0, raw + have, (size_t)hop * 2 - have);
        if (cli_interrupted()) break;
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            cli_error("cannot read stdin: %s", strerror(errno));
            goto fail;
        }
        if (k == 0) break;
        have += (size_t)k;
        if (have < (size_t)hop * 2) continue; /* one whole hop at a time, so each push is one frame */
        for (int i = 0; i < hop; i++) x[i] = (float)(int16_t)(raw[2 * i] | raw[2 * i + 1] << 8) / 32768.0f;
        have = 0;
        double t0 = o.stats ? thread_seconds() : 0;
        recur_status st = recur_spotter_push(sp, x, (size_t)hop, spots, 4, &n, &err);
        if (o.stats) {
            if (n_cost == cap_cost && cap_cost < (1u << 24)) {
                size_t nc = cap_cost ? 2 * cap_cost : 4096;
                double *c = realloc(cost, nc * sizeof *c);
                if (c) cost = c, cap_cost = nc;
            }
            if (n_cost < cap_cost) cost[n_cost++] = thread_seconds() - t0;
        }
        hops++;
        if (st) {
            cli_lib_error(NULL, &err);
            goto fail;
        }
        print_spots(m, spots, n, &o);
    }
    if (cli_interrupted()) {
        fflush(stdout);
        cli_error("interrupted");
        rc = EXIT_INTERRUPTED;
        goto fail;
    }
    /* The end of the stream: a last partial hop, then the word in progress. */
    for (size_t i = 0; i + 1 < have; i += 2) x[i / 2] = (float)(int16_t)(raw[i] | raw[i + 1] << 8) / 32768.0f;
    if (recur_spotter_push(sp, x, have / 2, spots, 4, &n, &err) == RECUR_OK) print_spots(m, spots, n, &o);
    if (recur_spotter_flush(sp, spots, 4, &n, &err)) {
        cli_lib_error(NULL, &err);
        goto fail;
    }
    print_spots(m, spots, n, &o);
    if (o.stats && n_cost) {
        qsort(cost, n_cost, sizeof *cost, cmp_double);
        double med = cost[n_cost / 2], p99 = cost[(size_t)((double)(n_cost - 1) * 0.99)];
        fprintf(stderr, "listen: %zu hops (%.1f s of audio); compute per %g ms hop: median %.1f us, p99 %.1f us (thread CPU time)\n",
                hops, (double)hops * fc.hop_ms / 1000.0, (double)fc.hop_ms, med * 1e6, p99 * 1e6);
    }
    rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_RUNTIME;
fail:
    free(raw), free(x);
done:
    free(cost);
    recur_spotter_free(sp);
    recur_model_free(m);
    free(pos);
    return rc;
}
