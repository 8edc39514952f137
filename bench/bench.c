/*
 * build/bench/bench (`make bench`): recur against PyTorch and against the
 * machine's measured peak, in one run. Prints one table on stdout and
 * writes bench/results.json and bench/results.md; progress goes to stderr.
 * See bench/README.md for the method and how to read the table, and
 * `build/bench/bench --help` for the options.
 */
#include <cblas.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "core/cpu.h"
#include "nn/kernels.h"

static const char *section_name[SEC_COUNT] = {"train", "latency", "bulk", "kernel", "task"};

/* ------------------------------------------------------------------------ */
/* Options                                                                   */
/* ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fputs("usage: build/bench/bench [options]   (make bench BENCH_ARGS=\"options\")\n"
          "  --quick              3 short trials per figure, fewer kernel shapes (a rough look)\n"
          "  --only LIST          sections to run: peak,train,latency,bulk,kernel,task,speech\n"
          "                       (peak comes with train and kernel unless skipped)\n"
          "  --skip LIST          sections to leave out\n"
          "  --cells LIST         rnn_tanh,lstm,gru (also rnn_relu)   [rnn_tanh,lstm,gru]\n"
          "  --hidden LIST        hidden sizes of the names rows      [128,512]\n"
          "  --kernel-hidden LIST hidden sizes of the kernel rows     [128,256,512]\n"
          "  --kernel-steps LIST  steps of the kernel rows            [8,32]\n"
          "  --threads LIST       thread counts                       [1,2]\n"
          "  --dtypes LIST        weights of latency and bulk rows: f32,int8,bf16 [all]\n"
          "  --trials N           timed trials per figure             [5]\n"
          "  --trial-time S       seconds per trial                   [0.2]\n"
          "  --warmup S           seconds of warm-up per figure       [0.1]\n"
          "  --bulk-names N       names per bulk trial at most        [100000]\n"
          "  --bulk-time S        seconds per bulk trial (caps names) [0.5]\n"
          "  --bulk-full          every bulk trial runs all --bulk-names names\n"
          "  --no-torch           leave PyTorch out\n"
          "  --no-dnnl            leave oneDNN out of the kernel rows\n"
          "  --python PATH        [$RECUR_BENCH_PYTHON or /usr/bin/python3]\n"
          "  --torch-script PATH  [bench/torch_ref.py]\n"
          "  --data DIR           names folder [$RECUR_DATA or ../shared/data/names]\n"
          "  --out DIR            where results.json and results.md go [bench]\n"
          "  --seed N             [1]\n",
          f);
}

static int parse_ints(const char *s, int *out, int cap, int lo, int hi)
{
    int n = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < lo || v > hi || n == cap) return -1;
        out[n++] = (int)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return n;
}

/* A comma list of names, each turned into its enum value by parse (a
 * recur_*_parse call, -1 for a name it does not know). */
static int parse_names(const char *s, int *out, int cap, int (*parse)(const char *))
{
    int n = 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        int c = parse(tok);
        if (c < 0 || n == cap) return -1;
        out[n++] = c;
    }
    return n;
}

static int parse_sections(const char *s, int on, bench_opts *o)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (strcmp(tok, "peak") == 0) o->do_peak = on;
        else if (strcmp(tok, "train") == 0) o->do_train = on;
        else if (strcmp(tok, "latency") == 0) o->do_latency = on;
        else if (strcmp(tok, "bulk") == 0) o->do_bulk = on;
        else if (strcmp(tok, "kernel") == 0) o->do_kernel = on;
        else if (strcmp(tok, "task") == 0) o->do_task = on;
        else if (strcmp(tok, "speech") == 0) o->do_speech = on;
        else return -1;
    }
    return 0;
}

