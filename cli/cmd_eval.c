/*
 * recur eval MODEL DATA: accuracy, macro-averaged recall, per-class
 * precision/recall/F1 and the confusion matrix of a model on a data folder.
 * Labels are matched by name; a label of DATA the model does not know is an
 * error. --held-out evaluates only the lines that training held out (the
 * split is derived again from the flags stored in the model).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "seq.h"
#include "speech.h"

static const char *const color_choices[] = {"auto", "always", "never", NULL};

typedef struct eval_opts {
    int json, held_out, color, threads;
    const char *svg;
    double tau;
    int min_run;
} eval_opts;

static const char summary[] =
    "Evaluate MODEL on DATA (a folder of <Label>.txt files): accuracy, macro-averaged\n"
    "recall, per-class precision, recall and F1, and the confusion matrix (rows: true\n"
    "labels, columns: predicted; each row normalised), drawn with colours on a terminal\n"
    "and as numbers otherwise. --held-out keeps only the lines that training held out\n"
    "for testing, split again with the seed and flags stored in the model.";

/* The value that follows `flag` in the stored training flags (or "" for a
 * flag that is present without a value), NULL when absent. */
static const char *stored_flag(char **tok, int n, const char *flag)
{
    size_t k = strlen(flag);
    for (int i = 0; i < n; i++) {
        if (strcmp(tok[i], flag) == 0) return i + 1 < n && strncmp(tok[i + 1], "--", 2) != 0 ? tok[i + 1] : "";
        /* args_format stores a value that starts with "--" as --flag=value. */
        if (strncmp(tok[i], flag, k) == 0 && tok[i][k] == '=') return tok[i] + k + 1;
    }
    return NULL;
}

