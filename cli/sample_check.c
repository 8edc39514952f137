/*
 * recur sample MODEL --check CLASSIFIER: how good are the drawn names?
 *
 * For each label asked for, --count names are drawn exactly as `recur
 * sample` prints them (same seed, same names), then
 *  - new: the share whose spelling (as the model's symbols) is not among
 *    the training names of any label: the split is derived again from the
 *    flags stored in MODEL, over the data folder it was trained on;
 *  - not in data: the share found nowhere in that folder (held-out lines
 *    included);
 *  - agree: the share that CLASSIFIER (a `recur train` classifier) puts
 *    first for the label asked for (labels matched by name), among all the
 *    names and among the new ones only (copies of training names are
 *    easier: the classifier was trained on them).
 * "overall" pools every drawn name: with the same count per label it is the
 * mean over labels, whatever their size in the data.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sample.h"

/* A set of token sequences (names as the model's symbols), some of an
 * encoded data set. */
typedef struct name_set {
    const recur_batch *e;
    size_t *slot; /* sequence + 1, 0 = empty */
    size_t cap;
} name_set;

static uint64_t hash_seq(const int32_t *t, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint64_t)(uint32_t)t[i]) * 0x100000001b3ULL;
    return h ^ (h >> 31);
}

static size_t set_find(const name_set *s, const int32_t *t, size_t n)
{
    size_t i = (size_t)hash_seq(t, n) & (s->cap - 1);
    for (; s->slot[i]; i = (i + 1) & (s->cap - 1)) {
        size_t it = s->slot[i] - 1, len = (size_t)(s->e->offsets[it + 1] - s->e->offsets[it]);
        if (len == n && memcmp(s->e->tokens + s->e->offsets[it], t, n * sizeof *t) == 0) break;
    }
    return i;
}

/* The sequences idx[0..n) of e (all of them when idx is NULL). */
static int set_build(name_set *s, const recur_batch *e, const size_t *idx, size_t n)
{
    s->e = e;
    s->cap = 16;
    while (s->cap < 2 * n + 16) s->cap *= 2;
    s->slot = calloc(s->cap, sizeof *s->slot);
    if (!s->slot) return -1;
    for (size_t k = 0; k < n; k++) {
        size_t it = idx ? idx[k] : k;
        size_t i = set_find(s, e->tokens + e->offsets[it], (size_t)(e->offsets[it + 1] - e->offsets[it]));
        if (!s->slot[i]) s->slot[i] = it + 1;
    }
    return 0;
}

static int set_has(const name_set *s, const int32_t *t, size_t n) { return s->slot[set_find(s, t, n)] != 0; }

typedef struct label_stats {
    int label, asked_as; /* generator label, its classifier label */
    size_t n, fresh, unseen, agree, agree_fresh;
    int *taken_for;      /* [classifier labels] */
} label_stats;

/* The data the generator was trained on, its training names as a set and
 * all its names as another. */
typedef struct check_data {
    char dir[4096];
    recur_dataset *ds;
    size_t *train, *test, n_train, n_test;
    recur_data *all; /* every line, encoded */
    name_set in_train, in_data;
} check_data;

static void check_data_free(check_data *d)
{
    recur_dataset_free(d->ds);
    free(d->train);
    free(d->test);
    recur_data_free(d->all);
    free(d->in_train.slot);
    free(d->in_data.slot);
}

static int load_check_data(check_data *d, const recur_model *m, const char *model_path, const char *given)
{
    /* --data, else the folder stored in the model when it is still there,
     * else $RECUR_DATA (or the tutorial's names in the cache). */
    const char *stored = recur_model_get_meta(m, "data");
    struct stat sb;
    if (!given && stored && stat(stored, &sb) == 0 && S_ISDIR(sb.st_mode)) given = stored;
    int rc = cli_resolve_data(given, d->dir, sizeof d->dir);
    if (!rc) rc = cli_load_data(d->dir, &d->ds);
    if (!rc) rc = cli_stored_split(m, model_path, d->ds, "--check", &d->test, &d->n_test, &d->train, &d->n_train);
    const recur_vocab *v = recur_model_vocab(m);
    recur_error err;
    if (!rc && recur_data_encode(d->ds, v, NULL, 0, &d->all, &err)) {
        cli_error("%s/%s", d->dir, err.message);
        rc = EXIT_RUNTIME;
    }
    const recur_batch *b = rc ? NULL : recur_data_batch(d->all);
    if (!rc && (set_build(&d->in_train, b, d->train, d->n_train) || set_build(&d->in_data, b, NULL, (size_t)b->n))) {
        cli_error("out of memory");
        rc = EXIT_RUNTIME;
    }
    return rc;
}

