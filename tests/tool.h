/* Helpers for the suites that run the recur tool as a program ($RECUR_BIN):
 * finding it, skipping without it or the data, files and folders under the
 * test's temporary folder, and running it with stdout and stderr captured. */
#ifndef RECUR_TEST_TOOL_H
#define RECUR_TEST_TOOL_H
#include <stddef.h>
#include <string.h>

#include "test.h"

/* $RECUR_BIN when it names an executable, else NULL. */
const char *bin(void);

/* Skip the running test (and return) without the tool. */
#define NEED_BIN()                                                                                  \
    do {                                                                                            \
        if (!bin()) {                                                                               \
            test_skip("RECUR_BIN is not set (run through make test)");                              \
            return;                                                                                 \
        }                                                                                           \
    } while (0)

/* Skip the running test (and return) without the tool or the names data. */
#define NEED_DATA()                                                                                 \
    do {                                                                                            \
        NEED_BIN();                                                                                 \
        if (!test_data_dir()) {                                                                     \
            test_skip("RECUR_DATA is not set");                                                     \
            return;                                                                                 \
        }                                                                                           \
    } while (0)

/* A new folder "<tmp>/<prefix>-<name>-<k>"; the string lasts for 16 calls. */
const char *tool_new_dir(const char *prefix, const char *name);
/* Write len bytes to path, or dir/name (a failed check when it cannot). */
void put_file(const char *path, const char *data, size_t len);
void put(const char *dir, const char *name, const char *data, size_t len);
/* Whole file into a NUL-terminated buffer (NULL when unreadable). */
char *slurp(const char *path, size_t *len);
/* NULL when every <text> of the SVG file fits its canvas (width taken as
 * 0.6 em a character, height 1 em around the baseline, turned and moved by
 * its transform), else what sticks out (a static string). */
const char *svg_text_outside(const char *path);
#define CHECK_SVG_FITS(path)                                                  \
    do {                                                                      \
        const char *why_ = svg_text_outside(path);                            \
        CHECK_MSG(why_ == NULL, "%s", why_);                                  \
    } while (0)
/* Both files readable and byte for byte the same. */
int same_file(const char *a, const char *b);

typedef struct result {
    int code; /* exit status, 128 + signal when killed, -1 when not run */
    char *out, *err;
    int err_lines;
} result;

void result_free(result *r);
/* `cd <dir> && [env] $RECUR_BIN <args> [< stdin_file]` with the shell (dir
 * NULL: here; stdin_file NULL: /dev/null). */
result run_in(const char *dir, const char *env, const char *args, const char *stdin_file);
/* $RECUR_BIN words... (NULL-terminated, passed straight to exec) in dir,
 * stdin from a file (NULL: /dev/null). */
result runv(const char *dir, const char *in, const char *const *words);

/* Exit code `code`, nothing on stdout, one line "recur: ...want..." on stderr. */
#define CHECK_FAILS(res, want_code, want_text)                                                      \
    do {                                                                                            \
        CHECK_MSG((res).code == (want_code), "exit %d, want %d; stderr: %s", (res).code, want_code, \
                  (res).err);                                                                       \
        CHECK_MSG((res).err_lines == 1 && strncmp((res).err, "recur: ", 7) == 0,                    \
                  "want one 'recur: ' line, got: %s", (res).err);                                   \
        CHECK_MSG(strstr((res).err, want_text) != NULL, "stderr lacks '%s': %s", want_text,         \
                  (res).err);                                                                       \
        CHECK_MSG((res).out[0] == '\0', "stdout not empty: %.200s", (res).out);                    \
    } while (0)

#endif
