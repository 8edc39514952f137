/*
 * Dense sequences from CSV, as time-series users write it: a header row
 * naming the columns, then one row per step; rows with the same value in
 * the id column (contiguous) form a sequence, in file order. Parsed by
 * libcsv (strict quoting; RFC 4180 quotes, CRLF or LF), read in blocks so
 * that only the values themselves are kept.
 *
 * Columns are chosen by header name (recur_seqset_options): the id, the
 * features (default: every column not named elsewhere), the targets (real
 * values per step, or per sequence with targets_per_sequence, then equal on
 * every row of the sequence), a label (a class per sequence, equal on its
 * rows) and a tag (a class per step). Values are C-locale numbers
 * (strtod), finite and within float's range; an empty cell is an error.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <csv.h>

#include "core/error.h"
#include "data/seqset.h"
#include "data/text.h"

enum { ROLE_NONE = 0, ROLE_ID, ROLE_FEATURE, ROLE_TARGET, ROLE_LABEL, ROLE_TAG };

typedef struct col_role {
    int role, index; /* index among the features or targets */
} col_role;

typedef struct csv_ctx {
    recur_seqset *s;
    const recur_seqset_options *o;
    const char *path;
    recur_error *err;
    recur_status st;
    size_t row;    /* 1-based record number; the header is row 1 */
    int field;     /* fields seen in this row */
    strtab head;   /* column names */
    col_role *roles;
    int ncols;
    float *rowf, *rowt;  /* this row's features and targets */
    char *id, *label, *tag; /* this row's strings (malloc'd) */
    size_t id_len, label_len, tag_len;
    int has_id, has_label, has_tag;
    int open;      /* a sequence is open */
    size_t fcap, tcap, first_row;
    float *seq_t;  /* per-sequence targets of the open sequence */
    int32_t seq_label;
} csv_ctx;

static const char *col_name(const csv_ctx *c, int j) { return strtab_str(&c->head, j); }

static int set_str(char **dst, size_t *dlen, const char *p, size_t len)
{
    char *d = realloc(*dst, len + 1);
    if (!d) return -1;
    memcpy(d, p, len);
    d[len] = '\0';
    *dst = d;
    *dlen = len;
    return 0;
}

static void on_field(void *data, size_t len, void *priv)
{
    csv_ctx *c = priv;
    const char *p = data ? data : "";
    if (!data) len = 0;
    if (c->st != RECUR_OK) return;
    int j = c->field++;
    char where[160];
    if (c->row > 1 && j < c->ncols)
        snprintf(where, sizeof where, "row %zu, column %d (%.64s)", c->row, j + 1, col_name(c, j));
    else snprintf(where, sizeof where, "row %zu, column %d", c->row, j + 1);
    if (memchr(p, '\0', len)) {
        c->st = recur_fail(c->err, RECUR_ERR_DATA, "%s: %s: NUL byte", c->path, where);
        return;
    }
    size_t bad = recur_utf8_invalid_at(p, len);
    if (bad < len) {
        c->st = recur_fail(c->err, RECUR_ERR_DATA, "%s: %s: invalid UTF-8 at byte %zu of the value", c->path,
                           where, bad + 1);
        return;
    }
    if (c->row == 1) {
        if (j >= RECUR_SEQSET_MAX_COLUMNS) {
            c->st = recur_fail(c->err, RECUR_ERR_DATA, "%s: row 1: more than %d columns", c->path,
                               RECUR_SEQSET_MAX_COLUMNS);
            return;
        }
        int32_t id;
        if (strtab_find(&c->head, p, len) >= 0) {
            c->st = recur_fail(c->err, RECUR_ERR_DATA, "%s: %s: the column name '%.*s' repeats", c->path, where,
                               (int)(len > 64 ? 64 : len), p);
            return;
        }
        c->st = strtab_intern(&c->head, p, len, &id, c->err);
        return;
    }
    if (j >= c->ncols) return; /* counted, reported at the row's end */
    const col_role *r = &c->roles[j];
    int fail = 0;
    switch (r->role) {
    case ROLE_ID: fail = set_str(&c->id, &c->id_len, p, len); break;
    case ROLE_LABEL: fail = set_str(&c->label, &c->label_len, p, len); break;
    case ROLE_TAG: fail = set_str(&c->tag, &c->tag_len, p, len); break;
    case ROLE_FEATURE:
    case ROLE_TARGET: {
        char num[64];
        size_t b = 0, e = len;
        while (b < e && (p[b] == ' ' || p[b] == '\t')) b++;
        while (e > b && (p[e - 1] == ' ' || p[e - 1] == '\t')) e--;
        if (e == b || e - b >= sizeof num) {
            c->st = recur_fail(c->err, RECUR_ERR_DATA, "%s: %s: %s", c->path, where,
                               e == b ? "empty value (every feature and target needs a number)"
                                      : "a value of 64 bytes or more is not a number");
            return;
        }
        memcpy(num, p + b, e - b);
        num[e - b] = '\0';
        char *end;
        errno = 0;
        double v = strtod(num, &end);
        if (*end || end == num || !isfinite(v) || fabs(v) > FLT_MAX) {
            c->st = recur_fail(c->err, RECUR_ERR_DATA, "%s: %s: '%s' is not a %s", c->path, where, num,
                               *end || end == num ? "number" : "finite number within float's range");
            return;
        }
        (r->role == ROLE_FEATURE ? c->rowf : c->rowt)[r->index] = (float)v;
        break;
    }
    default: break;
    }
    if (fail) c->st = recur_fail(c->err, RECUR_ERR_NOMEM, "out of memory reading %s", c->path);
}