static int recorded_split(const recur_split_plan *plan, const char *model_path, recur_dataset *ds,
                          const char *context, size_t **idx, size_t *n, size_t **train_out, size_t *n_train_out)
{
    if (plan->test_dir && !train_out) {
        cli_error("--held-out: %s was tested on a folder of its own (%s); evaluate that folder instead",
                  model_path, plan->test_dir);
        return EXIT_RUNTIME;
    }
    recur_error err;
    if (recur_split_apply(ds, plan, train_out, n_train_out, NULL, NULL, idx, n, &err)) {
        cli_lib_error(context, &err);
        return EXIT_RUNTIME;
    }
    if (plan->test_dir && !*idx && !(*idx = malloc(sizeof **idx))) {
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    return 0;
}

/* The examples that training held out for testing (and those it trained
 * on): the split recorded in the model, or for older files the one its
 * stored flags make. */
int cli_stored_split(const recur_model *m, const char *model_path, recur_dataset *ds, const char *context,
                     size_t **idx, size_t *n, size_t **train_out, size_t *n_train_out)
{
    /* The split as recorded (models since the record), else from the
     * training flags stored in older files. */
    recur_split_plan plan;
    recur_error e;
    recur_status st = recur_model_get_split(m, &plan, &e);
    if (st == RECUR_OK) return recorded_split(&plan, model_path, ds, context, idx, n, train_out, n_train_out);
    if (st != RECUR_ERR_UNSUPPORTED) {
        cli_error("%s: %s: %s", context, model_path, e.message);
        return EXIT_RUNTIME;
    }
    const char *args = recur_model_get_meta(m, "train_args");
    if (!args) {
        cli_error("%s: %s holds no training flags (it was not written by recur train)", context, model_path);
        return EXIT_RUNTIME;
    }
    char *copy = strdup(args);
    char *tok[130];
    int nt = copy ? args_tokenize(copy, tok, 128) : -1;
    int rc = 0;
    if (nt < 0) {
        cli_error("%s: the training flags stored in %s are malformed", context, model_path);
        rc = EXIT_RUNTIME;
        goto done;
    }
    const char *test_dir = stored_flag(tok, nt, "--test-dir");
    if (test_dir && train_out) {
        /* Trained on every line of its folder: nothing of it held out. */
        *n = 0;
        *n_train_out = recur_dataset_size(ds);
        *idx = malloc(sizeof **idx);
        *train_out = malloc((*n_train_out ? *n_train_out : 1) * sizeof **train_out);
        if (!*idx || !*train_out) {
            cli_error("out of memory");
            rc = EXIT_RUNTIME;
            goto done;
        }
        for (size_t i = 0; i < *n_train_out; i++) (*train_out)[i] = i;
        goto done;
    }
    if (test_dir) {
        cli_error("--held-out: %s was tested on a folder of its own (%s); evaluate that folder instead",
                  model_path, test_dir);
        rc = EXIT_RUNTIME;
        goto done;
    }
    const char *seed = stored_flag(tok, nt, "--seed"), *frac = stored_flag(tok, nt, "--test-split"),
               *split = stored_flag(tok, nt, "--split");
    char *end1 = NULL, *end2 = NULL;
    unsigned long long sv = seed ? strtoull(seed, &end1, 10) : 0;
    double fv = frac ? strtod(frac, &end2) : 0;
    if (!seed || !frac || !split || *end1 || *end2) {
        cli_error("%s: the training flags stored in %s lack the seed or the split", context, model_path);
        rc = EXIT_RUNTIME;
        goto done;
    }
    int how = -1;
    for (int k = 0; cli_split_choices[k]; k++)
        if (strcmp(split, cli_split_choices[k]) == 0) how = k;
    if (how < 0) {
        cli_error("%s: %s was trained with --split %s, which this version does not know", context, model_path,
                  split);
        rc = EXIT_RUNTIME;
        goto done;
    }
    recur_error err;
    if (stored_flag(tok, nt, "--dedupe") && recur_dataset_dedupe(ds, &err)) {
        cli_lib_error(context, &err);
        rc = EXIT_RUNTIME;
        goto done;
    }
    size_t *train = NULL, n_train = 0;
    if (recur_dataset_split(ds, fv, (recur_split)how, sv, &train, &n_train, idx, n, &err)) {
        cli_lib_error(context, &err);
        rc = EXIT_RUNTIME;
        goto done;
    }
    if (train_out) {
        *train_out = train;
        *n_train_out = n_train;
    } else {
        free(train);
    }
done:
    free(copy);
    return rc;
}

static void print_json(const char *model_path, const char *data_dir, const recur_metrics *m,
                       const char *const *labels, double tau, const cli_prior_sweep *sweep)
{
    FILE *f = stdout;
    const int C = m->num_labels;
    fputs("{\"model\":", f);
    cli_json_string(f, model_path);
    fputs(",\"data\":", f);
    cli_json_string(f, data_dir);
    fprintf(f, ",\"prior_correction\":%g", tau);
    fprintf(f, ",\"examples\":%zu,\"correct\":%zu,\"accuracy\":%.6f,\"macro_recall\":%.6f,\"loss\":%.6f",
            m->n, m->correct, recur_metrics_accuracy(m), recur_metrics_macro_recall(m), recur_metrics_loss(m));
    cli_prior_sweep_json(f, sweep);
    double sp = 0, sf = 0;
    int k = 0;
    for (int c = 0; c < C; c++) {
        double p, f1;
        recur_metrics_class(m, c, &p, NULL, &f1);
        if (recur_metrics_support(m, c)) sp += p, sf += f1, k++;
    }
    fprintf(f, ",\"macro_precision\":%.6f,\"macro_f1\":%.6f,\"labels\":[", k ? sp / k : 0, k ? sf / k : 0);
    for (int c = 0; c < C; c++) {
        if (c) fputc(',', f);
        cli_json_string(f, labels[c]);
    }
    fputs("],\"per_label\":[", f);
    for (int c = 0; c < C; c++) {
        double p, r, f1;
        recur_metrics_class(m, c, &p, &r, &f1);
        fprintf(f, "%s{\"label\":", c ? "," : "");
        cli_json_string(f, labels[c]);
        fprintf(f, ",\"precision\":%.6f,\"recall\":%.6f,\"f1\":%.6f,\"support\":%zu}", p, r, f1,
                recur_metrics_support(m, c));
    }
    fputs("],\"confusion\":[", f);
    for (int r = 0; r < C; r++) {
        fprintf(f, "%s[", r ? "," : "");
        for (int c = 0; c < C; c++) fprintf(f, "%s%zu", c ? "," : "", m->confusion[(size_t)r * C + c]);
        fputc(']', f);
    }
    fputs("]}\n", f);
}

static void print_confused(FILE *f, const recur_metrics *m, const char *const *labels)
{
    const int C = m->num_labels;
    size_t done[5][2];
    int nd = 0;
    for (int k = 0; k < 5; k++) {
        int br = -1, bc = -1;
        size_t bv = 0;
        for (int r = 0; r < C; r++)
            for (int c = 0; c < C; c++) {
                size_t v = m->confusion[(size_t)r * C + c];
                int used = 0;
                for (int d = 0; d < nd; d++) used |= done[d][0] == (size_t)r && done[d][1] == (size_t)c;
                if (r != c && !used && v > bv) bv = v, br = r, bc = c;
            }
        if (br < 0) break;
        if (k == 0) fprintf(f, "most confused:");
        fprintf(f, "%s %s as %s %zu", k ? "," : "", labels[br], labels[bc], bv);
        done[nd][0] = (size_t)br;
        done[nd][1] = (size_t)bc;
        nd++;
    }
    if (nd) fputc('\n', f);
}

enum { EVAL_SPECS = 8 };

/* The flag table, options at their defaults: cmd_eval and cmd_eval_table. */
static void eval_table(arg_command *cmd, arg_spec *s, eval_opts *o)
{
    *o = (eval_opts){0, 0, 0, cli_default_threads(), NULL, 0, SPEECH_MIN_RUN};
    arg_spec specs[] = {
        {"--json", NULL, ARG_FLAG, &o->json, 0, 0, 0, 0, NULL, NULL, "print everything as one JSON object", 0},
        {"--svg", NULL, ARG_STRING, &o->svg, 0, 0, 0, 0, NULL, "FILE", "draw the confusion matrix as a heat map", 0},
        {"--held-out", NULL, ARG_FLAG, &o->held_out, 0, 0, 0, 0, NULL, NULL, "only the lines training held out for testing", 0},
        {"--color", NULL, ARG_CHOICE, &o->color, 0, 0, 0, 0, color_choices, NULL, "colours in the terminal", 0},
        {"--threads", NULL, ARG_INT, &o->threads, 1, 256, 0, 0, NULL, "N", "threads for matrix products", 0},
        {"--prior-correction", NULL, ARG_FLOAT, &o->tau, 0, 10, 0, 0, NULL, "TAU", "subtract TAU x log(training share of each label) from the log-probabilities: more recall for small labels, less accuracy", 0},
        {"--min-run", NULL, ARG_INT, &o->min_run, 1, 100, 0, 0, NULL, "N", "speech taggers: a run of one frame label shorter than N frames joins a neighbour before the string is read (1: off)", 0},
        SPEC_END,
    };
    _Static_assert(sizeof specs == EVAL_SPECS * sizeof specs[0], "EVAL_SPECS");
    memcpy(s, specs, sizeof specs);
    *cmd = (arg_command){"eval", "recur eval MODEL DATA [--json] [--svg FILE] [--held-out]", summary, s, 2, 2};
}

CLI_DEFINE_TABLE(cmd_eval_table, eval_table, eval_opts, EVAL_SPECS)

int cmd_eval(int argc, char **argv)
{
    eval_opts o;
    arg_spec specs[EVAL_SPECS];
    arg_command cmd;
    eval_table(&cmd, specs, &o);
    int npos, rc;
    char **pos = cli_parse_command(&cmd, argc, argv, &npos, &rc);
    if (!pos) return rc;
    const char *model_path = pos[0], *data_dir = pos[1];
    free(pos);
    if (o.svg && cli_check_writable(o.svg, "--svg")) return EXIT_RUNTIME;
    recur_set_threads(o.threads);

    recur_error err;
    recur_model *m = NULL;
    recur_dataset *ds = NULL;
    recur_runner *rn = NULL;
    size_t *idx = NULL, n = 0;
    int *map = NULL, *y = NULL;
    float *lp = NULL, *shift = NULL;
    const char **texts = NULL;
    size_t *lens = NULL;
    recur_metrics met = {0};
    cli_prior_sweep sweep = {0};
    const char **labels = NULL;
    rc = EXIT_RUNTIME;
    if (recur_model_load(model_path, &m, &err)) {
        cli_lib_error(NULL, &err);
        goto done;
    }
    if (recur_model_get_config(m)->task == RECUR_TASK_GENERATE) {
        /* Generators are scored in bits per character (eval_generate.c). */
        const char *bad = o.svg ? "--svg draws a classifier's confusion matrix" : o.tau ? "--prior-correction "
                                                                                          "applies to classifiers" : NULL;
        if (bad) cli_error("%s; %s is a generation model", bad, model_path);
        rc = bad ? EXIT_USAGE : eval_generate(m, model_path, data_dir, o.held_out, o.json, o.threads);
        goto done;
    }
    if (seq_is_model(m) || seq_data_kind(data_dir) != SEQ_NAMES) {
        /* Sequence data (eval_seq.c). */
        if (o.svg || o.tau) {
            cli_error("%s is for models of names folders", o.svg ? "--svg" : "--prior-correction");
            rc = EXIT_USAGE;
            goto done;
        }
        int color = o.color == 1 || (o.color == 0 && isatty(1) && !getenv("NO_COLOR"));
        rc = eval_seq(m, model_path, data_dir, o.held_out, o.json, color, o.min_run);
        goto done;
    }
    if ((rc = cli_prior_shift(m, model_path, o.tau, &shift))) goto done;
    rc = EXIT_RUNTIME;
    if (cli_load_data(data_dir, &ds)) goto done;
    int C = recur_model_num_labels(m), L = recur_dataset_num_labels(ds);
    map = malloc((size_t)L * sizeof *map);
    labels = malloc((size_t)C * sizeof *labels);
    if (!map || !labels || recur_metrics_init(&met, C, NULL)) goto nomem;
    for (int c = 0; c < C; c++) labels[c] = recur_model_label_name(m, c);
    for (int l = 0; l < L; l++) {
        map[l] = recur_model_label_find(m, recur_dataset_label_name(ds, l));
        if (map[l] < 0) {
            cli_error("%s/%s.txt: label '%s' is not one of the %d labels of %s", data_dir,
                      recur_dataset_label_name(ds, l), recur_dataset_label_name(ds, l), C, model_path);
            goto done;
        }
    }
    if (o.held_out) {
        if (cli_stored_split(m, model_path, ds, "--held-out", &idx, &n, NULL, NULL)) goto done;
    } else {
        n = recur_dataset_size(ds);
    }
    enum { EB = 256 };
    if (recur_runner_create(m, EB, &rn, &err)) {
        cli_lib_error(NULL, &err);
        goto done;
    }
    if (cli_prior_sweep_init(&sweep, m, model_path, EB)) goto done;
    lp = malloc((size_t)EB * C * sizeof *lp);
    y = malloc(EB * sizeof *y);
    texts = malloc(EB * sizeof *texts);
    lens = malloc(EB * sizeof *lens);
    if (!lp || !y || !texts || !lens) goto nomem;
    for (size_t s = 0; s < n; s += EB) {
        int k = (int)(n - s < EB ? n - s : EB);
        for (int j = 0; j < k; j++) {
            size_t ex = idx ? idx[s + j] : s + j;
            texts[j] = recur_dataset_text(ds, ex, &lens[j]);
            y[j] = map[recur_dataset_label(ds, ex)];
        }
        if (recur_runner_classify(rn, texts, lens, k, lp, &err)) {
            size_t ex = idx ? idx[s] : s;
            cli_error("%s/%s.txt: %s", data_dir, recur_dataset_label_name(ds, recur_dataset_label(ds, ex)),
                      err.message);
            goto done;
        }
        cli_prior_sweep_add(&sweep, lp, y, k);
        cli_prior_apply(shift, lp, k, C);
        recur_metrics_add(&met, lp, y, k);
    }
    if (o.svg) {
        cli_buf b = {0};
        char title[600], msg[600];
        snprintf(title, sizeof title, "%s on %s%s: accuracy %.1f%%, macro recall %.1f%%", model_path, data_dir,
                 o.held_out ? " (held out)" : "", 100 * recur_metrics_accuracy(&met),
                 100 * recur_metrics_macro_recall(&met));
        if (svg_confusion(&b, title, &met, labels) || cli_write_file_atomic(o.svg, b.data, b.len, msg, sizeof msg)) {
            cli_error("--svg: %s", b.failed ? "out of memory" : msg);
            cli_buf_free(&b);
            goto done;
        }
        cli_buf_free(&b);
    }
    if (o.json) {
        print_json(model_path, data_dir, &met, labels, o.tau, &sweep);
    } else {
        char a[32], b[32];
        const recur_model_config *mc = recur_model_get_config(m);
        const char *ep = recur_model_get_meta(m, "epoch");
        printf("model   %s: %s, hidden %d%s%s\n", model_path, recur_cell_name(mc->cell), mc->hidden,
               ep ? ", epoch " : "", ep ? ep : "");
        printf("data    %s%s: %s names, %d labels\n", data_dir, o.held_out ? " (held-out lines only)" : "",
               cli_count(a, met.n), L);
        if (o.tau) printf("prior   corrected: log-probabilities - %g x log(training share of the label)\n", o.tau);
        printf("accuracy %.1f%% (%s of %s)   macro recall %.1f%%   loss %.4f\n\n", 100 * recur_metrics_accuracy(&met),
               cli_count(a, met.correct), cli_count(b, met.n), 100 * recur_metrics_macro_recall(&met),
               recur_metrics_loss(&met));
        cli_print_class_table(stdout, &met, labels);
        printf("\n");
        int color = 0;
        if (o.color == 1) color = 1;
        else if (o.color == 0 && isatty(1)) {
            const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
            color = (nc && *nc) || (term && strcmp(term, "dumb") == 0) ? 2 : 1;
        }
        cli_print_confusion(stdout, &met, labels, color);
        print_confused(stdout, &met, labels);
        if (sweep.on) {
            printf("\nwhat --prior-correction TAU trades (more recall for small labels, less accuracy):\n");
            cli_prior_sweep_print(stdout, &sweep);
        }
    }
    if (fflush(stdout) != 0) {
        cli_error("cannot write the report");
        goto done;
    }
    rc = EXIT_OK;
    goto done;
nomem:
    cli_error("out of memory");
done:
    recur_runner_free(rn);
    recur_model_free(m);
    recur_dataset_free(ds);
    recur_metrics_free(&met);
    cli_prior_sweep_free(&sweep);
    free(idx);
    free(map);
    free(labels);
    free(lp);
    free(shift);
    free(y);
    free(texts);
    free(lens);
    return rc;
}
