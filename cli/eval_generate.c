/*
 * recur eval GENMODEL DATA [--held-out]: how well a generation model
 * predicts names it was not trained on, in bits per character, next to the
 * baseline it must beat: character trigrams with add-one smoothing counted
 * on the same training names (the split derived again from the flags
 * stored in the model), per label and with all labels pooled.
 *
 * A name of n characters makes n + 1 predictions (its end is one), for the
 * model and the trigrams alike; "bits per character" is their mean -log2 p.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct gen_eval {
    recur_dataset *ds, *train_ds; /* DATA; the training folder when not DATA */
    size_t *test, *train, n_test, n_train;
    cli_encoded enc, enc_train;
    int *y, *y_train;
    double *model_sum, *tri_sum, *pooled_sum;
    size_t *terms, *names;
    recur_trainer *tr;
    cli_trigram *tri;
} gen_eval;

static void gen_eval_free(gen_eval *g)
{
    recur_dataset_free(g->ds);
    recur_dataset_free(g->train_ds);
    free(g->test);
    free(g->train);
    cli_encoded_free(&g->enc);
    cli_encoded_free(&g->enc_train);
    free(g->y);
    free(g->y_train);
    free(g->model_sum);
    free(g->tri_sum);
    free(g->pooled_sum);
    free(g->terms);
    free(g->names);
    recur_trainer_free(g->tr);
    trigram_free(g->tri);
}

static double bits(double sum, size_t n) { return n ? sum / (double)n : NAN; }

static void print_text(const gen_eval *g, const recur_model *m, const char *model_path, const char *data_dir,
                       int held_out, int C, size_t all_terms, double all_model, double all_tri, double all_pooled)
{
    char a[32], b[32];
    const recur_model_config *mc = recur_model_get_config(m);
    const char *ep = recur_model_get_meta(m, "epoch");
    printf("model   %s: generator, %s, hidden %d%s%s\n", model_path, recur_cell_name(mc->cell), mc->hidden,
           ep ? ", epoch " : "", ep ? ep : "");
    printf("data    %s%s: %s names, %s predicted symbols (characters and ends of names)\n", data_dir,
           held_out ? " (held-out lines only)" : "", cli_count(a, g->enc.n), cli_count(b, all_terms));
    printf("trigram add-one smoothing, counted on the %s training names\n\n", cli_count(a, g->n_train));
    printf("%-14s %7s %9s %9s %9s   (bits per character)\n", "label", "names", "model", "trigram", "pooled");
    for (int c = 0; c < C; c++) {
        if (!g->names[c]) continue;
        printf("%-14s %7s %9.3f %9.3f %9.3f\n", recur_model_label_name(m, c), cli_count(a, g->names[c]),
               bits(g->model_sum[c], g->terms[c]), bits(g->tri_sum[c], g->terms[c]),
               bits(g->pooled_sum[c], g->terms[c]));
    }
    double mb = bits(all_model, all_terms), tb = bits(all_tri, all_terms), pb = bits(all_pooled, all_terms);
    printf("%-14s %7s %9.3f %9.3f %9.3f\n\n", "all", cli_count(a, g->enc.n), mb, tb, pb);
    double best = tb < pb ? tb : pb;
    printf("the model: %.3f bits/char, %.3f %s than the better trigram (%.3f)\n", mb, fabs(best - mb),
           mb < best ? "fewer" : "more", best);
}

