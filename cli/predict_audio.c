/*
 * recur predict SPEECH_MODEL AUDIO...: what a model trained on audio hears
 * in each file. The features are the ones the model records
 * (recur_model_get_features), computed on the whole file; a word
 * classifier prints its --top labels, a frame tagger (connected digits)
 * the string its frame labels spell (runs shorter than --min-run frames
 * joined to a neighbour, recur_smooth_runs; then recur_collapse_runs) with the summed
 * log-probability of the chosen frames:
 *   (-0.02) seven                 one file
 *   > a.wav / (-0.02) seven ...   several files, each under its name
 * A file that cannot be read (not audio, empty, another rate, longer than
 * an hour) gets one line on stderr and the others go on; the exit code is
 * then 1. Several channels are mixed down (recur_audio_load).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "speech.h"

/* Longest file read: a spoken word or digit string is seconds. */
#define PREDICT_MAX_SECONDS 3600.0

static void json_str(FILE *f, const char *s) { cli_json_string(f, s); }

/* The labels of a string, joined without spaces when each is one byte. */
static void print_string(FILE *f, const recur_model *m, const int32_t *sym, int n, int json)
{
    int narrow = 1;
    for (int k = 0; k < n; k++) narrow &= strlen(recur_model_label_name(m, sym[k])) == 1;
    cli_buf b = {0};
    for (int k = 0; k < n; k++) {
        if (k && !narrow) cli_buf_put(&b, " ", 1);
        const char *l = recur_model_label_name(m, sym[k]);
        cli_buf_put(&b, l, strlen(l));
    }
    cli_buf_put(&b, "", 1);
    if (json) json_str(f, b.failed ? "" : b.data);
    else fputs(b.failed ? "" : b.data, f);
    cli_buf_free(&b);
}

int speech_read_features(const recur_features_config *fc, recur_featurizer *fz, const char *path,
                         float **feats, size_t *frames)
{
    recur_error err;
    float *x = NULL;
    size_t n = 0;
    *feats = NULL;
    *frames = 0;
    if (recur_audio_load(path, fc->sample_rate, PREDICT_MAX_SECONDS, &x, &n, &err)) {
        cli_error("%s", err.message);
        return EXIT_RUNTIME;
    }
    if (recur_featurizer_frames(fz, n) == 0) {
        cli_error("%s: %.0f ms of audio is shorter than one %g ms window", path, 1000.0 * (double)n / fc->sample_rate,
                  (double)fc->window_ms);
        free(x);
        return EXIT_RUNTIME;
    }
    recur_status st = recur_featurizer_run(fz, x, n, feats, frames, &err);
    free(x);
    if (st) {
        cli_error("%s: %s", path, err.message);
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}

int predict_audio(recur_model *m, const char *model_path, char *const *files, int n_files, int top, int json,
                  int min_run)
{
    recur_error err;
    recur_features_config fc;
    if (recur_model_get_features(m, &fc, &err)) {
        cli_error("%s: %s", model_path, err.message);
        return EXIT_RUNTIME;
    }
    const recur_model_config *mc = recur_model_get_config(m);
    int tagger = mc->head == RECUR_HEAD_STEPS && mc->target == RECUR_TARGET_CLASS;
    if (!tagger && mc->task != RECUR_TASK_CLASSIFY) {
        cli_error("%s: predict on audio needs a word classifier or a frame tagger (this is a %s model)", model_path,
                  recur_task_name(mc->task));
        return EXIT_RUNTIME;
    }
    if (n_files < 1) {
        cli_error("give the audio files to predict: recur predict %s a.wav b.flac ...", model_path);
        return EXIT_USAGE;
    }
    int C = recur_model_num_labels(m), silence = recur_model_label_find(m, "sil");
    if (top > C) top = C;
    recur_featurizer *fz = NULL;
    recur_runner *rn = NULL;
    float *lp = NULL;
    int32_t *lab = NULL, *sym = NULL;
    size_t cap = 0;
    int failed = 0, rc = EXIT_RUNTIME;
    if (recur_featurizer_create(&fc, &fz, &err) || recur_runner_create(m, 1, &rn, &err)) {
        cli_lib_error(NULL, &err);
        goto done;
    }
    for (int i = 0; i < n_files && !cli_interrupted(); i++) {
        float *feats = NULL;
        size_t T = 0;
        if (speech_read_features(&fc, fz, files[i], &feats, &T)) {
            failed++;
            continue;
        }
        if (T > (size_t)INT32_MAX / 2) T = (size_t)INT32_MAX / 2;
        int32_t off[2] = {0, (int32_t)T};
        recur_batch b = {1, NULL, off, NULL, feats, NULL, NULL};
        size_t rows = recur_runner_rows(rn, &b);
        if (rows > cap) {
            free(lp), free(lab), free(sym);
            lp = malloc(rows * C * sizeof *lp);
            lab = malloc(rows * sizeof *lab);
            sym = malloc(rows * sizeof *sym);
            cap = rows;
            if (!lp || !lab || !sym) {
                free(feats);
                cli_error("out of memory");
                goto done;
            }
        }
        recur_status st = recur_runner_predict(rn, &b, lp, &err);
        free(feats);
        if (st) {
            cli_error("%s: %s", files[i], err.message);
            failed++;
            continue;
        }
        if (json) {
            fputs("{\"file\":", stdout);
            json_str(stdout, files[i]);
        } else if (n_files > 1) {
            printf("> %s\n", files[i]);
        }
        if (tagger) {
            double sum = 0;
            for (size_t t = 0; t < rows; t++) {
                const float *r = lp + t * C;
                int best = 0;
                for (int c = 1; c < C; c++)
                    if (r[c] > r[best]) best = c;
                lab[t] = best;
                sum += r[best];
            }
            recur_smooth_runs(lab, (int)rows, min_run); /* one-frame flickers are not digits */
            int ns = recur_collapse_runs(lab, (int)rows, silence, sym);
            if (json) {
                fputs(",\"string\":", stdout);
                print_string(stdout, m, sym, ns, 1);
                printf(",\"logprob\":%.4f,\"frames\":%zu}\n", sum, rows);
            } else {
                printf("(%.2f) ", sum);
                print_string(stdout, m, sym, ns, 0);
                putchar('\n');
            }
            continue;
        }
        /* The --top labels, best first. */
        int used[64] = {0}, *usedp = C <= 64 ? used : calloc((size_t)C, sizeof *usedp);
        if (!usedp) {
            cli_error("out of memory");
            goto done;
        }
        if (json) fputs(",\"predictions\":[", stdout);
        for (int k = 0; k < top; k++) {
            int best = -1;
            for (int c = 0; c < C; c++)
                if (!usedp[c] && (best < 0 || lp[c] > lp[best])) best = c;
            usedp[best] = 1;
            if (json) {
                printf("%s{\"label\":", k ? "," : "");
                json_str(stdout, recur_model_label_name(m, best));
                printf(",\"logprob\":%.4f}", (double)lp[best]);
            } else {
                printf("(%.2f) %s\n", (double)lp[best], recur_model_label_name(m, best));
            }
        }
        if (json) fputs("]}\n", stdout);
        if (usedp != used) free(usedp);
    }
    if (cli_interrupted()) {
        fflush(stdout);
        cli_error("interrupted");
        rc = EXIT_INTERRUPTED;
        goto done;
    }
    rc = failed ? EXIT_RUNTIME : EXIT_OK;
done:
    free(lp), free(lab), free(sym);
    recur_runner_free(rn);
    recur_featurizer_free(fz);
    return rc;
}
