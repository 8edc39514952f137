/* What the `recur experiment` subcommands share (see exp_common.h). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exp_common.h"

const exp_cell exp_cells[EXP_NCELLS] = {
    {"rnn", RECUR_CELL_RNN_TANH, 0, "#d62728", 0},
    {"lstm", RECUR_CELL_LSTM, 0, "#1f77b4", 0},
    {"gru", RECUR_CELL_GRU, 0, "#2ca02c", 0},
    {"lstm-chrono", RECUR_CELL_LSTM, 1, "#1f77b4", 1},
    {"gru-chrono", RECUR_CELL_GRU, 1, "#2ca02c", 1},
};

int exp_parse_cells(const char *flag, const char *list, int *idx, int cap)
{
    int n = 0;
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        int found = -1;
        for (int c = 0; c < EXP_NCELLS; c++)
            if (strlen(exp_cells[c].name) == len && strncmp(exp_cells[c].name, p, len) == 0) found = c;
        if (found < 0) {
            cli_error("%s: '%.*s' is not a cell (rnn, lstm, gru, lstm-chrono, gru-chrono)", flag, (int)len, p);
            return -1;
        }
        for (int k = 0; k < n; k++)
            if (idx[k] == found) {
                cli_error("%s: %s is listed twice", flag, exp_cells[found].name);
                return -1;
            }
        if (n == cap) {
            cli_error("%s: at most %d cells", flag, cap);
            return -1;
        }
        idx[n++] = found;
        p += len;
        if (*p == ',' && *++p == '\0') break;
    }
    if (n == 0) cli_error("%s: no cell given", flag);
    return n ? n : -1;
}

int exp_parse_ints(const char *flag, const char *list, int lo, int hi, int *out, int cap)
{
    int n = 0;
    const char *p = list;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',')) {
            cli_error("%s: '%s' is not a list of integers such as 5,10,20", flag, list);
            return -1;
        }
        if (errno == ERANGE || v < lo || v > hi) {
            cli_error("%s: %.*s is out of range %d..%d", flag, (int)(end - p), p, lo, hi);
            return -1;
        }
        if (n == cap) {
            cli_error("%s: at most %d values", flag, cap);
            return -1;
        }
        if (n > 0 && v <= out[n - 1]) {
            cli_error("%s: the values must increase", flag);
            return -1;
        }
        out[n++] = (int)v;
        p = *end ? end + 1 : end;
    }
    if (n == 0) cli_error("%s: no value given", flag);
    return n ? n : -1;
}

uint64_t exp_seed(uint64_t base, uint64_t a, uint64_t b)
{
    cli_rng r;
    cli_rng_seed(&r, base);
    uint64_t x = cli_rng_next(&r) ^ (a * 0x9e3779b97f4a7c15ULL);
    cli_rng_seed(&r, x);
    x = cli_rng_next(&r) ^ (b * 0xc2b2ae3d27d4eb4fULL);
    cli_rng_seed(&r, x);
    return cli_rng_next(&r);
}

/* ------------------------------------------------------------------------ */

void exp_task_batch(cli_rng *r, int symbols, int T, int n, int32_t *tok, int32_t *off, int32_t *lab)
{
    for (int i = 0; i < n; i++) {
        int32_t *s = tok + (size_t)i * T;
        off[i] = i * T;
        lab[i] = (int32_t)cli_rng_below(r, (uint64_t)symbols);
        s[0] = EXP_FIRST_ID + lab[i];
        for (int t = 1; t < T; t++) s[t] = EXP_FIRST_ID + (int32_t)cli_rng_below(r, (uint64_t)symbols);
    }
    off[n] = n * T;
}

/* The chrono initialisation: per unit j, b = log(u_j), u_j ~ U(1, T-1), as
 * the forget (LSTM) or update (GRU) bias, its negation as the LSTM's input
 * bias; the hidden-to-hidden halves of those biases zero, so that the sum
 * the gates see is exactly that. Gate rows: LSTM i,f,g,o; GRU r,z,n. */
void exp_chrono_init(recur_model *m, const exp_cell *c, int H, int T, uint64_t seed)
{
    float *b_ih = NULL, *b_hh = NULL;
    for (int i = 0; i < recur_model_param_count(m); i++) {
        recur_param p = recur_model_param(m, i);
        if (strcmp(p.name, "rnn.bias_ih_l0") == 0) b_ih = p.data;
        if (strcmp(p.name, "rnn.bias_hh_l0") == 0) b_hh = p.data;
    }
    if (!b_ih || !b_hh) return;
    cli_rng r;
    cli_rng_seed(&r, seed ^ 0x4368726f6e6fULL);
    double span = T > 2 ? T - 2 : 0;
    for (int j = 0; j < H; j++) {
        double u = 1 + span * (double)(cli_rng_next(&r) >> 11) * 0x1.0p-53;
        float b = (float)log(u);
        b_ih[H + j] = b;
        b_hh[H + j] = 0;
        if (c->cell == RECUR_CELL_LSTM) {
            b_ih[j] = -b;
            b_hh[j] = 0;
        }
    }
}

