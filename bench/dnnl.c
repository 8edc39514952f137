/*
 * Kernel rows, oneDNN side: the same layer as kernel.c (input 64, batch 64,
 * one layer, f32, T steps, zero initial state) through oneDNN's RNN
 * primitive: vanilla tanh RNN, LSTM, and the linear-before-reset GRU (the
 * GRU of PyTorch and of recur). "fwd" rows time forward_inference; "fwd+bwd"
 * rows time forward_training + backward (diff weights zeroed each pass, as
 * recur's gradients are). FLOPs are counted exactly as kernel.c counts them.
 *
 * oneDNN runs in a child process per thread count (this program again with
 * --dnnl-child), OMP_NUM_THREADS = n in its environment: its OpenMP threads
 * then never spin next to recur's, and each count gets a fresh runtime.
 * Weights and biases use the layouts oneDNN prefers (format "any"),
 * reordered into once before timing, as a framework would; the timed call
 * does not reorder them. oneDNN's backward always computes diff_src_layer
 * (recur's kernel row passes dx = NULL), a little more work than counted.
 *
 * Built only when the Makefile found dnnl.h (HAVE_DNNL, libdnnl-dev); the
 * rows then say why oneDNN is missing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#ifndef HAVE_DNNL

void dnnl_run(const bench_opts *o, rows *r, char *info, size_t cap)
{
    (void)o;
    snprintf(info, cap, "not built: dnnl.h was not found when build/bench/bench was compiled "
                        "(apt-get install libdnnl-dev, or `make deps`, then rebuild)");
    for (int i = 0; i < r->n; i++)
        if (r->v[i].section == SEC_KERNEL)
            snprintf(r->v[i].dnnl.note, sizeof r->v[i].dnnl.note, "oneDNN not built (no dnnl.h)");
}

int dnnl_child(const bench_opts *o)
{
    (void)o;
    return 1;
}

#else
#include <dnnl.h>

enum { KB = 64, KI = 64 };

typedef struct dnnl_ctx {
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    dnnl_primitive_t fwd, bwd;
    int nfwd, nbwd;
    dnnl_exec_arg_t fargs[8], bargs[16];
    /* Memories owned here, freed at the end, and the diff weights zeroed
     * before each backward. */
    dnnl_memory_t mem[24];
    int nmem;
    dnnl_memory_t zero[3];
    size_t zero_bytes[3];
    double flops;
} dnnl_ctx;

