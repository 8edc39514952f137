/*
 * recur.h - recurrent neural networks in C: the whole public API of librecur.
 *
 * Conventions
 *  - Every fallible call returns recur_status (RECUR_OK == 0) and, when `err`
 *    is not NULL, fills it with one line saying what went wrong and where
 *    (file, line, byte offset where one applies). The library never prints
 *    and never exits.
 *  - The caller owns what it creates and frees it with the matching
 *    recur_*_free; every free accepts NULL.
 *  - Pointers a getter returns are borrowed from the object they come from
 *    and stay valid until that object is freed, unless the getter says
 *    otherwise (recur_model_get_meta, recur_data_batch); names of statuses
 *    and cells are constant strings, valid forever.
 *  - Nothing in the library is global and mutable: two models in one process
 *    are independent, and one model may be read by many threads at once,
 *    each through its own recur_runner.
 *  - Numerics follow PyTorch's nn.RNN / nn.LSTM / nn.GRU: same equations,
 *    gate order (LSTM i,f,g,o; GRU r,z,n with b_hn inside the reset
 *    product), two bias vectors, weights in PyTorch's row-major layout.
 *  - Floats are 32-bit; token ids and lengths are int32_t.
 */
#ifndef RECUR_H
#define RECUR_H

#include <signal.h> /* sig_atomic_t */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The one place the version is defined: the Makefile reads it for recur.pc,
 * the CLI prints it, recur_version() returns it at run time. */
#define RECUR_VERSION "0.3.0"
#define RECUR_VERSION_MAJOR 0
#define RECUR_VERSION_MINOR 3

/* Only the functions marked RECUR_API are exported from librecur.so; the
 * library is built with -fvisibility=hidden. */
#if defined(RECUR_BUILD) && defined(__GNUC__)
#define RECUR_API __attribute__((visibility("default")))
#else
#define RECUR_API
#endif

/* The version of the library actually loaded (may differ from the header's
 * RECUR_VERSION when a program runs against another librecur.so). */
RECUR_API const char *recur_version(void);

/* ------------------------------------------------------------------------ */
/* Status and errors                                                         */
/* ------------------------------------------------------------------------ */

typedef enum recur_status {
    RECUR_OK = 0,
    RECUR_ERR_ARG,         /* an argument or option is out of range          */
    RECUR_ERR_NOMEM,       /* allocation failed or a size would overflow     */
    RECUR_ERR_IO,          /* the file system refused (open, read, write)    */
    RECUR_ERR_FORMAT,      /* a model file is malformed or inconsistent      */
    RECUR_ERR_DATA,        /* a data set is malformed (UTF-8, empty, ...)    */
    RECUR_ERR_NUMERIC,     /* a loss or gradient became NaN or infinite      */
    RECUR_ERR_UNSUPPORTED, /* valid request this build or model cannot do    */
    RECUR_ERR_NETWORK,     /* a download failed                              */
    RECUR_ERR_INTERRUPTED  /* the caller asked to stop                       */
} recur_status;

/* Detail of a failure: filled by any call that takes a recur_error *. */
typedef struct recur_error {
    recur_status status;
    char message[512]; /* one line, no trailing newline */
} recur_error;

/* Short constant name of a status ("invalid argument", ...). */
RECUR_API const char *recur_status_string(recur_status status);

/*
 * Layout check for bindings that restate the public structs by hand
 * (Python's ctypes): call once at load time with the version the binding
 * was written for and sizes[i] = its size of struct i (recur_abi_struct
 * order; n may be less than RECUR_ABI_COUNT). RECUR_OK, or
 * RECUR_ERR_UNSUPPORTED with one line in message (cap bytes, NUL-
 * terminated) naming the version or the first struct that differs.
 */
typedef enum recur_abi_struct {
    RECUR_ABI_ERROR = 0,     /* recur_error         */
    RECUR_ABI_RNN_CONFIG,    /* recur_rnn_config    */
    RECUR_ABI_PARAM,         /* recur_param         */
    RECUR_ABI_DATASET_STATS, /* recur_dataset_stats */
    RECUR_ABI_MODEL_CONFIG,  /* recur_model_config  */
    RECUR_ABI_TRAIN_CONFIG,  /* recur_train_config  */
    RECUR_ABI_BATCH,         /* recur_batch         */
    RECUR_ABI_METRICS,       /* recur_metrics       */
    RECUR_ABI_FIT_STEP,      /* recur_fit_step      */
    RECUR_ABI_FIT_EPOCH,     /* recur_fit_epoch     */
    RECUR_ABI_FIT_CONFIG,    /* recur_fit_config    */
    RECUR_ABI_FIT_RESULT,    /* recur_fit_result    */
    RECUR_ABI_COUNT          /* new structs go just above, never between */
} recur_abi_struct;
RECUR_API recur_status recur_abi_check(int major, int minor, const size_t *sizes,
                                       int n, char *message, size_t cap);

/* ------------------------------------------------------------------------ */
/* Cells                                                                     */
/* ------------------------------------------------------------------------ */

typedef enum recur_cell {
    RECUR_CELL_RNN_TANH = 0, /* h' = tanh(W_ih x + b_ih + W_hh h + b_hh)      */
    RECUR_CELL_RNN_RELU = 1, /* h' = relu(...)                                */
    RECUR_CELL_LSTM = 2,     /* 4 gates i,f,g,o and a cell state              */
    RECUR_CELL_GRU = 3       /* 3 gates r,z,n                                 */
} recur_cell;

/* Gates per cell (1, 1, 4, 3): the row count of W_ih is gates * hidden. */
RECUR_API int recur_cell_gates(recur_cell cell);
/* "rnn_tanh", "rnn_relu", "lstm", "gru"; parse returns -1 when unknown. */
RECUR_API const char *recur_cell_name(recur_cell cell);
RECUR_API int recur_cell_parse(const char *name);

/* ------------------------------------------------------------------------ */
/* Dense recurrent stack: PyTorch's nn.RNN / nn.LSTM / nn.GRU               */
/* ------------------------------------------------------------------------ */

typedef struct recur_rnn_config {
    recur_cell cell;
    int input_size;    /* I */
    int hidden;        /* H */
    int layers;        /* L, stacked */
    int bidirectional; /* 0 or 1: D = 2 concatenates [forward, reverse]     */
    float dropout;     /* on the inputs of layers 1..L-1, training only     */
    uint64_t seed;     /* initialisation U(-1/sqrt(H), 1/sqrt(H))           */
    int threads;       /* threads for forward/backward; 0 or 1: the caller's */
} recur_rnn_config;

typedef struct recur_rnn recur_rnn;

/* A named parameter: `data` and `grad` point into the owner's storage. */
typedef struct recur_param {
    const char *name; /* PyTorch state-dict name, e.g. "weight_hh_l1_reverse" */
    int ndim;         /* 1 or 2 */
    int shape[2];
    float *data;
    float *grad;
} recur_param;

RECUR_API recur_status recur_rnn_create(const recur_rnn_config *cfg, recur_rnn **out,
                              recur_error *err);
RECUR_API void recur_rnn_free(recur_rnn *rnn);
RECUR_API int recur_rnn_param_count(const recur_rnn *rnn);
RECUR_API recur_param recur_rnn_param(const recur_rnn *rnn, int i);
RECUR_API void recur_rnn_zero_grad(recur_rnn *rnn);

/*
 * Forward over a padded, time-major batch, as PyTorch with batch_first=False
 * and pack_padded_sequence:
 *   x       [T][B][I]           input; rows past a sequence's end are ignored
 *   lengths [B] in 1..T, any order; NULL means every sequence has length T
 *   h0, c0  [L*D][B][H] or NULL (zeros); c0 only for LSTM
 *   y       [T][B][D*H]         output (NULL to skip); zero past each end
 *   hn, cn  [L*D][B][H]         final states at each sequence's own end
 * With train != 0 the activations are kept in the handle for one
 * recur_rnn_backward and dropout is applied; with train == 0 nothing is kept.
 */
RECUR_API recur_status recur_rnn_forward(recur_rnn *rnn, int T, int B, const float *x,
                               const int32_t *lengths, const float *h0,
                               const float *c0, float *y, float *hn, float *cn,
                               int train, recur_error *err);
/*
 * Backpropagation through time for the last training forward. Any of dy
 * [T][B][D*H], dhn, dcn may be NULL (zero). Parameter gradients are added
 * to the grads; dx [T][B][I], dh0, dc0 are written when not NULL.
 */
RECUR_API recur_status recur_rnn_backward(recur_rnn *rnn, const float *dy,
                                const float *dhn, const float *dcn, float *dx,
                                float *dh0, float *dc0, recur_error *err);

/*
 * After a backward: dLoss/dh_t of the last layer for every step, [T][B][D*H]
 * in the padded layout of the forward (zero past each end). It is the total
 * gradient reaching h_t, from the output at t and from later steps (earlier
 * steps for the reverse direction): the quantity that vanishes or not.
 */
RECUR_API recur_status recur_rnn_state_grads(const recur_rnn *rnn, float *dh,
                                   recur_error *err);

/* ------------------------------------------------------------------------ */
/* Text: vocabularies of characters                                          */
/* ------------------------------------------------------------------------ */

