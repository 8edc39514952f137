/*
 * gen_seeds: writes the fuzzers' seed corpora (fuzz/corpus/<harness>/).
 * Build and run from the repository root: `make build/fuzz_seeds &&
 * ./build/fuzz_seeds` (fuzz/README.md). Deterministic: the same library
 * writes the same bytes, so the committed seeds can be regenerated.
 *
 *  model/        models saved by recur (each cell, task, input kind, text mode, one-hot
 *                and embedded inputs, bidirectional, user metadata, SGD and
 *                Adam checkpoints), one without its checksum, and damaged
 *                copies (truncated, bad length, edited metadata, flipped
 *                data byte, broken vocabulary JSON, ...).
 *  safetensors/  the valid models plus hand-made containers: every dtype,
 *                scalars, empty tensors, a misaligned tensor, escapes in
 *                names, metadata only, and malformed headers.
 *  dataset/      names files: ASCII, non-ASCII, CRLF, BOM, blank lines,
 *                duplicates, invalid UTF-8, NUL bytes, an overlong line.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "recur.h"

static void die(const char *what, const recur_error *err)
{
    fprintf(stderr, "gen_seeds: %s: %s\n", what, err ? err->message : "failed");
    exit(1);
}

static void put(const char *dir, const char *name, const void *data, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "fuzz/corpus/%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    if (!b || fread(b, 1, (size_t)len, f) != (size_t)len) exit(1);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* Replace the first `from` in the header with `to` of the same length. */
static int edit(unsigned char *b, size_t n, const char *from, const char *to)
{
    size_t k = strlen(from);
    if (strlen(to) != k) exit(3);
    unsigned char *p = memmem(b, n, from, k);
    if (!p) return 0;
    memcpy(p, to, k);
    return 1;
}

/* Both corpora get the valid model; only model/ gets the damaged copies. */
static void both(const char *name, const void *b, size_t n)
{
    put("model", name, b, n);
    put("safetensors", name, b, n);
}

static recur_vocab *vocab(recur_text_mode mode)
{
    recur_vocab *v = NULL;
    recur_error err;
    if (mode == RECUR_TEXT_ASCII) {
        if (recur_vocab_create(mode, &v, &err)) die("vocab", &err);
        return v;
    }
    const char *syms[] = {"", "", "a", "b", "e", "\xc3\xa9", "n", "o", "\xe3\x81\x82", "D", "v", "s", "k", "y"};
    if (recur_vocab_from_symbols(mode, syms, (int)(sizeof syms / sizeof *syms), &v, &err))
        die("vocab", &err);
    return v;
}

static recur_model *model(recur_task task, recur_cell cell, int hidden, int layers, int bidir,
                          int embed, int label_embed, recur_text_mode mode, float dropout)
{
    recur_model_config c;
    recur_model_config_default(&c);
    c.task = task;
    c.cell = cell;
    c.hidden = hidden;
    c.layers = layers;
    c.bidirectional = bidir;
    c.embed = embed;
    c.label_embed = label_embed;
    c.dropout = dropout;
    c.seed = 42;
    const char *labels[3] = {"Czech", "\xc3\x89ire", "Japanese"};
    recur_vocab *v = vocab(mode);
    recur_model *m = NULL;
    recur_error err;
    if (recur_model_create(&c, v, labels, 3, &m, &err)) die("model", &err);
    recur_vocab_free(v);
    return m;
}

static unsigned char *saved(const recur_model *m, const recur_trainer *t, size_t *n)
{
    char path[] = "/tmp/recur-seed-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) exit(1);
    close(fd);
    recur_error err;
    if (t ? recur_trainer_save(t, path, &err) : recur_model_save(m, path, &err)) die("save", &err);
    unsigned char *b = slurp(path, n);
    unlink(path);
    return b;
}

