/*
 * recur predict MODEL FILE for models of sequence data: FILE is read as the
 * model's training data were (CSV columns, tokens; the target, label and
 * tag columns may be absent) and each sequence goes through the runner.
 * One line per sequence: its name (CSV id, .npz member, else #<number>),
 * a TAB, then its label (classify), the tag of each step (tag) or its
 * values (regress: a step's values joined by ',', steps by ' '); with
 * --steps one line per step: name, step (0-based), [the step's symbol,]
 * output. --json: one object a line.
 */
#include <stdlib.h>
#include <string.h>

#include "seq.h"

static void put_name(FILE *f, const recur_seqset *s, size_t i, int json)
{
    const char *n = recur_seqset_name(s, i);
    char num[32];
    if (!n || !*n) snprintf(num, sizeof num, "#%zu", i + 1), n = num;
    if (json) cli_json_string(f, n);
    else fputs(n, f);
}

/* The symbol of data step k (as read, before any renumbering), or NULL. */
static const char *symbol(const recur_seqset *s, int32_t k)
{
    const recur_batch *b = recur_seqset_batch(s);
    if (!b->tokens) return NULL;
    const recur_vocab *v = recur_seqset_vocab(s);
    return v ? recur_vocab_symbol(v, b->tokens[k]) : recur_seqset_token(s, b->tokens[k]);
}

static int argmax(const float *row, int C)
{
    int best = 0;
    for (int c = 1; c < C; c++)
        if (row[c] > row[best]) best = c;
    return best;
}

/* One head row: a class (name, log-probability) or K values. */
static void put_row(FILE *f, const recur_model *m, const float *row, int K, int json)
{
    const recur_model_config *c = recur_model_get_config(m);
    if (c->target == RECUR_TARGET_REAL) {
        if (json) fputs("\"values\":[", f);
        for (int k = 0; k < K; k++) fprintf(f, "%s%.7g", k ? "," : "", (double)row[k]);
        if (json) fputc(']', f);
        return;
    }
    int best = argmax(row, K);
    if (json) {
        fprintf(f, "\"%s\":", c->task == RECUR_TASK_TAG ? "tag" : "label");
        cli_json_string(f, recur_model_label_name(m, best));
        fprintf(f, ",\"logprob\":%.4f", (double)row[best]);
    } else {
        fputs(recur_model_label_name(m, best), f);
    }
}

static void print_sequence(FILE *f, const recur_model *m, const recur_seqset *s, size_t i, const float *rows,
                           int nrows, int32_t first_step, int K, int steps, int json)
{
    const recur_model_config *c = recur_model_get_config(m);
    if (steps) {
        for (int t = 0; t < nrows; t++) {
            const char *sym = symbol(s, first_step + t);
            if (json) {
                fputs("{\"sequence\":", f);
                put_name(f, s, i, 1);
                fprintf(f, ",\"step\":%d,", t);
                if (sym) fputs("\"symbol\":", f), cli_json_string(f, sym), fputc(',', f);
                put_row(f, m, rows + (size_t)t * K, K, 1);
                fputs("}\n", f);
            } else {
                put_name(f, s, i, 0);
                fprintf(f, "\t%d\t", t);
                if (sym) fprintf(f, "%s\t", sym);
                put_row(f, m, rows + (size_t)t * K, K, 0);
                fputc('\n', f);
            }
        }
        return;
    }
    if (json) {
        fputs("{\"sequence\":", f);
        put_name(f, s, i, 1);
        if (c->head == RECUR_HEAD_FINAL) {
            fputc(',', f);
            put_row(f, m, rows, K, 1);
        } else {
            fputs(c->target == RECUR_TARGET_REAL ? ",\"steps\":[" : ",\"tags\":[", f);
            for (int t = 0; t < nrows; t++) {
                const float *row = rows + (size_t)t * K;
                if (t) fputc(',', f);
                if (c->target == RECUR_TARGET_REAL) {
                    fputc('[', f);
                    for (int k = 0; k < K; k++) fprintf(f, "%s%.7g", k ? "," : "", (double)row[k]);
                    fputc(']', f);
                } else {
                    cli_json_string(f, recur_model_label_name(m, argmax(row, K)));
                }
            }
            fputc(']', f);
        }
        fputs("}\n", f);
        return;
    }
    put_name(f, s, i, 0);
    fputc('\t', f);
    for (int t = 0; t < nrows; t++) {
        if (t) fputc(' ', f);
        put_row(f, m, rows + (size_t)t * K, K, 0);
    }
    fputc('\n', f);
}

int predict_seq(recur_model *m, const char *model_path, const char *file, int steps, int json)
{
    const recur_model_config *c = recur_model_get_config(m);
    if (c->task == RECUR_TASK_GENERATE) {
        cli_error("%s is a text generation model; predict needs a classifier, tagger or regressor", model_path);
        return EXIT_RUNTIME;
    }
    if (steps && c->head != RECUR_HEAD_STEPS) {
        cli_error("--steps: %s reads the final state (one output per sequence); it has no output per step",
                  model_path);
        return EXIT_USAGE;
    }
    recur_seqset *s = NULL;
    seq_view v = {0};
    seq_gather g = {0};
    recur_runner *rn = NULL;
    float *out = NULL;
    recur_error err;
    enum { EB = 128 };
    const int K = recur_model_output_size(m);
    int rc = seq_load_for(m, model_path, file, 0, &s);
    if (!rc) rc = seq_view_make(m, model_path, s, file, 0, &v);
    if (!rc && recur_runner_create(m, EB, &rn, &err)) {
        cli_lib_error(NULL, &err);
        rc = EXIT_RUNTIME;
    }
    /* Only what the model reads: the targets and classes are not needed. */
    v.b.labels = NULL, v.b.step_labels = NULL, v.b.targets = NULL;
    size_t n = rc ? 0 : recur_seqset_size(s), cap = 0, pick[EB];
    for (size_t at = 0; !rc && at < n; at += EB) {
        size_t k = n - at < EB ? n - at : EB;
        for (size_t j = 0; j < k; j++) pick[j] = at + j;
        recur_batch b;
        if ((rc = seq_gather_batch(&v.b, c->input_size, K, 0, pick, k, &g, &b))) break;
        size_t rows = recur_runner_rows(rn, &b);
        if (rows * (size_t)K > cap) {
            free(out);
            cap = rows * (size_t)K;
            if (!(out = malloc(cap * sizeof *out))) {
                cli_error("out of memory");
                rc = EXIT_RUNTIME;
                break;
            }
        }
        if (recur_runner_predict(rn, &b, out, &err)) {
            cli_error("%s: sequence %zu: %s", file, at + 1, err.message);
            rc = EXIT_RUNTIME;
            break;
        }
        for (size_t j = 0; j < k; j++) {
            int per_step = c->head == RECUR_HEAD_STEPS;
            size_t r0 = per_step ? (size_t)b.offsets[j] : j;
            int nr = per_step ? b.offsets[j + 1] - b.offsets[j] : 1;
            print_sequence(stdout, m, s, at + j, out + r0 * K, nr, v.b.offsets[at + j], K, steps, json);
        }
    }
    if (!rc && fflush(stdout) != 0) {
        cli_error("cannot write the predictions");
        rc = EXIT_RUNTIME;
    }
    free(out);
    recur_runner_free(rn);
    seq_gather_free(&g);
    seq_view_free(&v);
    recur_seqset_free(s);
    return rc;
}
