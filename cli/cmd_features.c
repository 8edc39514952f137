/*
 * recur features AUDIO... -o OUT.npy|OUT.npz: the speech features of audio
 * files, for users who want them alone (and for the tests, which check them
 * against a NumPy implementation of the same definitions). One file gives a
 * float32 .npy [frames][dim]; several give a .npz with one such array per
 * file, arr_0, arr_1, ... in the order given (numpy.savez's names). The
 * output is written to a temporary name and renamed: a failure leaves
 * nothing behind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zip.h>

#include "cli.h"

typedef struct feat_opts {
    const char *out;
    int mels, mfcc, deltas;
    double max_seconds;
} feat_opts;

static const char summary[] =
    "Compute speech features (16 kHz mono audio; 25 ms Hann windows every 10 ms; log-mel\n"
    "filterbank energies on the HTK mel scale, or MFCCs; optional deltas; definitions in\n"
    "docs/SPEECH.md) and write them as NumPy arrays: one file gives OUT.npy [frames][dim],\n"
    "several give OUT.npz with arr_0, arr_1, ... in the order given.";

enum { FEAT_SPECS = 6 };

static void feat_table(arg_command *cmd, arg_spec *s, feat_opts *o)
{
    *o = (feat_opts){NULL, 40, 0, 0, 3600};
    arg_spec specs[] = {
        {"--output", "-o", ARG_STRING, &o->out, 0, 0, 0, 0, NULL, "FILE", "the .npy (one input) or .npz file to write", 0},
        {"--mels", NULL, ARG_INT, &o->mels, 1, 256, 0, 0, NULL, "N", "mel bands", 0},
        {"--mfcc", NULL, ARG_INT, &o->mfcc, 0, 256, 0, 0, NULL, "N", "keep N cepstra (0: log-mel energies)", 0},
        {"--deltas", NULL, ARG_INT, &o->deltas, 0, 2, 0, 0, NULL, "K", "append deltas (1) and delta-deltas (2)", 0},
        {"--max-seconds", NULL, ARG_FLOAT, &o->max_seconds, 1, 1e6, 0, 0, NULL, "S", "refuse longer files", 0},
        SPEC_END,
    };
    _Static_assert(sizeof specs == FEAT_SPECS * sizeof specs[0], "FEAT_SPECS");
    memcpy(s, specs, sizeof specs);
    *cmd = (arg_command){"features", "recur features AUDIO... -o OUT.npy|OUT.npz [options]", summary, s, 1, -1};
}

CLI_DEFINE_TABLE(cmd_features_table, feat_table, feat_opts, FEAT_SPECS)

/* The bytes of a float32 .npy file of shape [rows][cols] (format 1.0). */
static unsigned char *npy_bytes(const float *x, size_t rows, int cols, size_t *len)
{
    char head[128];
    int n = snprintf(head, sizeof head, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %d), }", rows, cols);
    size_t hl = 10 + (size_t)n + 1, pad = (64 - hl % 64) % 64; /* header ends on a 64-byte boundary */
    size_t body = rows * (size_t)cols * sizeof(float);
    unsigned char *b = malloc(hl + pad + body);
    if (!b) return NULL;
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    size_t hdr = (size_t)n + pad + 1;
    b[8] = (unsigned char)(hdr & 0xff);
    b[9] = (unsigned char)(hdr >> 8);
    memcpy(b + 10, head, (size_t)n);
    memset(b + 10 + n, ' ', pad);
    b[10 + n + pad] = '\n';
    memcpy(b + hl + pad, x, body); /* x86 and every Debian target we build for are little-endian */
    *len = hl + pad + body;
    return b;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

int cmd_features(int argc, char **argv)
{
    feat_opts o;
    arg_spec specs[FEAT_SPECS];
    arg_command cmd;
    feat_table(&cmd, specs, &o);
    int npos, rc;
    char **pos = cli_parse_command(&cmd, argc, argv, &npos, &rc);
    if (!pos) return rc;
    rc = EXIT_USAGE;
    if (!o.out) {
        cli_error("features: -o FILE is required (.npy for one input, .npz for several)");
        goto out;
    }
    if (npos == 1 ? !ends_with(o.out, ".npy") && !ends_with(o.out, ".npz") : !ends_with(o.out, ".npz")) {
        cli_error("features: %s: %s", o.out, npos == 1 ? "the output must end in .npy or .npz"
                                                       : "several inputs need an .npz output");
        goto out;
    }
    rc = EXIT_RUNTIME;
    recur_error err;
    recur_features_config fc;
    recur_features_config_default(&fc);
    fc.mels = o.mels;
    fc.mfcc = o.mfcc;
    fc.deltas = o.deltas;
    recur_featurizer *f = NULL;
    if (recur_featurizer_create(&fc, &f, &err)) {
        cli_lib_error(NULL, &err);
        goto out;
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", o.out, (long)getpid());
    int npz = ends_with(o.out, ".npz");
    zip_t *z = NULL;
    FILE *fp = NULL;
    int ze;
    if (npz ? !(z = zip_open(tmp, ZIP_CREATE | ZIP_TRUNCATE, &ze)) : !(fp = fopen(tmp, "wb"))) {
        cli_error("features: cannot write %s", tmp);
        recur_featurizer_free(f);
        goto out;
    }
    int ok = 1;
    for (int i = 0; i < npos && ok; i++) {
        float *x = NULL, *feat = NULL;
        size_t n = 0, frames = 0, len = 0;
        unsigned char *bytes = NULL;
        if (recur_audio_load(pos[i], fc.sample_rate, o.max_seconds, &x, &n, &err) ||
            recur_featurizer_run(f, x, n, &feat, &frames, &err)) {
            cli_lib_error(pos[i], &err);
            ok = 0;
        } else if (!(bytes = npy_bytes(feat, frames, recur_featurizer_dim(f), &len))) {
            cli_error("features: out of memory");
            ok = 0;
        } else if (npz) {
            char name[32];
            snprintf(name, sizeof name, "arr_%d.npy", i);
            zip_source_t *src = zip_source_buffer(z, bytes, len, 1);
            zip_int64_t idx = src ? zip_file_add(z, name, src, ZIP_FL_OVERWRITE) : -1;
            if (idx < 0 || zip_set_file_compression(z, (zip_uint64_t)idx, ZIP_CM_STORE, 0) < 0) {
                if (src && idx < 0) zip_source_free(src);
                cli_error("features: %s: %s", tmp, zip_strerror(z));
                ok = 0;
            }
            bytes = NULL; /* the zip source owns it now */
        } else if (fwrite(bytes, 1, len, fp) != len) {
            cli_error("features: write error on %s", tmp);
            ok = 0;
        }
        free(bytes);
        free(feat);
        free(x);
    }
    recur_featurizer_free(f);
    if (npz) {
        if (ok && zip_close(z) < 0) {
            cli_error("features: %s: %s", tmp, zip_strerror(z));
            ok = 0;
        }
        if (!ok) zip_discard(z);
    } else if (fclose(fp) != 0) {
        cli_error("features: write error on %s", tmp);
        ok = 0;
    }
    if (ok && rename(tmp, o.out) != 0) {
        cli_error("features: cannot rename %s to %s", tmp, o.out);
        ok = 0;
    }
    if (!ok) unlink(tmp);
    else rc = EXIT_OK;
out:
    free(pos);
    return rc;
}
