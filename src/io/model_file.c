/*
 * Model files and checkpoints: a recur_model (and a trainer's optimiser
 * state) to and from safetensors with PyTorch state-dict names. The layout
 * is specified in docs/FORMAT.md.
 */
#include <cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "model/quant_model.h"
#include "model/trainer.h"

#define FORMAT_NAME "recur-model"
#define FORMAT_VERSION "2" /* written; "1" is still read */
#define USER_PREFIX "user."

/* ------------------------------------------------------------------------ */
/* Writing                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct kv_list {
    const char **kv;
    char **owned;
    int n, n_owned, cap;
} kv_list;

static int kv_add(kv_list *l, const char *k, const char *v, int own_k, int own_v)
{
    if (l->n + 1 > l->cap) {
        int cap = l->cap ? 2 * l->cap : 32;
        const char **q = realloc(l->kv, (size_t)cap * 2 * sizeof *q);
        char **o = realloc(l->owned, (size_t)cap * 2 * sizeof *o);
        if (q) l->kv = q;
        if (o) l->owned = o;
        if (!q || !o) return -1;
        l->cap = cap;
    }
    if (!k || !v) return -1;
    l->kv[2 * l->n] = k;
    l->kv[2 * l->n + 1] = v;
    l->n++;
    if (own_k) l->owned[l->n_owned++] = (char *)k;
    if (own_v) l->owned[l->n_owned++] = (char *)v;
    return 0;
}

static void kv_free(kv_list *l)
{
    for (int i = 0; i < l->n_owned; i++) free(l->owned[i]);
    free(l->owned);
    free(l->kv);
}

static char *fmt_int(long long v)
{
    char *s = malloc(24);
    if (s) snprintf(s, 24, "%lld", v);
    return s;
}

static char *json_strings(int n, const char *(*get)(const void *, int), const void *obj, int first)
{
    cJSON *a = cJSON_CreateArray();
    if (!a) return NULL;
    for (int i = first; i < n; i++) {
        cJSON *s = cJSON_CreateString(get(obj, i));
        if (!s || !cJSON_AddItemToArray(a, s)) {
            cJSON_Delete(s);
            cJSON_Delete(a);
            return NULL;
        }
    }
    char *out = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    return out;
}

static const char *vocab_sym(const void *v, int i) { return recur_vocab_symbol(v, i); }
static const char *model_label(const void *m, int i) { return recur_model_label_name(m, i); }

static const char *const input_names[] = {"tokens", "dense"};
static const char *const head_names[] = {"final", "steps"};
static const char *const target_names[] = {"class", "next_token", "real"};
static const char *const loss_names[] = {"auto", "nll", "mse", "huber"};

/* The metadata every model file carries. */
static int model_meta(const recur_model *m, kv_list *l)
{
    const recur_model_config *c = &m->cfg;
    char drop[32], delta[32];
    snprintf(drop, sizeof drop, "%.9g", (double)c->dropout);
    snprintf(delta, sizeof delta, "%.9g", (double)c->huber_delta);
    int bad = 0;
    bad |= kv_add(l, "format", FORMAT_NAME, 0, 0);
    bad |= kv_add(l, "format_version", FORMAT_VERSION, 0, 0);
    bad |= kv_add(l, "task", recur_task_name(c->task), 0, 0);
    bad |= kv_add(l, "input", input_names[c->input], 0, 0);
    if (c->input == RECUR_INPUT_DENSE) bad |= kv_add(l, "input_size", fmt_int(c->input_size), 0, 1);
    bad |= kv_add(l, "head", head_names[c->head], 0, 0);
    bad |= kv_add(l, "target", target_names[c->target], 0, 0);
    if (c->target == RECUR_TARGET_REAL) bad |= kv_add(l, "outputs", fmt_int(c->outputs), 0, 1);
    bad |= kv_add(l, "loss", loss_names[c->loss], 0, 0);
    if (c->loss == RECUR_LOSS_HUBER) bad |= kv_add(l, "huber_delta", strdup(delta), 0, 1);
    bad |= kv_add(l, "cell", recur_cell_name(c->cell), 0, 0);
    bad |= kv_add(l, "hidden", fmt_int(c->hidden), 0, 1);
    bad |= kv_add(l, "layers", fmt_int(c->layers), 0, 1);
    bad |= kv_add(l, "bidirectional", c->bidirectional ? "1" : "0", 0, 0);
    bad |= kv_add(l, "embed", fmt_int(c->embed), 0, 1);
    bad |= kv_add(l, "label_embed", fmt_int(c->label_embed), 0, 1);
    bad |= kv_add(l, "dropout", strdup(drop), 0, 1);
    if (m->vocab) {
        bad |= kv_add(l, "text_mode", recur_vocab_mode(m->vocab) == RECUR_TEXT_ASCII ? "ascii" : "unicode", 0, 0);
        bad |= kv_add(l, "vocab", json_strings(m->V, vocab_sym, m->vocab, 2), 0, 1);
    }
    bad |= kv_add(l, "labels", json_strings(m->num_labels, model_label, m, 0), 0, 1);
    if (m->q) bad |= kv_add(l, "quantized", recur_dtype_name(recur_model_dtype(m)), 0, 0);
    for (int i = 0; !bad && i < m->n_meta; i++) {
        size_t n = strlen(USER_PREFIX) + strlen(m->meta[2 * i]) + 1;
        char *k = malloc(n);
        if (k) snprintf(k, n, "%s%s", USER_PREFIX, m->meta[2 * i]);
        bad |= kv_add(l, k, m->meta[2 * i + 1], 1, 0);
    }
    return bad;
}

