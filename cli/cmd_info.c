/* recur info MODEL: what a model file holds. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "seq.h"

/* Metadata that recur train writes (the API reads keys, it does not list
 * them). */
static const char *const meta_keys[] = {
    "recur_version", "data", "train_names", "test_names", "epoch", "epochs_done", "accuracy",
    "macro_recall", "label_counts", "test_loss", "train_loss", "valid_names", "valid_accuracy",
    "valid_macro_recall", "valid_loss", "best_epoch", "best_accuracy", "lr", "train_args", "split.method",
    "split.valid_fraction", "split.test_fraction", "split.seed", "split.dedupe", "split.test_dir",
    /* Generators (recur train --generate). */
    "test_bits_per_char", "valid_bits_per_char", "trigram_bits_per_char", "trigram_pooled_bits_per_char", NULL,
};

static const char summary[] =
    "Describe a model file: the cell and its sizes, the input, the vocabulary and its\n"
    "symbols, the labels, the weights (with each tensor's shape), and how it was\n"
    "trained (the flags, the epoch, the held-out accuracy).";

static void print_symbols(FILE *f, const recur_vocab *v)
{
    int n = recur_vocab_size(v), col = 12;
    fprintf(f, "%-12s", "");
    for (int i = 2; i < n; i++) {
        const char *s = recur_vocab_symbol(v, i);
        char shown[16];
        const unsigned char *u = (const unsigned char *)s;
        unsigned cp = u[0] < 0x80 ? u[0] : u[0] < 0xE0 ? (u[0] & 0x1Fu) << 6 | (u[1] & 0x3Fu)
                    : u[0] < 0xF0 ? (u[0] & 0x0Fu) << 12 | (u[1] & 0x3Fu) << 6 | (u[2] & 0x3Fu) : 0x10000;
        int blank = cp == 0xA0 || (cp >= 0x2000 && cp <= 0x200F) || cp == 0x2028 || cp == 0x2029 ||
                    cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0xFEFF || cp == 0xAD;
        if (strcmp(s, " ") == 0) snprintf(shown, sizeof shown, "␠");
        else if (blank) snprintf(shown, sizeof shown, "U+%04X", cp);
        else if ((unsigned char)s[0] < 0x20 || s[0] == 0x7f) snprintf(shown, sizeof shown, "\\x%02x", (unsigned char)s[0]);
        else snprintf(shown, sizeof shown, "%s", s);
        if (col > 76) {
            fprintf(f, "\n%-12s", "");
            col = 12;
        }
        fprintf(f, "%s ", shown);
        col += 2;
    }
    fputc('\n', f);
}

/* info has no flags but --help; the table exists for cmd_info_table. */
static void info_table(arg_command *cmd, arg_spec *s)
{
    s[0] = (arg_spec)SPEC_END;
    *cmd = (arg_command){"info", "recur info MODEL", summary, s, 1, 1};
}

arg_command *cmd_info_table(void)
{
    struct {
        arg_command cmd; /* first: the block is freed through it */
        arg_spec specs[1];
    } *t = malloc(sizeof *t);
    if (!t) return NULL;
    info_table(&t->cmd, t->specs);
    return &t->cmd;
}

