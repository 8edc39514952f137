/*
 * The JSON side of an Open Inference Protocol v2 infer request, checked to
 * the last byte: every way a body can be wrong gets one line for a 400,
 * and nothing here trusts a length, a type or a nesting it has not checked.
 *
 *   {"id": "...", "inputs": [{"name": "text", "shape": [n], "datatype": "BYTES",
 *                             "data": ["Dovesky", ...]}],
 *    "outputs": [{"name": "label", "parameters": {"classification": 3}}],
 *    "parameters": {"classification": 3, "label": "Russian", "start": "Ka",
 *                   "temperature": 0.8, "top_k": 0, "seed": 1, "count": 5}}
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "serve.h"

int serve_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < len;) {
        unsigned c = s[i];
        size_t k;
        unsigned cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) k = 1, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0) k = 2, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0) k = 3, cp = c & 0x07, min = 0x10000;
        else return 0;
        if (len - i <= k) return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += k + 1;
    }
    return 1;
}

static int fail(char *msg, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *msg, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
    /* One line, whatever the request's strings held. */
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20) *p = '?';
    return 400;
}

void serve_infer_free(serve_infer *r)
{
    if (!r) return;
    if (r->texts)
        for (int i = 0; i < r->n; i++) free(r->texts[i]);
    free(r->texts);
    free(r->lens);
    free(r->id);
    free(r->input_name);
    free(r->label);
    free(r->start);
    memset(r, 0, sizeof *r);
}

/* A copy of a JSON string that must be valid UTF-8 (cJSON passes raw bytes
 * through). NULL with msg set on failure. */
static char *dup_string(const cJSON *j, const char *what, size_t max, int *rc, char *msg, size_t cap)
{
    size_t n = strlen(j->valuestring);
    if (!serve_utf8_valid(j->valuestring, n)) {
        *rc = fail(msg, cap, "%s is not valid UTF-8", what);
        return NULL;
    }
    if (n > max) {
        *rc = fail(msg, cap, "%s is %zu bytes long; the limit is %zu", what, n, max);
        return NULL;
    }
    char *s = malloc(n + 1);
    if (!s) {
        *rc = fail(msg, cap, "out of memory");
        return NULL;
    }
    memcpy(s, j->valuestring, n + 1);
    return s;
}

/* An integer parameter in [lo, hi]. 0 or 400. */
static int get_int(const cJSON *j, const char *what, double lo, double hi, double *out, char *msg, size_t cap)
{
    if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble) || j->valuedouble != floor(j->valuedouble))
        return fail(msg, cap, "%s must be an integer", what);
    if (j->valuedouble < lo || j->valuedouble > hi)
        return fail(msg, cap, "%s %.17g is out of range %.17g..%.17g", what, j->valuedouble, lo, hi);
    *out = j->valuedouble;
    return 0;
}

/* Triton's classification extension: {"classification": N}, N in 0..C. */
static int get_classification(const cJSON *params, int num_labels, int *out, char *msg, size_t cap)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(params, "classification");
    if (!c) return 0;
    double v;
    if (get_int(c, "parameter 'classification'", 0, num_labels, &v, msg, cap)) return 400;
    *out = (int)v;
    return 0;
}

/* Flatten `data` (nested arrays of strings) into r->texts, in row-major
 * order, at most lim->max_batch of them and at most 4 levels deep. */
static int collect_texts(const cJSON *a, int depth, serve_infer *r, const serve_limits *lim, char *msg, size_t cap)
{
    if (depth > 4) return fail(msg, cap, "input 'data' is nested more than 4 levels deep");
    const cJSON *e;
    cJSON_ArrayForEach(e, a)
    {
        if (cJSON_IsArray(e)) {
            int rc = collect_texts(e, depth + 1, r, lim, msg, cap);
            if (rc) return rc;
            continue;
        }
        if (!cJSON_IsString(e))
            return fail(msg, cap, "input 'data' element %d is not a string: a BYTES input holds texts", r->n);
        if (r->n >= lim->max_batch)
            return fail(msg, cap, "more than %d texts in one request (the batch limit)", lim->max_batch);
        char what[64];
        snprintf(what, sizeof what, "text %d", r->n);
        int rc = 0;
        char *s = dup_string(e, what, lim->max_text, &rc, msg, cap);
        if (!s) return rc;
        if (!*s) {
            free(s);
            return fail(msg, cap, "text %d is empty", r->n);
        }
        r->lens[r->n] = strlen(s);
        r->texts[r->n++] = s;
    }
    return 0;
}

