/* The stack (stack.h): sizes, the weights' layout and init, the workspace,
 * and the threaded products and packings forward and backward share. */
#include "nn/stack.h"

#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/pool.h"
#include "nn/cell.h"
#include "nn/gemm.h"
#include "nn/kernels.h"
#include "nn/quant.h"
#include "nn/stack_ws.h"

/* Largest sizes accepted: keeps every index product far inside int range. */
#define MAX_SIZE (1 << 16)
#define MAX_LAYERS 64

recur_status stack_init(stack *st, recur_cell cell, int I, int H, int L, int D,
                        float dropout, recur_error *err)
{
    memset(st, 0, sizeof *st);
    if ((int)cell < 0 || cell > RECUR_CELL_GRU)
        return recur_fail(err, RECUR_ERR_ARG, "unknown cell type %d", (int)cell);
    if (I < 1 || I > MAX_SIZE)
        return recur_fail(err, RECUR_ERR_ARG, "input size %d out of range 1..%d", I, MAX_SIZE);
    if (H < 1 || H > MAX_SIZE / 4)
        return recur_fail(err, RECUR_ERR_ARG, "hidden size %d out of range 1..%d", H, MAX_SIZE / 4);
    if (L < 1 || L > MAX_LAYERS)
        return recur_fail(err, RECUR_ERR_ARG, "layers %d out of range 1..%d", L, MAX_LAYERS);
    if (D != 1 && D != 2) return recur_fail(err, RECUR_ERR_ARG, "directions must be 1 or 2, not %d", D);
    if (!(dropout >= 0.0f && dropout < 1.0f))
        return recur_fail(err, RECUR_ERR_ARG, "dropout %g out of range [0, 1)", (double)dropout);
    st->cell = cell;
    st->I = I;
    st->H = H;
    st->L = L;
    st->D = D;
    st->G = recur_cell_gates(cell);
    st->dropout = dropout;
    return RECUR_OK;
}


/* Offset of layer l, direction d's block, and the block's size. */
static size_t block_size(const stack *st, int l)
{
    size_t gh = (size_t)st->G * st->H;
    return gh * (size_t)stack_layer_input(st, l) + gh * st->H + 2 * gh;
}

static size_t block_offset(const stack *st, int l, int d)
{
    size_t off = 0;
    for (int k = 0; k < l; k++) off += block_size(st, k) * st->D;
    return off + block_size(st, l) * d;
}

size_t stack_num_weights(const stack *st) { return block_offset(st, st->L, 0); }

float *stack_w_ih(const stack *st, int l, int d, int g)
{
    return (g ? st->g : st->w) + block_offset(st, l, d);
}

float *stack_w_hh(const stack *st, int l, int d, int g)
{
    return stack_w_ih(st, l, d, g) + (size_t)st->G * st->H * stack_layer_input(st, l);
}

float *stack_b_ih(const stack *st, int l, int d, int g)
{
    return stack_w_hh(st, l, d, g) + (size_t)st->G * st->H * st->H;
}

float *stack_b_hh(const stack *st, int l, int d, int g)
{
    return stack_b_ih(st, l, d, g) + (size_t)st->G * st->H;
}

