/*
 * Dense sequences from NumPy files, memory-mapped.
 *
 * .npy: one array of features: [N][T][F] (N sequences of T steps), [T][F]
 * or [T] (one sequence; F = 1).
 * .npz (a zip of .npy members, np.savez / np.savez_compressed):
 *  - with a member "features": the layout of a feature pipeline,
 *      features [N][T][F] padded, with lengths [N] (each 1..T; absent: all T)
 *      features [S][F] concatenated, with lengths [N] (summing to S) or
 *               offsets [N+1] (0, increasing, S last); neither: one sequence
 *      targets  [N] or [N][O]: one per sequence; per step: [N][T][O] (padded)
 *               or [S] / [S][O] (concatenated; [N]-shaped wins when N = S)
 *      labels   [N] integers >= 0: a class per sequence ("0", "1", ... names)
 *      tags     [N][T] (padded) or [S]: a class per step
 *  - without one: every other member is one sequence ([T][F] or [T]), in the
 *    archive's order, named after the member; "targets" and "labels" as above.
 * Features and targets may be float32, float64, integers or bool, either
 * byte order; every value must be finite (checked once at load). float32
 * little-endian arrays whose data start 4-byte aligned in the file (any
 * .npy; .npz members stored uncompressed at an aligned offset, as
 * tools/data/npz.py writes them) are used in place from a read-only map of
 * the file: the memory of a set is then its offsets, not its values, and the
 * pages are the kernel's to drop. Anything else (compressed members, other
 * dtypes, misaligned members, padded arrays of ragged lengths, one member a
 * sequence) is converted into memory, 4 bytes a value.
 */
/* madvise(MADV_DONTNEED) is not POSIX. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "core/error.h"
#include "data/seqset.h"

#define MAX_DIMS 8
#define MAX_HEADER (1 << 20)
#define MAX_MEMBERS (1 << 24)

typedef struct npy_arr {
    char kind;         /* 'f' float, 'i' signed, 'u' unsigned, 'b' bool      */
    int size;          /* bytes an element                                 */
    int swap;          /* big-endian data                                  */
    int ndim;
    size_t shape[MAX_DIMS];
    size_t count;      /* elements                                         */
    const unsigned char *data;
    size_t off;        /* byte offset of the data in the file              */
    char what[160];    /* "path" or "path: member 'x'", for errors          */
    int in_file;       /* data lie in the file's map (else in an unpacked buffer) */
} npy_arr;

static uint64_t rd_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* ------------------------------------------------------------------------ */
/* The .npy header: a Python dict literal                                    */
/* ------------------------------------------------------------------------ */

typedef struct lit {
    const char *p, *end;
} lit;

static void lit_ws(lit *l)
{
    while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' || *l->p == '\r')) l->p++;
}

static int lit_str(lit *l, char *out, size_t cap)
{
    lit_ws(l);
    if (l->p >= l->end || (*l->p != '\'' && *l->p != '"')) return -1;
    char q = *l->p++;
    size_t n = 0;
    while (l->p < l->end && *l->p != q) {
        if (*l->p == '\\' || n + 1 >= cap) return -1;
        out[n++] = *l->p++;
    }
    if (l->p >= l->end) return -1;
    l->p++;
    out[n] = '\0';
    return 0;
}

static int lit_char(lit *l, char c)
{
    lit_ws(l);
    if (l->p < l->end && *l->p == c) {
        l->p++;
        return 0;
    }
    return -1;
}

static recur_status bad_header(const npy_arr *a, size_t at, const char *why, recur_error *err)
{
    return recur_fail(err, RECUR_ERR_DATA, "%s: byte %zu: bad .npy header: %s", a->what, at, why);
}

/* Parse one .npy held in p[0..len), at byte `base` of the file. */
static recur_status npy_parse(const unsigned char *p, size_t len, size_t base, npy_arr *a, recur_error *err)
{
    if (len < 10 || memcmp(p, "\x93NUMPY", 6) != 0)
        return recur_fail(err, RECUR_ERR_DATA, "%s: byte %zu: not a .npy array (no \\x93NUMPY magic)", a->what, base);
    int major = p[6];
    size_t hl, start;
    if (major == 1) {
        hl = (size_t)rd_le(p + 8, 2);
        start = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12) return bad_header(a, base + 8, "truncated", err);
        hl = (size_t)rd_le(p + 8, 4);
        start = 12;
    } else {
        return recur_fail(err, RECUR_ERR_DATA, "%s: byte %zu: .npy format version %d is not 1, 2 or 3", a->what,
                          base + 6, major);
    }
    if (hl > MAX_HEADER || hl > len - start)
        return bad_header(a, base + 8, "its length runs past the end of the data", err);
    lit l = {(const char *)p + start, (const char *)p + start + hl};
