/* Text: vocabularies, normalisation, UTF-8 validation, encoding. */
#include <string.h>

#include "test.h"

static const char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,;'";

/* Id of an ASCII letter in the tutorial's vocabulary. */
static int32_t aid(char c) { return (int32_t)(strchr(letters, c) - letters) + 2; }

static recur_vocab *make(recur_text_mode mode)
{
    recur_vocab *v = NULL;
    recur_error err = {0};
    CHECK_OK(recur_vocab_create(mode, &v, &err), &err);
    return v;
}

/* Encode a NUL-terminated text; returns the status, ids into out[64]. */
static recur_status enc(const recur_vocab *v, const char *s, int32_t *out, size_t *n,
                        recur_error *err)
{
    return recur_vocab_encode(v, s, strlen(s), out, 64, n, err);
}

static void ascii_vocab_is_the_tutorials(void)
{
    recur_vocab *v = make(RECUR_TEXT_ASCII);
    if (!v) return;
    CHECK(recur_vocab_size(v) == 59);
    CHECK(recur_vocab_mode(v) == RECUR_TEXT_ASCII);
    CHECK(strcmp(recur_vocab_symbol(v, RECUR_TOKEN_UNKNOWN), "") == 0);
    CHECK(strcmp(recur_vocab_symbol(v, RECUR_TOKEN_BOUNDARY), "") == 0);
    CHECK(strcmp(recur_vocab_symbol(v, 2), "a") == 0);
    CHECK(strcmp(recur_vocab_symbol(v, 28), "A") == 0);
    CHECK(strcmp(recur_vocab_symbol(v, 54), " ") == 0);
    CHECK(strcmp(recur_vocab_symbol(v, 58), "'") == 0);
    CHECK(recur_vocab_symbol(v, 59) == NULL);
    CHECK(recur_vocab_symbol(v, -1) == NULL);
    /* add is a no-op in ASCII mode */
    recur_error err = {0};
    CHECK_OK(recur_vocab_add(v, "日本", strlen("日本"), &err), &err);
    CHECK(recur_vocab_size(v) == 59);
    recur_vocab_free(v);
}

static void ascii_mode_strips_accents(void)
{
    recur_vocab *v = make(RECUR_TEXT_ASCII);
    if (!v) return;
    recur_error err = {0};
    int32_t ids[64];
    size_t n = 0;
    CHECK_OK(enc(v, "\xc5\x9alus\xc3\xa0rski", ids, &n, &err), &err); /* Ślusàrski */
    const char *want = "Slusarski";
    CHECK(n == strlen(want));
    for (size_t i = 0; i < n && i < strlen(want); i++) CHECK(ids[i] == aid(want[i]));
    /* A decomposed accent gives the same. */
    CHECK_OK(enc(v, "Slusa\xcc\x80rski", ids, &n, &err), &err);
    CHECK(n == strlen(want));
    for (size_t i = 0; i < n && i < strlen(want); i++) CHECK(ids[i] == aid(want[i]));
    CHECK_OK(enc(v, "O'Neil, Jr.", ids, &n, &err), &err);
    CHECK(n == 11 && ids[1] == aid('\'') && ids[6] == aid(',') && ids[7] == aid(' '));
    recur_vocab_free(v);
}

static void ascii_mode_unknown_symbols(void)
{
    recur_vocab *v = make(RECUR_TEXT_ASCII);
    if (!v) return;
    recur_error err = {0};
    int32_t ids[64];
    size_t n = 0;
    /* ß and ł have no decomposition; '-', '1', NBSP and CJK are not letters. */
    CHECK_OK(enc(v, "Stra\xc3\x9f" "e-1\xc5\x82\xc2\xa0\xe6\x97\xa5", ids, &n, &err), &err);
    int32_t want[] = {aid('S'), aid('t'), aid('r'), aid('a'), 0, aid('e'), 0, 0, 0, 0, 0};
    CHECK(n == sizeof want / sizeof want[0]);
    for (size_t i = 0; i < n && i < sizeof want / sizeof want[0]; i++) CHECK(ids[i] == want[i]);
    CHECK_OK(enc(v, "", ids, &n, &err), &err);
    CHECK(n == 0);
    recur_vocab_free(v);
}

