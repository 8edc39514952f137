/*
 * What fuzz_tagged.c and fuzz_dense.c share: the input goes to a memfd
 * (nothing touches the disk) read through /proc/self/fd/N, and a loaded
 * recur_seqset is checked against every promise of include/recur.h.
 */
#ifndef FUZZ_SEQSET_COMMON_H
#define FUZZ_SEQSET_COMMON_H
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "recur.h"

#define REQUIRE(cond)                                                                 \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "fuzz_seqset: broken promise: %s (%s:%d)\n", #cond, __FILE__, \
                    __LINE__);                                                        \
            abort();                                                                  \
        }                                                                             \
    } while (0)

static char fuzz_path[64];
static int fuzz_fd = -1;

static void fuzz_open(void)
{
    fuzz_fd = memfd_create("fuzz-seqset", 0);
    if (fuzz_fd < 0) {
        perror("memfd_create");
        exit(2);
    }
    snprintf(fuzz_path, sizeof fuzz_path, "/proc/self/fd/%d", fuzz_fd);
}

static void fuzz_write(const uint8_t *data, size_t size)
{
    if (ftruncate(fuzz_fd, 0) != 0 || (size && pwrite(fuzz_fd, data, size, 0) != (ssize_t)size)) {
        perror("fuzz_seqset: memfd");
        exit(2);
    }
}

/* A failed load: nothing out, one line, the documented statuses, the file
 * named (out-of-memory messages excepted). */
static void check_failure(recur_status st, const recur_seqset *s, const recur_error *err)
{
    REQUIRE(s == NULL);
    REQUIRE(st == RECUR_ERR_DATA || st == RECUR_ERR_NOMEM || st == RECUR_ERR_UNSUPPORTED || st == RECUR_ERR_ARG);
    REQUIRE(err->status == st);
    REQUIRE(memchr(err->message, '\0', sizeof err->message) != NULL);
    REQUIRE(!strchr(err->message, '\n'));
    REQUIRE(st == RECUR_ERR_NOMEM || strstr(err->message, fuzz_path) != NULL);
}

static void check_names(int n, const char *(*get)(const recur_seqset *, int), const recur_seqset *s, int sorted)
{
    for (int i = 0; i < n; i++) {
        const char *a = get(s, i);
        REQUIRE(a != NULL);
        if (sorted && i) REQUIRE(strcmp(get(s, i - 1), a) < 0);
    }
    REQUIRE(get(s, n) == NULL && get(s, -1) == NULL);
}

static void check_set(const recur_seqset *s)
{
    const recur_batch *b = recur_seqset_batch(s);
    size_t n = recur_seqset_size(s), steps = recur_seqset_steps(s);
    REQUIRE(b && b->n >= 1 && (size_t)b->n == n);
    REQUIRE(b->offsets[0] == 0 && (size_t)b->offsets[n] == steps);
    for (size_t i = 0; i < n; i++) {
        REQUIRE(b->offsets[i + 1] > b->offsets[i]);
        REQUIRE(recur_seqset_name(s, i) != NULL);
    }
    REQUIRE(recur_seqset_name(s, n) == NULL);
    int F = recur_seqset_input_size(s), O = recur_seqset_outputs(s);
    REQUIRE((F > 0) == (b->features != NULL) && (F > 0) != (b->tokens != NULL));
    REQUIRE((O > 0) == (b->targets != NULL));
    if (F) {
        check_names(F, recur_seqset_feature_name, s, 0);
        for (size_t k = 0; k < steps * (size_t)F; k++) REQUIRE(isfinite(b->features[k]));
    }
    if (O) {
        check_names(O, recur_seqset_target_name, s, 0);
        size_t rows = recur_seqset_targets_per_step(s) ? steps : n;
        for (size_t k = 0; k < rows * (size_t)O; k++) REQUIRE(isfinite(b->targets[k]));
    }
    int L = recur_seqset_num_labels(s), T = recur_seqset_num_tags(s);
    REQUIRE((L > 0) == (b->labels != NULL) && (T > 0) == (b->step_labels != NULL));
    check_names(L, recur_seqset_label_name, s, 0);
    check_names(T, recur_seqset_tag_name, s, 0);
    for (size_t i = 0; L && i < n; i++) REQUIRE(b->labels[i] >= 0 && b->labels[i] < L);
    for (size_t k = 0; T && k < steps; k++) REQUIRE(b->step_labels[k] >= 0 && b->step_labels[k] < T);
    if (b->tokens) {
        const recur_vocab *v = recur_seqset_vocab(s);
        int V = v ? recur_vocab_size(v) : recur_seqset_num_tokens(s);
        REQUIRE((v != NULL) != (recur_seqset_num_tokens(s) > 0));
        REQUIRE(V >= 2);
        for (size_t k = 0; k < steps; k++) REQUIRE(b->tokens[k] >= 0 && b->tokens[k] < V);
        if (!v) check_names(V, recur_seqset_token, s, 0);
    }
}
#endif
