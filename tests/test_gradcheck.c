/*
 * Finite-difference gradient checks of the recurrent stack through the
 * public recur_rnn API: every cell x {1, 2 layers} x {uni, bidirectional},
 * ragged lengths including 1, random h0/c0. The loss is
 * sum(y * R) + sum(hn * S) (+ sum(cn * U)), accumulated in double.
 */
#include <string.h>

#include "core/rng.h"
#include "nn/stack.h"
#include "test.h"

enum { T = 5, B = 4, IN = 3, HID = 3, HMAX = 64 };
static const int32_t lengths[B] = {3, 5, 1, 5};

typedef struct problem {
    recur_rnn *rnn;
    int H, LD, DH, lstm, relu;
    float x[T * B * IN], R[T * B * 2 * HMAX];
    float h0[4 * B * HMAX], c0[4 * B * HMAX], S[4 * B * HMAX], U[4 * B * HMAX];
    float y[T * B * 2 * HMAX], hn[4 * B * HMAX], cn[4 * B * HMAX];
} problem;

static void fill(recur_rng *r, float *v, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++) v[i] = scale * (2.0f * recur_rng_uniform(r) - 1.0f);
}

static double loss(problem *P)
{
    recur_error err;
    if (recur_rnn_forward(P->rnn, T, B, P->x, lengths, P->h0, P->lstm ? P->c0 : NULL, P->y,
                          P->hn, P->cn, 0, &err) != RECUR_OK) {
        fprintf(stderr, "forward failed: %s\n", err.message);
        test_failures++;
        return 0;
    }
    double s = 0;
    for (int i = 0; i < T * B * P->DH; i++) s += (double)P->y[i] * P->R[i];
    for (int i = 0; i < P->LD * B * P->H; i++) {
        s += (double)P->hn[i] * P->S[i];
        if (P->lstm) s += (double)P->cn[i] * P->U[i];
    }
    return s;
}

static int kinks; /* coordinates skipped because relu's kink lies within eps */

/* Central difference of the loss in one float; compares with analytic. */
static int check_one(problem *P, float *v, float analytic, const char *what, int idx)
{
    /* relu: a smaller step makes crossing its kink rarer. */
    const float eps = P->relu ? 1e-3f : 1e-2f;
    float keep = *v;
    double l0 = loss(P);
    *v = keep + eps;
    double lp = loss(P);
    *v = keep - eps;
    double lm = loss(P);
    *v = keep;
    double num = (lp - lm) / (2.0 * eps);
    double tol = 2e-3 * (1.0 + fabs(num));
    /* One-sided slopes that disagree mean a relu switched inside the step:
     * the loss is not differentiable there, so the comparison is moot. */
    if (P->relu && fabs((lp - l0) - (l0 - lm)) / eps > 10 * tol) {
        kinks++;
        return 0;
    }
    if (fabs(num - analytic) > tol) {
        fprintf(stderr, "    %s[%d]: numeric %.6g analytic %.6g\n", what, idx, num, (double)analytic);
        return 1;
    }
    return 0;
}