#define AT ((size_t)(l.p - (const char *)p) + base)
    char key[32], val[32];
    int have_descr = 0, have_order = 0, have_shape = 0, fortran = 0;
    if (lit_char(&l, '{')) return bad_header(a, AT, "no '{'", err);
    for (;;) {
        if (lit_char(&l, '}') == 0) break;
        if (lit_str(&l, key, sizeof key) || lit_char(&l, ':')) return bad_header(a, AT, "expected 'key':", err);
        if (strcmp(key, "descr") == 0) {
            if (lit_str(&l, val, sizeof val))
                return bad_header(a, AT, "descr is not a simple dtype string (structured arrays are not supported)", err);
            char order = val[0], kind = val[1];
            char *e;
            long sz = strtol(val + 2, &e, 10);
            if (!strchr("<>|=", order) || !strchr("fiub", kind) || *e || e == val + 2 ||
                !(sz == 1 || sz == 2 || sz == 4 || sz == 8) || (kind == 'f' && sz < 4) || (kind == 'b' && sz != 1))
                return recur_fail(err, RECUR_ERR_UNSUPPORTED,
                                  "%s: byte %zu: dtype '%s' is not supported (float32/64, integers, bool)", a->what,
                                  AT, val);
            a->kind = kind;
            a->size = (int)sz;
            a->swap = order == '>' && sz > 1;
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            lit_ws(&l);
            if ((size_t)(l.end - l.p) >= 4 && memcmp(l.p, "True", 4) == 0) fortran = 1, l.p += 4;
            else if ((size_t)(l.end - l.p) >= 5 && memcmp(l.p, "False", 5) == 0) l.p += 5;
            else return bad_header(a, AT, "fortran_order is not True or False", err);
            have_order = 1;
        } else if (strcmp(key, "shape") == 0) {
            if (lit_char(&l, '(')) return bad_header(a, AT, "shape is not a tuple", err);
            a->ndim = 0;
            for (;;) {
                lit_ws(&l);
                if (lit_char(&l, ')') == 0) break;
                if (l.p >= l.end || *l.p < '0' || *l.p > '9') return bad_header(a, AT, "a dimension is not a number", err);
                uint64_t d = 0;
                while (l.p < l.end && *l.p >= '0' && *l.p <= '9') {
                    if (d > (UINT64_MAX - 9) / 10) return bad_header(a, AT, "a dimension is too large", err);
                    d = d * 10 + (uint64_t)(*l.p++ - '0');
                }
                lit_ws(&l);
                if (l.p < l.end && *l.p == 'L') l.p++;
                if (a->ndim == MAX_DIMS) return bad_header(a, AT, "more than 8 dimensions", err);
                if (d > SIZE_MAX) return bad_header(a, AT, "a dimension is too large", err);
                a->shape[a->ndim++] = (size_t)d;
                if (lit_char(&l, ',') == 0) continue;
                if (lit_char(&l, ')') == 0) break;
                return bad_header(a, AT, "expected ',' or ')' in shape", err);
            }
            have_shape = 1;
        } else {
            return bad_header(a, AT, "unknown key", err);
        }
        if (lit_char(&l, ',') == 0) continue;
        if (lit_char(&l, '}') == 0) break;
        return bad_header(a, AT, "expected ',' or '}'", err);
    }
#undef AT
    if (!have_descr || !have_order || !have_shape)
        return bad_header(a, base + start, "descr, fortran_order and shape are all needed", err);
    size_t count = 1;
    for (int i = 0; i < a->ndim; i++) {
        if (a->shape[i] && count > SIZE_MAX / a->shape[i]) return bad_header(a, base + start, "the shape overflows", err);
        count *= a->shape[i];
    }
    if (fortran && a->ndim > 1)
        return recur_fail(err, RECUR_ERR_UNSUPPORTED,
                          "%s: a Fortran-order array is not supported (save np.ascontiguousarray(x))", a->what);
    size_t data = start + hl, have = len - data;
    if (count > SIZE_MAX / (size_t)a->size || count * (size_t)a->size != have)
        return recur_fail(err, RECUR_ERR_DATA, "%s: byte %zu: the shape needs %s%zu bytes of data, %zu are there",
                          a->what, base + data, count > SIZE_MAX / (size_t)a->size ? "more than " : "",
                          count > SIZE_MAX / (size_t)a->size ? SIZE_MAX : count * (size_t)a->size, have);
    a->count = count;
    a->data = p + data;
    a->off = base + data;
    return RECUR_OK;
}

