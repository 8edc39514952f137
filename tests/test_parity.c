/*
 * Parity with PyTorch: fixtures made by tests/parity/make_fixtures.py
 * (nn.RNN/nn.LSTM/nn.GRU and whole models, run in float64) must be matched
 * to ~1e-5. Prints the largest error seen per cell.
 */
#include <string.h>

#include "io/safetensors.h"
#include "test.h"

#define TOL 2e-5

static st_file *open_fixture(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "tests/fixtures/%s.safetensors", name);
    st_file *f = NULL;
    recur_error err;
    if (st_read(path, &f, &err) != RECUR_OK) {
        fprintf(stderr, "    %s\n", err.message);
        test_failures++;
    }
    return f;
}

static int meta_int(const st_file *f, const char *key)
{
    const char *v = st_meta(f, key);
    return v ? atoi(v) : -1;
}

static const float *tensor(const st_file *f, const char *name, size_t *n)
{
    const st_tensor *t = st_find(f, name);
    if (!t) {
        fprintf(stderr, "    fixture lacks %s\n", name);
        test_failures++;
        return NULL;
    }
    if (n) *n = t->nbytes / 4;
    return (const float *)t->data;
}

/* Largest |a - b| / (1 + |b|) over n values; records a failure over TOL. */
static double compare(const char *what, const float *a, const float *b, size_t n, double *worst)
{
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / (1.0 + fabs(b[i]));
        if (d > e) e = d;
    }
    if (e > TOL) {
        fprintf(stderr, "    %s: error %.3g\n", what, e);
        test_failures++;
    }
    if (e > *worst) *worst = e;
    return e;
}

static void stack_parity(const char *cellname, int L, int bi)
{
    char name[64];
    snprintf(name, sizeof name, "stack_%s_l%d_%s", cellname, L, bi ? "bi" : "uni");
    st_file *f = open_fixture(name);
    if (!f) return;
    recur_error err;
    recur_rnn_config cfg = {(recur_cell)recur_cell_parse(cellname), meta_int(f, "input_size"),
                            meta_int(f, "hidden"), meta_int(f, "layers"), meta_int(f, "bidirectional"),
                            0.0f, 1, L};
    CHECK(cfg.layers == L && cfg.bidirectional == bi);
    int T = meta_int(f, "T"), B = meta_int(f, "B"), D = bi ? 2 : 1, H = cfg.hidden;
    int lstm = cfg.cell == RECUR_CELL_LSTM;
    recur_rnn *rnn = NULL;
    CHECK_OK(recur_rnn_create(&cfg, &rnn, &err), &err);
    if (!rnn) {
        st_free(f);
        return;
    }
    for (int k = 0; k < recur_rnn_param_count(rnn); k++) {
        recur_param p = recur_rnn_param(rnn, k);
        size_t n;
        const float *w = tensor(f, p.name, &n);
        if (w) memcpy(p.data, w, n * sizeof(float));
    }
    size_t ny = (size_t)T * B * D * H, ns = (size_t)L * D * B * H, nx = (size_t)T * B * cfg.input_size;
    float *y = calloc(ny, 4), *hn = calloc(ns, 4), *cn = calloc(ns, 4);
    float *dx = calloc(nx, 4), *dh0 = calloc(ns, 4), *dc0 = calloc(ns, 4);
    const int32_t *lengths = (const int32_t *)st_find(f, "lengths")->data;
    CHECK_OK(recur_rnn_forward(rnn, T, B, tensor(f, "x", NULL), lengths, tensor(f, "h0", NULL),
                               lstm ? tensor(f, "c0", NULL) : NULL, y, hn, cn, 1, &err), &err);
    double worst = 0;
    compare("y", y, tensor(f, "y", NULL), ny, &worst);
    compare("hn", hn, tensor(f, "hn", NULL), ns, &worst);
    if (lstm) compare("cn", cn, tensor(f, "cn", NULL), ns, &worst);
    recur_rnn_zero_grad(rnn);
    CHECK_OK(recur_rnn_backward(rnn, tensor(f, "dy", NULL), tensor(f, "dhn", NULL),
                                lstm ? tensor(f, "dcn", NULL) : NULL, dx, dh0, lstm ? dc0 : NULL, &err), &err);
    for (int k = 0; k < recur_rnn_param_count(rnn); k++) {
        recur_param p = recur_rnn_param(rnn, k);
        char gname[80];
        snprintf(gname, sizeof gname, "grad.%s", p.name);
        size_t n;
        const float *g = tensor(f, gname, &n);
        if (g) compare(gname, p.grad, g, n, &worst);
    }
    compare("dx", dx, tensor(f, "dx", NULL), nx, &worst);
    compare("dh0", dh0, tensor(f, "dh0", NULL), ns, &worst);
    if (lstm) compare("dc0", dc0, tensor(f, "dc0", NULL), ns, &worst);
    fprintf(stderr, "    %s: largest relative error %.2e\n", name, worst);
    free(y); free(hn); free(cn); free(dx); free(dh0); free(dc0);
    recur_rnn_free(rnn);
    st_free(f);
}

