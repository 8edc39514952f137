/*
 * Fetching the PyTorch tutorial's names data.
 *
 * <cache>/data/names with at least one .txt file is returned as it is.
 * Otherwise <cache>/data.zip is downloaded (libcurl; URL from env
 * RECUR_DATA_URL when set, else the tutorial's) into a temporary file that
 * is renamed into place when complete, then unpacked (libzip) into a
 * temporary folder inside the cache; its data/names is renamed to
 * <cache>/data/names, so an interrupted run never leaves a partial folder
 * that a later call would take for the data. The other files of the
 * archive's data/ are moved beside it when absent. An existing data.zip is
 * reused; one that cannot be unpacked is removed so the next call downloads
 * it again. Entries with absolute paths, ".." or backslashes are rejected,
 * and the unpacked size is capped.
 *
 * libcurl initialises itself on first use (curl_easy_init); a program that
 * starts threads should call curl_global_init itself first.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <zip.h>

#include "core/error.h"

#define DEFAULT_URL "https://download.pytorch.org/tutorial/data.zip"
#define MAX_DOWNLOAD ((curl_off_t)512 << 20)
#define MAX_UNPACKED ((zip_uint64_t)1 << 30)
#define MAX_ENTRIES 100000
#define PATH_CAP 4096

/* a + "/" + b into out; 0 when it does not fit. */
static int pjoin(char *out, const char *a, const char *b)
{
    size_t la = strlen(a);
    const char *sep = (la && a[la - 1] == '/') ? "" : "/";
    int k = snprintf(out, PATH_CAP, "%s%s%s", a, sep, b);
    return k > 0 && k < PATH_CAP;
}

static recur_status too_long(recur_error *err, const char *a, const char *b)
{
    return recur_fail(err, RECUR_ERR_ARG, "path %s/%s is too long", a, b);
}

/* 1 when dir is a folder holding at least one regular *.txt file. */
static int has_txt(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int found = 0;
    struct dirent *de;
    char p[PATH_CAP];
    while (!found && (de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        struct stat sb;
        if (n > 4 && de->d_name[0] != '.' && strcmp(de->d_name + n - 4, ".txt") == 0 &&
            pjoin(p, dir, de->d_name) && stat(p, &sb) == 0 && S_ISREG(sb.st_mode))
            found = 1;
    }
    closedir(d);
    return found;
}

static recur_status mkdir_p(const char *path, recur_error *err)
{
    char p[PATH_CAP];
    size_t n = strlen(path);
    if (n == 0 || n >= PATH_CAP) return recur_fail(err, RECUR_ERR_ARG, "bad folder path '%s'", path);
    memcpy(p, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0') continue;
        char c = p[i];
        p[i] = '\0';
        struct stat sb;
        if (mkdir(p, 0777) != 0 && errno != EEXIST)
            return recur_fail(err, RECUR_ERR_IO, "cannot create folder %s: %s", p, strerror(errno));
        if (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return recur_fail(err, RECUR_ERR_IO, "cannot create folder %s: not a folder", p);
        p[i] = c;
    }
    return RECUR_OK;
}

static void rm_rf(const char *path, int depth)
{
    struct stat sb;
    if (depth > 64 || lstat(path, &sb) != 0) return;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *de;
            char child[PATH_CAP];
            while ((de = readdir(d)) != NULL) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
                if (pjoin(child, path, de->d_name)) rm_rf(child, depth + 1);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* ------------------------------------------------------------------------ */
/* Download                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct sink {
    FILE *f;
    int failed;
} sink;

static size_t on_data(char *data, size_t size, size_t nmemb, void *user)
{
    sink *s = user;
    size_t n = size * nmemb;
    errno = 0;
    if (fwrite(data, 1, n, s->f) != n) {
        s->failed = errno ? errno : EIO;
        return 0;
    }
    return n;
}

static recur_status download(const char *url, const char *cache_dir, const char *dest,
                             recur_error *err)
{
    char tmp[PATH_CAP];
    if (!pjoin(tmp, cache_dir, ".data.zip.XXXXXX")) return too_long(err, cache_dir, "data.zip");
    int fd = mkstemp(tmp);
    if (fd < 0)
        return recur_fail(err, RECUR_ERR_IO, "cannot create a file in %s: %s", cache_dir,
                          strerror(errno));
    sink s = {fdopen(fd, "wb"), 0};
    if (!s.f) {
        close(fd);
        unlink(tmp);
        return recur_fail(err, RECUR_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    }
    recur_status st = RECUR_OK;
    char msg[CURL_ERROR_SIZE] = "";
    CURL *c = curl_easy_init();
    if (!c) {
        st = recur_fail(err, RECUR_ERR_NETWORK, "could not download %s: libcurl failed to start",
                        url);
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, msg);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 600L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 512L); /* bytes/s ...    */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);   /* ... for 60 s  */
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, MAX_DOWNLOAD);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "recur/" RECUR_VERSION);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,file");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    CURLcode rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    if (s.failed)
        st = recur_fail(err, RECUR_ERR_IO, "cannot write %s: %s", tmp, strerror(s.failed));
    else if (rc != CURLE_OK)
        st = recur_fail(err, RECUR_ERR_NETWORK, "could not download %s: %s", url,
                        msg[0] ? msg : curl_easy_strerror(rc));
