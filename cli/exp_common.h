/*
 * exp_common.h - what the `recur experiment` subcommands share: the cells
 * they compare, the first-symbol memory task, jobs spread over worker
 * threads, a progress line, the shared flags of their tables, the order of
 * their jobs, printing their results and plot, and small parsing helpers.
 */
#ifndef RECUR_EXP_COMMON_H
#define RECUR_EXP_COMMON_H

#include <pthread.h>

#include "cli.h"

int exp_memory(int argc, char **argv);
int exp_gradients(int argc, char **argv);
int exp_cost(int argc, char **argv);
int exp_adding(int argc, char **argv);
/* Their flag tables (for fuzz/fuzz_cli.c), freed through the pointer. */
arg_command *cmd_experiment_memory_table(void);
arg_command *cmd_experiment_gradients_table(void);
arg_command *cmd_experiment_cost_table(void);
arg_command *cmd_experiment_adding_table(void);

/* Flags the experiments share, for their tables; o is the options struct
 * (fields named after the flag), help the line --help shows. */
#define EXP_SPEC_QUICK(o, help) {"--quick", NULL, ARG_FLAG, &(o)->quick, 0, 0, 0, 0, NULL, NULL, help, 0}
#define EXP_SPEC_CELLS(o)                                                                                            \
    {"--cells", NULL, ARG_STRING, &(o)->cells, 0, 0, 0, 0, NULL, "LIST",                                             \
     "cells to compare, from rnn,lstm,gru,lstm-chrono,gru-chrono", 0}
#define EXP_SPEC_HIDDEN(o) {"--hidden", NULL, ARG_INT, &(o)->hidden, 1, 1024, 0, 0, NULL, "N", "hidden units of every cell", 0}
#define EXP_SPEC_LR(o, help) {"--lr", NULL, ARG_FLOAT, &(o)->lr, 0, 1, 1, 0, NULL, "F", help, 0}
#define EXP_SPEC_CLIP(o)                                                                                             \
    {"--clip", NULL, ARG_FLOAT, &(o)->clip, 0, 1e6, 0, 0, NULL, "F", "max gradient norm; 0 = no clipping", 0}
#define EXP_SPEC_SYMBOLS(o)                                                                                          \
    {"--symbols", NULL, ARG_INT, &(o)->symbols, 2, EXP_MAX_SYMBOLS, 0, 0, NULL, "N", "alphabet size = number of labels", 0}
#define EXP_SPEC_SEED(o, help) {"--seed", NULL, ARG_U64, &(o)->seed, 0, 0, 0, 0, NULL, "N", help, 0}
#define EXP_SPEC_THREADS(o, max, help) {"--threads", NULL, ARG_INT, &(o)->threads, 1, max, 0, 0, NULL, "N", help, 0}
#define EXP_SPEC_SVG(o, help) {"--svg", NULL, ARG_STRING, &(o)->svg, 0, 0, 0, 0, NULL, "FILE", help, 0}
#define EXP_SPEC_JSON(o, help) {"--json", NULL, ARG_FLAG, &(o)->json, 0, 0, 0, 0, NULL, NULL, help, 0}
#define EXP_SPEC_QUIET(o) {"--quiet", "-q", ARG_FLAG, &(o)->quiet, 0, 0, 0, 0, NULL, NULL, "no progress bar", 0}
#define EXP_JSON_HELP "print the results as one JSON object instead of tables"
#define EXP_THREADS_HELP "runs trained at once (results do not depend on it)"

/* ------------------------------------------------------------------------ */
/* Cells                                                                     */
/* ------------------------------------------------------------------------ */

/*
 * The compared variants: the library's three cells with PyTorch's
 * initialisation, and the two gated ones with the chrono initialisation of
 * their gate biases (Tallec & Ollivier, ICLR 2018): per unit, the LSTM's
 * forget bias log(u) and input bias -log(u), the GRU's update bias log(u),
 * u ~ U(1, T-1), so that units start remembering for 2..T steps, where
 * PyTorch's small random biases make the gates about sigma(0) = 1/2: half of
 * the state forgotten at every step. The RNN has no gate to open.
 */
typedef struct exp_cell {
    const char *name;  /* "rnn", "lstm", "gru", "lstm-chrono", "gru-chrono" */
    recur_cell cell;
    int chrono;
    const char *color;
    int dashed;
} exp_cell;

enum { EXP_NCELLS = 5 };
extern const exp_cell exp_cells[EXP_NCELLS];

/* "rnn,lstm,gru" into indices of exp_cells; the count, or -1 (printed,
 * naming flag). */
/* The chrono initialisation (above) of model m's first layer, hidden size
 * H, timescales up to T; callers apply it when c->chrono. */
void exp_chrono_init(recur_model *m, const exp_cell *c, int H, int T, uint64_t seed);
int exp_parse_cells(const char *flag, const char *list, int *idx, int cap);
/* "5,10,20" into out (each in lo..hi, increasing); the count, or -1. */
int exp_parse_ints(const char *flag, const char *list, int lo, int hi, int *out, int cap);
/* A seed for (base, a, b): independent streams for each combination. */
uint64_t exp_seed(uint64_t base, uint64_t a, uint64_t b);