static int parse_input(const cJSON *in, serve_infer *r, const serve_limits *lim, char *msg, size_t cap)
{
    if (!cJSON_IsObject(in)) return fail(msg, cap, "'inputs' must hold objects");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(in, "name");
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(in, "datatype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(in, "shape");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(in, "data");
    int rc = 0;
    if (!cJSON_IsString(name)) return fail(msg, cap, "input needs a 'name' string");
    if (!(r->input_name = dup_string(name, "input name", 256, &rc, msg, cap))) return rc;
    if (!cJSON_IsString(dt)) return fail(msg, cap, "input '%s' needs a 'datatype' string", r->input_name);
    if (strcmp(dt->valuestring, "BYTES") != 0)
        return fail(msg, cap, "input '%s': datatype '%.32s' is not supported: this model reads texts (BYTES)",
                    r->input_name, serve_utf8_valid(dt->valuestring, strlen(dt->valuestring)) ? dt->valuestring : "?");
    if (!cJSON_IsArray(shape) || cJSON_GetArraySize(shape) < 1 || cJSON_GetArraySize(shape) > 4)
        return fail(msg, cap, "input '%s' needs a 'shape' of 1 to 4 integers", r->input_name);
    double elems = 1;
    const cJSON *d;
    cJSON_ArrayForEach(d, shape)
    {
        double v;
        if (get_int(d, "a 'shape' dimension", 0, SERVE_MAX_BATCH, &v, msg, cap)) return 400;
        elems *= v;
    }
    if (!cJSON_IsArray(data)) return fail(msg, cap, "input '%s' needs a 'data' array", r->input_name);
    if (elems > lim->max_batch)
        return fail(msg, cap, "input '%s': shape of %.0f texts; the limit is %d", r->input_name, elems, lim->max_batch);
    if (elems < 1) return fail(msg, cap, "input '%s' holds no text", r->input_name);
    r->texts = calloc((size_t)lim->max_batch, sizeof *r->texts);
    r->lens = calloc((size_t)lim->max_batch, sizeof *r->lens);
    if (!r->texts || !r->lens) return fail(msg, cap, "out of memory");
    if ((rc = collect_texts(data, 1, r, lim, msg, cap))) return rc;
    if (r->n != (int)elems)
        return fail(msg, cap, "input '%s': 'data' holds %d texts but 'shape' says %.0f", r->input_name, r->n, elems);
    return 0;
}

/* The requested outputs: by name, each with its own classification. */
static int parse_outputs(const cJSON *outs, recur_task task, int num_labels, serve_infer *r, char *msg, size_t cap)
{
    if (!cJSON_IsArray(outs)) return fail(msg, cap, "'outputs' must be an array");
    const cJSON *o;
    cJSON_ArrayForEach(o, outs)
    {
        const cJSON *name = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, "name") : NULL;
        if (!cJSON_IsString(name)) return fail(msg, cap, "each of 'outputs' needs a 'name' string");
        const char *s = name->valuestring;
        int known = 1;
        if (task == RECUR_TASK_CLASSIFY && strcmp(s, "label") == 0) r->want_label = 1;
        else if (task == RECUR_TASK_CLASSIFY && strcmp(s, "logprobs") == 0) r->want_logprobs = 1;
        else if (task == RECUR_TASK_GENERATE && strcmp(s, "text") == 0) r->want_text = 1;
        else if (task == RECUR_TASK_GENERATE && strcmp(s, "logprob") == 0) r->want_logprob = 1;
        else known = 0;
        if (!known)
            return fail(msg, cap, "unknown output '%.64s' (this model has %s)",
                        serve_utf8_valid(s, strlen(s)) ? s : "?",
                        task == RECUR_TASK_CLASSIFY ? "'label' and 'logprobs'" : "'text' and 'logprob'");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "parameters");
        if (p && !cJSON_IsObject(p)) return fail(msg, cap, "output 'parameters' must be an object");
        if (p && get_classification(p, num_labels, &r->classification, msg, cap)) return 400;
    }
    return 0;
}

