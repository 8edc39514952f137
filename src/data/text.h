/* Internal text helpers of the data layer: UTF-8 validation, white-space
 * trimming and the normalisation shared by vocabularies and data sets. */
#ifndef RECUR_DATA_TEXT_H
#define RECUR_DATA_TEXT_H
#include <stddef.h>
#include <stdint.h>

#include "recur.h"

/* 1 when s[0..len) holds only bytes below 0x80. */
int recur_text_is_ascii(const char *s, size_t len);

/* Byte offset of the first invalid UTF-8 sequence in s[0..len) (overlong
 * forms, surrogates and code points past U+10FFFF are invalid), or len when
 * the whole text is valid. */
size_t recur_utf8_invalid_at(const char *s, size_t len);

/* 1 for Unicode white space: ASCII \t \n \v \f \r and space, U+0085 and the
 * separators (categories Zs, Zl, Zp, e.g. U+00A0, U+3000). */
int recur_text_is_space(int32_t cp);

/* recur_text_trim (recur.h) trims what this calls white space. */

/*
 * Normalise valid UTF-8 into code points as `mode` says (Unicode: NFC;
 * ASCII: NFD, then the nonspacing marks, category Mn, dropped; spacing and
 * enclosing marks stay, as in the tutorial). Writes at most `cap` code
 * points into buf (buf may be NULL when cap is 0) and returns how many the
 * text needs; when that is more than cap, buf holds nothing useful: call
 * again with a buffer of at least the returned size (in ASCII mode the
 * second call may return fewer: the first counts the marks too). Returns -1 on a utf8proc failure (invalid
 * UTF-8, or a text too long for it).
 */
ptrdiff_t recur_text_normalize(recur_text_mode mode, const char *s, size_t len,
                               int32_t *buf, size_t cap);

#endif
