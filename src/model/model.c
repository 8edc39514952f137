/* recur_model: creation, parameters, metadata. */
#include "model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "model/quant_model.h"
#include "nn/gemm.h"

#define MAX_EMBED 65536
#define MAX_LABELS 100000
/* Each size is bounded on its own, but their product can still ask for tens
 * of gigabytes (--hidden 4096 --layers 16 --bidirectional: 6.4 billion
 * weights), which an overcommitting kernel grants and then kills the process
 * for when training touches it. 2^30 weights are 4 GiB of floats, 16 GiB
 * with the gradient and Adam's moments. */
#define MAX_WEIGHTS ((size_t)1 << 30)

void recur_model_config_default(recur_model_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->task = RECUR_TASK_CLASSIFY;
    cfg->cell = RECUR_CELL_LSTM;
    cfg->hidden = 128;
    cfg->layers = 1;
    cfg->embed = 64;
    cfg->label_embed = 16;
    cfg->seed = 1;
}

recur_status model_check_config(const recur_model_config *cfg, int V, int num_labels,
                                recur_error *err)
{
    if (cfg->task != RECUR_TASK_CLASSIFY && cfg->task != RECUR_TASK_GENERATE)
        return recur_fail(err, RECUR_ERR_ARG, "unknown task %d", (int)cfg->task);
    if (num_labels < 1 || num_labels > MAX_LABELS)
        return recur_fail(err, RECUR_ERR_ARG, "%d labels (need 1..%d)", num_labels, MAX_LABELS);
    if (cfg->task == RECUR_TASK_CLASSIFY && num_labels < 2)
        return recur_fail(err, RECUR_ERR_ARG, "a classifier needs at least 2 labels, got %d", num_labels);
    if (V < 3) return recur_fail(err, RECUR_ERR_ARG, "vocabulary of %d symbols is empty", V);
    if (cfg->embed < 0 || cfg->embed > MAX_EMBED)
        return recur_fail(err, RECUR_ERR_ARG, "embedding size %d out of range 0..%d", cfg->embed, MAX_EMBED);
    if (cfg->label_embed < 0 || cfg->label_embed > MAX_EMBED)
        return recur_fail(err, RECUR_ERR_ARG, "label embedding size %d out of range 0..%d", cfg->label_embed, MAX_EMBED);
    if (cfg->task == RECUR_TASK_GENERATE && cfg->bidirectional)
        return recur_fail(err, RECUR_ERR_ARG, "a generation model cannot be bidirectional");
    if (cfg->bidirectional != 0 && cfg->bidirectional != 1)
        return recur_fail(err, RECUR_ERR_ARG, "bidirectional must be 0 or 1");
    size_t n = model_param_count(cfg, V, num_labels);
    if (n > MAX_WEIGHTS)
        return recur_fail(err, RECUR_ERR_ARG,
                          "a model of %zu weights (%.1f GiB) is too large: the limit is %zu weights (4 GiB); "
                          "use fewer layers or a smaller hidden size",
                          n, (double)n * sizeof(float) / (1u << 30), MAX_WEIGHTS);
    return RECUR_OK;
}

size_t model_param_count(const recur_model_config *cfg, int V, int num_labels)
{
    int gen = cfg->task == RECUR_TASK_GENERATE;
    int sym_w = cfg->embed ? cfg->embed : V;
    int lab_w = gen ? (cfg->label_embed ? cfg->label_embed : num_labels) : 0;
    stack st;
    if (stack_init(&st, cfg->cell, sym_w + lab_w, cfg->hidden, cfg->layers, cfg->bidirectional ? 2 : 1,
                   cfg->dropout, NULL))
        return 0;
    size_t C = (size_t)(gen ? V : num_labels), F = (size_t)st.D * st.H;
    size_t n = (size_t)V * cfg->embed + stack_num_weights(&st) + C * F + C;
    if (gen && cfg->label_embed) n += (size_t)num_labels * cfg->label_embed;
    return n;
}

