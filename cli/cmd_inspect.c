/*
 * recur inspect MODEL NAME: what the gates do as a name is read, from the
 * library's recur_model_inspect. One row per character: the mean and the
 * spread (standard deviation over the hidden units) of each gate and state
 * of one layer and direction, shaded by the mean, and the label the prefix
 * read so far gets, with the probability of the name's final label.
 * --json: everything (every unit of every layer and direction, the output
 * distribution after each step), the same object `recur serve` answers at
 * /v2/models/NAME/inspect; --svg: the heat map as a picture.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char summary[] =
    "Run NAME through MODEL one character at a time and show, per character, the mean\n"
    "and spread over the hidden units of each gate (LSTM: input, forget, output gates and\n"
    "the cell state; GRU: reset and update gates; every cell: the hidden state) of one\n"
    "layer and direction, and how the top label's probability evolves as the name is\n"
    "read. A bidirectional classifier's prefix probabilities come from the whole model run\n"
    "on each prefix. For a generation model (--label L) the last column is the probability\n"
    "of the next character.";

static const char *const color_choices[] = {"auto", "always", "never", NULL};
static const char *const dir_choices[] = {"forward", "reverse", NULL};

typedef struct inspect_opts {
    int json, color, layer, direction;
    const char *svg, *label;
} inspect_opts;

/* Mean and standard deviation of x[0..n). */
static void mean_sd(const float *x, int n, double *mean, double *sd)
{
    double s = 0, q = 0;
    for (int i = 0; i < n; i++) s += x[i];
    *mean = s / n;
    for (int i = 0; i < n; i++) q += (x[i] - *mean) * (x[i] - *mean);
    *sd = sqrt(q / n);
}

const float *inspect_series(const recur_inspection *x, int s, int l, int d)
{
    size_t ss = (size_t)x->layers * x->directions * x->steps * x->hidden;
    return x->values + s * ss + ((size_t)l * x->directions + d) * x->steps * x->hidden;
}

/* The range a series' values live in: gates 0..1, the others symmetric. */
void inspect_range(const recur_inspection *x, int s, double *lo, double *hi)
{
    const char *n = x->series[s];
    if (strcmp(n, "hidden") != 0 && strcmp(n, "cell") != 0) {
        *lo = 0, *hi = 1;
        return;
    }
    double m = strcmp(n, "hidden") == 0 ? 1 : 1e-6;
    if (strcmp(n, "cell") == 0)
        for (int l = 0; l < x->layers; l++)
            for (int d = 0; d < x->directions; d++) {
                const float *v = inspect_series(x, s, l, d);
                for (size_t i = 0; i < (size_t)x->steps * x->hidden; i++) m = fmax(m, fabs(v[i]));
            }
    *lo = -m, *hi = m;
}

/* Display text of step t's symbol ("<s>" for the boundary, "?" unknown). */
static const char *step_symbol(const recur_model *m, const recur_inspection *x, int t)
{
    int id = x->tokens[t];
    if (id == RECUR_TOKEN_BOUNDARY) return "<s>";
    if (id == RECUR_TOKEN_UNKNOWN) return "?";
    return recur_vocab_symbol(recur_model_vocab(m), id);
}

