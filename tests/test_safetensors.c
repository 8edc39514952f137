/* The safetensors container: round trips, atomic writes, and a reader that
 * rejects every kind of damaged file with RECUR_ERR_FORMAT and a clear line. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/rng.h"
#include "io/safetensors.h"
#include "test.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

/* A fresh sub-folder of the test folder. */
static const char *subdir(const char *name)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", test_tmpdir(), name);
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
        perror(buf);
        exit(2);
    }
    return buf;
}

static unsigned char *read_bytes(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc(n > 0 ? (size_t)n : 1);
    *len = fread(b, 1, (size_t)n, fp);
    fclose(fp);
    return b;
}

static int write_bytes(const char *path, const void *b, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    size_t k = fwrite(b, 1, n, fp);
    return (fclose(fp) == 0 && k == n) ? 0 : -1;
}

/* Names in a folder containing `part` (0 when none). */
static int count_files_with(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, part)) n++;
    closedir(d);
    return n;
}

/* A file made of an 8-byte length, `json` verbatim and `dlen` data bytes. */
static unsigned char *raw_file(const char *json, const void *data, size_t dlen, size_t *len)
{
    size_t h = strlen(json);
    *len = 8 + h + dlen;
    unsigned char *b = malloc(*len);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, json, h);
    if (dlen) memcpy(b + 8 + h, data, dlen);
    return b;
}

/* Parse a hand-made file and require RECUR_ERR_FORMAT with `part` in the
 * message (which must also start with the name). */
static void expect_bad_raw(const unsigned char *b, size_t len, const char *part, int line)
{
    st_file *f = NULL;
    recur_error err = {0};
    recur_status st = st_parse(b, len, "bad.safetensors", &f, &err);
    if (st != RECUR_ERR_FORMAT || !strstr(err.message, part) ||
        strncmp(err.message, "bad.safetensors: ", 17) != 0 || f) {
        fprintf(stderr, "    line %d: status %s, message \"%s\", wanted \"%s\"\n", line,
                recur_status_string(st), err.message, part);
        test_failures++;
    }
    st_free(f);
}

static void expect_bad_line(const char *json, const void *data, size_t dlen,
                            const char *part, int line)
{
    size_t len;
    unsigned char *b = raw_file(json, data, dlen, &len);
    expect_bad_raw(b, len, part, line);
    free(b);
}
#define EXPECT_BAD(json, data, dlen, part) expect_bad_line(json, data, dlen, part, __LINE__)

static const unsigned char zeros[64];

/* A valid entry "x": F32 [2] at [0, 8]. */
#define GOOD_X "\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"

/* The tensors used by the round trip and the damage tests. */
static float f32a[6] = {1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e30f};
static double f64a[4] = {1.0 / 3.0, -1e-300, 2.0, 42.0};
static int32_t i32a[1] = {-7};
static int64_t i64a[3] = {INT64_MIN, -1, INT64_MAX};
static uint8_t u8a[5] = {0, 1, 254, 255, 7};
static float f32b[1] = {9.0f};

static int sample_tensors(st_out *t)
{
    memset(t, 0, 7 * sizeof *t);
    t[0] = (st_out){"embed.weight", ST_F32, 2, {2, 3}, f32a};
    t[1] = (st_out){"doubles", ST_F64, 1, {4}, f64a};
    t[2] = (st_out){"scalar", ST_I32, 0, {0}, i32a};
    t[3] = (st_out){"longs", ST_I64, 1, {3}, i64a};
    t[4] = (st_out){"empty", ST_I64, 2, {3, 0}, NULL};
    t[5] = (st_out){"bytes", ST_U8, 1, {5}, u8a}; /* odd size: next is misaligned */
    t[6] = (st_out){"deep.\xc3\xa9", ST_F32, 8, {1, 1, 1, 1, 1, 1, 1, 1}, f32b};
    return 7;
}

static const char *const sample_meta[] = {
    "format", "recur-model",
    "vocab", "[\"a\",\"\\u00e9\",\"\\\"\"]",
    "user.note", "tabs\tand\nnewlines \"quoted\" \\ back \xe2\x82\xac",
    "recur.crc32", "deadbeef", /* replaced by the writer */
};

/* Write the sample file to path. */
static void write_sample(const char *path)
{
    st_out t[7];
    int n = sample_tensors(t);
    recur_error err = {0};
    CHECK_OK(st_write(path, t, n, sample_meta, 4, &err), &err);
}

/* ------------------------------------------------------------------------ */
/* CRC and round trips                                                       */
/* ------------------------------------------------------------------------ */

static void crc32_matches_zlib(void)
{
    CHECK(st_crc32("123456789", 9, 0) == 0xcbf43926u);
    CHECK(st_crc32("", 0, 0) == 0);
    CHECK(st_crc32("a", 1, 0) == 0xe8b7be43u);
    uint32_t c = st_crc32("12345", 5, 0);
    CHECK(st_crc32("6789", 4, c) == 0xcbf43926u);
}

