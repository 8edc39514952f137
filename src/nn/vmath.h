/*
 * Element-wise helpers of the cells that need no hand-written kernel (the
 * sigmoid and tanh are in nn/kernels.h).
 */
#ifndef RECUR_NN_VMATH_H
#define RECUR_NN_VMATH_H

/* x[i] = max(x[i], 0) */
void vm_relu(float *x, int n);
/* y[i] = a[i] + b[i] + c[i] */
void vm_add3(float *y, const float *a, const float *b, const float *c, int n);

#endif