static void tensor_out(st_out *o, const char *name, const model_tensor *t, const float *data)
{
    memset(o, 0, sizeof *o);
    o->name = name;
    o->dtype = ST_F32;
    o->ndim = t->ndim;
    o->shape[0] = t->shape[0];
    o->shape[1] = t->shape[1];
    o->data = data;
}

/* Model tensors, then for a checkpoint the optimiser's state tensors. */
static recur_status write_file(const recur_model *m, const recur_trainer *tr, const char *path,
                               recur_error *err)
{
    int n_state = tr ? (tr->state_b ? 2 : 1) : 0;
    int n_norm = m->norm_mean ? 2 : 0;
    int n_model = m->n_tensors * (1 + n_state), n = n_model + qmodel_extra_count(m) + n_norm;
    st_out *outs = calloc((size_t)n, sizeof *outs);
    char (*names)[80] = calloc((size_t)n, sizeof *names);
    if (tr && m->q) {
        free(outs);
        free(names);
        return recur_fail(err, RECUR_ERR_UNSUPPORTED, "a quantized model has no checkpoint: training needs fp32 weights");
    }
    kv_list meta = {0};
    char rng[80], step[24];
    recur_status s = RECUR_OK;
    if (!outs || !names || model_meta(m, &meta)) {
        s = recur_fail(err, RECUR_ERR_NOMEM, "out of memory saving %s", path);
        goto done;
    }
    for (int i = 0; i < m->n_tensors; i++)
        tensor_out(&outs[i], m->tensors[i].name, &m->tensors[i], m->w + m->tensors[i].offset);
    if (m->q) qmodel_outputs(m, outs, outs + n_model, names + n_model);
    /* The dense input's statistics: buffers (not parameters), last. */
    model_tensor norm_t = {.ndim = 1, .shape = {m->F, 0}};
    int at_norm = n - n_norm;
    if (n_norm) {
        tensor_out(&outs[at_norm], "input_norm.mean", &norm_t, m->norm_mean);
        tensor_out(&outs[at_norm + 1], "input_norm.std", &norm_t, m->norm_std);
    }
    if (tr) {
        const char *state_names[2];
        const float *state[2] = {tr->state_a, tr->state_b};
        if (tr->state_b) {
            state_names[0] = "exp_avg";
            state_names[1] = "exp_avg_sq";
        } else {
            state_names[0] = "momentum_buffer";
        }
        for (int k = 0; k < n_state; k++)
            for (int i = 0; i < m->n_tensors; i++) {
                int at = m->n_tensors * (1 + k) + i;
                snprintf(names[at], sizeof names[at], "optim.%s.%s", state_names[k], m->tensors[i].name);
                tensor_out(&outs[at], names[at], &m->tensors[i], state[k] + m->tensors[i].offset);
            }
        snprintf(step, sizeof step, "%" PRIu64, tr->step);
        snprintf(rng, sizeof rng, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, tr->rng.s[0],
                 tr->rng.s[1], tr->rng.s[2], tr->rng.s[3]);
        if (kv_add(&meta, "checkpoint", "1", 0, 0) ||
            kv_add(&meta, "optim", tr->state_b ? "adam" : "sgd", 0, 0) || kv_add(&meta, "step", step, 0, 0) ||
            kv_add(&meta, "rng", rng, 0, 0)) {
            s = recur_fail(err, RECUR_ERR_NOMEM, "out of memory saving %s", path);
            goto done;
        }
    }
    s = st_write(path, outs, n, meta.kv, meta.n, err);
done:
    kv_free(&meta);
    free(outs);
    free(names);
    return s;
}

