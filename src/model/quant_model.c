/* recur_model_quantize and the quantized model file: see quant_model.h. */
#include "model/quant_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

const char *recur_dtype_name(recur_dtype dtype)
{
    return dtype == RECUR_DTYPE_INT8 ? "int8" : dtype == RECUR_DTYPE_BF16 ? "bf16" : "f32";
}

int recur_dtype_parse(const char *name)
{
    if (!name) return -1;
    if (strcmp(name, "f32") == 0 || strcmp(name, "fp32") == 0) return RECUR_DTYPE_F32;
    if (strcmp(name, "int8") == 0) return RECUR_DTYPE_INT8;
    if (strcmp(name, "bf16") == 0) return RECUR_DTYPE_BF16;
    return -1;
}

recur_dtype recur_model_dtype(const recur_model *m)
{
    return m && m->q ? m->q->dtype : RECUR_DTYPE_F32;
}

int qmodel_tensor_quantized(const recur_model *m, int i)
{
    const char *n = m->tensors[i].name;
    return strncmp(n, "rnn.weight_", 11) == 0 || strcmp(n, "out.weight") == 0;
}

void qmodel_free(qmodel *q)
{
    if (!q) return;
    for (int i = 0; i < q->st.LD; i++) {
        if (q->st.wih) qmat_free(&q->st.wih[i]);
        if (q->st.whh) qmat_free(&q->st.whh[i]);
        if (q->st.whhn) qmat_free(&q->st.whhn[i]);
    }
    qmat_free(&q->head);
    free(q->st.wih);
    free(q->st.whh);
    free(q->st.whhn);
    for (int i = 0; i < q->n; i++) {
        if (q->raw) free(q->raw[i]);
        if (q->scale) free(q->scale[i]);
    }
    free(q->raw);
    free(q->scale);
    free(q);
}

static qmodel *qmodel_new(const recur_model *m, recur_dtype dtype)
{
    qmodel *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    q->dtype = dtype;
    q->n = m->n_tensors;
    q->st.LD = m->st.L * m->st.D;
    q->raw = calloc((size_t)q->n, sizeof *q->raw);
    q->scale = calloc((size_t)q->n, sizeof *q->scale);
    q->st.wih = calloc((size_t)q->st.LD, sizeof *q->st.wih);
    q->st.whh = calloc((size_t)q->st.LD, sizeof *q->st.whh);
    q->st.whhn = calloc((size_t)q->st.LD, sizeof *q->st.whhn);
    if (!q->raw || !q->scale || !q->st.wih || !q->st.whh || !q->st.whhn) {
        qmodel_free(q);
        return NULL;
    }
    return q;
}

/* Index of the model tensor stored at p (a pointer into m->w). */
static int tensor_at(const recur_model *m, const float *p)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (m->w + m->tensors[i].offset == p) return i;
    return -1;
}

/* Dequantized values of tensor i into m->w. */
static void dequantize(recur_model *m, const qmodel *q, int i)
{
    const model_tensor *t = &m->tensors[i];
    float *w = m->w + t->offset;
    size_t cols = t->ndim == 2 ? (size_t)t->shape[1] : 1;
    for (size_t j = 0; j < t->size; j++)
        w[j] = q->dtype == RECUR_DTYPE_INT8 ? (float)((const int8_t *)q->raw[i])[j] * q->scale[i][j / cols]
                                             : quant_from_bf16(((const uint16_t *)q->raw[i])[j]);
}

/* One matrix of rows r0..r0+n-1 of tensor i. */
static int pack_rows(const recur_model *m, const qmodel *q, int i, int r0, int n, qmat *out)
{
    const model_tensor *t = &m->tensors[i];
    size_t K = (size_t)t->shape[1], esize = q->dtype == RECUR_DTYPE_INT8 ? 1 : 2;
    const unsigned char *raw = (const unsigned char *)q->raw[i] + (size_t)r0 * K * esize;
    return qmat_pack(out, q->dtype, n, (int)K, raw, K, q->scale[i] ? q->scale[i] + r0 : NULL);
}

