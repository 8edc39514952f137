/* AVX2 + FMA kernels (8 lanes, 6 x 16 tiles); compiled with -mavx2 -mfma. */
#include <immintrin.h>
#include <string.h>

#include "nn/kernels.h"

#define V __m256
#define W 8
#define MR 6
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps(p, v)
#define VSET1(x) _mm256_set1_ps(x)
#define VZERO() _mm256_setzero_ps()
#define VADD _mm256_add_ps
#define VSUB _mm256_sub_ps
#define VMUL _mm256_mul_ps
#define VDIV _mm256_div_ps
#define VFMA _mm256_fmadd_ps
#define VMIN _mm256_min_ps
#define VMAX _mm256_max_ps
#define VROUND(x) _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VSCALE2(p, n) \
    _mm256_mul_ps(p, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23)))
#define VABS(x) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x)
#define VCOPYSIGN(m, s) _mm256_or_ps(m, _mm256_and_ps(_mm256_set1_ps(-0.0f), s))
#define VSELECT_LT(a, b, x, y) _mm256_blendv_ps(y, x, _mm256_cmp_ps(a, b, _CMP_LT_OQ))
/* Column sums in double (kernels.h): 32 columns at a time in eight
 * accumulators, each column's rows added in order. */
static void avx2_colsum(int n, int cols, const float *A, int lda, double *sum)
{
    int j = 0;
    for (; j + 32 <= cols; j += 32) {
        __m256d s[8];
        for (int q = 0; q < 8; q++) s[q] = _mm256_loadu_pd(sum + j + 4 * q);
        for (int r = 0; r < n; r++) {
            const float *row = A + (size_t)r * lda + j;
            for (int q = 0; q < 8; q++) s[q] = _mm256_add_pd(s[q], _mm256_cvtps_pd(_mm_loadu_ps(row + 4 * q)));
        }
        for (int q = 0; q < 8; q++) _mm256_storeu_pd(sum + j + 4 * q, s[q]);
    }
    for (; j + 4 <= cols; j += 4) {
        __m256d s = _mm256_loadu_pd(sum + j);
        for (int r = 0; r < n; r++) s = _mm256_add_pd(s, _mm256_cvtps_pd(_mm_loadu_ps(A + (size_t)r * lda + j)));
        _mm256_storeu_pd(sum + j, s);
    }
    for (int r = 0; r < n && j < cols; r++)
        for (int k = j; k < cols; k++) sum[k] += A[(size_t)r * lda + k];
}
#define KERNEL_COLSUM avx2_colsum
#define KERNEL_NAME "avx2"
#define KERNEL_TABLE kernels_avx2

#include "nn/kernels_simd.inc"
