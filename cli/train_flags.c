/*
 * recur train's flags: the table and its defaults (a generator's with
 * --generate), and how a resumed run combines them: the defaults, then the
 * flags stored in the checkpoint, then the command line's, refusing any
 * that would change the checkpoint's architecture or split.
 */
#include <stdlib.h>
#include <string.h>

#include "train.h"

static const char *const cell_choices[] = {"rnn", "rnn_relu", "lstm", "gru", "rnn_tanh", NULL};
const recur_cell train_cell_values[] = {RECUR_CELL_RNN_TANH, RECUR_CELL_RNN_RELU, RECUR_CELL_LSTM,
                                        RECUR_CELL_GRU, RECUR_CELL_RNN_TANH};
const char *const train_optim_choices[] = {"sgd", "adam", NULL};
/* In the order of recur_split (eval --held-out reads them back). */
const char *const cli_split_choices[] = {"random", "distinct", "stratified", NULL};
static const char *const text_choices[] = {"unicode", "ascii", NULL};

static void default_opts(train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->out = "model.safetensors";
    o->cell = 2; /* lstm */
    o->hidden = 128;
    o->layers = 1;
    /* Read both ways, with a tenth of the training symbols replaced by the
     * unknown symbol: over four random splits (seeds 1-4) 85.5% accuracy
     * and 54.7% macro recall on average, against 84.4% and 52.3% for a
     * one-way LSTM without it (cli/USAGE.md has the measurements). */
    o->bidirectional = 1;
    o->token_dropout = 0.1;
    o->embed = 64;
    o->dropout = 0;
    o->epochs = 12;
    o->batch = 64;
    o->lr = 3e-3;
    o->optim = 1; /* adam */
    o->clip = 5;
    o->patience = 2;
    o->seed = 1;
    o->threads = cli_default_threads();
    o->test_split = 0.15;
    o->valid_split = 0.1;
    seq_flags_default(&o->sq);
}


