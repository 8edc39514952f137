/*
 * safetensors_read.c - the reader: the file is hostile. Checks, in order: the
 * 8-byte length, the header's size, UTF-8 and JSON lexical strictness (our
 * own scan, since cJSON is lenient), JSON structure (cJSON on a
 * NUL-terminated copy), every entry's keys, dtype, shape and offsets,
 * duplicate names, the tiling of the data section, and the optional
 * "recur.crc32" checksum. Every number is range-checked before use and every
 * size computation is overflow-checked.
 */
#include "io/safetensors.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

/* The st_dtype of a header's "dtype" string, or -1. */
static int dtype_parse(const char *s)
{
    for (int i = 0; i < ST_NDTYPES; i++)
        if (strcmp(s, st_dtype_name((st_dtype)i)) == 0) return i;
    return -1;
}

/* ------------------------------------------------------------------------ */
/* The file in memory                                                        */
/* ------------------------------------------------------------------------ */

typedef struct st_kv {
    char *key;
    char *value;
} st_kv;

struct st_file {
    char *what;                 /* the path, for messages                  */
    unsigned char *bytes;       /* the whole file                          */
    size_t len;
    st_tensor *tensors;         /* header order                            */
    int n;
    const st_tensor **by_name;  /* sorted by name, for st_find             */
    st_kv *meta;                /* header order                            */
    int n_meta;
    const st_kv **meta_by_key;  /* sorted by key, for st_meta              */
    char *strings;              /* names, keys and values                  */
    unsigned char *copies;      /* aligned copies of misaligned tensors    */
};

void st_free(st_file *f)
{
    if (!f) return;
    free(f->what);
    free(f->bytes);
    free(f->tensors);
    free(f->by_name);
    free(f->meta);
    free(f->meta_by_key);
    free(f->strings);
    free(f->copies);
    free(f);
}

int st_count(const st_file *f) { return f ? f->n : 0; }

const st_tensor *st_get(const st_file *f, int i)
{
    return (f && i >= 0 && i < f->n) ? &f->tensors[i] : NULL;
}

const char *st_what(const st_file *f) { return f ? f->what : NULL; }

int st_meta_count(const st_file *f) { return f ? f->n_meta : 0; }