int cmd_info(int argc, char **argv)
{
    arg_spec specs[1];
    arg_command cmd;
    info_table(&cmd, specs);
    char *pos[4] = {0};
    char **pp = argc + 1 <= 4 ? pos : calloc((size_t)argc + 1, sizeof *pp);
    if (!pp) return EXIT_RUNTIME;
    int npos, rc = args_parse(&cmd, argc, argv, pp, &npos);
    const char *path = pp[0];
    if (pp != pos) free(pp);
    if (rc) return rc == 1 ? EXIT_OK : rc;

    recur_error err;
    recur_model *m = NULL;
    if (recur_model_load(path, &m, &err)) {
        cli_lib_error(NULL, &err);
        return EXIT_RUNTIME;
    }
    const recur_model_config *c = recur_model_get_config(m);
    const recur_vocab *v = recur_model_vocab(m);
    struct stat sb;
    char a[32];
    FILE *f = stdout;
    fprintf(f, "%-12s%s", "file", path);
    if (stat(path, &sb) == 0) fprintf(f, " (%s bytes)", cli_count(a, (size_t)sb.st_size));
    fputc('\n', f);
    fprintf(f, "%-12s%s\n", "task", recur_task_name(c->task));
    if (c->task == RECUR_TASK_REGRESS)
        fprintf(f, "%-12s%d value(s) per %s, %s loss\n", "target", c->outputs,
                c->head == RECUR_HEAD_STEPS ? "step" : "sequence", c->loss == RECUR_LOSS_HUBER ? "Huber" : "MSE");
    fprintf(f, "%-12s%s\n", "cell", recur_cell_name(c->cell));
    fprintf(f, "%-12s%d\n", "hidden", c->hidden);
    fprintf(f, "%-12s%d\n", "layers", c->layers);
    fprintf(f, "%-12s%s\n", "direction", c->bidirectional ? "bidirectional" : "forward");
    if (c->input == RECUR_INPUT_DENSE) fprintf(f, "%-12s%d features per step (standardised)\n", "input", c->input_size);
    else if (c->embed) fprintf(f, "%-12sembedding of %d\n", "input", c->embed);
    else fprintf(f, "%-12sone-hot\n", "input");
    if (c->task == RECUR_TASK_GENERATE) {
        if (c->label_embed) fprintf(f, "%-12sembedding of %d\n", "label input", c->label_embed);
        else fprintf(f, "%-12sone-hot\n", "label input");
    }
    fprintf(f, "%-12s%g (between layers, training only)\n", "dropout", (double)c->dropout);
    if (v && !info_vocab_seq(f, m)) {
        fprintf(f, "%-12s%d symbols (%s text; 2 reserved: unknown, boundary)\n", "vocabulary", recur_vocab_size(v),
                recur_vocab_mode(v) == RECUR_TEXT_ASCII ? "the tutorial's ASCII" : "Unicode NFC");
        print_symbols(f, v);
    }
    int C = recur_model_num_labels(m);
    fprintf(f, "%-12s%d:", "labels", C);
    int col = 16;
    for (int l = 0; l < C; l++) {
        const char *name = recur_model_label_name(m, l);
        int w = (int)strlen(name) + 2;
        if (col + w > 78) {
            fprintf(f, "\n%-12s", "");
            col = 12;
        } else fputc(' ', f), col++;
        fprintf(f, "%s%s", name, l + 1 < C ? "," : "");
        col += w - 1;
    }
    fputc('\n', f);
    fprintf(f, "%-12s%s\n", "weights", cli_count(a, recur_model_num_weights(m)));
    if (recur_model_dtype(m) != RECUR_DTYPE_F32)
        fprintf(f, "%-12s%s: the recurrent and head weight matrices (recur quantize); inference only\n", "quantized",
                recur_dtype_name(recur_model_dtype(m)));
    for (int i = 0; i < recur_model_param_count(m); i++) {
        recur_param p = recur_model_param(m, i);
        fprintf(f, "%-12s%-28s", i ? "" : "tensors", p.name);
        if (p.ndim == 2) fprintf(f, "[%d, %d]\n", p.shape[0], p.shape[1]);
        else fprintf(f, "[%d]\n", p.shape[0]);
    }
    int any = 0;
    for (int k = 0; meta_keys[k]; k++) {
        const char *val = recur_model_get_meta(m, meta_keys[k]);
        if (!val) continue;
        fprintf(f, "%-12s%-15s %s\n", any ? "" : "training", meta_keys[k], val);
        any = 1;
    }
    if (seq_is_model(m)) info_seq(f, m);
    recur_model_free(m);
    if (fflush(f) != 0) {
        cli_error("cannot write the description");
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}