recur_status exp_task_model(const exp_cell *c, int symbols, int hidden, int T, uint64_t seed, recur_model **out,
                            recur_error *err)
{
    *out = NULL;
    char names[EXP_MAX_SYMBOLS + EXP_FIRST_ID][2];
    const char *sym[EXP_MAX_SYMBOLS + EXP_FIRST_ID];
    for (int i = 0; i < symbols + EXP_FIRST_ID; i++) {
        names[i][0] = i < EXP_FIRST_ID ? '\0' : (char)('a' + i - EXP_FIRST_ID);
        names[i][1] = '\0';
        sym[i] = names[i];
    }
    recur_vocab *v = NULL;
    recur_status s = recur_vocab_from_symbols(RECUR_TEXT_UNICODE, sym, symbols + EXP_FIRST_ID, &v, err);
    if (s) return s;
    recur_model_config mc;
    recur_model_config_default(&mc);
    mc.task = RECUR_TASK_CLASSIFY;
    mc.cell = c->cell;
    mc.hidden = hidden;
    mc.layers = 1;
    mc.embed = 0; /* one-hot: nothing but the recurrent cell between input and head */
    mc.seed = seed;
    s = recur_model_create(&mc, v, sym + EXP_FIRST_ID, symbols, out, err);
    recur_vocab_free(v);
    if (!s && c->chrono) exp_chrono_init(*out, c, hidden, T, seed);
    return s;
}

/* What the step callback of exp_task_train keeps: the window of the last
 * step losses (the solved test), the progress and the stop it asks for. */
typedef struct task_run {
    const exp_train_spec *s;
    exp_progress *pg;
    volatile sig_atomic_t stop; /* recur_fit's flag: solved or Ctrl-C      */
    int steps, interrupted;
    double window[50], wsum, seconds;
} task_run;

static void task_step(const recur_fit_step *st, void *user)
{
    enum { WINDOW = 50 };
    task_run *r = user;
    int step = r->steps++;
    if (step >= WINDOW) r->wsum -= r->window[step % WINDOW];
    r->window[step % WINDOW] = st->step_loss;
    r->wsum += st->step_loss;
    r->seconds = st->seconds;
    if (r->pg) exp_progress_add(r->pg, r->s->work_per_step, 0);
    if (cli_interrupted()) r->interrupted = r->stop = 1;
    else if (step + 1 >= WINDOW && r->wsum / WINDOW < 0.01) r->stop = 1; /* solved */
}

recur_status exp_task_train(recur_model *m, const exp_train_spec *s, exp_progress *pg, exp_train_result *res,
                            recur_error *err)
{
    enum { WINDOW = 50 };
    memset(res, 0, sizeof *res);
    /* The training sequences of every step, drawn up front in the order the
     * steps take them (a fresh batch per step), trained through the
     * library's driver in that order: one epoch, batches as given. */
    size_t n = (size_t)s->steps * (size_t)s->batch;
    int32_t *tok = malloc(n * (size_t)s->T * sizeof *tok), *off = malloc((n + 1) * sizeof *off),
            *lab = malloc(n * sizeof *lab);
    size_t *train = malloc(n * sizeof *train);
    recur_status st = RECUR_OK;
    if (n > INT32_MAX / (size_t)s->T) {
        st = RECUR_ERR_ARG;
        snprintf(err->message, sizeof err->message, "%zu sequences of %d steps are more than 2^31 steps", n, s->T);
        goto done;
    }
    if (!tok || !off || !lab || !train) {
        st = RECUR_ERR_NOMEM;
        snprintf(err->message, sizeof err->message, "out of memory for %zu sequences of %d steps", n, s->T);
        goto done;
    }
    cli_rng rng;
    cli_rng_seed(&rng, s->data_seed);
    exp_task_batch(&rng, s->symbols, s->T, (int)n, tok, off, lab);
    for (size_t i = 0; i < n; i++) train[i] = i;
    recur_batch data = {.n = (int)n, .tokens = tok, .offsets = off, .labels = lab};
    recur_fit_config fc;
    recur_fit_config_default(&fc);
    fc.train.optim = RECUR_OPTIM_ADAM;
    fc.train.lr = (float)s->lr;
    fc.train.clip = (float)s->clip;
    fc.train.threads = 1;
    fc.epochs = 1;
    fc.batch = s->batch;
    fc.in_order = 1;
    fc.patience = 0;
    task_run run = {.s = s, .pg = pg};
    fc.stop = &run.stop;
    fc.on_step = task_step;
    fc.user = &run;
    /* Validation: one sequence (the driver needs one; exp_task_test scores). */
    st = recur_fit(m, &fc, &data, train, n, train, 1, NULL, err);
    if (run.interrupted) {
        st = RECUR_ERR_INTERRUPTED;
        snprintf(err->message, sizeof err->message, "interrupted");
        goto done;
    }
    if (st == RECUR_ERR_INTERRUPTED) st = RECUR_OK; /* solved: stopped early */
    if (st) goto done;
    int step = run.steps;
    if (pg && step < s->steps) exp_progress_add(pg, s->work_per_step * (s->steps - step), 0);
    res->steps = step;
    res->loss = run.wsum / (step < WINDOW ? (step ? step : 1) : WINDOW);
    res->seconds = run.seconds;
done:
    free(tok);
    free(off);
    free(lab);
    free(train);
    return st;
}