typedef enum recur_text_mode {
    /* NFC-normalised Unicode; symbols are the code points seen in training. */
    RECUR_TEXT_UNICODE = 0,
    /* The PyTorch tutorial's: NFD, nonspacing marks (category Mn) dropped,
     * a-zA-Z and " .,;'" kept, anything else (spacing and enclosing marks
     * included) the unknown symbol.                                          */
    RECUR_TEXT_ASCII = 1
} recur_text_mode;

/* Reserved token ids, present in every vocabulary. */
enum { RECUR_TOKEN_UNKNOWN = 0, RECUR_TOKEN_BOUNDARY = 1 };

typedef struct recur_vocab recur_vocab;

RECUR_API recur_status recur_vocab_create(recur_text_mode mode, recur_vocab **out,
                                recur_error *err);
/* Rebuild a vocabulary of n ids: symbols[i] is the symbol of id i as
 * recur_vocab_symbol gives it, for i in 2..n-1 (entries 0, 1 are ignored). */
RECUR_API recur_status recur_vocab_from_symbols(recur_text_mode mode,
                                      const char *const *symbols, int n,
                                      recur_vocab **out, recur_error *err);
RECUR_API void recur_vocab_free(recur_vocab *v);
RECUR_API recur_status recur_vocab_clone(const recur_vocab *v, recur_vocab **out,
                               recur_error *err);
/* Unicode mode: adds every symbol of the normalised text. ASCII: no-op. */
RECUR_API recur_status recur_vocab_add(recur_vocab *v, const char *utf8, size_t len,
                             recur_error *err);
RECUR_API int recur_vocab_size(const recur_vocab *v);
RECUR_API recur_text_mode recur_vocab_mode(const recur_vocab *v);
/* UTF-8 of symbol `id` (NUL-terminated); "" for the two reserved ids. */
RECUR_API const char *recur_vocab_symbol(const recur_vocab *v, int id);
/*
 * The one white-space rule of every path (data files, predict, the runner):
 * moves *s forward and shortens *len past white space at both ends, where
 * white space is Unicode's: ASCII \t \n \v \f \r and space, U+0085 and the
 * separators (categories Zs, Zl, Zp: U+00A0, U+2003, U+3000, ...). Any
 * bytes are accepted: trimming stops at an invalid UTF-8 sequence.
 */
RECUR_API void recur_text_trim(const char **s, size_t *len);
/*
 * Normalise and map text to ids (no boundary tokens added). Writes at most
 * `cap` ids and sets *n to the number the text needs; RECUR_ERR_ARG when
 * n > cap, RECUR_ERR_DATA for invalid UTF-8.
 */
RECUR_API recur_status recur_vocab_encode(const recur_vocab *v, const char *utf8,
                                size_t len, int32_t *ids, size_t cap,
                                size_t *n, recur_error *err);

/* ------------------------------------------------------------------------ */
/* Data sets: a folder of <Label>.txt files, one example per line            */
/* ------------------------------------------------------------------------ */

typedef struct recur_dataset recur_dataset;

typedef struct recur_dataset_stats {
    size_t lines;      /* non-empty lines kept                               */
    size_t empty;      /* empty or blank lines skipped                       */
    size_t duplicates; /* lines repeating an earlier (text, label) pair      */
    size_t distinct;   /* distinct texts, whatever their label               */
    size_t ambiguous;  /* distinct texts found under more than one label     */
    size_t max_bytes;  /* longest text, in bytes                             */
} recur_dataset_stats;

/* Longest accepted example, in bytes; longer lines are an error. */
#define RECUR_MAX_TEXT_BYTES 1024

/* Labels are the file names without ".txt", sorted bytewise. */
RECUR_API recur_status recur_dataset_load(const char *dir, recur_dataset **out,
                                recur_error *err);
/* Options of recur_dataset_load_opts; all zero (or a NULL pointer to them)
 * is recur_dataset_load. */
typedef struct recur_load_options {
    /* When not NULL, loading looks at *stop every few thousand lines (and
     * between reads of a large file) and, once it is nonzero, frees what it
     * built and returns RECUR_ERR_INTERRUPTED: a flag a SIGINT or SIGTERM
     * handler sets stops a load of millions of lines within a fraction of
     * a second. */
    const volatile sig_atomic_t *stop;
} recur_load_options;
RECUR_API recur_status recur_dataset_load_opts(const char *dir, const recur_load_options *opts,
                                     recur_dataset **out, recur_error *err);
RECUR_API void recur_dataset_free(recur_dataset *ds);
RECUR_API size_t recur_dataset_size(const recur_dataset *ds);
RECUR_API int recur_dataset_num_labels(const recur_dataset *ds);
RECUR_API const char *recur_dataset_label_name(const recur_dataset *ds, int label);
RECUR_API size_t recur_dataset_label_size(const recur_dataset *ds, int label);
/* Text (trimmed, NUL-terminated, valid UTF-8) and label of example i. The
 * text lives as long as ds (recur_dataset_dedupe renumbers the examples but
 * keeps every text where it is). */
RECUR_API const char *recur_dataset_text(const recur_dataset *ds, size_t i, size_t *len);
RECUR_API int recur_dataset_label(const recur_dataset *ds, size_t i);
/* 1-based line number of example i in its file. */
RECUR_API size_t recur_dataset_line(const recur_dataset *ds, size_t i);
RECUR_API void recur_dataset_stats_get(const recur_dataset *ds, recur_dataset_stats *st);
/* Drop repeated (text, label) pairs, keeping the first. */
RECUR_API recur_status recur_dataset_dedupe(recur_dataset *ds, recur_error *err);
typedef enum recur_split {
    RECUR_SPLIT_RANDOM = 0,     /* round(fraction * n) lines at random         */
    RECUR_SPLIT_DISTINCT = 1,   /* every spelling wholly on one side           */
    RECUR_SPLIT_STRATIFIED = 2  /* round(fraction * n_label) of each label     */
} recur_split;
/*
 * Split example indices into train and test, `test_fraction` in (0, 1);
 * with 2 or more examples neither side is empty. Deterministic in seed.
 * The caller frees *train and *test with free().
 */
RECUR_API recur_status recur_dataset_split(const recur_dataset *ds, double test_fraction,
                                 recur_split how, uint64_t seed,
                                 size_t **train, size_t *n_train,
                                 size_t **test, size_t *n_test,
                                 recur_error *err);
/*
 * Download the PyTorch tutorial's data.zip into cache_dir (created if
 * needed) and unpack it; writes the names folder's path into path_out.
 * Returns at once with the path when it is already there.
 */
RECUR_API recur_status recur_fetch_names(const char *cache_dir, char *path_out,
                               size_t cap, recur_error *err);

/* ------------------------------------------------------------------------ */
/* Sequence sets: the data formats users already have (src/data/load_*.c)    */
/* ------------------------------------------------------------------------ */

/*
 * A recur_seqset owns a whole data set of sequences in memory (or mapped
 * from its file) and shows it as one recur_batch of all its sequences
 * (recur_seqset_batch), from which index lists pick, plus what names its
 * values: vocabulary, label and tag names, feature and target names.
 *
 *  - Tagged text (token ids, a tag per step, optionally a label per sequence):
 *    CoNLL columns (recur_seqset_load_conll) and JSON Lines (_load_jsonl),
 *    character-level (a recur_vocab of NFC code points) or token-level (a
 *    vocabulary of whole tokens: ids 0 unknown, 1 boundary, then the tokens
 *    seen at least min_count times, most frequent first, ties bytewise).
 *  - Dense sequences (features [steps][F], targets, labels, tags): CSV with
 *    one row per step (_load_csv), NumPy .npy and .npz (_load_npy). float32
 *    arrays stored 4-byte aligned are memory-mapped, not copied.
 * Label and tag names are sorted bytewise. Every loader treats its file as
 * hostile: errors are one line naming the file and the line or row and the
 * column (the byte offset in binary files); nothing is written anywhere.
 * Limits: at most 2^31-1 sequences and steps, RECUR_SEQSET_MAX_COLUMNS
 * features or targets.
 */
typedef struct recur_seqset recur_seqset;
struct recur_batch;

#define RECUR_SEQSET_MAX_COLUMNS 65536

typedef struct recur_seqset_options {
    /* Tagged text */
    int token_level;   /* 0: one symbol per character; 1: per whole token      */
    int min_count;     /* rarer symbols are RECUR_TOKEN_UNKNOWN (default 1)   */
    int token_column;  /* CoNLL: 0-based column of the token (default 0)      */
    int tag_column;    /* CoNLL: 0-based column of the tag; -1 = last (default) */
    /* CSV: header names; a list is comma-separated                          */
    const char *id_column;       /* sequence id; NULL: the file is one sequence */
    const char *feature_columns; /* NULL: every column not named elsewhere     */
    const char *target_columns;  /* real targets, or NULL                      */
    const char *label_column;    /* a class per sequence (same on its rows)    */
    const char *tag_column_name; /* a class per step                           */
    int targets_per_sequence;    /* CSV: 1: targets equal on every row of a
                                  * sequence give one target per sequence    */
    char delimiter;              /* CSV: default ','; '\t' for .tsv          */
} recur_seqset_options;

/* token_level 0, min_count 1, token_column 0, tag_column -1, delimiter ','. */
RECUR_API void recur_seqset_options_default(recur_seqset_options *o);
/* opts may be NULL (the defaults). */
RECUR_API recur_status recur_seqset_load_conll(const char *path, const recur_seqset_options *opts,
                                     recur_seqset **out, recur_error *err);
