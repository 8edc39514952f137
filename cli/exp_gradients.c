/*
 * recur experiment gradients: how much of the loss's gradient reaches the
 * state h_t of each step t of a long sequence, for each cell, at
 * initialisation and after training on the memory task.
 *
 * The classifier's loss depends on h_T only (through the linear head), so
 * dLoss/dh_t for t < T is pure backpropagation through time: the signal
 * that would teach the cell to keep what it saw at step t. The model's
 * recurrent weights are copied into a dense recur_rnn whose backward
 * records dLoss/dh_t (recur_rnn_state_grads); the head's gradient
 * dLoss/dh_T = W_out^T (softmax - onehot) is computed here.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exp_common.h"

typedef struct grad_opts {
    const char *cells, *svg;
    int T, steps, hidden, batch, symbols, probe, test, threads, quick, json, quiet;
    double lr, clip;
    uint64_t seed;
} grad_opts;

/* One phase (init or trained) of one cell. */
typedef struct grad_curve {
    double *norm;     /* [T]: mean over the probe sequences of |dLoss/dh_t| */
    double decay;     /* fitted factor per step back: norm[t-1] ~ decay * norm[t] */
    double log_ratio; /* log10(norm[0] / norm[T-1]) */
    double accuracy;
} grad_curve;

typedef struct grad_run {
    grad_opts o;
    int cell[EXP_NCELLS], nc;
    grad_curve init[EXP_NCELLS], trained[EXP_NCELLS];
    int steps[EXP_NCELLS];
    exp_progress pg;
} grad_run;

static const char summary[] =
    "For each cell, the norm of dLoss/dh_t at every step t of sequences of length T\n"
    "(the first-symbol task of 'recur experiment memory', whose loss depends on the\n"
    "final state only), at initialisation and after training with the same budget for\n"
    "every cell; and the decay per step back in time fitted to it (least squares on the\n"
    "log of the norm). The claim tested: the RNN's gradient decays geometrically, the\n"
    "LSTM's and the GRU's much more slowly.";

/* Norms of dLoss/dh_t over the probe batch tok [B*T] with labels lab. */
static recur_status measure(const recur_model *m, const exp_cell *c, int T, int B, const int32_t *tok,
                            const int32_t *lab, double *norm, recur_error *err)
{
    const int V = recur_vocab_size(recur_model_vocab(m)), H = recur_model_get_config(m)->hidden;
    const int C = recur_model_num_labels(m);
    recur_rnn_config rc = {c->cell, V, H, 1, 0, 0.0f, 0, 1};
    recur_rnn *rnn = NULL;
    recur_status st = recur_rnn_create(&rc, &rnn, err);
    if (st) return st;
    const float *w_out = NULL, *b_out = NULL;
    for (int i = 0; i < recur_model_param_count(m); i++) {
        recur_param p = recur_model_param(m, i);
        if (strcmp(p.name, "out.weight") == 0) w_out = p.data;
        else if (strcmp(p.name, "out.bias") == 0) b_out = p.data;
        else if (strncmp(p.name, "rnn.", 4) == 0)
            for (int k = 0; k < recur_rnn_param_count(rnn); k++) {
                recur_param q = recur_rnn_param(rnn, k);
                if (strcmp(q.name, p.name + 4) == 0)
                    memcpy(q.data, p.data, (size_t)q.shape[0] * (q.ndim == 2 ? q.shape[1] : 1) * sizeof(float));
            }
    }
    float *x = calloc((size_t)T * B * V, sizeof *x), *hn = malloc((size_t)B * H * sizeof *hn);
    float *dhn = calloc((size_t)B * H, sizeof *dhn), *dh = malloc((size_t)T * B * H * sizeof *dh);
    double *z = malloc((size_t)C * sizeof *z);
    if (!x || !hn || !dhn || !dh || !z || !w_out || !b_out) {
        st = RECUR_ERR_NOMEM;
        snprintf(err->message, sizeof err->message, "out of memory probing the gradients");
        goto done;
    }
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) x[((size_t)t * B + b) * V + tok[(size_t)b * T + t]] = 1.0f;
    if ((st = recur_rnn_forward(rnn, T, B, x, NULL, NULL, NULL, NULL, hn, NULL, 1, err))) goto done;
    /* Cross-entropy of each sequence (not averaged over the batch): its
     * gradient at the head's logits is softmax - onehot. */
    for (int b = 0; b < B; b++) {
        double mx = -INFINITY, sum = 0;
        for (int k = 0; k < C; k++) {
            z[k] = b_out[k];
            for (int j = 0; j < H; j++) z[k] += (double)w_out[(size_t)k * H + j] * hn[(size_t)b * H + j];
            mx = fmax(mx, z[k]);
        }
        for (int k = 0; k < C; k++) sum += z[k] = exp(z[k] - mx);
        for (int k = 0; k < C; k++) {
            double g = z[k] / sum - (k == lab[b]);
            for (int j = 0; j < H; j++) dhn[(size_t)b * H + j] += (float)(g * w_out[(size_t)k * H + j]);
        }
    }
    if ((st = recur_rnn_backward(rnn, NULL, dhn, NULL, NULL, NULL, NULL, err))) goto done;
    if ((st = recur_rnn_state_grads(rnn, dh, err))) goto done;
    for (int t = 0; t < T; t++) {
        double s = 0;
        for (int b = 0; b < B; b++) {
            double n2 = 0;
            for (int j = 0; j < H; j++) {
                double v = dh[((size_t)t * B + b) * H + j];
                n2 += v * v;
            }
            s += sqrt(n2);
        }
        norm[t] = s / B;
    }
