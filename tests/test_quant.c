/* Reduced-precision weights: conversions, the kernels of every level
 * against a reference with a stated bound, quantized runners against fp32
 * ones, files (round trip and hostile), training refused. */
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/rng.h"
#include "io/safetensors.h"
#include "nn/quant.h"
#include "test.h"

static float uni(recur_rng *r, float a) { return (2.0f * recur_rng_uniform(r) - 1.0f) * a; }

static void round_trip_bounds(void)
{
    recur_rng r;
    recur_rng_seed(&r, 7);
    enum { N = 37, K = 53 };
    float W[N * K], s[N];
    int8_t q[N * K];
    for (int i = 0; i < N * K; i++) W[i] = uni(&r, (float)(1 + i % 5));
    for (int k = 0; k < K; k++) W[3 * K + k] = 0.0f; /* a zero row: scale 0 */
    quant_rows_int8(N, K, W, q, s);
    CHECK(s[3] == 0.0f);
    for (int n = 0; n < N; n++) {
        float amax = 0;
        for (int k = 0; k < K; k++) amax = fabsf(W[n * K + k]) > amax ? fabsf(W[n * K + k]) : amax;
        CHECK_NEAR(s[n], amax / 127.0f, 1e-7 * amax);
        for (int k = 0; k < K; k++) {
            float back = (float)q[n * K + k] * s[n];
            CHECK_MSG(fabsf(back - W[n * K + k]) <= 0.5f * s[n] * (1 + 1e-5f), "row %d col %d: %g -> %g (scale %g)",
                      n, k, (double)W[n * K + k], (double)back, (double)s[n]);
            CHECK(q[n * K + k] >= -127 && q[n * K + k] <= 127);
        }
    }
    /* bf16 (8 significant bits): nearest even, relative error at most 2^-8. */
    for (int i = 0; i < 1000; i++) {
        float x = uni(&r, 100.0f) * (i % 7 == 0 ? 1e-20f : 1.0f);
        float y = quant_from_bf16(quant_to_bf16(x));
        CHECK_MSG(fabsf(x - y) <= fabsf(x) * (1.0f / 256.0f), "%g -> %g", (double)x, (double)y);
    }
    CHECK(quant_from_bf16(quant_to_bf16(1.0f)) == 1.0f);
    CHECK(quant_to_bf16(1.0f + 1.0f / 256.0f) == 0x3f80); /* a tie goes to even */
    CHECK(quant_to_bf16(1.0f + 3.0f / 256.0f) == 0x3f82);
    CHECK(isnan(quant_from_bf16(quant_to_bf16(NAN))));
}

/*
 * Every kernel level against a double-precision product on the rounded
 * weights. The bound is what rounding the inputs may change: int8 rounds
 * each input row to steps of sa = max|a| / 127, so |y - ref| <= sum_k |w_k|
 * sa / 2; bf16 rounds each input by at most 2^-8 relative. Plus a float
 * summation term. Shapes cover tails of panels (16 rows) and of K (4, 2).
 */
/* RECUR_KERNELS picks the int8 kernel: "-novnni" gives the vpmaddwd path
 * of the level (AVX-512BW at avx512, AVX2 at avx2), generic stays generic. */
static void novnni_dispatch(void)
{
    const char *was = getenv("RECUR_KERNELS");
    char saved[32] = "";
    if (was) snprintf(saved, sizeof saved, "%s", was);
    const int top = cpu_level_supported(), bw = cpu_features() & CPU_AVX512BW;
    const struct { const char *env; int level; const char *want; } cases[] = {
        {"generic", CPU_GENERIC, "generic"},
        {"generic-novnni", CPU_GENERIC, "generic"},
        {"avx2-novnni", CPU_AVX2, "avx2-madd"},
        {"avx512-novnni", CPU_AVX512, bw ? "avx512bw-madd" : "avx2-madd"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].level > top) continue;
        setenv("RECUR_KERNELS", cases[i].env, 1);
        const qkernels *k = qkernels_get();
        CHECK_MSG(strncmp(k->name, cases[i].want, strlen(cases[i].want)) == 0 && cpu_level() == cases[i].level,
                  "RECUR_KERNELS=%s: int8 kernel %s at level %d, expected %s", cases[i].env, k->name, cpu_level(),
                  cases[i].want);
    }
    if (was) setenv("RECUR_KERNELS", saved, 1);
    else unsetenv("RECUR_KERNELS");
}

