#define _DEFAULT_SOURCE
#include "tool.h"

#include <fcntl.h>
#include <math.h>
#include <string.h>
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

/* ------------------------------------------------------------------------ */
/* SVG text inside its canvas                                                */
/* ------------------------------------------------------------------------ */

/* The number value of attribute `name` in the tag [tag, end), or dflt. */
static double svg_attr(const char *tag, const char *end, const char *name, double dflt)
{
    char key[40];
    snprintf(key, sizeof key, " %s=\"", name);
    const char *p = strstr(tag, key);
    return p && p < end ? strtod(p + strlen(key), NULL) : dflt;
}

static int svg_attr_is(const char *tag, const char *end, const char *name, const char *value)
{
    char key[80];
    snprintf(key, sizeof key, " %s=\"%s\"", name, value);
    const char *p = strstr(tag, key);
    return p && p < end;
}

const char *svg_text_outside(const char *path)
{
    static char why[400];
    char *svg = slurp(path, NULL);
    if (!svg) {
        snprintf(why, sizeof why, "%s: cannot read it", path);
        return why;
    }
    const char *root = strstr(svg, "<svg"), *root_end = root ? strchr(root, '>') : NULL;
    if (!root_end) {
        free(svg);
        snprintf(why, sizeof why, "%s: no <svg> element", path);
        return why;
    }
    const double W = svg_attr(root, root_end, "width", 0), H = svg_attr(root, root_end, "height", 0);
    const double base = svg_attr(root, root_end, "font-size", 16);
    const char *res = NULL;
    for (const char *t = strstr(root_end, "<text"); t && !res; t = strstr(t + 1, "<text")) {
        const char *te = strchr(t, '>'), *close = te ? strstr(te, "</text>") : NULL;
        if (!close) break;
        const double fs = svg_attr(t, te, "font-size", base);
        /* Code points of the content (markup such as <tspan> left out), an
         * entity counting as one. */
        size_t chars = 0;
        for (const char *c = te + 1; c < close; c++) {
            if (*c == '<') {
                const char *gt = strchr(c, '>');
                if (gt && gt < close) {
                    c = gt;
                    continue;
                }
            }
            if (*c == '&') {
                const char *semi = strchr(c, ';');
                if (semi && semi < close) c = semi;
            }
            chars += ((unsigned char)*c & 0xc0) != 0x80;
        }
        const double w = 0.6 * fs * (double)chars;
        double x = svg_attr(t, te, "x", 0), y = svg_attr(t, te, "y", 0);
        double x0 = svg_attr_is(t, te, "text-anchor", "middle") ? x - w / 2
                    : svg_attr_is(t, te, "text-anchor", "end")  ? x - w
                                                                : x;
        /* translate(a b) rotate(r): the box's corners, turned and moved. */
        double tx = 0, ty = 0, rot = 0;
        const char *tr = strstr(t, " transform=\"");
        if (tr && tr < te) {
            const char *q = strstr(tr, "translate(");
            if (q && q < te) tx = strtod(q + 10, (char **)&q), ty = strtod(q, NULL);
            q = strstr(tr, "rotate(");
            if (q && q < te) rot = strtod(q + 7, NULL) * 3.14159265358979 / 180;
        }
        const double cx[4] = {x0, x0 + w, x0, x0 + w}, cy[4] = {y - 0.8 * fs, y - 0.8 * fs, y + 0.2 * fs, y + 0.2 * fs};
        for (int k = 0; k < 4 && !res; k++) {
            double px = tx + cx[k] * cos(rot) - cy[k] * sin(rot), py = ty + cx[k] * sin(rot) + cy[k] * cos(rot);
            if (px < -0.5 || px > W + 0.5 || py < -0.5 || py > H + 0.5) {
                snprintf(why, sizeof why, "%s: text at (%.0f, %.0f) of %zu characters (%.0f px) reaches (%.0f, %.0f) "
                         "outside the %.0f x %.0f canvas: %.*s", path, tx + x, ty + y, chars, fs, px, py, W, H,
                         (int)(close - te - 1 < 120 ? close - te - 1 : 120), te + 1);
                res = why;
            }
        }
    }
    free(svg);
    return res;
}
