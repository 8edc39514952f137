/* recur_model_import: a plain state_dict (PyTorch names under any module
 * names, no recur metadata) becomes the model it was saved from, and
 * every state_dict that does not fit is one line naming the file. */
#include <string.h>

#include "io/safetensors.h"
#include "test.h"

static const char *const syms[7] = {"", "", "a", "b", "c", "d", "e"};
static const char *const labels[3] = {"x", "y", "z"};

/* Save m's tensors as a plain state_dict: embed. -> emb., rnn. -> lstm.,
 * out. -> fc.; `drop` (a recur name) is left out, `extra` added. */
static void save_plain(const recur_model *m, const char *path, const char *drop, int extra)
{
    st_out t[64];
    char names[64][64];
    int n = 0;
    for (int i = 0; i < recur_model_param_count(m) && n < 62; i++) {
        recur_param p = recur_model_param(m, i);
        if (drop && strcmp(p.name, drop) == 0) continue;
        const char *dot = strchr(p.name, '.');
        const char *mod = strncmp(p.name, "embed.", 6) == 0 ? "emb" : strncmp(p.name, "rnn.", 4) == 0 ? "lstm" : "fc";
        snprintf(names[n], sizeof names[n], "%s%s", mod, dot);
        t[n] = (st_out){names[n], ST_F32, p.ndim, {p.shape[0], p.ndim == 2 ? p.shape[1] : 0}, p.data};
        n++;
    }
    static const float one[2] = {1, 1};
    if (extra) t[n++] = (st_out){"norm.scale", ST_F32, 1, {2}, one};
    recur_error err;
    CHECK_OK(st_write(path, t, n, NULL, 0, &err), &err);
}

static recur_model *make(recur_cell cell, int layers, int bi, int embed, recur_vocab *v)
{
    recur_model_config c;
    recur_model_config_default(&c);
    c.cell = cell, c.hidden = 5, c.layers = layers, c.bidirectional = bi, c.embed = embed, c.seed = 7;
    recur_model *m = NULL;
    recur_error err;
    CHECK_OK(recur_model_create(&c, v, labels, 3, &m, &err), &err);
    return m;
}

static void state_dicts_import_as_the_model(void)
{
    recur_error err;
    recur_vocab *v = NULL;
    CHECK_OK(recur_vocab_from_symbols(RECUR_TEXT_UNICODE, syms, 7, &v, &err), &err);
    char path[600];
    snprintf(path, sizeof path, "%s/sd.safetensors", test_tmpdir());
    const struct { recur_cell cell; int layers, bi, embed; } cases[] = {
        {RECUR_CELL_LSTM, 2, 1, 4}, {RECUR_CELL_GRU, 1, 0, 0}, {RECUR_CELL_RNN_RELU, 3, 1, 3}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        recur_model *m = make(cases[k].cell, cases[k].layers, cases[k].bi, cases[k].embed, v), *im = NULL;
        if (!m) continue;
        save_plain(m, path, NULL, 0);
        int cell = cases[k].cell == RECUR_CELL_RNN_RELU ? RECUR_CELL_RNN_RELU : -1;
        CHECK_OK(recur_model_import(path, cell, v, labels, 3, &im, &err), &err);
        if (im) {
            const recur_model_config *c = recur_model_get_config(im);
            CHECK(c->cell == cases[k].cell && c->layers == cases[k].layers && c->bidirectional == cases[k].bi &&
                  c->embed == cases[k].embed && c->hidden == 5);
            CHECK(strcmp(recur_model_label_name(im, 2), "z") == 0);
            recur_runner *a = NULL, *b = NULL;
            CHECK_OK(recur_runner_create(m, 2, &a, &err), &err);
            CHECK_OK(recur_runner_create(im, 2, &b, &err), &err);
            const char *texts[2] = {"abc", "edcbaab"};
            float la[6], lb[6];
            CHECK_OK(recur_runner_classify(a, texts, NULL, 2, la, &err), &err);
            CHECK_OK(recur_runner_classify(b, texts, NULL, 2, lb, &err), &err);
            CHECK(memcmp(la, lb, sizeof la) == 0);
            recur_runner_free(a);
            recur_runner_free(b);
        }
        recur_model_free(im);
        /* Without labels: "0", "1", "2". */
        im = NULL;
        CHECK_OK(recur_model_import(path, cell, v, NULL, 0, &im, &err), &err);
        if (im) CHECK(strcmp(recur_model_label_name(im, 1), "1") == 0);
        recur_model_free(im);
        recur_model_free(m);
    }
    recur_vocab_free(v);
}

static void misfits_are_one_line(void)
{
    recur_error err;
    recur_vocab *v = NULL, *small = NULL;
    CHECK_OK(recur_vocab_from_symbols(RECUR_TEXT_UNICODE, syms, 7, &v, &err), &err);
    CHECK_OK(recur_vocab_from_symbols(RECUR_TEXT_UNICODE, syms, 5, &small, &err), &err);
    char path[600];
    snprintf(path, sizeof path, "%s/bad.safetensors", test_tmpdir());
    recur_model *m = make(RECUR_CELL_LSTM, 2, 0, 4, v);
    if (!m) return;
    const struct { const char *drop; int extra, cell; recur_vocab *v; int nl; const char *msg; } cases[] = {
        {"out.bias", 0, -1, v, 3, "two embeddings"},
        {"rnn.bias_hh_l1", 0, -1, v, 3, "lstm.bias_hh_l1"},
        {NULL, 1, -1, v, 3, "tensor \"norm.scale\" has no place"},
        {NULL, 0, RECUR_CELL_GRU, v, 3, "4 gates, a gru has 3"},
        {NULL, 0, -1, small, 3, "has 7 rows, the vocabulary 5 ids"},
        {NULL, 0, -1, v, 2, "2 labels given, the head has 3"},
        {"rnn.weight_ih_l0", 0, -1, v, 3, "no recurrent module"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        save_plain(m, path, cases[k].drop, cases[k].extra);
        recur_model *im = (recur_model *)1;
        recur_status s = recur_model_import(path, cases[k].cell, cases[k].v, labels, cases[k].nl, &im, &err);
        CHECK(s == RECUR_ERR_FORMAT && im == NULL);
        CHECK_MSG(strstr(err.message, cases[k].msg) && strstr(err.message, path) && !strchr(err.message, '\n'),
                  "case %zu: %s", k, err.message);
    }
    recur_model *im = NULL;
    CHECK(recur_model_import("/nonexistent/sd.safetensors", -1, v, NULL, 0, &im, &err) == RECUR_ERR_IO);
    CHECK(recur_model_import(path, -1, NULL, NULL, 0, &im, &err) == RECUR_ERR_ARG);
    recur_model_free(m);
    recur_vocab_free(v);
    recur_vocab_free(small);
}

const test_case tests_import[] = {
    {"state_dicts_import_as_the_model", state_dicts_import_as_the_model},
    {"misfits_are_one_line", misfits_are_one_line},
    {NULL, NULL},
};
