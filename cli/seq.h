/*
 * seq.h - `recur train/eval/predict/info` on sequence data that is not a
 * folder of names: CoNLL, JSON Lines, CSV, NumPy files and folders of
 * <word>/ audio files or of audio files with .lab frame labels beside them
 * (connected digits; recur_seqset). Private to cli/.
 *
 * seq_data.c  what DATA is (seq_data_kind: the one dispatch, extend it for
 *             new kinds), loading it, the loader options <-> the model's
 *             "data.*" record, a data set seen through a model's numbering
 * train_seq.c recur train on such data (through train_loop.c / recur_fit)
 * seq_score.c scores per task (train's closing test, recur eval)
 * eval_seq.c, predict_seq.c, info_seq.c  recur eval, predict, info
 */
#ifndef RECUR_CLI_SEQ_H
#define RECUR_CLI_SEQ_H

#include "cli.h"

/* What a DATA argument is. */
typedef enum seq_kind {
    SEQ_NAMES = 0, /* a folder of <Label>.txt files (or none given): as before */
    SEQ_FILE,      /* a data file for recur_seqset_load, chosen by its ending  */
    SEQ_AUDIO,     /* a folder of <word>/ subfolders of audio files            */
    SEQ_AUDIO_TAGS /* a folder of audio files with a <name>.lab beside each    */
} seq_kind;

/* "names", "file", "audio", "audio-tags" (the "data.kind" record). */
seq_kind seq_data_kind(const char *path);

/* The flags that say how to read sequence data and what to train on it. */
typedef struct seq_flags {
    int task;        /* 0 from the data, else 1 classify, 2 tag, 3 regress     */
    int tokens;      /* 0 char, 1 word                                        */
    int min_count, token_col, tag_col;
    const char *id_col, *feature_cols, *target_cols, *label_col, *step_tags;
    int per_sequence;
    int loss;        /* recur_loss: 0 auto, 1 nll, 2 mse, 3 huber             */
    double huber_delta;
} seq_flags;

extern const char *const seq_task_choices[];   /* "auto" classify tag regress */
extern const char *const seq_tokens_choices[]; /* char word */
extern const char *const seq_loss_choices[];   /* auto nll mse huber */
void seq_flags_default(seq_flags *f);
void seq_options_from_flags(const seq_flags *f, recur_seqset_options *o);

/* Load DATA of a kind (not SEQ_NAMES) with options o (files) or speech
 * features (audio; NULL: the defaults); the error is printed (one line
 * naming the file). 0 or EXIT_RUNTIME. */
int seq_data_load(seq_kind kind, const char *path, const recur_seqset_options *o,
                  const recur_features_config *features, recur_seqset **out);

/* How the data were read, as "data.*" metadata pairs (docs/FORMAT.md):
 * keys/values into kv (room for SEQ_RECORD_MAX pairs, 2 strings each; the
 * values live in buf). Returns the pair count. */
enum { SEQ_RECORD_MAX = 14 };
typedef struct seq_record {
    const char *kv[2 * SEQ_RECORD_MAX];
    char buf[8][32];
    int n;
} seq_record;
void seq_record_make(seq_record *r, seq_kind kind, const char *path, const recur_seqset_options *o);
/* The same read back from a model: kind SEQ_NAMES when it holds none; the
 * strings point into the model's metadata. 0 or EXIT_RUNTIME (printed). */
int seq_record_read(const recur_model *m, const char *model_path, seq_kind *kind, const char **path,
                    recur_seqset_options *o);

/* Token-level models: the vocabulary of whole tokens, as the model holds it
 * ("user.tokens", a JSON array; ids 2..). */
int seq_store_tokens(recur_model *m, const recur_seqset *s);
/* A model vocabulary of n ids for a token-level model (placeholder code
 * points: docs/FORMAT.md); the caller frees it. 0 or EXIT_RUNTIME. */
