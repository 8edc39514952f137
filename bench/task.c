/*
 * Task rows, recur side (issue 16): training throughput of a dense-input
 * model, in sequence steps per second. LSTM, F = 16 features per step,
 * batch 64 of ragged lengths 16..48 (mean 32; the same lengths as
 * torch_ref.py's task_job), Adam lr 1e-3, clip 5, standardised input:
 *   task/regress  head on the final state, 1 real output, MSE
 *   task/tag      head on every step, 8 classes per step, NLL
 * PyTorch: nn.LSTM on pack_padded_sequence(enforce_sorted=False) +
 * nn.Linear + MSELoss / CrossEntropyLoss over the valid steps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

enum { TB = 64, TF = 16, TCLS = 8 };

/* Sequence i's length: 16..48, the formula torch_ref.py uses. */
static int task_len(int i) { return 16 + (i * 7) % 33; }

/* Every batch is the same TB sequences: S steps of work. */
static void task_work(void *ctx, size_t k, double *units, double *flops)
{
    (void)k;
    (void)flops;
    *units += *(const double *)ctx;
}

/* The batch repeated: an epoch of REPEAT steps, each timed (measure_fit
 * does not time an epoch's first step). */
enum { REPEAT = 64 };

void task_rows(const bench_opts *o, rows *r)
{
    for (int i = 0; i < r->n; i++) {
        row *w = &r->v[i];
        if (w->section != SEC_TASK) continue;
        recur_set_threads(w->threads > 1 ? 1 : w->threads);
        recur_error err = {0};
        int tag = w->steps == 1; /* the row's variant: 0 regress, 1 tag */
        int32_t off[TB + 1];
        off[0] = 0;
        for (int s = 0; s < TB; s++) off[s + 1] = off[s] + task_len(s);
        size_t S = (size_t)off[TB];
        float *x = malloc(S * TF * sizeof *x), *y = malloc((size_t)TB * sizeof *y);
        int32_t *lab = malloc(S * sizeof *lab);
        recur_model *m = NULL;
        size_t train[TB * REPEAT];
        for (size_t k = 0; k < TB * REPEAT; k++) train[k] = k % TB;
        int ok = x && y && lab;
        if (ok) {
            uint32_t seed = 7;
            for (size_t k = 0; k < S * TF; k++) {
                seed = seed * 1664525u + 1013904223u;
                x[k] = (float)(seed >> 8) / 16777216.0f * 4.0f - 1.0f;
            }
            for (size_t k = 0; k < S; k++) lab[k] = (int32_t)(k % TCLS);
            for (int s = 0; s < TB; s++) y[s] = (float)s / TB;
            recur_model_config c;
            recur_model_config_default(&c);
            recur_model_config_task(&c, tag ? RECUR_TASK_TAG : RECUR_TASK_REGRESS);
            c.input = RECUR_INPUT_DENSE;
            c.input_size = TF;
            c.cell = (recur_cell)w->cell;
            c.hidden = w->hidden;
            c.seed = o->seed;
            const char *names[TCLS] = {"a", "b", "c", "d", "e", "f", "g", "h"};
            ok = recur_model_create(&c, NULL, tag ? names : NULL, tag ? TCLS : 0, &m, &err) == 0;
            recur_batch all = {.n = TB, .offsets = off, .features = x, .step_labels = lab, .targets = y};
            if (ok) ok = recur_model_fit_input_norm(m, &all, NULL, 0, &err) == 0;
        } else {
            snprintf(err.message, sizeof err.message, "out of memory");
        }
        /* Through recur_fit (in_order: the batch as given), Adam lr 1e-3,
         * clip 5 (recur_train_config_default). */
        recur_batch all = {.n = TB, .offsets = off, .features = x, .step_labels = tag ? lab : NULL,
                           .targets = tag ? NULL : y};
        recur_fit_config fc;
        recur_fit_config_default(&fc);
        fc.train.threads = w->threads;
        fc.batch = TB;
        fc.in_order = 1;
        fc.patience = 0;
        double steps = (double)S;
        measured ms;
        if (ok) ok = measure_fit(m, fc, &all, train, TB * REPEAT, task_work, &steps, o, &ms, &err) == 0;
        if (ok) {
            side *s = &w->recur;
            s->have = 1;
            s->n = ms.trials;
            memcpy(s->trial, ms.rates, sizeof(double) * (size_t)ms.trials);
            s->s = stat_of(ms.rates, ms.trials);
            s->reps = (double)ms.reps;
            s->units = ms.units_per_trial;
            progress("recur task %s, %d thread(s): %.0f steps/s", w->what, w->threads, s->s.median);
        } else {
            snprintf(w->recur.note, sizeof w->recur.note, "failed: %.140s", err.message);
            progress("recur task %s, %d thread(s): %s", w->what, w->threads, w->recur.note);
        }
        recur_model_free(m);
        free(x);
        free(y);
        free(lab);
    }
}
