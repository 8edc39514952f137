/* A small test harness: each tests/test_<unit>.c defines a suite, a
 * NULL-terminated array of test_case, listed in tests/suites.h. main.c runs
 * them and ends with the line "N passed, N failed[, N skipped]". */
#ifndef RECUR_TEST_H
#define RECUR_TEST_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "recur.h"

typedef struct test_case {
    const char *name;
    void (*fn)(void);
} test_case;

/* Failed checks in the running test; set by the macros below. */
extern int test_failures;
/* Call to mark the running test skipped (with a reason), then return. */
void test_skip(const char *why);
/* The names data folder from RECUR_DATA, or NULL (then skip). */
const char *test_data_dir(void);
/* A fresh temporary directory for this test (removed at exit). */
const char *test_tmpdir(void);

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "    %s:%d: CHECK(%s) failed\n", __FILE__,        \
                    __LINE__, #cond);                                         \
            test_failures++;                                                  \
        }                                                                     \
    } while (0)

#define CHECK_MSG(cond, ...)                                                  \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "    %s:%d: CHECK(%s) failed: ", __FILE__,        \
                    __LINE__, #cond);                                         \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
            test_failures++;                                                  \
        }                                                                     \
    } while (0)

/* Status must be RECUR_OK; prints the error's message otherwise. */
#define CHECK_OK(call, errp)                                                  \
    do {                                                                      \
        recur_status st_ = (call);                                            \
        if (st_ != RECUR_OK) {                                                \
            fprintf(stderr, "    %s:%d: %s -> %s: %s\n", __FILE__, __LINE__,  \
                    #call, recur_status_string(st_), (errp)->message);        \
            test_failures++;                                                  \
        }                                                                     \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                 \
    do {                                                                      \
        double a_ = (a), b_ = (b);                                            \
        if (!(fabs(a_ - b_) <= (tol))) {                                      \
            fprintf(stderr, "    %s:%d: %s = %.9g, %s = %.9g (tol %g)\n",     \
                    __FILE__, __LINE__, #a, a_, #b, b_, (double)(tol));       \
            test_failures++;                                                  \
        }                                                                     \
    } while (0)

#endif