const char *st_meta_key(const st_file *f, int i)
{
    return (f && i >= 0 && i < f->n_meta) ? f->meta[i].key : NULL;
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    if (!f || !name) return NULL;
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(name, f->by_name[mid]->name);
        if (c == 0) return f->by_name[mid];
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

const char *st_meta(const st_file *f, const char *key)
{
    if (!f || !key) return NULL;
    int lo = 0, hi = f->n_meta - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(key, f->meta_by_key[mid]->key);
        if (c == 0) return f->meta_by_key[mid]->value;
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

static int cmp_tensor_name(const void *a, const void *b)
{
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    return strcmp(x->name, y->name);
}

static int cmp_kv_key(const void *a, const void *b)
{
    const st_kv *x = *(const st_kv *const *)a, *y = *(const st_kv *const *)b;
    return strcmp(x->key, y->key);
}

/* A tensor's byte range in the data section, for the tiling check. */
typedef struct span {
    uint64_t begin, end;
    int idx;
} span;

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* The checks on the first 8 bytes against the file size. */
static recur_status check_length(const unsigned char *first8, size_t len,
                                 const char *what, uint64_t *hlen, recur_error *err)
{
    if (len < 8)
        return recur_fail(err, RECUR_ERR_FORMAT,
                          "%s: file is %zu bytes, shorter than the 8-byte header length",
                          what, len);
    uint64_t n = le64(first8);
    if (n == 0)
        return recur_fail(err, RECUR_ERR_FORMAT, "%s: header length 0", what);
    if (n > (uint64_t)(len - 8))
        return recur_fail(err, RECUR_ERR_FORMAT,
                          "%s: header length %llu exceeds file size %zu", what,
                          (unsigned long long)n, len);
    if (n > ST_MAX_HEADER)
        return recur_fail(err, RECUR_ERR_FORMAT,
                          "%s: header length %llu exceeds the %u-byte (100 MB) limit",
                          what, (unsigned long long)n, ST_MAX_HEADER);
    *hlen = n;
    return RECUR_OK;
}

/*
 * The lexical half of strict JSON that cJSON does not check: strings without
 * raw control characters, with valid escapes and no \u0000 (cJSON would cut
 * the string there); outside strings only JSON whitespace and printable
 * ASCII. Numbers are recorded: the first one that is not a plain
 * non-negative integer (0 or [1-9][0-9]*) goes to *num_at (else SIZE_MAX);
 * it is reported only after the entries' own checks, which name the tensor.
 * Returns NULL when fine, else the problem with its offset in *at.
 */
static const char *lex_check(const unsigned char *h, size_t n, size_t *at, size_t *num_at)
{
    *num_at = SIZE_MAX;
    size_t i = 0;
    while (i < n) {
        unsigned c = h[i];
        if (c == '"') {
            size_t start = i++;
            for (;;) {
                if (i >= n) {
                    *at = start;
                    return "unterminated string";
                }
                c = h[i];
                if (c == '"') {
                    i++;
                    break;
                }
                if (c < 0x20) {
                    *at = i;
                    return "control character in a string";
                }
                if (c != '\\') {
                    i++;
                    continue;
                }
                if (i + 1 >= n) {
                    *at = start;
                    return "unterminated string";
                }
                c = h[i + 1];
                if (strchr("\"\\/bfnrt", (int)c) && c) {
                    i += 2;
                    continue;
                }
                if (c != 'u' || n - i < 6) {
                    *at = i;
                    return "invalid escape in a string";
                }
                unsigned v = 0;
                for (int k = 2; k < 6; k++) {
                    unsigned d = h[i + (size_t)k];
                    if (d >= '0' && d <= '9') d -= '0';
                    else if (d >= 'a' && d <= 'f') d = d - 'a' + 10;
                    else if (d >= 'A' && d <= 'F') d = d - 'A' + 10;
                    else {
                        *at = i;
                        return "invalid escape in a string";
                    }
                    v = v * 16 + d;
                }
                if (v == 0) {
                    *at = i;
                    return "\\u0000 in a string";
                }
                i += 6;
            }
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t j = i;
            while (j < n && strchr("0123456789+-.eE", (int)h[j]) && h[j]) j++;
            int plain = (j - i == 1 && c == '0') || (c >= '1' && c <= '9');
            for (size_t k = i; plain && k < j; k++)
                if (h[k] < '0' || h[k] > '9') plain = 0;
            if (!plain && *num_at == SIZE_MAX) *num_at = i;
            i = j;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            i++;
        } else if (c < 0x20 || c >= 0x7f) {
            *at = i;
            return "unexpected byte outside a string";
        } else {
            i++;
        }
    }
    return NULL;
}

/* A JSON number that must be an integer in [0, ST_MAX_INT]. */
static const char *get_uint(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v)) return "is not a number";
    double d = v->valuedouble;
    if (isnan(d)) return "is not a number";
    if (d < 0) return "is negative";
    if (d > (double)ST_MAX_INT) return "is too large";
    if (d != floor(d)) return "is not an integer";
    *out = (uint64_t)d;
    return NULL;
}

/* Checked a + b into *sum (size_t). */
static int add_ok(size_t a, size_t b, size_t *sum)
{
    if (a > SIZE_MAX - b) return 0;
    *sum = a + b;
    return 1;
}

/* Copy s into the arena at *pos. */
static char *arena_put(char *arena, size_t *pos, const char *s)
{
    size_t k = strlen(s) + 1;
    char *d = arena + *pos;
    memcpy(d, s, k);
    *pos += k;
    return d;
}

#define BAD(...)                                                              \
    do {                                                                      \
        st = recur_fail(err, RECUR_ERR_FORMAT, __VA_ARGS__);                  \
        goto fail;                                                            \
    } while (0)
#define NOMEM()                                                               \
    do {                                                                      \
        st = st_oom(err, what);                                                  \
        goto fail;                                                            \
    } while (0)