/* Split "a, b,c" into names; each must be a column. */
static recur_status assign(csv_ctx *c, const char *list, int role, int *count, recur_error *err)
{
    *count = 0;
    if (!list) return RECUR_OK;
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *b = p, *e = p + len;
        while (b < e && *b == ' ') b++;
        while (e > b && e[-1] == ' ') e--;
        if (e == b)
            return recur_fail(err, RECUR_ERR_ARG, "%s: an empty column name in the list '%s'", c->path, list);
        int32_t j = strtab_find(&c->head, b, (size_t)(e - b));
        if (j < 0)
            return recur_fail(err, RECUR_ERR_ARG, "%s: row 1: no column named '%.*s' in the header", c->path,
                              (int)(e - b > 64 ? 64 : e - b), b);
        if (c->roles[j].role != ROLE_NONE)
            return recur_fail(err, RECUR_ERR_ARG, "%s: the column '%s' is chosen twice", c->path, col_name(c, j));
        if ((role == ROLE_ID || role == ROLE_LABEL || role == ROLE_TAG) && *count == 1)
            return recur_fail(err, RECUR_ERR_ARG, "%s: '%s' names more than one column for one role", c->path, list);
        c->roles[j] = (col_role){role, (*count)++};
        if (!comma) break;
        p = comma + 1;
    }
    return RECUR_OK;
}

static recur_status header_done(csv_ctx *c, recur_error *err)
{
    recur_seqset *s = c->s;
    c->ncols = (int)c->head.n;
    c->roles = calloc((size_t)c->ncols, sizeof *c->roles);
    if (!c->roles) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory reading %s", c->path);
    int k;
    RECUR_TRY(assign(c, c->o->id_column, ROLE_ID, &c->has_id, err));
    RECUR_TRY(assign(c, c->o->label_column, ROLE_LABEL, &c->has_label, err));
    RECUR_TRY(assign(c, c->o->tag_column_name, ROLE_TAG, &c->has_tag, err));
    RECUR_TRY(assign(c, c->o->target_columns, ROLE_TARGET, &s->O, err));
    RECUR_TRY(assign(c, c->o->feature_columns, ROLE_FEATURE, &k, err));
    if (!c->o->feature_columns)
        for (int j = 0; j < c->ncols; j++)
            if (c->roles[j].role == ROLE_NONE) c->roles[j] = (col_role){ROLE_FEATURE, k++};
    s->F = k;
    if (s->F == 0) return recur_fail(err, RECUR_ERR_DATA, "%s: row 1: no feature column", c->path);
    s->per_step = !c->o->targets_per_sequence;
    s->feature_names = calloc((size_t)s->F, sizeof *s->feature_names);
    s->target_names = calloc(s->O ? (size_t)s->O : 1, sizeof *s->target_names);
    c->rowf = calloc((size_t)s->F, sizeof *c->rowf);
    c->rowt = calloc(s->O ? (size_t)s->O : 1, sizeof *c->rowt);
    c->seq_t = calloc(s->O ? (size_t)s->O : 1, sizeof *c->seq_t);
    if (!s->feature_names || !s->target_names || !c->rowf || !c->rowt || !c->seq_t)
        return recur_fail(err, RECUR_ERR_NOMEM, "out of memory reading %s", c->path);
    for (int j = 0; j < c->ncols; j++) {
        const col_role *r = &c->roles[j];
        if (r->role != ROLE_FEATURE && r->role != ROLE_TARGET) continue;
        char *d = strdup(col_name(c, j));
        if (!d) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory reading %s", c->path);
        (r->role == ROLE_FEATURE ? s->feature_names : s->target_names)[r->index] = d;
    }
    return RECUR_OK;
}

static int col_of(const csv_ctx *c, int role)
{
    for (int j = 0; j < c->ncols; j++)
        if (c->roles[j].role == role) return j;
    return 0;
}

