/*
 * recur train on sequence data (seq.h): a CoNLL, JSON Lines, CSV or NumPy
 * file, a folder of <word>/ audio folders or of .wav + .lab files (a tag
 * per frame: connected digits). The task comes from the data
 * (tags per step: tag; real targets: regress; labels: classify) unless
 * --task names it, and is then checked against them. The split is the
 * library's recur_split_indices under the same plan as for names (recorded
 * in the model with how the data were read, so eval --held-out reads them
 * the same way); the vocabulary is rebuilt from the training part only,
 * dense features are standardised with the training part's statistics.
 * The epochs are train_loop.c's, through recur_fit.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"

/* The task the data hold, or the one asked for if they hold it. */
static int choose_task(run *r, const char *data)
{
    const recur_seqset *s = r->seq;
    int tags = recur_seqset_num_tags(s), outs = recur_seqset_outputs(s), labels = recur_seqset_num_labels(s);
    static const recur_task asked[] = {RECUR_TASK_CLASSIFY, RECUR_TASK_CLASSIFY, RECUR_TASK_TAG, RECUR_TASK_REGRESS};
    int want = r->o.sq.task;
    if (want == 0) {
        if (!tags && !outs && !labels) {
            cli_error("%s holds no tags per step, real targets or labels to learn (CSV: --step-tags, --target-cols, "
                      "--label-col)",
                      data);
            return EXIT_RUNTIME;
        }
        r->task = tags ? RECUR_TASK_TAG : outs ? RECUR_TASK_REGRESS : RECUR_TASK_CLASSIFY;
    } else {
        r->task = asked[want];
        const char *lack = r->task == RECUR_TASK_TAG && !tags ? "tags per step (CoNLL: a tag column; JSON Lines: "
                                                                "\"tags\"; CSV: --step-tags NAME)"
                           : r->task == RECUR_TASK_REGRESS && !outs ? "real targets (CSV: --target-cols LIST; "
                                                                      ".npz: a \"targets\" member)"
                           : r->task == RECUR_TASK_CLASSIFY && !labels ? "label per sequence (CSV: --label-col "
                                                                          "NAME; JSON Lines: \"label\")"
                                                                        : NULL;
        if (lack) {
            cli_error("--task %s: %s holds no %s", seq_task_choices[want], data, lack);
            return EXIT_RUNTIME;
        }
    }
    if (r->task == RECUR_TASK_CLASSIFY && labels < 2) {
        cli_error("%s: a classifier needs at least 2 labels, found %d", data, labels);
        return EXIT_RUNTIME;
    }
    int loss = r->o.sq.loss, real = r->task == RECUR_TASK_REGRESS;
    if (loss && (loss == RECUR_LOSS_NLL) == real) {
        cli_error("--loss %s does not fit --task %s (%s)", seq_loss_choices[loss], recur_task_name(r->task),
                  real ? "mse or huber" : "nll");
        return EXIT_USAGE;
    }
    if (args_find(&r->cmd, "--huber-delta")->seen && loss != RECUR_LOSS_HUBER) {
        cli_error("--huber-delta needs --loss huber");
        return EXIT_USAGE;
    }
    return 0;
}

/* Flags of names folders that mean nothing here. */
static int check_flags(run *r)
{
    static const char *const names_only[] = {"--generate", "--label-embed", "--text", "--dedupe", NULL};
    for (int k = 0; names_only[k]; k++)
        if (args_find(&r->cmd, names_only[k])->seen) {
            cli_error("%s is for folders of names, not sequence data", names_only[k]);
            return EXIT_USAGE;
        }
    if (r->o.split == RECUR_SPLIT_DISTINCT) {
        cli_error("--split distinct is for folders of names; sequence data split by random sequences or stratified");
        return EXIT_USAGE;
    }
    return 0;
}