static void gradcheck(recur_cell cell, int layers, int bidir, int hid)
{
    problem *P = calloc(1, sizeof *P);
    recur_error err;
    /* Bidirectional runs use two threads, so the threaded paths are checked. */
    recur_rnn_config cfg = {cell, IN, hid, layers, bidir, 0.0f, 7, bidir ? 2 : 1};
    CHECK_OK(recur_rnn_create(&cfg, &P->rnn, &err), &err);
    if (!P->rnn) {
        free(P);
        return;
    }
    P->LD = layers * (bidir ? 2 : 1);
    P->H = hid;
    P->DH = (bidir ? 2 : 1) * hid;
    P->lstm = cell == RECUR_CELL_LSTM;
    P->relu = cell == RECUR_CELL_RNN_RELU;
    recur_rng r;
    recur_rng_seed(&r, 100 + cell * 10 + layers * 2 + bidir);
    /* Bigger weights than the default init so the nonlinearity matters
     * (0.8 at hidden 3, shrinking as 1/sqrt(hidden) as PyTorch's init does:
     * at 64 sums of 0.8-sized terms saturated every gate and the central
     * difference lost its accuracy). */
    const float scale = 0.8f * sqrtf(3.0f / (float)hid);
    for (int k = 0; k < recur_rnn_param_count(P->rnn); k++) {
        recur_param p = recur_rnn_param(P->rnn, k);
        fill(&r, p.data, (size_t)p.shape[0] * (p.ndim == 2 ? p.shape[1] : 1), scale);
    }
    fill(&r, P->x, sizeof P->x / sizeof *P->x, 1.0f);
    fill(&r, P->R, sizeof P->R / sizeof *P->R, 1.0f);
    fill(&r, P->h0, sizeof P->h0 / sizeof *P->h0, 0.5f);
    fill(&r, P->c0, sizeof P->c0 / sizeof *P->c0, 0.5f);
    fill(&r, P->S, sizeof P->S / sizeof *P->S, 1.0f);
    fill(&r, P->U, sizeof P->U / sizeof *P->U, 1.0f);
    /* Outputs past each end are zero and must stay so. */
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            if (t >= lengths[b]) memset(P->R + (t * B + b) * P->DH, 0, sizeof(float) * P->DH);

    float *dx = calloc(T * B * IN, sizeof *dx), *dh0 = calloc(4 * B * hid, sizeof *dh0);
    float *dc0 = calloc(4 * B * hid, sizeof *dc0);
    recur_rnn_zero_grad(P->rnn);
    CHECK_OK(recur_rnn_forward(P->rnn, T, B, P->x, lengths, P->h0, P->lstm ? P->c0 : NULL, P->y,
                               P->hn, P->cn, 1, &err), &err);
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            for (int j = 0; j < P->DH; j++)
                if (t >= lengths[b]) CHECK(P->y[(t * B + b) * P->DH + j] == 0.0f);
    CHECK_OK(recur_rnn_backward(P->rnn, P->R, P->S, P->lstm ? P->U : NULL, dx, dh0,
                                P->lstm ? dc0 : NULL, &err), &err);
    int bad = 0, checked = 0;
    kinks = 0;
    for (int k = 0; k < recur_rnn_param_count(P->rnn); k++) {
        recur_param p = recur_rnn_param(P->rnn, k);
        int n = p.shape[0] * (p.ndim == 2 ? p.shape[1] : 1);
        for (int i = 0; i < n; i++, checked++) bad += check_one(P, &p.data[i], p.grad[i], p.name, i);
    }
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            for (int i = 0; i < IN; i++) {
                int at = (t * B + b) * IN + i;
                if (t >= lengths[b]) CHECK(dx[at] == 0.0f);
                else bad += check_one(P, &P->x[at], dx[at], "x", at);
            }
    for (int i = 0; i < P->LD * B * hid; i++) {
        bad += check_one(P, &P->h0[i], dh0[i], "h0", i);
        if (P->lstm) bad += check_one(P, &P->c0[i], dc0[i], "c0", i);
    }
    /* Smooth cells never hit a kink; relu rarely. */
    CHECK_MSG(cell == RECUR_CELL_RNN_RELU ? kinks * 10 < checked : kinks == 0, "%d kinks", kinks);
    CHECK_MSG(bad == 0, "%d gradient entries disagree (%s, %d layers, %s)", bad,
              recur_cell_name(cell), layers, bidir ? "bi" : "uni");
    free(dx);
    free(dh0);
    free(dc0);
    recur_rnn_free(P->rnn);
    free(P);
}

#define GC(name, cell, L, D) \
    static void name(void) { gradcheck(cell, L, D, HID); }