static double share(size_t k, size_t n) { return n ? (double)k / (double)n : 0; }

static void print_report(const sampler *s, const char *model_path, const recur_model *cls, const check_data *d,
                         const label_stats *st, int nl, const label_stats *all)
{
    const sample_opts *o = s->o;
    char a[32], b[32];
    if (o->json) {
        fputs("{\"model\":", stdout);
        cli_json_string(stdout, model_path);
        fputs(",\"classifier\":", stdout);
        cli_json_string(stdout, o->check);
        fputs(",\"data\":", stdout);
        cli_json_string(stdout, d->dir);
        printf(",\"training_names\":%zu,\"count\":%d,\"temperature\":%g,\"top_k\":%d,\"seed\":%llu,\"labels\":[",
               d->n_train, o->count, o->temperature, o->top_k, (unsigned long long)o->seed);
        for (int k = 0; k <= nl; k++) {
            const label_stats *x = k < nl ? &st[k] : all;
            if (k == nl) fputs("],\"overall\":", stdout);
            else if (k) fputc(',', stdout);
            fputs("{\"label\":", stdout);
            cli_json_string(stdout, k < nl ? recur_model_label_name(s->m, x->label) : "overall");
            printf(",\"names\":%zu,\"new\":%.6f,\"not_in_data\":%.6f,\"classifier_agrees\":%.6f,"
                   "\"classifier_agrees_new\":%.6f}",
                   x->n, share(x->fresh, x->n), share(x->unseen, x->n), share(x->agree, x->n),
                   share(x->agree_fresh, x->fresh));
        }
        fputs("}\n", stdout);
        return;
    }
    printf("sampled %d names per label from %s at temperature %g%s%s, seed %llu\n", o->count, model_path,
           o->temperature, o->top_k ? ", top-k " : "", o->top_k ? cli_count(a, (size_t)o->top_k) : "",
           (unsigned long long)o->seed);
    printf("new: not among the %s training names of %s; classifier: %s\n\n", cli_count(b, d->n_train), d->dir,
           o->check);
    printf("%-14s %7s %7s %12s %11s %11s   %s\n", "", "", "", "", "classifier", "agrees on", "");
    printf("%-14s %7s %7s %12s %11s %11s   %s\n", "label", "names", "new", "not in data", "agrees", "new names",
           "most often taken for");
    for (int k = 0; k <= nl; k++) {
        const label_stats *x = k < nl ? &st[k] : all;
        if (k == nl) printf("\n");
        printf("%-14s %7s %6.1f%% %11.1f%% %10.1f%% %10.1f%%",
               k < nl ? recur_model_label_name(s->m, x->label) : "overall", cli_count(a, x->n),
               100 * share(x->fresh, x->n), 100 * share(x->unseen, x->n), 100 * share(x->agree, x->n),
               100 * share(x->agree_fresh, x->fresh));
        if (k < nl) {
            int worst = -1;
            for (int c = 0; c < recur_model_num_labels(cls); c++)
                if (c != x->asked_as && x->taken_for[c] > 0 && (worst < 0 || x->taken_for[c] > x->taken_for[worst]))
                    worst = c;
            if (worst >= 0)
                printf("   %s %.0f%%", recur_model_label_name(cls, worst), 100 * share((size_t)x->taken_for[worst], x->n));
        }
        printf("\n");
    }
}

