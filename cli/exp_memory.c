/*
 * recur experiment memory: does a cell remember the first symbol of a long
 * sequence? Each cell is trained on the first-symbol task (exp_common.h)
 * for each length T with the same hidden size, optimiser, rate, clip and
 * step budget, on the same training sequences, then tested on fresh ones.
 * Runs are independent and seeded, so they go to worker threads and the
 * results do not depend on how many there are.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exp_common.h"

enum { MAX_T = 16, MAX_SEEDS = 16 };

typedef struct mem_opts {
    const char *cells, *lengths, *svg;
    int seeds, steps, hidden, batch, symbols, test, threads, quick, json, quiet;
    double lr, clip;
    uint64_t seed;
} mem_opts;

typedef struct mem_run {
    mem_opts o;
    int cell[EXP_NCELLS], nc, T[MAX_T], nt;
    /* Results [cell][T][seed]. */
    double acc[EXP_NCELLS][MAX_T][MAX_SEEDS], loss[EXP_NCELLS][MAX_T][MAX_SEEDS];
    double train_loss[EXP_NCELLS][MAX_T][MAX_SEEDS], secs[EXP_NCELLS][MAX_T][MAX_SEEDS];
    int steps[EXP_NCELLS][MAX_T][MAX_SEEDS];
    int *order; /* job -> (cell, T, seed), the longest runs first */
    exp_progress pg;
} mem_run;

static const char summary[] =
    "Train each cell to classify a sequence by its first symbol, for each length T: the\n"
    "T-1 symbols after the first are random, so the answer must be remembered across\n"
    "them. Every cell gets the same hidden size, optimiser, learning rate, clip, step\n"
    "budget and training sequences; accuracy is measured on fresh sequences. The claim\n"
    "tested: a vanilla RNN falls to chance as T grows while LSTM and GRU keep the\n"
    "symbol. lstm-chrono and gru-chrono are the same cells with their gate biases\n"
    "initialised to remember (chrono initialisation) instead of PyTorch's 1/2.";

static int job_cell(const mem_run *r, int j) { return r->order[j] / (r->nt * r->o.seeds); }
static int job_t(const mem_run *r, int j) { return r->order[j] / r->o.seeds % r->nt; }
static int job_seed(const mem_run *r, int j) { return r->order[j] % r->o.seeds; }
/* Work of job j (before ordering), in progress units. */
static double job_work(const void *run, int j)
{
    const mem_run *r = run;
    int c = j / (r->nt * r->o.seeds), t = j / r->o.seeds % r->nt;
    return (double)r->o.steps * r->T[t] * recur_cell_gates(exp_cells[r->cell[c]].cell);
}

static int run_one(void *ctx, int j, char *msg, size_t cap)
{
    mem_run *r = ctx;
    int c = job_cell(r, j), t = job_t(r, j), s = job_seed(r, j);
    const exp_cell *cell = &exp_cells[r->cell[c]];
    const mem_opts *o = &r->o;
    int T = r->T[t];
    recur_error err;
    recur_model *m = NULL;
    /* The initial weights depend on the seed only: lstm and lstm-chrono
     * start from the same matrices, and every cell sees the same data. */
    recur_status st = exp_task_model(cell, o->symbols, o->hidden, T, exp_seed(o->seed, 1, (uint64_t)s), &m, &err);
    exp_train_spec spec = {o->symbols, T, o->batch, o->steps, o->lr, o->clip,
                           exp_seed(o->seed, 100 + (uint64_t)s, (uint64_t)T),
                           (double)T * recur_cell_gates(cell->cell)};
    exp_train_result res;
    if (!st) st = exp_task_train(m, &spec, &r->pg, &res, &err);
    if (!st)
        st = exp_task_test(m, o->symbols, T, o->test, exp_seed(o->seed, 999, (uint64_t)T), &r->acc[c][t][s],
                           &r->loss[c][t][s], &err);
    recur_model_free(m);
    if (st == RECUR_ERR_INTERRUPTED) return EXIT_INTERRUPTED;
    if (st) {
        snprintf(msg, cap, "%s, T=%d, seed %d: %s", cell->name, T, s + 1, err.message);
        return EXIT_RUNTIME;
    }
    r->steps[c][t][s] = res.steps;
    r->train_loss[c][t][s] = res.loss;
    r->secs[c][t][s] = res.seconds;
    return 0;
}