GC(rnn_tanh_1_uni, RECUR_CELL_RNN_TANH, 1, 0)
GC(rnn_tanh_2_bi, RECUR_CELL_RNN_TANH, 2, 1)
GC(rnn_tanh_1_bi, RECUR_CELL_RNN_TANH, 1, 1)
GC(rnn_tanh_2_uni, RECUR_CELL_RNN_TANH, 2, 0)
GC(rnn_relu_1_uni, RECUR_CELL_RNN_RELU, 1, 0)
GC(rnn_relu_2_bi, RECUR_CELL_RNN_RELU, 2, 1)
GC(lstm_1_uni, RECUR_CELL_LSTM, 1, 0)
GC(lstm_1_bi, RECUR_CELL_LSTM, 1, 1)
GC(lstm_2_uni, RECUR_CELL_LSTM, 2, 0)
GC(lstm_2_bi, RECUR_CELL_LSTM, 2, 1)
GC(gru_1_uni, RECUR_CELL_GRU, 1, 0)
GC(gru_1_bi, RECUR_CELL_GRU, 1, 1)
GC(gru_2_uni, RECUR_CELL_GRU, 2, 0)
GC(gru_2_bi, RECUR_CELL_GRU, 2, 1)
/* Hidden 16 is a whole block of the fused LSTM and GRU steps
 * (kernels_fused.inc), which AVX-512 then runs in training and inference. */
static void lstm_2_bi_h16(void) { gradcheck(RECUR_CELL_LSTM, 2, 1, 16); }
static void gru_2_bi_h16(void) { gradcheck(RECUR_CELL_GRU, 2, 1, 16); }
/* The plain RNN's fused tile takes four blocks: 64 units. */
static void rnn_tanh_1_uni_h64(void) { gradcheck(RECUR_CELL_RNN_TANH, 1, 0, 64); }

/* Dropout between layers: with the mask held fixed (same RNG state for
 * every evaluation), the gradient is still exact. Checked on the stack. */
static void dropout_gradient_is_exact(void)
{
    recur_error err;
    stack st;
    CHECK_OK(stack_init(&st, RECUR_CELL_GRU, IN, HID, 3, 2, 0.4f, &err), &err);
    size_t n = stack_num_weights(&st);
    float *w = calloc(n, sizeof *w), *g = calloc(n, sizeof *g);
    st.w = w;
    st.g = g;
    recur_rng r;
    recur_rng_seed(&r, 3);
    fill(&r, w, n, 0.8f);
    pack pk = {0};
    CHECK_OK(pack_build(&pk, B, lengths, &err), &err);
    stack_ws *ws = NULL;
    CHECK_OK(stack_ws_create(&st, pk.N, B, 1, &ws, &err), &err);
    float x[T * B * IN], R[T * B * 2 * HID], dx[T * B * IN];
    fill(&r, x, (size_t)pk.N * IN, 1.0f);
    fill(&r, R, (size_t)pk.N * 2 * HID, 1.0f);
    recur_rng mask_rng;
    recur_rng_seed(&mask_rng, 11);
    int bad = 0;
    for (int pass = -1; pass < (int)n + pk.N * IN; pass++) {
        /* pass -1: analytic; then one coordinate per pass (weights, x). */
        if (pass < 0) {
            recur_rng m = mask_rng;
            stack_forward(&st, ws, &pk, x, NULL, NULL, NULL, NULL, 1, &m);
            stack_backward(&st, ws, &pk, x, R, NULL, NULL, dx, NULL, NULL);
            continue;
        }
        float *v = pass < (int)n ? &w[pass] : &x[pass - n];
        float ana = pass < (int)n ? g[pass] : dx[pass - n];
        double l[2];
        float keep = *v;
        for (int s = 0; s < 2; s++) {
            *v = keep + (s ? -1e-2f : 1e-2f);
            recur_rng m = mask_rng;
            stack_forward(&st, ws, &pk, x, NULL, NULL, NULL, NULL, 1, &m);
            const float *y = stack_ws_output(ws);
            l[s] = 0;
            for (int i = 0; i < pk.N * 2 * HID; i++) l[s] += (double)y[i] * R[i];
        }
        *v = keep;
        double num = (l[0] - l[1]) / 2e-2;
        if (fabs(num - ana) > 2e-3 * (1 + fabs(num))) {
            if (bad < 5) fprintf(stderr, "    coordinate %d: numeric %.6g analytic %.6g\n", pass, num, (double)ana);
            bad++;
        }
    }
    CHECK(bad == 0);
    stack_ws_free(ws);
    pack_free(&pk);
    free(w);
    free(g);
}