/* The open sequence's per-sequence values into the set, then close it. */
static recur_status close_seq(csv_ctx *c, recur_error *err)
{
    recur_seqset *s = c->s;
    if (s->O && !s->per_step) {
        size_t cap = c->tcap;
        RECUR_TRY(seq_grow((void **)&s->own_targets, &cap, (s->n + 1) * (size_t)s->O, sizeof(float), err));
        c->tcap = cap;
        memcpy(s->own_targets + s->n * (size_t)s->O, c->seq_t, (size_t)s->O * sizeof(float));
    }
    RECUR_TRY(seqset_end(s, c->path, err));
    c->open = 0;
    return RECUR_OK;
}

static recur_status row_done(csv_ctx *c, recur_error *err)
{
    recur_seqset *s = c->s;
    if (c->field != c->ncols)
        return recur_fail(err, RECUR_ERR_DATA, "%s: row %zu: %d field%s where the header has %d", c->path, c->row,
                          c->field, c->field == 1 ? "" : "s", c->ncols);
    if (c->has_id && c->id_len == 0)
        return recur_fail(err, RECUR_ERR_DATA, "%s: row %zu, column %d (%s): empty sequence id", c->path, c->row,
                          col_of(c, ROLE_ID) + 1, col_name(c, col_of(c, ROLE_ID)));
    if (c->has_label && c->label_len == 0)
        return recur_fail(err, RECUR_ERR_DATA, "%s: row %zu, column %d (%s): empty label", c->path, c->row,
                          col_of(c, ROLE_LABEL) + 1, col_name(c, col_of(c, ROLE_LABEL)));
    int new_seq = !c->open;
    if (c->open && c->has_id) {
        /* The open sequence is s->n (not yet counted in s->n). */
        const char *cur = s->name_tab.arena + s->names[s->n];
        new_seq = strcmp(cur, c->id) != 0;
    }
    if (new_seq) {
        if (c->open) RECUR_TRY(close_seq(c, err));
        if (c->has_id && strtab_find(&s->name_tab, c->id, c->id_len) >= 0)
            return recur_fail(err, RECUR_ERR_DATA,
                              "%s: row %zu, column %d (%s): the sequence '%.64s' appears again after others; "
                              "the rows of a sequence must be contiguous",
                              c->path, c->row, col_of(c, ROLE_ID) + 1, col_name(c, col_of(c, ROLE_ID)), c->id);
        RECUR_TRY(seqset_begin(s, c->row, c->has_id ? c->id : NULL, c->id_len, err));
        c->open = 1;
        c->first_row = c->row;
        if (c->has_label) RECUR_TRY(seqset_label(s, c->label, c->label_len, err));
        if (s->O && !s->per_step) memcpy(c->seq_t, c->rowt, (size_t)s->O * sizeof(float));
    } else {
        if (c->has_label && strtab_find(&s->label_tab, c->label, c->label_len) != s->labels[s->n])
            return recur_fail(err, RECUR_ERR_DATA,
                              "%s: row %zu, column %d (%s): the label '%.64s' differs from that of row %zu, "
                              "where the sequence starts (a label is one per sequence)",
                              c->path, c->row, col_of(c, ROLE_LABEL) + 1, col_name(c, col_of(c, ROLE_LABEL)),
                              c->label, c->first_row);
        for (int j = 0; s->O && !s->per_step && j < s->O; j++)
            if (c->rowt[j] != c->seq_t[j])
                return recur_fail(err, RECUR_ERR_DATA,
                                  "%s: row %zu: the target '%s' is %g, not %g as on row %zu where the sequence "
                                  "starts (per-sequence targets are the same on every row)",
                                  c->path, c->row, s->target_names[j], (double)c->rowt[j], (double)c->seq_t[j],
                                  c->first_row);
    }
    if (s->steps >= INT32_MAX) return recur_fail(err, RECUR_ERR_DATA, "%s: more than %d rows", c->path, INT32_MAX);
    size_t cap = c->fcap;
    RECUR_TRY(seq_grow((void **)&s->own_features, &cap, (s->steps + 1) * (size_t)s->F, sizeof(float), err));
    c->fcap = cap;
    memcpy(s->own_features + s->steps * (size_t)s->F, c->rowf, (size_t)s->F * sizeof(float));
    if (s->O && s->per_step) {
        cap = c->tcap;
        RECUR_TRY(seq_grow((void **)&s->own_targets, &cap, (s->steps + 1) * (size_t)s->O, sizeof(float), err));
        c->tcap = cap;
        memcpy(s->own_targets + s->steps * (size_t)s->O, c->rowt, (size_t)s->O * sizeof(float));
    }
    if (c->has_tag) {
        if (c->tag_len == 0)
            return recur_fail(err, RECUR_ERR_DATA, "%s: row %zu, column %d (%s): empty tag", c->path, c->row,
                              col_of(c, ROLE_TAG) + 1, col_name(c, col_of(c, ROLE_TAG)));
        cap = s->scap;
        RECUR_TRY(seq_grow((void **)&s->step_labels, &cap, s->steps + 1, sizeof *s->step_labels, err));
        s->scap = cap;
        RECUR_TRY(strtab_intern(&s->tag_tab, c->tag, c->tag_len, &s->step_labels[s->steps], err));
    }
    s->steps++;
    return RECUR_OK;
}