done:
    free(x);
    free(hn);
    free(dhn);
    free(dh);
    free(z);
    recur_rnn_free(rnn);
    return st;
}

/* Least squares of log10 norm[t] on t, over the norms that float still
 * represents with full precision; fills decay and log_ratio. */
static void fit(grad_curve *g, int T)
{
    double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (int t = 0; t < T; t++) {
        if (!(g->norm[t] > 1e-35) || !isfinite(g->norm[t])) continue;
        double y = log10(g->norm[t]);
        n++, sx += t, sy += y, sxx += (double)t * t, sxy += t * y;
    }
    double den = n * sxx - sx * sx;
    g->decay = n >= 2 && den > 0 ? pow(10, -(n * sxy - sx * sy) / den) : NAN;
    g->log_ratio = g->norm[0] > 0 && g->norm[T - 1] > 0 ? log10(g->norm[0] / g->norm[T - 1]) : -INFINITY;
}

static int run_one(void *ctx, int c, char *msg, size_t cap)
{
    grad_run *r = ctx;
    const grad_opts *o = &r->o;
    const exp_cell *cell = &exp_cells[r->cell[c]];
    const int T = o->T, B = o->probe;
    recur_error err;
    recur_model *m = NULL;
    int32_t *tok = malloc((size_t)B * T * sizeof *tok), *off = malloc(((size_t)B + 1) * sizeof *off),
            *lab = malloc((size_t)B * sizeof *lab);
    recur_status st = RECUR_ERR_NOMEM;
    snprintf(err.message, sizeof err.message, "out of memory");
    if (!tok || !off || !lab) goto done;
    /* The same probe sequences, initial weights and training data for all. */
    cli_rng rng;
    cli_rng_seed(&rng, exp_seed(o->seed, 7, (uint64_t)T));
    exp_task_batch(&rng, o->symbols, T, B, tok, off, lab);
    st = exp_task_model(cell, o->symbols, o->hidden, T, exp_seed(o->seed, 1, 0), &m, &err);
    double loss;
    if (!st) st = measure(m, cell, T, B, tok, lab, r->init[c].norm, &err);
    if (!st) st = exp_task_test(m, o->symbols, T, o->test, exp_seed(o->seed, 999, (uint64_t)T), &r->init[c].accuracy,
                                &loss, &err);
    exp_train_spec spec = {o->symbols, T, o->batch, o->steps, o->lr, o->clip, exp_seed(o->seed, 100, (uint64_t)T),
                           (double)T * recur_cell_gates(cell->cell)};
    exp_train_result res = {0};
    if (!st) st = exp_task_train(m, &spec, &r->pg, &res, &err);
    if (!st) st = exp_task_test(m, o->symbols, T, o->test, exp_seed(o->seed, 999, (uint64_t)T),
                                &r->trained[c].accuracy, &loss, &err);
    if (!st) st = measure(m, cell, T, B, tok, lab, r->trained[c].norm, &err);
    r->steps[c] = res.steps;
    fit(&r->init[c], T);
    fit(&r->trained[c], T);
done:
    free(tok);
    free(off);
    free(lab);
    recur_model_free(m);
    if (st == RECUR_ERR_INTERRUPTED) return EXIT_INTERRUPTED;
    if (st) {
        snprintf(msg, cap, "%s: %s", cell->name, err.message);
        return EXIT_RUNTIME;
    }
    return 0;
}

