/*
 * recur experiment cost: what each cell costs per step, and what that buys.
 *
 * A cell with G gates (RNN 1, GRU 3, LSTM 4) has G*H*(I+H) + 2*G*H
 * parameters and does as many multiply-adds per step, so the gate count
 * predicts GRU/LSTM = 3/4 for both; the element-wise work (activations,
 * gate products: a few operations per unit) is left out of the FLOPs. The
 * times are measured on the dense recur_rnn (training: forward and
 * backward through time; inference: forward only), each the best of three
 * runs so that other processes on the machine disturb them less. Then each
 * cell is trained on the names data (exp_names.c) and its held-out
 * accuracy is followed against training time.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exp_common.h"
#include "exp_names.h"

enum { MAX_H = 12, NCOST = 3, NAMES_BATCH = 64 };
static const recur_cell cost_cells[NCOST] = {RECUR_CELL_RNN_TANH, RECUR_CELL_LSTM, RECUR_CELL_GRU};
static const char *const cost_names[NCOST] = {"rnn", "lstm", "gru"};

typedef struct cost_opts {
    const char *sizes, *svg;
    int input, batch, T, names_epochs, names_hidden, no_names, threads, quick, json, quiet;
    double min_time;
    uint64_t seed;
} cost_opts;

typedef struct cost_run {
    cost_opts o;
    int H[MAX_H], nh;
    double params[NCOST][MAX_H], flops[NCOST][MAX_H], train_us[NCOST][MAX_H], infer_us[NCOST][MAX_H];
    exp_names_data *names;
    exp_names_result res[NCOST];
} cost_run;

static const char summary[] =
    "Parameters, FLOPs per step and measured time per step (training: forward and\n"
    "backward; inference: forward) of RNN, LSTM and GRU at several hidden sizes, with\n"
    "the GRU/LSTM ratios next to the 3/4 that their gate counts (3 and 4) predict. Then\n"
    "each cell is trained on the names data (DATA, else $RECUR_DATA, else the tutorial's\n"
    "names fetched into the cache) and its held-out accuracy is followed against\n"
    "training time: what the cost buys. Times are for --threads threads (default 1).";

/* Training and inference time per time step (of the whole batch), in
 * microseconds, for the cells at one hidden size; the best of three. */
static int time_size(cost_run *r, int h, exp_progress *pg)
{
    const cost_opts *o = &r->o;
    const int H = r->H[h], I = o->input, T = o->T, B = o->batch;
    recur_rnn *rnn[NCOST] = {NULL};
    float *x = malloc((size_t)T * B * I * sizeof *x), *y = malloc((size_t)T * B * H * sizeof *y);
    float *dy = malloc((size_t)T * B * H * sizeof *dy), *hn = malloc((size_t)B * H * sizeof *hn);
    recur_error err;
    int rc = EXIT_RUNTIME;
    if (!x || !y || !dy || !hn) {
        cli_error("out of memory for hidden %d", H);
        goto done;
    }
    cli_rng rng;
    cli_rng_seed(&rng, exp_seed(o->seed, 3, (uint64_t)H));
    for (size_t i = 0; i < (size_t)T * B * I; i++) x[i] = (float)((double)cli_rng_below(&rng, 2001) / 1000 - 1);
    for (size_t i = 0; i < (size_t)T * B * H; i++) dy[i] = (float)((double)cli_rng_below(&rng, 2001) / 1e5 - 0.01);
    for (int c = 0; c < NCOST; c++) {
        recur_rnn_config rc_ = {cost_cells[c], I, H, 1, 0, 0.0f, o->seed, o->threads};
        if (recur_rnn_create(&rc_, &rnn[c], &err)) goto lib_error;
        double n = 0;
        for (int k = 0; k < recur_rnn_param_count(rnn[c]); k++) {
            recur_param p = recur_rnn_param(rnn[c], k);
            n += (double)p.shape[0] * (p.ndim == 2 ? p.shape[1] : 1);
        }
        int G = recur_cell_gates(cost_cells[c]);
        r->params[c][h] = n;
        r->flops[c][h] = 2.0 * G * H * (I + H) + 2.0 * G * H;
        r->train_us[c][h] = r->infer_us[c][h] = INFINITY;
        /* Warm-up: workspaces are planned on the first calls. */
        if (recur_rnn_forward(rnn[c], T, B, x, NULL, NULL, NULL, y, hn, NULL, 1, &err) ||
            recur_rnn_backward(rnn[c], dy, NULL, NULL, NULL, NULL, NULL, &err) ||
            recur_rnn_forward(rnn[c], T, B, x, NULL, NULL, NULL, y, hn, NULL, 0, &err))
            goto lib_error;
    }
    const double slice = o->min_time / 3;
    const int cpu = o->threads == 1;
    for (int rep = 0; rep < 3; rep++)
        for (int c = 0; c < NCOST; c++)
            for (int mode = 0; mode < 2; mode++) {
                if (cli_interrupted()) {
                    rc = EXIT_INTERRUPTED;
                    goto done;
                }
                long iters = 0;
                double t0 = exp_clock(cpu), el;
                do {
                    if (recur_rnn_forward(rnn[c], T, B, x, NULL, NULL, NULL, y, hn, NULL, mode == 0, &err))
                        goto lib_error;
                    if (mode == 0) {
                        if (recur_rnn_backward(rnn[c], dy, NULL, NULL, NULL, NULL, NULL, &err)) goto lib_error;
                        recur_rnn_zero_grad(rnn[c]);
                    }
                    iters++;
                } while ((el = exp_clock(cpu) - t0) < slice);
                double us = 1e6 * el / ((double)iters * T);
                double *best = mode == 0 ? &r->train_us[c][h] : &r->infer_us[c][h];
                if (us < *best) *best = us;
                exp_progress_add(pg, slice, 0);
                exp_progress_draw(pg, 0);
            }
    rc = 0;
    goto done;
lib_error:
    cli_lib_error(NULL, &err);
done:
    for (int c = 0; c < NCOST; c++) recur_rnn_free(rnn[c]);
    free(x);
    free(y);
    free(dy);
    free(hn);
    return rc;
}

