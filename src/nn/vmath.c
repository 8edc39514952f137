#include "nn/vmath.h"

#include <math.h>

void vm_sigmoid(float *x, int n)
{
    for (int i = 0; i < n; i++) x[i] = 1.0f / (1.0f + expf(-x[i]));
}

void vm_tanh(float *x, int n)
{
    for (int i = 0; i < n; i++) x[i] = tanhf(x[i]);
}

void vm_relu(float *x, int n)
{
    for (int i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void vm_add3(float *y, const float *a, const float *b, const float *c, int n)
{
    for (int i = 0; i < n; i++) y[i] = a[i] + b[i] + c[i];
}
