/*
 * Sequence sets: what every loader (load_tagged.c, load_csv.c, load_npy.c)
 * fills, and the vocabularies of tagged text.
 *
 * A loader calls seqset_begin / seqset_step / seqset_label / seqset_end per
 * sequence (tagged text) or fills the dense fields itself, then
 * seqset_finish. While loading, every symbol (a character as UTF-8, or a
 * whole token) is interned with a count; the vocabulary is made last, from
 * those counts (all sequences, or a training split: recur_seqset_reencode),
 * so that the frequency cut and the unknown token follow the data the model
 * learns from. Label and tag names are interned in order of appearance and
 * sorted bytewise at the end (the order does not depend on the file's).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/error.h"
#include "data/seqset.h"
#include "data/text.h"

/* ------------------------------------------------------------------------ */
/* Interned strings                                                          */
/* ------------------------------------------------------------------------ */

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h ^ (h >> 29);
}

recur_status seq_grow(void **p, size_t *cap, size_t need, size_t size, recur_error *err)
{
    if (need <= *cap) return RECUR_OK;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2 / size) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory loading a data set");
        c *= 2;
    }
    void *q = realloc(*p, c * size);
    if (!q) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory loading a data set");
    *p = q;
    *cap = c;
    return RECUR_OK;
}

int32_t strtab_find(const strtab *t, const char *s, size_t len)
{
    if (!t->nslot) return -1;
    size_t mask = t->nslot - 1;
    for (size_t k = (size_t)hash_bytes(s, len) & mask;; k = (k + 1) & mask) {
        int32_t id = t->slot[k] - 1;
        if (id < 0) return -1;
        const char *o = t->arena + t->off[id];
        if (strncmp(o, s, len) == 0 && o[len] == '\0') return id;
    }
}

static recur_status strtab_rehash(strtab *t, recur_error *err)
{
    size_t ns = t->nslot ? t->nslot * 2 : 64;
    int32_t *slot = calloc(ns, sizeof *slot);
    if (!slot) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory loading a data set");
    for (size_t i = 0; i < t->n; i++) {
        const char *o = t->arena + t->off[i];
        size_t k = (size_t)hash_bytes(o, strlen(o)) & (ns - 1);
        while (slot[k]) k = (k + 1) & (ns - 1);
        slot[k] = (int32_t)i + 1;
    }
    free(t->slot);
    t->slot = slot;
    t->nslot = ns;
    return RECUR_OK;
}

recur_status strtab_intern(strtab *t, const char *s, size_t len, int32_t *id, recur_error *err)
{
    int32_t f = strtab_find(t, s, len);
    if (f >= 0) {
        t->count[f]++;
        *id = f;
        return RECUR_OK;
    }
    if (t->n >= INT32_MAX - 1)
        return recur_fail(err, RECUR_ERR_DATA, "more than %d distinct strings", INT32_MAX - 2);
    if (2 * (t->n + 1) > t->nslot) RECUR_TRY(strtab_rehash(t, err));
    size_t ncap = t->ncap;
    RECUR_TRY(seq_grow((void **)&t->off, &ncap, t->n + 1, sizeof *t->off, err));
    ncap = t->ncap;
    RECUR_TRY(seq_grow((void **)&t->count, &ncap, t->n + 1, sizeof *t->count, err));
    t->ncap = ncap;
    if (len > SIZE_MAX / 2 - t->len) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory loading a data set");
    RECUR_TRY(seq_grow((void **)&t->arena, &t->cap, t->len + len + 1, 1, err));
    t->off[t->n] = t->len;
    t->count[t->n] = 1;
    memcpy(t->arena + t->len, s, len);
    t->arena[t->len + len] = '\0';
    t->len += len + 1;
    size_t mask = t->nslot - 1, k = (size_t)hash_bytes(s, len) & mask;
    while (t->slot[k]) k = (k + 1) & mask;
    t->slot[k] = (int32_t)t->n + 1;
    *id = (int32_t)t->n++;
    return RECUR_OK;
}

