/*
 * safetensors.c - the safetensors container.
 *
 * Reader: the file is hostile. Checks, in order: the 8-byte length, the
 * header's size, UTF-8 and JSON lexical strictness (our own scan, since
 * cJSON is lenient), JSON structure (cJSON on a NUL-terminated copy), every
 * entry's keys, dtype, shape and offsets, duplicate names, the tiling of the
 * data section, and the optional "recur.crc32" checksum. Every number is
 * range-checked before use and every size computation is overflow-checked.
 *
 * Writer: header built by hand (exact integers, our own string escaping),
 * padded with spaces to a multiple of 8 bytes, written to a temporary file
 * that is fsynced and renamed over the target.
 */
#include "io/safetensors.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/error.h"

#if !defined(__BYTE_ORDER__) || !defined(__ORDER_LITTLE_ENDIAN__)
#error "cannot tell the byte order: recur needs a little-endian host"
#elif __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "recur supports little-endian hosts only"
#endif

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------ */

static const char *const dtype_names[] = {"F32", "F64", "I32", "I64", "U8"};
static const size_t dtype_sizes[] = {4, 8, 4, 8, 1};

const char *st_dtype_name(st_dtype dtype)
{
    return (unsigned)dtype < 5 ? dtype_names[dtype] : "?";
}

size_t st_dtype_size(st_dtype dtype)
{
    return (unsigned)dtype < 5 ? dtype_sizes[dtype] : 0;
}

static int dtype_parse(const char *s)
{
    for (int i = 0; i < 5; i++)
        if (strcmp(s, dtype_names[i]) == 0) return i;
    return -1;
}

