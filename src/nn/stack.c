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

static int layer_input(const stack *st, int l) { return l == 0 ? st->I : st->D * st->H; }

/* Offset of layer l, direction d's block, and the block's size. */
static size_t block_size(const stack *st, int l)
{
    size_t gh = (size_t)st->G * st->H;
    return gh * (size_t)layer_input(st, l) + gh * st->H + 2 * gh;
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
    return stack_w_ih(st, l, d, g) + (size_t)st->G * st->H * layer_input(st, l);
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
    if (which >= 1) off += ghs * (size_t)layer_input(st, l);
    if (which >= 2) off += ghs * (size_t)st->H;
    if (which >= 3) off += ghs;
    *offset = off;
    shape[0] = gh;
    shape[1] = which == 0 ? layer_input(st, l) : which == 1 ? st->H : 0;
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

typedef struct dir_ws {
    float *A;   /* [N][GH] input projections, then gate activations       */
    float *Hp;  /* [N][H]  h_prev of every row (train)                     */
    float *C;   /* [N][H]  LSTM c_new (train)                              */
    float *Cp;  /* [N][H]  LSTM c_prev (train)                             */
    float *HNL; /* [N][H]  GRU W_hn h + b_hn (train)                       */
    float *dA;  /* [N][GH] gradient of the pre-activations (train)         */
    float *dGh; /* [N][GH] GRU: the W_hh side of it (train)                */
    float *WhhT; /* W_hh^T packed for the step product h W_hh^T (GRU: the
                  * r and z rows; the n rows are in WhhTn)                */
    float *WhhTn;
    float *WihT; /* W_ih^T packed: each step's input projection, made in
                  * the time loop while its rows are in cache            */
    float *Whh;  /* W_hh packed for the backward product dG W_hh (train)   */
} dir_ws;

struct stack_ws {
    const kernels *kn; /* chosen for this CPU when the workspace is made */
    const qkernels *qk; /* the same for reduced-precision weights (st->q) */
    pool *pool;        /* threads (not owned); NULL runs on the caller   */
    int N, B, train;
    int weights_fixed, packed_valid; /* see stack_ws_fix_weights         */
    int packed_nr;                   /* panel width WhhT, WihT were packed in */
    float *bias;                     /* [GH] scratch                     */
    double *dsum;                    /* [GH] a bias gradient's sums (train) */
    int L, D;
    dir_ws *dir;  /* [L*D] */
    float **Y;    /* [L] outputs [N][D*H]                                  */
    float **Xd;   /* [L] dropped-out inputs [N][D*H] (l >= 1, train)       */
    float **mask; /* [L] dropout scale per element (l >= 1, train)         */
    float *dY;    /* [N][D*H] gradient of a layer's output (train)         */
    float *dHt;   /* [N][D*H] dLoss/dh_t of the last layer (train)         */
    float *dX;    /* [N][D*H] gradient of a layer's input (train)          */
    float *S, *Cs;   /* [B][H] running state                               */
    float *HG;       /* [B][GH] h W_hh^T of one step                       */
    float *dS, *dC;  /* [B][H] gradient flowing back through the state     */
    float *dh;       /* [B][H] */
    float *scratch;  /* [scratch_threads][KERNELS_GEMM_SCRATCH] packing  */
    int scratch_threads;
    /* Looked at between time steps and between chunks of the large
     * products (stack_ws_set_stop); NULL: never. */
    const volatile sig_atomic_t *stop;
    float *Ag;       /* [B][GH] gates of a step, split by units (see below) */
    float *bias_u;   /* [GH] the input bias in the units split's order     */
    int split;       /* RECUR_STEP_SPLIT: 1 sequences, 2 units, 0 chosen (below) */
    int units_backoff; /* passes left to run by sequences after a slow barrier */
};

static int stopped(const stack_ws *ws) { return ws->stop && *ws->stop; }

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
        bad |= falloc(&w->WihT, kernels_packed_size(ws->kn, (int)GH, layer_input(st, i / st->D)));
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
int stack_ws_stopped(const stack_ws *ws) { return stopped(ws); }
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

/* ------------------------------------------------------------------------ */
/* Forward                                                                   */
/* ------------------------------------------------------------------------ */

static void add_bias_rows(float *A, int n, int cols, const float *bias)
{
    for (int r = 0; r < n; r++) {
        float *row = A + (size_t)r * cols;
        for (int j = 0; j < cols; j++) row[j] += bias[j];
    }
}

/* The fused step of this stack's cell at this level, or NULL (kernels.h). */
static void (*fused_kernel(const stack *st, const kernels *kn))(const step_args *)
{
    switch (st->cell) {
    case RECUR_CELL_LSTM: return kn->lstm_step;
    case RECUR_CELL_GRU: return kn->gru_step;
    default: return kn->rnn_step;
    }
}

/* Units a fused step takes at a time: the RNN's tile covers four blocks. */
static int fused_units(const stack *st, const kernels *kn)
{
    return st->G == 1 ? 4 * kn->fused_nr : kn->fused_nr;
}

/* Whether the steps of this pass run fused with their products (kernels.h,
 * lstm_step, gru_step, rnn_step): where the level has them, the hidden size
 * whole blocks, and fp32 weights (quantized inference has its own). */
static int fused_steps(const stack *st, const stack_ws *ws, int train)
{
    const kernels *kn = ws->kn;
    return fused_kernel(st, kn) && st->H % fused_units(st, kn) == 0 && !(st->q && !train);
}

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

static void pack_weights(const stack_ws *ws, int bt, int nr, int N, int K, const float *M, int ld, float *Bp)
{
    pack_job j = {ws->kn, bt, nr, N, K, ld, M, Bp};
    if (pool_threads(ws->pool) > 1 && N >= 4 * nr) pool_run(ws->pool, pack_share, &j);
    else pack_share(&j, 0, 1);
}

/* Pack the weights of (l, d) for the step products (W_ih only when the
 * layer's input is given: layer 0 of a model brings its own projections),
 * in panels of nr: the table's, or the fused step's. */
static void pack_step_weights(const stack *st, stack_ws *ws, int l, int d, int recurrent, int input, int nr)
{
    const int H = st->H, GA = st->cell == RECUR_CELL_GRU ? 2 * H : st->G * H, I = layer_input(st, l);
    dir_ws *w = &ws->dir[l * st->D + d];
    const float *W_hh = stack_w_hh(st, l, d, 0);
    if (recurrent) pack_weights(ws, 1, nr, GA, H, W_hh, H, w->WhhT);
    if (recurrent && st->cell == RECUR_CELL_GRU) pack_weights(ws, 1, nr, H, H, W_hh + (size_t)GA * H, H, w->WhhTn);
    if (input) pack_weights(ws, 1, nr, st->G * H, I, stack_w_ih(st, l, d, 0), I, w->WihT);
    ws->packed_nr = nr;
}

/* Threads split a batch by sequences: rows j0..j1-1 of every step belong to
 * one thread for the whole time loop, so they never wait for each other.
 * Boundaries balance the number of steps (sequences are sorted longest
 * first, so the first share has fewer, longer sequences). */
#define MAX_SHARES 64
static void split_sequences(const pack *p, int nt, int *bounds)
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

typedef struct dir_job {
    const stack *st;
    stack_ws *ws;
    const pack *p;
    int l, d, train;
    const float *X;    /* forward: the layer's input [N][I], or NULL when A holds its projections */
    const float *bias; /* forward with X: stack_input_bias, added by the cells */
    const float *h0, *c0, *dY, *dhn, *dcn;
    float *hn, *cn, *dh0, *dc0;
    int bounds[MAX_SHARES + 1];
    struct step_barrier *barrier; /* the units split's, or NULL */
} dir_job;

static int shares(const stack_ws *ws, const pack *p)
{
    int nt = pool_threads(ws->pool);
    if (nt > MAX_SHARES) nt = MAX_SHARES;
    return nt < p->B ? nt : p->B;
}

/* Copy rows j0..j1-1 of a [B][H] state, or zero them. */
static void state_rows(float *dst, const float *src, int j0, int j1, int H)
{
    size_t off = (size_t)j0 * H, n = (size_t)(j1 - j0) * H * sizeof(float);
    if (src) memcpy(dst + off, src + off, n);
    else memset(dst + off, 0, n);
}

/* Rows j0..j1-1 of one direction of one layer. With job->X, each step's
 * input projection x_t W_ih^T is made here, just before the recurrent
 * product lands on it, so the step's rows never leave the cache between
 * the two products and the cell (and the bias rides in the cell's pass);
 * without it, A holds the projections (bias included) on entry. */
static void direction_forward_fused(const dir_job *job, int j0, int j1);
static void direction_forward_rows(const dir_job *job, int j0, int j1)
{
    if (fused_steps(job->st, job->ws, job->train)) {
        direction_forward_fused(job, j0, j1);
        return;
    }
    const stack *st = job->st;
    stack_ws *ws = job->ws;
    const pack *p = job->p;
    const int l = job->l, d = job->d, train = job->train;
    const int H = st->H, GH = st->G * st->H, DH = st->D * st->H;
    const int gru = st->cell == RECUR_CELL_GRU, GA = gru ? 2 * H : GH;
    dir_ws *w = &ws->dir[l * st->D + d];
    const kernels *kn = ws->kn;
    const qstack *q = train ? NULL : st->q;
    const float *b_hn = stack_b_hh(st, l, d, 0) + 2 * H;
    const float *bias = job->X ? job->bias : NULL;
    const size_t I = (size_t)layer_input(st, l);
    float *S = ws->S + (size_t)j0 * H, *Cs = ws->Cs + (size_t)j0 * H, *HG = ws->HG + (size_t)j0 * H;
    float *Y = ws->Y[l];
    state_rows(ws->S, job->h0, j0, j1, H);
    if (st->cell == RECUR_CELL_LSTM) state_rows(ws->Cs, job->c0, j0, j1, H);
    for (int s = 0; s < p->T; s++) {
        int t = d == 0 ? s : p->T - 1 - s;
        int b = (p->bs[t] < j1 ? p->bs[t] : j1) - j0;
        if (b <= 0) continue;
        if (stopped(ws)) return; /* the caller discards this pass */
        size_t row = (size_t)p->off[t] + j0;
        float *a = w->A + row * GH, *y = Y + row * DH + (size_t)d * H;
        if (train) memcpy(w->Hp + row * H, S, (size_t)b * H * sizeof(float));
        /* The plain RNN has no cell pass of its own to add the bias in: its
         * rows start as the bias (copies, vectorised) and the products
         * accumulate onto them. */
        const int rnn_bias = bias && st->G == 1;
        if (rnn_bias)
            for (int r = 0; r < b; r++) memcpy(a + (size_t)r * GH, bias, (size_t)GH * sizeof *a);
        if (job->X) kn->gemm_packed(b, GH, I, job->X + row * I, I, w->WihT, a, GH, rnn_bias);
        /* Reduced weights: the product fused with the cell where a kernel
         * has it (nn/quant.h). */
        if (q && st->G > 1) {
            const int ld = l * st->D + d;
            const qcell_step qs = {b, H, S, st->cell == RECUR_CELL_LSTM ? Cs : NULL, y, &q->whh[ld], &q->whhn[ld],
                                   a, bias, b_hn, GH, DH};
            if (quant_step(ws->qk, &qs)) continue;
        }
        /* The recurrent product lands on the input projections directly. */
        if (q) quant_gemm(ws->qk, b, S, H, &q->whh[l * st->D + d], a, GH, 1);
        else kn->gemm_packed(b, GA, H, S, H, w->WhhT, a, GH, 1);
        switch (st->cell) {
        case RECUR_CELL_RNN_TANH:
        case RECUR_CELL_RNN_RELU:
            rnn_cell_forward(kn, b, H, st->cell == RECUR_CELL_RNN_RELU, a, S, y, DH);
            break;
        case RECUR_CELL_LSTM:
            if (train) memcpy(w->Cp + row * H, Cs, (size_t)b * H * sizeof(float));
            kn->lstm_forward(b, H, a, bias, Cs, train ? w->C + row * H : NULL, S, y, DH);
            break;
        case RECUR_CELL_GRU:
            if (q) quant_gemm(ws->qk, b, S, H, &q->whhn[l * st->D + d], HG, H, 0);
            else kn->gemm_packed(b, H, H, S, H, w->WhhTn, HG, H, 0);
            kn->gru_forward(b, H, a, bias, HG, b_hn, S, train ? w->HNL + row * H : NULL, y, DH);
            break;
        }
    }
    size_t off = (size_t)j0 * H, n = (size_t)(j1 - j0) * H * sizeof(float);
    if (job->hn) memcpy(job->hn + off, ws->S + off, n);
    if (job->cn && st->cell == RECUR_CELL_LSTM) memcpy(job->cn + off, ws->Cs + off, n);
}

/* Rows of the step that continue from the step before (the others start
 * from h0): rows j0.. of step t, b of them, with prev the step before or -1. */
static int continuing_rows(const pack *p, int prev, int j0, int j1, int b)
{
    if (prev < 0) return 0;
    int bp = (p->bs[prev] < j1 ? p->bs[prev] : j1) - j0;
    return bp < 0 ? 0 : bp < b ? bp : b;
}

/* The fused step's arguments for rows row.. of direction d of layer l, all
 * units (the caller sets the state, what training keeps, and the units of a
 * split). */
static step_args fused_args(const dir_job *job, size_t row)
{
    const stack *st = job->st;
    const int l = job->l, d = job->d, H = st->H, DH = st->D * H, I = layer_input(st, l);
    dir_ws *w = &job->ws->dir[l * st->D + d];
    step_args a = {0};
    a.n_in = I;
    a.n_h = H;
    a.u1 = H;
    a.x = job->X ? job->X + row * I : NULL;
    a.ldx = I;
    a.wih = w->WihT;
    a.whh = w->WhhT;
    a.whhn = w->WhhTn;
    a.bias = job->X ? job->bias : NULL;
    a.b_hn = stack_b_hh(st, l, d, 0) + 2 * H;
    a.a = w->A + row * st->G * H;
    a.lda = st->G * H;
    a.y = job->ws->Y[l] + row * DH + (size_t)d * H;
    a.ldy = DH;
    a.relu = st->cell == RECUR_CELL_RNN_RELU;
    return a;
}

/* Run a fused step over rows whose h_{t-1} comes from two places: the first
 * bp rows from hp (stride ldh, the step before's outputs), the rest from h0
 * (stride H; NULL: a zero state), as in the reverse direction, where
 * sequences start part way. What the rows keep (c, csave, hnl: stride ldc;
 * a, y) follows them. */
static void fused_two_sources(void (*step)(const step_args *), step_args a, int b, int bp, const float *hp,
                              int ldh, const float *h0)
{
    if (bp > 0) {
        a.b = bp;
        a.hp = hp;
        a.ldh = ldh;
        step(&a);
    }
    if (b > bp) {
        a.b = b - bp;
        if (a.x) a.x += (size_t)bp * a.ldx;
        a.hp = h0 ? h0 + (size_t)bp * a.n_h : NULL;
        a.ldh = a.n_h;
        a.a += (size_t)bp * a.lda;
        if (a.c) a.c += (size_t)bp * a.ldc;
        if (a.csave) a.csave += (size_t)bp * a.ldc;
        if (a.hnl) a.hnl += (size_t)bp * a.ldc;
        a.y += (size_t)bp * a.ldy;
        step(&a);
    }
}

/* direction_forward_rows for steps that run fused (fused_steps): the kernel
 * reads h_{t-1} from the step before's output rows (or h0, or nothing for a
 * zero state) and writes h_t there, so the running state is only the LSTM's
 * c; training copies h_{t-1} into Hp, which backward needs, and the kernel
 * then reads it from there. hn is each sequence's last output row. */
static void direction_forward_fused(const dir_job *job, int j0, int j1)
{
    const stack *st = job->st;
    stack_ws *ws = job->ws;
    const pack *p = job->p;
    const int l = job->l, d = job->d, train = job->train, H = st->H, DH = st->D * H;
    const int lstm = st->cell == RECUR_CELL_LSTM;
    dir_ws *w = &ws->dir[l * st->D + d];
    float *Cs = ws->Cs + (size_t)j0 * H, *Y = ws->Y[l];
    const float *h0 = job->h0 ? job->h0 + (size_t)j0 * H : NULL;
    const size_t hb = (size_t)H * sizeof(float);
    if (lstm) state_rows(ws->Cs, job->c0, j0, j1, H);
    int prev = -1;
    for (int s = 0; s < p->T; s++) {
        const int t = d == 0 ? s : p->T - 1 - s, b = (p->bs[t] < j1 ? p->bs[t] : j1) - j0;
        if (b <= 0) continue;
        if (stopped(ws)) return; /* the caller discards this pass */
        const size_t row = (size_t)p->off[t] + j0;
        const int bp = continuing_rows(p, prev, j0, j1, b);
        const float *yp = prev < 0 ? NULL : Y + ((size_t)p->off[prev] + j0) * DH + (size_t)d * H;
        step_args a = fused_args(job, row);
        a.save_act = train;
        a.ldc = H;
        if (lstm) {
            a.c = Cs;
            a.csave = train ? w->C + row * H : NULL;
        } else if (st->cell == RECUR_CELL_GRU) {
            a.hnl = train ? w->HNL + row * H : NULL;
        }
        if (train) {
            /* Backward reads h_{t-1} (and the LSTM's c_{t-1}) from Hp (Cp). */
            float *hp = w->Hp + row * H;
            for (int r = 0; r < b; r++) {
                const float *src = r < bp ? yp + (size_t)r * DH : h0 ? h0 + (size_t)r * H : NULL;
                if (src) memcpy(hp + (size_t)r * H, src, hb);
                else memset(hp + (size_t)r * H, 0, hb);
            }
            if (lstm) memcpy(w->Cp + row * H, Cs, (size_t)b * hb);
            fused_two_sources(fused_kernel(st, ws->kn), a, b, b, hp, H, NULL);
        } else {
            fused_two_sources(fused_kernel(st, ws->kn), a, b, bp, yp, DH, h0);
        }
        prev = t;
    }
    for (int j = j0; j < j1; j++) {
        const int last = d == 0 ? p->len[j] - 1 : 0;
        if (job->hn) memcpy(job->hn + (size_t)j * H, Y + ((size_t)p->off[last] + j) * DH + (size_t)d * H, hb);
    }
    if (job->cn && lstm) memcpy(job->cn + (size_t)j0 * H, ws->Cs + (size_t)j0 * H, (size_t)(j1 - j0) * hb);
}

static void direction_forward_share(void *arg, int tid, int nt)
{
    const dir_job *job = arg;
    (void)nt;
    direction_forward_rows(job, job->bounds[tid], job->bounds[tid + 1]);
}

/*
 * Inference can also split a step's units between threads (what oneDNN
 * does): thread k owns units u0..u1-1, so it makes only their gate columns
 * (its G slices of W_ih and W_hh, contiguous runs of panels of the packed
 * matrices) for every sequence, and their cell update stays local. Each
 * thread then reads half the weights per step over twice the rows, instead
 * of all of them over half the rows. The price is a barrier per step: the
 * next step's product reads every unit of h, from the layer's output rows
 * of the step before (rows past that step's count, in the reverse
 * direction, start from h0). Each thread's gates, state and GRU n product
 * are blocks [B][G*hu], [B][hu] of Ag, S, Cs, HG. The stop flag is read at
 * the barrier, by one thread for all (barrier_wait).
 */
typedef struct step_barrier {
    atomic_int count, gen;
    atomic_int slow; /* waits that outlasted the spin (a thread was parked) */
    atomic_int quit; /* the stop flag as the last thread of a step saw it */
    const volatile sig_atomic_t *stop;
    int n;
} step_barrier;

#define BARRIER_SLOW_NS 1000000LL
/* Returns whether to stop: the last thread to arrive reads the stop flag
 * for all of them, so that every thread leaves at the same step (one
 * reading it on its own could leave the others at the next barrier). */
static int barrier_wait(step_barrier *b)
{
    int g = atomic_load_explicit(&b->gen, memory_order_acquire);
    if (atomic_fetch_add_explicit(&b->count, 1, memory_order_acq_rel) == b->n - 1) {
        if (b->stop && *b->stop) atomic_store_explicit(&b->quit, 1, memory_order_relaxed);
        atomic_store_explicit(&b->count, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&b->gen, 1, memory_order_release);
        return atomic_load_explicit(&b->quit, memory_order_relaxed);
    }
    /* Spin (a step is tens of microseconds); yield once it takes long, so
     * that a time-shared core does not burn the other thread's slice. A
     * wait past BARRIER_SLOW_NS counts as slow: the other thread was parked
     * (a quiet machine's jitter stays well below it; a time slice is ms). */
    struct timespec t0 = {0, 0};
    unsigned i = 0;
    for (; atomic_load_explicit(&b->gen, memory_order_acquire) == g; i++) {
        if (i < 20000) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        } else {
            if (i == 20000) clock_gettime(CLOCK_MONOTONIC, &t0);
            sched_yield();
        }
    }
    if (i > 20000) {
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if ((t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec) > BARRIER_SLOW_NS)
            atomic_fetch_add_explicit(&b->slow, 1, memory_order_relaxed);
    }
    return atomic_load_explicit(&b->quit, memory_order_relaxed);
}