static void kernels_within_bound(void)
{
    recur_rng r;
    recur_rng_seed(&r, 11);
    const int shapes[][3] = {{1, 16, 4}, {1, 512, 128}, {3, 37, 53}, {5, 70, 129}, {9, 130, 7}, {4, 64, 256}, {2, 1, 1}};
    const qkernels *g = qkernels_level(CPU_GENERIC);
    CHECK(g && strcmp(g->name, "generic") == 0);
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int M = shapes[si][0], N = shapes[si][1], K = shapes[si][2], lda = K + 3, ldc = N + 5;
        float *W = malloc(sizeof(float) * N * K), *A = malloc(sizeof(float) * M * lda), *sc = malloc(sizeof(float) * N);
        float *C0 = malloc(sizeof(float) * M * ldc), *C = malloc(sizeof(float) * M * ldc), *Cg = malloc(sizeof(float) * M * ldc);
        int8_t *q = malloc((size_t)N * K);
        uint16_t *b = malloc(sizeof(uint16_t) * N * K);
        for (int i = 0; i < N * K; i++) W[i] = uni(&r, 0.3f);
        for (int i = 0; i < M * lda; i++) A[i] = uni(&r, 1.0f);
        for (int i = 0; i < M * ldc; i++) C0[i] = uni(&r, 1.0f);
        quant_rows_int8(N, K, W, q, sc);
        for (int i = 0; i < N * K; i++) b[i] = quant_to_bf16(W[i]);
        qmat qi, qb;
        CHECK(qmat_pack(&qi, RECUR_DTYPE_INT8, N, K, q, K, sc) == 0);
        CHECK(qmat_pack(&qb, RECUR_DTYPE_BF16, N, K, b, K, NULL) == 0);
        /* Every level with this CPU's extensions, and again as a CPU
         * without VNNI (the vpmaddwd paths: AVX2, and AVX-512BW if here). */
        for (int v = 0; v < 3 * (CPU_AVX512 + 1); v++) {
            const int level = v / 3, how = v % 3, bw = cpu_features() & CPU_AVX512BW;
            const qkernels *k = how == 0 ? qkernels_level(level)
                                : how == 1 ? qkernels_select(level, 0)
                                           : bw ? qkernels_select(level, CPU_AVX512BW) : NULL;
            if (!k) continue;
            for (int dt = 0; dt < 2; dt++)
                for (int acc = 0; acc < 2; acc++) {
                    const qmat *Q = dt ? &qb : &qi;
                    memcpy(C, C0, sizeof(float) * M * ldc);
                    memcpy(Cg, C0, sizeof(float) * M * ldc);
                    quant_gemm(k, M, A, lda, Q, C, ldc, acc);
                    quant_gemm(g, M, A, lda, Q, Cg, ldc, acc);
                    int bad = 0;
                    /* The int8 sums are exact and scaled alike: every int8
                     * kernel gives the portable one's outputs to the bit. */
                    if (!dt && memcmp(C, Cg, sizeof(float) * M * ldc) != 0) {
                        CHECK_MSG(0, "%s int8 M=%d N=%d K=%d acc=%d: not the generic kernel's bits", k->name, M, N, K, acc);
                        bad = 1;
                    }
                    for (int i = 0; i < M && !bad; i++) {
                        float amax = 0;
                        for (int kk = 0; kk < K; kk++) amax = fabsf(A[i * lda + kk]) > amax ? fabsf(A[i * lda + kk]) : amax;
                        for (int n = 0; n < N && !bad; n++) {
                            double ref = acc ? C0[i * ldc + n] : 0, sw = 0, swa = 0;
                            for (int kk = 0; kk < K; kk++) {
                                double w = dt ? quant_from_bf16(b[n * K + kk]) : (double)q[n * K + kk] * sc[n];
                                ref += w * A[i * lda + kk];
                                sw += fabs(w);
                                swa += fabs(w * A[i * lda + kk]);
                            }
                            double bound = (dt ? swa / 256.0 : sw * amax / 127.0 / 2.0) + 1e-5 * (swa + fabs(ref)) + 1e-6;
                            double y = C[i * ldc + n], yg = Cg[i * ldc + n];
                            if (!(fabs(y - ref) <= bound) || !(fabs(y - yg) <= 1e-5 * (fabs(yg) + swa) + 1e-6)) {
                                CHECK_MSG(0, "%s %s M=%d N=%d K=%d acc=%d: C[%d][%d] = %g, generic %g, reference %g (bound %g)",
                                          k->name, dt ? "bf16" : "int8", M, N, K, acc, i, n, y, yg, ref, bound);
                                bad = 1;
                            }
                        }
                        /* Columns past N untouched. */
                        int past = 0;
                        for (int n = N; n < ldc; n++) past |= C[i * ldc + n] != C0[i * ldc + n];
                        CHECK_MSG(!past, "%s wrote past column %d", k->name, N);
                        bad |= past;
                    }
                }
        }
        qmat_free(&qi);
        qmat_free(&qb);
        free(W), free(A), free(sc), free(C0), free(C), free(Cg), free(q), free(b);
    }
}

