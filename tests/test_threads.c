/*
 * Threads sharing one read-only model (include/recur.h: "one model may be
 * read by many threads at once, each through its own recur_runner"): four
 * threads, each with its own runner, classify the same texts and step
 * through them with the step API, concurrently; every result must equal,
 * bit for bit, what one thread computed alone. `make tsan` runs this suite
 * under ThreadSanitizer.
 */
#define _DEFAULT_SOURCE
#include <pthread.h>
#include <string.h>

#include "core/rng.h"
#include "test.h"

enum { NTHREADS = 4, NTEXTS = 400, BATCH = 8, NCLS = 5, MAXLEN = 16 };

static const char *const alphabet[] = {"a", "b", "c", "d", "e", "k", "o", "s", "v", "y",
                                       "\xc3\xa9", "\xc3\xbc", "\xc5\xa1", "\xe3\x81\x82", " "};
#define NALPHA ((int)(sizeof alphabet / sizeof *alphabet))

typedef struct shared {
    const recur_model *m;
    char texts[NTEXTS][MAXLEN * 3 + 1];
    const char *ptrs[NTEXTS];
    int C, V, stepwise, passes;
    float *ref;      /* [NTEXTS][C]: classify, one thread       */
    float *ref_step; /* [NTEXTS][C]: step API after every token */
} shared;

typedef struct worker {
    const shared *sh;
    int id;
    int mismatches, failures;
    pthread_t tid;
} worker;

static void make_texts(shared *sh, uint64_t seed)
{
    recur_rng r;
    recur_rng_seed(&r, seed);
    for (int i = 0; i < NTEXTS; i++) {
        int len = 1 + (int)recur_rng_below(&r, MAXLEN);
        char *t = sh->texts[i];
        t[0] = 0;
        for (int k = 0; k < len; k++) {
            const char *sym = alphabet[recur_rng_below(&r, NALPHA - (k == 0 || k == len - 1))];
            strcat(t, sym);
        }
        sh->ptrs[i] = t;
    }
}

/* Batches of 1..BATCH texts, always cut the same way: classify results may
 * depend on the batch a text is in, never on the thread. */
static int batch_len(int start) { return 1 + (start * 7 + 3) % BATCH; }

/* Classify every text (batch order rotated by `rotate`) into out. */
static int classify_all(recur_runner *r, const shared *sh, int rotate, float *out)
{
    int starts[NTEXTS], nb = 0;
    for (int i = 0; i < NTEXTS; i += batch_len(i)) starts[nb++] = i;
    for (int k = 0; k < nb; k++) {
        int i = starts[(k + rotate) % nb];
        int n = batch_len(i);
        if (i + n > NTEXTS) n = NTEXTS - i;
        recur_error err;
        if (recur_runner_classify(r, sh->ptrs + i, NULL, n, out + (size_t)i * sh->C, &err) != RECUR_OK) {
            fprintf(stderr, "    classify: %s\n", err.message);
            return -1;
        }
    }
    return 0;
}

/* Step API: the label distribution after the last symbol of each text. */
static int step_all(recur_runner *r, const shared *sh, int rotate, float *out)
{
    const recur_vocab *v = recur_model_vocab(sh->m);
    for (int k = 0; k < NTEXTS; k++) {
        int i = (k + rotate) % NTEXTS;
        int32_t ids[MAXLEN * 3];
        size_t n = 0;
        recur_error err;
        if (recur_vocab_encode(v, sh->texts[i], strlen(sh->texts[i]), ids, MAXLEN * 3, &n, &err) ||
            recur_runner_reset(r, 0, &err)) {
            fprintf(stderr, "    step: %s\n", err.message);
            return -1;
        }
        for (size_t t = 0; t < n; t++)
            if (recur_runner_step(r, ids[t], out + (size_t)i * sh->C, &err)) {
                fprintf(stderr, "    step: %s\n", err.message);
                return -1;
            }
    }
    return 0;
}

static void *work(void *arg)
{
    worker *w = arg;
    const shared *sh = w->sh;
    recur_runner *r = NULL;
    recur_error err;
    float *out = malloc((size_t)NTEXTS * sh->C * sizeof *out);
    if (!out || recur_runner_create(sh->m, BATCH, &r, &err) != RECUR_OK) {
        w->failures++;
        free(out);
        return NULL;
    }
    for (int pass = 0; pass < sh->passes; pass++) {
        memset(out, 0xff, (size_t)NTEXTS * sh->C * sizeof *out);
        if (classify_all(r, sh, w->id * 5 + pass, out)) w->failures++;
        else if (memcmp(out, sh->ref, (size_t)NTEXTS * sh->C * sizeof *out) != 0) w->mismatches++;
        if (!sh->stepwise) continue;
        memset(out, 0xff, (size_t)NTEXTS * sh->C * sizeof *out);
        if (step_all(r, sh, w->id * 37 + pass, out)) w->failures++;
        else if (memcmp(out, sh->ref_step, (size_t)NTEXTS * sh->C * sizeof *out) != 0) w->mismatches++;
    }
    recur_runner_free(r);
    free(out);
    return NULL;
}

