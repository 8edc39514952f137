/*
 * Rows on the real names data, recur side: training throughput of a
 * classifier (embedding 64 -> RNN/LSTM/GRU -> linear, batch 64, Adam),
 * single-name latency (string in, label out) and bulk inference.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

enum { EMBED = 64, TRAIN_BATCH = 64, BULK_BATCH = 256 };

int names_load(const bench_opts *o, names_data *nd, char *why, size_t cap)
{
    memset(nd, 0, sizeof *nd);
    recur_error err = {0};
    if (recur_dataset_load(o->data_dir, &nd->ds, &err)) {
        snprintf(why, cap, "names data not loaded from %s: %s", o->data_dir, err.message);
        return -1;
    }
    size_t n = recur_dataset_size(nd->ds);
    nd->n = (int)n;
    nd->num_labels = recur_dataset_num_labels(nd->ds);
    nd->text = malloc(n * sizeof *nd->text);
    nd->len = malloc(n * sizeof *nd->len);
    nd->label = malloc(n * sizeof *nd->label);
    nd->off = malloc((n + 1) * sizeof *nd->off);
    nd->labels = malloc((size_t)nd->num_labels * sizeof *nd->labels);
    size_t *perm = malloc(n * sizeof *perm);
    if (!nd->text || !nd->len || !nd->label || !nd->off || !nd->labels || !perm) goto nomem;
    for (int l = 0; l < nd->num_labels; l++) nd->labels[l] = recur_dataset_label_name(nd->ds, l);
    if (recur_vocab_create(RECUR_TEXT_UNICODE, &nd->vocab, &err)) goto fail;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *s = recur_dataset_text(nd->ds, i, &len);
        if (recur_vocab_add(nd->vocab, s, len, &err)) goto fail;
    }
    /* A fixed shuffle (Fisher-Yates on the seed). */
    uint64_t st = o->seed;
    for (size_t i = 0; i < n; i++) perm[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(recur_splitmix64(&st) % (i + 1));
        size_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        nd->text[i] = recur_dataset_text(nd->ds, perm[i], &nd->len[i]);
        nd->label[i] = recur_dataset_label(nd->ds, perm[i]);
        total += nd->len[i] + 8;
    }
    nd->ids = malloc(total * sizeof *nd->ids);
    if (!nd->ids) goto nomem;
    nd->off[0] = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        if (recur_vocab_encode(nd->vocab, nd->text[i], nd->len[i], nd->ids + nd->off[i],
                               total - (size_t)nd->off[i], &k, &err))
            goto fail;
        if (k == 0) {
            snprintf(why, cap, "name %zu encodes to nothing", i);
            goto out;
        }
        nd->off[i + 1] = nd->off[i] + (int32_t)k;
    }
    nd->tokens = nd->off[n];
    free(perm);
    return 0;
nomem:
    snprintf(why, cap, "out of memory loading the names");
    goto out;
fail:
    snprintf(why, cap, "names data: %s", err.message);
out:
    free(perm);
    names_free(nd);
    return -1;
}

void names_free(names_data *nd)
{
    recur_vocab_free(nd->vocab);
    recur_dataset_free(nd->ds);
    free(nd->text);
    free(nd->len);
    free(nd->label);
    free(nd->ids);
    free(nd->off);
    free(nd->labels);
    memset(nd, 0, sizeof *nd);
}

static recur_model *make_model(const names_data *nd, int cell, int hidden, uint64_t seed,
                               recur_error *err)
{
    recur_model_config cfg;
    recur_model_config_default(&cfg);
    cfg.task = RECUR_TASK_CLASSIFY;
    cfg.cell = (recur_cell)cell;
    cfg.hidden = hidden;
    cfg.layers = 1;
    cfg.embed = EMBED;
    cfg.seed = seed;
    recur_model *m = NULL;
    if (recur_model_create(&cfg, nd->vocab, nd->labels, nd->num_labels, &m, err)) return NULL;
    return m;
}

/* Nominal FLOPs of one forward: the recurrent layer per token, the head
 * per name (the embedding is a lookup: none). Training counts 3x. */
static double fwd_flops(int cell, int hidden, double tokens, double names, int classes)
{
    double G = recur_cell_gates((recur_cell)cell);
    return 2.0 * G * hidden * (EMBED + hidden) * tokens + 2.0 * hidden * classes * names;
}

static void fill_side(side *s, const measured *m, int flops)
{
    s->have = 1;
    s->n = m->trials;
    memcpy(s->trial, m->rates, sizeof(double) * (size_t)m->trials);
    s->s = stat_of(m->rates, m->trials);
    if (flops) {
        s->gflops = stat_of(m->gflops, m->trials);
        s->have_gflops = 1;
    }
    s->units = m->units_per_trial;
    s->reps = (double)m->reps;
}

