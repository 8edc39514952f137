/*
 * Prior correction (logit adjustment) at evaluation and prediction time:
 * log p(label | text) - tau log p(label), renormalised. A classifier trained
 * on unbalanced labels leans to the large ones; tau = 1 removes the
 * training prior entirely, tau = 0 changes nothing. The prior is the share
 * of each label among the training names, stored in the model by `recur
 * train` ("label_counts"), add-one smoothed so that a label without
 * training names has a finite shift.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_prior_shift(const recur_model *m, const char *model_path, double tau, float **out)
{
    *out = NULL;
    if (tau == 0) return 0;
    const int C = recur_model_num_labels(m);
    const char *s = recur_model_get_meta(m, "label_counts");
    if (!s) {
        cli_error("--prior-correction: %s holds no training label counts (trained by an older recur, or not by "
                  "'recur train'); retrain it",
                  model_path);
        return EXIT_RUNTIME;
    }
    double *count = calloc((size_t)C, sizeof *count), total = 0;
    float *shift = malloc((size_t)C * sizeof *shift);
    if (!count || !shift) {
        free(count);
        free(shift);
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    int c = 0;
    for (const char *p = s; *p && c < C; c++) {
        char *end;
        count[c] = strtod(p, &end);
        if (end == p || !(count[c] >= 0) || !isfinite(count[c]) || (*end && *end != ',')) break;
        total += count[c];
        p = *end ? end + 1 : end;
    }
    if (c != C) {
        free(count);
        free(shift);
        cli_error("--prior-correction: %s: label_counts '%.60s' does not hold %d counts", model_path, s, C);
        return EXIT_RUNTIME;
    }
    for (c = 0; c < C; c++) shift[c] = (float)(-tau * log((count[c] + 1) / (total + C)));
    free(count);
    *out = shift;
    return 0;
}

void cli_prior_apply(const float *shift, float *lp, int n, int C)
{
    if (!shift) return;
    for (int i = 0; i < n; i++) {
        float *row = lp + (size_t)i * C, top = -INFINITY;
        for (int c = 0; c < C; c++) {
            row[c] += shift[c];
            if (row[c] > top) top = row[c];
        }
        double sum = 0;
        for (int c = 0; c < C; c++) sum += exp((double)(row[c] - top));
        const float lse = top + (float)log(sum);
        for (int c = 0; c < C; c++) row[c] -= lse;
    }
}

static const double sweep_tau[CLI_SWEEP] = {0, 0.25, 0.5, 0.75, 1};

int cli_prior_sweep_init(cli_prior_sweep *s, const recur_model *m, const char *model_path, int max_rows)
{
    memset(s, 0, sizeof *s);
    if (!recur_model_get_meta(m, "label_counts")) return 0;
    s->C = recur_model_num_labels(m);
    s->cap = max_rows;
    for (int k = 0; k < CLI_SWEEP; k++) {
        if (cli_prior_shift(m, model_path, sweep_tau[k], &s->shift[k])) goto fail;
        if (recur_metrics_init(&s->met[k], s->C, NULL)) goto nomem;
    }
    s->tmp = malloc((size_t)max_rows * s->C * sizeof *s->tmp);
    if (!s->tmp) goto nomem;
    s->on = 1;
    return 0;
nomem:
    cli_error("out of memory");
fail:
    cli_prior_sweep_free(s);
    return EXIT_RUNTIME;
}

void cli_prior_sweep_add(cli_prior_sweep *s, const float *lp, const int *labels, int n)
{
    if (!s->on) return;
    for (int k = 0; k < CLI_SWEEP; k++) {
        memcpy(s->tmp, lp, (size_t)n * s->C * sizeof *lp);
        cli_prior_apply(s->shift[k], s->tmp, n, s->C);
        recur_metrics_add(&s->met[k], s->tmp, labels, n);
    }
}

void cli_prior_sweep_print(FILE *f, const cli_prior_sweep *s)
{
    if (!s->on) return;
    fprintf(f, "--prior-correction");
    for (int k = 0; k < CLI_SWEEP; k++) fprintf(f, " %7g", sweep_tau[k]);
    fprintf(f, "\naccuracy          ");
    for (int k = 0; k < CLI_SWEEP; k++) fprintf(f, " %6.1f%%", 100 * recur_metrics_accuracy(&s->met[k]));
    fprintf(f, "\nmacro recall      ");
    for (int k = 0; k < CLI_SWEEP; k++) fprintf(f, " %6.1f%%", 100 * recur_metrics_macro_recall(&s->met[k]));
    fputc('\n', f);
}

void cli_prior_sweep_json(FILE *f, const cli_prior_sweep *s)
{
    if (!s->on) return;
    fputs(",\"prior_sweep\":[", f);
    for (int k = 0; k < CLI_SWEEP; k++)
        fprintf(f, "%s{\"tau\":%g,\"accuracy\":%.6f,\"macro_recall\":%.6f}", k ? "," : "", sweep_tau[k],
                recur_metrics_accuracy(&s->met[k]), recur_metrics_macro_recall(&s->met[k]));
    fputc(']', f);
}

void cli_prior_sweep_free(cli_prior_sweep *s)
{
    for (int k = 0; k < CLI_SWEEP; k++) {
        free(s->shift[k]);
        recur_metrics_free(&s->met[k]);
    }
    free(s->tmp);
    memset(s, 0, sizeof *s);
}
