/* Data sets: loading folders, errors, statistics, dedupe, splits, fetch. */
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zip.h>

#include "test.h"

/* A fresh empty folder under the test's temporary directory (name-<k>). */
static const char *new_dir(const char *name)
{
    static char path[8][512];
    static int k;
    char *p = path[k % 8];
    snprintf(p, sizeof path[0], "%s/%s-%d", test_tmpdir(), name, k++);
    if (mkdir(p, 0777) != 0) {
        perror(p);
        test_failures++;
    }
    return p;
}

static void put(const char *dir, const char *name, const char *data, size_t len)
{
    char path[600];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        test_failures++;
        return;
    }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        perror(path);
        test_failures++;
    }
    if (f) fclose(f);
}

static void puts_(const char *dir, const char *name, const char *text)
{
    put(dir, name, text, strlen(text));
}

/* Load must fail with `status` and a message holding `want`. */
static void expect_load_error(const char *dir, recur_status status, const char *want)
{
    recur_dataset *ds = (recur_dataset *)1;
    recur_error err = {0};
    recur_status st = recur_dataset_load(dir, &ds, &err);
    CHECK_MSG(st == status, "got %s: %s", recur_status_string(st), err.message);
    CHECK(ds == NULL);
    CHECK(err.status == status);
    CHECK_MSG(strstr(err.message, want), "'%s' lacks '%s'", err.message, want);
    CHECK(!strchr(err.message, '\n'));
}

static recur_dataset *load_ok(const char *dir)
{
    recur_dataset *ds = NULL;
    recur_error err = {0};
    CHECK_OK(recur_dataset_load(dir, &ds, &err), &err);
    return ds;
}

/* recur_dataset_load_opts: with a stop flag that is set, nothing is built
 * and the answer is RECUR_ERR_INTERRUPTED (what a SIGINT or SIGTERM
 * handler's flag does to a load under way); with one that is clear, the
 * same data set as recur_dataset_load. */
static void load_stops_when_asked(void)
{
    const char *d = new_dir("stop");
    enum { LINES = 20000 };
    char *text = malloc((size_t)LINES * 12);
    if (!text) return;
    size_t n = 0;
    for (int i = 0; i < LINES; i++) n += (size_t)sprintf(text + n, "Nm%d\n", i % 15000);
    put(d, "Many.txt", text, n);
    puts_(d, "Few.txt", "Ab\nCd\n");
    free(text);
    volatile sig_atomic_t flag = 1;
    recur_load_options lo = {&flag};
    recur_dataset *ds = (recur_dataset *)1;
    recur_error err = {0};
    recur_status st = recur_dataset_load_opts(d, &lo, &ds, &err);
    CHECK_MSG(st == RECUR_ERR_INTERRUPTED && ds == NULL && strstr(err.message, "interrupted"), "%s: %s",
              recur_status_string(st), err.message);
    flag = 0;
    CHECK_OK(recur_dataset_load_opts(d, &lo, &ds, &err), &err);
    recur_dataset *plain = load_ok(d);
    recur_dataset_stats a, b;
    recur_dataset_stats_get(ds, &a);
    recur_dataset_stats_get(plain, &b);
    CHECK(ds && plain && memcmp(&a, &b, sizeof a) == 0 && a.lines == LINES + 2 && a.distinct == 15002 &&
          a.duplicates == 5000);
    recur_dataset_free(ds);
    CHECK_OK(recur_dataset_load_opts(d, NULL, &ds, &err), &err);
    CHECK(recur_dataset_size(ds) == LINES + 2);
    recur_dataset_free(ds);
    recur_dataset_free(plain);
}

static void folder_errors(void)
{
    char missing[600];
    snprintf(missing, sizeof missing, "%s/no-such-folder", test_tmpdir());
    expect_load_error(missing, RECUR_ERR_IO, "no-such-folder");
    const char *d = new_dir("notdir");
    puts_(d, "file.txt", "x\n");
    char file[600];
    snprintf(file, sizeof file, "%s/file.txt", d);
    expect_load_error(file, RECUR_ERR_IO, "not a folder");
    d = new_dir("empty");
    expect_load_error(d, RECUR_ERR_DATA, "no .txt files");
    /* Other files, hidden files and folders named *.txt do not count. */
    puts_(d, "README.md", "hello\n");
    puts_(d, ".hidden.txt", "hello\n");
    char sub[600];
    snprintf(sub, sizeof sub, "%s/folder.txt", d);
    CHECK(mkdir(sub, 0777) == 0);
    expect_load_error(d, RECUR_ERR_DATA, "no .txt files");
    recur_error err = {0};
    recur_dataset *ds = (recur_dataset *)1;
    CHECK(recur_dataset_load(NULL, &ds, &err) == RECUR_ERR_ARG && ds == NULL);
    CHECK(recur_dataset_load(d, NULL, &err) == RECUR_ERR_ARG);
}