/* Threads of the units split for this pass (0: split the batch instead):
 * inference on fp32 weights, each thread's units whole panels of the
 * packed matrices, and either asked for (RECUR_STEP_SPLIT=units) or chosen:
 * recurrent weights of UNITS_MIN_BYTES or more (the sequence split has
 * every thread read all of them at every step; past about half of L2 that
 * costs more than the barrier) and no slow barrier lately. Quiet machine, 2
 * threads, batch 64, T 8 / 32, GFLOP/s sequences -> units: LSTM-512 199 ->
 * 244 / 218 -> 255, GRU-512 210 -> 263 / 229 -> 257, LSTM-256 220 -> 245 /
 * 236 -> 243; LSTM-128 (256 KB) 224 -> 214 at T 32, so it keeps sequences.
 * On a time-shared machine a barrier per step waits for whichever thread
 * the scheduler parked (under a load of 14 on 2 cores, LSTM-128 fell from
 * 24-27 to 3-4 GFLOP/s, where the sequence split, which never waits, kept
 * its share): a pass whose barrier outlasted its spin on more than one step
 * in UNITS_SLOW_STEPS sends the next UNITS_BACKOFF passes of this workspace
 * to the sequence split, after which units are tried again. */
#define UNITS_MIN_BYTES ((size_t)512 << 10)
#define UNITS_SLOW_STEPS 4
#define UNITS_BACKOFF 64
static int units_shares(const stack *st, stack_ws *ws, const pack *p, int train)
{
    int nt = pool_threads(ws->pool);
    if (nt > MAX_SHARES) nt = MAX_SHARES;
    if (nt > p->B) nt = p->B > 1 ? p->B : 1;
    /* Each thread's units whole panels, and whole fused blocks. */
    const int fu = fused_steps(st, ws, 0) ? fused_units(st, ws->kn) : 1;
    const int nr = ws->kn->nr > fu ? ws->kn->nr : fu;
    while (nt > 1 && st->H % (nt * nr) != 0) nt--;
    if (nt < 2 || train || st->q || ws->split == 1) return 0;
    if (ws->split == 2) return nt;
    if ((size_t)st->G * st->H * st->H * sizeof(float) < UNITS_MIN_BYTES) return 0;
    if (ws->units_backoff > 0) {
        ws->units_backoff--;
        return 0;
    }
    return nt;
}

