/*
 * recur sample MODEL: names drawn from a generation model (recur train
 * --generate), one per line, for one label, a few labels, or all of them.
 *
 * Each name is drawn by the library's recur_runner_sample (the step API):
 * from the label and the boundary symbol, then --start's symbols, one
 * symbol at a time from the model's distribution sharpened by --temperature
 * and cut to the --top-k most likely.
 */
#include <stdlib.h>
#include <string.h>

#include "sample.h"

static const char summary[] =
    "Draw names from MODEL, a generation model written by 'recur train --generate':\n"
    "--count names for the --label given (several: comma-separated), or for every label\n"
    "(3 each by default) without one. The same --seed gives the same names. --check\n"
    "CLASSIFIER reports instead, per label and overall, the share of drawn names that\n"
    "are new (not among the training names, the split derived again from the flags in\n"
    "MODEL) and the share CLASSIFIER assigns to the label asked for.";

void sampler_seed(cli_rng *rng, uint64_t seed, int label) { rng->s = recur_sample_seed(seed, label); }

int sampler_init(sampler *s, const recur_model *m, const sample_opts *o)
{
    memset(s, 0, sizeof *s);
    s->m = m;
    s->o = o;
    const recur_vocab *v = recur_model_vocab(m);
    recur_error err;
    if (recur_runner_create(m, 1, &s->rn, &err)) {
        cli_lib_error(NULL, &err);
        return EXIT_RUNTIME;
    }
    size_t cap = o->start ? strlen(o->start) + 1 : 1;
    s->prefix = malloc(cap * sizeof *s->prefix);
    if (!s->prefix) {
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    if (o->start) {
        size_t n = 0;
        if (recur_vocab_encode(v, o->start, strlen(o->start), s->prefix, cap, &n, &err)) {
            cli_error("--start: %s", err.message);
            return EXIT_USAGE;
        }
        for (size_t i = 0; i < n; i++)
            if (s->prefix[i] == RECUR_TOKEN_UNKNOWN) {
                cli_error("--start: '%s' holds a character the model never saw in training", o->start);
                return EXIT_USAGE;
            }
        if ((int)n >= o->max_length) {
            cli_error("--start: '%s' is %zu symbols long, --max-length is %d", o->start, n, o->max_length);
            return EXIT_USAGE;
        }
        s->n_prefix = (int)n;
    }
    return 0;
}

void sampler_free(sampler *s)
{
    recur_runner_free(s->rn);
    free(s->prefix);
    memset(s, 0, sizeof *s);
}

int sampler_draw(sampler *s, int label, cli_rng *rng, int32_t *tok, int *n, char *text, size_t cap,
                 double *logprob, recur_error *err)
{
    const recur_vocab *v = recur_model_vocab(s->m);
    recur_sample_config c = {s->o->temperature, s->o->top_k, s->o->max_length};
    if (recur_runner_sample(s->rn, label, s->prefix, s->n_prefix, &c, &rng->s, tok, n, logprob, err)) return -1;
    size_t at = 0;
    for (int i = 0; i < *n; i++) {
        const char *sym = recur_vocab_symbol(v, tok[i]);
        size_t k = strlen(sym);
        if (at + k + 1 > cap) break;
        memcpy(text + at, sym, k);
        at += k;
    }
    text[at] = '\0';
    return 0;
}

/* The labels of --label ("Russian,German") as ids, or all of them. */
static int parse_labels(const recur_model *m, const char *model_path, const char *arg, int **out, int *n)
{
    int C = recur_model_num_labels(m);
    *out = malloc((size_t)C * sizeof **out);
    *n = 0;
    if (!*out) {
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    if (!arg) {
        for (int l = 0; l < C; l++) (*out)[(*n)++] = l;
        return 0;
    }
    for (const char *p = arg;;) {
        const char *end = strchr(p, ',');
        size_t k = end ? (size_t)(end - p) : strlen(p);
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(k < 255 ? k : 255), p);
        int l = recur_model_label_find(m, name);
        if (l < 0) {
            char list[600] = "";
            size_t at = 0;
            for (int c = 0; c < C && at < sizeof list; c++)
                at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", c ? ", " : "",
                                       recur_model_label_name(m, c));
            cli_error("--label: '%s' is not a label of %s (%s)", name, model_path, list);
            return EXIT_USAGE;
        }
        if (*n < C) (*out)[(*n)++] = l;
        if (!end) break;
        p = end + 1;
    }
    return 0;
}

static int print_names(sampler *s, const int *labels, int nl)
{
    const sample_opts *o = s->o;
    int32_t *tok = malloc((size_t)o->max_length * sizeof *tok);
    size_t cap = (size_t)o->max_length * 8 + 1;
    char *text = malloc(cap);
    int rc = 0;
    if (!tok || !text) {
        cli_error("out of memory");
        rc = EXIT_RUNTIME;
    }
    for (int k = 0; !rc && k < nl; k++) {
        const char *lname = recur_model_label_name(s->m, labels[k]);
        cli_rng rng;
        sampler_seed(&rng, o->seed, labels[k]);
        for (int i = 0; i < o->count; i++) {
            int n;
            double lp;
            recur_error err;
            if (sampler_draw(s, labels[k], &rng, tok, &n, text, cap, &lp, &err)) {
                cli_lib_error(NULL, &err);
                rc = EXIT_RUNTIME;
                break;
            }
            if (o->json) {
                fputs("{\"label\":", stdout);
                cli_json_string(stdout, lname);
                fputs(",\"name\":", stdout);
                cli_json_string(stdout, text);
                printf(",\"logprob\":%.4f}\n", lp);
            } else if (nl > 1) {
                printf("%-12s %s\n", lname, text);
            } else {
                printf("%s\n", text);
            }
        }
    }
    free(tok);
    free(text);
    if (!rc && fflush(stdout) != 0) {
        cli_error("cannot write the names");
        rc = EXIT_RUNTIME;
    }
    return rc;
}