static double mean_acc(const mem_run *r, int c, int t, double *lo, double *hi)
{
    double sum = 0;
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int s = 0; s < r->o.seeds; s++) {
        double a = r->acc[c][t][s];
        sum += a;
        *lo = fmin(*lo, a);
        *hi = fmax(*hi, a);
    }
    return sum / r->o.seeds;
}

/* The longest T whose mean accuracy is at least 90%, with every shorter T
 * too; 0 when none. */
static int longest_kept(const mem_run *r, int c)
{
    int best = 0;
    for (int t = 0; t < r->nt; t++) {
        double lo, hi;
        if (mean_acc(r, c, t, &lo, &hi) < 0.9) break;
        best = r->T[t];
    }
    return best;
}

static void print_header(const mem_run *r)
{
    for (int t = 0; t < r->nt; t++) {
        char h[16];
        snprintf(h, sizeof h, "T=%d", r->T[t]);
        printf(" %9s ", h);
    }
    printf("\n");
}

static void print_tables(const void *run, double wall)
{
    const mem_run *r = run;
    const mem_opts *o = &r->o;
    printf("task    label = the first of T symbols (%d symbols: chance %.1f%%); the T-1 after it are random\n",
           o->symbols, 100.0 / o->symbols);
    printf("train   one-hot input, hidden %d, Adam lr %g, clip %g, batch %d, at most %d steps (a run stops once\n"
           "        its loss is below 0.01), %d seed%s; test: %d fresh sequences per T\n\n",
           o->hidden, o->lr, o->clip, o->batch, o->steps, o->seeds, o->seeds > 1 ? "s" : "", o->test);
    printf("test accuracy (%%)%s\n%-12s", o->seeds > 1 ? ", mean of the seeds" : "", "cell");
    print_header(r);
    int split = 0;
    for (int c = 0; c < r->nc; c++) {
        printf("%-12s", exp_cells[r->cell[c]].name);
        for (int t = 0; t < r->nt; t++) {
            double lo, hi, m = mean_acc(r, c, t, &lo, &hi);
            int disagree = hi - lo > 0.2;
            split |= disagree;
            printf(" %9.1f%s", 100 * m, disagree ? "*" : " ");
        }
        printf("\n");
    }
    printf("%-12s", "chance");
    for (int t = 0; t < r->nt; t++) printf(" %9.1f ", 100.0 / o->symbols);
    printf("\n");
    if (split) printf("* the seeds disagree by more than 20 points (--json has each run)\n");
    printf("\ntraining steps taken (mean of the seeds; %d = the whole budget)\n%-12s", o->steps, "cell");
    print_header(r);
    for (int c = 0; c < r->nc; c++) {
        printf("%-12s", exp_cells[r->cell[c]].name);
        for (int t = 0; t < r->nt; t++) {
            double sum = 0;
            for (int s = 0; s < o->seeds; s++) sum += r->steps[c][t][s];
            printf(" %9.0f ", sum / o->seeds);
        }
        printf("\n");
    }
    printf("\nlongest T learnt (mean accuracy >= 90%% at that T and every shorter one):\n");
    for (int c = 0; c < r->nc; c++) {
        int k = longest_kept(r, c);
        if (k) printf("  %-12s T=%d\n", exp_cells[r->cell[c]].name, k);
        else printf("  %-12s none\n", exp_cells[r->cell[c]].name);
    }
    printf("\n%d runs in %.0f s on %d thread%s\n", r->nc * r->nt * o->seeds, wall, o->threads,
           o->threads > 1 ? "s" : "");
}

