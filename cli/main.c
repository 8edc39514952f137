/* recur: the command-line tool (a thin user of include/recur.h). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *what;
} commands[] = {
    {"train", cmd_train, "train a classifier on a folder of <Label>.txt files"},
    {"eval", cmd_eval, "accuracy, per-class scores and the confusion matrix of a model on data"},
    {"predict", cmd_predict, "the most likely labels of names given as arguments or on stdin"},
    {"info", cmd_info, "what a model file holds"},
    {"experiment", cmd_experiment, "see three claims about RNN, LSTM and GRU happen (memory, gradients, cost)"},
    {"sample", cmd_sample, "names drawn from a generation model (train --generate)"},
    {"quantize", cmd_quantize, "int8 or bf16 weights for faster inference"},
    {"features", cmd_features, "speech features (log-mel, MFCC) of audio files, as NumPy arrays"},
    {"import", cmd_import, "a recur model from a PyTorch state_dict saved as safetensors"},
    {"inspect", cmd_inspect, "what the gates do, character by character, as a model reads a name"},
    {"listen", cmd_listen, "spoken words from raw 16 kHz audio on stdin, as they are heard"},
    {"serve", cmd_serve, "an HTTP server of models (Open Inference Protocol v2) with a page to try them"},
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: recur <command> [options]\n\n"
            "recur %s: recurrent neural networks (RNN, LSTM, GRU) that classify short texts,\n"
            "such as surnames by language.\n\ncommands:\n",
            RECUR_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].what);
    fprintf(f, "\n'recur <command> --help' describes a command's options.\n"
               "  recur train -o model.safetensors        (data from $RECUR_DATA)\n"
               "  recur eval model.safetensors DATA\n"
               "  recur predict model.safetensors Dovesky Jackson Satoshi\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("recur %s\n", RECUR_VERSION);
        return EXIT_OK;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    cli_error("unknown command '%s' (see 'recur --help')", cmd);
    return EXIT_USAGE;
}