static recur_status add_tensor(recur_model *m, const char *name, int ndim, int s0, int s1,
                               size_t *off)
{
    model_tensor *t = &m->tensors[m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->shape[0] = s0;
    t->shape[1] = ndim == 2 ? s1 : 0;
    t->offset = *off;
    t->size = (size_t)s0 * (ndim == 2 ? (size_t)s1 : 1);
    *off += t->size;
    return RECUR_OK;
}

static void fill_uniform(float *p, size_t n, float k, recur_rng *r)
{
    for (size_t i = 0; i < n; i++) p[i] = (2.0f * recur_rng_uniform(r) - 1.0f) * k;
}

recur_status recur_model_create(const recur_model_config *cfg, const recur_vocab *vocab,
                                const char *const *labels, int num_labels,
                                recur_model **out, recur_error *err)
{
    *out = NULL;
    if (!cfg || !vocab || (num_labels > 0 && !labels))
        return recur_fail(err, RECUR_ERR_ARG, "model needs a configuration, a vocabulary and labels");
    int V = recur_vocab_size(vocab);
    RECUR_TRY(model_check_config(cfg, V, num_labels, err));
    recur_model *m = calloc(1, sizeof *m);
    if (!m) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    m->cfg = *cfg;
    m->V = V;
    m->num_labels = num_labels;
    int gen = cfg->task == RECUR_TASK_GENERATE;
    m->C = gen ? V : num_labels;
    m->sym_w = cfg->embed ? cfg->embed : V;
    m->lab_w = gen ? (cfg->label_embed ? cfg->label_embed : num_labels) : 0;
    if (!gen) m->cfg.label_embed = 0;
    recur_status s = stack_init(&m->st, cfg->cell, m->sym_w + m->lab_w, cfg->hidden, cfg->layers,
                                cfg->bidirectional ? 2 : 1, cfg->dropout, err);
    if (s) goto fail;
    s = recur_vocab_clone(vocab, &m->vocab, err);
    if (s) goto fail;
    m->labels = calloc((size_t)num_labels, sizeof *m->labels);
    m->tensors = calloc((size_t)(4 * m->st.L * m->st.D + 4), sizeof *m->tensors);
    if (!m->labels || !m->tensors) goto nomem;
    for (int i = 0; i < num_labels; i++) {
        for (int j = 0; j < i; j++)
            if (strcmp(labels[i], labels[j]) == 0) {
                s = recur_fail(err, RECUR_ERR_ARG, "label \"%s\" appears twice", labels[i]);
                goto fail;
            }
        if (!(m->labels[i] = strdup(labels[i]))) goto nomem;
    }
    /* Tensor table, in file order. */
    size_t off = 0;
    if (cfg->embed) add_tensor(m, "embed.weight", 2, V, cfg->embed, &off);
    if (gen && cfg->label_embed) add_tensor(m, "label_embed.weight", 2, num_labels, cfg->label_embed, &off);
    size_t rnn_off = off;
    for (int k = 0; k < 4 * m->st.L * m->st.D; k++) {
        char name[40];
        int ndim, shape[2];
        size_t o;
        stack_tensor(&m->st, k, name, sizeof name, &ndim, shape, &o);
        char full[48];
        snprintf(full, sizeof full, "rnn.%s", name);
        add_tensor(m, full, ndim, shape[0], shape[1], &off);
    }
    add_tensor(m, "out.weight", 2, m->C, model_features(m), &off);
    add_tensor(m, "out.bias", 1, m->C, 0, &off);
    m->n_weights = off;
    m->w = calloc(off, sizeof(float));
    m->g = calloc(off, sizeof(float));
    if (!m->w || !m->g) goto nomem;
    m->st.w = m->w + rnn_off;
    m->st.g = m->g + rnn_off;
    m->embed = cfg->embed ? m->w : NULL;
    m->label_embed = gen && cfg->label_embed ? m->w + (cfg->embed ? (size_t)V * cfg->embed : 0) : NULL;
    m->out_w = m->w + m->tensors[m->n_tensors - 2].offset;
    m->out_b = m->w + m->tensors[m->n_tensors - 1].offset;
    /* PyTorch's default initialisations: N(0,1) embeddings, U(+-1/sqrt(H))
     * recurrent weights, U(+-1/sqrt(fan_in)) for the linear layer. */
    recur_rng r;
    recur_rng_seed(&r, cfg->seed);
    if (m->embed)
        for (size_t i = 0; i < (size_t)V * cfg->embed; i++) m->embed[i] = recur_rng_normal(&r);
    if (m->label_embed)
        for (size_t i = 0; i < (size_t)num_labels * cfg->label_embed; i++) m->label_embed[i] = recur_rng_normal(&r);
    stack_init_weights(&m->st, &r);
    float k = 1.0f / sqrtf((float)model_features(m));
    fill_uniform(m->out_w, (size_t)m->C * model_features(m), k, &r);
    fill_uniform(m->out_b, (size_t)m->C, k, &r);
    *out = m;
    return RECUR_OK;
nomem:
    s = recur_fail(err, RECUR_ERR_NOMEM, "out of memory creating a model");
fail:
    recur_model_free(m);
    return s;
}

void recur_model_free(recur_model *m)
{
    if (!m) return;
    recur_vocab_free(m->vocab);
    if (m->labels)
        for (int i = 0; i < m->num_labels; i++) free(m->labels[i]);
    free(m->labels);
    for (int i = 0; i < 2 * m->n_meta; i++) free(m->meta[i]);
    free(m->meta);
    free(m->tensors);
    free(m->w);
    free(m->g);
    qmodel_free(m->q);
    free(m);
}

const recur_model_config *recur_model_get_config(const recur_model *m) { return &m->cfg; }
const recur_vocab *recur_model_vocab(const recur_model *m) { return m->vocab; }
int recur_model_num_labels(const recur_model *m) { return m->num_labels; }

const char *recur_model_label_name(const recur_model *m, int label)
{
    return label >= 0 && label < m->num_labels ? m->labels[label] : NULL;
}

int recur_model_label_find(const recur_model *m, const char *name)
{
    for (int i = 0; i < m->num_labels; i++)
        if (strcmp(m->labels[i], name) == 0) return i;
    return -1;
}

int recur_model_param_count(const recur_model *m) { return m->n_tensors; }
size_t recur_model_num_weights(const recur_model *m) { return m->n_weights; }

recur_param recur_model_param(const recur_model *m, int i)
{
    recur_param p = {0};
    if (i < 0 || i >= m->n_tensors) return p;
    const model_tensor *t = &m->tensors[i];
    p.name = t->name;
    p.ndim = t->ndim;
    p.shape[0] = t->shape[0];
    p.shape[1] = t->shape[1];
    p.data = m->w + t->offset;
    p.grad = m->g + t->offset;
    return p;
}

recur_status recur_model_set_meta(recur_model *m, const char *key, const char *value,
                                  recur_error *err)
{
    if (!key || !*key || !value) return recur_fail(err, RECUR_ERR_ARG, "metadata needs a key and a value");
    for (int i = 0; i < m->n_meta; i++)
        if (strcmp(m->meta[2 * i], key) == 0) {
            char *v = strdup(value);
            if (!v) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
            free(m->meta[2 * i + 1]);
            m->meta[2 * i + 1] = v;
            return RECUR_OK;
        }
    char **n = realloc(m->meta, (size_t)(m->n_meta + 1) * 2 * sizeof *n);
    if (!n) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    m->meta = n;
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    }
    m->meta[2 * m->n_meta] = k;
    m->meta[2 * m->n_meta + 1] = v;
    m->n_meta++;
    return RECUR_OK;
}

