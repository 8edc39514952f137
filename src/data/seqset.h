/* Internal layout of a sequence set (recur_seqset), shared by seqset.c (the
 * set, its accessors and the vocabularies) and the loaders load_*.c. */
#ifndef RECUR_DATA_SEQSET_H
#define RECUR_DATA_SEQSET_H
#include <stddef.h>
#include <stdint.h>

#include "recur.h"

/* Interned strings with a count each: ids in order of first appearance. */
typedef struct strtab {
    char *arena;        /* every string, NUL-terminated                     */
    size_t len, cap;
    size_t *off;        /* [n] string i at arena + off[i]                   */
    size_t *count;      /* [n] how many times it was interned               */
    size_t n, ncap;
    int32_t *slot;      /* [nslot] id + 1, 0 = empty (open addressing)      */
    size_t nslot;
} strtab;

/* Interns s[0..len) (which holds no NUL), counting it; *id its id. */
recur_status strtab_intern(strtab *t, const char *s, size_t len, int32_t *id, recur_error *err);
/* -1 when absent. */
int32_t strtab_find(const strtab *t, const char *s, size_t len);
static inline const char *strtab_str(const strtab *t, int32_t id) { return t->arena + t->off[id]; }
void strtab_free(strtab *t);

/* Grow *p (of *cap elements of `size` bytes) to hold at least `need`. */
recur_status seq_grow(void **p, size_t *cap, size_t need, size_t size, recur_error *err);

struct recur_seqset {
    recur_batch b;            /* the view: pointers into the fields below   */
    size_t n, steps;
    int32_t *offsets;         /* [n+1]                                      */
    size_t ocap;              /* capacity of offsets                        */
    size_t ncap;              /* capacity of lines, names, labels (grown together) */
    size_t *lines;            /* [n] 1-based line or row, or NULL           */
    size_t *names;            /* [n] offset in name_tab's arena, or NULL    */
    strtab name_tab;

    /* Tagged text: raw[k] is the symbol of step k in syms (characters as
     * UTF-8, or whole tokens); tokens[k] its id in the current vocabulary. */
    int token_level, min_count;
    int32_t *raw, *tokens;
    size_t scap;              /* capacity of raw, tokens, step_labels       */
    strtab syms;
    recur_vocab *vocab;       /* character level                            */
    int32_t *tok_sym;         /* token level: [ntok] symbol of id, -1 reserved */
    int ntok;

    int32_t *labels;          /* [n] or NULL                                */
    int32_t *step_labels;     /* [steps] or NULL                            */
    strtab label_tab, tag_tab;/* names, in first-appearance order while loading */
    char **label_names, **tag_names; /* sorted, after seqset_finish         */
    int nlabels, ntags;

    /* Dense */
    int F, O, per_step;
    const float *features, *targets;
    float *own_features, *own_targets; /* when not mapped                    */
    char **feature_names, **target_names;

    void *map;                /* mmap of the file, or NULL                  */
    size_t map_len;
};

recur_status seqset_new(recur_seqset **out, const recur_seqset_options *opts, recur_error *err);
/* Start sequence n (at `line`, named name[0..nlen) when name is not NULL). */
recur_status seqset_begin(recur_seqset *s, size_t line, const char *name, size_t nlen,
                          recur_error *err);
/* Append one step of tagged text: symbol sym[0..slen), tag tag[0..tlen)
 * (tag NULL: no tags). */
recur_status seqset_step(recur_seqset *s, const char *sym, size_t slen, const char *tag,
                         size_t tlen, recur_error *err);
/* The label of the sequence begun last. */
recur_status seqset_label(recur_seqset *s, const char *name, size_t len, recur_error *err);
/* Close the sequence begun last: its steps are those appended since. */
recur_status seqset_end(recur_seqset *s, const char *path, recur_error *err);
/* Sort label and tag names, build the vocabulary, fill the batch view. */
recur_status seqset_finish(recur_seqset *s, const char *path, recur_error *err);
/* The whole file into a malloc'd buffer (*len bytes, NUL after them). */
recur_status seq_read_file(const char *path, char **out, size_t *len, recur_error *err);
/* Check line[0..len) (starting at byte `base` of the file) for NUL bytes and
 * invalid UTF-8: "path:line:col: ... (byte offset N)". */
recur_status seq_check_line(const char *path, size_t lineno, const char *line, size_t len,
                            size_t base, recur_error *err);
/* Messages quote the data (names, values, tokens): keep them one line of
 * valid UTF-8 whatever those held (control bytes and invalid sequences
 * become '?'). Returns st. */
recur_status seq_clean_error(recur_status st, recur_error *err);
/* Names "0", "1", ... for n columns. */
recur_status seqset_number_names(char ***names, int n, recur_error *err);

#endif