/* ------------------------------------------------------------------------ */
/* Models                                                                    */
/* ------------------------------------------------------------------------ */

enum { NSYM = 30, NCLS = 5 };

static recur_model *make_model(recur_cell cell, int hidden, int layers, int bidir, recur_task task)
{
    char *syms[NSYM + 2];
    char buf[NSYM][4];
    for (int i = 0; i < NSYM; i++) {
        snprintf(buf[i], sizeof buf[i], "%c", 'a' + i % 26 - (i >= 26 ? 32 : 0));
        syms[i + 2] = buf[i];
    }
    syms[0] = syms[1] = "";
    recur_vocab *v = NULL;
    recur_error err;
    CHECK_OK(recur_vocab_from_symbols(RECUR_TEXT_UNICODE, (const char *const *)syms, NSYM + 2, &v, &err), &err);
    recur_model_config cfg;
    recur_model_config_default(&cfg);
    cfg.task = task;
    cfg.cell = cell;
    cfg.hidden = hidden;
    cfg.layers = layers;
    cfg.bidirectional = bidir;
    cfg.embed = 12;
    cfg.seed = 3 + (uint64_t)cell;
    const char *labels[NCLS] = {"l0", "l1", "l2", "l3", "l4"};
    recur_model *m = NULL;
    if (v) CHECK_OK(recur_model_create(&cfg, v, labels, NCLS, &m, &err), &err);
    recur_vocab_free(v);
    return m;
}

enum { NSEQ = 23 };

static void make_ids(int32_t *tok, int32_t *off, recur_rng *r)
{
    off[0] = 0;
    for (int i = 0; i < NSEQ; i++) {
        int len = 1 + (int)recur_rng_below(r, 12);
        for (int t = 0; t < len; t++) tok[off[i] + t] = 2 + (int32_t)recur_rng_below(r, NSYM);
        off[i + 1] = off[i] + len;
    }
}

static int classify(const recur_model *m, const int32_t *tok, const int32_t *off, float *lp)
{
    recur_runner *rn = NULL;
    recur_error err;
    CHECK_OK(recur_runner_create(m, NSEQ, &rn, &err), &err);
    if (!rn) return -1;
    recur_status s = recur_runner_classify_ids(rn, tok, off, NSEQ, lp, &err);
    CHECK_OK(s, &err);
    recur_runner_free(rn);
    return s ? -1 : 0;
}

static double max_diff(const float *a, const float *b, int n)
{
    double d = 0;
    for (int i = 0; i < n; i++) d = fabs(a[i] - b[i]) > d ? fabs(a[i] - b[i]) : d;
    return d;
}

/* The runner's kernels are chosen when it is made: RECUR_KERNELS set around
 * the creation caps them (restored after). */
static void with_kernels(const char *name, const recur_model *m, const int32_t *tok, const int32_t *off, float *lp)
{
    const char *was = getenv("RECUR_KERNELS");
    char saved[32] = "";
    if (was) snprintf(saved, sizeof saved, "%s", was);
    setenv("RECUR_KERNELS", name, 1);
    classify(m, tok, off, lp);
    if (was) setenv("RECUR_KERNELS", saved, 1);
    else unsetenv("RECUR_KERNELS");
}

static void with_level(int level, const recur_model *m, const int32_t *tok, const int32_t *off, float *lp)
{
    with_kernels(cpu_level_name(level), m, tok, off, lp);
}

