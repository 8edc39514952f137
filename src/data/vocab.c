/*
 * Vocabularies of characters.
 *
 * Ids 0 and 1 are reserved (unknown, boundary); symbol ids start at 2.
 *  - ASCII mode: the tutorial's 57 letters
 *    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,;'" are ids
 *    2..58 in that order, fixed.
 *  - Unicode mode: recur_vocab_add gives each new code point of the
 *    NFC-normalised text the next id, in order of first appearance. Ids never
 *    change once given, so the vocabulary is deterministic in the order the
 *    training texts are added. U+0000 is never a symbol (always unknown).
 * Lookup: a direct table for code points below DIRECT_SIZE, an open-addressing
 * hash table for the rest. Encoding allocates nothing for texts that fit the
 * caller's buffer after decomposition or a 256-entry stack buffer.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/error.h"
#include "data/text.h"

#define DIRECT_SIZE 0x800
#define STACK_CPS 256

static const char ascii_letters[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,;'";
#define ASCII_COUNT ((int)sizeof ascii_letters - 1) /* 57 */

typedef struct symbol { char s[8]; } symbol;

struct recur_vocab {
    recur_text_mode mode;
    int size, cap;   /* ids in use (>= 2) and allocated                   */
    int32_t *cps;    /* [cap] code point of each id, -1 for reserved ids   */
    symbol *syms;    /* [cap] UTF-8 of each id, "" for reserved ids        */
    int32_t *hkeys;  /* [hcap] code points >= DIRECT_SIZE, -1 when empty   */
    int32_t *hvals;  /* [hcap] their ids                                   */
    size_t hcap, hcount;
    int32_t direct[DIRECT_SIZE]; /* code point -> id, 0 = unknown           */
};

static uint32_t hash_cp(int32_t cp) { return (uint32_t)cp * 0x9e3779b1u; }

static int32_t hash_find(const recur_vocab *v, int32_t cp)
{
    if (!v->hcap) return RECUR_TOKEN_UNKNOWN;
    size_t mask = v->hcap - 1;
    for (size_t i = hash_cp(cp) & mask;; i = (i + 1) & mask) {
        if (v->hkeys[i] == cp) return v->hvals[i];
        if (v->hkeys[i] < 0) return RECUR_TOKEN_UNKNOWN;
    }
}

static inline int32_t lookup(const recur_vocab *v, int32_t cp)
{
    if ((uint32_t)cp < DIRECT_SIZE) return v->direct[cp];
    return hash_find(v, cp);
}

static recur_status hash_put(recur_vocab *v, int32_t cp, int32_t id, recur_error *err)
{
    if (2 * (v->hcount + 1) > v->hcap) {
        size_t ncap = v->hcap ? 2 * v->hcap : 64;
        int32_t *k = malloc(ncap * sizeof *k), *val = malloc(ncap * sizeof *val);
        if (!k || !val) {
            free(k);
            free(val);
            return recur_fail(err, RECUR_ERR_NOMEM, "out of memory growing a vocabulary");
        }
        for (size_t i = 0; i < ncap; i++) k[i] = -1;
        for (size_t j = 0; j < v->hcap; j++) {
            if (v->hkeys[j] < 0) continue;
            size_t i = hash_cp(v->hkeys[j]) & (ncap - 1);
            while (k[i] >= 0) i = (i + 1) & (ncap - 1);
            k[i] = v->hkeys[j];
            val[i] = v->hvals[j];
        }
        free(v->hkeys);
        free(v->hvals);
        v->hkeys = k;
        v->hvals = val;
        v->hcap = ncap;
    }
    size_t mask = v->hcap - 1, i = hash_cp(cp) & mask;
    while (v->hkeys[i] >= 0) i = (i + 1) & mask;
    v->hkeys[i] = cp;
    v->hvals[i] = id;
    v->hcount++;
    return RECUR_OK;
}

