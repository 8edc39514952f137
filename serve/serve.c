/*
 * recur serve MODEL...: the models behind HTTP, speaking the Open Inference
 * Protocol v2 (KServe / Triton REST), on libmicrohttpd in its thread-pool
 * mode. Only this binary links libmicrohttpd; librecur knows nothing of it.
 *
 *   GET  /                          the page (page.html, in the binary)
 *   GET  /v2, /v2/health/live, /v2/health/ready
 *   GET  /v2/models/NAME            metadata: task, cell, labels, inputs, outputs
 *   GET  /v2/models/NAME/ready
 *   POST /v2/models/NAME/infer      texts in (BYTES), log-probabilities and
 *                                   labels out; generation: names out
 *   POST /v2/models/NAME/inspect    gates and label distribution per character
 *
 * Models. Each NAME holds a "version" (model + its runners + its batch
 * queue) that requests take a reference to; SIGHUP loads changed files and
 * swaps the version in, so a request in flight finishes on the one it took,
 * and a file that fails to load leaves the old version serving.
 *
 * Batching. A classify request joins its version's queue. The first thread
 * to find no collector becomes it: it waits (at most --batch-wait us, and
 * only while other requests are still being read) for more to join, takes
 * up to --batch-size texts, runs them in one recur_runner_classify on a
 * runner of its own and wakes their threads. A lone request waits for
 * nothing. Runners are kept per version in a free list: never more than
 * there are pool threads, each over the same read-only model.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "cli.h"
#include "serve.h"

/* ------------------------------------------------------------------------ */
/* Options                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct serve_opts {
    const char *host;
    int port, threads, max_body, max_batch, max_text, batch_wait, batch_size, connections, timeout, quiet;
} serve_opts;

static const char summary[] =
    "Serve MODEL files (a file, or NAME=FILE; NAME defaults to the file's name without\n"
    ".safetensors) over HTTP with the Open Inference Protocol v2 (KServe / Triton REST):\n"
    "POST /v2/models/NAME/infer with a BYTES input of texts; top-N with the parameter\n"
    "\"classification\"; generation models take \"label\", \"start\", \"temperature\",\n"
    "\"top_k\", \"seed\", \"count\" as parameters. GET / is a page to try the models and see\n"
    "their gates. SIGHUP reloads changed model files; SIGTERM or SIGINT stops after the\n"
    "requests in flight. One log line per request on stderr unless --quiet.";

/* ------------------------------------------------------------------------ */
/* Models, versions, batching                                                */
/* ------------------------------------------------------------------------ */

enum { JOB_QUEUED, JOB_TAKEN, JOB_DONE };

typedef struct job {
    const char *const *texts;
    const size_t *lens;
    int n;
    float *lp; /* [n][C] */
    recur_status st;
    recur_error err;
    int state;
    struct job *next;
} job;

typedef struct server server;

typedef struct version {
    recur_model *m;
    atomic_int refs;
    recur_task task;
    int C;
    int dense;  /* reads FP32 features (infer_dense), F per step      */
    char *meta; /* the metadata response */
    size_t meta_len;
    const server *sv;
    pthread_mutex_t mu; /* the runners' free list and the queue */
    pthread_cond_t cv;
    recur_runner **free_rn;
    int n_free, cap_free;
    job *head, *tail;
    int queued;     /* texts in the queue                        */
    int collecting; /* a thread is gathering the next batch      */
    int arriving;   /* classify requests being read, not queued  */
} version;

typedef struct slot {
    char name[64];
    const char *path;
    struct stat st; /* of the file the current version came from */
    version *cur;
} slot;

struct server {
    serve_opts o;
    slot *slots;
    int n_slots;
    pthread_mutex_t mu; /* slot->cur */
    atomic_int active;  /* requests begun and not completed */
    atomic_int stopping;
    atomic_ulong served;
    atomic_ulong seed_counter;
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* One line on stderr, "recur serve: ...". */
static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "recur serve: %s\n", line);
}

/* A JSON string literal of s[0..n) into b; bytes of invalid UTF-8 become '?'. */
static void json_str(cli_buf *b, const char *s, size_t n)
{
    int valid = serve_utf8_valid(s, n);
    cli_buf_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') cli_buf_printf(b, "\\%c", c);
        else if (c < 0x20 || c == 0x7f) cli_buf_printf(b, "\\u%04x", c);
        else if (c >= 0x80 && !valid) cli_buf_put(b, "?", 1);
        else cli_buf_put(b, (const char *)&c, 1);
    }
    cli_buf_put(b, "\"", 1);
}

static void json_cstr(cli_buf *b, const char *s) { json_str(b, s, strlen(s)); }

/* A float JSON can hold: log-probabilities may be -inf. */
static void json_float(cli_buf *b, double v)
{
    if (!isfinite(v)) v = v < 0 ? -3.4e38 : 3.4e38;
    cli_buf_printf(b, "%.7g", v);
}

static void build_meta(version *v, const char *name)
{
    const recur_model *m = v->m;
    const recur_model_config *c = recur_model_get_config(m);
    cli_buf b = {0};
    cli_buf_printf(&b, "{\"name\":");
    json_cstr(&b, name);
    cli_buf_printf(&b, ",\"versions\":[\"1\"],\"platform\":\"recur\",");
    const int steps = c->head == RECUR_HEAD_STEPS, real = c->target == RECUR_TARGET_REAL;
    if (v->dense) {
        cli_buf_printf(&b, "\"inputs\":[{\"name\":\"features\",\"datatype\":\"FP32\",\"shape\":[-1,-1,%d]},"
                           "{\"name\":\"lengths\",\"datatype\":\"INT32\",\"shape\":[-1]}],\"outputs\":[",
                       c->input_size);
        if (!real)
            cli_buf_printf(&b, "{\"name\":\"label\",\"datatype\":\"BYTES\",\"shape\":[-1%s]},", steps ? ",-1" : "");
        cli_buf_printf(&b, "{\"name\":\"%s\",\"datatype\":\"FP32\",\"shape\":[-1%s,%d]}],",
                       real ? "values" : "logprobs", steps ? ",-1" : "", v->C);
    } else if (c->task == RECUR_TASK_CLASSIFY)
        cli_buf_printf(&b, "\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[-1]}],"
                           "\"outputs\":[{\"name\":\"label\",\"datatype\":\"BYTES\",\"shape\":[-1]},"
                           "{\"name\":\"logprobs\",\"datatype\":\"FP32\",\"shape\":[-1,%d]}],",
                       v->C);
    else
        cli_buf_printf(&b, "\"inputs\":[],\"outputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[-1]},"
                           "{\"name\":\"logprob\",\"datatype\":\"FP32\",\"shape\":[-1]}],");
    cli_buf_printf(&b,
                   "\"parameters\":{\"task\":\"%s\",\"cell\":\"%s\",\"hidden\":%d,\"layers\":%d,"
                   "\"bidirectional\":%s,\"weights\":%zu,\"labels\":[",
                   recur_task_name(c->task), recur_cell_name(c->cell), c->hidden,
                   c->layers, c->bidirectional ? "true" : "false", recur_model_num_weights(m));
    for (int l = 0; l < recur_model_num_labels(m) && c->task != RECUR_TASK_GENERATE; l++) {
        if (l) cli_buf_put(&b, ",", 1);
        json_cstr(&b, recur_model_label_name(m, l));
    }
    for (int l = 0; l < recur_model_num_labels(m) && c->task == RECUR_TASK_GENERATE; l++) {
        if (l) cli_buf_put(&b, ",", 1);
        json_cstr(&b, recur_model_label_name(m, l));
    }
    cli_buf_printf(&b, "]}}");
    v->meta = b.data;
    v->meta_len = b.failed ? 0 : b.len;
}

