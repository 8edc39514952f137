#include "core/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "core/error.h"

#define SPIN_ROUNDS 20000

struct pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    atomic_uint generation; /* bumped for every job                  */
    atomic_int pending;     /* workers still running the current job */
    int stop;
    pool_fn fn;
    void *arg;
};

typedef struct worker_arg {
    pool *p;
    int tid;
} worker_arg;

static void *worker(void *v)
{
    worker_arg wa = *(worker_arg *)v;
    free(v);
    pool *p = wa.p;
    unsigned seen = 0; /* the generation at creation: a job posted before
                        * this thread got going is still seen as new */
    for (;;) {
        /* Spin a little: the next job usually follows within microseconds. */
        int spins = 0;
        while (atomic_load_explicit(&p->generation, memory_order_acquire) == seen && spins < SPIN_ROUNDS) spins++;
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->generation) == seen && !p->stop) pthread_cond_wait(&p->wake, &p->mu);
        int stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop) return NULL;
        seen = atomic_load(&p->generation);
        p->fn(p->arg, wa.tid, p->n);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
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
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0 && spins < SPIN_ROUNDS) spins++;
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&p->pending) > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