RECUR_API recur_status recur_seqset_load_jsonl(const char *path, const recur_seqset_options *opts,
                                     recur_seqset **out, recur_error *err);
RECUR_API recur_status recur_seqset_load_csv(const char *path, const recur_seqset_options *opts,
                                   recur_seqset **out, recur_error *err);
/* .npy or .npz, told apart by their first bytes. */
RECUR_API recur_status recur_seqset_load_npy(const char *path, const recur_seqset_options *opts,
                                   recur_seqset **out, recur_error *err);
/* By the name's ending: .conll .conllu .bio .iob (.tsv without CSV columns
 * in opts) CoNLL; .jsonl .ndjson JSON Lines; .csv (.tsv with columns) CSV;
 * .npy .npz NumPy. RECUR_ERR_UNSUPPORTED for any other. */
RECUR_API recur_status recur_seqset_load(const char *path, const recur_seqset_options *opts,
                               recur_seqset **out, recur_error *err);
/* Spoken words: dir holds <word>/ subfolders of audio files (what
 * recur_audio_load reads, at features' rate); each file becomes a sequence
 * of speech features (features NULL: recur_features_config_default) labelled
 * with its folder's name, named "<word>/<file>". docs/SPEECH.md. */
struct recur_features_config;
RECUR_API recur_status recur_seqset_load_audio(const char *dir, const struct recur_features_config *features,
                                               recur_seqset **out, recur_error *err);
/* Connected speech (a tag per frame): dir holds audio files and, beside
 * each, <stem>.lab with one "start end label" line per labelled span (in
 * samples, increasing, not overlapping); frame t is tagged with the span
 * holding its window's centre sample (t hop + window / 2), or "sil" where
 * none does. Sequences are named by file, in bytewise order; tags sorted
 * bytewise ("0".."9" before "sil"). tools/data/make_speech_digits.py. */
RECUR_API recur_status recur_seqset_load_audio_tags(const char *dir, const struct recur_features_config *features,
                                                    recur_seqset **out, recur_error *err);
RECUR_API void recur_seqset_free(recur_seqset *s);

/* The whole set as one batch; valid until the set is freed or re-encoded. */
RECUR_API const struct recur_batch *recur_seqset_batch(const recur_seqset *s);
RECUR_API size_t recur_seqset_size(const recur_seqset *s);   /* sequences */
RECUR_API size_t recur_seqset_steps(const recur_seqset *s);  /* all steps */
/* Features per step (F of features [steps][F]); 0 for token input. */
RECUR_API int recur_seqset_input_size(const recur_seqset *s);
/* Width of the targets (0: none) and whether they are [steps][outputs] (1)
 * or [n][outputs] (0). */
RECUR_API int recur_seqset_outputs(const recur_seqset *s);
RECUR_API int recur_seqset_targets_per_step(const recur_seqset *s);
/* Column names (CSV header, or "0", "1", ... for NumPy arrays). */
RECUR_API const char *recur_seqset_feature_name(const recur_seqset *s, int j);
RECUR_API const char *recur_seqset_target_name(const recur_seqset *s, int j);
/* Classes per sequence (labels) and per step (tags); 0 when absent. */
RECUR_API int recur_seqset_num_labels(const recur_seqset *s);
RECUR_API const char *recur_seqset_label_name(const recur_seqset *s, int label);
RECUR_API int recur_seqset_num_tags(const recur_seqset *s);
RECUR_API const char *recur_seqset_tag_name(const recur_seqset *s, int tag);
/* Character level: the vocabulary of the tokens (pass it to
 * recur_model_create); NULL for token-level and dense sets. */
RECUR_API const recur_vocab *recur_seqset_vocab(const recur_seqset *s);
/* Token level: ids in use (2 reserved + kept tokens) and each id's token
 * ("" for the reserved ids); 0 and NULL for other sets. */
RECUR_API int recur_seqset_num_tokens(const recur_seqset *s);
RECUR_API const char *recur_seqset_token(const recur_seqset *s, int id);
/* Sequence i's name (CSV id, .npz member) or "" and the 1-based line or row
 * where it starts (0 in binary files). */
RECUR_API const char *recur_seqset_name(const recur_seqset *s, size_t i);
RECUR_API size_t recur_seqset_line(const recur_seqset *s, size_t i);
/* Bytes of features and targets used in place from the file's read-only
 * map (.npy/.npz float32, aligned): memory the set does not own. */
RECUR_API size_t recur_seqset_mapped_bytes(const recur_seqset *s);
/* Tagged text: rebuild the vocabulary from sequences idx[0..n) only (the
 * training split, so that held-out symbols are unknown as they will be in
 * use), with the min_count cut, and re-encode every sequence with it. */
RECUR_API recur_status recur_seqset_reencode(recur_seqset *s, const size_t *idx, size_t n,
                                   recur_error *err);

/* ------------------------------------------------------------------------ */
/* Models: embedding -> recurrent stack -> linear head, with text in and out */
/* ------------------------------------------------------------------------ */

/*
 * A task is a combination of four properties of a model (the rows of the
 * table in docs/FORMAT.md), not one flag:
 *   input   token ids (embedding or one-hot) | dense vectors of input_size
 *   head    reads the final state (both directions) | every step's output
 *           (both directions when bidirectional)
 *   target  a class | the next token (generation, conditioned on a label)
 *           | a real vector of `outputs` values (per sequence or per step,
 *           as the head reads)
 *   loss    NLL (CrossEntropyLoss) | MSE (MSELoss) | Huber (HuberLoss)
 * The recur_task values name the usual combinations; recur_model_config_task
 * sets a configuration's properties to one of them, and a model's
 * configuration reports the task its properties make.
 */
typedef enum recur_task {
    RECUR_TASK_CLASSIFY = 0, /* final state -> one class per sequence, NLL   */
    RECUR_TASK_GENERATE = 1, /* every step -> next token given a label, NLL  */
    RECUR_TASK_TAG = 2,      /* every step -> one class per step, NLL        */
    RECUR_TASK_REGRESS = 3   /* final state or every step -> real vector,
                              * MSE or Huber                                 */
} recur_task;

typedef enum recur_input {
    RECUR_INPUT_TOKENS = 0, /* token ids of a vocabulary (embed or one-hot)  */
    RECUR_INPUT_DENSE = 1   /* input_size floats per step, standardised with
                             * the model's input_norm (recur_model_fit_input_norm) */
} recur_input;

typedef enum recur_head {
    RECUR_HEAD_FINAL = 0, /* the last layer's final state(s): one row per sequence */
    RECUR_HEAD_STEPS = 1  /* the last layer's output at every step           */
} recur_head;

typedef enum recur_target {
    RECUR_TARGET_CLASS = 0,      /* num_labels classes (per sequence or step) */
    RECUR_TARGET_NEXT_TOKEN = 1, /* the vocabulary's next symbol (generation) */
    RECUR_TARGET_REAL = 2        /* `outputs` real values                     */
} recur_target;

typedef enum recur_loss {
    RECUR_LOSS_AUTO = 0,  /* NLL for classes and tokens, MSE for reals       */
    RECUR_LOSS_NLL = 1,   /* log-softmax + negative log-likelihood           */
    RECUR_LOSS_MSE = 2,   /* mean squared error per element (nn.MSELoss)     */
    RECUR_LOSS_HUBER = 3  /* nn.HuberLoss(delta=huber_delta), mean per element */
} recur_loss;

typedef struct recur_model_config {
    recur_task task;   /* in: RECUR_TASK_GENERATE alone still makes a
                        * generator (old callers); otherwise the properties
                        * below decide and must agree with it. out (in the
                        * model's configuration): the task they make      */
    recur_cell cell;
    int hidden;        /* H                                                 */
    int layers;        /* L                                                 */
    int bidirectional; /* not for generation                                */
    int embed;         /* symbol embedding size; 0 = one-hot input          */
    int label_embed;   /* generate: label embedding size; 0 = one-hot label */
    float dropout;     /* between recurrent layers, training only           */
    uint64_t seed;     /* initialisation                                    */
    /* Task properties (zero = the classifier of before). */
    recur_input input; /* RECUR_INPUT_TOKENS or RECUR_INPUT_DENSE            */
    int input_size;    /* dense: features per step F (1..65536)             */
    recur_head head;   /* where the head reads                              */
    recur_target target;
    int outputs;       /* real targets: values per sequence or step          */
    recur_loss loss;   /* AUTO is resolved by recur_model_create            */
    float huber_delta; /* Huber: the kink, > 0 (0 means PyTorch's 1.0)      */
} recur_model_config;

typedef struct recur_model recur_model;
typedef struct recur_batch recur_batch; /* defined with the trainer below */

/* Sensible defaults: classify, LSTM, hidden 128, 1 layer, embed 64. */
RECUR_API void recur_model_config_default(recur_model_config *cfg);
/* Set task, head, target and loss to a task's usual combination (REGRESS:
 * per sequence, MSE; set head = RECUR_HEAD_STEPS for one vector per step;
 * outputs, if still 0, becomes 1). Input and sizes are left as they are. */
