/*
 * Flag parsing, driven by a table of arg_spec per command.
 *
 *   --name value, --name=value, -o value; flags without a value; "--" ends
 *   the flags; "-" is a positional argument (stdin). A value may start with
 *   '-' ("--epochs -3" is then out of range rather than a missing value).
 *   --help / -h prints the command's help. Repeated flags: the last wins.
 * Every error is one line on stderr and EXIT_USAGE.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

arg_spec *args_find(arg_command *cmd, const char *name)
{
    for (arg_spec *s = cmd->specs; s->name; s++)
        if (strcmp(s->name, name) == 0 || (s->alias && strcmp(s->alias, name) == 0)) return s;
    return NULL;
}

static const char *kind_metavar(const arg_spec *s)
{
    if (s->metavar) return s->metavar;
    switch (s->kind) {
    case ARG_INT:
    case ARG_U64: return "N";
    case ARG_FLOAT: return "F";
    case ARG_STRING: return "VALUE";
    default: return "";
    }
}

/* Shortest decimal that reads back as the same double. */
static void fmt_double(char *buf, size_t cap, double v)
{
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, cap, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

static void fmt_range(char *buf, size_t cap, const arg_spec *s)
{
    char lo[40], hi[40];
    if (s->kind == ARG_INT) {
        snprintf(buf, cap, "%.0f..%.0f", s->lo, s->hi);
        return;
    }
    fmt_double(lo, sizeof lo, s->lo);
    fmt_double(hi, sizeof hi, s->hi);
    snprintf(buf, cap, "%s%s, %s%s", s->lo_open ? "(" : "[", lo, hi, s->hi_open ? ")" : "]");
}

/* One parse: of a command line, whose errors are printed, or of stored
 * flags, whose errors go into msg for the caller to say where they came
 * from (in one line). */
typedef struct parse_ctx {
    arg_command *cmd;
    char *msg; /* stored flags: the error goes here */
    size_t cap;
} parse_ctx;

static int usage_error(const parse_ctx *pc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const parse_ctx *pc, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (pc->msg) {
        /* One line, as cli_error would print it. */
        for (char *p = msg; *p; p++)
            if (*p == '\n' || *p == '\r') *p = ' ';
        snprintf(pc->msg, pc->cap, "%s", msg);
    } else
        cli_error("%s (see 'recur %s --help')", msg, pc->cmd->name);
    return EXIT_USAGE;
}

/* Store `value` for spec s; EXIT_USAGE (reported) when it is not valid. */
static int set_value(const parse_ctx *pc, arg_spec *s, const char *value)
{
    char *end = NULL;
    switch (s->kind) {
    case ARG_FLAG: *(int *)s->dest = 1; break;
    case ARG_STRING:
        if (!*value) return usage_error(pc, "%s: the value is empty", s->name);
        *(const char **)s->dest = value;
        break;
    case ARG_INT: {
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (end == value || *end || !*value)
            return usage_error(pc, "%s: '%s' is not an integer", s->name, value);
        if (errno == ERANGE || (double)v < s->lo || (double)v > s->hi) {
            char r[96];
            fmt_range(r, sizeof r, s);
            return usage_error(pc, "%s: %s is out of range %s", s->name, value, r);
        }
        *(int *)s->dest = (int)v;
        break;
    }
    case ARG_U64: {
        errno = 0;
        if (value[0] == '-' || value[0] == '+')
            return usage_error(pc, "%s: '%s' is not a non-negative integer", s->name, value);
        unsigned long long v = strtoull(value, &end, 10);
        if (end == value || *end || !*value)
            return usage_error(pc, "%s: '%s' is not a non-negative integer", s->name, value);
        if (errno == ERANGE)
            return usage_error(pc, "%s: %s is out of range 0..18446744073709551615", s->name, value);
        *(uint64_t *)s->dest = (uint64_t)v;
        break;
    }
    case ARG_FLOAT: {
        errno = 0;
        double v = strtod(value, &end);
        if (end == value || *end || !*value || !isfinite(v))
            return usage_error(pc, "%s: '%s' is not a number", s->name, value);
        int below = s->lo_open ? !(v > s->lo) : !(v >= s->lo);
        int above = s->hi_open ? !(v < s->hi) : !(v <= s->hi);
        if (below || above) {
            char r[96];
            fmt_range(r, sizeof r, s);
            return usage_error(pc, "%s: %s is out of range %s", s->name, value, r);
        }
        *(double *)s->dest = v;
        break;
    }
    case ARG_CHOICE: {
        for (int i = 0; s->choices[i]; i++)
            if (strcmp(s->choices[i], value) == 0) {
                *(int *)s->dest = i;
                return 0;
            }
        char list[256] = "";
        size_t k = 0;
        for (int i = 0; s->choices[i] && k < sizeof list; i++)
            k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "", s->choices[i]);
        return usage_error(pc, "%s: '%s' is not one of %s", s->name, value, list);
    }
    }
    return 0;
}

