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

static const char *const task_names[] = {"classify", "generate", "tag", "regress"};

const char *recur_task_name(recur_task task)
{
    return (int)task >= 0 && (int)task < 4 ? task_names[task] : "unknown";
}

int recur_task_parse(const char *name)
{
    for (int i = 0; name && i < 4; i++)
        if (strcmp(name, task_names[i]) == 0) return i;
    return -1;
}

void recur_model_config_task(recur_model_config *cfg, recur_task task)
{
    cfg->task = task;
    cfg->loss = RECUR_LOSS_AUTO;
    switch (task) {
    case RECUR_TASK_GENERATE: cfg->head = RECUR_HEAD_STEPS; cfg->target = RECUR_TARGET_NEXT_TOKEN; break;
    case RECUR_TASK_TAG: cfg->head = RECUR_HEAD_STEPS; cfg->target = RECUR_TARGET_CLASS; break;
    case RECUR_TASK_REGRESS:
        cfg->head = RECUR_HEAD_FINAL;
        cfg->target = RECUR_TARGET_REAL;
        if (cfg->outputs < 1) cfg->outputs = 1;
        break;
    default: cfg->head = RECUR_HEAD_FINAL; cfg->target = RECUR_TARGET_CLASS; break;
    }
}

/* The task that head and target make, or -1. */
static int task_of(recur_head head, recur_target target)
{
    if (target == RECUR_TARGET_REAL) return RECUR_TASK_REGRESS;
    if (target == RECUR_TARGET_NEXT_TOKEN) return head == RECUR_HEAD_STEPS ? RECUR_TASK_GENERATE : -1;
    return head == RECUR_HEAD_STEPS ? RECUR_TASK_TAG : RECUR_TASK_CLASSIFY;
}