enum { SAMPLE_SPECS = 12 };

/* The flag table, options at their defaults: cmd_sample and cmd_sample_table. */
static void sample_table(arg_command *cmd, arg_spec *s, sample_opts *o, int *threads)
{
    *o = (sample_opts){NULL, NULL, 10, 0.8, 0, 1, 40, 0, NULL, NULL};
    *threads = 1;
    arg_spec specs[] = {
        {"--label", "-l", ARG_STRING, &o->labels, 0, 0, 0, 0, NULL, "L[,L...]", "the label(s) to draw names of (default: every label)", 0},
        {"--start", NULL, ARG_STRING, &o->start, 0, 0, 0, 0, NULL, "TEXT", "the first characters of every name", 0},
        {"--count", "-n", ARG_INT, &o->count, 1, 1000000, 0, 0, NULL, "N", "names per label (3 without --label, 100 with --check)", 0},
        {"--temperature", "-t", ARG_FLOAT, &o->temperature, 0, 100, 1, 0, NULL, "F", "below 1: likelier names; above 1: more varied ones", 0},
        {"--top-k", NULL, ARG_INT, &o->top_k, 0, 1000000, 0, 0, NULL, "K", "draw each symbol from the K most likely only; 0 = all", 0},
        {"--seed", NULL, ARG_U64, &o->seed, 0, 0, 0, 0, NULL, "N", "the same seed draws the same names", 0},
        {"--max-length", NULL, ARG_INT, &o->max_length, 1, 1000, 0, 0, NULL, "N", "cut names at N symbols", 0},
        {"--json", NULL, ARG_FLAG, &o->json, 0, 0, 0, 0, NULL, NULL, "one JSON object per name (with --check: one for the report)", 0},
        {"--check", NULL, ARG_STRING, &o->check, 0, 0, 0, 0, NULL, "CLASSIFIER", "report the share of new names and of names CLASSIFIER assigns to their label", 0},
        {"--data", NULL, ARG_STRING, &o->data, 0, 0, 0, 0, NULL, "DIR", "--check: the training data (default: the folder stored in MODEL, else $RECUR_DATA)", 0},
        {"--threads", NULL, ARG_INT, threads, 1, 256, 0, 0, NULL, "N", "threads for matrix products", 0},
        SPEC_END,
    };
    _Static_assert(sizeof specs == SAMPLE_SPECS * sizeof specs[0], "SAMPLE_SPECS");
    memcpy(s, specs, sizeof specs);
    *cmd = (arg_command){"sample", "recur sample MODEL [--label L] [--start TEXT] [--count N] [--temperature F] [options]",
                       summary, s, 1, 1};
}

arg_command *cmd_sample_table(void)
{
    struct {
        arg_command cmd; /* first: the block is freed through it */
        arg_spec specs[SAMPLE_SPECS];
        sample_opts o;
        int threads;
    } *t = malloc(sizeof *t);
    if (!t) return NULL;
    sample_table(&t->cmd, t->specs, &t->o, &t->threads);
    return &t->cmd;
}

int cmd_sample(int argc, char **argv)
{
    sample_opts o;
    int threads;
    arg_spec specs[SAMPLE_SPECS];
    arg_command cmd;
    sample_table(&cmd, specs, &o, &threads);
    int npos, rc;
    char **pos = cli_parse_command(&cmd, argc, argv, &npos, &rc);
    if (!pos) return rc;
    const char *model_path = pos[0];
    free(pos);
    if (!args_find(&cmd, "--count")->seen) o.count = o.check ? 100 : o.labels ? 10 : 3;
    if (o.data && !o.check) {
        cli_error("--data goes with --check (see 'recur sample --help')");
        return EXIT_USAGE;
    }
    recur_set_threads(threads);

    recur_error err;
    recur_model *m = NULL;
    if (recur_model_load(model_path, &m, &err)) {
        cli_lib_error(NULL, &err);
        return EXIT_RUNTIME;
    }
    if (recur_model_get_config(m)->task != RECUR_TASK_GENERATE) {
        cli_error("%s is a classifier; sample needs a generation model (recur train --generate)", model_path);
        recur_model_free(m);
        return EXIT_RUNTIME;
    }
    int *labels = NULL, nl = 0;
    sampler s;
    memset(&s, 0, sizeof s);
    rc = parse_labels(m, model_path, o.labels, &labels, &nl);
    if (!rc) rc = sampler_init(&s, m, &o);
    if (!rc) rc = o.check ? sample_check(&s, model_path, labels, nl) : print_names(&s, labels, nl);
    sampler_free(&s);
    free(labels);
    recur_model_free(m);
    return rc;
}
