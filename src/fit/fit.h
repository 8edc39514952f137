/*
 * The inside of the training driver (recur_fit, fit.c), split by concern:
 * gather.c copies sequences picked by index into one batch, order.c makes
 * each epoch's seeded order of batches, state.c keeps the fit state in the
 * model's metadata (what a checkpoint carries), metrics.c scores a model.
 */
#ifndef RECUR_FIT_FIT_H
#define RECUR_FIT_FIT_H
#include "recur.h"

/* Buffers of one gathered batch, grown as needed. */
typedef struct fit_gather_buf {
    int32_t *tok, *off, *lab, *step_lab;
    float *feat, *tgt;
    size_t cap_tok, cap_off, cap_lab, cap_step_lab, cap_feat, cap_tgt;
    /* Widths the batch does not carry, from the model (fit_gather_init):
     * features per step, real targets per row, targets per step or not. */
    int F, O, per_step;
} fit_gather_buf;

/* An empty buffer for batches of model m's kind. */
void fit_gather_init(fit_gather_buf *buf, const recur_model *m);

/* Sequences idx[0..n) of data (each index < data->n) into *out, a batch
 * that points into buf (valid until the next gather or the free). Copies
 * every field data has. */
recur_status fit_gather(const recur_batch *data, const size_t *idx, size_t n, fit_gather_buf *buf,
                        recur_batch *out, recur_error *err);
void fit_gather_free(fit_gather_buf *buf);

/* One epoch's order: order[] holds positions into the training list,
 * batches[k] = {start in order, count}. */
typedef struct fit_order {
    size_t n;                      /* training sequences                  */
    size_t *order;                 /* [n]                                 */
    size_t (*batches)[2];
    size_t n_batches;
    size_t *by_class, *class_start; /* --balance: positions by label      */
} fit_order;

/* lens[i], labels[i]: length and label of training position i (labels may
 * be NULL without balance); C labels. */
recur_status fit_order_epoch(fit_order *o, const int32_t *lens, const int32_t *labels, int C, size_t n,
                             int batch, int bucket, double balance, uint64_t seed, int epoch,
                             int in_order, recur_error *err);
void fit_order_free(fit_order *o);

/* Per-epoch curves; NaN accuracy and recall for generators. */
typedef struct fit_history {
    int n, cap;
    double *train_loss, *valid_loss, *acc, *recall;
} fit_history;
int fit_history_push(fit_history *h, double tl, double vl, double acc, double rec);
void fit_history_free(fit_history *h);
/* "train,valid,acc,recall;..." (%.9g); NULL when out of memory. */
char *fit_history_format(const fit_history *h);
int fit_history_parse(fit_history *h, const char *s);

#endif
