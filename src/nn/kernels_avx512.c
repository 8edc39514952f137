/* AVX-512 kernels (16 lanes, 12 x 32 tiles: 24 accumulators of 32 registers);
 * compiled with -mavx512f. */
#include <immintrin.h>
#include <string.h>

#include "nn/kernels.h"

#define V __m512
#define W 16
#define MR 12
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps(p, v)
#define VSET1(x) _mm512_set1_ps(x)
#define VZERO() _mm512_setzero_ps()
#define VADD _mm512_add_ps
#define VSUB _mm512_sub_ps
#define VMUL _mm512_mul_ps
#define VDIV _mm512_div_ps
#define VFMA _mm512_fmadd_ps
#define VMIN _mm512_min_ps
#define VMAX _mm512_max_ps
#define VROUND(x) _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VSCALE2(p, n) _mm512_scalef_ps(p, n)
#define VABS(x) _mm512_abs_ps(x)
#define VCOPYSIGN(m, s) \
    _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(m), _mm512_and_si512(_mm512_castps_si512(s), _mm512_set1_epi32((int)0x80000000))))
#define VSELECT_LT(a, b, x, y) _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), y, x)
/* Column sums in double (kernels.h): 64 columns at a time in eight
 * accumulators, each column's rows added in order. */
static void avx512_colsum(int n, int cols, const float *A, int lda, double *sum)
{
    int j = 0;
    for (; j + 64 <= cols; j += 64) {
        __m512d s[8];
        for (int q = 0; q < 8; q++) s[q] = _mm512_loadu_pd(sum + j + 8 * q);
        for (int r = 0; r < n; r++) {
            const float *row = A + (size_t)r * lda + j;
            for (int q = 0; q < 8; q++) s[q] = _mm512_add_pd(s[q], _mm512_cvtps_pd(_mm256_loadu_ps(row + 8 * q)));
        }
        for (int q = 0; q < 8; q++) _mm512_storeu_pd(sum + j + 8 * q, s[q]);
    }
    for (; j + 8 <= cols; j += 8) {
        __m512d s = _mm512_loadu_pd(sum + j);
        for (int r = 0; r < n; r++) s = _mm512_add_pd(s, _mm512_cvtps_pd(_mm256_loadu_ps(A + (size_t)r * lda + j)));
        _mm512_storeu_pd(sum + j, s);
    }
    for (int r = 0; r < n && j < cols; r++)
        for (int k = j; k < cols; k++) sum[k] += A[(size_t)r * lda + k];
}
#define KERNEL_COLSUM avx512_colsum
#define KERNEL_FUSED_MR 6 /* 6 rows x 4 gates: 24 accumulators */
#define KERNEL_NAME "avx512"
#define KERNEL_TABLE kernels_avx512

#include "nn/kernels_simd.inc"