/* ------------------------------------------------------------------------ */
/* The memory task: the label is the first of T symbols; T-1 follow at      */
/* random from the same alphabet, so nothing after step 1 tells the answer. */
/* ------------------------------------------------------------------------ */

/* Ids 0 and 1 are the vocabulary's reserved ones; the symbols follow. */
enum { EXP_FIRST_ID = 2, EXP_MAX_SYMBOLS = 26 };

/* n sequences of length T into tok [n*T], off [n+1], lab [n]. */
void exp_task_batch(cli_rng *r, int symbols, int T, int n, int32_t *tok, int32_t *off, int32_t *lab);
/* A classifier of the task (one-hot input): initialised with `seed`, then
 * its gate biases set by chrono when c->chrono (timescales up to T). */
recur_status exp_task_model(const exp_cell *c, int symbols, int hidden, int T, uint64_t seed, recur_model **out,
                            recur_error *err);

typedef struct exp_progress exp_progress;

typedef struct exp_train_spec {
    int symbols, T, batch, steps;
    double lr, clip;
    uint64_t data_seed; /* training sequences: the same for every cell */
    double work_per_step; /* progress units */
} exp_train_spec;

typedef struct exp_train_result {
    int steps;    /* taken: fewer than the budget once solved            */
    double loss;  /* mean training loss over the last steps              */
    double seconds;
} exp_train_result;

/* Adam with the spec's rate and clip, one thread. Stops early once the mean
 * loss of the last 50 steps is below 0.01 (the task is solved: more steps
 * change nothing). RECUR_ERR_INTERRUPTED on Ctrl-C. */
recur_status exp_task_train(recur_model *m, const exp_train_spec *s, exp_progress *pg, exp_train_result *res,
                            recur_error *err);
/* Accuracy and mean loss on n fresh sequences drawn with `seed`. */
recur_status exp_task_test(recur_model *m, int symbols, int T, int n, uint64_t seed, double *accuracy,
                           double *loss, recur_error *err);

/* ------------------------------------------------------------------------ */
/* Progress and jobs                                                         */
/* ------------------------------------------------------------------------ */

/* A progress line on stderr when it is a terminal; workers add work done. */
struct exp_progress {
    pthread_mutex_t mu;
    int tty;
    double start, total, done, last_draw;
    int jobs, jobs_done, drawn;
    char what[64];
};

void exp_progress_init(exp_progress *p, const char *what, double total_work, int jobs, int quiet);
void exp_progress_add(exp_progress *p, double work, int job_done);
/* Redraw (at most 10 times a second unless force). */
void exp_progress_draw(exp_progress *p, int force);
void exp_progress_clear(exp_progress *p);
void exp_progress_free(exp_progress *p);

/* Run fn(ctx, j) for j in 0..n-1 on `workers` threads (jobs taken in order),
 * redrawing pg meanwhile. A job returns 0, or fills msg and returns an exit
 * code; the first failure stops the others from starting. Returns 0 or
 * that code (its message printed, unless interrupted). */
typedef int (*exp_job_fn)(void *ctx, int job, char *msg, size_t cap);
int exp_run_jobs(int n, int workers, exp_job_fn fn, void *ctx, exp_progress *pg);

/* ------------------------------------------------------------------------ */
/* Output                                                                    */
/* ------------------------------------------------------------------------ */

/* Seconds: of CPU time of the calling thread when cpu != 0 (work done on
 * this thread alone: other processes that share the cores do not inflate
 * it), else of wall-clock time. */
double exp_clock(int cpu);

/* What an experiment reports and where: its results as JSON or as tables
 * on stdout, then a plot into svg when set. The functions get the
 * experiment's own run struct. */
typedef struct exp_report {
    int json, quiet;
    const char *svg;
    void (*print_json)(const void *run, double wall);
    void (*print_tables)(const void *run, double wall);
    int (*write_plot)(const void *run);
} exp_report;

/* Print run's results as rep says, then write its plot; 0 or an exit code. */
int exp_report_results(const exp_report *rep, const void *run, double wall);
/* Run n jobs fn(run, j) on `workers` threads under the progress line pg
 * (total_work units, labelled what; silent when rep->quiet or json), then
 * report; 0 or an exit code (printed). */
int exp_run_report(const exp_report *rep, exp_progress *pg, const char *what, double total_work, int n, int workers,
                   exp_job_fn fn, void *run);

/* The order to take n jobs in: the most work(run, j) first, so that no
 * thread is left with a long one at the end; ties by index. Sets *total to
 * the sum of the work. A malloc'd array (free it), or NULL (printed). */
int *exp_job_order(int n, double (*work)(const void *run, int job), const void *run, double *total);

/* Nonzero when flag was not given on the command line: --quick changes
 * only the defaults. */
int exp_not_given(arg_command *cmd, const char *flag);

/* Write an SVG made by svg_xy_plot into path (atomically); 0 or
 * EXIT_RUNTIME (printed). Frees b. */
int exp_write_svg(const char *path, cli_buf *b, int plot_failed);
/* A double as JSON (null when not finite). */
void exp_json_num(FILE *f, double v);

#endif
