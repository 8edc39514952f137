/*
 * recur eval of a model trained on sequence data (seq.h): the data are read
 * as the model records (its "data.*" keys: CSV columns, CoNLL columns,
 * tokens) and seen through its vocabulary, tags and labels; --held-out
 * keeps the test part of the recorded split (recur_split_indices), the
 * sequences training tested on. Per task: per-step accuracy, exact match
 * and per-tag P/R/F1 (tag); MSE, MAE and R², per target too (regress);
 * accuracy, macro recall, the per-class table and the confusion matrix
 * (classify). A speech tagger (connected digits) also gets the strings its
 * frames spell: string error rate (share not exactly right) and symbol
 * (digit) error rate by edit distance, after --min-run smoothing and
 * before it.
 */
#include <stdlib.h>
#include <string.h>

#include "seq.h"

/* The test part of the recorded split of s; *idx NULL: all of s. */
static int held_out_part(const recur_model *m, const char *model_path, const recur_seqset *s, size_t **idx,
                         size_t *n)
{
    recur_split_plan p;
    recur_error err;
    if (recur_model_get_split(m, &p, &err)) {
        cli_error("--held-out: %s: %s", model_path, err.message);
        return EXIT_RUNTIME;
    }
    if (p.test_dir) {
        cli_error("--held-out: %s was tested on a file of its own (%s); evaluate that file instead", model_path,
                  p.test_dir);
        return EXIT_RUNTIME;
    }
    const recur_batch *b = recur_seqset_batch(s);
    if (recur_split_indices(recur_seqset_size(s), b->labels, &p, NULL, NULL, NULL, NULL, idx, n, &err)) {
        cli_lib_error("--held-out", &err);
        return EXIT_RUNTIME;
    }
    return 0;
}

int seq_load_for(const recur_model *m, const char *model_path, const char *data, int need_targets,
                 recur_seqset **out)
{
    seq_kind kind;
    const char *path;
    recur_seqset_options o;
    if (seq_record_read(m, model_path, &kind, &path, &o)) return EXIT_RUNTIME;
    if (kind == SEQ_NAMES) kind = seq_data_kind(data);
    if (kind == SEQ_NAMES) {
        cli_error("%s is a folder of names; %s reads sequence data", data, model_path);
        return EXIT_RUNTIME;
    }
    /* The model's vocabulary makes the frequency cut: a symbol rare in
     * these data but known to the model keeps its id. */
    o.min_count = 1;
    recur_error err;
    if (kind == SEQ_FILE && !need_targets && recur_seqset_load(data, &o, out, &err) != RECUR_OK) {
        /* Predicting: the data need not hold the target, label or tag
         * columns (the rest are then the features, as in training). */
        o.target_columns = o.label_column = o.tag_column_name = NULL;
        o.targets_per_sequence = 0;
        if (recur_seqset_load(data, &o, out, NULL) == RECUR_OK) return 0;
        cli_error("%s", err.message);
        return EXIT_RUNTIME;
    } else if (kind == SEQ_FILE && !need_targets) {
        return 0;
    }
    /* Audio: the features the model was trained on (the defaults for a
     * model that records none). */
    recur_features_config feat;
    recur_features_config_default(&feat);
    if ((kind == SEQ_AUDIO || kind == SEQ_AUDIO_TAGS) && recur_model_get_features(m, &feat, &err) == RECUR_ERR_FORMAT) {
        cli_error("%s: %s", model_path, err.message);
        return EXIT_RUNTIME;
    }
    return seq_data_load(kind, data, &o, &feat, out);
}

/* A tagger's counts as a recur_metrics, for the class table and heat map. */
static recur_metrics as_metrics(const recur_tag_metrics *t)
{
    recur_metrics m = {0};
    m.num_labels = t->num_labels;
    m.n = t->steps;
    m.correct = t->correct;
    m.confusion = t->confusion;
    return m;
}

static void json_classes(FILE *f, const recur_metrics *m, const recur_model *model, const char *what)
{
    const int C = m->num_labels;
    fprintf(f, ",\"per_%s\":[", what);
    for (int c = 0; c < C; c++) {
        double p, r, f1;
        recur_metrics_class(m, c, &p, &r, &f1);
        fprintf(f, "%s{\"%s\":", c ? "," : "", what);
        cli_json_string(f, recur_model_label_name(model, c));
        fprintf(f, ",\"precision\":%.6f,\"recall\":%.6f,\"f1\":%.6f,\"support\":%zu}", p, r, f1,
                recur_metrics_support(m, c));
    }
    fputs("],\"confusion\":[", f);
    for (int r = 0; r < C; r++) {
        fprintf(f, "%s[", r ? "," : "");
        for (int c = 0; c < C; c++) fprintf(f, "%s%zu", c ? "," : "", m->confusion[(size_t)r * C + c]);
        fputc(']', f);
    }
    fputc(']', f);
}

