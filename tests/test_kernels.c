/* Every kernel level this CPU can run agrees with plain C: the packed
 * matrix product on awkward sizes, and sigmoid/tanh against libm. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/pool.h"
#include "core/rng.h"
#include "nn/kernels.h"
#include "nn/pack.h"
#include "nn/stack.h"
#include "test.h"

static void packed_gemm_matches_reference(void)
{
    recur_rng r;
    recur_rng_seed(&r, 2);
    /* 20..23 rows: every leftover of a 12-row tile; 1040 x 300 and 64 x 4100:
     * weights past 1 MB, which the SIMD product prefetches panel by panel. */
    const int sizes[][3] = {{1, 1, 1},       {1, 512, 128},  {7, 33, 5},     {9, 17, 64},     {64, 512, 128},
                            {13, 100, 300},  {6, 48, 1},     {20, 100, 30},  {21, 40, 9},     {22, 33, 17},
                            {23, 65, 40},    {37, 1040, 300}, {50, 64, 4100}};
    for (int level = CPU_GENERIC; level <= CPU_AVX512; level++) {
        const kernels *k = kernels_level(level);
        if (!k) continue;
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            int M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
            float *A = malloc(sizeof(float) * M * K), *Bt = malloc(sizeof(float) * N * K);
            float *B = malloc(sizeof(float) * K * N);
            float *Bp = malloc(sizeof(float) * kernels_packed_size(k, N, K));
            float *C = malloc(sizeof(float) * M * N), *C2 = malloc(sizeof(float) * M * N);
            for (int i = 0; i < M * K; i++) A[i] = recur_rng_uniform(&r) - 0.5f;
            for (int i = 0; i < N * K; i++) Bt[i] = recur_rng_uniform(&r) - 0.5f;
            for (int n = 0; n < N; n++)
                for (int kk = 0; kk < K; kk++) B[(size_t)kk * N + n] = Bt[(size_t)n * K + kk];
            double worst = 0;
            for (int variant = 0; variant < 2; variant++) {
                if (variant == 0) kernels_pack_bt(k, N, K, Bt, K, Bp);
                else kernels_pack_b(k, N, K, B, N, Bp);
                for (int i = 0; i < M * N; i++) C[i] = C2[i] = 1.0f;
                k->gemm_packed(M, N, K, A, K, Bp, C, N, variant);
                for (int i = 0; i < M; i++)
                    for (int n = 0; n < N; n++) {
                        double ref = variant ? 1.0 : 0.0;
                        for (int kk = 0; kk < K; kk++) ref += (double)A[i * K + kk] * Bt[(size_t)n * K + kk];
                        double e = fabs(C[i * N + n] - ref);
                        if (e > worst) worst = e;
                    }
            }
            CHECK_MSG(worst < 1e-4, "%s %dx%dx%d: error %g", k->name, M, N, K, worst);
            free(A); free(Bt); free(B); free(Bp); free(C); free(C2);
        }
    }
}

static void activations_match_libm(void)
{
    enum { N = 4001 };
    static float x[N], s[N], t[N];
    for (int i = 0; i < N; i++) x[i] = -20.0f + 40.0f * (float)i / (N - 1);
    x[0] = -100.0f;
    x[1] = 100.0f;
    x[2] = 1e-6f;
    x[3] = -0.3f;
    for (int level = CPU_GENERIC; level <= CPU_AVX512; level++) {
        const kernels *k = kernels_level(level);
        if (!k) continue;
        memcpy(s, x, sizeof x);
        memcpy(t, x, sizeof x);
        k->sigmoid(s, N);
        k->tanh(t, N);
        double es = 0, et = 0;
        for (int i = 0; i < N; i++) {
            double rs = 1.0 / (1.0 + exp(-(double)x[i])), rt = tanh((double)x[i]);
            es = fmax(es, fabs(s[i] - rs) / fmax(rs, 1e-30) * (rs > 1e-30));
            et = fmax(et, fabs(t[i] - rt) / fmax(fabs(rt), 1e-6));
        }
        CHECK_MSG(es < 1e-6 && et < 1e-6, "%s: sigmoid rel err %.3g, tanh %.3g", k->name, es, et);
        fprintf(stderr, "    %s: sigmoid rel err %.2e, tanh %.2e\n", k->name, es, et);
    }
}

/* The blocked product, every transpose combination, on sizes that cross
 * the KC and NC block edges and leave ragged tiles; with sub-matrix
 * strides (lda, ldb, ldc larger than the rows). */