void stack_tensor(const stack *st, int k, char *name, size_t cap, int *ndim,
                  int shape[2], size_t *offset)
{
    static const char *const kind[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
    int which = k % 4, ld = k / 4, l = ld / st->D, d = ld % st->D;
    int gh = st->G * st->H;
    snprintf(name, cap, "%s_l%d%s", kind[which], l, d ? "_reverse" : "");
    /* Offsets by arithmetic, not pointers: st->w may not exist yet. */
    size_t ghs = (size_t)gh, off = block_offset(st, l, d);
    if (which >= 1) off += ghs * (size_t)stack_layer_input(st, l);
    if (which >= 2) off += ghs * (size_t)st->H;
    if (which >= 3) off += ghs;
    *offset = off;
    shape[0] = gh;
    shape[1] = which == 0 ? stack_layer_input(st, l) : which == 1 ? st->H : 0;
    *ndim = which < 2 ? 2 : 1;
}

void stack_input_bias(const stack *st, int l, int d, float *out)
{
    const int GH = st->G * st->H;
    /* The GRU's n gate keeps b_hn apart: it is scaled by the reset gate. */
    const int fold = st->cell == RECUR_CELL_GRU ? 2 * st->H : GH;
    const float *bi = stack_b_ih(st, l, d, 0), *bh = stack_b_hh(st, l, d, 0);
    for (int g = 0; g < GH; g++) out[g] = bi[g] + (g < fold ? bh[g] : 0.0f);
}

void stack_init_weights(const stack *st, recur_rng *rng)
{
    float k = 1.0f / sqrtf((float)st->H);
    size_t n = stack_num_weights(st);
    for (size_t i = 0; i < n; i++) st->w[i] = (2.0f * recur_rng_uniform(rng) - 1.0f) * k;
}

/* ------------------------------------------------------------------------ */
/* Workspace                                                                 */
/* ------------------------------------------------------------------------ */

static void ws_release(stack_ws *ws)
{
    if (ws->dir) {
        for (int i = 0; i < ws->L * ws->D; i++) {
            dir_ws *w = &ws->dir[i];
            free(w->A); free(w->Hp); free(w->C); free(w->Cp); free(w->HNL); free(w->dA); free(w->dGh);
            free(w->WhhT); free(w->WhhTn); free(w->WihT); free(w->Whh);
        }
    }
    if (ws->Y) for (int l = 0; l < ws->L; l++) free(ws->Y[l]);
    if (ws->Xd) for (int l = 0; l < ws->L; l++) free(ws->Xd[l]);
    if (ws->mask) for (int l = 0; l < ws->L; l++) free(ws->mask[l]);
    free(ws->dir); free(ws->Y); free(ws->Xd); free(ws->mask);
    free(ws->dY); free(ws->dHt); free(ws->dX); free(ws->S); free(ws->Cs); free(ws->HG);
    free(ws->dS); free(ws->dC); free(ws->dh); free(ws->bias); free(ws->Ag); free(ws->bias_u); free(ws->dsum);
    ws->dsum = NULL;
    ws->dir = NULL;
    ws->Y = ws->Xd = ws->mask = NULL;
    ws->dY = ws->dHt = ws->dX = ws->S = ws->Cs = ws->HG = ws->dS = ws->dC = ws->dh = ws->bias = NULL;
    ws->Ag = ws->bias_u = NULL;
    ws->packed_valid = 0;
}

/* n zeroed floats at a 64-byte boundary; n == 0 gives NULL without failure.
 * The kernels load whole cache lines of packed weights and gate rows, and a
 * large calloc (an mmap) starts 16 bytes into a page: every 64-byte load of
 * a panel then spans two lines (LSTM-512 step product 137 -> 157 GFLOP/s
 * aligned). */
static int falloc(float **p, size_t n)
{
    *p = NULL;
    if (n == 0) return 0;
    if (n > (SIZE_MAX - 64) / sizeof(float)) return 1;
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    *p = aligned_alloc(64, bytes);
    if (*p) memset(*p, 0, bytes);
    return *p == NULL;
}

static recur_status ws_alloc(const stack *st, stack_ws *ws, int N, int B, recur_error *err)
{
    size_t n = (size_t)N, b = (size_t)B, H = (size_t)st->H, GH = (size_t)st->G * st->H;
    size_t DH = (size_t)st->D * H;
    int lstm = st->cell == RECUR_CELL_LSTM, gru = st->cell == RECUR_CELL_GRU, tr = ws->train;
    int bad = 0;
    ws->L = st->L;
    ws->D = st->D;
    ws->dir = calloc((size_t)st->L * st->D, sizeof *ws->dir);
    ws->Y = calloc((size_t)st->L, sizeof *ws->Y);
    ws->Xd = calloc((size_t)st->L, sizeof *ws->Xd);
    ws->mask = calloc((size_t)st->L, sizeof *ws->mask);
    if (!ws->dir || !ws->Y || !ws->Xd || !ws->mask) bad = 1;
    for (int i = 0; !bad && i < st->L * st->D; i++) {
        dir_ws *w = &ws->dir[i];
        bad |= falloc(&w->A, n * GH);
        bad |= falloc(&w->Hp, tr ? n * H : 0);
        bad |= falloc(&w->C, tr && lstm ? n * H : 0);
        bad |= falloc(&w->Cp, tr && lstm ? n * H : 0);
        bad |= falloc(&w->HNL, tr && gru ? n * H : 0);
        bad |= falloc(&w->dA, tr ? n * GH : 0);
        bad |= falloc(&w->dGh, tr && gru ? n * GH : 0);
        bad |= falloc(&w->WhhT, kernels_packed_size(ws->kn, gru ? 2 * (int)H : (int)GH, (int)H));
        bad |= falloc(&w->WhhTn, gru ? kernels_packed_size(ws->kn, (int)H, (int)H) : 0);
        bad |= falloc(&w->WihT, kernels_packed_size(ws->kn, (int)GH, stack_layer_input(st, i / st->D)));
        bad |= falloc(&w->Whh, tr ? kernels_packed_size(ws->kn, (int)H, (int)GH) : 0);
    }
    int drop = tr && st->dropout > 0.0f;
    for (int l = 0; !bad && l < st->L; l++) {
        bad |= falloc(&ws->Y[l], n * DH);
        bad |= falloc(&ws->Xd[l], drop && l > 0 ? n * DH : 0);
        bad |= falloc(&ws->mask[l], drop && l > 0 ? n * DH : 0);
    }
    size_t widest = DH > (size_t)st->I ? DH : (size_t)st->I;
    if (!bad) {
        bad |= falloc(&ws->dY, tr ? n * DH : 0);
        bad |= falloc(&ws->dHt, tr ? n * DH : 0);
        bad |= falloc(&ws->dX, tr ? n * widest : 0);
        bad |= falloc(&ws->S, b * H);
        bad |= falloc(&ws->Cs, b * H);
        bad |= falloc(&ws->HG, b * H);
        bad |= falloc(&ws->bias, GH);
        bad |= falloc(&ws->Ag, b * GH);
        bad |= falloc(&ws->bias_u, GH);
        bad |= falloc(&ws->dS, tr ? b * H : 0);
        bad |= falloc(&ws->dC, tr ? b * H : 0);
        bad |= falloc(&ws->dh, tr ? b * H : 0);
        if (tr && !bad) bad |= (ws->dsum = calloc(GH, sizeof *ws->dsum)) == NULL;
    }
    if (bad) {
        ws_release(ws);
        return recur_fail(err, RECUR_ERR_NOMEM, "out of memory for a workspace of %d rows", N);
    }
    ws->N = N;
    ws->B = B;
    return RECUR_OK;
}

static int ensure_scratch(stack_ws *ws, int threads)
{
    if (threads <= ws->scratch_threads) return 0;
    float *p;
    if (falloc(&p, (size_t)threads * KERNELS_GEMM_SCRATCH)) return 1;
    free(ws->scratch);
    ws->scratch = p;
    ws->scratch_threads = threads;
    return 0;
}

recur_status stack_ws_create(const stack *st, int N, int B, int train,
                             stack_ws **out, recur_error *err)
{
    *out = NULL;
    if (N < 1 || B < 1 || B > N)
        return recur_fail(err, RECUR_ERR_ARG, "workspace for %d rows of %d sequences", N, B);
    stack_ws *ws = calloc(1, sizeof *ws);
    if (!ws) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    ws->train = train != 0;
    ws->kn = kernels_get();
    ws->qk = qkernels_get();
    const char *split = getenv("RECUR_STEP_SPLIT");
    ws->split = split && strcmp(split, "batch") == 0 ? 1 : split && strcmp(split, "units") == 0 ? 2 : 0;
    recur_status s = ws_alloc(st, ws, N, B, err);
    if (!s && ensure_scratch(ws, 1)) {
        ws_release(ws);
        s = recur_fail(err, RECUR_ERR_NOMEM, "out of memory for a workspace");
    }
    if (s) {
        free(ws);
        return s;
    }
    *out = ws;
    return RECUR_OK;
}

recur_status stack_ws_reserve(const stack *st, stack_ws *ws, int N, int B, recur_error *err)
{
    if (N <= ws->N && B <= ws->B) return RECUR_OK;
    /* Grow geometrically so a slowly rising maximum reallocates rarely. */
    int n = N > ws->N ? (N > ws->N + ws->N / 2 ? N : ws->N + ws->N / 2) : ws->N;
    int b = B > ws->B ? B : ws->B;
    ws_release(ws);
    return ws_alloc(st, ws, n, b, err);
}

void stack_ws_fix_weights(stack_ws *ws) { ws->weights_fixed = 1; }
void stack_ws_set_stop(stack_ws *ws, const volatile sig_atomic_t *stop) { ws->stop = stop; }
int stack_ws_stopped(const stack_ws *ws) { return stack_stopped(ws); }
void stack_ws_weights_changed(stack_ws *ws) { ws->packed_valid = 0; }
recur_status stack_ws_set_pool(stack_ws *ws, pool *p, recur_error *err)
{
    if (ensure_scratch(ws, p ? pool_threads(p) : 1))
        return recur_fail(err, RECUR_ERR_NOMEM, "out of memory for a workspace");
    ws->pool = p;
    return RECUR_OK;
}

void stack_ws_free(stack_ws *ws)
{
    if (!ws) return;
    ws_release(ws);
    free(ws->scratch);
    free(ws);
}

float *stack_ws_xg0(stack_ws *ws, int d) { return ws->dir[d].A; }
const float *stack_ws_dxg0(const stack_ws *ws, int d) { return ws->dir[d].dA; }
const float *stack_ws_output(const stack_ws *ws) { return ws->Y[ws->L - 1]; }
const qkernels *stack_ws_qkernels(const stack_ws *ws) { return ws->qk; }
const float *stack_ws_state_grads(const stack_ws *ws) { return ws->dHt; }

/* A packing of a weight matrix into panels of nr (kernels_pack_bt when bt,
 * else kernels_pack_b's layout), split over the pool's threads by panels:
 * the packings run at every training pass, and at 2 threads and 8 steps
 * one thread packing LSTM-512's 8 MB while the other waited was a tenth of
 * the pass. */
typedef struct pack_job {
    const kernels *kn;
    int bt, nr, N, K, ld;
    const float *M;
    float *Bp;
} pack_job;

static void pack_share(void *arg, int tid, int nt)
{
    const pack_job *j = arg;
    int p0, p1;
    pool_split((j->N + j->nr - 1) / j->nr, tid, nt, &p0, &p1);
    if (p1 <= p0) return;
    const int c0 = p0 * j->nr, cols = (p1 * j->nr < j->N ? p1 * j->nr : j->N) - c0;
    float *Bp = j->Bp + (size_t)c0 * j->K;
    if (j->bt) j->kn->pack_bt(j->nr, cols, j->K, j->M + (size_t)c0 * j->ld, j->ld, Bp);
    else kernels_pack_b(j->kn, cols, j->K, j->M + c0, j->ld, Bp);
}

void stack_pack_weights(const stack_ws *ws, int bt, int nr, int N, int K, const float *M, int ld, float *Bp)
{
    pack_job j = {ws->kn, bt, nr, N, K, ld, M, Bp};
    if (pool_threads(ws->pool) > 1 && N >= 4 * nr) pool_run(ws->pool, pack_share, &j);
    else pack_share(&j, 0, 1);
}

/* Threads split a batch by sequences: rows j0..j1-1 of every step belong to
 * one thread for the whole time loop, so they never wait for each other.
 * Boundaries balance the number of steps (sequences are sorted longest
 * first, so the first share has fewer, longer sequences). */
void stack_split_sequences(const pack *p, int nt, int *bounds)
{
    bounds[0] = 0;
    long long done = 0;
    int j = 0;
    for (int k = 1; k < nt; k++) {
        long long want = (long long)p->N * k / nt;
        while (j < p->B && done + p->len[j] <= want) done += p->len[j++];
        bounds[k] = j;
    }
    bounds[nt] = p->B;
}

int stack_shares(const stack_ws *ws, const pack *p)
{
    int nt = pool_threads(ws->pool);
    if (nt > MAX_SHARES) nt = MAX_SHARES;
    return nt < p->B ? nt : p->B;
}

/* Copy rows j0..j1-1 of a [B][H] state, or zero them. */
void stack_state_rows(float *dst, const float *src, int j0, int j1, int H)
{
    size_t off = (size_t)j0 * H, n = (size_t)(j1 - j0) * H * sizeof(float);
    if (src) memcpy(dst + off, src + off, n);
    else memset(dst + off, 0, n);
}

/* A matrix product split over threads by rows of C (M), through the
 * packed kernels (each thread packs B into its own scratch). */
typedef struct gemm_job {
    const stack_ws *ws;
    int ta, tb, M, N, K;
    const float *A;
    int lda;
    const float *B;
    int ldb;
    int accumulate;
    float *C;
    int ldc;
    double *sums; /* ta only: A's column sums added here [M], or NULL */
} gemm_job;

/* With a stop flag, a product of more than about this many FLOPs per
 * thread runs in chunks, the flag looked at between them: a weight
 * gradient of LSTM-512 over 80k rows is 170 GFLOP, seconds in one call. */
#define GEMM_CHUNK_FLOPS (1 << 26)

static void gemm_share(void *arg, int tid, int nt)
{
    const gemm_job *g = arg;
    int m0, m1;
    pool_split(g->M, tid, nt, &m0, &m1);
    if (m1 <= m0) return;
    const kernels *kn = g->ws->kn;
    float *scratch = g->ws->scratch + (size_t)tid * KERNELS_GEMM_SCRATCH;
    const double flops = 2.0 * (m1 - m0) * (double)g->N * g->K;
    double *sums = g->sums ? g->sums + m0 : NULL;
    if (!g->ws->stop || flops <= GEMM_CHUNK_FLOPS) {
        const float *A = g->ta ? g->A + m0 : g->A + (size_t)m0 * g->lda;
        if (sums)
            kernels_gemm_ta_sums(kn, g->tb, m1 - m0, g->N, g->K, A, g->lda, g->B, g->ldb, g->accumulate,
                                 g->C + (size_t)m0 * g->ldc, g->ldc, scratch, sums);
        else
            kernels_gemm(kn, g->ta, g->tb, m1 - m0, g->N, g->K, A, g->lda, g->B, g->ldb, g->accumulate,
                         g->C + (size_t)m0 * g->ldc, g->ldc, scratch);
        return;
    }
    /* Chunks that leave every element's arithmetic as in one call, so
     * that a flag that never fires changes no bit: a weight gradient (ta,
     * K = the rows summed over) is cut along K at multiples of
     * KERNELS_KC, the blocks kernels_gemm adds to C one after another;
     * other products along this thread's rows at multiples of 24, which
     * every kernel's micro-tile height (4, 6, 8) divides. */
    if (g->ta) {
        int step = (int)(GEMM_CHUNK_FLOPS / (2.0 * (m1 - m0) * g->N)) / KERNELS_KC * KERNELS_KC;
        if (step < KERNELS_KC) step = KERNELS_KC;
        for (int k0 = 0; k0 < g->K && !stack_stopped(g->ws); k0 += step) {
            int kc = g->K - k0 < step ? g->K - k0 : step;
            const float *B = g->tb ? g->B + k0 : g->B + (size_t)k0 * g->ldb;
            kernels_gemm_ta_sums(kn, g->tb, m1 - m0, g->N, kc, g->A + (size_t)k0 * g->lda + m0, g->lda, B, g->ldb,
                                 g->accumulate || k0 > 0, g->C + (size_t)m0 * g->ldc, g->ldc, scratch, sums);
        }
    } else {
        int step = (int)(GEMM_CHUNK_FLOPS / (2.0 * g->N * g->K)) / 24 * 24;
        if (step < 24) step = 24;
        for (int r0 = m0; r0 < m1 && !stack_stopped(g->ws); r0 += step) {
            int mc = m1 - r0 < step ? m1 - r0 : step;
            kernels_gemm(kn, 0, g->tb, mc, g->N, g->K, g->A + (size_t)r0 * g->lda, g->lda, g->B, g->ldb,
                         g->accumulate, g->C + (size_t)r0 * g->ldc, g->ldc, scratch);
        }
    }
}

void stack_gemm(stack_ws *ws, int ta, int tb, int M, int N, int K, const float *A, int lda,
                     const float *B, int ldb, int accumulate, float *C, int ldc)
{
    gemm_job g = {ws, ta, tb, M, N, K, A, lda, B, ldb, accumulate, C, ldc, NULL};
    if (pool_threads(ws->pool) > 1 && M >= 64) pool_run(ws->pool, gemm_share, &g);
    else gemm_share(&g, 0, 1);
}

/* A weight gradient C += A^T B (A [K][M]: a gate gradient, K its rows) and
 * its bias gradient: acc[m] (and acc2[m] when not NULL, the same sums) +=
 * the column sums of A, made in double, row after row, and rounded once (a
 * bias gradient sums thousands of rows, every step of every sequence, and
 * row by row in float its error grew with the rows: 20x float32 PyTorch's),
 * from the product's own copies of A in L1 rather than in a pass of their
 * own over A (gate gradients of 12 MB at GRU-512 T32 came from memory again
 * for the sums: 5% of a training pass). */
void stack_wgrad(stack_ws *ws, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
                        int ldc, float *acc, float *acc2)
{
    double *sums = ws->dsum;
    memset(sums, 0, (size_t)M * sizeof *sums);
    gemm_job g = {ws, 1, 0, M, N, K, A, lda, B, ldb, 1, C, ldc, sums};
    if (pool_threads(ws->pool) > 1 && M >= 64) pool_run(ws->pool, gemm_share, &g);
    else gemm_share(&g, 0, 1);
    for (int j = 0; j < M; j++) {
        acc[j] = (float)((double)acc[j] + sums[j]);
        if (acc2) acc2[j] = (float)((double)acc2[j] + sums[j]);
    }
}