static void version_free(version *v)
{
    if (!v) return;
    for (int i = 0; i < v->n_free; i++) recur_runner_free(v->free_rn[i]);
    free(v->free_rn);
    free(v->meta);
    recur_model_free(v->m);
    pthread_mutex_destroy(&v->mu);
    pthread_cond_destroy(&v->cv);
    free(v);
}

static void version_release(version *v)
{
    if (v && atomic_fetch_sub(&v->refs, 1) == 1) version_free(v);
}

/* Load path into a new version (refs 1); NULL with err on failure. */
static version *version_load(const server *sv, const char *name, const char *path, recur_error *err)
{
    version *v = calloc(1, sizeof *v);
    if (!v) {
        snprintf(err->message, sizeof err->message, "out of memory");
        return NULL;
    }
    if (recur_model_load(path, &v->m, err)) {
        free(v);
        return NULL;
    }
    const recur_model_config *mc = recur_model_get_config(v->m);
    if (mc->input == RECUR_INPUT_TOKENS && mc->task != RECUR_TASK_CLASSIFY && mc->task != RECUR_TASK_GENERATE) {
        /* Token taggers and regressors take texts whose outputs have no
         * shape in this server yet; dense models of any task are served. */
        snprintf(err->message, sizeof err->message,
                 "%s: recur serve answers text classifiers, generators and dense-input models; this model %s", path,
                 mc->task == RECUR_TASK_TAG ? "tags the symbols of texts (not served yet)"
                                            : "regresses on texts (not served yet)");
        recur_model_free(v->m);
        free(v);
        return NULL;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&v->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&v->mu, NULL);
    atomic_init(&v->refs, 1);
    v->sv = sv;
    v->task = recur_model_get_config(v->m)->task;
    v->dense = mc->input == RECUR_INPUT_DENSE;
    v->C = v->dense ? recur_model_output_size(v->m)
                    : v->task == RECUR_TASK_CLASSIFY ? recur_model_num_labels(v->m) : 0;
    build_meta(v, name);
    if (!v->meta_len) {
        snprintf(err->message, sizeof err->message, "out of memory");
        version_free(v);
        return NULL;
    }
    return v;
}

static recur_runner *runner_get(version *v, recur_error *err)
{
    recur_runner *r = NULL;
    pthread_mutex_lock(&v->mu);
    if (v->n_free) r = v->free_rn[--v->n_free];
    pthread_mutex_unlock(&v->mu);
    if (r) return r;
    int cap = v->sv->o.max_batch > v->sv->o.batch_size ? v->sv->o.max_batch : v->sv->o.batch_size;
    return recur_runner_create(v->m, cap, &r, err) ? NULL : r;
}

static void runner_put(version *v, recur_runner *r)
{
    pthread_mutex_lock(&v->mu);
    if (v->n_free == v->cap_free) {
        int cap = v->cap_free ? 2 * v->cap_free : 8;
        recur_runner **q = realloc(v->free_rn, (size_t)cap * sizeof *q);
        if (!q) {
            pthread_mutex_unlock(&v->mu);
            recur_runner_free(r);
            return;
        }
        v->free_rn = q;
        v->cap_free = cap;
    }
    v->free_rn[v->n_free++] = r;
    pthread_mutex_unlock(&v->mu);
}

/* Classify the jobs in one runner call; when that fails, each job alone,
 * so that the error is the one of the request at fault. */
static void run_jobs(version *v, job **js, int nj)
{
    recur_error err;
    recur_runner *r = runner_get(v, &err);
    if (!r) {
        for (int i = 0; i < nj; i++) js[i]->st = RECUR_ERR_NOMEM, js[i]->err = err;
        return;
    }
    int total = 0;
    for (int i = 0; i < nj; i++) total += js[i]->n;
    const char **t = nj > 1 ? malloc((size_t)total * sizeof *t) : NULL;
    size_t *l = nj > 1 ? malloc((size_t)total * sizeof *l) : NULL;
    float *lp = nj > 1 ? malloc((size_t)total * (size_t)v->C * sizeof *lp) : NULL;
    recur_status st = RECUR_ERR_NOMEM;
    if (t && l && lp) {
        for (int i = 0, k = 0; i < nj; k += js[i]->n, i++) {
            memcpy(t + k, js[i]->texts, (size_t)js[i]->n * sizeof *t);
            memcpy(l + k, js[i]->lens, (size_t)js[i]->n * sizeof *l);
        }
        st = recur_runner_classify(r, t, l, total, lp, &err);
        for (int i = 0, k = 0; !st && i < nj; k += js[i]->n, i++) {
            memcpy(js[i]->lp, lp + (size_t)k * v->C, (size_t)js[i]->n * (size_t)v->C * sizeof *lp);
            js[i]->st = RECUR_OK;
        }
    }
    if (st)
        for (int i = 0; i < nj; i++)
            js[i]->st = recur_runner_classify(r, js[i]->texts, js[i]->lens, js[i]->n, js[i]->lp, &js[i]->err);
    free(t);
    free(l);
    free(lp);
    runner_put(v, r);
}

static void arrive(version *v)
{
    pthread_mutex_lock(&v->mu);
    v->arriving++;
    pthread_mutex_unlock(&v->mu);
}

static void leave(version *v)
{
    pthread_mutex_lock(&v->mu);
    v->arriving--;
    pthread_cond_broadcast(&v->cv);
    pthread_mutex_unlock(&v->mu);
}