static int parse_opts(int argc, char **argv, bench_opts *o)
{
    memset(o, 0, sizeof *o);
    o->trials = 5;
    o->trial_s = 0.2;
    o->warm_s = 0.1;
    o->bulk_trial_s = 0.5;
    o->bulk_names = 100000;
    o->threads[0] = 1, o->threads[1] = 2, o->n_threads = 2;
    o->cells[0] = RECUR_CELL_RNN_TANH, o->cells[1] = RECUR_CELL_LSTM, o->cells[2] = RECUR_CELL_GRU;
    o->n_cells = 3;
    o->dtypes[0] = RECUR_DTYPE_F32, o->dtypes[1] = RECUR_DTYPE_INT8, o->dtypes[2] = RECUR_DTYPE_BF16;
    o->n_dtypes = 3;
    o->hidden[0] = 128, o->hidden[1] = 512, o->n_hidden = 2;
    o->khidden[0] = 128, o->khidden[1] = 256, o->khidden[2] = 512, o->n_khidden = 3;
    o->ksteps[0] = 8, o->ksteps[1] = 32, o->n_ksteps = 2;
    o->do_peak = o->do_train = o->do_latency = o->do_bulk = o->do_kernel = o->do_task = o->do_speech = 1;
    o->torch = 1;
    o->dnnl = 1;
    o->python = getenv("RECUR_BENCH_PYTHON") ? getenv("RECUR_BENCH_PYTHON") : "/usr/bin/python3";
    o->torch_script = "bench/torch_ref.py";
    o->data_dir = getenv("RECUR_DATA") ? getenv("RECUR_DATA") : "../shared/data/names";
    o->out_dir = "bench";
    o->seed = 1;
    o->lat_min_calls = 100;
    /* --quick first, so that explicit options after or before it win. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") != 0) continue;
        o->quick = 1;
        o->trials = 3;
        o->trial_s = 0.08;
        o->warm_s = 0.05;
        o->bulk_trial_s = 0.15;
        o->lat_min_calls = 50;
        o->khidden[0] = 128, o->khidden[1] = 512, o->n_khidden = 2;
        o->ksteps[0] = 32, o->n_ksteps = 1;
    }
    int only = 0, skip_peak = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_ARG()                                                   \
    do {                                                             \
        if (!v) {                                                    \
            fprintf(stderr, "bench: %s needs an argument\n", a);    \
            return -1;                                               \
        }                                                            \
        i++;                                                         \
    } while (0)
        int bad = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--quick") == 0) {
        } else if (strcmp(a, "--only") == 0) {
            NEED_ARG();
            if (!only) o->do_peak = o->do_train = o->do_latency = o->do_bulk = o->do_kernel = o->do_task = o->do_speech = 0;
            only = 1;
            bad = parse_sections(v, 1, o);
        } else if (strcmp(a, "--skip") == 0) {
            NEED_ARG();
            bad = parse_sections(v, 0, o);
            if (!o->do_peak) skip_peak = 1;
        } else if (strcmp(a, "--cells") == 0) {
            NEED_ARG();
            bad = (o->n_cells = parse_names(v, o->cells, 4, recur_cell_parse)) < 1;
        } else if (strcmp(a, "--dtypes") == 0) {
            NEED_ARG();
            bad = (o->n_dtypes = parse_names(v, o->dtypes, 3, recur_dtype_parse)) < 1;
        } else if (strcmp(a, "--hidden") == 0) {
            NEED_ARG();
            bad = (o->n_hidden = parse_ints(v, o->hidden, 4, 1, 8192)) < 1;
        } else if (strcmp(a, "--kernel-hidden") == 0) {
            NEED_ARG();
            bad = (o->n_khidden = parse_ints(v, o->khidden, 4, 1, 8192)) < 1;
        } else if (strcmp(a, "--kernel-steps") == 0) {
            NEED_ARG();
            bad = (o->n_ksteps = parse_ints(v, o->ksteps, 4, 1, 4096)) < 1;
        } else if (strcmp(a, "--threads") == 0) {
            NEED_ARG();
            bad = (o->n_threads = parse_ints(v, o->threads, MAX_THREADS_LIST, 1, 256)) < 1;
        } else if (strcmp(a, "--trials") == 0) {
            NEED_ARG();
            o->trials = atoi(v);
            bad = o->trials < 1 || o->trials > MAX_TRIALS;
        } else if (strcmp(a, "--trial-time") == 0) {
            NEED_ARG();
            o->trial_s = atof(v);
            bad = !(o->trial_s > 0 && o->trial_s < 1000);
        } else if (strcmp(a, "--warmup") == 0) {
            NEED_ARG();
            o->warm_s = atof(v);
            bad = !(o->warm_s >= 0 && o->warm_s < 1000);
        } else if (strcmp(a, "--bulk-names") == 0) {
            NEED_ARG();
            o->bulk_names = atoi(v);
            bad = o->bulk_names < 256;
        } else if (strcmp(a, "--bulk-time") == 0) {
            NEED_ARG();
            o->bulk_trial_s = atof(v);
            bad = !(o->bulk_trial_s > 0);
        } else if (strcmp(a, "--bulk-full") == 0) {
            o->bulk_full = 1;
        } else if (strcmp(a, "--no-torch") == 0) {
            o->torch = 0;
        } else if (strcmp(a, "--no-dnnl") == 0) {
            o->dnnl = 0;
        } else if (strcmp(a, "--dnnl-child") == 0) {
            o->dnnl_child = 1;
        } else if (strcmp(a, "--python") == 0) {
            NEED_ARG();
            o->python = v;
        } else if (strcmp(a, "--torch-script") == 0) {
            NEED_ARG();
            o->torch_script = v;
        } else if (strcmp(a, "--data") == 0) {
            NEED_ARG();
            o->data_dir = v;
        } else if (strcmp(a, "--out") == 0) {
            NEED_ARG();
            o->out_dir = v;
        } else if (strcmp(a, "--sgemm-child") == 0) {
            o->sgemm_child = 1;
        } else if (strcmp(a, "--seed") == 0) {
            NEED_ARG();
            o->seed = strtoull(v, NULL, 10);
        } else {
            fprintf(stderr, "bench: unknown option %s\n", a);
            usage(stderr);
            return -1;
        }
        if (bad) {
            fprintf(stderr, "bench: bad value for %s: %s\n", a, v ? v : "");
            return -1;
        }
#undef NEED_ARG
    }
    /* %peak needs the peak: measured with kernel and training rows unless
     * --skip peak says otherwise. */
    if (!skip_peak && (o->do_kernel || o->do_train)) o->do_peak = 1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The machine                                                               */
/* ------------------------------------------------------------------------ */

typedef struct machine {
    char model[256];
    char flags[4096];
    char mhz[64];
    char cache[64];
    char siblings_list[64];
    int cpus;
} machine;

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = 0;
}

static void cpuinfo_value(const char *line, char *out, size_t cap)
{
    const char *c = strchr(line, ':');
    if (!c) return;
    c++;
    while (*c == ' ' || *c == '\t') c++;
    snprintf(out, cap, "%s", c);
    trim(out);
}

static void machine_read(machine *mc)
{
    memset(mc, 0, sizeof *mc);
    snprintf(mc->model, sizeof mc->model, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        static char line[8192];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "processor", 9) == 0) mc->cpus++;
            else if (mc->cpus == 1 && strncmp(line, "model name", 10) == 0) cpuinfo_value(line, mc->model, sizeof mc->model);
            else if (mc->cpus == 1 && strncmp(line, "flags", 5) == 0) cpuinfo_value(line, mc->flags, sizeof mc->flags);
            else if (mc->cpus == 1 && strncmp(line, "cpu MHz", 7) == 0) cpuinfo_value(line, mc->mhz, sizeof mc->mhz);
            else if (mc->cpus == 1 && strncmp(line, "cache size", 10) == 0) cpuinfo_value(line, mc->cache, sizeof mc->cache);
        }
        fclose(f);
    }
    f = fopen("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list", "r");
    if (f) {
        if (fgets(mc->siblings_list, sizeof mc->siblings_list, f)) trim(mc->siblings_list);
        fclose(f);
    }
}

