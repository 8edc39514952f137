/*
 * recur train: train a classifier (or, with --generate, a name generator)
 * on a folder of <Label>.txt files. This file reads the flags and prepares
 * the data and the model; train_loop.c runs the epochs.
 *
 * Data: DATA, else $RECUR_DATA, else the tutorial's names fetched into the
 * cache. The held-out split (--test-split of the lines, or --test-dir) is
 * never trained on; the vocabulary comes from the training split only.
 * Flags: the defaults (a generator's own with --generate), then, when
 * resuming, the checkpoint's, then the command line's.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static void run_free(run *r)
{
    recur_seqset_free(r->seq);
    recur_seqset_free(r->seq_test);
    recur_dataset_free(r->ds);
    recur_dataset_free(r->test_ds);
    recur_data_free(r->data);
    free(r->train_idx);
    free(r->valid_idx);
    free(r->test_idx);
    recur_model_free(r->model);
    free(r->stored_args);
    free(r->stored_data);
}

static int file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
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
static int parse_flags(run *r, int argc, char **argv, char **pos, int *npos)
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

/* Labels of one data set by name in another's; -1 entries are unknown. */
static int map_labels(const recur_dataset *from, const recur_dataset *to, int *map, const char *from_dir)
{
    for (int l = 0; l < recur_dataset_num_labels(from); l++) {
        map[l] = -1;
        for (int k = 0; k < recur_dataset_num_labels(to); k++)
            if (strcmp(recur_dataset_label_name(from, l), recur_dataset_label_name(to, k)) == 0) map[l] = k;
        if (map[l] < 0) {
            cli_error("%s/%s.txt: label '%s' is not in the training data", from_dir,
                      recur_dataset_label_name(from, l), recur_dataset_label_name(from, l));
            return EXIT_RUNTIME;
        }
    }
    return 0;
}

static int prepare_data(run *r, const char *given)
{
    train_opts *o = &r->o;
    int rc = cli_resolve_data(given, r->data_dir, sizeof r->data_dir);
    if (rc) return rc;
    if ((rc = cli_load_data(r->data_dir, &r->ds))) return rc;
    recur_error err;
    if (o->test_dir && (rc = cli_load_data(o->test_dir, &r->test_ds))) return rc;
    if (!o->quiet) cli_print_data_summary(stdout, r->data_dir, r->ds);
    if (o->dedupe) {
        if (recur_dataset_dedupe(r->ds, &err) || (r->test_ds && recur_dataset_dedupe(r->test_ds, &err))) {
            cli_lib_error("--dedupe", &err);
            return EXIT_RUNTIME;
        }
        if (!o->quiet) {
            char a[32];
            printf("dedupe  %s names left\n", cli_count(a, recur_dataset_size(r->ds)));
        }
    }
    if (!o->generate && recur_dataset_num_labels(r->ds) < 2) {
        cli_error("%s: a classifier needs at least 2 labels (files), found 1", r->data_dir);
        return EXIT_RUNTIME;
    }
    if (r->test_ds) {
        int *map = malloc((size_t)recur_dataset_num_labels(r->test_ds) * sizeof *map);
        if (!map) return EXIT_RUNTIME;
        rc = map_labels(r->test_ds, r->ds, map, o->test_dir);
        free(map);
        if (rc) return rc;
    }
    recur_split_plan *p = &r->plan;
    recur_split_plan_default(p);
    p->method = (recur_split)o->split;
    p->valid_fraction = r->old_split ? 0 : o->valid_split;
    p->test_fraction = o->test_split;
    p->seed = o->seed;
    p->test_dir = o->test_dir;
    /* (the data are deduplicated above; the record says so) */
    recur_split_plan once = *p;
    once.dedupe = 0;
    p->dedupe = o->dedupe;
    if (recur_split_apply(r->ds, &once, &r->train_idx, &r->n_train, &r->valid_idx, &r->n_valid, &r->test_idx,
                          &r->n_test, &err)) {
        cli_lib_error("split", &err);
        return EXIT_RUNTIME;
    }
    if (r->test_ds) {
        /* Both folders are encoded into one set, the test folder's after. */
        free(r->test_idx);
        r->n_test = recur_dataset_size(r->test_ds);
        r->test_idx = malloc((r->n_test ? r->n_test : 1) * sizeof *r->test_idx);
        if (!r->test_idx) return EXIT_RUNTIME;
        for (size_t i = 0; i < r->n_test; i++) r->test_idx[i] = recur_dataset_size(r->ds) + i;
    }
    if (p->valid_fraction == 0) {
        /* No validation part of its own: select on the test part, as
         * before validation existed. */
        free(r->valid_idx);
        r->n_valid = r->n_test;
        r->valid_idx = malloc((r->n_test ? r->n_test : 1) * sizeof *r->valid_idx);
        if (!r->valid_idx) return EXIT_RUNTIME;
        memcpy(r->valid_idx, r->test_idx, r->n_test * sizeof *r->valid_idx);
    }
    if (r->n_train == 0 || r->n_valid == 0 || r->n_test == 0) {
        cli_error("%s: too few names to hold some out for validation and testing (%zu)", r->data_dir,
                  recur_dataset_size(r->ds));
        return EXIT_RUNTIME;
    }
    return 0;
}

