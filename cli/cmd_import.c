/*
 * recur import STATE_DICT -o MODEL: a plain PyTorch state_dict saved as
 * safetensors (safetensors.torch.save_file(net.state_dict(), path)) becomes
 * a recur model file, given what a state_dict does not hold: the
 * vocabulary (--vocab, --vocab-file or --text-mode ascii) and the label
 * names. The architecture comes from the tensors (recur_model_import,
 * docs/FORMAT.md section 4); --cell, --hidden, --layers and
 * --bidirectional, when given, are checked against it.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char summary[] =
    "Make a recur classifier from a PyTorch state_dict saved as safetensors: an\n"
    "nn.RNN/LSTM/GRU (\"<rnn>.weight_ih_l0\", ..., any prefix), an nn.Linear head\n"
    "(\"<head>.weight\", \"<head>.bias\") and optionally an nn.Embedding (\"<emb>.weight\"),\n"
    "the model computing log_softmax(head(final state)) as docs/FORMAT.md says. The\n"
    "vocabulary gives the symbols of token ids 2.. (0 is the unknown symbol, 1 the\n"
    "boundary); the labels name the head's outputs in order.";

static const char *const cell_choices[] = {"auto", "rnn_tanh", "rnn_relu", "lstm", "gru", NULL};
static const char *const text_choices[] = {"unicode", "ascii", NULL};

typedef struct import_opts {
    const char *output, *vocab, *vocab_file, *labels, *labels_file;
    int cell, hidden, layers, bidirectional, text_mode;
} import_opts;

enum { IMPORT_SPECS = 11 };

static void import_table(arg_command *cmd, arg_spec *s, import_opts *o)
{
    *o = (import_opts){0};
    arg_spec specs[] = {
        {"--output", "-o", ARG_STRING, &o->output, 0, 0, 0, 0, NULL, "MODEL", "the recur model file to write", 0},
        {"--vocab", NULL, ARG_STRING, &o->vocab, 0, 0, 0, 0, NULL, "SYMBOLS", "the symbols of ids 2.., in order, one character each (UTF-8)", 0},
        {"--vocab-file", NULL, ARG_STRING, &o->vocab_file, 0, 0, 0, 0, NULL, "FILE", "the same, one symbol per line", 0},
        {"--text-mode", NULL, ARG_CHOICE, &o->text_mode, 0, 0, 0, 0, text_choices, NULL, "ascii: the tutorial's 57 letters (59 ids), no --vocab needed", 0},
        {"--labels", NULL, ARG_STRING, &o->labels, 0, 0, 0, 0, NULL, "A,B,...", "the label names, comma-separated (default 0, 1, ...)", 0},
        {"--labels-file", NULL, ARG_STRING, &o->labels_file, 0, 0, 0, 0, NULL, "FILE", "the label names, one per line", 0},
        {"--cell", NULL, ARG_CHOICE, &o->cell, 0, 0, 0, 0, cell_choices, NULL, "the cell (auto: from the shapes; say rnn_relu, which they cannot tell)", 0},
        {"--hidden", NULL, ARG_INT, &o->hidden, 0, 4096, 0, 0, NULL, "N", "check the hidden size (0: any)", 0},
        {"--layers", NULL, ARG_INT, &o->layers, 0, 16, 0, 0, NULL, "N", "check the layer count (0: any)", 0},
        {"--bidirectional", NULL, ARG_FLAG, &o->bidirectional, 0, 0, 0, 0, NULL, NULL, "check that the module is bidirectional", 0},
        SPEC_END,
    };
    _Static_assert(sizeof specs == IMPORT_SPECS * sizeof specs[0], "IMPORT_SPECS");
    memcpy(s, specs, sizeof specs);
    *cmd = (arg_command){"import", "recur import STATE_DICT.safetensors -o MODEL [--vocab S] [--labels A,B]",
                         summary, s, 1, 1};
}

/* Split text in place at each `sep` (newline: blank lines skipped).
 * Returns the count, -1 when out of memory; free(*items) only. */
