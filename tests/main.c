/* Test runner: runs every suite (or those whose "suite.test" name contains
 * argv[1]) and ends with "N passed, N failed, N skipped". */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#define SUITE(unit) extern const test_case tests_##unit[];
#include "suites.h"
#undef SUITE

static const struct { const char *name; const test_case *cases; } suites[] = {
#define SUITE(unit) {#unit, tests_##unit},
#include "suites.h"
#undef SUITE
};

int test_failures;
static int test_skipped;
static char tmp_root[256];

void test_skip(const char *why)
{
    test_skipped = 1;
    fprintf(stderr, "    skipped: %s\n", why);
}

const char *test_data_dir(void)
{
    const char *d = getenv("RECUR_DATA");
    return (d && *d && access(d, R_OK) == 0) ? d : NULL;
}

const char *test_tmpdir(void)
{
    if (!tmp_root[0]) {
        snprintf(tmp_root, sizeof tmp_root, "/tmp/recur-test-XXXXXX");
        if (!mkdtemp(tmp_root)) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return tmp_root;
}

static void remove_tmp(void)
{
    if (tmp_root[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_root);
    }
}

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : NULL;
    int passed = 0, failed = 0, skipped = 0;
    atexit(remove_tmp);
    for (size_t s = 0; s < sizeof suites / sizeof suites[0]; s++) {
        for (const test_case *t = suites[s].cases; t->name; t++) {
            char full[256];
            snprintf(full, sizeof full, "%s.%s", suites[s].name, t->name);
            if (filter && !strstr(full, filter)) continue;
            struct timespec a, b;
            clock_gettime(CLOCK_MONOTONIC, &a);
            test_failures = 0;
            test_skipped = 0;
            t->fn();
            clock_gettime(CLOCK_MONOTONIC, &b);
            double secs = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
            const char *verdict = test_failures ? "FAIL" : test_skipped ? "skip" : "ok";
            printf("%-4s %-52s %7.2fs\n", verdict, full, secs);
            fflush(stdout);
            if (test_failures) failed++;
            else if (test_skipped) skipped++;
            else passed++;
        }
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