/* The job's texts classified, batched with whatever else is queued. The
 * caller has arrive()d; this leaves. */
static void classify_batched(version *v, job *j)
{
    const serve_opts *o = &v->sv->o;
    if (o->batch_wait == 0 || j->n >= o->batch_size) {
        leave(v);
        run_jobs(v, &j, 1);
        return;
    }
    pthread_mutex_lock(&v->mu);
    v->arriving--;
    j->state = JOB_QUEUED;
    j->next = NULL;
    if (v->tail) v->tail->next = j;
    else v->head = j;
    v->tail = j;
    v->queued += j->n;
    pthread_cond_broadcast(&v->cv);
    while (j->state != JOB_DONE) {
        if (j->state != JOB_QUEUED || v->collecting) {
            pthread_cond_wait(&v->cv, &v->mu);
            continue;
        }
        v->collecting = 1;
        struct timespec dl;
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_nsec += (long)o->batch_wait * 1000;
        dl.tv_sec += dl.tv_nsec / 1000000000;
        dl.tv_nsec %= 1000000000;
        /* Wait only for requests already being read: a lone one runs now. */
        while (v->arriving > 0 && v->queued < o->batch_size)
            if (pthread_cond_timedwait(&v->cv, &v->mu, &dl) == ETIMEDOUT) break;
        job *take[SERVE_MAX_BATCH];
        int nt = 0, texts = 0;
        while (v->head && nt < SERVE_MAX_BATCH && (nt == 0 || texts + v->head->n <= o->batch_size)) {
            job *h = v->head;
            v->head = h->next;
            if (!v->head) v->tail = NULL;
            h->state = JOB_TAKEN;
            texts += h->n;
            take[nt++] = h;
        }
        v->queued -= texts;
        v->collecting = 0;
        pthread_cond_broadcast(&v->cv);
        pthread_mutex_unlock(&v->mu);
        run_jobs(v, take, nt);
        pthread_mutex_lock(&v->mu);
        for (int i = 0; i < nt; i++) take[i]->state = JOB_DONE;
        pthread_cond_broadcast(&v->cv);
    }
    pthread_mutex_unlock(&v->mu);
}

/* ------------------------------------------------------------------------ */
/* HTTP                                                                      */
/* ------------------------------------------------------------------------ */

typedef struct req {
    double t0;
    char method[16];
    char path[256];
    char *body;
    size_t len, cap;
    int too_large;
    int status;
    /* An infer request takes its model's version when its headers arrive
     * and, for a classifier, counts as arriving (batch collectors wait for
     * it) until its body is read and queued. */
    struct version *v;
    int arrived;
} req;