static recur_model *make_model(recur_cell cell, int hidden, int layers, int bidir)
{
    const char *labels[NCLS] = {"Czech", "English", "Japanese", "Russian", "\xc3\x89ire"};
    recur_vocab *v = NULL;
    recur_model *m = NULL;
    recur_error err;
    CHECK_OK(recur_vocab_create(RECUR_TEXT_UNICODE, &v, &err), &err);
    for (int i = 0; v && i < NALPHA; i++)
        CHECK_OK(recur_vocab_add(v, alphabet[i], strlen(alphabet[i]), &err), &err);
    recur_model_config cfg;
    recur_model_config_default(&cfg);
    cfg.cell = cell;
    cfg.hidden = hidden;
    cfg.layers = layers;
    cfg.bidirectional = bidir;
    cfg.embed = 8;
    cfg.seed = 11 + (uint64_t)cell;
    if (v) CHECK_OK(recur_model_create(&cfg, v, labels, NCLS, &m, &err), &err);
    recur_vocab_free(v);
    return m;
}

/* passes: how many times each thread goes through the texts; stepwise: the
 * step API too (unidirectional models only). */
static void shared_model(recur_cell cell, int hidden, int layers, int bidir, int stepwise, int passes)
{
    shared *sh = calloc(1, sizeof *sh);
    recur_model *m = make_model(cell, hidden, layers, bidir);
    if (!sh || !m) {
        CHECK(sh && m);
        free(sh);
        recur_model_free(m);
        return;
    }
    sh->m = m;
    sh->C = recur_model_num_labels(m);
    sh->V = recur_vocab_size(recur_model_vocab(m));
    sh->stepwise = stepwise && !bidir;
    sh->passes = passes;
    make_texts(sh, 99 + (uint64_t)cell);
    sh->ref = malloc((size_t)NTEXTS * sh->C * sizeof(float));
    sh->ref_step = malloc((size_t)NTEXTS * sh->C * sizeof(float));
    recur_runner *r = NULL;
    recur_error err;
    CHECK_OK(recur_runner_create(m, BATCH, &r, &err), &err);
    if (r && sh->ref && sh->ref_step) {
        CHECK(classify_all(r, sh, 0, sh->ref) == 0);
        if (sh->stepwise) CHECK(step_all(r, sh, 0, sh->ref_step) == 0);
        /* The reference is not trivially constant. */
        CHECK(memcmp(sh->ref, sh->ref + sh->C, (size_t)sh->C * sizeof(float)) != 0);
        worker w[NTHREADS];
        memset(w, 0, sizeof w);
        int started = 0;
        for (int t = 0; t < NTHREADS; t++) {
            w[t].sh = sh;
            w[t].id = t;
            if (pthread_create(&w[t].tid, NULL, work, &w[t]) == 0) started++;
            else break;
        }
        CHECK(started == NTHREADS);
        for (int t = 0; t < started; t++) {
            pthread_join(w[t].tid, NULL);
            CHECK_MSG(w[t].failures == 0, "%s: thread %d: %d failed calls", recur_cell_name(cell), t, w[t].failures);
            CHECK_MSG(w[t].mismatches == 0, "%s: thread %d: %d passes differ from one thread's results",
                      recur_cell_name(cell), t, w[t].mismatches);
        }
    }
    recur_runner_free(r);
    free(sh->ref);
    free(sh->ref_step);
    recur_model_free(m);
    free(sh);
}

static void four_threads_share_an_lstm(void) { shared_model(RECUR_CELL_LSTM, 32, 2, 0, 1, 3); }
static void four_threads_share_a_bidirectional_gru(void) { shared_model(RECUR_CELL_GRU, 24, 2, 1, 0, 3); }
static void four_threads_share_an_rnn(void) { shared_model(RECUR_CELL_RNN_TANH, 24, 1, 0, 1, 3); }
/* Hidden 128: products large enough for OpenBLAS to use its own pool of
 * threads inside each of ours (classify only, one pass: it is slow). */
static void four_threads_share_a_wide_gru(void) { shared_model(RECUR_CELL_GRU, 128, 2, 0, 0, 1); }

const test_case tests_threads[] = {
    {"four_threads_share_an_lstm", four_threads_share_an_lstm},
    {"four_threads_share_a_bidirectional_gru", four_threads_share_a_bidirectional_gru},
    {"four_threads_share_an_rnn", four_threads_share_an_rnn},
    {"four_threads_share_a_wide_gru", four_threads_share_a_wide_gru},
    {NULL, NULL},
};