/*
 * A quantized model's runner against the fp32 model's, at every kernel
 * level, for every cell, two bidirectional layers (W_ih of layer 1 on the
 * reduced kernels) and a hidden size off the 16-row panels. Random weights
 * of PyTorch's initialisation; the stated bound on the change of any
 * log-probability: 0.05 (int8), 0.02 (bf16). Levels agree with each other
 * within 1e-2 (int8) and 1e-3 (bf16): the int8 sums are exact, but the
 * activations they read come from each level's own float cell math.
 */
static void runner_matches_fp32(void)
{
    recur_rng r;
    recur_rng_seed(&r, 5);
    int32_t tok[NSEQ * 12], off[NSEQ + 1];
    make_ids(tok, off, &r);
    const recur_cell cells[] = {RECUR_CELL_LSTM, RECUR_CELL_GRU, RECUR_CELL_RNN_TANH};
    /* 37: the products and the cell apart; 48: whole panels, where the
     * AVX-512 kernels fuse the step with its cell (quant_cell_avx512.c). */
    for (int hs = 0; hs < 2; hs++)
    for (int c = 0; c < 3; c++)
        for (int dt = RECUR_DTYPE_INT8; dt <= RECUR_DTYPE_BF16; dt++) {
            const int hidden = hs ? 48 : 37;
            recur_model *f = make_model(cells[c], hidden, 2, 1, RECUR_TASK_CLASSIFY);
            recur_model *q = make_model(cells[c], hidden, 2, 1, RECUR_TASK_CLASSIFY);
            recur_error err;
            if (!f || !q) goto next;
            CHECK(recur_model_dtype(q) == RECUR_DTYPE_F32);
            CHECK_OK(recur_model_quantize(q, (recur_dtype)dt, &err), &err);
            CHECK(recur_model_dtype(q) == (recur_dtype)dt);
            CHECK(recur_model_quantize(q, RECUR_DTYPE_INT8, &err) == RECUR_ERR_UNSUPPORTED);
            float ref[NSEQ * NCLS], lp[NSEQ * NCLS], lp0[NSEQ * NCLS];
            if (classify(f, tok, off, ref)) goto next;
            double bound = dt == RECUR_DTYPE_INT8 ? 0.05 : 0.02;
            /* Levels compute the cells' sigmoid and tanh differently (a few
             * 1e-7 apart); an activation that lands next to a rounding
             * boundary of its int8 step (or bf16) can then round the other
             * way, one step of the scale max|h|/127 on one input: about 1e-3
             * on a log-probability here (rnn_tanh at H=48 moved 2e-3 before
             * the fused kernels). */
            const double level_bound = dt == RECUR_DTYPE_INT8 ? 1e-2 : 1e-3;
            for (int level = CPU_GENERIC; level <= cpu_level_supported(); level++) {
                with_level(level, q, tok, off, level == CPU_GENERIC ? lp0 : lp);
                const float *got = level == CPU_GENERIC ? lp0 : lp;
                double d = max_diff(got, ref, NSEQ * NCLS);
                CHECK_MSG(d <= bound && d > 0, "H=%d %s %s at %s: log-probabilities moved by %g (bound %g)", hidden,
                          recur_cell_name(cells[c]), recur_dtype_name((recur_dtype)dt), cpu_level_name(level), d, bound);
                if (level > CPU_GENERIC) {
                    double e = max_diff(lp, lp0, NSEQ * NCLS);
                    CHECK_MSG(e <= level_bound, "H=%d %s %s: %s differs from generic by %g", hidden, recur_cell_name(cells[c]),
                              recur_dtype_name((recur_dtype)dt), cpu_level_name(level), e);
                    /* The same level as a CPU without VNNI: int8 through
                     * vpmaddwd, the same bits (exact sums). */
                    float lpn[NSEQ * NCLS];
                    char name[32];
                    snprintf(name, sizeof name, "%s-novnni", cpu_level_name(level));
                    with_kernels(name, q, tok, off, lpn);
                    CHECK_MSG(memcmp(lpn, lp, sizeof lp) == 0, "%s %s: %s answers differently from %s",
                              recur_cell_name(cells[c]), recur_dtype_name((recur_dtype)dt), name, cpu_level_name(level));
                }
            }
        next:
            recur_model_free(f);
            recur_model_free(q);
        }
}