static void file_errors_name_file_and_line(void)
{
    const char *d = new_dir("emptyfile");
    puts_(d, "A.txt", "Anna\n");
    puts_(d, "B.txt", "");
    expect_load_error(d, RECUR_ERR_DATA, "B.txt: no names");
    d = new_dir("blankfile");
    puts_(d, "A.txt", "Anna\n");
    puts_(d, "Blank.txt", "\n  \r\n\t\n");
    expect_load_error(d, RECUR_ERR_DATA, "Blank.txt: no names");
    d = new_dir("badutf8");
    puts_(d, "Arabic.txt", "Nader\n");
    /* line 3 starts at byte 11; the bad byte is 2 further */
    puts_(d, "Greek.txt", "Alexis\nIon\nPa\xff" "pas\nZeno\n");
    expect_load_error(d, RECUR_ERR_DATA, "Greek.txt:3: invalid UTF-8 at byte offset 13");
    d = new_dir("badutf8b");
    puts_(d, "Greek.txt", "Alexis\n\xce\xb1\xce\n");
    expect_load_error(d, RECUR_ERR_DATA, "Greek.txt:2: invalid UTF-8 at byte offset 9");
    d = new_dir("overlong");
    char big[RECUR_MAX_TEXT_BYTES + 20];
    memset(big, 'x', sizeof big);
    memcpy(big, "ok\n", 3);
    big[3 + RECUR_MAX_TEXT_BYTES + 1] = '\n';
    put(d, "Long.txt", big, 3 + RECUR_MAX_TEXT_BYTES + 2);
    expect_load_error(d, RECUR_ERR_DATA, "Long.txt:2: line of 1025 bytes");
    /* Exactly the limit is fine, even with padding to trim. */
    d = new_dir("atlimit");
    memset(big, 'y', sizeof big);
    big[0] = ' ';
    big[RECUR_MAX_TEXT_BYTES + 1] = '\r';
    big[RECUR_MAX_TEXT_BYTES + 2] = '\n';
    put(d, "Long.txt", big, RECUR_MAX_TEXT_BYTES + 3);
    recur_dataset *ds = load_ok(d);
    recur_dataset_stats st;
    recur_dataset_stats_get(ds, &st);
    CHECK(ds && st.max_bytes == RECUR_MAX_TEXT_BYTES);
    recur_dataset_free(ds);
    d = new_dir("nul");
    put(d, "Nul.txt", "ab\ncd\0e\n", 8);
    expect_load_error(d, RECUR_ERR_DATA, "Nul.txt:2: NUL byte at byte offset 5");
}

static void crlf_blank_lines_and_trimming(void)
{
    const char *d = new_dir("crlf");
    /* BOM, CRLF, padding, blank lines, NBSP and ideographic space at the
     * ends, a last line with no newline. */
    puts_(d, "Win.txt",
          "\xef\xbb\xbf" "Anna\r\n  Bob \r\n\r\n\tCarl\n\xc2\xa0" "Dora\xe3\x80\x80\r\n \n"
          "Eve Marie\r");
    recur_dataset *ds = load_ok(d);
    if (!ds) return;
    const char *want[] = {"Anna", "Bob", "Carl", "Dora", "Eve Marie"};
    size_t lines[] = {1, 2, 4, 5, 7};
    CHECK(recur_dataset_size(ds) == 5);
    for (size_t i = 0; i < 5 && i < recur_dataset_size(ds); i++) {
        size_t len = 0;
        const char *t = recur_dataset_text(ds, i, &len);
        CHECK_MSG(t && strcmp(t, want[i]) == 0 && len == strlen(want[i]), "text %zu: '%s'", i, t);
        CHECK(recur_dataset_line(ds, i) == lines[i]);
        CHECK(recur_dataset_label(ds, i) == 0);
    }
    recur_dataset_stats st;
    recur_dataset_stats_get(ds, &st);
    CHECK(st.lines == 5 && st.empty == 2 && st.max_bytes == 9);
    CHECK(recur_dataset_text(ds, 5, NULL) == NULL);
    CHECK(recur_dataset_label(ds, 5) == -1);
    CHECK(recur_dataset_line(ds, 5) == 0);
    CHECK(recur_dataset_label_name(ds, 1) == NULL && recur_dataset_label_size(ds, -1) == 0);
    recur_dataset_free(ds);
}