static int prepare_model(run *r)
{
    train_opts *o = &r->o;
    recur_error err;
    int C = recur_dataset_num_labels(r->ds);
    const char **labels = malloc((size_t)C * sizeof *labels);
    if (!labels) return EXIT_RUNTIME;
    for (int l = 0; l < C; l++) labels[l] = recur_dataset_label_name(r->ds, l);
    recur_status st = RECUR_OK;
    if (o->resume) {
        st = recur_model_load(o->resume, &r->model, &err);
        if (!st) {
            int same = recur_model_num_labels(r->model) == C;
            for (int l = 0; same && l < C; l++) same = strcmp(recur_model_label_name(r->model, l), labels[l]) == 0;
            if (!same) {
                cli_error("--resume: the labels of %s differ from those of %s", o->resume, r->data_dir);
                free(labels);
                return EXIT_RUNTIME;
            }
            if ((recur_model_get_config(r->model)->task == RECUR_TASK_GENERATE) != (o->generate != 0)) {
                cli_error("--resume: %s trains a %s; --generate cannot change that", o->resume,
                          o->generate ? "classifier" : "generator");
                free(labels);
                return EXIT_RUNTIME;
            }
        }
    } else {
        recur_vocab *v = NULL;
        st = recur_vocab_create(o->text == 1 ? RECUR_TEXT_ASCII : RECUR_TEXT_UNICODE, &v, &err);
        for (size_t i = 0; !st && i < r->n_train; i++) {
            size_t len;
            const char *s = recur_dataset_text(r->ds, r->train_idx[i], &len);
            st = recur_vocab_add(v, s, len, &err);
        }
        recur_model_config cfg;
        recur_model_config_default(&cfg);
        cfg.task = o->generate ? RECUR_TASK_GENERATE : RECUR_TASK_CLASSIFY;
        cfg.label_embed = o->label_embed;
        cfg.cell = train_cell_values[o->cell];
        cfg.hidden = o->hidden;
        cfg.layers = o->layers;
        cfg.bidirectional = o->bidirectional;
        cfg.embed = o->embed;
        cfg.dropout = (float)o->dropout;
        cfg.seed = o->seed;
        if (!st) st = recur_model_create(&cfg, v, labels, C, &r->model, &err);
        recur_vocab_free(v);
    }
    free(labels);
    if (st) {
        cli_lib_error(o->resume ? "--resume" : "model", &err);
        return EXIT_RUNTIME;
    }
    return 0;
}

/* The encoded sequences: the training folder's (labels as the model's,
 * which are its own), then --test-dir's with labels matched by name. */
