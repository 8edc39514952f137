/*
 * Tagged sequences: CoNLL columns and JSON Lines.
 *
 * CoNLL (CoNLL-2003, Universal Dependencies' CoNLL-U, BIO files): one step
 * per line, columns separated by TABs when the line has one, else by runs
 * of spaces; a blank line ends a sequence; "-DOCSTART-" lines are document
 * breaks (they end a sequence and are skipped); before a sequence's first
 * step a line starting with '#' and holding no TAB is a comment (CoNLL-U's
 * "# text = ..."); CoNLL-U's multiword ranges ("3-4") and empty nodes
 * ("8.1") are skipped. The token is column token_column, the tag column
 * tag_column (-1: the last); a file of one-column lines has no tags.
 *
 * JSON Lines: one object a line, blank lines skipped: {"text": "..."} (one
 * step per character; per white-space-separated token at token level) or
 * {"tokens": [...]}, with "tags": [...] (one string per step) and/or
 * "label": "..." (the sequence's class).
 *
 * Character level: a step is one code point of the NFC-normalised text (a
 * CoNLL token or JSON token must then be exactly one character); token
 * level: a step is a token's bytes as they are.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <utf8proc.h>

#include "core/error.h"
#include "data/seqset.h"
#include "data/text.h"

#define MAX_COLUMNS 64

static recur_status options(const recur_seqset_options *opts, recur_seqset_options *d,
                            const char *path, recur_error *err)
{
    if (!opts) {
        recur_seqset_options_default(d);
        opts = d;
    } else {
        *d = *opts;
    }
    if (!path) return recur_fail(err, RECUR_ERR_ARG, "recur_seqset_load: path is NULL");
    if (d->min_count < 1) d->min_count = 1;
    if (d->token_column < 0 || d->token_column >= MAX_COLUMNS || d->tag_column < -1 ||
        d->tag_column >= MAX_COLUMNS)
        return recur_fail(err, RECUR_ERR_ARG, "%s: token column %d or tag column %d is out of range 0..%d",
                          path, d->token_column, d->tag_column, MAX_COLUMNS - 1);
    return RECUR_OK;
}

/* NFC code points of valid UTF-8 s[0..len): *cps (malloc'd) and *n. */
static recur_status nfc(const char *s, size_t len, int32_t **cps, size_t *n, recur_error *err)
{
    *cps = NULL;
    ptrdiff_t k = recur_text_normalize(RECUR_TEXT_UNICODE, s, len, NULL, 0);
    if (k < 0) return recur_fail(err, RECUR_ERR_DATA, "cannot normalise a text of %zu bytes", len);
    int32_t *b = malloc(((size_t)k + 1) * sizeof *b);
    if (!b) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory normalising a text");
    ptrdiff_t k2 = recur_text_normalize(RECUR_TEXT_UNICODE, s, len, b, (size_t)k);
    if (k2 < 0 || k2 > k) {
        free(b);
        return recur_fail(err, RECUR_ERR_DATA, "cannot normalise a text of %zu bytes", len);
    }
    *cps = b;
    *n = (size_t)k2;
    return RECUR_OK;
}

static recur_status step_cp(recur_seqset *s, int32_t cp, const char *tag, size_t tlen, recur_error *err)
{
    char u[8] = {0};
    utf8proc_ssize_t k = utf8proc_encode_char(cp, (utf8proc_uint8_t *)u);
    return seqset_step(s, u, (size_t)k, tag, tlen, err);
}

/* One character-level CoNLL token: exactly one character after NFC. */
static recur_status one_char(recur_seqset *s, const char *path, size_t lineno, size_t col,
                             const char *tok, size_t len, const char *tag, size_t tlen,
                             recur_error *err)
{
    int32_t *cps;
    size_t n;
    recur_status st = nfc(tok, len, &cps, &n, err);
    if (st != RECUR_OK) return recur_fail(err, st, "%s:%zu:%zu: %s", path, lineno, col, "cannot normalise the token");
    if (n != 1 || cps[0] == 0)
        st = recur_fail(err, RECUR_ERR_DATA,
                        "%s:%zu:%zu: the token '%.*s' is %zu characters; character-level data needs one per "
                        "line (or load it at token level)",
                        path, lineno, col, (int)(len > 40 ? 40 : len), tok, n);
    else st = step_cp(s, cps[0], tag, tlen, err);
    free(cps);
    return st;
}

/* ------------------------------------------------------------------------ */
/* CoNLL                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct field {
    const char *p;
    size_t len, col; /* col: 1-based byte column */
} field;