out:
    if (fflush(s.f) != 0 || fsync(fileno(s.f)) != 0) {
        if (st == RECUR_OK)
            st = recur_fail(err, RECUR_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    }
    if (fclose(s.f) != 0 && st == RECUR_OK)
        st = recur_fail(err, RECUR_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    if (st == RECUR_OK && rename(tmp, dest) != 0)
        st = recur_fail(err, RECUR_ERR_IO, "cannot rename %s to %s: %s", tmp, dest,
                        strerror(errno));
    if (st != RECUR_OK) unlink(tmp);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Unpacking                                                                 */
/* ------------------------------------------------------------------------ */

/* A relative path with no "..", no backslash, no empty name, not too deep. */
static int safe_entry(const char *name)
{
    if (!name[0] || name[0] == '/' || strchr(name, '\\')) return 0;
    int depth = 0;
    for (const char *p = name; *p;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || (n == 2 && p[0] == '.' && p[1] == '.')) return 0;
        if (++depth > 16) return 0;
        if (!e) break;
        p = e + 1;
    }
    return 1;
}

static recur_status extract_entry(zip_t *z, zip_uint64_t i, const char *zip_path, const char *path,
                                  zip_uint64_t *total, recur_error *err)
{
    zip_file_t *zf = zip_fopen_index(z, i, 0);
    if (!zf)
        return recur_fail(err, RECUR_ERR_DATA, "%s: cannot read entry %llu: %s", zip_path,
                          (unsigned long long)i, zip_strerror(z));
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd < 0) {
        zip_fclose(zf);
        return recur_fail(err, RECUR_ERR_IO, "cannot create %s: %s", path, strerror(errno));
    }
    recur_status st = RECUR_OK;
    char buf[1 << 15];
    for (;;) {
        zip_int64_t r = zip_fread(zf, buf, sizeof buf);
        if (r < 0) {
            st = recur_fail(err, RECUR_ERR_DATA, "%s: cannot unpack entry %llu: %s", zip_path,
                            (unsigned long long)i, zip_file_strerror(zf));
            break;
        }
        if (r == 0) break;
        *total += (zip_uint64_t)r;
        if (*total > MAX_UNPACKED) {
            st = recur_fail(err, RECUR_ERR_DATA, "%s: unpacks to more than %llu bytes", zip_path,
                            (unsigned long long)MAX_UNPACKED);
            break;
        }
        for (zip_int64_t w = 0; w < r;) {
            ssize_t k = write(fd, buf + w, (size_t)(r - w));
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) {
                st = recur_fail(err, RECUR_ERR_IO, "cannot write %s: %s", path, strerror(errno));
                break;
            }
            w += k;
        }
        if (st != RECUR_OK) break;
    }
    zip_fclose(zf);
    if (close(fd) != 0 && st == RECUR_OK)
        st = recur_fail(err, RECUR_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    return st;
}

/* Unpack every entry of the archive under dir. */
static recur_status unpack_into(const char *zip_path, const char *dir, recur_error *err)
{
    int zerr = 0;
    zip_t *z = zip_open(zip_path, ZIP_RDONLY, &zerr);
    if (!z) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        recur_status st = recur_fail(err, RECUR_ERR_DATA, "cannot open %s as a zip archive: %s",
                                     zip_path, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return st;
    }
    recur_status st = RECUR_OK;
    zip_int64_t n = zip_get_num_entries(z, 0);
    if (n < 0 || n > MAX_ENTRIES)
        st = recur_fail(err, RECUR_ERR_DATA, "%s: bad number of entries", zip_path);
    zip_uint64_t total = 0;
    for (zip_int64_t i = 0; st == RECUR_OK && i < n; i++) {
        const char *name = zip_get_name(z, (zip_uint64_t)i, 0);
        if (!name) {
            st = recur_fail(err, RECUR_ERR_DATA, "%s: entry %lld has no name", zip_path,
                            (long long)i);
            break;
        }
        if (!safe_entry(name)) { /* a trailing '/' (a folder) is accepted */
            st = recur_fail(err, RECUR_ERR_DATA, "%s: entry '%s' has an unsafe path", zip_path,
                            name);
            break;
        }
        char path[PATH_CAP];
        if (!pjoin(path, dir, name)) {
            st = too_long(err, dir, name);
            break;
        }
        size_t len = strlen(path);
        if (path[len - 1] == '/') {
            path[len - 1] = '\0';
            st = mkdir_p(path, err);
            continue;
        }
        char *slash = strrchr(path, '/');
        *slash = '\0';
        st = mkdir_p(path, err);
        *slash = '/';
        if (st == RECUR_OK) st = extract_entry(z, (zip_uint64_t)i, zip_path, path, &total, err);
    }
    zip_discard(z);
    return st;
}