static int argmax(const float *v, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

static const char *output_name(const recur_model *m, int gen, int k)
{
    if (!gen) return recur_model_label_name(m, k);
    if (k == RECUR_TOKEN_BOUNDARY) return "<end>";
    if (k == RECUR_TOKEN_UNKNOWN) return "?";
    return recur_vocab_symbol(recur_model_vocab(m), k);
}

void inspect_json(cli_buf *b, const recur_model *m, const char *model, const char *text, int label,
                  const recur_inspection *x)
{
    const recur_model_config *c = recur_model_get_config(m);
    int gen = c->task == RECUR_TASK_GENERATE;
    cli_buf_printf(b, "{\"model\":");
    cli_buf_json(b, model);
    cli_buf_printf(b, ",\"text\":");
    cli_buf_json(b, text);
    cli_buf_printf(b, ",\"task\":\"%s\",\"cell\":\"%s\",\"layers\":%d,\"directions\":%d,\"hidden\":%d",
                   gen ? "generate" : "classify", recur_cell_name(c->cell), x->layers, x->directions, x->hidden);
    if (gen) {
        cli_buf_printf(b, ",\"label\":");
        cli_buf_json(b, recur_model_label_name(m, label));
    }
    cli_buf_printf(b, ",\"prefix_outputs\":\"%s\",\"series\":[",
                   gen ? "next symbol after each step"
                   : x->directions == 2 ? "the whole model on each prefix" : "the head on each step's state");
    for (int s = 0; s < x->n_series; s++) cli_buf_printf(b, "%s\"%s\"", s ? "," : "", x->series[s]);
    cli_buf_printf(b, "],\"outputs\":[");
    for (int k = 0; k < x->outputs; k++) {
        if (k) cli_buf_put(b, ",", 1);
        cli_buf_json(b, output_name(m, gen, k));
    }
    cli_buf_printf(b, "],\"steps\":[");
    for (int t = 0; t < x->steps; t++) {
        const float *lp = x->logprobs + (size_t)t * x->outputs;
        int top = argmax(lp, x->outputs);
        cli_buf_printf(b, "%s{\"symbol\":", t ? "," : "");
        cli_buf_json(b, step_symbol(m, x, t));
        cli_buf_printf(b, ",\"top\":");
        cli_buf_json(b, output_name(m, gen, top));
        cli_buf_printf(b, ",\"top_logprob\":%.5f,\"logprobs\":[", (double)lp[top]);
        for (int k = 0; k < x->outputs; k++) cli_buf_printf(b, "%s%.5f", k ? "," : "", fmax(lp[k], -1e30));
        cli_buf_printf(b, "],\"layers\":[");
        for (int l = 0; l < x->layers; l++) {
            cli_buf_printf(b, "%s[", l ? "," : "");
            for (int d = 0; d < x->directions; d++) {
                cli_buf_printf(b, "%s{", d ? "," : "");
                for (int s = 0; s < x->n_series; s++) {
                    const float *v = inspect_series(x, s, l, d) + (size_t)t * x->hidden;
                    double mean, sd;
                    mean_sd(v, x->hidden, &mean, &sd);
                    cli_buf_printf(b, "%s\"%s\":{\"mean\":%.5f,\"sd\":%.5f,\"units\":[", s ? "," : "", x->series[s],
                                   mean, sd);
                    for (int j = 0; j < x->hidden; j++) cli_buf_printf(b, "%s%.4f", j ? "," : "", (double)v[j]);
                    cli_buf_printf(b, "]}");
                }
                cli_buf_printf(b, "}");
            }
            cli_buf_printf(b, "]");
        }
        cli_buf_printf(b, "]}");
    }
    cli_buf_printf(b, "]}");
}

/* 256-colour ramp from white to deep blue (as eval's confusion matrix). */
static const int ramp[] = {231, 195, 153, 117, 111, 75, 69, 33, 27, 26, 20, 19, 18, 17};
#define RAMP_N ((int)(sizeof ramp / sizeof ramp[0]))

static void shade(FILE *f, double frac, int color)
{
    if (frac < 0) frac = 0;
    if (frac > 1) frac = 1;
    if (color == 1) {
        int k = (int)floor(frac * (RAMP_N - 1) + 0.5);
        fprintf(f, "\033[48;5;%dm  \033[0m", ramp[k]);
    } else {
        static const char *const shades[] = {"  ", "░░", "▒▒", "▓▓", "██"};
        fputs(shades[(int)floor(frac * 4 + 0.5)], f);
    }
}

static void print_map(FILE *f, const recur_model *m, const char *model, const char *text, int label,
                      const recur_inspection *x, const inspect_opts *o, int color)
{
    const recur_model_config *c = recur_model_get_config(m);
    int gen = c->task == RECUR_TASK_GENERATE, l = o->layer - 1, d = o->direction;
    fprintf(f, "%s: %s, hidden %d, layer %d of %d, %s direction%s\n", model, recur_cell_name(c->cell), x->hidden,
            o->layer, x->layers, d ? "reverse" : "forward", x->directions == 2 ? " (of two)" : "");
    fprintf(f, "each gate: mean ± spread over the %d units, shaded by the mean (%s)\n", x->hidden,
            "gates 0..1; hidden -1..1; cell unbounded");
    const float *last = x->logprobs + (size_t)(x->steps - 1) * x->outputs;
    int final = argmax(last, x->outputs);
    fprintf(f, "%-5s", "");
    for (int s = 0; s < x->n_series; s++) fprintf(f, " %-13s", x->series[s]);
    if (gen) fprintf(f, " next symbol: most likely, and the real one's p (%s)\n", recur_model_label_name(m, label));
    else fprintf(f, " prefix's top label        p(%s)\n", recur_model_label_name(m, final));
    for (int t = 0; t < x->steps; t++) {
        char sym[16];
        snprintf(sym, sizeof sym, "%s", step_symbol(m, x, t));
        fprintf(f, "%-3s  ", sym);
        for (int s = 0; s < x->n_series; s++) {
            double mean, sd, lo, hi;
            mean_sd(inspect_series(x, s, l, d) + (size_t)t * x->hidden, x->hidden, &mean, &sd);
            inspect_range(x, s, &lo, &hi);
            if (color) shade(f, (mean - lo) / (hi - lo), color);
            fprintf(f, "%+.2f±%.2f ", mean, sd);
            if (!color) fputs("  ", f);
        }
        const float *lp = x->logprobs + (size_t)t * x->outputs;
        int top = argmax(lp, x->outputs);
        if (gen) {
            int next = t + 1 < x->steps ? x->tokens[t + 1] : RECUR_TOKEN_BOUNDARY;
            fprintf(f, " %-6s %.2f   %-6s %.2f\n", output_name(m, 1, top), exp(lp[top]), output_name(m, 1, next),
                    exp(lp[next]));
        } else {
            double p = exp(lp[final]);
            fprintf(f, " %-14.14s %.2f  ", output_name(m, 0, top), exp(lp[top]));
            if (color) shade(f, p, color);
            int bars = (int)floor(p * 10 + 0.5);
            for (int k = 0; k < 10; k++) fputs(k < bars ? "█" : "·", f);
            fprintf(f, " %.2f\n", p);
        }
    }
    if (!gen) fprintf(f, "-> %s (%.2f)\n", recur_model_label_name(m, final), exp(last[final]));
    (void)text;
}

enum { INSPECT_SPECS = 7 };

static void inspect_table(arg_command *cmd, arg_spec *s, inspect_opts *o)
{
    *o = (inspect_opts){0, 0, 0, 0, NULL, NULL};
    arg_spec specs[] = {
        {"--json", NULL, ARG_FLAG, &o->json, 0, 0, 0, 0, NULL, NULL, "every unit of every layer and direction, as JSON", 0},
        {"--svg", NULL, ARG_STRING, &o->svg, 0, 0, 0, 0, NULL, "FILE", "the heat map as a picture", 0},
        {"--layer", NULL, ARG_INT, &o->layer, 0, 16, 0, 0, NULL, "N", "the layer shown (1 = first; 0 = the last)", 0},
        {"--direction", NULL, ARG_CHOICE, &o->direction, 0, 0, 0, 0, dir_choices, NULL, "a bidirectional model's direction shown", 0},
        {"--label", "-l", ARG_STRING, &o->label, 0, 0, 0, 0, NULL, "L", "generation models: the label the name is read under", 0},
        {"--color", NULL, ARG_CHOICE, &o->color, 0, 0, 0, 0, color_choices, NULL, "colours in the terminal", 0},
        SPEC_END,
    };
    _Static_assert(sizeof specs == INSPECT_SPECS * sizeof specs[0], "INSPECT_SPECS");
    memcpy(s, specs, sizeof specs);
    *cmd = (arg_command){"inspect", "recur inspect MODEL NAME [--json] [--svg FILE] [--layer N] [options]", summary, s,
                         2, 2};
}

CLI_DEFINE_TABLE(cmd_inspect_table, inspect_table, inspect_opts, INSPECT_SPECS)

int cmd_inspect(int argc, char **argv)
{
    inspect_opts o;
    arg_spec specs[INSPECT_SPECS];
    arg_command cmd;
    inspect_table(&cmd, specs, &o);
    int npos, rc;
    char **pos = cli_parse_command(&cmd, argc, argv, &npos, &rc);
    if (!pos) return rc;
    const char *model_path = pos[0], *name = pos[1];
    recur_error err;
    recur_model *m = NULL;
    recur_inspection *x = NULL;
    rc = EXIT_RUNTIME;
    if (recur_model_load(model_path, &m, &err)) {
        cli_lib_error(NULL, &err);
        goto done;
    }
    int gen = recur_model_get_config(m)->task == RECUR_TASK_GENERATE, label = 0;
    if (o.label && !gen) {
        cli_error("--label goes with generation models; %s is a classifier", model_path);
        rc = EXIT_USAGE;
        goto done;
    }
    if (gen) {
        if (!o.label) {
            cli_error("%s is a generation model: give the --label to read NAME under", model_path);
            rc = EXIT_USAGE;
            goto done;
        }
        if ((label = recur_model_label_find(m, o.label)) < 0) {
            cli_error("--label: '%s' is not a label of %s", o.label, model_path);
            rc = EXIT_USAGE;
            goto done;
        }
    }
    const recur_model_config *c = recur_model_get_config(m);
    if (o.layer > c->layers) {
        cli_error("--layer: %s has %d layer%s", model_path, c->layers, c->layers == 1 ? "" : "s");
        rc = EXIT_USAGE;
        goto done;
    }
    if (!o.layer) o.layer = c->layers;
    if (o.direction && !c->bidirectional) {
        cli_error("--direction reverse: %s reads one way only", model_path);
        rc = EXIT_USAGE;
        goto done;
    }
    if (recur_model_inspect(m, name, strlen(name), label, &x, &err)) {
        cli_error("%s: %s", name, err.message);
        goto done;
    }
    if (o.svg) {
        cli_buf b = {0};
        char msg[600];
        if (svg_gates(&b, model_path, name, m, x, o.layer - 1, o.direction) ||
            cli_write_file_atomic(o.svg, b.data, b.len, msg, sizeof msg)) {
            cli_error("--svg: %s", b.failed ? "out of memory" : msg);
            cli_buf_free(&b);
            goto done;
        }
        cli_buf_free(&b);
    }
    if (o.json) {
        cli_buf b = {0};
        inspect_json(&b, m, model_path, name, label, x);
        if (b.failed) {
            cli_error("out of memory");
            cli_buf_free(&b);
            goto done;
        }
        fwrite(b.data, 1, b.len, stdout);
        fputc('\n', stdout);
        cli_buf_free(&b);
    } else {
        int color = 0;
        if (o.color == 1) color = 1;
        else if (o.color == 0 && isatty(1)) {
            const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
            color = (nc && *nc) || (term && strcmp(term, "dumb") == 0) ? 2 : 1;
        }
        print_map(stdout, m, model_path, name, label, x, &o, color);
    }
    if (fflush(stdout) != 0) {
        cli_error("cannot write the output");
        goto done;
    }
    rc = EXIT_OK;
done:
    recur_inspection_free(x);
    recur_model_free(m);
    free(pos);
    return rc;
}