/* A batch of one gives the same outputs as the same sequence in a batch. */
static void batch_of_one_matches_batch(void)
{
    recur_error err;
    recur_rnn *rnn = NULL;
    recur_rnn_config cfg = {RECUR_CELL_LSTM, IN, HID, 2, 1, 0.0f, 5, 2};
    CHECK_OK(recur_rnn_create(&cfg, &rnn, &err), &err);
    recur_rng r;
    recur_rng_seed(&r, 9);
    float x[T * B * IN], y[T * B * 2 * HID], x1[T * IN], y1[T * 2 * HID];
    fill(&r, x, sizeof x / sizeof *x, 1.0f);
    CHECK_OK(recur_rnn_forward(rnn, T, B, x, lengths, NULL, NULL, y, NULL, NULL, 0, &err), &err);
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) memcpy(x1 + t * IN, x + (t * B + b) * IN, sizeof(float) * IN);
        int32_t len = lengths[b];
        CHECK_OK(recur_rnn_forward(rnn, len, 1, x1, &len, NULL, NULL, y1, NULL, NULL, 0, &err), &err);
        for (int t = 0; t < len; t++)
            for (int j = 0; j < 2 * HID; j++)
                CHECK_NEAR(y1[t * 2 * HID + j], y[(t * B + b) * 2 * HID + j], 1e-6);
    }
    recur_rnn_free(rnn);
}

/* dLoss/dh_t: at each sequence's last step it is dy_t + dhn; before, it
 * also carries what later steps send back; past the end it is zero. With
 * dy = 0 it is exactly the gradient that flows back through time. */
static void state_gradients_are_reported(void)
{
    recur_error err;
    recur_rnn *rnn = NULL;
    recur_rnn_config cfg = {RECUR_CELL_RNN_TANH, IN, HID, 1, 0, 0.0f, 3, 1};
    CHECK_OK(recur_rnn_create(&cfg, &rnn, &err), &err);
    recur_rng r;
    recur_rng_seed(&r, 12);
    float x[T * B * IN], dy[T * B * HID], dhn[B * HID], dh[T * B * HID];
    fill(&r, x, sizeof x / sizeof *x, 1.0f);
    fill(&r, dy, sizeof dy / sizeof *dy, 1.0f);
    fill(&r, dhn, sizeof dhn / sizeof *dhn, 1.0f);
    CHECK(recur_rnn_state_grads(rnn, dh, &err) == RECUR_ERR_ARG);
    CHECK_OK(recur_rnn_forward(rnn, T, B, x, lengths, NULL, NULL, NULL, NULL, NULL, 1, &err), &err);
    CHECK_OK(recur_rnn_backward(rnn, dy, dhn, NULL, NULL, NULL, NULL, &err), &err);
    CHECK_OK(recur_rnn_state_grads(rnn, dh, &err), &err);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int j = 0; j < HID; j++) {
                int at = (t * B + b) * HID + j;
                if (t >= lengths[b]) CHECK(dh[at] == 0.0f);
                else if (t == lengths[b] - 1) CHECK_NEAR(dh[at], dy[at] + dhn[b * HID + j], 1e-6);
            }
    /* The same backward with dy = 0 everywhere but the last step: the
     * earlier dh_t are then pure backpropagation through time, nonzero. */
    memset(dy, 0, sizeof dy);
    CHECK_OK(recur_rnn_forward(rnn, T, B, x, lengths, NULL, NULL, NULL, NULL, NULL, 1, &err), &err);
    CHECK_OK(recur_rnn_backward(rnn, dy, dhn, NULL, NULL, NULL, NULL, &err), &err);
    CHECK_OK(recur_rnn_state_grads(rnn, dh, &err), &err);
    double early = 0;
    for (int j = 0; j < HID; j++) early += fabs(dh[(0 * B + 1) * HID + j]);
    CHECK(early > 0.0);
    recur_rnn_free(rnn);
}

/* y, dx and dh are zero past each end, also at the steps no sequence
 * reaches (every length shorter than T): the buffers are poisoned with NaN
 * first, as a caller reusing them would hold the previous call's values. */
