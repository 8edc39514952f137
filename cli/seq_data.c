/*
 * Sequence data for the CLI: what a DATA argument is, how it is loaded, how
 * a model records the way its data were read ("data.*" keys, so that eval
 * --held-out reads them the same way), and a data set renumbered into a
 * model's vocabulary, tags and labels (a file read on its own numbers its
 * symbols and classes by itself).
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cJSON.h>

#include "seq.h"

const char *const seq_task_choices[] = {"auto", "classify", "tag", "regress", NULL};
const char *const seq_tokens_choices[] = {"char", "word", NULL};
const char *const seq_loss_choices[] = {"auto", "nll", "mse", "huber", NULL};

void seq_flags_default(seq_flags *f)
{
    memset(f, 0, sizeof *f);
    f->min_count = 1;
    f->tag_col = -1;
    f->huber_delta = 1.0;
}

void seq_options_from_flags(const seq_flags *f, recur_seqset_options *o)
{
    recur_seqset_options_default(o);
    o->token_level = f->tokens == 1;
    o->min_count = f->min_count;
    o->token_column = f->token_col;
    o->tag_column = f->tag_col;
    o->id_column = f->id_col;
    o->feature_columns = f->feature_cols;
    o->target_columns = f->target_cols;
    o->label_column = f->label_col;
    o->tag_column_name = f->step_tags;
    o->targets_per_sequence = f->per_sequence;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Whether the folder dir holds a .lab file (connected speech) directly. */
static int holds_lab(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int lab = 0;
    struct dirent *e;
    while (!lab && (e = readdir(d))) lab = e->d_name[0] != '.' && ends_with(e->d_name, ".lab");
    closedir(d);
    return lab;
}

/* The one place that tells DATA kinds apart: a new kind is a value of
 * seq_kind, a test here and a case in seq_data_load. A folder holding .txt
 * files is a names folder, as it always was, and so is a missing path
 * without a data file's ending (the names loader says what is wrong with
 * it). A folder with .lab files is connected speech; so is one whose
 * subfolders hold them (data/digits with train/ and test/: the load then
 * says which folder to give), rather than a classifier of "train" and
 * "test". */
seq_kind seq_data_kind(const char *path)
{
    static const char *const endings[] = {".conll", ".conllu", ".bio", ".iob", ".tsv", ".jsonl",
                                          ".ndjson", ".csv", ".npy", ".npz", NULL};
    if (!path) return SEQ_NAMES;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        for (int k = 0; endings[k]; k++)
            if (ends_with(path, endings[k])) return SEQ_FILE;
        return SEQ_NAMES;
    }
    if (!S_ISDIR(sb.st_mode)) return SEQ_FILE;
    DIR *d = opendir(path);
    if (!d) return SEQ_NAMES;
    int txt = 0, sub = 0, lab = 0, sub_lab = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (ends_with(e->d_name, ".txt")) txt = 1;
        if (ends_with(e->d_name, ".lab")) lab = 1;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) sub = 1, sub_lab |= !sub_lab && holds_lab(p);
    }
    closedir(d);
    if (!txt && (lab || sub_lab)) return SEQ_AUDIO_TAGS;
    return !txt && sub ? SEQ_AUDIO : SEQ_NAMES;
}