static void round_trip_every_dtype(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/round.safetensors", subdir("round"));
    write_sample(path);
    st_out t[7];
    int n = sample_tensors(t);

    st_file *f = NULL;
    recur_error err = {0};
    CHECK_OK(st_read(path, &f, &err), &err);
    if (!f) return;
    CHECK(st_count(f) == n);
    CHECK(strcmp(st_what(f), path) == 0);
    for (int i = 0; i < n; i++) {
        const st_tensor *g = st_get(f, i); /* header order = the order given */
        CHECK(g && strcmp(g->name, t[i].name) == 0);
        if (!g) continue;
        CHECK(st_find(f, t[i].name) == g);
        CHECK(g->dtype == t[i].dtype);
        CHECK(g->ndim == t[i].ndim);
        size_t count = 1;
        for (int d = 0; d < g->ndim; d++) {
            CHECK(g->shape[d] == t[i].shape[d]);
            count *= (size_t)t[i].shape[d];
        }
        CHECK(g->nbytes == count * st_dtype_size(t[i].dtype));
        CHECK(g->data != NULL);
        CHECK((uintptr_t)g->data % st_dtype_size(g->dtype) == 0);
        if (g->nbytes) CHECK(memcmp(g->data, t[i].data, g->nbytes) == 0);
    }
    CHECK(st_get(f, -1) == NULL && st_get(f, n) == NULL);
    CHECK(st_find(f, "nope") == NULL && st_find(f, "") == NULL);
    const st_tensor *deep = st_find(f, "deep.\xc3\xa9");
    CHECK(deep && ((const float *)deep->data)[0] == 9.0f);

    /* Metadata: in the order given, the caller's crc replaced by ours, last. */
    CHECK(st_meta_count(f) == 4);
    CHECK(strcmp(st_meta_key(f, 0), "format") == 0);
    CHECK(strcmp(st_meta_key(f, 1), "vocab") == 0);
    CHECK(strcmp(st_meta_key(f, 2), "user.note") == 0);
    CHECK(strcmp(st_meta_key(f, 3), "recur.crc32") == 0);
    CHECK(st_meta_key(f, 4) == NULL);
    CHECK(strcmp(st_meta(f, "format"), "recur-model") == 0);
    CHECK(strcmp(st_meta(f, "vocab"), sample_meta[3]) == 0);
    CHECK(strcmp(st_meta(f, "user.note"), sample_meta[5]) == 0);
    CHECK(st_meta(f, "missing") == NULL);
    uint32_t crc = 0;
    for (int i = 0; i < n; i++) {
        const st_tensor *g = st_get(f, i);
        crc = st_crc32(g->data, g->nbytes, crc);
    }
    char hex[16];
    snprintf(hex, sizeof hex, "%08x", (unsigned)crc);
    CHECK(strcmp(st_meta(f, "recur.crc32"), hex) == 0);
    st_free(f);

    /* The layout: padded header, data aligned to 8, tensors contiguous. */
    size_t len;
    unsigned char *b = read_bytes(path, &len);
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--) h = (h << 8) | b[i];
    CHECK(h % 8 == 0);
    CHECK(b[8] == '{');
    size_t total = 24 + 32 + 4 + 24 + 0 + 5 + 4;
    CHECK(len == 8 + h + total);
    CHECK(memcmp(b + 8 + h, f32a, sizeof f32a) == 0);
    free(b);
}

static void empty_file_and_empty_tensors(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/none.safetensors", subdir("none"));
    recur_error err = {0};
    CHECK_OK(st_write(path, NULL, 0, NULL, 0, &err), &err);
    st_file *f = NULL;
    CHECK_OK(st_read(path, &f, &err), &err);
    CHECK(st_count(f) == 0 && st_meta_count(f) == 1);
    CHECK(st_meta(f, "recur.crc32") && strcmp(st_meta(f, "recur.crc32"), "00000000") == 0);
    st_free(f);

    st_out t[3] = {{"a", ST_F32, 1, {0}, NULL}, {"b", ST_U8, 3, {4, 0, 2}, NULL},
                   {"c", ST_F64, 1, {0}, NULL}};
    CHECK_OK(st_write(path, t, 3, NULL, 0, &err), &err);
    CHECK_OK(st_read(path, &f, &err), &err);
    CHECK(st_count(f) == 3);
    for (int i = 0; i < st_count(f); i++) {
        CHECK(st_get(f, i)->nbytes == 0);
        CHECK(st_get(f, i)->data != NULL);
    }
    CHECK(st_get(f, 1)->ndim == 3 && st_get(f, 1)->shape[0] == 4);
    st_free(f);
}

static void expect_checks_dtype_and_shape(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/expect.safetensors", subdir("expect"));
    write_sample(path);
    st_file *f = NULL;
    recur_error err = {0};
    CHECK_OK(st_read(path, &f, &err), &err);
    if (!f) return;
    const st_tensor *t = NULL;
    int64_t good[2] = {2, 3}, swapped[2] = {3, 2};
    CHECK_OK(st_expect(f, "embed.weight", ST_F32, 2, good, &t, NULL, &err), &err);
    CHECK(t && t == st_find(f, "embed.weight"));
    CHECK_OK(st_expect(f, "scalar", ST_I32, 0, NULL, &t, "m", &err), &err);

    CHECK(st_expect(f, "embed.weight", ST_F32, 2, swapped, &t, "model.st", &err) ==
          RECUR_ERR_FORMAT);
    CHECK(t == NULL);
    CHECK_MSG(strcmp(err.message,
                     "model.st: tensor \"embed.weight\" has shape [2, 3], expected [3, 2]") == 0,
              "%s", err.message);
    CHECK(st_expect(f, "embed.weight", ST_F32, 1, good, &t, "m", &err) == RECUR_ERR_FORMAT);
    CHECK(strstr(err.message, "expected [2]"));
    CHECK(st_expect(f, "embed.weight", ST_F64, 2, good, &t, NULL, &err) == RECUR_ERR_FORMAT);
    CHECK_MSG(strstr(err.message, "has dtype F32, expected F64") &&
                  strncmp(err.message, path, strlen(path)) == 0,
              "%s", err.message);
    CHECK(st_expect(f, "out.bias", ST_F32, 2, good, &t, "m", &err) == RECUR_ERR_FORMAT);
    CHECK(strcmp(err.message, "m: tensor \"out.bias\" is missing") == 0);
    st_free(f);
}