/* Training time at which the accuracy first reaches `level` (linear
 * between evaluations), or NAN. */
static double time_to(const exp_names_result *res, double level)
{
    for (int i = 0; i < res->points; i++)
        if (res->accuracy[i] >= level) {
            if (i == 0) return 0;
            double a0 = res->accuracy[i - 1], a1 = res->accuracy[i];
            double f = a1 > a0 ? (level - a0) / (a1 - a0) : 1;
            return res->seconds[i - 1] + f * (res->seconds[i] - res->seconds[i - 1]);
        }
    return NAN;
}

static double best_acc(const exp_names_result *res)
{
    double b = 0;
    for (int i = 0; i < res->points; i++) b = fmax(b, res->accuracy[i]);
    return b;
}

static const double levels[] = {0.70, 0.75, 0.80};
enum { NLEVELS = sizeof levels / sizeof levels[0] };

static void print_tables(const void *run, double wall)
{
    const cost_run *r = run;
    const cost_opts *o = &r->o;
    char a[32], b[32];
    printf("timing  input %d, batch %d, T=%d, %d thread%s; time per step of the whole batch, best of 3 runs;\n"
           "        %s\n",
           o->input, o->batch, o->T, o->threads, o->threads > 1 ? "s" : "",
           o->threads == 1 ? "times are CPU time of the one thread doing the work (other processes do not count)"
                           : "times are wall-clock time");
    printf("FLOPs   of the matrix products and bias additions of one step of one sequence (2 per multiply-add);\n"
           "        element-wise activations and gate products (a few per unit) are left out\n\n");
    printf("%-6s %7s %11s %12s %15s %15s %12s\n", "cell", "hidden", "params", "FLOPs/step", "train µs/step",
           "infer µs/step", "infer GFLOP/s");
    for (int h = 0; h < r->nh; h++)
        for (int c = 0; c < NCOST; c++)
            printf("%-6s %7d %11s %12s %14.1f %14.1f %12.1f\n", cost_names[c], r->H[h],
                   cli_count(a, (size_t)r->params[c][h]), cli_count(b, (size_t)r->flops[c][h]), r->train_us[c][h],
                   r->infer_us[c][h], r->flops[c][h] * o->batch / (r->infer_us[c][h] * 1e3));
    printf("\nGRU/LSTM (3 gates against 4: the gate count predicts 0.750)\n");
    printf("%7s %8s %8s %11s %11s\n", "hidden", "params", "FLOPs", "train time", "infer time");
    for (int h = 0; h < r->nh; h++)
        printf("%7d %8.3f %8.3f %11.3f %11.3f\n", r->H[h], r->params[2][h] / r->params[1][h],
               r->flops[2][h] / r->flops[1][h], r->train_us[2][h] / r->train_us[1][h],
               r->infer_us[2][h] / r->infer_us[1][h]);
    if (r->names) {
        const exp_names_data *d = r->names;
        printf("\nnames   %s: %s training names, %s held out; embedding 64, hidden %d, Adam lr 0.003,\n"
               "        batch %d, %d epoch%s, %d thread%s; held-out accuracy 4 times an epoch against training time\n\n",
               d->dir, cli_count(a, d->n_train), cli_count(b, d->n_test), o->names_hidden, NAMES_BATCH,
               o->names_epochs, o->names_epochs > 1 ? "s" : "", o->threads, o->threads > 1 ? "s" : "");
        printf("%-6s %9s %9s", "cell", "weights", "s/epoch");
        for (int e = 1; e <= o->names_epochs && e <= 8; e++) printf("   epoch %d", e);
        printf(" %8s", "best");
        for (int l = 0; l < NLEVELS; l++) {
            char h[16];
            snprintf(h, sizeof h, "%.0f%% at", 100 * levels[l]);
            printf(" %9s", h);
        }
        printf("\n");
        for (int c = 0; c < NCOST; c++) {
            const exp_names_result *res = &r->res[c];
            printf("%-6s %9s %9.2f", cost_names[c], cli_count(a, res->weights), res->epoch_seconds);
            for (int e = 1; e <= o->names_epochs && e <= 8; e++) printf("   %6.1f%%", 100 * res->accuracy[e * 4]);
            printf(" %7.1f%%", 100 * best_acc(res));
            for (int l = 0; l < NLEVELS; l++) {
                double t = time_to(res, levels[l]);
                if (isfinite(t)) printf(" %7.2f s", t);
                else printf(" %9s", "never");
            }
            printf("\n");
        }
    }
    printf("\ndone in %.0f s\n", wall);
}

