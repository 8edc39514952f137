/*
 * safetensors_write.c - the writer: the header is built by hand (exact
 * integers, our own string escaping), padded with spaces to a multiple of 8
 * bytes, and written with the data to a temporary file that is fsynced and
 * renamed over the target.
 */
#include "io/safetensors.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/error.h"

/* ------------------------------------------------------------------------ */
/* Writer                                                                    */
/* ------------------------------------------------------------------------ */

/* A growable text buffer; `failed` is set when memory runs out. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->failed) return;
    if (n > SIZE_MAX - 1 - b->len) {
        b->failed = 1;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->len + n + 1) {
            if (nc > SIZE_MAX / 2) {
                b->failed = 1;
                return;
            }
            nc *= 2;
        }
        char *np = realloc(b->p, nc);
        if (!np) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_u64(sbuf *b, uint64_t v)
{
    char t[32];
    int k = snprintf(t, sizeof t, "%llu", (unsigned long long)v);
    sb_put(b, t, (size_t)k);
}

/* s (valid UTF-8) as a JSON string literal. */
static void sb_json_string(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    size_t run = 0, i = 0;
    for (; s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        sb_put(b, s + run, i - run);
        char esc[8];
        switch (c) {
        case '"': sb_put(b, "\\\"", 2); break;
        case '\\': sb_put(b, "\\\\", 2); break;
        case '\n': sb_put(b, "\\n", 2); break;
        case '\r': sb_put(b, "\\r", 2); break;
        case '\t': sb_put(b, "\\t", 2); break;
        case '\b': sb_put(b, "\\b", 2); break;
        case '\f': sb_put(b, "\\f", 2); break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", c);
            sb_put(b, esc, 6);
        }
        run = i + 1;
    }
    sb_put(b, s + run, i - run);
    sb_put(b, "\"", 1);
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int valid_utf8(const char *s)
{
    size_t n = strlen(s);
    return st_utf8_check((const unsigned char *)s, n) == n;
}

/* Sorted copy of names: 0 if all distinct, else the duplicate in *dup. */
static recur_status find_duplicate(const char **names, size_t n, const char **dup)
{
    *dup = NULL;
    if (n < 2) return RECUR_OK;
    const char **s = malloc(n * sizeof *s);
    if (!s) return RECUR_ERR_NOMEM;
    memcpy(s, names, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_cstr);
    for (size_t i = 1; i < n && !*dup; i++)
        if (strcmp(s[i - 1], s[i]) == 0) *dup = s[i];
    free(s);
    return RECUR_OK;
}

static int write_all(FILE *fp, const void *p, size_t n)
{
    return n == 0 || fwrite(p, 1, n, fp) == n ? 0 : -1;
}

/* Validate the tensors; nbytes[i] receives each one's size. */
static recur_status check_outputs(const char *path, const st_out *tensors, int n,
                                  size_t *nbytes, uint64_t *total, recur_error *err)
{
    char qn[ST_QCAP];
    *total = 0;
    for (int i = 0; i < n; i++) {
        const st_out *t = &tensors[i];
        if (!t->name || !*t->name)
            return recur_fail(err, RECUR_ERR_ARG, "%s: tensor %d has no name", path, i);
        st_quoted(qn, sizeof qn, t->name);
        if (!valid_utf8(t->name))
            return recur_fail(err, RECUR_ERR_ARG, "%s: tensor name %s is not valid UTF-8",
                              path, qn);
        if (strcmp(t->name, "__metadata__") == 0)
            return recur_fail(err, RECUR_ERR_ARG,
                              "%s: \"__metadata__\" is reserved, not a tensor name", path);
        if ((unsigned)t->dtype >= ST_NDTYPES)
            return recur_fail(err, RECUR_ERR_ARG, "%s: tensor %s: invalid dtype %d", path,
                              qn, (int)t->dtype);
        if (t->ndim < 0 || t->ndim > ST_MAX_DIMS)
            return recur_fail(err, RECUR_ERR_ARG,
                              "%s: tensor %s: %d dimensions (0 to %d allowed)", path, qn,
                              t->ndim, ST_MAX_DIMS);
        int zero = 0;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0 || t->shape[d] > ST_MAX_INT)
                return recur_fail(err, RECUR_ERR_ARG,
                                  "%s: tensor %s: dimension %d is %lld", path, qn, d,
                                  (long long)t->shape[d]);
            if (t->shape[d] == 0) zero = 1;
        }
        uint64_t count = zero ? 0 : 1;
        for (int d = 0; d < t->ndim && !zero; d++) {
            uint64_t s = (uint64_t)t->shape[d];
            if (count > UINT64_MAX / s)
                return recur_fail(err, RECUR_ERR_ARG, "%s: tensor %s: size overflows",
                                  path, qn);
            count *= s;
        }
        uint64_t es = st_dtype_size(t->dtype);
        if (count > (uint64_t)SIZE_MAX / es || count * es > (uint64_t)ST_MAX_INT)
            return recur_fail(err, RECUR_ERR_ARG, "%s: tensor %s: size overflows", path, qn);
        nbytes[i] = (size_t)(count * es);
        if (nbytes[i] && !t->data)
            return recur_fail(err, RECUR_ERR_ARG, "%s: tensor %s: data is NULL", path, qn);
        if (*total > (uint64_t)ST_MAX_INT - nbytes[i])
            return recur_fail(err, RECUR_ERR_ARG, "%s: the tensors are too large", path);
        *total += nbytes[i];
    }
    return RECUR_OK;
}