/* The step API of a quantized generator against its fp32 original. */
static void step_api_quantized(void)
{
    for (int c = 0; c < 2; c++) {
        recur_cell cell = c ? RECUR_CELL_GRU : RECUR_CELL_LSTM;
        recur_model *f = make_model(cell, 40, 2, 0, RECUR_TASK_GENERATE);
        recur_model *q = make_model(cell, 40, 2, 0, RECUR_TASK_GENERATE);
        recur_error err;
        recur_runner *rf = NULL, *rq = NULL;
        if (f && q) CHECK_OK(recur_model_quantize(q, RECUR_DTYPE_INT8, &err), &err);
        if (f && q) CHECK_OK(recur_runner_create(f, 1, &rf, &err), &err);
        if (f && q) CHECK_OK(recur_runner_create(q, 1, &rq, &err), &err);
        if (rf && rq) {
            int V = NSYM + 2;
            float *a = malloc(sizeof(float) * V), *b = malloc(sizeof(float) * V);
            CHECK_OK(recur_runner_reset(rf, 2, &err), &err);
            CHECK_OK(recur_runner_reset(rq, 2, &err), &err);
            double d = 0;
            for (int t = 0; t < 10; t++) {
                CHECK_OK(recur_runner_step(rf, 2 + t, a, &err), &err);
                CHECK_OK(recur_runner_step(rq, 2 + t, b, &err), &err);
                double e = max_diff(a, b, V);
                d = e > d ? e : d;
            }
            CHECK_MSG(d > 0 && d <= 0.05, "%s step API moved by %g", recur_cell_name(cell), d);
            free(a);
            free(b);
        }
        recur_runner_free(rf);
        recur_runner_free(rq);
        recur_model_free(f);
        recur_model_free(q);
    }
}

/*
 * Weights written through recur_model_param after a runner was made (and
 * after quantizing): recur_model_weights_changed makes the old runner answer
 * as a new one does, for fp32, int8 and bf16, through predict and the step
 * API; a quantized model re-rounds only the rows that changed; a non-finite
 * weight is refused with the model unchanged. Without the call the old
 * runner answered with the old weights (that is what this test catches).
 */