/* Steps shown in the table: the first, and 50, 20, 10, 5, 1, 0 before the last. */
static int table_steps(int T, int *ts)
{
    static const int back[] = {50, 20, 10, 5, 1, 0};
    int n = 0;
    ts[n++] = 1;
    for (size_t i = 0; i < sizeof back / sizeof back[0]; i++) {
        int t = T - back[i];
        if (t > ts[n - 1]) ts[n++] = t;
    }
    return n;
}

static void print_tables(const void *run, double wall)
{
    const grad_run *r = run;
    const grad_opts *o = &r->o;
    int ts[8], nts = table_steps(o->T, ts);
    printf("task    the first-symbol task, T=%d, %d symbols; loss: cross-entropy of one sequence, at h_T only\n",
           o->T, o->symbols);
    printf("train   one-hot input, hidden %d, Adam lr %g, clip %g, batch %d, at most %d steps\n", o->hidden, o->lr,
           o->clip, o->batch, o->steps);
    printf("probe   |dLoss/dh_t|, mean over %d sequences; decay: the factor per step back in time fitted to\n"
           "        log|dLoss/dh_t| (least squares); decades: log10 of |dLoss/dh_1| / |dLoss/dh_T|\n\n",
           o->probe);
    printf("%-12s %-8s", "cell", "");
    for (int i = 0; i < nts; i++) {
        char h[16];
        snprintf(h, sizeof h, "t=%d", ts[i]);
        printf(" %9s", h);
    }
    printf(" %9s %9s %9s\n", "decay", "decades", "accuracy");
    for (int c = 0; c < r->nc; c++)
        for (int ph = 0; ph < 2; ph++) {
            const grad_curve *g = ph ? &r->trained[c] : &r->init[c];
            printf("%-12s %-8s", ph ? "" : exp_cells[r->cell[c]].name, ph ? "trained" : "init");
            for (int i = 0; i < nts; i++) printf(" %9.2e", g->norm[ts[i] - 1]);
            printf(" %9.3f", g->decay);
            if (isfinite(g->log_ratio)) printf(" %+9.1f", g->log_ratio);
            else printf(" %9s", "-inf");
            printf(" %8.1f%%\n", 100 * g->accuracy);
        }
    printf("\n");
    for (int c = 0; c < r->nc; c++)
        printf("%-12s trained %d steps: accuracy %.1f%%; decay per step %.3f at initialisation, %.3f after\n",
               exp_cells[r->cell[c]].name, r->steps[c], 100 * r->trained[c].accuracy, r->init[c].decay,
               r->trained[c].decay);
    printf("\n%d cells in %.0f s on %d thread%s\n", r->nc, wall, o->threads, o->threads > 1 ? "s" : "");
}

static void json_curve(FILE *f, const grad_curve *g, int T)
{
    fprintf(f, "{\"decay_per_step\":");
    exp_json_num(f, g->decay);
    fprintf(f, ",\"log10_first_over_last\":");
    exp_json_num(f, g->log_ratio);
    fprintf(f, ",\"accuracy\":");
    exp_json_num(f, g->accuracy);
    fprintf(f, ",\"norms\":[");
    for (int t = 0; t < T; t++) {
        if (t) fputc(',', f);
        if (isfinite(g->norm[t])) fprintf(f, "%.4e", g->norm[t]);
        else fputs("null", f);
    }
    fprintf(f, "]}");
}

