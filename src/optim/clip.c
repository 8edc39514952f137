#include <math.h>

#include "optim/optim.h"

double grad_sumsq(const float *g, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return s;
}

double grad_norm(const float *g, size_t n) { return sqrt(grad_sumsq(g, n)); }

double clip_coefficient(double norm, float max_norm) { return (double)max_norm / (norm + 1e-6); }

double clip_grad_norm(float *g, size_t n, float max_norm)
{
    double norm = grad_norm(g, n);
    double coef = clip_coefficient(norm, max_norm);
    if (coef < 1.0) {
        float c = (float)coef;
        for (size_t i = 0; i < n; i++) g[i] *= c;
    }
    return norm;
}
