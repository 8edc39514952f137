/*
 * recur_model_import: a plain PyTorch state_dict (a safetensors file with
 * no recur metadata, as safetensors.torch.save_file(module.state_dict())
 * writes) becomes a recur classifier. The architecture is read from the
 * tensors' names and shapes (docs/FORMAT.md, section 4); the caller gives
 * what a state_dict does not hold: the vocabulary and the label names.
 *
 * The recurrent module's tensors are "<rnn>.weight_ih_l{k}[_reverse]" and
 * its siblings under one prefix <rnn> (any, or none); of the rest, a pair
 * "<head>.weight" [C, D*H] + "<head>.bias" [C] is the linear head and a
 * lone 2-D "<emb>.weight" [V, E] the embedding. Anything else is an error
 * naming the tensor, as is any shape that does not fit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/safetensors.h"
#include "model/model.h"

#define NAME_CAP 256

/* The prefix (with its dot, or "") of the recurrent module: the text
 * before "weight_ih_l0". */
static recur_status find_rnn_prefix(const st_file *f, char *prefix, recur_error *err)
{
    const char *what = st_what(f);
    int found = 0;
    for (int i = 0; i < st_count(f); i++) {
        const char *name = st_get(f, i)->name;
        size_t n = strlen(name), k = strlen("weight_ih_l0");
        if (n < k || strcmp(name + n - k, "weight_ih_l0") != 0) continue;
        if (n - k >= NAME_CAP || (n > k && name[n - k - 1] != '.')) continue;
        if (found)
            return recur_fail(err, RECUR_ERR_FORMAT, "%s: two recurrent modules (\"%s\" and \"%sweight_ih_l0\")",
                              what, name, prefix);
        memcpy(prefix, name, n - k);
        prefix[n - k] = '\0';
        found = 1;
    }
    if (!found)
        return recur_fail(err, RECUR_ERR_FORMAT,
                          "%s: no recurrent module (a tensor named weight_ih_l0 or <name>.weight_ih_l0)", what);
    return RECUR_OK;
}

static const st_tensor *find2(const st_file *f, const char *a, const char *b)
{
    char name[2 * NAME_CAP];
    snprintf(name, sizeof name, "%s%s", a, b);
    return st_find(f, name);
}

/* dims of a tensor as ints, refusing what is not F32 of ndim dimensions. */
static recur_status dims(const st_file *f, const st_tensor *t, int ndim, int *d, recur_error *err)
{
    if (t->dtype != ST_F32)
        return recur_fail(err, RECUR_ERR_FORMAT, "%s: tensor \"%s\" is %s, expected F32 (save the module in float32)",
                          st_what(f), t->name, st_dtype_name(t->dtype));
    if (t->ndim != ndim)
        return recur_fail(err, RECUR_ERR_FORMAT, "%s: tensor \"%s\" has %d dimensions, expected %d", st_what(f),
                          t->name, t->ndim, ndim);
    for (int i = 0; i < ndim; i++) {
        if (t->shape[i] < 1 || t->shape[i] > (1 << 24))
            return recur_fail(err, RECUR_ERR_FORMAT, "%s: tensor \"%s\" dimension %d is %lld", st_what(f), t->name,
                              i, (long long)t->shape[i]);
        d[i] = (int)t->shape[i];
    }
    return RECUR_OK;
}