static void print_json(const void *run, double wall)
{
    const grad_run *r = run;
    const grad_opts *o = &r->o;
    FILE *f = stdout;
    fprintf(f, "{\"experiment\":\"gradients\",\"settings\":{\"T\":%d,\"steps\":%d,\"hidden\":%d,\"batch\":%d,"
               "\"lr\":%g,\"clip\":%g,\"symbols\":%d,\"probe\":%d,\"test\":%d,\"seed\":%llu,\"quick\":%s},\"cells\":[",
            o->T, o->steps, o->hidden, o->batch, o->lr, o->clip, o->symbols, o->probe, o->test,
            (unsigned long long)o->seed, o->quick ? "true" : "false");
    for (int c = 0; c < r->nc; c++) {
        fprintf(f, "%s{\"cell\":\"%s\",\"steps\":%d,\"init\":", c ? "," : "", exp_cells[r->cell[c]].name,
                r->steps[c]);
        json_curve(f, &r->init[c], o->T);
        fprintf(f, ",\"trained\":");
        json_curve(f, &r->trained[c], o->T);
        fprintf(f, "}");
    }
    fprintf(f, "],\"seconds\":%.1f}\n", wall);
}

static int write_plot(const void *run)
{
    const grad_run *r = run;
    const grad_opts *o = &r->o;
    double *x = malloc((size_t)o->T * sizeof *x), lo = INFINITY, hi = -INFINITY;
    if (!x) {
        cli_error("--svg: out of memory");
        return EXIT_RUNTIME;
    }
    for (int t = 0; t < o->T; t++) x[t] = t + 1;
    svg_xy_series s[2][EXP_NCELLS];
    for (int ph = 0; ph < 2; ph++)
        for (int c = 0; c < r->nc; c++) {
            const exp_cell *e = &exp_cells[r->cell[c]];
            const grad_curve *g = ph ? &r->trained[c] : &r->init[c];
            for (int t = 0; t < o->T; t++)
                if (g->norm[t] > 1e-35) lo = fmin(lo, g->norm[t]), hi = fmax(hi, g->norm[t]);
            s[ph][c] = (svg_xy_series){e->name, x, g->norm, o->T, e->color, e->dashed, 0};
        }
    /* One y range for both panels, in whole decades, so that they compare. */
    double ylo = isfinite(lo) ? pow(10, floor(log10(lo))) : 1e-10, yhi = isfinite(hi) ? pow(10, ceil(log10(hi))) : 1;
    char t2[80], sub[200];
    snprintf(t2, sizeof t2, "after training (at most %d steps)", o->steps);
    svg_panel p[2] = {
        {"at initialisation", "step t", "|dLoss/dh_t| (log scale)", 0, 1, ylo, yhi, NULL, 0, NULL, s[0], r->nc},
        {t2, "step t", "|dLoss/dh_t| (log scale)", 0, 1, ylo, yhi, NULL, 0, NULL, s[1], r->nc},
    };
    snprintf(sub, sizeof sub, "first-symbol task, T=%d, hidden %d; loss at h_T only; mean over %d sequences", o->T,
             o->hidden, o->probe);
    cli_buf b = {0};
    int bad = svg_xy_plot(&b, "recur experiment gradients: how far back does the gradient reach?", sub, p, 2);
    free(x);
    return exp_write_svg(o->svg, &b, bad);
}

enum { GRAD_SPECS = 17 };

