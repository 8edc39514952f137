/*
 * A batch from a data set in memory: the sequences named by an index list
 * copied into contiguous buffers. The one place that knows every field of
 * recur_batch, so a new kind of input or target is copied here alone.
 */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "fit/fit.h"

static int grow(int32_t **p, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    int32_t *q = realloc(*p, c * sizeof *q);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

recur_status fit_gather(const recur_batch *data, const size_t *idx, size_t n, fit_gather_buf *buf,
                        recur_batch *out, recur_error *err)
{
    if (data->features || data->step_labels || data->targets)
        return recur_fail(err, RECUR_ERR_UNSUPPORTED, "the training driver gathers token sequences only");
    if (n > (size_t)INT32_MAX) return recur_fail(err, RECUR_ERR_ARG, "batch of %zu sequences", n);
    size_t need = 0;
    for (size_t k = 0; k < n; k++) need += (size_t)(data->offsets[idx[k] + 1] - data->offsets[idx[k]]);
    if (need > (size_t)INT32_MAX) return recur_fail(err, RECUR_ERR_ARG, "batch of %zu steps", need);
    if (grow(&buf->tok, &buf->cap_tok, need ? need : 1) || grow(&buf->off, &buf->cap_off, n + 1) ||
        (data->labels && grow(&buf->lab, &buf->cap_lab, n + 1)))
        return recur_fail(err, RECUR_ERR_NOMEM, "out of memory for a batch of %zu sequences", n);
    buf->off[0] = 0;
    for (size_t k = 0; k < n; k++) {
        size_t it = idx[k], len = (size_t)(data->offsets[it + 1] - data->offsets[it]);
        if (data->tokens) memcpy(buf->tok + buf->off[k], data->tokens + data->offsets[it], len * sizeof *buf->tok);
        buf->off[k + 1] = buf->off[k] + (int32_t)len;
        if (data->labels) buf->lab[k] = data->labels[it];
    }
    *out = (recur_batch){.n = (int)n,
                         .tokens = data->tokens ? buf->tok : NULL,
                         .offsets = buf->off,
                         .labels = data->labels ? buf->lab : NULL};
    return RECUR_OK;
}

void fit_gather_free(fit_gather_buf *buf)
{
    free(buf->tok);
    free(buf->off);
    free(buf->lab);
    memset(buf, 0, sizeof *buf);
}