static void models(void)
{
    struct {
        const char *name;
        recur_task task;
        recur_cell cell;
        int hidden, layers, bidir, embed, label_embed;
        recur_text_mode mode;
        float dropout;
    } spec[] = {
        {"classify_lstm_emb", RECUR_TASK_CLASSIFY, RECUR_CELL_LSTM, 4, 1, 0, 3, 0, RECUR_TEXT_UNICODE, 0},
        {"classify_gru_onehot_bi2", RECUR_TASK_CLASSIFY, RECUR_CELL_GRU, 3, 2, 1, 0, 0, RECUR_TEXT_UNICODE, 0.25f},
        {"classify_rnn_tanh_ascii", RECUR_TASK_CLASSIFY, RECUR_CELL_RNN_TANH, 4, 1, 0, 2, 0, RECUR_TEXT_ASCII, 0},
        {"classify_rnn_relu_l2", RECUR_TASK_CLASSIFY, RECUR_CELL_RNN_RELU, 3, 2, 0, 0, 0, RECUR_TEXT_UNICODE, 0},
        {"generate_gru_onehot", RECUR_TASK_GENERATE, RECUR_CELL_GRU, 4, 1, 0, 0, 0, RECUR_TEXT_UNICODE, 0},
        {"generate_lstm_emb_l2", RECUR_TASK_GENERATE, RECUR_CELL_LSTM, 3, 2, 0, 2, 2, RECUR_TEXT_UNICODE, 0.1f},
    };
    recur_error err;
    for (size_t i = 0; i < sizeof spec / sizeof *spec; i++) {
        recur_model *m = model(spec[i].task, spec[i].cell, spec[i].hidden, spec[i].layers, spec[i].bidir,
                               spec[i].embed, spec[i].label_embed, spec[i].mode, spec[i].dropout);
        if (i == 0 && (recur_model_set_meta(m, "note", "seed \xe2\x9c\x93", &err) ||
                       recur_model_set_meta(m, "data", "names", &err)))
            die("meta", &err);
        size_t n;
        unsigned char *b = saved(m, NULL, &n);
        char name[128];
        snprintf(name, sizeof name, "%s.safetensors", spec[i].name);
        both(name, b, n);
        if (i == 0) {
            /* Damaged copies of the first model. */
            put("model", "damaged_truncated.safetensors", b, n - 5);
            put("model", "damaged_header_only.safetensors", b, 8 + (size_t)b[0] + 256 * (size_t)b[1]);
            unsigned char *d = malloc(n);
            memcpy(d, b, n);
            d[0] ^= 0x08;
            put("model", "damaged_length.safetensors", d, n);
            memcpy(d, b, n);
            d[n - 3] ^= 0x40;
            put("model", "damaged_data_crc.safetensors", d, n);
            /* No checksum: data edits reach the model (NaN, Inf weights). */
            memcpy(d, b, n);
            if (edit(d, n, "\"recur.crc32\"", "\"recur.nocrc\"")) {
                put("model", "nocrc.safetensors", d, n);
                put("safetensors", "nocrc.safetensors", d, n);
                memset(d + n - 16, 0xff, 8); /* NaN */
                put("model", "nocrc_nan.safetensors", d, n);
            }
            struct { const char *file, *from, *to; } edits[] = {
                {"damaged_hidden.safetensors", "\"hidden\":\"4\"", "\"hidden\":\"5\""},
                {"damaged_hidden_big.safetensors", "\"hidden\":\"4\",\"layers\":\"1\"", "\"hidden\":\"9\",\"layers\":\"9\""},
                {"damaged_cell.safetensors", "\"lstm\"", "\"gru\" "},
                {"damaged_task.safetensors", "\"classify\"", "\"generate\""},
                {"damaged_version.safetensors", "\"format_version\":\"2\"", "\"format_version\":\"3\""},
                {"damaged_vocab_json.safetensors", "\"vocab\":\"[", "\"vocab\":\"{"},
                {"damaged_label_number.safetensors", "\\\"Czech\\\"", "123456789"},
                {"damaged_dropout.safetensors", "\"dropout\":\"0\"", "\"dropout\":\"1\""},
                {"damaged_dtype.safetensors", "\"F32\"", "\"I32\""},
                {"damaged_shape.safetensors", "\"shape\":[3", "\"shape\":[4"},
                {"damaged_tensor_name.safetensors", "\"rnn.", "\"rnx."},
                {"damaged_meta_key.safetensors", "\"embed\"", "\"embeD\""},
            };
            for (size_t k = 0; k < sizeof edits / sizeof *edits; k++) {
                memcpy(d, b, n);
                if (!edit(d, n, edits[k].from, edits[k].to)) {
                    fprintf(stderr, "gen_seeds: %s: no %s\n", edits[k].file, edits[k].from);
                    exit(1);
                }
                put("model", edits[k].file, d, n);
            }
            free(d);
        }
        if (i == 0 || i == 4) { /* checkpoints: Adam, then SGD */
            recur_train_config tc;
            recur_train_config_default(&tc);
            if (i == 4) {
                tc.optim = RECUR_OPTIM_SGD;
                tc.momentum = 0.9f;
                tc.lr = 0.1f;
            }
            recur_trainer *t = NULL;
            if (recur_trainer_create(m, &tc, &t, &err)) die("trainer", &err);
            int32_t tokens[5] = {2, 3, 4, 5, 6}, offsets[3] = {0, 2, 5}, labels[2] = {0, 2};
            recur_batch bt = {.n = 2, .tokens = tokens, .offsets = offsets, .labels = labels};
            float loss;
            for (int s = 0; s < 3; s++)
                if (recur_trainer_step(t, &bt, &loss, &err)) die("step", &err);
            size_t cn;
            unsigned char *cb = saved(m, t, &cn);
            snprintf(name, sizeof name, "checkpoint_%s.safetensors", i == 0 ? "adam" : "sgd");
            both(name, cb, cn);
            free(cb);
            recur_trainer_free(t);
        }
        free(b);
        recur_model_free(m);
    }
}