static int encode_data(run *r)
{
    recur_error err;
    const recur_vocab *v = recur_model_vocab(r->model);
    int C = recur_model_num_labels(r->model);
    const char **labels = malloc((size_t)C * sizeof *labels);
    if (!labels) return EXIT_RUNTIME;
    for (int l = 0; l < C; l++) labels[l] = recur_model_label_name(r->model, l);
    recur_status st = recur_data_encode(r->ds, v, NULL, 0, &r->data, &err);
    if (st) cli_error("%s/%s", r->data_dir, err.message);
    else if (r->test_ds && (st = recur_data_append(r->data, r->test_ds, v, labels, C, &err)))
        cli_error("%s/%s", r->o.test_dir, err.message);
    free(labels);
    return st ? EXIT_RUNTIME : 0;
}

/* A resumed run's line: what its checkpoint holds. */
static void print_resume(const run *r)
{
    const train_opts *o = &r->o;
    const char *v;
    int done = (v = recur_model_get_meta(r->model, "epochs_done")) ? atoi(v) : 0;
    int best = (v = recur_model_get_meta(r->model, "best_epoch")) ? atoi(v) : 0;
    /* The best model so far counts only if -o holds it. */
    int saved = file_exists(o->out);
    if (o->generate) {
        v = recur_model_get_meta(r->model, "best_bits_per_char");
        printf("resume  %s: %d epochs done, best %.3f bits/char (epoch %d)\n", o->resume, done,
               saved && v ? strtod(v, NULL) : 0.0, best);
    } else {
        v = recur_model_get_meta(r->model, "best_accuracy");
        double a = saved && v ? strtod(v, NULL) : 0;
        printf("resume  %s: %d epochs done, best accuracy %.1f%% (epoch %d)\n", o->resume, done,
               100 * (a > 0 ? a : 0), best);
    }
}