recur_status exp_task_test(recur_model *m, int symbols, int T, int n, uint64_t seed, double *accuracy,
                           double *loss, recur_error *err)
{
    /* All n sequences as one data set, scored by the library (a runner:
     * no trainer, no optimiser state). */
    int32_t *tok = malloc((size_t)n * T * sizeof *tok), *off = malloc(((size_t)n + 1) * sizeof *off),
            *lab = malloc((size_t)n * sizeof *lab);
    recur_status st = RECUR_OK;
    if (!tok || !off || !lab) {
        snprintf(err->message, sizeof err->message, "out of memory for test sequences");
        st = RECUR_ERR_NOMEM;
    } else {
        cli_rng r;
        cli_rng_seed(&r, seed);
        exp_task_batch(&r, symbols, T, n, tok, off, lab);
        recur_batch all = {.n = n, .tokens = tok, .offsets = off, .labels = lab};
        recur_metrics met;
        st = recur_evaluate(m, &all, NULL, (size_t)n, 100, NULL, &met, err);
        *accuracy = recur_metrics_accuracy(&met);
        *loss = recur_metrics_loss(&met);
        recur_metrics_free(&met);
    }
    free(tok);
    free(off);
    free(lab);
    return st;
}

/* ------------------------------------------------------------------------ */

void exp_progress_init(exp_progress *p, const char *what, double total_work, int jobs, int quiet)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    p->tty = !quiet && isatty(2);
    p->start = cli_now();
    p->total = total_work > 0 ? total_work : 1;
    p->jobs = jobs;
    snprintf(p->what, sizeof p->what, "%s", what);
}

void exp_progress_add(exp_progress *p, double work, int job_done)
{
    pthread_mutex_lock(&p->mu);
    p->done += work;
    p->jobs_done += job_done;
    pthread_mutex_unlock(&p->mu);
}

void exp_progress_draw(exp_progress *p, int force)
{
    if (!p->tty) return;
    double now = cli_now();
    if (!force && p->drawn && now - p->last_draw < 0.1) return;
    pthread_mutex_lock(&p->mu);
    double frac = p->done / p->total;
    int jd = p->jobs_done;
    pthread_mutex_unlock(&p->mu);
    if (frac > 1) frac = 1;
    p->last_draw = now;
    enum { WIDTH = 24 };
    char bar[WIDTH * 3 + 1];
    size_t k = 0;
    for (int i = 0; i < WIDTH; i++) {
        memcpy(bar + k, i < (int)(frac * WIDTH) ? "█" : "░", 3);
        k += 3;
    }
    bar[k] = '\0';
    double el = now - p->start, eta = frac > 0.02 ? el * (1 - frac) / frac : -1;
    char e[32];
    if (eta < 0) snprintf(e, sizeof e, "--:--");
    else snprintf(e, sizeof e, "%ld:%02ld", (long)(eta + 0.5) / 60, (long)(eta + 0.5) % 60);
    fprintf(stderr, "\r%s %s %3d%%  %d/%d runs  %ld s  ETA %s\033[K", p->what, bar, (int)(100 * frac), jd,
            p->jobs, (long)el, e);
    fflush(stderr);
    p->drawn = 1;
}

void exp_progress_clear(exp_progress *p)
{
    if (p->tty && p->drawn) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
    }
    p->drawn = 0;
}

void exp_progress_free(exp_progress *p) { pthread_mutex_destroy(&p->mu); }

typedef struct job_pool {
    pthread_mutex_t mu;
    int next, n, rc, running;
    char msg[600];
    exp_job_fn fn;
    void *ctx;
    exp_progress *pg;
} job_pool;

