/*
 * recur-mpi: `recur train` over MPI processes (docs/DISTRIBUTED.md).
 *
 *   mpirun -np 4 recur-mpi train DATA -o model.safetensors [train flags]
 *
 * The training loop is recur train's own (cmd_train, train_loop); this file
 * adds only what MPI does: the ranks, the sum of the gradients
 * (MPI_Allreduce, handed to recur_fit as its reduce), the checks that all
 * ranks hold the same data and weights, and the end of the job when a rank
 * fails (MPI_Abort after one line naming the rank and the cause; a rank
 * that dies is reported by mpirun, which ends the others). librecur knows
 * nothing of MPI.
 */
#include <mpi.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../cli.h"
#include "../train.h"

typedef struct ctx {
    int rank, ranks;
    uint64_t steps;               /* gradient sums so far                */
    double t_reduce, t_wait;      /* seconds in MPI_Allreduce; of it, in the
                                   * zero-byte barrier before (imbalance) */
    int timing;                   /* RECUR_MPI_TIMING: split the two     */
    /* The steps' span (first sum's start to last sum's end, wall) and the
     * CPU time of this process between sums (the compute, which time
     * slicing on a shared machine does not inflate). */
    double t_first, t_last, cpu_after, cpu_compute;
    /* RECUR_MPI_FAULT=KIND:RANK:STEP (tests/mpi_test.sh): at that step that
     * rank dies by SIGKILL (kill), reports a failure (fail), hangs (hang),
     * gets SIGTERM (term), or skews its summed gradient so that its weights
     * drift (skew). */
    char fault_kind[8];
    int fault_rank;
    uint64_t fault_step;
    char prefix[64];
    /* --mpi-timeout: a step's sum still waiting after this many seconds
     * ends the job (a rank that hangs without dying); 0: never. */
    int timeout_s;
    _Atomic long long sum_since_ms; /* when this step's sum began; 0: none */
    _Atomic uint64_t sum_step;      /* which step that is                   */
} ctx;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* MPI has no timeout on a collective: a thread of our own watches the
 * step's sum and, past the limit, says so and exits; mpirun then ends the
 * other ranks. (It calls no MPI: the library runs MPI_THREAD_FUNNELED.) */