recur_status model_resolve_config(const recur_model_config *in, int V, int num_labels,
                                  recur_model_config *out, recur_error *err)
{
    recur_model_config c = *in;
    if ((int)c.task < 0 || (int)c.task > RECUR_TASK_REGRESS)
        return recur_fail(err, RECUR_ERR_ARG, "unknown task %d", (int)c.task);
    if ((int)c.input < 0 || c.input > RECUR_INPUT_DENSE)
        return recur_fail(err, RECUR_ERR_ARG, "unknown input kind %d", (int)c.input);
    if ((int)c.head < 0 || c.head > RECUR_HEAD_STEPS)
        return recur_fail(err, RECUR_ERR_ARG, "unknown head %d", (int)c.head);
    if ((int)c.target < 0 || c.target > RECUR_TARGET_REAL)
        return recur_fail(err, RECUR_ERR_ARG, "unknown target %d", (int)c.target);
    if ((int)c.loss < 0 || c.loss > RECUR_LOSS_HUBER)
        return recur_fail(err, RECUR_ERR_ARG, "unknown loss %d", (int)c.loss);
    /* Old callers made a generator by setting the task alone. */
    if (c.task == RECUR_TASK_GENERATE && c.target == RECUR_TARGET_CLASS && c.head == RECUR_HEAD_FINAL) {
        c.target = RECUR_TARGET_NEXT_TOKEN;
        c.head = RECUR_HEAD_STEPS;
    }
    int task = task_of(c.head, c.target);
    if (task < 0) return recur_fail(err, RECUR_ERR_ARG, "a next-token target needs a head on every step");
    /* CLASSIFY (0, the default) lets the properties decide; another task
     * must agree with them (a TAG with the default head is a mistake). */
    if (c.task != RECUR_TASK_CLASSIFY && (int)c.task != task)
        return recur_fail(err, RECUR_ERR_ARG,
                          "task %s does not match its head and target (they make %s); "
                          "set them with recur_model_config_task",
                          recur_task_name(c.task), recur_task_name((recur_task)task));
    c.task = (recur_task)task;
    int real = c.target == RECUR_TARGET_REAL, gen = c.target == RECUR_TARGET_NEXT_TOKEN;
    if (c.loss == RECUR_LOSS_AUTO) c.loss = real ? RECUR_LOSS_MSE : RECUR_LOSS_NLL;
    if (real && c.loss == RECUR_LOSS_NLL)
        return recur_fail(err, RECUR_ERR_ARG, "real targets need the MSE or Huber loss, not NLL");
    if (!real && c.loss != RECUR_LOSS_NLL)
        return recur_fail(err, RECUR_ERR_ARG, "class and token targets need the NLL loss");
    if (c.loss == RECUR_LOSS_HUBER) {
        if (c.huber_delta == 0.0f) c.huber_delta = 1.0f;
        if (!(c.huber_delta > 0.0f && c.huber_delta < 1e30f))
            return recur_fail(err, RECUR_ERR_ARG, "Huber delta %g must be positive", (double)c.huber_delta);
    } else {
        c.huber_delta = 0.0f;
    }
    if (real) {
        if (c.outputs < 1 || c.outputs > MAX_EMBED)
            return recur_fail(err, RECUR_ERR_ARG, "outputs %d out of range 1..%d", c.outputs, MAX_EMBED);
        if (num_labels != 0)
            return recur_fail(err, RECUR_ERR_ARG, "a regression model has no labels (got %d)", num_labels);
    } else {
        c.outputs = 0;
        if (num_labels < 1 || num_labels > MAX_LABELS)
            return recur_fail(err, RECUR_ERR_ARG, "%d labels (need 1..%d)", num_labels, MAX_LABELS);
        if (!gen && num_labels < 2)
            return recur_fail(err, RECUR_ERR_ARG, "a %s model needs at least 2 labels, got %d",
                              recur_task_name(c.task), num_labels);
    }
    if (c.input == RECUR_INPUT_DENSE) {
        if (gen) return recur_fail(err, RECUR_ERR_ARG, "a generation model reads tokens, not dense input");
        if (c.input_size < 1 || c.input_size > MAX_EMBED)
            return recur_fail(err, RECUR_ERR_ARG, "input size %d out of range 1..%d", c.input_size, MAX_EMBED);
        c.embed = 0;
    } else {
        c.input_size = 0;
        if (V < 3) return recur_fail(err, RECUR_ERR_ARG, "vocabulary of %d symbols is empty", V);
    }
    if (c.embed < 0 || c.embed > MAX_EMBED)
        return recur_fail(err, RECUR_ERR_ARG, "embedding size %d out of range 0..%d", c.embed, MAX_EMBED);
    if (c.label_embed < 0 || c.label_embed > MAX_EMBED)
        return recur_fail(err, RECUR_ERR_ARG, "label embedding size %d out of range 0..%d", c.label_embed, MAX_EMBED);
    if (!gen) c.label_embed = 0;
    if (gen && c.bidirectional)
        return recur_fail(err, RECUR_ERR_ARG, "a generation model cannot be bidirectional");
    if (c.bidirectional != 0 && c.bidirectional != 1)
        return recur_fail(err, RECUR_ERR_ARG, "bidirectional must be 0 or 1");
    int sym_w = c.input == RECUR_INPUT_DENSE ? c.input_size : c.embed ? c.embed : V;
    int lab_w = gen ? (c.label_embed ? c.label_embed : num_labels) : 0;
    stack st;
    RECUR_TRY(stack_init(&st, c.cell, sym_w + lab_w, c.hidden, c.layers, c.bidirectional ? 2 : 1, c.dropout, err));
    size_t n = model_param_count(&c, V, num_labels);
    if (n > MAX_WEIGHTS)
        return recur_fail(err, RECUR_ERR_ARG,
                          "a model of %zu weights (%.1f GiB) is too large: the limit is %zu weights (4 GiB); "
                          "use fewer layers or a smaller hidden size",
                          n, (double)n * sizeof(float) / (1u << 30), MAX_WEIGHTS);
    *out = c;
    return RECUR_OK;
}