static enum MHD_Result reply(server *sv, struct MHD_Connection *c, req *q, int status, const char *type,
                             char *data, size_t len, int owned)
{
    /* owned: 0 static data, 1 malloc'd (MHD frees it), 2 copied (the
     * metadata of a version that a reload may free before it is sent). */
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, data, owned == 1 ? MHD_RESPMEM_MUST_FREE : owned == 2 ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (owned == 1) free(data);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (atomic_load(&sv->stopping)) MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    q->status = status;
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result reply_json(server *sv, struct MHD_Connection *c, req *q, int status, cli_buf *b)
{
    if (b->failed) {
        cli_buf_free(b);
        static const char oom[] = "{\"error\":\"out of memory\"}";
        return reply(sv, c, q, 500, "application/json", (char *)oom, sizeof oom - 1, 0);
    }
    return reply(sv, c, q, status, "application/json", b->data, b->len, 1);
}

static enum MHD_Result reply_error(server *sv, struct MHD_Connection *c, req *q, int status, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static enum MHD_Result reply_error(server *sv, struct MHD_Connection *c, req *q, int status, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20) *p = '?';
    cli_buf b = {0};
    cli_buf_put(&b, "{\"error\":", 9);
    json_cstr(&b, msg);
    cli_buf_put(&b, "}", 1);
    return reply_json(sv, c, q, status, &b);
}

static enum MHD_Result reply_text(server *sv, struct MHD_Connection *c, req *q, const char *json)
{
    return reply(sv, c, q, 200, "application/json", (char *)json, strlen(json), 0);
}

/* The slot's current version, referenced (release it), or NULL. */
static version *take_version(server *sv, const char *name, size_t n)
{
    version *v = NULL;
    pthread_mutex_lock(&sv->mu);
    for (int i = 0; i < sv->n_slots; i++)
        if (strlen(sv->slots[i].name) == n && memcmp(sv->slots[i].name, name, n) == 0) {
            v = sv->slots[i].cur;
            atomic_fetch_add(&v->refs, 1);
        }
    pthread_mutex_unlock(&sv->mu);
    return v;
}

static void model_list(const server *sv, char *out, size_t cap)
{
    size_t at = 0;
    out[0] = '\0';
    for (int i = 0; i < sv->n_slots && at < cap; i++)
        at += (size_t)snprintf(out + at, cap - at, "%s%s", i ? ", " : "", sv->slots[i].name);
}

static void label_list(const recur_model *m, char *out, size_t cap)
{
    size_t at = 0;
    out[0] = '\0';
    for (int c = 0; c < recur_model_num_labels(m) && at < cap; c++)
        at += (size_t)snprintf(out + at, cap - at, "%s%s", c ? ", " : "", recur_model_label_name(m, c));
}

/* The response head: model name, version and the request's id. */
static void response_head(cli_buf *b, const char *name, const serve_infer *in)
{
    cli_buf_printf(b, "{\"model_name\":");
    json_cstr(b, name);
    cli_buf_printf(b, ",\"model_version\":\"1\"");
    if (in->id) {
        cli_buf_printf(b, ",\"id\":");
        json_cstr(b, in->id);
    }
}

/* The request's fault (400), or the server's (500). Unsupported: what the
 * request asks of this model it cannot do (inspect a dense model). */
static int status_of(recur_status st)
{
    return st == RECUR_ERR_ARG || st == RECUR_ERR_DATA || st == RECUR_ERR_UNSUPPORTED ? 400 : 500;
}

static enum MHD_Result infer_classify(server *sv, struct MHD_Connection *c, req *q, version *v, const char *name)
{
    serve_limits lim = {sv->o.max_batch, (size_t)sv->o.max_text};
    serve_infer in;
    char msg[512];
    if (!q->arrived) arrive(v);
    q->arrived = 0; /* from here on, every path leaves */
    int rc = serve_parse_infer(q->body, q->len, v->task, v->C, &lim, &in, msg, sizeof msg);
    if (rc) {
        leave(v);
        serve_infer_free(&in);
        return reply_error(sv, c, q, rc, "%s", msg);
    }
    float *lp = malloc((size_t)in.n * (size_t)v->C * sizeof *lp);
    if (!lp) {
        leave(v);
        serve_infer_free(&in);
        return reply_error(sv, c, q, 500, "out of memory");
    }
    job j = {(const char *const *)in.texts, in.lens, in.n, lp, RECUR_OK, {0}, 0, NULL};
    classify_batched(v, &j);
    if (j.st) {
        free(lp);
        serve_infer_free(&in);
        return reply_error(sv, c, q, status_of(j.st), "%s", j.err.message);
    }
    cli_buf b = {0};
    response_head(&b, name, &in);
    cli_buf_printf(&b, ",\"outputs\":[");
    int C = v->C, k = in.classification;
    if (in.want_label) {
        int per = k ? k : 1;
        if (k) cli_buf_printf(&b, "{\"name\":\"label\",\"datatype\":\"BYTES\",\"shape\":[%d,%d],\"data\":[", in.n, k);
        else cli_buf_printf(&b, "{\"name\":\"label\",\"datatype\":\"BYTES\",\"shape\":[%d],\"data\":[", in.n);
        int *idx = malloc((size_t)C * sizeof *idx);
        if (!idx) b.failed = 1;
        for (int i = 0; idx && i < in.n; i++) {
            const float *row = lp + (size_t)i * C;
            for (int l = 0; l < C; l++) idx[l] = l;
            for (int t = 0; t < per && t < C; t++) {
                /* Selection: the t-th most likely, ties to the lower id. */
                for (int l = t + 1; l < C; l++)
                    if (row[idx[l]] > row[idx[t]] || (row[idx[l]] == row[idx[t]] && idx[l] < idx[t])) {
                        int x = idx[t];
                        idx[t] = idx[l];
                        idx[l] = x;
                    }
                int bi = idx[t];
                if (i || t) cli_buf_put(&b, ",", 1);
                if (k) {
                    /* Triton's "value:index:label". */
                    char s[600];
                    snprintf(s, sizeof s, "%.2f:%d:%s", (double)row[bi], bi, recur_model_label_name(v->m, bi));
                    json_cstr(&b, s);
                } else {
                    json_cstr(&b, recur_model_label_name(v->m, bi));
                }
            }
        }
        free(idx);
        cli_buf_printf(&b, "]}");
    }
    if (in.want_logprobs) {
        cli_buf_printf(&b, "%s{\"name\":\"logprobs\",\"datatype\":\"FP32\",\"shape\":[%d,%d],\"data\":[",
                       in.want_label ? "," : "", in.n, C);
        for (size_t i = 0; i < (size_t)in.n * C; i++) {
            if (i) cli_buf_put(&b, ",", 1);
            json_float(&b, lp[i]);
        }
        cli_buf_printf(&b, "]}");
    }
    cli_buf_printf(&b, "]}");
    free(lp);
    serve_infer_free(&in);
    return reply_json(sv, c, q, 200, &b);
}

static enum MHD_Result infer_generate(server *sv, struct MHD_Connection *c, req *q, version *v, const char *name)
{
    serve_limits lim = {sv->o.max_batch, (size_t)sv->o.max_text};
    serve_infer in;
    char msg[512];
    int rc = serve_parse_infer(q->body, q->len, v->task, recur_model_num_labels(v->m), &lim, &in, msg, sizeof msg);
    if (rc) {
        serve_infer_free(&in);
        return reply_error(sv, c, q, rc, "%s", msg);
    }
    int label = recur_model_label_find(v->m, in.label);
    if (label < 0) {
        char list[400];
        label_list(v->m, list, sizeof list);
        enum MHD_Result res = reply_error(sv, c, q, 400, "'%s' is not a label of %s (%s)", in.label, name, list);
        serve_infer_free(&in);
        return res;
    }
    const recur_vocab *voc = recur_model_vocab(v->m);
    int32_t prefix[SERVE_MAX_LENGTH + 8];
    size_t np = 0;
    recur_error err;
    if (in.start && *in.start) {
        if (recur_vocab_encode(voc, in.start, strlen(in.start), prefix, SERVE_MAX_LENGTH, &np, &err)) {
            serve_infer_free(&in);
            return reply_error(sv, c, q, 400, "parameter 'start': %s", err.message);
        }
        for (size_t i = 0; i < np; i++)
            if (prefix[i] == RECUR_TOKEN_UNKNOWN) {
                serve_infer_free(&in);
                return reply_error(sv, c, q, 400, "parameter 'start' holds a character the model never saw in training");
            }
        if ((int)np >= in.max_length) {
            int ml = in.max_length;
            serve_infer_free(&in);
            return reply_error(sv, c, q, 400, "parameter 'start' is %zu symbols long; 'max_length' is %d", np, ml);
        }
    }
    uint64_t seed = in.has_seed ? in.seed
                                : ((uint64_t)time(NULL) << 20 ^ atomic_fetch_add(&sv->seed_counter, 1)) &
                                      ((1ULL << 53) - 1);
    recur_runner *r = runner_get(v, &err);
    if (!r) {
        serve_infer_free(&in);
        return reply_error(sv, c, q, 500, "%s", err.message);
    }
    int32_t tok[SERVE_MAX_LENGTH];
    double *lps = malloc((size_t)in.count * sizeof *lps);
    cli_buf b = {0};
    response_head(&b, name, &in);
    cli_buf_printf(&b, ",\"parameters\":{\"seed\":%llu},\"outputs\":[", (unsigned long long)seed);
    if (in.want_text) cli_buf_printf(&b, "{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[%d],\"data\":[", in.count);
    uint64_t rng = recur_sample_seed(seed, label);
    recur_sample_config sc = {in.temperature, in.top_k, in.max_length};
    recur_status st = lps ? RECUR_OK : RECUR_ERR_NOMEM;
    if (!lps) snprintf(err.message, sizeof err.message, "out of memory");
    for (int i = 0; !st && i < in.count; i++) {
        int n = 0;
        st = recur_runner_sample(r, label, prefix, (int)np, &sc, &rng, tok, &n, &lps[i], &err);
        if (st) break;
        cli_buf name_b = {0};
        for (int t = 0; t < n; t++) cli_buf_printf(&name_b, "%s", recur_vocab_symbol(voc, tok[t]));
        if (in.want_text) {
            if (i) cli_buf_put(&b, ",", 1);
            json_str(&b, name_b.data ? name_b.data : "", name_b.len);
        }
        cli_buf_free(&name_b);
    }
    runner_put(v, r);
    if (st) {
        free(lps);
        cli_buf_free(&b);
        serve_infer_free(&in);
        return reply_error(sv, c, q, status_of(st), "%s", err.message);
    }
    if (in.want_text) cli_buf_printf(&b, "]}");
    if (in.want_logprob) {
        cli_buf_printf(&b, "%s{\"name\":\"logprob\",\"datatype\":\"FP32\",\"shape\":[%d],\"data\":[",
                       in.want_text ? "," : "", in.count);
        for (int i = 0; i < in.count; i++) {
            if (i) cli_buf_put(&b, ",", 1);
            json_float(&b, lps[i]);
        }
        cli_buf_printf(&b, "]}");
    }
    cli_buf_printf(&b, "]}");
    free(lps);
    serve_infer_free(&in);
    return reply_json(sv, c, q, 200, &b);
}

enum MHD_Result serve_inspect(server *sv, struct MHD_Connection *c, req *q, version *v, const char *name);

/* A dense-input model (serve_parse_dense): the padded sequences packed
 * into one batch, one runner call, and per sequence (head on the final
 * state) or per step, padded back to [N, T] (zeros and "" past each
 * length), the class names and log-probabilities or the real values. */
static enum MHD_Result infer_dense(server *sv, struct MHD_Connection *c, req *q, version *v, const char *name)
{
    serve_limits lim = {sv->o.max_batch, (size_t)sv->o.max_text};
    const recur_model_config *mc = recur_model_get_config(v->m);
    const int F = mc->input_size, W = v->C, steps = mc->head == RECUR_HEAD_STEPS,
              real = mc->target == RECUR_TARGET_REAL;
    serve_dense in;
    char msg[512];
    int rc = serve_parse_dense(q->body, q->len, F, &lim, &in, msg, sizeof msg);
    if (rc) {
        serve_dense_free(&in);
        return reply_error(sv, c, q, rc, "%s", msg);
    }
    int32_t *off = malloc(((size_t)in.n + 1) * sizeof *off);
    float *feat = malloc((size_t)in.n * in.T * F * sizeof *feat);
    size_t rows = steps ? (size_t)in.n * in.T : (size_t)in.n;
    float *out = malloc(rows * W * sizeof *out), *pad = steps ? calloc(rows * W, sizeof *pad) : out;
    recur_error err;
    recur_status st = off && feat && out && pad ? RECUR_OK : RECUR_ERR_NOMEM;
    if (st) snprintf(err.message, sizeof err.message, "out of memory");
    if (!st) {
        off[0] = 0;
        for (int i = 0; i < in.n; i++) {
            memcpy(feat + (size_t)off[i] * F, in.x + (size_t)i * in.T * F, (size_t)in.lengths[i] * F * sizeof *feat);
            off[i + 1] = off[i] + in.lengths[i];
        }
        recur_batch bt = {.n = in.n, .offsets = off, .features = feat};
        recur_runner *r = runner_get(v, &err);
        st = r ? recur_runner_predict(r, &bt, out, &err) : RECUR_ERR_NOMEM;
        if (r) runner_put(v, r);
        /* Per-step rows back to their padded places. */
        for (int i = 0; !st && steps && i < in.n; i++)
            memcpy(pad + (size_t)i * in.T * W, out + (size_t)off[i] * W, (size_t)in.lengths[i] * W * sizeof *out);
    }
    if (st) {
        free(off);
        free(feat);
        if (pad != out) free(pad);
        free(out);
        serve_dense_free(&in);
        return reply_error(sv, c, q, status_of(st), "%s", err.message);
    }
    /* The rows' shape: [N, T] per step, [N] per sequence; without N for a
     * request of one unbatched sequence [T, F]. */
    char shape[64] = "";
    if (steps && in.batched) snprintf(shape, sizeof shape, "%d,%d", in.n, in.T);
    else if (steps) snprintf(shape, sizeof shape, "%d", in.T);
    else if (in.batched) snprintf(shape, sizeof shape, "%d", in.n);
    const char *sep = *shape ? "," : "";
    serve_infer head = {.id = in.id};
    cli_buf b = {0};
    response_head(&b, name, &head);
    cli_buf_printf(&b, ",\"outputs\":[");
    if (in.want_label && !real) {
        cli_buf_printf(&b, "{\"name\":\"label\",\"datatype\":\"BYTES\",\"shape\":[%s],\"data\":[", *shape ? shape : "1");
        for (size_t k = 0; k < rows; k++) {
            const float *row = pad + k * W;
            int best = 0;
            for (int l = 1; l < W; l++)
                if (row[l] > row[best]) best = l;
            int past = steps && (int)(k % in.T) >= in.lengths[k / in.T];
            if (k) cli_buf_put(&b, ",", 1);
            json_cstr(&b, past ? "" : recur_model_label_name(v->m, best));
        }
        cli_buf_printf(&b, "]}");
    }
    if (in.want_values || real) {
        cli_buf_printf(&b, "%s{\"name\":\"%s\",\"datatype\":\"FP32\",\"shape\":[%s%s%d],\"data\":[",
                       in.want_label && !real ? "," : "", real ? "values" : "logprobs", shape, sep, W);
        for (size_t k = 0; k < rows * W; k++) {
            if (k) cli_buf_put(&b, ",", 1);
            json_float(&b, pad[k]);
        }
        cli_buf_printf(&b, "]}");
    }
    cli_buf_printf(&b, "]}");
    free(off);
    free(feat);
    if (pad != out) free(pad);
    free(out);
    serve_dense_free(&in);
    return reply_json(sv, c, q, 200, &b);
}

/* /v2/models/NAME[/versions/1][/ready|/infer|/inspect] */
static enum MHD_Result route_model(server *sv, struct MHD_Connection *c, req *q, const char *rest, int get, int post)
{
    const char *slash = strchr(rest, '/');
    size_t nlen = slash ? (size_t)(slash - rest) : strlen(rest);
    const char *what = slash ? slash : "";
    if (strncmp(what, "/versions/", 10) == 0) {
        const char *ver = what + 10, *s2 = strchr(ver, '/');
        size_t vl = s2 ? (size_t)(s2 - ver) : strlen(ver);
        if (vl != 1 || ver[0] != '1') return reply_error(sv, c, q, 400, "model version '%.*s' does not exist (only \"1\")", (int)(vl < 64 ? vl : 64), ver);
        what = s2 ? s2 : "";
    }
    version *v = q->v ? q->v : take_version(sv, rest, nlen);
    if (!v) {
        char list[400];
        model_list(sv, list, sizeof list);
        return reply_error(sv, c, q, 400, "unknown model '%.*s' (this server has: %s)", (int)(nlen < 128 ? nlen : 128),
                           rest, list);
    }
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)nlen, rest);
    enum MHD_Result res;
    int is_meta = !*what, is_ready = strcmp(what, "/ready") == 0, is_infer = strcmp(what, "/infer") == 0,
        is_inspect = strcmp(what, "/inspect") == 0;
    if (!is_meta && !is_ready && !is_infer && !is_inspect) res = reply_error(sv, c, q, 404, "no such path: %s", q->path);
    else if ((is_meta || is_ready) && !get) res = reply_error(sv, c, q, 405, "%s takes GET", q->path);
    else if ((is_infer || is_inspect) && !post) res = reply_error(sv, c, q, 405, "%s takes POST", q->path);
    else if (is_meta) res = reply(sv, c, q, 200, "application/json", v->meta, v->meta_len, 2);
    else if (is_ready) {
        cli_buf b = {0};
        cli_buf_printf(&b, "{\"name\":");
        json_cstr(&b, name);
        cli_buf_printf(&b, ",\"ready\":true}");
        res = reply_json(sv, c, q, 200, &b);
    } else if (is_inspect) res = serve_inspect(sv, c, q, v, name);
    else if (v->dense) res = infer_dense(sv, c, q, v, name);
    else if (v->task == RECUR_TASK_CLASSIFY) res = infer_classify(sv, c, q, v, name);
    else res = infer_generate(sv, c, q, v, name);
    if (v != q->v) version_release(v);
    return res;
}