/* ------------------------------------------------------------------------ */
/* Training                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct train_ctx {
    const names_data *nd;
    int cell, hidden;
} train_ctx;

/* Batch k of an epoch: names k*64 .. k*64+63 of the fixed shuffle. */
static void train_work(void *ctx, size_t k, double *units, double *flops)
{
    const train_ctx *c = ctx;
    const names_data *nd = c->nd;
    size_t first = k * TRAIN_BATCH;
    double tokens = nd->off[first + TRAIN_BATCH] - nd->off[first];
    *units += TRAIN_BATCH;
    *flops += 3.0 * fwd_flops(c->cell, c->hidden, tokens, TRAIN_BATCH, nd->num_labels);
}

/*
 * Training rows through recur_fit, the loop `recur train` runs: batches of
 * 64 consecutive names of the fixed shuffle (in_order, no buckets), the
 * same batches torch_ref.py trains on. Names/s count the driver's training
 * steps only (see measure_fit): gathering each batch and the optimiser
 * step, not the validation of one name at the end of every epoch.
 */
void names_train_rows(const bench_opts *o, const names_data *nd, rows *r)
{
    size_t n_train = (size_t)(nd->n / TRAIN_BATCH) * TRAIN_BATCH;
    size_t *train = malloc(n_train * sizeof *train);
    if (!train) return;
    for (size_t i = 0; i < n_train; i++) train[i] = i;
    recur_batch data = {.n = nd->n, .tokens = nd->ids, .offsets = nd->off, .labels = nd->label};
    for (int i = 0; i < r->n; i++) {
        row *w = &r->v[i];
        if (w->section != SEC_TRAIN) continue;
        /* The trainer's own pool runs the threads; one BLAS thread each, as
         * recur train asks (the library leaves OpenBLAS's setting alone). */
        recur_set_threads(w->threads > 1 ? 1 : w->threads);
        recur_error err = {0};
        recur_model *m = make_model(nd, w->cell, w->hidden, o->seed, &err);
        recur_fit_config fc;
        recur_fit_config_default(&fc);
        fc.train.threads = w->threads; /* its own pool */
        fc.batch = TRAIN_BATCH;
        fc.in_order = 1;
        fc.patience = 0;
        measured ms;
        train_ctx c = {nd, w->cell, w->hidden};
        if (!m || measure_fit(m, fc, &data, train, n_train, train_work, &c, o, &ms, &err)) {
            snprintf(w->recur.note, sizeof w->recur.note, "failed: %.140s", err.message);
            progress("recur train %s, %d thread(s): %s", w->what, w->threads, w->recur.note);
        } else {
            fill_side(&w->recur, &ms, 1);
            progress("recur train %s, %d thread(s): %.0f names/s (%.1f GFLOP/s)", w->what, w->threads,
                     w->recur.s.median, w->recur.gflops.median);
        }
        recur_model_free(m);
    }
    free(train);
}

/* ------------------------------------------------------------------------ */
/* Inference                                                                 */
/* ------------------------------------------------------------------------ */

static volatile const char *label_sink;

static int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

typedef struct infer_ctx {
    const names_data *nd;
    const recur_model *m;
    recur_runner *run;
    float *logp;
    int next, batch, stream; /* stream: names in the bulk stream */
    int cell, hidden;
    const char *texts[BULK_BATCH];
    size_t lens[BULK_BATCH];
} infer_ctx;

static int bulk_call(void *ctx, double *units, double *flops, recur_error *err)
{
    infer_ctx *c = ctx;
    const names_data *nd = c->nd;
    const char **texts = c->texts;
    size_t *lens = c->lens;
    double tokens = 0;
    int n = c->batch;
    for (int i = 0; i < n; i++) {
        int k = (c->next + i) % c->stream % nd->n;
        texts[i] = nd->text[k];
        lens[i] = nd->len[k];
        tokens += nd->off[k + 1] - nd->off[k];
    }
    c->next = (c->next + n) % c->stream;
    if (recur_runner_classify(c->run, texts, lens, n, c->logp, err)) return -1;
    int C = nd->num_labels;
    for (int i = 0; i < n; i++) label_sink = recur_model_label_name(c->m, argmax(c->logp + (size_t)i * C, C));
    *units += n;
    *flops += fwd_flops(c->cell, c->hidden, tokens, n, C);
    return 0;
}

/*
 * Bulk inference on n threads the way recur.h means it ("one runner per
 * thread"): n runners of one model, each on its own thread, and one call
 * classifies n consecutive batches of 256 at once, one per thread.
 */
enum { MAX_WORKERS = 64 };

typedef struct bulk_group bulk_group;
typedef struct bulk_worker {
    bulk_group *g;
    int i;
} bulk_worker;