/* Draw one label's names and score them. */
static int check_label(sampler *s, const check_data *d, recur_runner *crn, int C, label_stats *x)
{
    const sample_opts *o = s->o;
    enum { CB = 64 };
    size_t cap = (size_t)o->max_length * 8 + 1;
    int32_t *tok = malloc((size_t)o->max_length * sizeof *tok);
    char *texts = malloc(CB * cap);
    const char *tp[CB];
    int fresh[CB];
    float *lp = malloc((size_t)CB * C * sizeof *lp);
    int rc = 0;
    if (!tok || !texts || !lp) {
        cli_error("out of memory");
        rc = EXIT_RUNTIME;
    }
    cli_rng rng;
    sampler_seed(&rng, o->seed, x->label);
    for (int i0 = 0; !rc && i0 < o->count; i0 += CB) {
        int k = o->count - i0 < CB ? o->count - i0 : CB;
        recur_error err;
        for (int j = 0; j < k; j++) {
            int n;
            double l;
            tp[j] = texts + (size_t)j * cap;
            if (sampler_draw(s, x->label, &rng, tok, &n, texts + (size_t)j * cap, cap, &l, &err)) {
                cli_lib_error(NULL, &err);
                rc = EXIT_RUNTIME;
                break;
            }
            fresh[j] = !set_has(&d->in_train, tok, (size_t)n);
            x->fresh += (size_t)fresh[j];
            x->unseen += !set_has(&d->in_data, tok, (size_t)n);
        }
        if (!rc && recur_runner_classify(crn, tp, NULL, k, lp, &err)) {
            cli_error("%s: %s", o->check, err.message);
            rc = EXIT_RUNTIME;
        }
        for (int j = 0; !rc && j < k; j++) {
            int best = 0;
            for (int c = 1; c < C; c++)
                if (lp[(size_t)j * C + c] > lp[(size_t)j * C + best]) best = c;
            x->agree += best == x->asked_as;
            x->agree_fresh += best == x->asked_as && fresh[j];
            x->taken_for[best]++;
        }
        x->n += (size_t)k;
    }
    free(tok);
    free(texts);
    free(lp);
    return rc;
}

int sample_check(sampler *s, const char *model_path, const int *labels, int nl)
{
    const sample_opts *o = s->o;
    recur_error err;
    recur_model *cls = NULL;
    recur_runner *crn = NULL;
    check_data d;
    memset(&d, 0, sizeof d);
    label_stats *st = calloc((size_t)nl, sizeof *st), all = {0};
    int rc = EXIT_RUNTIME, C = 0;
    if (!st) goto nomem;
    if (recur_model_load(o->check, &cls, &err)) {
        cli_error("--check: %s", err.message);
        goto done;
    }
    if (recur_model_get_config(cls)->task != RECUR_TASK_CLASSIFY) {
        cli_error("--check: %s is a generation model; it takes a classifier (recur train)", o->check);
        goto done;
    }
    C = recur_model_num_labels(cls);
    for (int k = 0; k < nl; k++) {
        const char *name = recur_model_label_name(s->m, labels[k]);
        st[k].label = labels[k];
        st[k].asked_as = recur_model_label_find(cls, name);
        if (st[k].asked_as < 0) {
            cli_error("--check: label '%s' of %s is not one of the %d labels of %s", name, model_path, C, o->check);
            goto done;
        }
        if (!(st[k].taken_for = calloc((size_t)C, sizeof *st[k].taken_for))) goto nomem;
    }
    if (recur_runner_create(cls, 64, &crn, &err)) {
        cli_error("--check: %s", err.message);
        goto done;
    }
    if ((rc = load_check_data(&d, s->m, model_path, o->data))) goto done;
    rc = EXIT_RUNTIME;
    for (int k = 0; k < nl; k++) {
        if (check_label(s, &d, crn, C, &st[k])) goto done;
        all.n += st[k].n;
        all.fresh += st[k].fresh;
        all.unseen += st[k].unseen;
        all.agree += st[k].agree;
        all.agree_fresh += st[k].agree_fresh;
    }
    print_report(s, model_path, cls, &d, st, nl, &all);
    if (fflush(stdout) != 0) {
        cli_error("cannot write the report");
        goto done;
    }
    rc = EXIT_OK;
    goto done;
nomem:
    cli_error("out of memory");
done:
    for (int k = 0; st && k < nl; k++) free(st[k].taken_for);
    free(st);
    check_data_free(&d);
    recur_runner_free(crn);
    recur_model_free(cls);
    return rc;
}
