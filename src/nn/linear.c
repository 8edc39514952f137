#include "nn/linear.h"

#include <math.h>
#include <string.h>

#include "nn/gemm.h"

void linear_forward(int n, int in, int out, const float *X, int ldx,
                    const float *W, const float *b, float *Y)
{
    for (int r = 0; r < n; r++) memcpy(Y + (size_t)r * out, b, (size_t)out * sizeof *Y);
    gemm(0, 1, n, out, in, 1.0f, X, ldx, W, in, 1.0f, Y, out);
}

void linear_backward(int n, int in, int out, const float *X, int ldx,
                     const float *W, const float *dY, float *dW, float *db,
                     float *dX, int lddx)
{
    gemm(1, 0, out, in, n, 1.0f, dY, out, X, ldx, 1.0f, dW, in);
    for (int r = 0; r < n; r++) {
        const float *row = dY + (size_t)r * out;
        for (int j = 0; j < out; j++) db[j] += row[j];
    }
    if (dX) gemm(0, 0, n, in, out, 1.0f, dY, out, W, in, 0.0f, dX, lddx);
}

void log_softmax_rows(float *z, int n, int C)
{
    for (int r = 0; r < n; r++) {
        float *row = z + (size_t)r * C;
        float mx = row[0];
        for (int j = 1; j < C; j++) mx = row[j] > mx ? row[j] : mx;
        double s = 0;
        for (int j = 0; j < C; j++) s += exp((double)(row[j] - mx));
        float lse = mx + (float)log(s);
        for (int j = 0; j < C; j++) row[j] -= lse;
    }
}

double nll_sum(const float *logp, int n, int C, const int *target)
{
    double s = 0;
    for (int r = 0; r < n; r++)
        if (target[r] >= 0) s -= logp[(size_t)r * C + target[r]];
    return s;
}

void nll_grad_in_place(float *logp, int n, int C, const int *target, float scale)
{
    for (int r = 0; r < n; r++) {
        float *row = logp + (size_t)r * C;
        if (target[r] < 0) {
            memset(row, 0, (size_t)C * sizeof *row);
            continue;
        }
        for (int j = 0; j < C; j++) row[j] = expf(row[j]) * scale;
        row[target[r]] -= scale;
    }
}