static double get_f(const npy_arr *a, size_t i)
{
    unsigned char b[8];
    memcpy(b, a->data + i * (size_t)a->size, (size_t)a->size);
    if (a->swap)
        for (int k = 0; k < a->size / 2; k++) {
            unsigned char t = b[k];
            b[k] = b[a->size - 1 - k];
            b[a->size - 1 - k] = t;
        }
    uint64_t u = rd_le(b, a->size);
    switch (a->kind) {
    case 'f': {
        if (a->size == 4) {
            uint32_t w = (uint32_t)u;
            float f;
            memcpy(&f, &w, 4);
            return f;
        }
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    case 'i': {
        int sh = 64 - 8 * a->size;
        return (double)((int64_t)(u << sh) >> sh);
    }
    default: return (double)u;
    }
}

static int64_t get_i(const npy_arr *a, size_t i)
{
    unsigned char b[8];
    memcpy(b, a->data + i * (size_t)a->size, (size_t)a->size);
    if (a->swap)
        for (int k = 0; k < a->size / 2; k++) {
            unsigned char t = b[k];
            b[k] = b[a->size - 1 - k];
            b[a->size - 1 - k] = t;
        }
    uint64_t u = rd_le(b, a->size);
    if (a->kind == 'i') {
        int sh = 64 - 8 * a->size;
        return (int64_t)(u << sh) >> sh;
    }
    return u > INT64_MAX ? INT64_MAX : (int64_t)u;
}

/* In place when float32 little-endian and 4-byte aligned. */
static int mappable(const npy_arr *a)
{
    return a->in_file && a->kind == 'f' && a->size == 4 && !a->swap && ((uintptr_t)a->data & 3) == 0;
}

static recur_status check_finite(const npy_arr *a, const char *name, recur_error *err)
{
    if (a->kind != 'f') return RECUR_OK;
    for (size_t i = 0; i < a->count; i++) {
        double v = get_f(a, i);
        if (!isfinite(v) || fabs(v) > 3.4028234663852886e38)
            return recur_fail(err, RECUR_ERR_DATA, "%s: %s: value %zu (byte offset %zu) is %g, not a finite float",
                              a->what, name, i, a->off + i * (size_t)a->size, v);
    }
    return RECUR_OK;
}

/* ------------------------------------------------------------------------ */
/* Zip members                                                               */
/* ------------------------------------------------------------------------ */

typedef struct member {
    char name[128];
    int stored;        /* method 0 */
    size_t data_off;   /* of the stored data in the file */
    size_t size, comp; /* unpacked and packed bytes */
    unsigned char *buf; /* unpacked (deflated members), owned */
    npy_arr arr;
} member;

/* The central directory of a zip mapped at m[0..n): members' names, methods
 * and the offsets of their data (zip64 included). */
static recur_status zip_members(const char *path, const unsigned char *m, size_t n, member **out,
                                size_t *count, recur_error *err)
{
    *out = NULL;
    *count = 0;
    size_t eocd = SIZE_MAX;
    for (size_t back = 22; back <= n && back <= 22 + 65535; back++)
        if (memcmp(m + n - back, "PK\5\6", 4) == 0) {
            eocd = n - back;
            break;
        }
    if (eocd == SIZE_MAX) return recur_fail(err, RECUR_ERR_DATA, "%s: not a zip archive (no end of central directory)", path);
    uint64_t entries = rd_le(m + eocd + 10, 2), cd_size = rd_le(m + eocd + 12, 4), cd_off = rd_le(m + eocd + 16, 4);
    if ((entries == 0xFFFF || cd_size == 0xFFFFFFFF || cd_off == 0xFFFFFFFF) && eocd >= 20 &&
        memcmp(m + eocd - 20, "PK\6\7", 4) == 0) {
        uint64_t z = rd_le(m + eocd - 20 + 8, 8);
        if (z > n || n - z < 56 || memcmp(m + z, "PK\6\6", 4) != 0)
            return recur_fail(err, RECUR_ERR_DATA, "%s: byte %zu: bad zip64 end of central directory", path, eocd - 20);
        entries = rd_le(m + z + 32, 8);
        cd_size = rd_le(m + z + 40, 8);
        cd_off = rd_le(m + z + 48, 8);
    }
    if (cd_off > n || cd_size > n - cd_off)
        return recur_fail(err, RECUR_ERR_DATA, "%s: byte %zu: the central directory runs past the end of the file", path, eocd);
    if (entries > MAX_MEMBERS || entries > cd_size / 46)
        return recur_fail(err, RECUR_ERR_DATA, "%s: byte %zu: %llu members cannot fit a central directory of %llu bytes",
                          path, eocd, (unsigned long long)entries, (unsigned long long)cd_size);
    member *mem = calloc(entries ? entries : 1, sizeof *mem);
    if (!mem) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory reading %s", path);
    size_t p = cd_off, end = cd_off + cd_size;
    recur_status st = RECUR_OK;
    for (uint64_t i = 0; i < entries; i++) {
        if (end - p < 46 || memcmp(m + p, "PK\1\2", 4) != 0) {
            st = recur_fail(err, RECUR_ERR_DATA, "%s: byte %zu: bad central directory entry %llu", path, p,
                              (unsigned long long)i);
            break;
        }
        unsigned method = (unsigned)rd_le(m + p + 10, 2), flags = (unsigned)rd_le(m + p + 8, 2);
        uint64_t comp = rd_le(m + p + 20, 4), size = rd_le(m + p + 24, 4), loc = rd_le(m + p + 42, 4);
        size_t nl = (size_t)rd_le(m + p + 28, 2), xl = (size_t)rd_le(m + p + 30, 2), cl = (size_t)rd_le(m + p + 32, 2);
        if (end - p - 46 < nl + xl + cl) {
            st = recur_fail(err, RECUR_ERR_DATA, "%s: byte %zu: central directory entry %llu runs past its end", path,
                              p, (unsigned long long)i);
            break;
        }
        const unsigned char *x = m + p + 46 + nl, *xe = x + xl;
        while (xe - x >= 4) { /* zip64 extra: the fields that are 0xFFFFFFFF, in order */
            unsigned id = (unsigned)rd_le(x, 2), len = (unsigned)rd_le(x + 2, 2);
            if ((size_t)(xe - x - 4) < len) break;
            if (id == 1) {
                const unsigned char *q = x + 4, *qe = q + len;
                if (size == 0xFFFFFFFF && qe - q >= 8) size = rd_le(q, 8), q += 8;
                if (comp == 0xFFFFFFFF && qe - q >= 8) comp = rd_le(q, 8), q += 8;
                if (loc == 0xFFFFFFFF && qe - q >= 8) loc = rd_le(q, 8);
            }
            x += 4 + len;
        }
        member *e = &mem[i];
        size_t k = nl < sizeof e->name - 1 ? nl : sizeof e->name - 1;
        memcpy(e->name, m + p + 46, k);
        e->name[k] = '\0';
        if (memchr(e->name, '\0', k)) e->name[0] = '?';
        e->size = (size_t)size;
        e->comp = (size_t)comp;
        e->stored = method == 0 && !(flags & 1) && comp == size;
        if (e->stored) {
            if (loc > n || n - loc < 30 || memcmp(m + loc, "PK\3\4", 4) != 0) {
                st = recur_fail(err, RECUR_ERR_DATA, "%s: byte %llu: no local header for member '%s'", path,
                                  (unsigned long long)loc, e->name);
                break;
            }
            uint64_t d = loc + 30 + rd_le(m + loc + 26, 2) + rd_le(m + loc + 28, 2);
            if (d > n || size > n - d) {
                st = recur_fail(err, RECUR_ERR_DATA, "%s: byte %llu: member '%s' runs past the end of the file", path,
                                  (unsigned long long)loc, e->name);
                break;
            }
            e->data_off = (size_t)d;
        }
        p += 46 + nl + xl + cl;
    }
    if (st != RECUR_OK) {
        free(mem);
        return st;
    }
    *out = mem;
    *count = (size_t)entries;
    return RECUR_OK;
}

/* Unpack a compressed member with libzip (at most its declared size). */
static recur_status unpack(const char *path, zip_t *z, size_t index, member *e, size_t file_size,
                           recur_error *err)
{
    if (e->comp > file_size)
        return recur_fail(err, RECUR_ERR_DATA, "%s: member '%s' claims %zu packed bytes in a file of %zu", path,
                          e->name, e->comp, file_size);
    /* Deflate packs at most 1032:1: a larger claim is a lie, not data. */
    if (e->size > ((size_t)1 << 34) || e->size / 1032 > e->comp + 1)
        return recur_fail(err, RECUR_ERR_DATA, "%s: member '%s' claims to unpack %zu bytes from %zu; store large "
                          "arrays uncompressed (np.savez) to have them mapped", path, e->name, e->size, e->comp);
    zip_stat_t zs;
    if (zip_stat_index(z, index, 0, &zs) != 0 || !(zs.valid & ZIP_STAT_SIZE) || zs.size != e->size)
        return recur_fail(err, RECUR_ERR_DATA, "%s: member '%s': the archive's two directories disagree", path, e->name);
    e->buf = malloc(e->size ? e->size : 1);
    if (!e->buf) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory unpacking %s: member '%s'", path, e->name);
    zip_file_t *zf = zip_fopen_index(z, index, 0);
    if (!zf) return recur_fail(err, RECUR_ERR_DATA, "%s: member '%s': %s", path, e->name, zip_strerror(z));
    size_t got = 0;
    while (got < e->size) {
        zip_int64_t r = zip_fread(zf, e->buf + got, e->size - got);
        if (r <= 0) break;
        got += (size_t)r;
    }
    recur_status st = RECUR_OK;
    if (got != e->size) st = recur_fail(err, RECUR_ERR_DATA, "%s: member '%s': %s", path, e->name, zip_file_strerror(zf));
    zip_fclose(zf);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Layouts                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct np_load {
    const char *path;
    recur_seqset *s;
    size_t cap_f, cap_t;
} np_load;

/* The values a[i0..i0+cnt) as floats appended at *dst (grown). */
static recur_status append_f(float **dst, size_t *cap, size_t at, const npy_arr *a, size_t i0, size_t cnt,
                             recur_error *err)
{
    RECUR_TRY(seq_grow((void **)dst, cap, at + cnt, sizeof(float), err));
    for (size_t i = 0; i < cnt; i++) (*dst)[at + i] = (float)get_f(a, i0 + i);
    return RECUR_OK;
}

static recur_status dims_error(const npy_arr *a, const char *name, const char *want, recur_error *err)
{
    char shape[128];
    size_t k = 0;
    shape[k++] = '(';
    for (int i = 0; i < a->ndim && k < sizeof shape - 24; i++)
        k += (size_t)snprintf(shape + k, sizeof shape - k, i ? ", %zu" : "%zu", a->shape[i]);
    snprintf(shape + k, sizeof shape - k, ")");
    return recur_fail(err, RECUR_ERR_DATA, "%s: %s has shape %s; expected %s", a->what, name, shape, want);
}

static recur_status set_offsets(recur_seqset *s, const char *path, size_t n, const size_t *len,
                                size_t fixed, recur_error *err)
{
    if (n == 0) return recur_fail(err, RECUR_ERR_DATA, "%s: no sequences", path);
    if (n > INT32_MAX - 2) return recur_fail(err, RECUR_ERR_DATA, "%s: more than %d sequences", path, INT32_MAX - 2);
    free(s->offsets);
    s->offsets = malloc((n + 1) * sizeof *s->offsets);
    if (!s->offsets) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory reading %s", path);
    size_t t = 0;
    s->offsets[0] = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = len ? len[i] : fixed;
        if (l == 0) return recur_fail(err, RECUR_ERR_DATA, "%s: sequence %zu is empty", path, i);
        if (l > (size_t)INT32_MAX - t) return recur_fail(err, RECUR_ERR_DATA, "%s: more than %d steps in all", path, INT32_MAX);
        t += l;
        s->offsets[i + 1] = (int32_t)t;
    }
    s->n = n;
    s->steps = t;
    return RECUR_OK;
}

/* Integers of a [n] array in 1..max (or any >= 1 when max is 0). */
static recur_status read_counts(const npy_arr *a, const char *name, size_t n, size_t max, size_t **out,
                                recur_error *err)
{
    *out = NULL;
    if (a->kind == 'f') return recur_fail(err, RECUR_ERR_DATA, "%s: %s holds floats, not integers", a->what, name);
    size_t *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory reading %s", a->what);
    for (size_t i = 0; i < n; i++) {
        int64_t x = get_i(a, i);
        if (x < 1 || (max && (uint64_t)x > max) || x > INT32_MAX) {
            free(v);
            return recur_fail(err, RECUR_ERR_DATA, "%s: %s[%zu] (byte offset %zu) is %lld, not in 1..%zu", a->what, name,
                              i, a->off + i * (size_t)a->size, (long long)x, max ? max : (size_t)INT32_MAX);
        }
        v[i] = (size_t)x;
    }
    *out = v;
    return RECUR_OK;
}

/* Classes (labels or tags) from integers >= 0: names "0".."K-1". */
static recur_status read_classes(const npy_arr *a, const char *name, int32_t **out, size_t n,
                                 const size_t *pick, size_t stride, const recur_seqset *s, int *k,
                                 recur_error *err)
{
    if (a->kind == 'f') return recur_fail(err, RECUR_ERR_DATA, "%s: %s holds floats, not class numbers", a->what, name);
    int32_t *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory reading %s", a->what);
    int64_t mx = -1;
    for (size_t j = 0; j < n; j++) {
        size_t i = j;
        if (pick) { /* padded [N][T] read at the valid steps */
            size_t seq = pick[j];
            i = seq * stride + (j - (size_t)s->offsets[seq]);
        }
        int64_t x = get_i(a, i);
        if (x < 0 || x >= 65536) {
            free(v);
            return recur_fail(err, RECUR_ERR_DATA, "%s: %s value %zu (byte offset %zu) is %lld, not a class in 0..65535",
                              a->what, name, i, a->off + i * (size_t)a->size, (long long)x);
        }
        v[j] = (int32_t)x;
        if (x > mx) mx = x;
    }
    *out = v;
    *k = (int)(mx + 1);
    return RECUR_OK;
}

static member *find(member *m, size_t n, const char *name)
{
    char a[64], b[64];
    snprintf(a, sizeof a, "%s.npy", name);
    snprintf(b, sizeof b, "%s", name);
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].name, a) == 0 || strcmp(m[i].name, b) == 0) return &m[i];
    return NULL;
}