const char *recur_model_get_meta(const recur_model *m, const char *key)
{
    for (int i = 0; i < m->n_meta; i++)
        if (strcmp(m->meta[2 * i], key) == 0) return m->meta[2 * i + 1];
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Layer 0's input as lookup tables                                         */
/* ------------------------------------------------------------------------ */

/* The products of the tables: through the workspace's kernels when there
 * is one, else through BLAS. */
static void table_gemm(stack_ws *ws, int ta, int tb, int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, int accumulate, float *C, int ldc)
{
    if (ws) stack_gemm(ws, ta, tb, M, N, K, A, lda, B, ldb, accumulate, C, ldc);
    else gemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, accumulate ? 1.0f : 0.0f, C, ldc);
}

void model_input_tables(const recur_model *m, stack_ws *ws, int d, float *P_sym, float *P_lab)
{
    const int GH = m->st.G * m->st.H, I = m->st.I;
    const float *W = stack_w_ih(&m->st, 0, d, 0);
    if (m->embed) {
        table_gemm(ws, 0, 1, m->V, GH, m->cfg.embed, m->embed, m->cfg.embed, W, I, 0, P_sym, GH);
    } else {
        for (int v = 0; v < m->V; v++)
            for (int g = 0; g < GH; g++) P_sym[(size_t)v * GH + g] = W[(size_t)g * I + v];
    }
    /* Every symbol's row carries the layer's input bias (b_ih, and b_hh
     * where it folds: see stack_input_bias). */
    const int fold = m->st.cell == RECUR_CELL_GRU ? 2 * m->st.H : GH;
    const float *bi = stack_b_ih(&m->st, 0, d, 0), *bh = stack_b_hh(&m->st, 0, d, 0);
    for (int v = 0; v < m->V; v++) {
        float *row = P_sym + (size_t)v * GH;
        for (int g = 0; g < GH; g++) row[g] += bi[g] + (g < fold ? bh[g] : 0.0f);
    }
    if (!m->lab_w) return;
    const float *Wl = W + m->sym_w;
    if (m->label_embed) {
        table_gemm(ws, 0, 1, m->num_labels, GH, m->cfg.label_embed, m->label_embed, m->cfg.label_embed, Wl, I,
                   0, P_lab, GH);
    } else {
        for (int l = 0; l < m->num_labels; l++)
            for (int g = 0; g < GH; g++) P_lab[(size_t)l * GH + g] = Wl[(size_t)g * I + l];
    }
}