static void print_json(const gen_eval *g, const recur_model *m, const char *model_path, const char *data_dir,
                       int held_out, int C, size_t all_terms, double all_model, double all_tri, double all_pooled)
{
    fputs("{\"model\":", stdout);
    cli_json_string(stdout, model_path);
    fputs(",\"data\":", stdout);
    cli_json_string(stdout, data_dir);
    printf(",\"held_out\":%s,\"names\":%zu,\"symbols\":%zu,\"training_names\":%zu,\"bits_per_char\":%.6f,"
           "\"trigram_bits_per_char\":%.6f,\"trigram_pooled_bits_per_char\":%.6f,\"per_label\":[",
           held_out ? "true" : "false", g->enc.n, all_terms, g->n_train, bits(all_model, all_terms),
           bits(all_tri, all_terms), bits(all_pooled, all_terms));
    int first = 1;
    for (int c = 0; c < C; c++) {
        if (!g->names[c]) continue;
        fputs(first ? "{\"label\":" : ",{\"label\":", stdout);
        first = 0;
        cli_json_string(stdout, recur_model_label_name(m, c));
        printf(",\"names\":%zu,\"symbols\":%zu,\"bits_per_char\":%.6f,\"trigram_bits_per_char\":%.6f,"
               "\"trigram_pooled_bits_per_char\":%.6f}",
               g->names[c], g->terms[c], bits(g->model_sum[c], g->terms[c]), bits(g->tri_sum[c], g->terms[c]),
               bits(g->pooled_sum[c], g->terms[c]));
    }
    fputs("]}\n", stdout);
}

/* Labels of ds as the model's; -1 and EXIT_RUNTIME (printed) when one is
 * not the model's. */
static int *label_map(const recur_dataset *ds, const recur_model *m, const char *dir, const char *model_path)
{
    int L = recur_dataset_num_labels(ds), *map = malloc((size_t)L * sizeof *map);
    if (!map) {
        cli_error("out of memory");
        return NULL;
    }
    for (int l = 0; l < L; l++) {
        map[l] = recur_model_label_find(m, recur_dataset_label_name(ds, l));
        if (map[l] < 0) {
            cli_error("%s/%s.txt: label '%s' is not one of the %d labels of %s", dir, recur_dataset_label_name(ds, l),
                      recur_dataset_label_name(ds, l), recur_model_num_labels(m), model_path);
            free(map);
            return NULL;
        }
    }
    return map;
}

/* Whether the model was trained with --test-dir: then its training lines
 * are all those of the folder it stores as "data". */
static int tested_on_folder(const recur_model *m)
{
    const char *args = recur_model_get_meta(m, "train_args");
    char *copy = args ? strdup(args) : NULL, *tok[130];
    int n = copy ? args_tokenize(copy, tok, 128) : -1, found = 0;
    for (int i = 0; i < n; i++) found |= strcmp(tok[i], "--test-dir") == 0 || strncmp(tok[i], "--test-dir=", 11) == 0;
    free(copy);
    return found;
}