static double out_mse(const recur_regress_metrics *r, int k) { return r->rows ? r->out_sse[k] / (double)r->rows : 0; }
static double out_r2(const recur_regress_metrics *r, int k)
{
    return r->m2[k] > 0 ? 1 - r->out_sse[k] / r->m2[k] : r->out_sse[k] == 0 ? 1.0 : 0.0;
}

static void print_json(const recur_model *m, const char *model_path, const char *data, int held_out,
                       const seq_scores *sc, const seq_view *v, const recur_seqset *s)
{
    FILE *f = stdout;
    fputs("{\"model\":", f);
    cli_json_string(f, model_path);
    fputs(",\"data\":", f);
    cli_json_string(f, data);
    fprintf(f, ",\"held_out\":%s,\"task\":\"%s\",\"sequences\":%zu", held_out ? "true" : "false",
            recur_task_name(sc->task), sc->n);
    if (sc->task == RECUR_TASK_TAG) {
        recur_metrics cm = as_metrics(&sc->tag);
        fprintf(f, ",\"steps\":%zu,\"correct\":%zu,\"step_accuracy\":%.6f,\"exact_match\":%.6f,\"unknown_tags\":%zu",
                sc->tag.steps, sc->tag.correct, recur_tag_metrics_accuracy(&sc->tag),
                recur_tag_metrics_exact_match(&sc->tag), v->unknown_tags);
        json_classes(f, &cm, m, "tag");
        if (sc->strings)
            fprintf(f,
                    ",\"strings\":{\"min_run\":%d,\"strings\":%zu,\"reference_tokens\":%zu,\"string_error_rate\":%.6f,"
                    "\"token_error_rate\":%.6f,\"exact\":%.6f,\"edits\":%zu,\"raw_string_error_rate\":%.6f,"
                    "\"raw_token_error_rate\":%.6f}",
                    sc->min_run, sc->str.strings, sc->str.ref_tokens, recur_string_metrics_ser(&sc->str),
                    recur_string_metrics_ter(&sc->str), 1 - recur_string_metrics_ser(&sc->str), sc->str.edits,
                    recur_string_metrics_ser(&sc->str_raw), recur_string_metrics_ter(&sc->str_raw));
    } else if (sc->task == RECUR_TASK_REGRESS) {
        const recur_regress_metrics *r = &sc->reg;
        fprintf(f, ",\"rows\":%zu,\"mse\":%.9g,\"mae\":%.9g,\"r2\":%.9g,\"per_target\":[", r->rows,
                recur_regress_metrics_mse(r), recur_regress_metrics_mae(r), recur_regress_metrics_r2(r));
        for (int k = 0; k < r->outputs; k++) {
            fprintf(f, "%s{\"target\":", k ? "," : "");
            cli_json_string(f, recur_seqset_target_name(s, k));
            fprintf(f, ",\"mse\":%.9g,\"r2\":%.9g}", out_mse(r, k), out_r2(r, k));
        }
        fputc(']', f);
    } else {
        const recur_metrics *c = &sc->cls;
        fprintf(f, ",\"examples\":%zu,\"correct\":%zu,\"accuracy\":%.6f,\"macro_recall\":%.6f,\"loss\":%.6f", c->n,
                c->correct, recur_metrics_accuracy(c), recur_metrics_macro_recall(c), recur_metrics_loss(c));
        json_classes(f, c, m, "label");
    }
    fputs("}\n", f);
}