RECUR_API void recur_model_config_task(recur_model_config *cfg, recur_task task);
/* "classify", "generate", "tag", "regress"; parse returns -1 when unknown. */
RECUR_API const char *recur_task_name(recur_task task);
RECUR_API int recur_task_parse(const char *name);
/*
 * The model copies the vocabulary and the label names. vocab: required for
 * token input, optional (may be NULL) for dense input. labels: the classes
 * (classify, tag) or the conditioning labels (generate); none (0, NULL)
 * for regression.
 */
RECUR_API recur_status recur_model_create(const recur_model_config *cfg,
                                const recur_vocab *vocab,
                                const char *const *labels, int num_labels,
                                recur_model **out, recur_error *err);
RECUR_API void recur_model_free(recur_model *m);
RECUR_API const recur_model_config *recur_model_get_config(const recur_model *m);
/* NULL for a dense-input model saved without a vocabulary. */
RECUR_API const recur_vocab *recur_model_vocab(const recur_model *m);
RECUR_API int recur_model_num_labels(const recur_model *m);
RECUR_API const char *recur_model_label_name(const recur_model *m, int label);
/* -1 when no label has that name. */
RECUR_API int recur_model_label_find(const recur_model *m, const char *name);
/* Width of one row of the head's output: num_labels (classes), the
 * vocabulary size (generate) or `outputs` (real targets). */
RECUR_API int recur_model_output_size(const recur_model *m);
/*
 * Dense input is standardised inside the model, x' = (x - mean) / std per
 * feature, at training and at inference; the statistics are the model's
 * buffers "input_norm.mean" and "input_norm.std" [input_size] (saved with
 * it; not parameters: no gradient, no optimiser). A new model has mean 0,
 * std 1. fit computes them over every step of the sequences index[0..n-1]
 * of `data` (index NULL: all of data's sequences): the mean and the
 * population standard deviation (divided by the count, as numpy's std),
 * in double; a feature whose std is below 1e-12 (constant) gets std 1.
 * Non-finite features are RECUR_ERR_DATA naming the sequence and step.
 */
RECUR_API recur_status recur_model_fit_input_norm(recur_model *m, const recur_batch *data,
                                        const size_t *index, size_t n,
                                        recur_error *err);
/* std must be > 0 and finite everywhere; both [input_size]. */
RECUR_API recur_status recur_model_set_input_norm(recur_model *m, const float *mean,
                                        const float *std, recur_error *err);
/* Pointers to the model's [input_size] statistics; NULL for token input. */
RECUR_API const float *recur_model_input_mean(const recur_model *m);
RECUR_API const float *recur_model_input_std(const recur_model *m);
/* Named parameters with full state-dict names ("rnn.weight_ih_l0", ...). */
RECUR_API int recur_model_param_count(const recur_model *m);
/* Its data and grad point into the model's weight and gradient blocks,
 * valid while the model lives. */
RECUR_API recur_param recur_model_param(const recur_model *m, int i);
RECUR_API size_t recur_model_num_weights(const recur_model *m);
/* The model's flat gradient block, [recur_model_num_weights]: what the
 * params' grad point into (a data-parallel caller sums it over processes). */
RECUR_API float *recur_model_grads(recur_model *m);
/* Free-form string metadata saved with the model ("user." keys in the
 * file). set copies both strings; get returns NULL when absent, else the
 * model's copy, valid until the model is freed or the same key is set
 * again (recur_trainer_load and recur_fit set keys: read again after). */
RECUR_API recur_status recur_model_set_meta(recur_model *m, const char *key,
                                  const char *value, recur_error *err);
RECUR_API const char *recur_model_get_meta(const recur_model *m, const char *key);

/* Model files: safetensors with PyTorch names; see docs/FORMAT.md.
 * Saving writes a temporary file, fsyncs it and renames it into place. */
RECUR_API recur_status recur_model_save(const recur_model *m, const char *path,
                              recur_error *err);
RECUR_API recur_status recur_model_load(const char *path, recur_model **out,
                              recur_error *err);
/*
 * A plain PyTorch state_dict (safetensors, no recur metadata) as a
 * classifier: the recurrent module's tensors "<rnn>.weight_ih_l0", ...
 * under any prefix, a linear head "<head>.weight" + "<head>.bias" and
 * optionally an embedding "<emb>.weight" (docs/FORMAT.md section 4). The
 * cell, sizes, layers and directions come from the shapes; cell >= 0
 * (rnn_relu: the shapes cannot tell it from rnn_tanh) must agree with
 * them. vocab gives the symbols (V ids: the embedding's rows, or the
 * RNN's input size without one); labels the class names (NULL and 0:
 * "0", "1", ...). RECUR_ERR_FORMAT names the tensor that does not fit.
 */
RECUR_API recur_status recur_model_import(const char *path, int cell, const recur_vocab *vocab,
                                          const char *const *labels, int num_labels,
                                          recur_model **out, recur_error *err);

/*
 * Reduced-precision weights for inference (training stays fp32). Quantizing
 * rounds the recurrent stack's input and recurrent weights and the head's
 * weight matrix to int8 (one symmetric scale per output row) or bfloat16,
 * and keeps the rounded values as the model's weights, so every inference
 * path computes with them; runners then run the recurrent products and the
 * head on the reduced weights (int8: each input row quantised to 8 bits with its own
 * scale per step; bf16: inputs rounded to bf16), 2 to 4x fewer bytes per
 * step. Embeddings and biases stay fp32. recur_model_save writes the I8 or
 * BF16 tensors with their scales (docs/FORMAT.md) and recur_model_load
 * reads them back. Training a quantized model fails (RECUR_ERR_UNSUPPORTED).
 * RECUR_ERR_UNSUPPORTED too for an already quantized model, or a layer input
 * wider than 8192.
 */
typedef enum recur_dtype {
    RECUR_DTYPE_F32 = 0,
    RECUR_DTYPE_INT8 = 1,
    RECUR_DTYPE_BF16 = 2
} recur_dtype;
RECUR_API recur_status recur_model_quantize(recur_model *m, recur_dtype dtype, recur_error *err);
/*
 * Weights written in place (through recur_model_param's data) after runners
 * were made or after quantizing: call this once the writes are done, before
 * the next inference, and while no runner of the model is running. Runners
 * keep lookup tables and packed copies of the weights made once; each of
 * them makes them again at its next call. A quantized model rounds again
 * each weight row that differs from its stored values (int8: a new scale
 * for that row; untouched rows keep their bytes) and leaves the rounded
 * values in the weights, as recur_model_quantize does; RECUR_ERR_ARG, with
 * the model unchanged, names a non-finite weight. Trainers read the
 * weights at every step and need no call.
 */
RECUR_API recur_status recur_model_weights_changed(recur_model *m, recur_error *err);
RECUR_API recur_dtype recur_model_dtype(const recur_model *m);
/* "f32", "int8", "bf16"; parse returns -1 when unknown. */
RECUR_API const char *recur_dtype_name(recur_dtype dtype);
RECUR_API int recur_dtype_parse(const char *name);

/* ------------------------------------------------------------------------ */
/* Inference: one runner per thread, any number of runners per model         */
/* ------------------------------------------------------------------------ */

typedef struct recur_runner recur_runner;

/* max_batch: most texts per recur_runner_classify call. */
RECUR_API recur_status recur_runner_create(const recur_model *m, int max_batch,
                                 recur_runner **out, recur_error *err);
RECUR_API void recur_runner_free(recur_runner *r);
/*
 * Classify n <= max_batch texts: logprobs [n][num_labels] receives the
 * log-softmax of each. lens may be NULL (NUL-terminated texts). Each text is
 * trimmed first (recur_text_trim), as the data loader trims its lines.
 */
RECUR_API recur_status recur_runner_classify(recur_runner *r, const char *const *texts,
                                   const size_t *lens, int n, float *logprobs,
                                   recur_error *err);
/* Same on token ids: tokens concatenated, offsets [n+1]. */
RECUR_API recur_status recur_runner_classify_ids(recur_runner *r, const int32_t *tokens,
                                       const int32_t *offsets, int n,
                                       float *logprobs, recur_error *err);
/*
 * Any model on a batch of n <= max_batch sequences: tokens or features as
 * the model reads (raw features: the model standardises them), labels only
 * as a generator's conditioning; the target fields are ignored. out gets
 * recur_model_output_size(m) values per row (log-softmax for classes and
 * tokens, the values themselves for real targets), rows in the batch's
 * order:
 *   head FINAL  n rows, one per sequence;
 *   head STEPS  offsets[n] rows, one per step (row k: after step k);
 *               a generator n + offsets[n]: sequence i's rows are
 *               offsets[i] + i .. offsets[i+1] + i (after BOUNDARY, then
 *               after each symbol).
 * recur_runner_rows gives that count. The classify calls above are this
 * for texts and token ids of head-FINAL models (classify or regress).
 */
RECUR_API recur_status recur_runner_predict(recur_runner *r, const recur_batch *b, float *out,
                                  recur_error *err);
RECUR_API size_t recur_runner_rows(const recur_runner *r, const recur_batch *b);
/*
 * Texts through recur_runner_predict (token-input models): offsets [n+1]
 * receives where each text's rows start in out (per-step heads: one row per
 * symbol of the encoded text; final: text i is row i). At most cap_rows rows
 * are written: RECUR_ERR_ARG when more are needed (offsets is filled first,
 * so offsets[n] says how many).
 */