/* Give code point cp (not yet present) the next id. */
static recur_status push_symbol(recur_vocab *v, int32_t cp, recur_error *err)
{
    if (v->size == v->cap) {
        if (v->cap > INT_MAX / 2) return recur_fail(err, RECUR_ERR_NOMEM, "vocabulary too large");
        int ncap = v->cap * 2;
        int32_t *c = realloc(v->cps, (size_t)ncap * sizeof *c);
        if (!c) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory growing a vocabulary");
        v->cps = c;
        symbol *s = realloc(v->syms, (size_t)ncap * sizeof *s);
        if (!s) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory growing a vocabulary");
        v->syms = s;
        v->cap = ncap;
    }
    int32_t id = v->size;
    if ((uint32_t)cp < DIRECT_SIZE) v->direct[cp] = id;
    else RECUR_TRY(hash_put(v, cp, id, err));
    v->cps[id] = cp;
    memset(v->syms[id].s, 0, sizeof v->syms[id].s);
    utf8proc_encode_char(cp, (utf8proc_uint8_t *)v->syms[id].s);
    v->size++;
    return RECUR_OK;
}

static recur_status vocab_new(recur_text_mode mode, int cap, recur_vocab **out, recur_error *err)
{
    recur_vocab *v = calloc(1, sizeof *v);
    if (!v) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory creating a vocabulary");
    v->mode = mode;
    v->cap = cap < 64 ? 64 : cap;
    v->cps = malloc((size_t)v->cap * sizeof *v->cps);
    v->syms = calloc((size_t)v->cap, sizeof *v->syms);
    if (!v->cps || !v->syms) {
        recur_vocab_free(v);
        return recur_fail(err, RECUR_ERR_NOMEM, "out of memory creating a vocabulary");
    }
    v->cps[0] = v->cps[1] = -1;
    v->size = 2;
    *out = v;
    return RECUR_OK;
}

recur_status recur_vocab_create(recur_text_mode mode, recur_vocab **out, recur_error *err)
{
    if (!out) return recur_fail(err, RECUR_ERR_ARG, "recur_vocab_create: out is NULL");
    *out = NULL;
    if (mode != RECUR_TEXT_UNICODE && mode != RECUR_TEXT_ASCII)
        return recur_fail(err, RECUR_ERR_ARG, "unknown text mode %d", (int)mode);
    recur_vocab *v;
    RECUR_TRY(vocab_new(mode, 64, &v, err));
    if (mode == RECUR_TEXT_ASCII) {
        for (int i = 0; i < ASCII_COUNT; i++) {
            recur_status st = push_symbol(v, (unsigned char)ascii_letters[i], err);
            if (st != RECUR_OK) {
                recur_vocab_free(v);
                return st;
            }
        }
    }
    *out = v;
    return RECUR_OK;
}

void recur_vocab_free(recur_vocab *v)
{
    if (!v) return;
    free(v->cps);
    free(v->syms);
    free(v->hkeys);
    free(v->hvals);
    free(v);
}