static void print_json(const void *run, double wall)
{
    const cost_run *r = run;
    const cost_opts *o = &r->o;
    FILE *f = stdout;
    fprintf(f, "{\"experiment\":\"cost\",\"settings\":{\"input\":%d,\"batch\":%d,\"T\":%d,\"threads\":%d,"
               "\"min_time\":%g,\"seed\":%llu,\"quick\":%s},\"timing\":[",
            o->input, o->batch, o->T, o->threads, o->min_time, (unsigned long long)o->seed, o->quick ? "true" : "false");
    for (int h = 0; h < r->nh; h++)
        for (int c = 0; c < NCOST; c++) {
            fprintf(f, "%s{\"cell\":\"%s\",\"hidden\":%d,\"params\":%.0f,\"flops_per_step\":%.0f,"
                       "\"train_us_per_step\":",
                    h || c ? "," : "", cost_names[c], r->H[h], r->params[c][h], r->flops[c][h]);
            exp_json_num(f, r->train_us[c][h]);
            fprintf(f, ",\"infer_us_per_step\":");
            exp_json_num(f, r->infer_us[c][h]);
            fprintf(f, "}");
        }
    fprintf(f, "],\"gru_over_lstm\":[");
    for (int h = 0; h < r->nh; h++) {
        fprintf(f, "%s{\"hidden\":%d,\"params\":%.6f,\"flops\":%.6f,\"train_time\":", h ? "," : "", r->H[h],
                r->params[2][h] / r->params[1][h], r->flops[2][h] / r->flops[1][h]);
        exp_json_num(f, r->train_us[2][h] / r->train_us[1][h]);
        fprintf(f, ",\"infer_time\":");
        exp_json_num(f, r->infer_us[2][h] / r->infer_us[1][h]);
        fprintf(f, "}");
    }
    fprintf(f, "],\"names\":");
    if (!r->names) fprintf(f, "null");
    else {
        fprintf(f, "{\"data\":");
        cli_json_string(f, r->names->dir);
        fprintf(f, ",\"train\":%zu,\"test\":%zu,\"hidden\":%d,\"epochs\":%d,\"cells\":[", r->names->n_train,
                r->names->n_test, o->names_hidden, o->names_epochs);
        for (int c = 0; c < NCOST; c++) {
            const exp_names_result *res = &r->res[c];
            fprintf(f, "%s{\"cell\":\"%s\",\"weights\":%zu,\"epoch_seconds\":%.3f,\"best_accuracy\":%.4f,\"seconds\":[",
                    c ? "," : "", cost_names[c], res->weights, res->epoch_seconds, best_acc(res));
            for (int i = 0; i < res->points; i++) fprintf(f, "%s%.3f", i ? "," : "", res->seconds[i]);
            fprintf(f, "],\"accuracy\":[");
            for (int i = 0; i < res->points; i++) fprintf(f, "%s%.4f", i ? "," : "", res->accuracy[i]);
            fprintf(f, "]}");
        }
        fprintf(f, "]}");
    }
    fprintf(f, ",\"seconds\":%.1f}\n", wall);
}