/* Validate one tensor entry into *t and *sp (name not yet set). */
static recur_status parse_entry(const cJSON *e, const char *what, const char *qn,
                                uint64_t data_len, st_tensor *t, span *sp,
                                recur_error *err)
{
    if (!cJSON_IsObject(e))
        return recur_fail(err, RECUR_ERR_FORMAT,
                          "%s: tensor %s: entry is not an object", what, qn);
    const cJSON *dtype = NULL, *shape = NULL, *offs = NULL;
    for (const cJSON *c = e->child; c; c = c->next) {
        const cJSON **slot = NULL;
        if (strcmp(c->string, "dtype") == 0) slot = &dtype;
        else if (strcmp(c->string, "shape") == 0) slot = &shape;
        else if (strcmp(c->string, "data_offsets") == 0) slot = &offs;
        if (!slot) {
            char qk[ST_QCAP];
            return recur_fail(err, RECUR_ERR_FORMAT,
                              "%s: tensor %s: unexpected key %s", what, qn,
                              st_quoted(qk, sizeof qk, c->string));
        }
        if (*slot)
            return recur_fail(err, RECUR_ERR_FORMAT,
                              "%s: tensor %s: duplicate key \"%s\"", what, qn, c->string);
        *slot = c;
    }
    const char *missing = !dtype ? "dtype" : !shape ? "shape" : !offs ? "data_offsets" : NULL;
    if (missing)
        return recur_fail(err, RECUR_ERR_FORMAT, "%s: tensor %s: missing \"%s\"",
                          what, qn, missing);

    if (!cJSON_IsString(dtype))
        return recur_fail(err, RECUR_ERR_FORMAT, "%s: tensor %s: dtype is not a string",
                          what, qn);
    int dt = dtype_parse(dtype->valuestring);
    if (dt < 0) {
        char qd[ST_QCAP];
        return recur_fail(err, RECUR_ERR_FORMAT,
                          "%s: tensor %s: unsupported dtype %s (supported: F32, F64, I32, I64, U8, I8, BF16)",
                          what, qn, st_quoted(qd, sizeof qd, dtype->valuestring));
    }
    t->dtype = (st_dtype)dt;

    if (!cJSON_IsArray(shape))
        return recur_fail(err, RECUR_ERR_FORMAT, "%s: tensor %s: shape is not an array",
                          what, qn);
    int nd = 0;
    for (const cJSON *c = shape->child; c; c = c->next) {
        if (nd == ST_MAX_DIMS)
            return recur_fail(err, RECUR_ERR_FORMAT,
                              "%s: tensor %s: shape has more than %d dimensions",
                              what, qn, ST_MAX_DIMS);
        uint64_t v = 0;
        const char *why = get_uint(c, &v);
        if (why) {
            if (cJSON_IsNumber(c))
                return recur_fail(err, RECUR_ERR_FORMAT,
                                  "%s: tensor %s: shape[%d] = %g %s (dimensions are non-negative integers)",
                                  what, qn, nd, c->valuedouble, why);
            return recur_fail(err, RECUR_ERR_FORMAT, "%s: tensor %s: shape[%d] %s",
                              what, qn, nd, why);
        }
        t->shape[nd++] = (int64_t)v;
    }
    t->ndim = nd;

    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return recur_fail(err, RECUR_ERR_FORMAT,
                          "%s: tensor %s: data_offsets is not an array of two integers",
                          what, qn);
    uint64_t be[2] = {0, 0};
    int k = 0;
    for (const cJSON *c = offs->child; c; c = c->next, k++) {
        const char *why = get_uint(c, &be[k]);
        if (why) {
            if (cJSON_IsNumber(c))
                return recur_fail(err, RECUR_ERR_FORMAT,
                                  "%s: tensor %s: data_offsets[%d] = %g %s", what, qn, k,
                                  c->valuedouble, why);
            return recur_fail(err, RECUR_ERR_FORMAT, "%s: tensor %s: data_offsets[%d] %s",
                              what, qn, k, why);
        }
    }
    if (be[0] > be[1])
        return recur_fail(err, RECUR_ERR_FORMAT,
                          "%s: tensor %s: data_offsets begin %llu > end %llu", what, qn,
                          (unsigned long long)be[0], (unsigned long long)be[1]);

    /* Element count: 0 when any dimension is 0, else an overflow-checked
     * product; then times the element size, within size_t. */
    uint64_t count = 1;
    int zero = 0;
    for (int d = 0; d < nd; d++)
        if (t->shape[d] == 0) zero = 1;
    if (zero) {
        count = 0;
    } else {
        for (int d = 0; d < nd; d++) {
            uint64_t s = (uint64_t)t->shape[d];
            if (count > UINT64_MAX / s)
                return recur_fail(err, RECUR_ERR_FORMAT,
                                  "%s: tensor %s: element count overflows", what, qn);
            count *= s;
        }
    }
    uint64_t esize = st_dtype_size(dt);
    if (count > (uint64_t)SIZE_MAX / esize)
        return recur_fail(err, RECUR_ERR_FORMAT,
                          "%s: tensor %s: size in bytes overflows", what, qn);
    uint64_t nbytes = count * esize;
    if (nbytes != be[1] - be[0]) {
        char shp[200];
        size_t o = 0;
        shp[o++] = '[';
        for (int d = 0; d < nd; d++)
            o += (size_t)snprintf(shp + o, sizeof shp - o, "%s%lld", d ? ", " : "",
                                  (long long)t->shape[d]);
        snprintf(shp + o, sizeof shp - o, "]");
        return recur_fail(err, RECUR_ERR_FORMAT,
                          "%s: tensor %s: shape %s of %s needs %llu bytes but data_offsets [%llu, %llu] span %llu",
                          what, qn, shp, st_dtype_name(dt), (unsigned long long)nbytes,
                          (unsigned long long)be[0], (unsigned long long)be[1],
                          (unsigned long long)(be[1] - be[0]));
    }
    if (be[1] > data_len)
        return recur_fail(err, RECUR_ERR_FORMAT,
                          "%s: tensor %s: data_offsets [%llu, %llu] past the end of the %llu-byte data section",
                          what, qn, (unsigned long long)be[0], (unsigned long long)be[1],
                          (unsigned long long)data_len);
    t->nbytes = (size_t)nbytes;
    sp->begin = be[0];
    sp->end = be[1];
    return RECUR_OK;
}

