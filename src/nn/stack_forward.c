/*
 * The stack's forward (stack.h, stack_forward): per layer and direction the
 * time loop by rows (threads by sequences), through the fused steps where
 * the level has them, or split by units at 2+ threads (inference).
 */
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

/* Pack the weights of (l, d) for the step products (W_ih only when the
 * layer's input is given: layer 0 of a model brings its own projections),
 * in panels of nr: the table's, or the fused step's. */
static void pack_step_weights(const stack *st, stack_ws *ws, int l, int d, int recurrent, int input, int nr)
{
    const int H = st->H, GA = st->cell == RECUR_CELL_GRU ? 2 * H : st->G * H, I = stack_layer_input(st, l);
    dir_ws *w = &ws->dir[l * st->D + d];
    const float *W_hh = stack_w_hh(st, l, d, 0);
    if (recurrent) stack_pack_weights(ws, 1, nr, GA, H, W_hh, H, w->WhhT);
    if (recurrent && st->cell == RECUR_CELL_GRU) stack_pack_weights(ws, 1, nr, H, H, W_hh + (size_t)GA * H, H, w->WhhTn);
    if (input) stack_pack_weights(ws, 1, nr, st->G * H, I, stack_w_ih(st, l, d, 0), I, w->WihT);
    ws->packed_nr = nr;
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
    const size_t I = (size_t)stack_layer_input(st, l);
    float *S = ws->S + (size_t)j0 * H, *Cs = ws->Cs + (size_t)j0 * H, *HG = ws->HG + (size_t)j0 * H;
    float *Y = ws->Y[l];
    stack_state_rows(ws->S, job->h0, j0, j1, H);
    if (st->cell == RECUR_CELL_LSTM) stack_state_rows(ws->Cs, job->c0, j0, j1, H);
    for (int s = 0; s < p->T; s++) {
        int t = d == 0 ? s : p->T - 1 - s;
        int b = (p->bs[t] < j1 ? p->bs[t] : j1) - j0;
        if (b <= 0) continue;
        if (stack_stopped(ws)) return; /* the caller discards this pass */
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
    const int l = job->l, d = job->d, H = st->H, DH = st->D * H, I = stack_layer_input(st, l);
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
    if (lstm) stack_state_rows(ws->Cs, job->c0, j0, j1, H);
    int prev = -1;
    for (int s = 0; s < p->T; s++) {
        const int t = d == 0 ? s : p->T - 1 - s, b = (p->bs[t] < j1 ? p->bs[t] : j1) - j0;
        if (b <= 0) continue;
        if (stack_stopped(ws)) return; /* the caller discards this pass */
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
    const int I = stack_layer_input(st, l);
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
    int nt = stack_shares(ws, p);
    stack_split_sequences(p, nt, job.bounds);
    if (nt > 1) pool_run_n(ws->pool, nt, direction_forward_share, &job);
    else direction_forward_rows(&job, 0, p->B);
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
                const int GH = st->G * st->H, I = stack_layer_input(st, l);
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

