/* Internal layout of a data set, shared by dataset.c and split.c. */
#ifndef RECUR_DATA_DATASET_H
#define RECUR_DATA_DATASET_H
#include <stddef.h>
#include <stdint.h>

#include "recur.h"

typedef struct recur_example {
    size_t off;    /* text at arena + off, NUL-terminated                  */
    size_t line;   /* 1-based line in its file                             */
    size_t group;  /* distinct-text id: equal texts share it, 0..ngroups-1 */
    uint32_t len;  /* bytes, <= RECUR_MAX_TEXT_BYTES                       */
    int32_t label;
} recur_example;

struct recur_dataset {
    char *arena; /* every text, each NUL-terminated */
    size_t arena_len, arena_cap;
    recur_example *ex; /* ordered by label, then by line */
    size_t n, ngroups;
    char **labels;
    size_t *label_size;
    int nlabels;
    recur_dataset_stats st;
};

#endif