static recur_status dense_names(recur_seqset *s, recur_error *err)
{
    RECUR_TRY(seqset_number_names(&s->feature_names, s->F, err));
    if (s->O) RECUR_TRY(seqset_number_names(&s->target_names, s->O, err));
    return RECUR_OK;
}

/* Width of the last dimension beyond `lead` leading ones (1 when none). */
static int width(const npy_arr *a, int lead)
{
    if (a->ndim == lead) return 1;
    if (a->ndim == lead + 1 && a->shape[lead] >= 1 && a->shape[lead] <= RECUR_SEQSET_MAX_COLUMNS)
        return (int)a->shape[lead];
    return -1;
}

/* The "features" layout (see the top of the file). */
static recur_status layout_features(np_load *L, member *m, size_t nm, recur_error *err)
{
    recur_seqset *s = L->s;
    const npy_arr *x = &find(m, nm, "features")->arr;
    member *ml = find(m, nm, "lengths"), *mo = find(m, nm, "offsets"), *mt = find(m, nm, "targets");
    member *mlab = find(m, nm, "labels"), *mtag = find(m, nm, "tags");
    size_t *len = NULL;
    recur_status st = RECUR_OK;
    int padded = x->ndim == 3;
    size_t T = 0, N = 0;
    if (padded) {
        N = x->shape[0];
        T = x->shape[1];
        if (x->shape[2] < 1 || x->shape[2] > RECUR_SEQSET_MAX_COLUMNS || T == 0)
            return dims_error(x, "features", "[N][T][F] with T >= 1 and F in 1..65536", err);
        s->F = (int)x->shape[2];
        if (mo) return recur_fail(err, RECUR_ERR_DATA, "%s: offsets go with concatenated features [S][F], not padded ones", x->what);
        if (ml) {
            if (ml->arr.ndim != 1 || ml->arr.shape[0] != N) return dims_error(&ml->arr, "lengths", "[N], N as in features", err);
            RECUR_TRY(read_counts(&ml->arr, "lengths", N, T, &len, err));
        }
    } else if (x->ndim == 2 || x->ndim == 1) {
        size_t S = x->shape[0];
        s->F = x->ndim == 2 ? (int)x->shape[1] : 1;
        if (x->ndim == 2 && (x->shape[1] < 1 || x->shape[1] > RECUR_SEQSET_MAX_COLUMNS))
            return dims_error(x, "features", "[S][F] with F in 1..65536", err);
        if (ml && mo) return recur_fail(err, RECUR_ERR_DATA, "%s: both lengths and offsets: give one", x->what);
        if (ml) {
            if (ml->arr.ndim != 1) return dims_error(&ml->arr, "lengths", "[N]", err);
            N = ml->arr.shape[0];
            RECUR_TRY(read_counts(&ml->arr, "lengths", N, S, &len, err));
        } else if (mo) {
            const npy_arr *o = &mo->arr;
            if (o->ndim != 1 || o->shape[0] < 2) return dims_error(o, "offsets", "[N+1] with N >= 1", err);
            if (o->kind == 'f') return recur_fail(err, RECUR_ERR_DATA, "%s: offsets holds floats, not integers", o->what);
            N = o->shape[0] - 1;
            len = malloc(N * sizeof *len);
            if (!len) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory reading %s", L->path);
            for (size_t i = 0; i <= N && st == RECUR_OK; i++) {
                int64_t a = get_i(o, i), prev = i ? get_i(o, i - 1) : 0;
                if ((i == 0 && a != 0) || (i > 0 && a <= prev) || (i == N && (uint64_t)a != S))
                    st = recur_fail(err, RECUR_ERR_DATA,
                                    "%s: offsets[%zu] (byte offset %zu) is %lld: offsets start at 0, increase "
                                    "strictly and end at %zu, the rows of features",
                                    o->what, i, o->off + i * (size_t)o->size, (long long)a, S);
                else if (i) len[i - 1] = (size_t)(a - prev);
            }
        } else {
            N = 1;
            len = malloc(sizeof *len);
            if (!len) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory reading %s", L->path);
            len[0] = S;
        }
        if (st == RECUR_OK) {
            size_t sum = 0;
            for (size_t i = 0; i < N; i++) sum += len[i];
            if (sum != S)
                st = recur_fail(err, RECUR_ERR_DATA, "%s: the lengths add up to %zu, features has %zu rows", x->what, sum, S);
        }
    } else {
        return dims_error(x, "features", "[N][T][F] (padded) or [S][F] (concatenated)", err);
    }
    if (st == RECUR_OK) st = set_offsets(s, L->path, N, len, T, err);
    if (st == RECUR_OK) st = check_finite(x, "features", err);
    /* Steps in place: concatenated, or padded with every length T. */
    int whole = !padded || !len;
    if (st == RECUR_OK && !whole) {
        int all = 1;
        for (size_t i = 0; i < N; i++) all &= len[i] == T;
        whole = all;
    }
    if (st == RECUR_OK) {
        if (whole && mappable(x)) {
            s->features = (const float *)(const void *)x->data;
        } else if (whole) {
            st = append_f(&s->own_features, &L->cap_f, 0, x, 0, s->steps * (size_t)s->F, err);
        } else {
            for (size_t i = 0; i < N && st == RECUR_OK; i++)
                st = append_f(&s->own_features, &L->cap_f, (size_t)s->offsets[i] * (size_t)s->F, x,
                              i * T * (size_t)s->F, len[i] * (size_t)s->F, err);
        }
        if (!s->features) s->features = s->own_features;
    }
    /* Targets. */
    if (st == RECUR_OK && mt) {
        const npy_arr *t = &mt->arr;
        int per_seq = t->ndim >= 1 && t->ndim <= 2 && t->shape[0] == N;
        int w = per_seq ? width(t, 1)
                : padded ? (t->ndim == 3 && t->shape[0] == N && t->shape[1] == T ? width(t, 2) : -1)
                         : (t->ndim >= 1 && t->shape[0] == s->steps ? width(t, 1) : -1);
        if (w < 1) st = dims_error(t, "targets", padded ? "[N] or [N][O] (per sequence) or [N][T][O] (per step)"
                                                        : "[N] or [N][O] (per sequence) or [S] or [S][O] (per step)", err);
        if (st == RECUR_OK) st = check_finite(t, "targets", err);
        if (st == RECUR_OK) {
            s->O = w;
            s->per_step = !per_seq;
            size_t cnt = (per_seq ? N : s->steps) * (size_t)w;
            if ((per_seq || whole) && mappable(t)) s->targets = (const float *)(const void *)t->data;
            else if (per_seq || whole) st = append_f(&s->own_targets, &L->cap_t, 0, t, 0, cnt, err);
            else
                for (size_t i = 0; i < N && st == RECUR_OK; i++)
                    st = append_f(&s->own_targets, &L->cap_t, (size_t)s->offsets[i] * (size_t)w, t, i * T * (size_t)w,
                                  len[i] * (size_t)w, err);
            if (!s->targets) s->targets = s->own_targets;
        }
    }
    if (st == RECUR_OK && mlab) {
        const npy_arr *a = &mlab->arr;
        if (a->ndim != 1 || a->shape[0] != N) st = dims_error(a, "labels", "[N]", err);
        else {
            free(s->labels);
            s->labels = NULL;
            st = read_classes(a, "labels", &s->labels, N, NULL, 0, s, &s->nlabels, err);
            if (st == RECUR_OK) st = seqset_number_names(&s->label_names, s->nlabels, err);
        }
    }
    if (st == RECUR_OK && mtag) {
        const npy_arr *a = &mtag->arr;
        int ok = padded ? a->ndim == 2 && a->shape[0] == N && a->shape[1] == T : a->ndim == 1 && a->shape[0] == s->steps;
        if (!ok) st = dims_error(a, "tags", padded ? "[N][T]" : "[S]", err);
        size_t *pick = NULL;
        if (st == RECUR_OK && padded) {
            pick = malloc(s->steps * sizeof *pick);
            if (!pick) st = recur_fail(err, RECUR_ERR_NOMEM, "out of memory reading %s", L->path);
            for (size_t i = 0; pick && i < N; i++)
                for (int32_t k = s->offsets[i]; k < s->offsets[i + 1]; k++) pick[k] = i;
        }
        if (st == RECUR_OK) st = read_classes(a, "tags", &s->step_labels, s->steps, pick, T, s, &s->ntags, err);
        free(pick);
        if (st == RECUR_OK) st = seqset_number_names(&s->tag_names, s->ntags, err);
    }
    free(len);
    return st;
}

