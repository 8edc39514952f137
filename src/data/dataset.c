/*
 * Data sets: a folder of <Label>.txt files, one example per line.
 *
 * Loading: every regular file (or link to one) named *.txt whose name does
 * not start with '.' is a label; labels are sorted bytewise. A UTF-8 byte
 * order mark at the start of a file is skipped. Lines end at \n; each is
 * checked (no NUL byte, valid UTF-8), then trimmed of white space at both
 * ends (so \r of CRLF goes too; see recur_text_is_space); blank lines are
 * skipped and counted. All texts live in one arena. Equal texts share a
 * group id (found with a hash table), from which the statistics, dedupe and
 * the by-distinct split follow in linear time.
 *
 * Millions of lines: a file is read into one buffer of its size, the arena
 * grows once per file, and the hash table holds each entry's index with 32
 * bits of its hash (no second memory access to reject a collision) and is
 * probed with the slots of the next lines prefetched: on 6 million lines
 * the table's cache misses were most of the load. A caller's stop flag is
 * read every STOP_EVERY lines, between reads and while hashing.
 */
#include <errno.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "data/dataset.h"
#include "data/text.h"

/* ------------------------------------------------------------------------ */
/* Reading                                                                   */
/* ------------------------------------------------------------------------ */

enum { STOP_EVERY = 4096, READ_CHUNK = 1 << 22 };

static int stopped(const volatile sig_atomic_t *stop) { return stop && *stop; }

static recur_status interrupted(recur_error *err, const char *what)
{
    return recur_fail(err, RECUR_ERR_INTERRUPTED, "interrupted while %s", what);
}

static recur_status read_all(const char *path, const volatile sig_atomic_t *stop, char **out,
                             size_t *len, recur_error *err)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return recur_fail(err, RECUR_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    /* The file's size when it has one (then one allocation), else growth. */
    struct stat sb;
    size_t cap = 1 << 16, n = 0;
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 &&
        (uintmax_t)sb.st_size < (uintmax_t)SIZE_MAX / 2)
        cap = (size_t)sb.st_size + 1; /* + 1: reaching cap means the file grew */
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return recur_fail(err, RECUR_ERR_NOMEM, "out of memory reading %s", path);
    }
    for (;;) {
        if (n == cap) {
            char *nb = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                free(buf);
                fclose(f);
                return recur_fail(err, RECUR_ERR_NOMEM, "out of memory reading %s", path);
            }
            buf = nb;
            cap *= 2;
        }
        if (stopped(stop)) {
            free(buf);
            fclose(f);
            return interrupted(err, "reading the data");
        }
        size_t want = cap - n < READ_CHUNK ? cap - n : READ_CHUNK;
        size_t r = fread(buf + n, 1, want, f);
        n += r;
        if (r < want) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return recur_fail(err, RECUR_ERR_IO, "cannot read %s", path);
    }
    *out = buf;
    *len = n;
    return RECUR_OK;
}

/* Room for `more` bytes in the arena: at least doubled, so that a folder of
 * many files reallocates it a logarithmic number of times. */
static recur_status arena_reserve(recur_dataset *ds, size_t more, recur_error *err)
{
    if (more > SIZE_MAX / 4 - ds->arena_len)
        return recur_fail(err, RECUR_ERR_NOMEM, "out of memory storing texts");
    size_t need = ds->arena_len + more;
    if (need <= ds->arena_cap) return RECUR_OK;
    size_t cap = ds->arena_cap ? 2 * ds->arena_cap : 1 << 16;
    if (cap < need) cap = need;
    char *a = realloc(ds->arena, cap);
    if (!a) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory storing texts");
    ds->arena = a;
    ds->arena_cap = cap;
    return RECUR_OK;
}

static recur_status arena_append(recur_dataset *ds, const char *s, size_t len, size_t *off,
                                 recur_error *err)
{
    if (ds->arena_len + len + 1 > ds->arena_cap) RECUR_TRY(arena_reserve(ds, len + 1, err));
    *off = ds->arena_len;
    memcpy(ds->arena + ds->arena_len, s, len);
    ds->arena[ds->arena_len + len] = '\0';
    ds->arena_len += len + 1;
    return RECUR_OK;
}