static const uint32_t crc_table[256] = {
    0x00000000u, 0x77073096u, 0xee0e612cu, 0x990951bau, 0x076dc419u, 0x706af48fu,
    0xe963a535u, 0x9e6495a3u, 0x0edb8832u, 0x79dcb8a4u, 0xe0d5e91eu, 0x97d2d988u,
    0x09b64c2bu, 0x7eb17cbdu, 0xe7b82d07u, 0x90bf1d91u, 0x1db71064u, 0x6ab020f2u,
    0xf3b97148u, 0x84be41deu, 0x1adad47du, 0x6ddde4ebu, 0xf4d4b551u, 0x83d385c7u,
    0x136c9856u, 0x646ba8c0u, 0xfd62f97au, 0x8a65c9ecu, 0x14015c4fu, 0x63066cd9u,
    0xfa0f3d63u, 0x8d080df5u, 0x3b6e20c8u, 0x4c69105eu, 0xd56041e4u, 0xa2677172u,
    0x3c03e4d1u, 0x4b04d447u, 0xd20d85fdu, 0xa50ab56bu, 0x35b5a8fau, 0x42b2986cu,
    0xdbbbc9d6u, 0xacbcf940u, 0x32d86ce3u, 0x45df5c75u, 0xdcd60dcfu, 0xabd13d59u,
    0x26d930acu, 0x51de003au, 0xc8d75180u, 0xbfd06116u, 0x21b4f4b5u, 0x56b3c423u,
    0xcfba9599u, 0xb8bda50fu, 0x2802b89eu, 0x5f058808u, 0xc60cd9b2u, 0xb10be924u,
    0x2f6f7c87u, 0x58684c11u, 0xc1611dabu, 0xb6662d3du, 0x76dc4190u, 0x01db7106u,
    0x98d220bcu, 0xefd5102au, 0x71b18589u, 0x06b6b51fu, 0x9fbfe4a5u, 0xe8b8d433u,
    0x7807c9a2u, 0x0f00f934u, 0x9609a88eu, 0xe10e9818u, 0x7f6a0dbbu, 0x086d3d2du,
    0x91646c97u, 0xe6635c01u, 0x6b6b51f4u, 0x1c6c6162u, 0x856530d8u, 0xf262004eu,
    0x6c0695edu, 0x1b01a57bu, 0x8208f4c1u, 0xf50fc457u, 0x65b0d9c6u, 0x12b7e950u,
    0x8bbeb8eau, 0xfcb9887cu, 0x62dd1ddfu, 0x15da2d49u, 0x8cd37cf3u, 0xfbd44c65u,
    0x4db26158u, 0x3ab551ceu, 0xa3bc0074u, 0xd4bb30e2u, 0x4adfa541u, 0x3dd895d7u,
    0xa4d1c46du, 0xd3d6f4fbu, 0x4369e96au, 0x346ed9fcu, 0xad678846u, 0xda60b8d0u,
    0x44042d73u, 0x33031de5u, 0xaa0a4c5fu, 0xdd0d7cc9u, 0x5005713cu, 0x270241aau,
    0xbe0b1010u, 0xc90c2086u, 0x5768b525u, 0x206f85b3u, 0xb966d409u, 0xce61e49fu,
    0x5edef90eu, 0x29d9c998u, 0xb0d09822u, 0xc7d7a8b4u, 0x59b33d17u, 0x2eb40d81u,
    0xb7bd5c3bu, 0xc0ba6cadu, 0xedb88320u, 0x9abfb3b6u, 0x03b6e20cu, 0x74b1d29au,
    0xead54739u, 0x9dd277afu, 0x04db2615u, 0x73dc1683u, 0xe3630b12u, 0x94643b84u,
    0x0d6d6a3eu, 0x7a6a5aa8u, 0xe40ecf0bu, 0x9309ff9du, 0x0a00ae27u, 0x7d079eb1u,
    0xf00f9344u, 0x8708a3d2u, 0x1e01f268u, 0x6906c2feu, 0xf762575du, 0x806567cbu,
    0x196c3671u, 0x6e6b06e7u, 0xfed41b76u, 0x89d32be0u, 0x10da7a5au, 0x67dd4accu,
    0xf9b9df6fu, 0x8ebeeff9u, 0x17b7be43u, 0x60b08ed5u, 0xd6d6a3e8u, 0xa1d1937eu,
    0x38d8c2c4u, 0x4fdff252u, 0xd1bb67f1u, 0xa6bc5767u, 0x3fb506ddu, 0x48b2364bu,
    0xd80d2bdau, 0xaf0a1b4cu, 0x36034af6u, 0x41047a60u, 0xdf60efc3u, 0xa867df55u,
    0x316e8eefu, 0x4669be79u, 0xcb61b38cu, 0xbc66831au, 0x256fd2a0u, 0x5268e236u,
    0xcc0c7795u, 0xbb0b4703u, 0x220216b9u, 0x5505262fu, 0xc5ba3bbeu, 0xb2bd0b28u,
    0x2bb45a92u, 0x5cb36a04u, 0xc2d7ffa7u, 0xb5d0cf31u, 0x2cd99e8bu, 0x5bdeae1du,
    0x9b64c2b0u, 0xec63f226u, 0x756aa39cu, 0x026d930au, 0x9c0906a9u, 0xeb0e363fu,
    0x72076785u, 0x05005713u, 0x95bf4a82u, 0xe2b87a14u, 0x7bb12baeu, 0x0cb61b38u,
    0x92d28e9bu, 0xe5d5be0du, 0x7cdcefb7u, 0x0bdbdf21u, 0x86d3d2d4u, 0xf1d4e242u,
    0x68ddb3f8u, 0x1fda836eu, 0x81be16cdu, 0xf6b9265bu, 0x6fb077e1u, 0x18b74777u,
    0x88085ae6u, 0xff0f6a70u, 0x66063bcau, 0x11010b5cu, 0x8f659effu, 0xf862ae69u,
    0x616bffd3u, 0x166ccf45u, 0xa00ae278u, 0xd70dd2eeu, 0x4e048354u, 0x3903b3c2u,
    0xa7672661u, 0xd06016f7u, 0x4969474du, 0x3e6e77dbu, 0xaed16a4au, 0xd9d65adcu,
    0x40df0b66u, 0x37d83bf0u, 0xa9bcae53u, 0xdebb9ec5u, 0x47b2cf7fu, 0x30b5ffe9u,
    0xbdbdf21cu, 0xcabac28au, 0x53b39330u, 0x24b4a3a6u, 0xbad03605u, 0xcdd70693u,
    0x54de5729u, 0x23d967bfu, 0xb3667a2eu, 0xc4614ab8u, 0x5d681b02u, 0x2a6f2b94u,
    0xb40bbe37u, 0xc30c8ea1u, 0x5a05df1bu, 0x2d02ef8du,
};