RECUR_API recur_status recur_runner_predict_texts(recur_runner *r, const char *const *texts,
                                        const size_t *lens, int n, float *out,
                                        size_t cap_rows, int32_t *offsets,
                                        recur_error *err);
/*
 * Step API (unidirectional models): reset the state (with the conditioning
 * label for generation models, ignored otherwise), then feed one token (or,
 * for dense input, one feature vector of input_size raw values) at a time;
 * out receives the head's output after that step, as recur_runner_predict's
 * rows: the next symbol's distribution (generate), the step's class (tag),
 * its values (regress per step), or the sequence's so far (head FINAL).
 */
RECUR_API recur_status recur_runner_reset(recur_runner *r, int label, recur_error *err);
RECUR_API recur_status recur_runner_step(recur_runner *r, int32_t token, float *logprobs,
                               recur_error *err);
RECUR_API recur_status recur_runner_step_features(recur_runner *r, const float *x, float *out,
                                        recur_error *err);
/* The model a runner reads. */
RECUR_API const recur_model *recur_runner_model(const recur_runner *r);

/*
 * Sampling from a generation model through the step API. One sequence of
 * `label` starts from BOUNDARY and the prefix's ids, then grows one symbol
 * at a time, drawn from the model's distribution sharpened by temperature
 * (> 0; weights exp(logprob / T)) and cut to the top_k most likely (0: all);
 * the unknown symbol is never drawn, nor the end before the first symbol.
 * It stops at the end symbol or at max_length symbols (prefix included).
 * *rng is a splitmix64 state, advanced by each draw: the same state gives
 * the same sequence. tok has room for max_length ids; *n receives the
 * count, *logprob (may be NULL) the model's log-probability of the drawn
 * symbols (the end included, the temperature not applied).
 */
typedef struct recur_sample_config {
    double temperature;
    int top_k;
    int max_length;
} recur_sample_config;
/* splitmix64, the generator of the training driver's orders and token
 * dropout, of sampling (recur_runner_sample's *rng) and of front ends'
 * synthetic data: a whole state is one uint64_t, advanced by each draw.
 * _seed turns a user's seed into a state (seed ^ 0x6a09e667f3bcc909);
 * _below is uniform in [0, n) without modulo bias (0 for n <= 1). The
 * streams are fixed: recorded seeds keep their meaning across versions. */
RECUR_API uint64_t recur_splitmix64(uint64_t *state);
RECUR_API uint64_t recur_splitmix_seed(uint64_t seed);
RECUR_API uint64_t recur_splitmix_below(uint64_t *state, uint64_t n);
/* The rng state of `label`'s sequences for a user's seed: the same seed and
 * label give the same sequences whatever else is drawn alongside. */
RECUR_API uint64_t recur_sample_seed(uint64_t seed, int label);
RECUR_API recur_status recur_runner_sample(recur_runner *r, int label, const int32_t *prefix,
                                           int n_prefix, const recur_sample_config *cfg,
                                           uint64_t *rng, int32_t *tok, int *n, double *logprob,
                                           recur_error *err);

/*
 * What the cells do on one text (recur inspect, the server's page): every
 * step's gate activations and states, and the model's output after each
 * step. Series, by cell: LSTM "input", "forget", "output" (gates i, f, o in
 * 0..1), "cell" (the cell state c), "hidden"; GRU "reset", "update" (r, z),
 * "hidden"; RNN "hidden".
 *   values   [series][layers][directions][steps][hidden]: step t of the
 *            reverse direction is its state after reading t..steps-1.
 *   logprobs [steps][outputs]: classify: the label distribution of the
 *            prefix of steps 0..t: a unidirectional model's head on its
 *            state at t (the step API's output); a bidirectional one is run
 *            whole on each prefix (its reverse direction reads the prefix
 *            from its own end, not the full text's). generate: the next
 *            symbol's distribution after step t.
 *   tokens   [steps] the ids read: the text's symbols; for a generation
 *            model BOUNDARY first (and `label` conditions every step).
 */
typedef struct recur_inspection {
    int steps, layers, directions, hidden, outputs, n_series;
    const char *series[5];
    int32_t *tokens;
    float *values;
    float *logprobs;
} recur_inspection;
RECUR_API recur_status recur_model_inspect(const recur_model *m, const char *text, size_t len, int label,
                                           recur_inspection **out, recur_error *err);
RECUR_API void recur_inspection_free(recur_inspection *x);

/* ------------------------------------------------------------------------ */
/* Training                                                                  */
/* ------------------------------------------------------------------------ */

typedef enum recur_optim { RECUR_OPTIM_SGD = 0, RECUR_OPTIM_ADAM = 1 } recur_optim;

typedef struct recur_train_config {
    recur_optim optim;
    float lr;
    float momentum;     /* SGD                                              */
    float weight_decay; /* L2 added to the gradient, as torch.optim         */
    float beta1, beta2, eps; /* Adam                                        */
    float clip;         /* max global gradient norm; 0 = no clipping        */
    int max_batch;      /* most sequences per step                          */
    uint64_t seed;      /* dropout                                          */
    int threads;        /* threads of the trainer (0 or 1: the caller's)    */
    int sum_loss;       /* 1: the loss is summed over the batch, not averaged */
} recur_train_config;

/* Adam, lr 1e-3 (PyTorch's defaults), clip 5, max_batch 64, 1 thread.
 * With threads > 1 a trainer splits each batch by sequences over its own
 * threads (each runs forward and backward of its slice; the gradients are
 * summed, so results match one thread's up to rounding and are bit for bit
 * reproducible for a given thread count). A trainer never changes
 * OpenBLAS's thread count, which is process-wide: its threads call the
 * head's products through OpenBLAS, so a program training on several
 * threads may ask for recur_set_threads(1) so that the two pools do not
 * compete (recur train does). */
RECUR_API void recur_train_config_default(recur_train_config *cfg);

/*
 * A batch of sequences: sequence i is steps offsets[i] .. offsets[i+1]-1,
 * each of length >= 1, any order. It is also how a whole data set in
 * memory is described to the training driver and the metrics (one "batch"
 * of all sequences, from which index lists pick), so every field is
 * indexed by sequence or by step, never by position in a batch.
 *   tokens      [steps] token ids (token-input models), or NULL
 *   labels      [n] the class (classify) or the conditioning label
 *               (generate), or NULL for tasks without one
 *   features    [steps][input_size] dense input (feature models), or NULL
 *   step_labels [steps] one class per step (tagging), or NULL
 *   targets     real targets (regression): [n][outputs] when the head reads
 *               the final state, [steps][outputs] when it reads every step
 * For generation the model reads BOUNDARY, s_0..s_{n-1} and is trained to
 * predict s_0..s_{n-1}, BOUNDARY.
 */
typedef struct recur_batch {
    int n;
    const int32_t *tokens;
    const int32_t *offsets;
    const int32_t *labels;
    const float *features;
    const int32_t *step_labels;
    const float *targets;
} recur_batch;

typedef struct recur_trainer recur_trainer;

RECUR_API recur_status recur_trainer_create(recur_model *m, const recur_train_config *cfg,
                                  recur_trainer **out, recur_error *err);
RECUR_API void recur_trainer_free(recur_trainer *t);
/* Forward, backward, clip, update. *loss: the batch's loss, the mean over
 * its loss terms (the sum with sum_loss), whose gradient is the one
 * applied. Terms: sequences (classify), predicted symbols (generate),
 * labelled steps (tag: step_labels >= 0; a label < 0 is not scored, as
 * CrossEntropyLoss's ignore_index), elements (regress: n * outputs or
 * steps * outputs, as nn.MSELoss / nn.HuberLoss with reduction "mean"). A
 * batch needs the fields its model reads: tokens or features, labels
 * (classify, generate), step_labels (tag), targets (regress). */
RECUR_API recur_status recur_trainer_step(recur_trainer *t, const recur_batch *b,
                                float *loss, recur_error *err);
/* Forward and backward only: gradients of the loss are left in the model's
 * grads (zeroed first); no update. */
RECUR_API recur_status recur_trainer_grad(recur_trainer *t, const recur_batch *b,
                                float *loss, recur_error *err);
/* Data-parallel steps, where each process (or caller's worker) takes a
 * share of one batch b: the gradient of sequences lo..hi-1 of b only,
 * scaled as the mean over all of b's loss terms (sum_loss: the sum), into
 * the model's gradients (zeroed first; lo == hi leaves zeros). *loss_sum:
 * the part's summed loss, *terms: b's terms (either may be NULL). Summing
 * the parts' gradients over shares that cover b gives b's gradient up to
 * rounding; recur_trainer_apply then takes the step. */
RECUR_API recur_status recur_trainer_grad_part(recur_trainer *t, const recur_batch *b, int lo, int hi,
                                double *loss_sum, size_t *terms, recur_error *err);
/* The update from the gradients now in the model's gradient block
 * (recur_model_grads), which the caller may have combined over processes:
 * the global-norm clip and the optimiser step of recur_trainer_step. Every
 * process that applies the same gradients to the same weights and
 * optimiser state ends with the same weights, bit for bit. */
RECUR_API recur_status recur_trainer_apply(recur_trainer *t, recur_error *err);
/* Loss summed over the batch and the number of terms it sums (as for
 * recur_trainer_step), without training. correct may be NULL: how many
 * argmax predictions equal the target (classify: sequences, generate:
 * symbols, tag: labelled steps; regress: 0). */
