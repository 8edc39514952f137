/*
 * rnn_driver: runs recur_rnn (recur.h only) on the cases of a binary file and
 * writes every output, for tests/parity/random_diff.py to compare with
 * PyTorch. The kernel level is the process's RECUR_KERNELS.
 *
 *   rnn_driver CASES OUT
 *
 * Little-endian throughout; i32 = int32, f32 = float32.
 * CASES: i32 count, then per case
 *   i32 cell, layers, bidirectional, input I, hidden H, batch B, steps T,
 *       threads, has_h0, has_c0
 *   i32 lengths[B]
 *   i32 P, then P times: char name[32] (NUL-padded), i32 n, f32 data[n]
 *   f32 x[T][B][I], h0[L*D][B][H] (if has_h0), c0[L*D][B][H] (if has_c0),
 *       dy[T][B][D*H], dhn[L*D][B][H], dcn[L*D][B][H] (LSTM only)
 * OUT: per case, i32 status (0 = RECUR_OK; then the error message follows
 *   as i32 length + bytes, and nothing else for the case), then
 *   f32 y[T][B][D*H], hn[L*D][B][H], cn (LSTM only), dx[T][B][I],
 *       dh0, dc0 (LSTM only), dh[T][B][D*H] (recur_rnn_state_grads),
 *   then for each parameter in the order given: f32 grad[n].
 * Every output buffer is filled with NaN before the call, so a value the
 * library does not write shows up.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recur.h"

static FILE *in, *out;

static void die(const char *what)
{
    fprintf(stderr, "rnn_driver: %s\n", what);
    exit(2);
}

static int32_t rd_i32(void)
{
    int32_t v;
    if (fread(&v, sizeof v, 1, in) != 1) die("truncated input");
    return v;
}

static float *rd_f32(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) die("out of memory");
    if (n && fread(p, sizeof *p, n, in) != n) die("truncated input");
    return p;
}

static float *poisoned(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) die("out of memory");
    for (size_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}

static void wr(const void *p, size_t size, size_t n)
{
    if (n && fwrite(p, size, n, out) != n) die("cannot write the output");
}

static void run_case(void)
{
    int32_t hdr[10];
    for (int i = 0; i < 10; i++) hdr[i] = rd_i32();
    const int cell = hdr[0], L = hdr[1], bi = hdr[2], I = hdr[3], H = hdr[4], B = hdr[5], T = hdr[6];
    const int threads = hdr[7], has_h0 = hdr[8], has_c0 = hdr[9];
    if (L < 1 || I < 1 || H < 1 || B < 1 || T < 1 || L > 16 || I > 4096 || H > 4096 || B > 4096 || T > 4096)
        die("case out of range");
    const int D = bi ? 2 : 1, lstm = cell == RECUR_CELL_LSTM;
    const size_t S = (size_t)L * D * B * H, Y = (size_t)T * B * D * H, X = (size_t)T * B * I;
    int32_t *lengths = malloc((size_t)B * sizeof *lengths);
    if (!lengths) die("out of memory");
    for (int b = 0; b < B; b++) lengths[b] = rd_i32();
    int P = rd_i32();
    if (P < 0 || P > 1024) die("bad parameter count");
    char (*names)[32] = calloc((size_t)P + 1, sizeof *names);
    float **data = calloc((size_t)P + 1, sizeof *data);
    int32_t *counts = calloc((size_t)P + 1, sizeof *counts);
    if (!names || !data || !counts) die("out of memory");
    for (int k = 0; k < P; k++) {
        if (fread(names[k], 1, 32, in) != 32) die("truncated input");
        names[k][31] = 0;
        counts[k] = rd_i32();
        if (counts[k] < 0) die("bad parameter size");
        data[k] = rd_f32((size_t)counts[k]);
    }
    float *x = rd_f32(X), *h0 = has_h0 ? rd_f32(S) : NULL, *c0 = has_c0 ? rd_f32(S) : NULL;
    float *dy = rd_f32(Y), *dhn = rd_f32(S), *dcn = lstm ? rd_f32(S) : NULL;

    recur_error err = {0};
    recur_rnn *rnn = NULL;
    recur_rnn_config cfg = {(recur_cell)cell, I, H, L, bi, 0.0f, 1, threads};
    recur_status st = recur_rnn_create(&cfg, &rnn, &err);
    if (!st && recur_rnn_param_count(rnn) != P) {
        st = RECUR_ERR_ARG;
        snprintf(err.message, sizeof err.message, "recur has %d parameters, the case %d",
                 recur_rnn_param_count(rnn), P);
    }
    /* Weights by name, so the order of the file is the script's. */
    recur_param *par = calloc((size_t)P + 1, sizeof *par);
    if (!par) die("out of memory");
    for (int k = 0; !st && k < P; k++) {
        int found = 0;
        for (int i = 0; i < P && !found; i++) {
            recur_param p = recur_rnn_param(rnn, i);
            if (strcmp(p.name, names[k]) != 0) continue;
            found = 1;
            int n = p.shape[0] * (p.ndim == 2 ? p.shape[1] : 1);
            if (n != counts[k]) {
                st = RECUR_ERR_ARG;
                snprintf(err.message, sizeof err.message, "%s has %d values, the case %d", p.name, n,
                         (int)counts[k]);
            } else {
                memcpy(p.data, data[k], (size_t)n * sizeof(float));
                par[k] = p;
            }
        }
        if (!found && !st) {
            st = RECUR_ERR_ARG;
            snprintf(err.message, sizeof err.message, "recur has no parameter %s", names[k]);
        }
    }
    float *y = poisoned(Y), *hn = poisoned(S), *cn = poisoned(S), *dx = poisoned(X);
    float *dh0 = poisoned(S), *dc0 = poisoned(S), *dh = poisoned(Y);
    if (!st) {
        recur_rnn_zero_grad(rnn);
        for (int k = 0; k < P; k++) {
            int n = par[k].shape[0] * (par[k].ndim == 2 ? par[k].shape[1] : 1);
            for (int i = 0; i < n; i++) par[k].grad[i] = NAN; /* zero_grad must clear them */
        }
        recur_rnn_zero_grad(rnn);
        st = recur_rnn_forward(rnn, T, B, x, lengths, h0, c0, y, hn, lstm ? cn : NULL, 1, &err);
    }
    if (!st) st = recur_rnn_backward(rnn, dy, dhn, dcn, dx, dh0, lstm ? dc0 : NULL, &err);
    if (!st) st = recur_rnn_state_grads(rnn, dh, &err);
    int32_t status = (int32_t)st;
    wr(&status, sizeof status, 1);
    if (st) {
        int32_t n = (int32_t)strlen(err.message);
        wr(&n, sizeof n, 1);
        wr(err.message, 1, (size_t)n);
    } else {
        wr(y, sizeof *y, Y);
        wr(hn, sizeof *hn, S);
        if (lstm) wr(cn, sizeof *cn, S);
        wr(dx, sizeof *dx, X);
        wr(dh0, sizeof *dh0, S);
        if (lstm) wr(dc0, sizeof *dc0, S);
        wr(dh, sizeof *dh, Y);
        for (int k = 0; k < P; k++) wr(par[k].grad, sizeof(float), (size_t)counts[k]);
    }
    recur_rnn_free(rnn);
    for (int k = 0; k < P; k++) free(data[k]);
    free(data);
    free(names);
    free(counts);
    free(par);
    free(lengths);
    free(x), free(h0), free(c0), free(dy), free(dhn), free(dcn);
    free(y), free(hn), free(cn), free(dx), free(dh0), free(dc0), free(dh);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: rnn_driver CASES OUT\n");
        return 2;
    }
    in = fopen(argv[1], "rb");
    if (!in) die("cannot open the cases");
    out = fopen(argv[2], "wb");
    if (!out) die("cannot create the output");
    int32_t n = rd_i32();
    for (int32_t i = 0; i < n; i++) run_case();
    if (fclose(out) != 0) die("cannot write the output");
    fclose(in);
    return 0;
}