/* ------------------------------------------------------------------------ */
/* Atomic writes                                                             */
/* ------------------------------------------------------------------------ */

static void atomic_write_replaces_and_leaves_no_temp(void)
{
    const char *dir = subdir("atomic");
    char path[600];
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    CHECK(write_bytes(path, "old contents", 12) == 0);
    write_sample(path);
    CHECK(count_files_with(dir, ".tmp") == 0);
    CHECK(count_files_with(dir, "m.safetensors") == 1);
    st_file *f = NULL;
    recur_error err = {0};
    CHECK_OK(st_read(path, &f, &err), &err);
    CHECK(st_count(f) == 7);
    st_free(f);

    /* Again with other contents: the file is replaced as a whole. */
    st_out t = {"only", ST_U8, 1, {3}, "xyz"};
    CHECK_OK(st_write(path, &t, 1, NULL, 0, &err), &err);
    CHECK(count_files_with(dir, ".tmp") == 0);
    CHECK_OK(st_read(path, &f, &err), &err);
    CHECK(st_count(f) == 1 && st_find(f, "only") && memcmp(st_get(f, 0)->data, "xyz", 3) == 0);
    st_free(f);

    /* A stale temporary file of our pid is replaced, then renamed away. */
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    CHECK(write_bytes(tmp, "stale", 5) == 0);
    CHECK_OK(st_write(path, &t, 1, NULL, 0, &err), &err);
    CHECK(count_files_with(dir, ".tmp") == 0);
}

static void write_into_missing_folder_fails(void)
{
    const char *dir = subdir("missing");
    char path[600], sub[530];
    snprintf(sub, sizeof sub, "%s/nope", dir);
    snprintf(path, sizeof path, "%s/model.safetensors", sub);
    st_out t = {"a", ST_F32, 1, {1}, f32a};
    recur_error err = {0};
    CHECK(st_write(path, &t, 1, NULL, 0, &err) == RECUR_ERR_IO);
    CHECK(err.status == RECUR_ERR_IO);
    CHECK_MSG(strncmp(err.message, path, strlen(path)) == 0 &&
                  strstr(err.message, strerror(ENOENT)),
              "%s", err.message);
    CHECK(access(sub, F_OK) != 0);
    CHECK(count_files_with(dir, "") == 2); /* "." and ".." */
}

static void failed_write_leaves_target_untouched(void)
{
    const char *dir = subdir("untouched");
    char path[600];
    recur_error err = {0};
    /* The target is a folder: the rename fails after the temporary file
     * was written, which must then be gone. */
    snprintf(path, sizeof path, "%s/isdir", dir);
    CHECK(mkdir(path, 0777) == 0);
    st_out t = {"a", ST_F32, 1, {1}, f32a};
    CHECK(st_write(path, &t, 1, NULL, 0, &err) == RECUR_ERR_IO);
    CHECK(strstr(err.message, "rename"));
    CHECK(count_files_with(dir, ".tmp") == 0);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode));

    /* Invalid arguments fail before the file system is touched. */
    snprintf(path, sizeof path, "%s/keep.safetensors", dir);
    CHECK(write_bytes(path, "precious", 8) == 0);
    st_out dup[2] = {{"a", ST_F32, 1, {1}, f32a}, {"a", ST_F32, 1, {1}, f32a}};
    CHECK(st_write(path, dup, 2, NULL, 0, &err) == RECUR_ERR_ARG);
    CHECK(strstr(err.message, "duplicate tensor name \"a\""));
    size_t len = 0;
    unsigned char *b = read_bytes(path, &len);
    CHECK(len == 8 && memcmp(b, "precious", 8) == 0);
    free(b);
    CHECK(count_files_with(dir, ".tmp") == 0);
}

/* A writer killed mid-save leaves path.tmp.<pid>; the next successful save
 * of path removes it once that process is gone, and nothing else. */
static void write_removes_temps_of_dead_writers(void)
{
    const char *dir = subdir("stale");
    pid_t child = fork();
    if (child == 0) _exit(0);
    CHECK(child > 0 && waitpid(child, NULL, 0) == child); /* reaped: its pid names no process */
    char path[600], dead[700], live[700], other[700], odd[700];
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    snprintf(dead, sizeof dead, "%s.tmp.%ld", path, (long)child);
    snprintf(live, sizeof live, "%s.tmp.%ld", path, (long)getppid());
    snprintf(other, sizeof other, "%s/n.safetensors.tmp.%ld", dir, (long)child);
    snprintf(odd, sizeof odd, "%s.tmp.%ldx", path, (long)child);
    const char *made[] = {dead, live, other, odd};
    for (int i = 0; i < 4; i++) CHECK(write_bytes(made[i], "partial", 7) == 0);
    recur_error err = {0};
    st_out t = {"a", ST_F32, 1, {1}, f32a};
    CHECK_OK(st_write(path, &t, 1, NULL, 0, &err), &err);
    struct stat sb;
    CHECK_MSG(stat(dead, &sb) != 0 && errno == ENOENT, "%s survived", dead);
    for (int i = 1; i < 4; i++) CHECK_MSG(stat(made[i], &sb) == 0, "%s was removed", made[i]);
}