RECUR_API recur_status recur_trainer_eval(recur_trainer *t, const recur_batch *b,
                                double *loss_sum, size_t *terms,
                                size_t *correct, recur_error *err);
/* A flag (set from a signal handler, say) that steps, grads and evals look
 * at between time steps and between chunks of their larger products, so
 * that even a step of seconds (batch 4096, hidden 512) stops within a few
 * tens of milliseconds: the call then returns RECUR_ERR_INTERRUPTED with
 * the weights, the optimiser state and the step count untouched (only the
 * gradient buffer holds meaningless values). NULL (the default): never.
 * While the flag stays 0 every result is bit for bit the same as without
 * it. recur_fit sets its cfg->stop here. */
RECUR_API void recur_trainer_set_stop(recur_trainer *t, const volatile sig_atomic_t *stop);
/* Learning rate for the following steps (schedules). */
RECUR_API void recur_trainer_set_lr(recur_trainer *t, float lr);
RECUR_API uint64_t recur_trainer_steps(const recur_trainer *t);
/* Checkpoints: the model plus the optimiser's state and step count, so that
 * training resumes bit for bit. */
RECUR_API recur_status recur_trainer_save(const recur_trainer *t, const char *path,
                                recur_error *err);
RECUR_API recur_status recur_trainer_load(recur_trainer *t, const char *path,
                                recur_error *err);

/* ------------------------------------------------------------------------ */
/* Encoded data: a data set in memory as one recur_batch                     */
/* ------------------------------------------------------------------------ */

/* An owning, encoded data set: the texts of one or more recur_datasets as
 * token ids with their labels, described by one recur_batch of all the
 * sequences (recur_data_batch) from which the driver and the metrics pick
 * with index lists. */
typedef struct recur_data recur_data;

/*
 * Encode every text of ds with vocabulary v (a text with no symbol left
 * after normalisation becomes one UNKNOWN id). labels/num_labels: the label
 * names to number by (a model's; a label of ds not among them is
 * RECUR_ERR_DATA), or NULL to keep ds's own numbering. _append adds ds
 * after the sequences already held: its first is recur_data_size before.
 */
RECUR_API recur_status recur_data_encode(const recur_dataset *ds, const recur_vocab *v,
                                         const char *const *labels, int num_labels,
                                         recur_data **out, recur_error *err);
RECUR_API recur_status recur_data_append(recur_data *d, const recur_dataset *ds,
                                         const recur_vocab *v, const char *const *labels,
                                         int num_labels, recur_error *err);
RECUR_API void recur_data_free(recur_data *d);
RECUR_API size_t recur_data_size(const recur_data *d);
/* The view of all sequences; valid until the next append or the free. */
RECUR_API const recur_batch *recur_data_batch(const recur_data *d);

/* ------------------------------------------------------------------------ */
/* Metrics                                                                   */
/* ------------------------------------------------------------------------ */

/* Scores of a model over a set of sequences. Classifiers fill everything;
 * generators only loss_sum and terms (confusion is NULL). */
typedef struct recur_metrics {
    int num_labels;    /* C                                                  */
    size_t n;          /* sequences                                          */
    size_t correct;    /* classify: argmax == label; tag: labelled steps so  */
    double loss_sum;   /* summed loss of every loss term                     */
    size_t terms;      /* loss terms: sequences (classify), predicted
                        * symbols (generate: each character and the end),
                        * labelled steps (tag), target elements (regress)   */
    size_t *confusion; /* [C][C]: rows true, columns predicted; or NULL      */
} recur_metrics;

/* num_labels > 0 gives a confusion matrix, 0 none. Free with _free. */
RECUR_API recur_status recur_metrics_init(recur_metrics *m, int num_labels, recur_error *err);
RECUR_API void recur_metrics_reset(recur_metrics *m);
RECUR_API void recur_metrics_free(recur_metrics *m);
/* Add n classified sequences: logprobs [n][C] and their true labels. */
RECUR_API void recur_metrics_add(recur_metrics *m, const float *logprobs, const int32_t *labels,
                                 int n);
RECUR_API double recur_metrics_accuracy(const recur_metrics *m);
/* Mean over the labels with support > 0 of their recall. */
RECUR_API double recur_metrics_macro_recall(const recur_metrics *m);
/* loss_sum / terms (0 with no terms). */
RECUR_API double recur_metrics_loss(const recur_metrics *m);
RECUR_API size_t recur_metrics_support(const recur_metrics *m, int label);
/* Precision, recall, F1 of one label (0 where undefined); any may be NULL. */
RECUR_API void recur_metrics_class(const recur_metrics *m, int label, double *precision,
                                   double *recall, double *f1);

/*
 * Score model m on the sequences idx[0..n) of data (all of them when idx is
 * NULL), `batch` at a time (0: 256), into *out (initialised here; free it
 * with recur_metrics_free; on failure it is left empty):
 * classifiers through a runner (accuracy, confusion, mean loss per
 * sequence), generators through a forward pass without optimiser state
 * (summed -log p and its number of terms). When `stop` is not NULL and
 * becomes nonzero the call returns RECUR_ERR_INTERRUPTED before the next
 * batch. It runs on the caller's thread.
 */
RECUR_API recur_status recur_evaluate(const recur_model *m, const recur_batch *data,
                                      const size_t *idx, size_t n, int batch,
                                      const volatile sig_atomic_t *stop, recur_metrics *out,
                                      recur_error *err);

/* ------------------------------------------------------------------------ */
/* Held-out splits: train / validation / test, recorded in the model         */
/* ------------------------------------------------------------------------ */

/*
 * How a data folder is split. The test part is what recur_dataset_split
 * holds out with (test_fraction, method, seed), or the folder test_dir
 * instead; the validation part (model selection and the learning-rate
 * schedule) is valid_fraction of all the lines, drawn by the same method
 * from the rest with a seed derived from `seed`; training gets what is
 * left. Training never looks at the test part. valid_fraction 0: no
 * validation part of its own (selection then uses the test part: the
 * behaviour of models trained before the split was recorded).
 */
typedef struct recur_split_plan {
    recur_split method;
    double valid_fraction; /* [0, 1)                                         */
    double test_fraction;  /* (0, 1); ignored with test_dir                  */
    uint64_t seed;
    int dedupe;            /* repeated (text, label) lines dropped first     */
    const char *test_dir;  /* the test part is this folder, or NULL          */
} recur_split_plan;

/* Random lines, validation 0.1, test 0.15, seed 1, no dedupe, no folder. */
RECUR_API void recur_split_plan_default(recur_split_plan *p);
/*
 * The three parts of ds under plan p (ds is deduplicated first when
 * p->dedupe), each in increasing index order; with test_dir the test part
 * is empty (it is another data set). Free the lists with free(); any of
 * the output pairs may be NULL when not wanted.
 */
RECUR_API recur_status recur_split_apply(recur_dataset *ds, const recur_split_plan *p,
                                         size_t **train, size_t *n_train, size_t **valid,
                                         size_t *n_valid, size_t **test, size_t *n_test,
                                         recur_error *err);
/* Record the plan in the model's metadata (saved with it; docs/FORMAT.md). */
RECUR_API recur_status recur_model_set_split(recur_model *m, const recur_split_plan *p,
                                             recur_error *err);
/* Read the recorded plan: RECUR_ERR_UNSUPPORTED when the model holds none
 * (files written before it was recorded), RECUR_ERR_FORMAT when damaged.
 * p->test_dir points into the model's metadata: valid until the model is
 * freed or that key is set again. */
RECUR_API recur_status recur_model_get_split(const recur_model *m, recur_split_plan *p,
                                             recur_error *err);
/*
 * The same three parts of a set of n sequences that is not a names folder
 * (a recur_seqset), with the sizes of recur_split_apply: RANDOM sequences,
 * or STRATIFIED by labels[n] (a class per sequence; labels may be NULL
 * otherwise); DISTINCT and dedupe are RECUR_ERR_UNSUPPORTED. Deterministic
 * in p->seed; lists in increasing order, freed with free().
 */
RECUR_API recur_status recur_split_indices(size_t n, const int32_t *labels, const recur_split_plan *p,
                                           size_t **train, size_t *n_train, size_t **valid, size_t *n_valid,
                                           size_t **test, size_t *n_test, recur_error *err);

/* ------------------------------------------------------------------------ */
/* Training driver: epochs, order, schedule, selection, checkpoints          */
/* ------------------------------------------------------------------------ */

typedef enum recur_fit_select {
    RECUR_FIT_SELECT_AUTO = 0,     /* accuracy for classifiers, per-step
                                    * accuracy for taggers, loss otherwise */
    RECUR_FIT_SELECT_ACCURACY = 1, /* highest validation accuracy              */
    RECUR_FIT_SELECT_LOSS = 2      /* lowest validation loss                   */
} recur_fit_select;

/* Progress after each optimiser step. */
typedef struct recur_fit_step {
    int epoch, epochs;     /* 1-based epoch of this run, and the last one    */
    uint64_t step;         /* optimiser steps so far (counting a resumed run) */
    size_t done, total;    /* sequences of this epoch trained, and in all    */
    double seconds;        /* training time of this epoch so far            */
    double loss;           /* mean training loss of the epoch so far         */
    double step_loss;      /* this step's loss (recur_trainer_step's)        */
} recur_fit_step;