/* ------------------------------------------------------------------------ */
/* The plan: every row, before anything runs                                 */
/* ------------------------------------------------------------------------ */

/* Task rows (issue 16): LSTM-128 only, dense-input regression and
 * tagging training, in sequence steps per second; target 5x PyTorch. */
static void plan_task(const bench_opts *o, rows *r)
{
    for (int var = 0; var < 2; var++)
        for (int t = 0; t < o->n_threads; t++) {
            row *w = rows_add(r);
            w->section = SEC_TASK;
            w->cell = RECUR_CELL_LSTM;
            w->hidden = 128;
            w->threads = o->threads[t];
            w->steps = var; /* 0 regress, 1 tag (bench/task.c) */
            snprintf(w->id, sizeof w->id, "task/%s/lstm/h128/t%d", var ? "tag" : "regress", w->threads);
            snprintf(w->what, sizeof w->what, "dense %s lstm H=128", var ? "tag" : "regress");
            w->unit = "steps/s";
            w->target = 5;
        }
}

static void plan(const bench_opts *o, int have_names, rows *r)
{
    if (o->do_task) plan_task(o, r);
    for (int sec = 0; sec < SEC_COUNT; sec++) {
        if (sec == SEC_TASK) continue;
        int on = sec == SEC_TRAIN ? o->do_train : sec == SEC_LATENCY ? o->do_latency
                                              : sec == SEC_BULK      ? o->do_bulk
                                                                     : o->do_kernel;
        if (!on || (sec != SEC_KERNEL && !have_names)) continue;
        for (int c = 0; c < o->n_cells; c++) {
            const char *cn = recur_cell_name((recur_cell)o->cells[c]);
            int gated = o->cells[c] == RECUR_CELL_LSTM || o->cells[c] == RECUR_CELL_GRU;
            int nh = sec == SEC_KERNEL ? o->n_khidden : o->n_hidden;
            for (int h = 0; h < nh; h++) {
                int H = sec == SEC_KERNEL ? o->khidden[h] : o->hidden[h];
                int nvar = sec == SEC_KERNEL ? o->n_ksteps * 2 : sec == SEC_LATENCY ? 2 : 1;
                int ndt = sec == SEC_LATENCY || sec == SEC_BULK ? o->n_dtypes : 1;
                for (int q = 0; q < ndt; q++)
                for (int var = 0; var < nvar; var++) {
                    for (int t = 0; t < o->n_threads; t++) {
                        row *w = rows_add(r);
                        w->section = sec;
                        w->cell = o->cells[c];
                        w->hidden = H;
                        w->threads = o->threads[t];
                        w->dtype = sec == SEC_LATENCY || sec == SEC_BULK ? o->dtypes[q] : RECUR_DTYPE_F32;
                        /* "/int8" in ids and "int8" in labels; nothing for fp32. */
                        char dts[8] = "", dtw[8] = "";
                        if (w->dtype) {
                            snprintf(dts, sizeof dts, "/%s", recur_dtype_name((recur_dtype)w->dtype));
                            snprintf(dtw, sizeof dtw, " %s", recur_dtype_name((recur_dtype)w->dtype));
                        }
                        switch (sec) {
                        case SEC_TRAIN:
                            snprintf(w->id, sizeof w->id, "train/%s/h%d/t%d", cn, H, w->threads);
                            snprintf(w->what, sizeof w->what, "%s H=%d", cn, H);
                            w->unit = "names/s";
                            if (gated) w->target = H == 128 ? 10 : H == 512 ? 3 : 0;
                            break;
                        case SEC_LATENCY:
                            w->p99 = var == 1;
                            snprintf(w->id, sizeof w->id, "latency/%s/h%d/t%d%s%s", cn, H, w->threads, dts,
                                     w->p99 ? "/p99" : "");
                            snprintf(w->what, sizeof w->what, "%s H=%d%s %s", cn, H, dtw, w->p99 ? "p99" : "median");
                            w->unit = "us";
                            w->lower_better = 1;
                            /* Reduced weights: 2x lower than fp32 (issue 20). */
                            if (!w->p99) w->target = w->dtype ? 2 : 20;
                            break;
                        case SEC_BULK:
                            snprintf(w->id, sizeof w->id, "bulk/%s/h%d/t%d%s", cn, H, w->threads, dts);
                            snprintf(w->what, sizeof w->what, "%s H=%d%s", cn, H, dtw);
                            w->unit = "names/s";
                            w->target = w->dtype ? 1.5 : 10;
                            break;
                        default:
                            w->steps = o->ksteps[var / 2];
                            w->fwdbwd = var % 2;
                            snprintf(w->id, sizeof w->id, "kernel/%s/h%d/T%d/%s/t%d", cn, H, w->steps,
                                     w->fwdbwd ? "fwdbwd" : "fwd", w->threads);
                            snprintf(w->what, sizeof w->what, "%s H=%d T=%d %s", cn, H, w->steps,
                                     w->fwdbwd ? "fwd+bwd" : "fwd");
                            w->unit = "GFLOP/s";
                            if (w->fwdbwd && H == 512) w->target_peak = 0.6;
                            break;
                        }
                    }
                }
            }
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Derived figures                                                           */
/* ------------------------------------------------------------------------ */

typedef struct derived {
    double speedup;  /* > 1: recur is faster; NAN when a side is missing */
    double frac;     /* recur GFLOP/s / SGEMM peak; NAN when undefined    */
    double fma;      /* recur GFLOP/s / FMA-loop peak; NAN when undefined */
    double dnnl;     /* recur / oneDNN GFLOP/s; NAN when a side is missing */
    const char *status;
} derived;

static derived derive(const bench_opts *o, const peak_info *pk, const row *w)
{
    derived d = {NAN, NAN, NAN, NAN, "-"};
    if (w->recur.have && w->torch.have && w->recur.s.median > 0 && w->torch.s.median > 0)
        d.speedup = w->lower_better ? w->torch.s.median / w->recur.s.median : w->recur.s.median / w->torch.s.median;
    double peak = peak_sgemm_for(o, pk, w->threads);
    if (w->recur.have_gflops && peak > 0) d.frac = w->recur.gflops.median / peak;
    for (int t = 0; t < o->n_threads; t++)
        if (o->threads[t] == w->threads && pk->have && pk->fma[t].median > 0 && w->recur.have_gflops)
            d.fma = w->recur.gflops.median / pk->fma[t].median;
    if (w->recur.have && w->dnnl.have && w->dnnl.s.median > 0) d.dnnl = w->recur.s.median / w->dnnl.s.median;
    if (w->target > 0 && w->dtype) d.status = isnan(w->vs_fp32) || w->vs_fp32 <= 0 ? "n/a" : w->vs_fp32 >= w->target ? "met" : "MISSED";
    else if (w->target > 0) d.status = isnan(d.speedup) ? "n/a" : d.speedup >= w->target ? "met" : "MISSED";
    else if (w->target_peak > 0) d.status = isnan(d.frac) ? "n/a" : d.frac >= w->target_peak ? "met" : "MISSED";
    return d;
}

static void fmt_num(char *out, size_t cap, double v)
{
    if (isnan(v)) snprintf(out, cap, "-");
    else if (fabs(v) >= 100) snprintf(out, cap, "%.0f", v);
    else if (fabs(v) >= 10) snprintf(out, cap, "%.1f", v);
    else snprintf(out, cap, "%.2f", v);
}

static void fmt_figure(char *out, size_t cap, const side *s)
{
    if (!s->have) snprintf(out, cap, "-");
    else fmt_num(out, cap, s->s.median);
}

static void fmt_spread(char *out, size_t cap, const side *s)
{
    if (!s->have) {
        snprintf(out, cap, "-");
        return;
    }
    char a[20], b[20];
    fmt_num(a, sizeof a, s->s.min);
    fmt_num(b, sizeof b, s->s.max);
    snprintf(out, cap, "%s-%s", a, b);
}

static void fmt_target(char *out, size_t cap, const row *w)
{
    if (w->target > 0 && w->dtype) snprintf(out, cap, ">=%gx fp32: %.2fx", w->target, w->vs_fp32);
    else if (w->target > 0) snprintf(out, cap, ">=%gx", w->target);
    else if (w->target_peak > 0) snprintf(out, cap, ">=%.0f%%pk", 100 * w->target_peak);
    else snprintf(out, cap, "-");
}

typedef struct cells_txt {
    char recur[32], rspread[48], torch[32], tspread[48], speedup[32], gflops[32], frac[32], target[32];
    char dnnl[32], dratio[32], fma[32];
} cells_txt;

static void row_text(const row *w, const derived *d, cells_txt *c)
{
    fmt_figure(c->recur, sizeof c->recur, &w->recur);
    fmt_spread(c->rspread, sizeof c->rspread, &w->recur);
    fmt_figure(c->torch, sizeof c->torch, &w->torch);
    fmt_spread(c->tspread, sizeof c->tspread, &w->torch);
    if (isnan(d->speedup)) snprintf(c->speedup, sizeof c->speedup, "-");
    else snprintf(c->speedup, sizeof c->speedup, "%.*fx", d->speedup >= 10 ? 1 : 2, d->speedup);
    if (w->recur.have_gflops) fmt_num(c->gflops, sizeof c->gflops, w->recur.gflops.median);
    else snprintf(c->gflops, sizeof c->gflops, "-");
    if (isnan(d->frac)) snprintf(c->frac, sizeof c->frac, "-");
    else snprintf(c->frac, sizeof c->frac, "%.0f%%", 100 * d->frac);
    fmt_target(c->target, sizeof c->target, w);
    fmt_figure(c->dnnl, sizeof c->dnnl, &w->dnnl);
    if (isnan(d->dnnl)) snprintf(c->dratio, sizeof c->dratio, "-");
    else snprintf(c->dratio, sizeof c->dratio, "%.2fx", d->dnnl);
    if (isnan(d->fma)) snprintf(c->fma, sizeof c->fma, "-");
    else snprintf(c->fma, sizeof c->fma, "%.0f%%", 100 * d->fma);
}

/* ------------------------------------------------------------------------ */
/* Output                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct context {
    const bench_opts *o;
    machine mc;
    peak_info pk;
    char kernels_line[256];
    char blas_line[512];
    char recur_threads[768];
    char torch_info[512];
    char torch_threads[1024];
    char dnnl_info[512];
    char names_line[512];
    char date[64];
    int names_skipped;
    double wall_s;
} context;

static void fmt_stat_line(char *out, size_t cap, const stat *s)
{
    snprintf(out, cap, "%.1f [%.1f-%.1f]", s->median, s->min, s->max);
}

static void print_header(FILE *f, const context *cx, int md)
{
    const bench_opts *o = cx->o;
    const char *b = md ? "- " : "  ";
    if (md) fprintf(f, "# recur benchmark\n\n");
    else fprintf(f, "recur benchmark\n");
    fprintf(f, "%sdate: %s; recur %s; %s mode: %d trials of ~%.2f s after %.2f s of warm-up; medians, spread min-max\n",
            b, cx->date, RECUR_VERSION, o->quick ? "QUICK" : "full", o->trials, o->trial_s, o->warm_s);
    fprintf(f, "%sCPU: %s, %d logical CPUs (thread siblings of cpu0: %s), %s MHz, cache %s\n", b, cx->mc.model,
            cx->mc.cpus, cx->mc.siblings_list[0] ? cx->mc.siblings_list : "?", cx->mc.mhz, cx->mc.cache);
    fprintf(f, "%sflags: %s\n", b, cx->mc.flags);
    fprintf(f, "%srecur kernels: %s\n", b, cx->kernels_line);
    fprintf(f, "%sthreads: recur %s\n", b, cx->recur_threads);
    fprintf(f, "%sOpenBLAS: %s\n", b, cx->blas_line);
    fprintf(f, "%sPyTorch: %s\n", b, cx->torch_info);
    if (cx->torch_threads[0]) fprintf(f, "%sPyTorch threads: %s\n", b, cx->torch_threads);
    if (cx->dnnl_info[0]) fprintf(f, "%soneDNN (kernel rows): %s\n", b, cx->dnnl_info);
    fprintf(f, "%snames: %s\n", b, cx->names_line);
    if (cx->pk.have) {
        if (md) fprintf(f, "\n## Peak (GFLOP/s, median [min-max]%s)\n\n| measure |",
                        cx->pk.runs > 1 ? ", the better of the start and the end of the run" : "");
        else fprintf(f, "\nPeak, GFLOP/s, median [min-max]%s:\n  %-50s",
                     cx->pk.runs > 1 ? ", the better of the start and the end of the run" : "", "");
        for (int t = 0; t < o->n_threads; t++) {
            char th[32];
            snprintf(th, sizeof th, "%d thread%s", o->threads[t], o->threads[t] > 1 ? "s" : "");
            fprintf(f, md ? " %s |" : " %-24s", th);
        }
        if (md) {
            fprintf(f, "\n|---|");
            for (int t = 0; t < o->n_threads; t++) fprintf(f, "---|");
        }
        fputc('\n', f);
        char name[128], cell[64];
        for (int k = 0; k < 6; k++) {
            const stat *s = NULL;
            if (k == 0) {
                snprintf(name, sizeof name, "FMA loop, %s (widest)", cx->pk.fma_isa);
                s = cx->pk.fma;
            } else if (k == 1) {
                if (!cx->pk.have_fma2) continue;
                snprintf(name, sizeof name, "FMA loop, %s", cx->pk.fma2_isa);
                s = cx->pk.fma2;
            } else if (k == 2) {
                snprintf(name, sizeof name, "SGEMM %d^3, OpenBLAS core %s", cx->pk.sgemm_n, cx->pk.sgemm_core);
                s = cx->pk.sgemm;
            } else if (k == 3) {
                if (!cx->pk.have_native) continue;
                snprintf(name, sizeof name, "SGEMM %d^3, core %s (CORETYPE unset)", cx->pk.sgemm_n, cx->pk.native_core);
                s = cx->pk.sgemm_native;
            } else if (k == 4) {
                snprintf(name, sizeof name, "SGEMM 64x2048x512 B^T (LSTM-512 step), %s", cx->pk.sgemm_core);
                s = cx->pk.sgemm_step;
            }
            if (k == 5) snprintf(name, sizeof name, "=> SGEMM peak used for %%peak (the larger)");
            fprintf(f, md ? "| %s |" : "  %-50s", name);
            for (int t = 0; t < o->n_threads; t++) {
                if (s) fmt_stat_line(cell, sizeof cell, &s[t]);
                else snprintf(cell, sizeof cell, "%.1f", cx->pk.peak[t]);
                fprintf(f, md ? " %s |" : " %-24s", cell);
            }
            fputc('\n', f);
        }
    }
}

static const char *TXT_FMT = "%-7s %-30s %3s %-7s %9s %-17s %9s %-17s %8s %7s %6s %8s %-6s %7s %8s %5s\n";

static void print_table(FILE *f, const context *cx, const rows *r, int md)
{
    if (md) {
        fprintf(f, "\n## Results\n\n");
        fprintf(f, "| section | row | thr | unit | recur | recur min-max | PyTorch | PyTorch min-max | speedup | recur GFLOP/s | %% of SGEMM peak | target | status | oneDNN GFLOP/s | recur / oneDNN | %% of FMA peak |\n");
        fprintf(f, "|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|---|---|--:|--:|--:|\n");
    } else {
        fputc('\n', f);
        fprintf(f, TXT_FMT, "section", "row", "thr", "unit", "recur", "recur min-max", "PyTorch", "PyTorch min-max",
                "speedup", "GFLOP/s", "%peak", "target", "status", "oneDNN", "/oneDNN", "%FMA");
    }
    int last_sec = -1;
    for (int i = 0; i < r->n; i++) {
        const row *w = &r->v[i];
        derived d = derive(cx->o, &cx->pk, w);
        cells_txt c;
        row_text(w, &d, &c);
        char thr[8];
        snprintf(thr, sizeof thr, "%d", w->threads);
        if (md) {
            fprintf(f, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
                    section_name[w->section], w->what, thr, w->unit, c.recur, c.rspread, c.torch, c.tspread,
                    c.speedup, c.gflops, c.frac, c.target, d.status, c.dnnl, c.dratio, c.fma);
        } else {
            if (last_sec >= 0 && w->section != last_sec) fputc('\n', f);
            fprintf(f, TXT_FMT, section_name[w->section], w->what, thr, w->unit, c.recur, c.rspread, c.torch,
                    c.tspread, c.speedup, c.gflops, c.frac, c.target, d.status, c.dnnl, c.dratio, c.fma);
        }
        last_sec = w->section;
    }
}

/* The FMA loop on n threads should run n times the 1-thread rate; much
 * less means another process held a core during the peak measurement. */
static void contention_note(FILE *f, const context *cx, const char *b)
{
    const bench_opts *o = cx->o;
    if (!cx->pk.have) return;
    double one = 0;
    for (int t = 0; t < o->n_threads; t++)
        if (o->threads[t] == 1) one = cx->pk.fma[t].median;
    if (one <= 0) return;
    for (int t = 0; t < o->n_threads; t++) {
        int n = o->threads[t];
        if (n < 2 || n > cx->mc.cpus) continue;
        double x = cx->pk.fma[t].median / one;
        if (x < 0.8 * n)
            fprintf(f, "%sWARNING: the FMA loop on %d threads ran only %.2fx its 1-thread rate (ideal %d): another "
                       "process held a core; %d-thread rows and their %%peak are suspect on this run\n",
                    b, n, x, n, n);
    }
}

static void print_summary(FILE *f, const context *cx, const rows *r, int md)
{
    const char *b = md ? "- " : "  ";
    fprintf(f, md ? "\n## Notes\n\n" : "\n");
    contention_note(f, cx, b);
    /* Distinct reasons for missing figures. */
    char seen[16][160];
    int nseen = 0;
    for (int i = 0; i < r->n; i++) {
        const side *ss[3] = {&r->v[i].recur, &r->v[i].torch, &r->v[i].dnnl};
        for (int k = 0; k < 3; k++) {
            if (ss[k]->have || !ss[k]->note[0]) continue;
            int dup = 0;
            for (int j = 0; j < nseen; j++) dup |= strcmp(seen[j], ss[k]->note) == 0;
            if (dup || nseen == 16) continue;
            snprintf(seen[nseen++], sizeof seen[0], "%s", ss[k]->note);
            fprintf(f, "%s%s side missing on %s: %s\n", b, k == 2 ? "oneDNN" : k ? "PyTorch" : "recur", r->v[i].id,
                    ss[k]->note);
        }
    }
    if (cx->names_skipped) fprintf(f, "%s%s\n", b, cx->names_line);
    int met = 0, missed = 0, na = 0;
    for (int i = 0; i < r->n; i++) {
        derived d = derive(cx->o, &cx->pk, &r->v[i]);
        met += strcmp(d.status, "met") == 0;
        missed += strcmp(d.status, "MISSED") == 0;
        na += strcmp(d.status, "n/a") == 0;
    }
    fprintf(f, "%stargets: %d met, %d missed, %d not measurable\n", b, met, missed, na);
    for (int i = 0; i < r->n; i++) {
        const row *w = &r->v[i];
        derived d = derive(cx->o, &cx->pk, w);
        if (strcmp(d.status, "MISSED") != 0) continue;
        if (w->target > 0)
            fprintf(f, "%s  missed: %s %s, %d thread(s): %.2fx of PyTorch, target %gx (%.0f%% of the way)\n", b,
                    section_name[w->section], w->what, w->threads, d.speedup, w->target, 100 * d.speedup / w->target);
        else
            fprintf(f, "%s  missed: %s %s, %d thread(s): %.0f%% of the SGEMM peak, target %.0f%%\n", b,
                    section_name[w->section], w->what, w->threads, 100 * d.frac, 100 * w->target_peak);
    }
    int nd = 0, above = 0;
    double lo = INFINITY, hi = 0;
    for (int i = 0; i < r->n; i++) {
        derived d = derive(cx->o, &cx->pk, &r->v[i]);
        if (isnan(d.dnnl)) continue;
        nd++;
        above += d.dnnl >= 1.0;
        lo = d.dnnl < lo ? d.dnnl : lo;
        hi = d.dnnl > hi ? d.dnnl : hi;
    }
    if (nd)
        fprintf(f, "%soneDNN: recur at or above it on %d of %d kernel rows (recur / oneDNN %.2f to %.2f)\n", b, above,
                nd, lo, hi);
    fprintf(f, "%sspeedup: PyTorch time / recur time (> 1: recur faster); %%peak: recur GFLOP/s / SGEMM peak at the same thread count; %%FMA: recur GFLOP/s / the FMA loop's (widest ISA)\n", b);
    fprintf(f, "%swall time of the benchmark: %.0f s\n", b, cx->wall_s);
}

static cJSON *stat_json(const stat *s)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "median", s->median);
    cJSON_AddNumberToObject(j, "q1", s->q1);
    cJSON_AddNumberToObject(j, "q3", s->q3);
    cJSON_AddNumberToObject(j, "min", s->min);
    cJSON_AddNumberToObject(j, "max", s->max);
    cJSON_AddNumberToObject(j, "n", s->n);
    return j;
}

static cJSON *side_json(const side *s)
{
    if (!s->have) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "missing", s->note[0] ? s->note : "not measured");
        return j;
    }
    cJSON *j = stat_json(&s->s);
    cJSON_AddItemToObject(j, "trials", cJSON_CreateDoubleArray(s->trial, s->n));
    if (s->have_gflops) cJSON_AddItemToObject(j, "gflops", stat_json(&s->gflops));
    cJSON_AddNumberToObject(j, "units_per_trial", s->units);
    cJSON_AddNumberToObject(j, "calls_per_trial", s->reps);
    return j;
}