static int split(run *r, const char *data)
{
    train_opts *o = &r->o;
    recur_split_plan *p = &r->plan;
    recur_split_plan_default(p);
    p->method = (recur_split)o->split;
    p->valid_fraction = o->valid_split;
    p->test_fraction = o->test_split;
    p->seed = o->seed;
    p->test_dir = o->test_dir;
    const recur_batch *b = recur_seqset_batch(r->seq);
    recur_error err;
    if (p->method == RECUR_SPLIT_STRATIFIED && !b->labels) {
        cli_error("--split stratified needs a label per sequence; %s has none", data);
        return EXIT_USAGE;
    }
    if (recur_split_indices(recur_seqset_size(r->seq), b->labels, p, &r->train_idx, &r->n_train, &r->valid_idx,
                            &r->n_valid, &r->test_idx, &r->n_test, &err)) {
        cli_lib_error("split", &err);
        return EXIT_RUNTIME;
    }
    if (r->seq_test) r->n_test = recur_seqset_size(r->seq_test);
    if (p->valid_fraction == 0 && !r->seq_test) {
        /* No validation part of its own: select on the test part. */
        free(r->valid_idx);
        r->valid_idx = malloc((r->n_test ? r->n_test : 1) * sizeof *r->valid_idx);
        if (!r->valid_idx) return EXIT_RUNTIME;
        memcpy(r->valid_idx, r->test_idx, r->n_test * sizeof *r->valid_idx);
        r->n_valid = r->n_test;
    }
    if (r->n_train == 0 || r->n_valid == 0 || r->n_test == 0) {
        cli_error("%s: too few sequences (%zu) to hold some out for validation and testing%s", data,
                  recur_seqset_size(r->seq), p->valid_fraction == 0 && r->seq_test ? " (--valid-split 0 with --test-dir)" : "");
        return EXIT_RUNTIME;
    }
    return 0;
}

static int make_model(run *r, const char *data)
{
    train_opts *o = &r->o;
    const recur_seqset *s = r->seq;
    recur_error err;
    int C = r->task == RECUR_TASK_TAG ? recur_seqset_num_tags(s)
            : r->task == RECUR_TASK_CLASSIFY ? recur_seqset_num_labels(s)
                                             : 0;
    const char **labels = malloc(((size_t)C + 1) * sizeof *labels);
    if (!labels) return EXIT_RUNTIME;
    for (int l = 0; l < C; l++)
        labels[l] = r->task == RECUR_TASK_TAG ? recur_seqset_tag_name(s, l) : recur_seqset_label_name(s, l);
    recur_model_config cfg;
    recur_model_config_default(&cfg);
    cfg.cell = train_cell_values[o->cell];
    cfg.hidden = o->hidden;
    cfg.layers = o->layers;
    cfg.bidirectional = o->bidirectional;
    cfg.embed = o->embed;
    cfg.dropout = (float)o->dropout;
    cfg.seed = o->seed;
    int F = recur_seqset_input_size(s);
    cfg.input = F ? RECUR_INPUT_DENSE : RECUR_INPUT_TOKENS;
    cfg.input_size = F;
    if (F) cfg.embed = 0;
    recur_model_config_task(&cfg, r->task);
    if (r->task == RECUR_TASK_REGRESS) {
        cfg.outputs = recur_seqset_outputs(s);
        cfg.head = recur_seqset_targets_per_step(s) ? RECUR_HEAD_STEPS : RECUR_HEAD_FINAL;
    }
    if (o->sq.loss) cfg.loss = (recur_loss)o->sq.loss;
    if (cfg.loss == RECUR_LOSS_HUBER) cfg.huber_delta = (float)o->sq.huber_delta;
    recur_vocab *tv = NULL;
    int word = !F && !recur_seqset_vocab(s);
    if (word && seq_token_vocab(recur_seqset_num_tokens(s), &tv)) {
        free(labels);
        return EXIT_RUNTIME;
    }
    const recur_vocab *v = F ? NULL : word ? tv : recur_seqset_vocab(s);
    recur_status st;
    if (o->resume) st = recur_model_load(o->resume, &r->model, &err);
    else st = recur_model_create(&cfg, v, labels, C, &r->model, &err);
    recur_vocab_free(tv);
    int rc = 0;
    if (st) {
        cli_lib_error(o->resume ? "--resume" : "model", &err);
        rc = EXIT_RUNTIME;
    } else if (o->resume) {
        /* A checkpoint goes on with the data it was trained on. */
        const recur_model_config *mc = recur_model_get_config(r->model);
        int same = mc->task == r->task && mc->input_size == cfg.input_size && mc->outputs == cfg.outputs &&
                   mc->head == cfg.head && recur_model_num_labels(r->model) == C &&
                   (F || recur_vocab_size(recur_model_vocab(r->model)) == recur_vocab_size(v ? v : recur_model_vocab(r->model)));
        for (int l = 0; same && l < C; l++) same = strcmp(recur_model_label_name(r->model, l), labels[l]) == 0;
        if (!same) {
            cli_error("--resume: %s was not trained on %s as it reads now (task, classes, sizes)", o->resume, data);
            rc = EXIT_RUNTIME;
        }
    } else if (F && recur_model_fit_input_norm(r->model, recur_seqset_batch(s), r->train_idx, r->n_train, &err)) {
        cli_lib_error(data, &err);
        rc = EXIT_RUNTIME;
    } else if (word) {
        rc = seq_store_tokens(r->model, s);
    }
    free(labels);
    return rc;
}

