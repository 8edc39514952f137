/* Connected digits from audio to a string, end to end in C with librecur
 * alone: a tag per 10 ms frame (a digit or "sil") learnt by a bidirectional
 * LSTM from make_speech_digits.py's exact frame labels; the held-out voices'
 * strings are the frame labels smoothed (recur_smooth_runs), their runs
 * collapsed (recur_collapse_runs), scored by string and digit error rates
 * (recur_string_metrics), smoothed and not.
 * Usage: speech_digits DATA [EPOCHS [HIDDEN [OUT]]]  (DATA: train/ and test/
 * of <name>.wav + <name>.lab, disjoint voices). */
#include <stdio.h>
#include <stdlib.h>
#include "recur.h"

#define TRY(call) do { if ((call) != RECUR_OK) { fprintf(stderr, "speech_digits: %s\n", err.message); return 1; } } while (0)

int main(int argc, char **argv)
{
    if (argc < 2) return fprintf(stderr, "usage: speech_digits DATA [EPOCHS [HIDDEN [OUT]]]\n"), 2;
    char dir[4096];
    recur_error err;
    recur_seqset *tr, *te;
    recur_features_config feats;
    recur_features_config_default(&feats); /* 40 log-mel bands */
    snprintf(dir, sizeof dir, "%s/train", argv[1]);
    TRY(recur_seqset_load_audio_tags(dir, &feats, &tr, &err));
    snprintf(dir, sizeof dir, "%s/test", argv[1]);
    TRY(recur_seqset_load_audio_tags(dir, &feats, &te, &err));
    int C = recur_seqset_num_tags(tr);
    if (C != recur_seqset_num_tags(te)) return fprintf(stderr, "speech_digits: train and test tags differ\n"), 1;
    const char *tags[64];
    for (int c = 0; c < C && c < 64; c++) tags[c] = recur_seqset_tag_name(tr, c);
    const recur_batch *data = recur_seqset_batch(tr), *test = recur_seqset_batch(te);
    size_t n = recur_seqset_size(tr), *idx = malloc(n * sizeof *idx), nv = n / 10;
    for (size_t i = 0; i < n; i++) idx[i] = (i * 7919) % n; /* a fixed shuffle (n is not a multiple of 7919) */
    recur_model_config mc;
    recur_model_config_default(&mc);
    recur_model_config_task(&mc, RECUR_TASK_TAG);
    mc.input = RECUR_INPUT_DENSE;
    mc.input_size = recur_seqset_input_size(tr);
    mc.hidden = argc > 3 ? atoi(argv[3]) : 128;
    mc.bidirectional = 1;
    recur_model *m;
    TRY(recur_model_create(&mc, NULL, tags, C, &m, &err));
    TRY(recur_model_fit_input_norm(m, data, idx + nv, n - nv, &err));
    TRY(recur_model_set_features(m, &feats, &err)); /* recur predict computes these */
    recur_fit_config fc;
    recur_fit_config_default(&fc);
    fc.epochs = argc > 2 ? atoi(argv[2]) : 20;
    fc.batch = 16;
    fc.train.lr = 3e-3f;
    fc.model_path = argc > 4 ? argv[4] : "digits.safetensors";
    recur_fit_result res;
    TRY(recur_fit(m, &fc, data, idx + nv, n - nv, idx, nv, &res, &err));
    recur_model *best;
    TRY(recur_model_load(fc.model_path, &best, &err));
    /* Every held-out string: frame argmax, runs collapsed, against the truth. */
    recur_runner *rn;
    TRY(recur_runner_create(best, 1, &rn, &err));
    int sil = recur_model_label_find(best, "sil");
    recur_string_metrics sm, raw;
    recur_string_metrics_reset(&sm);
    recur_string_metrics_reset(&raw);
    size_t frames = 0, right = 0;
    for (int i = 0; i < test->n; i++) {
        int T = test->offsets[i + 1] - test->offsets[i];
        int32_t off[2] = {0, T}, *hyp = malloc(3 * (size_t)T * sizeof *hyp), *ref = hyp + T, *arg = ref + T;
        float *lp = malloc((size_t)T * C * sizeof *lp);
        recur_batch b = {1, NULL, off, NULL, test->features + (size_t)test->offsets[i] * mc.input_size, NULL, NULL};
        TRY(recur_runner_predict(rn, &b, lp, &err));
        for (int t = 0; t < T; t++) {
            int k = 0;
            for (int c = 1; c < C; c++)
                if (lp[(size_t)t * C + c] > lp[(size_t)t * C + k]) k = c;
            arg[t] = k;
            right += k == test->step_labels[test->offsets[i] + t];
        }
        frames += (size_t)T;
        int nr = recur_collapse_runs(test->step_labels + test->offsets[i], T, sil, ref);
        int nh = recur_collapse_runs(arg, T, sil, hyp);
        TRY(recur_string_metrics_add(&raw, hyp, nh, ref, nr, &err));
        /* One- or few-frame flickers are not digits: runs shorter than 8
         * frames (the CLI's --min-run default) join their longer neighbour. */
        recur_smooth_runs(arg, T, 8);
        nh = recur_collapse_runs(arg, T, sil, hyp);
        TRY(recur_string_metrics_add(&sm, hyp, nh, ref, nr, &err));
        free(hyp), free(lp);
    }
    printf("best epoch %d: validation frame accuracy %.4f; held-out voices: %zu strings, frame accuracy %.4f, "
           "string error rate %.4f, digit error rate %.4f (unsmoothed %.4f, %.4f) -> %s\n",
           res.best_epoch, res.best_accuracy, sm.strings, (double)right / (double)frames, recur_string_metrics_ser(&sm),
           recur_string_metrics_ter(&sm), recur_string_metrics_ser(&raw), recur_string_metrics_ter(&raw), fc.model_path);
    recur_runner_free(rn), recur_model_free(best), recur_model_free(m);
    recur_seqset_free(tr), recur_seqset_free(te), free(idx);
    return 0;
}