static cJSON *peak_json(const context *cx, const stat *s)
{
    cJSON *j = cJSON_CreateObject();
    for (int t = 0; t < cx->o->n_threads; t++) {
        char k[16];
        snprintf(k, sizeof k, "%d", cx->o->threads[t]);
        cJSON_AddItemToObject(j, k, stat_json(&s[t]));
    }
    return j;
}

static int write_json(const char *path, const context *cx, const rows *r)
{
    const bench_opts *o = cx->o;
    cJSON *j = cJSON_CreateObject();
    cJSON *m = cJSON_AddObjectToObject(j, "meta");
    cJSON_AddStringToObject(m, "date", cx->date);
    cJSON_AddStringToObject(m, "recur_version", RECUR_VERSION);
    cJSON_AddBoolToObject(m, "quick", o->quick);
    cJSON_AddNumberToObject(m, "trials", o->trials);
    cJSON_AddNumberToObject(m, "trial_s", o->trial_s);
    cJSON_AddNumberToObject(m, "warm_s", o->warm_s);
    cJSON_AddNumberToObject(m, "bulk_trial_s", o->bulk_trial_s);
    cJSON_AddNumberToObject(m, "bulk_names", o->bulk_names);
    cJSON_AddStringToObject(m, "cpu_model", cx->mc.model);
    cJSON_AddNumberToObject(m, "logical_cpus", cx->mc.cpus);
    cJSON_AddStringToObject(m, "cpu_mhz", cx->mc.mhz);
    cJSON_AddStringToObject(m, "core_siblings", cx->mc.siblings_list);
    cJSON_AddStringToObject(m, "cpu_flags", cx->mc.flags);
    cJSON_AddStringToObject(m, "recur_kernels", cx->kernels_line);
    cJSON_AddStringToObject(m, "recur_threads", cx->recur_threads);
    cJSON_AddStringToObject(m, "openblas", cx->blas_line);
    cJSON_AddStringToObject(m, "pytorch", cx->torch_info);
    cJSON_AddStringToObject(m, "pytorch_threads", cx->torch_threads);
    cJSON_AddStringToObject(m, "onednn", cx->dnnl_info);
    cJSON_AddStringToObject(m, "names", cx->names_line);
    cJSON_AddNumberToObject(m, "wall_s", cx->wall_s);
    if (cx->pk.have) {
        cJSON *p = cJSON_AddObjectToObject(j, "peak");
        cJSON_AddStringToObject(p, "fma_isa", cx->pk.fma_isa);
        cJSON_AddItemToObject(p, "fma_gflops", peak_json(cx, cx->pk.fma));
        if (cx->pk.have_fma2) {
            cJSON_AddStringToObject(p, "fma2_isa", cx->pk.fma2_isa);
            cJSON_AddItemToObject(p, "fma2_gflops", peak_json(cx, cx->pk.fma2));
        }
        cJSON_AddNumberToObject(p, "sgemm_n", cx->pk.sgemm_n);
        cJSON_AddItemToObject(p, "sgemm_gflops", peak_json(cx, cx->pk.sgemm));
        cJSON_AddStringToObject(p, "sgemm_core", cx->pk.sgemm_core);
        cJSON_AddItemToObject(p, "sgemm_64x2048x512_gflops", peak_json(cx, cx->pk.sgemm_step));
        if (cx->pk.have_native) {
            cJSON_AddStringToObject(p, "sgemm_native_core", cx->pk.native_core);
            cJSON_AddItemToObject(p, "sgemm_native_gflops", peak_json(cx, cx->pk.sgemm_native));
        }
        cJSON *pp = cJSON_AddObjectToObject(p, "sgemm_peak_used");
        for (int t = 0; t < o->n_threads; t++) {
            char k[16];
            snprintf(k, sizeof k, "%d", o->threads[t]);
            cJSON_AddNumberToObject(pp, k, cx->pk.peak[t]);
        }
    }
    cJSON *a = cJSON_AddArrayToObject(j, "rows");
    for (int i = 0; i < r->n; i++) {
        const row *w = &r->v[i];
        derived d = derive(o, &cx->pk, w);
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "id", w->id);
        cJSON_AddStringToObject(x, "section", section_name[w->section]);
        cJSON_AddStringToObject(x, "row", w->what);
        cJSON_AddStringToObject(x, "cell", recur_cell_name((recur_cell)w->cell));
        cJSON_AddNumberToObject(x, "hidden", w->hidden);
        if (w->section == SEC_KERNEL) {
            cJSON_AddNumberToObject(x, "steps", w->steps);
            cJSON_AddBoolToObject(x, "backward", w->fwdbwd);
        }
        cJSON_AddNumberToObject(x, "threads", w->threads);
        cJSON_AddStringToObject(x, "unit", w->unit);
        cJSON_AddBoolToObject(x, "lower_is_better", w->lower_better);
        cJSON_AddItemToObject(x, "recur", side_json(&w->recur));
        cJSON_AddItemToObject(x, "pytorch", side_json(&w->torch));
        if (w->section == SEC_KERNEL) cJSON_AddItemToObject(x, "onednn", side_json(&w->dnnl));
        if (!isnan(d.dnnl)) cJSON_AddNumberToObject(x, "recur_over_onednn", d.dnnl);
        if (!isnan(d.fma)) cJSON_AddNumberToObject(x, "fraction_of_fma_peak", d.fma);
        if (!isnan(d.speedup)) cJSON_AddNumberToObject(x, "speedup", d.speedup);
        else cJSON_AddNullToObject(x, "speedup");
        if (!isnan(d.frac)) cJSON_AddNumberToObject(x, "fraction_of_sgemm_peak", d.frac);
        else cJSON_AddNullToObject(x, "fraction_of_sgemm_peak");
        if (w->target > 0) cJSON_AddNumberToObject(x, "target_speedup", w->target);
        if (w->target_peak > 0) cJSON_AddNumberToObject(x, "target_fraction_of_peak", w->target_peak);
        cJSON_AddStringToObject(x, "status", d.status);
        cJSON_AddItemToArray(a, x);
    }
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    FILE *f = text ? fopen(path, "w") : NULL;
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f) ok &= fclose(f) == 0;
    free(text);
    return ok ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* Main                                                                      */
/* ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    bench_opts o;
    if (parse_opts(argc, argv, &o)) return 2;
    if (o.sgemm_child) return peak_sgemm_child(&o);
    if (o.dnnl_child) return dnnl_child(&o);
    double t0 = now_s();
    context cx;
    memset(&cx, 0, sizeof cx);
    cx.o = &o;
    time_t now = time(NULL);
    strftime(cx.date, sizeof cx.date, "%Y-%m-%d %H:%M:%S %Z", localtime(&now));
    machine_read(&cx.mc);

    const char *cap = getenv("RECUR_KERNELS");
    snprintf(cx.kernels_line, sizeof cx.kernels_line, "%s (CPU supports %s; RECUR_KERNELS=%s)", kernels_get()->name,
             cpu_level_name(cpu_level_supported()), cap ? cap : "unset");
    int saved = recur_get_threads();
    size_t k = 0;
    k += (size_t)snprintf(cx.recur_threads + k, sizeof cx.recur_threads - k,
                          "at n threads: recur_trainer and recur_rnn get threads = n (their own pool) and OpenBLAS 1 "
                          "(the trainer's convention); bulk inference runs n runners on n threads (one runner per "
                          "thread, as recur.h says) with OpenBLAS 1; single-name latency: one runner, "
                          "recur_set_threads(n). OpenBLAS default %d; recur_set_threads(n) -> recur_get_threads():",
                          saved);
    for (int t = 0; t < o.n_threads; t++) {
        recur_set_threads(o.threads[t]);
        k += (size_t)snprintf(cx.recur_threads + k, sizeof cx.recur_threads - k, " %d->%d", o.threads[t],
                              recur_get_threads());
        if (k >= sizeof cx.recur_threads) break;
    }
    recur_set_threads(saved);
    const char *coretype = getenv("OPENBLAS_CORETYPE"), *obt = getenv("OPENBLAS_NUM_THREADS");
    snprintf(cx.blas_line, sizeof cx.blas_line,
             "%s; core %s (OPENBLAS_CORETYPE=%s); %d procs; default pool %d thread(s) (OPENBLAS_NUM_THREADS=%s)",
             openblas_get_config(), openblas_get_corename(), coretype ? coretype : "unset", openblas_get_num_procs(),
             saved, obt ? obt : "unset");
    progress("CPU %s, %d logical CPUs; recur kernels %s; OpenBLAS %s", cx.mc.model, cx.mc.cpus, kernels_get()->name,
             openblas_get_corename());

    names_data nd;
    memset(&nd, 0, sizeof nd);
    char why[600] = "";
    int need_names = o.do_train || o.do_latency || o.do_bulk;
    int have_names = need_names && names_load(&o, &nd, why, sizeof why) == 0;
    if (have_names)
        snprintf(cx.names_line, sizeof cx.names_line,
                 "%s: %d names, %d labels, %d symbols, %ld tokens (%.2f per name); batches of 64 (training) and 256 (bulk)",
                 o.data_dir, nd.n, nd.num_labels, recur_vocab_size(nd.vocab), nd.tokens,
                 (double)nd.tokens / nd.n);
    else if (need_names) {
        snprintf(cx.names_line, sizeof cx.names_line, "names rows SKIPPED: %.480s", why);
        cx.names_skipped = 1;
    }
    else
        snprintf(cx.names_line, sizeof cx.names_line, "not needed by the sections asked for");
    if (!have_names && need_names) progress("%s", cx.names_line);

    rows r = {0};
    plan(&o, have_names, &r);

    if (o.do_peak) peak_run(&o, &cx.pk);
    if (have_names && o.do_train) names_train_rows(&o, &nd, &r);
    if (have_names && (o.do_latency || o.do_bulk)) names_infer_rows(&o, &nd, &r);
    if (o.do_kernel) kernel_rows(&o, &r);
    if (o.do_kernel && o.dnnl) dnnl_run(&o, &r, cx.dnnl_info, sizeof cx.dnnl_info);
    else if (o.do_kernel) snprintf(cx.dnnl_info, sizeof cx.dnnl_info, "left out (--no-dnnl)");
    if (o.do_task) task_rows(&o, &r);
    recur_set_threads(saved);
    /* Reduced-weight rows against their fp32 row (same id without "/int8"). */
    for (int i = 0; i < r.n; i++) {
        row *w = &r.v[i];
        if (!w->dtype || !w->recur.have) continue;
        char id[80], *at;
        snprintf(id, sizeof id, "%s", w->id);
        if ((at = strstr(id, "/int8")) || (at = strstr(id, "/bf16"))) memmove(at, at + 5, strlen(at + 5) + 1);
        const row *b = rows_find(&r, id);
        if (b && b->recur.have && b->recur.s.median > 0 && w->recur.s.median > 0)
            w->vs_fp32 = w->lower_better ? b->recur.s.median / w->recur.s.median : w->recur.s.median / b->recur.s.median;
    }
    if (r.n) torch_run(&o, &nd, have_names, &r, cx.torch_info, sizeof cx.torch_info, cx.torch_threads,
                       sizeof cx.torch_threads);
    else snprintf(cx.torch_info, sizeof cx.torch_info, "no rows asked for");
    /* The peak again at the end: a core busy with something else at the
     * start would otherwise understate it; each figure keeps the larger. */
    if (o.do_peak && r.n) {
        peak_info again;
        progress("peak, again at the end of the run");
        if (peak_run(&o, &again) == 0) peak_merge(&o, &cx.pk, &again);
    }
    cx.wall_s = now_s() - t0;

    print_header(stdout, &cx, 0);
    print_table(stdout, &cx, &r, 0);
    print_summary(stdout, &cx, &r, 0);
    if (o.do_speech) speech_section(&o);

    char path[1024];
    snprintf(path, sizeof path, "%s/results.json", o.out_dir);
    if (write_json(path, &cx, &r)) fprintf(stderr, "bench: cannot write %s\n", path);
    else progress("wrote %s", path);
    snprintf(path, sizeof path, "%s/results.md", o.out_dir);
    FILE *f = fopen(path, "w");
    if (f) {
        print_header(f, &cx, 1);
        print_table(f, &cx, &r, 1);
        print_summary(f, &cx, &r, 1);
        if (fclose(f)) fprintf(stderr, "bench: cannot write %s\n", path);
        else progress("wrote %s", path);
    } else {
        fprintf(stderr, "bench: cannot write %s\n", path);
    }
    if (have_names) names_free(&nd);
    free(r.v);
    return 0;
}