int cmd_train(int argc, char **argv)
{
    run *r = calloc(1, sizeof *r);
    if (!r) {
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    int npos = 0, rc = pos ? parse_flags(r, argc, argv, pos, &npos) : EXIT_RUNTIME;
    if (rc < 0) {
        rc = 0; /* --help */
        goto done;
    }
    if (rc) goto done;
    train_opts *o = &r->o;
    if (o->generate && (rc = gen_check_opts(r))) goto done;
    snprintf(r->ckpt, sizeof r->ckpt, "%s.ckpt", o->out);
    if (o->svg && strcmp(o->svg, o->out) == 0) {
        cli_error("--svg and -o name the same file %s", o->out);
        rc = EXIT_USAGE;
        goto done;
    }
    /* recur-mpi: ranks other than 0 print and write nothing (their -o
     * folder may not exist on their machine). */
    if (train_follower()) o->quiet = 1, o->svg = NULL;
    if (!train_follower() && (cli_check_writable(o->out, "-o") || (o->svg && cli_check_writable(o->svg, "--svg")))) {
        rc = EXIT_RUNTIME;
        goto done;
    }
    /* The trainer splits batches over its own threads; one BLAS thread
     * each keeps the two pools from competing (the library leaves this
     * process-wide setting to the program). */
    recur_set_threads(o->threads > 1 ? 1 : o->threads);
    /* From here on Ctrl-C stops at the next batch, with the best model kept. */
    cli_catch_interrupts();
    /* A data file, a folder of audio folders or of .wav + .lab files:
     * sequence data (train_seq.c). */
    const char *data = npos ? pos[0] : r->stored_data;
    seq_kind kind = seq_data_kind(data);
    if (kind != SEQ_NAMES) {
        rc = train_seq(r, kind, data);
        goto done;
    }
    for (int k = TRAIN_BASE_SPECS; r->specs[k].name; k++)
        if (r->specs[k].seen && !(r->specs[k].dest == &o->sq.task && o->sq.task == 1)) {
            cli_error("%s is for sequence data (a .conll .jsonl .csv .npy .npz file, a folder of <word>/ audio "
                      "folders or of .wav + .lab files); %s is a folder of names",
                      r->specs[k].name, data ? data : "the data");
            rc = EXIT_USAGE;
            goto done;
        }
    /* DATA, else (resuming) the checkpoint's, else $RECUR_DATA or the cache. */
    if ((rc = prepare_data(r, data))) goto done;
    if ((rc = prepare_model(r))) goto done;
    const recur_vocab *v = recur_model_vocab(r->model);
    if ((rc = encode_data(r))) goto done;
    if (!o->quiet) {
        char a[32], b[32], c[32];
        const char *how = o->split == RECUR_SPLIT_DISTINCT     ? "by distinct spelling (none on two sides)"
                          : o->split == RECUR_SPLIT_STRATIFIED ? "random lines, stratified by label"
                                                               : "random lines";
        char valid[96];
        if (r->plan.valid_fraction > 0)
            snprintf(valid, sizeof valid, "%s validation names (%.0f%%)", cli_count(c, r->n_valid),
                     100.0 * r->plan.valid_fraction);
        else snprintf(valid, sizeof valid, "validation on the test names");
        if (r->test_ds)
            printf("split   %s, seed %llu: %s training names and %s from %s, %s test names from %s\n", how,
                   (unsigned long long)o->seed, cli_count(a, r->n_train), valid, r->data_dir,
                   cli_count(b, r->n_test), o->test_dir);
        else
            printf("split   %s, seed %llu: %s training names, %s, %s test names (%.0f%%)\n", how,
                   (unsigned long long)o->seed, cli_count(a, r->n_train), valid, cli_count(b, r->n_test),
                   100.0 * o->test_split);
        const recur_model_config *mc = recur_model_get_config(r->model);
        char lab[48] = "";
        if (mc->embed) snprintf(c, sizeof c, "embedding %d", mc->embed);
        else snprintf(c, sizeof c, "one-hot input");
        if (o->generate && mc->label_embed) snprintf(lab, sizeof lab, ", label embedding %d", mc->label_embed);
        else if (o->generate) snprintf(lab, sizeof lab, ", one-hot label");
        if (mc->dropout > 0) snprintf(lab + strlen(lab), sizeof lab - strlen(lab), ", dropout %g", (double)mc->dropout);
        printf("model   %s%s, hidden %d, %d layer%s%s, %s%s, %d symbols (%s), %s weights\n",
               o->generate ? "generator: " : "", recur_cell_name(mc->cell), mc->hidden, mc->layers,
               mc->layers > 1 ? "s" : "", mc->bidirectional ? ", bidirectional" : "", c, lab,
               recur_vocab_size(v), recur_vocab_mode(v) == RECUR_TEXT_ASCII ? "ascii" : "unicode",
               cli_count(a, recur_model_num_weights(r->model)));
        /* A resumed run goes on at the checkpoint's rate unless --lr is given. */
        const char *lv = o->resume ? recur_model_get_meta(r->model, "lr") : NULL;
        double lr = lv && !args_find(&r->cmd, "--lr")->seen && strtod(lv, NULL) > 0 ? strtod(lv, NULL) : o->lr;
        char extra[160] = "";
        int at = 0;
        if (o->dropout > 0) at += snprintf(extra + at, sizeof extra - at, ", dropout %g", o->dropout);
        if (o->token_dropout > 0)
            at += snprintf(extra + at, sizeof extra - at, ", token dropout %g", o->token_dropout);
        if (o->balance > 0) snprintf(extra + at, sizeof extra - at, ", balance %g", o->balance);
        printf("train   %s, lr %g, batch %d, clip %g%s, %d epochs, %d thread%s%s\n", train_optim_choices[o->optim],
               (double)(float)lr, o->batch, o->clip, extra, o->epochs, o->threads, o->threads > 1 ? "s" : "",
               o->resume ? ", resumed" : "");
        if (o->resume) print_resume(r);
        fflush(stdout);
    }
    if (o->generate && (rc = gen_baseline(r))) goto done;
    if (cli_interrupted()) {
        cli_error("interrupted before training began; nothing written");
        rc = EXIT_INTERRUPTED;
        goto done;
    }
    rc = train_loop(r);
done:
    free(pos);
    run_free(r);
    free(r);
    return rc;
}