static void print_plan(const run *r, const char *data)
{
    const recur_seqset *s = r->seq;
    const recur_model_config *mc = recur_model_get_config(r->model);
    char a[32], b[32], c[32], in[96];
    printf("data    %s: %s sequences, %s steps", data, cli_count(a, recur_seqset_size(s)),
           cli_count(b, recur_seqset_steps(s)));
    if (mc->input == RECUR_INPUT_DENSE) snprintf(in, sizeof in, "%d feature%s per step", mc->input_size, mc->input_size > 1 ? "s" : "");
    else if (recur_model_get_meta(r->model, "tokens"))
        snprintf(in, sizeof in, "%d tokens (embedding %d)", recur_vocab_size(recur_model_vocab(r->model)) - 2, mc->embed);
    else snprintf(in, sizeof in, "%d characters (embedding %d)", recur_vocab_size(recur_model_vocab(r->model)) - 2, mc->embed);
    printf(", %s\n", in);
    if (r->task == RECUR_TASK_REGRESS)
        printf("task    regress: %d real target%s per %s, %s loss\n", mc->outputs, mc->outputs > 1 ? "s" : "",
               mc->head == RECUR_HEAD_STEPS ? "step" : "sequence", seq_loss_choices[mc->loss]);
    else
        printf("task    %s: %d %s\n", recur_task_name(r->task), recur_model_num_labels(r->model),
               r->task == RECUR_TASK_TAG ? "tags, one per step" : "labels");
    if (r->seq_test)
        printf("split   random sequences, seed %llu: %s training, %s validation; %s test sequences from %s\n",
               (unsigned long long)r->o.seed, cli_count(a, r->n_train), cli_count(b, r->n_valid),
               cli_count(c, r->n_test), r->o.test_dir);
    else
        printf("split   %s sequences, seed %llu: %s training, %s validation, %s test\n",
               r->o.split == RECUR_SPLIT_STRATIFIED ? "stratified" : "random", (unsigned long long)r->o.seed,
               cli_count(a, r->n_train), cli_count(b, r->n_valid), cli_count(c, r->n_test));
    printf("model   %s, hidden %d, %d layer%s%s%s, %s weights\n", recur_cell_name(mc->cell), mc->hidden, mc->layers,
           mc->layers > 1 ? "s" : "", mc->bidirectional ? ", bidirectional" : "",
           mc->input == RECUR_INPUT_DENSE ? ", inputs standardised on the training part" : "",
           cli_count(a, recur_model_num_weights(r->model)));
    printf("train   %s, lr %g, batch %d, clip %g, %d epochs, %d thread%s%s\n", train_optim_choices[r->o.optim],
           r->o.lr, r->o.batch, r->o.clip, r->o.epochs, r->o.threads, r->o.threads > 1 ? "s" : "",
           r->o.resume ? ", resumed" : "");
    fflush(stdout);
}

