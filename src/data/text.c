/* Text helpers: UTF-8 validation, trimming and normalisation (utf8proc). */
#include "data/text.h"

#include <string.h>
#include <utf8proc.h>

#define HIGH_BITS 0x8080808080808080ULL

int recur_text_is_ascii(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    uint64_t acc = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        acc |= w;
    }
    for (; i < len; i++) acc |= p[i];
    return (acc & HIGH_BITS) == 0;
}

size_t recur_utf8_invalid_at(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        /* Skip runs of ASCII a word at a time. */
        if (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if ((w & HIGH_BITS) == 0) {
                i += 8;
                continue;
            }
        }
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t r = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
        if (r <= 0) return i;
        i += (size_t)r;
    }
    return len;
}

int recur_text_is_space(int32_t cp)
{
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0d);
    if (cp == 0x85) return 1;
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL ||
           c == UTF8PROC_CATEGORY_ZP;
}

void recur_text_trim(const char **s, size_t *len)
{
    const unsigned char *p = (const unsigned char *)*s;
    size_t a = 0, b = *len;
    while (a < b) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t r;
        if (p[a] < 0x80) {
            cp = p[a];
            r = 1;
        } else {
            r = utf8proc_iterate(p + a, (utf8proc_ssize_t)(b - a), &cp);
            if (r <= 0) break;
        }
        if (!recur_text_is_space(cp)) break;
        a += (size_t)r;
    }
    while (b > a) {
        size_t start = b - 1;
        while (start > a && b - start < 4 && (p[start] & 0xc0) == 0x80) start--;
        utf8proc_int32_t cp;
        utf8proc_ssize_t r = utf8proc_iterate(p + start, (utf8proc_ssize_t)(b - start), &cp);
        if (r <= 0 || (size_t)r != b - start || !recur_text_is_space(cp)) break;
        b = start;
    }
    *s += a;
    *len = b - a;
}

ptrdiff_t recur_text_normalize(recur_text_mode mode, const char *s, size_t len,
                               int32_t *buf, size_t cap)
{
    /* ASCII mode is NFD alone: the marks are dropped below, Mn only, as the
     * tutorial does (utf8proc's STRIPMARK would drop Mc and Me too). */
    utf8proc_option_t opt = mode == RECUR_TEXT_ASCII
                                ? (utf8proc_option_t)UTF8PROC_DECOMPOSE
                                : (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (len > (size_t)PTRDIFF_MAX / 8) return -1;
    if (len == 0) return 0;
    int32_t dummy[1];
    if (!buf || cap == 0) {
        buf = dummy; /* utf8proc writes nothing past bufsize (0) */
        cap = 0;
    }
    if (cap > (size_t)PTRDIFF_MAX / sizeof(int32_t)) cap = (size_t)PTRDIFF_MAX / sizeof(int32_t);
    utf8proc_ssize_t n = utf8proc_decompose((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len,
                                            buf, (utf8proc_ssize_t)cap, opt);
    if (n < 0) return -1;
    if ((size_t)n > cap) return (ptrdiff_t)n;
    if (mode == RECUR_TEXT_UNICODE) {
        n = utf8proc_normalize_utf32(buf, n, opt);
        if (n < 0) return -1;
    } else {
        utf8proc_ssize_t k = 0;
        for (utf8proc_ssize_t i = 0; i < n; i++)
            if (utf8proc_category(buf[i]) != UTF8PROC_CATEGORY_MN) buf[k++] = buf[i];
        n = k;
    }
    return (ptrdiff_t)n;
}