void strtab_free(strtab *t)
{
    free(t->arena);
    free(t->off);
    free(t->count);
    free(t->slot);
    memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                   */
/* ------------------------------------------------------------------------ */

recur_status seq_read_file(const char *path, char **out, size_t *len, recur_error *err)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return recur_fail(err, RECUR_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    size_t cap = 0, n = 0;
    char *buf = NULL;
    recur_status st = RECUR_OK;
    for (;;) {
        if (n + 1 >= cap) {
            size_t nc = cap ? cap * 2 : 1 << 16;
            char *nb = cap <= SIZE_MAX / 2 ? realloc(buf, nc) : NULL;
            if (!nb) {
                st = recur_fail(err, RECUR_ERR_NOMEM, "out of memory reading %s", path);
                break;
            }
            buf = nb;
            cap = nc;
        }
        size_t r = fread(buf + n, 1, cap - 1 - n, f);
        n += r;
        if (r == 0) break;
    }
    if (st == RECUR_OK && ferror(f)) st = recur_fail(err, RECUR_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    fclose(f);
    if (st != RECUR_OK) {
        free(buf);
        return st;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return RECUR_OK;
}

recur_status seq_check_line(const char *path, size_t lineno, const char *line, size_t len,
                            size_t base, recur_error *err)
{
    const char *nul = memchr(line, '\0', len);
    if (nul)
        return recur_fail(err, RECUR_ERR_DATA, "%s:%zu:%zu: NUL byte (byte offset %zu)", path, lineno,
                          (size_t)(nul - line) + 1, base + (size_t)(nul - line));
    size_t bad = recur_utf8_invalid_at(line, len);
    if (bad < len)
        return recur_fail(err, RECUR_ERR_DATA, "%s:%zu:%zu: invalid UTF-8 (byte offset %zu)", path, lineno,
                          bad + 1, base + bad);
    return RECUR_OK;
}

recur_status seq_clean_error(recur_status st, recur_error *err)
{
    if (!err || st == RECUR_OK) return st;
    unsigned char *m = (unsigned char *)err->message;
    size_t n = strnlen(err->message, sizeof err->message - 1);
    m[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (m[i] < 0x20 || m[i] == 0x7f) m[i] = '?';
    for (size_t i = 0; i < n;) {
        size_t bad = recur_utf8_invalid_at((const char *)m + i, n - i);
        if (bad >= n - i) break;
        m[i + bad] = '?';
        i += bad + 1;
    }
    return st;
}

/* ------------------------------------------------------------------------ */
/* Building                                                                  */
/* ------------------------------------------------------------------------ */

void recur_seqset_options_default(recur_seqset_options *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->min_count = 1;
    o->tag_column = -1;
    o->delimiter = ',';
}

recur_status seqset_new(recur_seqset **out, const recur_seqset_options *opts, recur_error *err)
{
    recur_seqset *s = calloc(1, sizeof *s);
    if (!s) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory loading a data set");
    s->token_level = opts->token_level;
    s->min_count = opts->min_count;
    int32_t id;
    recur_status st = seq_grow((void **)&s->offsets, &s->ocap, 1, sizeof *s->offsets, err);
    if (st == RECUR_OK) st = strtab_intern(&s->name_tab, "", 0, &id, err);
    if (st != RECUR_OK) {
        recur_seqset_free(s);
        return st;
    }
    s->offsets[0] = 0;
    *out = s;
    return RECUR_OK;
}

recur_status seqset_begin(recur_seqset *s, size_t line, const char *name, size_t nlen,
                          recur_error *err)
{
    if (s->n >= INT32_MAX - 1)
        return recur_fail(err, RECUR_ERR_DATA, "more than %d sequences", INT32_MAX - 2);
    RECUR_TRY(seq_grow((void **)&s->offsets, &s->ocap, s->n + 2, sizeof *s->offsets, err));
    size_t c = s->ncap;
    RECUR_TRY(seq_grow((void **)&s->lines, &c, s->n + 2, sizeof *s->lines, err));
    c = s->ncap;
    RECUR_TRY(seq_grow((void **)&s->names, &c, s->n + 2, sizeof *s->names, err));
    c = s->ncap;
    RECUR_TRY(seq_grow((void **)&s->labels, &c, s->n + 2, sizeof *s->labels, err));
    s->ncap = c;
    s->lines[s->n] = line;
    s->labels[s->n] = -1;
    s->names[s->n] = 0;
    if (name) {
        int32_t id;
        RECUR_TRY(strtab_intern(&s->name_tab, name, nlen, &id, err));
        s->names[s->n] = s->name_tab.off[id];
    }
    return RECUR_OK;
}

recur_status seqset_step(recur_seqset *s, const char *sym, size_t slen, const char *tag,
                         size_t tlen, recur_error *err)
{
    if (s->steps >= INT32_MAX)
        return recur_fail(err, RECUR_ERR_DATA, "more than %d steps in all", INT32_MAX);
    size_t c = s->scap;
    RECUR_TRY(seq_grow((void **)&s->raw, &c, s->steps + 1, sizeof *s->raw, err));
    if (tag) {
        c = s->scap;
        RECUR_TRY(seq_grow((void **)&s->step_labels, &c, s->steps + 1, sizeof *s->step_labels, err));
    }
    s->scap = c;
    RECUR_TRY(strtab_intern(&s->syms, sym, slen, &s->raw[s->steps], err));
    if (tag) RECUR_TRY(strtab_intern(&s->tag_tab, tag, tlen, &s->step_labels[s->steps], err));
    s->steps++;
    return RECUR_OK;
}

recur_status seqset_label(recur_seqset *s, const char *name, size_t len, recur_error *err)
{
    return strtab_intern(&s->label_tab, name, len, &s->labels[s->n], err);
}

recur_status seqset_end(recur_seqset *s, const char *path, recur_error *err)
{
    if ((size_t)s->offsets[s->n] == s->steps)
        return recur_fail(err, RECUR_ERR_DATA, "%s:%zu: empty sequence", path, s->lines[s->n]);
    s->offsets[++s->n] = (int32_t)s->steps;
    return RECUR_OK;
}

/* ------------------------------------------------------------------------ */
/* Names sorted bytewise, vocabularies                                       */
/* ------------------------------------------------------------------------ */

typedef struct ranked {
    const char *s;
    size_t count;
    int32_t id;
} ranked;

static int by_bytes(const void *a, const void *b)
{
    return strcmp(((const ranked *)a)->s, ((const ranked *)b)->s);
}

/* Most frequent first, ties bytewise. */
static int by_count(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return strcmp(x->s, y->s);
}

static void free_names(char **names, int n)
{
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* Sorted names of t into *names; ids[0..n) remapped from first-appearance
 * ids to sorted ones (entries < 0 are left alone). */
static recur_status sort_names(const strtab *t, int32_t *ids, size_t n, char ***names,
                               int *count, recur_error *err)
{
    *names = NULL;
    *count = 0;
    if (!t->n) return RECUR_OK;
    ranked *r = malloc(t->n * sizeof *r);
    int32_t *rank = malloc(t->n * sizeof *rank);
    char **out = calloc(t->n, sizeof *out);
    if (!r || !rank || !out) {
        free(r);
        free(rank);
        free(out);
        return recur_fail(err, RECUR_ERR_NOMEM, "out of memory loading a data set");
    }
    for (size_t i = 0; i < t->n; i++) r[i] = (ranked){strtab_str(t, (int32_t)i), 0, (int32_t)i};
    qsort(r, t->n, sizeof *r, by_bytes);
    recur_status st = RECUR_OK;
    for (size_t i = 0; i < t->n; i++) {
        rank[r[i].id] = (int32_t)i;
        if (!(out[i] = dup_str(r[i].s))) st = recur_fail(err, RECUR_ERR_NOMEM, "out of memory loading a data set");
    }
    if (st == RECUR_OK)
        for (size_t k = 0; k < n; k++)
            if (ids[k] >= 0) ids[k] = rank[ids[k]];
    free(r);
    free(rank);
    if (st != RECUR_OK) {
        free_names(out, (int)t->n);
        return st;
    }
    *names = out;
    *count = (int)t->n;
    return RECUR_OK;
}

recur_status seqset_number_names(char ***names, int n, recur_error *err)
{
    *names = calloc(n > 0 ? (size_t)n : 1, sizeof **names);
    if (!*names) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory loading a data set");
    for (int i = 0; i < n; i++) {
        char b[16];
        snprintf(b, sizeof b, "%d", i);
        if (!((*names)[i] = dup_str(b))) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory loading a data set");
    }
    return RECUR_OK;
}

/* The vocabulary of the symbols of sequences idx[0..n) (all when idx is
 * NULL), cut at min_count, and every step's token id under it. */
static recur_status build_vocab(recur_seqset *s, const size_t *idx, size_t n, recur_error *err)
{
    size_t ns = s->syms.n;
    size_t *cnt = calloc(ns ? ns : 1, sizeof *cnt);
    int32_t *map = calloc(ns ? ns : 1, sizeof *map);
    ranked *r = malloc((ns ? ns : 1) * sizeof *r);
    const char **sym = malloc((ns + 2) * sizeof *sym);
    int32_t *tok_sym = malloc((ns + 2) * sizeof *tok_sym);
    recur_status st = RECUR_OK;
    int k = 0;
    if (!cnt || !map || !r || !sym || !tok_sym) {
        st = recur_fail(err, RECUR_ERR_NOMEM, "out of memory making a vocabulary");
        goto done;
    }
    size_t m = idx ? n : s->n;
    /* Characters keep the order of first appearance (as recur_vocab_add
     * gives ids), tokens go most frequent first. */
    for (size_t j = 0; j < m; j++) {
        size_t i = idx ? idx[j] : j;
        for (int32_t t = s->offsets[i]; t < s->offsets[i + 1]; t++)
            if (cnt[s->raw[t]]++ == 0) r[k++] = (ranked){strtab_str(&s->syms, s->raw[t]), 0, s->raw[t]};
    }
    int kept = 0;
    for (int i = 0; i < k; i++) {
        r[i].count = cnt[r[i].id];
        if (r[i].count >= (size_t)(s->min_count > 1 ? s->min_count : 1)) r[kept++] = r[i];
    }
    if (s->token_level) qsort(r, (size_t)kept, sizeof *r, by_count);
    sym[0] = sym[1] = "";
    tok_sym[0] = tok_sym[1] = -1;
    for (int i = 0; i < kept; i++) {
        sym[i + 2] = r[i].s;
        tok_sym[i + 2] = r[i].id;
        map[r[i].id] = i + 2;
    }
    if (!s->token_level) {
        recur_vocab *v;
        st = recur_vocab_from_symbols(RECUR_TEXT_UNICODE, sym, kept + 2, &v, err);
        if (st != RECUR_OK) goto done;
        recur_vocab_free(s->vocab);
        s->vocab = v;
    } else {
        free(s->tok_sym);
        s->tok_sym = tok_sym;
        tok_sym = NULL;
        s->ntok = kept + 2;
    }
    for (size_t t = 0; t < s->steps; t++) s->tokens[t] = map[s->raw[t]];
done:
    free(cnt);
    free(map);
    free(r);
    free(sym);
    free(tok_sym);
    return st;
}

static void fill_view(recur_seqset *s)
{
    s->b = (recur_batch){
        .n = (int)s->n,
        .tokens = s->raw ? s->tokens : NULL,
        .offsets = s->offsets,
        .labels = s->nlabels ? s->labels : NULL,
        .features = s->F ? s->features : NULL,
        .step_labels = s->ntags ? s->step_labels : NULL,
        .targets = s->O ? s->targets : NULL,
    };
}

recur_status seqset_finish(recur_seqset *s, const char *path, recur_error *err)
{
    if (s->n == 0) return recur_fail(err, RECUR_ERR_DATA, "%s: no sequences", path);
    if (s->label_tab.n) {
        for (size_t i = 0; i < s->n; i++)
            if (s->labels[i] < 0)
                return recur_fail(err, RECUR_ERR_DATA, "%s:%zu: this sequence has no label and others have",
                                  path, s->lines[i]);
        RECUR_TRY(sort_names(&s->label_tab, s->labels, s->n, &s->label_names, &s->nlabels, err));
    }
    if (s->tag_tab.n)
        RECUR_TRY(sort_names(&s->tag_tab, s->step_labels, s->steps, &s->tag_names, &s->ntags, err));
    if (s->raw) {
        s->tokens = malloc(s->steps * sizeof *s->tokens);
        if (!s->tokens) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory loading a data set");
        RECUR_TRY(build_vocab(s, NULL, 0, err));
    }
    fill_view(s);
    return RECUR_OK;
}

recur_status recur_seqset_reencode(recur_seqset *s, const size_t *idx, size_t n, recur_error *err)
{
    if (!s || (!idx && n)) return recur_fail(err, RECUR_ERR_ARG, "recur_seqset_reencode: %s is NULL", s ? "idx" : "set");
    if (!s->raw) return recur_fail(err, RECUR_ERR_ARG, "recur_seqset_reencode: the set has no text to re-encode");
    for (size_t j = 0; j < n; j++)
        if (idx[j] >= s->n)
            return recur_fail(err, RECUR_ERR_ARG, "recur_seqset_reencode: index %zu is past the %zu sequences",
                              idx[j], s->n);
    RECUR_TRY(build_vocab(s, idx, n, err));
    fill_view(s);
    return RECUR_OK;
}

/* ------------------------------------------------------------------------ */
/* Accessors                                                                 */
/* ------------------------------------------------------------------------ */

void recur_seqset_free(recur_seqset *s)
{
    if (!s) return;
    free(s->offsets);
    free(s->lines);
    free(s->names);
    strtab_free(&s->name_tab);
    free(s->raw);
    free(s->tokens);
    strtab_free(&s->syms);
    recur_vocab_free(s->vocab);
    free(s->tok_sym);
    free(s->labels);
    free(s->step_labels);
    strtab_free(&s->label_tab);
    strtab_free(&s->tag_tab);
    free_names(s->label_names, s->nlabels);
    free_names(s->tag_names, s->ntags);
    free(s->own_features);
    free(s->own_targets);
    free_names(s->feature_names, s->F);
    free_names(s->target_names, s->O);
    if (s->map) munmap(s->map, s->map_len);
    free(s);
}

const recur_batch *recur_seqset_batch(const recur_seqset *s) { return s ? &s->b : NULL; }
size_t recur_seqset_size(const recur_seqset *s) { return s ? s->n : 0; }
size_t recur_seqset_steps(const recur_seqset *s) { return s ? s->steps : 0; }
int recur_seqset_input_size(const recur_seqset *s) { return s ? s->F : 0; }
int recur_seqset_outputs(const recur_seqset *s) { return s ? s->O : 0; }
int recur_seqset_targets_per_step(const recur_seqset *s) { return s && s->O ? s->per_step : 0; }
int recur_seqset_num_labels(const recur_seqset *s) { return s ? s->nlabels : 0; }
int recur_seqset_num_tags(const recur_seqset *s) { return s ? s->ntags : 0; }
const recur_vocab *recur_seqset_vocab(const recur_seqset *s) { return s ? s->vocab : NULL; }
int recur_seqset_num_tokens(const recur_seqset *s) { return s && s->tok_sym ? s->ntok : 0; }

const char *recur_seqset_feature_name(const recur_seqset *s, int j)
{
    return s && j >= 0 && j < s->F ? s->feature_names[j] : NULL;
}

const char *recur_seqset_target_name(const recur_seqset *s, int j)
{
    return s && j >= 0 && j < s->O ? s->target_names[j] : NULL;
}

const char *recur_seqset_label_name(const recur_seqset *s, int label)
{
    return s && label >= 0 && label < s->nlabels ? s->label_names[label] : NULL;
}

const char *recur_seqset_tag_name(const recur_seqset *s, int tag)
{
    return s && tag >= 0 && tag < s->ntags ? s->tag_names[tag] : NULL;
}

const char *recur_seqset_token(const recur_seqset *s, int id)
{
    if (!s || !s->tok_sym || id < 0 || id >= s->ntok) return NULL;
    return s->tok_sym[id] < 0 ? "" : strtab_str(&s->syms, s->tok_sym[id]);
}

const char *recur_seqset_name(const recur_seqset *s, size_t i)
{
    if (!s || i >= s->n) return NULL;
    return s->names ? s->name_tab.arena + s->names[i] : "";
}

static size_t mapped(const recur_seqset *s, const float *p, size_t count)
{
    const unsigned char *b = s->map, *q = (const unsigned char *)p;
    return p && b && q >= b && q < b + s->map_len ? count * sizeof(float) : 0;
}

size_t recur_seqset_mapped_bytes(const recur_seqset *s)
{
    if (!s) return 0;
    return mapped(s, s->features, s->steps * (size_t)s->F) +
           mapped(s, s->targets, (s->per_step ? s->steps : s->n) * (size_t)s->O);
}

size_t recur_seqset_line(const recur_seqset *s, size_t i)
{
    return s && s->lines && i < s->n ? s->lines[i] : 0;
}

/* ------------------------------------------------------------------------ */
/* Choosing a loader by the file's name                                      */
/* ------------------------------------------------------------------------ */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    if (k > n) return 0;
    for (size_t i = 0; i < k; i++) {
        char c = s[n - k + i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != suffix[i]) return 0;
    }
    return 1;
}

recur_status recur_seqset_load(const char *path, const recur_seqset_options *opts,
                               recur_seqset **out, recur_error *err)
{
    if (!path || !out) return recur_fail(err, RECUR_ERR_ARG, "recur_seqset_load: %s is NULL", path ? "out" : "path");
    *out = NULL;
    recur_seqset_options d;
    if (!opts) {
        recur_seqset_options_default(&d);
        opts = &d;
    }
    int csv_cols = opts->id_column || opts->feature_columns || opts->target_columns ||
                   opts->label_column || opts->tag_column_name;
    if (ends_with(path, ".conll") || ends_with(path, ".conllu") || ends_with(path, ".bio") ||
        ends_with(path, ".iob") || (ends_with(path, ".tsv") && !csv_cols))
        return recur_seqset_load_conll(path, opts, out, err);
    if (ends_with(path, ".jsonl") || ends_with(path, ".ndjson"))
        return recur_seqset_load_jsonl(path, opts, out, err);
    if (ends_with(path, ".csv")) return recur_seqset_load_csv(path, opts, out, err);
    if (ends_with(path, ".tsv")) {
        recur_seqset_options t = *opts;
        t.delimiter = '\t';
        return recur_seqset_load_csv(path, &t, out, err);
    }
    if (ends_with(path, ".npy") || ends_with(path, ".npz")) return recur_seqset_load_npy(path, opts, out, err);
    return recur_fail(err, RECUR_ERR_UNSUPPORTED,
                      "%s: unknown kind of data file (.conll .conllu .tsv .jsonl .csv .npy .npz)", path);
}