static void blocked_gemm_matches_reference(void)
{
    recur_rng r;
    recur_rng_seed(&r, 3);
    const int sizes[][3] = {{1, 1, 1}, {1, 70, 300}, {13, 70, 300}, {512, 128, 450}, {9, 300, 129}, {64, 33, 0}};
    float *scratch = malloc(sizeof(float) * KERNELS_GEMM_SCRATCH);
    for (int level = CPU_GENERIC; level <= CPU_AVX512; level++) {
        const kernels *k = kernels_level(level);
        if (!k) continue;
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            int M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
            for (int v = 0; v < 8; v++) {
                int ta = v & 1, tb = (v >> 1) & 1, acc = v >> 2;
                int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
                size_t na = (size_t)(ta ? K : M) * lda + 1, nb = (size_t)(tb ? N : K) * ldb + 1;
                float *A = malloc(sizeof(float) * na), *B = malloc(sizeof(float) * nb);
                float *C = malloc(sizeof(float) * (size_t)M * ldc);
                for (size_t i = 0; i < na; i++) A[i] = recur_rng_uniform(&r) - 0.5f;
                for (size_t i = 0; i < nb; i++) B[i] = recur_rng_uniform(&r) - 0.5f;
                for (size_t i = 0; i < (size_t)M * ldc; i++) C[i] = 0.25f;
                kernels_gemm(k, ta, tb, M, N, K, A, lda, B, ldb, acc, C, ldc, scratch);
                double worst = 0;
                for (int i = 0; i < M; i++)
                    for (int n = 0; n < ldc; n++) {
                        double ref = n >= N ? 0.25 : acc ? 0.25 : 0.0; /* padding untouched */
                        for (int kk = 0; n < N && kk < K; kk++)
                            ref += (double)(ta ? A[(size_t)kk * lda + i] : A[(size_t)i * lda + kk]) *
                                   (tb ? B[(size_t)n * ldb + kk] : B[(size_t)kk * ldb + n]);
                        double e = fabs(C[(size_t)i * ldc + n] - ref);
                        if (e > worst) worst = e;
                    }
                CHECK_MSG(worst < 1e-4, "%s %dx%dx%d ta %d tb %d acc %d: error %g", k->name, M, N, K, ta, tb, acc,
                          worst);
                free(A); free(B); free(C);
            }
        }
    }
    free(scratch);
}

static void level_names_and_caps(void)
{
    CHECK(kernels_level(CPU_GENERIC) == &kernels_generic);
    CHECK(kernels_get() != NULL);
    CHECK(strcmp(cpu_level_name(cpu_level_supported()), kernels_level(cpu_level_supported())->name) == 0);
}

/* The fused cell backwards of every level against the generic table's, on a
 * width with a tail (37 = 2 x 16 + 5): the GRU's has no transcendental
 * function and must agree to the bit; the LSTM's recomputes tanh(c). */
static void cell_backwards_match_generic(void)
{
    enum { B = 3, H = 37 };
    static float dh[B * H], act[B * 4 * H], c[B * H], cp[B * H], hnl[B * H], hp[B * H];
    static float dc0[B * H], dc[2][B * H], dx[2][B * 4 * H], dhg[2][B * 3 * H], dp[2][B * H];
    recur_rng r;
    recur_rng_seed(&r, 5);
    for (int i = 0; i < B * H; i++) {
        dh[i] = recur_rng_uniform(&r) - 0.5f;
        c[i] = 4 * recur_rng_uniform(&r) - 2;
        cp[i] = 4 * recur_rng_uniform(&r) - 2;
        hnl[i] = 2 * recur_rng_uniform(&r) - 1;
        hp[i] = 2 * recur_rng_uniform(&r) - 1;
        dc0[i] = recur_rng_uniform(&r) - 0.5f;
    }
    for (int i = 0; i < B * 4 * H; i++) act[i] = recur_rng_uniform(&r); /* gates in (0, 1) */
    const kernels *g = kernels_level(CPU_GENERIC);
    for (int level = CPU_AVX2; level <= CPU_AVX512; level++) {
        const kernels *k = kernels_level(level);
        if (!k) continue;
        for (int v = 0; v < 2; v++) {
            const kernels *t = v ? k : g;
            memset(dhg[v], 0, sizeof dhg[v]);
            t->gru_backward(B, H, dh, act, hnl, hp, dx[v], dhg[v], dp[v]);
        }
        CHECK_MSG(memcmp(dx[0], dx[1], sizeof(float) * B * 3 * H) == 0 && memcmp(dhg[0], dhg[1], sizeof dhg[0]) == 0 &&
                      memcmp(dp[0], dp[1], sizeof dp[0]) == 0,
                  "%s: GRU backward differs from generic", k->name);
        for (int v = 0; v < 2; v++) {
            memcpy(dc[v], dc0, sizeof dc0);
            (v ? k : g)->lstm_backward(B, H, dh, dc[v], act, c, cp, dx[v]);
        }
        for (int i = 0; i < B * 4 * H; i++) CHECK_NEAR(dx[0][i], dx[1][i], 1e-6);
        for (int i = 0; i < B * H; i++) CHECK_NEAR(dc[0][i], dc[1][i], 1e-6);
    }
}

