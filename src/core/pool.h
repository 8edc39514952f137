/*
 * A small thread pool owned by one trainer or runner (no global state):
 * pool_run executes fn(arg, tid, n) on n threads, the caller being tid 0,
 * and returns when all are done. Workers spin briefly before sleeping, so
 * the many short parallel regions of a training step stay cheap.
 */
#ifndef RECUR_CORE_POOL_H
#define RECUR_CORE_POOL_H
#include "recur.h"

typedef struct pool pool;
typedef void (*pool_fn)(void *arg, int tid, int n);

/* threads >= 1; 1 makes no thread at all. */
recur_status pool_create(int threads, pool **out, recur_error *err);
void pool_free(pool *p);
int pool_threads(const pool *p);
/* Run fn on every thread (p may be NULL: runs fn(arg, 0, 1)). */
void pool_run(pool *p, pool_fn fn, void *arg);
/* Run fn on the first n threads only (1 <= n <= pool_threads). */
void pool_run_n(pool *p, int n, pool_fn fn, void *arg);
/* The share [*lo, *hi) of n items that thread tid of nt takes. */
static inline void pool_split(int n, int tid, int nt, int *lo, int *hi)
{
    *lo = (int)((long long)n * tid / nt);
    *hi = (int)((long long)n * (tid + 1) / nt);
}

#endif
