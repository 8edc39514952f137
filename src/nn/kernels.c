/* Kernel selection, packing, and the portable (generic) kernels. */
#include "nn/kernels.h"

#include <math.h>
#include <string.h>

#include "core/cpu.h"

const kernels *kernels_level(int level)
{
    if (level > cpu_level_supported()) return NULL;
    switch (level) {
    case CPU_AVX512: return &kernels_avx512;
    case CPU_AVX2: return &kernels_avx2;
    default: return &kernels_generic;
    }
}

const kernels *kernels_get(void) { return kernels_level(cpu_level()); }

size_t kernels_packed_size(const kernels *k, int N, int K)
{
    size_t panels = ((size_t)N + k->nr - 1) / k->nr;
    return panels * k->nr * (size_t)K;
}

/* Panel p holds columns p*nr .. p*nr+nr-1 as [K][nr], zero past N. */
void kernels_pack_bt(const kernels *k, int N, int K, const float *M, int ld, float *Bp)
{
    k->pack_bt(k->nr, N, K, M, ld, Bp);
}

static void generic_pack_bt(int nr, int N, int K, const float *M, int ld, float *Bp)
{
    for (int p = 0; p * nr < N; p++) {
        float *panel = Bp + (size_t)p * nr * K;
        int cols = N - p * nr < nr ? N - p * nr : nr;
        for (int kk = 0; kk < K; kk++) {
            float *row = panel + (size_t)kk * nr;
            for (int j = 0; j < cols; j++) row[j] = M[(size_t)(p * nr + j) * ld + kk];
            for (int j = cols; j < nr; j++) row[j] = 0.0f;
        }
    }
}