/* At the headers of POST /v2/models/NAME[/versions/1]/infer: the version it
 * will use, and for a classifier its arrival (see req). */
static void early_infer(server *sv, req *q, const char *url)
{
    const char *rest = url + 11, *sl = strchr(rest, '/');
    if (strncmp(url, "/v2/models/", 11) != 0 || !sl) return;
    const char *what = sl;
    if (strncmp(what, "/versions/1/", 12) == 0) what += 11;
    if (strcmp(what, "/infer") != 0) return;
    q->v = take_version(sv, rest, (size_t)(sl - rest));
    if (q->v && q->v->task == RECUR_TASK_CLASSIFY && !q->v->dense) {
        arrive(q->v);
        q->arrived = 1;
    }
}

static enum MHD_Result route(server *sv, struct MHD_Connection *c, req *q, const char *url, const char *method)
{
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0, post = strcmp(method, "POST") == 0;
    if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0) {
        if (!get) return reply_error(sv, c, q, 405, "/ takes GET");
        return reply(sv, c, q, 200, "text/html; charset=utf-8", (char *)serve_page,
                     (size_t)(serve_page_end - serve_page), 0);
    }
    if (strncmp(url, "/v2/models/", 11) == 0 && url[11]) return route_model(sv, c, q, url + 11, get, post);
    int live = strcmp(url, "/v2/health/live") == 0, ready = strcmp(url, "/v2/health/ready") == 0,
        meta = strcmp(url, "/v2") == 0;
    if (!live && !ready && !meta) return reply_error(sv, c, q, 404, "no such path: %s", q->path);
    if (!get) return reply_error(sv, c, q, 405, "%s takes GET", q->path);
    if (live) return reply_text(sv, c, q, "{\"live\":true}");
    if (ready) return reply_text(sv, c, q, atomic_load(&sv->stopping) ? "{\"ready\":false}" : "{\"ready\":true}");
    cli_buf b = {0};
    cli_buf_printf(&b, "{\"name\":\"recur\",\"version\":\"%s\",\"extensions\":[\"classification\"],\"models\":[",
                   recur_version());
    for (int i = 0; i < sv->n_slots; i++) {
        if (i) cli_buf_put(&b, ",", 1);
        json_cstr(&b, sv->slots[i].name);
    }
    cli_buf_printf(&b, "]}");
    return reply_json(sv, c, q, 200, &b);
}