static void writer_rejects_bad_arguments(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/args.safetensors", subdir("args"));
    recur_error err = {0};
    struct {
        st_out t;
        const char *part;
    } cases[] = {
        {{NULL, ST_F32, 1, {1}, f32a}, "no name"},
        {{"", ST_F32, 1, {1}, f32a}, "no name"},
        {{"bad\xff", ST_F32, 1, {1}, f32a}, "not valid UTF-8"},
        {{"__metadata__", ST_F32, 1, {1}, f32a}, "reserved"},
        {{"a", (st_dtype)9, 1, {1}, f32a}, "invalid dtype"},
        {{"a", ST_F32, 9, {1}, f32a}, "dimensions"},
        {{"a", ST_F32, -1, {1}, f32a}, "dimensions"},
        {{"a", ST_F32, 1, {-2}, f32a}, "dimension 0 is -2"},
        {{"a", ST_F32, 2, {1LL << 40, 1LL << 40}, f32a}, "overflows"},
        {{"a", ST_F32, 1, {2}, NULL}, "data is NULL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err.message[0] = 0;
        recur_status st = st_write(path, &cases[i].t, 1, NULL, 0, &err);
        CHECK_MSG(st == RECUR_ERR_ARG && strstr(err.message, cases[i].part),
                  "case %zu: %s", i, err.message);
    }
    st_out ok = {"a", ST_F32, 1, {1}, f32a};
    const char *dupmeta[] = {"k", "1", "k", "2"};
    CHECK(st_write(path, &ok, 1, dupmeta, 2, &err) == RECUR_ERR_ARG);
    CHECK(strstr(err.message, "duplicate metadata key \"k\""));
    const char *nullmeta[] = {"k", NULL};
    CHECK(st_write(path, &ok, 1, nullmeta, 1, &err) == RECUR_ERR_ARG);
    const char *badmeta[] = {"k", "\xc0\x80"};
    CHECK(st_write(path, &ok, 1, badmeta, 1, &err) == RECUR_ERR_ARG);
    CHECK(st_write("", &ok, 1, NULL, 0, &err) == RECUR_ERR_ARG);
    CHECK(st_write(path, NULL, 1, NULL, 0, &err) == RECUR_ERR_ARG);
    CHECK(access(path, F_OK) != 0);
}

/* ------------------------------------------------------------------------ */
/* Hostile input                                                             */
/* ------------------------------------------------------------------------ */

static void read_io_errors_name_the_path(void)
{
    const char *dir = subdir("ioerr");
    char path[600];
    snprintf(path, sizeof path, "%s/absent.safetensors", dir);
    st_file *f = (st_file *)1;
    recur_error err = {0};
    CHECK(st_read(path, &f, &err) == RECUR_ERR_IO);
    CHECK(f == NULL);
    CHECK_MSG(strncmp(err.message, path, strlen(path)) == 0 &&
                  strstr(err.message, strerror(ENOENT)),
              "%s", err.message);
    CHECK(st_read(dir, &f, &err) == RECUR_ERR_IO);
    CHECK(strstr(err.message, "directory"));
}

static void every_truncation_is_rejected(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/t.safetensors", subdir("trunc"));
    write_sample(path);
    size_t len = 0;
    unsigned char *b = read_bytes(path, &len);
    if (!b) {
        CHECK(b != NULL);
        return;
    }
    int bad = 0;
    for (size_t k = 0; k < len; k++) {
        st_file *f = NULL;
        recur_error err = {0};
        recur_status st = st_parse(b, k, "cut", &f, &err);
        if (st != RECUR_ERR_FORMAT || f || strncmp(err.message, "cut: ", 5) != 0) {
            if (bad++ < 5)
                fprintf(stderr, "    length %zu: %s (%s)\n", k, recur_status_string(st),
                        err.message);
        }
        st_free(f);
    }
    CHECK(bad == 0);
    /* The whole file still reads; st_read on truncated copies fails too. */
    st_file *f = NULL;
    recur_error err = {0};
    CHECK_OK(st_parse(b, len, "whole", &f, &err), &err);
    st_free(f);
    size_t cuts[] = {0, 7, 8, 20, len / 2, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        CHECK(write_bytes(path, b, cuts[i]) == 0);
        CHECK(st_read(path, &f, &err) == RECUR_ERR_FORMAT);
        CHECK(strncmp(err.message, path, strlen(path)) == 0);
    }
    free(b);
}

static void random_damage_never_crashes(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/r.safetensors", subdir("random"));
    write_sample(path);
    size_t len = 0;
    unsigned char *orig = read_bytes(path, &len);
    unsigned char *b = malloc(len);
    recur_rng rng;
    recur_rng_seed(&rng, 2024);
    int accepted = 0, other = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(b, orig, len);
        int flips = 1 + (int)recur_rng_below(&rng, 4);
        for (int k = 0; k < flips; k++) {
            size_t at = (size_t)recur_rng_below(&rng, len);
            static const unsigned char pick[] = {'"', '{', '}', '[', ']', ',', ':', '0',
                                                 '9', '-', '.', 'e', ' ', '\\', 0, 0xff};
            b[at] = (it & 1) ? pick[recur_rng_below(&rng, sizeof pick)]
                             : (unsigned char)(b[at] ^ (1u << recur_rng_below(&rng, 8)));
        }
        st_file *f = NULL;
        recur_error err = {0};
        recur_status st = st_parse(b, len, "fuzz", &f, &err);
        if (st == RECUR_OK) accepted++;
        else if (st != RECUR_ERR_FORMAT) other++;
        st_free(f);
    }
    CHECK(other == 0);
    CHECK(accepted < 3000);
    free(b);
    free(orig);
}