static int split_columns(const char *line, size_t len, field *f, int max)
{
    int tabbed = memchr(line, '\t', len) != NULL, n = 0;
    size_t i = 0;
    if (tabbed) {
        for (;;) {
            const char *t = memchr(line + i, '\t', len - i);
            size_t e = t ? (size_t)(t - line) : len;
            if (n == max) return max + 1;
            f[n++] = (field){line + i, e - i, i + 1};
            if (!t) break;
            i = e + 1;
        }
        return n;
    }
    while (i < len) {
        while (i < len && line[i] == ' ') i++;
        if (i == len) break;
        size_t b = i;
        while (i < len && line[i] != ' ') i++;
        if (n == max) return max + 1;
        f[n++] = (field){line + b, i - b, b + 1};
    }
    return n;
}

static int is_ud_multiword(const field *f, int n)
{
    if (n != 10) return 0;
    int digit = 0;
    for (size_t i = 0; i < f[0].len; i++) {
        char c = f[0].p[i];
        if (c >= '0' && c <= '9') digit = 1;
        else if ((c == '-' || c == '.') && digit) return 1;
        else return 0;
    }
    return 0;
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\f' && s[i] != '\v') return 0;
    return 1;
}

static recur_status parse_conll(recur_seqset *s, const recur_seqset_options *o, const char *path,
                                const char *buf, size_t len, recur_error *err)
{
    size_t pos = 0, lineno = 0;
    int open = 0, has_tags = -1;
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) pos = 3;
    field f[MAX_COLUMNS];
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        const char *line = buf + pos;
        size_t base = pos, llen = end - pos;
        pos = end + 1;
        lineno++;
        RECUR_TRY(seq_check_line(path, lineno, line, llen, base, err));
        if (llen && line[llen - 1] == '\r') llen--;
        if (blank(line, llen) || (llen >= 10 && memcmp(line, "-DOCSTART-", 10) == 0)) {
            if (open) RECUR_TRY(seqset_end(s, path, err));
            open = 0;
            continue;
        }
        if (!open && line[0] == '#' && !memchr(line, '\t', llen)) continue;
        int nc = split_columns(line, llen, f, MAX_COLUMNS);
        if (nc > MAX_COLUMNS)
            return recur_fail(err, RECUR_ERR_DATA, "%s:%zu: more than %d columns", path, lineno, MAX_COLUMNS);
        if (is_ud_multiword(f, nc)) continue;
        int tc = o->tag_column < 0 ? nc - 1 : o->tag_column;
        int tagged = nc > 1;
        if (o->token_column >= nc || (tagged && tc >= nc) || (tagged && tc == o->token_column))
            return recur_fail(err, RECUR_ERR_DATA,
                              "%s:%zu: %d column%s: the token is column %d and the tag column %d", path,
                              lineno, nc, nc == 1 ? "" : "s", o->token_column + 1, tc + 1);
        if (has_tags >= 0 && has_tags != tagged)
            return recur_fail(err, RECUR_ERR_DATA, "%s:%zu: %s, where earlier lines %s", path, lineno,
                              tagged ? "a tag" : "no tag", tagged ? "have none" : "have one");
        has_tags = tagged;
        const field *tok = &f[o->token_column], *tag = tagged ? &f[tc] : NULL;
        if (tok->len == 0 || (tag && tag->len == 0))
            return recur_fail(err, RECUR_ERR_DATA, "%s:%zu:%zu: empty %s", path, lineno,
                              tok->len == 0 ? tok->col : tag->col, tok->len == 0 ? "token" : "tag");
        if (!open) RECUR_TRY(seqset_begin(s, lineno, NULL, 0, err));
        open = 1;
        if (s->token_level)
            RECUR_TRY(seqset_step(s, tok->p, tok->len, tag ? tag->p : NULL, tag ? tag->len : 0, err));
        else
            RECUR_TRY(one_char(s, path, lineno, tok->col, tok->p, tok->len, tag ? tag->p : NULL,
                               tag ? tag->len : 0, err));
    }
    if (open) RECUR_TRY(seqset_end(s, path, err));
    return RECUR_OK;
}

typedef recur_status (*parse_fn)(recur_seqset *, const recur_seqset_options *, const char *,
                                 const char *, size_t, recur_error *);

static recur_status load_text(parse_fn parse, const char *path, const recur_seqset_options *opts,
                              recur_seqset **out, recur_error *err)
{
    if (!out) return recur_fail(err, RECUR_ERR_ARG, "recur_seqset_load: out is NULL");
    *out = NULL;
    recur_seqset_options o;
    RECUR_TRY(options(opts, &o, path, err));
    char *buf;
    size_t len;
    RECUR_TRY(seq_read_file(path, &buf, &len, err));
    recur_seqset *s = NULL;
    recur_status st = seqset_new(&s, &o, err);
    if (st == RECUR_OK) st = parse(s, &o, path, buf, len, err);
    free(buf);
    if (st == RECUR_OK) st = seqset_finish(s, path, err);
    if (st != RECUR_OK) {
        recur_seqset_free(s);
        return st;
    }
    *out = s;
    return RECUR_OK;
}

