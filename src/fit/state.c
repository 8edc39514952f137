/*
 * The per-epoch curves of a fit, kept in the model's metadata ("history",
 * docs/FORMAT.md) so that a resumed run continues them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fit/fit.h"

int fit_history_push(fit_history *h, double tl, double vl, double acc, double rec)
{
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 32;
        double **f[4] = {&h->train_loss, &h->valid_loss, &h->acc, &h->recall};
        for (int i = 0; i < 4; i++) {
            double *p = realloc(*f[i], (size_t)cap * sizeof(double));
            if (!p) return -1;
            *f[i] = p;
        }
        h->cap = cap;
    }
    h->train_loss[h->n] = tl;
    h->valid_loss[h->n] = vl;
    h->acc[h->n] = acc;
    h->recall[h->n] = rec;
    h->n++;
    return 0;
}

void fit_history_free(fit_history *h)
{
    free(h->train_loss);
    free(h->valid_loss);
    free(h->acc);
    free(h->recall);
    memset(h, 0, sizeof *h);
}

char *fit_history_format(const fit_history *h)
{
    /* 4 numbers of at most 24 characters (%.9g) and 4 separators each. */
    size_t cap = (size_t)h->n * 100 + 1, at = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    s[0] = '\0';
    for (int i = 0; i < h->n; i++)
        at += (size_t)snprintf(s + at, cap - at, "%s%.9g,%.9g,%.9g,%.9g", i ? ";" : "", h->train_loss[i],
                               h->valid_loss[i], h->acc[i], h->recall[i]);
    return s;
}

int fit_history_parse(fit_history *h, const char *s)
{
    while (s && *s) {
        double v[4];
        char *end;
        for (int i = 0; i < 4; i++) {
            v[i] = strtod(s, &end);
            if (end == s) return -1;
            s = end;
            if (i < 3) {
                if (*s != ',') return -1;
                s++;
            }
        }
        if (fit_history_push(h, v[0], v[1], v[2], v[3])) return -1;
        if (*s == ';') s++;
        else if (*s) return -1;
    }
    return 0;
}