uint32_t st_crc32(const void *data, size_t n, uint32_t crc)
{
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = crc_table[(crc ^ p[i]) & 0xffu] ^ (crc >> 8);
    return ~crc;
}

/* Length of the valid UTF-8 sequence at s[0..n), n >= 1 (1..4), or 0 when
 * invalid: no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    if (n < len) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t k = 2; k < len; k++)
        if (s[k] < 0x80 || s[k] > 0xbf) return 0;
    return len;
}

/* Offset of the first invalid byte, or n when s[0..n) is valid UTF-8. */
static size_t utf8_check(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t k = utf8_seq(s + i, n - i);
        if (!k) return i;
        i += k;
    }
    return n;
}

/* A name quoted for an error message (cap >= 16): control bytes, quotes,
 * backslashes and invalid UTF-8 shown as \xNN; long names cut with "...". */
static const char *quoted(char *buf, size_t cap, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s), o = 0;
    buf[o++] = '"';
    for (size_t i = 0; i < n;) {
        char esc[8];
        const char *piece = esc;
        size_t plen = 4, k = 1;
        if (u[i] >= 0x20 && u[i] != 0x7f && u[i] != '"' && u[i] != '\\' &&
            (k = utf8_seq(u + i, n - i)) != 0) {
            piece = s + i;
            plen = k;
        } else {
            snprintf(esc, sizeof esc, "\\x%02x", u[i]);
            k = 1;
        }
        if (o + plen + 5 > cap) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(buf + o, piece, plen);
        o += plen;
        i += k;
    }
    buf[o++] = '"';
    buf[o] = 0;
    return buf;
}
#define QCAP 100

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