static void print_json(const void *run, double wall)
{
    const mem_run *r = run;
    const mem_opts *o = &r->o;
    FILE *f = stdout;
    fprintf(f, "{\"experiment\":\"memory\",\"settings\":{\"cells\":[");
    for (int c = 0; c < r->nc; c++) fprintf(f, "%s\"%s\"", c ? "," : "", exp_cells[r->cell[c]].name);
    fprintf(f, "],\"lengths\":[");
    for (int t = 0; t < r->nt; t++) fprintf(f, "%s%d", t ? "," : "", r->T[t]);
    fprintf(f, "],\"seeds\":%d,\"seed\":%llu,\"steps\":%d,\"hidden\":%d,\"batch\":%d,\"lr\":%g,\"clip\":%g,"
               "\"symbols\":%d,\"test\":%d,\"quick\":%s},\"chance\":%g,\"results\":[",
            o->seeds, (unsigned long long)o->seed, o->steps, o->hidden, o->batch, o->lr, o->clip, o->symbols, o->test,
            o->quick ? "true" : "false", 1.0 / o->symbols);
    int first = 1;
    for (int c = 0; c < r->nc; c++)
        for (int t = 0; t < r->nt; t++)
            for (int s = 0; s < o->seeds; s++) {
                fprintf(f, "%s{\"cell\":\"%s\",\"T\":%d,\"seed\":%d,\"accuracy\":", first ? "" : ",",
                        exp_cells[r->cell[c]].name, r->T[t], s + 1);
                exp_json_num(f, r->acc[c][t][s]);
                fprintf(f, ",\"test_loss\":");
                exp_json_num(f, r->loss[c][t][s]);
                fprintf(f, ",\"train_loss\":");
                exp_json_num(f, r->train_loss[c][t][s]);
                fprintf(f, ",\"steps\":%d,\"seconds\":", r->steps[c][t][s]);
                exp_json_num(f, r->secs[c][t][s]);
                fprintf(f, "}");
                first = 0;
            }
    fprintf(f, "],\"summary\":[");
    for (int c = 0; c < r->nc; c++) {
        fprintf(f, "%s{\"cell\":\"%s\",\"accuracy\":[", c ? "," : "", exp_cells[r->cell[c]].name);
        for (int t = 0; t < r->nt; t++) {
            double lo, hi;
            fprintf(f, "%s", t ? "," : "");
            exp_json_num(f, mean_acc(r, c, t, &lo, &hi));
        }
        fprintf(f, "],\"longest_T\":%d}", longest_kept(r, c));
    }
    fprintf(f, "],\"seconds\":%.1f}\n", wall);
}

static int write_plot(const void *run)
{
    const mem_run *r = run;
    const mem_opts *o = &r->o;
    double x[MAX_T], y[EXP_NCELLS][MAX_T], chance[MAX_T];
    svg_xy_series s[EXP_NCELLS + 1];
    for (int t = 0; t < r->nt; t++) {
        x[t] = r->T[t];
        chance[t] = 100.0 / o->symbols;
    }
    for (int c = 0; c < r->nc; c++) {
        const exp_cell *e = &exp_cells[r->cell[c]];
        for (int t = 0; t < r->nt; t++) {
            double lo, hi;
            y[c][t] = 100 * mean_acc(r, c, t, &lo, &hi);
        }
        s[c] = (svg_xy_series){e->name, x, y[c], r->nt, e->color, e->dashed, 1};
    }
    s[r->nc] = (svg_xy_series){"chance", x, chance, r->nt, "#888888", 1, 0};
    svg_panel p = {"test accuracy against sequence length",
                   "T: sequence length (the answer is the symbol at step 1)",
                   "accuracy on fresh sequences",
                   1, 0, 0, 100, x, r->nt, "%", s, r->nc + 1};
    char sub[200];
    snprintf(sub, sizeof sub, "hidden %d, Adam lr %g, clip %g, batch %d, at most %d steps; mean of %d seed%s",
             o->hidden, o->lr, o->clip, o->batch, o->steps, o->seeds, o->seeds > 1 ? "s" : "");
    cli_buf b = {0};
    int bad = svg_xy_plot(&b, "recur experiment memory: remembering the first symbol", sub, &p, 1);
    return exp_write_svg(o->svg, &b, bad);
}

enum { MEM_SPECS = 17 };