size_t model_param_count(const recur_model_config *cfg, int V, int num_labels)
{
    int gen = cfg->target == RECUR_TARGET_NEXT_TOKEN || cfg->task == RECUR_TASK_GENERATE;
    int dense = cfg->input == RECUR_INPUT_DENSE;
    int sym_w = dense ? cfg->input_size : cfg->embed ? cfg->embed : V;
    int lab_w = gen ? (cfg->label_embed ? cfg->label_embed : num_labels) : 0;
    stack st;
    if (stack_init(&st, cfg->cell, sym_w + lab_w, cfg->hidden, cfg->layers, cfg->bidirectional ? 2 : 1,
                   cfg->dropout, NULL))
        return 0;
    size_t C = (size_t)(gen ? V : cfg->target == RECUR_TARGET_REAL ? cfg->outputs : num_labels);
    size_t F = (size_t)st.D * st.H;
    size_t n = (dense ? 0 : (size_t)V * cfg->embed) + stack_num_weights(&st) + C * F + C;
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
    if (!cfg || (num_labels > 0 && !labels))
        return recur_fail(err, RECUR_ERR_ARG, "model needs a configuration and its labels");
    if (!vocab && cfg->input != RECUR_INPUT_DENSE)
        return recur_fail(err, RECUR_ERR_ARG, "a token-input model needs a vocabulary");
    int V = vocab ? recur_vocab_size(vocab) : 0;
    recur_model_config c;
    RECUR_TRY(model_resolve_config(cfg, V, num_labels, &c, err));
    recur_model *m = calloc(1, sizeof *m);
    if (!m) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    m->cfg = c;
    m->V = V;
    m->num_labels = num_labels;
    int gen = model_gen(m), dense = model_dense(m);
    m->C = gen ? V : model_real(m) ? c.outputs : num_labels;
    m->F = dense ? c.input_size : 0;
    m->sym_w = dense ? m->F : c.embed ? c.embed : V;
    m->lab_w = gen ? (c.label_embed ? c.label_embed : num_labels) : 0;
    recur_status s = stack_init(&m->st, c.cell, m->sym_w + m->lab_w, c.hidden, c.layers,
                                c.bidirectional ? 2 : 1, c.dropout, err);
    if (s) goto fail;
    if (vocab) {
        s = recur_vocab_clone(vocab, &m->vocab, err);
        if (s) goto fail;
    }
    m->labels = calloc((size_t)num_labels + 1, sizeof *m->labels);
    m->tensors = calloc((size_t)(4 * m->st.L * m->st.D + 4), sizeof *m->tensors);
    if (!m->labels || !m->tensors) goto nomem;
    if (dense) {
        m->norm_mean = calloc((size_t)m->F, sizeof(float));
        m->norm_std = malloc((size_t)m->F * sizeof(float));
        if (!m->norm_mean || !m->norm_std) goto nomem;
        for (int i = 0; i < m->F; i++) m->norm_std[i] = 1.0f;
    }
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
    if (c.embed) add_tensor(m, "embed.weight", 2, V, c.embed, &off);
    if (gen && c.label_embed) add_tensor(m, "label_embed.weight", 2, num_labels, c.label_embed, &off);
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
    m->embed = c.embed ? m->w : NULL;
    m->label_embed = gen && c.label_embed ? m->w + (c.embed ? (size_t)V * c.embed : 0) : NULL;
    m->out_w = m->w + m->tensors[m->n_tensors - 2].offset;
    m->out_b = m->w + m->tensors[m->n_tensors - 1].offset;
    /* PyTorch's default initialisations: N(0,1) embeddings, U(+-1/sqrt(H))
     * recurrent weights, U(+-1/sqrt(fan_in)) for the linear layer. */
    recur_rng r;
    recur_rng_seed(&r, c.seed);
    if (m->embed)
        for (size_t i = 0; i < (size_t)V * c.embed; i++) m->embed[i] = recur_rng_normal(&r);
    if (m->label_embed)
        for (size_t i = 0; i < (size_t)num_labels * c.label_embed; i++) m->label_embed[i] = recur_rng_normal(&r);
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
    free(m->norm_mean);
    free(m->norm_std);
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
int recur_model_output_size(const recur_model *m) { return m->C; }
const float *recur_model_input_mean(const recur_model *m) { return m->norm_mean; }
const float *recur_model_input_std(const recur_model *m) { return m->norm_std; }

recur_status recur_model_set_input_norm(recur_model *m, const float *mean, const float *std,
                                        recur_error *err)
{
    if (!m || !mean || !std) return recur_fail(err, RECUR_ERR_ARG, "input norm needs a model, a mean and a std");
    if (!model_dense(m)) return recur_fail(err, RECUR_ERR_UNSUPPORTED, "a token-input model has no input norm");
    for (int i = 0; i < m->F; i++)
        if (!isfinite(mean[i]) || !(std[i] > 0.0f) || !isfinite(std[i]))
            return recur_fail(err, RECUR_ERR_ARG, "input norm of feature %d: mean %g, std %g (std must be positive)", i,
                              (double)mean[i], (double)std[i]);
    memcpy(m->norm_mean, mean, (size_t)m->F * sizeof(float));
    memcpy(m->norm_std, std, (size_t)m->F * sizeof(float));
    return RECUR_OK;
}

recur_status recur_model_fit_input_norm(recur_model *m, const recur_batch *data, const size_t *index,
                                        size_t n, recur_error *err)
{
    if (!m || !data) return recur_fail(err, RECUR_ERR_ARG, "input norm needs a model and data");
    if (!model_dense(m)) return recur_fail(err, RECUR_ERR_UNSUPPORTED, "a token-input model has no input norm");
    if (!data->features || !data->offsets || data->n < 1)
        return recur_fail(err, RECUR_ERR_ARG, "the data have no features");
    if (!index) n = (size_t)data->n;
    const int F = m->F;
    double *sum = calloc((size_t)F, sizeof(double)), *sq = calloc((size_t)F, sizeof(double));
    float *mean = malloc((size_t)F * sizeof(float)), *sd = malloc((size_t)F * sizeof(float));
    recur_status s = RECUR_OK;
    if (!sum || !sq || !mean || !sd) s = recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    /* Two passes (mean, then squared deviations): exact enough in double
     * for any data a float can hold. */
    size_t count = 0;
    for (int pass = 0; !s && pass < 2; pass++) {
        for (size_t k = 0; !s && k < n; k++) {
            size_t i = index ? index[k] : k;
            if (i >= (size_t)data->n) {
                s = recur_fail(err, RECUR_ERR_ARG, "index %zu is outside the data's %d sequences", i, data->n);
                break;
            }
            for (int32_t t = data->offsets[i]; t < data->offsets[i + 1]; t++) {
                const float *x = data->features + (size_t)t * F;
                for (int f = 0; f < F; f++) {
                    if (!isfinite(x[f])) {
                        s = recur_fail(err, RECUR_ERR_DATA, "sequence %zu, step %d: feature %d is %g", i,
                                       (int)(t - data->offsets[i]), f, (double)x[f]);
                        break;
                    }
                    if (pass == 0) sum[f] += x[f];
                    else sq[f] += ((double)x[f] - sum[f]) * ((double)x[f] - sum[f]);
                }
                if (s) break;
                if (pass == 0) count++;
            }
        }
        if (!s && count == 0) s = recur_fail(err, RECUR_ERR_ARG, "no steps to compute the input norm from");
        if (!s && pass == 0)
            for (int f = 0; f < F; f++) sum[f] /= (double)count;
    }
    if (!s) {
        for (int f = 0; f < F; f++) {
            double v = sqrt(sq[f] / (double)count);
            mean[f] = (float)sum[f];
            sd[f] = v < 1e-12 ? 1.0f : (float)v;
        }
        s = recur_model_set_input_norm(m, mean, sd, err);
    }
    free(sum);
    free(sq);
    free(mean);
    free(sd);
    return s;
}
size_t recur_model_num_weights(const recur_model *m) { return m->n_weights; }
float *recur_model_grads(recur_model *m) { return m ? m->g : NULL; }

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