/* The bias gradients' column sums: every level in double and row order,
 * so equal to the generic table's to the bit, on widths with every tail. */
static void colsums_match_generic(void)
{
    enum { R = 37, C = 203 };
    static float A[R * C];
    static double s[2][C];
    recur_rng r;
    recur_rng_seed(&r, 9);
    for (int i = 0; i < R * C; i++) A[i] = (recur_rng_uniform(&r) - 0.5f) * (float)(1 + i % 7) * 1e3f;
    const kernels *g = kernels_level(CPU_GENERIC);
    for (int level = CPU_AVX2; level <= CPU_AVX512; level++) {
        const kernels *k = kernels_level(level);
        if (!k) continue;
        for (int cols = 1; cols <= C; cols += 29) {
            for (int v = 0; v < 2; v++) {
                for (int j = 0; j < C; j++) s[v][j] = 0.25 * j;
                (v ? k : g)->colsum(R, cols, A, C, s[v]);
            }
            CHECK_MSG(memcmp(s[0], s[1], sizeof s[0]) == 0, "%s: column sums of %d columns differ from generic",
                      k->name, cols);
        }
        double want = 0.25 * 5;
        for (int i = 0; i < R; i++) want += A[i * C + 5];
        CHECK_NEAR(s[1][5], want, 1e-9);
    }
}

/* recur_rnn's inference forward with RECUR_KERNELS and RECUR_STEP_SPLIT
 * set around it (restored after): y [T][B][D*H], hn, cn [L*D][B][H]. */
static void rnn_infer(const char *level, const char *split, recur_cell cell, int threads, int T, int B, const float *x,
                      const int32_t *len, const float *h0, const float *c0, float *y, float *hn, float *cn)
{
    const char *names[2] = {"RECUR_KERNELS", "RECUR_STEP_SPLIT"}, *vals[2] = {level, split};
    char saved[2][32];
    int had[2];
    for (int i = 0; i < 2; i++) {
        const char *v = getenv(names[i]);
        had[i] = v != NULL;
        snprintf(saved[i], sizeof saved[i], "%s", v ? v : "");
        setenv(names[i], vals[i], 1);
    }
    recur_rnn_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.cell = cell;
    cfg.input_size = 7;
    cfg.hidden = 64;
    cfg.layers = 2;
    cfg.bidirectional = 1;
    cfg.seed = 5;
    cfg.threads = threads;
    recur_rnn *rnn = NULL;
    recur_error err;
    CHECK_OK(recur_rnn_create(&cfg, &rnn, &err), &err);
    if (rnn) CHECK_OK(recur_rnn_forward(rnn, T, B, x, len, h0, cell == RECUR_CELL_LSTM ? c0 : NULL, y, hn,
                                        cell == RECUR_CELL_LSTM ? cn : NULL, 0, &err), &err);
    recur_rnn_free(rnn);
    for (int i = 0; i < 2; i++) {
        if (had[i]) setenv(names[i], saved[i], 1);
        else unsetenv(names[i]);
    }
}

/*
 * Inference split over two threads by units (each thread a slice of every
 * gate, a barrier per step) and by sequences, against one thread, at every
 * kernel level, every cell, two bidirectional layers, ragged lengths (the
 * reverse direction starts sequences part way), h0 and c0 given. The
 * columns are the same products in the same order; only a leftover single
 * row goes through another tile (4 partial sums), hence 1e-5, not bits.
 */