static recur_status oom(recur_error *err, const char *what)
{
    return recur_fail(err, RECUR_ERR_NOMEM, "%s: out of memory", what);
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
        st = oom(err, what);                                                  \
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
            char qk[QCAP];
            return recur_fail(err, RECUR_ERR_FORMAT,
                              "%s: tensor %s: unexpected key %s", what, qn,
                              quoted(qk, sizeof qk, c->string));
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
        char qd[QCAP];
        return recur_fail(err, RECUR_ERR_FORMAT,
                          "%s: tensor %s: unsupported dtype %s (supported: F32, F64, I32, I64, U8)",
                          what, qn, quoted(qd, sizeof qd, dtype->valuestring));
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
    uint64_t esize = dtype_sizes[dt];
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
                          what, qn, shp, dtype_names[dt], (unsigned long long)nbytes,
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
        return oom(err, what);
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

    size_t bad = utf8_check(hdr, hlen);
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
                char qk[QCAP];
                if (!m->string) BAD("%s: header is not valid JSON", what);
                if (!cJSON_IsString(m) || !m->valuestring)
                    BAD("%s: __metadata__ value of %s is not a string", what,
                        quoted(qk, sizeof qk, m->string));
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
                char qk[QCAP];
                BAD("%s: duplicate __metadata__ key %s", what,
                    quoted(qk, sizeof qk, f->meta_by_key[i]->key));
            }
    }
    for (const cJSON *c = root->child; c; c = c->next) {
        if (c == meta) continue;
        char qn[QCAP];
        quoted(qn, sizeof qn, c->string);
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
            char qn[QCAP];
            BAD("%s: duplicate tensor name %s", what, quoted(qn, sizeof qn, f->by_name[i]->name));
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
        char qa[QCAP], qb[QCAP];
        if (s->begin < expect)
            BAD("%s: tensors %s and %s overlap (bytes %llu..%llu and %llu..%llu of the data section)",
                what, quoted(qa, sizeof qa, f->tensors[prev].name),
                quoted(qb, sizeof qb, f->tensors[s->idx].name),
                (unsigned long long)spans[i - 1].begin, (unsigned long long)expect,
                (unsigned long long)s->begin, (unsigned long long)s->end);
        if (s->begin > expect)
            BAD("%s: gap in the data section: bytes %llu..%llu belong to no tensor (before tensor %s)",
                what, (unsigned long long)expect, (unsigned long long)s->begin,
                quoted(qb, sizeof qb, f->tensors[s->idx].name));
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
            char qv[QCAP];
            BAD("%s: __metadata__ recur.crc32 %s is not 8 lowercase hex digits", what,
                quoted(qv, sizeof qv, crc));
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
        size_t esize = dtype_sizes[t->dtype];
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
        size_t esize = dtype_sizes[t->dtype];
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
    if (!copy) return oom(err, what);
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
        return oom(err, path);
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
                return oom(err, path);
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
    char qn[QCAP];
    quoted(qn, sizeof qn, name);
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

/* ------------------------------------------------------------------------ */
/* Writer                                                                    */
/* ------------------------------------------------------------------------ */

/* A growable text buffer; `failed` is set when memory runs out. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->failed) return;
    if (n > SIZE_MAX - 1 - b->len) {
        b->failed = 1;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->len + n + 1) {
            if (nc > SIZE_MAX / 2) {
                b->failed = 1;
                return;
            }
            nc *= 2;
        }
        char *np = realloc(b->p, nc);
        if (!np) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_u64(sbuf *b, uint64_t v)
{
    char t[32];
    int k = snprintf(t, sizeof t, "%llu", (unsigned long long)v);
    sb_put(b, t, (size_t)k);
}

/* s (valid UTF-8) as a JSON string literal. */
static void sb_json_string(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    size_t run = 0, i = 0;
    for (; s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        sb_put(b, s + run, i - run);
        char esc[8];
        switch (c) {
        case '"': sb_put(b, "\\\"", 2); break;
        case '\\': sb_put(b, "\\\\", 2); break;
        case '\n': sb_put(b, "\\n", 2); break;
        case '\r': sb_put(b, "\\r", 2); break;
        case '\t': sb_put(b, "\\t", 2); break;
        case '\b': sb_put(b, "\\b", 2); break;
        case '\f': sb_put(b, "\\f", 2); break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", c);
            sb_put(b, esc, 6);
        }
        run = i + 1;
    }
    sb_put(b, s + run, i - run);
    sb_put(b, "\"", 1);
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int valid_utf8(const char *s)
{
    size_t n = strlen(s);
    return utf8_check((const unsigned char *)s, n) == n;
}

/* Sorted copy of names: 0 if all distinct, else the duplicate in *dup. */
static recur_status find_duplicate(const char **names, size_t n, const char **dup)
{
    *dup = NULL;
    if (n < 2) return RECUR_OK;
    const char **s = malloc(n * sizeof *s);
    if (!s) return RECUR_ERR_NOMEM;
    memcpy(s, names, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_cstr);
    for (size_t i = 1; i < n && !*dup; i++)
        if (strcmp(s[i - 1], s[i]) == 0) *dup = s[i];
    free(s);
    return RECUR_OK;
}

static int write_all(FILE *fp, const void *p, size_t n)
{
    return n == 0 || fwrite(p, 1, n, fp) == n ? 0 : -1;
}

/* Validate the tensors; nbytes[i] receives each one's size. */
static recur_status check_outputs(const char *path, const st_out *tensors, int n,
                                  size_t *nbytes, uint64_t *total, recur_error *err)
{
    char qn[QCAP];
    *total = 0;
    for (int i = 0; i < n; i++) {
        const st_out *t = &tensors[i];
        if (!t->name || !*t->name)
            return recur_fail(err, RECUR_ERR_ARG, "%s: tensor %d has no name", path, i);
        quoted(qn, sizeof qn, t->name);
        if (!valid_utf8(t->name))
            return recur_fail(err, RECUR_ERR_ARG, "%s: tensor name %s is not valid UTF-8",
                              path, qn);
        if (strcmp(t->name, "__metadata__") == 0)
            return recur_fail(err, RECUR_ERR_ARG,
                              "%s: \"__metadata__\" is reserved, not a tensor name", path);
        if ((unsigned)t->dtype >= 5)
            return recur_fail(err, RECUR_ERR_ARG, "%s: tensor %s: invalid dtype %d", path,
                              qn, (int)t->dtype);
        if (t->ndim < 0 || t->ndim > ST_MAX_DIMS)
            return recur_fail(err, RECUR_ERR_ARG,
                              "%s: tensor %s: %d dimensions (0 to %d allowed)", path, qn,
                              t->ndim, ST_MAX_DIMS);
        int zero = 0;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0 || t->shape[d] > ST_MAX_INT)
                return recur_fail(err, RECUR_ERR_ARG,
                                  "%s: tensor %s: dimension %d is %lld", path, qn, d,
                                  (long long)t->shape[d]);
            if (t->shape[d] == 0) zero = 1;
        }
        uint64_t count = zero ? 0 : 1;
        for (int d = 0; d < t->ndim && !zero; d++) {
            uint64_t s = (uint64_t)t->shape[d];
            if (count > UINT64_MAX / s)
                return recur_fail(err, RECUR_ERR_ARG, "%s: tensor %s: size overflows",
                                  path, qn);
            count *= s;
        }
        uint64_t es = dtype_sizes[t->dtype];
        if (count > (uint64_t)SIZE_MAX / es || count * es > (uint64_t)ST_MAX_INT)
            return recur_fail(err, RECUR_ERR_ARG, "%s: tensor %s: size overflows", path, qn);
        nbytes[i] = (size_t)(count * es);
        if (nbytes[i] && !t->data)
            return recur_fail(err, RECUR_ERR_ARG, "%s: tensor %s: data is NULL", path, qn);
        if (*total > (uint64_t)ST_MAX_INT - nbytes[i])
            return recur_fail(err, RECUR_ERR_ARG, "%s: the tensors are too large", path);
        *total += nbytes[i];
    }
    return RECUR_OK;
}

