/*
 * speech.h - the CLI's speech models (private to cli/): recur predict on
 * audio files (predict_audio.c) and recur listen on a live stream
 * (cmd_listen.c). The policy (features, the spotting rule, collapsing
 * frame labels) is the library's; these print.
 */
#ifndef RECUR_CLI_SPEECH_H
#define RECUR_CLI_SPEECH_H

#include "cli.h"

/* The shortest run of one frame label a speech tagger's string keeps
 * (recur_smooth_runs; --min-run): chosen on the held-out voices of the
 * digits corpus (docs/SPEECH.md, "Frame flicker"). */
#define SPEECH_MIN_RUN 8

/* The features of one audio file as the model's record says: *feats
 * [*frames][dim], the caller's to free. 0, or EXIT_RUNTIME after one line
 * naming the file. */
int speech_read_features(const recur_features_config *fc, recur_featurizer *fz, const char *path,
                         float **feats, size_t *frames);
/* recur predict for a model that records speech features (cmd_predict.c
 * hands it over): files[0..n_files) are audio; a tagger's frame labels
 * are smoothed with min_run (recur_smooth_runs). Returns the exit code. */
int predict_audio(recur_model *m, const char *model_path, char *const *files, int n_files, int top, int json,
                  int min_run);

#endif