static void padding_past_longest_is_zero(void)
{
    enum { TT = 4, BB = 3, XI = 2 };
    static const int32_t len[BB] = {1, 2, 1}; /* max 2 < TT */
    for (int c = 0; c < 4; c++)
        for (int bi = 0; bi < 2; bi++) {
            recur_error err;
            recur_rnn *rnn = NULL;
            recur_rnn_config cfg = {(recur_cell)c, XI, HID, 2, bi, 0.0f, 7, 1};
            CHECK_OK(recur_rnn_create(&cfg, &rnn, &err), &err);
            if (!rnn) continue;
            int DH = (bi + 1) * HID;
            recur_rng r;
            recur_rng_seed(&r, 21);
            float x[TT * BB * XI], y[TT * BB * 2 * HID], dy[TT * BB * 2 * HID];
            float dx[TT * BB * XI], dh[TT * BB * 2 * HID];
            fill(&r, x, sizeof x / sizeof *x, 1.0f);
            fill(&r, dy, sizeof dy / sizeof *dy, 1.0f);
            for (size_t i = 0; i < sizeof y / sizeof *y; i++) y[i] = dh[i] = NAN;
            for (size_t i = 0; i < sizeof dx / sizeof *dx; i++) dx[i] = NAN;
            CHECK_OK(recur_rnn_forward(rnn, TT, BB, x, len, NULL, NULL, y, NULL, NULL, 1, &err), &err);
            CHECK_OK(recur_rnn_backward(rnn, dy, NULL, NULL, dx, NULL, NULL, &err), &err);
            CHECK_OK(recur_rnn_state_grads(rnn, dh, &err), &err);
            int bad_y = 0, bad_dh = 0, bad_dx = 0, nan_in = 0;
            for (int t = 0; t < TT; t++)
                for (int b = 0; b < BB; b++) {
                    for (int j = 0; j < DH; j++) {
                        float vy = y[(t * BB + b) * DH + j], vh = dh[(t * BB + b) * DH + j];
                        if (t >= len[b]) bad_y += vy != 0.0f, bad_dh += vh != 0.0f;
                        else nan_in += isnan(vy) || isnan(vh);
                    }
                    for (int j = 0; j < XI; j++)
                        if (t >= len[b]) bad_dx += dx[(t * BB + b) * XI + j] != 0.0f;
                }
            CHECK_MSG(bad_y == 0 && bad_dh == 0 && bad_dx == 0 && nan_in == 0,
                      "%s bi=%d: %d y, %d dh, %d dx values past the end not zero, %d NaN inside",
                      recur_cell_name((recur_cell)c), bi, bad_y, bad_dh, bad_dx, nan_in);
            recur_rnn_free(rnn);
        }
}

/* Bias gradients sum every step of every sequence: 2,800 rows here. With
 * zero weights and a positive bias a ReLU cell passes dy straight through
 * (dA = dy), so d b_ih is exactly the sum of dy over the steps, which the
 * test takes in double; recur must round that sum about once (it summed
 * row by row in float, about 30 times the error of one rounding). */
static void bias_gradients_are_summed_accurately(void)
{
    enum { TT = 40, BB = 70, XI = 3, HH = 33 };
    recur_error err;
    recur_rnn *rnn = NULL;
    recur_rnn_config cfg = {RECUR_CELL_RNN_RELU, XI, HH, 1, 0, 0.0f, 3, 1};
    CHECK_OK(recur_rnn_create(&cfg, &rnn, &err), &err);
    if (!rnn) return;
    for (int i = 0; i < recur_rnn_param_count(rnn); i++) {
        recur_param p = recur_rnn_param(rnn, i);
        int n = p.shape[0] * (p.ndim == 2 ? p.shape[1] : 1);
        for (int k = 0; k < n; k++) p.data[k] = strncmp(p.name, "bias_ih", 7) == 0 ? 1.0f : 0.0f;
    }
    static float x[TT * BB * XI], dy[TT * BB * HH];
    int32_t len[BB];
    recur_rng r;
    recur_rng_seed(&r, 31);
    fill(&r, x, sizeof x / sizeof *x, 1.0f);
    for (size_t i = 0; i < sizeof dy / sizeof *dy; i++) dy[i] = recur_rng_uniform(&r);
    for (int b = 0; b < BB; b++) len[b] = 1 + (int32_t)((b * 7919) % TT);
    double want[HH] = {0};
    for (int t = 0; t < TT; t++)
        for (int b = 0; b < BB; b++)
            for (int j = 0; j < HH && t < len[b]; j++) want[j] += dy[(t * BB + b) * HH + j];
    recur_rnn_zero_grad(rnn);
    CHECK_OK(recur_rnn_forward(rnn, TT, BB, x, len, NULL, NULL, NULL, NULL, NULL, 1, &err), &err);
    CHECK_OK(recur_rnn_backward(rnn, dy, NULL, NULL, NULL, NULL, NULL, &err), &err);
    double worst = 0;
    for (int i = 0; i < recur_rnn_param_count(rnn); i++) {
        recur_param p = recur_rnn_param(rnn, i);
        if (strncmp(p.name, "bias_", 5) != 0) continue;
        for (int j = 0; j < HH; j++) {
            double e = fabs(p.grad[j] - want[j]) / want[j];
            if (e > worst) worst = e;
        }
    }
    /* One rounding of float is at most 2^-24 relative; allow two. */
    CHECK_MSG(worst <= 1.2e-7, "worst relative error of a bias gradient %.3g", worst);
    recur_rnn_free(rnn);
}