#define SP(fn, cell, L, bi) \
    static void fn(void) { stack_parity(cell, L, bi); }
SP(stack_rnn_tanh_1_uni, "rnn_tanh", 1, 0)
SP(stack_rnn_tanh_2_bi, "rnn_tanh", 2, 1)
SP(stack_rnn_relu_1_bi, "rnn_relu", 1, 1)
SP(stack_rnn_relu_2_uni, "rnn_relu", 2, 0)
SP(stack_lstm_1_uni, "lstm", 1, 0)
SP(stack_lstm_1_bi, "lstm", 1, 1)
SP(stack_lstm_2_uni, "lstm", 2, 0)
SP(stack_lstm_2_bi, "lstm", 2, 1)
SP(stack_gru_1_uni, "gru", 1, 0)
SP(stack_gru_1_bi, "gru", 1, 1)
SP(stack_gru_2_uni, "gru", 2, 0)
SP(stack_gru_2_bi, "gru", 2, 1)

/* A model with the fixture's configuration and weights. Symbols "a".."e"
 * stand for ids 2..6; labels "A", "B", "C". */
static recur_model *fixture_model(const st_file *f)
{
    recur_error err;
    recur_model_config cfg;
    recur_model_config_default(&cfg);
    cfg.task = strcmp(st_meta(f, "task"), "generate") == 0 ? RECUR_TASK_GENERATE : RECUR_TASK_CLASSIFY;
    cfg.cell = (recur_cell)recur_cell_parse(st_meta(f, "cell"));
    cfg.hidden = meta_int(f, "hidden");
    cfg.layers = meta_int(f, "layers");
    cfg.bidirectional = meta_int(f, "bidirectional");
    cfg.embed = meta_int(f, "embed");
    cfg.label_embed = meta_int(f, "label_embed");
    const char *syms[] = {"", "", "a", "b", "c", "d", "e"};
    const char *labels[] = {"A", "B", "C"};
    CHECK(meta_int(f, "vocab_size") == 7 && meta_int(f, "num_labels") == 3);
    recur_vocab *v = NULL;
    recur_model *m = NULL;
    CHECK_OK(recur_vocab_from_symbols(RECUR_TEXT_UNICODE, syms, 7, &v, &err), &err);
    if (v) CHECK_OK(recur_model_create(&cfg, v, labels, 3, &m, &err), &err);
    recur_vocab_free(v);
    for (int k = 0; m && k < recur_model_param_count(m); k++) {
        recur_param p = recur_model_param(m, k);
        size_t n;
        const float *w = tensor(f, p.name, &n);
        CHECK(w && n == (size_t)p.shape[0] * (p.ndim == 2 ? p.shape[1] : 1));
        if (w) memcpy(p.data, w, n * sizeof(float));
    }
    return m;
}