recur_status recur_seqset_load_conll(const char *path, const recur_seqset_options *opts,
                                     recur_seqset **out, recur_error *err)
{
    return seq_clean_error(load_text(parse_conll, path, opts, out, err), err);
}

/* ------------------------------------------------------------------------ */
/* JSON Lines                                                                */
/* ------------------------------------------------------------------------ */

/* 1-based column of "key" in the line, or 1: where an error about it points. */
static size_t key_col(const char *line, size_t len, const char *key)
{
    char q[32];
    int k = snprintf(q, sizeof q, "\"%s\"", key);
    for (size_t i = 0; k > 0 && i + (size_t)k <= len; i++)
        if (memcmp(line + i, q, (size_t)k) == 0) return i + 1;
    return 1;
}

static const char *tag_at(const cJSON *tags, int i)
{
    return tags ? cJSON_GetArrayItem(tags, i)->valuestring : NULL;
}

static size_t str_len(const char *s) { return s ? strlen(s) : 0; }

/* The steps of one JSON object (already checked: "text" xor "tokens"). */
static recur_status json_steps(recur_seqset *s, const char *path, size_t lineno, const char *line,
                               size_t llen, const cJSON *text, const cJSON *tokens,
                               const cJSON *tags, recur_error *err)
{
    int ntags = tags ? cJSON_GetArraySize(tags) : 0;
    for (int i = 0; i < ntags; i++) {
        const cJSON *t = cJSON_GetArrayItem(tags, i);
        if (!cJSON_IsString(t) || !t->valuestring[0])
            return recur_fail(err, RECUR_ERR_DATA, "%s:%zu:%zu: tags[%d] is not a non-empty string", path,
                              lineno, key_col(line, llen, "tags"), i);
    }
#define TAG(i) tag_at(tags, (i))
#define TAGLEN(i) str_len(tag_at(tags, (i)))
    /* Collect steps first to count them against the tags. */
    size_t have = 0;
    recur_status st = RECUR_OK;
    if (text) {
        const char *t = text->valuestring;
        size_t tl = strlen(t);
        if (s->token_level) {
            size_t i = 0;
            int k = 0;
            while (i < tl) {
                while (i < tl && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) i++;
                if (i == tl) break;
                size_t b = i;
                while (i < tl && !(t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) i++;
                if (tags && k >= ntags) break;
                RECUR_TRY(seqset_step(s, t + b, i - b, TAG(k), TAGLEN(k), err));
                k++;
            }
            have = (size_t)k;
            /* Count the rest, for the message. */
            while (i < tl) {
                while (i < tl && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) i++;
                if (i == tl) break;
                while (i < tl && !(t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) i++;
                have++;
            }
        } else {
            int32_t *cps;
            size_t n;
            RECUR_TRY(nfc(t, tl, &cps, &n, err));
            have = n;
            for (size_t i = 0; i < n && st == RECUR_OK && (!tags || i < (size_t)ntags); i++)
                st = step_cp(s, cps[i], TAG((int)i), TAGLEN((int)i), err);
            free(cps);
            RECUR_TRY(st);
        }
    } else {
        int nt = cJSON_GetArraySize(tokens);
        have = (size_t)nt;
        for (int i = 0; i < nt; i++) {
            const cJSON *t = cJSON_GetArrayItem(tokens, i);
            if (!cJSON_IsString(t) || !t->valuestring[0])
                return recur_fail(err, RECUR_ERR_DATA, "%s:%zu:%zu: tokens[%d] is not a non-empty string",
                                  path, lineno, key_col(line, llen, "tokens"), i);
            if (tags && i >= ntags) continue;
            if (s->token_level)
                RECUR_TRY(seqset_step(s, t->valuestring, strlen(t->valuestring), TAG(i), TAGLEN(i), err));
            else
                RECUR_TRY(one_char(s, path, lineno, key_col(line, llen, "tokens"), t->valuestring,
                                   strlen(t->valuestring), TAG(i), TAGLEN(i), err));
        }
    }
#undef TAG
#undef TAGLEN
    if (have == 0)
        return recur_fail(err, RECUR_ERR_DATA, "%s:%zu:%zu: empty %s", path, lineno,
                          key_col(line, llen, text ? "text" : "tokens"), text ? "text" : "tokens");
    if (tags && (size_t)ntags != have)
        return recur_fail(err, RECUR_ERR_DATA, "%s:%zu:%zu: %d tags for %zu %s", path, lineno,
                          key_col(line, llen, "tags"), ntags, have,
                          text && !s->token_level ? "characters of \"text\"" : "tokens");
    return RECUR_OK;
}

static recur_status json_line(recur_seqset *s, const char *path, size_t lineno, const char *line,
                              size_t llen, int *has_tags, recur_error *err)
{
    /* cJSON keeps strings NUL-terminated: a \u0000 would silently cut one. */
    for (size_t i = 0; i + 6 <= llen; i++)
        if (line[i] == '\\' && memcmp(line + i, "\\u0000", 6) == 0)
            return recur_fail(err, RECUR_ERR_DATA, "%s:%zu:%zu: \\u0000 (NUL) in a string", path, lineno, i + 1);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(line, llen, &end, 0);
    if (!root) {
        size_t col = end && end >= line && end <= line + llen ? (size_t)(end - line) + 1 : 1;
        return recur_fail(err, RECUR_ERR_DATA, "%s:%zu:%zu: not valid JSON", path, lineno, col);
    }
    recur_status st = RECUR_OK;
    size_t rest = end ? (size_t)(end - line) : llen;
    while (rest < llen && (line[rest] == ' ' || line[rest] == '\t' || line[rest] == '\r')) rest++;
    if (rest < llen) {
        st = recur_fail(err, RECUR_ERR_DATA, "%s:%zu:%zu: text after the JSON object", path, lineno, rest + 1);
        goto done;
    }
    if (!cJSON_IsObject(root)) {
        st = recur_fail(err, RECUR_ERR_DATA, "%s:%zu:1: not a JSON object", path, lineno);
        goto done;
    }
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(root, "text");
    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(root, "tokens");
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(root, "tags");
    const cJSON *label = cJSON_GetObjectItemCaseSensitive(root, "label");
    if (!text == !tokens) {
        st = recur_fail(err, RECUR_ERR_DATA, "%s:%zu:1: an object needs \"text\" or \"tokens\" (one of them)",
                        path, lineno);
        goto done;
    }
    if ((text && !cJSON_IsString(text)) || (tokens && !cJSON_IsArray(tokens)) ||
        (tags && !cJSON_IsArray(tags)) || (label && (!cJSON_IsString(label) || !label->valuestring[0]))) {
        const char *k = text && !cJSON_IsString(text) ? "text" : tokens && !cJSON_IsArray(tokens) ? "tokens"
                        : tags && !cJSON_IsArray(tags) ? "tags" : "label";
        st = recur_fail(err, RECUR_ERR_DATA, "%s:%zu:%zu: \"%s\" is not %s", path, lineno,
                        key_col(line, llen, k), k,
                        k[0] == 'l' ? "a non-empty string" : k[1] == 'e' ? "a string" : "an array");
        goto done;
    }
    int tagged = tags != NULL;
    if (*has_tags >= 0 && *has_tags != tagged) {
        st = recur_fail(err, RECUR_ERR_DATA, "%s:%zu:1: %s, where earlier lines %s", path, lineno,
                        tagged ? "\"tags\"" : "no \"tags\"", tagged ? "have none" : "have them");
        goto done;
    }
    *has_tags = tagged;
    if ((st = seqset_begin(s, lineno, NULL, 0, err)) != RECUR_OK) goto done;
    if (label && (st = seqset_label(s, label->valuestring, strlen(label->valuestring), err)) != RECUR_OK)
        goto done;
    if ((st = json_steps(s, path, lineno, line, llen, text, tokens, tags, err)) != RECUR_OK) goto done;
    st = seqset_end(s, path, err);
done:
    cJSON_Delete(root);
    return st;
}

static recur_status parse_jsonl(recur_seqset *s, const recur_seqset_options *o, const char *path,
                                const char *buf, size_t len, recur_error *err)
{
    (void)o;
    size_t pos = 0, lineno = 0;
    int has_tags = -1;
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) pos = 3;
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        const char *line = buf + pos;
        size_t base = pos, llen = end - pos;
        pos = end + 1;
        lineno++;
        RECUR_TRY(seq_check_line(path, lineno, line, llen, base, err));
        if (blank(line, llen)) continue;
        RECUR_TRY(json_line(s, path, lineno, line, llen, &has_tags, err));
    }
    return RECUR_OK;
}

recur_status recur_seqset_load_jsonl(const char *path, const recur_seqset_options *opts,
                                     recur_seqset **out, recur_error *err)
{
    return seq_clean_error(load_text(parse_jsonl, path, opts, out, err), err);
}
