/*
 * recur experiment adding: the adding problem of Hochreiter & Schmidhuber
 * (1997), in the form of Le, Jaitly & Hinton (2015). Each step has two
 * inputs, a value from U(0, 1) and a marker that is 1 at exactly two steps
 * (one in each half of the sequence) and 0 elsewhere; the target is the sum
 * of the two marked values, a regression read from the final state. The
 * first marked value may lie T-1 steps before the answer, so the cell must
 * keep it that long while ignoring the other values. Answering 1.0 always
 * scores the variance of a sum of two uniforms, 1/6 = 0.167: the baseline.
 *
 * Each (cell, T) run generates its data in C from the seed (every cell sees
 * the same sequences for a given T), trains a dense-input regressor through
 * recur_fit (the library's one training loop), keeps the weights of the
 * epoch with the lowest validation MSE and scores them on a test set of
 * their own. Runs are independent, so they go to worker threads; results do
 * not depend on how many.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exp_common.h"

enum { MAX_T = 8 };

typedef struct add_opts {
    const char *cells, *lengths, *svg;
    int epochs, train, valid, test, hidden, batch, threads, quick, json, quiet;
    double lr, clip, solved;
    uint64_t seed;
} add_opts;

typedef struct add_run {
    add_opts o;
    int cell[EXP_NCELLS], nc, T[MAX_T], nt;
    /* Results [cell][T]. */
    double mse[EXP_NCELLS][MAX_T], mae[EXP_NCELLS][MAX_T], valid[EXP_NCELLS][MAX_T], secs[EXP_NCELLS][MAX_T];
    int epochs[EXP_NCELLS][MAX_T], best_epoch[EXP_NCELLS][MAX_T];
    double baseline[MAX_T]; /* test MSE of always 1.0, per T */
    int *order;             /* job -> cell * nt + t, the longest runs first */
    exp_progress pg;
} add_run;

static const char summary[] =
    "The adding problem (Hochreiter & Schmidhuber 1997): T steps of two inputs, a value\n"
    "from U(0,1) and a marker that is 1 at two steps (one in each half), 0 elsewhere;\n"
    "the target is the sum of the two marked values, read from the final state. Each\n"
    "cell is trained for each T on the same sequences through the library's training\n"
    "driver (dense input, MSE, Adam; the epoch with the lowest validation MSE is kept)\n"
    "and scored on fresh test sequences. Always answering 1.0 scores MSE 1/6 = 0.167:\n"
    "a cell that does not carry the first value across T steps stays near it.";

/* ------------------------------------------------------------------------ */
/* Data                                                                      */
/* ------------------------------------------------------------------------ */

typedef struct add_data {
    int n, T;
    float *feat;  /* [n*T][2]: value, marker */
    int32_t *off; /* [n+1]                   */
    float *tgt;   /* [n]                     */
} add_data;

static double uniform(cli_rng *r) { return (double)(cli_rng_next(r) >> 40) * 0x1.0p-24; }

static int data_make(add_data *d, int n, int T, uint64_t seed)
{
    d->n = n;
    d->T = T;
    d->feat = calloc((size_t)n * T * 2, sizeof *d->feat);
    d->off = malloc(((size_t)n + 1) * sizeof *d->off);
    d->tgt = malloc((size_t)n * sizeof *d->tgt);
    if (!d->feat || !d->off || !d->tgt) return -1;
    cli_rng r;
    cli_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        float *x = d->feat + (size_t)i * T * 2;
        for (int t = 0; t < T; t++) x[2 * t] = (float)uniform(&r);
        /* One marker in each half, as adding.py and Le et al. draw them. */
        int a = (int)cli_rng_below(&r, (uint64_t)(T / 2));
        int b = T / 2 + (int)cli_rng_below(&r, (uint64_t)(T - T / 2));
        x[2 * a + 1] = x[2 * b + 1] = 1;
        d->tgt[i] = x[2 * a] + x[2 * b];
        d->off[i] = i * T;
    }
    d->off[n] = n * T;
    return 0;
}

