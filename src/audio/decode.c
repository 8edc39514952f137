/*
 * From frame labels to the string they spell, and how far a string is from
 * the truth: the connected-digit tagger's output (recur predict) and score
 * (string and token error rates).
 *
 * A string is the frame labels with every run of one label collapsed to a
 * single symbol and the silence label dropped, so "sil 4 4 4 sil sil 0 0 7"
 * spells 4 0 7. Two equal digits in a row are told apart only by a silence
 * frame between them: the corpus (tools/data/make_speech_digits.py) always
 * leaves one.
 */
#include <stdlib.h>

#include "audio/audio.h"
#include "core/error.h"

int recur_collapse_runs(const int32_t *frame_labels, int steps, int silence, int32_t *out)
{
    int n = 0;
    for (int t = 0; t < steps; t++) {
        int32_t l = frame_labels[t];
        if (t > 0 && l == frame_labels[t - 1]) continue;
        if (l == silence || l < 0) continue;
        out[n++] = l;
    }
    return n;
}

int recur_smooth_runs(int32_t *lab, int steps, int min_run)
{
    if (!lab || steps <= 0 || min_run <= 1) return 0;
    int changed = 0, prev = -1; /* prev: where the last final run starts */
    for (int t = 0; t < steps;) {
        int e = t + 1;
        while (e < steps && lab[e] == lab[t]) e++;
        if (prev >= 0 && lab[t] == lab[prev]) {
            /* A run relabelled to the one before joined it: the run before
             * grows (it is final already, at least min_run long). */
            t = e;
            continue;
        }
        int len = e - t;
        if (len >= min_run || (prev < 0 && e == steps)) {
            prev = t;
            t = e;
            continue;
        }
        int before = prev >= 0 ? t - prev : 0, after = 0;
        while (e + after < steps && lab[e + after] == lab[e]) after++;
        int32_t to = before >= after ? lab[t - 1] : lab[e];
        for (int k = t; k < e; k++) lab[k] = to;
        changed++;
        /* Joined the run before: go on after it. Joined the one after:
         * read that grown run again from t (it may still be short). */
        if (before >= after) t = e;
    }
    return changed;
}

void recur_string_metrics_reset(recur_string_metrics *m)
{
    m->strings = m->wrong = m->ref_tokens = m->edits = 0;
}

recur_status recur_string_metrics_add(recur_string_metrics *m, const int32_t *hyp, int nh, const int32_t *ref,
                                      int nr, recur_error *err)
{
    if (!m || nh < 0 || nr < 0 || (nh && !hyp) || (nr && !ref))
        return recur_fail(err, RECUR_ERR_ARG, "recur_string_metrics_add: bad arguments");
    /* Levenshtein distance, one row at a time. */
    int *row = malloc((size_t)(nr + 1) * sizeof *row);
    if (!row) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    for (int j = 0; j <= nr; j++) row[j] = j;
    for (int i = 1; i <= nh; i++) {
        int diag = row[0];
        row[0] = i;
        for (int j = 1; j <= nr; j++) {
            int up = row[j], best = diag + (hyp[i - 1] != ref[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    size_t d = (size_t)row[nr];
    free(row);
    m->strings++;
    m->wrong += d != 0;
    m->ref_tokens += (size_t)nr;
    m->edits += d;
    return RECUR_OK;
}

double recur_string_metrics_ser(const recur_string_metrics *m)
{
    return m->strings ? (double)m->wrong / (double)m->strings : 0.0;
}

double recur_string_metrics_ter(const recur_string_metrics *m)
{
    return m->ref_tokens ? (double)m->edits / (double)m->ref_tokens : 0.0;
}