/* What one epoch gave. Pointers are borrowed: valid during the callback. */
typedef struct recur_fit_epoch {
    int epoch, epochs;
    double train_loss;         /* mean per loss term over the epoch          */
    double train_seconds;      /* training time (evaluation not counted)     */
    size_t sequences;          /* sequences trained                          */
    const recur_metrics *valid; /* the validation set's scores               */
    double valid_loss;         /* recur_metrics_loss(valid)                  */
    double valid_accuracy, valid_macro_recall; /* NaN for generators; a
                                * tagger's accuracy is per labelled step  */
    int improved;              /* the best so far: model_path gets it        */
    int lr_halved;             /* the plateau schedule halved the rate       */
    float lr;                  /* the learning rate from the next epoch on   */
    int best_epoch;            /* after this epoch                           */
    double best_score;         /* accuracy, or minus the loss                */
    /* The curves of every epoch so far (a resumed run's included), [n]. */
    int history_n;
    const double *history_train_loss, *history_valid_loss;
    const double *history_accuracy, *history_macro_recall; /* NaN: generators */
} recur_fit_epoch;

/* Return 0 to go on, nonzero to stop after this epoch (its files are
 * written first); the driver then returns RECUR_OK. */
typedef int (*recur_fit_epoch_fn)(const recur_fit_epoch *e, void *user);
typedef void (*recur_fit_step_fn)(const recur_fit_step *s, void *user);

typedef struct recur_fit_config {
    recur_train_config train; /* optimiser, lr, clip, threads, dropout seed;
                               * max_batch is raised to batch            */
    int epochs;          /* train until this many epochs are done          */
    int batch;           /* sequences per optimiser step                   */
    int bucket;          /* sort chunks of `bucket` batches by length (less
                          * padding), then shuffle the batches; 0 = off    */
    double balance;      /* draw label l in proportion to count(l)^(1-F):
                          * 0 = as in the data, 1 = every label alike      */
    double token_dropout; /* each training token becomes UNKNOWN with p   */
    int patience;        /* halve lr after N epochs without a better
                          * validation loss; 0 = never                    */
    recur_fit_select select;
    int eval_batch;      /* sequences per evaluation batch (0: 256)        */
    uint64_t seed;       /* the order and the token dropout of each epoch  */
    const char *model_path;      /* the best model, saved (atomically) each
                                  * time it improves; NULL: not saved      */
    const char *checkpoint_path; /* weights, optimiser and fit state after
                                  * every epoch; NULL: none               */
    const char *resume;          /* a checkpoint to continue from, or NULL */
    int resume_lr;       /* with resume: 1 = train.lr replaces the stored rate */
    /* String metadata set on the model before every save (pairs key,
     * value; n_meta pairs): what the caller wants recorded. */
    const char *const *meta;
    int n_meta;
    /* Checked between batches of training and of evaluation, and inside
     * each training step (recur_trainer_set_stop): set it (from a signal
     * handler) to stop within a fraction of a second. */
    const volatile sig_atomic_t *stop;
    recur_fit_step_fn on_step;   /* may be NULL */
    recur_fit_epoch_fn on_epoch; /* may be NULL; called before the saves */
    void *user;
    /* Data parallelism over `ranks` processes (docs/DISTRIBUTED.md); off
     * with reduce NULL. Each process calls recur_fit with the same data,
     * lists and configuration and its own rank (0..ranks-1); all draw the
     * same order, each batch is cut into `ranks` shares of about equal
     * steps (the work) and each process takes the gradient of its own.
     * reduce(user, grad, n, sums, n_sums) must then replace grad[0..n) and
     * sums[] by their sums over the processes, the same on every one
     * (MPI_Allreduce, MPI_SUM), and return 0 (nonzero: failed); n is 0 when
     * it shares rank 0's scores (the others pass zeros). Every process takes
     * the same step; rank 0 alone evaluates, calls on_epoch and writes
     * model_path and the checkpoint; a stop is agreed on at each step. */
    int rank, ranks;
    int (*reduce)(void *user, float *grad, size_t n, double *sums, int n_sums);
    /* 1: no shuffle and no buckets: every epoch trains on consecutive
     * batches of the training list in the order given (data made fresh for
     * each step, as a synthetic task's; a benchmark's fixed batches).
     * Needs balance 0. */
    int in_order;
} recur_fit_config;

/* 10 epochs, batch 64, bucket 50, patience 2, select AUTO, seed 1, Adam
 * lr 1e-3 (recur_train_config_default), nothing saved. */
RECUR_API void recur_fit_config_default(recur_fit_config *cfg);

typedef struct recur_fit_result {
    int epochs_done;      /* counting those of a resumed checkpoint         */
    int best_epoch;       /* 0: none                                        */
    double best_score;    /* accuracy, or minus the loss                    */
    double best_loss, best_accuracy, best_macro_recall; /* at best_epoch    */
    int best_saved;       /* model_path holds the best model               */
    /* Interrupted before any epoch finished: the current weights were
     * scored and saved to model_path (with epoch 0) when this is 1. The
     * score is on at most RECUR_FIT_QUICK_SCORE validation sequences, and
     * on fewer (the first, at least one) when their forward pass would
     * cost more than RECUR_FIT_QUICK_FLOPS (long sequences, a large
     * model), so that a stop is prompt on a large validation set. */
    int saved_current;
    double current_score;
} recur_fit_result;

#define RECUR_FIT_QUICK_SCORE 4096
#define RECUR_FIT_QUICK_FLOPS 1e10 /* about 0.2 s on one core */

/*
 * Train m on the sequences train[0..n_train) of data, selecting on and
 * scheduling by valid[0..n_valid) (n_valid >= 1); the model is left with
 * the weights of the last epoch (the best are in model_path). Each epoch:
 * a seeded shuffle (or the balanced draw), length buckets, one optimiser
 * step per batch, then the validation scores, the schedule, the callback,
 * the best model and the checkpoint. Fit state lives in the model's
 * metadata (docs/FORMAT.md), so resuming from any epoch's checkpoint
 * continues bit for bit. RECUR_ERR_INTERRUPTED when *cfg->stop was set
 * (res says what is saved); res may be NULL.
 */
RECUR_API recur_status recur_fit(recur_model *m, const recur_fit_config *cfg,
                                 const recur_batch *data, const size_t *train, size_t n_train,
                                 const size_t *valid, size_t n_valid, recur_fit_result *res,
                                 recur_error *err);

/* ------------------------------------------------------------------------ */
/* Audio and speech features                                                 */
/* ------------------------------------------------------------------------ */

/*
 * Read an audio file (WAV, FLAC, Ogg, AIFF: what libsndfile reads) as mono
 * float samples in [-1, 1]. Several channels are mixed down to their mean.
 * sample_rate > 0: a file at another rate is refused (the message gives the
 * sox line that converts it); 0 accepts any rate. max_seconds > 0 refuses
 * longer files. *samples is the caller's to free().
 */
RECUR_API recur_status recur_audio_load(const char *path, int sample_rate, double max_seconds, float **samples,
                                        size_t *n, recur_error *err);

/* Features of speech, per 10 ms frame: log-mel energies or MFCCs, with
 * optional deltas; definitions in docs/SPEECH.md (HTK conventions). */
typedef struct recur_features_config {
    int sample_rate;  /* Hz of the samples (16000)                          */
    float window_ms;  /* analysis window (25), periodic Hann                 */
    float hop_ms;     /* frame step (10)                                     */
    int mels;         /* triangular filters on the HTK mel scale (40)        */
    float fmin, fmax; /* their band in Hz (20, 0 = Nyquist)                  */
    int mfcc;         /* 0: log-mel out; k: the first k DCT-II cepstra       */
    int deltas;       /* 0, 1 (+ deltas) or 2 (+ deltas and delta-deltas)    */
} recur_features_config;

/* 16 kHz, 25 ms / 10 ms, 40 log-mel bands, no cepstra, no deltas. */
RECUR_API void recur_features_config_default(recur_features_config *cfg);

typedef struct recur_featurizer recur_featurizer;

/* cfg NULL: the defaults. The handle is one stream's state: one per thread. */
RECUR_API recur_status recur_featurizer_create(const recur_features_config *cfg, recur_featurizer **out,
                                               recur_error *err);
RECUR_API void recur_featurizer_free(recur_featurizer *f);
/* Values per frame: (mfcc or mels) * (1 + deltas). */
RECUR_API int recur_featurizer_dim(const recur_featurizer *f);
/* Frames a stream holds back for deltas (2 per order): its added latency. */
RECUR_API int recur_featurizer_delay(const recur_featurizer *f);
/* Whole frames in n samples (only whole windows: 1 + (n - win) / hop). */
RECUR_API size_t recur_featurizer_frames(const recur_featurizer *f, size_t n_samples);
/* The features of a whole signal: *out [*frames][dim], the caller's to free(). */
RECUR_API recur_status recur_featurizer_run(recur_featurizer *f, const float *samples, size_t n, float **out,
                                            size_t *frames, recur_error *err);
/*
 * Streaming: push samples as they arrive; out [cap][dim] receives the
 * frames that became final (*frames of them; samples stay queued when cap
 * is reached). flush ends the stream (the last frames, edges repeated);
 * reset starts a new one. Pushed then flushed, a signal gives exactly the
 * frames of recur_featurizer_run.
 */