/* The packed matrices of the stack, from q->raw. */
static int pack_stack(const recur_model *m, qmodel *q)
{
    const stack *st = &m->st;
    const int H = st->H, GH = st->G * H, gru = st->cell == RECUR_CELL_GRU, GA = gru ? 2 * H : GH;
    for (int l = 0; l < st->L; l++)
        for (int d = 0; d < st->D; d++) {
            int ld = l * st->D + d;
            int ih = tensor_at(m, stack_w_ih(st, l, d, 0)), hh = tensor_at(m, stack_w_hh(st, l, d, 0));
            if (ih < 0 || hh < 0) return -1;
            if (l > 0 && pack_rows(m, q, ih, 0, GH, &q->st.wih[ld])) return -1;
            if (pack_rows(m, q, hh, 0, GA, &q->st.whh[ld])) return -1;
            if (gru && pack_rows(m, q, hh, GA, H, &q->st.whhn[ld])) return -1;
        }
    return 0;
}

void qmodel_head(const recur_model *m, const qkernels *k, int n, const float *X, int ldx, float *Y)
{
    for (int r = 0; r < n; r++) memcpy(Y + (size_t)r * m->C, m->out_b, (size_t)m->C * sizeof *Y);
    quant_gemm(k, n, X, ldx, &m->q->head, Y, m->C, 1);
}

/* Attach q to m (packing the stack's products and the head). */
static recur_status attach(recur_model *m, qmodel *q, recur_error *err)
{
    int head = tensor_at(m, m->out_w);
    if (head < 0 || pack_stack(m, q) || pack_rows(m, q, head, 0, m->C, &q->head)) {
        qmodel_free(q);
        return recur_fail(err, RECUR_ERR_NOMEM, "out of memory for the quantized weights");
    }
    m->q = q;
    m->st.q = &q->st;
    m->wgen++; /* runners made before see the rounded weights */
    return RECUR_OK;
}

static recur_status check_sizes(const recur_model *m, recur_error *err)
{
    int widest = m->st.D * m->st.H; /* the head's input, and layer l > 0's */
    if (widest > QUANT_MAX_K)
        return recur_fail(err, RECUR_ERR_UNSUPPORTED,
                          "quantized kernels take layer inputs of at most %d values; this model has %d",
                          QUANT_MAX_K, widest);
    return RECUR_OK;
}

recur_status recur_model_quantize(recur_model *m, recur_dtype dtype, recur_error *err)
{
    if (!m) return recur_fail(err, RECUR_ERR_ARG, "quantize needs a model");
    if (dtype != RECUR_DTYPE_INT8 && dtype != RECUR_DTYPE_BF16)
        return recur_fail(err, RECUR_ERR_ARG, "quantize to int8 or bf16, not dtype %d", (int)dtype);
    if (m->q)
        return recur_fail(err, RECUR_ERR_UNSUPPORTED, "the model is already quantized (%s); quantize its fp32 original",
                          recur_dtype_name(m->q->dtype));
    RECUR_TRY(check_sizes(m, err));
    qmodel *q = qmodel_new(m, dtype);
    if (!q) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory for the quantized weights");
    for (int i = 0; i < m->n_tensors; i++) {
        if (!qmodel_tensor_quantized(m, i)) continue;
        const model_tensor *t = &m->tensors[i];
        const float *w = m->w + t->offset;
        int rows = t->shape[0], cols = t->shape[1];
        if (dtype == RECUR_DTYPE_INT8) {
            q->raw[i] = malloc(t->size ? t->size : 1);
            q->scale[i] = malloc((size_t)(rows ? rows : 1) * sizeof(float));
            if (q->raw[i] && q->scale[i]) quant_rows_int8(rows, cols, w, q->raw[i], q->scale[i]);
        } else {
            uint16_t *b = malloc((t->size ? t->size : 1) * sizeof *b);
            if (b)
                for (size_t j = 0; j < t->size; j++) b[j] = quant_to_bf16(w[j]);
            q->raw[i] = b;
        }
        if (!q->raw[i] || (dtype == RECUR_DTYPE_INT8 && !q->scale[i])) {
            qmodel_free(q);
            return recur_fail(err, RECUR_ERR_NOMEM, "out of memory for the quantized weights");
        }
    }
    for (int i = 0; i < m->n_tensors; i++)
        if (q->raw[i]) dequantize(m, q, i);
    return attach(m, q, err);
}

