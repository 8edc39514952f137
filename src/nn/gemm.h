/* Row-major matrix products: C = alpha * op(A) op(B) + beta * C, with
 * op = transpose when the flag is set. One seam for every product in the
 * engine, so the BLAS behind it can change in one place. */
#ifndef RECUR_NN_GEMM_H
#define RECUR_NN_GEMM_H
#include <cblas.h>
/* OpenBLAS's cblas.h pulls in <complex.h>, whose macro I would clash with
 * the engine's input-size names; nothing here uses complex numbers. */
#undef I

static inline void gemm(int trans_a, int trans_b, int M, int N, int K,
                        float alpha, const float *A, int lda, const float *B,
                        int ldb, float beta, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B,
                ldb, beta, C, ldc);
}

#endif