static void on_row(int term, void *priv)
{
    (void)term;
    csv_ctx *c = priv;
    if (c->st == RECUR_OK) {
        if (c->row == 1) c->st = header_done(c, c->err);
        else c->st = row_done(c, c->err);
    }
    c->row++;
    c->field = 0;
}

static int space_only(unsigned char ch) { return ch == ' '; }
static int space_or_tab(unsigned char ch) { return ch == ' ' || ch == '\t'; }

static recur_status load(const char *path, const recur_seqset_options *opts, recur_seqset **out,
                         recur_error *err)
{
    if (!path || !out) return recur_fail(err, RECUR_ERR_ARG, "recur_seqset_load_csv: %s is NULL", path ? "out" : "path");
    *out = NULL;
    recur_seqset_options o;
    if (opts) o = *opts;
    else recur_seqset_options_default(&o);
    char delim = o.delimiter ? o.delimiter : ',';
    if (delim == '"' || delim == '\n' || delim == '\r' || delim == ' ' || (unsigned char)delim >= 0x80)
        return recur_fail(err, RECUR_ERR_ARG, "%s: the delimiter must be one ASCII character other than a quote, "
                          "a space or a line end", path);
    FILE *f = fopen(path, "rb");
    if (!f) return recur_fail(err, RECUR_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    csv_ctx c = {.o = &o, .path = path, .err = err, .row = 1};
    struct csv_parser p;
    recur_status st = seqset_new(&c.s, &o, err);
    int inited = 0;
    if (st == RECUR_OK) {
        if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0) st = recur_fail(err, RECUR_ERR_NOMEM, "out of memory reading %s", path);
        else inited = 1;
    }
    if (st == RECUR_OK) {
        csv_set_delim(&p, (unsigned char)delim);
        csv_set_space_func(&p, delim == '\t' ? space_only : space_or_tab);
        char buf[1 << 16];
        size_t total = 0;
        int first = 1;
        for (;;) {
            size_t r = fread(buf, 1, sizeof buf, f);
            if (r == 0) break;
            size_t skip = first && r >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
            first = 0;
            size_t used = csv_parse(&p, buf + skip, r - skip, on_field, on_row, &c);
            if (c.st != RECUR_OK) break;
            if (used != r - skip) {
                c.st = recur_fail(err, RECUR_ERR_DATA, "%s: row %zu: malformed CSV near byte offset %zu: %s", path,
                                  c.row, total + skip + used, csv_strerror(csv_error(&p)));
                break;
            }
            total += r;
        }
        if (c.st == RECUR_OK && ferror(f)) c.st = recur_fail(err, RECUR_ERR_IO, "cannot read %s", path);
        if (c.st == RECUR_OK && csv_fini(&p, on_field, on_row, &c) != 0 && c.st == RECUR_OK)
            c.st = recur_fail(err, RECUR_ERR_DATA, "%s: row %zu: malformed CSV at the end of the file: %s", path,
                              c.row, csv_strerror(csv_error(&p)));
        if (c.st == RECUR_OK && c.row == 1) c.st = recur_fail(err, RECUR_ERR_DATA, "%s: empty file (no header)", path);
        if (c.st == RECUR_OK && c.open) c.st = close_seq(&c, err);
        if (c.st == RECUR_OK) {
            c.s->features = c.s->own_features;
            c.s->targets = c.s->own_targets;
            c.st = seqset_finish(c.s, path, err);
        }
        st = c.st;
    }
    if (inited) csv_free(&p);
    fclose(f);
    strtab_free(&c.head);
    free(c.roles);
    free(c.rowf);
    free(c.rowt);
    free(c.seq_t);
    free(c.id);
    free(c.label);
    free(c.tag);
    if (st != RECUR_OK) {
        recur_seqset_free(c.s);
        return st;
    }
    *out = c.s;
    return RECUR_OK;
}

recur_status recur_seqset_load_csv(const char *path, const recur_seqset_options *opts,
                                   recur_seqset **out, recur_error *err)
{
    return seq_clean_error(load(path, opts, out, err), err);
}
