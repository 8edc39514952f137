/*
 * A quantized recur_model: the reduced-precision tensors as the file holds
 * them (for saving) and the packed matrices the runner's products read.
 * m->w keeps the dequantized values (q * scale, or the bf16 value), so
 * everything that reads fp32 weights (layer 0's lookup tables, a trainer's
 * evaluation) computes with exactly the quantized model's weights; the
 * runner's recurrent products and head read the packed copies.
 */
#ifndef RECUR_MODEL_QUANT_MODEL_H
#define RECUR_MODEL_QUANT_MODEL_H
#include "io/safetensors.h"
#include "model/model.h"
#include "nn/quant.h"

typedef struct qmodel {
    recur_dtype dtype;
    qstack st;
    qmat head; /* out.weight [C][D*H] */
    /* Per model tensor (m->tensors order): the stored values (int8_t or
     * uint16_t bf16 bits) and, for int8, a scale per row; NULL when the
     * tensor stays fp32 (embeddings, biases). */
    void **raw;
    float **scale;
    int n;
} qmodel;

void qmodel_free(qmodel *q);
/* The head on the reduced weights, for inference: Y [n][C] = X W^T + b
 * (X rows at stride ldx), as linear_forward, through the kernels k (chosen
 * once per runner: reading the CPU's features costs microseconds in a VM). */
void qmodel_head(const recur_model *m, const qkernels *k, int n, const float *X, int ldx, float *Y);
/* Whether model tensor i is stored in reduced precision. */
int qmodel_tensor_quantized(const recur_model *m, int i);
/* Read every model tensor of a file whose metadata say "quantized": the
 * reduced ones with their scales (validated: finite, scales >= 0) into
 * m->q, their dequantized values into m->w. */
recur_status qmodel_read(const st_file *f, recur_model *m, recur_error *err);
/* 1 if name is a tensor a quantized file may hold besides the model's
 * (the "<weight>.scale" of a quantized weight). */
int qmodel_extra_tensor(const recur_model *m, const char *name);
/* Writing: how many tensors a quantized model adds (the scales), and the
 * outputs: outs[i] of model tensor i gets the reduced dtype and data;
 * extra[0..] the scales, named into names[][80]. */
int qmodel_extra_count(const recur_model *m);
void qmodel_outputs(const recur_model *m, st_out *outs, st_out *extra, char (*names)[80]);

#endif