/* Element k of row r of tensor i as the model computes with it. */
static float stored_value(const qmodel *q, int i, size_t cols, size_t r, size_t k)
{
    size_t j = r * cols + k;
    return q->dtype == RECUR_DTYPE_INT8 ? (float)((const int8_t *)q->raw[i])[j] * q->scale[i][r]
                                        : quant_from_bf16(((const uint16_t *)q->raw[i])[j]);
}

static void *dup_bytes(const void *p, size_t n)
{
    void *d = malloc(n ? n : 1);
    if (d && n) memcpy(d, p, n);
    return d;
}

/*
 * A quantized model's weights written in m->w (through recur_model_param):
 * the rows that differ from the stored values are rounded again (int8: with
 * a new scale from the row's values; rows left alone keep their bytes and
 * scale, so a file's -128 or an unchanged row does not drift), into a new
 * qmodel that is packed before it replaces the old one: on failure the model
 * is as it was.
 */
static recur_status requantize(recur_model *m, recur_error *err)
{
    const qmodel *old = m->q;
    const int i8 = old->dtype == RECUR_DTYPE_INT8;
    for (int i = 0; i < m->n_tensors; i++) {
        if (!old->raw[i]) continue;
        const model_tensor *t = &m->tensors[i];
        size_t rows = (size_t)t->shape[0], cols = (size_t)t->shape[1];
        for (size_t r = 0; r < rows; r++)
            for (size_t k = 0; k < cols; k++) {
                float v = m->w[t->offset + r * cols + k];
                if (!isfinite(v))
                    return recur_fail(err, RECUR_ERR_ARG, "tensor \"%s\" row %zu column %zu: weight %g is not finite",
                                      t->name, r, k, (double)v);
            }
    }
    qmodel *q = qmodel_new(m, old->dtype);
    int bad = !q;
    for (int i = 0; !bad && i < m->n_tensors; i++) {
        if (!old->raw[i]) continue;
        const model_tensor *t = &m->tensors[i];
        size_t rows = (size_t)t->shape[0], cols = (size_t)t->shape[1];
        q->raw[i] = dup_bytes(old->raw[i], t->size * (i8 ? 1 : 2));
        q->scale[i] = old->scale[i] ? dup_bytes(old->scale[i], rows * sizeof(float)) : NULL;
        if (!q->raw[i] || (old->scale[i] && !q->scale[i])) {
            bad = 1;
            break;
        }
        for (size_t r = 0; r < rows; r++) {
            const float *w = m->w + t->offset + r * cols;
            size_t k = 0;
            while (k < cols && w[k] == stored_value(old, i, cols, r, k)) k++;
            if (k == cols) continue;
            if (i8) {
                quant_rows_int8(1, (int)cols, w, (int8_t *)q->raw[i] + r * cols, &q->scale[i][r]);
            } else {
                uint16_t *b = (uint16_t *)q->raw[i] + r * cols;
                for (k = 0; k < cols; k++) b[k] = quant_to_bf16(w[k]);
            }
        }
    }
    int head = tensor_at(m, m->out_w);
    if (bad || head < 0 || pack_stack(m, q) || pack_rows(m, q, head, 0, m->C, &q->head)) {
        qmodel_free(q);
        return recur_fail(err, RECUR_ERR_NOMEM, "out of memory for the quantized weights");
    }
    for (int i = 0; i < m->n_tensors; i++)
        if (q->raw[i]) dequantize(m, q, i);
    qmodel_free(m->q);
    m->q = q;
    m->st.q = &q->st;
    return RECUR_OK;
}

recur_status recur_model_weights_changed(recur_model *m, recur_error *err)
{
    if (!m) return recur_fail(err, RECUR_ERR_ARG, "weights_changed needs a model");
    if (m->q) RECUR_TRY(requantize(m, err));
    m->wgen++;
    return RECUR_OK;
}

/* ------------------------------------------------------------------------ */
/* Files                                                                     */
/* ------------------------------------------------------------------------ */

int qmodel_extra_tensor(const recur_model *m, const char *name)
{
    if (!m->q || m->q->dtype != RECUR_DTYPE_INT8) return 0;
    size_t n = strlen(name);
    if (n < 7 || strcmp(name + n - 6, ".scale") != 0) return 0;
    for (int i = 0; i < m->n_tensors; i++)
        if (qmodel_tensor_quantized(m, i) && strlen(m->tensors[i].name) == n - 6 &&
            strncmp(m->tensors[i].name, name, n - 6) == 0)
            return 1;
    return 0;
}

