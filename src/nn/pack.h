/*
 * Packed batches of variable-length sequences (what PyTorch's
 * pack_padded_sequence builds): sequences sorted by length, longest first,
 * so that at step t the sequences still running are rows 0..bs[t]-1. Data
 * for step t occupies rows off[t] .. off[t] + bs[t] - 1 of a packed array,
 * so no work or memory is spent on padding.
 */
#ifndef RECUR_NN_PACK_H
#define RECUR_NN_PACK_H
#include "recur.h"

typedef struct pack {
    int T, B, N;  /* longest length, sequences, rows (sum of lengths)      */
    int *bs;      /* [T]   sequences running at step t (non-increasing)    */
    int *off;     /* [T+1] first row of step t; off[T] == N                */
    int *order;   /* [B]   sorted position -> caller's sequence index      */
    int *len;     /* [B]   length of sorted sequence j (non-increasing)    */
    int cap_T, cap_B;
} pack;

/* Build from lengths (caller's order, each >= 1); reuses p's arrays. The
 * sort is stable, so equal lengths keep the caller's order. */
recur_status pack_build(pack *p, int B, const int32_t *lengths, recur_error *err);
void pack_free(pack *p);

/* Row of (step t, sorted sequence j), valid when j < bs[t]. */
static inline int pack_row(const pack *p, int t, int j) { return p->off[t] + j; }

#endif