static int parse_generate_params(const cJSON *p, serve_infer *r, int num_labels, char *msg, size_t cap)
{
    const cJSON *j;
    double v;
    int rc = 0;
    if ((j = cJSON_GetObjectItemCaseSensitive(p, "label"))) {
        if (!cJSON_IsString(j)) return fail(msg, cap, "parameter 'label' must be a string (a label name)");
        if (!(r->label = dup_string(j, "parameter 'label'", 256, &rc, msg, cap))) return rc;
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(p, "start"))) {
        if (!cJSON_IsString(j)) return fail(msg, cap, "parameter 'start' must be a string");
        if (!(r->start = dup_string(j, "parameter 'start'", SERVE_MAX_LENGTH, &rc, msg, cap))) return rc;
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(p, "temperature"))) {
        if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble) || !(j->valuedouble > 0) || j->valuedouble > 100)
            return fail(msg, cap, "parameter 'temperature' must be a number in (0, 100]");
        r->temperature = j->valuedouble;
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(p, "top_k"))) {
        if (get_int(j, "parameter 'top_k'", 0, 1000000, &v, msg, cap)) return 400;
        r->top_k = (int)v;
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(p, "seed"))) {
        /* JSON numbers are doubles: integers up to 2^53 are exact. */
        if (get_int(j, "parameter 'seed'", 0, 9007199254740992.0, &v, msg, cap)) return 400;
        r->seed = (uint64_t)v;
        r->has_seed = 1;
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(p, "count"))) {
        if (get_int(j, "parameter 'count'", 1, SERVE_MAX_COUNT, &v, msg, cap)) return 400;
        r->count = (int)v;
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(p, "max_length"))) {
        if (get_int(j, "parameter 'max_length'", 1, SERVE_MAX_LENGTH, &v, msg, cap)) return 400;
        r->max_length = (int)v;
    }
    (void)num_labels;
    return 0;
}

/* The body of an infer request as a JSON object (*root: the caller's to
 * cJSON_Delete, also on failure) and a copy of its "id" (NULL if none).
 * 0, or 400 with msg. */
static int parse_root(const char *body, size_t len, cJSON **root, char **id, char *msg, size_t cap)
{
    *root = NULL;
    if (len == 0) return fail(msg, cap, "empty body: an infer request is a JSON object");
    const char *end = NULL;
    *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!*root) {
        size_t at = end && end >= body && end <= body + len ? (size_t)(end - body) : 0;
        return fail(msg, cap, "malformed JSON at byte %zu", at);
    }
    if (!cJSON_IsObject(*root)) return fail(msg, cap, "the body must be a JSON object");
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(*root, "id");
    if (!j) return 0;
    if (!cJSON_IsString(j)) return fail(msg, cap, "'id' must be a string");
    int rc = 0;
    return (*id = dup_string(j, "'id'", 256, &rc, msg, cap)) ? 0 : rc;
}

int serve_parse_infer(const char *body, size_t len, recur_task task, int num_labels, const serve_limits *lim,
                      serve_infer *r, char *msg, size_t cap)
{
    memset(r, 0, sizeof *r);
    r->temperature = 0.8;
    r->count = 1;
    r->max_length = 40;
    msg[0] = '\0';
    cJSON *root;
    int rc = parse_root(body, len, &root, &r->id, msg, cap);
    if (rc) goto done;
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "parameters");
    if (params && !cJSON_IsObject(params)) {
        rc = fail(msg, cap, "'parameters' must be an object");
        goto done;
    }
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(root, "inputs");
    if (inputs && !cJSON_IsArray(inputs)) {
        rc = fail(msg, cap, "'inputs' must be an array");
        goto done;
    }
    int nin = inputs ? cJSON_GetArraySize(inputs) : 0;
    if (task == RECUR_TASK_CLASSIFY) {
        if (nin != 1) {
            rc = fail(msg, cap, "a classifier takes exactly one input (BYTES texts); got %d", nin);
            goto done;
        }
        if ((rc = parse_input(cJSON_GetArrayItem(inputs, 0), r, lim, msg, cap))) goto done;
        if (params && (rc = get_classification(params, num_labels, &r->classification, msg, cap))) goto done;
    } else {
        if (nin != 0) {
            rc = fail(msg, cap, "a generation model takes no inputs: give 'label', 'start', 'count', ... as parameters");
            goto done;
        }
        if (params && (rc = parse_generate_params(params, r, num_labels, msg, cap))) goto done;
        if (!r->label) {
            rc = fail(msg, cap, "a generation model needs the parameter 'label' (the label to draw names of)");
            goto done;
        }
    }
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(root, "outputs");
    if (outs && (rc = parse_outputs(outs, task, num_labels, r, msg, cap))) goto done;
    if (!r->want_label && !r->want_logprobs && !r->want_text && !r->want_logprob) {
        /* No outputs named: all of them (the label only with classification). */
        r->want_label = r->want_text = r->want_logprob = 1;
        r->want_logprobs = r->classification == 0;
    }
done:
    cJSON_Delete(root);
    return rc;
}

void serve_dense_free(serve_dense *d)
{
    if (!d) return;
    free(d->id);
    free(d->x);
    free(d->lengths);
    memset(d, 0, sizeof *d);
}