static void units_split_matches_one_thread(void)
{
    enum { T = 9, B = 37, H = 64, D = 2, L = 2 };
    recur_rng r;
    recur_rng_seed(&r, 17);
    static float x[T * B * 7], h0[L * D * B * H], c0[L * D * B * H];
    static float y1[T * B * D * H], y2[T * B * D * H], hn1[L * D * B * H], hn2[L * D * B * H], cn1[L * D * B * H],
        cn2[L * D * B * H];
    int32_t len[B];
    for (int i = 0; i < T * B * 7; i++) x[i] = 2.0f * recur_rng_uniform(&r) - 1.0f;
    for (int i = 0; i < L * D * B * H; i++) {
        h0[i] = recur_rng_uniform(&r) - 0.5f;
        c0[i] = recur_rng_uniform(&r) - 0.5f;
    }
    for (int b = 0; b < B; b++) len[b] = b % 5 == 0 ? T : 1 + (int32_t)recur_rng_below(&r, T);
    const recur_cell cells[] = {RECUR_CELL_RNN_TANH, RECUR_CELL_LSTM, RECUR_CELL_GRU};
    for (int level = CPU_GENERIC; level <= cpu_level_supported(); level++)
        for (int c = 0; c < 3; c++) {
            const int h = (level + c) % 2; /* h0 given or not, in turn */
            {
                const float *ih = h ? h0 : NULL, *ic = h ? c0 : NULL;
                rnn_infer(cpu_level_name(level), "batch", cells[c], 1, T, B, x, len, ih, ic, y1, hn1, cn1);
                for (int sp = 0; sp < 2; sp++) {
                    memset(y2, 0xff, sizeof y2); /* NaN: what is not written shows */
                    rnn_infer(cpu_level_name(level), sp ? "units" : "batch", cells[c], 2, T, B, x, len, ih, ic, y2,
                              hn2, cn2);
                    double dy = 0, dh = 0, dc = 0;
                    for (int i = 0; i < T * B * D * H; i++) dy = fmax(dy, isnan(y2[i]) ? 1e9 : fabs(y1[i] - y2[i]));
                    for (int i = 0; i < L * D * B * H; i++) {
                        dh = fmax(dh, fabs(hn1[i] - hn2[i]));
                        if (cells[c] == RECUR_CELL_LSTM) dc = fmax(dc, fabs(cn1[i] - cn2[i]));
                    }
                    CHECK_MSG(dy <= 1e-5 && dh <= 1e-5 && dc <= 1e-5,
                              "%s %s split by %s, h0 %d: y off by %g, hn %g, cn %g", cpu_level_name(level),
                              recur_cell_name(cells[c]), sp ? "units" : "sequences", h, dy, dh, dc);
                }
            }
        }
}

/*
 * Training at two threads through the fused steps (LSTM and GRU at hidden
 * 256, which keep c, the activations, W_hn h + b_hn and h_{t-1} in their
 * rows for backward) must answer as one thread does, forward and backward,
 * bidirectional over ragged lengths (the reverse direction starts sequences
 * part way) with h0 and c0 given. (A units split of training, tried, failed
 * here first: rows that start part way kept c in the wrong rows.)
 */