recur_status recur_vocab_from_symbols(recur_text_mode mode, const char *const *symbols, int n,
                                      recur_vocab **out, recur_error *err)
{
    if (!out) return recur_fail(err, RECUR_ERR_ARG, "recur_vocab_from_symbols: out is NULL");
    *out = NULL;
    if (n < 2) return recur_fail(err, RECUR_ERR_FORMAT, "vocabulary size %d is below 2", n);
    if (n > 2 && !symbols)
        return recur_fail(err, RECUR_ERR_ARG, "recur_vocab_from_symbols: symbols is NULL");
    if (mode == RECUR_TEXT_ASCII && n != ASCII_COUNT + 2)
        return recur_fail(err, RECUR_ERR_FORMAT,
                          "ASCII vocabulary has %d ids, expected %d", n, ASCII_COUNT + 2);
    recur_vocab *v;
    if (mode == RECUR_TEXT_ASCII) RECUR_TRY(recur_vocab_create(mode, &v, err));
    else if (mode == RECUR_TEXT_UNICODE) RECUR_TRY(vocab_new(mode, n, &v, err));
    else return recur_fail(err, RECUR_ERR_ARG, "unknown text mode %d", (int)mode);

    recur_status st = RECUR_OK;
    for (int i = 2; i < n && st == RECUR_OK; i++) {
        const char *s = symbols[i];
        if (!s) {
            st = recur_fail(err, RECUR_ERR_FORMAT, "vocabulary symbol %d is missing", i);
            break;
        }
        size_t len = strlen(s);
        utf8proc_int32_t cp = -1;
        utf8proc_ssize_t r = len ? utf8proc_iterate((const utf8proc_uint8_t *)s,
                                                    (utf8proc_ssize_t)len, &cp)
                                 : 0;
        if (len == 0 || r <= 0 || (size_t)r != len) {
            if (len > 0 && recur_utf8_invalid_at(s, len) < len)
                st = recur_fail(err, RECUR_ERR_FORMAT,
                                "vocabulary symbol %d is not valid UTF-8", i);
            else
                st = recur_fail(err, RECUR_ERR_FORMAT,
                                "vocabulary symbol %d is %s, not one code point", i,
                                len ? "several code points" : "empty");
            break;
        }
        if (mode == RECUR_TEXT_ASCII) {
            if (cp != (unsigned char)ascii_letters[i - 2])
                st = recur_fail(err, RECUR_ERR_FORMAT,
                                "vocabulary symbol %d is U+%04X, the ASCII vocabulary has '%c' there",
                                i, (unsigned)cp, ascii_letters[i - 2]);
            continue;
        }
        if (lookup(v, cp) != RECUR_TOKEN_UNKNOWN) {
            st = recur_fail(err, RECUR_ERR_FORMAT,
                            "vocabulary symbol %d (U+%04X) repeats symbol %d", i, (unsigned)cp,
                            (int)lookup(v, cp));
            break;
        }
        st = push_symbol(v, cp, err);
    }
    if (st != RECUR_OK) {
        recur_vocab_free(v);
        return st;
    }
    *out = v;
    return RECUR_OK;
}

recur_status recur_vocab_clone(const recur_vocab *v, recur_vocab **out, recur_error *err)
{
    if (!out) return recur_fail(err, RECUR_ERR_ARG, "recur_vocab_clone: out is NULL");
    *out = NULL;
    if (!v) return recur_fail(err, RECUR_ERR_ARG, "recur_vocab_clone: vocabulary is NULL");
    recur_vocab *c = malloc(sizeof *c);
    if (!c) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory cloning a vocabulary");
    memcpy(c, v, sizeof *c);
    c->cps = malloc((size_t)v->cap * sizeof *c->cps);
    c->syms = malloc((size_t)v->cap * sizeof *c->syms);
    c->hkeys = v->hcap ? malloc(v->hcap * sizeof *c->hkeys) : NULL;
    c->hvals = v->hcap ? malloc(v->hcap * sizeof *c->hvals) : NULL;
    if (!c->cps || !c->syms || (v->hcap && (!c->hkeys || !c->hvals))) {
        recur_vocab_free(c);
        return recur_fail(err, RECUR_ERR_NOMEM, "out of memory cloning a vocabulary");
    }
    memcpy(c->cps, v->cps, (size_t)v->size * sizeof *c->cps);
    memcpy(c->syms, v->syms, (size_t)v->size * sizeof *c->syms);
    if (v->hcap) {
        memcpy(c->hkeys, v->hkeys, v->hcap * sizeof *c->hkeys);
        memcpy(c->hvals, v->hvals, v->hcap * sizeof *c->hvals);
    }
    *out = c;
    return RECUR_OK;
}

int recur_vocab_size(const recur_vocab *v) { return v ? v->size : 0; }

recur_text_mode recur_vocab_mode(const recur_vocab *v) { return v ? v->mode : RECUR_TEXT_UNICODE; }

const char *recur_vocab_symbol(const recur_vocab *v, int id)
{
    if (!v || id < 0 || id >= v->size) return NULL;
    return v->syms[id].s;
}

static recur_status invalid_utf8(recur_error *err, const char *s, size_t len)
{
    return recur_fail(err, RECUR_ERR_DATA, "invalid UTF-8 at byte offset %zu",
                      recur_utf8_invalid_at(s, len));
}

/*
 * Normalised code points of valid, non-ASCII text: into `pref` when they fit
 * there (pcap entries; pref may be NULL), else into `stack` (STACK_CPS) or a
 * heap buffer returned in *heap for the caller to free. Sets *cps, *n.
 */