/* Numbers of `a` (nested at most 3 levels) into out[*n..cap), row-major. */
static int collect_numbers(const cJSON *a, int depth, float *out, size_t cap, size_t *n, const char *what,
                           char *msg, size_t mcap)
{
    if (depth > 3) return fail(msg, mcap, "input '%s': 'data' is nested more than 3 levels deep", what);
    const cJSON *e;
    cJSON_ArrayForEach(e, a)
    {
        if (cJSON_IsArray(e)) {
            int rc = collect_numbers(e, depth + 1, out, cap, n, what, msg, mcap);
            if (rc) return rc;
            continue;
        }
        if (!cJSON_IsNumber(e)) return fail(msg, mcap, "input '%s': 'data' element %zu is not a number", what, *n);
        if (*n >= cap) return fail(msg, mcap, "input '%s': 'data' holds more values than 'shape' says", what);
        float v = (float)e->valuedouble;
        if (!isfinite(v))
            return fail(msg, mcap, "input '%s': value %zu (%g) does not fit a float", what, *n, e->valuedouble);
        out[(*n)++] = v;
    }
    return 0;
}

/* The shape of input `in`: 1..3 integers into dims; the count or -1 (400). */
static int get_shape(const cJSON *in, const char *what, double *dims, char *msg, size_t cap)
{
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(in, "shape");
    int nd = cJSON_IsArray(shape) ? cJSON_GetArraySize(shape) : 0;
    if (nd < 1 || nd > 3) {
        fail(msg, cap, "input '%s' needs a 'shape' of 1 to 3 integers", what);
        return -1;
    }
    int k = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, shape)
    {
        if (get_int(d, "a 'shape' dimension", 1, SERVE_MAX_VALUES, &dims[k++], msg, cap)) return -1;
    }
    return nd;
}

