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
