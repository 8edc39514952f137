/*
 * fuzz_cli: libFuzzer harness for the command-line parser of every
 * subcommand (cli/args.c driven by each command's own flag table).
 *
 * Input: NUL-separated words. The first names the command ("train",
 * "eval", ...; any other word picks one by its first byte); then either
 *   - argv mode: the other words are argv[1..] of `recur <command>`, given
 *     to args_parse on the command's table (built by cmd_<name>_table, the
 *     code the command itself uses), or
 *   - stored mode, when the first word starts with '@' ("@train"): the
 *     rest of the input is one string of stored flags, given to
 *     args_parse_stored and args_parse_string: what `train --resume` does
 *     with the train_args of a checkpoint, which may come from anywhere.
 * Nothing runs: no file is read or written, no model is built.
 *
 * Promises checked (abort with "broken promise" when one breaks), besides
 * what ASan and UBSan catch:
 *   - the result is 0, 1 (--help, printed on stdout as "usage: recur ...")
 *     or EXIT_USAGE; an error is exactly one line "recur: ..." on stderr,
 *     success prints nothing there; stored flags never print help, and
 *     args_parse_stored prints nothing (its message is one line);
 *   - after success every value is within its flag's range (integers and
 *     numbers in bounds and finite, choices valid, strings non-empty and
 *     taken from argv), and the positional arguments are argv words, in
 *     order, as many as the command allows;
 *   - the flags survive being stored: args_format (what train writes into
 *     a model) read back by args_parse_string gives the same flags, both
 *     all of them and only those given.
 *
 * Adding a command (sample, experiment, ...) is one line in `commands`.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "exp_common.h"

static const struct {
    const char *name;
    arg_command *(*table)(void);
} commands[] = {
    {"train", cmd_train_table},
    {"eval", cmd_eval_table},
    {"predict", cmd_predict_table},
    {"info", cmd_info_table},
    {"sample", cmd_sample_table},
    {"inspect", cmd_inspect_table},
    {"quantize", cmd_quantize_table},
    {"import", cmd_import_table},
    {"experiment memory", cmd_experiment_memory_table},
    {"experiment gradients", cmd_experiment_gradients_table},
    {"experiment cost", cmd_experiment_cost_table},
    {"experiment adding", cmd_experiment_adding_table},
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0], MAX_WORDS = 4096 };

/* The real streams: the parser's output goes to memory while it runs, and
 * a broken promise is reported here. */
static FILE *real_stderr, *real_stdout;

#define REQUIRE(cond, ...)                                                                  \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(real_stderr, "fuzz_cli: broken promise: %s (%s:%d): ", #cond, __FILE__, \
                    __LINE__);                                                              \
            fprintf(real_stderr, __VA_ARGS__);                                              \
            fputc('\n', real_stderr);                                                       \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

/* What the parser printed during one call. */
typedef struct captured {
    char *out, *err;
    size_t out_len, err_len;
    FILE *fo, *fe;
} captured;

/* glibc's stdout and stderr are variables: pointing them at memory streams
 * captures cli_error and the help without touching file descriptor 2, where
 * sanitizer reports must still go. */
static void capture_begin(captured *c)
{
    memset(c, 0, sizeof *c);
    c->fo = open_memstream(&c->out, &c->out_len);
    c->fe = open_memstream(&c->err, &c->err_len);
    if (!c->fo || !c->fe) {
        fprintf(real_stderr, "fuzz_cli: open_memstream failed\n");
        exit(2);
    }
    stdout = c->fo;
    stderr = c->fe;
}

static void capture_end(captured *c)
{
    stdout = real_stdout;
    stderr = real_stderr;
    fclose(c->fo);
    fclose(c->fe);
}

static void capture_free(captured *c)
{
    free(c->out);
    free(c->err);
}

/* Exactly one line "recur: ...\n", and about this command's flags. */
static void require_one_error_line(const captured *c, const char *what)
{
    REQUIRE(c->err_len > 8 && strncmp(c->err, "recur: ", 7) == 0, "%s: stderr is '%.*s'", what,
            (int)c->err_len, c->err);
    REQUIRE(memchr(c->err, '\n', c->err_len) == c->err + c->err_len - 1, "%s: stderr is '%.*s'", what,
            (int)c->err_len, c->err);
    REQUIRE(c->out_len == 0, "%s: stdout is '%.*s'", what, (int)c->out_len, c->out);
}