/* Parse and validate bytes[0..len), taking ownership of bytes. */
static recur_status parse_owned(unsigned char *bytes, size_t len, const char *what,
                                st_file **out, recur_error *err)
{
    recur_status st = RECUR_OK;
    cJSON *root = NULL;
    char *hcopy = NULL;
    span *spans = NULL;
    st_file *f = calloc(1, sizeof *f);
    if (!f) {
        free(bytes);
        return st_oom(err, what);
    }
    f->bytes = bytes;
    f->len = len;
    f->what = malloc(strlen(what) + 1);
    if (!f->what) NOMEM();
    memcpy(f->what, what, strlen(what) + 1);

    uint64_t hlen64 = 0;
    st = check_length(bytes, len, what, &hlen64, err);
    if (st) goto fail;
    size_t hlen = (size_t)hlen64;
    const unsigned char *hdr = bytes + 8;
    const unsigned char *data = bytes + 8 + hlen;
    size_t data_len = len - 8 - hlen;

    size_t bad = st_utf8_check(hdr, hlen);
    if (bad != hlen)
        BAD("%s: header is not valid UTF-8 (byte %zu)", what, 8 + bad);
    size_t at = 0, num_at = SIZE_MAX;
    const char *why = lex_check(hdr, hlen, &at, &num_at);
    if (why) BAD("%s: header is not valid JSON: %s at byte %zu", what, why, 8 + at);

    /* cJSON may look one byte past the length it is given: hand it a
     * NUL-terminated copy. */
    hcopy = malloc(hlen + 1);
    if (!hcopy) NOMEM();
    memcpy(hcopy, hdr, hlen);
    hcopy[hlen] = 0;
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(hcopy, hlen, &end, 0);
    if (!root) {
        size_t pos = (end && end >= hcopy && end <= hcopy + hlen) ? (size_t)(end - hcopy) : 0;
        BAD("%s: header is not valid JSON (error near byte %zu)", what, 8 + pos);
    }
    if (!end || end < hcopy || end > hcopy + hlen) BAD("%s: header is not valid JSON", what);
    for (const char *p = end; p < hcopy + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            BAD("%s: header is not valid JSON: trailing characters at byte %zu", what,
                8 + (size_t)(p - hcopy));
    free(hcopy);
    hcopy = NULL;
    if (!cJSON_IsObject(root)) BAD("%s: header is not a JSON object", what);

    /* Count entries and the bytes of strings to keep. */
    size_t n_t = 0, n_m = 0, chars = 0;
    const cJSON *meta = NULL;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (!c->string) BAD("%s: header is not valid JSON", what);
        if (strcmp(c->string, "__metadata__") == 0) {
            if (meta) BAD("%s: duplicate \"__metadata__\"", what);
            meta = c;
            if (!cJSON_IsObject(c)) BAD("%s: __metadata__ is not an object", what);
            for (const cJSON *m = c->child; m; m = m->next) {
                char qk[ST_QCAP];
                if (!m->string) BAD("%s: header is not valid JSON", what);
                if (!cJSON_IsString(m) || !m->valuestring)
                    BAD("%s: __metadata__ value of %s is not a string", what,
                        st_quoted(qk, sizeof qk, m->string));
                if (!add_ok(chars, strlen(m->string) + 1, &chars) ||
                    !add_ok(chars, strlen(m->valuestring) + 1, &chars))
                    NOMEM();
                n_m++;
            }
        } else {
            if (!add_ok(chars, strlen(c->string) + 1, &chars)) NOMEM();
            n_t++;
        }
    }
    if (n_t > INT_MAX || n_m > INT_MAX) BAD("%s: too many entries in the header", what);

    f->strings = malloc(chars ? chars : 1);
    f->tensors = calloc(n_t ? n_t : 1, sizeof *f->tensors);
    f->by_name = calloc(n_t ? n_t : 1, sizeof *f->by_name);
    spans = calloc(n_t ? n_t : 1, sizeof *spans);
    f->meta = calloc(n_m ? n_m : 1, sizeof *f->meta);
    f->meta_by_key = calloc(n_m ? n_m : 1, sizeof *f->meta_by_key);
    if (!f->strings || !f->tensors || !f->by_name || !spans || !f->meta || !f->meta_by_key)
        NOMEM();

    size_t pos = 0;
    if (meta) {
        for (const cJSON *m = meta->child; m; m = m->next) {
            st_kv *kv = &f->meta[f->n_meta];
            kv->key = arena_put(f->strings, &pos, m->string);
            kv->value = arena_put(f->strings, &pos, m->valuestring);
            f->meta_by_key[f->n_meta] = kv;
            f->n_meta++;
        }
        qsort(f->meta_by_key, (size_t)f->n_meta, sizeof *f->meta_by_key, cmp_kv_key);
        for (int i = 1; i < f->n_meta; i++)
            if (strcmp(f->meta_by_key[i - 1]->key, f->meta_by_key[i]->key) == 0) {
                char qk[ST_QCAP];
                BAD("%s: duplicate __metadata__ key %s", what,
                    st_quoted(qk, sizeof qk, f->meta_by_key[i]->key));
            }
    }
    for (const cJSON *c = root->child; c; c = c->next) {
        if (c == meta) continue;
        char qn[ST_QCAP];
        st_quoted(qn, sizeof qn, c->string);
        st_tensor *t = &f->tensors[f->n];
        st = parse_entry(c, what, qn, data_len, t, &spans[f->n], err);
        if (st) goto fail;
        t->name = arena_put(f->strings, &pos, c->string);
        spans[f->n].idx = f->n;
        f->by_name[f->n] = t;
        f->n++;
    }
    cJSON_Delete(root);
    root = NULL;

    qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_tensor_name);
    for (int i = 1; i < f->n; i++)
        if (strcmp(f->by_name[i - 1]->name, f->by_name[i]->name) == 0) {
            char qn[ST_QCAP];
            BAD("%s: duplicate tensor name %s", what, st_quoted(qn, sizeof qn, f->by_name[i]->name));
        }

    if (num_at != SIZE_MAX)
        BAD("%s: header is not valid: the number at byte %zu is not a plain non-negative integer",
            what, 8 + num_at);

    /* The tensors must tile the data section exactly. */
    qsort(spans, (size_t)f->n, sizeof *spans, cmp_span);
    uint64_t expect = 0;
    int prev = -1;
    for (int i = 0; i < f->n; i++) {
        const span *s = &spans[i];
        char qa[ST_QCAP], qb[ST_QCAP];
        if (s->begin < expect)
            BAD("%s: tensors %s and %s overlap (bytes %llu..%llu and %llu..%llu of the data section)",
                what, st_quoted(qa, sizeof qa, f->tensors[prev].name),
                st_quoted(qb, sizeof qb, f->tensors[s->idx].name),
                (unsigned long long)spans[i - 1].begin, (unsigned long long)expect,
                (unsigned long long)s->begin, (unsigned long long)s->end);
        if (s->begin > expect)
            BAD("%s: gap in the data section: bytes %llu..%llu belong to no tensor (before tensor %s)",
                what, (unsigned long long)expect, (unsigned long long)s->begin,
                st_quoted(qb, sizeof qb, f->tensors[s->idx].name));
        expect = s->end;
        prev = s->idx;
    }
    if (expect != (uint64_t)data_len)
        BAD("%s: %llu trailing bytes in the data section after the last tensor (bytes %llu..%zu)",
            what, (unsigned long long)((uint64_t)data_len - expect),
            (unsigned long long)expect, data_len);

    const char *crc = st_meta(f, "recur.crc32");
    if (crc) {
        uint32_t want = 0;
        int ok = strlen(crc) == 8;
        for (int i = 0; ok && i < 8; i++) {
            char ch = crc[i];
            unsigned d = (ch >= '0' && ch <= '9') ? (unsigned)(ch - '0')
                       : (ch >= 'a' && ch <= 'f') ? (unsigned)(ch - 'a' + 10)
                       : 16;
            if (d == 16) ok = 0;
            want = want * 16 + d;
        }
        if (!ok) {
            char qv[ST_QCAP];
            BAD("%s: __metadata__ recur.crc32 %s is not 8 lowercase hex digits", what,
                st_quoted(qv, sizeof qv, crc));
        }
        uint32_t got = st_crc32(data, data_len, 0);
        if (got != want)
            BAD("%s: checksum mismatch: file damaged (recur.crc32 is %08x, the data has %08x)",
                what, (unsigned)want, (unsigned)got);
    }

    /* Data pointers, aligned for their dtype: copy a misaligned tensor. */
    size_t copy_bytes = 0;
    for (int i = 0; i < f->n; i++) {
        const span *s = &spans[i];
        st_tensor *t = &f->tensors[s->idx];
        size_t esize = st_dtype_size(t->dtype);
        if (t->nbytes && ((uintptr_t)(data + s->begin)) % esize != 0) {
            size_t r = (t->nbytes + 7) & ~(size_t)7;
            if (r < t->nbytes || !add_ok(copy_bytes, r, &copy_bytes)) NOMEM();
        }
    }
    if (copy_bytes) {
        f->copies = malloc(copy_bytes);
        if (!f->copies) NOMEM();
    }
    size_t cpos = 0;
    for (int i = 0; i < f->n; i++) {
        const span *s = &spans[i];
        st_tensor *t = &f->tensors[s->idx];
        size_t esize = st_dtype_size(t->dtype);
        if (!t->nbytes) {
            t->data = f->bytes;
        } else if (((uintptr_t)(data + s->begin)) % esize != 0) {
            memcpy(f->copies + cpos, data + s->begin, t->nbytes);
            t->data = f->copies + cpos;
            cpos += (t->nbytes + 7) & ~(size_t)7;
        } else {
            t->data = data + s->begin;
        }
    }
    free(spans);
    *out = f;
    return RECUR_OK;

