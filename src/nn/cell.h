/*
 * The cells' element-wise math for a block of b rows at one time step, in
 * PyTorch's equations and gate order. The matrix products around them
 * (x W_ih^T + b_ih for all steps, h W_hh^T per step) are the layer's job.
 *
 * kn supplies the vectorised sigmoid and tanh for this CPU.
 * The layer adds h_prev W_hh^T into the input projections (whose rows
 * already carry both biases, b_hn of the GRU excepted), so the cells see
 * complete pre-activations and overwrite them with what backward needs.
 */
#ifndef RECUR_NN_CELL_H
#define RECUR_NN_CELL_H
#include "nn/kernels.h"

/* a [b][H]: complete pre-activations (x W_ih^T + h W_hh^T + both biases);
 * becomes h = act(a), also copied to h and to y (row stride ldy; y may be
 * NULL). */
void rnn_cell_forward(const kernels *kn, int b, int H, int relu, float *a, float *h,
                      float *y, int ldy);
/* dxg [b][H] = dh * act'(.), from the outputs y (stride ldy). */
void rnn_cell_backward(int b, int H, int relu, const float *dh,
                       const float *y, int ldy, float *dxg);

/* LSTM: a [b][4H] complete pre-activations of gates i,f,g,o, replaced by
 * their activations; c (in: c_prev, out: c_new) [b][H]; h [b][H] and y
 * (stride ldy, may be NULL) receive h_new; csave (may be NULL) c_new. */
void lstm_cell_forward(const kernels *kn, int b, int H, float *a, float *c,
                       float *csave, float *h, float *y, int ldy);
/* dh [b][H]; dc (in: dLoss/dc_new from later steps, out: dLoss/dc_prev);
 * act = saved i,f,g,o; c = c_new; c_prev. Writes dxg [b][4H] = gradient of
 * the gates' pre-activations (also their W_hh side). */
void lstm_cell_backward(const kernels *kn, int b, int H, const float *dh, float *dc,
                        const float *act, const float *c, const float *c_prev,
                        float *dxg);

/* GRU: a [b][3H] holds the complete pre-activations of r and z and the
 * input side of n (x W_in^T + b_in); hn [b][H] = h W_hn^T (no bias), b_hn
 * [H]; n = tanh(a_n + r * (hn + b_hn)). h (in: h_prev, out: h_new) [b][H];
 * y (stride ldy) may be NULL; hnl (may be NULL) saves hn + b_hn. a ends
 * holding r, z, n. */
void gru_cell_forward(const kernels *kn, int b, int H, float *a, const float *hn,
                      const float *b_hn, float *h, float *hnl, float *y, int ldy);
/* dh [b][H] -> dxg [b][3H] (input side), dhg [b][3H] (W_hh side: the n
 * part is scaled by r), dh_prev [b][H] the direct part z * dh. */
void gru_cell_backward(const kernels *kn, int b, int H, const float *dh, const float *act,
                       const float *hnl, const float *h_prev, float *dxg, float *dhg, float *dh_prev);

#endif