static void two_threads_train_as_one(void)
{
    enum { T = 6, B = 7, I = 5, H = 256, D = 2 };
    static float x[T * B * I], dy[T * B * D * H], h0[D * B * H], c0[D * B * H];
    static float y[2][T * B * D * H], hn[2][D * B * H], cn[2][D * B * H], dx[2][T * B * I], dh0[2][D * B * H],
        dc0[2][D * B * H];
    static float grads[2][4 * (4 * H * (I + H) + 8 * H) * D];
    recur_rng r;
    recur_rng_seed(&r, 41);
    for (int i = 0; i < T * B * I; i++) x[i] = 2.0f * recur_rng_uniform(&r) - 1.0f;
    for (int i = 0; i < T * B * D * H; i++) dy[i] = recur_rng_uniform(&r) - 0.5f;
    for (int i = 0; i < D * B * H; i++) {
        h0[i] = recur_rng_uniform(&r) - 0.5f;
        c0[i] = recur_rng_uniform(&r) - 0.5f;
    }
    const int32_t len[B] = {6, 2, 5, 6, 1, 4, 3};
    const recur_cell cells[2] = {RECUR_CELL_LSTM, RECUR_CELL_GRU};
    for (int c = 0; c < 2; c++) {
        const int lstm = cells[c] == RECUR_CELL_LSTM;
        size_t ng = 0;
        for (int v = 0; v < 2; v++) {
            recur_rnn_config cfg;
            memset(&cfg, 0, sizeof cfg);
            cfg.cell = cells[c];
            cfg.input_size = I;
            cfg.hidden = H;
            cfg.layers = 1;
            cfg.bidirectional = 1;
            cfg.seed = 9;
            cfg.threads = v + 1;
            recur_rnn *rnn = NULL;
            recur_error err;
            CHECK_OK(recur_rnn_create(&cfg, &rnn, &err), &err);
            if (!rnn) return;
            recur_rnn_zero_grad(rnn);
            memset(y[v], 0xff, sizeof y[v]);
            CHECK_OK(recur_rnn_forward(rnn, T, B, x, len, h0, lstm ? c0 : NULL, y[v], hn[v], lstm ? cn[v] : NULL, 1,
                                       &err), &err);
            CHECK_OK(recur_rnn_backward(rnn, dy, NULL, NULL, dx[v], dh0[v], lstm ? dc0[v] : NULL, &err), &err);
            ng = 0;
            for (int k = 0; k < recur_rnn_param_count(rnn); k++) {
                recur_param q = recur_rnn_param(rnn, k);
                size_t n = (size_t)q.shape[0] * (q.ndim == 2 ? q.shape[1] : 1);
                memcpy(grads[v] + ng, q.grad, n * sizeof(float));
                ng += n;
            }
            recur_rnn_free(rnn);
        }
        double e = 0;
#define OFF(a, n) for (size_t i = 0; i < (size_t)(n); i++) e = fmax(e, isnan(a[1][i]) ? 1e9 : fabs(a[0][i] - a[1][i]) / fmax(1.0, fabs(a[0][i])))
        OFF(y, T * B * D * H);
        OFF(hn, D * B * H);
        OFF(dx, T * B * I);
        OFF(dh0, D * B * H);
        OFF(grads, ng);
        if (lstm) {
            OFF(cn, D * B * H);
            OFF(dc0, D * B * H);
        }
#undef OFF
        CHECK_MSG(e <= 1e-5, "%s at two threads off one by %g", recur_cell_name(cells[c]), e);
    }
}

/*
 * Large recurrent weights (LSTM-256: 1 MB) choose the units split on their
 * own at two threads. Its barrier reads the stop flag for both threads: a
 * flag raised before the pass must end it (stack_ws_stopped) without either
 * thread left waiting at the next step's barrier, and with the flag down
 * the pass must answer as one thread does.
 */
static void units_split_chosen_and_stoppable(void)
{
    enum { T = 6, B = 8, I = 5, H = 256 };
    stack st;
    recur_error err;
    CHECK_OK(stack_init(&st, RECUR_CELL_LSTM, I, H, 1, 1, 0.0f, &err), &err);
    const size_t nw = stack_num_weights(&st);
    float *w = malloc(nw * sizeof *w), *g = calloc(nw, sizeof *g);
    static float x[T * B * I], y[2][T * B * H];
    recur_rng r;
    recur_rng_seed(&r, 3);
    for (int i = 0; i < T * B * I; i++) x[i] = 2.0f * recur_rng_uniform(&r) - 1.0f;
    st.w = w;
    st.g = g;
    stack_init_weights(&st, &r);
    int32_t len[B];
    for (int b = 0; b < B; b++) len[b] = T;
    pack p = {0};
    CHECK_OK(pack_build(&p, B, len, &err), &err);
    pool *pl = NULL;
    CHECK_OK(pool_create(2, &pl, &err), &err);
    for (int v = 0; v < 3; v++) {
        /* v 0: one thread; 1: two threads, flag down; 2: flag raised */
        stack_ws *ws = NULL;
        CHECK_OK(stack_ws_create(&st, p.N, B, 0, &ws, &err), &err);
        if (!ws) break;
        if (v > 0) CHECK_OK(stack_ws_set_pool(ws, pl, &err), &err);
        volatile sig_atomic_t stop = v == 2;
        stack_ws_set_stop(ws, &stop);
        float *out = (float *)stack_ws_output(ws);
        memset(out, 0xff, sizeof y[0]); /* NaN: what is not written shows */
        stack_forward(&st, ws, &p, x, NULL, NULL, NULL, NULL, 0, NULL);
        CHECK(stack_ws_stopped(ws) == (v == 2));
        /* Stopped: the last step is never made; else every row is. */
        CHECK(isnan(out[(T - 1) * B * H]) == (v == 2));
        if (v < 2) memcpy(y[v], stack_ws_output(ws), sizeof y[v]);
        stack_ws_free(ws);
    }
    double dy = 0;
    for (int i = 0; i < T * B * H; i++) dy = fmax(dy, fabs(y[0][i] - y[1][i]));
    CHECK_MSG(dy <= 1e-5, "two threads off one by %g", dy);
    pool_free(pl);
    pack_free(&p);
    free(w);
    free(g);
}

