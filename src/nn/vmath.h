/*
 * Element-wise helpers of the cells that need no hand-written kernel (the
 * sigmoid and tanh are in nn/kernels.h).
 */
#ifndef RECUR_NN_VMATH_H
#define RECUR_NN_VMATH_H

/* x[i] = max(x[i], 0) */
void vm_relu(float *x, int n);

#endif
