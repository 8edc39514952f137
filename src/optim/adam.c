#include <math.h>

#include "optim/optim.h"

void adam_step(float *w, float *g, float *m, float *v, size_t n, float lr,
               float beta1, float beta2, float eps, float weight_decay,
               uint64_t step)
{
    /* The same order of operations as torch.optim.Adam's single-tensor path. */
    float bc1 = 1.0f - powf(beta1, (float)step);
    float bc2 = 1.0f - powf(beta2, (float)step);
    float step_size = lr / bc1;
    float bc2_sqrt = sqrtf(bc2);
    for (size_t i = 0; i < n; i++) {
        float d = g[i];
        if (weight_decay != 0.0f) d += weight_decay * w[i];
        m[i] = beta1 * m[i] + (1.0f - beta1) * d;
        v[i] = beta2 * v[i] + (1.0f - beta2) * d * d;
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        w[i] -= step_size * m[i] / denom;
    }
}