static recur_status normalize_any(recur_text_mode mode, const char *s, size_t len,
                                  int32_t *pref, size_t pcap, int32_t *stack,
                                  int32_t **cps, size_t *n, int32_t **heap, recur_error *err)
{
    *heap = NULL;
    ptrdiff_t k = recur_text_normalize(mode, s, len, pref, pcap);
    if (k < 0) goto fail;
    if ((size_t)k <= pcap) {
        *cps = pref;
        *n = (size_t)k;
        return RECUR_OK;
    }
    int32_t *buf = stack;
    if ((size_t)k > STACK_CPS) {
        buf = malloc((size_t)k * sizeof *buf);
        if (!buf) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory normalising a text");
        *heap = buf;
    }
    ptrdiff_t k2 = recur_text_normalize(mode, s, len, buf, (size_t)k);
    if (k2 < 0 || k2 > k) goto fail;
    *cps = buf;
    *n = (size_t)k2;
    return RECUR_OK;
fail:
    free(*heap);
    *heap = NULL;
    return recur_fail(err, RECUR_ERR_DATA, "could not normalise the text (%zu bytes)", len);
}

recur_status recur_vocab_add(recur_vocab *v, const char *utf8, size_t len, recur_error *err)
{
    if (!v) return recur_fail(err, RECUR_ERR_ARG, "recur_vocab_add: vocabulary is NULL");
    if (!utf8 && len) return recur_fail(err, RECUR_ERR_ARG, "recur_vocab_add: text is NULL");
    if (len == 0) return RECUR_OK;
    if (recur_text_is_ascii(utf8, len)) {
        if (v->mode == RECUR_TEXT_ASCII) return RECUR_OK;
        const unsigned char *p = (const unsigned char *)utf8;
        for (size_t i = 0; i < len; i++)
            if (p[i] && !v->direct[p[i]]) RECUR_TRY(push_symbol(v, p[i], err));
        return RECUR_OK;
    }
    if (recur_utf8_invalid_at(utf8, len) < len) return invalid_utf8(err, utf8, len);
    if (v->mode == RECUR_TEXT_ASCII) return RECUR_OK;
    int32_t stack[STACK_CPS], *cps, *heap;
    size_t n;
    RECUR_TRY(normalize_any(v->mode, utf8, len, NULL, 0, stack, &cps, &n, &heap, err));
    recur_status st = RECUR_OK;
    for (size_t i = 0; i < n && st == RECUR_OK; i++)
        if (cps[i] && lookup(v, cps[i]) == RECUR_TOKEN_UNKNOWN) st = push_symbol(v, cps[i], err);
    free(heap);
    return st;
}

recur_status recur_vocab_encode(const recur_vocab *v, const char *utf8, size_t len,
                                int32_t *ids, size_t cap, size_t *n, recur_error *err)
{
    if (n) *n = 0;
    if (!v || !n) return recur_fail(err, RECUR_ERR_ARG, "recur_vocab_encode: %s is NULL",
                                    v ? "n" : "vocabulary");
    if (!utf8 && len) return recur_fail(err, RECUR_ERR_ARG, "recur_vocab_encode: text is NULL");
    if (!ids) cap = 0;
    if (recur_text_is_ascii(utf8, len)) {
        /* NFC and NFD leave ASCII unchanged and it has no marks: one id per byte. */
        *n = len;
        if (len > cap)
            return recur_fail(err, RECUR_ERR_ARG, "text needs %zu ids, room for %zu", len, cap);
        const unsigned char *p = (const unsigned char *)utf8;
        for (size_t i = 0; i < len; i++) ids[i] = v->direct[p[i]];
        return RECUR_OK;
    }
    if (recur_utf8_invalid_at(utf8, len) < len) return invalid_utf8(err, utf8, len);
    int32_t stack[STACK_CPS], *cps, *heap;
    size_t k;
    RECUR_TRY(normalize_any(v->mode, utf8, len, ids, cap, stack, &cps, &k, &heap, err));
    *n = k;
    if (k > cap) {
        free(heap);
        return recur_fail(err, RECUR_ERR_ARG, "text needs %zu ids, room for %zu", k, cap);
    }
    for (size_t i = 0; i < k; i++) ids[i] = lookup(v, cps[i]);
    free(heap);
    return RECUR_OK;
}