static void *watchdog(void *arg)
{
    ctx *c = arg;
    for (;;) {
        sleep(1);
        long long t = atomic_load(&c->sum_since_ms);
        if (t && now_ms() - t > 1000LL * c->timeout_s) {
            fprintf(stderr,
                    "%s: the gradient sum of step %" PRIu64 " has waited %d s (--mpi-timeout) for a rank that "
                    "does not reach it (stuck, or far slower); ending the job\n",
                    c->prefix, (uint64_t)atomic_load(&c->sum_step), c->timeout_s);
            fflush(stderr);
            _exit(EXIT_RUNTIME);
        }
    }
    return NULL;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int reduce(void *user, float *grad, size_t n, double *sums, int n_sums)
{
    ctx *c = user;
    if (n) {
        if (c->steps) c->cpu_compute += cpu_now() - c->cpu_after;
        else c->t_first = MPI_Wtime();
        c->steps++;
        if (c->fault_rank == c->rank && c->fault_step == c->steps) {
            if (strcmp(c->fault_kind, "kill") == 0) raise(SIGKILL);
            if (strcmp(c->fault_kind, "term") == 0) raise(SIGTERM);
            if (strcmp(c->fault_kind, "hang") == 0)
                for (;;) pause();
            if (strcmp(c->fault_kind, "fail") == 0) {
                cli_error("injected failure (RECUR_MPI_FAULT) at step %" PRIu64, c->steps);
                return -1;
            }
        }
    }
    if (n) {
        atomic_store(&c->sum_step, c->steps);
        atomic_store(&c->sum_since_ms, now_ms());
    }
    double t0 = MPI_Wtime();
    if (c->timing && n) {
        MPI_Barrier(MPI_COMM_WORLD);
        c->t_wait += MPI_Wtime() - t0;
    }
    /* MPI counts are int: blocks of at most 2^30 floats. */
    for (size_t at = 0; at < n; at += (size_t)1 << 30) {
        size_t k = n - at < (size_t)1 << 30 ? n - at : (size_t)1 << 30;
        if (MPI_Allreduce(MPI_IN_PLACE, grad + at, (int)k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
            return -1;
    }
    if (n_sums && MPI_Allreduce(MPI_IN_PLACE, sums, n_sums, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
        return -1;
    if (n && c->fault_rank == c->rank && c->fault_step == c->steps && strcmp(c->fault_kind, "skew") == 0)
        grad[0] += 1e-3f;
    if (n) {
        atomic_store(&c->sum_since_ms, 0);
        c->t_last = MPI_Wtime();
        c->t_reduce += c->t_last - t0;
        c->cpu_after = cpu_now();
    }
    return 0;
}

/* Every rank's value to every rank; on a difference rank 0 names the first
 * rank that differs and ends the job (the others wait to be ended). */
static void agree(void *user, uint64_t value, const char *what, uint64_t step)
{
    ctx *c = user;
    uint64_t *all = malloc((size_t)c->ranks * sizeof *all);
    if (!all) {
        fprintf(stderr, "%s: out of memory comparing %s\n", c->prefix, what);
        MPI_Abort(MPI_COMM_WORLD, EXIT_RUNTIME);
    }
    MPI_Allgather(&value, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD);
    int bad = -1;
    for (int k = 1; k < c->ranks && bad < 0; k++)
        if (all[k] != all[0]) bad = k;
    if (bad >= 0) {
        if (c->rank == 0) {
            char when[48] = "at the start";
            if (step) snprintf(when, sizeof when, "at step %" PRIu64, step);
            fprintf(stderr,
                    "recur-mpi: %s differ between ranks %s: rank %d has %016" PRIx64 ", rank 0 %016" PRIx64
                    "; %s; ending the job\n",
                    what, when, bad, all[bad], all[0],
                    step ? "the ranks' arithmetic diverged (a faulty node, or sums that differ between ranks)"
                         : "every rank must read the same data folder (and --resume checkpoint)");
            fflush(stderr);
            MPI_Abort(MPI_COMM_WORLD, EXIT_RUNTIME);
        }
        MPI_Barrier(MPI_COMM_WORLD); /* rank 0 aborts the job meanwhile */
    }
    free(all);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: mpirun -np N recur-mpi train [DATA] -o MODEL [recur train's flags] [--check-every K]\n"
               "       [--mpi-timeout S]\n\n"
               "Data-parallel `recur train`: every rank reads DATA, each takes a share of every batch\n"
               "(by symbols), the gradients are summed with MPI_Allreduce and every rank takes the same\n"
               "step. --batch is the global batch. Rank 0 prints, evaluates and writes -o and the\n"
               "checkpoint; --resume works with any N. --threads N: threads per rank. --check-every K:\n"
               "compare the weights of all ranks every K steps (default 200; 0: never). --mpi-timeout S:\n"
               "end the job when a step's gradient sum waits S seconds for a rank (default 600; 0: never).\n"
               "See docs/DISTRIBUTED.md for launch lines (one machine, several, Slurm).\n");
}

/* Take `--name N` out of argv (cmd_train does not know it). */
static int take_flag(int *argc, char **argv, const char *name, int *k)
{
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], name) != 0) continue;
        char *end;
        long v = i + 1 < *argc ? strtol(argv[i + 1], &end, 10) : -1;
        if (i + 1 >= *argc || *end || v < 0 || v > 1000000000) {
            fprintf(stderr, "recur-mpi: %s needs a whole number >= 0 (0: never)\n", name);
            return -1;
        }
        *k = (int)v;
        memmove(argv + i, argv + i + 2, (size_t)(*argc - i - 1) * sizeof *argv);
        *argc -= 2;
        return 0;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return EXIT_OK;
    }
    /* One thread calls MPI; the trainer's own threads never do. */
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    ctx c = {.fault_rank = -1};
    MPI_Comm_rank(MPI_COMM_WORLD, &c.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c.ranks);
    snprintf(c.prefix, sizeof c.prefix, "recur-mpi (rank %d of %d)", c.rank, c.ranks);
    cli_set_error_prefix(c.prefix);
    /* Rank 0 speaks for the job (--help, the epoch lines); the others' errors
     * still reach stderr. */
    if (c.rank > 0 && !freopen("/dev/null", "w", stdout)) MPI_Abort(MPI_COMM_WORLD, EXIT_RUNTIME);
    c.timing = getenv("RECUR_MPI_TIMING") != NULL;
    const char *fault = getenv("RECUR_MPI_FAULT");
    if (fault && sscanf(fault, "%7[a-z]:%d:%" SCNu64, c.fault_kind, &c.fault_rank, &c.fault_step) != 3)
        c.fault_rank = -1;
    int check_every = 200;
    c.timeout_s = 600;
    if (take_flag(&argc, argv, "--check-every", &check_every) || take_flag(&argc, argv, "--mpi-timeout", &c.timeout_s))
        MPI_Abort(MPI_COMM_WORLD, EXIT_USAGE);
    pthread_t wd;
    if (c.timeout_s > 0 && pthread_create(&wd, NULL, watchdog, &c) == 0) pthread_detach(wd);
    /* "recur-mpi train ..." as "recur train ...", or the flags alone. */
    int skip = argc >= 2 && strcmp(argv[1], "train") == 0 ? 1 : 0;
    train_parallel p = {.rank = c.rank, .ranks = c.ranks, .check_every = check_every, .user = &c,
                        .reduce = reduce, .agree = agree};
    train_set_parallel(&p);
    double t0 = MPI_Wtime();
    int rc = cmd_train(argc - skip, argv + skip);
    double t_all = MPI_Wtime() - t0;
    if (rc != EXIT_OK && rc != EXIT_INTERRUPTED) {
        fprintf(stderr, "recur-mpi: rank %d of %d failed (exit %d, its line above says why); ending the job\n",
                c.rank, c.ranks, rc);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, rc);
    }
    /* Where the time went (RECUR_MPI_REPORT=1, bench/mpi_bench.sh): the
     * steps' span, the slowest rank's time in MPI_Allreduce (waiting for
     * the others included; with RECUR_MPI_TIMING the wait alone too) and
     * rank 0's compute CPU time per step. */
    double mine[3] = {c.t_reduce, c.t_wait, t_all}, most[3];
    MPI_Reduce(mine, most, 3, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    if (c.rank == 0 && rc == EXIT_OK && getenv("RECUR_MPI_REPORT") && c.steps > 1) {
        double span = c.t_last - c.t_first;
        fprintf(stderr,
                "recur-mpi: %d ranks, %" PRIu64 " steps in %.3f s (%.2f steps/s); MPI_Allreduce %.3f s (%.1f%% of "
                "the steps); compute %.2f ms CPU a step; %.1f s in all\n",
                c.ranks, c.steps, span, (double)(c.steps - 1) / (span > 0 ? span : 1), most[0],
                100 * most[0] / (span > 0 ? span : 1), 1e3 * c.cpu_compute / (double)(c.steps - 1), most[2]);
        if (c.timing)
            fprintf(stderr, "recur-mpi: of the MPI_Allreduce time, waiting for the slowest rank: %.3f s\n", most[1]);
    }
    MPI_Finalize();
    return rc;
}