/*
 * A: x y x z     B: x w w     C: y     b: v
 * duplicates: A's second x, B's second w = 2; distinct x y z w v = 5;
 * ambiguous: x (A, B), y (A, C) = 2.
 */
static const char *tiny_folder(void)
{
    const char *d = new_dir("tiny");
    puts_(d, "b.txt", "v\n");
    puts_(d, "A.txt", "x\ny\n\nx\nzz\n");
    puts_(d, "C.txt", "y");
    puts_(d, "B.txt", "x\nwww\nwww\n");
    puts_(d, "notes.md", "not a label\n");
    return d;
}

static void tiny_folder_stats(void)
{
    recur_dataset *ds = load_ok(tiny_folder());
    if (!ds) return;
    CHECK(recur_dataset_num_labels(ds) == 4);
    const char *names[] = {"A", "B", "C", "b"}; /* bytewise: upper case first */
    size_t sizes[] = {4, 3, 1, 1};
    for (int l = 0; l < 4; l++) {
        CHECK(strcmp(recur_dataset_label_name(ds, l), names[l]) == 0);
        CHECK(recur_dataset_label_size(ds, l) == sizes[l]);
    }
    recur_dataset_stats st;
    recur_dataset_stats_get(ds, &st);
    CHECK(st.lines == 9 && recur_dataset_size(ds) == 9);
    CHECK(st.empty == 1);
    CHECK(st.duplicates == 2);
    CHECK(st.distinct == 5);
    CHECK(st.ambiguous == 2);
    CHECK(st.max_bytes == 3);
    CHECK(strcmp(recur_dataset_text(ds, 3, NULL), "zz") == 0 && recur_dataset_line(ds, 3) == 5);
    CHECK(recur_dataset_label(ds, 4) == 1 && recur_dataset_label(ds, 8) == 3);
    recur_dataset_stats_get(NULL, &st);
    CHECK(st.lines == 0);
    recur_dataset_free(ds);
}

static void dedupe_keeps_first(void)
{
    recur_dataset *ds = load_ok(tiny_folder());
    if (!ds) return;
    recur_error err = {0};
    CHECK_OK(recur_dataset_dedupe(ds, &err), &err);
    recur_dataset_stats st;
    recur_dataset_stats_get(ds, &st);
    CHECK(recur_dataset_size(ds) == 7 && st.lines == 7);
    CHECK(st.duplicates == 0 && st.distinct == 5 && st.ambiguous == 2 && st.empty == 1);
    CHECK(recur_dataset_label_size(ds, 0) == 3 && recur_dataset_label_size(ds, 1) == 2);
    const char *want[] = {"x", "y", "zz", "x", "www", "y", "v"};
    size_t lines[] = {1, 2, 5, 1, 2, 1, 1};
    for (size_t i = 0; i < 7; i++) {
        CHECK(strcmp(recur_dataset_text(ds, i, NULL), want[i]) == 0);
        CHECK(recur_dataset_line(ds, i) == lines[i]);
    }
    CHECK_OK(recur_dataset_dedupe(ds, &err), &err); /* idempotent */
    CHECK(recur_dataset_size(ds) == 7);
    CHECK(recur_dataset_dedupe(NULL, &err) == RECUR_ERR_ARG);
    recur_dataset_free(ds);
}

/* 300 lines over 3 labels with many repeated spellings. */
static const char *repeats_folder(void)
{
    const char *d = new_dir("repeats");
    char buf[8192];
    for (int l = 0; l < 3; l++) {
        size_t k = 0;
        for (int i = 0; i < 100; i++)
            k += (size_t)snprintf(buf + k, sizeof buf - k, "name%d\n", (i * 7 + l * 13) % 37);
        char name[32];
        snprintf(name, sizeof name, "L%d.txt", l);
        put(d, name, buf, k);
    }
    return d;
}

