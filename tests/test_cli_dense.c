/*
 * recur train / eval on dense numeric sequences (part of the cli_seq suite,
 * tests/cli_seq.h): a classifier from a CSV, a regressor from a NumPy .npz.
 */
#define _DEFAULT_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "cli_seq.h"

/* A classifier of dense sequences: the sign of a sequence's sum, a label
 * column of a CSV; eval shows accuracy, macro recall and the matrix. */
void test_classify_dense(void)
{
    NEED_BIN();
    const char *d = seq_dir("classify");
    char p[700];
    snprintf(p, sizeof p, "%s/signs.csv", d);
    FILE *f = fopen(p, "w");
    CHECK(f);
    if (!f) return;
    seq_seed(9);
    fprintf(f, "id,a,b,class\n");
    for (int i = 0; i < 300; i++) {
        double x[5], sum = 0;
        for (int t = 0; t < 5; t++) sum += x[t] = 2 * seq_uniform() - 1;
        for (int t = 0; t < 5; t++) fprintf(f, "q%d,%.4f,%.4f,%s\n", i, x[t], seq_uniform(), sum > 0 ? "up" : "down");
    }
    fclose(f);
    result r = run_in(d, NULL, "train signs.csv -o c.safetensors --id-col id --label-col class --epochs 6 --lr 0.01 "
                               "--batch 16 " FAST, NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(strstr(r.out, "task    classify: 2 labels") != NULL);
    result_free(&r);
    char m[700];
    snprintf(m, sizeof m, "%s/c.safetensors", d);
    double acc = seq_meta_number(m, "accuracy");
    CHECK_MSG(acc >= 0.85, "held-out accuracy %.4f is below 0.85", acc);
    r = run_in(d, NULL, "eval c.safetensors signs.csv --held-out", NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(strstr(r.out, "macro recall") && strstr(r.out, "confusion matrix") && strstr(r.out, "45 sequences"));
    result_free(&r);
}

/* A .npy image (header padded to 64 bytes, then the data). */
static size_t npy_image(unsigned char *out, size_t cap, const char *shape, const float *data, size_t len)
{
    char h[256];
    int k = snprintf(h, sizeof h, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }", shape);
    size_t pad = (64 - (10 + (size_t)k + 1) % 64) % 64, hl = (size_t)k + pad + 1;
    if (10 + hl + len > cap) return 0;
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (unsigned char)(hl & 0xff);
    out[9] = (unsigned char)(hl >> 8);
    memcpy(out + 10, h, (size_t)k);
    memset(out + 10 + k, ' ', pad);
    out[10 + hl - 1] = '\n';
    memcpy(out + 10 + hl, data, len);
    return 10 + hl + len;
}

/* NumPy: an .npz of features [N][T][2] and targets [N][1] (the first
 * step's first value plus the last's, rescaled), stored members as np.savez writes
 * them; eval --held-out and predict on a .npy of features alone. */
void test_regress_npz(void)
{
    NEED_BIN();
    const char *d = seq_dir("npz");
    enum { N = 200, T = 6 };
    static float x[N][T][2], y[N][1];
    seq_seed(21);
    for (int i = 0; i < N; i++) {
        /* Far from 0 and wide: only standardised inputs learn this fast. */
        for (int t = 0; t < T; t++) x[i][t][0] = (float)(100 + 20 * seq_uniform()), x[i][t][1] = (float)seq_uniform();
        y[i][0] = (x[i][0][0] + x[i][T - 1][0] - 220) / 10;
    }
    static unsigned char fimg[sizeof x + 256], timg[sizeof y + 256];
    size_t fl = npy_image(fimg, sizeof fimg, "(200, 6, 2)", &x[0][0][0], sizeof x);
    size_t tl = npy_image(timg, sizeof timg, "(200, 1)", &y[0][0], sizeof y);
    char p[700];
    snprintf(p, sizeof p, "%s/sums.npz", d);
    int ze;
    zip_t *z = zip_open(p, ZIP_CREATE | ZIP_TRUNCATE, &ze);
    CHECK(z != NULL);
    if (!z) return;
    zip_int64_t a = zip_file_add(z, "features.npy", zip_source_buffer(z, fimg, fl, 0), ZIP_FL_OVERWRITE);
    zip_int64_t b = zip_file_add(z, "targets.npy", zip_source_buffer(z, timg, tl, 0), ZIP_FL_OVERWRITE);
    CHECK(a >= 0 && b >= 0);
    if (a >= 0) zip_set_file_compression(z, (zip_uint64_t)a, ZIP_CM_STORE, 0);
    if (b >= 0) zip_set_file_compression(z, (zip_uint64_t)b, ZIP_CM_STORE, 0);
    CHECK(zip_close(z) == 0);
    result r = run_in(d, NULL, "train sums.npz -o n.safetensors --epochs 12 --lr 0.01 --batch 16 " FAST, NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(strstr(r.out, "2 features per step") && strstr(r.out, "1 real target per sequence"));
    result_free(&r);
    char m[700];
    snprintf(m, sizeof m, "%s/n.safetensors", d);
    double r2 = seq_meta_number(m, "test_r2");
    CHECK_MSG(r2 >= 0.9, "held-out R² %.4f is below 0.9", r2);
    r = run_in(d, NULL, "eval n.safetensors sums.npz --held-out --json", NULL);
    CHECK_MSG(r.code == 0, "exit %d: %s", r.code, r.err);
    CHECK(fabs(seq_json_number(r.out, "r2") - r2) < 1e-6 && seq_json_number(r.out, "sequences") == 30);
    result_free(&r);
    size_t n3 = npy_image(fimg, sizeof fimg, "(3, 6, 2)", &x[0][0][0], 3 * sizeof x[0]);
    put(d, "three.npy", (const char *)fimg, n3);
    r = run_in(d, NULL, "predict n.safetensors three.npy", NULL);
    CHECK_MSG(r.code == 0 && strncmp(r.out, "#1\t", 3) == 0 && strstr(r.out, "\n#3\t"), "exit %d: %s %s", r.code,
              r.out, r.err);
    if (r.code == 0) {
        double v = strtod(r.out + 3, NULL);
        CHECK_MSG(fabs(v - y[0][0]) < 0.4, "prediction %.3f for a target of %.3f", v, (double)y[0][0]);
    }
    result_free(&r);
}