int seq_data_load(seq_kind kind, const char *path, const recur_seqset_options *o,
                  const recur_features_config *features, recur_seqset **out)
{
    recur_error err;
    recur_status st;
    if (kind == SEQ_AUDIO_TAGS && !holds_lab(path)) {
        /* Its subfolders hold the strings (seq_data_kind). */
        char tr[4096];
        snprintf(tr, sizeof tr, "%s/train", path);
        if (holds_lab(tr))
            cli_error("%s holds train/ and test/ folders of labelled audio: give one, e.g. %s/train --test-dir "
                      "%s/test",
                      path, path, path);
        else cli_error("%s: its subfolders hold .lab files; give the folder of <name>.wav + <name>.lab", path);
        return EXIT_RUNTIME;
    }
    switch (kind) {
    case SEQ_AUDIO: st = recur_seqset_load_audio(path, features, out, &err); break;
    case SEQ_AUDIO_TAGS: st = recur_seqset_load_audio_tags(path, features, out, &err); break;
    case SEQ_FILE: st = recur_seqset_load(path, o, out, &err); break;
    default: cli_error("%s: not a sequence data set", path); return EXIT_RUNTIME;
    }
    if (st) {
        /* The loaders name the file themselves. */
        cli_error("%s", err.message);
        return EXIT_RUNTIME;
    }
    if (recur_seqset_size(*out) == 0) {
        cli_error("%s: no sequences", path);
        recur_seqset_free(*out);
        *out = NULL;
        return EXIT_RUNTIME;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The record: "data.*" metadata                                             */
/* ------------------------------------------------------------------------ */

void seq_record_make(seq_record *r, seq_kind kind, const char *path, const recur_seqset_options *o)
{
    memset(r, 0, sizeof *r);
    int n = 0;
#define PAIR(k, v) (r->kv[2 * n] = (k), r->kv[2 * n + 1] = (v), n++)
    PAIR("data.kind", kind == SEQ_AUDIO ? "audio" : kind == SEQ_AUDIO_TAGS ? "audio-tags" : "file");
    PAIR("data.path", path);
    PAIR("data.tokens", o->token_level ? "word" : "char");
    snprintf(r->buf[0], sizeof r->buf[0], "%d", o->min_count);
    PAIR("data.min_count", r->buf[0]);
    snprintf(r->buf[1], sizeof r->buf[1], "%d", o->token_column);
    PAIR("data.token_col", r->buf[1]);
    snprintf(r->buf[2], sizeof r->buf[2], "%d", o->tag_column);
    PAIR("data.tag_col", r->buf[2]);
    PAIR("data.id_col", o->id_column ? o->id_column : "");
    PAIR("data.feature_cols", o->feature_columns ? o->feature_columns : "");
    PAIR("data.target_cols", o->target_columns ? o->target_columns : "");
    PAIR("data.label_col", o->label_column ? o->label_column : "");
    PAIR("data.step_tags", o->tag_column_name ? o->tag_column_name : "");
    PAIR("data.per_sequence", o->targets_per_sequence ? "1" : "0");
#undef PAIR
    r->n = n;
}

static int read_int(const recur_model *m, const char *key, int lo, int hi, int *out)
{
    const char *v = recur_model_get_meta(m, key);
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || end == v || *end || x < lo || x > hi) return -1;
    *out = (int)x;
    return 0;
}

int seq_record_read(const recur_model *m, const char *model_path, seq_kind *kind, const char **path,
                    recur_seqset_options *o)
{
    recur_seqset_options_default(o);
    *kind = SEQ_NAMES;
    *path = NULL;
    const char *k = recur_model_get_meta(m, "data.kind");
    if (!k) return 0;
    const char *tok = recur_model_get_meta(m, "data.tokens"), *ps = recur_model_get_meta(m, "data.per_sequence");
    const char *s[5] = {recur_model_get_meta(m, "data.id_col"), recur_model_get_meta(m, "data.feature_cols"),
                        recur_model_get_meta(m, "data.target_cols"), recur_model_get_meta(m, "data.label_col"),
                        recur_model_get_meta(m, "data.step_tags")};
    *path = recur_model_get_meta(m, "data.path");
    int bad = (strcmp(k, "file") && strcmp(k, "audio") && strcmp(k, "audio-tags")) || !*path || !tok || (strcmp(tok, "char") && strcmp(tok, "word")) ||
              !ps || (strcmp(ps, "0") && strcmp(ps, "1")) || read_int(m, "data.min_count", 1, 1 << 30, &o->min_count) ||
              read_int(m, "data.token_col", 0, 63, &o->token_column) ||
              read_int(m, "data.tag_col", -1, 63, &o->tag_column);
    for (int i = 0; i < 5; i++) bad |= !s[i];
    if (bad) {
        cli_error("%s: its record of how the data were read (data.*) is damaged", model_path);
        return EXIT_RUNTIME;
    }
    *kind = strcmp(k, "audio") == 0 ? SEQ_AUDIO : strcmp(k, "audio-tags") == 0 ? SEQ_AUDIO_TAGS : SEQ_FILE;
    o->token_level = strcmp(tok, "word") == 0;
    o->targets_per_sequence = ps[0] == '1';
    const char **dst[5] = {&o->id_column, &o->feature_columns, &o->target_columns, &o->label_column,
                           &o->tag_column_name};
    for (int i = 0; i < 5; i++) *dst[i] = *s[i] ? s[i] : NULL;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Token-level vocabularies                                                  */
/* ------------------------------------------------------------------------ */

int seq_store_tokens(recur_model *m, const recur_seqset *s)
{
    cli_buf b = {0};
    cli_buf_put(&b, "[", 1);
    for (int id = 2; id < recur_seqset_num_tokens(s); id++) {
        if (id > 2) cli_buf_put(&b, ",", 1);
        cli_buf_json(&b, recur_seqset_token(s, id));
    }
    cli_buf_put(&b, "]", 2); /* with the NUL */
    recur_error err;
    int rc = 0;
    if (b.failed) {
        cli_error("out of memory storing the token vocabulary");
        rc = EXIT_RUNTIME;
    } else if (recur_model_set_meta(m, "tokens", b.data, &err)) {
        cli_lib_error("token vocabulary", &err);
        rc = EXIT_RUNTIME;
    }
    cli_buf_free(&b);
    return rc;
}

/* Id j >= 2 of a token-level model's placeholder vocabulary is the j-2'th
 * code point of the supplementary private use planes (U+F0000..U+10FFFD,
 * less the two noncharacters at the end of plane 15). */
static unsigned placeholder(int j)
{
    unsigned cp = 0xF0000u + (unsigned)(j - 2);
    return cp >= 0xFFFFEu ? cp + 2 : cp;
}
enum { SEQ_MAX_TOKENS = 2 + 2 * 65534 };

int seq_token_vocab(int n, recur_vocab **out)
{
    if (n > SEQ_MAX_TOKENS) {
        cli_error("%d distinct tokens is more than a model holds (%d); raise --min-count", n - 2, SEQ_MAX_TOKENS - 2);
        return EXIT_RUNTIME;
    }
    char (*sym)[5] = calloc((size_t)n, sizeof *sym);
    const char **p = calloc((size_t)n, sizeof *p);
    recur_error err;
    recur_status st = sym && p ? RECUR_OK : RECUR_ERR_NOMEM;
    for (int j = 2; !st && j < n; j++) {
        unsigned c = placeholder(j);
        sym[j][0] = (char)(0xF0 | (c >> 18));
        sym[j][1] = (char)(0x80 | ((c >> 12) & 0x3F));
        sym[j][2] = (char)(0x80 | ((c >> 6) & 0x3F));
        sym[j][3] = (char)(0x80 | (c & 0x3F));
        p[j] = sym[j];
    }
    if (!st) st = recur_vocab_from_symbols(RECUR_TEXT_UNICODE, p, n, out, &err);
    else snprintf(err.message, sizeof err.message, "out of memory");
    free(sym);
    free(p);
    if (st) cli_lib_error("token vocabulary", &err);
    return st ? EXIT_RUNTIME : 0;
}

/* ------------------------------------------------------------------------ */
/* A data set in a model's numbering                                         */
/* ------------------------------------------------------------------------ */

typedef struct tok_entry {
    const char *s;
    int32_t id;
} tok_entry;

static int tok_cmp(const void *a, const void *b)
{
    return strcmp(((const tok_entry *)a)->s, ((const tok_entry *)b)->s);
}

/* map[j] = the model's id of the data's token id j. */
static int token_map(const recur_model *m, const char *model_path, const recur_seqset *s, int32_t *map, int n)
{
    const recur_vocab *sv = recur_seqset_vocab(s), *mv = recur_model_vocab(m);
    const char *toks = recur_model_get_meta(m, "tokens");
    for (int j = 0; j < n && j < 2; j++) map[j] = j;
    if (!toks != (sv != NULL)) {
        cli_error("%s reads %s; read the data with --tokens %s", model_path, toks ? "whole tokens" : "characters",
                  toks ? "word" : "char");
        return EXIT_RUNTIME;
    }
    if (sv) {
        for (int j = 2; j < n; j++) {
            const char *sym = recur_vocab_symbol(sv, j);
            int32_t id = 0;
            size_t k = 0;
            recur_error err;
            if (recur_vocab_encode(mv, sym, strlen(sym), &id, 1, &k, &err) || k != 1) id = RECUR_TOKEN_UNKNOWN;
            map[j] = id;
        }
        return 0;
    }
    cJSON *arr = cJSON_Parse(toks);
    int V = recur_vocab_size(mv), cnt = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : -1;
    tok_entry *e = cnt >= 0 ? malloc(((size_t)cnt + 1) * sizeof *e) : NULL;
    int bad = !e || cnt + 2 != V, k = 0;
    for (cJSON *it = arr ? arr->child : NULL; !bad && it; it = it->next, k++) {
        bad = !cJSON_IsString(it);
        if (!bad) e[k] = (tok_entry){it->valuestring, k + 2};
    }
    if (bad) {
        cli_error("%s: its token vocabulary (user.tokens) is damaged", model_path);
        free(e);
        cJSON_Delete(arr);
        return EXIT_RUNTIME;
    }
    qsort(e, (size_t)cnt, sizeof *e, tok_cmp);
    for (int j = 2; j < n; j++) {
        tok_entry key = {recur_seqset_token(s, j), 0}, *hit = bsearch(&key, e, (size_t)cnt, sizeof *e, tok_cmp);
        map[j] = hit ? hit->id : RECUR_TOKEN_UNKNOWN;
    }
    free(e);
    cJSON_Delete(arr);
    return 0;
}

/* map[c] = the model's class of the data's class c (-1: unknown). */
static size_t class_map(const recur_model *m, int n, const char *(*name)(const recur_seqset *, int),
                        const recur_seqset *s, int32_t *map)
{
    size_t unknown = 0;
    for (int c = 0; c < n; c++) {
        map[c] = recur_model_label_find(m, name(s, c));
        unknown += map[c] < 0;
    }
    return unknown;
}

static int oom(void)
{
    cli_error("out of memory");
    return EXIT_RUNTIME;
}

int seq_is_model(const recur_model *m)
{
    const recur_model_config *c = recur_model_get_config(m);
    return recur_model_get_meta(m, "data.kind") || c->input == RECUR_INPUT_DENSE || c->task == RECUR_TASK_TAG ||
           c->task == RECUR_TASK_REGRESS;
}

int seq_view_make(const recur_model *m, const char *model_path, const recur_seqset *s, const char *data_path,
                  int classes, seq_view *v)
{
    memset(v, 0, sizeof *v);
    const recur_model_config *c = recur_model_get_config(m);
    const recur_batch *b = recur_seqset_batch(s);
    v->b = *b;
    int F = recur_seqset_input_size(s);
    if (c->input == RECUR_INPUT_DENSE ? F != c->input_size : F != 0) {
        if (c->input == RECUR_INPUT_DENSE)
            cli_error("%s: %d features per step, but %s reads %d", data_path, F, model_path, c->input_size);
        else cli_error("%s holds dense features; %s reads text", data_path, model_path);
        return EXIT_RUNTIME;
    }
    size_t steps = recur_seqset_steps(s);
    int rc = 0;
    if (b->tokens) {
        int n = recur_seqset_num_tokens(s);
        if (recur_seqset_vocab(s)) n = recur_vocab_size(recur_seqset_vocab(s));
        int32_t *map = malloc(((size_t)n + 2) * sizeof *map);
        v->tokens = malloc((steps ? steps : 1) * sizeof *v->tokens);
        if (!map || !v->tokens) rc = oom();
        if (!rc) rc = token_map(m, model_path, s, map, n);
        for (size_t k = 0; !rc && k < steps; k++) {
            int32_t t = b->tokens[k];
            v->tokens[k] = t >= 0 && t < n ? map[t] : RECUR_TOKEN_UNKNOWN;
        }
        free(map);
        v->b.tokens = v->tokens;
    }
    int NT = recur_seqset_num_tags(s), NL = recur_seqset_num_labels(s);
    int32_t *map = malloc(((size_t)(NT > NL ? NT : NL) + 1) * sizeof *map);
    if (!map && !rc) rc = oom();
    if (!rc && classes && b->step_labels && c->task == RECUR_TASK_TAG) {
        class_map(m, NT, recur_seqset_tag_name, s, map);
        v->step_labels = malloc((steps ? steps : 1) * sizeof *v->step_labels);
        for (size_t k = 0; v->step_labels && k < steps; k++) {
            int32_t t = b->step_labels[k];
            v->step_labels[k] = t >= 0 && t < NT ? map[t] : -1;
            v->unknown_tags += t >= 0 && v->step_labels[k] < 0;
        }
        if (!v->step_labels) rc = oom();
        v->b.step_labels = v->step_labels;
    }
    if (!rc && classes && b->labels && c->task == RECUR_TASK_CLASSIFY) {
        class_map(m, NL, recur_seqset_label_name, s, map);
        v->labels = malloc(((size_t)b->n + 1) * sizeof *v->labels);
        for (int i = 0; v->labels && i < b->n; i++) {
            int32_t l = b->labels[i];
            v->labels[i] = l >= 0 && l < NL ? map[l] : -1;
            if (v->labels[i] < 0 && !v->unknown_labels++)
                cli_error("%s: sequence %d's label \"%s\" is not one of %s's", data_path, i + 1,
                          l >= 0 && l < NL ? recur_seqset_label_name(s, l) : "?", model_path);
        }
        if (!v->labels) rc = oom();
        else if (v->unknown_labels) rc = EXIT_RUNTIME;
        v->b.labels = v->labels;
    }
    free(map);
    if (rc) seq_view_free(v);
    return rc;
}

void seq_view_free(seq_view *v)
{
    free(v->tokens);
    free(v->labels);
    free(v->step_labels);
    memset(v, 0, sizeof *v);
}