fail:
    cJSON_Delete(root);
    free(hcopy);
    free(spans);
    st_free(f);
    return st;
}

recur_status st_parse(const void *buf, size_t len, const char *what, st_file **out,
                      recur_error *err)
{
    if (!what) what = "buffer";
    if (!out || (!buf && len))
        return recur_fail(err, RECUR_ERR_ARG, "%s: st_parse: NULL argument", what);
    *out = NULL;
    unsigned char *copy = malloc(len ? len : 1);
    if (!copy) return st_oom(err, what);
    if (len) memcpy(copy, buf, len);
    return parse_owned(copy, len, what, out, err);
}

recur_status st_read(const char *path, st_file **out, recur_error *err)
{
    if (!path || !out)
        return recur_fail(err, RECUR_ERR_ARG, "st_read: NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return recur_fail(err, RECUR_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return recur_fail(err, RECUR_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(sb.st_mode)) {
        close(fd);
        return recur_fail(err, RECUR_ERR_IO, "%s: is a directory", path);
    }
    size_t cap = 1 << 16;
    if (S_ISREG(sb.st_mode)) {
        if (sb.st_size < 0 || (uint64_t)sb.st_size >= (uint64_t)SIZE_MAX) {
            close(fd);
            return recur_fail(err, RECUR_ERR_NOMEM, "%s: file too large", path);
        }
        cap = (size_t)sb.st_size + 1; /* + 1: see EOF without growing */
        /* Refuse a bad length before reading a large file. */
        unsigned char first[8];
        ssize_t k;
        do k = pread(fd, first, 8, 0);
        while (k < 0 && errno == EINTR);
        if (k == 8) {
            uint64_t hlen;
            recur_status st = check_length(first, (size_t)sb.st_size, path, &hlen, err);
            if (st) {
                close(fd);
                return st;
            }
        }
    }
    unsigned char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return st_oom(err, path);
    }
    size_t len = 0;
    for (;;) {
        if (len == cap) {
            if (cap > SIZE_MAX / 2) {
                free(buf);
                close(fd);
                return recur_fail(err, RECUR_ERR_NOMEM, "%s: file too large", path);
            }
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                close(fd);
                return st_oom(err, path);
            }
            buf = nb;
            cap *= 2;
        }
        size_t want = cap - len;
        if (want > (size_t)1 << 30) want = (size_t)1 << 30;
        ssize_t k = read(fd, buf + len, want);
        if (k < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            free(buf);
            close(fd);
            return recur_fail(err, RECUR_ERR_IO, "%s: cannot read: %s", path, strerror(e));
        }
        if (k == 0) break;
        len += (size_t)k;
    }
    close(fd);
    return parse_owned(buf, len, path, out, err);
}

