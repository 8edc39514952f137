#define _DEFAULT_SOURCE
#include "tool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *bin(void)
{
    const char *b = getenv("RECUR_BIN");
    return b && *b && access(b, X_OK) == 0 ? b : NULL;
}

const char *tool_new_dir(const char *prefix, const char *name)
{
    static char path[16][512];
    static int k;
    char *p = path[k % 16];
    snprintf(p, sizeof path[0], "%s/%s-%s-%d", test_tmpdir(), prefix, name, k++);
    if (mkdir(p, 0777) != 0) {
        perror(p);
        test_failures++;
    }
    return p;
}

void put_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        perror(path);
        test_failures++;
    }
    if (f) fclose(f);
}

void put(const char *dir, const char *name, const char *data, size_t len)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    put_file(path, data, len);
}

char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0, r;
    char *b = malloc(cap);
    while (b && (r = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n + 1 == cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) free(b);
            b = nb;
        }
    }
    fclose(f);
    if (b) b[n] = '\0';
    if (len) *len = n;
    return b;
}

int same_file(const char *a, const char *b)
{
    size_t la = 0, lb = 0;
    char *x = slurp(a, &la), *y = slurp(b, &lb);
    int same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

void result_free(result *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

/* Names for the next run's stdout and stderr under the temporary folder. */
static void capture_paths(char *out, char *err, size_t size)
{
    static int k;
    snprintf(out, size, "%s/tool-out-%d.txt", test_tmpdir(), k);
    snprintf(err, size, "%s/tool-err-%d.txt", test_tmpdir(), k++);
}

/* The run's result from its wait status (ran: 0 when it did not run) and
 * the files holding its stdout and stderr. */
static result collect(int ran, int st, const char *out, const char *err)
{
    result r = {-1, NULL, NULL, 0};
    if (ran) r.code = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
    r.out = slurp(out, NULL);
    r.err = slurp(err, NULL);
    if (!r.out) r.out = calloc(1, 1);
    if (!r.err) r.err = calloc(1, 1);
    for (const char *p = r.err; p && *p; p++) r.err_lines += *p == '\n';
    return r;
}

result run_in(const char *dir, const char *env, const char *args, const char *stdin_file)
{
    char out[600], err[600], cmd[4096];
    capture_paths(out, err, sizeof out);
    snprintf(cmd, sizeof cmd, "cd '%s' && %s '%s' %s <'%s' >'%s' 2>'%s'", dir ? dir : ".", env ? env : "", bin(),
             args, stdin_file ? stdin_file : "/dev/null", out, err);
    int st = system(cmd);
    return collect(st != -1, st, out, err);
}

result runv(const char *dir, const char *in, const char *const *words)
{
    char out[600], err[600];
    capture_paths(out, err, sizeof out);
    const char *argv[64] = {bin()};
    int n = 1;
    while (words[n - 1] && n < 63) argv[n] = words[n - 1], n++;
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int i = open(in ? in : "/dev/null", O_RDONLY), o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0666),
            e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (i < 0 || o < 0 || e < 0 || dup2(i, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0 || chdir(dir) != 0)
            _exit(99);
        execv(argv[0], (char *const *)argv);
        _exit(98);
    }
    int st = 0;
    int ran = pid > 0 && waitpid(pid, &st, 0) == pid;
    return collect(ran, st, out, err);
}