static void checksum_mismatch_is_rejected(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/c.safetensors", subdir("crc"));
    write_sample(path);
    size_t len = 0;
    unsigned char *b = read_bytes(path, &len);
    b[len - 3] ^= 0x10; /* one bit of the last tensor's data */
    CHECK(write_bytes(path, b, len) == 0);
    st_file *f = NULL;
    recur_error err = {0};
    CHECK(st_read(path, &f, &err) == RECUR_ERR_FORMAT);
    CHECK_MSG(strstr(err.message, "checksum mismatch: file damaged") &&
                  strncmp(err.message, path, strlen(path)) == 0,
              "%s", err.message);
    CHECK(f == NULL);
    free(b);

    /* A malformed checksum value is rejected too. */
    EXPECT_BAD("{\"__metadata__\":{\"recur.crc32\":\"DEADBEEF\"}," GOOD_X "}", zeros, 8,
               "recur.crc32");
    EXPECT_BAD("{\"__metadata__\":{\"recur.crc32\":\"1234\"}," GOOD_X "}", zeros, 8,
               "not 8 lowercase hex digits");
    /* The right one is accepted: CRC of 8 zero bytes. */
    char json[300];
    snprintf(json, sizeof json, "{\"__metadata__\":{\"recur.crc32\":\"%08x\"}," GOOD_X "}",
             (unsigned)st_crc32(zeros, 8, 0));
    size_t n;
    unsigned char *g = raw_file(json, zeros, 8, &n);
    CHECK_OK(st_parse(g, n, "good", &f, &err), &err);
    st_free(f);
    free(g);
}

static void python_layout_reads(void)
{
    /* As PyTorch tools write it: no padding (odd header length), entries in
     * another order than their data, metadata last, whitespace. */
    float w[2] = {0.25f, -8.0f};
    unsigned char data[12] = {10, 20, 30, 40};
    memcpy(data + 4, w, 8);
    const char *json =
        "{\"b\": {\"dtype\": \"F32\", \"shape\": [1, 2], \"data_offsets\": [4, 12]},\n"
        " \"a\": {\"data_offsets\": [0, 4], \"shape\": [4], \"dtype\": \"U8\"},"
        "  \"__metadata__\": {\"format\": \"pt\"}}";
    CHECK(strlen(json) % 8 != 0);
    size_t len;
    unsigned char *b = raw_file(json, data, sizeof data, &len);
    st_file *f = NULL;
    recur_error err = {0};
    CHECK_OK(st_parse(b, len, "py", &f, &err), &err);
    free(b);
    if (!f) return;
    CHECK(st_count(f) == 2);
    CHECK(strcmp(st_get(f, 0)->name, "b") == 0 && strcmp(st_get(f, 1)->name, "a") == 0);
    const st_tensor *tb = st_find(f, "b"), *ta = st_find(f, "a");
    CHECK(tb && tb->ndim == 2 && tb->shape[0] == 1 && tb->shape[1] == 2 && tb->nbytes == 8);
    CHECK(tb && (uintptr_t)tb->data % 4 == 0);
    CHECK(tb && ((const float *)tb->data)[0] == 0.25f && ((const float *)tb->data)[1] == -8.0f);
    CHECK(ta && ta->dtype == ST_U8 && memcmp(ta->data, data, 4) == 0);
    CHECK(strcmp(st_meta(f, "format"), "pt") == 0 && st_meta(f, "recur.crc32") == NULL);
    st_free(f);
}