static void data_free(add_data *d)
{
    free(d->feat);
    free(d->off);
    free(d->tgt);
}

static recur_batch data_batch(const add_data *d)
{
    return (recur_batch){.n = d->n, .offsets = d->off, .features = d->feat, .targets = d->tgt};
}

/* ------------------------------------------------------------------------ */
/* One run                                                                   */
/* ------------------------------------------------------------------------ */

static int job_cell(const add_run *r, int j) { return r->order[j] / r->nt; }
static int job_t(const add_run *r, int j) { return r->order[j] % r->nt; }
static double job_work(const add_run *r, int c, int t)
{
    return (double)r->o.epochs * r->o.train * r->T[t] * recur_cell_gates(exp_cells[r->cell[c]].cell);
}
/* The same for job j before ordering (exp_job_order). */
static double unordered_work(const void *run, int j)
{
    const add_run *r = run;
    return job_work(r, j / r->nt, j % r->nt);
}

/* What the driver's callbacks see of a run. */
typedef struct add_fit {
    add_run *r;
    recur_model *m;
    float *best;      /* the weights of the best epoch so far */
    double per_seq;   /* progress units per training sequence */
    size_t done;      /* sequences of this epoch already counted */
    double work_left; /* of the whole budget, for an early stop */
    int epochs;
} add_fit;

static void copy_weights(recur_model *m, float *buf, int to_model)
{
    size_t at = 0;
    for (int i = 0; i < recur_model_param_count(m); i++) {
        recur_param p = recur_model_param(m, i);
        size_t k = (size_t)p.shape[0] * (size_t)(p.ndim == 2 ? p.shape[1] : 1);
        if (to_model) memcpy(p.data, buf + at, k * sizeof *buf);
        else memcpy(buf + at, p.data, k * sizeof *buf);
        at += k;
    }
}

static void on_step(const recur_fit_step *s, void *user)
{
    add_fit *f = user;
    double w = f->per_seq * (double)(s->done - f->done);
    f->done = s->done;
    f->work_left -= w;
    exp_progress_add(&f->r->pg, w, 0);
}

/* Keep the best epoch's weights; stop once the validation MSE shows the
 * task solved (more epochs would only refine it). */
static int on_epoch(const recur_fit_epoch *e, void *user)
{
    add_fit *f = user;
    f->epochs = e->epoch;
    f->done = 0;
    if (e->improved) copy_weights(f->m, f->best, 0);
    return f->r->o.solved > 0 && e->valid_loss < f->r->o.solved;
}

static recur_status adding_model(const exp_cell *c, int hidden, int T, uint64_t seed, recur_model **m,
                                 recur_error *err)
{
    recur_model_config mc;
    recur_model_config_default(&mc);
    recur_model_config_task(&mc, RECUR_TASK_REGRESS);
    mc.cell = c->cell;
    mc.hidden = hidden;
    mc.layers = 1;
    mc.embed = 0;
    mc.input = RECUR_INPUT_DENSE;
    mc.input_size = 2;
    mc.outputs = 1;
    mc.loss = RECUR_LOSS_MSE;
    mc.seed = seed;
    recur_status s = recur_model_create(&mc, NULL, NULL, 0, m, err);
    if (!s && c->chrono) exp_chrono_init(*m, c, hidden, T, seed);
    return s;
}

