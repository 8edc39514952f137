/* Optimisers over flat parameter vectors, with torch.optim's semantics. */
#ifndef RECUR_OPTIM_OPTIM_H
#define RECUR_OPTIM_OPTIM_H
#include <stddef.h>
#include <stdint.h>
#if defined(__x86_64__) || defined(__SSE__)
#include <xmmintrin.h>
#endif

/* The moments of a weight whose gradient stays 0 (the embedding row of a
 * symbol absent from the batches) decay geometrically into subnormal floats,
 * where x * 0.9 rounds back to x: they stay subnormal for good, and on x86
 * every vector instruction that touches one takes a microcode assist of a
 * hundred cycles or more (perf: Adam was 18% of LSTM-128 training time).
 * Such a moment moves its weight by less than lr * 1e-38 / eps, so the
 * optimisers run with subnormals flushed to zero (FTZ and DAZ) and give the
 * caller's floating-point mode back when they return. */
static inline unsigned optim_fp_enter(void)
{
#if defined(__x86_64__) || defined(__SSE__)
    unsigned old = _mm_getcsr();
    _mm_setcsr(old | 0x8040u); /* FTZ (bit 15) and DAZ (bit 6) */
    return old;
#else
    return 0;
#endif
}
static inline void optim_fp_leave(unsigned old)
{
#if defined(__x86_64__) || defined(__SSE__)
    _mm_setcsr(old);
#else
    (void)old;
#endif
}

/* torch.optim.SGD (dampening 0, no Nesterov): g += wd * w; with momentum,
 * buf = momentum * buf + g (buf = g on the first step); w -= lr * buf. */
void sgd_step(float *w, float *g, float *buf, size_t n, float lr,
              float momentum, float weight_decay, uint64_t step);
/* torch.optim.Adam (no amsgrad); step counts from 1. */
void adam_step(float *restrict w, float *restrict g, float *restrict m, float *restrict v, size_t n, float lr,
               float beta1, float beta2, float eps, float weight_decay,
               uint64_t step);
/* Sum of squares of g, in order, accumulated in double. */
double grad_sumsq(const float *g, size_t n);
/* Global L2 norm of g (double accumulation). */
double grad_norm(const float *g, size_t n);
/* torch.nn.utils.clip_grad_norm_: scale g by max_norm / (norm + 1e-6)
 * when that is below 1. Returns the norm before clipping. */
double clip_grad_norm(float *g, size_t n, float max_norm);
/* The factor clip_grad_norm scales by (when below 1): max_norm / (norm + 1e-6). */
double clip_coefficient(double norm, float max_norm);

#endif