/* Both lists ascending, disjoint and together 0..n-1. */
static void check_partition(const size_t *a, size_t na, const size_t *b, size_t nb, size_t n)
{
    CHECK(na + nb == n);
    unsigned char *seen = calloc(n, 1);
    for (size_t i = 0; i < na; i++) {
        CHECK(a[i] < n && !seen[a[i]]);
        if (a[i] < n) seen[a[i]] = 1;
        if (i) CHECK(a[i - 1] < a[i]);
    }
    for (size_t i = 0; i < nb; i++) {
        CHECK(b[i] < n && !seen[b[i]]);
        if (b[i] < n) seen[b[i]] = 1;
        if (i) CHECK(b[i - 1] < b[i]);
    }
    free(seen);
}

typedef struct tagged { const char *text; int side; } tagged;

static int cmp_tagged(const void *a, const void *b)
{
    return strcmp(((const tagged *)a)->text, ((const tagged *)b)->text);
}

/* How many distinct texts occur on both sides (sort, then compare neighbours). */
static size_t shared_spellings(const recur_dataset *ds, const size_t *train, size_t ntr,
                               const size_t *test, size_t nte)
{
    tagged *t = malloc((ntr + nte + 1) * sizeof *t);
    for (size_t i = 0; i < ntr; i++) t[i] = (tagged){recur_dataset_text(ds, train[i], NULL), 0};
    for (size_t i = 0; i < nte; i++) t[ntr + i] = (tagged){recur_dataset_text(ds, test[i], NULL), 1};
    qsort(t, ntr + nte, sizeof *t, cmp_tagged);
    size_t shared = 0;
    for (size_t i = 0; i < ntr + nte;) {
        size_t j = i;
        int sides = 0;
        while (j < ntr + nte && strcmp(t[j].text, t[i].text) == 0) sides |= 1 << t[j++].side;
        shared += sides == 3;
        i = j;
    }
    free(t);
    return shared;
}

static void split_random(void)
{
    recur_dataset *ds = load_ok(repeats_folder());
    if (!ds) return;
    recur_error err = {0};
    size_t n = recur_dataset_size(ds);
    size_t *tr = NULL, *te = NULL, *tr2 = NULL, *te2 = NULL, ntr = 0, nte = 0, ntr2, nte2;
    CHECK_OK(recur_dataset_split(ds, 0.2, 0, 42, &tr, &ntr, &te, &nte, &err), &err);
    CHECK(nte == 60 && ntr == 240);
    check_partition(tr, ntr, te, nte, n);
    CHECK_OK(recur_dataset_split(ds, 0.2, 0, 42, &tr2, &ntr2, &te2, &nte2, &err), &err);
    CHECK(nte2 == nte && memcmp(te, te2, nte * sizeof *te) == 0);
    free(tr2);
    free(te2);
    CHECK_OK(recur_dataset_split(ds, 0.2, 0, 43, &tr2, &ntr2, &te2, &nte2, &err), &err);
    CHECK(nte2 == nte && memcmp(te, te2, nte * sizeof *te) != 0);
    /* A random split of repeated names shares spellings. */
    CHECK(shared_spellings(ds, tr, ntr, te, nte) > 0);
    free(tr);
    free(te);
    free(tr2);
    free(te2);
    CHECK_OK(recur_dataset_split(ds, 0.1234, 0, 1, &tr, &ntr, &te, &nte, &err), &err);
    CHECK(nte == 37 && ntr == 263); /* round(37.02) */
    free(tr);
    free(te);
    CHECK_OK(recur_dataset_split(ds, 1e-9, 0, 1, &tr, &ntr, &te, &nte, &err), &err);
    CHECK(nte == 1 && ntr == 299); /* neither side empty */
    free(tr);
    free(te);
    double bad[] = {0.0, 1.0, -0.5, 1.5, NAN};
    for (int i = 0; i < 5; i++) {
        tr = te = (size_t *)1;
        CHECK(recur_dataset_split(ds, bad[i], i & 1, 1, &tr, &ntr, &te, &nte, &err) == RECUR_ERR_ARG);
        CHECK(err.status == RECUR_ERR_ARG && tr == NULL && te == NULL);
    }
    CHECK(recur_dataset_split(NULL, 0.5, 0, 1, &tr, &ntr, &te, &nte, &err) == RECUR_ERR_ARG);
    CHECK(recur_dataset_split(ds, 0.5, 0, 1, NULL, &ntr, &te, &nte, &err) == RECUR_ERR_ARG);
    recur_dataset_free(ds);
}

/* Labels of 1, 2, 3, 74 and 1,000 lines: each gives round(0.15 n) to test,
 * at least 1 and at most n - 1 from 2 lines up; a single line stays. */