struct bulk_group {
    int n, nplanned, next, stream, stop, started;
    infer_ctx *w; /* [n] */
    pthread_t th[MAX_WORKERS];
    bulk_worker arg[MAX_WORKERS];
    pthread_barrier_t start, done;
    int rc[MAX_WORKERS];
    double units[MAX_WORKERS], flops[MAX_WORKERS];
    recur_error err[MAX_WORKERS];
};

static void bulk_share(bulk_group *g, int i)
{
    infer_ctx *c = &g->w[i];
    c->next = (g->next + i * BULK_BATCH) % g->stream;
    g->units[i] = g->flops[i] = 0;
    g->rc[i] = bulk_call(c, &g->units[i], &g->flops[i], &g->err[i]);
}

static void *bulk_thread(void *p)
{
    bulk_worker *a = p;
    for (;;) {
        pthread_barrier_wait(&a->g->start);
        if (a->g->stop) break;
        bulk_share(a->g, a->i);
        pthread_barrier_wait(&a->g->done);
    }
    return NULL;
}

static int group_call(void *ctx, double *units, double *flops, recur_error *err)
{
    bulk_group *g = ctx;
    pthread_barrier_wait(&g->start);
    bulk_share(g, 0);
    pthread_barrier_wait(&g->done);
    g->next = (g->next + g->n * BULK_BATCH) % g->stream;
    for (int i = 0; i < g->n; i++) {
        if (g->rc[i]) {
            *err = g->err[i];
            return -1;
        }
        *units += g->units[i];
        *flops += g->flops[i];
    }
    return 0;
}

/* Runners and threads for a bulk row; -1 with err filled on failure. */
static int group_start(bulk_group *g, int n, const names_data *nd, const recur_model *m, const bench_opts *o,
                       const row *w, recur_error *err)
{
    memset(g, 0, sizeof *g);
    g->n = g->nplanned = n;
    g->stream = o->bulk_names;
    g->w = calloc((size_t)n, sizeof *g->w);
    if (!g->w) {
        snprintf(err->message, sizeof err->message, "out of memory");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        infer_ctx *c = &g->w[i];
        c->nd = nd, c->m = m, c->batch = BULK_BATCH, c->stream = o->bulk_names;
        c->cell = w->cell, c->hidden = w->hidden;
        c->logp = malloc((size_t)BULK_BATCH * nd->num_labels * sizeof *c->logp);
        if (!c->logp || recur_runner_create(m, BULK_BATCH, &c->run, err)) {
            if (!c->logp) snprintf(err->message, sizeof err->message, "out of memory");
            return -1;
        }
    }
    pthread_barrier_init(&g->start, NULL, (unsigned)n);
    pthread_barrier_init(&g->done, NULL, (unsigned)n);
    g->started = 1;
    for (int i = 1; i < n; i++) {
        g->arg[i] = (bulk_worker){g, i};
        if (pthread_create(&g->th[i], NULL, bulk_thread, &g->arg[i]) != 0) {
            fprintf(stderr, "bench: pthread_create failed\n");
            exit(1);
        }
    }
    return 0;
}

static void group_stop(bulk_group *g)
{
    if (!g->w) return;
    if (g->started) {
        g->stop = 1;
        pthread_barrier_wait(&g->start);
        for (int i = 1; i < g->n; i++) pthread_join(g->th[i], NULL);
        pthread_barrier_destroy(&g->start);
        pthread_barrier_destroy(&g->done);
    }
    for (int i = 0; i < g->nplanned; i++) {
        recur_runner_free(g->w[i].run);
        free(g->w[i].logp);
    }
    free(g->w);
    memset(g, 0, sizeof *g);
}

/* Latency: each call timed alone; trials of reps calls. */
static int latency_run(const bench_opts *o, infer_ctx *c, double *p50, double *p99, int *n_trials,
                       double *n_calls, recur_error *err)
{
    const names_data *nd = c->nd;
    int C = nd->num_labels;
    double t0 = now_s(), sum = 0;
    int calls = 0;
    do {
        int k = c->next++ % nd->n;
        double t = now_s();
        if (recur_runner_classify(c->run, &nd->text[k], &nd->len[k], 1, c->logp, err)) return -1;
        label_sink = recur_model_label_name(c->m, argmax(c->logp, C));
        sum += now_s() - t;
        calls++;
    } while (calls < 20 || now_s() - t0 < o->warm_s);
    double per = sum / calls;
    long reps = (long)ceil(o->trial_s / per);
    if (reps < o->lat_min_calls) reps = o->lat_min_calls;
    if (reps > 200000) reps = 200000;
    double *v = malloc((size_t)reps * sizeof *v);
    if (!v) return -1;
    for (int tr = 0; tr < o->trials; tr++) {
        for (long i = 0; i < reps; i++) {
            int k = c->next++ % nd->n;
            double t = now_s();
            if (recur_runner_classify(c->run, &nd->text[k], &nd->len[k], 1, c->logp, err)) {
                free(v);
                return -1;
            }
            label_sink = recur_model_label_name(c->m, argmax(c->logp, C));
            v[i] = (now_s() - t) * 1e6;
        }
        p50[tr] = percentile(v, (int)reps, 50);
        p99[tr] = percentile(v, (int)reps, 99);
    }
    free(v);
    *n_trials = o->trials;
    *n_calls = (double)reps;
    return 0;
}