/*
 * A batch of full-length sequences goes through recur_rnn without copies
 * between padded and packed rows; it must answer as the same sequences in
 * a batch padded to one step more (which takes the copying path): y, hn, dx
 * and the parameter gradients, inference and training.
 */
static void full_length_batch_matches_padded(void)
{
    enum { T = 5, B = 6, I = 7, H = 16 };
    recur_rng r;
    recur_rng_seed(&r, 23);
    static float x[T * B * I], xp[(T + 1) * B * I], dy[T * B * H], dyp[(T + 1) * B * H];
    static float y[T * B * H], yp[(T + 1) * B * H], dx[T * B * I], dxp[(T + 1) * B * I], hn[B * H], hnp[B * H];
    for (int i = 0; i < T * B * I; i++) x[i] = xp[i] = 2.0f * recur_rng_uniform(&r) - 1.0f;
    for (int i = 0; i < T * B * H; i++) dy[i] = dyp[i] = recur_rng_uniform(&r) - 0.5f;
    int32_t len[B];
    for (int b = 0; b < B; b++) len[b] = T;
    for (int c = 0; c < 3; c++) {
        recur_rnn_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.cell = c == 0 ? RECUR_CELL_RNN_TANH : c == 1 ? RECUR_CELL_LSTM : RECUR_CELL_GRU;
        cfg.input_size = I;
        cfg.hidden = H;
        cfg.layers = 1;
        cfg.seed = 9;
        recur_rnn *a = NULL, *b = NULL;
        recur_error err;
        CHECK_OK(recur_rnn_create(&cfg, &a, &err), &err);
        CHECK_OK(recur_rnn_create(&cfg, &b, &err), &err);
        if (!a || !b) goto next;
        for (int train = 0; train < 2; train++) {
            CHECK_OK(recur_rnn_forward(a, T, B, x, NULL, NULL, NULL, y, hn, NULL, train, &err), &err);
            CHECK_OK(recur_rnn_forward(b, T + 1, B, xp, len, NULL, NULL, yp, hnp, NULL, train, &err), &err);
            CHECK(memcmp(y, yp, sizeof y) == 0 && memcmp(hn, hnp, sizeof hn) == 0);
        }
        recur_rnn_zero_grad(a);
        recur_rnn_zero_grad(b);
        CHECK_OK(recur_rnn_backward(a, dy, NULL, NULL, dx, NULL, NULL, &err), &err);
        CHECK_OK(recur_rnn_backward(b, dyp, NULL, NULL, dxp, NULL, NULL, &err), &err);
        CHECK_MSG(memcmp(dx, dxp, sizeof dx) == 0, "%s: dx differs", recur_cell_name(cfg.cell));
        for (int k = 0; k < recur_rnn_param_count(a); k++) {
            recur_param pa = recur_rnn_param(a, k), pb = recur_rnn_param(b, k);
            size_t n = (size_t)pa.shape[0] * (pa.ndim == 2 ? (size_t)pa.shape[1] : 1);
            CHECK_MSG(memcmp(pa.grad, pb.grad, n * sizeof(float)) == 0, "%s: gradient of %s differs",
                      recur_cell_name(cfg.cell), pa.name);
        }
    next:
        recur_rnn_free(a);
        recur_rnn_free(b);
    }
}

const test_case tests_kernels[] = {
    {"full_length_batch_matches_padded", full_length_batch_matches_padded},
    {"units_split_matches_one_thread", units_split_matches_one_thread},
    {"units_split_chosen_and_stoppable", units_split_chosen_and_stoppable},
    {"two_threads_train_as_one", two_threads_train_as_one},
    {"colsums_match_generic", colsums_match_generic},
    {"cell_backwards_match_generic", cell_backwards_match_generic},
    {"packed_gemm_matches_reference", packed_gemm_matches_reference},
    {"blocked_gemm_matches_reference", blocked_gemm_matches_reference},
    {"activations_match_libm", activations_match_libm},
    {"level_names_and_caps", level_names_and_caps},
    {NULL, NULL},
};