static int run_one(void *ctx, int j, char *msg, size_t cap)
{
    add_run *r = ctx;
    const add_opts *o = &r->o;
    int c = job_cell(r, j), t = job_t(r, j), T = r->T[t];
    const exp_cell *cell = &exp_cells[r->cell[c]];
    add_data fit = {0}, test = {0};
    recur_model *m = NULL;
    float *best = NULL;
    size_t *idx = NULL;
    recur_error err = {0};
    recur_status st = RECUR_OK;
    /* The same sequences for every cell at this T; the test set apart. */
    if (data_make(&fit, o->train + o->valid, T, exp_seed(o->seed, 100, (uint64_t)T)) ||
        data_make(&test, o->test, T, exp_seed(o->seed, 999, (uint64_t)T))) {
        st = RECUR_ERR_NOMEM;
        snprintf(err.message, sizeof err.message, "out of memory for the sequences");
    }
    /* The initial weights depend on the seed only (lstm and lstm-chrono
     * start from the same matrices). */
    if (!st) st = adding_model(cell, o->hidden, T, exp_seed(o->seed, 1, 0), &m, &err);
    if (!st) {
        best = malloc(recur_model_num_weights(m) * sizeof *best);
        idx = malloc((size_t)fit.n * sizeof *idx);
        if (!best || !idx) {
            st = RECUR_ERR_NOMEM;
            snprintf(err.message, sizeof err.message, "out of memory");
        }
    }
    double t0 = cli_now();
    add_fit f = {r, m, best, (double)T * recur_cell_gates(cell->cell), 0, job_work(r, c, t), 0};
    recur_fit_result res = {0};
    recur_batch all = data_batch(&fit);
    if (!st) {
        for (int i = 0; i < fit.n; i++) idx[i] = (size_t)i;
        /* Standardise the two inputs with the training part's statistics
         * (what recur train does for dense data). */
        st = recur_model_fit_input_norm(m, &all, idx, (size_t)o->train, &err);
        copy_weights(m, best, 0);
    }
    if (!st) {
        recur_fit_config fc;
        recur_fit_config_default(&fc);
        fc.train.optim = RECUR_OPTIM_ADAM;
        fc.train.lr = (float)o->lr;
        fc.train.clip = (float)o->clip;
        fc.train.threads = 1;
        fc.epochs = o->epochs;
        fc.batch = o->batch;
        fc.bucket = 0; /* every sequence has T steps */
        fc.patience = 2;
        fc.select = RECUR_FIT_SELECT_LOSS;
        fc.seed = exp_seed(o->seed, 7, (uint64_t)T);
        fc.stop = cli_interrupt_flag();
        fc.on_step = on_step;
        fc.on_epoch = on_epoch;
        fc.user = &f;
        st = recur_fit(m, &fc, &all, idx, (size_t)o->train, idx + o->train, (size_t)o->valid, &res, &err);
    }
    if (f.work_left > 0) exp_progress_add(&r->pg, f.work_left, 0); /* stopped early */
    if (!st) {
        copy_weights(m, best, 1);
        recur_runner *rn = NULL;
        recur_regress_metrics met = {0};
        float *pred = malloc((size_t)test.n * sizeof *pred);
        if (!pred) {
            st = RECUR_ERR_NOMEM;
            snprintf(err.message, sizeof err.message, "out of memory");
        }
        if (!st) st = recur_regress_metrics_init(&met, 1, &err);
        if (!st) st = recur_runner_create(m, 256, &rn, &err);
        for (int at = 0; !st && at < test.n; at += 256) {
            int k = test.n - at < 256 ? test.n - at : 256;
            recur_batch b = {.n = k, .offsets = test.off + at, .features = test.feat};
            /* Offsets index into the whole feature array: rebase them. */
            int32_t off[257];
            for (int i = 0; i <= k; i++) off[i] = test.off[at + i] - test.off[at];
            b.offsets = off;
            b.features = test.feat + (size_t)test.off[at] * 2;
            st = recur_runner_predict(rn, &b, pred + at, &err);
        }
        if (!st) {
            recur_regress_metrics_add(&met, pred, test.tgt, (size_t)test.n);
            r->mse[c][t] = recur_regress_metrics_mse(&met);
            r->mae[c][t] = recur_regress_metrics_mae(&met);
            r->valid[c][t] = res.best_loss;
            r->best_epoch[c][t] = res.best_epoch;
            r->epochs[c][t] = f.epochs;
            r->secs[c][t] = cli_now() - t0;
        }
        recur_runner_free(rn);
        recur_regress_metrics_free(&met);
        free(pred);
    }
    if (!st && c == 0) {
        /* The baseline on the same test set (the same for every cell). */
        double sse = 0;
        for (int i = 0; i < test.n; i++) sse += (test.tgt[i] - 1.0) * (test.tgt[i] - 1.0);
        r->baseline[t] = sse / test.n;
    }
    free(best);
    free(idx);
    recur_model_free(m);
    data_free(&fit);
    data_free(&test);
    if (st == RECUR_ERR_INTERRUPTED) return EXIT_INTERRUPTED;
    if (st) {
        snprintf(msg, cap, "%s, T=%d: %s", cell->name, T, err.message);
        return EXIT_RUNTIME;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Output                                                                    */
/* ------------------------------------------------------------------------ */

static void print_header(const add_run *r)
{
    for (int t = 0; t < r->nt; t++) {
        char h[16];
        snprintf(h, sizeof h, "T=%d", r->T[t]);
        printf(" %9s", h);
    }
    printf("\n");
}

static void print_tables(const void *run, double wall)
{
    const add_run *r = run;
    const add_opts *o = &r->o;
    printf("task    target = the sum of the 2 marked values of T (value U(0,1), marker); always 1.0: MSE 1/6\n");
    printf("train   dense input (2), hidden %d, Adam lr %g, clip %g, batch %d, %d sequences, at most %d epochs;\n"
           "        the epoch of lowest MSE on %d validation sequences is kept",
           o->hidden, o->lr, o->clip, o->batch, o->train, o->epochs, o->valid);
    if (o->solved > 0) printf("; a run stops once that is below %g", o->solved);
    printf("\n        test: %d fresh sequences per T\n\n", o->test);
    printf("test MSE%*s", 4, "");
    print_header(r);
    for (int c = 0; c < r->nc; c++) {
        printf("%-12s", exp_cells[r->cell[c]].name);
        for (int t = 0; t < r->nt; t++) printf(" %9.4f", r->mse[c][t]);
        printf("\n");
    }
    printf("%-12s", "always 1.0");
    for (int t = 0; t < r->nt; t++) printf(" %9.4f", r->baseline[t]);
    printf("\n\nepochs trained (best epoch)\n%-12s", "cell");
    print_header(r);
    for (int c = 0; c < r->nc; c++) {
        printf("%-12s", exp_cells[r->cell[c]].name);
        for (int t = 0; t < r->nt; t++) {
            char e[24];
            snprintf(e, sizeof e, "%d (%d)", r->epochs[c][t], r->best_epoch[c][t]);
            printf(" %9s", e);
        }
        printf("\n");
    }
    printf("\nseconds per run (wall clock)\n%-12s", "cell");
    print_header(r);
    for (int c = 0; c < r->nc; c++) {
        printf("%-12s", exp_cells[r->cell[c]].name);
        for (int t = 0; t < r->nt; t++) printf(" %9.1f", r->secs[c][t]);
        printf("\n");
    }
    printf("\nsolved (test MSE below a tenth of the baseline, 0.0167):\n");
    for (int c = 0; c < r->nc; c++) {
        printf("  %-12s", exp_cells[r->cell[c]].name);
        int any = 0;
        for (int t = 0; t < r->nt; t++)
            if (r->mse[c][t] < 0.1 * r->baseline[t]) printf("%sT=%d", any++ ? ", " : "", r->T[t]);
        printf("%s\n", any ? "" : "none");
    }
    printf("\n%d runs in %.0f s on %d thread%s\n", r->nc * r->nt, wall, o->threads, o->threads > 1 ? "s" : "");
}

static void print_json(const void *run, double wall)
{
    const add_run *r = run;
    const add_opts *o = &r->o;
    FILE *f = stdout;
    fprintf(f, "{\"experiment\":\"adding\",\"settings\":{\"cells\":[");
    for (int c = 0; c < r->nc; c++) fprintf(f, "%s\"%s\"", c ? "," : "", exp_cells[r->cell[c]].name);
    fprintf(f, "],\"lengths\":[");
    for (int t = 0; t < r->nt; t++) fprintf(f, "%s%d", t ? "," : "", r->T[t]);
    fprintf(f, "],\"seed\":%llu,\"epochs\":%d,\"train\":%d,\"valid\":%d,\"test\":%d,\"hidden\":%d,\"batch\":%d,"
               "\"lr\":%g,\"clip\":%g,\"solved\":%g,\"quick\":%s},\"baseline\":[",
            (unsigned long long)o->seed, o->epochs, o->train, o->valid, o->test, o->hidden, o->batch, o->lr, o->clip,
            o->solved, o->quick ? "true" : "false");
    for (int t = 0; t < r->nt; t++) {
        fprintf(f, "%s", t ? "," : "");
        exp_json_num(f, r->baseline[t]);
    }
    fprintf(f, "],\"results\":[");
    for (int c = 0; c < r->nc; c++)
        for (int t = 0; t < r->nt; t++) {
            fprintf(f, "%s{\"cell\":\"%s\",\"T\":%d,\"mse\":", c || t ? "," : "", exp_cells[r->cell[c]].name,
                    r->T[t]);
            exp_json_num(f, r->mse[c][t]);
            fprintf(f, ",\"mae\":");
            exp_json_num(f, r->mae[c][t]);
            fprintf(f, ",\"valid_mse\":");
            exp_json_num(f, r->valid[c][t]);
            fprintf(f, ",\"baseline\":");
            exp_json_num(f, r->baseline[t]);
            fprintf(f, ",\"epochs\":%d,\"best_epoch\":%d,\"seconds\":", r->epochs[c][t], r->best_epoch[c][t]);
            exp_json_num(f, r->secs[c][t]);
            fprintf(f, "}");
        }
    fprintf(f, "],\"seconds\":%.1f}\n", wall);
}

static int write_plot(const void *run)
{
    const add_run *r = run;
    const add_opts *o = &r->o;
    double x[MAX_T], y[EXP_NCELLS][MAX_T];
    svg_xy_series s[EXP_NCELLS + 1];
    for (int t = 0; t < r->nt; t++) x[t] = r->T[t];
    for (int c = 0; c < r->nc; c++) {
        const exp_cell *e = &exp_cells[r->cell[c]];
        for (int t = 0; t < r->nt; t++) y[c][t] = r->mse[c][t];
        s[c] = (svg_xy_series){e->name, x, y[c], r->nt, e->color, e->dashed, 1};
    }
    s[r->nc] = (svg_xy_series){"always 1.0", x, r->baseline, r->nt, "#888888", 1, 0};
    svg_panel p = {"test MSE against sequence length",
                   "T: sequence length, log scale (the first marked value lies in the first half)",
                   "MSE on fresh sequences (log scale)",
                   1, 1, 0, 0, x, r->nt, NULL, s, r->nc + 1};
    char sub[200];
    snprintf(sub, sizeof sub, "hidden %d, Adam lr %g, clip %g, batch %d, %d sequences, at most %d epochs",
             o->hidden, o->lr, o->clip, o->batch, o->train, o->epochs);
    cli_buf b = {0};
    int bad = svg_xy_plot(&b, "recur experiment adding: the sum of two marked values", sub, &p, 1);
    return exp_write_svg(o->svg, &b, bad);
}

/* ------------------------------------------------------------------------ */
/* Command                                                                   */
/* ------------------------------------------------------------------------ */

enum { ADD_SPECS = 18 };

/* The flag table, options at their defaults: exp_adding and cmd_experiment_adding_table. */
static void add_table(arg_command *cmd, arg_spec *s, add_opts *o)
{
    *o = (add_opts){"rnn,lstm,gru", "50,100,200", NULL, 20, 4000, 500, 1000, 64, 32,
                    cli_default_threads(), 0, 0, 0, 3e-3, 1, 1e-3, 1};
    arg_spec specs[] = {
        EXP_SPEC_QUICK(o, "a smaller run (T 50; 1000 sequences; solved at 0.01): seconds"),
        EXP_SPEC_CELLS(o),
        {"--lengths", NULL, ARG_STRING, &o->lengths, 0, 0, 0, 0, NULL, "LIST", "sequence lengths T, increasing", 0},
        {"--epochs", NULL, ARG_INT, &o->epochs, 1, 100000, 0, 0, NULL, "N", "most epochs per run (the same budget for every cell)", 0},
        {"--train", NULL, ARG_INT, &o->train, 1, 10000000, 0, 0, NULL, "N", "training sequences per T", 0},
        {"--valid", NULL, ARG_INT, &o->valid, 1, 1000000, 0, 0, NULL, "N", "validation sequences per T (selects the epoch)", 0},
        {"--test", NULL, ARG_INT, &o->test, 1, 1000000, 0, 0, NULL, "N", "fresh test sequences per T", 0},
        EXP_SPEC_HIDDEN(o),
        {"--batch", NULL, ARG_INT, &o->batch, 1, 4096, 0, 0, NULL, "N", "sequences per step", 0},
        EXP_SPEC_LR(o, "Adam's learning rate (halved after 2 epochs without progress)"),
        EXP_SPEC_CLIP(o),
        {"--solved", NULL, ARG_FLOAT, &o->solved, 0, 1, 0, 0, NULL, "F", "stop a run once its validation MSE is below F; 0 = never", 0},
        EXP_SPEC_SEED(o, "seed of the weights and the sequences"),
        EXP_SPEC_THREADS(o, 64, EXP_THREADS_HELP),
        EXP_SPEC_SVG(o, "plot test MSE against T"),
        EXP_SPEC_JSON(o, EXP_JSON_HELP),
        EXP_SPEC_QUIET(o),
        SPEC_END,
    };
    _Static_assert(sizeof specs == ADD_SPECS * sizeof specs[0], "ADD_SPECS");
    memcpy(s, specs, sizeof specs);
    *cmd = (arg_command){"experiment adding", "recur experiment adding [options]", summary, s, 0, 0};
}

CLI_DEFINE_TABLE(cmd_experiment_adding_table, add_table, add_opts, ADD_SPECS)

int exp_adding(int argc, char **argv)
{
    add_run *r = calloc(1, sizeof *r);
    if (!r) {
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    add_opts *o = &r->o;
    arg_spec specs[ADD_SPECS];
    arg_command cmd;
    add_table(&cmd, specs, o);
    int npos, rc;
    char **pos = cli_parse_command(&cmd, argc, argv, &npos, &rc);
    if (!pos) goto done;
    if (o->quick) {
        if (exp_not_given(&cmd, "--lengths")) o->lengths = "50";
        if (exp_not_given(&cmd, "--train")) o->train = 1000;
        if (exp_not_given(&cmd, "--test")) o->test = 500;
        if (exp_not_given(&cmd, "--valid")) o->valid = 200;
        /* Clearly below the baseline is the point of a quick run. */
        if (exp_not_given(&cmd, "--solved")) o->solved = 0.01;
    }
    rc = EXIT_USAGE;
    if ((r->nc = exp_parse_cells("--cells", o->cells, r->cell, EXP_NCELLS)) < 0) goto done;
    if ((r->nt = exp_parse_ints("--lengths", o->lengths, 2, 100000, r->T, MAX_T)) < 0) goto done;
    if (o->svg && cli_check_writable(o->svg, "--svg")) {
        rc = EXIT_RUNTIME;
        goto done;
    }
    int n = r->nc * r->nt;
    double total;
    rc = EXIT_RUNTIME;
    if (!(r->order = exp_job_order(n, unordered_work, r, &total))) goto done;
    recur_set_threads(1); /* small products: one BLAS thread per run */
    cli_catch_interrupts();
    if (!o->json && !o->quiet)
        printf("recur experiment adding: %d cells x %d lengths = %d runs on %d thread%s\n", r->nc, r->nt, n,
               o->threads, o->threads > 1 ? "s" : "");
    fflush(stdout);
    exp_report rep = {o->json, o->quiet, o->svg, print_json, print_tables, write_plot};
    rc = exp_run_report(&rep, &r->pg, "adding", total, n, o->threads, run_one, r);
done:
    free(r->order);
    free(r);
    free(pos);
    return rc;
}