/* Audio: the LSTM's forget gates start open (+2 on the forget slice of
 * every b_ih, on top of PyTorch's draw). A word ends in 30-70 frames of
 * silence (the synthesiser's own and the file's) and a classifier reads
 * the state after them: with PyTorch's init the forget gates sit near 0.5
 * and the word is gone from the state (and its gradient from the weights)
 * by the last step. On make data-speech a unidirectional LSTM-64 then
 * stayed at chance for 15 epochs (lr 1e-3 or 3e-3, clip 5 or none,
 * patience 0 or 2 alike), while the same frames reversed or trimmed of
 * their trailing digital silence learned; +1 was not enough (6.4% after
 * 10 epochs), +2 gave 58.9% (docs/SPEECH.md). */
#define AUDIO_FORGET_BIAS 2.0f

static int open_forget_gates(recur_model *m)
{
    const recur_model_config *mc = recur_model_get_config(m);
    if (mc->cell != RECUR_CELL_LSTM) return 0;
    int done = 0;
    for (int i = 0; i < recur_model_param_count(m); i++) {
        recur_param p = recur_model_param(m, i);
        if (strncmp(p.name, "rnn.bias_ih_l", 13) != 0) continue;
        const int H = p.shape[0] / 4; /* gates i, f, g, o (PyTorch's order) */
        for (int k = H; k < 2 * H; k++) p.data[k] += AUDIO_FORGET_BIAS;
        done++;
    }
    recur_error err;
    if (done && recur_model_weights_changed(m, &err)) {
        cli_lib_error("forget gates", &err);
        return -1;
    }
    return done; /* the biases changed (-1: failed, printed) */
}

int train_seq(run *r, seq_kind kind, const char *data)
{
    int rc;
    if ((rc = check_flags(r))) return rc;
    recur_seqset_options so;
    seq_options_from_flags(&r->o.sq, &so);
    /* Audio: the default speech features (docs/SPEECH.md), recorded below. */
    recur_features_config feat;
    recur_features_config_default(&feat);
    if ((rc = seq_data_load(kind, data, &so, &feat, &r->seq))) return rc;
    if (r->o.test_dir && (rc = seq_data_load(kind, r->o.test_dir, &so, &feat, &r->seq_test))) return rc;
    if ((rc = choose_task(r, data)) || (rc = split(r, data))) return rc;
    recur_error err;
    /* The vocabulary of the training part only: held-out symbols are
     * unknown, as they will be in use. */
    if (!recur_seqset_input_size(r->seq) && recur_seqset_reencode(r->seq, r->train_idx, r->n_train, &err)) {
        cli_lib_error(data, &err);
        return EXIT_RUNTIME;
    }
    if ((rc = make_model(r, data))) return rc;
    /* Speech: the features are part of the model (predict and eval make
     * the same from audio). */
    if ((kind == SEQ_AUDIO || kind == SEQ_AUDIO_TAGS) && !r->o.resume && recur_model_set_features(r->model, &feat, &err)) {
        cli_lib_error("speech features", &err);
        return EXIT_RUNTIME;
    }
    int audio_gates = 0;
    if ((kind == SEQ_AUDIO || kind == SEQ_AUDIO_TAGS) && !r->o.resume &&
        (audio_gates = open_forget_gates(r->model)) < 0)
        return EXIT_RUNTIME;
    r->batch = recur_seqset_batch(r->seq);
    snprintf(r->data_dir, sizeof r->data_dir, "%s", data);
    seq_record_make(&r->rec, kind, r->data_dir, &so);
    if (!r->o.quiet) print_plan(r, data);
    if (!r->o.quiet && audio_gates)
        printf("init    PyTorch's, with the forget gates' input bias +%g (audio: words end in silence)\n",
               (double)AUDIO_FORGET_BIAS);
    if (cli_interrupted()) {
        cli_error("interrupted before training began; nothing written");
        return EXIT_INTERRUPTED;
    }
    return train_loop(r);
}

