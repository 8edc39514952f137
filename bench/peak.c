/*
 * The machine's peak, measured: an FMA-throughput loop at the widest vector
 * width the CPU has (chosen at run time), on 1..n threads at once, and a
 * large SGEMM through OpenBLAS (the library recur and PyTorch both call).
 */
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

double peak_fma_avx512(long iters, float *sink);
double peak_fma_avx2(long iters, float *sink);

/* Baseline: 4-lane multiply and add, written so that the compiler keeps
 * eight independent chains (no FMA in the baseline instruction set). */
static double peak_fma_base(long iters, float *sink)
{
    float a[8][4];
    for (int j = 0; j < 8; j++)
        for (int l = 0; l < 4; l++) a[j][l] = 0.5f + 0.1f * (float)(j + l);
    for (long i = 0; i < iters; i++)
        for (int j = 0; j < 8; j++)
            for (int l = 0; l < 4; l++) a[j][l] = a[j][l] * 0.9999f + 0.0001f;
    for (int j = 0; j < 8; j++)
        for (int l = 0; l < 4; l++) *sink += a[j][l];
    return (double)iters * 8 * 4 * 2;
}

typedef double (*fma_fn)(long, float *);

typedef struct fma_ctx {
    fma_fn fn;
    long iters;
    int threads;
    pthread_barrier_t bar;
} fma_ctx;

typedef struct fma_arg {
    fma_ctx *c;
    double flops;
    float sink;
} fma_arg;

static void *fma_thread(void *p)
{
    fma_arg *a = p;
    pthread_barrier_wait(&a->c->bar);
    a->flops = a->c->fn(a->c->iters, &a->sink);
    return NULL;
}

/* One call: every thread runs the loop at once; the wall time counts. */
static int fma_call(void *ctx, double *units, double *flops, recur_error *err)
{
    fma_ctx *c = ctx;
    pthread_t th[8];
    fma_arg args[8];
    int n = c->threads > 8 ? 8 : c->threads;
    pthread_barrier_init(&c->bar, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        args[i] = (fma_arg){c, 0, 0};
        if (i > 0 && pthread_create(&th[i], NULL, fma_thread, &args[i]) != 0) {
            snprintf(err->message, sizeof err->message, "pthread_create failed");
            return -1;
        }
    }
    fma_thread(&args[0]);
    for (int i = 1; i < n; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&c->bar);
    for (int i = 0; i < n; i++) {
        *flops += args[i].flops;
        *units += args[i].flops;
        if (args[i].sink == 12345.0f) fputc(' ', stderr); /* keep the result alive */
    }
    return 0;
}

typedef struct gemm_ctx {
    int M, N, K, transb;
    float *A, *B, *C;
} gemm_ctx;

static int gemm_call(void *ctx, double *units, double *flops, recur_error *err)
{
    gemm_ctx *g = ctx;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, g->transb ? CblasTrans : CblasNoTrans, g->M, g->N, g->K,
                1.0f, g->A, g->K, g->B, g->transb ? g->K : g->N, 0.0f, g->C, g->N);
    double f = 2.0 * g->M * g->N * g->K;
    *flops += f;
    *units += f;
    return 0;
}

static int gemm_init(gemm_ctx *g, int M, int N, int K, int transb)
{
    *g = (gemm_ctx){M, N, K, transb, NULL, NULL, NULL};
    g->A = malloc((size_t)M * K * sizeof(float));
    g->B = malloc((size_t)K * N * sizeof(float));
    g->C = malloc((size_t)M * N * sizeof(float));
    if (!g->A || !g->B || !g->C) return -1;
    uint32_t s = 12345;
    for (size_t i = 0; i < (size_t)M * K; i++) g->A[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
    for (size_t i = 0; i < (size_t)K * N; i++) g->B[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
    memset(g->C, 0, (size_t)M * N * sizeof(float));
    return 0;
}

static void gemm_free(gemm_ctx *g)
{
    free(g->A);
    free(g->B);
    free(g->C);
}

/* The SGEMM again in a child process without OPENBLAS_CORETYPE. */
static void native_sgemm(const bench_opts *o, peak_info *p)
{
    char self[1024], cmd[2048], list[64] = "";
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0 || memchr(self, '\'', (size_t)n)) return;
    self[n] = 0;
    for (int t = 0; t < o->n_threads; t++) {
        size_t k = strlen(list);
        snprintf(list + k, sizeof list - k, "%s%d", t ? "," : "", o->threads[t]);
    }
    snprintf(cmd, sizeof cmd, "env -u OPENBLAS_CORETYPE '%s' --sgemm-child --threads %s --trials %d --trial-time %g --warmup %g",
             self, list, o->trials, o->trial_s, o->warm_s);
    FILE *f = popen(cmd, "r");
    if (!f) return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        int threads, used = 0;
        char core[64];
        if (sscanf(line, "sgemm %d %63s%n", &threads, core, &used) != 2) continue;
        double v[MAX_TRIALS];
        int nv = 0;
        char *s = line + used, *end;
        for (double x = strtod(s, &end); end != s && nv < MAX_TRIALS; x = strtod(s, &end)) {
            v[nv++] = x;
            s = end;
        }
        for (int t = 0; t < o->n_threads; t++) {
            if (o->threads[t] != threads || nv == 0) continue;
            p->sgemm_native[t] = stat_of(v, nv);
            if (p->sgemm_native[t].median > p->peak[t]) p->peak[t] = p->sgemm_native[t].median;
            p->have_native = 1;
            snprintf(p->native_core, sizeof p->native_core, "%s", core);
            progress("peak: SGEMM 2048^3 on OpenBLAS's own core choice (%s), %d thread(s): %.1f GFLOP/s", core,
                     threads, p->sgemm_native[t].median);
        }
    }
    pclose(f);
}