/* Everything but the file system: checks, checksum, padded header. */
static recur_status build_header(const char *path, const st_out *tensors, int n,
                                 const char *const *meta, int n_meta, size_t *nbytes,
                                 sbuf *hdr, recur_error *err)
{
    uint64_t total;
    RECUR_TRY(check_outputs(path, tensors, n, nbytes, &total, err));
    const char *dup = NULL;
    const char **names = malloc(((size_t)n + (size_t)n_meta + 1) * sizeof *names);
    if (!names) return st_oom(err, path);
    for (int i = 0; i < n; i++) names[i] = tensors[i].name;
    recur_status st = find_duplicate(names, (size_t)n, &dup);
    char q[ST_QCAP];
    if (st == RECUR_OK && dup)
        st = recur_fail(err, RECUR_ERR_ARG, "%s: duplicate tensor name %s", path,
                        st_quoted(q, sizeof q, dup));
    size_t nk = 0;
    for (int i = 0; st == RECUR_OK && i < n_meta; i++) {
        const char *k = meta[2 * i], *v = meta[2 * i + 1];
        if (!k || !v)
            st = recur_fail(err, RECUR_ERR_ARG, "%s: metadata pair %d has a NULL string",
                            path, i);
        else if (!valid_utf8(k) || !valid_utf8(v))
            st = recur_fail(err, RECUR_ERR_ARG,
                            "%s: metadata %s: key or value is not valid UTF-8", path,
                            st_quoted(q, sizeof q, k));
        else if (strcmp(k, "recur.crc32") != 0)
            names[nk++] = k;
    }
    if (st == RECUR_OK) st = find_duplicate(names, nk, &dup);
    if (st == RECUR_OK && dup)
        st = recur_fail(err, RECUR_ERR_ARG, "%s: duplicate metadata key %s", path,
                        st_quoted(q, sizeof q, dup));
    free(names);
    if (st == RECUR_ERR_NOMEM) return st_oom(err, path);
    if (st) return st;

    uint32_t crc = 0;
    for (int i = 0; i < n; i++) crc = st_crc32(tensors[i].data, nbytes[i], crc);
    char crc_hex[16];
    snprintf(crc_hex, sizeof crc_hex, "%08x", (unsigned)crc);

    sb_str(hdr, "{\"__metadata__\":{");
    for (int i = 0; i < n_meta; i++) {
        if (strcmp(meta[2 * i], "recur.crc32") == 0) continue;
        sb_json_string(hdr, meta[2 * i]);
        sb_str(hdr, ":");
        sb_json_string(hdr, meta[2 * i + 1]);
        sb_str(hdr, ",");
    }
    sb_str(hdr, "\"recur.crc32\":\"");
    sb_str(hdr, crc_hex);
    sb_str(hdr, "\"}");
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const st_out *t = &tensors[i];
        sb_str(hdr, ",");
        sb_json_string(hdr, t->name);
        sb_str(hdr, ":{\"dtype\":\"");
        sb_str(hdr, st_dtype_name(t->dtype));
        sb_str(hdr, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d) sb_str(hdr, ",");
            sb_u64(hdr, (uint64_t)t->shape[d]);
        }
        sb_str(hdr, "],\"data_offsets\":[");
        sb_u64(hdr, off);
        sb_str(hdr, ",");
        off += nbytes[i];
        sb_u64(hdr, off);
        sb_str(hdr, "]}");
    }
    sb_str(hdr, "}");
    while (!hdr->failed && hdr->len % 8) sb_put(hdr, " ", 1);
    if (hdr->failed) return st_oom(err, path);
    if (hdr->len > ST_MAX_HEADER)
        return recur_fail(err, RECUR_ERR_ARG,
                          "%s: header would be %zu bytes, more than the %u-byte limit", path,
                          hdr->len, ST_MAX_HEADER);
    return RECUR_OK;
}

/* fsync the folder holding path, so that the rename is durable. Only an
 * I/O error is reported: some file systems cannot sync folders. */
