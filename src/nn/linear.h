/* The output head: a linear layer (nn.Linear) and the log-softmax +
 * negative log-likelihood loss (nn.CrossEntropyLoss) over rows. */
#ifndef RECUR_NN_LINEAR_H
#define RECUR_NN_LINEAR_H
#include <stddef.h>

/* Y [n][out] = X [n][in] (row stride ldx) W^T + b; W is [out][in]. */
void linear_forward(int n, int in, int out, const float *X, int ldx,
                    const float *W, const float *b, float *Y);
/* Adds dW += dY^T X, db += column sums of dY; dX [n][in] (stride ldx) =
 * dY W when dX is not NULL. */
void linear_backward(int n, int in, int out, const float *X, int ldx,
                     const float *W, const float *dY, float *dW, float *db,
                     float *dX, int lddx);

/* Rows of logits [n][C] become log-probabilities, in place. */
void log_softmax_rows(float *z, int n, int C);
/* Negative log-likelihood summed over rows whose target is >= 0 (double). */
double nll_sum(const float *logp, int n, int C, const int *target);
/* Turns log-probabilities into the gradient of scale * nll_sum w.r.t. the
 * logits: (softmax - onehot(target)) * scale, in place; rows with target
 * < 0 get zero. */
void nll_grad_in_place(float *logp, int n, int C, const int *target, float scale);

#endif
