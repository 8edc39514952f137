/*
 * Shared pieces of the benchmark (build/bench/bench, run by `make bench`): the
 * options, the trial protocol, the result rows, and the measuring sections.
 * Every recur figure is measured through the public API (recur.h).
 */
#ifndef RECUR_BENCH_H
#define RECUR_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "recur.h"

#define MAX_THREADS_LIST 4
#define MAX_TRIALS 64

typedef struct bench_opts {
    int trials;          /* timed trials per figure (median and spread)      */
    double trial_s;      /* target length of one trial, seconds              */
    double warm_s;       /* warm-up before the trials, seconds               */
    double bulk_trial_s; /* target length of one bulk-inference trial        */
    int bulk_names;      /* names per bulk trial at most (default 100,000)   */
    int bulk_full;       /* every bulk trial runs all bulk_names names       */
    int lat_min_calls;   /* single-name calls per latency trial, at least    */
    int quick;
    int threads[MAX_THREADS_LIST];
    int n_threads;
    int cells[4];        /* recur_cell values */
    int n_cells;
    int dtypes[3];       /* recur_dtype values of the latency and bulk rows */
    int n_dtypes;
    int hidden[4];       /* names rows */
    int n_hidden;
    int khidden[4];      /* kernel rows */
    int n_khidden;
    int ksteps[4];
    int n_ksteps;
    int do_peak, do_train, do_latency, do_bulk, do_kernel, do_task, do_speech;
    int torch;           /* run the PyTorch side */
    const char *python;
    const char *torch_script;
    const char *data_dir;
    const char *out_dir;
    uint64_t seed;
    int sgemm_child;     /* internal: print SGEMM figures and exit            */
    int dnnl;            /* run oneDNN's side of the kernel rows (dnnl.c)     */
    int dnnl_child;      /* internal: print oneDNN's kernel figures and exit  */
} bench_opts;

/* ------------------------------------------------------------------------ */
/* Timing and statistics                                                     */
/* ------------------------------------------------------------------------ */

double now_s(void);

/* Median, quartiles and extremes of n values (n >= 1). */
typedef struct stat {
    int n;
    double median, q1, q3, min, max;
} stat;
stat stat_of(const double *v, int n);
/* The p-th percentile (0..100) by linear interpolation; sorts v. */
double percentile(double *v, int n, double p);

/*
 * The trial protocol, the same in torch_ref.py: a warm-up of at least
 * warm_s seconds (and two calls), which also times one call; then `trials`
 * trials of `reps` calls, reps = ceil(trial_s / time of one call) capped to
 * [1, max_reps]. A call does one unit of work and adds what it did to
 * *units (names, ...) and *flops; rates[i] = units / seconds of trial i,
 * gflops[i] = flops / seconds / 1e9. Returns 0, or -1 when a call failed
 * (the message is in err).
 */
typedef int (*bench_call)(void *ctx, double *units, double *flops, recur_error *err);
typedef struct measured {
    int trials;
    long reps;
    double units_per_trial;
    double rates[MAX_TRIALS];
    double gflops[MAX_TRIALS];
} measured;
int measure(bench_call call, void *ctx, const bench_opts *o, double trial_s, long max_reps,
            measured *out, recur_error *err);
/*
 * The same protocol for training rows, run by the library's driver
 * (recur_fit, the loop of `recur train`) rather than a loop of our own:
 * cfg (in_order, so that batches are the given ones) trains m on the
 * positions train[0..n_train) of data until the trials are done. A step is
 * timed from the driver's previous step callback to its own, so it counts
 * what a training step costs there (gathering the batch, the optimiser
 * step) and nothing else: the first step of each epoch, which follows the
 * end-of-epoch validation, is not counted. work(ctx, k, ...) adds the
 * units and FLOPs of the epoch's k-th batch (0-based).
 */
typedef void (*bench_work)(void *ctx, size_t k, double *units, double *flops);
int measure_fit(recur_model *m, recur_fit_config cfg, const recur_batch *data, const size_t *train,
                size_t n_train, bench_work work, void *ctx, const bench_opts *o, measured *out,
                recur_error *err);

/* ------------------------------------------------------------------------ */
/* Result rows                                                               */
/* ------------------------------------------------------------------------ */

enum { SEC_TRAIN, SEC_LATENCY, SEC_BULK, SEC_KERNEL, SEC_TASK, SEC_COUNT };

typedef struct side {
    int have;
    stat s;                    /* of the per-trial figures                 */
    double trial[MAX_TRIALS];  /* per-trial figures                        */
    int n;
    stat gflops;               /* per-trial GFLOP/s, when FLOPs defined    */
    int have_gflops;
    double units, reps;        /* names (or iterations) per trial, calls   */
    char note[160];            /* why it is missing                        */
} side;