static void split_stratified(void)
{
    const char *d = new_dir("stratified");
    const int sizes[] = {1, 2, 3, 74, 1000}, expect[] = {0, 1, 1, 11, 150};
    static char buf[16384];
    for (int l = 0; l < 5; l++) {
        size_t k = 0;
        for (int i = 0; i < sizes[l]; i++) k += (size_t)snprintf(buf + k, sizeof buf - k, "n%d_%d\n", l, i);
        char name[32];
        snprintf(name, sizeof name, "S%d.txt", l);
        put(d, name, buf, k);
    }
    recur_dataset *ds = load_ok(d);
    if (!ds) return;
    recur_error err = {0};
    size_t n = recur_dataset_size(ds), *tr, *te, ntr, nte, *tr2, *te2, ntr2, nte2;
    CHECK_OK(recur_dataset_split(ds, 0.15, RECUR_SPLIT_STRATIFIED, 9, &tr, &ntr, &te, &nte, &err), &err);
    check_partition(tr, ntr, te, nte, n);
    int got[5] = {0};
    for (size_t i = 0; i < nte; i++) got[recur_dataset_label(ds, te[i])]++;
    for (int l = 0; l < 5; l++) CHECK_MSG(got[l] == expect[l], "label %d: %d test lines", l, got[l]);
    CHECK_OK(recur_dataset_split(ds, 0.15, RECUR_SPLIT_STRATIFIED, 9, &tr2, &ntr2, &te2, &nte2, &err), &err);
    CHECK(nte2 == nte && memcmp(te, te2, nte * sizeof *te) == 0);
    free(tr2);
    free(te2);
    CHECK_OK(recur_dataset_split(ds, 0.15, RECUR_SPLIT_STRATIFIED, 10, &tr2, &ntr2, &te2, &nte2, &err), &err);
    CHECK(nte2 == nte && memcmp(te, te2, nte * sizeof *te) != 0);
    free(tr2);
    free(te2);
    free(tr);
    free(te);
    tr = te = (size_t *)1;
    CHECK(recur_dataset_split(ds, 0.15, (recur_split)3, 9, &tr, &ntr, &te, &nte, &err) == RECUR_ERR_ARG);
    CHECK(tr == NULL && te == NULL);
    recur_dataset_free(ds);
    /* Every label a single line: one of them is held out all the same. */
    d = new_dir("singletons");
    put(d, "A.txt", "a\n", 2);
    put(d, "B.txt", "b\n", 2);
    put(d, "C.txt", "c\n", 2);
    ds = load_ok(d);
    if (!ds) return;
    CHECK_OK(recur_dataset_split(ds, 0.15, RECUR_SPLIT_STRATIFIED, 1, &tr, &ntr, &te, &nte, &err), &err);
    CHECK(nte == 1 && ntr == 2);
    check_partition(tr, ntr, te, nte, 3);
    free(tr);
    free(te);
    recur_dataset_free(ds);
}

static void split_by_distinct(void)
{
    recur_dataset *ds = load_ok(repeats_folder());
    if (!ds) return;
    recur_error err = {0};
    size_t n = recur_dataset_size(ds);
    for (uint64_t seed = 1; seed <= 20; seed++) {
        size_t *tr = NULL, *te = NULL, *tr2 = NULL, *te2 = NULL, ntr = 0, nte = 0, ntr2, nte2;
        CHECK_OK(recur_dataset_split(ds, 0.25, 1, seed, &tr, &ntr, &te, &nte, &err), &err);
        check_partition(tr, ntr, te, nte, n);
        CHECK(shared_spellings(ds, tr, ntr, te, nte) == 0);
        /* At least the target, over by less than one group (<= 9 lines each). */
        CHECK_MSG(nte >= 75 && nte < 75 + 9, "test size %zu", nte);
        CHECK_OK(recur_dataset_split(ds, 0.25, 1, seed, &tr2, &ntr2, &te2, &nte2, &err), &err);
        CHECK(nte2 == nte && ntr2 == ntr && memcmp(te, te2, nte * sizeof *te) == 0);
        free(tr);
        free(te);
        free(tr2);
        free(te2);
    }
    size_t *a, *b, *c, *d, na, nb, nc, nd;
    CHECK_OK(recur_dataset_split(ds, 0.25, 1, 5, &a, &na, &b, &nb, &err), &err);
    CHECK_OK(recur_dataset_split(ds, 0.25, 1, 6, &c, &nc, &d, &nd, &err), &err);
    CHECK(nb != nd || memcmp(b, d, nb * sizeof *b) != 0);
    free(a);
    free(b);
    free(c);
    free(d);
    /* Nearly everything to test still leaves a spelling for training. */
    CHECK_OK(recur_dataset_split(ds, 0.999, 1, 5, &a, &na, &b, &nb, &err), &err);
    CHECK(na > 0 && nb > 0 && shared_spellings(ds, a, na, b, nb) == 0);
    free(a);
    free(b);
    recur_dataset_free(ds);
}