static void make_specs(arg_spec *s, train_opts *o)
{
    arg_spec specs[] = {
        {"--output", "-o", ARG_STRING, &o->out, 0, 0, 0, 0, NULL, "FILE", "where the best model goes; a checkpoint goes to FILE.ckpt", 0},
        {"--cell", NULL, ARG_CHOICE, &o->cell, 0, 0, 0, 0, cell_choices, NULL, "recurrent cell (rnn = tanh)", 0},
        {"--hidden", NULL, ARG_INT, &o->hidden, 1, 4096, 0, 0, NULL, "N", "hidden units per layer and direction", 0},
        {"--layers", NULL, ARG_INT, &o->layers, 1, 16, 0, 0, NULL, "N", "stacked recurrent layers", 0},
        {"--bidirectional", NULL, ARG_FLAG, &o->bidirectional, 0, 0, 0, 0, NULL, NULL, "read names both ways (the classifier's default)", 0},
        {"--unidirectional", NULL, ARG_FLAG, &o->unidirectional, 0, 0, 0, 0, NULL, NULL, "read names left to right only (the generator's default)", 0},
        {"--embed", NULL, ARG_INT, &o->embed, 0, 4096, 0, 0, NULL, "N", "symbol embedding size; 0 = one-hot", 0},
        {"--dropout", NULL, ARG_FLOAT, &o->dropout, 0, 1, 0, 1, NULL, "F", "dropout between recurrent layers", 0},
        {"--epochs", NULL, ARG_INT, &o->epochs, 1, 100000, 0, 0, NULL, "N", "passes over the training split", 0},
        {"--batch", NULL, ARG_INT, &o->batch, 1, 4096, 0, 0, NULL, "N", "names per optimiser step", 0},
        {"--lr", NULL, ARG_FLOAT, &o->lr, 0, 10, 1, 0, NULL, "F", "learning rate", 0},
        {"--optim", NULL, ARG_CHOICE, &o->optim, 0, 0, 0, 0, train_optim_choices, NULL, "optimiser", 0},
        {"--momentum", NULL, ARG_FLOAT, &o->momentum, 0, 1, 0, 1, NULL, "F", "SGD momentum", 0},
        {"--weight-decay", NULL, ARG_FLOAT, &o->weight_decay, 0, 1, 0, 1, NULL, "F", "L2 penalty added to the gradient", 0},
        {"--clip", NULL, ARG_FLOAT, &o->clip, 0, 1e6, 0, 0, NULL, "F", "max gradient norm; 0 = no clipping", 0},
        {"--balance", NULL, ARG_FLOAT, &o->balance, 0, 1, 0, 0, NULL, "F", "draw each epoch's names from label l in proportion to count(l)^(1-F): 0 = as in the data, 1 = every label equally often", 0},
        {"--token-dropout", NULL, ARG_FLOAT, &o->token_dropout, 0, 1, 0, 1, NULL, "F", "replace each training symbol by the unknown symbol with probability F", 0},
        {"--patience", NULL, ARG_INT, &o->patience, 0, 1000, 0, 0, NULL, "N", "halve the learning rate after N epochs without a better test loss; 0 = never", 0},
        {"--seed", NULL, ARG_U64, &o->seed, 0, 0, 0, 0, NULL, "N", "seed of the split, the initial weights, the order and dropout", 0},
        {"--threads", NULL, ARG_INT, &o->threads, 1, 256, 0, 0, NULL, "N", "threads for matrix products", 0},
        {"--test-split", NULL, ARG_FLOAT, &o->test_split, 0, 1, 1, 1, NULL, "F", "share of the lines held out for testing (never trained on nor selected by)", 0},
        {"--valid-split", NULL, ARG_FLOAT, &o->valid_split, 0, 1, 0, 1, NULL, "F", "share of the lines held out for validation: the best epoch and the schedule; 0 = use the test part", 0},
        {"--test-dir", NULL, ARG_STRING, &o->test_dir, 0, 0, 0, 0, NULL, "DIR", "held-out data in a folder of their own (instead of --test-split)", 0},
        {"--split", NULL, ARG_CHOICE, &o->split, 0, 0, 0, 0, cli_split_choices, NULL, "random lines, distinct spellings (none on both sides), or random lines in proportion from each label", 0},
        {"--dedupe", NULL, ARG_FLAG, &o->dedupe, 0, 0, 0, 0, NULL, NULL, "drop repeated (name, label) lines first", 0},
        {"--text", NULL, ARG_CHOICE, &o->text, 0, 0, 0, 0, text_choices, NULL, "symbols: every character seen, or the tutorial's ASCII letters", 0},
        {"--svg", NULL, ARG_STRING, &o->svg, 0, 0, 0, 0, NULL, "FILE", "draw the loss and accuracy curves", 0},
        {"--resume", NULL, ARG_STRING, &o->resume, 0, 0, 0, 0, NULL, "CKPT", "continue from a checkpoint (its settings, unless given here)", 0},
        {"--quiet", "-q", ARG_FLAG, &o->quiet, 0, 0, 0, 0, NULL, NULL, "print errors only", 0},
        {"--generate", NULL, ARG_FLAG, &o->generate, 0, 0, 0, 0, NULL, NULL, "train a name generator conditioned on the label instead (its own defaults: 'recur train --generate --help')", 0},
        {"--label-embed", NULL, ARG_INT, &o->label_embed, 0, 4096, 0, 0, NULL, "N", "generator: label embedding size; 0 = one-hot label, fed at every step", 0},
        /* Sequence data (a data file or a folder of <word>/ audio folders) */
        {"--task", NULL, ARG_CHOICE, &o->sq.task, 0, 0, 0, 0, seq_task_choices, NULL, "sequence data: what to learn; auto = tags per step -> tag, real targets -> regress, labels -> classify", 0},
        {"--tokens", NULL, ARG_CHOICE, &o->sq.tokens, 0, 0, 0, 0, seq_tokens_choices, NULL, "tagged text: a step per character or per whole token", 0},
        {"--min-count", NULL, ARG_INT, &o->sq.min_count, 1, 1 << 30, 0, 0, NULL, "N", "tagged text: rarer symbols of the training part are the unknown symbol", 0},
        {"--token-col", NULL, ARG_INT, &o->sq.token_col, 0, 63, 0, 0, NULL, "N", "CoNLL: 0-based column of the token", 0},
        {"--tag-col", NULL, ARG_INT, &o->sq.tag_col, -1, 63, 0, 0, NULL, "N", "CoNLL: 0-based column of the tag; -1 = the last", 0},
        {"--id-col", "--id", ARG_STRING, &o->sq.id_col, 0, 0, 0, 0, NULL, "NAME", "CSV: the sequence-id column (absent: the file is one sequence)", 0},
        {"--feature-cols", "--features", ARG_STRING, &o->sq.feature_cols, 0, 0, 0, 0, NULL, "LIST", "CSV: feature columns, comma-separated (default: every column not named elsewhere)", 0},
        {"--target-cols", "--targets", ARG_STRING, &o->sq.target_cols, 0, 0, 0, 0, NULL, "LIST", "CSV: real target columns, comma-separated", 0},
        {"--label-col", NULL, ARG_STRING, &o->sq.label_col, 0, 0, 0, 0, NULL, "NAME", "CSV: a class per sequence", 0},
        {"--step-tags", NULL, ARG_STRING, &o->sq.step_tags, 0, 0, 0, 0, NULL, "NAME", "CSV: a class per step (tagging)", 0},
        {"--per-sequence", NULL, ARG_FLAG, &o->sq.per_sequence, 0, 0, 0, 0, NULL, NULL, "CSV: the targets are once per sequence (equal on its rows), not per step", 0},
        {"--loss", NULL, ARG_CHOICE, &o->sq.loss, 0, 0, 0, 0, seq_loss_choices, NULL, "auto = nll for classes, mse for real targets", 0},
        {"--huber-delta", NULL, ARG_FLOAT, &o->sq.huber_delta, 0, 1e6, 1, 0, NULL, "D", "--loss huber: where the loss turns from squared to linear", 0},
        SPEC_END,
    };
    _Static_assert(sizeof specs == TRAIN_N_SPECS * sizeof specs[0], "TRAIN_N_SPECS");
    memcpy(s, specs, sizeof specs);
}