/* Split one file's contents into examples of `label`. */
static recur_status parse_file(recur_dataset *ds, size_t *ex_cap, int label, const char *path,
                               const char *buf, size_t len, const volatile sig_atomic_t *stop,
                               recur_error *err)
{
    size_t pos = 0, lineno = 0, kept = 0;
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) pos = 3;
    /* Every text with its NUL fits in the file's bytes plus one. */
    RECUR_TRY(arena_reserve(ds, len + 1, err));
    while (pos < len) {
        if (lineno % STOP_EVERY == 0 && stopped(stop)) return interrupted(err, "reading the data");
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        const char *line = buf + pos;
        size_t llen = end - pos;
        lineno++;
        const char *nul = memchr(line, '\0', llen);
        if (nul)
            return recur_fail(err, RECUR_ERR_DATA, "%s:%zu: NUL byte at byte offset %zu", path,
                              lineno, (size_t)(nul - buf));
        size_t bad = recur_utf8_invalid_at(line, llen);
        if (bad < llen)
            return recur_fail(err, RECUR_ERR_DATA, "%s:%zu: invalid UTF-8 at byte offset %zu",
                              path, lineno, pos + bad);
        recur_text_trim(&line, &llen);
        pos = end + 1;
        if (llen == 0) {
            ds->st.empty++;
            continue;
        }
        if (llen > RECUR_MAX_TEXT_BYTES)
            return recur_fail(err, RECUR_ERR_DATA,
                              "%s:%zu: line of %zu bytes is longer than the limit of %d bytes",
                              path, lineno, llen, RECUR_MAX_TEXT_BYTES);
        if (ds->n == *ex_cap) {
            size_t cap = *ex_cap ? *ex_cap * 2 : 1024;
            recur_example *e = realloc(ds->ex, cap * sizeof *e);
            if (!e) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory reading %s", path);
            ds->ex = e;
            *ex_cap = cap;
        }
        recur_example *e = &ds->ex[ds->n];
        RECUR_TRY(arena_append(ds, line, llen, &e->off, err));
        e->line = lineno;
        e->group = 0;
        e->len = (uint32_t)llen;
        e->label = label;
        ds->n++;
        kept++;
    }
    if (kept == 0)
        return recur_fail(err, RECUR_ERR_DATA, "%s: no names (%s)", path,
                          lineno ? "every line is blank" : "the file is empty");
    ds->label_size[label] = kept;
    return RECUR_OK;
}

/* ------------------------------------------------------------------------ */
/* Groups of equal texts and statistics                                      */
/* ------------------------------------------------------------------------ */

/* Eight bytes a step (the group ids do not depend on the hash: a group is
 * numbered when its first text is met). */
static uint64_t hash_text(const char *s, size_t len)
{
    const uint64_t K = 0x9e3779b97f4a7c15ULL;
    uint64_t h = len * K, w;
    for (; len >= 8; s += 8, len -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * K;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, s, len);
    h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 31;
    h *= 0x94d049bb133111ebULL;
    return h ^ (h >> 29);
}

#if defined(__GNUC__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)0)
#endif

/* A slot: the example's index + 1 (0 = empty) and its hash's high bits. */
typedef struct slot {
    uint32_t idx, tag;
} slot;

static recur_status assign_groups(recur_dataset *ds, const volatile sig_atomic_t *stop,
                                  recur_error *err)
{
    if (ds->n >= UINT32_MAX)
        return recur_fail(err, RECUR_ERR_DATA, "too many lines (%zu): the limit is %u", ds->n,
                          (unsigned)UINT32_MAX - 1);
    size_t cap = 16;
    while (cap < 2 * ds->n) cap *= 2;
    const size_t mask = cap - 1;
    slot *tab = calloc(cap, sizeof *tab);
    if (!tab) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory indexing texts");
    /* Hashes of the next AHEAD lines, whose slots are being prefetched. */
    enum { AHEAD = 16 };
    uint64_t ring[AHEAD];
    for (size_t i = 0; i < AHEAD && i < ds->n; i++) {
        ring[i] = hash_text(ds->arena + ds->ex[i].off, ds->ex[i].len);
        PREFETCH(&tab[ring[i] & mask]);
    }
    size_t groups = 0;
    for (size_t i = 0; i < ds->n; i++) {
        if (i % (16 * STOP_EVERY) == 0 && stopped(stop)) {
            free(tab);
            return interrupted(err, "indexing the data");
        }
        uint64_t h = ring[i % AHEAD];
        if (i + AHEAD < ds->n) {
            const recur_example *a = &ds->ex[i + AHEAD];
            uint64_t ha = hash_text(ds->arena + a->off, a->len);
            ring[i % AHEAD] = ha;
            PREFETCH(&tab[ha & mask]);
        }
        recur_example *e = &ds->ex[i];
        const char *s = ds->arena + e->off;
        const uint32_t tag = (uint32_t)(h >> 32);
        for (size_t k = (size_t)h & mask;; k = (k + 1) & mask) {
            if (!tab[k].idx) {
                tab[k].idx = (uint32_t)(i + 1);
                tab[k].tag = tag;
                e->group = groups++;
                break;
            }
            if (tab[k].tag != tag) continue;
            const recur_example *r = &ds->ex[tab[k].idx - 1];
            if (r->len == e->len && memcmp(ds->arena + r->off, s, e->len) == 0) {
                e->group = r->group;
                break;
            }
        }
    }
    ds->ngroups = groups;
    free(tab);
    return RECUR_OK;
}