static int parse(const parse_ctx *pc, int argc, char **argv, char **pos, int *npos)
{
    arg_command *cmd = pc->cmd;
    *npos = 0;
    int flags_done = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (flags_done || a[0] != '-' || strcmp(a, "-") == 0) {
            pos[(*npos)++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            flags_done = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            /* Stored flags never hold it: a damaged file must not print help. */
            if (pc->msg) return usage_error(pc, "%s", a);
            args_print_help(cmd, stdout);
            return 1;
        }
        /* --name=value */
        char name[64];
        const char *inline_value = NULL;
        const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        if (nlen >= sizeof name) return usage_error(pc, "unknown flag %.60s...", a);
        memcpy(name, a, nlen);
        name[nlen] = '\0';
        if (eq) inline_value = eq + 1;
        arg_spec *s = args_find(cmd, name);
        if (!s) return usage_error(pc, "unknown flag %s", name);
        s->seen = 1;
        if (s->kind == ARG_FLAG) {
            if (inline_value) return usage_error(pc, "%s takes no value", s->name);
            *(int *)s->dest = 1;
            continue;
        }
        const char *value = inline_value;
        if (!value) {
            /* "--hidden --layers 2": the value is missing, not "--layers". */
            if (i + 1 >= argc || (strncmp(argv[i + 1], "--", 2) == 0 && argv[i + 1][2]))
                return usage_error(pc, "%s needs a value (%s)", s->name, kind_metavar(s));
            value = argv[++i];
        }
        int rc = set_value(pc, s, value);
        if (rc) return rc;
    }
    if (*npos < cmd->min_pos) {
        const char *u = cmd->usage ? cmd->usage : cmd->name;
        return usage_error(pc, "missing arguments; usage: %s", u);
    }
    if (cmd->max_pos >= 0 && *npos > cmd->max_pos)
        return usage_error(pc, "unexpected argument '%s'", pos[cmd->max_pos]);
    return 0;
}

int args_parse(arg_command *cmd, int argc, char **argv, char **pos, int *npos)
{
    parse_ctx pc = {cmd, NULL, 0};
    return parse(&pc, argc, argv, pos, npos);
}

/* Split s in place into tokens: blanks separate, "..." quotes with \" and
 * \\ escapes. */
int args_tokenize(char *s, char **tok, int cap)
{
    int n = 0;
    char *p = s;
    while (*p) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        if (n == cap) return -1;
        if (*p == '"') {
            char *w = ++p;
            tok[n++] = w;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1]) p++;
                *w++ = *p++;
            }
            if (*p != '"') return -1;
            p++;
            *w = '\0';
            if (*p && *p != ' ' && *p != '\t') return -1;
        } else {
            tok[n++] = p;
            while (*p && *p != ' ' && *p != '\t') p++;
            if (*p) *p++ = '\0';
        }
    }
    return n;
}

int args_parse_stored(arg_command *cmd, char *s, char *msg, size_t cap)
{
    char *tok[130];
    tok[0] = (char *)cmd->name;
    int n = args_tokenize(s, tok + 1, 128);
    if (n < 0) {
        snprintf(msg, cap, "malformed (an open quote, or more than 128 words)");
        return EXIT_USAGE;
    }
    /* Seen marks belong to the command line, not the stored flags. */
    int seen[128], k = 0;
    for (arg_spec *sp = cmd->specs; sp->name && k < 128; sp++) seen[k++] = sp->seen;
    char *pos[130];
    int npos = 0;
    int min = cmd->min_pos, max = cmd->max_pos;
    cmd->min_pos = 0;
    cmd->max_pos = 0;
    parse_ctx pc = {cmd, msg, cap};
    int rc = parse(&pc, n + 1, tok, pos, &npos);
    cmd->min_pos = min;
    cmd->max_pos = max;
    k = 0;
    for (arg_spec *sp = cmd->specs; sp->name && k < 128; sp++) sp->seen = seen[k++];
    return rc;
}

