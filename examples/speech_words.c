/* Spoken words from audio files to a label, end to end in C with librecur
 * alone: features, a bidirectional LSTM on them, held-out voices scored.
 * Usage: speech_words DATA [EPOCHS [HIDDEN [OUT [BIDIRECTIONAL]]]]   (DATA: make
 * data-speech's folder; its train/ and test/ parts hold different voices;
 * BIDIRECTIONAL 0 makes a model that `recur listen` reads frame by frame). */
#include <stdio.h>
#include <stdlib.h>
#include "recur.h"

#define TRY(call) do { if ((call) != RECUR_OK) { fprintf(stderr, "speech_words: %s\n", err.message); return 1; } } while (0)

int main(int argc, char **argv)
{
    if (argc < 2) return fprintf(stderr, "usage: speech_words DATA [EPOCHS [HIDDEN [OUT [BIDIRECTIONAL]]]]\n"), 2;
    char dir[4096];
    recur_error err;
    recur_seqset *train_set, *test_set; /* 40 log-mel bands per 10 ms frame */
    snprintf(dir, sizeof dir, "%s/train", argv[1]);
    TRY(recur_seqset_load_audio(dir, NULL, &train_set, &err));
    snprintf(dir, sizeof dir, "%s/test", argv[1]);
    TRY(recur_seqset_load_audio(dir, NULL, &test_set, &err));
    const recur_batch *data = recur_seqset_batch(train_set), *test = recur_seqset_batch(test_set);
    size_t n = recur_seqset_size(train_set), *train = malloc(n * sizeof *train), *valid = train + n - n / 10;
    uint64_t r = 1; /* a fixed shuffle of the training files; the last tenth validates */
    for (size_t i = 0; i < n; i++) train[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t j = (size_t)(r >> 33) % (i + 1), t = train[i];
        train[i] = train[j], train[j] = t;
    }
    const char *labels[64];
    int C = recur_seqset_num_labels(train_set);
    for (int l = 0; l < C && l < 64; l++) labels[l] = recur_seqset_label_name(train_set, l);
    recur_model_config mc;
    recur_model_config_default(&mc);
    mc.input = RECUR_INPUT_DENSE;
    mc.input_size = recur_seqset_input_size(train_set);
    mc.hidden = argc > 3 ? atoi(argv[3]) : 128;
    mc.bidirectional = argc > 5 ? atoi(argv[5]) != 0 : 1;
    recur_model *m;
    TRY(recur_model_create(&mc, NULL, labels, C, &m, &err));
    TRY(recur_model_fit_input_norm(m, data, train, n - n / 10, &err)); /* the training part's statistics */
    recur_features_config feats; /* recorded, so that `recur predict` computes the same features */
    recur_features_config_default(&feats);
    TRY(recur_model_set_features(m, &feats, &err));
    recur_fit_config fc;
    recur_fit_config_default(&fc);
    fc.epochs = argc > 2 ? atoi(argv[2]) : 15;
    fc.train.lr = 3e-3f;
    fc.model_path = argc > 4 ? argv[4] : "speech.safetensors";
    recur_fit_result res;
    TRY(recur_fit(m, &fc, data, train, n - n / 10, valid, n / 10, &res, &err));
    recur_model *best;
    TRY(recur_model_load(fc.model_path, &best, &err));
    recur_metrics met;
    TRY(recur_evaluate(best, test, NULL, recur_seqset_size(test_set), 256, NULL, &met, &err));
    printf("best epoch %d: validation accuracy %.4f; held-out voices: accuracy %.4f, macro recall %.4f on %zu files -> %s\n",
           res.best_epoch, res.best_accuracy, recur_metrics_accuracy(&met), recur_metrics_macro_recall(&met),
           recur_seqset_size(test_set), fc.model_path);
    recur_metrics_free(&met), recur_model_free(best), recur_model_free(m);
    recur_seqset_free(train_set), recur_seqset_free(test_set), free(train);
    return 0;
}