static void weights_changed_refreshes_runners(void)
{
    recur_rng r;
    recur_rng_seed(&r, 21);
    int32_t tok[NSEQ * 12], off[NSEQ + 1];
    make_ids(tok, off, &r);
    for (int dt = RECUR_DTYPE_F32; dt <= RECUR_DTYPE_BF16; dt++)
        for (int c = 0; c < 2; c++) {
            recur_model *m = make_model(c ? RECUR_CELL_GRU : RECUR_CELL_LSTM, 20, 2, 0, RECUR_TASK_CLASSIFY);
            recur_error err;
            recur_runner *old = NULL, *step = NULL;
            if (!m) continue;
            if (dt != RECUR_DTYPE_F32) CHECK_OK(recur_model_quantize(m, (recur_dtype)dt, &err), &err);
            CHECK_OK(recur_runner_create(m, NSEQ, &old, &err), &err);
            CHECK_OK(recur_runner_create(m, 1, &step, &err), &err);
            if (!old || !step) goto next;
            float before[NSEQ * NCLS], after[NSEQ * NCLS], fresh[NSEQ * NCLS], s0[NCLS], s1[NCLS];
            CHECK_OK(recur_runner_classify_ids(old, tok, off, NSEQ, before, &err), &err);
            CHECK_OK(recur_runner_reset(step, 0, &err), &err);
            CHECK_OK(recur_runner_step(step, 3, s0, &err), &err);
            /* Change the embedding (layer 0's tables), layer 0's W_ih, one
             * row of W_hh of layer 1 and the head; remember an untouched
             * quantized tensor (layer 1's W_ih). */
            const float *untouched = NULL;
            float *keep = NULL;
            size_t keep_n = 0;
            int hh_row = -1;
            for (int i = 0; i < recur_model_param_count(m); i++) {
                recur_param p = recur_model_param(m, i);
                size_t n = (size_t)p.shape[0] * (p.ndim == 2 ? (size_t)p.shape[1] : 1);
                if (strcmp(p.name, "embed.weight") == 0 || strcmp(p.name, "rnn.weight_ih_l0") == 0 ||
                    strcmp(p.name, "out.weight") == 0)
                    for (size_t j = 0; j < n; j++) p.data[j] = -1.5f * p.data[j] + 0.01f;
                if (strcmp(p.name, "rnn.weight_hh_l1") == 0) {
                    hh_row = 5;
                    for (int k = 0; k < p.shape[1]; k++) p.data[hh_row * p.shape[1] + k] *= 3.0f;
                }
                if (strcmp(p.name, "rnn.weight_ih_l1") == 0) {
                    untouched = p.data;
                    keep_n = n;
                    keep = malloc(n * sizeof *keep);
                    if (keep) memcpy(keep, p.data, n * sizeof *keep);
                }
            }
            CHECK(hh_row >= 0 && untouched && keep);
            CHECK_OK(recur_model_weights_changed(m, &err), &err);
            if (keep) CHECK_MSG(memcmp(keep, untouched, keep_n * sizeof *keep) == 0, "%s: an untouched tensor moved",
                                recur_dtype_name((recur_dtype)dt));
            CHECK_OK(recur_runner_classify_ids(old, tok, off, NSEQ, after, &err), &err);
            classify(m, tok, off, fresh);
            CHECK_MSG(memcmp(after, fresh, sizeof after) == 0, "%s %s: the old runner still answers with the old weights",
                      recur_dtype_name((recur_dtype)dt), c ? "gru" : "lstm");
            CHECK(max_diff(before, after, NSEQ * NCLS) > 1e-3);
            CHECK_OK(recur_runner_reset(step, 0, &err), &err);
            CHECK_OK(recur_runner_step(step, 3, s1, &err), &err);
            recur_runner *again = NULL;
            float s2[NCLS];
            CHECK_OK(recur_runner_create(m, 1, &again, &err), &err);
            if (again) {
                CHECK_OK(recur_runner_reset(again, 0, &err), &err);
                CHECK_OK(recur_runner_step(again, 3, s2, &err), &err);
                CHECK_MSG(memcmp(s1, s2, sizeof s1) == 0 && max_diff(s0, s1, NCLS) > 1e-4,
                          "%s: the step API did not see the new weights", recur_dtype_name((recur_dtype)dt));
                recur_runner_free(again);
            }
            /* A non-finite weight: refused, nothing changes. */
            if (dt != RECUR_DTYPE_F32) {
                recur_param p = recur_model_param(m, 0);
                for (int i = 0; i < recur_model_param_count(m); i++)
                    if (strcmp(recur_model_param(m, i).name, "out.weight") == 0) p = recur_model_param(m, i);
                float was = p.data[1];
                p.data[1] = NAN;
                CHECK(recur_model_weights_changed(m, &err) == RECUR_ERR_ARG);
                CHECK_MSG(strstr(err.message, "out.weight") && strstr(err.message, "not finite"), "%s", err.message);
                p.data[1] = was;
                CHECK_OK(recur_model_weights_changed(m, &err), &err);
                CHECK_OK(recur_runner_classify_ids(old, tok, off, NSEQ, after, &err), &err);
                CHECK(memcmp(after, fresh, sizeof after) == 0);
            }
            free(keep);
        next:
            recur_runner_free(old);
            recur_runner_free(step);
            recur_model_free(m);
        }
}

