/*
 * recur eval GENMODEL DATA [--held-out]: how well a generation model
 * predicts names it was not trained on, in bits per character, next to the
 * baseline it must beat: character trigrams with add-one smoothing counted
 * on the same training names (the split rebuilt from the model's record,
 * or for older files its stored flags), per label and with all labels
 * pooled.
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
    recur_data *data, *train_data; /* DATA's and the training folder's lines */
    size_t n_eval;                 /* lines scored */
    double *model_sum, *tri_sum, *pooled_sum;
    size_t *terms, *names;
    cli_trigram *tri;
} gen_eval;

static void gen_eval_free(gen_eval *g)
{
    recur_dataset_free(g->ds);
    recur_dataset_free(g->train_ds);
    free(g->test);
    free(g->train);
    recur_data_free(g->data);
    recur_data_free(g->train_data);
    free(g->model_sum);
    free(g->tri_sum);
    free(g->pooled_sum);
    free(g->terms);
    free(g->names);
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
           held_out ? " (held-out lines only)" : "", cli_count(a, g->n_eval), cli_count(b, all_terms));
    printf("trigram add-one smoothing, counted on the %s training names\n\n", cli_count(a, g->n_train));
    printf("%-14s %7s %9s %9s %9s   (bits per character)\n", "label", "names", "model", "trigram", "pooled");
    for (int c = 0; c < C; c++) {
        if (!g->names[c]) continue;
        printf("%-14s %7s %9.3f %9.3f %9.3f\n", recur_model_label_name(m, c), cli_count(a, g->names[c]),
               bits(g->model_sum[c], g->terms[c]), bits(g->tri_sum[c], g->terms[c]),
               bits(g->pooled_sum[c], g->terms[c]));
    }
    double mb = bits(all_model, all_terms), tb = bits(all_tri, all_terms), pb = bits(all_pooled, all_terms);
    printf("%-14s %7s %9.3f %9.3f %9.3f\n\n", "all", cli_count(a, g->n_eval), mb, tb, pb);
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
           held_out ? "true" : "false", g->n_eval, all_terms, g->n_train, bits(all_model, all_terms),
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
        recur_split_plan plan;
        if (recur_model_get_split(m, &plan, &err) == RECUR_OK) {
            /* The training part of that folder (validation excluded). */
            size_t *none = NULL, nn = 0;
            int bad = cli_stored_split(m, model_path, g.train_ds, "trigram baseline", &none, &nn, &g.train, &g.n_train);
            free(none);
            if (bad) goto done;
        } else {
            g.n_train = recur_dataset_size(tds);
        }
    } else {
        if (cli_stored_split(m, model_path, g.ds, held_out ? "--held-out" : "trigram baseline", &g.test,
                             &g.n_test, &g.train, &g.n_train))
            goto done;
        train_map = map;
    }
    const char **names = malloc((size_t)C * sizeof *names);
    if (!names) goto nomem;
    for (int c = 0; c < C; c++) names[c] = recur_model_label_name(m, c);
    const char *dir = data_dir;
    recur_status st = recur_data_encode(g.ds, v, names, C, &g.data, &err);
    if (!st && (dir = train_dir)) st = recur_data_encode(tds, v, names, C, &g.train_data, &err);
    free(names);
    if (st) {
        cli_error("%s/%s", dir, err.message);
        goto done;
    }
    const recur_batch *db = recur_data_batch(g.data), *tb = recur_data_batch(g.train_data);
    const size_t n = held_out ? g.n_test : (size_t)db->n;
    g.n_eval = n;
    g.model_sum = calloc((size_t)C, sizeof *g.model_sum);
    g.tri_sum = calloc((size_t)C, sizeof *g.tri_sum);
    g.pooled_sum = calloc((size_t)C, sizeof *g.pooled_sum);
    g.terms = calloc((size_t)C, sizeof *g.terms);
    g.names = calloc((size_t)C, sizeof *g.names);
    size_t *start = calloc((size_t)C + 1, sizeof *start), *by = malloc((n ? n : 1) * sizeof *by);
    g.tri = trigram_create(recur_vocab_size(v), C);
    if (!g.model_sum || !g.tri_sum || !g.pooled_sum || !g.terms || !g.names || !start || !by || !g.tri) {
        free(start);
        free(by);
        goto nomem;
    }
    /* The model, one label at a time (its per-label sums), through the
     * library's evaluation pass (no trainer, no dropout). */
    for (size_t i = 0; i < n; i++) start[db->labels[held_out ? g.test[i] : i] + 1]++;
    for (int c = 0; c < C; c++) start[c + 1] += start[c];
    for (size_t i = 0; i < n; i++) {
        size_t it = held_out ? g.test[i] : i;
        by[start[db->labels[it]]++] = it;
    }
    double all_model = 0;
    size_t all_terms = 0;
    for (int c = 0, at = 0; c < C; at = (int)start[c], c++) {
        recur_metrics met;
        if (recur_evaluate(m, db, by + at, start[c] - (size_t)at, 256, cli_interrupt_flag(), &met, &err)) {
            recur_metrics_free(&met);
            free(start);
            free(by);
            cli_lib_error(model_path, &err);
            goto done;
        }
        g.model_sum[c] = met.loss_sum / log(2);
        all_model += met.loss_sum;
        all_terms += met.terms;
        recur_metrics_free(&met);
    }
    free(start);
    free(by);
    all_model /= log(2);
    /* The trigrams. */
    for (size_t i = 0; i < g.n_train; i++) {
        size_t it = g.train ? g.train[i] : i;
        if (trigram_add(g.tri, tb->tokens + tb->offsets[it], (size_t)(tb->offsets[it + 1] - tb->offsets[it]),
                        tb->labels[it]))
            goto nomem;
    }
    double all_tri = 0, all_pooled = 0;
    for (size_t i = 0; i < n; i++) {
        size_t it = held_out ? g.test[i] : i, len = (size_t)(db->offsets[it + 1] - db->offsets[it]);
        const int32_t *tok = db->tokens + db->offsets[it];
        int y = db->labels[it];
        double t = trigram_bits(g.tri, tok, len, y), p = trigram_bits(g.tri, tok, len, -1);
        g.tri_sum[y] += t;
        g.pooled_sum[y] += p;
        g.terms[y] += len + 1;
        g.names[y]++;
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
