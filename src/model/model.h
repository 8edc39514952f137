/*
 * The inside of a recur_model: configuration, vocabulary, labels, and one
 * flat array of weights (and one of gradients) laid out as the tensors of
 * the model file, in this order: embed.weight, label_embed.weight, rnn.*,
 * out.weight, out.bias.
 */
#ifndef RECUR_MODEL_MODEL_H
#define RECUR_MODEL_MODEL_H
#include "nn/stack.h"
#include "recur.h"

typedef struct model_tensor {
    char name[48];
    int ndim;
    int shape[2];
    size_t offset, size;
} model_tensor;

struct recur_model {
    recur_model_config cfg;
    recur_vocab *vocab;
    char **labels;
    int num_labels;
    int V;        /* vocabulary size (0: a dense model without one)         */
    int C;        /* head outputs: labels (classes), V (generate), outputs  */
    int F;        /* dense input: features per step (0: token input)       */
    int sym_w;    /* width of the symbol part of the input: E, V or F      */
    int lab_w;    /* width of the label part: LE or NL (generate), else 0  */
    stack st;     /* input size sym_w + lab_w                              */
    float *w, *g;
    size_t n_weights;
    float *embed, *label_embed, *out_w, *out_b; /* into w (NULL if absent) */
    float *norm_mean, *norm_std; /* [F] dense input statistics (owned)  */
    model_tensor *tensors;
    int n_tensors;
    char **meta; /* key, value pairs */
    int n_meta;
    struct qmodel *q; /* reduced-precision weights (model/quant_model.h) or NULL */
    /* Bumped whenever the weights change under runners (quantizing,
     * recur_model_weights_changed): a runner whose copy differs rebuilds
     * its lookup tables and packed weights before its next pass. */
    unsigned wgen;
};

/* Gradient counterpart of a pointer into m->w. */
static inline float *model_grad(const recur_model *m, const float *p)
{
    return p ? m->g + (p - m->w) : NULL;
}

/* The features the head reads: D*H. */
static inline int model_features(const recur_model *m) { return m->st.D * m->st.H; }

/* The task properties of a model (see recur_model_config). */
static inline int model_dense(const recur_model *m) { return m->cfg.input == RECUR_INPUT_DENSE; }
static inline int model_steps(const recur_model *m) { return m->cfg.head == RECUR_HEAD_STEPS; }
static inline int model_gen(const recur_model *m) { return m->cfg.target == RECUR_TARGET_NEXT_TOKEN; }
static inline int model_real(const recur_model *m) { return m->cfg.target == RECUR_TARGET_REAL; }

/* Resolve a caller's configuration into a model's (the legacy generate
 * preset, the task its properties make, AUTO loss, unused sizes zeroed)
 * and check it against a vocabulary size and label count. */
recur_status model_resolve_config(const recur_model_config *in, int V, int num_labels,
                                  recur_model_config *out, recur_error *err);

/* Number of weights a model of this resolved configuration holds, without
 * building it (0 when the configuration is invalid): lets a loader check a
 * file's size before allocating what its metadata claim. */
size_t model_param_count(const recur_model_config *cfg, int V, int num_labels);

/*
 * Layer 0's input projections through lookup tables: a symbol's row is
 * P_sym[v] = embed[v] W_sym^T + the input bias of stack_input_bias
 * (one-hot: column v of W_ih), a
 * label's P_lab[l] = label_embed[l] W_lab^T. Tables are [V][G*H] and
 * [NL][G*H] for direction d. ws: whose kernels and threads run the
 * products (NULL: BLAS).
 */
void model_input_tables(const recur_model *m, stack_ws *ws, int d, float *P_sym, float *P_lab);
/* Fold table gradients back into W_ih (layer 0, direction d), b_ih and the
 * embeddings: the inverse of model_input_tables. */
void model_input_tables_backward(recur_model *m, stack_ws *ws, int d, const float *dP_sym,
                                 const float *dP_lab);

#endif