static void real_names_data(void)
{
    const char *dir = test_data_dir();
    if (!dir) {
        test_skip("RECUR_DATA not set");
        return;
    }
    recur_dataset *ds = load_ok(dir);
    if (!ds) return;
    recur_dataset_stats st;
    recur_dataset_stats_get(ds, &st);
    CHECK(recur_dataset_size(ds) == 20074 && st.lines == 20074);
    CHECK(recur_dataset_num_labels(ds) == 18);
    CHECK(strcmp(recur_dataset_label_name(ds, 0), "Arabic") == 0);
    CHECK(strcmp(recur_dataset_label_name(ds, 17), "Vietnamese") == 0);
    CHECK(recur_dataset_label_size(ds, 0) == 2000);
    CHECK(recur_dataset_label_size(ds, 14) == 9408); /* Russian */
    CHECK_MSG(st.empty == 0, "%zu", st.empty);
    CHECK_MSG(st.distinct == 17453, "%zu", st.distinct);
    CHECK_MSG(st.ambiguous == 469, "%zu", st.ambiguous);
    CHECK_MSG(st.duplicates == 2059, "%zu", st.duplicates);
    CHECK_MSG(st.max_bytes == 20, "%zu", st.max_bytes);

    /* Every name encodes; the tutorial's letters miss 41 symbols in 39 names;
     * the Unicode vocabulary of all names has 87 symbols. */
    recur_vocab *a = NULL, *u = NULL;
    recur_error err = {0};
    CHECK_OK(recur_vocab_create(RECUR_TEXT_ASCII, &a, &err), &err);
    CHECK_OK(recur_vocab_create(RECUR_TEXT_UNICODE, &u, &err), &err);
    size_t unknown = 0, with_unknown = 0;
    for (size_t i = 0; i < recur_dataset_size(ds); i++) {
        size_t len, n = 0, k = 0;
        const char *t = recur_dataset_text(ds, i, &len);
        int32_t ids[RECUR_MAX_TEXT_BYTES];
        CHECK_OK(recur_vocab_add(u, t, len, &err), &err);
        CHECK_OK(recur_vocab_encode(a, t, len, ids, RECUR_MAX_TEXT_BYTES, &n, &err), &err);
        for (size_t j = 0; j < n; j++) k += ids[j] == RECUR_TOKEN_UNKNOWN;
        unknown += k;
        with_unknown += k > 0;
    }
    CHECK_MSG(unknown == 41 && with_unknown == 39, "%zu in %zu", unknown, with_unknown);
    CHECK_MSG(recur_vocab_size(u) == 89, "%d", recur_vocab_size(u));
    recur_vocab_free(a);
    recur_vocab_free(u);

    /* A split by spelling shares none; a random one shares many. */
    size_t *tr, *te, ntr, nte;
    CHECK_OK(recur_dataset_split(ds, 0.1, 1, 7, &tr, &ntr, &te, &nte, &err), &err);
    CHECK_MSG(nte >= 2007 && nte < 2100 && ntr + nte == 20074, "%zu", nte);
    CHECK(shared_spellings(ds, tr, ntr, te, nte) == 0);
    free(tr);
    free(te);
    CHECK_OK(recur_dataset_split(ds, 0.1, 0, 7, &tr, &ntr, &te, &nte, &err), &err);
    CHECK(nte == 2007 && ntr == 18067);
    CHECK(shared_spellings(ds, tr, ntr, te, nte) > 100);
    free(tr);
    free(te);
    /* Stratified: Portuguese (74 lines) gives 7, Arabic 200, Russian 941. */
    CHECK_OK(recur_dataset_split(ds, 0.1, RECUR_SPLIT_STRATIFIED, 7, &tr, &ntr, &te, &nte, &err), &err);
    size_t by_label[18] = {0};
    for (size_t i = 0; i < nte; i++) by_label[recur_dataset_label(ds, te[i])]++;
    for (int l = 0; l < recur_dataset_num_labels(ds) && l < 18; l++) {
        size_t want = (size_t)floor(0.1 * (double)recur_dataset_label_size(ds, l) + 0.5);
        CHECK_MSG(by_label[l] == want, "%s: %zu of %zu", recur_dataset_label_name(ds, l), by_label[l],
                  recur_dataset_label_size(ds, l));
    }
    CHECK(ntr + nte == 20074);
    free(tr);
    free(te);

    /* Arabic: 2,000 lines but 108 distinct names. */
    CHECK_OK(recur_dataset_dedupe(ds, &err), &err);
    CHECK_MSG(recur_dataset_label_size(ds, 0) == 108, "%zu", recur_dataset_label_size(ds, 0));
    CHECK(recur_dataset_size(ds) == 20074 - 2059);
    recur_dataset_free(ds);
}

