/* Small utilities of the command-line tool: errors, time, files, random
 * numbers, buffers, interrupts. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char *error_prefix = "recur";

void cli_set_error_prefix(const char *prefix) { error_prefix = prefix ? prefix : "recur"; }

void cli_error(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* One line, whatever the message holds. */
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    fflush(stdout);
    fprintf(stderr, "%s: %s\n", error_prefix, msg);
}

void cli_lib_error(const char *context, const recur_error *err)
{
    if (context && *context) cli_error("%s: %s", context, err->message);
    else cli_error("%s", err->message);
}

double cli_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

const char *cli_count(char buf[32], size_t n)
{
    char tmp[32];
    int len = snprintf(tmp, sizeof tmp, "%zu", n);
    int out = 0;
    for (int i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0) buf[out++] = ',';
        buf[out++] = tmp[i];
    }
    buf[out] = '\0';
    return buf;
}

void cli_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20) fprintf(f, "\\u%04x", *p);
            else fputc(*p, f);
        }
    }
    fputc('"', f);
}

int cli_write_file_atomic(const char *path, const char *data, size_t len, char *msg, size_t msg_cap)
{
    size_t n = strlen(path);
    char *tmp = malloc(n + 16);
    if (!tmp) {
        snprintf(msg, msg_cap, "cannot write %s: out of memory", path);
        return -1;
    }
    snprintf(tmp, n + 16, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(msg, msg_cap, "cannot write %s: %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, data + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        done += (size_t)w;
    }
    int bad = done < len;
    int e = bad ? (errno ? errno : EIO) : 0;
    /* mkstemp makes the file 0600; give it the usual 0666 & ~umask. */
    mode_t um = umask(022);
    umask(um);
    if (!bad && fchmod(fd, 0666 & ~um) != 0) bad = 1, e = errno;
    if (close(fd) != 0 && !bad) bad = 1, e = errno;
    if (!bad && rename(tmp, path) != 0) bad = 1, e = errno;
    if (bad) {
        snprintf(msg, msg_cap, "cannot write %s: %s", path, strerror(e));
        unlink(tmp);
    }
    free(tmp);
    return bad ? -1 : 0;
}

char **cli_parse_command(arg_command *cmd, int argc, char **argv, int *npos, int *rc)
{
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    *npos = 0;
    if (!pos) {
        cli_error("out of memory");
        *rc = EXIT_RUNTIME;
        return NULL;
    }
    *rc = args_parse(cmd, argc, argv, pos, npos);
    if (*rc) {
        free(pos);
        *rc = *rc == 1 ? EXIT_OK : *rc;
        return NULL;
    }
    return pos;
}

int cli_check_writable(const char *path, const char *what)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (!*path || (slash && !slash[1])) {
        cli_error("%s: '%s' is not a file name", what, path);
        return -1;
    }
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        cli_error("%s: %s is a folder", what, path);
        return -1;
    }
    if (access(dir, W_OK) != 0) {
        cli_error("%s: cannot write into folder %s: %s", what, dir, strerror(errno));
        return -1;
    }
    return 0;
}

int cli_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    if (n > 8) n = 8;
    return (int)n;
}

/* ------------------------------------------------------------------------ */

static int buf_reserve(cli_buf *b, size_t extra)
{
    if (b->failed) return -1;
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        b->failed = 1;
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

void cli_buf_put(cli_buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, n)) return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void cli_buf_printf(cli_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k < 0 || buf_reserve(b, (size_t)k)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)k;
}

void cli_buf_free(cli_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* ------------------------------------------------------------------------ */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    interrupted = 1;
    /* A second signal ends the process the usual way. */
    signal(sig, SIG_DFL);
}

void cli_catch_interrupts(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_interrupted(void) { return interrupted != 0; }

const volatile sig_atomic_t *cli_interrupt_flag(void) { return &interrupted; }

void cli_buf_json(cli_buf *b, const char *s)
{
    cli_buf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') cli_buf_printf(b, "\\%c", *p);
        else if (*p < 0x20) cli_buf_printf(b, "\\u%04x", *p);
        else cli_buf_put(b, (const char *)p, 1);
    }
    cli_buf_put(b, "\"", 1);
}
