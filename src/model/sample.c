/*
 * recur_runner_sample: one sequence drawn from a generation model through
 * the step API, which carries the recurrent state (a name of n symbols
 * costs n steps, not n^2). The policy of `recur sample` and of the server's
 * generation endpoint, in one place.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "recur.h"

uint64_t recur_sample_seed(uint64_t seed, int label)
{
    return recur_splitmix_seed(seed * 0x9e3779b97f4a7c15ULL + (uint64_t)label * 0xbf58476d1ce4e5b9ULL + 1);
}

static int cmp_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x > y ? -1 : x < y;
}

typedef struct draw_buf {
    int V;
    const float *lp; /* [V] log-probabilities of the next symbol */
    double *w;       /* [V] sampling weights                    */
    float *sorted;   /* [V] for the top-k threshold             */
} draw_buf;

/* The next symbol; `len` symbols are already in the sequence. */
static int32_t draw_symbol(const draw_buf *d, const recur_sample_config *c, int len, uint64_t *rng)
{
    int V = d->V;
    float cut = -INFINITY, top = -INFINITY;
    for (int i = 0; i < V; i++)
        if (d->lp[i] > top) top = d->lp[i];
    if (c->top_k > 0 && c->top_k < V) {
        memcpy(d->sorted, d->lp, (size_t)V * sizeof *d->sorted);
        qsort(d->sorted, (size_t)V, sizeof *d->sorted, cmp_desc);
        cut = d->sorted[c->top_k - 1];
    }
    double total = 0;
    for (int i = 0; i < V; i++) {
        int banned = i == RECUR_TOKEN_UNKNOWN || (i == RECUR_TOKEN_BOUNDARY && len == 0);
        /* exp((lp - top) / T): the largest weight is 1, none overflows. */
        d->w[i] = banned || d->lp[i] < cut ? 0 : exp((double)(d->lp[i] - top) / c->temperature);
        total += d->w[i];
    }
    if (!(total > 0)) return RECUR_TOKEN_BOUNDARY; /* every allowed symbol underflowed */
    /* 53 random bits: a uniform double in [0, total). */
    double u = (double)(recur_splitmix64(rng) >> 11) * 0x1.0p-53 * total;
    int last = RECUR_TOKEN_BOUNDARY;
    for (int i = 0; i < V; i++) {
        if (d->w[i] == 0) continue;
        last = i;
        if (u < d->w[i]) return i;
        u -= d->w[i];
    }
    return last; /* rounding left u just above the sum */
}

recur_status recur_runner_sample(recur_runner *r, int label, const int32_t *prefix, int n_prefix,
                                 const recur_sample_config *cfg, uint64_t *rng, int32_t *tok, int *n,
                                 double *logprob, recur_error *err)
{
    if (!r || !cfg || !rng || !tok || !n) return recur_fail(err, RECUR_ERR_ARG, "sample: a required argument is NULL");
    const recur_model *m = recur_runner_model(r);
    if (recur_model_get_config(m)->task != RECUR_TASK_GENERATE)
        return recur_fail(err, RECUR_ERR_UNSUPPORTED, "this model is a classifier; sampling needs a generation model");
    if (!(cfg->temperature > 0) || !isfinite(cfg->temperature))
        return recur_fail(err, RECUR_ERR_ARG, "temperature %g must be a positive number", cfg->temperature);
    if (cfg->top_k < 0) return recur_fail(err, RECUR_ERR_ARG, "top_k %d must be 0 or more", cfg->top_k);
    if (cfg->max_length < 1) return recur_fail(err, RECUR_ERR_ARG, "max_length %d must be 1 or more", cfg->max_length);
    if (n_prefix < 0 || (n_prefix > 0 && !prefix) || n_prefix >= cfg->max_length)
        return recur_fail(err, RECUR_ERR_ARG, "a prefix of %d symbols for sequences of at most %d", n_prefix,
                          cfg->max_length);
    int V = recur_vocab_size(recur_model_vocab(m));
    for (int i = 0; i < n_prefix; i++)
        if (prefix[i] <= RECUR_TOKEN_BOUNDARY || prefix[i] >= V)
            return recur_fail(err, RECUR_ERR_ARG, "prefix symbol %d (id %d) is not a symbol of the vocabulary", i,
                              (int)prefix[i]);
    float *lp = malloc((size_t)V * sizeof *lp);
    float *sorted = malloc((size_t)V * sizeof *sorted);
    double *w = malloc((size_t)V * sizeof *w);
    recur_status st = RECUR_OK;
    if (!lp || !sorted || !w) {
        st = recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
        goto done;
    }
    draw_buf d = {V, lp, w, sorted};
    int len = 0;
    double lpsum = 0;
    if ((st = recur_runner_reset(r, label, err)) || (st = recur_runner_step(r, RECUR_TOKEN_BOUNDARY, lp, err)))
        goto done;
    for (int i = 0; i < n_prefix; i++) {
        lpsum += lp[prefix[i]];
        tok[len++] = prefix[i];
        if ((st = recur_runner_step(r, prefix[i], lp, err))) goto done;
    }
    /* A sequence that reaches max_length is cut there. */
    while (len < cfg->max_length) {
        int32_t next = draw_symbol(&d, cfg, len, rng);
        lpsum += lp[next];
        if (next == RECUR_TOKEN_BOUNDARY) break;
        tok[len++] = next;
        if (len < cfg->max_length && (st = recur_runner_step(r, next, lp, err))) goto done;
    }
    *n = len;
    if (logprob) *logprob = lpsum;
done:
    free(lp);
    free(sorted);
    free(w);
    return st;
}