void model_input_tables_backward(recur_model *m, stack_ws *ws, int d, const float *dP_sym,
                                 const float *dP_lab)
{
    const int GH = m->st.G * m->st.H, I = m->st.I;
    const float *W = stack_w_ih(&m->st, 0, d, 0);
    float *dW = stack_w_ih(&m->st, 0, d, 1), *db = stack_b_ih(&m->st, 0, d, 1);
    for (int v = 0; v < m->V; v++)
        for (int g = 0; g < GH; g++) db[g] += dP_sym[(size_t)v * GH + g];
    if (m->embed) {
        table_gemm(ws, 1, 0, GH, m->cfg.embed, m->V, dP_sym, GH, m->embed, m->cfg.embed, 1, dW, I);
        table_gemm(ws, 0, 0, m->V, m->cfg.embed, GH, dP_sym, GH, W, I, 1, model_grad(m, m->embed), m->cfg.embed);
    } else {
        for (int g = 0; g < GH; g++)
            for (int v = 0; v < m->V; v++) dW[(size_t)g * I + v] += dP_sym[(size_t)v * GH + g];
    }
    if (!m->lab_w) return;
    const float *Wl = W + m->sym_w;
    float *dWl = dW + m->sym_w;
    int NL = m->num_labels;
    if (m->label_embed) {
        int LE = m->cfg.label_embed;
        table_gemm(ws, 1, 0, GH, LE, NL, dP_lab, GH, m->label_embed, LE, 1, dWl, I);
        table_gemm(ws, 0, 0, NL, LE, GH, dP_lab, GH, Wl, I, 1, model_grad(m, m->label_embed), LE);
    } else {
        for (int g = 0; g < GH; g++)
            for (int l = 0; l < NL; l++) dWl[(size_t)g * I + l] += dP_lab[(size_t)l * GH + g];
    }
}