static recur_status sync_folder(const char *path, recur_error *err)
{
    size_t n = strlen(path);
    char *dir = malloc(n + 2);
    if (!dir) return st_oom(err, path);
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    if (!slash) strcpy(dir, ".");
    else if (slash == dir) dir[1] = 0;
    else *slash = 0;
    recur_status st = RECUR_OK;
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (fsync(fd) != 0 && errno == EIO)
            st = recur_fail(err, RECUR_ERR_IO,
                            "%s: written, but syncing its folder %s failed: %s", path, dir,
                            strerror(errno));
        close(fd);
    }
    free(dir);
    return st;
}

/* A process killed while writing leaves path.tmp.<its pid> behind. Once a
 * write of path has succeeded, such files of processes that no longer exist
 * are removed; those of live processes (a concurrent writer, or a pid that
 * was reused) are left alone. Best effort: failures change nothing. */
static void remove_stale_temps(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dlen = slash ? (size_t)(slash - path) : 0, blen = strlen(base);
    char *dir = malloc(dlen + 2), *victim = malloc(strlen(path) + 40);
    if (!dir || !victim) goto done;
    if (!slash) strcpy(dir, ".");
    else if (dlen == 0) strcpy(dir, "/");
    else memcpy(dir, path, dlen), dir[dlen] = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        const char *name = e->d_name;
        if (strncmp(name, base, blen) != 0 || strncmp(name + blen, ".tmp.", 5) != 0) continue;
        const char *digits = name + blen + 5;
        char *end;
        errno = 0;
        long pid = strtol(digits, &end, 10);
        if (*digits < '1' || *digits > '9' || *end || errno || pid <= 0 || pid > INT_MAX) continue;
        if (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        snprintf(victim, strlen(path) + 40, "%.*s%s", (int)(slash ? dlen + 1 : 0), path, name);
        unlink(victim);
    }
    if (d) closedir(d);
done:
    free(dir);
    free(victim);
}

recur_status st_write(const char *path, const st_out *tensors, int n,
                      const char *const *meta, int n_meta, recur_error *err)
{
    if (!path || !*path) return recur_fail(err, RECUR_ERR_ARG, "st_write: empty path");
    if (n < 0 || n_meta < 0 || (n && !tensors) || (n_meta && !meta))
        return recur_fail(err, RECUR_ERR_ARG, "%s: st_write: invalid arguments", path);
    size_t *nbytes = calloc(n ? (size_t)n : 1, sizeof *nbytes);
    if (!nbytes) return st_oom(err, path);
    sbuf hdr = {0};
    recur_status st = build_header(path, tensors, n, meta, n_meta, nbytes, &hdr, err);
    if (st) {
        free(nbytes);
        free(hdr.p);
        return st;
    }

    size_t tlen = strlen(path) + 32;
    char *tmp = malloc(tlen);
    if (!tmp) {
        free(nbytes);
        free(hdr.p);
        return st_oom(err, path);
    }
    snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd < 0 && errno == EEXIST) { /* left by a crashed process of our pid */
        unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
    }
    if (fd < 0) {
        st = recur_fail(err, RECUR_ERR_IO, "%s: cannot create %s: %s", path, tmp,
                        strerror(errno));
        goto out;
    }
    FILE *fp = fdopen(fd, "wb");
    const char *step = "write";
    int e = 0;
    if (!fp) {
        e = errno;
        close(fd);
        step = "open";
        goto io_fail;
    }
    unsigned char len8[8];
    uint64_t hl = hdr.len;
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(hl >> (8 * i));
    int bad = write_all(fp, len8, 8) || write_all(fp, hdr.p, hdr.len);
    for (int i = 0; i < n && !bad; i++) bad = write_all(fp, tensors[i].data, nbytes[i]);
    if (!bad && fflush(fp) != 0) bad = 1;
    if (bad) {
        e = errno;
        fclose(fp);
        goto io_fail;
    }
    if (fsync(fileno(fp)) != 0) {
        e = errno;
        step = "sync";
        fclose(fp);
        goto io_fail;
    }
    if (fclose(fp) != 0) {
        e = errno;
        step = "close";
        goto io_fail;
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        st = recur_fail(err, RECUR_ERR_IO, "%s: cannot rename %s into place: %s", path, tmp,
                        strerror(e));
        goto out;
    }
    free(tmp);
    free(nbytes);
    free(hdr.p);
    remove_stale_temps(path);
    return sync_folder(path, err);

io_fail:
    unlink(tmp);
    st = recur_fail(err, RECUR_ERR_IO, "%s: cannot %s %s: %s", path, step, tmp,
                    strerror(e ? e : EIO));
out:
    free(tmp);
    free(nbytes);
    free(hdr.p);
    return st;
}
