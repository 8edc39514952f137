#include <math.h>

#include "optim/optim.h"

/* The build targets baseline x86-64 (SSE2); the loader picks the widest of
 * these clones the CPU runs (GCC function multiversioning). Element-wise
 * and without contraction (-std=c11 keeps -ffp-contract=off), every clone
 * rounds exactly alike: the results do not depend on the CPU. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define RECUR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RECUR_CLONES
#endif

RECUR_CLONES void adam_step(float *restrict w, float *restrict g, float *restrict m, float *restrict v, size_t n,
               float lr, float beta1, float beta2, float eps, float weight_decay, uint64_t step)
{
    /* The same order of operations as torch.optim.Adam's single-tensor path. */
    const float bc1 = 1.0f - powf(beta1, (float)step);
    const float bc2 = 1.0f - powf(beta2, (float)step);
    const float step_size = lr / bc1, inv_bc2_sqrt = 1.0f / sqrtf(bc2);
    const float a1 = 1.0f - beta1, a2 = 1.0f - beta2;
    const unsigned fp = optim_fp_enter();
    /* restrict and a branch-free body let the compiler vectorise this. */
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + weight_decay * w[i];
        m[i] = beta1 * m[i] + a1 * d;
        v[i] = beta2 * v[i] + a2 * d * d;
        float denom = sqrtf(v[i]) * inv_bc2_sqrt + eps;
        w[i] -= step_size * m[i] / denom;
    }
    optim_fp_leave(fp);
}