static void fill_latency(side *s, const double *v, int n, double calls)
{
    s->have = 1;
    s->n = n;
    memcpy(s->trial, v, sizeof(double) * (size_t)n);
    s->s = stat_of(v, n);
    s->units = calls;
    s->reps = calls;
}

static void latency_row(const bench_opts *o, const names_data *nd, rows *r, row *w)
{
    recur_set_threads(w->threads);
    recur_error err = {0};
    recur_model *m = make_model(nd, w->cell, w->hidden, o->seed, &err);
    if (m && w->dtype && recur_model_quantize(m, (recur_dtype)w->dtype, &err)) {
        recur_model_free(m);
        m = NULL;
    }
    recur_runner *run = NULL;
    if (m && recur_runner_create(m, 1, &run, &err)) run = NULL;
    float *logp = malloc((size_t)nd->num_labels * sizeof *logp);
    static infer_ctx c;
    memset(&c, 0, sizeof c);
    c.nd = nd, c.m = m, c.run = run, c.logp = logp;
    c.batch = 1, c.stream = nd->n, c.cell = w->cell, c.hidden = w->hidden;
    double p50[MAX_TRIALS], p99[MAX_TRIALS], calls = 0;
    int nt = 0;
    if (m && run && logp && latency_run(o, &c, p50, p99, &nt, &calls, &err) == 0) {
        fill_latency(&w->recur, p50, nt, calls);
        char id[80];
        snprintf(id, sizeof id, "%s/p99", w->id);
        row *w99 = rows_find(r, id);
        if (w99) fill_latency(&w99->recur, p99, nt, calls);
        progress("recur latency %s, %d thread(s): median %.1f us, p99 %.1f us", w->what, w->threads,
                 w->recur.s.median, w99 ? w99->recur.s.median : 0.0);
    } else {
        if (!logp) snprintf(err.message, sizeof err.message, "out of memory");
        snprintf(w->recur.note, sizeof w->recur.note, "failed: %.140s", err.message);
        progress("recur %s: %s", w->id, w->recur.note);
    }
    free(logp);
    recur_runner_free(run);
    recur_model_free(m);
}

static void bulk_row(const bench_opts *o, const names_data *nd, row *w)
{
    /* Each runner on one thread; OpenBLAS (the head's product) gets one. */
    recur_set_threads(1);
    recur_error err = {0};
    recur_model *m = make_model(nd, w->cell, w->hidden, o->seed, &err);
    if (m && w->dtype && recur_model_quantize(m, (recur_dtype)w->dtype, &err)) {
        recur_model_free(m);
        m = NULL;
    }
    int n = w->threads < MAX_WORKERS ? w->threads : MAX_WORKERS;
    static bulk_group g;
    measured ms;
    int ok = m && group_start(&g, n, nd, m, o, w, &err) == 0;
    if (ok) {
        long per_call = (long)g.n * BULK_BATCH;
        long max_reps = (o->bulk_names + per_call - 1) / per_call;
        double ts = o->bulk_full ? 1e9 : o->bulk_trial_s;
        ok = measure(group_call, &g, o, ts, max_reps, &ms, &err) == 0;
    }
    if (ok) {
        /* No FLOP figure: inference reads layer 0's input projection from
         * a table, so a nominal count misleads. */
        fill_side(&w->recur, &ms, 0);
        progress("recur bulk %s, %d thread(s) (%d runner(s)): %.0f names/s (%.0f names per trial)", w->what,
                 w->threads, g.n, w->recur.s.median, ms.units_per_trial);
    } else {
        snprintf(w->recur.note, sizeof w->recur.note, "failed: %.140s", err.message);
        progress("recur %s: %s", w->id, w->recur.note);
    }
    group_stop(&g);
    recur_model_free(m);
}

void names_infer_rows(const bench_opts *o, const names_data *nd, rows *r)
{
    for (int i = 0; i < r->n; i++) {
        row *w = &r->v[i];
        if (w->section == SEC_LATENCY && !w->p99) latency_row(o, nd, r, w);
        else if (w->section == SEC_BULK) bulk_row(o, nd, w);
    }
}