/* Format-2 kinds (docs/FORMAT.md 2.6, 2.7): dense taggers and regressors
 * with their input statistics, a token tagger, a dense checkpoint, and
 * damaged copies (sizes, words, the task, the statistics). */
static void tasks(void)
{
    struct { const char *name; recur_task task; int dense, steps, bi; recur_loss loss; } spec[] = {
        {"tag_lstm_dense_bi", RECUR_TASK_TAG, 1, 1, 1, RECUR_LOSS_AUTO},
        {"tag_gru_tokens", RECUR_TASK_TAG, 0, 1, 0, RECUR_LOSS_AUTO},
        {"regress_gru_dense_steps_huber", RECUR_TASK_REGRESS, 1, 1, 0, RECUR_LOSS_HUBER},
        {"regress_lstm_dense_final", RECUR_TASK_REGRESS, 1, 0, 0, RECUR_LOSS_MSE},
    };
    recur_error err;
    const char *labels[3] = {"B", "I", "O"};
    for (size_t i = 0; i < sizeof spec / sizeof *spec; i++) {
        recur_model_config c;
        recur_model_config_default(&c);
        recur_model_config_task(&c, spec[i].task);
        c.cell = spec[i].bi ? RECUR_CELL_LSTM : RECUR_CELL_GRU;
        c.hidden = 4;
        c.layers = 2;
        c.bidirectional = spec[i].bi;
        c.embed = 3;
        c.seed = 42;
        if (spec[i].dense) {
            c.input = RECUR_INPUT_DENSE;
            c.input_size = 3;
        }
        if (spec[i].task == RECUR_TASK_REGRESS) {
            c.head = spec[i].steps ? RECUR_HEAD_STEPS : RECUR_HEAD_FINAL;
            c.outputs = 2;
            c.loss = spec[i].loss;
            c.huber_delta = 0.5f;
        }
        int nl = spec[i].task == RECUR_TASK_REGRESS ? 0 : 3;
        recur_vocab *v = spec[i].dense ? NULL : vocab(RECUR_TEXT_UNICODE);
        recur_model *m = NULL;
        if (recur_model_create(&c, v, nl ? labels : NULL, nl, &m, &err)) die("task model", &err);
        recur_vocab_free(v);
        float mean[3] = {0.5f, -1.0f, 2.0f}, sd[3] = {1.5f, 0.25f, 3.0f};
        if (spec[i].dense && recur_model_set_input_norm(m, mean, sd, &err)) die("input norm", &err);
        size_t n;
        unsigned char *b = saved(m, NULL, &n);
        char name[128];
        snprintf(name, sizeof name, "%s.safetensors", spec[i].name);
        both(name, b, n);
        if (i == 0) {
            struct { const char *file, *from, *to; } edits[] = {
                {"damaged_task_kind.safetensors", "\"task\":\"tag\"", "\"task\":\"gen\""},
                {"damaged_task_mismatch.safetensors", "\"head\":\"steps\"", "\"head\":\"final\""},
                {"damaged_input_kind.safetensors", "\"input\":\"dense\"", "\"input\":\"dance\""},
                {"damaged_input_size.safetensors", "\"input_size\":\"3\"", "\"input_size\":\"4\""},
                {"damaged_input_size_big.safetensors", "\"input_size\":\"3\"", "\"input_size\":\"9\""},
                {"damaged_target.safetensors", "\"target\":\"class\"", "\"target\":\"real\" "},
                {"damaged_norm_name.safetensors", "\"input_norm.std\"", "\"input_norm.sdt\""},
                {"damaged_norm_shape.safetensors", "\"input_norm.mean\":{\"dtype\":\"F32\",\"shape\":[3]",
                 "\"input_norm.mean\":{\"dtype\":\"F32\",\"shape\":[1]"},
            };
            unsigned char *d = malloc(n);
            for (size_t k = 0; k < sizeof edits / sizeof *edits; k++) {
                memcpy(d, b, n);
                if (!edit(d, n, edits[k].from, edits[k].to)) {
                    fprintf(stderr, "gen_seeds: %s: no %s\n", edits[k].file, edits[k].from);
                    exit(1);
                }
                put("model", edits[k].file, d, n);
            }
            /* No checksum, a zero standard deviation (the last tensor). */
            memcpy(d, b, n);
            if (edit(d, n, "\"recur.crc32\"", "\"recur.nocrc\"")) {
                memset(d + n - 4, 0, 4);
                put("model", "nocrc_zero_std.safetensors", d, n);
            }
            free(d);
        }
        if (i == 2) { /* a dense checkpoint */
            recur_train_config tc;
            recur_train_config_default(&tc);
            recur_trainer *t = NULL;
            if (recur_trainer_create(m, &tc, &t, &err)) die("trainer", &err);
            int32_t offsets[3] = {0, 2, 5};
            float x[15] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5}, y[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
            recur_batch bt = {.n = 2, .offsets = offsets, .features = x, .targets = y};
            float loss;
            for (int s = 0; s < 3; s++)
                if (recur_trainer_step(t, &bt, &loss, &err)) die("step", &err);
            size_t cn;
            unsigned char *cb = saved(m, t, &cn);
            both("checkpoint_regress_dense.safetensors", cb, cn);
            free(cb);
            recur_trainer_free(t);
        }
        free(b);
        recur_model_free(m);
    }
}