static void bad_arguments_are_refused(void)
{
    recur_error err;
    recur_rnn *rnn = NULL;
    recur_rnn_config cfg = {RECUR_CELL_GRU, IN, 0, 1, 0, 0.0f, 1, 1};
    CHECK(recur_rnn_create(&cfg, &rnn, &err) == RECUR_ERR_ARG && rnn == NULL);
    CHECK(strstr(err.message, "hidden") != NULL);
    cfg.hidden = 1000000000;
    CHECK(recur_rnn_create(&cfg, &rnn, &err) == RECUR_ERR_ARG);
    cfg.hidden = 4;
    cfg.dropout = 1.0f;
    CHECK(recur_rnn_create(&cfg, &rnn, &err) == RECUR_ERR_ARG);
    cfg.dropout = 0.0f;
    CHECK_OK(recur_rnn_create(&cfg, &rnn, &err), &err);
    float x[2 * IN] = {0};
    int32_t bad_len[1] = {0};
    CHECK(recur_rnn_forward(rnn, 2, 1, x, bad_len, NULL, NULL, NULL, NULL, NULL, 0, &err) == RECUR_ERR_ARG);
    bad_len[0] = 3;
    CHECK(recur_rnn_forward(rnn, 2, 1, x, bad_len, NULL, NULL, NULL, NULL, NULL, 0, &err) == RECUR_ERR_ARG);
    CHECK(recur_rnn_backward(rnn, NULL, NULL, NULL, NULL, NULL, NULL, &err) == RECUR_ERR_ARG);
    recur_rnn_free(rnn);
    recur_rnn_free(NULL);
}

const test_case tests_gradcheck[] = {
    {"rnn_tanh_1_uni", rnn_tanh_1_uni}, {"rnn_tanh_1_bi", rnn_tanh_1_bi},
    {"rnn_tanh_2_uni", rnn_tanh_2_uni}, {"rnn_tanh_2_bi", rnn_tanh_2_bi},
    {"rnn_relu_1_uni", rnn_relu_1_uni}, {"rnn_relu_2_bi", rnn_relu_2_bi},
    {"lstm_1_uni", lstm_1_uni},         {"lstm_1_bi", lstm_1_bi},
    {"lstm_2_uni", lstm_2_uni},         {"lstm_2_bi", lstm_2_bi},
    {"lstm_2_bi_h16", lstm_2_bi_h16},   {"gru_2_bi_h16", gru_2_bi_h16},
    {"rnn_tanh_1_uni_h64", rnn_tanh_1_uni_h64},
    {"gru_1_uni", gru_1_uni},           {"gru_1_bi", gru_1_bi},
    {"gru_2_uni", gru_2_uni},           {"gru_2_bi", gru_2_bi},
    {"dropout_gradient_is_exact", dropout_gradient_is_exact},
    {"batch_of_one_matches_batch", batch_of_one_matches_batch},
    {"state_gradients_are_reported", state_gradients_are_reported},
    {"padding_past_longest_is_zero", padding_past_longest_is_zero},
    {"bias_gradients_are_summed_accurately", bias_gradients_are_summed_accurately},
    {"bad_arguments_are_refused", bad_arguments_are_refused},
    {NULL, NULL},
};