/* Only nonspacing marks (Mn) go after NFD, as in the tutorial and
 * docs/FORMAT.md 2.3: a spacing mark (Mc) or an enclosing one (Me) is a
 * character of its own, hence unknown. */
static void ascii_mode_drops_only_nonspacing_marks(void)
{
    recur_vocab *v = make(RECUR_TEXT_ASCII);
    if (!v) return;
    recur_error err = {0};
    int32_t ids[64];
    size_t n = 0;
    /* KA, the vowel sign AA (Mc), RA: three unknown symbols. */
    CHECK_OK(enc(v, "\xe0\xa4\x95\xe0\xa4\xbe\xe0\xa4\xb0", ids, &n, &err), &err);
    CHECK_MSG(n == 3 && ids[0] == 0 && ids[1] == 0 && ids[2] == 0, "n = %zu", n);
    /* a + COMBINING ENCLOSING CIRCLE (Me) + e + COMBINING ACUTE (Mn). */
    CHECK_OK(enc(v, "a\xe2\x83\x9d" "e\xcc\x81", ids, &n, &err), &err);
    CHECK_MSG(n == 3 && ids[0] == aid('a') && ids[1] == 0 && ids[2] == aid('e'), "n = %zu", n);
    /* U+1F82 (3 bytes) decomposes into alpha and three Mn marks: one symbol,
     * also when the caller's buffer holds fewer ids than the decomposition. */
    CHECK_OK(recur_vocab_encode(v, "\xe1\xbe\x82", 3, ids, 1, &n, &err), &err);
    CHECK(n == 1 && ids[0] == 0);
    recur_vocab_free(v);
}

/* The one trimming rule (recur_text_trim): Unicode white space at both
 * ends, nothing inside, and any bytes accepted. */