/* Move staging/data/names to cache/data/names, and the rest of staging/data
 * beside it where absent. */
static recur_status install(const char *staging, const char *cache_dir, const char *zip_path,
                            const char *names, recur_error *err)
{
    char sdata[PATH_CAP], snames[PATH_CAP], data[PATH_CAP];
    if (!pjoin(sdata, staging, "data") || !pjoin(snames, sdata, "names") ||
        !pjoin(data, cache_dir, "data"))
        return too_long(err, cache_dir, "data/names");
    if (!has_txt(snames))
        return recur_fail(err, RECUR_ERR_DATA, "%s holds no data/names/*.txt files", zip_path);
    RECUR_TRY(mkdir_p(data, err));
    rmdir(names); /* an empty leftover; a non-empty one makes the rename fail */
    if (rename(snames, names) != 0)
        return recur_fail(err, RECUR_ERR_IO, "cannot move %s to %s: %s", snames, names,
                          strerror(errno));
    DIR *d = opendir(sdata);
    if (d) {
        struct dirent *de;
        char from[PATH_CAP], to[PATH_CAP];
        struct stat sb;
        while ((de = readdir(d)) != NULL) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            if (pjoin(from, sdata, de->d_name) && pjoin(to, data, de->d_name) &&
                lstat(to, &sb) != 0 && errno == ENOENT && rename(from, to) != 0) {
                /* Best effort: the names folder is what was asked for. */
            }
        }
        closedir(d);
    }
    return RECUR_OK;
}

static recur_status unpack(const char *zip_path, const char *cache_dir, const char *names,
                           recur_error *err)
{
    char staging[PATH_CAP];
    if (!pjoin(staging, cache_dir, ".unpack.XXXXXX")) return too_long(err, cache_dir, "unpack");
    if (!mkdtemp(staging))
        return recur_fail(err, RECUR_ERR_IO, "cannot create a folder in %s: %s", cache_dir,
                          strerror(errno));
    recur_status st = unpack_into(zip_path, staging, err);
    if (st == RECUR_OK) st = install(staging, cache_dir, zip_path, names, err);
    rm_rf(staging, 0);
    return st;
}

recur_status recur_fetch_names(const char *cache_dir, char *path_out, size_t cap, recur_error *err)
{
    if (path_out && cap) path_out[0] = '\0';
    if (!cache_dir || !*cache_dir)
        return recur_fail(err, RECUR_ERR_ARG, "recur_fetch_names: no cache folder given");
    if (!path_out || !cap)
        return recur_fail(err, RECUR_ERR_ARG, "recur_fetch_names: no room for the path");
    char names[PATH_CAP], zip_path[PATH_CAP];
    if (!pjoin(names, cache_dir, "data/names") || !pjoin(zip_path, cache_dir, "data.zip"))
        return too_long(err, cache_dir, "data/names");
    if (strlen(names) >= cap)
        return recur_fail(err, RECUR_ERR_ARG, "path %s does not fit in %zu bytes", names, cap);
    if (!has_txt(names)) {
        RECUR_TRY(mkdir_p(cache_dir, err));
        struct stat sb;
        if (stat(zip_path, &sb) != 0) {
            const char *url = getenv("RECUR_DATA_URL");
            if (!url || !*url) url = DEFAULT_URL;
            RECUR_TRY(download(url, cache_dir, zip_path, err));
        }
        recur_status st = unpack(zip_path, cache_dir, names, err);
        if (st == RECUR_ERR_DATA) unlink(zip_path); /* bad archive: fetch it again next time */
        if (st != RECUR_OK) return st;
    }
    memcpy(path_out, names, strlen(names) + 1);
    return RECUR_OK;
}
