/*
 * fuzz_dataset: libFuzzer harness for the data-set reader.
 *
 * bytes -> "Fuzz.txt" in a private temporary folder (under $TMPDIR, else
 * /dev/shm, else /tmp; removed at exit), next to a small valid
 * "Alpha.txt" -> recur_dataset_load -> statistics, every example, dedupe,
 * both kinds of split -> free. The harness checks the promises of
 * include/recur.h and aborts when one is broken: texts are NUL-terminated,
 * trimmed, non-empty, valid UTF-8 of at most RECUR_MAX_TEXT_BYTES bytes;
 * the label sizes add up; dedupe leaves no duplicate; a split is a
 * partition of the indices, each side increasing.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recur.h"

#define REQUIRE(cond)                                                            \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "fuzz_dataset: broken promise: %s (%s:%d)\n", #cond, \
                    __FILE__, __LINE__);                                         \
            abort();                                                             \
        }                                                                        \
    } while (0)

static char dir[64];
static char fuzz_path[96];

static void remove_dir(void)
{
    char p[96];
    snprintf(p, sizeof p, "%s/Alpha.txt", dir);
    unlink(p);
    unlink(fuzz_path);
    rmdir(dir);
}

static void write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* Memory-backed /dev/shm when there is one: three times the speed of a
     * disk-backed /tmp. */
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp || strlen(tmp) >= 40) tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/recur-fuzz-XXXXXX", tmp);
    if (!mkdtemp(dir)) {
        perror("fuzz_dataset: mkdtemp");
        exit(2);
    }
    atexit(remove_dir);
    char p[96];
    snprintf(p, sizeof p, "%s/Alpha.txt", dir);
    static const char alpha[] = "Abe\nBea\n\xc3\x89mile\n  Abe \r\n";
    write_file(p, alpha, sizeof alpha - 1);
    snprintf(fuzz_path, sizeof fuzz_path, "%s/Fuzz.txt", dir);
    return 0;
}

static int is_space_edge(const char *s, size_t len)
{
    /* ASCII white space at either end would have been trimmed. */
    const char *ws = " \t\n\v\f\r";
    return strchr(ws, s[0]) || strchr(ws, s[len - 1]);
}

static void check_split(const recur_dataset *ds, recur_split how, double frac, uint64_t seed)
{
    size_t *a = NULL, *b = NULL, na = 0, nb = 0, n = recur_dataset_size(ds);
    recur_error err;
    REQUIRE(recur_dataset_split(ds, frac, how, seed, &a, &na, &b, &nb, &err) == RECUR_OK);
    REQUIRE(na + nb == n);
    if (n >= 2) REQUIRE(na >= 1 && nb >= 1);
    unsigned char *seen = calloc(n ? n : 1, 1);
    REQUIRE(seen != NULL);
    for (size_t i = 0; i < na; i++) {
        REQUIRE(a[i] < n && !seen[a[i]]);
        REQUIRE(i == 0 || a[i] > a[i - 1]);
        seen[a[i]] = 1;
    }
    for (size_t i = 0; i < nb; i++) {
        REQUIRE(b[i] < n && !seen[b[i]]);
        REQUIRE(i == 0 || b[i] > b[i - 1]);
        seen[b[i]] = 2;
    }
    if (how == RECUR_SPLIT_STRATIFIED) { /* each label of 2 or more lines on both sides */
        for (int l = 0; l < recur_dataset_num_labels(ds); l++) {
            size_t on[3] = {0, 0, 0};
            for (size_t i = 0; i < n; i++)
                if (recur_dataset_label(ds, i) == l) on[seen[i]]++;
            if (recur_dataset_label_size(ds, l) >= 2) REQUIRE(on[1] >= 1 && on[2] >= 1);
        }
    }
    if (how == RECUR_SPLIT_DISTINCT) { /* equal texts never straddle the split */
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n && j < i + 64; j++) {
                size_t li, lj;
                const char *ti = recur_dataset_text(ds, i, &li), *tj = recur_dataset_text(ds, j, &lj);
                if (li == lj && memcmp(ti, tj, li) == 0) REQUIRE(seen[i] == seen[j]);
            }
    }
    free(seen);
    free(a);
    free(b);
}

static void check_examples(const recur_dataset *ds)
{
    size_t n = recur_dataset_size(ds);
    int L = recur_dataset_num_labels(ds);
    REQUIRE(L == 2);
    REQUIRE(strcmp(recur_dataset_label_name(ds, 0), "Alpha") == 0);
    REQUIRE(strcmp(recur_dataset_label_name(ds, 1), "Fuzz") == 0);
    REQUIRE(recur_dataset_label_name(ds, 2) == NULL);
    size_t sum = 0;
    for (int l = 0; l < L; l++) sum += recur_dataset_label_size(ds, l);
    REQUIRE(sum == n);
    recur_dataset_stats st;
    recur_dataset_stats_get(ds, &st);
    REQUIRE(st.lines == n);
    REQUIRE(st.distinct <= n && st.duplicates <= n && st.ambiguous <= st.distinct);
    size_t maxb = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        const char *t = recur_dataset_text(ds, i, &len);
        REQUIRE(t != NULL);
        REQUIRE(len >= 1 && len <= RECUR_MAX_TEXT_BYTES);
        REQUIRE(strlen(t) == len);
        REQUIRE(!is_space_edge(t, len));
        int label = recur_dataset_label(ds, i);
        REQUIRE(label >= 0 && label < L);
        REQUIRE(i == 0 || label >= recur_dataset_label(ds, i - 1));
        REQUIRE(recur_dataset_line(ds, i) >= 1);
        if (len > maxb) maxb = len;
    }
    REQUIRE(st.max_bytes == maxb);
    REQUIRE(recur_dataset_text(ds, n, NULL) == NULL && recur_dataset_label(ds, n) == -1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    write_file(fuzz_path, data, size);
    recur_dataset *ds = NULL;
    recur_error err;
    memset(&err, 0, sizeof err);
    recur_status s = recur_dataset_load(dir, &ds, &err);
    if (s != RECUR_OK) {
        REQUIRE(ds == NULL);
        REQUIRE(s == RECUR_ERR_DATA || s == RECUR_ERR_NOMEM);
        REQUIRE(memchr(err.message, '\0', sizeof err.message) != NULL);
        return 0;
    }
    check_examples(ds);
    recur_dataset_stats before;
    recur_dataset_stats_get(ds, &before);
    check_split(ds, RECUR_SPLIT_RANDOM, 0.2, size);
    check_split(ds, RECUR_SPLIT_DISTINCT, 0.5, 7);
    check_split(ds, RECUR_SPLIT_STRATIFIED, 0.3, size);
    REQUIRE(recur_dataset_dedupe(ds, &err) == RECUR_OK);
    recur_dataset_stats after;
    recur_dataset_stats_get(ds, &after);
    REQUIRE(after.duplicates == 0);
    REQUIRE(after.lines == before.lines - before.duplicates);
    REQUIRE(after.distinct == before.distinct && after.ambiguous == before.ambiguous);
    check_examples(ds);
    check_split(ds, RECUR_SPLIT_DISTINCT, 0.1, 3);
    recur_dataset_free(ds);
    return 0;
}