static void trim_is_unicode_white_space(void)
{
    struct { const char *in, *out; } cases[] = {
        {"\xc2\xa0 Dora\xe3\x80\x80\r\n", "Dora"},          /* NBSP, ideographic space */
        {"\xe2\x80\x83" "Eve Marie\xe2\x80\xa8\xc2\x85", "Eve Marie"}, /* em space, U+2028, U+0085 */
        {"\t\v\f \xe2\x80\x89", ""},                          /* white space only */
        {"\xe2\x80\x8b" "Zed\xef\xbb\xbf", "\xe2\x80\x8b" "Zed\xef\xbb\xbf"}, /* ZWSP, BOM: Cf, kept */
        {" \xff\xc2\xa0", "\xff"},                              /* stops at invalid bytes */
        {"\xc2", "\xc2"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *s = cases[i].in;
        size_t len = strlen(s);
        recur_text_trim(&s, &len);
        CHECK_MSG(len == strlen(cases[i].out) && memcmp(s, cases[i].out, len) == 0, "case %zu: %zu bytes", i, len);
    }
}

static void unicode_mode_nfc(void)
{
    recur_vocab *v = make(RECUR_TEXT_UNICODE);
    if (!v) return;
    recur_error err = {0};
    CHECK(recur_vocab_size(v) == 2);
    const char *pre = "caf\xc3\xa9";    /* café, precomposed é */
    const char *dec = "cafe\xcc\x81";   /* café, e + combining acute */
    CHECK_OK(recur_vocab_add(v, dec, strlen(dec), &err), &err);
    CHECK(recur_vocab_size(v) == 6); /* c a f é, and the mark composed away */
    CHECK(strcmp(recur_vocab_symbol(v, 2), "c") == 0);
    CHECK(strcmp(recur_vocab_symbol(v, 5), "\xc3\xa9") == 0);
    int32_t a[64], b[64];
    size_t na = 0, nb = 0;
    CHECK_OK(enc(v, pre, a, &na, &err), &err);
    CHECK_OK(enc(v, dec, b, &nb, &err), &err);
    CHECK(na == 4 && nb == 4);
    CHECK(memcmp(a, b, 4 * sizeof a[0]) == 0);
    CHECK(a[0] == 2 && a[1] == 3 && a[2] == 4 && a[3] == 5);
    /* Unknown code points, below and above the direct table. */
    CHECK_OK(enc(v, "x\xc3\xa8\xe6\x97\xa5", a, &na, &err), &err);
    CHECK(na == 3 && a[0] == 0 && a[1] == 0 && a[2] == 0);
    recur_vocab_free(v);
}

static void unicode_vocab_order_of_first_appearance(void)
{
    recur_vocab *v = make(RECUR_TEXT_UNICODE);
    if (!v) return;
    recur_error err = {0};
    const char *texts[] = {"ba", "cab", "\xd0\x96\xe6\x97\xa5", "\xf0\x9f\x98\x80z", "b"};
    for (int i = 0; i < 5; i++)
        CHECK_OK(recur_vocab_add(v, texts[i], strlen(texts[i]), &err), &err);
    const char *want[] = {"b", "a", "c", "\xd0\x96", "\xe6\x97\xa5", "\xf0\x9f\x98\x80", "z"};
    CHECK(recur_vocab_size(v) == 9);
    for (int i = 0; i < 7; i++) {
        const char *s = recur_vocab_symbol(v, i + 2);
        CHECK_MSG(s && strcmp(s, want[i]) == 0, "symbol %d", i + 2);
    }
    int32_t ids[64];
    size_t n = 0;
    CHECK_OK(enc(v, "z\xf0\x9f\x98\x80\xe6\x97\xa5\xd0\x96" "cab\x01", ids, &n, &err), &err);
    int32_t wid[] = {8, 7, 6, 5, 4, 3, 2, 0};
    CHECK(n == 8);
    for (size_t i = 0; i < n && i < 8; i++) CHECK(ids[i] == wid[i]);
    /* NUL is never a symbol. */
    CHECK_OK(recur_vocab_add(v, "a\0b", 3, &err), &err);
    CHECK(recur_vocab_size(v) == 9);
    recur_vocab_free(v);
}

static void invalid_utf8_rejected_with_offset(void)
{
    static const struct { const char *s; size_t off; } bad[] = {
        {"ab\xff", 2},
        {"\xc3\xa9t\xc0\x80", 3},        /* overlong NUL */
        {"x\xed\xa0\x80", 1},            /* surrogate */
        {"abc\xc3", 3},                  /* truncated */
        {"\xf4\x90\x80\x80", 0},         /* past U+10FFFF */
        {"long ascii prefix!\x80", 18},  /* stray continuation byte */
    };
    for (int m = 0; m < 2; m++) {
        recur_vocab *v = make(m ? RECUR_TEXT_ASCII : RECUR_TEXT_UNICODE);
        if (!v) return;
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            recur_error err = {0};
            int32_t ids[64];
            size_t n = 0;
            char want[64];
            snprintf(want, sizeof want, "byte offset %zu", bad[i].off);
            recur_status st = enc(v, bad[i].s, ids, &n, &err);
            CHECK_MSG(st == RECUR_ERR_DATA && err.status == RECUR_ERR_DATA, "case %zu", i);
            CHECK_MSG(strstr(err.message, want), "case %zu: %s", i, err.message);
            memset(&err, 0, sizeof err);
            st = recur_vocab_add(v, bad[i].s, strlen(bad[i].s), &err);
            CHECK_MSG(st == RECUR_ERR_DATA && strstr(err.message, want), "add case %zu", i);
        }
        CHECK(recur_vocab_size(v) == (m ? 59 : 2));
        recur_vocab_free(v);
    }
}