/* One member (or one .npy) a sequence. */
static recur_status layout_members(np_load *L, member *m, size_t nm, recur_error *err)
{
    recur_seqset *s = L->s;
    size_t n = 0, steps = 0;
    member *mt = NULL, *mlab = NULL;
    for (size_t i = 0; i < nm; i++) {
        const int t = strcmp(m[i].name, "targets.npy") == 0, lab = !t && strcmp(m[i].name, "labels.npy") == 0;
        /* A second one would be counted as neither and read as a sequence
         * (a zip may name two members alike; fuzz_dense found it). */
        if ((t && mt) || (lab && mlab))
            return recur_fail(err, RECUR_ERR_DATA, "%s: two members named %s", L->path, m[i].name);
        if (t) mt = &m[i];
        else if (lab) mlab = &m[i];
        else n++;
    }
    size_t *len = malloc((n ? n : 1) * sizeof *len);
    if (!len) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory reading %s", L->path);
    recur_status st = RECUR_OK;
    size_t k = 0;
    for (size_t i = 0; i < nm && st == RECUR_OK; i++) {
        if (&m[i] == mt || &m[i] == mlab) continue;
        const npy_arr *a = &m[i].arr;
        int F = a->ndim == 1 ? 1 : a->ndim == 2 ? (int)(a->shape[1] <= RECUR_SEQSET_MAX_COLUMNS ? a->shape[1] : 0) : 0;
        if (F < 1 || a->shape[0] == 0) st = dims_error(a, "the sequence", "[T] or [T][F], T >= 1", err);
        else if (k && F != s->F)
            st = recur_fail(err, RECUR_ERR_DATA, "%s: %d features per step where earlier members have %d", a->what, F, s->F);
        else if (steps > (size_t)INT32_MAX - a->shape[0])
            st = recur_fail(err, RECUR_ERR_DATA, "%s: more than %d steps in all", L->path, INT32_MAX);
        if (st != RECUR_OK) break;
        s->F = F;
        len[k++] = a->shape[0];
        st = check_finite(a, "the sequence", err);
        if (st == RECUR_OK) st = append_f(&s->own_features, &L->cap_f, steps * (size_t)F, a, 0, a->count, err);
        steps += a->shape[0];
    }
    if (st == RECUR_OK) st = set_offsets(s, L->path, n, len, 0, err);
    free(len);
    s->features = s->own_features;
    if (st == RECUR_OK) {
        free(s->names);
        s->names = calloc(n, sizeof *s->names);
        if (!s->names) st = recur_fail(err, RECUR_ERR_NOMEM, "out of memory reading %s", L->path);
        k = 0;
        for (size_t i = 0; i < nm && st == RECUR_OK; i++) {
            if (&m[i] == mt || &m[i] == mlab) continue;
            size_t nl = strlen(m[i].name);
            if (nl >= 4 && strcmp(m[i].name + nl - 4, ".npy") == 0) nl -= 4;
            int32_t id;
            st = strtab_intern(&s->name_tab, m[i].name, nl, &id, err);
            if (st == RECUR_OK) s->names[k++] = s->name_tab.off[id];
        }
    }
    if (st == RECUR_OK && mt) {
        const npy_arr *t = &mt->arr;
        int w = t->ndim >= 1 && t->ndim <= 2 && t->shape[0] == n ? width(t, 1) : -1;
        if (w < 1) st = dims_error(t, "targets", "[N] or [N][O], one row per sequence member", err);
        if (st == RECUR_OK) st = check_finite(t, "targets", err);
        if (st == RECUR_OK) {
            s->O = w;
            s->per_step = 0;
            st = append_f(&s->own_targets, &L->cap_t, 0, t, 0, t->count, err);
            s->targets = s->own_targets;
        }
    }
    if (st == RECUR_OK && mlab) {
        const npy_arr *a = &mlab->arr;
        if (a->ndim != 1 || a->shape[0] != n) st = dims_error(a, "labels", "[N], one per sequence member", err);
        else {
            free(s->labels);
            s->labels = NULL;
            st = read_classes(a, "labels", &s->labels, n, NULL, 0, s, &s->nlabels, err);
            if (st == RECUR_OK) st = seqset_number_names(&s->label_names, s->nlabels, err);
        }
    }
    return st;
}