/* ------------------------------------------------------------------------ */
/* Fetch                                                                     */
/* ------------------------------------------------------------------------ */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void fetch_returns_prepopulated_cache(void)
{
    const char *cache = new_dir("cache-full");
    char p[600];
    snprintf(p, sizeof p, "%s/data", cache);
    CHECK(mkdir(p, 0777) == 0);
    snprintf(p, sizeof p, "%s/data/names", cache);
    CHECK(mkdir(p, 0777) == 0);
    puts_(p, "Czech.txt", "Novak\n");
    setenv("RECUR_DATA_URL", "http://127.0.0.1:9/", 1); /* would fail if used */
    char out[600];
    recur_error err = {0};
    CHECK_OK(recur_fetch_names(cache, out, sizeof out, &err), &err);
    CHECK(strcmp(out, p) == 0);
    CHECK(recur_fetch_names(cache, out, 5, &err) == RECUR_ERR_ARG);
    CHECK(recur_fetch_names(NULL, out, sizeof out, &err) == RECUR_ERR_ARG);
    CHECK(recur_fetch_names(cache, NULL, 10, &err) == RECUR_ERR_ARG);
    unsetenv("RECUR_DATA_URL");
}

static void fetch_unreachable_fails_fast(void)
{
    char cache[600];
    snprintf(cache, sizeof cache, "%s/cache-net/sub", test_tmpdir());
    setenv("RECUR_DATA_URL", "http://127.0.0.1:9/data.zip", 1);
    char out[600] = "junk";
    recur_error err = {0};
    double t0 = now();
    recur_status st = recur_fetch_names(cache, out, sizeof out, &err);
    double secs = now() - t0;
    unsetenv("RECUR_DATA_URL");
    CHECK_MSG(st == RECUR_ERR_NETWORK, "%s: %s", recur_status_string(st), err.message);
    CHECK(err.status == RECUR_ERR_NETWORK);
    CHECK_MSG(strstr(err.message, "could not download http://127.0.0.1:9/data.zip: "), "%s",
              err.message);
    CHECK(!strchr(err.message, '\n'));
    CHECK(out[0] == '\0');
    CHECK_MSG(secs < 10, "%.1f s", secs);
    /* Nothing half-written is left behind. */
    char p[700];
    snprintf(p, sizeof p, "%s/data.zip", cache);
    CHECK(access(p, F_OK) != 0);
}

/* Write a zip holding the given (name, content) pairs. */
static int make_zip(const char *path, const char *const *entries, int n)
{
    int zerr = 0;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    if (!z) return 0;
    for (int i = 0; i < n; i++) {
        const char *name = entries[2 * i], *data = entries[2 * i + 1];
        if (!data) {
            if (zip_dir_add(z, name, ZIP_FL_ENC_UTF_8) < 0) return zip_discard(z), 0;
            continue;
        }
        zip_source_t *s = zip_source_buffer(z, data, strlen(data), 0);
        if (!s || zip_file_add(z, name, s, ZIP_FL_ENC_UTF_8) < 0) {
            zip_source_free(s);
            zip_discard(z);
            return 0;
        }
    }
    return zip_close(z) == 0;
}