static stat gflops_stat(const measured *m)
{
    return stat_of(m->gflops, m->trials);
}

int peak_run(const bench_opts *o, peak_info *p)
{
    memset(p, 0, sizeof *p);
    fma_fn wide = peak_fma_base, next = NULL;
    p->fma_isa = "sse (mul+add)";
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        wide = peak_fma_avx512;
        p->fma_isa = "avx512";
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
            next = peak_fma_avx2;
            p->fma2_isa = "avx2";
        }
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        wide = peak_fma_avx2;
        p->fma_isa = "avx2";
    }
#endif
    p->have_fma2 = next != NULL;
    recur_error err = {0};
    measured m;
    /* Trials of the peak loops are short: the loop is steady at once. */
    double ts = o->trial_s < 0.2 ? o->trial_s : 0.2;
    for (int t = 0; t < o->n_threads; t++) {
        int n = o->threads[t];
        fma_ctx c = {wide, 1L << 21, n, {{0}}};
        if (measure(fma_call, &c, o, ts, 0, &m, &err) == 0) p->fma[t] = gflops_stat(&m);
        progress("peak: FMA %s, %d thread(s): %.1f GFLOP/s", p->fma_isa, n, p->fma[t].median);
        if (next) {
            c.fn = next;
            if (measure(fma_call, &c, o, ts, 0, &m, &err) == 0) p->fma2[t] = gflops_stat(&m);
            progress("peak: FMA %s, %d thread(s): %.1f GFLOP/s", p->fma2_isa, n, p->fma2[t].median);
        }
    }
    p->sgemm_n = 2048;
    gemm_ctx big, step;
    if (gemm_init(&big, p->sgemm_n, p->sgemm_n, p->sgemm_n, 0) || gemm_init(&step, 64, 2048, 512, 1)) {
        fprintf(stderr, "bench: out of memory for the SGEMM peak\n");
        gemm_free(&big);
        gemm_free(&step);
        return -1;
    }
    int saved = recur_get_threads();
    for (int t = 0; t < o->n_threads; t++) {
        int n = o->threads[t];
        recur_set_threads(n);
        if (measure(gemm_call, &big, o, o->trial_s, 0, &m, &err) == 0) p->sgemm[t] = gflops_stat(&m);
        progress("peak: SGEMM %d^3, %d thread(s): %.1f GFLOP/s", p->sgemm_n, n, p->sgemm[t].median);
        if (measure(gemm_call, &step, o, ts, 0, &m, &err) == 0) p->sgemm_step[t] = gflops_stat(&m);
        progress("peak: SGEMM 64x2048x512, %d thread(s): %.1f GFLOP/s", n, p->sgemm_step[t].median);
    }
    recur_set_threads(saved);
    gemm_free(&big);
    gemm_free(&step);
    snprintf(p->sgemm_core, sizeof p->sgemm_core, "%s", openblas_get_corename());
    for (int t = 0; t < o->n_threads; t++) p->peak[t] = p->sgemm[t].median;
    if (getenv("OPENBLAS_CORETYPE")) native_sgemm(o, p);
    p->have = 1;
    p->runs = 1;
    return 0;
}

int peak_sgemm_child(const bench_opts *o)
{
    gemm_ctx big;
    if (gemm_init(&big, 2048, 2048, 2048, 0)) return 1;
    recur_error err = {0};
    measured m;
    for (int t = 0; t < o->n_threads; t++) {
        recur_set_threads(o->threads[t]);
        if (measure(gemm_call, &big, o, o->trial_s, 0, &m, &err)) return 1;
        printf("sgemm %d %s", o->threads[t], openblas_get_corename());
        for (int k = 0; k < m.trials; k++) printf(" %.3f", m.gflops[k]);
        printf("\n");
        fflush(stdout);
    }
    gemm_free(&big);
    return 0;
}

double peak_sgemm_for(const bench_opts *o, const peak_info *p, int threads)
{
    if (!p->have) return 0;
    for (int t = 0; t < o->n_threads; t++)
        if (o->threads[t] == threads) return p->peak[t];
    return 0;
}

static void take_larger(stat *a, const stat *b, int n)
{
    for (int t = 0; t < n; t++)
        if (b[t].n > 0 && b[t].median > a[t].median) a[t] = b[t];
}

void peak_merge(const bench_opts *o, peak_info *p, const peak_info *q)
{
    if (!q->have) return;
    if (!p->have) {
        *p = *q;
        return;
    }
    int n = o->n_threads;
    take_larger(p->fma, q->fma, n);
    take_larger(p->fma2, q->fma2, n);
    take_larger(p->sgemm, q->sgemm, n);
    take_larger(p->sgemm_step, q->sgemm_step, n);
    if (q->have_native) {
        take_larger(p->sgemm_native, q->sgemm_native, n);
        p->have_native = 1;
        snprintf(p->native_core, sizeof p->native_core, "%s", q->native_core);
    }
    for (int t = 0; t < n; t++)
        if (q->peak[t] > p->peak[t]) p->peak[t] = q->peak[t];
    p->runs++;
}