recur_status st_expect(const st_file *f, const char *name, st_dtype dtype, int ndim,
                       const int64_t *shape, const st_tensor **out, const char *what,
                       recur_error *err)
{
    if (!what) what = f ? f->what : "safetensors";
    if (out) *out = NULL;
    if (!f || !name || ndim < 0 || ndim > ST_MAX_DIMS || (ndim && !shape))
        return recur_fail(err, RECUR_ERR_ARG, "%s: st_expect: invalid argument", what);
    char qn[ST_QCAP];
    st_quoted(qn, sizeof qn, name);
    const st_tensor *t = st_find(f, name);
    if (!t) return recur_fail(err, RECUR_ERR_FORMAT, "%s: tensor %s is missing", what, qn);
    if (t->dtype != dtype)
        return recur_fail(err, RECUR_ERR_FORMAT, "%s: tensor %s has dtype %s, expected %s",
                          what, qn, st_dtype_name(t->dtype), st_dtype_name(dtype));
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        if (t->shape[d] != shape[d]) same = 0;
    if (!same) {
        char a[200], b[200];
        size_t oa = 0, ob = 0;
        a[oa++] = '[';
        b[ob++] = '[';
        for (int d = 0; d < t->ndim; d++)
            oa += (size_t)snprintf(a + oa, sizeof a - oa, "%s%lld", d ? ", " : "",
                                   (long long)t->shape[d]);
        for (int d = 0; d < ndim; d++)
            ob += (size_t)snprintf(b + ob, sizeof b - ob, "%s%lld", d ? ", " : "",
                                   (long long)shape[d]);
        snprintf(a + oa, sizeof a - oa, "]");
        snprintf(b + ob, sizeof b - ob, "]");
        return recur_fail(err, RECUR_ERR_FORMAT, "%s: tensor %s has shape %s, expected %s",
                          what, qn, a, b);
    }
    if (out) *out = t;
    return RECUR_OK;
}