recur_status recur_model_save(const recur_model *m, const char *path, recur_error *err)
{
    if (!m || !path) return recur_fail(err, RECUR_ERR_ARG, "save needs a model and a path");
    return write_file(m, NULL, path, err);
}

recur_status recur_trainer_save(const recur_trainer *t, const char *path, recur_error *err)
{
    if (!t || !path) return recur_fail(err, RECUR_ERR_ARG, "save needs a trainer and a path");
    return write_file(t->m, t, path, err);
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                   */
/* ------------------------------------------------------------------------ */

static recur_status meta_int(const st_file *f, const char *key, int lo, int hi, int *out,
                             recur_error *err)
{
    const char *v = st_meta(f, key);
    if (!v) return recur_fail(err, RECUR_ERR_FORMAT, "%s: metadata \"%s\" is missing", st_what(f), key);
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        return recur_fail(err, RECUR_ERR_FORMAT, "%s: metadata \"%s\" = \"%.40s\" is not an integer in %d..%d",
                          st_what(f), key, v, lo, hi);
    *out = (int)x;
    return RECUR_OK;
}

/* A metadata value that must be one of n words: *out its index. */
static recur_status meta_word(const st_file *f, const char *key, const char *const *words, int n, int *out,
                              recur_error *err)
{
    const char *v = st_meta(f, key);
    if (!v) return recur_fail(err, RECUR_ERR_FORMAT, "%s: metadata \"%s\" is missing", st_what(f), key);
    for (int i = 0; i < n; i++)
        if (strcmp(v, words[i]) == 0) {
            *out = i;
            return RECUR_OK;
        }
    char list[128] = "";
    for (int i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? (i == n - 1 ? " or " : ", ") : "", words[i]);
    return recur_fail(err, RECUR_ERR_FORMAT, "%s: metadata \"%s\" = \"%.40s\" must be %s", st_what(f), key, v, list);
}

/* A JSON array of strings after `lead` empty entries; *out is malloc'ed
 * and points into *json. */
static recur_status meta_strings(const st_file *f, const char *key, int lead, cJSON **json,
                                 const char ***out, int *n, recur_error *err)
{
    *json = NULL;
    *out = NULL;
    const char *v = st_meta(f, key);
    if (!v) return recur_fail(err, RECUR_ERR_FORMAT, "%s: metadata \"%s\" is missing", st_what(f), key);
    cJSON *a = cJSON_Parse(v);
    if (!a || !cJSON_IsArray(a)) {
        cJSON_Delete(a);
        return recur_fail(err, RECUR_ERR_FORMAT, "%s: metadata \"%s\" is not a JSON array", st_what(f), key);
    }
    int count = cJSON_GetArraySize(a) + lead;
    const char **list = calloc((size_t)count + 1, sizeof *list);
    if (!list) {
        cJSON_Delete(a);
        return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < lead && list; i++) list[i] = "";
    int i = lead;
    for (cJSON *it = a->child; it; it = it->next, i++) {
        if (i >= count) break;
        if (!cJSON_IsString(it)) {
            free(list);
            cJSON_Delete(a);
            return recur_fail(err, RECUR_ERR_FORMAT, "%s: metadata \"%s\" item %d is not a string", st_what(f), key, i - lead);
        }
        list[i] = it->valuestring;
    }
    *json = a;
    *out = list;
    *n = count;
    return RECUR_OK;
}

/* Build a model from a validated file; checkpoint tensors are allowed
 * (and left for the caller) when allow_optim. */
static recur_status model_from_file(const st_file *f, int allow_optim, recur_model **out,
                                    recur_error *err)
{
    *out = NULL;
    const char *what = st_what(f);
    const char *fmt = st_meta(f, "format"), *ver = st_meta(f, "format_version");
    if (!fmt || strcmp(fmt, FORMAT_NAME) != 0)
        return recur_fail(err, RECUR_ERR_FORMAT, "%s: not a recur model (metadata \"format\" is %s%s%s)", what,
                          fmt ? "\"" : "", fmt ? fmt : "missing", fmt ? "\"" : "");
    int v1 = ver && strcmp(ver, "1") == 0;
    if (!ver || (!v1 && strcmp(ver, FORMAT_VERSION) != 0))
        return recur_fail(err, RECUR_ERR_FORMAT, "%s: format version %s is not supported (this recur reads 1 and %s)",
                          what, ver ? ver : "(missing)", FORMAT_VERSION);
    recur_model_config c;
    recur_model_config_default(&c);
    const char *task = st_meta(f, "task"), *cell = st_meta(f, "cell"), *mode = st_meta(f, "text_mode");
    int ti = recur_task_parse(task);
    if (ti < 0 || (v1 && ti > RECUR_TASK_GENERATE))
        return recur_fail(err, RECUR_ERR_FORMAT, "%s: metadata \"task\" must be %s", what,
                          v1 ? "classify or generate" : "classify, generate, tag or regress");
    c.task = (recur_task)ti;
    if (v1) {
        recur_model_config_task(&c, c.task);
    } else {
        /* Version 2: the task's properties, each a word; the task is
         * checked against them by model_resolve_config. */
        RECUR_TRY(meta_word(f, "input", input_names, 2, (int *)&c.input, err));
        RECUR_TRY(meta_word(f, "head", head_names, 2, (int *)&c.head, err));
        RECUR_TRY(meta_word(f, "target", target_names, 3, (int *)&c.target, err));
        RECUR_TRY(meta_word(f, "loss", loss_names, 4, (int *)&c.loss, err));
        if (c.input == RECUR_INPUT_DENSE) RECUR_TRY(meta_int(f, "input_size", 1, 65536, &c.input_size, err));
        if (c.target == RECUR_TARGET_REAL) RECUR_TRY(meta_int(f, "outputs", 1, 65536, &c.outputs, err));
        if (c.loss == RECUR_LOSS_HUBER) {
            const char *dv = st_meta(f, "huber_delta");
            char *e = NULL;
            c.huber_delta = dv ? strtof(dv, &e) : -1.0f;
            if (!dv || e == dv || *e || !(c.huber_delta > 0.0f && c.huber_delta < 1e30f))
                return recur_fail(err, RECUR_ERR_FORMAT, "%s: metadata \"huber_delta\" must be a positive number", what);
        }
    }
    int ci = recur_cell_parse(cell);
    if (!cell || ci < 0 || strcmp(cell, "rnn") == 0)
        return recur_fail(err, RECUR_ERR_FORMAT, "%s: metadata \"cell\" is not one of rnn_tanh, rnn_relu, lstm, gru", what);
    c.cell = (recur_cell)ci;
    /* A vocabulary is required for token input, optional for dense. */
    int has_vocab = c.input != RECUR_INPUT_DENSE || st_meta(f, "vocab") || mode;
    if (has_vocab && (!mode || (strcmp(mode, "unicode") && strcmp(mode, "ascii"))))
        return recur_fail(err, RECUR_ERR_FORMAT, "%s: metadata \"text_mode\" must be unicode or ascii", what);
    RECUR_TRY(meta_int(f, "hidden", 1, 16384, &c.hidden, err));
    RECUR_TRY(meta_int(f, "layers", 1, 64, &c.layers, err));
    RECUR_TRY(meta_int(f, "bidirectional", 0, 1, &c.bidirectional, err));
    RECUR_TRY(meta_int(f, "embed", 0, 65536, &c.embed, err));
    RECUR_TRY(meta_int(f, "label_embed", 0, 65536, &c.label_embed, err));
    const char *drop = st_meta(f, "dropout");
    char *end = NULL;
    c.dropout = drop ? strtof(drop, &end) : -1.0f;
    if (!drop || end == drop || *end || !(c.dropout >= 0.0f && c.dropout < 1.0f))
        return recur_fail(err, RECUR_ERR_FORMAT, "%s: metadata \"dropout\" must be a number in [0, 1)", what);
    cJSON *vj = NULL, *lj = NULL;
    const char **syms = NULL, **labels = NULL;
    int n_syms = 0, n_labels = 0;
    recur_vocab *vocab = NULL;
    recur_model *m = NULL;
    recur_model_config rc;
    recur_status s = has_vocab ? meta_strings(f, "vocab", 2, &vj, &syms, &n_syms, err) : RECUR_OK;
    if (!s) s = meta_strings(f, "labels", 0, &lj, &labels, &n_labels, err);
    if (!s && has_vocab) {
        s = recur_vocab_from_symbols(strcmp(mode, "ascii") == 0 ? RECUR_TEXT_ASCII : RECUR_TEXT_UNICODE, syms,
                                     n_syms, &vocab, err);
        if (s) s = recur_fail(err, RECUR_ERR_FORMAT, "%s: vocabulary: %s", what, err ? err->message : "");
    }
    int V = vocab ? recur_vocab_size(vocab) : 0;
    if (!s && !model_resolve_config(&c, V, n_labels, &rc, NULL)) {
        /* The metadata are not trusted to size an allocation: the file's
         * tensors must hold about that many values first. */
        size_t need = model_param_count(&rc, V, n_labels) + 2 * (size_t)rc.input_size, have = 0;
        for (int i = 0; i < st_count(f); i++)
            if (st_get(f, i)->dtype == ST_F32 || st_get(f, i)->dtype == ST_I8 || st_get(f, i)->dtype == ST_BF16)
                have += st_get(f, i)->nbytes / st_dtype_size(st_get(f, i)->dtype);
        /* A small deficit is left to the by-name checks below, which say
         * which tensor is missing; a large one is refused here. */
        if (need > have + 4096)
            s = recur_fail(err, RECUR_ERR_FORMAT, "%s: the metadata describe %zu weights but the tensors hold %zu",
                           what, need, have);
    }
    if (!s) {
        s = recur_model_create(&c, vocab, labels, n_labels, &m, err);
        if (s == RECUR_ERR_ARG) s = recur_fail(err, RECUR_ERR_FORMAT, "%s: %s", what, err ? err->message : "");
    }
    /* A file's task must be the one its properties make (the API lets
     * "classify" stand for "whatever they make"; a file may not). */
    if (!s && m->cfg.task != (recur_task)ti)
        s = recur_fail(err, RECUR_ERR_FORMAT, "%s: metadata \"task\" is %s but head and target make %s", what,
                       task, recur_task_name(m->cfg.task));
    /* The dense input's statistics, checked as recur_model_set_input_norm
     * checks them. */
    if (!s && m->F) {
        int64_t shape[2] = {m->F, 0};
        const st_tensor *mt = NULL, *sd = NULL;
        s = st_expect(f, "input_norm.mean", ST_F32, 1, shape, &mt, NULL, err);
        if (!s) s = st_expect(f, "input_norm.std", ST_F32, 1, shape, &sd, NULL, err);
        if (!s) {
            s = recur_model_set_input_norm(m, (const float *)mt->data, (const float *)sd->data, err);
            if (s) s = recur_fail(err, RECUR_ERR_FORMAT, "%s: %s", what, err ? err->message : "");
        }
    }
    /* Every model tensor with its exact shape; nothing else but optim.*
     * (and a quantized file's scales). */
    if (!s && st_meta(f, "quantized")) s = qmodel_read(f, m, err);
    for (int i = 0; !s && !m->q && i < m->n_tensors; i++) {
        const model_tensor *t = &m->tensors[i];
        int64_t shape[2] = {t->shape[0], t->shape[1]};
        const st_tensor *x;
        s = st_expect(f, t->name, ST_F32, t->ndim, shape, &x, NULL, err);
        if (!s) memcpy(m->w + t->offset, x->data, t->size * sizeof(float));
    }
    for (int i = 0; !s && i < st_count(f); i++) {
        const char *name = st_get(f, i)->name;
        if (allow_optim && !m->q && strncmp(name, "optim.", 6) == 0) continue;
        if (qmodel_extra_tensor(m, name)) continue;
        int known = m->F && (strcmp(name, "input_norm.mean") == 0 || strcmp(name, "input_norm.std") == 0);
        for (int k = 0; k < m->n_tensors && !known; k++) known = strcmp(m->tensors[k].name, name) == 0;
        if (!known) s = recur_fail(err, RECUR_ERR_FORMAT, "%s: unknown tensor \"%s\" for this model", what, name);
    }
    for (int i = 0; !s && i < st_meta_count(f); i++) {
        const char *k = st_meta_key(f, i);
        if (strncmp(k, USER_PREFIX, strlen(USER_PREFIX)) == 0 && k[strlen(USER_PREFIX)])
            s = recur_model_set_meta(m, k + strlen(USER_PREFIX), st_meta(f, k), err);
    }
    cJSON_Delete(vj);
    cJSON_Delete(lj);
    free(syms);
    free(labels);
    recur_vocab_free(vocab);
    if (s) {
        recur_model_free(m);
        return s;
    }
    *out = m;
    return RECUR_OK;
}

recur_status recur_model_load(const char *path, recur_model **out, recur_error *err)
{
    if (!out) return recur_fail(err, RECUR_ERR_ARG, "load needs an output pointer");
    *out = NULL;
    if (!path) return recur_fail(err, RECUR_ERR_ARG, "load needs a path");
    st_file *f = NULL;
    RECUR_TRY(st_read(path, &f, err));
    recur_status s = model_from_file(f, 1, out, err);
    st_free(f);
    return s;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
}

recur_status recur_trainer_load(recur_trainer *t, const char *path, recur_error *err)
{
    if (!t || !path) return recur_fail(err, RECUR_ERR_ARG, "load needs a trainer and a path");
    st_file *f = NULL;
    RECUR_TRY(st_read(path, &f, err));
    recur_model *loaded = NULL;
    recur_status s = model_from_file(f, 1, &loaded, err);
    recur_model *m = t->m;
    const char *what = st_what(f);
    const char *optim = s ? NULL : st_meta(f, "optim"), *step = st_meta(f, "step"), *rng = st_meta(f, "rng");
    if (!s && (!st_meta(f, "checkpoint") || !optim || !step || !rng))
        s = recur_fail(err, RECUR_ERR_FORMAT, "%s: not a checkpoint (no optimiser state); train from it with a new run instead", what);
    if (!s && strcmp(optim, t->state_b ? "adam" : "sgd") != 0)
        s = recur_fail(err, RECUR_ERR_ARG, "%s: checkpoint was trained with %s, not %s", what, optim, t->state_b ? "adam" : "sgd");
    const recur_model_config *lc = s ? NULL : &loaded->cfg, *mc = &m->cfg;
    if (!s && (loaded->n_weights != m->n_weights || loaded->n_tensors != m->n_tensors ||
               memcmp(lc, mc, offsetof(recur_model_config, seed)) != 0 || lc->input != mc->input ||
               lc->input_size != mc->input_size || lc->head != mc->head || lc->target != mc->target ||
               lc->outputs != mc->outputs || lc->loss != mc->loss || lc->huber_delta != mc->huber_delta))
        s = recur_fail(err, RECUR_ERR_ARG, "%s: checkpoint holds a different model (cell, sizes or labels)", what);
    uint64_t st_rng[4] = {0};
    if (!s) {
        if (strlen(rng) != 64) s = recur_fail(err, RECUR_ERR_FORMAT, "%s: bad rng state", what);
        for (int i = 0; !s && i < 64; i++) {
            int h = hexval(rng[i]);
            if (h < 0) s = recur_fail(err, RECUR_ERR_FORMAT, "%s: bad rng state", what);
            else st_rng[i / 16] = st_rng[i / 16] << 4 | (uint64_t)h;
        }
    }
    char *end = NULL;
    unsigned long long steps = s ? 0 : strtoull(step, &end, 10);
    if (!s && (end == step || *end)) s = recur_fail(err, RECUR_ERR_FORMAT, "%s: bad step count", what);
    /* Optimiser state tensors, all before anything is changed. */
    const char *state_names[2] = {t->state_b ? "exp_avg" : "momentum_buffer", "exp_avg_sq"};
    const st_tensor *found[2][512];
    int n_state = t->state_b ? 2 : 1;
    if (!s && m->n_tensors > 512) s = recur_fail(err, RECUR_ERR_UNSUPPORTED, "too many tensors");
    for (int k = 0; !s && k < n_state; k++)
        for (int i = 0; !s && i < m->n_tensors; i++) {
            char name[96];
            snprintf(name, sizeof name, "optim.%s.%s", state_names[k], m->tensors[i].name);
            int64_t shape[2] = {m->tensors[i].shape[0], m->tensors[i].shape[1]};
            s = st_expect(f, name, ST_F32, m->tensors[i].ndim, shape, &found[k][i], NULL, err);
        }
    if (!s) {
        memcpy(m->w, loaded->w, m->n_weights * sizeof(float));
        if (m->F) {
            memcpy(m->norm_mean, loaded->norm_mean, (size_t)m->F * sizeof(float));
            memcpy(m->norm_std, loaded->norm_std, (size_t)m->F * sizeof(float));
        }
        for (int k = 0; k < n_state; k++) {
            float *dst = k ? t->state_b : t->state_a;
            for (int i = 0; i < m->n_tensors; i++)
                memcpy(dst + m->tensors[i].offset, found[k][i]->data, m->tensors[i].size * sizeof(float));
        }
        for (int i = 0; i < loaded->n_meta; i++)
            if (!s) s = recur_model_set_meta(m, loaded->meta[2 * i], loaded->meta[2 * i + 1], err);
        t->step = steps;
        memcpy(t->rng.s, st_rng, sizeof st_rng);
        t->ps.tables_ready = 0;
    }
    recur_model_free(loaded);
    st_free(f);
    return s;
}