/* Quantized models (int8 and bf16, docs/FORMAT.md 2.9) and damaged copies
 * of the int8 one: the runner's reduced-precision paths and the loader's
 * checks of scales and dtypes. */
static void quantized(void)
{
    recur_error err;
    for (int k = 0; k < 2; k++) {
        recur_model *m = k ? model(RECUR_TASK_GENERATE, RECUR_CELL_GRU, 4, 2, 0, 0, 0, RECUR_TEXT_UNICODE, 0)
                           : model(RECUR_TASK_CLASSIFY, RECUR_CELL_LSTM, 5, 2, 1, 3, 0, RECUR_TEXT_UNICODE, 0);
        if (recur_model_quantize(m, k ? RECUR_DTYPE_BF16 : RECUR_DTYPE_INT8, &err)) die("quantize", &err);
        size_t n;
        unsigned char *b = saved(m, NULL, &n);
        both(k ? "generate_gru_bf16.safetensors" : "classify_lstm_int8.safetensors", b, n);
        if (k == 0) {
            unsigned char *d = malloc(n);
            struct { const char *file, *from, *to; } edits[] = {
                {"damaged_quantized.safetensors", "\"quantized\":\"int8\"", "\"quantized\":\"int4\""},
                {"damaged_quantized_dtype.safetensors", "\"I8\"", "\"U8\""},
                {"damaged_scale_name.safetensors", ".scale\"", ".scalf\""},
            };
            for (size_t e = 0; e < sizeof edits / sizeof *edits; e++) {
                memcpy(d, b, n);
                if (!edit(d, n, edits[e].from, edits[e].to)) {
                    fprintf(stderr, "gen_seeds: %s: no %s\n", edits[e].file, edits[e].from);
                    exit(1);
                }
                put("model", edits[e].file, d, n);
            }
            /* No checksum, and the last scale (out.weight's, last in the
             * data) NaN. */
            memcpy(d, b, n);
            if (edit(d, n, "\"recur.crc32\"", "\"recur.nocrc\"")) {
                memset(d + n - 4, 0xff, 4);
                put("model", "nocrc_nan_scale.safetensors", d, n);
            }
            free(d);
        }
        free(b);
        recur_model_free(m);
    }
}