int args_parse_string(arg_command *cmd, char *s)
{
    char msg[400];
    int rc = args_parse_stored(cmd, s, msg, sizeof msg);
    if (rc) cli_error("stored flags: %s", msg);
    return rc;
}

static void value_string(const arg_spec *s, char *buf, size_t cap)
{
    buf[0] = '\0';
    switch (s->kind) {
    case ARG_FLAG: break;
    case ARG_INT: snprintf(buf, cap, "%d", *(const int *)s->dest); break;
    case ARG_U64: snprintf(buf, cap, "%llu", (unsigned long long)*(const uint64_t *)s->dest); break;
    case ARG_FLOAT: fmt_double(buf, cap, *(const double *)s->dest); break;
    case ARG_STRING: {
        const char *v = *(const char *const *)s->dest;
        snprintf(buf, cap, "%s", v ? v : "");
        break;
    }
    case ARG_CHOICE: snprintf(buf, cap, "%s", s->choices[*(const int *)s->dest]); break;
    }
}

char *args_format(const arg_command *cmd, int all)
{
    cli_buf b = {0};
    for (const arg_spec *s = cmd->specs; s->name; s++) {
        if (!all && !s->seen) continue;
        if (s->kind == ARG_FLAG) {
            if (*(const int *)s->dest) cli_buf_printf(&b, "%s%s", b.len ? " " : "", s->name);
            continue;
        }
        if (s->kind == ARG_STRING) {
            const char *v = *(const char *const *)s->dest;
            if (!v) continue;
            /* A value such as "--x" would read back as a flag after its
             * name: quote "--name=--x" as one word instead. */
            if (strncmp(v, "--", 2) == 0 && v[2])
                cli_buf_printf(&b, "%s\"%s=", b.len ? " " : "", s->name);
            else
                cli_buf_printf(&b, "%s%s \"", b.len ? " " : "", s->name);
            for (const char *p = v; *p; p++) {
                if (*p == '"' || *p == '\\') cli_buf_put(&b, "\\", 1);
                cli_buf_put(&b, p, 1);
            }
            cli_buf_put(&b, "\"", 1);
            continue;
        }
        char v[64];
        value_string(s, v, sizeof v);
        cli_buf_printf(&b, "%s%s %s", b.len ? " " : "", s->name, v);
    }
    cli_buf_put(&b, "", 1);
    if (b.failed) {
        cli_buf_free(&b);
        return NULL;
    }
    return b.data;
}

void args_print_help(const arg_command *cmd, FILE *f)
{
    fprintf(f, "usage: %s\n\n%s\n", cmd->usage, cmd->summary);
    int any = 0;
    for (const arg_spec *s = cmd->specs; s->name; s++) {
        if (!s->help) continue;
        if (!any) fprintf(f, "\noptions:\n");
        any = 1;
        char left[160], list[120] = "";
        const char *mv = s->kind == ARG_FLAG ? "" : kind_metavar(s);
        if (s->kind == ARG_CHOICE) {
            size_t k = 0;
            for (int i = 0; s->choices[i] && k < sizeof list; i++)
                k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i ? "|" : "", s->choices[i]);
            mv = list;
        }
        if (s->alias)
            snprintf(left, sizeof left, "%s, %s%s%s", s->alias, s->name, *mv ? " " : "", mv);
        else
            snprintf(left, sizeof left, "%s%s%s", s->name, *mv ? " " : "", mv);
        char def[80] = "";
        if (s->kind != ARG_FLAG) {
            char v[64];
            value_string(s, v, sizeof v);
            if (v[0]) snprintf(def, sizeof def, " (default %s)", v);
        }
        char text[600];
        snprintf(text, sizeof text, "%s%s", s->help, def);
        if (strlen(left) > 26) fprintf(f, "  %s\n  %-26s  ", left, "");
        else fprintf(f, "  %-26s  ", left);
        /* Wrap the text at 79 columns, under itself. */
        const char *t = text;
        int col = 30;
        while (*t) {
            const char *sp = strchr(t, ' ');
            int wlen = sp ? (int)(sp - t) : (int)strlen(t);
            if (col > 30 && col + 1 + wlen > 79) {
                fprintf(f, "\n%30s", "");
                col = 30;
            } else if (col > 30) {
                fputc(' ', f);
                col++;
            }
            fwrite(t, 1, (size_t)wlen, f);
            col += wlen;
            t += wlen;
            while (*t == ' ') t++;
        }
        fputc('\n', f);
    }
    fprintf(f, "  %-26s  %s\n", "-h, --help", "show this help");
}