/* Everything but the file system: checks, checksum, padded header. */
static recur_status build_header(const char *path, const st_out *tensors, int n,
                                 const char *const *meta, int n_meta, size_t *nbytes,
                                 sbuf *hdr, recur_error *err)
{
    uint64_t total;
    RECUR_TRY(check_outputs(path, tensors, n, nbytes, &total, err));
    const char *dup = NULL;
    const char **names = malloc(((size_t)n + (size_t)n_meta + 1) * sizeof *names);
    if (!names) return oom(err, path);
    for (int i = 0; i < n; i++) names[i] = tensors[i].name;
    recur_status st = find_duplicate(names, (size_t)n, &dup);
    char q[QCAP];
    if (st == RECUR_OK && dup)
        st = recur_fail(err, RECUR_ERR_ARG, "%s: duplicate tensor name %s", path,
                        quoted(q, sizeof q, dup));
    size_t nk = 0;
    for (int i = 0; st == RECUR_OK && i < n_meta; i++) {
        const char *k = meta[2 * i], *v = meta[2 * i + 1];
        if (!k || !v)
            st = recur_fail(err, RECUR_ERR_ARG, "%s: metadata pair %d has a NULL string",
                            path, i);
        else if (!valid_utf8(k) || !valid_utf8(v))
            st = recur_fail(err, RECUR_ERR_ARG,
                            "%s: metadata %s: key or value is not valid UTF-8", path,
                            quoted(q, sizeof q, k));
        else if (strcmp(k, "recur.crc32") != 0)
            names[nk++] = k;
    }
    if (st == RECUR_OK) st = find_duplicate(names, nk, &dup);
    if (st == RECUR_OK && dup)
        st = recur_fail(err, RECUR_ERR_ARG, "%s: duplicate metadata key %s", path,
                        quoted(q, sizeof q, dup));
    free(names);
    if (st == RECUR_ERR_NOMEM) return oom(err, path);
    if (st) return st;

    uint32_t crc = 0;
    for (int i = 0; i < n; i++) crc = st_crc32(tensors[i].data, nbytes[i], crc);
    char crc_hex[16];
    snprintf(crc_hex, sizeof crc_hex, "%08x", (unsigned)crc);

    sb_str(hdr, "{\"__metadata__\":{");
    for (int i = 0; i < n_meta; i++) {
        if (strcmp(meta[2 * i], "recur.crc32") == 0) continue;
        sb_json_string(hdr, meta[2 * i]);
        sb_str(hdr, ":");
        sb_json_string(hdr, meta[2 * i + 1]);
        sb_str(hdr, ",");
    }
    sb_str(hdr, "\"recur.crc32\":\"");
    sb_str(hdr, crc_hex);
    sb_str(hdr, "\"}");
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const st_out *t = &tensors[i];
        sb_str(hdr, ",");
        sb_json_string(hdr, t->name);
        sb_str(hdr, ":{\"dtype\":\"");
        sb_str(hdr, dtype_names[t->dtype]);
        sb_str(hdr, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d) sb_str(hdr, ",");
            sb_u64(hdr, (uint64_t)t->shape[d]);
        }
        sb_str(hdr, "],\"data_offsets\":[");
        sb_u64(hdr, off);
        sb_str(hdr, ",");
        off += nbytes[i];
        sb_u64(hdr, off);
        sb_str(hdr, "]}");
    }
    sb_str(hdr, "}");
    while (!hdr->failed && hdr->len % 8) sb_put(hdr, " ", 1);
    if (hdr->failed) return oom(err, path);
    if (hdr->len > ST_MAX_HEADER)
        return recur_fail(err, RECUR_ERR_ARG,
                          "%s: header would be %zu bytes, more than the %u-byte limit", path,
                          hdr->len, ST_MAX_HEADER);
    return RECUR_OK;
}