static void encode_cap_too_small(void)
{
    recur_vocab *u = make(RECUR_TEXT_UNICODE), *a = make(RECUR_TEXT_ASCII);
    if (!u || !a) return;
    recur_error err = {0};
    int32_t ids[8];
    size_t n = 0;
    CHECK(recur_vocab_encode(a, "abc", 3, ids, 2, &n, &err) == RECUR_ERR_ARG);
    CHECK(n == 3 && err.status == RECUR_ERR_ARG);
    /* Size query with no buffer. */
    CHECK(recur_vocab_encode(a, "\xc5\x9alu", 4, NULL, 0, &n, &err) == RECUR_ERR_ARG);
    CHECK(n == 3);
    CHECK(recur_vocab_encode(a, "\xc5\x9alu", 4, ids, 2, &n, &err) == RECUR_ERR_ARG);
    CHECK(n == 3);
    /* Two decomposed code points compose into one: fits in 1. */
    CHECK_OK(recur_vocab_encode(u, "e\xcc\x81", 3, ids, 1, &n, &err), &err);
    CHECK(n == 1 && ids[0] == 0);
    CHECK(recur_vocab_encode(u, "e\xcc\x81x", 4, ids, 1, &n, &err) == RECUR_ERR_ARG);
    CHECK(n == 2);
    CHECK_OK(recur_vocab_encode(u, "", 0, NULL, 0, &n, &err), &err);
    CHECK(n == 0);
    recur_vocab_free(u);
    recur_vocab_free(a);
}

static void long_texts_past_the_stack_buffer(void)
{
    recur_vocab *u = make(RECUR_TEXT_UNICODE), *a = make(RECUR_TEXT_ASCII);
    if (!u || !a) return;
    recur_error err = {0};
    enum { K = 1000 };
    char *s = malloc(3 * K + 1);
    int32_t *ids = malloc(2 * K * sizeof *ids);
    if (!s || !ids) return;
    for (int i = 0; i < K; i++) memcpy(s + 3 * i, "e\xcc\x81", 3);
    s[3 * K] = '\0';
    CHECK_OK(recur_vocab_add(u, s, 3 * K, &err), &err);
    CHECK(recur_vocab_size(u) == 3);
    size_t n = 0;
    CHECK_OK(recur_vocab_encode(u, s, 3 * K, ids, 2 * K, &n, &err), &err);
    CHECK(n == K && ids[0] == 2 && ids[K - 1] == 2);
    /* Too small for the decomposition but big enough for the result. */
    CHECK_OK(recur_vocab_encode(u, s, 3 * K, ids, K, &n, &err), &err);
    CHECK(n == K && ids[K / 2] == 2);
    CHECK_OK(recur_vocab_encode(a, s, 3 * K, ids, K, &n, &err), &err);
    CHECK(n == K && ids[0] == aid('e') && ids[K - 1] == aid('e'));
    free(s);
    free(ids);
    recur_vocab_free(u);
    recur_vocab_free(a);
}

