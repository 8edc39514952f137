/*
 * fuzz_import: libFuzzer harness for recur_model_import (recur import).
 *
 * bytes -> a memfd (nothing touches the disk) -> recur_model_import through
 * /proc/self/fd/N, with a 10-symbol vocabulary and auto cell, then with
 * the cell forced to each of the four and three label names -> when it
 * imports: the model is a classifier whose vocabulary is the one given
 * and whose weights are all there, a runner classifies texts and ids.
 * Promises broken abort; errors must be one line naming the file.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "recur.h"

#define REQUIRE(cond)                                                                     \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "fuzz_import: broken promise: %s (%s:%d)\n", #cond, __FILE__, \
                    __LINE__);                                                            \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

static int mem_fd = -1;
static char mem_path[64];
static recur_vocab *vocab;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    recur_set_threads(1);
    mem_fd = memfd_create("fuzz_import", MFD_CLOEXEC);
    REQUIRE(mem_fd >= 0);
    snprintf(mem_path, sizeof mem_path, "/proc/self/fd/%d", mem_fd);
    const char *syms[12] = {"", "", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
    recur_error err;
    REQUIRE(recur_vocab_from_symbols(RECUR_TEXT_UNICODE, syms, 12, &vocab, &err) == RECUR_OK);
    return 0;
}

static void check(recur_model *m)
{
    recur_error err;
    const recur_model_config *c = recur_model_get_config(m);
    REQUIRE(c->task == RECUR_TASK_CLASSIFY && c->hidden >= 1 && c->layers >= 1);
    REQUIRE(recur_vocab_size(recur_model_vocab(m)) == 12);
    int C = recur_model_num_labels(m);
    REQUIRE(C >= 1);
    recur_runner *r = NULL;
    if (recur_runner_create(m, 2, &r, &err) != RECUR_OK) return;
    float *lp = malloc(2 * (size_t)C * sizeof *lp);
    REQUIRE(lp != NULL);
    const char *texts[2] = {"abc", "jihgfedcba"};
    REQUIRE(recur_runner_classify(r, texts, NULL, 2, lp, &err) == RECUR_OK);
    volatile float sum = 0;
    for (int i = 0; i < 2 * C; i++) sum += lp[i];
    (void)sum;
    free(lp);
    recur_runner_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    REQUIRE(ftruncate(mem_fd, 0) == 0);
    for (size_t done = 0; done < size;) {
        ssize_t k = pwrite(mem_fd, data + done, size - done, (off_t)done);
        REQUIRE(k > 0);
        done += (size_t)k;
    }
    const char *labels[3] = {"x", "y", "z"};
    for (int cell = -1; cell <= RECUR_CELL_GRU; cell++) {
        recur_error err;
        recur_model *m = NULL;
        recur_status s = recur_model_import(mem_path, cell, vocab, cell == 1 ? labels : NULL,
                                            cell == 1 ? 3 : 0, &m, &err);
        if (s == RECUR_OK) {
            REQUIRE(m != NULL);
            check(m);
            recur_model_free(m);
        } else {
            REQUIRE(m == NULL);
            REQUIRE(s == RECUR_ERR_FORMAT || s == RECUR_ERR_IO || s == RECUR_ERR_NOMEM ||
                    s == RECUR_ERR_ARG);
            REQUIRE(strchr(err.message, '\n') == NULL && strstr(err.message, mem_path) != NULL);
        }
    }
    return 0;
}