recur_status recur_model_import(const char *path, int cell, const recur_vocab *vocab,
                                const char *const *labels, int num_labels, recur_model **out,
                                recur_error *err)
{
    if (!out) return recur_fail(err, RECUR_ERR_ARG, "import needs an output pointer");
    *out = NULL;
    if (!path || !vocab || num_labels < 0 || (num_labels > 0 && !labels))
        return recur_fail(err, RECUR_ERR_ARG, "import needs a path, a vocabulary and the labels");
    st_file *f = NULL;
    RECUR_TRY(st_read(path, &f, err));
    const char *what = st_what(f);
    recur_model *m = NULL;
    char **made = NULL; /* "0", "1", ... when no labels are given */
    char rp[NAME_CAP], head[NAME_CAP] = "", emb[NAME_CAP] = "";
    recur_status s = find_rnn_prefix(f, rp, err);
    /* Layers, directions, hidden size and gates from the rnn's tensors. */
    int L = 0, D = 1, H = 0, G = 0, I0 = 0, d[2];
    while (!s && L < 64) {
        char k[32];
        snprintf(k, sizeof k, "weight_ih_l%d", L);
        if (!find2(f, rp, k)) break;
        L++;
    }
    if (!s && find2(f, rp, "weight_ih_l0_reverse")) D = 2;
    if (!s) {
        const st_tensor *whh = find2(f, rp, "weight_hh_l0");
        if (!whh) s = recur_fail(err, RECUR_ERR_FORMAT, "%s: tensor \"%sweight_hh_l0\" is missing", what, rp);
        else if (!(s = dims(f, whh, 2, d, err))) {
            H = d[1];
            G = d[0] / H;
            if (d[0] % H || (G != 1 && G != 3 && G != 4))
                s = recur_fail(err, RECUR_ERR_FORMAT,
                               "%s: \"%sweight_hh_l0\" is [%d, %d]: not 1, 3 or 4 gates of %d (RNN, GRU, LSTM)",
                               what, rp, d[0], d[1], H);
        }
    }
    if (!s && !(s = dims(f, find2(f, rp, "weight_ih_l0"), 2, d, err))) I0 = d[1];
    int inferred = G == 4 ? RECUR_CELL_LSTM : G == 3 ? RECUR_CELL_GRU : RECUR_CELL_RNN_TANH;
    if (!s && cell >= 0) {
        if (recur_cell_gates((recur_cell)cell) != G)
            s = recur_fail(err, RECUR_ERR_FORMAT, "%s: the tensors have %d gates, a %s has %d", what, G,
                           recur_cell_name((recur_cell)cell), recur_cell_gates((recur_cell)cell));
        inferred = cell;
    }
    /* The other tensors: a head (weight + bias) and maybe an embedding. */
    size_t rpl = strlen(rp);
    for (int i = 0; !s && i < st_count(f); i++) {
        const char *name = st_get(f, i)->name;
        if (strncmp(name, rp, rpl) == 0 && (strncmp(name + rpl, "weight_", 7) == 0 || strncmp(name + rpl, "bias_", 5) == 0))
            continue; /* checked by name below */
        size_t n = strlen(name);
        if (n >= 7 && n - 7 < NAME_CAP && strcmp(name + n - 7, ".weight") == 0) {
            char base[NAME_CAP];
            memcpy(base, name, n - 6);
            base[n - 6] = '\0'; /* "<module>." */
            int has_bias = find2(f, base, "bias") != NULL;
            char *slot = has_bias ? head : emb;
            if (*slot) {
                s = recur_fail(err, RECUR_ERR_FORMAT, "%s: two %s (\"%sweight\" and \"%s\"): recur has one", what,
                               has_bias ? "linear heads" : "embeddings", slot, name);
                break;
            }
            memcpy(slot, base, n - 5);
            continue;
        }
        if (n >= 5 && strcmp(name + n - 5, ".bias") == 0) {
            char base[NAME_CAP];
            if (n - 4 < NAME_CAP) {
                memcpy(base, name, n - 4);
                base[n - 4] = '\0';
                if (find2(f, base, "weight")) continue; /* the head's */
            }
        }
        s = recur_fail(err, RECUR_ERR_FORMAT,
                       "%s: tensor \"%s\" has no place in a recur model (an embedding, a recurrent module "
                       "and a linear head)", what, name);
    }
    if (!s && !*head)
        s = recur_fail(err, RECUR_ERR_FORMAT, "%s: no linear head (<name>.weight [C, %d] and <name>.bias [C])", what,
                       D * H);
    int V = recur_vocab_size(vocab), E = 0, C = 0;
    if (!s && *emb && !(s = dims(f, find2(f, emb, "weight"), 2, d, err))) {
        E = d[1];
        if (d[0] != V)
            s = recur_fail(err, RECUR_ERR_FORMAT,
                           "%s: the embedding \"%sweight\" has %d rows, the vocabulary %d ids (2 reserved + %d symbols)",
                           what, emb, d[0], V, V - 2);
        else if (E != I0)
            s = recur_fail(err, RECUR_ERR_FORMAT, "%s: the embedding gives %d values, \"%sweight_ih_l0\" reads %d",
                           what, E, rp, I0);
    }
    if (!s && !*emb && I0 != V)
        s = recur_fail(err, RECUR_ERR_FORMAT,
                       "%s: without an embedding the RNN reads one-hot symbols: \"%sweight_ih_l0\" reads %d, the "
                       "vocabulary has %d ids (2 reserved + %d symbols)", what, rp, I0, V, V - 2);
    if (!s && !(s = dims(f, find2(f, head, "weight"), 2, d, err))) {
        C = d[0];
        if (d[1] != D * H)
            s = recur_fail(err, RECUR_ERR_FORMAT, "%s: the head \"%sweight\" reads %d values, the final state has %d",
                           what, head, d[1], D * H);
        else if (num_labels > 0 && num_labels != C)
            s = recur_fail(err, RECUR_ERR_FORMAT, "%s: %d labels given, the head has %d outputs", what, num_labels, C);
    }
    if (!s && num_labels == 0) {
        made = calloc((size_t)C, sizeof *made);
        if (!made) s = recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
        for (int i = 0; !s && i < C; i++) {
            made[i] = malloc(16);
            if (!made[i]) s = recur_fail(err, RECUR_ERR_NOMEM, "out of memory");
            else snprintf(made[i], 16, "%d", i);
        }
    }
    if (!s) {
        recur_model_config c;
        recur_model_config_default(&c);
        c.task = RECUR_TASK_CLASSIFY;
        c.cell = (recur_cell)inferred;
        c.hidden = H;
        c.layers = L;
        c.bidirectional = D == 2;
        c.embed = E;
        c.dropout = 0;
        s = recur_model_create(&c, vocab, made ? (const char *const *)made : labels, C, &m, err);
        if (s == RECUR_ERR_ARG) s = recur_fail(err, RECUR_ERR_FORMAT, "%s: %s", what, err ? err->message : "");
    }
    /* Copy every tensor of the model from its state_dict name, checking
     * the shape; then every tensor of the file has been used exactly once
     * (the loop above refused the strays). */
    for (int i = 0; !s && i < m->n_tensors; i++) {
        const model_tensor *t = &m->tensors[i];
        const char *local = strchr(t->name, '.') + 1; /* "rnn.weight_ih_l0" -> "weight_ih_l0" */
        const char *mod = strncmp(t->name, "rnn.", 4) == 0 ? rp : strncmp(t->name, "embed.", 6) == 0 ? emb : head;
        char name[2 * NAME_CAP];
        snprintf(name, sizeof name, "%s%s", mod, local);
        int64_t shape[2] = {t->shape[0], t->shape[1]};
        const st_tensor *x;
        s = st_expect(f, name, ST_F32, t->ndim, shape, &x, NULL, err);
        if (!s) memcpy(m->w + t->offset, x->data, t->size * sizeof(float));
    }
    if (!s) {
        int used = m->n_tensors;
        if (used != st_count(f))
            s = recur_fail(err, RECUR_ERR_FORMAT, "%s: %d tensors, a %d-layer model uses %d (a layer beyond %d?)",
                           what, st_count(f), L, used, L - 1);
    }
    if (made)
        for (int i = 0; i < C; i++) free(made[i]);
    free(made);
    st_free(f);
    if (s) {
        recur_model_free(m);
        return s;
    }
    *out = m;
    return RECUR_OK;
}
