#include "optim/optim.h"

void sgd_step(float *w, float *g, float *buf, size_t n, float lr,
              float momentum, float weight_decay, uint64_t step)
{
    const unsigned fp = optim_fp_enter();
    for (size_t i = 0; i < n; i++) {
        float d = g[i];
        if (weight_decay != 0.0f) d += weight_decay * w[i];
        if (momentum != 0.0f) {
            buf[i] = step == 1 ? d : momentum * buf[i] + d;
            d = buf[i];
        }
        w[i] -= lr * d;
    }
    optim_fp_leave(fp);
}