static void *worker(void *arg)
{
    job_pool *jp = arg;
    for (;;) {
        pthread_mutex_lock(&jp->mu);
        int j = jp->rc ? jp->n : jp->next++;
        pthread_mutex_unlock(&jp->mu);
        if (j >= jp->n) break;
        char msg[600] = "";
        int rc = jp->fn(jp->ctx, j, msg, sizeof msg);
        exp_progress_add(jp->pg, 0, 1);
        if (rc) {
            pthread_mutex_lock(&jp->mu);
            if (!jp->rc) {
                jp->rc = rc;
                snprintf(jp->msg, sizeof jp->msg, "%s", msg);
            }
            pthread_mutex_unlock(&jp->mu);
        }
    }
    pthread_mutex_lock(&jp->mu);
    jp->running--;
    pthread_mutex_unlock(&jp->mu);
    return NULL;
}

int exp_run_jobs(int n, int workers, exp_job_fn fn, void *ctx, exp_progress *pg)
{
    job_pool jp;
    memset(&jp, 0, sizeof jp);
    pthread_mutex_init(&jp.mu, NULL);
    jp.n = n;
    jp.fn = fn;
    jp.ctx = ctx;
    jp.pg = pg;
    if (workers > n) workers = n;
    if (workers < 1) workers = 1;
    pthread_t th[64];
    if (workers > 64) workers = 64;
    int started = 0;
    jp.running = workers;
    for (; started < workers; started++)
        if (pthread_create(&th[started], NULL, worker, &jp) != 0) break;
    pthread_mutex_lock(&jp.mu);
    jp.running -= workers - started;
    pthread_mutex_unlock(&jp.mu);
    if (started == 0) worker(&jp); /* no thread could start: do it here */
    for (;;) {
        pthread_mutex_lock(&jp.mu);
        int running = jp.running;
        pthread_mutex_unlock(&jp.mu);
        if (running <= 0) break;
        exp_progress_draw(pg, 0);
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    exp_progress_draw(pg, 1);
    exp_progress_clear(pg);
    pthread_mutex_destroy(&jp.mu);
    if (jp.rc == EXIT_INTERRUPTED) cli_error("interrupted; nothing written");
    else if (jp.rc) cli_error("%s", jp.msg);
    return jp.rc;
}

/* ------------------------------------------------------------------------ */

double exp_clock(int cpu)
{
    struct timespec t;
    if (!cpu || clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) != 0) return cli_now();
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int exp_write_svg(const char *path, cli_buf *b, int plot_failed)
{
    char msg[600];
    int rc = 0;
    if (plot_failed || b->failed) {
        cli_error("--svg: out of memory drawing %s", path);
        rc = EXIT_RUNTIME;
    } else if (cli_write_file_atomic(path, b->data, b->len, msg, sizeof msg)) {
        cli_error("--svg: %s", msg);
        rc = EXIT_RUNTIME;
    }
    cli_buf_free(b);
    return rc;
}

void exp_json_num(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, "%.6g", v);
    else fputs("null", f);
}

int exp_report_results(const exp_report *rep, const void *run, double wall)
{
    if (rep->json) rep->print_json(run, wall);
    else rep->print_tables(run, wall);
    fflush(stdout);
    return rep->svg ? rep->write_plot(run) : 0;
}

int exp_run_report(const exp_report *rep, exp_progress *pg, const char *what, double total_work, int n, int workers,
                   exp_job_fn fn, void *run)
{
    exp_progress_init(pg, what, total_work, n, rep->quiet || rep->json);
    double t0 = cli_now();
    int rc = exp_run_jobs(n, workers, fn, run, pg);
    exp_progress_free(pg);
    return rc ? rc : exp_report_results(rep, run, cli_now() - t0);
}

int *exp_job_order(int n, double (*work)(const void *run, int job), const void *run, double *total)
{
    int *order = malloc((size_t)n * sizeof *order);
    double *w = malloc((size_t)n * sizeof *w);
    if (!order || !w) {
        free(order);
        free(w);
        cli_error("out of memory");
        return NULL;
    }
    *total = 0;
    for (int j = 0; j < n; j++) {
        order[j] = j;
        w[j] = work(run, j);
        *total += w[j];
    }
    /* Insertion sort: stable, and n is a few dozen runs at most. */
    for (int a = 1; a < n; a++)
        for (int b = a; b > 0 && w[order[b - 1]] < w[order[b]]; b--) {
            int tmp = order[b];
            order[b] = order[b - 1];
            order[b - 1] = tmp;
        }
    free(w);
    return order;
}

int exp_not_given(arg_command *cmd, const char *flag) { return !args_find(cmd, flag)->seen; }
