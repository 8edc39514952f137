/*
 * A batch from a data set in memory: the sequences named by an index list
 * copied into contiguous buffers. The one place that knows every field of
 * recur_batch, so a new kind of input or target is copied here alone.
 */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "fit/fit.h"

static int grow_bytes(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * size);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}
#define grow(p, cap, need) grow_bytes((void **)(p), (cap), (need), sizeof **(p))

void fit_gather_init(fit_gather_buf *buf, const recur_model *m)
{
    memset(buf, 0, sizeof *buf);
    const recur_model_config *c = recur_model_get_config(m);
    buf->F = c->input == RECUR_INPUT_DENSE ? c->input_size : 0;
    buf->O = c->target == RECUR_TARGET_REAL ? c->outputs : 0;
    buf->per_step = c->head == RECUR_HEAD_STEPS;
}

recur_status fit_gather(const recur_batch *data, const size_t *idx, size_t n, fit_gather_buf *buf,
                        recur_batch *out, recur_error *err)
{
    if (data->features && buf->F < 1)
        return recur_fail(err, RECUR_ERR_ARG, "the data have dense features the model does not read");
    if (data->targets && buf->O < 1)
        return recur_fail(err, RECUR_ERR_ARG, "the data have real targets the model does not read");
    if (n > (size_t)INT32_MAX) return recur_fail(err, RECUR_ERR_ARG, "batch of %zu sequences", n);
    size_t need = 0;
    for (size_t k = 0; k < n; k++) need += (size_t)(data->offsets[idx[k] + 1] - data->offsets[idx[k]]);
    if (need > (size_t)INT32_MAX) return recur_fail(err, RECUR_ERR_ARG, "batch of %zu steps", need);
    if (grow(&buf->tok, &buf->cap_tok, need ? need : 1) || grow(&buf->off, &buf->cap_off, n + 1) ||
        (data->labels && grow(&buf->lab, &buf->cap_lab, n + 1)) ||
        (data->features && grow(&buf->feat, &buf->cap_feat, (need ? need : 1) * (size_t)buf->F)) ||
        (data->step_labels && grow(&buf->step_lab, &buf->cap_step_lab, need ? need : 1)) ||
        (data->targets && grow(&buf->tgt, &buf->cap_tgt, (buf->per_step ? (need ? need : 1) : n + 1) * (size_t)buf->O)))
        return recur_fail(err, RECUR_ERR_NOMEM, "out of memory for a batch of %zu sequences", n);
    buf->off[0] = 0;
    for (size_t k = 0; k < n; k++) {
        size_t it = idx[k], len = (size_t)(data->offsets[it + 1] - data->offsets[it]);
        const size_t from = (size_t)data->offsets[it], to = (size_t)buf->off[k], F = (size_t)buf->F, O = (size_t)buf->O;
        if (data->tokens) memcpy(buf->tok + to, data->tokens + from, len * sizeof *buf->tok);
        if (data->features) memcpy(buf->feat + to * F, data->features + from * F, len * F * sizeof(float));
        if (data->step_labels) memcpy(buf->step_lab + to, data->step_labels + from, len * sizeof *buf->step_lab);
        if (data->targets && buf->per_step) memcpy(buf->tgt + to * O, data->targets + from * O, len * O * sizeof(float));
        if (data->targets && !buf->per_step) memcpy(buf->tgt + k * O, data->targets + it * O, O * sizeof(float));
        buf->off[k + 1] = buf->off[k] + (int32_t)len;
        if (data->labels) buf->lab[k] = data->labels[it];
    }
    *out = (recur_batch){.n = (int)n,
                         .tokens = data->tokens ? buf->tok : NULL,
                         .offsets = buf->off,
                         .labels = data->labels ? buf->lab : NULL,
                         .features = data->features ? buf->feat : NULL,
                         .step_labels = data->step_labels ? buf->step_lab : NULL,
                         .targets = data->targets ? buf->tgt : NULL};
    return RECUR_OK;
}

void fit_gather_free(fit_gather_buf *buf)
{
    free(buf->tok);
    free(buf->off);
    free(buf->lab);
    free(buf->step_lab);
    free(buf->feat);
    free(buf->tgt);
    int F = buf->F, O = buf->O, per_step = buf->per_step;
    memset(buf, 0, sizeof *buf);
    buf->F = F, buf->O = O, buf->per_step = per_step;
}