int qmodel_extra_count(const recur_model *m)
{
    int n = 0;
    for (int i = 0; m->q && i < m->n_tensors; i++) n += m->q->scale[i] != NULL;
    return n;
}

void qmodel_outputs(const recur_model *m, st_out *outs, st_out *extra, char (*names)[80])
{
    const qmodel *q = m->q;
    int k = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        if (!q->raw[i]) continue;
        outs[i].dtype = q->dtype == RECUR_DTYPE_INT8 ? ST_I8 : ST_BF16;
        outs[i].data = q->raw[i];
        if (!q->scale[i]) continue;
        snprintf(names[k], sizeof names[k], "%s.scale", m->tensors[i].name);
        memset(&extra[k], 0, sizeof extra[k]);
        extra[k].name = names[k];
        extra[k].dtype = ST_F32;
        extra[k].ndim = 1;
        extra[k].shape[0] = m->tensors[i].shape[0];
        extra[k].data = q->scale[i];
        k++;
    }
}

recur_status qmodel_read(const st_file *f, recur_model *m, recur_error *err)
{
    const char *what = st_what(f), *name = st_meta(f, "quantized");
    int dt = recur_dtype_parse(name);
    if (dt != RECUR_DTYPE_INT8 && dt != RECUR_DTYPE_BF16)
        return recur_fail(err, RECUR_ERR_FORMAT, "%s: metadata \"quantized\" must be int8 or bf16", what);
    recur_status s = check_sizes(m, err);
    if (s) return recur_fail(err, RECUR_ERR_FORMAT, "%s: %s", what, err ? err->message : "");
    qmodel *q = qmodel_new(m, (recur_dtype)dt);
    if (!q) return recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
    for (int i = 0; !s && i < m->n_tensors; i++) {
        const model_tensor *t = &m->tensors[i];
        int64_t shape[2] = {t->shape[0], t->shape[1]};
        const st_tensor *x = NULL;
        if (!qmodel_tensor_quantized(m, i)) {
            s = st_expect(f, t->name, ST_F32, t->ndim, shape, &x, NULL, err);
            if (!s) memcpy(m->w + t->offset, x->data, t->size * sizeof(float));
            continue;
        }
        s = st_expect(f, t->name, dt == RECUR_DTYPE_INT8 ? ST_I8 : ST_BF16, t->ndim, shape, &x, NULL, err);
        if (s) break;
        size_t esize = dt == RECUR_DTYPE_INT8 ? 1 : 2;
        q->raw[i] = malloc(t->size ? t->size * esize : 1);
        if (!q->raw[i]) {
            s = recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(q->raw[i], x->data, t->size * esize);
        if (dt == RECUR_DTYPE_BF16) {
            const uint16_t *b = q->raw[i];
            for (size_t j = 0; !s && j < t->size; j++)
                if ((b[j] & 0x7f80) == 0x7f80)
                    s = recur_fail(err, RECUR_ERR_FORMAT, "%s: tensor \"%s\" holds a non-finite value at element %zu",
                                   what, t->name, j);
            continue;
        }
        char sn[80];
        snprintf(sn, sizeof sn, "%s.scale", t->name);
        int64_t rows = t->shape[0];
        s = st_expect(f, sn, ST_F32, 1, &rows, &x, NULL, err);
        if (s) break;
        q->scale[i] = malloc((size_t)(rows ? rows : 1) * sizeof(float));
        if (!q->scale[i]) {
            s = recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(q->scale[i], x->data, (size_t)rows * sizeof(float));
        for (int64_t r = 0; !s && r < rows; r++)
            if (!(q->scale[i][r] >= 0.0f && q->scale[i][r] <= 3.0e38f))
                s = recur_fail(err, RECUR_ERR_FORMAT, "%s: tensor \"%s\" row %lld: scale %g is not a finite number >= 0",
                               what, sn, (long long)r, (double)q->scale[i][r]);
    }
    if (s) {
        qmodel_free(q);
        return s;
    }
    for (int i = 0; i < m->n_tensors; i++)
        if (q->raw[i]) dequantize(m, q, i);
    return attach(m, q, err);
}