static void print_text(const recur_model *m, const char *model_path, const char *data, int held_out,
                       const seq_scores *sc, const seq_view *v, const recur_seqset *s, int color)
{
    const recur_model_config *mc = recur_model_get_config(m);
    const char *ep = recur_model_get_meta(m, "epoch");
    char a[32], b[32];
    printf("model   %s: %s %s, hidden %d%s%s\n", model_path, recur_task_name(mc->task), recur_cell_name(mc->cell),
           mc->hidden, ep ? ", epoch " : "", ep ? ep : "");
    printf("data    %s%s: %s sequences\n", data, held_out ? " (the held-out sequences only)" : "",
           cli_count(a, sc->n));
    const char **names = malloc(((size_t)recur_model_num_labels(m) + 1) * sizeof *names);
    for (int c = 0; names && c < recur_model_num_labels(m); c++) names[c] = recur_model_label_name(m, c);
    if (sc->task == RECUR_TASK_TAG) {
        const recur_tag_metrics *t = &sc->tag;
        printf("step accuracy %.2f%% (%s of %s steps)   exact match %.2f%% (%zu of %zu sequences)\n",
               100 * recur_tag_metrics_accuracy(t), cli_count(a, t->correct), cli_count(b, t->steps),
               100 * recur_tag_metrics_exact_match(t), t->exact, t->sequences);
        if (v->unknown_tags) printf("(%zu steps have tags the model does not know: not scored)\n", v->unknown_tags);
        if (sc->strings) {
            /* The strings the frames spell (runs shorter than min_run joined
             * a neighbour, runs collapsed, silence dropped). */
            const recur_string_metrics *sm = &sc->str, *r = &sc->str_raw;
            int digits = 1; /* labels of one byte (but silence): digits, else words */
            for (int c = 0; c < recur_model_num_labels(m); c++)
                digits &= strlen(recur_model_label_name(m, c)) == 1 || strcmp(recur_model_label_name(m, c), "sil") == 0;
            const char *what = digits ? "digit" : "word";
            printf("strings: string error rate %.2f%% (%zu of %zu wrong, exact %.2f%%)   %s error rate %.2f%% "
                   "(%zu edits over %zu %ss)\n",
                   100 * recur_string_metrics_ser(sm), sm->wrong, sm->strings, 100 - 100 * recur_string_metrics_ser(sm),
                   what, 100 * recur_string_metrics_ter(sm), sm->edits, sm->ref_tokens, what);
            printf("(runs shorter than %d frame%s smoothed away; unsmoothed: string error %.2f%%, %s error %.2f%%)\n",
                   sc->min_run, sc->min_run == 1 ? "" : "s", 100 * recur_string_metrics_ser(r), what,
                   100 * recur_string_metrics_ter(r));
        }
        recur_metrics cm = as_metrics(t);
        if (names) {
            printf("\n");
            cli_print_class_table(stdout, &cm, names);
            if (t->num_labels <= 40) {
                printf("\n");
                cli_print_confusion(stdout, &cm, names, color);
            }
        }
    } else if (sc->task == RECUR_TASK_REGRESS) {
        const recur_regress_metrics *r = &sc->reg;
        printf("MSE %.6g   MAE %.6g   R² %.4f   (%s rows of %d target%s)\n", recur_regress_metrics_mse(r),
               recur_regress_metrics_mae(r), recur_regress_metrics_r2(r), cli_count(a, r->rows), r->outputs,
               r->outputs > 1 ? "s" : "");
        for (int k = 0; r->outputs > 1 && k < r->outputs; k++)
            printf("  %-20s MSE %.6g   R² %.4f\n", recur_seqset_target_name(s, k), out_mse(r, k), out_r2(r, k));
    } else {
        const recur_metrics *c = &sc->cls;
        printf("accuracy %.1f%% (%s of %s)   macro recall %.1f%%   loss %.4f\n", 100 * recur_metrics_accuracy(c),
               cli_count(a, c->correct), cli_count(b, c->n), 100 * recur_metrics_macro_recall(c), recur_metrics_loss(c));
        if (names) {
            printf("\n");
            cli_print_class_table(stdout, c, names);
            printf("\n");
            cli_print_confusion(stdout, c, names, color);
        }
    }
    free(names);
}

int eval_seq(recur_model *m, const char *model_path, const char *data, int held_out, int json, int color,
             int min_run)
{
    recur_seqset *s = NULL;
    seq_view v = {0};
    seq_scores sc = {0};
    size_t *idx = NULL, n = 0;
    int rc = seq_load_for(m, model_path, data, 1, &s);
    if (!rc) rc = seq_view_make(m, model_path, s, data, 1, &v);
    if (!rc && held_out) rc = held_out_part(m, model_path, s, &idx, &n);
    else if (!rc) n = recur_seqset_size(s);
    if (!rc) rc = seq_score_at(m, &v.b, idx, n, data, min_run, &sc);
    if (!rc) {
        if (json) print_json(m, model_path, data, held_out, &sc, &v, s);
        else print_text(m, model_path, data, held_out, &sc, &v, s, color);
        if (fflush(stdout) != 0) {
            cli_error("cannot write the report");
            rc = EXIT_RUNTIME;
        }
    }
    seq_scores_free(&sc);
    seq_view_free(&v);
    recur_seqset_free(s);
    free(idx);
    return rc;
}