static void vocab_round_trip_from_symbols(void)
{
    recur_vocab *v = make(RECUR_TEXT_UNICODE);
    if (!v) return;
    recur_error err = {0};
    const char *texts[] = {"Nguyễn", "Müller", "Żółć", "Иванов", "山田", "O'Brien", "\xf0\x9f\x98\x80"};
    for (int i = 0; i < 7; i++) CHECK_OK(recur_vocab_add(v, texts[i], strlen(texts[i]), &err), &err);
    int n = recur_vocab_size(v);
    const char **syms = calloc((size_t)n, sizeof *syms);
    for (int i = 0; i < n; i++) syms[i] = recur_vocab_symbol(v, i);
    recur_vocab *w = NULL, *c = NULL;
    CHECK_OK(recur_vocab_from_symbols(RECUR_TEXT_UNICODE, syms, n, &w, &err), &err);
    CHECK_OK(recur_vocab_clone(v, &c, &err), &err);
    if (w && c) {
        CHECK(recur_vocab_size(w) == n && recur_vocab_size(c) == n);
        for (int i = 0; i < n; i++) {
            CHECK(strcmp(recur_vocab_symbol(w, i), syms[i]) == 0);
            CHECK(strcmp(recur_vocab_symbol(c, i), syms[i]) == 0);
        }
        for (int i = 0; i < 7; i++) {
            int32_t a[64], b[64], d[64];
            size_t na = 0, nb = 0, nd = 0;
            CHECK_OK(enc(v, texts[i], a, &na, &err), &err);
            CHECK_OK(enc(w, texts[i], b, &nb, &err), &err);
            CHECK_OK(enc(c, texts[i], d, &nd, &err), &err);
            CHECK(na == nb && na == nd && memcmp(a, b, na * sizeof a[0]) == 0 &&
                  memcmp(a, d, na * sizeof a[0]) == 0);
        }
        /* The clone is independent. */
        CHECK_OK(recur_vocab_add(c, "qXw\xe2\x82\xac", 6, &err), &err);
        CHECK(recur_vocab_size(c) == n + 4 && recur_vocab_size(v) == n);
    }
    recur_vocab_free(w);
    recur_vocab_free(c);
    free(syms);
    recur_vocab_free(v);

    /* ASCII round trip; the reserved entries may be NULL. */
    recur_vocab *a = make(RECUR_TEXT_ASCII), *b = NULL;
    if (!a) return;
    const char *as[59] = {NULL, NULL};
    for (int i = 2; i < 59; i++) as[i] = recur_vocab_symbol(a, i);
    CHECK_OK(recur_vocab_from_symbols(RECUR_TEXT_ASCII, as, 59, &b, &err), &err);
    CHECK(recur_vocab_size(b) == 59);
    recur_vocab_free(b);
    recur_vocab_free(a);
}

/* from_symbols must fail with `status`, naming "symbol <idx>" when idx >= 0. */
static void expect_rejected(recur_text_mode mode, const char *const *syms, int n,
                            recur_status status, int idx)
{
    recur_vocab *v = (recur_vocab *)1;
    recur_error err = {0};
    recur_status st = recur_vocab_from_symbols(mode, syms, n, &v, &err);
    CHECK_MSG(st == status, "got %s: %s", recur_status_string(st), err.message);
    CHECK(v == NULL);
    if (idx >= 0) {
        char want[32];
        snprintf(want, sizeof want, "symbol %d", idx);
        CHECK_MSG(strstr(err.message, want), "'%s' lacks '%s'", err.message, want);
    }
}

static void hostile_symbol_lists_rejected(void)
{
    const char *dup[] = {"", "", "a", "b", "a"};
    expect_rejected(RECUR_TEXT_UNICODE, dup, 5, RECUR_ERR_FORMAT, 4);
    const char *dup2[] = {"", "", "\xe6\x97\xa5", "\xe6\x97\xa5"};
    expect_rejected(RECUR_TEXT_UNICODE, dup2, 4, RECUR_ERR_FORMAT, 3);
    const char *two[] = {"", "", "a", "ab"};
    expect_rejected(RECUR_TEXT_UNICODE, two, 4, RECUR_ERR_FORMAT, 3);
    const char *comb[] = {"", "", "e\xcc\x81"};
    expect_rejected(RECUR_TEXT_UNICODE, comb, 3, RECUR_ERR_FORMAT, 2);
    const char *empty[] = {"", "", "a", ""};
    expect_rejected(RECUR_TEXT_UNICODE, empty, 4, RECUR_ERR_FORMAT, 3);
    const char *invalid[] = {"", "", "\xff"};
    expect_rejected(RECUR_TEXT_UNICODE, invalid, 3, RECUR_ERR_FORMAT, 2);
    const char *trunc[] = {"", "", "a", "\xe6\x97"};
    expect_rejected(RECUR_TEXT_UNICODE, trunc, 4, RECUR_ERR_FORMAT, 3);
    const char *surrogate[] = {"", "", "\xed\xa0\x80"};
    expect_rejected(RECUR_TEXT_UNICODE, surrogate, 3, RECUR_ERR_FORMAT, 2);
    const char *missing[] = {"", "", "a", NULL};
    expect_rejected(RECUR_TEXT_UNICODE, missing, 4, RECUR_ERR_FORMAT, 3);
    expect_rejected(RECUR_TEXT_UNICODE, dup, 1, RECUR_ERR_FORMAT, -1);
    expect_rejected(RECUR_TEXT_UNICODE, NULL, 5, RECUR_ERR_ARG, -1);
    expect_rejected((recur_text_mode)7, dup, 3, RECUR_ERR_ARG, -1);
    /* ASCII: the fixed list only. */
    const char *as[59] = {NULL, NULL};
    static char one[57][2];
    for (int i = 0; i < 57; i++) {
        one[i][0] = letters[i];
        as[i + 2] = one[i];
    }
    as[30] = "a";
    expect_rejected(RECUR_TEXT_ASCII, as, 59, RECUR_ERR_FORMAT, 30);
    expect_rejected(RECUR_TEXT_ASCII, as, 20, RECUR_ERR_FORMAT, -1);
    /* The empty vocabulary is fine. */
    recur_vocab *v = NULL;
    recur_error err = {0};
    CHECK_OK(recur_vocab_from_symbols(RECUR_TEXT_UNICODE, NULL, 2, &v, &err), &err);
    CHECK(recur_vocab_size(v) == 2);
    recur_vocab_free(v);
}