static void file_round_trip_and_training_refused(void)
{
    recur_rng r;
    recur_rng_seed(&r, 9);
    int32_t tok[NSEQ * 12], off[NSEQ + 1];
    make_ids(tok, off, &r);
    for (int dt = RECUR_DTYPE_INT8; dt <= RECUR_DTYPE_BF16; dt++) {
        recur_model *q = make_model(RECUR_CELL_GRU, 24, 1, 1, RECUR_TASK_CLASSIFY), *back = NULL;
        recur_error err;
        char path[512];
        snprintf(path, sizeof path, "%s/q%d.safetensors", test_tmpdir(), dt);
        if (!q) continue;
        CHECK_OK(recur_model_quantize(q, (recur_dtype)dt, &err), &err);
        CHECK_OK(recur_model_save(q, path, &err), &err);
        CHECK_OK(recur_model_load(path, &back, &err), &err);
        if (back) {
            CHECK(recur_model_dtype(back) == (recur_dtype)dt);
            float a[NSEQ * NCLS], b[NSEQ * NCLS];
            classify(q, tok, off, a);
            classify(back, tok, off, b);
            CHECK_MSG(memcmp(a, b, sizeof a) == 0, "%s: reloaded model answers differently", recur_dtype_name((recur_dtype)dt));
            /* The file: I8 or BF16 weights, F32 scales beside int8 ones, F32 biases. */
            st_file *f = NULL;
            CHECK_OK(st_read(path, &f, &err), &err);
            if (f) {
                const st_tensor *w = st_find(f, "rnn.weight_hh_l0_reverse"), *s = st_find(f, "rnn.weight_hh_l0_reverse.scale");
                const st_tensor *bias = st_find(f, "rnn.bias_hh_l0"), *head = st_find(f, "out.weight");
                CHECK(w && w->dtype == (dt == RECUR_DTYPE_INT8 ? ST_I8 : ST_BF16));
                CHECK(head && head->dtype == w->dtype);
                CHECK(bias && bias->dtype == ST_F32);
                CHECK(dt == RECUR_DTYPE_INT8 ? s && s->dtype == ST_F32 && s->shape[0] == 72 : s == NULL);
                CHECK(st_meta(f, "quantized") && strcmp(st_meta(f, "quantized"), recur_dtype_name((recur_dtype)dt)) == 0);
                st_free(f);
            }
            /* Training refuses, with one line saying why. */
            recur_train_config tc;
            recur_train_config_default(&tc);
            recur_trainer *t = NULL;
            CHECK_OK(recur_trainer_create(back, &tc, &t, &err), &err);
            int32_t labels[NSEQ] = {0};
            recur_batch bt = {.n = NSEQ, .tokens = tok, .offsets = off, .labels = labels};
            float loss;
            if (t) {
                CHECK(recur_trainer_step(t, &bt, &loss, &err) == RECUR_ERR_UNSUPPORTED);
                CHECK(strstr(err.message, "quantized") != NULL && strchr(err.message, '\n') == NULL);
                char ck[560];
                snprintf(ck, sizeof ck, "%s.ckpt", path);
                CHECK(recur_trainer_save(t, ck, &err) == RECUR_ERR_UNSUPPORTED);
            }
            recur_trainer_free(t);
        }
        recur_model_free(back);
        recur_model_free(q);
    }
}

/* Rewrite a quantized file with one tensor or metadata value changed. */
typedef struct tamper {
    const char *tensor;   /* tensor to change (NULL: none)                  */
    int drop;             /* leave it out                                   */
    int as_f32;           /* write it as F32 zeros of the same count        */
    float value;          /* else: element 0 (scale) / bf16 bits of it      */
    const char *meta_key, *meta_value;
    const char *expect;   /* in the error message                           */
} tamper;

static void check_tamper(const char *good, const tamper *tp, int n)
{
    recur_error err;
    for (int k = 0; k < n; k++) {
        st_file *f = NULL;
        CHECK_OK(st_read(good, &f, &err), &err);
        if (!f) return;
        int nt = st_count(f), nm = st_meta_count(f), o = 0;
        st_out *outs = calloc((size_t)nt, sizeof *outs);
        const char **meta = calloc((size_t)nm * 2, sizeof *meta);
        void **bufs = calloc((size_t)nt, sizeof *bufs);
        for (int i = 0; i < nt; i++) {
            const st_tensor *t = st_get(f, i);
            int hit = tp[k].tensor && strcmp(t->name, tp[k].tensor) == 0;
            if (hit && tp[k].drop) continue;
            st_out *x = &outs[o++];
            x->name = t->name;
            x->dtype = t->dtype;
            x->ndim = t->ndim;
            memcpy(x->shape, t->shape, sizeof x->shape);
            bufs[i] = malloc(t->nbytes * (hit && tp[k].as_f32 ? 4 : 1) + 4);
            memcpy(bufs[i], t->data, t->nbytes);
            if (hit && tp[k].as_f32) {
                x->dtype = ST_F32;
                memset(bufs[i], 0, t->nbytes * 4);
            } else if (hit && t->dtype == ST_F32) {
                memcpy(bufs[i], &tp[k].value, 4);
            } else if (hit && t->dtype == ST_BF16) {
                uint16_t b = quant_to_bf16(tp[k].value);
                memcpy(bufs[i], &b, 2);
            }
            x->data = bufs[i];
        }
        int m = 0;
        for (int i = 0; i < nm; i++) {
            const char *key = st_meta_key(f, i);
            if (strcmp(key, "recur.crc32") == 0) continue;
            meta[2 * m] = key;
            meta[2 * m + 1] = tp[k].meta_key && strcmp(key, tp[k].meta_key) == 0 ? tp[k].meta_value : st_meta(f, key);
            m++;
        }
        char bad[600];
        snprintf(bad, sizeof bad, "%s.bad%d", good, k);
        CHECK_OK(st_write(bad, outs, o, meta, m, &err), &err);
        recur_model *mm = NULL;
        recur_status s = recur_model_load(bad, &mm, &err);
        CHECK_MSG(s == RECUR_ERR_FORMAT && strstr(err.message, tp[k].expect), "tamper %d: status %d, \"%s\" (want \"%s\")", k,
                  (int)s, err.message, tp[k].expect);
        recur_model_free(mm);
        for (int i = 0; i < nt; i++) free(bufs[i]);
        free(bufs);
        free(outs);
        free(meta);
        st_free(f);
    }
}