int serve_parse_dense(const char *body, size_t len, int F, const serve_limits *lim, serve_dense *r, char *msg,
                      size_t cap)
{
    memset(r, 0, sizeof *r);
    r->F = F;
    msg[0] = '\0';
    cJSON *root;
    const cJSON *x = NULL, *lens = NULL, *in;
    int rc = parse_root(body, len, &root, &r->id, msg, cap);
    if (rc) goto done;
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(root, "inputs");
    if (!cJSON_IsArray(inputs) || cJSON_GetArraySize(inputs) < 1 || cJSON_GetArraySize(inputs) > 2) {
        rc = fail(msg, cap, "a dense model takes one FP32 input [T, %d] or [N, T, %d], and optionally INT32 'lengths'",
                  F, F);
        goto done;
    }
    cJSON_ArrayForEach(in, inputs)
    {
        const cJSON *name = cJSON_IsObject(in) ? cJSON_GetObjectItemCaseSensitive(in, "name") : NULL;
        const cJSON *dt = cJSON_IsObject(in) ? cJSON_GetObjectItemCaseSensitive(in, "datatype") : NULL;
        if (!cJSON_IsString(name) || !cJSON_IsString(dt)) {
            rc = fail(msg, cap, "each input needs a 'name' and a 'datatype' string");
            goto done;
        }
        const char *d = dt->valuestring;
        if (strcmp(d, "FP32") == 0 && !x) x = in;
        else if ((strcmp(d, "INT32") == 0 || strcmp(d, "INT64") == 0) && strcmp(name->valuestring, "lengths") == 0 &&
                 !lens)
            lens = in;
        else {
            rc = fail(msg, cap, "input '%.64s' (%.16s): a dense model reads one FP32 input and INT32 'lengths'",
                      serve_utf8_valid(name->valuestring, strlen(name->valuestring)) ? name->valuestring : "?",
                      serve_utf8_valid(d, strlen(d)) ? d : "?");
            goto done;
        }
    }
    if (!x) {
        rc = fail(msg, cap, "no FP32 input: a dense model reads features [T, %d] or [N, T, %d]", F, F);
        goto done;
    }
    double dims[3];
    int nd = get_shape(x, "features", dims, msg, cap);
    if (nd < 0) {
        rc = 400;
        goto done;
    }
    if (nd < 2 || dims[nd - 1] != F) {
        rc = fail(msg, cap, "input shape must be [T, %d] or [N, T, %d] (the model reads %d features per step)", F, F,
                  F);
        goto done;
    }
    r->batched = nd == 3;
    double N = r->batched ? dims[0] : 1, T = dims[nd - 2];
    if (N > lim->max_batch) {
        rc = fail(msg, cap, "%.0f sequences in one request; the limit is %d", N, lim->max_batch);
        goto done;
    }
    if (N * T * F > SERVE_MAX_VALUES) {
        rc = fail(msg, cap, "%.0f values in one request; the limit is %d", N * T * F, SERVE_MAX_VALUES);
        goto done;
    }
    r->n = (int)N;
    r->T = (int)T;
    size_t want = (size_t)N * (size_t)T * (size_t)F, got = 0;
    r->x = malloc(want * sizeof *r->x);
    r->lengths = malloc((size_t)r->n * sizeof *r->lengths);
    if (!r->x || !r->lengths) {
        rc = fail(msg, cap, "out of memory");
        goto done;
    }
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(x, "data");
    if (!cJSON_IsArray(data)) {
        rc = fail(msg, cap, "the FP32 input needs a 'data' array");
        goto done;
    }
    if ((rc = collect_numbers(data, 1, r->x, want, &got, "features", msg, cap))) goto done;
    if (got != want) {
        rc = fail(msg, cap, "the FP32 input holds %zu values but 'shape' says %zu", got, want);
        goto done;
    }
    for (int i = 0; i < r->n; i++) r->lengths[i] = r->T;
    if (lens) {
        double ld[3];
        int k = get_shape(lens, "lengths", ld, msg, cap);
        if (k < 0) {
            rc = 400;
            goto done;
        }
        if (k != 1 || ld[0] != N) {
            rc = fail(msg, cap, "input 'lengths' must have shape [%d]", r->n);
            goto done;
        }
        const cJSON *ldata = cJSON_GetObjectItemCaseSensitive(lens, "data"), *e;
        if (!cJSON_IsArray(ldata) || cJSON_GetArraySize(ldata) != r->n) {
            rc = fail(msg, cap, "input 'lengths' needs a 'data' array of %d integers", r->n);
            goto done;
        }
        int i = 0;
        cJSON_ArrayForEach(e, ldata)
        {
            double v;
            if (get_int(e, "a length", 1, r->T, &v, msg, cap)) {
                rc = 400;
                goto done;
            }
            r->lengths[i++] = (int32_t)v;
        }
    }
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(root, "outputs"), *o;
    if (outs && !cJSON_IsArray(outs)) {
        rc = fail(msg, cap, "'outputs' must be an array");
        goto done;
    }
    cJSON_ArrayForEach(o, outs)
    {
        const cJSON *name = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, "name") : NULL;
        if (!cJSON_IsString(name)) {
            rc = fail(msg, cap, "each of 'outputs' needs a 'name' string");
            goto done;
        }
        if (strcmp(name->valuestring, "label") == 0) r->want_label = 1;
        else if (strcmp(name->valuestring, "logprobs") == 0 || strcmp(name->valuestring, "values") == 0)
            r->want_values = 1;
        else {
            rc = fail(msg, cap, "unknown output '%.64s' (a dense model has 'label', 'logprobs' or 'values')",
                      serve_utf8_valid(name->valuestring, strlen(name->valuestring)) ? name->valuestring : "?");
            goto done;
        }
    }
    if (!r->want_label && !r->want_values) r->want_label = r->want_values = 1;
done:
    cJSON_Delete(root);
    if (rc) {
        /* Nothing half-filled is handed on. */
        char *id = r->id;
        r->id = NULL;
        free(id);
    }
    return rc;
}

int serve_parse_inspect(const char *body, size_t len, size_t max_text, char **text, char **label, char *msg,
                        size_t cap)
{
    *text = *label = NULL;
    msg[0] = '\0';
    const char *end = NULL;
    cJSON *root = len ? cJSON_ParseWithLengthOpts(body, len, &end, 0) : NULL;
    if (!root) {
        size_t at = end && end >= body && end <= body + len ? (size_t)(end - body) : 0;
        return len ? fail(msg, cap, "malformed JSON at byte %zu", at)
                   : fail(msg, cap, "empty body: an inspect request is {\"text\": \"...\"}");
    }
    int rc = 0;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "text");
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(root, "label");
    if (!cJSON_IsObject(root) || !cJSON_IsString(t)) rc = fail(msg, cap, "an inspect request is {\"text\": \"...\"}");
    else if (l && !cJSON_IsString(l)) rc = fail(msg, cap, "'label' must be a string (a label name)");
    else if (!(*text = dup_string(t, "'text'", max_text, &rc, msg, cap))) {
    } else if (!**text) rc = fail(msg, cap, "'text' is empty");
    else if (l && !(*label = dup_string(l, "'label'", 256, &rc, msg, cap))) {
    }
    if (rc) {
        free(*text);
        free(*label);
        *text = *label = NULL;
    }
    cJSON_Delete(root);
    return rc;
}