/* The flag table, options at their defaults: exp_gradients and cmd_experiment_gradients_table. */
static void grad_table(arg_command *cmd, arg_spec *s, grad_opts *o)
{
    *o = (grad_opts){"rnn,lstm,gru,lstm-chrono,gru-chrono", NULL, 100, 2000, 32, 32, 4, 64, 1000,
                     cli_default_threads(), 0, 0, 0, 3e-3, 5, 1};
    arg_spec specs[] = {
        EXP_SPEC_QUICK(o, "a smaller run (T=50, 800 steps): a few seconds"),
        EXP_SPEC_CELLS(o),
        {"--length", NULL, ARG_INT, &o->T, 2, 10000, 0, 0, NULL, "T", "sequence length", 0},
        {"--steps", NULL, ARG_INT, &o->steps, 50, 1000000, 0, 0, NULL, "N", "most training steps (the same budget for every cell)", 0},
        EXP_SPEC_HIDDEN(o),
        {"--batch", NULL, ARG_INT, &o->batch, 1, 1024, 0, 0, NULL, "N", "sequences per training step", 0},
        EXP_SPEC_LR(o, "Adam's learning rate"),
        EXP_SPEC_CLIP(o),
        EXP_SPEC_SYMBOLS(o),
        {"--probe", NULL, ARG_INT, &o->probe, 1, 4096, 0, 0, NULL, "N", "sequences whose gradients are averaged", 0},
        {"--test", NULL, ARG_INT, &o->test, 1, 1000000, 0, 0, NULL, "N", "fresh sequences for the accuracy after training", 0},
        EXP_SPEC_SEED(o, "seed of the weights and the sequences"),
        EXP_SPEC_THREADS(o, 64, "cells trained at once (results do not depend on it)"),
        EXP_SPEC_SVG(o, "plot the norms against t, on a log scale"),
        EXP_SPEC_JSON(o, "print the results (every norm) as one JSON object"),
        EXP_SPEC_QUIET(o),
        SPEC_END,
    };
    _Static_assert(sizeof specs == GRAD_SPECS * sizeof specs[0], "GRAD_SPECS");
    memcpy(s, specs, sizeof specs);
    *cmd = (arg_command){"experiment gradients", "recur experiment gradients [options]", summary, s, 0, 0};
}

CLI_DEFINE_TABLE(cmd_experiment_gradients_table, grad_table, grad_opts, GRAD_SPECS)

int exp_gradients(int argc, char **argv)
{
    grad_run *r = calloc(1, sizeof *r);
    char **pos = NULL;
    int rc = EXIT_RUNTIME;
    if (!r) {
        cli_error("out of memory");
        goto done;
    }
    grad_opts *o = &r->o;
    arg_spec specs[GRAD_SPECS];
    arg_command cmd;
    grad_table(&cmd, specs, o);
    int npos;
    if (!(pos = cli_parse_command(&cmd, argc, argv, &npos, &rc))) goto done;
    if (o->quick) {
        if (exp_not_given(&cmd, "--length")) o->T = 50;
        if (exp_not_given(&cmd, "--steps")) o->steps = 800;
        if (exp_not_given(&cmd, "--test")) o->test = 500;
    }
    rc = EXIT_USAGE;
    if ((r->nc = exp_parse_cells("--cells", o->cells, r->cell, EXP_NCELLS)) < 0) goto done;
    rc = EXIT_RUNTIME;
    if (o->svg && cli_check_writable(o->svg, "--svg")) goto done;
    for (int c = 0; c < r->nc; c++) {
        r->init[c].norm = calloc((size_t)o->T, sizeof(double));
        r->trained[c].norm = calloc((size_t)o->T, sizeof(double));
        if (!r->init[c].norm || !r->trained[c].norm) {
            cli_error("out of memory");
            goto done;
        }
    }
    double total = 0;
    for (int c = 0; c < r->nc; c++) total += (double)o->steps * o->T * recur_cell_gates(exp_cells[r->cell[c]].cell);
    recur_set_threads(1);
    cli_catch_interrupts();
    if (!o->json && !o->quiet) {
        printf("recur experiment gradients: %d cells, T=%d, on %d thread%s\n", r->nc, o->T, o->threads,
               o->threads > 1 ? "s" : "");
        fflush(stdout);
    }
    exp_report rep = {o->json, o->quiet, o->svg, print_json, print_tables, write_plot};
    rc = exp_run_report(&rep, &r->pg, "gradients", total, r->nc, o->threads, run_one, r);
done:
    if (r)
        for (int c = 0; c < EXP_NCELLS; c++) {
            free(r->init[c].norm);
            free(r->trained[c].norm);
        }
    free(r);
    free(pos);
    return rc;
}