/* fsync the folder holding path, so that the rename is durable. Only an
 * I/O error is reported: some file systems cannot sync folders. */
static recur_status sync_folder(const char *path, recur_error *err)
{
    size_t n = strlen(path);
    char *dir = malloc(n + 2);
    if (!dir) return oom(err, path);
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    if (!slash) strcpy(dir, ".");
    else if (slash == dir) dir[1] = 0;
    else *slash = 0;
    recur_status st = RECUR_OK;
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (fsync(fd) != 0 && errno == EIO)
            st = recur_fail(err, RECUR_ERR_IO,
                            "%s: written, but syncing its folder %s failed: %s", path, dir,
                            strerror(errno));
        close(fd);
    }
    free(dir);
    return st;
}

/* A process killed while writing leaves path.tmp.<its pid> behind. Once a
 * write of path has succeeded, such files of processes that no longer exist
 * are removed; those of live processes (a concurrent writer, or a pid that
 * was reused) are left alone. Best effort: failures change nothing. */
static void remove_stale_temps(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dlen = slash ? (size_t)(slash - path) : 0, blen = strlen(base);
    char *dir = malloc(dlen + 2), *victim = malloc(strlen(path) + 40);
    if (!dir || !victim) goto done;
    if (!slash) strcpy(dir, ".");
    else if (dlen == 0) strcpy(dir, "/");
    else memcpy(dir, path, dlen), dir[dlen] = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        const char *name = e->d_name;
        if (strncmp(name, base, blen) != 0 || strncmp(name + blen, ".tmp.", 5) != 0) continue;
        const char *digits = name + blen + 5;
        char *end;
        errno = 0;
        long pid = strtol(digits, &end, 10);
        if (*digits < '1' || *digits > '9' || *end || errno || pid <= 0 || pid > INT_MAX) continue;
        if (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        snprintf(victim, strlen(path) + 40, "%.*s%s", (int)(slash ? dlen + 1 : 0), path, name);
        unlink(victim);
    }
    if (d) closedir(d);
done:
    free(dir);
    free(victim);
}