RECUR_API recur_status recur_featurizer_push(recur_featurizer *f, const float *samples, size_t n, float *out,
                                             size_t cap, size_t *frames, recur_error *err);
RECUR_API recur_status recur_featurizer_flush(recur_featurizer *f, float *out, size_t cap, size_t *frames,
                                              recur_error *err);
RECUR_API void recur_featurizer_reset(recur_featurizer *f);

/*
 * The features a speech model reads, saved with it (metadata keys
 * "user.features.*", docs/FORMAT.md 2.10) so that predict and listen
 * compute the ones it was trained on. set: RECUR_ERR_ARG for a
 * configuration the featurizer refuses, a token-input model, or an
 * input_size other than the features' values per frame. get:
 * RECUR_ERR_UNSUPPORTED when the model records none (cfg is then the
 * defaults), RECUR_ERR_FORMAT when the record is damaged or does not fit
 * the model.
 */
RECUR_API recur_status recur_model_set_features(recur_model *m, const recur_features_config *cfg,
                                                recur_error *err);
RECUR_API recur_status recur_model_get_features(const recur_model *m, recur_features_config *cfg,
                                                recur_error *err);

/*
 * Spoken words in a live stream (recur listen): push samples as they
 * arrive, get a recur_spot each time a word ends. The rule (docs/SPEECH.md,
 * "Listening"): a frame's energy is its mean mel band energy in dB; a
 * word starts at a frame onset_db above a tracked noise floor (with the
 * preroll frames before it), ends after `hangover` frames in a row below
 * floor + offset_db (or at max_frames), and is the model's top label after
 * its last frame, `confident` when that label's probability is at least
 * `confidence`. Unidirectional models read every frame through the step
 * API as it arrives; bidirectional ones read the word whole when it ends.
 * The model must be a word classifier with recorded features
 * (recur_model_get_features); the spotter is one stream: one per thread.
 */
typedef struct recur_spotter_config {
    float confidence; /* probability the top label needs to count (0.5)      */
    float onset_db;   /* a word starts this far above the noise floor (9)     */
    float offset_db;  /* quiet: below floor + this (6), <= onset_db           */
    int preroll;      /* frames before the onset that belong to the word (15) */
    int hangover;     /* quiet frames in a row that end it (20)               */
    int max_frames;   /* a word this long is decided there (300: 3 s)         */
} recur_spotter_config;
typedef struct recur_spot {
    int label;          /* the model's top label                              */
    float logprob;      /* its log-probability                                */
    int confident;      /* exp(logprob) >= confidence                         */
    int frames;         /* frames the model read (preroll and hangover in)    */
    double start_s, end_s; /* the word's span in the stream, in seconds       */
} recur_spot;
typedef struct recur_spotter recur_spotter;
RECUR_API void recur_spotter_config_default(recur_spotter_config *cfg);
/* cfg NULL: the defaults. RECUR_ERR_UNSUPPORTED for a model that is not a
 * word classifier or records no features. */
RECUR_API recur_status recur_spotter_create(const recur_model *m, const recur_spotter_config *cfg,
                                            recur_spotter **out, recur_error *err);
RECUR_API void recur_spotter_free(recur_spotter *s);
/* At most cap words are returned (*n_spots); when cap is reached the rest
 * of the samples stay queued for the next push (push n = 0 to go on). */
RECUR_API recur_status recur_spotter_push(recur_spotter *s, const float *samples, size_t n, recur_spot *spots,
                                          int cap, int *n_spots, recur_error *err);
/* End of the stream: the last frames, and the word in progress decided
 * (cap >= 2); the spotter is then reset for a new stream. */
RECUR_API recur_status recur_spotter_flush(recur_spotter *s, recur_spot *spots, int cap, int *n_spots,
                                           recur_error *err);
RECUR_API void recur_spotter_reset(recur_spotter *s);

/*
 * Connected speech (a tagger with one label per frame): the string the
 * frame labels spell, every run of one label collapsed to one symbol and
 * `silence` (and labels < 0) dropped; out has room for `steps`; returns
 * the symbols written. "sil 4 4 sil 0 7 7" spells 4 0 7.
 */
RECUR_API int recur_collapse_runs(const int32_t *frame_labels, int steps, int silence, int32_t *out);
/* Frame flicker: every run shorter than min_run frames (a label that
 * flickers for a frame or two inside another's run) takes, in place, the
 * label of its longer neighbouring run (the one before on a tie; runs are
 * taken left to right, each after the ones before it are final), so that
 * "7 7 7 3 7 7" (min_run 2) reads 7 7 7 7 7 7. A run that is the whole
 * sequence stays. min_run <= 1 changes nothing. Returns the short runs
 * absorbed; O(steps x min_run). Used before recur_collapse_runs; the CLI's
 * default min_run is in docs/SPEECH.md. */
RECUR_API int recur_smooth_runs(int32_t *frame_labels, int steps, int min_run);
/* Strings against the truth: the share of wrong strings (string error
 * rate) and the edit distance over the reference symbols (token error
 * rate: substitutions, insertions and deletions, Levenshtein). */
typedef struct recur_string_metrics {
    size_t strings, wrong;     /* strings scored, and those not exactly right */
    size_t ref_tokens, edits;  /* reference symbols, and the edits summed     */
} recur_string_metrics;
RECUR_API void recur_string_metrics_reset(recur_string_metrics *m);
RECUR_API recur_status recur_string_metrics_add(recur_string_metrics *m, const int32_t *hyp, int nh,
                                                const int32_t *ref, int nr, recur_error *err);
RECUR_API double recur_string_metrics_ser(const recur_string_metrics *m); /* wrong / strings   */
RECUR_API double recur_string_metrics_ter(const recur_string_metrics *m); /* edits / ref_tokens */

/* ------------------------------------------------------------------------ */
/* Metrics of tagging and regression                                         */
/* ------------------------------------------------------------------------ */

/* Tagging scores accumulated over batches: per-step accuracy, whole-
 * sequence exact match and the per-class counts behind P/R/F1. */
typedef struct recur_tag_metrics {
    int num_labels;    /* C                                                  */
    size_t steps;      /* labelled steps scored                              */
    size_t correct;    /* of those, argmax == label                          */
    size_t sequences;  /* sequences with at least one labelled step          */
    size_t exact;      /* of those, every labelled step right                */
    size_t *confusion; /* [C][C]: rows true, columns predicted               */
} recur_tag_metrics;

RECUR_API recur_status recur_tag_metrics_init(recur_tag_metrics *m, int num_labels,
                                    recur_error *err);
RECUR_API void recur_tag_metrics_reset(recur_tag_metrics *m);
RECUR_API void recur_tag_metrics_free(recur_tag_metrics *m);
/* Add a batch: logprobs [offsets[n]][C], one row per step in b's order (as
 * recur_runner_predict writes them), truth b->step_labels (< 0: not
 * scored). RECUR_ERR_ARG for a label outside 0..C-1 or no step_labels. */
RECUR_API recur_status recur_tag_metrics_add(recur_tag_metrics *m, const recur_batch *b,
                                   const float *logprobs, recur_error *err);
RECUR_API double recur_tag_metrics_accuracy(const recur_tag_metrics *m);    /* 0 if empty */
RECUR_API double recur_tag_metrics_exact_match(const recur_tag_metrics *m); /* 0 if empty */
/* Of one label, over steps (0 where undefined); any pointer may be NULL. */
RECUR_API void recur_tag_metrics_class(const recur_tag_metrics *m, int label,
                             double *precision, double *recall, double *f1);

/* Regression scores accumulated over batches, over every element. */
typedef struct recur_regress_metrics {
    int outputs;        /* values per row                                    */
    size_t rows;        /* rows added                                        */
    double sse, sae;    /* sums of squared and absolute errors               */
    double *mean, *m2;  /* [outputs] running mean and sum of squared
                         * deviations of the targets (Welford), for R²       */
    double *out_sse;    /* [outputs] squared errors per output               */
} recur_regress_metrics;

RECUR_API recur_status recur_regress_metrics_init(recur_regress_metrics *m, int outputs,
                                        recur_error *err);
RECUR_API void recur_regress_metrics_reset(recur_regress_metrics *m);
RECUR_API void recur_regress_metrics_free(recur_regress_metrics *m);
/* pred and target [rows][outputs]. */
RECUR_API void recur_regress_metrics_add(recur_regress_metrics *m, const float *pred,
                               const float *target, size_t rows);
RECUR_API double recur_regress_metrics_mse(const recur_regress_metrics *m);
RECUR_API double recur_regress_metrics_mae(const recur_regress_metrics *m);
/* Coefficient of determination 1 - SSE/SST per output, averaged over the
 * outputs (scikit-learn's r2_score, "uniform_average"); an output whose
 * targets are constant scores 1 if predicted exactly, else 0. */
RECUR_API double recur_regress_metrics_r2(const recur_regress_metrics *m);

/* ------------------------------------------------------------------------ */
/* Threads                                                                   */
/* ------------------------------------------------------------------------ */

/* Threads of OpenBLAS's own pool (process-wide, OpenBLAS's setting), for
 * the products recur leaves to it. Trainers and stacks have their own
 * `threads`; see recur_train_config. */
RECUR_API void recur_set_threads(int n);
RECUR_API int recur_get_threads(void);

#ifdef __cplusplus
}
#endif
#endif /* RECUR_H */