/* The request's path for the log and messages: printable ASCII only. */
static void clean_copy(char *out, size_t cap, const char *s)
{
    size_t i = 0;
    for (; s && s[i] && i + 1 < cap; i++) out[i] = (s[i] > 0x20 && s[i] < 0x7f) ? s[i] : '?';
    out[i] = '\0';
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *http_version, const char *upload, size_t *upload_size, void **con_cls)
{
    server *sv = cls;
    req *q = *con_cls;
    if (!q) {
        q = calloc(1, sizeof *q);
        if (!q) return MHD_NO;
        q->t0 = now_s();
        q->status = 500;
        clean_copy(q->method, sizeof q->method, method);
        clean_copy(q->path, sizeof q->path, url);
        *con_cls = q;
        atomic_fetch_add(&sv->active, 1);
        if (strcmp(method, "POST") == 0) early_infer(sv, q, url);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            errno = 0;
            char *end;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno || end == cl || n > (unsigned long long)sv->o.max_body) {
                /* A client waiting for "100 Continue" gets the 413 now and
                 * sends nothing; another is sending its body already and
                 * would see its connection reset, so a body up to 16
                 * times the limit is read (and dropped) first. */
                q->status = 413;
                if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT) || errno ||
                    end == cl || n > 16 * (unsigned long long)sv->o.max_body) {
                    q->too_large = 1;
                    return reply_error(sv, c, q, 413, "the request body (%s bytes) is over the limit of %d bytes",
                                       cl, sv->o.max_body);
                }
                q->too_large = 2;
            }
        }
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        /* A body of unannounced length (chunked) over the limit is read
         * and dropped, for a 413 at its end (libmicrohttpd takes no
         * response in the middle of a body); one that goes on past 16
         * times the limit is cut off. */
        q->status = 413;
        if (q->too_large) return q->len > 16 * (size_t)sv->o.max_body ? MHD_NO : (q->len += n, MHD_YES);
        if (q->len + n > (size_t)sv->o.max_body) {
            q->too_large = 2;
            free(q->body);
            q->body = NULL;
            q->len += n;
            return MHD_YES;
        }
        if (q->len + n > q->cap) {
            size_t cap = (q->len + n) * 2;
            if (cap > (size_t)sv->o.max_body) cap = (size_t)sv->o.max_body;
            char *p = realloc(q->body, cap);
            if (!p) return MHD_NO;
            q->body = p;
            q->cap = cap;
        }
        memcpy(q->body + q->len, upload, n);
        q->len += n;
        return MHD_YES;
    }
    if (q->too_large == 1) return MHD_YES; /* the 413 is queued already */
    if (q->too_large) return reply_error(sv, c, q, 413, "the request body is over the limit of %d bytes", sv->o.max_body);
    return route(sv, c, q, url, method);
}