/* Columns c0.. of a matrix packed by kernels_pack_bt (c0 a multiple of nr). */
static inline const float *panels_at(const kernels *kn, const float *Bp, int c0, int K)
{
    return Bp + (size_t)(c0 / kn->nr) * kn->nr * K;
}

static void direction_forward_units(void *arg, int tid, int nt)
{
    const dir_job *job = arg;
    const stack *st = job->st;
    stack_ws *ws = job->ws;
    const pack *p = job->p;
    const int l = job->l, d = job->d, H = st->H, G = st->G, GH = G * H, DH = st->D * H, B = p->B;
    const int gru = st->cell == RECUR_CELL_GRU, GA = gru ? 2 : G; /* gate slices the W_hh product lands on */
    const int u0 = H / nt * tid, hu = H / nt, ldg = G * hu;
    const int I = layer_input(st, l);
    const kernels *kn = ws->kn;
    dir_ws *w = &ws->dir[l * st->D + d];
    float *Ag = ws->Ag + (size_t)B * G * u0, *St = ws->S + (size_t)B * u0, *Ct = ws->Cs + (size_t)B * u0;
    float *HGt = ws->HG + (size_t)B * u0, *Y = ws->Y[l];
    const float *bt = job->X ? ws->bias_u + (size_t)G * u0 : NULL, *b_hn = stack_b_hh(st, l, d, 0) + 2 * H + u0;
    const int fused = fused_steps(st, ws, 0);
    const int rnn_bias = bt && G == 1;
    for (int j = 0; j < B; j++) {
        float *sj = St + (size_t)j * hu, *cj = Ct + (size_t)j * hu;
        if (job->h0) memcpy(sj, job->h0 + (size_t)j * H + u0, (size_t)hu * sizeof *sj);
        else memset(sj, 0, (size_t)hu * sizeof *sj);
        if (st->cell == RECUR_CELL_LSTM) {
            if (job->c0) memcpy(cj, job->c0 + (size_t)j * H + u0, (size_t)hu * sizeof *cj);
            else memset(cj, 0, (size_t)hu * sizeof *cj);
        }
    }
    int prev = -1; /* the step processed before, or -1 */
    for (int s = 0; s < p->T; s++) {
        const int t = d == 0 ? s : p->T - 1 - s, b = p->bs[t];
        const size_t row = (size_t)p->off[t];
        /* Rows 0..bp-1 continue from the step before; bp..b-1 start here. */
        const int bp = prev < 0 ? 0 : (p->bs[prev] < b ? p->bs[prev] : b);
        const float *hp = prev < 0 ? NULL : Y + (size_t)p->off[prev] * DH + (size_t)d * H;
        const float *h0 = job->h0 ? job->h0 + (size_t)bp * H : NULL;
        float *y = Y + row * DH + (size_t)d * H + u0;
        if (fused) {
            /* This thread's units of every row, through the fused step. */
            step_args a = fused_args(job, row);
            a.u0 = u0;
            a.u1 = u0 + hu;
            a.y += u0;
            a.c = st->cell == RECUR_CELL_LSTM ? Ct : NULL;
            a.ldc = hu;
            fused_two_sources(fused_kernel(st, kn), a, b, bp, hp, DH, job->h0);
            prev = t;
            if (barrier_wait(job->barrier)) return; /* the caller discards this pass */
            continue;
        }
        if (job->X) {
            if (rnn_bias)
                for (int r = 0; r < b; r++) memcpy(Ag + (size_t)r * ldg, bt, (size_t)hu * sizeof *Ag);
            for (int q = 0; q < G; q++)
                kn->gemm_packed(b, hu, I, job->X + row * I, I, panels_at(kn, w->WihT, q * H + u0, I), Ag + q * hu, ldg,
                                rnn_bias);
        } else {
            const float *a = w->A + row * GH;
            for (int r = 0; r < b; r++)
                for (int q = 0; q < G; q++)
                    memcpy(Ag + (size_t)r * ldg + q * hu, a + (size_t)r * GH + q * H + u0, (size_t)hu * sizeof *Ag);
        }
        for (int q = 0; q < GA; q++) {
            const float *Wq = panels_at(kn, w->WhhT, q * H + u0, H);
            if (bp > 0) kn->gemm_packed(bp, hu, H, hp, DH, Wq, Ag + q * hu, ldg, 1);
            if (h0 && b > bp) kn->gemm_packed(b - bp, hu, H, h0, H, Wq, Ag + (size_t)bp * ldg + q * hu, ldg, 1);
        }
        switch (st->cell) {
        case RECUR_CELL_RNN_TANH:
        case RECUR_CELL_RNN_RELU:
            rnn_cell_forward(kn, b, hu, st->cell == RECUR_CELL_RNN_RELU, Ag, St, y, DH);
            break;
        case RECUR_CELL_LSTM: kn->lstm_forward(b, hu, Ag, bt, Ct, NULL, St, y, DH); break;
        case RECUR_CELL_GRU: {
            const float *Wn = panels_at(kn, w->WhhTn, u0, H);
            if (bp > 0) kn->gemm_packed(bp, hu, H, hp, DH, Wn, HGt, hu, 0);
            if (b > bp) {
                if (h0) kn->gemm_packed(b - bp, hu, H, h0, H, Wn, HGt + (size_t)bp * hu, hu, 0);
                else memset(HGt + (size_t)bp * hu, 0, (size_t)(b - bp) * hu * sizeof *HGt);
            }
            kn->gru_forward(b, hu, Ag, bt, HGt, b_hn, St, NULL, y, DH);
            break;
        }
        }
        prev = t;
        if (barrier_wait(job->barrier)) return; /* the caller discards this pass */
    }
    for (int j = 0; j < B; j++) {
        /* The fused step keeps no h of its own: a sequence's last output. */
        const int last = d == 0 ? p->len[j] - 1 : 0;
        const float *hj = fused ? Y + ((size_t)p->off[last] + j) * DH + (size_t)d * H + u0 : St + (size_t)j * hu;
        if (job->hn) memcpy(job->hn + (size_t)j * H + u0, hj, (size_t)hu * sizeof(float));
        if (job->cn && st->cell == RECUR_CELL_LSTM)
            memcpy(job->cn + (size_t)j * H + u0, Ct + (size_t)j * hu, (size_t)hu * sizeof(float));
    }
}

