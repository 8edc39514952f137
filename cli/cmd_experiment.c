/*
 * recur experiment memory|gradients|adding|cost: four claims about recurrent
 * cells, each shown by one command with a table, a plot (--svg) and the
 * numbers as JSON (--json). docs/EXPERIMENTS.md has what they found.
 */
#include <string.h>

#include "exp_common.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *what;
} experiments[] = {
    {"memory", exp_memory, "a vanilla RNN forgets the start of a long sequence; do LSTM and GRU keep it?"},
    {"gradients", exp_gradients, "dLoss/dh_t at every step t: how fast does it vanish, per cell?"},
    {"adding", exp_adding, "the sum of two marked values of T: which cells carry a value 50..200 steps?"},
    {"cost", exp_cost, "parameters, FLOPs and time per step of each cell; GRU/LSTM against 3/4"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: recur experiment <name> [options]\n\n"
               "Each experiment trains small models, prints a table and with --svg FILE draws a plot;\n"
               "--quick runs a smaller version in seconds, --json prints the numbers instead.\n\n");
    for (size_t i = 0; i < sizeof experiments / sizeof experiments[0]; i++)
        fprintf(f, "  %-10s %s\n", experiments[i].name, experiments[i].what);
    fprintf(f, "\n'recur experiment <name> --help' lists its options.\n");
}

int cmd_experiment(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof experiments / sizeof experiments[0]; i++)
        if (strcmp(name, experiments[i].name) == 0) return experiments[i].run(argc - 1, argv + 1);
    cli_error("unknown experiment '%s' (memory, gradients, adding or cost; see 'recur experiment --help')", name);
    return EXIT_USAGE;
}