static void req_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    server *sv = cls;
    req *q = *con_cls;
    if (!q) return;
    if (!sv->o.quiet)
        fprintf(stderr, "%s %s %d %.0fus%s\n", q->method, q->path, q->status, (now_s() - q->t0) * 1e6,
                toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed early)");
    if (q->arrived) leave(q->v);
    version_release(q->v);
    free(q->body);
    free(q);
    *con_cls = NULL;
    atomic_fetch_add(&sv->served, 1);
    atomic_fetch_sub(&sv->active, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n') line[--n] = '\0';
    fprintf(stderr, "recur serve: libmicrohttpd: %s\n", line);
}

/* ------------------------------------------------------------------------ */
/* Models on the command line, reload, the main loop                         */
/* ------------------------------------------------------------------------ */

static int valid_name(const char *s, size_t n)
{
    if (n == 0 || n > 63) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_' || s[i] == '-' || s[i] == '.'))
            return 0;
    return 1;
}

/* NAME=FILE or FILE (NAME: its base name less ".safetensors"). */
static int parse_model_arg(const char *arg, slot *s)
{
    const char *eq = strchr(arg, '=');
    const char *name, *path;
    size_t nlen;
    if (eq && valid_name(arg, (size_t)(eq - arg))) {
        name = arg;
        nlen = (size_t)(eq - arg);
        path = eq + 1;
    } else {
        path = arg;
        const char *base = strrchr(arg, '/');
        name = base ? base + 1 : arg;
        nlen = strlen(name);
        if (nlen > 12 && strcmp(name + nlen - 12, ".safetensors") == 0) nlen -= 12;
        if (!valid_name(name, nlen)) {
            cli_error("'%s': cannot make a model name of this file's name; give one as NAME=FILE (letters, digits, "
                      "'_', '-', '.')", arg);
            return EXIT_USAGE;
        }
    }
    memcpy(s->name, name, nlen);
    s->name[nlen] = '\0';
    s->path = path;
    return 0;
}

static int same_stat(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static void reload(server *sv)
{
    for (int i = 0; i < sv->n_slots; i++) {
        slot *s = &sv->slots[i];
        struct stat st;
        if (stat(s->path, &st) != 0) {
            logf_("reload of %s refused: %s: %s; the old model keeps serving", s->name, s->path, strerror(errno));
            continue;
        }
        if (same_stat(&st, &s->st)) continue;
        recur_error err;
        version *v = version_load(sv, s->name, s->path, &err);
        if (!v) {
            logf_("reload of %s refused: %s; the old model keeps serving", s->name, err.message);
            continue;
        }
        pthread_mutex_lock(&sv->mu);
        version *old = s->cur;
        s->cur = v;
        s->st = st;
        pthread_mutex_unlock(&sv->mu);
        version_release(old);
        logf_("reloaded %s from %s", s->name, s->path);
    }
}

enum { SERVE_SPECS = 12 };

static void serve_table(arg_command *cmd, arg_spec *s, serve_opts *o)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int thr = cpus < 1 ? 4 : cpus > 16 ? 64 : (int)cpus * 4;
    *o = (serve_opts){"127.0.0.1", 8080, thr, 1 << 20, 256, SERVE_MAX_TEXT, 1000, 64, 256, 30, 0};
    arg_spec specs[] = {
        {"--host", NULL, ARG_STRING, &o->host, 0, 0, 0, 0, NULL, "ADDR", "the address to listen on (0.0.0.0: every interface)", 0},
        {"--port", "-p", ARG_INT, &o->port, 0, 65535, 0, 0, NULL, "N", "the TCP port (0: any free one, printed)", 0},
        {"--threads", NULL, ARG_INT, &o->threads, 1, 256, 0, 0, NULL, "N", "HTTP pool threads, each with its own runner per model", 0},
        {"--max-body", NULL, ARG_INT, &o->max_body, 64, 1 << 30, 0, 0, NULL, "BYTES", "largest request body (413 above)", 0},
        {"--max-batch", NULL, ARG_INT, &o->max_batch, 1, SERVE_MAX_BATCH, 0, 0, NULL, "N", "most texts in one request", 0},
        {"--max-text", NULL, ARG_INT, &o->max_text, 1, SERVE_MAX_TEXT, 0, 0, NULL, "BYTES", "longest text", 0},
        {"--batch-wait", NULL, ARG_INT, &o->batch_wait, 0, 100000, 0, 0, NULL, "US", "longest wait for concurrent requests to batch with (0: no batching)", 0},
        {"--batch-size", NULL, ARG_INT, &o->batch_size, 1, SERVE_MAX_BATCH, 0, 0, NULL, "N", "most texts batched together", 0},
        {"--connections", NULL, ARG_INT, &o->connections, 1, 100000, 0, 0, NULL, "N", "most open connections", 0},
        {"--timeout", NULL, ARG_INT, &o->timeout, 1, 3600, 0, 0, NULL, "S", "idle connections are closed after S seconds", 0},
        {"--quiet", "-q", ARG_FLAG, &o->quiet, 0, 0, 0, 0, NULL, NULL, "no log line per request", 0},
        SPEC_END,
    };
    _Static_assert(sizeof specs == SERVE_SPECS * sizeof specs[0], "SERVE_SPECS");
    memcpy(s, specs, sizeof specs);
    *cmd = (arg_command){"serve", "recur serve MODEL... [--host ADDR] [--port N] [--threads N] [options]", summary, s,
                         1, 64};
}

static int make_addr(const char *host, int port, struct sockaddr_storage *ss, int *v6)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
    hints.ai_socktype = SOCK_STREAM;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(host, ps, &hints, &res) != 0 || !res) {
        cli_error("--host: '%s' is not a numeric IPv4 or IPv6 address", host);
        return EXIT_USAGE;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return 0;
}

/* The one piece of process state: where the signal handler writes. */
static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char c = (unsigned char)sig;
    if (write(sig_pipe[1], &c, 1) < 0) {} /* full: a signal is pending anyway */
    errno = saved;
}

