#include "nn/vmath.h"

void vm_relu(float *x, int n)
{
    for (int i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}