/* Fill the batch view (no text, no interned names: seqset_finish's work
 * for text does not apply). */
static void finish_dense(recur_seqset *s)
{
    s->b = (recur_batch){
        .n = (int)s->n,
        .offsets = s->offsets,
        .labels = s->nlabels ? s->labels : NULL,
        .features = s->features,
        .step_labels = s->ntags ? s->step_labels : NULL,
        .targets = s->O ? s->targets : NULL,
    };
}

static int in_map(const recur_seqset *s, const float *p)
{
    const unsigned char *b = s->map, *q = (const unsigned char *)p;
    return p && q >= b && q < b + s->map_len;
}

static recur_status load(const char *path, const recur_seqset_options *opts, recur_seqset **out,
                         recur_error *err)
{
    if (!path || !out) return recur_fail(err, RECUR_ERR_ARG, "recur_seqset_load_npy: %s is NULL", path ? "out" : "path");
    *out = NULL;
    recur_seqset_options d;
    if (!opts) {
        recur_seqset_options_default(&d);
        opts = &d;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return recur_fail(err, RECUR_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return recur_fail(err, RECUR_ERR_IO, "%s: not a regular file", path);
    }
    size_t n = (size_t)sb.st_size;
    if (n < 10) {
        close(fd);
        return recur_fail(err, RECUR_ERR_DATA, "%s: %zu bytes is too short for a .npy or .npz file", path, n);
    }
    void *map = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        int e = errno;
        close(fd);
        return recur_fail(err, RECUR_ERR_IO, "cannot map %s: %s", path, strerror(e));
    }
    const unsigned char *m = map;
    recur_seqset *s = NULL;
    member *mem = NULL;
    size_t nm = 0;
    zip_t *z = NULL;
    recur_status st = seqset_new(&s, opts, err);
    if (st == RECUR_OK) {
        s->map = map;
        s->map_len = n;
        map = NULL;
    }
    np_load L = {.path = path, .s = s};
    if (st == RECUR_OK && memcmp(m, "\x93NUMPY", 6) == 0) {
        mem = calloc(1, sizeof *mem);
        if (!mem) st = recur_fail(err, RECUR_ERR_NOMEM, "out of memory reading %s", path);
        else {
            nm = 1;
            snprintf(mem->name, sizeof mem->name, "features.npy");
            snprintf(mem->arr.what, sizeof mem->arr.what, "%s", path);
            st = npy_parse(m, n, 0, &mem->arr, err);
            mem->arr.in_file = 1;
        }
        if (st == RECUR_OK) st = layout_features(&L, mem, nm, err);
    } else if (st == RECUR_OK && memcmp(m, "PK\3\4", 4) == 0) {
        st = zip_members(path, m, n, &mem, &nm, err);
        for (size_t i = 0; i < nm && st == RECUR_OK; i++) {
            member *e = &mem[i];
            snprintf(e->arr.what, sizeof e->arr.what, "%.100s: member '%.40s'", path, e->name);
            if (!e->stored) {
                if (!z) {
                    int ze = 0;
                    z = zip_fdopen(fd, ZIP_RDONLY, &ze);
                    if (!z) {
                        st = recur_fail(err, RECUR_ERR_DATA, "%s: libzip cannot read the archive (error %d)", path, ze);
                        break;
                    }
                    fd = -1; /* zip_fdopen owns it now */
                }
                st = unpack(path, z, i, e, n, err);
                if (st == RECUR_OK) st = npy_parse(e->buf, e->size, 0, &e->arr, err);
            } else {
                st = npy_parse(m + e->data_off, e->size, e->data_off, &e->arr, err);
                e->arr.in_file = 1;
            }
        }
        if (st == RECUR_OK && nm == 0) st = recur_fail(err, RECUR_ERR_DATA, "%s: an empty archive", path);
        if (st == RECUR_OK) st = find(mem, nm, "features") ? layout_features(&L, mem, nm, err) : layout_members(&L, mem, nm, err);
    } else if (st == RECUR_OK) {
        st = recur_fail(err, RECUR_ERR_DATA, "%s: byte 0: neither a .npy array (\\x93NUMPY) nor a .npz archive (PK)", path);
    }
    if (st == RECUR_OK) {
        if (!s->feature_names) st = dense_names(s, err);
        finish_dense(s);
        /* A set used in place gives the pages it has read (checking them)
         * back, to be read again when training needs them; one that is not
         * needs no map. */
        if (in_map(s, s->features) || in_map(s, s->targets)) {
            madvise(s->map, s->map_len, MADV_DONTNEED);
        } else {
            munmap(s->map, s->map_len);
            s->map = NULL;
        }
    }
    for (size_t i = 0; i < nm; i++) free(mem[i].buf);
    free(mem);
    if (z) zip_discard(z);
    if (fd >= 0) close(fd);
    if (map) munmap(map, n);
    if (st != RECUR_OK) {
        recur_seqset_free(s);
        return st;
    }
    *out = s;
    return RECUR_OK;
}

recur_status recur_seqset_load_npy(const char *path, const recur_seqset_options *opts,
                                   recur_seqset **out, recur_error *err)
{
    return seq_clean_error(load(path, opts, out, err), err);
}
