/*
 * sample.h - `recur sample` (cmd_sample.c) and its quality report
 * (sample_check.c), private to the two.
 */
#ifndef RECUR_CLI_SAMPLE_H
#define RECUR_CLI_SAMPLE_H

#include "cli.h"

typedef struct sample_opts {
    const char *labels; /* comma-separated names, NULL = every label */
    const char *start;  /* prefix of every name, NULL = none         */
    int count;          /* names per label                           */
    double temperature;
    int top_k;          /* 0 = every symbol                          */
    uint64_t seed;
    int max_length;     /* symbols per name, the prefix included     */
    int json;
    const char *check;  /* classifier model for the quality report   */
    const char *data;   /* data folder for the quality report        */
} sample_opts;

/* What draws names: a runner of the generator and its buffers. */
typedef struct sampler {
    const recur_model *m;
    recur_runner *rn;
    const sample_opts *o;
    int32_t *prefix;
    int n_prefix;
} sampler;

/* 0, or EXIT_RUNTIME / EXIT_USAGE (printed). */
int sampler_init(sampler *s, const recur_model *m, const sample_opts *o);
void sampler_free(sampler *s);
/* The seeded generator of label's names: the same seed and label give the
 * same names whatever other labels are sampled alongside. */
void sampler_seed(cli_rng *rng, uint64_t seed, int label);
/* One name of `label` into tok[0..*n) (room for o->max_length ids; the
 * prefix included), its text into text (room for cap bytes), and the
 * model's log-probability of the drawn symbols (the end included, the
 * temperature not applied). 0 or -1 (err). */
int sampler_draw(sampler *s, int label, cli_rng *rng, int32_t *tok, int *n, char *text, size_t cap,
                 double *logprob, recur_error *err);

/* --check: draw o->count names per label and report what share is new and
 * what share `o->check` classifies as the label asked for. */
int sample_check(sampler *s, const char *model_path, const int *labels, int nl);

#endif
