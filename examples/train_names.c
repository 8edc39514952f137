/* Train, test and save a classifier of names with librecur alone, as
 * `recur train DATA --epochs E --hidden H --threads 1` does.
 * Usage: train_names DATA [EPOCHS [HIDDEN [OUT]]] */
#include <stdio.h>
#include <stdlib.h>
#include "recur.h"

#define TRY(call) do { if ((call) != RECUR_OK) { fprintf(stderr, "train_names: %s\n", err.message); return 1; } } while (0)

int main(int argc, char **argv)
{
    if (argc < 2) return fprintf(stderr, "usage: train_names DATA [EPOCHS [HIDDEN [OUT]]]\n"), 2;
    recur_error err;
    recur_dataset *ds;
    TRY(recur_dataset_load(argv[1], &ds, &err));
    recur_split_plan plan; /* validation 10%, test 15%, random lines, seed 1 */
    recur_split_plan_default(&plan);
    size_t *train, *valid, *test, n_train, n_valid, n_test;
    TRY(recur_split_apply(ds, &plan, &train, &n_train, &valid, &n_valid, &test, &n_test, &err));
    recur_vocab *v; /* the symbols of the training part */
    TRY(recur_vocab_create(RECUR_TEXT_UNICODE, &v, &err));
    for (size_t i = 0, len; i < n_train; i++) {
        const char *text = recur_dataset_text(ds, train[i], &len);
        TRY(recur_vocab_add(v, text, len, &err));
    }
    const char *labels[256];
    int C = recur_dataset_num_labels(ds) < 256 ? recur_dataset_num_labels(ds) : 256;
    for (int l = 0; l < C; l++) labels[l] = recur_dataset_label_name(ds, l);
    recur_model_config mc; /* recur train's classifier: a bidirectional LSTM */
    recur_model_config_default(&mc);
    mc.hidden = argc > 3 ? atoi(argv[3]) : 128;
    mc.bidirectional = 1;
    recur_model *m;
    TRY(recur_model_create(&mc, v, labels, C, &m, &err));
    recur_data *data;
    TRY(recur_data_encode(ds, v, NULL, 0, &data, &err));
    const char *out = argc > 4 ? argv[4] : "names.safetensors";
    recur_fit_config fc;
    recur_fit_config_default(&fc);
    fc.epochs = argc > 2 ? atoi(argv[2]) : 12;
    fc.train.lr = 3e-3f;
    fc.train.seed = fc.seed ^ 0x5851f42d4c957f2dULL; /* recur train's dropout stream */
    fc.token_dropout = 0.1;
    fc.model_path = out;
    TRY(recur_model_set_split(m, &plan, &err));
    recur_fit_result res;
    TRY(recur_fit(m, &fc, recur_data_batch(data), train, n_train, valid, n_valid, &res, &err));
    recur_model *best; /* the epoch of the best validation accuracy, scored on the test part */
    TRY(recur_model_load(out, &best, &err));
    recur_metrics met;
    TRY(recur_evaluate(best, recur_data_batch(data), test, n_test, 256, NULL, &met, &err));
    printf("best epoch %d: validation accuracy %.4f; test accuracy %.4f, macro recall %.4f on %zu names -> %s\n",
           res.best_epoch, res.best_accuracy, recur_metrics_accuracy(&met), recur_metrics_macro_recall(&met),
           n_test, out);
    recur_metrics_free(&met), recur_model_free(best), recur_model_free(m), recur_data_free(data), recur_vocab_free(v);
    free(train), free(valid), free(test);
    recur_dataset_free(ds);
    return 0;
}