int seq_token_vocab(int n, recur_vocab **out);

/* A data set seen through a model: the batch of all sequences with token
 * ids, labels and tags in the model's numbering (a token the model does
 * not know is UNKNOWN, a tag or label it does not know is -1: not scored). */
typedef struct seq_view {
    recur_batch b;
    int32_t *tokens, *labels, *step_labels; /* owned copies, or NULL      */
    size_t unknown_tags;                    /* steps and sequences with a */
    size_t unknown_labels;                  /* class the model lacks      */
} seq_view;
/* classes 0: tokens only (predict: the data's classes are not needed). */
int seq_view_make(const recur_model *m, const char *model_path, const recur_seqset *s, const char *data_path,
                  int classes, seq_view *v);
void seq_view_free(seq_view *v);

/* The sequences idx[0..n) of data copied into one batch (buffers grown in g). */
typedef struct seq_gather {
    int32_t *tok, *off, *lab, *slab;
    float *feat, *tgt;
    size_t ctok, coff, clab, cslab, cfeat, ctgt;
} seq_gather;
int seq_gather_batch(const recur_batch *data, int F, int O, int per_step, const size_t *idx, size_t n,
                     seq_gather *g, recur_batch *out);
void seq_gather_free(seq_gather *g);

/* Scores of a model on sequences of a data set, per task. */
typedef struct seq_scores {
    recur_task task;
    size_t n;                /* sequences scored                          */
    recur_metrics cls;       /* classify                                  */
    recur_tag_metrics tag;   /* tag                                       */
    recur_regress_metrics reg; /* regress                                 */
    /* A speech tagger (seq_speech_silence >= 0): the strings its frame
     * labels spell against the true ones, read as they come (str_raw) and
     * after runs shorter than min_run frames joined a neighbour (str). */
    int strings, min_run;
    recur_string_metrics str_raw, str;
} seq_scores;
/* Score m on data's idx[0..n) (all when idx is NULL); errors name `path`.
 * 0, EXIT_RUNTIME or EXIT_INTERRUPTED (printed). seq_score smooths a
 * speech tagger's frame labels with SPEECH_MIN_RUN, seq_score_at with
 * min_run (1: not at all). */
int seq_score(const recur_model *m, const recur_batch *data, const size_t *idx, size_t n, const char *path,
              seq_scores *sc);
int seq_score_at(const recur_model *m, const recur_batch *data, const size_t *idx, size_t n, const char *path,
                 int min_run, seq_scores *sc);
/* A tagger of frames of speech (it records its features and has a "sil"
 * tag): the silence tag's id; else -1. */
int seq_speech_silence(const recur_model *m);
void seq_scores_free(seq_scores *sc);
/* The headline figure: accuracy (classify), per-step accuracy (tag), MSE. */
double seq_scores_main(const seq_scores *sc);

/* Whether m was trained on sequence data (its data record, or a task,
 * input or head that names folders never make). */
int seq_is_model(const recur_model *m);
/* DATA read for model m as its training data were (seq_record_read; the
 * frequency cut is the model's own): 0 or EXIT_RUNTIME (printed). Without
 * need_targets a CSV may lack the target, label and tag columns. */
int seq_load_for(const recur_model *m, const char *model_path, const char *data, int need_targets,
                 recur_seqset **out);

/* recur train on a sequence data set (train_seq.c); r is train.h's run. */
struct run;
int train_seq(struct run *r, seq_kind kind, const char *data);
/* recur eval / predict / info of models trained on such data. */
int eval_seq(recur_model *m, const char *model_path, const char *data, int held_out, int json, int color,
             int min_run);
int predict_seq(recur_model *m, const char *model_path, const char *file, int steps, int json);
void info_seq(FILE *f, const recur_model *m);
/* A token-level model's vocabulary on f: 1, or 0 when m has none. */
int info_vocab_seq(FILE *f, const recur_model *m);

#endif