int eval_generate(recur_model *m, const char *model_path, const char *data_dir, int held_out, int json,
                  int threads)
{
    gen_eval g;
    memset(&g, 0, sizeof g);
    recur_error err;
    int rc = EXIT_RUNTIME, C = recur_model_num_labels(m);
    const recur_vocab *v = recur_model_vocab(m);
    int *map = NULL, *train_map = NULL;
    if (cli_load_data(data_dir, &g.ds) || !(map = label_map(g.ds, m, data_dir, model_path))) goto done;
    /* The trigrams need the training lines whether or not --held-out: the
     * training side of the stored split of DATA, or the stored folder. */
    const recur_dataset *tds = g.ds;
    const char *train_dir = data_dir;
    if (tested_on_folder(m)) {
        train_dir = recur_model_get_meta(m, "data");
        if (held_out) {
            cli_error("--held-out: %s was tested on a folder of its own; evaluate that folder instead", model_path);
            goto done;
        }
        if (!train_dir) {
            cli_error("trigram baseline: %s does not say which folder it was trained on", model_path);
            goto done;
        }
        if (cli_load_data(train_dir, &g.train_ds) || !(train_map = label_map(g.train_ds, m, train_dir, model_path)))
            goto done;
        tds = g.train_ds;
        g.n_train = recur_dataset_size(tds);
    } else {
        if (cli_stored_split(m, model_path, g.ds, held_out ? "--held-out" : "trigram baseline", &g.test,
                             &g.n_test, &g.train, &g.n_train))
            goto done;
        train_map = map;
    }
    size_t n = held_out ? g.n_test : recur_dataset_size(g.ds);
    g.y = malloc((n ? n : 1) * sizeof *g.y);
    g.y_train = malloc((g.n_train ? g.n_train : 1) * sizeof *g.y_train);
    if (!g.y || !g.y_train) goto nomem;
    for (size_t i = 0; i < n; i++) g.y[i] = map[recur_dataset_label(g.ds, held_out ? g.test[i] : i)];
    for (size_t i = 0; i < g.n_train; i++)
        g.y_train[i] = train_map[recur_dataset_label(tds, g.train ? g.train[i] : i)];
    if (cli_encode(v, g.ds, held_out ? g.test : NULL, n, &g.enc, data_dir) ||
        cli_encode(v, tds, g.train, g.n_train, &g.enc_train, train_dir))
        goto done;

    g.model_sum = calloc((size_t)C, sizeof *g.model_sum);
    g.tri_sum = calloc((size_t)C, sizeof *g.tri_sum);
    g.pooled_sum = calloc((size_t)C, sizeof *g.pooled_sum);
    g.terms = calloc((size_t)C, sizeof *g.terms);
    g.names = calloc((size_t)C, sizeof *g.names);
    size_t *model_terms = calloc((size_t)C, sizeof *model_terms);
    g.tri = trigram_create(recur_vocab_size(v), C);
    if (!g.model_sum || !g.tri_sum || !g.pooled_sum || !g.terms || !g.names || !model_terms || !g.tri) {
        free(model_terms);
        goto nomem;
    }
    /* The model, through a trainer that only evaluates (no dropout). */
    recur_train_config tc;
    recur_train_config_default(&tc);
    tc.max_batch = 256;
    tc.threads = threads;
    double all_model = 0;
    size_t all_terms = 0;
    if (recur_trainer_create(m, &tc, &g.tr, &err) ||
        gen_loss(g.tr, &g.enc, g.y, tc.max_batch, &all_model, &all_terms, g.model_sum, model_terms, &err)) {
        free(model_terms);
        cli_lib_error(model_path, &err);
        goto done;
    }
    free(model_terms);
    for (int c = 0; c < C; c++) g.model_sum[c] /= log(2);
    all_model /= log(2);
    /* The trigrams. */
    for (size_t i = 0; i < g.n_train; i++)
        if (trigram_add(g.tri, g.enc_train.tok + g.enc_train.off[i], g.enc_train.off[i + 1] - g.enc_train.off[i],
                        g.y_train[i]))
            goto nomem;
    double all_tri = 0, all_pooled = 0;
    for (size_t i = 0; i < g.enc.n; i++) {
        const int32_t *tok = g.enc.tok + g.enc.off[i];
        size_t len = g.enc.off[i + 1] - g.enc.off[i];
        double t = trigram_bits(g.tri, tok, len, g.y[i]), p = trigram_bits(g.tri, tok, len, -1);
        g.tri_sum[g.y[i]] += t;
        g.pooled_sum[g.y[i]] += p;
        g.terms[g.y[i]] += len + 1;
        g.names[g.y[i]]++;
        all_tri += t;
        all_pooled += p;
    }
    if (json) print_json(&g, m, model_path, data_dir, held_out, C, all_terms, all_model, all_tri, all_pooled);
    else print_text(&g, m, model_path, data_dir, held_out, C, all_terms, all_model, all_tri, all_pooled);
    if (fflush(stdout) != 0) {
        cli_error("cannot write the report");
        goto done;
    }
    rc = EXIT_OK;
    goto done;
nomem:
    cli_error("out of memory");
done:
    if (train_map != map) free(train_map);
    free(map);
    gen_eval_free(&g);
    return rc;
}
