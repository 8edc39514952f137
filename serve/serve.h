/*
 * serve.h - `recur serve`: an HTTP server speaking the Open Inference
 * Protocol v2 (KServe / Triton REST). parse.c turns a request body into a
 * serve_infer (no HTTP in it, so fuzz/fuzz_serve.c can drive it alone);
 * serve.c is the HTTP side on libmicrohttpd.
 */
#ifndef RECUR_SERVE_H
#define RECUR_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include "recur.h"

/* Limits of one request (the flags of `recur serve` may lower them). */
enum {
    SERVE_MAX_BATCH = 1024,        /* texts in one request                 */
    SERVE_MAX_COUNT = 1000,        /* names one generation request draws   */
    SERVE_MAX_LENGTH = 1000,       /* symbols of one drawn name            */
    SERVE_MAX_TEXT = RECUR_MAX_TEXT_BYTES
};

/* What an infer request asks for, validated. Strings are copies. */
typedef struct serve_infer {
    char *id;              /* the request's "id", echoed back; NULL if none  */
    int n;                 /* texts (classify)                                */
    char **texts;          /* [n] valid UTF-8, NUL-terminated, 1..max bytes   */
    size_t *lens;
    char *input_name;      /* the input's name, as sent                       */
    int classification;    /* top-N strings "logprob:index:label"; 0 = none  */
    int want_label, want_logprobs; /* classify outputs                        */
    int want_text, want_logprob;   /* generate outputs                        */
    /* Generation parameters. */
    char *label;           /* label name; NULL = none given                   */
    char *start;           /* prefix of every name; NULL = none               */
    double temperature;    /* default 0.8                                     */
    int top_k;             /* default 0                                       */
    int has_seed;
    uint64_t seed;
    int count;             /* names to draw, default 1                        */
    int max_length;        /* default 40                                      */
} serve_infer;

typedef struct serve_limits {
    int max_batch;     /* texts per request */
    size_t max_text;   /* bytes per text    */
} serve_limits;

/*
 * Parse and check an infer request body of `len` bytes (not necessarily
 * NUL-terminated) for a model of `task` with `num_labels` labels. Returns
 * 0, or the HTTP status (400) with one line in msg. out is always safe to
 * serve_infer_free.
 */
int serve_parse_infer(const char *body, size_t len, recur_task task, int num_labels, const serve_limits *lim,
                      serve_infer *out, char *msg, size_t cap);
void serve_infer_free(serve_infer *r);

/*
 * A request to a dense-input model (features in, FP32): one FP32 input of
 * shape [T, F] (one sequence) or [N, T, F] (N sequences padded to T steps),
 * its "data" flat in row-major order or nested, and optionally an INT32
 * (or INT64) input "lengths" [N], each in 1..T (default: all T). Outputs
 * may be named ("label" for classes, "logprobs" or "values"); none named:
 * all. N <= lim->max_batch; N * T * F at most SERVE_MAX_VALUES.
 */
enum { SERVE_MAX_VALUES = 1 << 24 };
typedef struct serve_dense {
    char *id;
    int n, T, F;       /* F: the model's input size                       */
    int batched;       /* the shape had the leading N                     */
    float *x;          /* [n][T][F], every value finite                   */
    int32_t *lengths;  /* [n], 1..T                                       */
    int want_label, want_values;
} serve_dense;
int serve_parse_dense(const char *body, size_t len, int F, const serve_limits *lim, serve_dense *out, char *msg,
                      size_t cap);
void serve_dense_free(serve_dense *d);
/* {"text": "...", "label": "..."} of POST .../inspect: copies (free them),
 * the text valid UTF-8 of 1..max_text bytes; 0 or 400 with msg. */
int serve_parse_inspect(const char *body, size_t len, size_t max_text, char **text, char **label, char *msg,
                        size_t cap);
/* 1 when s[0..len) is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
int serve_utf8_valid(const char *s, size_t len);

/* The page at "/" (page.html, embedded by page.c) and its length. */
extern const char serve_page[];
extern const char serve_page_end[];

int cmd_serve(int argc, char **argv);

#endif