#define CHECK(call)                                                                    \
    do {                                                                               \
        dnnl_status_t s_ = (call);                                                     \
        if (s_ != dnnl_success) {                                                      \
            snprintf(why, cap, "%s failed: status %d (line %d)", #call, (int)s_, __LINE__); \
            goto fail;                                                                 \
        }                                                                              \
    } while (0)

static void fill(float *v, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        v[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 0.2f;
    }
}

/* A memory of descriptor md, owned by c; filled with small random values
 * when seed != 0 (plain layouts only), else zero. */
static dnnl_memory_t new_mem(dnnl_ctx *c, const dnnl_memory_desc_t *md, uint32_t seed)
{
    dnnl_memory_t m = NULL;
    if (c->nmem == (int)(sizeof c->mem / sizeof c->mem[0])) return NULL;
    if (dnnl_memory_create(&m, md, c->eng, DNNL_MEMORY_ALLOCATE) != dnnl_success) return NULL;
    c->mem[c->nmem++] = m;
    void *p = NULL;
    size_t bytes = dnnl_memory_desc_get_size(md);
    if (dnnl_memory_get_data_handle(m, &p) == dnnl_success && p) {
        if (seed) fill(p, bytes / sizeof(float), seed);
        else memset(p, 0, bytes);
    }
    return m;
}

/* A memory in the layout pd wants for argument arg, holding the values of
 * the plain memory src (a reorder, once, outside the timing). */
static dnnl_memory_t as_wanted(dnnl_ctx *c, const_dnnl_primitive_desc_t pd, int arg, dnnl_memory_t src)
{
    const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
    const dnnl_memory_desc_t *have = NULL;
    if (!want || dnnl_memory_get_memory_desc(src, &have) != dnnl_success) return NULL;
    if (dnnl_memory_desc_equal(want, have)) return src;
    dnnl_memory_t dst = new_mem(c, want, 0);
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t r = NULL;
    int ok = dst && dnnl_reorder_primitive_desc_create(&rpd, have, c->eng, want, c->eng, NULL) == dnnl_success &&
             dnnl_primitive_create(&r, rpd) == dnnl_success;
    if (ok) {
        dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
        ok = dnnl_primitive_execute(r, c->strm, 2, a) == dnnl_success && dnnl_stream_wait(c->strm) == dnnl_success;
    }
    if (r) dnnl_primitive_destroy(r);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    return ok ? dst : NULL;
}

/* A memory in the layout pd wants for arg (zeroed). */
static dnnl_memory_t wanted(dnnl_ctx *c, const_dnnl_primitive_desc_t pd, int arg)
{
    const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
    return want ? new_mem(c, want, 0) : NULL;
}

static void ctx_free(dnnl_ctx *c)
{
    if (c->fwd) dnnl_primitive_destroy(c->fwd);
    if (c->bwd) dnnl_primitive_destroy(c->bwd);
    for (int i = 0; i < c->nmem; i++) dnnl_memory_destroy(c->mem[i]);
    if (c->strm) dnnl_stream_destroy(c->strm);
    if (c->eng) dnnl_engine_destroy(c->eng);
    memset(c, 0, sizeof *c);
}

/* The descriptor of one cell type, forward (bwd = 0) or backward. */
static dnnl_status_t rnn_desc(dnnl_rnn_desc_t *d, int cell, int bwd, dnnl_prop_kind_t prop,
                              const dnnl_memory_desc_t *x, const dnnl_memory_desc_t *wl,
                              const dnnl_memory_desc_t *wi, const dnnl_memory_desc_t *b,
                              const dnnl_memory_desc_t *y, const dnnl_memory_desc_t *dx,
                              const dnnl_memory_desc_t *dwl, const dnnl_memory_desc_t *dwi,
                              const dnnl_memory_desc_t *db, const dnnl_memory_desc_t *dy)
{
    const dnnl_rnn_direction_t dir = dnnl_unidirectional_left2right;
    switch (cell) {
    case RECUR_CELL_LSTM:
        return bwd ? dnnl_lstm_backward_desc_init(d, prop, dir, x, NULL, NULL, wl, wi, b, y, NULL, NULL, dx, NULL,
                                                  NULL, dwl, dwi, db, dy, NULL, NULL, 0)
                   : dnnl_lstm_forward_desc_init(d, prop, dir, x, NULL, NULL, wl, wi, b, y, NULL, NULL, 0);
    case RECUR_CELL_GRU:
        return bwd ? dnnl_lbr_gru_backward_desc_init(d, prop, dir, x, NULL, wl, wi, b, y, NULL, dx, NULL, dwl, dwi,
                                                     db, dy, NULL, 0)
                   : dnnl_lbr_gru_forward_desc_init(d, prop, dir, x, NULL, wl, wi, b, y, NULL, 0);
    default:
        return bwd ? dnnl_vanilla_rnn_backward_desc_init(d, prop, dnnl_eltwise_tanh, dir, x, NULL, wl, wi, b, y,
                                                         NULL, dx, NULL, dwl, dwi, db, dy, NULL, 0, 0.0f, 0.0f)
                   : dnnl_vanilla_rnn_forward_desc_init(d, prop, dnnl_eltwise_tanh, dir, x, NULL, wl, wi, b, y, NULL,
                                                        0, 0.0f, 0.0f);
    }
}

static int ctx_init(dnnl_ctx *c, int cell, int H, int T, int fwdbwd, char *why, size_t cap)
{
    memset(c, 0, sizeof *c);
    const int G = recur_cell_gates((recur_cell)cell), GB = cell == RECUR_CELL_GRU ? 4 : G;
    dnnl_primitive_desc_t fpd = NULL, bpd = NULL;
    dnnl_memory_desc_t x, y, wl, wi, b, wl_any, wi_any, b_any, dwl_any, dwi_any, db_any;
    dnnl_dims_t dx_ = {T, KB, KI}, dy_ = {T, KB, H}, dwl_ = {1, 1, KI, G, H}, dwi_ = {1, 1, H, G, H},
                db_ = {1, 1, GB, H};
    CHECK(dnnl_engine_create(&c->eng, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&c->strm, c->eng, dnnl_stream_default_flags));
    CHECK(dnnl_memory_desc_init_by_tag(&x, 3, dx_, dnnl_f32, dnnl_tnc));
    CHECK(dnnl_memory_desc_init_by_tag(&y, 3, dy_, dnnl_f32, dnnl_tnc));
    CHECK(dnnl_memory_desc_init_by_tag(&wl, 5, dwl_, dnnl_f32, dnnl_ldigo));
    CHECK(dnnl_memory_desc_init_by_tag(&wi, 5, dwi_, dnnl_f32, dnnl_ldigo));
    CHECK(dnnl_memory_desc_init_by_tag(&b, 4, db_, dnnl_f32, dnnl_ldgo));
    CHECK(dnnl_memory_desc_init_by_tag(&wl_any, 5, dwl_, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&wi_any, 5, dwi_, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&b_any, 4, db_, dnnl_f32, dnnl_format_tag_any));
    dwl_any = wl_any, dwi_any = wi_any, db_any = b_any;
    dnnl_rnn_desc_t fd, bd;
    dnnl_prop_kind_t prop = fwdbwd ? dnnl_forward_training : dnnl_forward_inference;
    CHECK(rnn_desc(&fd, cell, 0, prop, &x, &wl_any, &wi_any, &b_any, &y, NULL, NULL, NULL, NULL, NULL));
    CHECK(dnnl_primitive_desc_create(&fpd, &fd, NULL, c->eng, NULL));
    dnnl_memory_t mx = new_mem(c, &x, 1), my = new_mem(c, &y, 0);
    dnnl_memory_t mwl = new_mem(c, &wl, 3), mwi = new_mem(c, &wi, 4), mb = new_mem(c, &b, 5);
    dnnl_memory_t fwl = as_wanted(c, fpd, DNNL_ARG_WEIGHTS_LAYER, mwl), fwi = as_wanted(c, fpd, DNNL_ARG_WEIGHTS_ITER, mwi);
    dnnl_memory_t fb = as_wanted(c, fpd, DNNL_ARG_BIAS, mb);
    if (!mx || !my || !fwl || !fwi || !fb) {
        snprintf(why, cap, "cannot make the forward's memories");
        goto fail;
    }
    int n = 0;
    c->fargs[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC_LAYER, mx};
    c->fargs[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS_LAYER, fwl};
    c->fargs[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS_ITER, fwi};
    c->fargs[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, fb};
    c->fargs[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST_LAYER, my};
    dnnl_memory_t ws = NULL;
    if (fwdbwd) {
        ws = wanted(c, fpd, DNNL_ARG_WORKSPACE);
        if (!ws) {
            snprintf(why, cap, "cannot make the workspace");
            goto fail;
        }
        c->fargs[n++] = (dnnl_exec_arg_t){DNNL_ARG_WORKSPACE, ws};
    }
    c->nfwd = n;
    CHECK(dnnl_primitive_create(&c->fwd, fpd));
    if (fwdbwd) {
        CHECK(rnn_desc(&bd, cell, 1, dnnl_backward, &x, &wl_any, &wi_any, &b_any, &y, &x, &dwl_any, &dwi_any,
                       &db_any, &y));
        CHECK(dnnl_primitive_desc_create(&bpd, &bd, NULL, c->eng, fpd));
        dnnl_memory_t bwl = as_wanted(c, bpd, DNNL_ARG_WEIGHTS_LAYER, mwl);
        dnnl_memory_t bwi = as_wanted(c, bpd, DNNL_ARG_WEIGHTS_ITER, mwi);
        dnnl_memory_t bb = as_wanted(c, bpd, DNNL_ARG_BIAS, mb);
        dnnl_memory_t mdy = new_mem(c, &y, 2), mdx = new_mem(c, &x, 0);
        dnnl_memory_t dwl = wanted(c, bpd, DNNL_ARG_DIFF_WEIGHTS_LAYER);
        dnnl_memory_t dwi = wanted(c, bpd, DNNL_ARG_DIFF_WEIGHTS_ITER);
        dnnl_memory_t db = wanted(c, bpd, DNNL_ARG_DIFF_BIAS);
        if (!bwl || !bwi || !bb || !mdy || !mdx || !dwl || !dwi || !db) {
            snprintf(why, cap, "cannot make the backward's memories");
            goto fail;
        }
        n = 0;
        c->bargs[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC_LAYER, mx};
        c->bargs[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS_LAYER, bwl};
        c->bargs[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS_ITER, bwi};
        c->bargs[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, bb};
        c->bargs[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST_LAYER, my};
        c->bargs[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST_LAYER, mdy};
        c->bargs[n++] = (dnnl_exec_arg_t){DNNL_ARG_WORKSPACE, ws};
        c->bargs[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_SRC_LAYER, mdx};
        c->bargs[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_WEIGHTS_LAYER, dwl};
        c->bargs[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_WEIGHTS_ITER, dwi};
        c->bargs[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_BIAS, db};
        c->nbwd = n;
        dnnl_memory_t z[3] = {dwl, dwi, db};
        for (int k = 0; k < 3; k++) {
            const dnnl_memory_desc_t *md = NULL;
            c->zero[k] = z[k];
            if (dnnl_memory_get_memory_desc(z[k], &md) == dnnl_success) c->zero_bytes[k] = dnnl_memory_desc_get_size(md);
        }
        CHECK(dnnl_primitive_create(&c->bwd, bpd));
    }
    dnnl_primitive_desc_destroy(fpd);
    if (bpd) dnnl_primitive_desc_destroy(bpd);
    c->flops = 2.0 * KB * G * H * (double)(KI + H) * T * (fwdbwd ? 3 : 1);
    return 0;
fail:
    if (fpd) dnnl_primitive_desc_destroy(fpd);
    if (bpd) dnnl_primitive_desc_destroy(bpd);
    ctx_free(c);
    return -1;
}

static int dnnl_call(void *ctx, double *units, double *flops, recur_error *err)
{
    dnnl_ctx *c = ctx;
    dnnl_status_t s = dnnl_primitive_execute(c->fwd, c->strm, c->nfwd, c->fargs);
    if (s == dnnl_success && c->bwd) {
        /* Gradients start from zero each pass, as recur_rnn_zero_grad does. */
        for (int k = 0; k < 3; k++) {
            void *p = NULL;
            if (dnnl_memory_get_data_handle(c->zero[k], &p) == dnnl_success && p) memset(p, 0, c->zero_bytes[k]);
        }
        s = dnnl_primitive_execute(c->bwd, c->strm, c->nbwd, c->bargs);
    }
    if (s == dnnl_success) s = dnnl_stream_wait(c->strm);
    if (s != dnnl_success) {
        snprintf(err->message, sizeof err->message, "dnnl_primitive_execute: status %d", (int)s);
        return -1;
    }
    *flops += c->flops;
    *units += c->flops * 1e-9;
    return 0;
}

/* --dnnl-child: every kernel row at this process's one thread count
 * (o->threads[0]); one line per row: "dnnl ID trial trial ...", or
 * "dnnl ID error MESSAGE". */
int dnnl_child(const bench_opts *o)
{
    const dnnl_version_t *v = dnnl_version();
    printf("dnnlinfo oneDNN %d.%d.%d (cpu runtime %s, ISA %s)\n", v->major, v->minor, v->patch,
           v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other", getenv("ONEDNN_MAX_CPU_ISA") ? getenv("ONEDNN_MAX_CPU_ISA") : "auto");
    fflush(stdout);
    const int n = o->threads[0];
    for (int c = 0; c < o->n_cells; c++)
        for (int h = 0; h < o->n_khidden; h++)
            for (int s = 0; s < o->n_ksteps; s++)
                for (int fb = 0; fb < 2; fb++) {
                    int cell = o->cells[c], H = o->khidden[h], T = o->ksteps[s];
                    char id[64], why[200] = "";
                    snprintf(id, sizeof id, "kernel/%s/h%d/T%d/%s/t%d", recur_cell_name((recur_cell)cell), H, T,
                             fb ? "fwdbwd" : "fwd", n);
                    if (cell == RECUR_CELL_RNN_RELU) {
                        printf("dnnl %s error not measured for rnn_relu\n", id);
                        continue;
                    }
                    dnnl_ctx k;
                    recur_error err = {0};
                    measured ms;
                    if (ctx_init(&k, cell, H, T, fb, why, sizeof why)) {
                        printf("dnnl %s error %s\n", id, why);
                    } else if (measure(dnnl_call, &k, o, o->trial_s, 0, &ms, &err)) {
                        printf("dnnl %s error %.150s\n", id, err.message);
                    } else {
                        printf("dnnl %s", id);
                        for (int t = 0; t < ms.trials; t++) printf(" %.3f", ms.rates[t]);
                        printf("\n");
                    }
                    fflush(stdout);
                    ctx_free(&k);
                }
    return 0;
}

static void list_ints(char *out, size_t cap, const int *v, int n)
{
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        size_t k = strlen(out);
        snprintf(out + k, cap - k, "%s%d", i ? "," : "", v[i]);
    }
}

void dnnl_run(const bench_opts *o, rows *r, char *info, size_t cap)
{
    char self[1024], cells[128] = "", hid[64], steps[64];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    snprintf(info, cap, "skipped: cannot find this program's path");
    if (len <= 0 || memchr(self, '\'', (size_t)len)) return;
    self[len] = 0;
    for (int c = 0; c < o->n_cells; c++) {
        size_t k = strlen(cells);
        snprintf(cells + k, sizeof cells - k, "%s%s", c ? "," : "", recur_cell_name((recur_cell)o->cells[c]));
    }
    list_ints(hid, sizeof hid, o->khidden, o->n_khidden);
    list_ints(steps, sizeof steps, o->ksteps, o->n_ksteps);
    info[0] = 0;
    for (int t = 0; t < o->n_threads; t++) {
        int n = o->threads[t];
        char cmd[2048];
        snprintf(cmd, sizeof cmd,
                 "OMP_NUM_THREADS=%d exec '%s' --dnnl-child --threads %d --cells %s --kernel-hidden %s "
                 "--kernel-steps %s --trials %d --trial-time %g --warmup %g",
                 n, self, n, cells, hid, steps, o->trials, o->trial_s, o->warm_s);
        progress("oneDNN: %d thread(s): OMP_NUM_THREADS=%d %s --dnnl-child ...", n, n, self);
        FILE *f = popen(cmd, "r");
        if (!f) {
            snprintf(info, cap, "skipped: cannot start %s", self);
            return;
        }
        char line[1024];
        while (fgets(line, sizeof line, f)) {
            char id[64];
            int used = 0;
            if (strncmp(line, "dnnlinfo ", 9) == 0) {
                size_t k = strlen(line);
                while (k && line[k - 1] == '\n') line[--k] = 0;
                snprintf(info, cap, "%s, OMP_NUM_THREADS = the row's thread count, one process per count", line + 9);
                continue;
            }
            if (sscanf(line, "dnnl %63s %n", id, &used) != 1) continue;
            row *w = rows_find(r, id);
            if (!w) continue;
            side *s = &w->dnnl;
            if (strncmp(line + used, "error ", 6) == 0) {
                size_t k = strlen(line);
                while (k && line[k - 1] == '\n') line[--k] = 0;
                snprintf(s->note, sizeof s->note, "oneDNN: %.140s", line + used + 6);
                progress("oneDNN kernel %s, %d thread(s): %s", w->what, n, s->note);
                continue;
            }
            char *p = line + used, *end;
            int nv = 0;
            for (double x = strtod(p, &end); end != p && nv < MAX_TRIALS; x = strtod(p, &end)) {
                s->trial[nv++] = x;
                p = end;
            }
            if (!nv) continue;
            s->have = 1;
            s->n = nv;
            s->s = stat_of(s->trial, nv);
            s->gflops = s->s;
            s->have_gflops = 1;
            progress("oneDNN kernel %s, %d thread(s): %.1f GFLOP/s", w->what, n, s->s.median);
        }
        pclose(f);
    }
    if (!info[0]) snprintf(info, cap, "skipped: %s --dnnl-child gave no output", self);
    for (int i = 0; i < r->n; i++) {
        side *s = &r->v[i].dnnl;
        if (r->v[i].section == SEC_KERNEL && !s->have && !s->note[0])
            snprintf(s->note, sizeof s->note, "oneDNN gave no figure");
    }
}
#endif
