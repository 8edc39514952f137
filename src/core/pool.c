#include "core/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "core/error.h"

/* How long a thread spins for the next job (or for the workers to finish)
 * before it sleeps on a condition variable. A training step runs many short
 * parallel regions with short serial gaps between them; a thread that
 * sleeps in a gap costs a futex wake-up (tens of microseconds in a VM),
 * which cost more than the regions themselves at hidden size 128. */
#define SPIN_NS 500000L

struct pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    atomic_uint generation; /* bumped for every job                  */
    atomic_int pending;     /* workers still running the current job */
    atomic_int sleeping;    /* workers waiting on `wake`              */
    atomic_int waiting;     /* the caller waits on `done`             */
    int stop;
    pool_fn fn;
    void *arg;
};

typedef struct worker_arg {
    pool *p;
    int tid;
} worker_arg;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Spin until *x != v (returns 1) or SPIN_NS pass (returns 0). */
static int spin_until_changed(atomic_uint *x, unsigned v)
{
    long long end = 0;
    for (unsigned i = 0;; i++) {
        if (atomic_load_explicit(x, memory_order_acquire) != v) return 1;
        cpu_relax();
        if ((i & 255) == 255) {
            long long t = now_ns();
            if (!end) end = t + SPIN_NS;
            else if (t > end) return 0;
        }
    }
}

static int spin_until_zero(atomic_int *x)
{
    long long end = 0;
    for (unsigned i = 0;; i++) {
        if (atomic_load_explicit(x, memory_order_acquire) <= 0) return 1;
        cpu_relax();
        if ((i & 255) == 255) {
            long long t = now_ns();
            if (!end) end = t + SPIN_NS;
            else if (t > end) return 0;
        }
    }
}

static void *worker(void *v)
{
    worker_arg wa = *(worker_arg *)v;
    free(v);
    pool *p = wa.p;
    unsigned seen = 0; /* the generation at creation: a job posted before
                        * this thread got going is still seen as new */
    for (;;) {
        /* Spin first: the next job usually follows within microseconds.
         * Then sleep; `sleeping` (sequentially consistent, like the
         * generation) tells pool_run whether a wake-up is needed. */
        if (!spin_until_changed(&p->generation, seen)) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleeping, 1);
            while (atomic_load(&p->generation) == seen && !p->stop) pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->sleeping, 1);
        } else {
            pthread_mutex_lock(&p->mu);
        }
        int stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop) return NULL;
        seen = atomic_load(&p->generation);
        p->fn(p->arg, wa.tid, p->n);
        if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->waiting)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

recur_status pool_create(int threads, pool **out, recur_error *err)
{
    *out = NULL;
    if (threads < 1 || threads > 1024) return recur_fail(err, RECUR_ERR_ARG, "threads %d out of range 1..1024", threads);
    pool *p = calloc(1, sizeof *p);
    if (!p) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    p->n = threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->generation, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->sleeping, 0);
    atomic_init(&p->waiting, 0);
    if (threads > 1) {
        p->threads = calloc((size_t)threads - 1, sizeof *p->threads);
        if (!p->threads) {
            pool_free(p);
            return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
        }
        for (int i = 1; i < threads; i++) {
            worker_arg *wa = malloc(sizeof *wa);
            if (wa) {
                wa->p = p;
                wa->tid = i;
            }
            if (!wa || pthread_create(&p->threads[i - 1], NULL, worker, wa) != 0) {
                free(wa);
                p->n = i; /* join only the ones started */
                pool_free(p);
                return recur_fail(err, RECUR_ERR_NOMEM, "could not start thread %d of %d", i + 1, threads);
            }
        }
    }
    *out = p;
    return RECUR_OK;
}

void pool_free(pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    atomic_fetch_add(&p->generation, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n && p->threads; i++) pthread_join(p->threads[i - 1], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->threads);
    free(p);
}

int pool_threads(const pool *p) { return p ? p->n : 1; }

typedef struct subset {
    int n;
    pool_fn fn;
    void *arg;
} subset;

static void run_subset(void *arg, int tid, int nt)
{
    const subset *s = arg;
    (void)nt;
    if (tid < s->n) s->fn(s->arg, tid, s->n);
}

void pool_run_n(pool *p, int n, pool_fn fn, void *arg)
{
    if (!p || n >= p->n) {
        pool_run(p, fn, arg);
        return;
    }
    if (n <= 1) {
        fn(arg, 0, 1);
        return;
    }
    subset s = {n, fn, arg};
    pool_run(p, run_subset, &s);
}

void pool_run(pool *p, pool_fn fn, void *arg)
{
    if (!p || p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->pending, p->n - 1);
    atomic_fetch_add(&p->generation, 1);
    if (atomic_load(&p->sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    fn(arg, 0, p->n);
    if (spin_until_zero(&p->pending)) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->waiting, 1);
    while (atomic_load(&p->pending) > 0) pthread_cond_wait(&p->done, &p->mu);
    atomic_store(&p->waiting, 0);
    pthread_mutex_unlock(&p->mu);
}