typedef struct row {
    char id[64];      /* stable key, e.g. "train/lstm/h128/t2"               */
    int section;
    char what[64];    /* human label, e.g. "lstm H=128"                      */
    int threads;
    const char *unit; /* "names/s", "us", "GFLOP/s"                          */
    int lower_better; /* latency                                             */
    side recur, torch;
    side dnnl;        /* oneDNN's RNN primitive (kernel rows only)           */
    double target;    /* speedup target (x), 0 = none                        */
    double target_peak; /* fraction of the SGEMM peak, 0 = none              */
    /* Parameters the PyTorch side needs. */
    int cell, hidden, steps, fwdbwd, p99;
    /* Latency and bulk rows: the weights' recur_dtype (PyTorch runs
     * quantize_dynamic qint8 for int8, the module in bfloat16 for bf16), and for a
     * reduced one its ratio to the fp32 row (> 1: faster), whose target
     * is `target` (the PyTorch ratio then has none). */
    int dtype;
    double vs_fp32;
} row;

typedef struct rows {
    row *v;
    int n, cap;
} rows;
row *rows_add(rows *r);
row *rows_find(rows *r, const char *id);

/* ------------------------------------------------------------------------ */
/* Sections                                                                  */
/* ------------------------------------------------------------------------ */

/* Peak figures (GFLOP/s), medians over trials. */
typedef struct peak_info {
    const char *fma_isa;             /* widest: "avx512", "avx2", "sse"     */
    stat fma[MAX_THREADS_LIST];      /* widest ISA, per entry of threads    */
    const char *fma2_isa;            /* next width down, for reference      */
    stat fma2[MAX_THREADS_LIST];
    int have_fma2;
    int sgemm_n;
    stat sgemm[MAX_THREADS_LIST];    /* large square SGEMM                  */
    stat sgemm_step[MAX_THREADS_LIST]; /* 64 x 2048 x 512: an LSTM-512 step */
    char sgemm_core[64];             /* OpenBLAS core of those              */
    /* When OPENBLAS_CORETYPE is set: the same SGEMM in a child process
     * without it, on the core OpenBLAS picks for this CPU. */
    int have_native;
    char native_core[64];
    stat sgemm_native[MAX_THREADS_LIST];
    double peak[MAX_THREADS_LIST];   /* the SGEMM peak of %peak: the larger */
    int runs;                        /* measured at the start (and end)     */
    int have;
} peak_info;
int peak_run(const bench_opts *o, peak_info *p);
/* Keep, figure by figure, the larger median of two measurements. */
void peak_merge(const bench_opts *o, peak_info *p, const peak_info *q);
/* --sgemm-child: the large SGEMM per thread count, one line each. */
int peak_sgemm_child(const bench_opts *o);
/* Measured SGEMM peak for a thread count, 0 when unknown. */
double peak_sgemm_for(const bench_opts *o, const peak_info *p, int threads);

/* The names data: shuffled, encoded, written for torch_ref.py. */
typedef struct names_data {
    recur_dataset *ds;
    recur_vocab *vocab;
    int n;                 /* names */
    const char **text;     /* shuffled order */
    size_t *len;
    int32_t *label;
    int32_t *ids;          /* concatenated */
    int32_t *off;          /* [n+1] */
    const char **labels;   /* label names */
    int num_labels;
    long tokens;
} names_data;
int names_load(const bench_opts *o, names_data *nd, char *why, size_t cap);
void names_free(names_data *nd);

/* Fill the recur side of the rows of one section. */
void names_train_rows(const bench_opts *o, const names_data *nd, rows *r);
void names_infer_rows(const bench_opts *o, const names_data *nd, rows *r);
void kernel_rows(const bench_opts *o, rows *r);
/* Dense-input training, regression and tagging (bench/task.c). */
void task_rows(const bench_opts *o, rows *r);
/* Features + inference, x real time on one core, printed as its own table (speech.c). */
void speech_section(const bench_opts *o);

/* The PyTorch side: runs torch_ref.py once per thread count and fills the
 * torch side of the rows; *info receives a line about torch's versions and
 * thread counts (or why it was skipped). */
void torch_run(const bench_opts *o, const names_data *nd, int have_names, rows *r, char *info,
               size_t cap, char *threads_info, size_t tcap);

/* The oneDNN side of the kernel rows (dnnl.c): one child process per
 * thread count; *info receives oneDNN's version, or why it was skipped. */
void dnnl_run(const bench_opts *o, rows *r, char *info, size_t cap);
/* --dnnl-child: measure and print, one line per row. */
int dnnl_child(const bench_opts *o);

/* Progress on stderr, with the seconds since the start. */
void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
