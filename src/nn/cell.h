/*
 * The cells' element-wise math for a block of b rows at one time step, in
 * PyTorch's equations and gate order. The matrix products around them
 * (x W_ih^T + b_ih for all steps, h W_hh^T per step) are the layer's job.
 *
 * kn supplies the vectorised sigmoid and tanh for this CPU.
 * Inputs: xg [b][G*H] = x W_ih^T + b_ih (row stride G*H), hg [b][G*H] =
 * h_prev W_hh^T (no bias), bhh [G*H]. Forward overwrites xg with the
 * activations that backward needs.
 */
#ifndef RECUR_NN_CELL_H
#define RECUR_NN_CELL_H
#include "nn/kernels.h"

/* h = act(xg + hg + bhh), act = tanh or relu; h and y (row stride ldy,
 * may be NULL) receive the result. */
void rnn_cell_forward(const kernels *kn, int b, int H, int relu, float *xg, const float *hg,
                      const float *bhh, float *h, float *y, int ldy);
/* dxg [b][H] = dh * act'(.), from the outputs y (stride ldy). */
void rnn_cell_backward(int b, int H, int relu, const float *dh,
                       const float *y, int ldy, float *dxg);

/* LSTM: gates i,f,g,o; c (in: c_prev, out: c_new) [b][H]; h [b][H] and y
 * (stride ldy, may be NULL) receive h_new; csave (may be NULL) a copy of
 * c_new. xg ends holding the activations i,f,g,o. */
void lstm_cell_forward(const kernels *kn, int b, int H, float *xg, const float *hg,
                       const float *bhh, float *c, float *csave, float *h,
                       float *y, int ldy);
/* dh [b][H]; dc (in: dLoss/dc_new from later steps, out: dLoss/dc_prev);
 * act = saved i,f,g,o; c = c_new; c_prev. Writes dxg [b][4H] = gradient of
 * the gates' pre-activations (also their W_hh side). */
void lstm_cell_backward(const kernels *kn, int b, int H, const float *dh, float *dc,
                        const float *act, const float *c, const float *c_prev,
                        float *dxg);

/* GRU: gates r,z,n with n = tanh(xg_n + r * (hg_n + b_hn)); h (in: h_prev,
 * out: h_new) [b][H]; y (stride ldy) may be NULL; hnl (may be NULL) saves
 * hg_n + b_hn. xg ends holding r, z, n. */
void gru_cell_forward(const kernels *kn, int b, int H, float *xg, const float *hg,
                      const float *bhh, float *h, float *hnl, float *y,
                      int ldy);
/* dh [b][H] -> dxg [b][3H] (input side), dhg [b][3H] (W_hh side: the n
 * part is scaled by r), dh_prev [b][H] the direct part z * dh. */
void gru_cell_backward(int b, int H, const float *dh, const float *act,
                       const float *hnl, const float *h_prev, float *dxg,
                       float *dhg, float *dh_prev);

#endif