static void hostile_files_rejected(void)
{
    recur_error err;
    char p8[512], p16[512];
    snprintf(p8, sizeof p8, "%s/h8.safetensors", test_tmpdir());
    snprintf(p16, sizeof p16, "%s/h16.safetensors", test_tmpdir());
    recur_model *a = make_model(RECUR_CELL_LSTM, 20, 2, 0, RECUR_TASK_CLASSIFY);
    recur_model *b = make_model(RECUR_CELL_LSTM, 20, 2, 0, RECUR_TASK_CLASSIFY);
    if (!a || !b) goto done;
    CHECK_OK(recur_model_quantize(a, RECUR_DTYPE_INT8, &err), &err);
    CHECK_OK(recur_model_quantize(b, RECUR_DTYPE_BF16, &err), &err);
    CHECK_OK(recur_model_save(a, p8, &err), &err);
    CHECK_OK(recur_model_save(b, p16, &err), &err);
    const tamper t8[] = {
        {"rnn.weight_hh_l1.scale", 0, 0, NAN, NULL, NULL, "not a finite number"},
        {"rnn.weight_hh_l1.scale", 0, 0, -1.0f, NULL, NULL, "not a finite number >= 0"},
        {"out.weight.scale", 0, 0, INFINITY, NULL, NULL, "out.weight.scale"},
        {"rnn.weight_ih_l0.scale", 1, 0, 0, NULL, NULL, "tensor \"rnn.weight_ih_l0.scale\" is missing"},
        {"rnn.weight_hh_l0", 0, 1, 0, NULL, NULL, "has dtype F32, expected I8"},
        {NULL, 0, 0, 0, "quantized", "int4", "metadata \"quantized\" must be int8 or bf16"},
        {NULL, 0, 0, 0, "quantized", "bf16", "has dtype I8, expected BF16"},
    };
    check_tamper(p8, t8, (int)(sizeof t8 / sizeof t8[0]));
    const tamper t16[] = {
        {"rnn.weight_ih_l1", 0, 0, INFINITY, NULL, NULL, "non-finite value at element 0"},
        {"out.weight", 0, 0, NAN, NULL, NULL, "non-finite"},
        {NULL, 0, 0, 0, "quantized", "f32", "must be int8 or bf16"},
    };
    check_tamper(p16, t16, (int)(sizeof t16 / sizeof t16[0]));
done:
    recur_model_free(a);
    recur_model_free(b);
}

static void dtype_names(void)
{
    CHECK(strcmp(recur_dtype_name(RECUR_DTYPE_INT8), "int8") == 0);
    CHECK(recur_dtype_parse("bf16") == RECUR_DTYPE_BF16);
    CHECK(recur_dtype_parse("f32") == RECUR_DTYPE_F32);
    CHECK(recur_dtype_parse("int4") == -1 && recur_dtype_parse(NULL) == -1);
    recur_error err;
    CHECK(recur_model_quantize(NULL, RECUR_DTYPE_INT8, &err) == RECUR_ERR_ARG);
    recur_model *m = make_model(RECUR_CELL_LSTM, 8, 1, 0, RECUR_TASK_CLASSIFY);
    if (m) CHECK(recur_model_quantize(m, RECUR_DTYPE_F32, &err) == RECUR_ERR_ARG);
    recur_model_free(m);
}

const test_case tests_quant[] = {
    {"round_trip_bounds", round_trip_bounds},
    {"novnni_dispatch", novnni_dispatch},
    {"kernels_within_bound", kernels_within_bound},
    {"runner_matches_fp32", runner_matches_fp32},
    {"step_api_quantized", step_api_quantized},
    {"weights_changed_refreshes_runners", weights_changed_refreshes_runners},
    {"file_round_trip_and_training_refused", file_round_trip_and_training_refused},
    {"hostile_files_rejected", hostile_files_rejected},
    {"dtype_names", dtype_names},
    {NULL, NULL},
};
