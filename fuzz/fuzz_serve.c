/*
 * fuzz_serve: libFuzzer harness for the server's request parser
 * (serve/parse.c), which reads every infer body a client sends.
 *
 * First byte: the model's task (bit 0: generate), the label count (bits
 * 1-3: 1..8) and smaller limits (bit 4). The rest is the body, passed with
 * its length (not NUL-terminated). The harness checks what serve.c relies
 * on and aborts when a promise is broken: an accepted classify request has
 * 1..max_batch texts, each non-empty, valid UTF-8, NUL-terminated at its
 * length, at most max_text bytes; classification is within 0..labels; a
 * generate request has a label, a count and lengths within the limits; a
 * refused one is a 400 with one line of message; nothing leaks. The same
 * bytes then go through the inspect request's parser, and through the dense
 * models' parser (F = 1 + bits 1-2 features): an accepted one holds 1..
 * max_batch sequences of T steps, lengths in 1..T, finite values.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

#define REQUIRE(cond)                                                                                  \
    do {                                                                                               \
        if (!(cond)) {                                                                                 \
            fprintf(stderr, "fuzz_serve: broken promise: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                                   \
        }                                                                                              \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    recur_task task = data[0] & 1 ? RECUR_TASK_GENERATE : RECUR_TASK_CLASSIFY;
    int labels = 1 + (data[0] >> 1 & 7);
    serve_limits lim = data[0] & 16 ? (serve_limits){3, 8} : (serve_limits){256, SERVE_MAX_TEXT};
    /* A copy of exactly size - 1 bytes, so that ASan sees a read past it. */
    size_t n = size - 1;
    char *body = malloc(n ? n : 1);
    if (!body) return 0;
    memcpy(body, data + 1, n);
    serve_infer r;
    char msg[512];
    int rc = serve_parse_infer(body, n, task, labels, &lim, &r, msg, sizeof msg);
    if (rc) {
        REQUIRE(rc == 400);
        REQUIRE(msg[0] && !strchr(msg, '\n'));
    } else if (task == RECUR_TASK_CLASSIFY) {
        REQUIRE(r.n >= 1 && r.n <= lim.max_batch);
        for (int i = 0; i < r.n; i++) {
            REQUIRE(r.lens[i] >= 1 && r.lens[i] <= lim.max_text);
            REQUIRE(r.texts[i][r.lens[i]] == '\0' && strlen(r.texts[i]) == r.lens[i]);
            REQUIRE(serve_utf8_valid(r.texts[i], r.lens[i]));
        }
        REQUIRE(r.classification >= 0 && r.classification <= labels);
        REQUIRE(r.want_label || r.want_logprobs);
    } else {
        REQUIRE(r.label && serve_utf8_valid(r.label, strlen(r.label)));
        REQUIRE(r.count >= 1 && r.count <= SERVE_MAX_COUNT);
        REQUIRE(r.max_length >= 1 && r.max_length <= SERVE_MAX_LENGTH);
        REQUIRE(r.temperature > 0 && r.temperature <= 100 && r.top_k >= 0);
        REQUIRE(!r.start || strlen(r.start) <= SERVE_MAX_LENGTH);
        REQUIRE(r.want_text || r.want_logprob);
    }
    serve_infer_free(&r);
    /* The same bytes as an inspect request. */
    char *text, *label;
    rc = serve_parse_inspect(body, n, lim.max_text, &text, &label, msg, sizeof msg);
    if (rc) {
        REQUIRE(rc == 400 && !text && !label && msg[0] && !strchr(msg, '\n'));
    } else {
        REQUIRE(text && *text && strlen(text) <= lim.max_text && serve_utf8_valid(text, strlen(text)));
        REQUIRE(!label || serve_utf8_valid(label, strlen(label)));
    }
    free(text);
    free(label);
    serve_dense d;
    int F = 1 + (data[0] >> 1 & 3);
    rc = serve_parse_dense(body, n, F, &lim, &d, msg, sizeof msg);
    if (rc) {
        REQUIRE(rc == 400 && msg[0] && !strchr(msg, '\n') && !d.id);
    } else {
        REQUIRE(d.n >= 1 && d.n <= lim.max_batch && d.T >= 1 && d.F == F);
        REQUIRE((double)d.n * d.T * F <= SERVE_MAX_VALUES && (d.batched || d.n == 1));
        for (int i = 0; i < d.n; i++) REQUIRE(d.lengths[i] >= 1 && d.lengths[i] <= d.T);
        for (size_t k = 0; k < (size_t)d.n * d.T * F; k++) REQUIRE(isfinite(d.x[k]));
        REQUIRE(d.want_label || d.want_values);
    }
    serve_dense_free(&d);
    free(body);
    return 0;
}