/* The flag table, options at their defaults: exp_memory and cmd_experiment_memory_table. */
static void mem_table(arg_command *cmd, arg_spec *s, mem_opts *o)
{
    *o = (mem_opts){"rnn,lstm,gru,lstm-chrono,gru-chrono", "5,10,20,50,100,200", NULL, 2, 2000, 32, 32, 4, 1000,
                    cli_default_threads(), 0, 0, 0, 3e-3, 5, 1};
    arg_spec specs[] = {
        EXP_SPEC_QUICK(o, "a smaller run (T 5,20,50; 1 seed; 1000 steps): a few seconds"),
        EXP_SPEC_CELLS(o),
        {"--lengths", NULL, ARG_STRING, &o->lengths, 0, 0, 0, 0, NULL, "LIST", "sequence lengths T, increasing", 0},
        {"--seeds", NULL, ARG_INT, &o->seeds, 1, MAX_SEEDS, 0, 0, NULL, "N", "runs per cell and T, each with its own initial weights and training data", 0},
        {"--steps", NULL, ARG_INT, &o->steps, 50, 1000000, 0, 0, NULL, "N", "most optimiser steps per run (the same budget for every cell)", 0},
        EXP_SPEC_HIDDEN(o),
        {"--batch", NULL, ARG_INT, &o->batch, 1, 1024, 0, 0, NULL, "N", "sequences per step", 0},
        EXP_SPEC_LR(o, "Adam's learning rate"),
        EXP_SPEC_CLIP(o),
        EXP_SPEC_SYMBOLS(o),
        {"--test", NULL, ARG_INT, &o->test, 1, 1000000, 0, 0, NULL, "N", "fresh test sequences per T", 0},
        EXP_SPEC_SEED(o, "seed of the weights and the sequences"),
        EXP_SPEC_THREADS(o, 64, EXP_THREADS_HELP),
        EXP_SPEC_SVG(o, "plot accuracy against T"),
        EXP_SPEC_JSON(o, EXP_JSON_HELP),
        EXP_SPEC_QUIET(o),
        SPEC_END,
    };
    _Static_assert(sizeof specs == MEM_SPECS * sizeof specs[0], "MEM_SPECS");
    memcpy(s, specs, sizeof specs);
    *cmd = (arg_command){"experiment memory", "recur experiment memory [options]", summary, s, 0, 0};
}

CLI_DEFINE_TABLE(cmd_experiment_memory_table, mem_table, mem_opts, MEM_SPECS)

int exp_memory(int argc, char **argv)
{
    mem_run *r = calloc(1, sizeof *r);
    if (!r) {
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    mem_opts *o = &r->o;
    arg_spec specs[MEM_SPECS];
    arg_command cmd;
    mem_table(&cmd, specs, o);
    int npos, rc;
    char **pos = cli_parse_command(&cmd, argc, argv, &npos, &rc);
    if (!pos) goto done;
    if (o->quick) {
        if (exp_not_given(&cmd, "--lengths")) o->lengths = "5,20,50";
        if (exp_not_given(&cmd, "--seeds")) o->seeds = 1;
        if (exp_not_given(&cmd, "--steps")) o->steps = 1000;
        if (exp_not_given(&cmd, "--test")) o->test = 500;
    }
    rc = EXIT_USAGE;
    if ((r->nc = exp_parse_cells("--cells", o->cells, r->cell, EXP_NCELLS)) < 0) goto done;
    if ((r->nt = exp_parse_ints("--lengths", o->lengths, 1, 100000, r->T, MAX_T)) < 0) goto done;
    if (o->svg && cli_check_writable(o->svg, "--svg")) {
        rc = EXIT_RUNTIME;
        goto done;
    }
    int n = r->nc * r->nt * o->seeds;
    double total;
    rc = EXIT_RUNTIME;
    if (!(r->order = exp_job_order(n, job_work, r, &total))) goto done;
    recur_set_threads(1); /* tiny products: one BLAS thread per run */
    cli_catch_interrupts();
    if (!o->json && !o->quiet)
        printf("recur experiment memory: %d cells x %d lengths x %d seed%s = %d runs on %d thread%s\n", r->nc,
               r->nt, o->seeds, o->seeds > 1 ? "s" : "", n, o->threads, o->threads > 1 ? "s" : "");
    fflush(stdout);
    exp_report rep = {o->json, o->quiet, o->svg, print_json, print_tables, write_plot};
    rc = exp_run_report(&rep, &r->pg, "memory", total, n, o->threads, run_one, r);
done:
    free(r->order);
    free(r);
    free(pos);
    return rc;
}
