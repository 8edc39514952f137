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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cli.h"
#include "../train.h"

typedef struct ctx {
    int rank, ranks;
    uint64_t steps;               /* gradient sums so far                */
    double t_reduce, t_wait;      /* seconds in MPI_Allreduce; of it, in the
                                   * zero-byte barrier before (imbalance) */
    int timing;                   /* RECUR_MPI_TIMING: split the two     */
    /* RECUR_MPI_FAULT=KIND:RANK:STEP (tests/mpi_test.sh): at that step that
     * rank dies by SIGKILL (kill), reports a failure (fail), or skews its
     * summed gradient so that its weights drift from the others' (skew). */
    char fault_kind[8];
    int fault_rank;
    uint64_t fault_step;
    char prefix[64];
} ctx;

static int reduce(void *user, float *grad, size_t n, double *sums, int n_sums)
{
    ctx *c = user;
    if (n) {
        c->steps++;
        if (c->fault_rank == c->rank && c->fault_step == c->steps) {
            if (strcmp(c->fault_kind, "kill") == 0) raise(SIGKILL);
            if (strcmp(c->fault_kind, "fail") == 0) {
                cli_error("injected failure (RECUR_MPI_FAULT) at step %" PRIu64, c->steps);
                return -1;
            }
        }
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
    if (n) c->t_reduce += MPI_Wtime() - t0;
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
    fprintf(f, "usage: mpirun -np N recur-mpi train [DATA] -o MODEL [recur train's flags] [--check-every K]\n\n"
               "Data-parallel `recur train`: every rank reads DATA, each takes a share of every batch\n"
               "(by symbols), the gradients are summed with MPI_Allreduce and every rank takes the same\n"
               "step. --batch is the global batch. Rank 0 prints, evaluates and writes -o and the\n"
               "checkpoint; --resume works with any N. --threads N: threads per rank. --check-every K:\n"
               "compare the weights of all ranks every K steps (default 200; 0: never).\n"
               "See docs/DISTRIBUTED.md for launch lines (one machine, several, Slurm).\n");
}

/* Take --check-every K out of argv (cmd_train does not know it). */
static int take_check_every(int *argc, char **argv, int *k)
{
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--check-every") != 0) continue;
        char *end;
        long v = i + 1 < *argc ? strtol(argv[i + 1], &end, 10) : -1;
        if (i + 1 >= *argc || *end || v < 0 || v > 1000000000) {
            fprintf(stderr, "recur-mpi: --check-every needs a number of steps (0: never)\n");
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
    if (take_check_every(&argc, argv, &check_every)) MPI_Abort(MPI_COMM_WORLD, EXIT_USAGE);
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
    /* Where the time went, over all ranks: the slowest rank's share in
     * MPI_Allreduce (waiting for the others included). */
    double mine[3] = {c.t_reduce, c.t_wait, t_all}, most[3];
    MPI_Reduce(mine, most, 3, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    if (c.rank == 0 && rc == EXIT_OK && getenv("RECUR_MPI_REPORT"))
        fprintf(stderr, "recur-mpi: %d ranks, %" PRIu64 " steps, %.3f s in all; MPI_Allreduce up to %.3f s a rank "
                        "(%.1f%%)\n",
                c.ranks, c.steps, most[2], most[0], 100 * most[0] / (most[2] > 0 ? most[2] : 1));
    if (c.rank == 0 && rc == EXIT_OK && c.timing)
        fprintf(stderr, "recur-mpi: of it, waiting for the slowest rank (a barrier before each sum): up to %.3f s\n",
                most[1]);
    MPI_Finalize();
    return rc;
}
