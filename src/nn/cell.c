#include "nn/cell.h"

#include <string.h>

#include "nn/vmath.h"

void rnn_cell_forward(const kernels *kn, int b, int H, int relu, float *a, float *h,
                      float *y, int ldy)
{
    if (relu) vm_relu(a, b * H);
    else kn->tanh(a, b * H);
    memcpy(h, a, (size_t)b * H * sizeof *a);
    if (y)
        for (int r = 0; r < b; r++) memcpy(y + (size_t)r * ldy, a + (size_t)r * H, (size_t)H * sizeof *a);
}

void rnn_cell_backward(int b, int H, int relu, const float *dh, const float *y,
                       int ldy, float *dxg)
{
    for (int r = 0; r < b; r++) {
        const float *o = y + (size_t)r * ldy;
        const float *d = dh + (size_t)r * H;
        float *g = dxg + (size_t)r * H;
        if (relu)
            for (int j = 0; j < H; j++) g[j] = o[j] > 0.0f ? d[j] : 0.0f;
        else
            for (int j = 0; j < H; j++) g[j] = d[j] * (1.0f - o[j] * o[j]);
    }
}

void lstm_cell_forward(const kernels *kn, int b, int H, float *a_all, float *c,
                       float *csave, float *h, float *y, int ldy)
{
    kn->lstm_forward(b, H, a_all, NULL, c, csave, h, y, ldy);
}

void lstm_cell_backward(const kernels *kn, int b, int H, const float *dh, float *dc,
                        const float *act, const float *c, const float *c_prev,
                        float *dxg)
{
    kn->lstm_backward(b, H, dh, dc, act, c, c_prev, dxg);
}

void gru_cell_forward(const kernels *kn, int b, int H, float *a_all, const float *hn,
                      const float *b_hn, float *h, float *hnl, float *y, int ldy)
{
    kn->gru_forward(b, H, a_all, NULL, hn, b_hn, h, hnl, y, ldy);
}

void gru_cell_backward(const kernels *kn, int b, int H, const float *dh, const float *act,
                       const float *hnl, const float *h_prev, float *dxg, float *dhg, float *dh_prev)
{
    kn->gru_backward(b, H, dh, act, hnl, h_prev, dxg, dhg, dh_prev);
}