static int split(char *text, char sep, char ***items)
{
    size_t n = 0, cap = 16;
    char **v = malloc(cap * sizeof *v);
    if (!v) return -1;
    for (char *p = text; *p;) {
        char *start = p;
        while (*p && *p != sep) p++;
        if (*p) *p++ = '\0';
        if (sep == '\n') {
            size_t k = strlen(start);
            if (k && start[k - 1] == '\r') start[k - 1] = '\0';
            if (!*start) continue;
        }
        if (n + 1 >= cap) {
            char **w = realloc(v, (cap *= 2) * sizeof *v);
            if (!w) {
                free(v);
                return -1;
            }
            v = w;
        }
        v[n++] = start;
    }
    *items = v;
    return (int)n;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t k;
    while (buf && (k = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += k;
        if (n + 1 >= cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b) free(buf);
            buf = b;
        }
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    return buf;
}

CLI_DEFINE_TABLE(cmd_import_table, import_table, import_opts, IMPORT_SPECS)

int cmd_import(int argc, char **argv)
{
    import_opts o;
    arg_spec specs[IMPORT_SPECS];
    arg_command cmd;
    import_table(&cmd, specs, &o);
    int npos, rc;
    char **pos = cli_parse_command(&cmd, argc, argv, &npos, &rc);
    if (!pos) return rc;
    rc = EXIT_USAGE;
    char *vtext = NULL, *ltext = NULL, *vchars = NULL;
    char **syms = NULL, **labels = NULL;
    int n_syms = 0, n_labels = 0;
    recur_vocab *vocab = NULL;
    recur_model *m = NULL;
    recur_error err;
    int ascii = o.text_mode == 1;
    if (!o.output) {
        cli_error("import: -o MODEL is required (see 'recur import --help')");
        goto done;
    }
    if (cli_check_writable(o.output, "-o")) goto done;
    if ((o.vocab != NULL) + (o.vocab_file != NULL) + ascii != 1) {
        cli_error("import: give the vocabulary once: --vocab SYMBOLS, --vocab-file FILE or --text-mode ascii");
        goto done;
    }
    if (o.labels && o.labels_file) {
        cli_error("import: --labels and --labels-file are exclusive");
        goto done;
    }
    if (o.vocab_file && !(vtext = read_text(o.vocab_file))) {
        cli_error("--vocab-file: cannot read %s", o.vocab_file);
        goto done;
    }
    if (o.labels_file && !(ltext = read_text(o.labels_file))) {
        cli_error("--labels-file: cannot read %s", o.labels_file);
        goto done;
    }
    if (o.labels && !(ltext = strdup(o.labels))) goto nomem;
    if (ltext && (n_labels = split(ltext, o.labels_file ? '\n' : ',', &labels)) < 0) goto nomem;
    if (!ascii) {
        if (vtext) {
            if ((n_syms = split(vtext, '\n', &syms)) < 0) goto nomem;
        } else {
            /* One symbol per UTF-8 character of --vocab, each NUL-terminated
             * in a buffer of its own (5 bytes a character at most). */
            size_t len = strlen(o.vocab);
            vchars = malloc(5 * len + 1);
            syms = malloc((len + 1) * sizeof *syms);
            if (!vchars || !syms) goto nomem;
            for (size_t i = 0; i < len;) {
                unsigned char c = (unsigned char)o.vocab[i];
                size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
                k = strnlen(o.vocab + i, k);
                char *dst = vchars + 5 * (size_t)n_syms;
                memcpy(dst, o.vocab + i, k);
                dst[k] = '\0';
                syms[n_syms++] = dst;
                i += k;
            }
        }
        /* recur_vocab_from_symbols numbers from id 0: two reserved first. */
        char **all = malloc(((size_t)n_syms + 2) * sizeof *all);
        if (!all) goto nomem;
        all[0] = all[1] = "";
        memcpy(all + 2, syms, (size_t)n_syms * sizeof *all);
        recur_status s = recur_vocab_from_symbols(RECUR_TEXT_UNICODE, (const char *const *)all, n_syms + 2, &vocab, &err);
        free(all);
        if (s) {
            cli_lib_error(o.vocab ? "--vocab" : "--vocab-file", &err);
            goto done;
        }
    } else if (recur_vocab_create(RECUR_TEXT_ASCII, &vocab, &err)) {
        cli_lib_error(NULL, &err);
        goto done;
    }
    int cell = o.cell == 0 ? -1 : recur_cell_parse(cell_choices[o.cell]);
    rc = EXIT_RUNTIME;
    if (recur_model_import(pos[0], cell, vocab, (const char *const *)labels, n_labels, &m, &err)) {
        cli_lib_error(NULL, &err);
        goto done;
    }
    const recur_model_config *c = recur_model_get_config(m);
    if ((o.hidden && o.hidden != c->hidden) || (o.layers && o.layers != c->layers) ||
        (o.bidirectional && !c->bidirectional)) {
        cli_error("%s holds a %s of hidden size %d, %d layer%s, %s; the flags say otherwise", pos[0],
                  recur_cell_name(c->cell), c->hidden, c->layers, c->layers == 1 ? "" : "s",
                  c->bidirectional ? "bidirectional" : "one direction");
        rc = EXIT_USAGE;
        goto done;
    }
    if (recur_model_set_meta(m, "imported_from", pos[0], &err) || recur_model_save(m, o.output, &err)) {
        cli_lib_error(NULL, &err);
        goto done;
    }
    printf("%s: %s, hidden %d, %d layer%s%s, %s, %d symbols, %d labels -> %s\n", pos[0], recur_cell_name(c->cell),
           c->hidden, c->layers, c->layers == 1 ? "" : "s", c->bidirectional ? ", bidirectional" : "",
           c->embed ? "embedding" : "one-hot input", recur_vocab_size(vocab) - 2, recur_model_num_labels(m),
           o.output);
    rc = EXIT_OK;
    goto done;
nomem:
    cli_error("out of memory");
    rc = EXIT_RUNTIME;
done:
    recur_model_free(m);
    recur_vocab_free(vocab);
    free(syms);
    free(labels);
    free(vtext);
    free(ltext);
    free(vchars);
    free(pos);
    return rc;
}