void kernels_pack_b(const kernels *k, int N, int K, const float *B, int ld, float *Bp)
{
    const int nr = k->nr;
    for (int p = 0; p * nr < N; p++) {
        float *panel = Bp + (size_t)p * nr * K;
        int cols = N - p * nr < nr ? N - p * nr : nr;
        for (int kk = 0; kk < K; kk++) {
            float *row = panel + (size_t)kk * nr;
            memcpy(row, B + (size_t)kk * ld + (size_t)p * nr, (size_t)cols * sizeof *row);
            for (int j = cols; j < nr; j++) row[j] = 0.0f;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Generic kernels                                                           */
/* ------------------------------------------------------------------------ */

#define GENERIC_NR 16

static void generic_sigmoid(float *x, int n)
{
    for (int i = 0; i < n; i++) x[i] = 1.0f / (1.0f + expf(-x[i]));
}

static void generic_tanh(float *x, int n)
{
    for (int i = 0; i < n; i++) x[i] = tanhf(x[i]);
}

static inline void generic_gemm(int ta, int M, int N, int K, const float *A, int lda, const float *Bp,
                                float *C, int ldc, int accumulate)
{
    for (int p = 0; p * GENERIC_NR < N; p++) {
        const float *panel = Bp + (size_t)p * GENERIC_NR * K;
        int cols = N - p * GENERIC_NR < GENERIC_NR ? N - p * GENERIC_NR : GENERIC_NR;
        for (int i = 0; i < M; i++) {
            float acc[GENERIC_NR] = {0};
            for (int kk = 0; kk < K; kk++) {
                float a = ta ? A[(size_t)kk * lda + i] : A[(size_t)i * lda + kk];
                const float *b = panel + (size_t)kk * GENERIC_NR;
                for (int j = 0; j < GENERIC_NR; j++) acc[j] += a * b[j];
            }
            float *c = C + (size_t)i * ldc + (size_t)p * GENERIC_NR;
            for (int j = 0; j < cols; j++) c[j] = accumulate ? c[j] + acc[j] : acc[j];
        }
    }
}

static void generic_gemm_packed(int M, int N, int K, const float *A, int lda, const float *Bp,
                                float *C, int ldc, int accumulate)
{
    generic_gemm(0, M, N, K, A, lda, Bp, C, ldc, accumulate);
}

static void generic_gemm_packed_ta(int M, int N, int K, const float *A, int lda, const float *Bp,
                                   float *C, int ldc, int accumulate)
{
    generic_gemm(1, M, N, K, A, lda, Bp, C, ldc, accumulate);
}

static void generic_lstm_forward(int b, int H, float *a_all, const float *bias, float *c, float *csave, float *h,
                                 float *y, int ldy)
{
    for (int r = 0; r < b; r++) {
        float *a = a_all + (size_t)r * 4 * H, *cr = c + (size_t)r * H, *hr = h + (size_t)r * H;
        if (bias)
            for (int j = 0; j < 4 * H; j++) a[j] += bias[j];
        generic_sigmoid(a, 2 * H);     /* i, f */
        generic_tanh(a + 2 * H, H);    /* g    */
        generic_sigmoid(a + 3 * H, H); /* o    */
        const float *gi = a, *gf = a + H, *gg = a + 2 * H, *go = a + 3 * H;
        for (int j = 0; j < H; j++) {
            cr[j] = gf[j] * cr[j] + gi[j] * gg[j];
            hr[j] = go[j] * tanhf(cr[j]);
        }
        if (csave) memcpy(csave + (size_t)r * H, cr, (size_t)H * sizeof *cr);
        if (y) memcpy(y + (size_t)r * ldy, hr, (size_t)H * sizeof *hr);
    }
}

static void generic_gru_forward(int b, int H, float *a_all, const float *bias, const float *hn,
                                const float *b_hn, float *h, float *hnl, float *y, int ldy)
{
    const int G = 3 * H;
    for (int r = 0; r < b; r++) {
        float *a = a_all + (size_t)r * G;
        if (bias)
            for (int j = 0; j < G; j++) a[j] += bias[j];
        const float *hnr = hn + (size_t)r * H;
        generic_sigmoid(a, 2 * H);
        const float *gr = a, *gz = a + H;
        float *gn = a + 2 * H;
        float *hr = h + (size_t)r * H;
        float *hl = hnl ? hnl + (size_t)r * H : NULL;
        for (int j = 0; j < H; j++) {
            float lin = hnr[j] + b_hn[j];
            if (hl) hl[j] = lin;
            gn[j] += gr[j] * lin;
        }
        generic_tanh(gn, H);
        for (int j = 0; j < H; j++) hr[j] = (1.0f - gz[j]) * gn[j] + gz[j] * hr[j];
        if (y) memcpy(y + (size_t)r * ldy, hr, (size_t)H * sizeof *hr);
    }
}

static void generic_lstm_backward(int b, int H, const float *dh, float *dc,
                                  const float *act, const float *c, const float *c_prev,
                                  float *dxg)
{
    const int G = 4 * H;
    for (int r = 0; r < b; r++) {
        const float *gi = act + (size_t)r * G, *gf = gi + H, *gg = gi + 2 * H, *go = gi + 3 * H;
        const float *cr = c + (size_t)r * H, *cp = c_prev + (size_t)r * H;
        const float *d = dh + (size_t)r * H;
        float *dcr = dc + (size_t)r * H;
        float *di = dxg + (size_t)r * G, *df = di + H, *dg = di + 2 * H, *dox = di + 3 * H;
        /* tanh(c) lands in dox first, then is replaced by do's gradient. */
        memcpy(dox, cr, (size_t)H * sizeof *dox);
        generic_tanh(dox, H);
        for (int j = 0; j < H; j++) {
            float tc = dox[j];
            float dcj = dcr[j] + d[j] * go[j] * (1.0f - tc * tc);
            dox[j] = d[j] * tc * go[j] * (1.0f - go[j]);
            di[j] = dcj * gg[j] * gi[j] * (1.0f - gi[j]);
            df[j] = dcj * cp[j] * gf[j] * (1.0f - gf[j]);
            dg[j] = dcj * gi[j] * (1.0f - gg[j] * gg[j]);
            dcr[j] = dcj * gf[j];
        }
    }
}

static void generic_gru_backward(int b, int H, const float *dh, const float *act, const float *hnl,
                                 const float *h_prev, float *dxg, float *dhg, float *dh_prev)
{
    const int G = 3 * H;
    for (int r = 0; r < b; r++) {
        const float *gr = act + (size_t)r * G, *gz = gr + H, *gn = gr + 2 * H;
        const float *d = dh + (size_t)r * H, *hp = h_prev + (size_t)r * H;
        const float *hl = hnl + (size_t)r * H;
        float *dr = dxg + (size_t)r * G, *dz = dr + H, *dn = dr + 2 * H;
        float *hr_ = dhg + (size_t)r * G, *hz = hr_ + H, *hn = hr_ + 2 * H;
        float *dp = dh_prev + (size_t)r * H;
        for (int j = 0; j < H; j++) {
            float dnp = d[j] * (1.0f - gz[j]) * (1.0f - gn[j] * gn[j]);
            float dzp = d[j] * (hp[j] - gn[j]) * gz[j] * (1.0f - gz[j]);
            float drp = dnp * hl[j] * gr[j] * (1.0f - gr[j]);
            dr[j] = hr_[j] = drp;
            dz[j] = hz[j] = dzp;
            dn[j] = dnp;
            hn[j] = dnp * gr[j];
            dp[j] = d[j] * gz[j];
        }
    }
}

static void generic_colsum(int n, int cols, const float *A, int lda, double *sum)
{
    for (int r = 0; r < n; r++) {
        const float *row = A + (size_t)r * lda;
        for (int j = 0; j < cols; j++) sum[j] += row[j];
    }
}

const kernels kernels_generic = {"generic", GENERIC_NR, 0, generic_sigmoid, generic_tanh, generic_gemm_packed,
                                 generic_gemm_packed_ta, generic_lstm_forward, generic_gru_forward,
                                 generic_lstm_backward, generic_gru_backward, generic_pack_bt, generic_colsum,
                                 NULL, NULL, NULL};

/* ------------------------------------------------------------------------ */
/* Blocked general product                                                   */
/* ------------------------------------------------------------------------ */

/* C (+)= op(A) op(B) block by block. With ta (A stored [K][M]: the weight
 * gradients dG^T X, whose A is the gates' gradient [rows][G*H]), read in
 * place, a tile's twelve values
 * of one k are a row of A apart (8 KB at LSTM-512), every k a new line in the
 * same L1 set, and the product ran at half the step product's rate (71
 * against 142 GFLOP/s). So blocks of KC x KERNELS_MC of A are copied first,
 * row after row, into [kc][mc], which the tiles then read as lines that
 * follow each other (124 GFLOP/s). B's blocks are KERNELS_NC_TA wide, so
 * that one copy of A serves all of a hidden size up to 512 (at 256 the
 * copies were 5.7% of an LSTM-512 training pass). Either way each k block
 * of KERNELS_KC is added to C after the one before (stack_gemm's chunks
 * rely on that order). */
static void gemm_blocked(const kernels *k, int ta, int tb, int M, int N, int K, const float *A, int lda,
                         const float *B, int ldb, int accumulate, float *C, int ldc, float *scratch, double *sums)
{
    /* Column blocks of B stay in L2 while every row of A passes over them;
     * each kernel panel (KC x nr) stays in L1. */
    const int ncb = ta ? KERNELS_NC_TA : KERNELS_NC, nc_max = ncb - ncb % k->nr;
    float *Bs = scratch, *As = scratch + (size_t)KERNELS_KC * KERNELS_NC_TA;
    for (int n0 = 0; n0 < N; n0 += nc_max) {
        int nc = N - n0 < nc_max ? N - n0 : nc_max;
        for (int k0 = 0; k0 < K; k0 += KERNELS_KC) {
            int kc = K - k0 < KERNELS_KC ? K - k0 : KERNELS_KC;
            if (tb) kernels_pack_bt(k, nc, kc, B + (size_t)n0 * ldb + k0, ldb, Bs);
            else kernels_pack_b(k, nc, kc, B + (size_t)k0 * ldb + n0, ldb, Bs);
            int acc = accumulate || k0 > 0;
            if (!ta) {
                k->gemm_packed(M, nc, kc, A + k0, lda, Bs, C + n0, ldc, acc);
                continue;
            }
            for (int m0 = 0; m0 < M; m0 += KERNELS_MC) {
                int mc = M - m0 < KERNELS_MC ? M - m0 : KERNELS_MC;
                for (int kk = 0; kk < kc; kk++)
                    memcpy(As + (size_t)kk * mc, A + (size_t)(k0 + kk) * lda + m0, (size_t)mc * sizeof *As);
                /* The block's column sums, once (the first block of B), from
                 * the copy in L1: every column's rows still in order. */
                if (sums && n0 == 0) k->colsum(kc, mc, As, mc, sums + m0);
                k->gemm_packed_ta(mc, nc, kc, As, mc, Bs, C + (size_t)m0 * ldc + n0, ldc, acc);
            }
        }
    }
}

void kernels_gemm(const kernels *k, int ta, int tb, int M, int N, int K, const float *A, int lda,
                  const float *B, int ldb, int accumulate, float *C, int ldc, float *scratch)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        if (!accumulate)
            for (int i = 0; i < M; i++) memset(C + (size_t)i * ldc, 0, (size_t)N * sizeof *C);
        return;
    }
    gemm_blocked(k, ta, tb, M, N, K, A, lda, B, ldb, accumulate, C, ldc, scratch, NULL);
}

void kernels_gemm_ta_sums(const kernels *k, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                          int ldb, int accumulate, float *C, int ldc, float *scratch, double *sums)
{
    if (M <= 0 || N <= 0 || K <= 0) {
        kernels_gemm(k, 1, tb, M, N, K, A, lda, B, ldb, accumulate, C, ldc, scratch);
        return;
    }
    gemm_blocked(k, 1, tb, M, N, K, A, lda, B, ldb, accumulate, C, ldc, scratch, sums);
}