/* The best model scored once on the test part; the scores go into -o. */
int train_seq_report(run *r, const recur_fit_result *res, double t_start)
{
    const train_opts *o = &r->o;
    recur_error err;
    recur_model *best = NULL;
    if (recur_model_load(o->out, &best, &err)) {
        cli_lib_error("testing the best model", &err);
        return EXIT_RUNTIME;
    }
    seq_view view = {0};
    seq_scores sc = {0};
    int rc = 0;
    if (r->seq_test) rc = seq_view_make(best, o->out, r->seq_test, o->test_dir, 1, &view);
    else view.b = *r->batch;
    if (!rc) rc = seq_score(best, &view.b, r->seq_test ? NULL : r->test_idx, r->n_test,
                            r->seq_test ? o->test_dir : r->data_dir, &sc);
    if (rc == EXIT_INTERRUPTED) cli_error("interrupted while testing; the best model (epoch %d) is in %s", res->best_epoch, o->out);
    char v[4][32], what[160];
    const char *keys[4] = {"test_sequences", NULL, NULL, NULL};
    int nk = 1;
    snprintf(v[0], sizeof v[0], "%zu", r->n_test);
    if (r->task == RECUR_TASK_CLASSIFY) {
        keys[nk] = "accuracy", snprintf(v[nk++], 32, "%.6f", recur_metrics_accuracy(&sc.cls));
        keys[nk] = "macro_recall", snprintf(v[nk++], 32, "%.6f", recur_metrics_macro_recall(&sc.cls));
        snprintf(what, sizeof what, "accuracy %.1f%%, macro recall %.1f%%", 100 * recur_metrics_accuracy(&sc.cls),
                 100 * recur_metrics_macro_recall(&sc.cls));
    } else if (r->task == RECUR_TASK_TAG) {
        keys[nk] = "step_accuracy", snprintf(v[nk++], 32, "%.6f", recur_tag_metrics_accuracy(&sc.tag));
        keys[nk] = "exact_match", snprintf(v[nk++], 32, "%.6f", recur_tag_metrics_exact_match(&sc.tag));
        snprintf(what, sizeof what, "step accuracy %.2f%%, exact match %.2f%%", 100 * recur_tag_metrics_accuracy(&sc.tag),
                 100 * recur_tag_metrics_exact_match(&sc.tag));
        if (sc.strings) { /* speech: the strings the frames spell (seq_score.c) */
            keys[nk] = "string_error_rate", snprintf(v[nk++], 32, "%.6f", recur_string_metrics_ser(&sc.str));
            snprintf(what + strlen(what), sizeof what - strlen(what), ", string error %.2f%%, token error %.2f%%",
                     100 * recur_string_metrics_ser(&sc.str), 100 * recur_string_metrics_ter(&sc.str));
        }
    } else {
        keys[nk] = "test_mse", snprintf(v[nk++], 32, "%.9g", recur_regress_metrics_mse(&sc.reg));
        keys[nk] = "test_mae", snprintf(v[nk++], 32, "%.9g", recur_regress_metrics_mae(&sc.reg));
        keys[nk] = "test_r2", snprintf(v[nk++], 32, "%.9g", recur_regress_metrics_r2(&sc.reg));
        snprintf(what, sizeof what, "MSE %.4g, MAE %.4g, R² %.4f", recur_regress_metrics_mse(&sc.reg),
                 recur_regress_metrics_mae(&sc.reg), recur_regress_metrics_r2(&sc.reg));
    }
    recur_status st = RECUR_OK;
    for (int k = 0; !rc && !st && k < nk; k++) st = recur_model_set_meta(best, keys[k], v[k], &err);
    if (!rc && !st) st = recur_model_save(best, o->out, &err);
    if (st) {
        cli_lib_error("testing the best model", &err);
        rc = EXIT_RUNTIME;
    }
    if (!rc && !o->quiet) {
        char n[32], sel[64];
        if (r->task == RECUR_TASK_REGRESS) snprintf(sel, sizeof sel, "validation loss %.4g", res->best_loss);
        else snprintf(sel, sizeof sel, "validation %saccuracy %.1f%%", r->task == RECUR_TASK_TAG ? "step " : "",
                      100 * res->best_accuracy);
        printf("best    epoch %d: %s; on the %s test sequences %s -> %s (%.1f s)\n", res->best_epoch, sel,
               cli_count(n, r->n_test), what, o->out, cli_now() - t_start);
        fflush(stdout);
    }
    seq_scores_free(&sc);
    seq_view_free(&view);
    recur_model_free(best);
    return rc;
}
