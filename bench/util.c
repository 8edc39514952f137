/* Timing, statistics, the trial protocol and the row list. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double percentile(double *v, int n, double p)
{
    if (n <= 0) return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double pos = p / 100.0 * (n - 1);
    int i = (int)pos;
    if (i >= n - 1) return v[n - 1];
    double f = pos - i;
    return v[i] * (1.0 - f) + v[i + 1] * f;
}

stat stat_of(const double *v, int n)
{
    stat s = {0};
    if (n <= 0) return s;
    double *c = malloc((size_t)n * sizeof *c);
    if (!c) return s;
    memcpy(c, v, (size_t)n * sizeof *c);
    s.n = n;
    s.median = percentile(c, n, 50);
    s.q1 = percentile(c, n, 25);
    s.q3 = percentile(c, n, 75);
    s.min = c[0];
    s.max = c[n - 1];
    free(c);
    return s;
}

int measure(bench_call call, void *ctx, const bench_opts *o, double trial_s, long max_reps,
            measured *out, recur_error *err)
{
    memset(out, 0, sizeof *out);
    double units = 0, flops = 0;
    /* Warm-up: at least warm_s and two calls; the last call times one. */
    double t0 = now_s(), last = 0;
    int calls = 0;
    do {
        double t = now_s();
        if (call(ctx, &units, &flops, err)) return -1;
        last = now_s() - t;
        calls++;
    } while (calls < 2 || now_s() - t0 < o->warm_s);
    if (last <= 0) last = 1e-9;
    long reps = (long)ceil(trial_s / last);
    if (reps < 1) reps = 1;
    if (max_reps > 0 && reps > max_reps) reps = max_reps;
    out->reps = reps;
    out->trials = o->trials;
    for (int k = 0; k < o->trials; k++) {
        units = flops = 0;
        double t = now_s();
        for (long i = 0; i < reps; i++)
            if (call(ctx, &units, &flops, err)) return -1;
        double dt = now_s() - t;
        out->rates[k] = units / dt;
        out->gflops[k] = flops / dt * 1e-9;
        out->units_per_trial = units;
    }
    return 0;
}

/* The state of measure_fit between step callbacks. */
typedef struct fit_timing {
    const bench_opts *o;
    bench_work work;
    void *ctx;
    int batch;
    measured *out;
    volatile sig_atomic_t stop; /* the driver's: set once the trials are done */
    double prev;                /* time of the previous callback (0: none)    */
    int prev_epoch;
    int trial;                  /* -1 while warming up                        */
    long calls;
    double warm_start, last, units, flops, dt;
} fit_timing;

static void fit_timing_step(const recur_fit_step *s, void *user)
{
    fit_timing *f = user;
    double t = now_s();
    int timed = f->prev > 0 && s->epoch == f->prev_epoch;
    double dt = t - f->prev;
    f->prev_epoch = s->epoch;
    if (!timed) {
        if (f->warm_start == 0) f->warm_start = t;
        f->prev = now_s();
        return;
    }
    double units = 0, flops = 0;
    f->work(f->ctx, (s->done - 1) / (size_t)f->batch, &units, &flops);
    if (f->trial < 0) {
        /* Warm-up: at least warm_s and two steps; the last times one. */
        f->last = dt;
        if (++f->calls >= 2 && t - f->warm_start >= f->o->warm_s) {
            long reps = (long)ceil(f->o->trial_s / (f->last > 0 ? f->last : 1e-9));
            f->out->reps = reps < 1 ? 1 : reps;
            f->out->trials = f->o->trials;
            f->trial = 0;
            f->calls = 0;
        }
    } else {
        f->units += units;
        f->flops += flops;
        f->dt += dt;
        if (++f->calls == f->out->reps) {
            f->out->rates[f->trial] = f->units / f->dt;
            f->out->gflops[f->trial] = f->flops / f->dt * 1e-9;
            f->out->units_per_trial = f->units;
            f->units = f->flops = f->dt = 0;
            f->calls = 0;
            if (++f->trial == f->o->trials) f->stop = 1;
        }
    }
    f->prev = now_s(); /* the callback's own time is not a step's */
}

int measure_fit(recur_model *m, recur_fit_config cfg, const recur_batch *data, const size_t *train,
                size_t n_train, bench_work work, void *ctx, const bench_opts *o, measured *out,
                recur_error *err)
{
    memset(out, 0, sizeof *out);
    fit_timing f = {.o = o, .work = work, .ctx = ctx, .batch = cfg.batch, .out = out, .trial = -1};
    cfg.epochs = 1 << 30; /* until the trials are done */
    cfg.model_path = cfg.checkpoint_path = cfg.resume = NULL;
    cfg.stop = &f.stop;
    cfg.on_step = fit_timing_step;
    cfg.on_epoch = NULL;
    cfg.user = &f;
    /* Validation: one sequence (scored once an epoch, never timed). */
    recur_status s = recur_fit(m, &cfg, data, train, n_train, train, 1, NULL, err);
    return s == RECUR_ERR_INTERRUPTED && f.stop && f.trial == o->trials ? 0 : -1;
}

row *rows_add(rows *r)
{
    if (r->n == r->cap) {
        int cap = r->cap ? r->cap * 2 : 64;
        row *v = realloc(r->v, (size_t)cap * sizeof *v);
        if (!v) {
            fprintf(stderr, "bench: out of memory\n");
            exit(1);
        }
        r->v = v;
        r->cap = cap;
    }
    row *x = &r->v[r->n++];
    memset(x, 0, sizeof *x);
    return x;
}

row *rows_find(rows *r, const char *id)
{
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->v[i].id, id) == 0) return &r->v[i];
    return NULL;
}

void progress(const char *fmt, ...)
{
    static double t0;
    if (t0 == 0) t0 = now_s();
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[bench %5.1fs] ", now_s() - t0);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
}