static const char summary[] =
    "Train a classifier of short texts on DATA, a folder of <Label>.txt files with one\n"
    "example per line (default: $RECUR_DATA, else the PyTorch tutorial's names, fetched\n"
    "into ~/.cache/recur). A validation part and a test part of the lines are held out;\n"
    "each epoch reports the validation loss, accuracy and macro-averaged recall, and\n"
    "the model with the best validation accuracy is kept in FILE and scored once on the\n"
    "test part at the end. The learning rate is halved when the validation loss has\n"
    "not improved for --patience epochs. The same seed and threads give the same model,\n"
    "bit for bit.\n\n"
    "Ctrl-C or SIGTERM stops within about a second, in any phase, with exit 130. What is\n"
    "saved: while the data load, nothing; once an epoch has finished, FILE holds the\n"
    "best model so far and FILE.ckpt the last finished epoch (continue with --resume);\n"
    "before the first epoch finishes, FILE gets the current weights, scored on at most\n"
    "4,096 validation names. Every file is written to a temporary name and renamed, so\n"
    "none is ever left half-written.\n\n"
    "--generate trains a generator of names instead: at every step it predicts the next\n"
    "character (or the end of the name) given the label, which is fed at every step. The\n"
    "held-out split is by distinct spelling; each epoch reports the validation bits per\n"
    "character against an add-one-smoothed character trigram model, and FILE keeps the\n"
    "model with the lowest validation loss. Sample names with 'recur sample FILE'.\n\n"
    "DATA may also be a sequence file (.conll .conllu .bio .iob .tsv .jsonl .ndjson .csv\n"
    ".npy .npz) or a folder of <word>/ folders of audio files: tags per step train a\n"
    "tagger, real targets a regressor, labels a classifier (or --task says which); the\n"
    "flags from --task on say how to read the data (cli/USAGE.md, 'Sequence data').";