static void rejects_short_file(void)
{
    unsigned char b[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    for (size_t k = 0; k < 8; k++) expect_bad_raw(b, k, "shorter than the 8-byte", __LINE__);
}

static void rejects_header_length_zero(void)
{
    unsigned char b[16] = {0};
    expect_bad_raw(b, sizeof b, "header length 0", __LINE__);
}

static void rejects_header_past_end(void)
{
    unsigned char b[4096] = {0};
    uint64_t n = 1000000000000ull;
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(n >> (8 * i));
    expect_bad_raw(b, sizeof b, "header length 1000000000000 exceeds file size 4096", __LINE__);
    b[0] = 0xf9; /* 4089 = one more than there is */
    for (int i = 1; i < 8; i++) b[i] = 0;
    b[1] = 0x0f;
    expect_bad_raw(b, sizeof b, "header length 4089 exceeds file size 4096", __LINE__);
}

static void rejects_header_over_limit(void)
{
    /* A sparse file just over the limit: st_read refuses from the first 8
     * bytes, without reading 100 MB. */
    char path[600];
    snprintf(path, sizeof path, "%s/huge.safetensors", subdir("huge"));
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        CHECK(fp != NULL);
        return;
    }
    uint64_t n = ST_MAX_HEADER + 1ull;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(n >> (8 * i));
    fwrite(len8, 1, 8, fp);
    fclose(fp);
    CHECK(truncate(path, (off_t)(8 + n + 16)) == 0);
    st_file *f = NULL;
    recur_error err = {0};
    CHECK(st_read(path, &f, &err) == RECUR_ERR_FORMAT);
    CHECK_MSG(strstr(err.message, "header length 100000001 exceeds the 100000000-byte"),
              "%s", err.message);
    unlink(path);
}

static void rejects_header_not_utf8(void)
{
    EXPECT_BAD("{\"x\xff\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", zeros, 4,
               "not valid UTF-8 (byte 11)");
    EXPECT_BAD("{\"\xc0\xaf\":1}", NULL, 0, "not valid UTF-8");        /* overlong */
    EXPECT_BAD("{\"\xed\xa0\x80\":1}", NULL, 0, "not valid UTF-8");    /* surrogate */
    EXPECT_BAD("{\"\xf4\x90\x80\x80\":1}", NULL, 0, "not valid UTF-8"); /* > U+10FFFF */
    EXPECT_BAD("{\"\xe2\x82\":1}", NULL, 0, "not valid UTF-8");        /* cut short */
}

static void rejects_header_not_json(void)
{
    EXPECT_BAD("{\"x\":", NULL, 0, "not valid JSON");
    EXPECT_BAD("{" GOOD_X ",}", zeros, 8, "not valid JSON");
    EXPECT_BAD("{" GOOD_X "} x", zeros, 8, "not valid JSON");
    EXPECT_BAD("{" GOOD_X "}{}", zeros, 8, "not valid JSON");
    EXPECT_BAD("{\"x\\q\":1}", NULL, 0, "invalid escape");
    EXPECT_BAD("{\"x\\u00\":1}", NULL, 0, "invalid escape");
    EXPECT_BAD("{\"a\\u0000b\":1}", NULL, 0, "\\u0000");
    EXPECT_BAD("{\"a\tb\":1}", NULL, 0, "control character");
    EXPECT_BAD("{\"unterminated", NULL, 0, "unterminated string");
    EXPECT_BAD("\xef\xbb\xbf{}", NULL, 0, "unexpected byte"); /* BOM */
    /* Nesting deeper than the parser allows. */
    char *deep = malloc(20001);
    memset(deep, '[', 20000);
    deep[20000] = 0;
    EXPECT_BAD(deep, NULL, 0, "not valid JSON");
    free(deep);
    unsigned char nul[] = "{}\0\0\0\0\0\0";
    size_t len;
    unsigned char *b = raw_file("12345678", NULL, 0, &len);
    memcpy(b + 8, nul, 8);
    expect_bad_raw(b, len, "not valid JSON", __LINE__);
    free(b);
}

static void rejects_header_not_object(void)
{
    EXPECT_BAD("[1,2]   ", NULL, 0, "header is not a JSON object");
    EXPECT_BAD("\"x\"", NULL, 0, "header is not a JSON object");
    EXPECT_BAD("null", NULL, 0, "header is not a JSON object");
}

static void rejects_entry_not_object(void)
{
    EXPECT_BAD("{\"w\":5}", NULL, 0, "tensor \"w\": entry is not an object");
    EXPECT_BAD("{\"w\":[0,4]}", NULL, 0, "tensor \"w\": entry is not an object");
    EXPECT_BAD("{\"w\":\"F32\"}", NULL, 0, "tensor \"w\": entry is not an object");
}

static void rejects_missing_keys(void)
{
    EXPECT_BAD("{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", zeros, 8,
               "tensor \"w\": missing \"dtype\"");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", zeros, 8,
               "tensor \"w\": missing \"shape\"");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", zeros, 8,
               "tensor \"w\": missing \"data_offsets\"");
    EXPECT_BAD("{\"w\":{}}", NULL, 0, "missing");
}

static void rejects_extra_keys(void)
{
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", zeros,
               8, "tensor \"w\": unexpected key \"x\"");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
               zeros, 8, "tensor \"w\": duplicate key \"dtype\"");
}

static void rejects_unknown_dtype(void)
{
    EXPECT_BAD("{\"w\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", zeros, 4,
               "tensor \"w\": unsupported dtype \"F16\"");
    EXPECT_BAD("{\"w\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", zeros, 8,
               "unsupported dtype \"f32\"");
    EXPECT_BAD("{\"w\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", zeros, 8,
               "tensor \"w\": dtype is not a string");
}