recur_status st_write(const char *path, const st_out *tensors, int n,
                      const char *const *meta, int n_meta, recur_error *err)
{
    if (!path || !*path) return recur_fail(err, RECUR_ERR_ARG, "st_write: empty path");
    if (n < 0 || n_meta < 0 || (n && !tensors) || (n_meta && !meta))
        return recur_fail(err, RECUR_ERR_ARG, "%s: st_write: invalid arguments", path);
    size_t *nbytes = calloc(n ? (size_t)n : 1, sizeof *nbytes);
    if (!nbytes) return oom(err, path);
    sbuf hdr = {0};
    recur_status st = build_header(path, tensors, n, meta, n_meta, nbytes, &hdr, err);
    if (st) {
        free(nbytes);
        free(hdr.p);
        return st;
    }

    size_t tlen = strlen(path) + 32;
    char *tmp = malloc(tlen);
    if (!tmp) {
        free(nbytes);
        free(hdr.p);
        return oom(err, path);
    }
    snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd < 0 && errno == EEXIST) { /* left by a crashed process of our pid */
        unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
    }
    if (fd < 0) {
        st = recur_fail(err, RECUR_ERR_IO, "%s: cannot create %s: %s", path, tmp,
                        strerror(errno));
        free(tmp);
        free(nbytes);
        free(hdr.p);
        return st;
    }
    FILE *fp = fdopen(fd, "wb");
    const char *step = "write";
    int e = 0;
    if (!fp) {
        e = errno;
        close(fd);
        step = "open";
        goto io_fail;
    }
    unsigned char len8[8];
    uint64_t hl = hdr.len;
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(hl >> (8 * i));
    int bad = write_all(fp, len8, 8) || write_all(fp, hdr.p, hdr.len);
    for (int i = 0; i < n && !bad; i++) bad = write_all(fp, tensors[i].data, nbytes[i]);
    if (!bad && fflush(fp) != 0) bad = 1;
    if (bad) {
        e = errno;
        fclose(fp);
        goto io_fail;
    }
    if (fsync(fileno(fp)) != 0) {
        e = errno;
        step = "sync";
        fclose(fp);
        goto io_fail;
    }
    if (fclose(fp) != 0) {
        e = errno;
        step = "close";
        goto io_fail;
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        st = recur_fail(err, RECUR_ERR_IO, "%s: cannot rename %s into place: %s", path, tmp,
                        strerror(e));
        free(tmp);
        free(nbytes);
        free(hdr.p);
        return st;
    }
    free(tmp);
    free(nbytes);
    free(hdr.p);
    remove_stale_temps(path);
    return sync_folder(path, err);

io_fail:
    unlink(tmp);
    st = recur_fail(err, RECUR_ERR_IO, "%s: cannot %s %s: %s", path, step, tmp,
                    strerror(e ? e : EIO));
    free(tmp);
    free(nbytes);
    free(hdr.p);
    return st;
}