int cmd_serve(int argc, char **argv)
{
    serve_opts o;
    arg_spec specs[SERVE_SPECS];
    arg_command cmd;
    serve_table(&cmd, specs, &o);
    int npos, rc;
    char **pos = cli_parse_command(&cmd, argc, argv, &npos, &rc);
    if (!pos) return rc;
    if (o.connections < o.threads) {
        /* libmicrohttpd shares the limit out among its threads. */
        cli_error("--connections %d is below --threads %d: each thread needs one", o.connections, o.threads);
        free(pos);
        return EXIT_USAGE;
    }
    struct sockaddr_storage addr;
    int v6 = 0;
    if ((rc = make_addr(o.host, o.port, &addr, &v6))) {
        free(pos);
        return rc;
    }
    server sv;
    memset(&sv, 0, sizeof sv);
    sv.o = o;
    pthread_mutex_init(&sv.mu, NULL);
    sv.slots = calloc((size_t)npos, sizeof *sv.slots);
    if (!sv.slots) {
        free(pos);
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    rc = 0;
    for (int i = 0; !rc && i < npos; i++) {
        slot *s = &sv.slots[i];
        if ((rc = parse_model_arg(pos[i], s))) break;
        for (int k = 0; k < i; k++)
            if (strcmp(sv.slots[k].name, s->name) == 0) {
                cli_error("two models are named '%s'; name them with NAME=FILE", s->name);
                rc = EXIT_USAGE;
            }
        if (rc) break;
        recur_error err;
        if (stat(s->path, &s->st) != 0) {
            cli_error("%s: %s", s->path, strerror(errno));
            rc = EXIT_RUNTIME;
        } else if (!(s->cur = version_load(&sv, s->name, s->path, &err))) {
            cli_lib_error(NULL, &err);
            rc = EXIT_RUNTIME;
        }
        if (rc) break;
        sv.n_slots = i + 1;
    }
    recur_set_threads(1); /* the pool threads are the parallelism */

    /* Signals go to this thread only (sigwait below); the pool inherits
     * the mask. SIGPIPE: a client that hangs up is not a reason to die. */
    /* Signals: a handler writes their number into a pipe that this thread
     * reads (a mask and sigwait would not do: OpenBLAS starts its threads
     * before main, with nothing blocked, and any thread may take the
     * signal). SIGPIPE: a client that hangs up is not a reason to die. */
    if (!rc && pipe(sig_pipe) != 0) {
        cli_error("cannot make a pipe: %s", strerror(errno));
        rc = EXIT_RUNTIME;
    }
    if (!rc) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        sigaction(SIGHUP, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
    }

    struct MHD_Daemon *d = NULL;
    if (!rc) {
        unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
        d = MHD_start_daemon(flags, (uint16_t)o.port, NULL, NULL, handle, &sv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
                             NULL, MHD_OPTION_SOCK_ADDR,
                             (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)o.threads,
                             MHD_OPTION_CONNECTION_LIMIT, (unsigned)o.connections, MHD_OPTION_CONNECTION_TIMEOUT,
                             (unsigned)o.timeout, MHD_OPTION_NOTIFY_COMPLETED, req_done, &sv,
                             MHD_OPTION_END);
        if (!d) {
            cli_error("cannot listen on %s port %d (in use, or not an address of this machine)", o.host, o.port);
            rc = EXIT_RUNTIME;
        }
    }
    if (!rc) {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        int port = info ? (int)info->port : o.port;
        char list[600];
        size_t at = 0;
        list[0] = '\0';
        for (int i = 0; i < sv.n_slots && at < sizeof list; i++) {
            const recur_model_config *c = recur_model_get_config(sv.slots[i].cur->m);
            at += (size_t)snprintf(list + at, sizeof list - at, "%s%s (%s %s, %d labels)", i ? ", " : "",
                                   sv.slots[i].name, c->task == RECUR_TASK_CLASSIFY ? "classify" : "generate",
                                   recur_cell_name(c->cell), recur_model_num_labels(sv.slots[i].cur->m));
        }
        logf_("listening on http://%s%s%s:%d/ with %d threads: %s", v6 ? "[" : "", o.host, v6 ? "]" : "", port,
              o.threads, list);
        for (;;) {
            unsigned char sig = 0;
            ssize_t k = read(sig_pipe[0], &sig, 1);
            if (k < 0 && errno == EINTR) continue;
            if (k == 1 && sig == SIGHUP) {
                reload(&sv);
                continue;
            }
            break;
        }
        /* Stop: no new connections, then the requests in flight finish
         * (at most 10 s), then the threads. */
        atomic_store(&sv.stopping, 1);
        MHD_socket lfd = MHD_quiesce_daemon(d);
        if (lfd != MHD_INVALID_SOCKET) close(lfd);
        for (double t0 = now_s(); atomic_load(&sv.active) > 0 && now_s() - t0 < 10;) {
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        MHD_stop_daemon(d);
        logf_("stopped after %lu requests", (unsigned long)atomic_load(&sv.served));
    }
    for (int i = 0; i < sv.n_slots; i++) version_release(sv.slots[i].cur);
    free(sv.slots);
    free(pos);
    pthread_mutex_destroy(&sv.mu);
    signal(SIGHUP, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    for (int i = 0; i < 2; i++)
        if (sig_pipe[i] >= 0) close(sig_pipe[i]), sig_pipe[i] = -1;
    return rc;
}

enum MHD_Result serve_inspect(server *sv, struct MHD_Connection *c, req *q, version *v, const char *name)
{
    char *text = NULL, *lname = NULL, msg[512];
    int rc = serve_parse_inspect(q->body, q->len, (size_t)sv->o.max_text, &text, &lname, msg, sizeof msg);
    if (rc) return reply_error(sv, c, q, rc, "%s", msg);
    int label = 0;
    enum MHD_Result res;
    if (v->task == RECUR_TASK_GENERATE) {
        label = lname ? recur_model_label_find(v->m, lname) : -1;
        if (label < 0) {
            char list[400];
            label_list(v->m, list, sizeof list);
            res = lname ? reply_error(sv, c, q, 400, "'%s' is not a label of %s (%s)", lname, name, list)
                        : reply_error(sv, c, q, 400, "a generation model needs the 'label' to read the text under (%s)",
                                      list);
            goto done;
        }
    }
    recur_inspection *x = NULL;
    recur_error err;
    if (recur_model_inspect(v->m, text, strlen(text), label, &x, &err)) {
        res = reply_error(sv, c, q, status_of(err.status), "%s", err.message);
        goto done;
    }
    cli_buf b = {0};
    inspect_json(&b, v->m, name, text, label, x);
    recur_inspection_free(x);
    res = reply_json(sv, c, q, 200, &b);
done:
    free(text);
    free(lname);
    return res;
}