static void rejects_bad_shape(void)
{
#define SHAPE(s, off) "{\"w\":{\"dtype\":\"U8\",\"shape\":" s ",\"data_offsets\":" off "}}"
    EXPECT_BAD(SHAPE("2", "[0,2]"), zeros, 2, "tensor \"w\": shape is not an array");
    EXPECT_BAD(SHAPE("[1,1,1,1,1,1,1,1,1]", "[0,1]"), zeros, 1,
               "tensor \"w\": shape has more than 8 dimensions");
    EXPECT_BAD(SHAPE("[1.5]", "[0,1]"), zeros, 1, "tensor \"w\": shape[0] = 1.5 is not an integer");
    EXPECT_BAD(SHAPE("[2,1e300]", "[0,2]"), zeros, 2, "tensor \"w\": shape[1] = 1e+300 is too large");
    EXPECT_BAD(SHAPE("[1e999]", "[0,2]"), zeros, 2, "is too large");
    EXPECT_BAD(SHAPE("[9007199254740992]", "[0,2]"), zeros, 2, "is too large");
    EXPECT_BAD(SHAPE("[-1]", "[0,1]"), zeros, 1, "tensor \"w\": shape[0] = -1 is negative");
    EXPECT_BAD(SHAPE("[\"2\"]", "[0,2]"), zeros, 2, "tensor \"w\": shape[0] is not a number");
    EXPECT_BAD(SHAPE("[null]", "[0,2]"), zeros, 2, "shape[0] is not a number");
    EXPECT_BAD(SHAPE("[[2]]", "[0,2]"), zeros, 2, "shape[0] is not a number");
    /* Integral values not written as plain integers: 2.0, 2e0, 02, -0. */
    EXPECT_BAD(SHAPE("[2.0]", "[0,2]"), zeros, 2, "not a plain non-negative integer");
    EXPECT_BAD(SHAPE("[2e0]", "[0,2]"), zeros, 2, "not a plain non-negative integer");
    EXPECT_BAD(SHAPE("[02]", "[0,2]"), zeros, 2, "not a plain non-negative integer");
    EXPECT_BAD(SHAPE("[-0]", "[0,0]"), NULL, 0, "not a plain non-negative integer");
    /* The same file with plain integers is fine. */
    size_t len;
    unsigned char *b = raw_file(SHAPE("[2]", "[0,2]"), zeros, 2, &len);
    st_file *f = NULL;
    recur_error err = {0};
    CHECK_OK(st_parse(b, len, "ok", &f, &err), &err);
    st_free(f);
    free(b);
}

static void rejects_bad_data_offsets(void)
{
    EXPECT_BAD(SHAPE("[2]", "[0]"), zeros, 2, "tensor \"w\": data_offsets is not an array of two");
    EXPECT_BAD(SHAPE("[2]", "[0,1,2]"), zeros, 2, "data_offsets is not an array of two");
    EXPECT_BAD(SHAPE("[2]", "{\"a\":1,\"b\":2}"), zeros, 2, "data_offsets is not an array");
    EXPECT_BAD(SHAPE("[2]", "[0,2.5]"), zeros, 2, "data_offsets[1] = 2.5 is not an integer");
    EXPECT_BAD(SHAPE("[2]", "[-2,0]"), zeros, 2, "data_offsets[0] = -2 is negative");
    EXPECT_BAD(SHAPE("[2]", "[0,\"2\"]"), zeros, 2, "data_offsets[1] is not a number");
    EXPECT_BAD(SHAPE("[0]", "[4,2]"), zeros, 4, "tensor \"w\": data_offsets begin 4 > end 2");
    EXPECT_BAD(SHAPE("[2]", "[0,1e300]"), zeros, 2, "data_offsets[1] = 1e+300 is too large");
}

static void rejects_size_mismatch_and_overflow(void)
{
    EXPECT_BAD("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", zeros, 20,
               "tensor \"w\": shape [2, 3] of F32 needs 24 bytes but data_offsets [0, 20] span 20");
    EXPECT_BAD("{\"w\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,4]}}", zeros, 4,
               "needs 8 bytes");
    EXPECT_BAD("{\"w\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}",
               NULL, 0, "tensor \"w\": element count overflows");
    EXPECT_BAD("{\"w\":{\"dtype\":\"I64\",\"shape\":[4611686018427387,1024],\"data_offsets\":[0,0]}}",
               NULL, 0, "tensor \"w\": size in bytes overflows");
    /* A zero dimension makes the count 0 whatever the others. */
    size_t len;
    unsigned char *b = raw_file(
        "{\"w\":{\"dtype\":\"F64\",\"shape\":[9007199254740991,0,9007199254740991],\"data_offsets\":[0,0]}}",
        NULL, 0, &len);
    st_file *f = NULL;
    recur_error err = {0};
    CHECK_OK(st_parse(b, len, "zero", &f, &err), &err);
    CHECK(f && st_get(f, 0)->nbytes == 0);
    st_free(f);
    free(b);
}

static void rejects_offsets_past_data(void)
{
    EXPECT_BAD("{" GOOD_X "}", zeros, 4,
               "tensor \"x\": data_offsets [0, 8] past the end of the 4-byte data section");
    EXPECT_BAD("{\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[9007199254740990,9007199254740991]}}",
               zeros, 1, "past the end");
}

static void rejects_overlapping_tensors(void)
{
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
               zeros, 12, "tensors \"a\" and \"b\" overlap");
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
               zeros, 8, "overlap");
    /* An empty tensor inside another one's bytes. */
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}",
               zeros, 8, "overlap");
}

