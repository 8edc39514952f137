/*
 * Kernel rows, recur side: one dense recurrent layer (recur_rnn, input 64,
 * batch 64, every sequence of full length T), forward alone (inference,
 * train = 0) and forward + backward (train = 1, then BPTT with a fixed dy,
 * parameter gradients zeroed before each pass as an optimiser would).
 * FLOPs: 2*B*G*H*(I+H) per step forward, 3x that for forward + backward.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

enum { KB = 64, KI = 64 };

typedef struct kernel_ctx {
    recur_rnn *rnn;
    int T, H, G, fwdbwd;
    float *x, *y, *hn, *cn, *dy;
} kernel_ctx;

static int kernel_call(void *ctx, double *units, double *flops, recur_error *err)
{
    kernel_ctx *k = ctx;
    if (k->fwdbwd) recur_rnn_zero_grad(k->rnn);
    if (recur_rnn_forward(k->rnn, k->T, KB, k->x, NULL, NULL, NULL, k->y, k->hn, k->cn, k->fwdbwd, err))
        return -1;
    if (k->fwdbwd && recur_rnn_backward(k->rnn, k->dy, NULL, NULL, NULL, NULL, NULL, err)) return -1;
    double f = 2.0 * KB * k->G * k->H * (double)(KI + k->H) * k->T * (k->fwdbwd ? 3 : 1);
    *flops += f;
    *units += f * 1e-9;
    return 0;
}

static void fill_random(float *v, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        v[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
}

void kernel_rows(const bench_opts *o, rows *r)
{
    for (int i = 0; i < r->n; i++) {
        row *w = &r->v[i];
        if (w->section != SEC_KERNEL) continue;
        /* The convention of recur_trainer: with its own pool of n threads,
         * OpenBLAS gets one, so that the two never compete for cores. */
        recur_set_threads(w->threads > 1 ? 1 : w->threads);
        recur_error err = {0};
        recur_rnn_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.cell = (recur_cell)w->cell;
        cfg.input_size = KI;
        cfg.hidden = w->hidden;
        cfg.layers = 1;
        cfg.seed = o->seed;
        cfg.threads = w->threads; /* its own pool */
        kernel_ctx k = {NULL, w->steps, w->hidden, recur_cell_gates((recur_cell)w->cell), w->fwdbwd,
                        NULL, NULL, NULL, NULL, NULL};
        size_t T = (size_t)w->steps, H = (size_t)w->hidden;
        k.x = malloc(T * KB * KI * sizeof(float));
        k.y = malloc(T * KB * H * sizeof(float));
        k.dy = malloc(T * KB * H * sizeof(float));
        k.hn = malloc(KB * H * sizeof(float));
        k.cn = malloc(KB * H * sizeof(float));
        int ok = k.x && k.y && k.dy && k.hn && k.cn;
        if (ok) {
            fill_random(k.x, T * KB * KI, 1);
            fill_random(k.dy, T * KB * H, 2);
            ok = recur_rnn_create(&cfg, &k.rnn, &err) == 0;
        } else {
            snprintf(err.message, sizeof err.message, "out of memory");
        }
        if (w->cell != RECUR_CELL_LSTM) {
            free(k.cn);
            k.cn = NULL;
        }
        measured ms;
        if (ok) ok = measure(kernel_call, &k, o, o->trial_s, 0, &ms, &err) == 0;
        if (ok) {
            side *s = &w->recur;
            s->have = 1;
            s->n = ms.trials;
            memcpy(s->trial, ms.rates, sizeof(double) * (size_t)ms.trials);
            s->s = stat_of(ms.rates, ms.trials);
            s->gflops = s->s;
            s->have_gflops = 1;
            s->reps = (double)ms.reps;
            s->units = (double)ms.reps;
            progress("recur kernel %s, %d thread(s): %.1f GFLOP/s", w->what, w->threads, s->s.median);
        } else {
            snprintf(w->recur.note, sizeof w->recur.note, "failed: %.140s", err.message);
            progress("recur kernel %s, %d thread(s): %s", w->what, w->threads, w->recur.note);
        }
        recur_rnn_free(k.rnn);
        free(k.x);
        free(k.y);
        free(k.dy);
        free(k.hn);
        free(k.cn);
    }
}