/*
 * One pass over the examples (ordered by label): a (text, label) pair repeats
 * when its group was last seen under the same label. keep, when not NULL,
 * receives 1 for the first of each pair.
 */
static recur_status compute_stats(recur_dataset *ds, unsigned char *keep, recur_error *err)
{
    size_t g = ds->ngroups ? ds->ngroups : 1;
    int32_t *first = malloc(g * sizeof *first), *last = malloc(g * sizeof *last);
    unsigned char *multi = calloc(g, 1);
    if (!first || !last || !multi) {
        free(first);
        free(last);
        free(multi);
        return recur_fail(err, RECUR_ERR_NOMEM, "out of memory computing statistics");
    }
    for (size_t i = 0; i < ds->ngroups; i++) first[i] = last[i] = -1;
    size_t dup = 0, amb = 0, maxb = 0;
    for (size_t i = 0; i < ds->n; i++) {
        const recur_example *e = &ds->ex[i];
        size_t k = e->group;
        if (first[k] < 0) first[k] = e->label;
        else if (first[k] != e->label && !multi[k]) {
            multi[k] = 1;
            amb++;
        }
        int repeat = last[k] == e->label;
        if (repeat) dup++;
        last[k] = e->label;
        if (keep) keep[i] = !repeat;
        if (e->len > maxb) maxb = e->len;
    }
    ds->st.lines = ds->n;
    ds->st.duplicates = dup;
    ds->st.distinct = ds->ngroups;
    ds->st.ambiguous = amb;
    ds->st.max_bytes = maxb;
    free(first);
    free(last);
    free(multi);
    return RECUR_OK;
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                   */
/* ------------------------------------------------------------------------ */

static int cmp_label(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_label_file(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && name[0] != '.' && memcmp(name + n - 4, ".txt", 4) == 0;
}

static char *join_path(const char *dir, const char *name, const char *suffix)
{
    size_t a = strlen(dir), b = strlen(name), c = strlen(suffix);
    char *p = malloc(a + b + c + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (k == 0 || p[k - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b);
    memcpy(p + k + b, suffix, c + 1);
    return p;
}

/* The label names (file names without .txt), sorted bytewise. */
static recur_status list_labels(recur_dataset *ds, const char *dir, recur_error *err)
{
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return recur_fail(err, RECUR_ERR_IO, "cannot open data folder %s: %s", dir,
                          strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return recur_fail(err, RECUR_ERR_IO, "data folder %s is not a folder", dir);
    DIR *d = opendir(dir);
    if (!d)
        return recur_fail(err, RECUR_ERR_IO, "cannot open data folder %s: %s", dir,
                          strerror(errno));
    size_t cap = 0;
    recur_status st = RECUR_OK;
    struct dirent *de;
    while (st == RECUR_OK && (de = readdir(d)) != NULL) {
        if (!is_label_file(de->d_name)) continue;
        char *path = join_path(dir, de->d_name, "");
        if (!path) {
            st = recur_fail(err, RECUR_ERR_NOMEM, "out of memory listing %s", dir);
            break;
        }
        int regular = stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
        free(path);
        if (!regular) continue;
        size_t len = strlen(de->d_name) - 4;
        if (recur_utf8_invalid_at(de->d_name, len) < len) {
            st = recur_fail(err, RECUR_ERR_DATA, "%s: file name %s is not valid UTF-8", dir,
                            de->d_name);
            break;
        }
        if (ds->nlabels == (int)cap) {
            if (cap >= (size_t)1 << 30) {
                st = recur_fail(err, RECUR_ERR_DATA, "%s: too many label files", dir);
                break;
            }
            cap = cap ? cap * 2 : 32;
            char **l = realloc(ds->labels, cap * sizeof *l);
            if (!l) {
                st = recur_fail(err, RECUR_ERR_NOMEM, "out of memory listing %s", dir);
                break;
            }
            ds->labels = l;
        }
        char *name = malloc(len + 1);
        if (!name) {
            st = recur_fail(err, RECUR_ERR_NOMEM, "out of memory listing %s", dir);
            break;
        }
        memcpy(name, de->d_name, len);
        name[len] = '\0';
        ds->labels[ds->nlabels++] = name;
    }
    closedir(d);
    if (st != RECUR_OK) return st;
    if (ds->nlabels == 0)
        return recur_fail(err, RECUR_ERR_DATA, "data folder %s holds no .txt files", dir);
    qsort(ds->labels, (size_t)ds->nlabels, sizeof *ds->labels, cmp_label);
    ds->label_size = calloc((size_t)ds->nlabels, sizeof *ds->label_size);
    if (!ds->label_size) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory listing %s", dir);
    return RECUR_OK;
}

static recur_status load(recur_dataset *ds, const char *dir, const volatile sig_atomic_t *stop,
                         recur_error *err)
{
    RECUR_TRY(list_labels(ds, dir, err));
    size_t ex_cap = 0;
    for (int l = 0; l < ds->nlabels; l++) {
        char *path = join_path(dir, ds->labels[l], ".txt");
        if (!path) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory reading %s", dir);
        char *buf;
        size_t len;
        recur_status st = read_all(path, stop, &buf, &len, err);
        if (st == RECUR_OK) st = parse_file(ds, &ex_cap, l, path, buf, len, stop, err);
        free(buf);
        free(path);
        if (st != RECUR_OK) return st;
    }
    /* Give back what the growth left over. */
    if (ds->arena_len && ds->n) {
        char *a = realloc(ds->arena, ds->arena_len);
        if (a) ds->arena = a, ds->arena_cap = ds->arena_len;
        recur_example *e = realloc(ds->ex, ds->n * sizeof *e);
        if (e) ds->ex = e;
    }
    RECUR_TRY(assign_groups(ds, stop, err));
    return compute_stats(ds, NULL, err);
}

recur_status recur_dataset_load(const char *dir, recur_dataset **out, recur_error *err)
{
    return recur_dataset_load_opts(dir, NULL, out, err);
}

recur_status recur_dataset_load_opts(const char *dir, const recur_load_options *opts,
                                     recur_dataset **out, recur_error *err)
{
    if (!out) return recur_fail(err, RECUR_ERR_ARG, "recur_dataset_load: out is NULL");
    *out = NULL;
    if (!dir || !*dir) return recur_fail(err, RECUR_ERR_ARG, "recur_dataset_load: no folder given");
    recur_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory loading %s", dir);
    recur_status st = load(ds, dir, opts ? opts->stop : NULL, err);
    if (st != RECUR_OK) {
        recur_dataset_free(ds);
        return st;
    }
    *out = ds;
    return RECUR_OK;
}

void recur_dataset_free(recur_dataset *ds)
{
    if (!ds) return;
    for (int l = 0; l < ds->nlabels; l++) free(ds->labels[l]);
    free(ds->labels);
    free(ds->label_size);
    free(ds->ex);
    free(ds->arena);
    free(ds);
}

/* ------------------------------------------------------------------------ */
/* Access                                                                    */
/* ------------------------------------------------------------------------ */

size_t recur_dataset_size(const recur_dataset *ds) { return ds ? ds->n : 0; }

int recur_dataset_num_labels(const recur_dataset *ds) { return ds ? ds->nlabels : 0; }

const char *recur_dataset_label_name(const recur_dataset *ds, int label)
{
    if (!ds || label < 0 || label >= ds->nlabels) return NULL;
    return ds->labels[label];
}

size_t recur_dataset_label_size(const recur_dataset *ds, int label)
{
    if (!ds || label < 0 || label >= ds->nlabels) return 0;
    return ds->label_size[label];
}

const char *recur_dataset_text(const recur_dataset *ds, size_t i, size_t *len)
{
    if (!ds || i >= ds->n) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = ds->ex[i].len;
    return ds->arena + ds->ex[i].off;
}

int recur_dataset_label(const recur_dataset *ds, size_t i)
{
    return ds && i < ds->n ? ds->ex[i].label : -1;
}

size_t recur_dataset_line(const recur_dataset *ds, size_t i)
{
    return ds && i < ds->n ? ds->ex[i].line : 0;
}

void recur_dataset_stats_get(const recur_dataset *ds, recur_dataset_stats *st)
{
    if (!st) return;
    if (!ds) {
        memset(st, 0, sizeof *st);
        return;
    }
    *st = ds->st;
}

recur_status recur_dataset_dedupe(recur_dataset *ds, recur_error *err)
{
    if (!ds) return recur_fail(err, RECUR_ERR_ARG, "recur_dataset_dedupe: data set is NULL");
    if (ds->st.duplicates == 0) return RECUR_OK;
    unsigned char *keep = malloc(ds->n);
    if (!keep) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory removing duplicates");
    recur_status st = compute_stats(ds, keep, err);
    if (st != RECUR_OK) {
        free(keep);
        return st;
    }
    size_t w = 0;
    for (int l = 0; l < ds->nlabels; l++) ds->label_size[l] = 0;
    for (size_t i = 0; i < ds->n; i++) {
        if (!keep[i]) continue;
        ds->ex[w] = ds->ex[i];
        ds->label_size[ds->ex[w].label]++;
        w++;
    }
    ds->n = w;
    free(keep);
    /* Every group keeps its first example, so group ids stay valid. */
    return compute_stats(ds, NULL, err);
}