/* The flag table at the classifier's defaults, for fuzz/fuzz_cli.c and
 * tests: the same specs as parse_flags' (--generate only changes
 * defaults, not how flags are read). */
arg_command *cmd_train_table(void)
{
    struct {
        arg_command cmd; /* first: the block is freed through it */
        arg_spec specs[TRAIN_N_SPECS];
        train_opts o;
    } *t = malloc(sizeof *t);
    if (!t) return NULL;
    default_opts(&t->o);
    make_specs(t->specs, &t->o);
    t->cmd = (arg_command){"train", "recur train [DATA] [-o FILE] [options]", summary, t->specs, 0, 1};
    return &t->cmd;
}

/* --generate changes the defaults of other flags (and so what --help
 * shows), so it is looked for before the flags are read. */
static int wants_generate(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--generate") == 0) return 1;
    return 0;
}

static void set_defaults(train_opts *o, int generate)
{
    default_opts(o);
    if (generate) gen_default_opts(o);
}

/* --unidirectional wins over --bidirectional, wherever each was given. */
static void resolve_direction(train_opts *o)
{
    if (o->unidirectional) o->bidirectional = 0;
}

/* Whether argv gives flag (as "flag" or "flag=value") before any "--". */
static int given_here(int argc, char **argv, const char *flag)
{
    size_t n = strlen(flag);
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strncmp(argv[i], flag, n) == 0 && (argv[i][n] == 0 || argv[i][n] == '=')) return 1;
    return 0;
}

/* A resumed run trains the checkpoint's model as it is: a flag given here
 * that would change its architecture is an error, and the options are set
 * to what the model is, so that the flags stored with it stay true (a
 * checkpoint of an older default, say, that lacks --unidirectional). */
static int keep_architecture(train_opts *o, const recur_model_config *c, const char *ckpt, int argc, char **argv)
{
    /* The direction asked for here: the stored flags may hold
     * --unidirectional, which would otherwise win over a --bidirectional. */
    const int uni_here = given_here(argc, argv, "--unidirectional");
    const int bi_here = !uni_here && given_here(argc, argv, "--bidirectional");
    const struct {
        const char *flag;
        int differs;
    } f[] = {
        {"--cell", train_cell_values[o->cell] != c->cell},
        {"--hidden", o->hidden != c->hidden},
        {"--layers", o->layers != c->layers},
        {"--embed", o->embed != c->embed},
        {"--dropout", (float)o->dropout != c->dropout},
        /* (a generator's --bidirectional is refused later, as without --resume) */
        {"--bidirectional", bi_here && !c->bidirectional && c->task != RECUR_TASK_GENERATE},
        {"--unidirectional", uni_here && c->bidirectional},
        {"--label-embed", c->task == RECUR_TASK_GENERATE && o->label_embed != c->label_embed},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].differs && given_here(argc, argv, f[i].flag)) {
            cli_error("--resume: %s does not match the model in %s (%s, hidden %d, %d layer%s%s); a checkpoint keeps "
                      "its architecture",
                      f[i].flag, ckpt, recur_cell_name(c->cell), c->hidden, c->layers, c->layers > 1 ? "s" : "",
                      c->bidirectional ? ", bidirectional" : "");
            return EXIT_RUNTIME;
        }
    if (f[0].differs)
        for (int k = 0; cell_choices[k]; k++)
            if (train_cell_values[k] == c->cell) {
                o->cell = k;
                break;
            }
    o->hidden = c->hidden;
    o->layers = c->layers;
    o->embed = c->embed;
    if (f[4].differs) o->dropout = c->dropout;
    if (o->bidirectional != c->bidirectional && !(c->task == RECUR_TASK_GENERATE && bi_here)) {
        o->bidirectional = c->bidirectional;
        o->unidirectional = !c->bidirectional;
    }
    if (c->task == RECUR_TASK_GENERATE) o->label_embed = c->label_embed;
    return 0;
}

