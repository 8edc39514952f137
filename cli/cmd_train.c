/*
 * recur train: train a classifier (or, with --generate, a name generator)
 * on a folder of <Label>.txt files. This file prepares the data and the
 * model; train_flags.c reads the flags, train_loop.c runs the epochs.
 *
 * Data: DATA, else $RECUR_DATA, else the tutorial's names fetched into the
 * cache. The held-out split (--test-split of the lines, or --test-dir) is
 * never trained on; the vocabulary comes from the training split only.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train.h"

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
    int npos = 0, rc = pos ? train_parse_flags(r, argc, argv, pos, &npos) : EXIT_RUNTIME;
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