static int write_plot(const void *run)
{
    const cost_run *r = run;
    static const char *const colors[NCOST] = {"#d62728", "#1f77b4", "#2ca02c"};
    const cost_opts *o = &r->o;
    double x[MAX_H], *pct[NCOST] = {NULL};
    char lab[2 * NCOST][32], t2[120], sub[200];
    svg_xy_series s[2 * NCOST], n[NCOST];
    for (int h = 0; h < r->nh; h++) x[h] = r->H[h];
    for (int c = 0; c < NCOST; c++) {
        snprintf(lab[2 * c], sizeof lab[0], "%s training", cost_names[c]);
        snprintf(lab[2 * c + 1], sizeof lab[0], "%s inference", cost_names[c]);
        s[2 * c] = (svg_xy_series){lab[2 * c], x, r->train_us[c], r->nh, colors[c], 0, 1};
        s[2 * c + 1] = (svg_xy_series){lab[2 * c + 1], x, r->infer_us[c], r->nh, colors[c], 1, 1};
        if (r->names) {
            const exp_names_result *res = &r->res[c];
            pct[c] = malloc((size_t)res->points * sizeof *pct[c]);
            for (int i = 0; pct[c] && i < res->points; i++) pct[c][i] = 100 * res->accuracy[i];
            n[c] = (svg_xy_series){cost_names[c], res->seconds, pct[c], pct[c] ? res->points : 0, colors[c], 0, 1};
        }
    }
    snprintf(t2, sizeof t2, "names: held-out accuracy against training time");
    svg_panel p[2] = {
        {"time per step (log-log)", "hidden units", "microseconds per step of the batch", 1, 1, 0, 0, x, r->nh,
         NULL, s, 2 * NCOST},
        {t2, "training time (s), evaluations not counted", "held-out accuracy", 0, 0, 0, 0, NULL, 0, "%", n, NCOST},
    };
    snprintf(sub, sizeof sub, "input %d, batch %d, T=%d, %d thread%s", o->input, o->batch, o->T, o->threads,
             o->threads > 1 ? "s" : "");
    cli_buf b = {0};
    int bad = svg_xy_plot(&b, "recur experiment cost: RNN, LSTM and GRU", sub, p, r->names ? 2 : 1);
    for (int c = 0; c < NCOST; c++) free(pct[c]);
    return exp_write_svg(o->svg, &b, bad);
}

enum { COST_SPECS = 15 };

/* The flag table, options at their defaults: exp_cost and cmd_experiment_cost_table. */
static void cost_table(arg_command *cmd, arg_spec *s, cost_opts *o)
{
    *o = (cost_opts){"64,128,256,512", NULL, 64, 32, 32, 4, 128, 0, 1, 0, 0, 0, 0.6, 1};
    arg_spec specs[] = {
        EXP_SPEC_QUICK(o, "a smaller run (hidden 64,128; 1 epoch of names): a few seconds"),
        {"--hidden-sizes", NULL, ARG_STRING, &o->sizes, 0, 0, 0, 0, NULL, "LIST", "hidden sizes to time, increasing", 0},
        {"--input", NULL, ARG_INT, &o->input, 1, 4096, 0, 0, NULL, "N", "input size of the timed cells", 0},
        {"--batch", NULL, ARG_INT, &o->batch, 1, 4096, 0, 0, NULL, "N", "sequences per timed batch", 0},
        {"--length", NULL, ARG_INT, &o->T, 1, 4096, 0, 0, NULL, "T", "steps per timed sequence", 0},
        {"--min-time", NULL, ARG_FLOAT, &o->min_time, 0, 60, 1, 0, NULL, "S", "seconds spent timing each cell, size and mode", 0},
        {"--names-epochs", NULL, ARG_INT, &o->names_epochs, 1, 100, 0, 0, NULL, "N", "epochs of names training per cell", 0},
        {"--names-hidden", NULL, ARG_INT, &o->names_hidden, 1, 4096, 0, 0, NULL, "N", "hidden size of the names models", 0},
        {"--no-names", NULL, ARG_FLAG, &o->no_names, 0, 0, 0, 0, NULL, NULL, "time the cells only; no names training", 0},
        EXP_SPEC_THREADS(o, 256, "threads of every timed run and of training"),
        EXP_SPEC_SEED(o, "seed of the weights, the split and the order"),
        EXP_SPEC_SVG(o, "plot time per step against hidden size, and names accuracy against time"),
        EXP_SPEC_JSON(o, EXP_JSON_HELP),
        EXP_SPEC_QUIET(o),
        SPEC_END,
    };
    _Static_assert(sizeof specs == COST_SPECS * sizeof specs[0], "COST_SPECS");
    memcpy(s, specs, sizeof specs);
    *cmd = (arg_command){"experiment cost", "recur experiment cost [DATA] [options]", summary, s, 0, 1};
}