/* Flags: defaults, then (when resuming) the checkpoint's, then argv's. */
int train_parse_flags(run *r, int argc, char **argv, char **pos, int *npos)
{
    set_defaults(&r->o, wants_generate(argc, argv));
    make_specs(r->specs, &r->o);
    r->cmd = (arg_command){"train", "recur train [DATA] [-o FILE] [options]", summary, r->specs, 0, 1};
    int rc = args_parse(&r->cmd, argc, argv, pos, npos);
    if (rc) return rc == 1 ? -1 : rc;
    if (!r->o.resume) {
        resolve_direction(&r->o);
        return 0;
    }
    recur_model *ck = NULL;
    recur_error err;
    if (recur_model_load(r->o.resume, &ck, &err) != RECUR_OK) {
        cli_lib_error("--resume", &err);
        return EXIT_RUNTIME;
    }
    const char *a = recur_model_get_meta(ck, "train_args"), *done = recur_model_get_meta(ck, "epochs_done");
    if (!a || !done) {
        cli_error("--resume: %s was not written by recur train (no training state in it)", r->o.resume);
        recur_model_free(ck);
        return EXIT_RUNTIME;
    }
    int epochs_done = atoi(done);
    r->old_split = recur_model_get_meta(ck, "split.method") == NULL;
    recur_split_plan kept;
    int has_plan = !r->old_split && recur_model_get_split(ck, &kept, &err) == RECUR_OK;
    char kept_dir[4096] = "";
    if (has_plan && kept.test_dir) snprintf(kept_dir, sizeof kept_dir, "%s", kept.test_dir);
    const recur_model_config arch = *recur_model_get_config(ck);
    /* The options will point into this copy: it lives as long as the run. */
    r->stored_args = strdup(a);
    const char *data = recur_model_get_meta(ck, "data");
    r->stored_data = data ? strdup(data) : NULL;
    recur_model_free(ck);
    if (!r->stored_args || (data && !r->stored_data)) {
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    const char *resume = r->o.resume;
    char *copy = strdup(r->stored_args), *tok[130];
    int nt = copy ? args_tokenize(copy, tok + 1, 128) : -1;
    set_defaults(&r->o, nt > 0 && wants_generate(nt + 1, tok));
    free(copy);
    char why[400];
    rc = args_parse_stored(&r->cmd, r->stored_args, why, sizeof why);
    if (rc) {
        cli_error("--resume: %s holds training flags this version cannot read: %s", resume, why);
        return EXIT_RUNTIME;
    }
    rc = args_parse(&r->cmd, argc, argv, pos, npos);
    r->o.resume = resume;
    if (rc) return EXIT_USAGE;
    if (epochs_done >= r->o.epochs) {
        cli_error("--resume: %s has already trained %d of %d epochs; give --epochs N to train more", resume,
                  epochs_done, r->o.epochs);
        return EXIT_RUNTIME;
    }
    resolve_direction(&r->o);
    /* The parts a checkpoint was trained and validated on are part of it. */
    const train_opts *o = &r->o;
    if (has_plan && ((int)kept.method != o->split || kept.valid_fraction != o->valid_split ||
                     (!kept.test_dir && kept.test_fraction != o->test_split) || kept.seed != o->seed ||
                     kept.dedupe != o->dedupe || strcmp(kept_dir, o->test_dir ? o->test_dir : "") != 0)) {
        cli_error("--resume: %s was split with other --split, --valid-split, --test-split, --test-dir, --dedupe or "
                  "--seed values; a checkpoint keeps its split",
                  resume);
        return EXIT_RUNTIME;
    }
    return keep_architecture(&r->o, &arch, resume, argc, argv);
}
