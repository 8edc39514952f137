/*
 * cli.h - shared pieces of the recur command-line tool.
 *
 * The tool is a thin user of include/recur.h: nothing here includes src/.
 * Exit codes: 0 success, 1 runtime error, 2 usage error, 130 interrupted.
 * Every error is one line "recur: <what went wrong>" on stderr.
 */
#ifndef RECUR_CLI_H
#define RECUR_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "recur.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_INTERRUPTED = 130 };

/* ------------------------------------------------------------------------ */
/* Commands                                                                  */
/* ------------------------------------------------------------------------ */

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_experiment(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_features(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_serve(int argc, char **argv); /* serve/serve.c */
int cmd_inspect(int argc, char **argv);
int cmd_listen(int argc, char **argv); /* cmd_listen.c */

/* ------------------------------------------------------------------------ */
/* Flag parsing (args.c): a table of options per command                     */
/* ------------------------------------------------------------------------ */

typedef enum arg_kind {
    ARG_FLAG,   /* no value: *(int *)dest = 1                                */
    ARG_INT,    /* *(int *)dest, integer in [lo, hi]                         */
    ARG_U64,    /* *(uint64_t *)dest, any unsigned 64-bit integer            */
    ARG_FLOAT,  /* *(double *)dest in [lo, hi], ends open when *_open        */
    ARG_STRING, /* *(const char **)dest                                      */
    ARG_CHOICE  /* *(int *)dest = index of the value in choices              */
} arg_kind;

typedef struct arg_spec {
    const char *name;      /* long form, "--hidden"                          */
    const char *alias;     /* short form ("-o") or NULL                      */
    arg_kind kind;
    void *dest;
    double lo, hi;         /* numeric range                                  */
    int lo_open, hi_open;  /* ARG_FLOAT: exclusive bounds                    */
    const char *const *choices; /* ARG_CHOICE: NULL-terminated               */
    const char *metavar;   /* "N", "F", "FILE"                               */
    const char *help;      /* one line; "(default ...)" is added from dest   */
    int seen;              /* set by args_parse                              */
} arg_spec;

/* The entry that ends a table. */
#define SPEC_END {NULL, NULL, ARG_FLAG, NULL, 0, 0, 0, 0, NULL, NULL, NULL, 0}

typedef struct arg_command {
    const char *name;      /* "train"                                        */
    const char *usage;     /* "recur train [DATA] -o MODEL [options]"        */
    const char *summary;   /* one paragraph printed by --help                */
    arg_spec *specs;       /* terminated by an entry with name == NULL       */
    int min_pos, max_pos;  /* positional arguments allowed (max -1: any)     */
} arg_command;

/*
 * Parse argv[1..argc-1] (argv[0] is the command name) into the specs'
 * destinations; positional arguments go into pos (room for argc entries).
 * Returns 0 on success, 1 when --help was printed (exit 0), EXIT_USAGE
 * after printing the one-line error.
 */
int args_parse(arg_command *cmd, int argc, char **argv, char **pos, int *npos);
/* args_parse for a command's main: its positional arguments in a new
 * array (NULL-terminated; the caller frees it). NULL when the command ends
 * here, with what it returns in *rc: EXIT_OK after --help, EXIT_USAGE
 * (printed), or EXIT_RUNTIME when out of memory (printed). */
char **cli_parse_command(arg_command *cmd, int argc, char **argv, int *npos, int *rc);
/* Parse a whitespace-separated flag string (as stored in a model) onto the
 * same specs; 0 or EXIT_USAGE. Strings are kept: the caller must keep `s`. */
int args_parse_string(arg_command *cmd, char *s);
/* The same, silent: on EXIT_USAGE, what is wrong is in msg (one line, for
 * the caller to say where the flags came from). */
int args_parse_stored(arg_command *cmd, char *s, char *msg, size_t cap);
void args_print_help(const arg_command *cmd, FILE *f);
/* Split s in place into tokens (blanks separate; "..." quotes with \" and
 * \\ escapes); the count, or -1 when malformed or more than cap. */
int args_tokenize(char *s, char **tok, int cap);
/* Canonical flags for the seen (or all, when all != 0) specs of a command,
 * e.g. "--cell lstm --hidden 128"; the caller frees it. */
char *args_format(const arg_command *cmd, int all);
arg_spec *args_find(arg_command *cmd, const char *name);

/* A command's flag table together with the options it fills, at their
 * defaults, in one block (free() it; NULL when out of memory), built by the
 * same code as the command's own: fuzz/fuzz_cli.c and tests parse argv
 * exactly as the command does without running it. */
/* train's --split values, in the order of recur_split. */
extern const char *const cli_split_choices[];
arg_command *cmd_train_table(void);
arg_command *cmd_eval_table(void);
arg_command *cmd_predict_table(void);
arg_command *cmd_info_table(void);
arg_command *cmd_sample_table(void);
arg_command *cmd_inspect_table(void);
arg_command *cmd_quantize_table(void);
arg_command *cmd_features_table(void);
arg_command *cmd_import_table(void);
/* Defines `arg_command *fn(void)` for a command whose flag table is built
 * by `void fill(arg_command *, arg_spec *, opts_type *)` with n_specs
 * entries: the command, its specs and its options in one malloc'd block. */
#define CLI_DEFINE_TABLE(fn, fill, opts_type, n_specs)                   \
    arg_command *fn(void)                                                \
    {                                                                    \
        struct {                                                         \
            arg_command cmd; /* first: the block is freed through it */  \
            arg_spec specs[n_specs];                                     \
            opts_type o;                                                 \
        } *t = malloc(sizeof *t);                                        \
        if (!t) return NULL;                                             \
        fill(&t->cmd, t->specs, &t->o);                                  \
        return &t->cmd;                                                  \
    }

/* Prior correction (prior.c): *shift [C] = -tau log(training share of each
 * label), from the model's "label_counts"; NULL when tau is 0. Returns 0,
 * or an exit code after printing the error. */
int cli_prior_shift(const recur_model *m, const char *model_path, double tau, float **shift);
/* lp [n][C] log-probabilities += shift, renormalised (nothing if NULL). */
void cli_prior_apply(const float *shift, float *lp, int n, int C);

/* ------------------------------------------------------------------------ */
/* Utilities (util.c)                                                        */
/* ------------------------------------------------------------------------ */

/* Print "recur: <message>" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* What cli_error's lines start with instead of "recur" (recur-mpi names
 * the rank); the string must outlive the calls. */
void cli_set_error_prefix(const char *prefix);
/* Print the library error, prefixed by context when not NULL. */
void cli_lib_error(const char *context, const recur_error *err);
double cli_now(void);
/* 12,345 */
const char *cli_count(char buf[32], size_t n);
/* A JSON string literal of s (escaped) on f. */
void cli_json_string(FILE *f, const char *s);
/* Write a whole file through a temporary file renamed into place. 0 or -1
 * with errno-style message in msg. */
int cli_write_file_atomic(const char *path, const char *data, size_t len, char *msg,
                          size_t msg_cap);
/* 0 when the folder that will hold path exists and is writable; else prints
 * the error and returns -1. */
int cli_check_writable(const char *path, const char *what);
/* Ask OpenBLAS for n threads; 0 = the default (online processors, at most 8). */
int cli_default_threads(void);

/* A small deterministic generator: the library's splitmix64 stream
 * (recur_splitmix64), so that a seed means the same as in the driver. */
typedef struct cli_rng { uint64_t s; } cli_rng;
static inline void cli_rng_seed(cli_rng *r, uint64_t seed) { r->s = recur_splitmix_seed(seed); }
static inline uint64_t cli_rng_next(cli_rng *r) { return recur_splitmix64(&r->s); }
static inline uint64_t cli_rng_below(cli_rng *r, uint64_t n) { return recur_splitmix_below(&r->s, n); }

/* A growable byte buffer. */
typedef struct cli_buf {
    char *data;
    size_t len, cap;
    int failed; /* an allocation failed: the contents are incomplete */
} cli_buf;
void cli_buf_printf(cli_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_buf_put(cli_buf *b, const char *s, size_t n);
void cli_buf_free(cli_buf *b);
/* A JSON string literal of s (escaped) into b. */
void cli_buf_json(cli_buf *b, const char *s);

/* ------------------------------------------------------------------------ */
/* Inspect (cmd_inspect.c): what recur inspect and recur serve show          */
/* ------------------------------------------------------------------------ */

/* Series s of layer l, direction d: [steps][hidden]. */
const float *inspect_series(const recur_inspection *x, int s, int l, int d);
/* The range of series s (gates 0..1, states symmetric about 0). */
void inspect_range(const recur_inspection *x, int s, double *lo, double *hi);
/* The inspection as one JSON object (recur inspect --json, the server). */
void inspect_json(cli_buf *b, const recur_model *m, const char *model, const char *text, int label,
                  const recur_inspection *x);

/* ------------------------------------------------------------------------ */
/* Data (data.c)                                                             */
/* ------------------------------------------------------------------------ */

/* DATA argument, else $RECUR_DATA, else the tutorial's data fetched into the
 * cache folder. Writes the folder into out; 0 or EXIT_RUNTIME (printed). */
int cli_resolve_data(const char *given, char *out, size_t cap);
/* Load a data folder; 0, EXIT_RUNTIME or, when a caught signal stopped it,
 * EXIT_INTERRUPTED (printed). */
int cli_load_data(const char *dir, recur_dataset **out);
/* What the data hold, compactly (a few lines). */
void cli_print_data_summary(FILE *f, const char *dir, const recur_dataset *ds);

/*
 * The split a model was trained with, rebuilt from its record (the
 * library's recur_model_get_split), or for older files from the flags
 * stored in it (cmd_eval.c): the test examples of ds into *test, and the
 * training ones into *train unless train is NULL. Errors start with
 * `context` ("--held-out"). 0 or EXIT_RUNTIME (printed).
 */
int cli_stored_split(const recur_model *m, const char *model_path, recur_dataset *ds, const char *context,
                     size_t **test, size_t *n_test, size_t **train, size_t *n_train);

/* ------------------------------------------------------------------------ */
/* Name generators (train_generate.c, eval_generate.c, trigram.c)            */
/* ------------------------------------------------------------------------ */

/* `recur eval` of a generation model: its bits per character on DATA (the
 * held-out lines only with held_out) against the trigram baselines. */
int eval_generate(recur_model *m, const char *model_path, const char *data_dir, int held_out, int json,
                  int threads);

/* A character trigram model with add-one smoothing, counted per label and
 * over all labels pooled: p(c | a b) = (n(a b c) + 1) / (n(a b) + V) over
 * the V symbol ids, a name read as BOUNDARY BOUNDARY s_0 .. s_{n-1} and
 * predicting s_0 .. s_{n-1} BOUNDARY, as the recurrent model does. */
typedef struct cli_trigram cli_trigram;
/* NULL when out of memory or when V and C are too large for its keys. */
cli_trigram *trigram_create(int V, int C);
void trigram_free(cli_trigram *t);
/* Count one name of label `label`; 0 or -1 (out of memory). */
int trigram_add(cli_trigram *t, const int32_t *tok, size_t n, int label);
/* -log2 p of the n + 1 predictions of one name, under label's counts (or
 * the pooled ones when label < 0). */
double trigram_bits(const cli_trigram *t, const int32_t *tok, size_t n, int label);

/* ------------------------------------------------------------------------ */
/* Metrics (report.c)                                                        */
/* ------------------------------------------------------------------------ */

/* Classification metrics are the library's recur_metrics. */

/* The per-class table and the confusion heat map on f. color: 0 plain,
 * 1 Unicode shades with 256-colour backgrounds (a terminal). */
void cli_print_class_table(FILE *f, const recur_metrics *m, const char *const *labels);
void cli_print_confusion(FILE *f, const recur_metrics *m, const char *const *labels, int color);

/* What each prior correction would give (prior.c): metrics of the same
 * log-probabilities under tau = 0, 0.25, 0.5, 0.75 and 1, so that `eval`
 * shows the trade-off between accuracy and macro recall in one pass. */
enum { CLI_SWEEP = 5 };
typedef struct cli_prior_sweep {
    int on;   /* the model holds label counts                          */
    int C, cap;
    float *shift[CLI_SWEEP], *tmp;
    recur_metrics met[CLI_SWEEP];
} cli_prior_sweep;

/* 0 (s->on = 0 when the model has no label counts) or EXIT_RUNTIME. */
int cli_prior_sweep_init(cli_prior_sweep *s, const recur_model *m, const char *model_path, int max_rows);
/* Raw log-probabilities [n][C] (before any correction) and true labels. */
void cli_prior_sweep_add(cli_prior_sweep *s, const float *lp, const int *labels, int n);
void cli_prior_sweep_print(FILE *f, const cli_prior_sweep *s);
/* ,"prior_sweep":[{"tau":..,"accuracy":..,"macro_recall":..},...] */
void cli_prior_sweep_json(FILE *f, const cli_prior_sweep *s);
void cli_prior_sweep_free(cli_prior_sweep *s);

/* ------------------------------------------------------------------------ */
/* SVG (svg.c)                                                               */
/* ------------------------------------------------------------------------ */

typedef struct svg_series {
    const char *name;
    const double *y; /* [n]; NaN points are skipped */
    int axis;        /* 0 left axis, 1 right axis */
    const char *color;
    int dashed;
} svg_series;

/* A line plot over x = 1..n with a left axis (ylabel0) and an optional right
 * axis (ylabel1, fixed 0..100 when percent1). Returns 0 or -1 (msg). */
int svg_line_plot(cli_buf *out, const char *title, const char *xlabel, const char *ylabel0,
                  const char *ylabel1, int percent1, const svg_series *s, int ns, int n);
/* A heat map of the row-normalised confusion matrix with labels. */
int svg_confusion(cli_buf *out, const char *title, const recur_metrics *m, const char *const *labels);
/* recur inspect's heat map: per character, each series' mean over the units
 * of layer l, direction d, and the prefix's output. 0 or -1. */
int svg_gates(cli_buf *out, const char *model, const char *text, const recur_model *m, const recur_inspection *x,
              int l, int d);

/* Series over their own x values, for panels with linear or log axes. */
typedef struct svg_xy_series {
    const char *name;
    const double *x, *y; /* [n]; non-finite points (non-positive on a log axis) are skipped */
    int n;
    const char *color;
    int dashed, markers;
} svg_xy_series;

typedef struct svg_panel {
    const char *title, *xlabel, *ylabel;
    int logx, logy;
    double ymin, ymax;                  /* a fixed y range when ymin < ymax */
    const double *xticks;               /* x tick positions, or NULL: automatic */
    int nxticks;
    const char *yunit;                  /* after each y tick label ("%"), or NULL */
    const svg_xy_series *s;
    int ns;
} svg_panel;

/* np panels side by side under one title (and an optional subtitle), each
 * with its legend. Returns 0 or -1 (out of memory). */
int svg_xy_plot(cli_buf *out, const char *title, const char *subtitle, const svg_panel *p, int np);

/* ------------------------------------------------------------------------ */
/* Progress (progress.c)                                                     */
/* ------------------------------------------------------------------------ */

typedef struct cli_progress {
    int tty;            /* draw a bar on stderr, rewritten with \r          */
    int quiet;
    double start, last_draw;
    int drawn;          /* a bar is on the line                              */
    const char *unit;   /* what is counted per second; NULL: "names"         */
} cli_progress;

void progress_init(cli_progress *p, int quiet);
/* Draw the bar (at most 10 times a second unless force). */
void progress_update(cli_progress *p, int epoch, int epochs, size_t done, size_t total,
                     double names_per_s, double loss, double eta_s, int force);
/* Clear the bar so that a log line can be printed. */
void progress_clear(cli_progress *p);

/* ------------------------------------------------------------------------ */
/* Interrupts                                                                */
/* ------------------------------------------------------------------------ */

/* After cli_catch_interrupts, SIGINT (and SIGTERM) set a sig_atomic_t flag
 * that cli_interrupted reads; a second signal kills the process as usual. */
void cli_catch_interrupts(void);
int cli_interrupted(void);
/* The flag itself, for the library's `stop` (recur_fit, recur_evaluate). */
const volatile sig_atomic_t *cli_interrupt_flag(void);

#endif
