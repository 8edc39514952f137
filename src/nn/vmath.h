/*
 * Element-wise math on float arrays: the activation functions of the cells.
 * Kept behind this interface so that vectorised versions (chosen at run
 * time for the CPU) replace the scalar ones without touching the cells.
 */
#ifndef RECUR_NN_VMATH_H
#define RECUR_NN_VMATH_H

/* x[i] = 1 / (1 + exp(-x[i])) */
void vm_sigmoid(float *x, int n);
/* x[i] = tanh(x[i]) */
void vm_tanh(float *x, int n);
/* x[i] = max(x[i], 0) */
void vm_relu(float *x, int n);
/* y[i] = a[i] + b[i] + c[i] */
void vm_add3(float *y, const float *a, const float *b, const float *c, int n);

#endif