static void rejects_holes_and_trailing_bytes(void)
{
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
               zeros, 12, "gap in the data section: bytes 4..8 belong to no tensor (before tensor \"b\")");
    EXPECT_BAD("{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", zeros, 8,
               "gap in the data section: bytes 0..4");
    EXPECT_BAD("{" GOOD_X "}", zeros, 12, "4 trailing bytes in the data section");
    EXPECT_BAD("{}", zeros, 1, "1 trailing bytes");
    EXPECT_BAD("{\"__metadata__\":{}}", zeros, 3, "trailing bytes");
}

static void rejects_duplicate_names(void)
{
    EXPECT_BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
               zeros, 8, "duplicate tensor name \"a\"");
    EXPECT_BAD("{\"__metadata__\":{},\"__metadata__\":{}}", NULL, 0, "duplicate \"__metadata__\"");
    EXPECT_BAD("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", NULL, 0,
               "duplicate __metadata__ key \"k\"");
    /* Names differing after an escape are distinct. */
    size_t len;
    unsigned char *b = raw_file("{\"a\\u00e9\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                                "\"a\\u00e8\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
                                zeros, 2, &len);
    st_file *f = NULL;
    recur_error err = {0};
    CHECK_OK(st_parse(b, len, "ok", &f, &err), &err);
    CHECK(f && st_find(f, "a\xc3\xa9") && st_find(f, "a\xc3\xa8"));
    st_free(f);
    free(b);
}

static void rejects_bad_metadata(void)
{
    EXPECT_BAD("{\"__metadata__\":[\"a\"]}", NULL, 0, "__metadata__ is not an object");
    EXPECT_BAD("{\"__metadata__\":\"x\"}", NULL, 0, "__metadata__ is not an object");
    EXPECT_BAD("{\"__metadata__\":{\"epoch\":3}}", NULL, 0,
               "__metadata__ value of \"epoch\" is not a string");
    EXPECT_BAD("{\"__metadata__\":{\"k\":null}}", NULL, 0, "is not a string");
    EXPECT_BAD("{\"__metadata__\":{\"k\":{\"a\":\"b\"}}}", NULL, 0, "is not a string");
}

static void error_names_are_sanitised(void)
{
    /* Control characters and quotes in a name do not break the line. */
    EXPECT_BAD("{\"a\\nb\\\"\":5}", NULL, 0, "tensor \"a\\x0ab\\x22\": entry is not an object");
    char json[400];
    char longname[260];
    memset(longname, 'n', 250);
    longname[250] = 0;
    snprintf(json, sizeof json, "{\"%s\":5}", longname);
    st_file *f = NULL;
    recur_error err = {0};
    size_t len;
    unsigned char *b = raw_file(json, NULL, 0, &len);
    CHECK(st_parse(b, len, "n", &f, &err) == RECUR_ERR_FORMAT);
    CHECK(strstr(err.message, "...\": entry is not an object"));
    CHECK(strlen(err.message) < 200);
    free(b);
}

const test_case tests_safetensors[] = {
    {"crc32_matches_zlib", crc32_matches_zlib},
    {"round_trip_every_dtype", round_trip_every_dtype},
    {"empty_file_and_empty_tensors", empty_file_and_empty_tensors},
    {"expect_checks_dtype_and_shape", expect_checks_dtype_and_shape},
    {"atomic_write_replaces_and_leaves_no_temp", atomic_write_replaces_and_leaves_no_temp},
    {"write_into_missing_folder_fails", write_into_missing_folder_fails},
    {"failed_write_leaves_target_untouched", failed_write_leaves_target_untouched},
    {"write_removes_temps_of_dead_writers", write_removes_temps_of_dead_writers},
    {"writer_rejects_bad_arguments", writer_rejects_bad_arguments},
    {"read_io_errors_name_the_path", read_io_errors_name_the_path},
    {"every_truncation_is_rejected", every_truncation_is_rejected},
    {"random_damage_never_crashes", random_damage_never_crashes},
    {"checksum_mismatch_is_rejected", checksum_mismatch_is_rejected},
    {"python_layout_reads", python_layout_reads},
    {"rejects_short_file", rejects_short_file},
    {"rejects_header_length_zero", rejects_header_length_zero},
    {"rejects_header_past_end", rejects_header_past_end},
    {"rejects_header_over_limit", rejects_header_over_limit},
    {"rejects_header_not_utf8", rejects_header_not_utf8},
    {"rejects_header_not_json", rejects_header_not_json},
    {"rejects_header_not_object", rejects_header_not_object},
    {"rejects_entry_not_object", rejects_entry_not_object},
    {"rejects_missing_keys", rejects_missing_keys},
    {"rejects_extra_keys", rejects_extra_keys},
    {"rejects_unknown_dtype", rejects_unknown_dtype},
    {"rejects_bad_shape", rejects_bad_shape},
    {"rejects_bad_data_offsets", rejects_bad_data_offsets},
    {"rejects_size_mismatch_and_overflow", rejects_size_mismatch_and_overflow},
    {"rejects_offsets_past_data", rejects_offsets_past_data},
    {"rejects_overlapping_tensors", rejects_overlapping_tensors},
    {"rejects_holes_and_trailing_bytes", rejects_holes_and_trailing_bytes},
    {"rejects_duplicate_names", rejects_duplicate_names},
    {"rejects_bad_metadata", rejects_bad_metadata},
    {"error_names_are_sanitised", error_names_are_sanitised},
    {NULL, NULL},
};