/* A container from a hand-written header (padded to 8 bytes) and data. */
static void raw(const char *name, const char *header, const void *data, size_t dn)
{
    size_t h = strlen(header), hp = (h + 7) / 8 * 8;
    size_t n = 8 + hp + dn;
    unsigned char *b = calloc(1, n);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hp >> (8 * i));
    memcpy(b + 8, header, h);
    memset(b + 8 + h, ' ', hp - h);
    if (dn) memcpy(b + 8 + hp, data, dn);
    put("safetensors", name, b, n);
    free(b);
}

static void written(const char *name, const st_out *t, int n, const char *const *meta, int n_meta)
{
    char path[] = "/tmp/recur-seed-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) exit(1);
    close(fd);
    recur_error err;
    if (st_write(path, t, n, meta, n_meta, &err)) die(name, &err);
    size_t len;
    unsigned char *b = slurp(path, &len);
    unlink(path);
    put("safetensors", name, b, len);
    free(b);
}

static void containers(void)
{
    float f32[6] = {1, -2, 0.5f, 3, 1e30f, -0.0f};
    double f64[2] = {3.25, -1e300};
    int32_t i32[3] = {7, -8, 9};
    int64_t i64[2] = {1LL << 40, -5};
    uint8_t u8[3] = {1, 2, 255};
    st_out all[] = {
        {"f32", ST_F32, 2, {2, 3}, f32},
        {"f64", ST_F64, 1, {2}, f64},
        {"i32", ST_I32, 1, {3}, i32},
        {"i64", ST_I64, 1, {2}, i64},
        {"u8", ST_U8, 1, {3}, u8},
        {"scalar", ST_F32, 0, {0}, f32},
        {"empty", ST_F32, 2, {0, 5}, NULL},
        {"deep", ST_U8, 8, {1, 1, 1, 1, 1, 1, 1, 3}, u8},
    };
    const char *meta[] = {"format", "pt", "\xc3\xa9t\xc3\xa9", "\"quoted\" \\ value"};
    written("dtypes.safetensors", all, 8, meta, 2);
    /* U8[3] then F32[2]: the F32 data sits at offset 3, misaligned. */
    st_out mis[] = {{"bytes", ST_U8, 1, {3}, u8}, {"floats", ST_F32, 1, {2}, f32}};
    written("misaligned.safetensors", mis, 2, meta + 2, 1);
    st_out esc[] = {{"a\"b\\c\x01\xe2\x82\xac", ST_I32, 1, {1}, i32}};
    written("escaped_name.safetensors", esc, 1, NULL, 0);
    written("metadata_only.safetensors", NULL, 0, meta, 2);

    raw("empty_object.safetensors", "{}", NULL, 0);
    raw("plain_pt.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", f32, 8);
    raw("reordered.safetensors",
        "{\"b\":{\"data_offsets\":[4,8],\"shape\":[1],\"dtype\":\"I32\"},"
        "\"a\":{\"shape\":[],\"dtype\":\"I32\",\"data_offsets\":[0,4]},\"__metadata__\":{\"k\":\"v\"}}",
        i32, 8);
    raw("unicode_escape.safetensors",
        "{\"\\u00e9\\ud83d\\ude00\\n\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", u8, 1);
    raw("bad_overlap.safetensors",
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
        "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}", u8, 3);
    raw("bad_gap.safetensors", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", u8, 2);
    raw("bad_float_shape.safetensors", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1.0],\"data_offsets\":[0,1]}}", u8, 1);
    raw("bad_negative.safetensors", "{\"a\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,1]}}", u8, 1);
    raw("bad_huge_shape.safetensors",
        "{\"a\":{\"dtype\":\"F64\",\"shape\":[9007199254740991,9007199254740991],\"data_offsets\":[0,8]}}", f64, 8);
    raw("bad_dup_name.safetensors",
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
        "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", u8, 2);
    raw("bad_dtype.safetensors", "{\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]}}", u8, 2);
    raw("bad_meta_value.safetensors", "{\"__metadata__\":{\"k\":1}}", NULL, 0);
    raw("bad_crc.safetensors",
        "{\"__metadata__\":{\"recur.crc32\":\"00000000\"},\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
        u8, 1);
    raw("bad_nul_escape.safetensors", "{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", u8, 1);
    raw("bad_trailing.safetensors", "{} x", NULL, 0);
    raw("bad_nested.safetensors", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", NULL, 0);
    static const unsigned char short_len[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'};
    put("safetensors", "bad_length.safetensors", short_len, sizeof short_len);
    put("safetensors", "short.safetensors", short_len, 5);
}

static void datasets(void)
{
    struct { const char *name, *text; size_t n; } seeds[] = {
#define S(name, lit) {name, lit, sizeof lit - 1}
        S("ascii.txt", "Abbas\nAbboud\nAbdallah\nAbdelnour\nAbdi\n"),
        S("unicode.txt", "M\xc3\xbcller\n\xc3\x89lodie\nNguy\xe1\xbb\x85n\n\xe7\x94\xb0\xe4\xb8\xad\n"
                         "\xd8\xb9\xd8\xa8\xd8\xa7\xd8\xb3\n\xce\x91\xce\xbd\xce\xb4\xcf\x81\xce\xad\xce\xb1\xcf\x82\n"),
        S("combining.txt", "Ame\xcc\x81lie\nAm\xc3\xa9lie\n\xef\xac\x81ne\n"),
        S("crlf.txt", "Abe\r\nBea\r\n\r\nCy\r\n"),
        S("bom.txt", "\xef\xbb\xbf" "Zoe\nZed\n"),
        S("blank.txt", "\n  \n\t\nName\n \xc2\xa0 \xe3\x80\x80Padded\xe3\x80\x80 \n\n"),
        S("duplicates.txt", "Abe\nAbe\nabe\nBea\nAbe\n \xc3\x89mile\n"),
        S("no_newline.txt", "Last"),
        S("only_blank.txt", "\n\n   \n"),
        S("empty.txt", ""),
        S("invalid_utf8.txt", "Good\nBa\xff" "d\n"),
        S("overlong_utf8.txt", "\xc0\xaf\n"),
        S("surrogate.txt", "\xed\xa0\x80x\n"),
        S("truncated_utf8.txt", "Caf\xc3"),
        S("nul.txt", "Nu\0ll\n"),
        S("cr_only.txt", "One\rTwo\rThree\r"),
    };
    for (size_t i = 0; i < sizeof seeds / sizeof *seeds; i++)
        put("dataset", seeds[i].name, seeds[i].text, seeds[i].n);
    char line[RECUR_MAX_TEXT_BYTES + 3];
    memset(line, 'x', sizeof line);
    line[RECUR_MAX_TEXT_BYTES] = '\n';
    put("dataset", "max_line.txt", line, RECUR_MAX_TEXT_BYTES + 1);
    line[RECUR_MAX_TEXT_BYTES] = 'x';
    line[RECUR_MAX_TEXT_BYTES + 1] = '\n';
    put("dataset", "overlong_line.txt", line, RECUR_MAX_TEXT_BYTES + 2);
}

int main(void)
{
    mkdir("fuzz/corpus", 0777);
    mkdir("fuzz/corpus/model", 0777);
    mkdir("fuzz/corpus/safetensors", 0777);
    mkdir("fuzz/corpus/dataset", 0777);
    models();
    tasks();
    quantized();
    containers();
    datasets();
    return 0;
}