static int within(const char *p, char **words, const size_t *lens, int n)
{
    for (int i = 0; i < n; i++)
        if (p >= words[i] && p <= words[i] + lens[i]) return 1;
    return 0;
}

/* Every value is one the command can use. */
static void require_valid_values(const arg_command *cmd, char **words, const size_t *lens, int n)
{
    for (const arg_spec *s = cmd->specs; s->name; s++) {
        switch (s->kind) {
        case ARG_FLAG: {
            int v = *(const int *)s->dest;
            REQUIRE(v == 0 || v == 1, "%s = %d", s->name, v);
            break;
        }
        case ARG_INT: {
            int v = *(const int *)s->dest;
            REQUIRE(v >= s->lo && v <= s->hi, "%s = %d", s->name, v);
            break;
        }
        case ARG_U64: break;
        case ARG_FLOAT: {
            double v = *(const double *)s->dest;
            REQUIRE(isfinite(v), "%s = %g", s->name, v);
            REQUIRE(s->lo_open ? v > s->lo : v >= s->lo, "%s = %g", s->name, v);
            REQUIRE(s->hi_open ? v < s->hi : v <= s->hi, "%s = %g", s->name, v);
            break;
        }
        case ARG_STRING: {
            const char *v = *(const char *const *)s->dest;
            if (!v) break;
            REQUIRE(*v, "%s is empty", s->name);
            /* Defaults are literals; a value given comes from the words. */
            if (s->seen && words) REQUIRE(within(v, words, lens, n), "%s does not point into argv", s->name);
            break;
        }
        case ARG_CHOICE: {
            int v = *(const int *)s->dest, k = 0;
            while (s->choices[k]) k++;
            REQUIRE(v >= 0 && v < k, "%s = %d of %d", s->name, v, k);
            break;
        }
        }
    }
}

/* Stored flags (args_format) read back onto a fresh table: the same flags. */
static void require_roundtrip(int k, const arg_command *cmd, int all)
{
    char *stored = args_format(cmd, all), *want = args_format(cmd, 1);
    REQUIRE(stored && want, "args_format failed");
    arg_command *fresh = commands[k].table();
    REQUIRE(fresh, "out of memory");
    char *copy = strdup(stored); /* args_parse_string keeps pointers into it */
    REQUIRE(copy, "out of memory");
    char msg[400] = "";
    int rc = args_parse_stored(fresh, copy, msg, sizeof msg);
    REQUIRE(rc == 0, "%s: flags '%s' stored as '%s' do not read back: %s", commands[k].name, want, stored, msg);
    char *back = args_format(fresh, 1);
    REQUIRE(back && strcmp(back, want) == 0, "%s: '%s' stored as '%s' reads back as '%s'", commands[k].name, want,
            stored, back ? back : "(null)");
    free(back);
    free(copy);
    free(fresh);
    free(stored);
    free(want);
}

static void fuzz_argv(int k, char **words, size_t *lens, int n)
{
    arg_command *cmd = commands[k].table();
    char **pos = calloc((size_t)n + 1, sizeof *pos); /* as the commands size it */
    REQUIRE(cmd && pos, "out of memory");
    words[0] = (char *)commands[k].name;
    int npos = -1;
    captured c;
    capture_begin(&c);
    int rc = args_parse(cmd, n, words, pos, &npos);
    capture_end(&c);
    REQUIRE(rc == 0 || rc == 1 || rc == EXIT_USAGE, "%s: args_parse returned %d", commands[k].name, rc);
    if (rc == EXIT_USAGE) {
        require_one_error_line(&c, commands[k].name);
        REQUIRE(strstr(c.err, "(see 'recur ") != NULL, "no pointer to --help: %.*s", (int)c.err_len, c.err);
    } else if (rc == 1) {
        char want[64];
        snprintf(want, sizeof want, "usage: recur %s", commands[k].name);
        REQUIRE(c.err_len == 0, "--help wrote to stderr");
        REQUIRE(c.out_len > strlen(want) && strncmp(c.out, want, strlen(want)) == 0, "help: %.80s", c.out);
    } else {
        REQUIRE(c.err_len == 0 && c.out_len == 0, "%s: success printed '%.*s'", commands[k].name,
                (int)c.err_len, c.err);
        REQUIRE(npos >= cmd->min_pos && (cmd->max_pos < 0 || npos <= cmd->max_pos), "%d positional", npos);
        int at = 1;
        for (int i = 0; i < npos; i++) {
            while (at < n && pos[i] != words[at]) at++;
            REQUIRE(at < n, "positional %d is not a word of argv, in order", i);
            at++;
        }
        require_valid_values(cmd, words + 1, lens + 1, n - 1);
        require_roundtrip(k, cmd, 1);
        require_roundtrip(k, cmd, 0);
    }
    capture_free(&c);
    free(pos);
    free(cmd);
}