static void direction_forward(const stack *st, stack_ws *ws, const pack *p, int l, int d, const float *X,
                              const float *h0, const float *c0, float *hn, float *cn, int train)
{
    /* Quantized inference has its own recurrent weights; W_ih is packed
     * whenever this loop makes the input projections. */
    const int quant = st->q && !train;
    const int nr = fused_steps(st, ws, train) ? ws->kn->fused_nr : ws->kn->nr;
    if ((!quant || X) && (!ws->weights_fixed || !ws->packed_valid || ws->packed_nr != nr))
        pack_step_weights(st, ws, l, d, !quant, X != NULL, nr);
    if (X) stack_input_bias(st, l, d, ws->bias);
    dir_job job = {st, ws, p, l, d, train, X, ws->bias, h0, c0, NULL, NULL, NULL, hn, cn, NULL, NULL, {0}, NULL};
    const int nu = units_shares(st, ws, p, train);
    if (nu > 1) {
        const int H = st->H, G = st->G, hu = H / nu;
        if (X)
            for (int k = 0; k < nu; k++)
                for (int q = 0; q < G; q++)
                    memcpy(ws->bias_u + (size_t)G * hu * k + (size_t)q * hu, ws->bias + (size_t)q * H + (size_t)hu * k,
                           (size_t)hu * sizeof(float));
        step_barrier bar;
        atomic_init(&bar.count, 0);
        atomic_init(&bar.gen, 0);
        atomic_init(&bar.slow, 0);
        atomic_init(&bar.quit, 0);
        bar.stop = ws->stop;
        bar.n = nu;
        job.barrier = &bar;
        pool_run_n(ws->pool, nu, direction_forward_units, &job);
        if (ws->split == 0 && atomic_load(&bar.slow) * UNITS_SLOW_STEPS > p->T) ws->units_backoff = UNITS_BACKOFF;
        return;
    }
    int nt = shares(ws, p);
    split_sequences(p, nt, job.bounds);
    if (nt > 1) pool_run_n(ws->pool, nt, direction_forward_share, &job);
    else direction_forward_rows(&job, 0, p->B);
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
        for (int k0 = 0; k0 < g->K && !stopped(g->ws); k0 += step) {
            int kc = g->K - k0 < step ? g->K - k0 : step;
            const float *B = g->tb ? g->B + k0 : g->B + (size_t)k0 * g->ldb;
            kernels_gemm_ta_sums(kn, g->tb, m1 - m0, g->N, kc, g->A + (size_t)k0 * g->lda + m0, g->lda, B, g->ldb,
                                 g->accumulate || k0 > 0, g->C + (size_t)m0 * g->ldc, g->ldc, scratch, sums);
        }
    } else {
        int step = (int)(GEMM_CHUNK_FLOPS / (2.0 * g->N * g->K)) / 24 * 24;
        if (step < 24) step = 24;
        for (int r0 = m0; r0 < m1 && !stopped(g->ws); r0 += step) {
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
static void stack_wgrad(stack_ws *ws, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
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

/* The input projections of a layer >= 1 through its reduced-precision
 * W_ih, split over threads by rows as stack_gemm. */
typedef struct qgemm_job {
    const stack_ws *ws;
    int M;
    const float *A;
    int lda;
    const qmat *W;
    float *C;
    int ldc;
} qgemm_job;

static void qgemm_share(void *arg, int tid, int nt)
{
    const qgemm_job *g = arg;
    int m0, m1;
    pool_split(g->M, tid, nt, &m0, &m1);
    if (m1 > m0)
        quant_gemm(g->ws->qk, m1 - m0, g->A + (size_t)m0 * g->lda, g->lda, g->W, g->C + (size_t)m0 * g->ldc,
                   g->ldc, 0);
}

void stack_forward(const stack *st, stack_ws *ws, const pack *p, const float *x,
                   const float *h0, const float *c0, float *hn, float *cn,
                   int train, recur_rng *rng)
{
    const int N = p->N, DH = st->D * st->H;
    const size_t state = (size_t)p->B * st->H;
    for (int l = 0; l < st->L; l++) {
        const float *X = l == 0 ? x : ws->Y[l - 1];
        if (l > 0 && train && st->dropout > 0.0f) {
            float keep = 1.0f - st->dropout, scale = 1.0f / keep;
            float *m = ws->mask[l], *xd = ws->Xd[l];
            for (size_t i = 0; i < (size_t)N * DH; i++) {
                m[i] = recur_rng_uniform(rng) < keep ? scale : 0.0f;
                xd[i] = X[i] * m[i];
            }
            X = xd;
        }
        for (int d = 0; d < st->D; d++) {
            /* Xd NULL: A holds the projections (quantized inference makes
             * them here, over all rows, in its own product). */
            const float *Xd = X;
            if (X && l > 0 && st->q && !train) {
                const int GH = st->G * st->H, I = layer_input(st, l);
                dir_ws *w = &ws->dir[l * st->D + d];
                qgemm_job g = {ws, N, X, I, &st->q->wih[l * st->D + d], w->A, GH};
                if (pool_threads(ws->pool) > 1 && N >= 64) pool_run(ws->pool, qgemm_share, &g);
                else qgemm_share(&g, 0, 1);
                stack_input_bias(st, l, d, ws->bias);
                add_bias_rows(w->A, N, GH, ws->bias);
                Xd = NULL;
            }
            size_t k = (size_t)(l * st->D + d) * state;
            direction_forward(st, ws, p, l, d, Xd, h0 ? h0 + k : NULL, c0 ? c0 + k : NULL,
                              hn ? hn + k : NULL, cn ? cn + k : NULL, train);
        }
    }
    ws->packed_valid = 1;
}

/* ------------------------------------------------------------------------ */
/* Backward                                                                  */
/* ------------------------------------------------------------------------ */

/* BPTT through rows j0..j1-1 of one direction: dY (stride DH) is the
 * gradient of this layer's output; fills w->dA (and w->dGh) and the state
 * gradients. */
static void direction_backward_rows(const dir_job *job, int j0, int j1)
{
    const stack *st = job->st;
    stack_ws *ws = job->ws;
    const pack *p = job->p;
    const int l = job->l, d = job->d;
    const int H = st->H, GH = st->G * st->H, DH = st->D * st->H;
    dir_ws *w = &ws->dir[l * st->D + d];
    const kernels *kn = ws->kn;
    const float *dY = job->dY;
    float *dS = ws->dS + (size_t)j0 * H, *dC = ws->dC + (size_t)j0 * H, *dh_rows = ws->dh + (size_t)j0 * H;
    int lstm = st->cell == RECUR_CELL_LSTM;
    /* The last layer of a single direction keeps dh_t for
     * stack_ws_state_grads as [N][H]: rows the step's dh can be made in
     * directly, instead of being copied there at every step. */
    const int direct = l == st->L - 1 && st->D == 1;
    state_rows(ws->dS, job->dhn, j0, j1, H);
    if (lstm) state_rows(ws->dC, job->dcn, j0, j1, H);
    for (int s = p->T - 1; s >= 0; s--) {
        int t = d == 0 ? s : p->T - 1 - s;
        int b = (p->bs[t] < j1 ? p->bs[t] : j1) - j0;
        if (b <= 0) continue;
        if (stopped(ws)) return; /* the caller discards this pass */
        size_t row = (size_t)p->off[t] + j0;
        float *dh = direct ? ws->dHt + row * DH : dh_rows;
        for (int r = 0; r < b; r++) {
            const float *dyr = dY ? dY + (row + r) * DH + (size_t)d * H : NULL;
            float *o = dh + (size_t)r * H;
            const float *in = dS + (size_t)r * H;
            if (dyr) for (int j = 0; j < H; j++) o[j] = in[j] + dyr[j];
            else memcpy(o, in, (size_t)H * sizeof *o);
        }
        if (l == st->L - 1 && !direct)
            for (int r = 0; r < b; r++)
                memcpy(ws->dHt + (row + r) * DH + (size_t)d * H, dh + (size_t)r * H, (size_t)H * sizeof *dh);
        float *dA = w->dA + row * GH;
        const float *A = w->A + row * GH;
        const float *dGh = dA;
        int accumulate = 0;
        switch (st->cell) {
        case RECUR_CELL_RNN_TANH:
        case RECUR_CELL_RNN_RELU:
            rnn_cell_backward(b, H, st->cell == RECUR_CELL_RNN_RELU, dh,
                              ws->Y[l] + row * DH + (size_t)d * H, DH, dA);
            break;
        case RECUR_CELL_LSTM:
            lstm_cell_backward(kn, b, H, dh, dC, A, w->C + row * H, w->Cp + row * H, dA);
            break;
        case RECUR_CELL_GRU:
            gru_cell_backward(kn, b, H, dh, A, w->HNL + row * H, w->Hp + row * H, dA,
                              w->dGh + row * GH, dS);
            dGh = w->dGh + row * GH;
            accumulate = 1;
            break;
        }
        kn->gemm_packed(b, H, GH, dGh, GH, w->Whh, dS, H, accumulate);
    }
    size_t off = (size_t)j0 * H, n = (size_t)(j1 - j0) * H * sizeof(float);
    if (job->dh0) memcpy(job->dh0 + off, ws->dS + off, n);
    if (job->dc0 && lstm) memcpy(job->dc0 + off, ws->dC + off, n);
}

static void direction_backward_share(void *arg, int tid, int nt)
{
    const dir_job *job = arg;
    (void)nt;
    direction_backward_rows(job, job->bounds[tid], job->bounds[tid + 1]);
}


/* b_ih_grad: where the same column sums go too, or NULL (the RNN's and the
 * LSTM's bias gradients are equal; the GRU's are not). */
static void direction_backward(const stack *st, stack_ws *ws, const pack *p, int l, int d,
                               const float *dY, const float *dhn, const float *dcn,
                               float *dh0, float *dc0, float *b_ih_grad)
{
    const int H = st->H, GH = st->G * st->H;
    dir_ws *w = &ws->dir[l * st->D + d];
    pack_weights(ws, 0, ws->kn->nr, H, GH, stack_w_hh(st, l, d, 0), H, w->Whh);
    dir_job job = {st, ws, p, l, d, 1, NULL, NULL, NULL, NULL, dY, dhn, dcn, NULL, NULL, dh0, dc0, {0}, NULL};
    int nt = shares(ws, p);
    split_sequences(p, nt, job.bounds);
    if (nt > 1) pool_run_n(ws->pool, nt, direction_backward_share, &job);
    else direction_backward_rows(&job, 0, p->B);
    /* Parameter gradients of the recurrent side: one product over all rows. */
    const float *dGh_all = st->cell == RECUR_CELL_GRU ? w->dGh : w->dA;
    stack_wgrad(ws, GH, H, p->N, dGh_all, GH, w->Hp, H, stack_w_hh(st, l, d, 1), H, stack_b_hh(st, l, d, 1), b_ih_grad);
}

void stack_backward(const stack *st, stack_ws *ws, const pack *p,
                    const float *x, const float *dy, const float *dhn,
                    const float *dcn, float *dx, float *dh0, float *dc0)
{
    const int N = p->N, GH = st->G * st->H, DH = st->D * st->H;
    const size_t state = (size_t)p->B * st->H;
    const float *dY = dy;
    for (int l = st->L - 1; l >= 0; l--) {
        int I = layer_input(st, l);
        const float *X = l == 0 ? x : (ws->Xd[l] && st->dropout > 0.0f ? ws->Xd[l] : ws->Y[l - 1]);
        /* One pass of column sums serves both biases where they are equal. */
        const int shared_sums = X && st->cell != RECUR_CELL_GRU;
        for (int d = 0; d < st->D; d++) {
            size_t k = (size_t)(l * st->D + d) * state;
            direction_backward(st, ws, p, l, d, dY, dhn ? dhn + k : NULL, dcn ? dcn + k : NULL,
                               dh0 ? dh0 + k : NULL, dc0 ? dc0 + k : NULL,
                               shared_sums ? stack_b_ih(st, l, d, 1) : NULL);
        }
        /* Input side: dW_ih, db_ih and the gradient of the layer's input. */
        float *dX = l == 0 ? dx : ws->dX;
        for (int d = 0; d < st->D; d++) {
            const float *dA = ws->dir[l * st->D + d].dA;
            if (X) {
                if (shared_sums) stack_gemm(ws, 1, 0, GH, I, N, dA, GH, X, I, 1, stack_w_ih(st, l, d, 1), I);
                else stack_wgrad(ws, GH, I, N, dA, GH, X, I, stack_w_ih(st, l, d, 1), I, stack_b_ih(st, l, d, 1), NULL);
            }
            if (dX)
                stack_gemm(ws, 0, 0, N, I, GH, dA, GH, stack_w_ih(st, l, d, 0), I, d, dX, I);
        }
        if (l > 0) {
            /* The next layer down sees dX through the dropout mask. */
            if (ws->mask[l] && st->dropout > 0.0f)
                for (size_t i = 0; i < (size_t)N * DH; i++) ws->dX[i] *= ws->mask[l][i];
            memcpy(ws->dY, ws->dX, (size_t)N * DH * sizeof(float));
            dY = ws->dY;
        }
    }
}
