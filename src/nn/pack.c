#include "nn/pack.h"

#include <stdlib.h>

#include "core/error.h"

/* Grow two int arrays to hold `need` items; *cap is raised only when both
 * succeeded (a grown first array stays valid either way). */
static int grow2(int **a, int **b, int *cap, int need)
{
    if (need <= *cap) return 0;
    int *na = realloc(*a, (size_t)need * sizeof **a);
    if (!na) return -1;
    *a = na;
    int *nb = realloc(*b, (size_t)need * sizeof **b);
    if (!nb) return -1;
    *b = nb;
    *cap = need;
    return 0;
}

recur_status pack_build(pack *p, int B, const int32_t *lengths, recur_error *err)
{
    if (B < 1) return recur_fail(err, RECUR_ERR_ARG, "batch of %d sequences (need at least 1)", B);
    int T = 0;
    for (int i = 0; i < B; i++) {
        if (lengths[i] < 1)
            return recur_fail(err, RECUR_ERR_ARG, "sequence %d has length %d (need at least 1)", i, (int)lengths[i]);
        if (lengths[i] > T) T = lengths[i];
    }
    if (grow2(&p->order, &p->len, &p->cap_B, B))
        return recur_fail(err, RECUR_ERR_NOMEM, "out of memory packing a batch of %d", B);
    if (grow2(&p->bs, &p->off, &p->cap_T, T + 1))
        return recur_fail(err, RECUR_ERR_NOMEM, "out of memory packing %d steps", T);
    p->T = T;
    p->B = B;
    /* Counting sort by length, longest first, stable. bs[t] counts
     * sequences longer than t: first histogram lengths into bs. */
    for (int t = 0; t < T; t++) p->bs[t] = 0;
    for (int i = 0; i < B; i++) p->bs[lengths[i] - 1]++;
    /* Start position of each length group (longest first) in off[]. */
    int pos = 0;
    for (int t = T - 1; t >= 0; t--) {
        int c = p->bs[t];
        p->off[t] = pos;
        pos += c;
    }
    for (int i = 0; i < B; i++) {
        int j = p->off[lengths[i] - 1]++;
        p->order[j] = i;
        p->len[j] = lengths[i];
    }
    /* bs[t] = sequences with length > t: suffix sums of the histogram. */
    int running = 0;
    for (int t = T - 1; t >= 0; t--) {
        running += p->bs[t];
        p->bs[t] = running;
    }
    p->off[0] = 0;
    for (int t = 0; t < T; t++) p->off[t + 1] = p->off[t] + p->bs[t];
    p->N = p->off[T];
    return RECUR_OK;
}

void pack_free(pack *p)
{
    if (!p) return;
    free(p->bs);
    free(p->off);
    free(p->order);
    free(p->len);
    p->bs = p->off = p->order = p->len = NULL;
    p->cap_T = p->cap_B = 0;
}