static void fetch_downloads_and_unpacks(void)
{
    /* A file:// URL stands in for the server: the whole path runs offline. */
    const char *src = new_dir("zipsrc");
    char zip[600], url[700];
    snprintf(zip, sizeof zip, "%s/data.zip", src);
    const char *entries[] = {
        "data/", NULL,
        "data/eng-fra.txt", "Go.\tVa !\n",
        "data/names/", NULL,
        "data/names/Irish.txt", "Aodh\nBrady\n",
        "data/names/Korean.txt", "Ahn\n",
    };
    CHECK(make_zip(zip, entries, 5));
    snprintf(url, sizeof url, "file://%s", zip);
    setenv("RECUR_DATA_URL", url, 1);
    char cache[600], out[700], want[700], p[700];
    snprintf(cache, sizeof cache, "%s/cache-dl", test_tmpdir());
    recur_error err = {0};
    CHECK_OK(recur_fetch_names(cache, out, sizeof out, &err), &err);
    snprintf(want, sizeof want, "%s/data/names", cache);
    CHECK(strcmp(out, want) == 0);
    recur_dataset *ds = load_ok(out);
    CHECK(ds && recur_dataset_size(ds) == 3 && recur_dataset_num_labels(ds) == 2);
    recur_dataset_free(ds);
    snprintf(p, sizeof p, "%s/data/eng-fra.txt", cache);
    CHECK(access(p, R_OK) == 0);
    snprintf(p, sizeof p, "%s/data.zip", cache);
    CHECK(access(p, R_OK) == 0);
    unsetenv("RECUR_DATA_URL");
}

static void fetch_rejects_unsafe_archives(void)
{
    const char *src = new_dir("zipbad");
    char zip[600], url[700], cache[600], out[700], p[700];
    snprintf(zip, sizeof zip, "%s/evil.zip", src);
    const char *entries[] = {
        "data/names/Irish.txt", "Aodh\n",
        "data/names/../../../escaped.txt", "gotcha\n",
    };
    CHECK(make_zip(zip, entries, 2));
    snprintf(url, sizeof url, "file://%s", zip);
    setenv("RECUR_DATA_URL", url, 1);
    snprintf(cache, sizeof cache, "%s/cache-evil", test_tmpdir());
    recur_error err = {0};
    recur_status st = recur_fetch_names(cache, out, sizeof out, &err);
    CHECK_MSG(st == RECUR_ERR_DATA && strstr(err.message, "unsafe path"), "%s", err.message);
    snprintf(p, sizeof p, "%s/escaped.txt", cache); /* where "../" x3 leads */
    CHECK(access(p, F_OK) != 0);
    snprintf(p, sizeof p, "%s/escaped.txt", test_tmpdir());
    CHECK(access(p, F_OK) != 0);
    snprintf(p, sizeof p, "%s/data/names", cache);
    CHECK(access(p, F_OK) != 0);
    snprintf(p, sizeof p, "%s/data.zip", cache);
    CHECK(access(p, F_OK) != 0); /* removed: the next call downloads again */

    const char *abs_entries[] = {"/tmp/recur-absolute.txt", "x\n"};
    CHECK(make_zip(zip, abs_entries, 1));
    st = recur_fetch_names(cache, out, sizeof out, &err);
    CHECK_MSG(st == RECUR_ERR_DATA && strstr(err.message, "unsafe path"), "%s", err.message);

    /* Not a zip at all. */
    put(src, "evil.zip", "this is not a zip archive\n", 26);
    st = recur_fetch_names(cache, out, sizeof out, &err);
    CHECK_MSG(st == RECUR_ERR_DATA && strstr(err.message, "zip"), "%s", err.message);

    /* A zip without data/names. */
    const char *other[] = {"data/eng-fra.txt", "Go.\tVa !\n"};
    CHECK(make_zip(zip, other, 1));
    st = recur_fetch_names(cache, out, sizeof out, &err);
    CHECK_MSG(st == RECUR_ERR_DATA && strstr(err.message, "data/names"), "%s", err.message);
    unsetenv("RECUR_DATA_URL");
}

const test_case tests_dataset[] = {
    {"folder_errors", folder_errors},
    {"file_errors_name_file_and_line", file_errors_name_file_and_line},
    {"crlf_blank_lines_and_trimming", crlf_blank_lines_and_trimming},
    {"load_stops_when_asked", load_stops_when_asked},
    {"tiny_folder_stats", tiny_folder_stats},
    {"dedupe_keeps_first", dedupe_keeps_first},
    {"split_random", split_random},
    {"split_by_distinct", split_by_distinct},
    {"split_stratified", split_stratified},
    {"real_names_data", real_names_data},
    {"fetch_returns_prepopulated_cache", fetch_returns_prepopulated_cache},
    {"fetch_unreachable_fails_fast", fetch_unreachable_fails_fast},
    {"fetch_downloads_and_unpacks", fetch_downloads_and_unpacks},
    {"fetch_rejects_unsafe_archives", fetch_rejects_unsafe_archives},
    {NULL, NULL},
};