static void null_safety(void)
{
    recur_error err = {0};
    size_t n = 7;
    int32_t ids[4];
    recur_vocab_free(NULL);
    CHECK(recur_vocab_size(NULL) == 0);
    CHECK(recur_vocab_symbol(NULL, 2) == NULL);
    CHECK(recur_vocab_create(RECUR_TEXT_ASCII, NULL, &err) == RECUR_ERR_ARG);
    CHECK(recur_vocab_create(RECUR_TEXT_ASCII, NULL, NULL) == RECUR_ERR_ARG);
    CHECK(recur_vocab_encode(NULL, "a", 1, ids, 4, &n, &err) == RECUR_ERR_ARG && n == 0);
    CHECK(recur_vocab_add(NULL, "a", 1, &err) == RECUR_ERR_ARG);
    recur_vocab *c = (recur_vocab *)1;
    CHECK(recur_vocab_clone(NULL, &c, &err) == RECUR_ERR_ARG && c == NULL);
    recur_vocab *v = make(RECUR_TEXT_UNICODE);
    CHECK(recur_vocab_encode(v, NULL, 3, ids, 4, &n, &err) == RECUR_ERR_ARG);
    CHECK(recur_vocab_encode(v, "a", 1, ids, 4, NULL, &err) == RECUR_ERR_ARG);
    CHECK_OK(recur_vocab_add(v, NULL, 0, &err), &err);
    recur_vocab_free(v);
}

const test_case tests_text[] = {
    {"ascii_vocab_is_the_tutorials", ascii_vocab_is_the_tutorials},
    {"ascii_mode_strips_accents", ascii_mode_strips_accents},
    {"ascii_mode_unknown_symbols", ascii_mode_unknown_symbols},
    {"ascii_mode_drops_only_nonspacing_marks", ascii_mode_drops_only_nonspacing_marks},
    {"trim_is_unicode_white_space", trim_is_unicode_white_space},
    {"unicode_mode_nfc", unicode_mode_nfc},
    {"unicode_vocab_order_of_first_appearance", unicode_vocab_order_of_first_appearance},
    {"invalid_utf8_rejected_with_offset", invalid_utf8_rejected_with_offset},
    {"encode_cap_too_small", encode_cap_too_small},
    {"long_texts_past_the_stack_buffer", long_texts_past_the_stack_buffer},
    {"vocab_round_trip_from_symbols", vocab_round_trip_from_symbols},
    {"hostile_symbol_lists_rejected", hostile_symbol_lists_rejected},
    {"null_safety", null_safety},
    {NULL, NULL},
};