static void model_parity(const char *name)
{
    st_file *f = open_fixture(name);
    if (!f) return;
    recur_model *m = fixture_model(f);
    if (!m) {
        st_free(f);
        return;
    }
    recur_error err;
    const st_tensor *tt = st_find(f, "input.tokens"), *to = st_find(f, "input.offsets");
    const st_tensor *tl = st_find(f, "input.labels");
    int n = (int)(to->nbytes / 4) - 1;
    recur_batch b = {.n = n, .tokens = (const int32_t *)tt->data, .offsets = (const int32_t *)to->data, .labels = (const int32_t *)tl->data};
    recur_train_config tc;
    recur_train_config_default(&tc);
    recur_trainer *tr = NULL;
    CHECK_OK(recur_trainer_create(m, &tc, &tr, &err), &err);
    float loss = 0;
    CHECK_OK(recur_trainer_grad(tr, &b, &loss, &err), &err);
    double worst = 0;
    compare("loss", &loss, tensor(f, "expect.loss", NULL), 1, &worst);
    for (int k = 0; k < recur_model_param_count(m); k++) {
        recur_param p = recur_model_param(m, k);
        char gname[80];
        snprintf(gname, sizeof gname, "expect.grad.%s", p.name);
        size_t cnt;
        const float *g = tensor(f, gname, &cnt);
        if (g) compare(gname, p.grad, g, cnt, &worst);
    }
    /* Log-probabilities through the inference path. */
    const float *lp = tensor(f, "expect.logprobs", NULL);
    int C = recur_model_get_config(m)->task == RECUR_TASK_GENERATE ? 7 : 3;
    recur_runner *r = NULL;
    CHECK_OK(recur_runner_create(m, 8, &r, &err), &err);
    float out[64 * 7];
    if (recur_model_get_config(m)->task == RECUR_TASK_CLASSIFY) {
        CHECK_OK(recur_runner_classify_ids(r, b.tokens, b.offsets, n, out, &err), &err);
        compare("logprobs", out, lp, (size_t)n * C, &worst);
    } else {
        /* Step API: boundary, then each symbol; one row per step. */
        int row = 0;
        for (int i = 0; i < n; i++) {
            CHECK_OK(recur_runner_reset(r, b.labels[i], &err), &err);
            for (int t = b.offsets[i]; t <= b.offsets[i + 1]; t++, row++) {
                int32_t tok = t == b.offsets[i] ? RECUR_TOKEN_BOUNDARY : b.tokens[t - 1];
                CHECK_OK(recur_runner_step(r, tok, out, &err), &err);
                compare("step logprobs", out, lp + (size_t)row * C, (size_t)C, &worst);
            }
        }
    }
    fprintf(stderr, "    %s: largest relative error %.2e\n", name, worst);
    recur_runner_free(r);
    recur_trainer_free(tr);
    recur_model_free(m);
    st_free(f);
}

#define MP(fn) \
    static void fn(void) { model_parity(#fn); }
MP(model_classify_lstm_emb)
MP(model_classify_lstm_onehot_bi2)
MP(model_classify_gru_emb)
MP(model_classify_gru_onehot_bi2)
MP(model_classify_rnn_tanh_emb)
MP(model_classify_rnn_tanh_onehot_bi2)
MP(model_generate_lstm)
MP(model_generate_gru)
MP(model_generate_rnn_tanh)
MP(model_generate_gru_onehot)

const test_case tests_parity[] = {
    {"stack_rnn_tanh_1_uni", stack_rnn_tanh_1_uni}, {"stack_rnn_tanh_2_bi", stack_rnn_tanh_2_bi},
    {"stack_rnn_relu_1_bi", stack_rnn_relu_1_bi},   {"stack_rnn_relu_2_uni", stack_rnn_relu_2_uni},
    {"stack_lstm_1_uni", stack_lstm_1_uni},         {"stack_lstm_1_bi", stack_lstm_1_bi},
    {"stack_lstm_2_uni", stack_lstm_2_uni},         {"stack_lstm_2_bi", stack_lstm_2_bi},
    {"stack_gru_1_uni", stack_gru_1_uni},           {"stack_gru_1_bi", stack_gru_1_bi},
    {"stack_gru_2_uni", stack_gru_2_uni},           {"stack_gru_2_bi", stack_gru_2_bi},
    {"model_classify_lstm_emb", model_classify_lstm_emb},
    {"model_classify_lstm_onehot_bi2", model_classify_lstm_onehot_bi2},
    {"model_classify_gru_emb", model_classify_gru_emb},
    {"model_classify_gru_onehot_bi2", model_classify_gru_onehot_bi2},
    {"model_classify_rnn_tanh_emb", model_classify_rnn_tanh_emb},
    {"model_classify_rnn_tanh_onehot_bi2", model_classify_rnn_tanh_onehot_bi2},
    {"model_generate_lstm", model_generate_lstm},
    {"model_generate_gru", model_generate_gru},
    {"model_generate_rnn_tanh", model_generate_rnn_tanh},
    {"model_generate_gru_onehot", model_generate_gru_onehot},
    {NULL, NULL},
};