CLI_DEFINE_TABLE(cmd_experiment_cost_table, cost_table, cost_opts, COST_SPECS)

int exp_cost(int argc, char **argv)
{
    cost_run *r = calloc(1, sizeof *r);
    char **pos = NULL;
    int rc = EXIT_RUNTIME;
    if (!r) {
        cli_error("out of memory");
        goto done;
    }
    cost_opts *o = &r->o;
    arg_spec specs[COST_SPECS];
    arg_command cmd;
    cost_table(&cmd, specs, o);
    int npos;
    if (!(pos = cli_parse_command(&cmd, argc, argv, &npos, &rc))) goto done;
    if (o->quick) {
        if (exp_not_given(&cmd, "--hidden-sizes")) o->sizes = "64,128";
        if (exp_not_given(&cmd, "--min-time")) o->min_time = 0.15;
        if (exp_not_given(&cmd, "--names-epochs")) o->names_epochs = 1;
    }
    rc = EXIT_USAGE;
    if ((r->nh = exp_parse_ints("--hidden-sizes", o->sizes, 1, 4096, r->H, MAX_H)) < 0) goto done;
    if (npos && o->no_names) {
        cli_error("DATA is for the names training, which --no-names leaves out");
        goto done;
    }
    rc = EXIT_RUNTIME;
    if (o->svg && cli_check_writable(o->svg, "--svg")) goto done;
    recur_set_threads(o->threads);
    cli_catch_interrupts();
    /* Load the data first: a missing folder fails before any timing. */
    if (!o->no_names && (rc = exp_names_load(npos ? pos[0] : NULL, o->seed, &r->names))) goto done;
    rc = 0; /* with --no-names nothing above cleared it, and the timing loop runs while !rc */
    if (!o->json && !o->quiet) {
        printf("recur experiment cost: RNN, LSTM and GRU at hidden %s%s\n", o->sizes,
               r->names ? ", then trained on the names" : "");
        fflush(stdout);
    }
    double t0 = cli_now();
    exp_progress pg;
    exp_progress_init(&pg, "timing", o->min_time * 2 * NCOST * r->nh, r->nh, o->quiet || o->json);
    for (int h = 0; h < r->nh && !rc; h++) {
        rc = time_size(r, h, &pg);
        exp_progress_add(&pg, 0, 1);
    }
    exp_progress_clear(&pg);
    exp_progress_free(&pg);
    if (!rc && r->names) {
        exp_names_spec sp = {o->names_hidden, 64, o->names_epochs, 4, NAMES_BATCH, o->threads, 3e-3, 5, o->seed};
        /* The trainer splits batches over its own threads: one BLAS thread
         * keeps the two pools from competing (the library leaves this
         * process-wide setting to the program). */
        if (o->threads > 1) recur_set_threads(1);
        exp_progress_init(&pg, "names", (double)r->names->n_train * o->names_epochs * NCOST, NCOST,
                          o->quiet || o->json);
        for (int c = 0; c < NCOST && !rc; c++) {
            rc = exp_names_train(r->names, cost_cells[c], &sp, &pg, &r->res[c]);
            exp_progress_add(&pg, 0, 1);
        }
        exp_progress_clear(&pg);
        exp_progress_free(&pg);
    }
    if (rc == EXIT_INTERRUPTED) cli_error("interrupted; nothing written");
    if (rc) goto done;
    exp_report rep = {o->json, o->quiet, o->svg, print_json, print_tables, write_plot};
    rc = exp_report_results(&rep, r, cli_now() - t0);
done:
    if (r) {
        for (int c = 0; c < NCOST; c++) exp_names_result_free(&r->res[c]);
        exp_names_free(r->names);
    }
    free(r);
    free(pos);
    return rc;
}