static void fuzz_stored(int k, const uint8_t *data, size_t size)
{
    arg_command *cmd = commands[k].table(), *loud = commands[k].table();
    char *s = malloc(size + 1), *s2 = malloc(size + 1);
    REQUIRE(cmd && loud && s && s2, "out of memory");
    memcpy(s, data, size);
    s[size] = '\0';
    memcpy(s2, s, size + 1);
    char msg[400] = "";
    captured c;
    capture_begin(&c);
    int rc = args_parse_stored(cmd, s, msg, sizeof msg);
    capture_end(&c);
    REQUIRE(rc == 0 || rc == EXIT_USAGE, "args_parse_stored returned %d", rc);
    REQUIRE(c.err_len == 0 && c.out_len == 0, "args_parse_stored printed '%.*s'", (int)c.err_len, c.err);
    capture_free(&c);
    if (rc) {
        REQUIRE(msg[0] && !strchr(msg, '\n'), "stored flags: message '%s'", msg);
    } else {
        for (const arg_spec *sp = cmd->specs; sp->name; sp++)
            REQUIRE(!sp->seen, "stored flags marked %s as given on the command line", sp->name);
        require_valid_values(cmd, NULL, NULL, 0);
        require_roundtrip(k, cmd, 1);
    }
    /* The printing variant: the same answer, in one line. */
    capture_begin(&c);
    int rc2 = args_parse_string(loud, s2);
    capture_end(&c);
    REQUIRE(rc2 == rc, "args_parse_string returned %d, args_parse_stored %d", rc2, rc);
    if (rc) require_one_error_line(&c, "stored flags");
    else REQUIRE(c.err_len == 0 && c.out_len == 0, "stored flags printed '%.*s'", (int)c.err_len, c.err);
    capture_free(&c);
    free(s);
    free(s2);
    free(cmd);
    free(loud);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    real_stderr = stderr;
    real_stdout = stdout;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    /* The first word: the command, '@' for stored flags. */
    const uint8_t *nul = memchr(data, 0, size);
    size_t first = nul ? (size_t)(nul - data) : size;
    int stored = first > 0 && data[0] == '@';
    const char *name = (const char *)data + stored;
    size_t name_len = first - (size_t)stored;
    int k = -1;
    for (int i = 0; i < N_COMMANDS && k < 0; i++)
        if (strlen(commands[i].name) == name_len && memcmp(commands[i].name, name, name_len) == 0) k = i;
    if (k < 0) k = name_len ? ((const uint8_t *)name)[0] % N_COMMANDS : 0;
    const uint8_t *rest = nul ? nul + 1 : data + size;
    size_t rest_len = (size_t)(data + size - rest);
    if (stored) {
        fuzz_stored(k, rest, rest_len);
        return 0;
    }
    /* argv mode: each word in its own allocation, so that reading past the
     * end of one is caught. A final NUL ends the last word (no empty word
     * after it). */
    char **words = malloc((MAX_WORDS + 1) * sizeof *words);
    size_t *lens = malloc((MAX_WORDS + 1) * sizeof *lens);
    REQUIRE(words && lens, "out of memory");
    int n = 1;
    words[0] = NULL;
    lens[0] = 0;
    const uint8_t *p = rest, *end = data + size;
    while (p < end && n <= MAX_WORDS) {
        const uint8_t *z = memchr(p, 0, (size_t)(end - p));
        size_t len = z ? (size_t)(z - p) : (size_t)(end - p);
        words[n] = malloc(len + 1);
        REQUIRE(words[n], "out of memory");
        memcpy(words[n], p, len);
        words[n][len] = '\0';
        lens[n++] = len;
        p += len + 1;
    }
    fuzz_argv(k, words, lens, n);
    for (int i = 1; i < n; i++) free(words[i]);
    free(words);
    free(lens);
    return 0;
}
